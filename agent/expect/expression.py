"""Expectations of http steps: `SUBJECT OP VALUE`, `SUBJECT exists` or `SUBJECT not exists`.

Subjects: `status`, `duration` (the step's wall time in seconds), `body` (text), `json.PATH` (a
JMESPath expression into the JSON body), `header.NAME` (found case-insensitively; a repeated header's
values are joined with ", ") and `cert.expires_in` (days until the TLS certificate expires).
Operators: `==` `!=` `<` `<=` `>` `>=` `in` `not in` `contains` `not contains` `matches` (a search
with an RE2 regex: linear time, no backreferences or lookaround; see agent.expect.regex).
Values: numbers, durations (`250ms`, `2s`, `1h30m`), 'single' or "double" quoted strings with
backslash escapes (`\\n`, `\\t`, `\\"`, `\\uXXXX`; an unknown escape such as `\\d` is kept as written,
for regexes), `[lists]` of values, `true`, `false` and `null`.

The JSON path rule: everything after `json.` up to the first operator that stands at the top level
(outside brackets, parentheses and quotes) with whitespace on both sides is the JMESPath expression.
An operator inside a JSON path must therefore sit in brackets, as in
`json.items[?sku=='ABC-1'].qty | [0] == 1`; write the expectation's own operator with spaces around it.

Expectations are parsed by a tokenizer and a recursive-descent parser (`agent.expect.tokens`), never
evaluated as Python; regexes and JMESPath expressions are compiled at parse time. Evaluating never
raises: a subject that is absent (no such header, a JSON path giving null, a body that is not JSON)
fails every check but `not exists` (`== null` holds for an absent header or a null JSON path), and
comparing incompatible types is a failure with a message. A header that reads as a number is compared
as a number against numbers; `duration` compares in seconds, `cert.expires_in` in days (a duration
value such as `14d` is converted).
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.functions import Functions

from agent.core import redaction
from agent.core.durations import format_duration
from agent.expect.regex import RegexError, compile_regex, search
from agent.expect.response import MISSING, ResponseView, body_decoder
from agent.expect.tokens import Duration, ExpectationSyntaxError, Scanner

__all__ = ["MISSING", "Duration", "Expectation", "ExpectationSyntaxError", "ResponseView", "Subject",
           "body_decoder", "parse", "parse_subject"]

SHOW_LIMIT = 200  # characters of a seen value in a message
_ORDER: dict[str, Callable[[Any, Any], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt,
                                                 ">=": operator.ge}
_NUMERIC = re.compile(r"\s*-?\d{1,300}(?:\.\d+)?(?:[eE][+-]?\d+)?\s*")
_FUNCTIONS: dict[str, Any] = Functions().FUNCTION_TABLE
_BYTES_OPS = frozenset({"contains", "not contains", "matches"})
# a failed body check shows the beginning of a large body: this many bytes are decoded for it, enough
# for SHOW_LIMIT characters and any secret that starts within them to be redacted whole
_SHOWN_BYTES = 1 << 20


class Seen(NamedTuple):
    """A subject's value in a response, or MISSING with the reason; `null` when absent means null."""

    value: Any
    reason: str = ""
    null: bool = False


@dataclass(frozen=True)
class Subject:
    """What an expectation looks at: `status`, `duration`, `body`, `json.PATH`, `header.NAME`, ..."""

    text: str
    kind: str  # status, duration, body, json, header or cert
    name: str = ""  # the header name or JMESPath source
    path: Any = field(default=None, compare=False, repr=False)

    def resolve(self, view: ResponseView) -> Any:
        """The subject's value in the response, MISSING when absent."""
        return self.lookup(view).value

    def lookup(self, view: ResponseView) -> Seen:
        """The subject's value with the reason it is missing."""
        if self.kind == "status":
            return Seen(view.status) if view.status is not None else Seen(MISSING, "no response status")
        if self.kind == "duration":
            return Seen(view.duration_s)
        if self.kind == "body":
            return Seen(view.body)
        if self.kind == "cert":
            days = view.cert_expires_in_days
            return Seen(days) if days is not None else Seen(MISSING, "not a TLS connection")
        if self.kind == "header":
            value = view.header(self.name)
            return Seen(value) if value is not None else Seen(MISSING, f"no {self.name} header", True)
        document = view.json()
        if document is MISSING:
            return Seen(MISSING, _not_json(view.body))
        try:
            value = self.path.search(document)
        except Exception as exc:  # a user's JMESPath on a server's JSON: report it, never raise
            return Seen(MISSING, f"{self.text} failed: {exc}")
        return Seen(value) if value is not None else Seen(MISSING, f"{self.text} is null or absent", True)


