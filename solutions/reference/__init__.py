"""The reference solution of the assignment, registered as an ``fmlgrade`` plugin.

It goes through the same entry-point group as any third-party solution
package (see pyproject.toml), which keeps the plugin path tested.
"""

from fmlgrade.harness.solution import Solution
from fmlgrade.spec.hookspecs import hookimpl

MODULES = (
    "fmlgrade.solutions.reference.part1",
    "fmlgrade.solutions.reference.part2",
    "fmlgrade.solutions.reference.part3",
)


def make_solution() -> Solution:
    """Import the reference modules (Parts 2-3 only where torch is installed)."""
    return Solution.from_module_names("reference", MODULES, trusted=True)


@hookimpl
def fmlgrade_solutions() -> list[Solution]:
    return [make_solution()]
