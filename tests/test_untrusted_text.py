"""Submission text is neutralized: nothing in it can drive a terminal or hide, and it is bounded."""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from fmlgrade.harness.report import Report, render
from fmlgrade.harness.results import CheckResult, classify
from fmlgrade.harness.scoring import TaskResult
from fmlgrade.harness.untrusted_text import MAX_MESSAGE, is_neutral, neutralize, neutralize_all

ESC = "\x1b"
BIDI = [*"\u202a\u202b\u202c\u202d\u202e", *"\u2066\u2067\u2068\u2069", "\u200e", "\u200f", "\u061c"]
INVISIBLE = [*"\u200b\u200c\u200d\u2060\ufeff\u00ad\u2028\u2029", "\U000e0041", "\u3164", "\u034f"]


def hidden(text: str) -> list[str]:
    """The characters of ``text`` a terminal would not show as themselves."""
    return [
        c for c in text
        if c not in "\n\t" and (unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp"))
    ]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (f"{ESC}[2J{ESC}[H cleared", "\\x1b[2J\\x1b[H cleared"),  # CSI: clear the screen
        (f"{ESC}[31;1mred{ESC}[0m", "\\x1b[31;1mred\\x1b[0m"),
        (f"{ESC}]0;pwned\x07title", "\\x1b]0;pwned\\x07title"),  # OSC: window title
        (f"{ESC}]52;c;ZWNobyBoaQ==\x07", "\\x1b]52;c;ZWNobyBoaQ==\\x07"),  # OSC 52: clipboard write
        (f"{ESC}]8;;http://x{ESC}\\link{ESC}]8;;{ESC}\\", "\\x1b]8;;http://x\\x1b\\link\\x1b]8;;\\x1b\\"),
        (f"{ESC}Pq#0;2;0;0;0{ESC}\\", "\\x1bPq#0;2;0;0;0\\x1b\\"),  # DCS (sixel)
        (f"lone {ESC} escape", "lone \\x1b escape"),
        ("\x9b2J", "\\x9b2J"),  # 8-bit CSI
        ("nul\x00byte", "nul\\x00byte"),
        ("passed\x08\x08\x08\x08\x08\x08failed", "passed" + "\\x08" * 6 + "failed"),
        ("bell\x07", "bell\\x07"),
        ("del\x7f", "del\\x7f"),
        ("over\rwrite", "over\\rwrite"),
        ("vt\x0bff\x0c", "vt\\x0bff\\x0c"),
        ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
        ("windows\r\nline", "windows\nline"),
    ],
)
def test_controls_and_escape_sequences_are_shown_as_escapes(raw, shown):
    assert neutralize(raw) == shown
    assert is_neutral(neutralize(raw))


