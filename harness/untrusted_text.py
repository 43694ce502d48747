"""Text that came from a submission, made safe to show and bounded in size.

Everything a submission can say ends up in front of people: exception messages
and the source lines of its tracebacks, problems found while loading it,
notebook statements left out, reprs of its values, its file names. A
terminal obeys escape sequences (clear the screen, set the window title,
write the clipboard with OSC 52, move the cursor back over a line), and
bidirectional-text controls and zero-width characters make text read
differently from what it is ("Trojan Source"). :func:`neutralize` turns all of
them into visible escapes and bounds the length, so that what an instructor
reads in a terminal, a JSON report, Gradescope or a class table is what the
text really holds.

Characters that are shown as escapes instead of being passed on:

* C0 controls except newline and tab (NUL, BEL, backspace, carriage return,
  ESC, ...), DEL and the C1 controls U+0080-U+009F (Unicode category ``Cc``);
* invisible format characters (category ``Cf``): the bidi controls
  U+202A-U+202E, U+2066-U+2069, U+200E, U+200F and U+061C, the zero-width
  space, non-joiner and joiner U+200B-U+200D, the word joiner U+2060, the
  byte-order mark U+FEFF, soft hyphen, tag characters and the rest;
* line and paragraph separators U+2028, U+2029 (``Zl``, ``Zp``), lone
  surrogates (``Cs``, which cannot even be encoded as UTF-8), and the blank
  Hangul fillers and combining grapheme joiner that render as nothing.

Why escapes rather than deletion: an instructor looking into a suspicious
submission should see that it tried something, and what. Each such character
becomes the escape Python itself would write in a string literal: ``\\x1b`` for
ESC, ``\\x00`` for NUL, ``\\u202e`` for RIGHT-TO-LEFT OVERRIDE, ``\\U000e0041`` above
the Basic Multilingual Plane. Escape *sequences* are thereby defused whole:
``ESC [2J`` becomes the harmless text ``\\x1b[2J``, an OSC 52 clipboard write
``ESC ]52;c;...BEL`` becomes ``\\x1b]52;c;...\\x07``. Windows line ends (CR LF)
are taken as the newline they mean; a lone carriage return, which would let a
line overwrite itself, is escaped. Note that an escape in the output cannot be
told apart from the same backslash text typed by the student; the submission's
files hold the truth.

The result is at most ``limit`` characters long; when the text was longer, it
ends with a line saying how many characters of the submission's text were cut.
:func:`neutralize` is idempotent: neutralized text is passed on unchanged, so it
may be applied again wherever text crosses into a report.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

#: The longest message kept: one check's feedback, one problem, one left-out note.
MAX_MESSAGE = 4000
#: The most messages of one kind (problems, left-out statements) a report keeps.
MAX_MESSAGES = 200
#: The shortest ``limit`` :func:`neutralize` accepts (room for the note on what was cut).
MIN_LIMIT = 80

#: Unicode categories shown as escapes: controls, format characters, surrogates, line and
#: paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: Characters of other categories that render as nothing (Hangul fillers, combining grapheme joiner).
_HIDDEN_EXTRA = frozenset({"\u034f", "\u115f", "\u1160", "\u3164", "\uffa0"})
#: Everything that is not printable ASCII, newline or tab: candidates, looked at one by one.
_SUSPECT = re.compile(r"[^\x20-\x7e\n\t]")


def _note(cut: int) -> str:
    return f"\n... [{cut} more characters cut by the grader]"


#: The room kept for the note on what was cut (a count of up to 15 digits fits).
_NOTE_ROOM = len(_note(10**15 - 1))


@lru_cache(maxsize=4096)
def shown(char: str) -> str:
    """How one character appears in neutralized text: itself, or its escape."""
    if char in "\n\t" or " " <= char <= "~":
        return char
    if char not in _HIDDEN_EXTRA and unicodedata.category(char) not in _HIDDEN_CATEGORIES:
        return char
    code = ord(char)
    if char == "\r":
        return "\\r"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _escaped(text: str) -> str:
    return _SUSPECT.sub(lambda match: shown(match.group()), text)


def neutralize(text: object, limit: int = MAX_MESSAGE) -> str:
    """``text`` with every control, escape and invisible character shown as an escape, at most ``limit`` long.

    Newlines and tabs are kept, CR LF becomes a newline; honest text (letters, digits, punctuation,
    printable Unicode) comes back unchanged. Text that is longer than ``limit`` once neutralized is
    cut, and ends with ``... [N more characters cut by the grader]``. Anything not a ``str`` is
    turned into one with :func:`str` first.
    """
    if limit < MIN_LIMIT:
        raise ValueError(f"limit must be at least {MIN_LIMIT}, not {limit}")
    if not isinstance(text, str):
        try:
            text = str(text)
        except Exception:  # noqa: BLE001 - a submission's object may refuse to be a string
            text = f"<{type(text).__name__} that cannot be shown>"
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    if len(text) <= limit:
        if not _SUSPECT.search(text):
            return text
        escaped = _escaped(text)
        if len(escaped) <= limit:
            return escaped
    # Too long: keep whole escapes up to the budget, then say how much was left out. Only the
    # first ``budget`` characters can contribute (each yields at least one), so a huge text costs
    # no more than a short one.
    budget = limit - _NOTE_ROOM
    kept: list[str] = []
    size = 0
    consumed = 0
    for char in text[:budget]:
        piece = shown(char)
        if size + len(piece) > budget:
            break
        kept.append(piece)
        size += len(piece)
        consumed += 1
    return "".join(kept) + _note(len(text) - consumed)


def neutralize_all(texts: Iterable[object], limit: int = MAX_MESSAGE, most: int = MAX_MESSAGES) -> list[str]:
    """Each of ``texts`` neutralized; at most ``most`` of them, the last one saying how many more there were."""
    if most < 1:
        raise ValueError(f"most must be at least 1, not {most}")
    texts = list(texts)
    if len(texts) <= most:
        return [neutralize(text, limit) for text in texts]
    kept = [neutralize(text, limit) for text in texts[: most - 1]]
    return [*kept, f"... and {len(texts) - len(kept)} more (cut by the grader)"]


def is_neutral(text: str) -> bool:
    """Whether ``text`` holds nothing :func:`neutralize` would escape (for tests and assertions)."""
    return all(shown(char) == char for char in _SUSPECT.findall(text))
