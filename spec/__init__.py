"""The assignment's contract in code: task registry, hookspecs, protocols,
the provided skeleton, and the property tests that grade each task."""
