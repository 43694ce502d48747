"""The alternative solution of the assignment, registered as an ``fmlgrade`` plugin.

It goes through the same entry-point group as any third-party solution
package (see pyproject.toml), which keeps the plugin path tested.
"""

from fmlgrade.harness.solution import Solution
from fmlgrade.spec.hookspecs import hookimpl

MODULES = (
    "fmlgrade.solutions.alternative.part1",
    "fmlgrade.solutions.alternative.part2",
    "fmlgrade.solutions.alternative.part3",
)


def make_solution() -> Solution:
    """Import the alternative modules (Parts 2-3 only where torch is installed)."""
    return Solution.from_module_names("alternative", MODULES, trusted=True)


@hookimpl
def fmlgrade_solutions() -> list[Solution]:
    return [make_solution()]