@pytest.mark.parametrize("char", BIDI + INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
def test_bidi_controls_and_invisible_characters_are_shown(char):
    text = f"if access {char}!= 'user'"
    out = neutralize(text)
    assert char not in out
    assert char.encode("unicode_escape").decode() in out  # \xad, \u202e, \U000e0041
    assert not hidden(out)


def test_trojan_source_reads_as_what_it_is():
    line = "access_level != \"user\u202e \u2066// Check if admin\u2069 \u2066\""
    assert neutralize(line) == 'access_level != "user\\u202e \\u2066// Check if admin\\u2069 \\u2066"'


def test_honest_feedback_is_unchanged():
    feedback = (
        "expected the output of shape (2, 3, 3, 4), got (2, 4, 4, 4)\n"
        "Smallest failing input:\n"
        "    images=array([[[[ 0.5, -1.25],\n"
        "\t\t[ 1e-08,  3.0 ]]]]),\n"
        "    padding=1,\n"
        "  raised at part1.py, line 12, in add_padding\n"
        "max |error| = 0.031 > 1e-6; α=0.5, ≤ 2 × 10⁻³ — naïve café 日本語 🙂 Ünïcödé"
    )
    assert neutralize(feedback) == feedback
    assert is_neutral(feedback)


def test_neutralize_is_idempotent():
    samples = [
        "plain",
        f"{ESC}[2J\u202e\x00" * 3000,
        "x" * 10_000,
        "a\r\nb\rc",
        "\\x1b is the text a student typed",
        "é" * 5000,
        "",
    ]
    for sample in samples:
        once = neutralize(sample)
        assert neutralize(once) == once
        assert neutralize(once, 100_000) == once
        assert neutralize_all(neutralize_all([sample] * 300)) == neutralize_all([sample] * 300)


def test_messages_are_bounded_with_a_note_of_what_was_cut():
    huge = "A" * 2_000_000
    out = neutralize(huge)
    assert len(out) <= MAX_MESSAGE
    assert out.startswith("A" * 1000)
    cut = 2_000_000 - out.count("A")
    assert out.endswith(f"... [{cut} more characters cut by the grader]")
    # escapes count against the bound, and are never cut in half
    out = neutralize(f"{ESC}" * 10_000, limit=200)
    assert len(out) <= 200
    head = out.split("\n")[0]
    assert head == "\\x1b" * (len(head) // 4)
    assert neutralize("short", limit=100) == "short"
    with pytest.raises(ValueError):
        neutralize("x", limit=10)


def test_lists_of_messages_are_bounded():
    notes = neutralize_all([f"note {i}{ESC}" for i in range(1000)], most=50)
    assert len(notes) == 50
    assert notes[0] == "note 0\\x1b"
    assert notes[-1] == "... and 951 more (cut by the grader)"


def test_non_strings_are_made_strings():
    assert neutralize(ValueError(f"{ESC}[2J")) == "\\x1b[2J"


def test_classify_neutralizes_and_bounds_what_the_submission_raised():
    message = f"{ESC}]0;pwned\x07\u202e\x00\x08" + "B" * 1_000_000
    status, feedback = classify(ValueError(message), [])
    assert status == "error"
    assert feedback.startswith("ValueError: \\x1b]0;pwned\\x07\\u202e\\x00\\x08BBB")
    assert len(feedback) <= MAX_MESSAGE and "characters cut by the grader" in feedback
    assert not hidden(feedback)


def _hostile_report() -> Report:
    attack = f"{ESC}[2J{ESC}]52;c;QUJD\x07\u202eevil\u202c\x00\x08[bold red]markup[/]"
    checks = [
        CheckResult("s", "1.7", "test_a", "convolve is right", "error", attack + "C" * 100_000),
        CheckResult("s", "1.7", "test_b", "convolve is fast", "failed", attack),
        CheckResult("s", "1.6", "test_c", "padding", "skipped", attack),
    ]
    return Report.from_checks(
        f"sub{ESC}[31m.py", checks, problems=[attack * 3], left_out=[attack] * 500, parts=(1,)
    )


def test_a_report_holds_only_neutral_bounded_text():
    report = _hostile_report()
    text = json.dumps(report.to_dict(), ensure_ascii=False)
    assert not hidden(text)
    assert report.submission == "sub\\x1b[31m.py"
    task = next(t for t in report.tasks if t.id == "1.7")
    # each check's feedback is bounded on its own: the second check's survives the first's flood
    assert task.feedback.count("characters cut by the grader") == 1
    assert "convolve is fast" in task.feedback and len(task.feedback) < 2 * MAX_MESSAGE + 500
    assert len(report.left_out) <= 200
    # however a report is made (from a saved JSON, say), its text is neutralized
    data = report.to_dict()
    data["problems"] = [f"{ESC}[2J"]
    data["tasks"][0]["feedback"] = "\u202e" * 100_000
    again = Report.from_dict(data)
    assert again.problems == ["\\x1b[2J"] and not hidden(again.tasks[0].feedback)
    assert len(again.tasks[0].feedback) < 30_000
    made = Report("x\x00", [TaskResult("1.1a", "t\x07", "error", 0.0, 1.0, "\x1b")], problems=["\x08"])
    assert (made.submission, made.tasks[0].title, made.tasks[0].feedback, made.problems) == (
        "x\\x00", "t\\x07", "\\x1b", ["\\x08"]
    )


def test_the_table_shows_no_control_characters_and_no_student_markup():
    from rich.console import Console

    console = Console(record=True, width=120, force_terminal=False, color_system=None)
    render(_hostile_report(), console=console)
    shown = console.export_text()
    assert not hidden(shown)
    assert "[bold red]markup[/]" in shown  # printed as text, not obeyed


# -- end to end: a hostile submission graded by the command line -------------------------------

HOSTILE = Path(__file__).parent / "hostile" / "attack_escape_sequences.py"


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in [*_strings(key), *_strings(item)]]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ["auto", "none"])
def test_a_hostile_submissions_text_reaches_no_one_raw(isolation, tmp_path):
    """Escapes, bidi overrides, NUL, backspaces and 2 MB: shown as visible escapes, bounded, everywhere.

    In a worker (``auto``) and in-process (``none``, where the whole 2 MB reaches the grader's checks).
    """
    report_path, results_path = tmp_path / "report.json", tmp_path / "results.json"
    command = [
        sys.executable, "-m", "fmlgrade.harness", "check", str(HOSTILE), "--part", "1", "--profile", "quick",
        "--task-timeout", "60", "--json", str(report_path), "--gradescope", str(results_path),
        "--isolation", isolation,
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=300)
    stdout, stderr = result.stdout.decode("utf-8"), result.stderr.decode("utf-8")
    assert result.returncode == 0, stderr[-2000:]
    assert "Traceback" not in stderr
    for name, text in [("stdout", stdout), ("stderr", stderr)]:
        assert not hidden(text), (name, sorted(set(hidden(text))))
    # the attack did reach the output, as visible text
    assert "\\x1b]52;c;" in stdout and "\\u202e" in stdout
    report = json.loads(report_path.read_text(encoding="utf-8"))
    results = json.loads(results_path.read_text(encoding="utf-8"))
    for name, data in [("report", report), ("results", results)]:
        strings = _strings(data)
        assert not [s for s in strings if hidden(s)], name
        assert max(map(len, strings)) <= 5 * MAX_MESSAGE + 2000, name
    assert report_path.stat().st_size < 200_000 and results_path.stat().st_size < 200_000
    [problem] = report["problems"]
    assert "\\x1b]0;fmlgrade" in problem and "\\x00" in problem and "\\x08" in problem
    assert len(problem) <= MAX_MESSAGE and "characters cut by the grader" in problem
    convolve = next(task for task in report["tasks"] if task["id"] == "1.7")
    assert convolve["status"] == "error" and "\\x1b[2J" in convolve["feedback"]
    assert {task["status"] for task in report["tasks"] if task["id"].startswith("1.") and task["id"] != "1.7"} == {
        "passed"
    }