@dataclass(frozen=True)
class Expectation:
    """A parsed expectation; `evaluate` tells whether a response meets it."""

    text: str
    subject: Subject
    op: str
    value: Any
    shown: str = ""  # the value as written in messages
    pattern: Any = field(default=None, compare=False, repr=False)  # the RE2 program of `matches`

    def evaluate(self, view: ResponseView) -> str | None:
        """None when the expectation holds, else a message with the expected and the seen value."""
        if self.subject.kind == "body" and self.op in _BYTES_OPS:
            raw = view.utf8_bytes()
            holds = None if raw is None else self._check_bytes(raw)
            if raw is not None and holds is not None:
                return None if holds else self._failure_bytes(raw)
        seen = self.subject.lookup(view)
        if self.op in ("exists", "not exists"):
            return None if (seen.value is not MISSING) == (self.op == "exists") else self._failure(seen)
        if seen.value is MISSING:
            return None if self.op == "==" and self.value is None and seen.null else self._failure(seen)
        holds, note = self._check(seen.value)
        return None if holds else self._failure(seen, note)

    def _check(self, seen: Any) -> tuple[bool, str]:
        op, value, kind = self.op, self.value, self.subject.kind
        if kind == "header":
            seen = _coerce(seen, value)
        if op in ("==", "!="):
            return _equal(seen, value) == (op == "=="), ""
        if op in ("in", "not in"):
            return any(_equal(seen, item) for item in value) == (op == "in"), ""
        if op in _ORDER:
            if not _is_number(seen):
                return False, f"{_type_name(seen)}, not a number"
            target = value / 86400 if kind == "cert" and isinstance(value, Duration) else value
            return _ORDER[op](seen, target), ""
        if op == "matches":
            if not (isinstance(seen, str) or _is_number(seen)) or self.pattern is None:
                return False, f"{_type_name(seen)}, not text"
            return search(self.pattern, str(seen)) is not None, ""
        found = _contains(seen, value)
        if found is None:
            return False, f"cannot look for {_type_name(value)} in {_type_name(seen)}"
        return found == (op == "contains"), ""

    def _check_bytes(self, raw: bytes | bytearray) -> bool | None:
        """`contains` or `matches` on a UTF-8 body's bytes (no text copy); None when only text can say."""
        if self.op == "matches":
            return None if self.pattern is None else self.pattern.search(raw) is not None
        value = self.value
        needle = value.text if isinstance(value, Duration) else str(value) if _is_number(value) else value
        if not isinstance(needle, str):
            return None
        try:
            encoded = needle.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8 body holds one; the text path says so
            return None
        return (encoded in raw) == (self.op == "contains")

    def _failure_bytes(self, raw: bytes | bytearray) -> str:
        expected = f"{self.subject.text} {self.op} {self.shown}"
        head = bytes(memoryview(raw)[:_SHOWN_BYTES]).decode("utf-8", errors="replace")
        shown, was_cut = redaction.shorten(head, SHOW_LIMIT)
        if not was_cut and len(raw) <= _SHOWN_BYTES:
            return f"expected {expected}, saw {json.dumps(shown, ensure_ascii=False)}"
        return f"expected {expected}, saw {json.dumps(shown, ensure_ascii=False)[:-1]}…\" ({len(raw)} bytes)"

    def _failure(self, seen: Seen, note: str = "") -> str:
        expected = f"{self.subject.text} {self.op}" + (f" {self.shown}" if self.shown else "")
        if seen.value is MISSING:
            return f"expected {expected}, saw nothing ({seen.reason})"
        saw = _show_seen(self.subject.kind, seen.value)
        return f"expected {expected}, saw {saw}" + (f" ({note})" if note else "")


@lru_cache(maxsize=1024)
def parse(text: str) -> Expectation:
    """The expectation in `text`; raises ExpectationSyntaxError."""
    scanner = Scanner(text)
    subject = _read_subject(scanner)
    op = scanner.operator(subject.kind == "json")
    if op.endswith("exists"):
        scanner.expect_end(repr(op))
        return Expectation(text, subject, op, None)
    if scanner.at_end():
        raise scanner.error(f"missing value after {op!r}")
    at = scanner.pos
    value, shown = scanner.value()
    scanner.expect_end("the value")
    return Expectation(text, subject, op, value, shown, _checked_value(scanner, op, value, at))


@lru_cache(maxsize=256)
def parse_subject(text: str) -> Subject:
    """The subject alone (`json.token`, `header.Location`); raises ExpectationSyntaxError."""
    scanner = Scanner(text)
    subject = _read_subject(scanner)
    scanner.expect_end(f"the subject {subject.text!r}")
    return subject


