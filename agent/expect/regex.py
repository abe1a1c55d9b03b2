"""Regular expressions of journeys (`matches`, regex extracts) in RE2: linear time, whatever the input.

Python's `re` backtracks: `(a+)+$` against 28 `a`s and a `!` takes half a minute, and a target
chooses the input. RE2 (google-re2) guarantees time linear in the input, at the price of a few
features: no backreferences (`\\1`, `(?P=name)`), no lookahead or lookbehind (`(?=`, `(?!`,
`(?<=`, `(?<!`), no atomic groups or possessive quantifiers, `\\z` rather than `\\Z`.
A pattern using them is refused when the journey is loaded, with the reason.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import re2

SYNTAX_DOC = "see 'Regular expressions' in docs/journeys.md"
MAX_PATTERN = 10_000  # characters; RE2 also caps each program's memory (max_mem)

# What RE2 says about a Python feature it lacks (its error text), and how to say it to a user.
_UNSUPPORTED: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"operator: \(\?<?[=!]"), "lookahead and lookbehind ((?=...), (?!...), (?<=...), (?<!...)) are "
                                        "not supported"),
    (re.compile(r"escape sequence: \\[1-9]|operator: \(\?P$"), "backreferences (\\1, (?P=name)) are not "
                                                              "supported"),
    (re.compile(r"operator: \(\?>"), "atomic groups (?>...) are not supported"),
    (re.compile(r"repetition operator: [*+?}]\+"), "possessive quantifiers (*+, ++, ?+) are not supported"),
    (re.compile(r"operator: \(\?\("), "conditional groups (?(1)...) are not supported"),
    (re.compile(r"escape sequence: \\Z"), "\\Z is written \\z in RE2"),
)


class RegexError(ValueError):
    """A pattern RE2 cannot compile; the message says why and what RE2 supports instead."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    return options


@lru_cache(maxsize=512)
def compile_regex(pattern: str) -> Any:
    """The compiled RE2 program of `pattern` (search, groups, ...); raises RegexError."""
    if len(pattern) > MAX_PATTERN:
        raise RegexError(f"the regex is {len(pattern)} characters long; at most {MAX_PATTERN}")
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        raise RegexError(_reason(pattern, exc)) from None
    except UnicodeError:
        raise RegexError("the regex is not valid Unicode text (a lone surrogate?)") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise RegexError(str(exc) or type(exc).__name__) from None


def search(program: Any, text: str) -> Any:
    """`program.search(text)`; text with lone surrogates (undecodable header bytes) is searched with them
    replaced, since RE2 reads UTF-8."""
    try:
        return program.search(text)
    except UnicodeEncodeError:
        return program.search(text.encode("utf-8", errors="replace").decode("utf-8"))


def _reason(pattern: str, exc: Exception) -> str:
    detail = exc.args[0] if exc.args else ""
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", errors="replace")
    detail = str(detail)
    for said, why in _UNSUPPORTED:
        if said.search(detail):
            return f"{why}: regexes use RE2 syntax, which runs in linear time ({SYNTAX_DOC})"
    return f"{detail or 'not a valid regex'} (regexes use RE2 syntax; {SYNTAX_DOC})"
