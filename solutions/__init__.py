"""Reference solution plugins of the assignment."""