def _read_subject(scanner: Scanner) -> Subject:
    kind, arg, at = scanner.subject()
    if kind == "header":
        return Subject(f"header.{arg}", kind, arg)
    if kind != "json":
        return Subject("cert.expires_in" if kind == "cert" else kind, kind)
    try:
        path = jmespath.compile(arg)
        problem, where = _function_problem(path.parsed), 0
    except JMESPathError as exc:
        position = getattr(exc, "lex_position", None)
        where = position if isinstance(position, int) and 0 <= position <= len(arg) else 0
        problem = getattr(exc, "message", None) or getattr(exc, "msg", None) or str(exc)
        if problem == "Invalid jmespath expression":
            problem = "incomplete expression"
        if any(char in arg for char in "=<>!"):
            problem += " (put spaces around the operator; operators inside a JSON path go in brackets)"
    except RecursionError:
        problem, where = "nested too deeply", 0
    if problem:
        raise scanner.error(f"invalid JSON path {arg!r}: {problem}", at + where)
    return Subject(f"json.{arg}", kind, arg, path)


def _function_problem(tree: Any) -> str:
    """An unknown function or a wrong number of arguments in a compiled JMESPath tree."""
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        stack.extend(child for child in node.get("children", ()) if isinstance(child, dict))
        if node.get("type") != "function_expression":
            continue
        name, count = node.get("value"), len(node.get("children", ()))
        spec = _FUNCTIONS.get(str(name))
        if spec is None:
            return f"unknown function {name}()"
        signature = spec["signature"]
        variadic = bool(signature) and signature[-1].get("variadic", False)
        if count < len(signature) or (count > len(signature) and not variadic):
            least, plural = "at least " if variadic else "", "s" if len(signature) != 1 else ""
            return f"{name}() takes {least}{len(signature)} argument{plural}, got {count}"
    return ""


def _checked_value(scanner: Scanner, op: str, value: Any, at: int) -> Any:
    """Check that the value suits the operator; the compiled regex of `matches`."""
    if op in ("in", "not in") and not isinstance(value, tuple):
        raise scanner.error(f"{op!r} needs a list such as [200, 201]", at)
    if op in _ORDER and not _is_number(value):
        raise scanner.error(f"{op!r} needs a number or a duration", at)
    if op != "matches":
        return None
    if not isinstance(value, str):
        raise scanner.error("'matches' needs a quoted regex", at)
    try:
        return compile_regex(value)
    except RegexError as exc:
        raise scanner.error(f"invalid regex {value!r}: {exc}", at) from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(seen: Any, expected: Any) -> bool:
    """JSON equality: booleans are not numbers, lists compare item by item."""
    if isinstance(seen, bool) or isinstance(expected, bool):
        return isinstance(seen, bool) and isinstance(expected, bool) and seen == expected
    seen_list, expected_list = isinstance(seen, (list, tuple)), isinstance(expected, (list, tuple))
    if seen_list and expected_list:
        return len(seen) == len(expected) and all(_equal(a, b) for a, b in zip(seen, expected, strict=True))
    return not seen_list and not expected_list and bool(seen == expected)


def _contains(seen: Any, value: Any) -> bool | None:
    """Substring, list membership or object key; None when the types do not fit."""
    if isinstance(seen, str):
        if isinstance(value, str):
            return value in seen
        if _is_number(value):
            return (value.text if isinstance(value, Duration) else str(value)) in seen
        return None
    if isinstance(seen, list):
        return any(_equal(item, value) for item in seen)
    if isinstance(seen, dict) and isinstance(value, str):
        return value in seen
    return None


def _coerce(seen: Any, expected: Any) -> Any:
    """A header's text as a number when it reads as one and is compared with numbers."""
    wanted = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(seen, str) and _NUMERIC.fullmatch(seen) and any(_is_number(v) for v in wanted):
        try:
            return float(seen) if any(c in seen for c in ".eE") else int(seen)
        except ValueError:
            return seen
    return seen


def _type_name(value: Any) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else type(value).__name__


def _show_seen(kind: str, value: Any) -> str:
    if kind == "duration" and _is_number(value):
        return _seconds(value)
    if kind == "cert" and _is_number(value):
        return f"{value:.1f} days"
    return _show(value)


def _show(value: Any) -> str:
    """A seen value as JSON, cut to SHOW_LIMIT characters; secrets are redacted before the cut."""
    if isinstance(value, str):
        shown, was_cut = redaction.shorten(value, SHOW_LIMIT)
        if not was_cut:
            return json.dumps(shown, ensure_ascii=False)
        return json.dumps(shown, ensure_ascii=False)[:-1] + f'…" ({len(value)} characters)'
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        text = f"<{_type_name(value)} too deeply nested to show>"
    return redaction.cut(text, SHOW_LIMIT)


def _seconds(seconds: float) -> str:
    """Readable wall time: 250ms, 1.204s, 2m5s."""
    if not math.isfinite(seconds) or seconds < 0:
        return f"{seconds}s"
    if 1 <= seconds < 60:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    return format_duration(seconds)


def _not_json(body: str) -> str:
    if not body.strip():
        return "body is empty, not JSON"
    start, was_cut = redaction.shorten(body, 40)
    shown = repr(start)
    return f"body is not JSON: {shown[:-1] + '…' + shown[-1] if was_cut else shown}"
