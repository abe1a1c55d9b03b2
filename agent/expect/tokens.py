"""Tokenizer of the expectation grammar: subjects, operators and literal values.

`agent.expect.expression` builds expectations from these pieces; the grammar and the rule that ends a
JSON path are described there.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agent.core.durations import parse_duration

SYMBOL_OPS = ("==", "!=", "<=", ">=", "<", ">")
WORD_OPS = ("in", "contains", "matches", "exists")
NOT_OPS = ("in", "contains", "exists")
SUBJECTS = "status, duration, body, json.PATH, header.NAME or cert.expires_in"
MAX_DEPTH = 32  # nesting of list values

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NOT_WORD = re.compile(r"\s+([A-Za-z_][A-Za-z0-9_]*)")
_SYMBOLS = re.compile(r"[=!<>~]+")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_SPACE = re.compile(r"\s*")
_TOKEN = re.compile(r"[^\s\[\]()'\",]+|\S")
_IDENT_CHARS = re.compile(r"[A-Za-z0-9_.]")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}
_KEYWORDS: dict[str, Any] = {"true": True, "false": False, "null": None}


class ExpectationSyntaxError(ValueError):
    """An expectation that does not follow the grammar; `column` is 1-based."""

    def __init__(self, text: str, reason: str, column: int) -> None:
        self.text, self.reason, self.column = text, reason, column
        super().__init__(f"invalid expectation {text!r}: {reason} at column {column}")


class Duration(float):
    """A duration literal in seconds that remembers how it was written (`250ms`)."""

    text: str

    def __new__(cls, seconds: float, text: str) -> Duration:
        obj = super().__new__(cls, seconds)
        obj.text = text
        return obj


class Scanner:
    """A cursor over one expectation's text that reads its tokens left to right."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, reason: str, pos: int | None = None) -> ExpectationSyntaxError:
        return ExpectationSyntaxError(self.text, reason, (self.pos if pos is None else pos) + 1)

    def skip_space(self) -> int:
        self.pos = _space_end(self.text, self.pos)
        return self.pos

    def at_end(self) -> bool:
        return self.skip_space() >= len(self.text)

    def token(self, pos: int | None = None) -> str:
        """The word or symbol at `pos`, for error messages."""
        match = _TOKEN.match(self.text, self.pos if pos is None else pos)
        token = match.group() if match else ""
        return token if len(token) <= 30 else token[:30] + "…"

    def expect_end(self, after: str) -> None:
        if not self.at_end():
            raise self.error(f"unexpected {self.token()!r} after {after}")

    def subject(self) -> tuple[str, str, int]:
        """(kind, argument, argument position): the header name or JSON path is the argument."""
        text, start = self.text, self.skip_space()
        if start >= len(text):
            raise self.error("missing subject")
        word = _WORD.match(text, start)
        self.pos = word.end() if word else start
        kind = word.group() if word else ""
        if kind in ("status", "duration", "body") and not self._ident_at(self.pos):
            return kind, "", start
        if kind == "cert" and text.startswith(".expires_in", self.pos):
            self.pos += len(".expires_in")
            if not self._ident_at(self.pos):
                return kind, "", start
        if kind == "header" and text.startswith(".", self.pos):
            name = _HEADER_NAME.match(text, self.pos + 1)
            if name is None:
                raise self.error("missing header name after 'header.'", self.pos + 1)
            self.pos = name.end()
            return kind, name.group(), name.start()
        if kind == "json" and text.startswith(".", self.pos):
            self.pos += 1
            return (kind, *self._json_path())
        raise self.error(f"unknown subject {self.token(start)!r}: use {SUBJECTS}", start)

    def _json_path(self) -> tuple[str, int]:
        """Everything up to the first top-level operator that has whitespace on both sides."""
        text, start = self.text, self.pos
        depth, i = 0, start
        while i < len(text):
            char = text[i]
            if char in "'\"`":
                i = self._skip_quoted(i)
                continue
            if char in "([{":
                depth += 1
            elif char in ")]}":
                depth -= 1
            elif char.isspace() and depth <= 0:
                after = _space_end(text, i)
                if self._spaced_operator(after):
                    break
                i = after
                continue
            i += 1
        path = text[start:i]
        self.pos = i
        if not path.strip():
            raise self.error("missing JSON path after 'json.'", start)
        return path.strip(), start + len(path) - len(path.lstrip())

    def _spaced_operator(self, pos: int) -> bool:
        """Whether an operator with whitespace (or the end) after it starts at `pos`."""
        found = self.operator_at(pos)
        end = found[1] if found else (m.end() if (m := _SYMBOLS.match(self.text, pos)) else -1)
        if end < 0 or (end < len(self.text) and not self.text[end].isspace()):
            return False
        if found is None:
            raise self.error(f"unknown operator {self.text[pos:end]!r}", pos)
        return True

    def _skip_quoted(self, start: int) -> int:
        quote, i = self.text[start], start + 1
        while i < len(self.text):
            if self.text[i] == "\\":
                i += 2
            elif self.text[i] == quote:
                return i + 1
            else:
                i += 1
        raise self.error(f"unterminated {quote} quote in the JSON path", start)

    def operator_at(self, pos: int) -> tuple[str, int] | None:
        """(operator, end) when a known operator starts at `pos`."""
        symbols = _SYMBOLS.match(self.text, pos)
        if symbols:
            return (symbols.group(), symbols.end()) if symbols.group() in SYMBOL_OPS else None
        word = _WORD.match(self.text, pos)
        if word is None:
            return None
        if word.group() in WORD_OPS:
            return word.group(), word.end()
        negated = _NOT_WORD.match(self.text, word.end()) if word.group() == "not" else None
        if negated and negated.group(1) in NOT_OPS:
            return f"not {negated.group(1)}", negated.end()
        return None

    def operator(self, json_subject: bool) -> str:
        pos = self.skip_space()
        if pos >= len(self.text):
            hint = " (put spaces around it; operators inside a JSON path go in brackets)"
            hint = hint if json_subject else ""
            raise self.error(f"missing operator{hint}")
        found = self.operator_at(pos)
        if found is None:
            match = _SYMBOLS.match(self.text, pos) or _WORD.match(self.text, pos)
            token = match.group() if match else self.token(pos)
            if token == "not":
                raise self.error("'not' must be followed by in, contains or exists", pos)
            raise self.error(f"unknown operator {token!r}", pos)
        self.pos = found[1]
        return found[0]

    def value(self, depth: int = 0) -> tuple[Any, str]:
        """(value, canonical text) of the literal at the cursor."""
        pos = self.skip_space()
        char = self.text[pos] if pos < len(self.text) else ""
        if char == "[":
            return self._list(depth)
        if char in ("'", '"'):
            string = self._string()
            return string, json.dumps(string, ensure_ascii=False)
        if char == "-" or char.isdigit():
            return self._number()
        word = _WORD.match(self.text, pos)
        if word and word.group() in _KEYWORDS:
            self.pos = word.end()
            return _KEYWORDS[word.group()], word.group()
        got = f", got {self.token()!r}" if char else ""
        raise self.error(
            f"expected a value (number, duration, quoted string, list, true, false or null){got}"
        )

    def _list(self, depth: int) -> tuple[tuple[Any, ...], str]:
        start = self.pos
        if depth >= MAX_DEPTH:
            raise self.error("lists nested too deeply", start)
        self.pos += 1
        items: list[Any] = []
        shown: list[str] = []
        if not self.at_end() and self.text[self.pos] == "]":
            self.pos += 1
            return (), "[]"
        while True:
            if self.at_end():
                raise self.error("unterminated list: missing ']'", start)
            item, text = self.value(depth + 1)
            items.append(item)
            shown.append(text)
            if self.at_end():
                raise self.error("unterminated list: missing ']'", start)
            char = self.text[self.pos]
            self.pos += 1
            if char == "]":
                return tuple(items), "[" + ", ".join(shown) + "]"
            if char != ",":
                raise self.error(f"expected ',' or ']' in the list, got {char!r}", self.pos - 1)

    def _string(self) -> str:
        text, start = self.text, self.pos
        quote, i = text[start], start + 1
        out: list[str] = []
        while i < len(text):
            char = text[i]
            if char == quote:
                self.pos = i + 1
                return "".join(out)
            if char == "\\" and i + 1 < len(text):
                escape = text[i + 1]
                if escape == "u":
                    if not _HEX4.match(text, i + 2):
                        raise self.error("invalid \\u escape: needs 4 hex digits", i)
                    out.append(chr(int(text[i + 2:i + 6], 16)))
                    i += 6
                    continue
                out.append(_ESCAPES.get(escape, "\\" + escape))
                i += 2
                continue
            out.append(char)
            i += 1
        raise self.error("unterminated string", start)

    def _number(self) -> tuple[Any, str]:
        text, start = self.text, self.pos
        digits = start + 1 if text[start] == "-" else start
        duration = _DURATION.match(text, digits)
        if duration and not self._ident_at(duration.end()):
            if digits != start:
                raise self.error("a duration cannot be negative", start)
            try:
                seconds = parse_duration(duration.group())
            except ValueError as exc:
                raise self.error(str(exc), start) from None
            self.pos = duration.end()
            return Duration(seconds, duration.group()), duration.group()
        number = _NUMBER.match(text, start)
        if number is None or self._ident_at(number.end()):
            raise self.error(f"invalid number or duration {self.token(start)!r}", start)
        token = number.group()
        try:
            value: Any = float(token) if any(c in token for c in ".eE") else int(token)
        except ValueError:
            raise self.error("number too long", start) from None
        self.pos = number.end()
        return value, token

    def _ident_at(self, pos: int) -> bool:
        return pos < len(self.text) and _IDENT_CHARS.match(self.text, pos) is not None


def _space_end(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    return match.end() if match else pos
