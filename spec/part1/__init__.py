"""Checks of Part 1 of the assignment, one module per task group."""
