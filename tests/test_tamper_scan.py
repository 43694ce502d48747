"""The static reading that shows an instructor code reaching into the grader's machinery."""

from __future__ import annotations

from fmlgrade.harness.solution import SourceFile
from fmlgrade.harness.tamper_scan import MOST, suspicious_lines


def _lines(code: str) -> list[str]:
    return suspicious_lines([SourceFile("student.py", code)])


def test_honest_code_with_gc_and_sys_is_not_flagged():
    honest = (
        "import gc, sys\nimport numpy as np\n"
        "gc.collect()\n"
        "IN_COLAB = 'google.colab' in sys.modules\n"
        "from fmlgrade.spec.worker.skeleton import Layer\n"
        "from fmlgrade.spec.worker import pretrained\n"
        "def convolve(x, k):\n    return np.zeros(1)\n"
    )
    assert _lines(honest) == []


def test_reaching_into_the_grader_is_listed_with_its_line():
    code = (
        "import gc, sys\n"
        "from fmlgrade.spec.worker import part3_observers\n"   # line 2
        "sys.modules['fmlgrade.spec.worker.part2_observers'] = None\n"  # line 3
        "objects = gc.get_objects()\n"  # line 4
        "import _posixsubprocess\n"  # line 5
        "secret = open('/proc/1/environ').read()\n"  # line 6
        "sys.meta_path.clear()\n"  # line 7
    )
    found = _lines(code)
    for line in range(2, 8):
        assert any(f"line {line} " in text for text in found), (line, found)
    assert all(text.startswith("for the instructor: student.py") for text in found)


def test_the_list_is_bounded_and_a_syntax_error_is_left_to_the_loader():
    many = "".join(f"import ctypes as c{n}\n" for n in range(MOST + 5))
    found = _lines(many)
    assert len(found) == MOST + 1 and "5 more" in found[-1]
    assert _lines("def broken(:\n") == []
