"""The worker: the code that runs beside a submission, inside its sandbox.

Everything in this folder (and in ``fmlgrade.spec.worker``) may be seen by
student code; nothing else of fmlgrade is in the worker's world. See
:mod:`fmlgrade.harness.boundary`.
"""
