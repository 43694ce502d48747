"""Checks of Part 3 of the assignment, one module per task group."""
