"""The pytest plugin, exercised with pytester the way pytest tests its own plugins."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

CHECKS = """
import pytest

@pytest.mark.task("1.6")
def test_padding_returns_one(submission):
    '''add_padding returns 1.'''
    add_padding = submission.require("add_padding")
    assert add_padding(None, 0) == 1, "expected 1"

@pytest.mark.task("1.7")
def test_convolve_runs(submission):
    '''convolve returns 2.'''
    assert submission.require("convolve")(None, None, 1) == 2
"""


@pytest.fixture
def run_plugin(pytester: pytest.Pytester):
    def run(student_code: str, checks: str = CHECKS, *extra: str):
        pytester.makepyfile(test_checks=checks)
        student = pytester.path / "student_file.py"
        student.write_text(textwrap.dedent(student_code))
        return pytester.runpytest_inprocess(
            "-p", "fmlgrade.harness.pytest_plugin", "--solution", str(student), "-rs", *extra
        )

    return run


def test_checks_are_parametrized_by_solution_name(run_plugin):
    result = run_plugin("def add_padding(i, p):\n    return 1\ndef convolve(k, i, s):\n    return 2\n")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*fmlgrade scores*", "student_file.py: 4/37*"])


def test_missing_name_is_not_attempted_not_an_error(run_plugin):
    result = run_plugin("def add_padding(i, p):\n    return 1\n", CHECKS, "-v")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*not attempted: convolve is not defined*"])


def test_not_implemented_body_is_not_attempted(run_plugin):
    result = run_plugin(
        "def add_padding(i, p):\n    raise NotImplementedError\n"
        "def convolve(k, i, s):\n    return 3\n"
    )
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*not passed: *1.6*1.7*"])


def test_check_without_task_marker_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makepyfile(test_bad="def test_unmarked(submission):\n    pass\n")
    student = pytester.path / "s.py"
    student.write_text("x = 1\n")
    result = pytester.runpytest_inprocess("-p", "fmlgrade.harness.pytest_plugin", "--solution", str(student))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*needs exactly one @pytest.mark.task*"])


def test_checks_run_in_handout_order_integration_last(pytester: pytest.Pytester):
    pytester.makepyfile(
        test_order="""
        import pytest
        ORDER = []

        @pytest.mark.task("1.8")
        def test_integration(submission):
            ORDER.append("1.8")

        @pytest.mark.task("1.7")
        def test_unit_later(submission):
            ORDER.append("1.7")

        @pytest.mark.task("1.6")
        def test_unit_earlier(submission):
            ORDER.append("1.6")

        @pytest.mark.task("1.8")
        def test_zz_last(submission):
            assert ORDER == ["1.6", "1.7", "1.8"], ORDER
        """
    )
    student = pytester.path / "s.py"
    student.write_text("x = 1\n")
    result = pytester.runpytest_inprocess("-p", "fmlgrade.harness.pytest_plugin", "--solution", str(student))
    result.assert_outcomes(passed=4)


def test_installed_solutions_are_graded_without_solution_option(pytester: pytest.Pytester):
    pytester.makepyfile(
        test_ids="""
        import pytest

        @pytest.mark.task("1.6")
        def test_name(submission):
            assert submission.name in ("reference", "alternative")
        """
    )
    result = pytester.runpytest_inprocess("-p", "fmlgrade.harness.pytest_plugin", "-v")
    result.assert_outcomes(passed=2)
    output = result.stdout.str()
    assert "test_name[reference] PASSED" in output
    assert "test_name[alternative] PASSED" in output
