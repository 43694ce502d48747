"""Hypothesis settings profiles: how hard the checks look for a failing input.

``grade`` is derandomized (the same submission always meets the same
examples, so it always gets the same score); ``quick`` is for students
iterating and for the project's meta-tests; ``thorough`` is for instructors
who test the suite itself, with fresh random examples each run.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

PROFILES: dict[str, dict] = {
    "quick": {"max_examples": 12, "derandomize": True},
    "grade": {"max_examples": 60, "derandomize": True},
    "thorough": {"max_examples": 400, "derandomize": False},
}

DEFAULT_PROFILE = "grade"

_COMMON = {
    "deadline": None,  # student code may be slow; time limits are the harness's job
    "database": None,  # nothing saved between runs: grades depend only on code and version
    "print_blob": False,  # reproduce_failure blobs mean nothing to a student
    "report_multiple_bugs": False,  # one clear counterexample per check
    "suppress_health_check": list(HealthCheck),
    # No explain phase: it is slow and its notes confuse students.
    "phases": (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
}


def profile_name(name: str) -> str:
    """The hypothesis profile name under which ``name`` is registered."""
    return f"fmlgrade-{name}"


def load_profile(name: str) -> settings:
    """Register all profiles and make ``name`` the active one."""
    if name not in PROFILES:
        known = ", ".join(PROFILES)
        raise ValueError(f"unknown profile {name!r}; choose one of: {known}")
    for key, values in PROFILES.items():
        settings.register_profile(profile_name(key), **_COMMON, **values)
    settings.load_profile(profile_name(name))
    return settings()
