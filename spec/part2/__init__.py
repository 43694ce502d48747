"""Checks of Part 2 of the assignment, one module per task group."""
