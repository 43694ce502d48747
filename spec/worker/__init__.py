"""The part of the spec that runs beside a submission: the handout's provided
code (skeleton, data loaders, the VGG backbone), the outcome exceptions, and
the observers of Parts 2 and 3 with what they need.

Nothing here may hold an answer: no check, oracle, stand-in or solution. The
folder is bound into the worker's sandbox as it is (see
:mod:`fmlgrade.harness.boundary`).
"""
