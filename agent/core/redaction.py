"""Secrets out of every output: the one redactor, and the forms a secret takes on its way out.

A secret leaves the agent in many shapes: as sent, JSON-escaped by the target (`\\"`, `\\u00f6`, or
raw non-ASCII), JSON inside JSON (`\\\\\\"`), percent- or form-encoded (`%22`, `+`), HTML-escaped
(`&quot;`, `&#34;`, `&amp;quot;`), in Python's repr (`\\xf6`, `\\'`), as the base64 of a basic-auth
`user:password` or of itself, and as a browser shows it (tags stripped, whitespace folded). For
each secret one pattern matches all of these, character by character, so any mix or nesting of
the escapes is found too; patterns are RE2 (linear time: a hostile text cannot make redaction slow)
and case-insensitive (an escape's hex digits come in either case).

Every secret a run reveals is registered here, process-wide (`register`); `redactor()` removes
every registered secret from any text. The runner redacts each result once, where it is made;
whatever is written outside a result (spans during a run, log lines) goes through the same
redactor. A display cut goes through `cut`, which redacts the whole text it shows *before* cutting,
so a cut never shows part of a secret; as a second line of defence `Redactor.text` also removes a
secret's beginning left just before an ellipsis ("…" or "...") by a cut made elsewhere.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from enum import Enum
from functools import lru_cache
from typing import Any

import re2

__all__ = ["REDACTED", "Redactor", "SecretRegistry", "cut", "redact", "redactor", "register", "shorten"]

REDACTED = "[REDACTED]"
ELLIPSES = ("…", "...")  # what a cut leaves (Redactor.text looks for exactly these)
MIN_DERIVED = 4  # a shown form (tags stripped, whitespace folded) this short is not worth a pattern
MIN_PREFIX = 3  # a secret's beginning before an ellipsis is removed from this many characters
MAX_PREFIX = 256  # ... and looked for up to this many (RE2 limits a pattern's nesting)
REGISTRY_SIZE = 1024  # secrets kept, least recently revealed dropped first

_ENCODED_PERCENT = r"%(?:25){0,3}"  # `%`, or `%25...` when a URL is encoded again
_SEMI = r"(?:;|%(?:25){0,3}3b)"
_AMP = rf"(?:&|%(?:25){{0,3}}26)(?:amp{_SEMI}){{0,3}}"  # the `&` of an entity, itself escaped again or not
_HASH = r"(?:#|%(?:25){0,3}23)"
_BACKSLASH = rf"(?:\\|%(?:25){{0,3}}5c|{_AMP}{_HASH}(?:0*92|x0*5c){_SEMI})"  # `\` in any of the escapings
_HTML_NAMES = {'"': "quot", "'": "apos", "&": "amp", "<": "lt", ">": "gt", "\xa0": "nbsp"}
_SHORT_ESCAPES = {"\n": "n", "\t": "t", "\r": "r", "\b": "b", "\f": "f", "\v": "v", "\0": "0"}
_BACKSLASHED = frozenset("\"'/")  # characters JSON or repr may put a backslash before
_TAG = re.compile(r"<[^<>]*>")
_OPTIONS = re2.Options()
_OPTIONS.case_sensitive = False
_OPTIONS.max_mem = 64 << 20


def _percent(char: str) -> str:
    return "".join(f"{_ENCODED_PERCENT}{byte:02x}" for byte in char.encode("utf-8", "surrogatepass"))


def _char(char: str) -> str:
    """A pattern for one character of a secret, in every escaping and nesting of escapings."""
    code = ord(char)
    forms = [re2.escape(char)]
    escapes: list[str] = []
    if not (char.isascii() and char.isalnum()):
        names = f"|{_HTML_NAMES[char]}" if char in _HTML_NAMES else ""
        forms.append(f"{_AMP}(?:{_HASH}0*{code}|{_HASH}x0*{code:x}{names}){_SEMI}")
        forms.append(_percent(char))
        if char == " ":
            forms.append(r"\+")
        if code > 0xFFFF:
            high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
            escapes += [f"u{high:04x}{_BACKSLASH}{{1,16}}u{low:04x}", f"U{code:08x}"]
        else:
            escapes.append(f"u{code:04x}")
        if code < 0x100:
            escapes.append(f"x{code:02x}")
        if char in _SHORT_ESCAPES:
            escapes.append(_SHORT_ESCAPES[char])
    plain = "|".join(forms)
    if char in _BACKSLASHED:
        plain = f"{_BACKSLASH}{{0,16}}(?:{plain})"
    if not escapes:
        return f"(?:{plain})"
    return f"(?:{plain}|{_BACKSLASH}{{1,16}}(?:{'|'.join(escapes)}))"


def _units(text: str) -> list[str]:
    """One pattern per character; a run of backslashes is one unit (each `\\` may be doubled, and again)."""
    units: list[str] = []
    for run in re.finditer(r"\\+|[^\\]", text):
        piece = run.group()
        if piece[0] == "\\":
            count = len(piece)
            units.append(f"{_BACKSLASH}{{{count},{16 * count}}}" if count <= 8 else f"{_BACKSLASH}+")
        else:
            units.append(_char(piece))
    return units


def page_forms(secret: str) -> list[str]:
    """The secret as a page may show it: itself, its tags stripped, its whitespace folded."""
    forms = [secret]
    stripped = _TAG.sub("", secret)
    for shown in (stripped, " ".join(secret.split()), " ".join(stripped.split())):
        if len(shown) >= MIN_DERIVED and shown not in forms:
            forms.append(shown)
    return forms


def shown_forms(secret: str) -> list[str]:
    """The secret as text may carry it: as a page shows it, and its base64 (standard and URL-safe)."""
    forms = page_forms(secret)
    if len(secret) >= 3:
        raw = secret.encode("utf-8", "surrogatepass")
        for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
            for form in (encoded, encoded.rstrip("=")):
                if form not in forms:
                    forms.append(form)
    return forms


@dataclasses.dataclass(frozen=True, slots=True)
class _SecretPatterns:
    whole: Any  # every form of the secret
    beginning: Any | None  # the secret's first characters followed by an ellipsis
    needles: tuple[str, ...]  # every form holds one of these as is (ASCII letters and digits are never escaped)

    def may_hold(self, text: str) -> bool:
        return not self.needles or any(needle in text for needle in self.needles)


def _needles(forms: list[str]) -> tuple[str, ...]:
    """The longest run of ASCII letters and digits of each form; () when one has none worth looking for."""
    needles = []
    for form in forms:
        runs = re.findall(r"[A-Za-z0-9]+", form)
        longest = max(runs, key=len, default="")
        if len(longest) < 2:
            return ()
        needles.append(longest)
    return tuple(dict.fromkeys(needles))


@lru_cache(maxsize=REGISTRY_SIZE)
def _patterns(secret: str) -> _SecretPatterns:
    forms = shown_forms(secret)
    whole = re2.compile("|".join("".join(_units(form)) for form in forms), _OPTIONS)
    units = _units(secret)[:MAX_PREFIX]
    beginning = None
    if len(units) > MIN_PREFIX:
        nested = ""
        for unit in reversed(units[MIN_PREFIX:]):
            nested = f"(?:{unit}{nested})?"
        ellipsis = "|".join(re2.escape(e) for e in ELLIPSES)
        beginning = re2.compile(f"{''.join(units[:MIN_PREFIX])}{nested}({ellipsis})", _OPTIONS)
    return _SecretPatterns(whole, beginning, _needles(forms))


class Redactor:
    """Replaces every form of the given secrets by [REDACTED]; immutable, safe to share between threads."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        ordered = sorted({s for s in secrets if s}, key=len, reverse=True)  # a longer secret first
        self._patterns = tuple(_patterns(s) for s in ordered)
        self._longest = len(ordered[0]) if ordered else 0
        # a text with none of these (and no ellipsis) holds no secret: the usual case, decided fast
        self._needles = None if any(not p.needles for p in self._patterns) else tuple(
            {n for p in self._patterns for n in p.needles})

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def text(self, value: str) -> str:
        cut = "…" in value or "..." in value
        if not cut and self._needles is not None and not any(n in value for n in self._needles):
            return value
        for patterns in self._patterns:
            if patterns.may_hold(value):
                value = patterns.whole.sub(REDACTED, value)
            if cut and patterns.beginning is not None:
                value = patterns.beginning.sub(lambda m: REDACTED + m.group(1), value)
        return value

    def holds(self, value: str) -> bool:
        """Whether `value` holds a secret (in any of its forms)."""
        return any(p.may_hold(value) and p.whole.search(value) is not None for p in self._patterns)

    def optional(self, value: str | None) -> str | None:
        return None if value is None else self.text(value)

    def shorten(self, value: str, limit: int) -> tuple[str, bool]:
        """At most `limit` characters of `value`, redacted before the cut, and whether it was cut."""
        # a secret that starts before the cut ends within this window, however it is escaped
        window = value[: limit + 64 * self._longest + 256] if self else value[: limit + 1]
        shown = self.text(window)
        if len(shown) <= limit and len(window) == len(value):
            return shown, False
        return shown[:limit], True

    def cut(self, value: str, limit: int, ellipsis: str = "…") -> str:
        """At most `limit` characters of `value` (then `ellipsis`), redacted before the cut."""
        shown, was_cut = self.shorten(value, limit)
        return self.text(shown + ellipsis) if was_cut else shown  # and a beginning left by a cut, to be sure

    def deep(self, value: Any) -> Any:
        """Redact every string inside a value: dicts (keys too), lists, tuples and frozen dataclasses."""
        return self._deep(value) if self._patterns else value

    def _deep(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return self.text(value)
        if kind in _PLAIN:
            return value
        if kind is tuple or kind is list:
            if not value:
                return value
            items = [self._deep(v) for v in value]
            return value if all(new is old for new, old in zip(items, value, strict=True)) else kind(items)
        if kind is dict:
            pairs = [(self._deep(k), self._deep(v)) for k, v in value.items()]
            same = all(k is old_k and v is old_v for (k, v), (old_k, old_v) in zip(pairs, value.items(), strict=True))
            return value if same else dict(pairs)
        if isinstance(value, Enum):
            return value
        if isinstance(value, str):
            return self.text(value)
        names = _init_fields(kind)
        if names is None:
            return value
        changed = {}
        for name in names:
            old = getattr(value, name)
            if type(old) in _PLAIN:
                continue
            new = self._deep(old)
            if new is not old:
                changed[name] = new
        return dataclasses.replace(value, **changed) if changed else value


_PLAIN = frozenset({int, float, bool, type(None), bytes})


_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _init_fields(kind: type) -> tuple[str, ...] | None:
    """The names a dataclass takes in __init__; None for any other type."""
    if kind not in _FIELDS:
        _FIELDS[kind] = (tuple(f.name for f in dataclasses.fields(kind) if f.init)
                         if dataclasses.is_dataclass(kind) else None)
    return _FIELDS[kind]


class SecretRegistry:
    """The secrets revealed in this process so far (bounded), and one redactor for all of them."""

    def __init__(self, size: int = REGISTRY_SIZE) -> None:
        self._size = size
        self._secrets: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._redactor = Redactor()

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            changed = False
            for secret in secrets:
                if not secret:
                    continue
                if secret in self._secrets:
                    self._secrets.move_to_end(secret)
                    continue
                self._secrets[secret] = None
                changed = True
                while len(self._secrets) > self._size:
                    self._secrets.popitem(last=False)
            if changed:
                self._redactor = Redactor(self._secrets)

    def redactor(self) -> Redactor:
        return self._redactor

    def clear(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._redactor = Redactor()


REGISTRY = SecretRegistry()


def register(*secrets: str) -> Redactor:
    """Add secrets (a run's, as they are revealed); returns the redactor that now knows them."""
    REGISTRY.add(secrets)
    return REGISTRY.redactor()


def redactor() -> Redactor:
    """The redactor of every secret revealed in this process."""
    return REGISTRY.redactor()


def redact(text: str) -> str:
    return REGISTRY.redactor().text(text)


def cut(text: str, limit: int, ellipsis: str = "…") -> str:
    """`text` redacted, then cut to `limit` characters (then `ellipsis`)."""
    return REGISTRY.redactor().cut(text, limit, ellipsis)


def shorten(text: str, limit: int) -> tuple[str, bool]:
    """`text` redacted, then cut to `limit` characters, and whether it was cut."""
    return REGISTRY.redactor().shorten(text, limit)
