"""Layers and functions the assignment does not have, each correct and in wrong versions,
for the tests of :mod:`fmlgrade.spec.gradients`. Every wrong version is a mistake a careful
reader would call wrong; ``WRONG`` maps each to what is wrong with it."""
