"""Pieces of the Prometheus text format (version 0.0.4) that /metrics is written with.

The format is the one `prometheus_client.exposition.generate_latest` writes; numbers go
through prometheus_client's own `floatToGoString`, so values read back exactly. What differs
is when the text is made: /metrics keeps each journey's lines and writes them again only
after a run changed them (exporters/journey_series.py), instead of converting every series
at every scrape. tests/test_metrics_budget.py checks the page with promtool and a real
Prometheus scrape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client.utils import floatToGoString

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape(value: str) -> str:
    """A label value as the format wants it: backslash, double quote and newline escaped."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def labels_text(labels: Mapping[str, str]) -> str:
    """`a="1",b="2"`: label names sorted, values escaped (no braces)."""
    return ",".join(f'{key}="{escape(str(labels[key]))}"' for key in sorted(labels))


def number(value: float) -> str:
    """A sample value: whole numbers without a fraction, others exactly (Go's spelling of infinities)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return floatToGoString(value)


def sample(name: str, labels: str, value: float) -> str:
    """One sample line, `labels` as `labels_text` makes them."""
    return f"{name}{{{labels}}} {number(value)}\n" if labels else f"{name} {number(value)}\n"


def header(name: str, kind: str, help_text: str) -> str:
    """The `# HELP` and `# TYPE` lines of a family."""
    escaped = help_text.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {escaped}\n# TYPE {name} {kind}\n"


def family(name: str, kind: str, help_text: str, lines: Iterable[str]) -> str:
    """A whole family, or nothing when it has no samples (as prometheus_client leaves it out too)."""
    body = "".join(lines)
    return header(name, kind, help_text) + body if body else ""


def histogram_lines(name: str, labels: str, bounds: tuple[float, ...], buckets: list[int], count: int,
                    total: float, le_texts: tuple[str, ...]) -> str:
    """`_bucket` (cumulative, then `+Inf`), `_count` and `_sum` of one histogram series.

    `buckets[i]` counts the observations in (bounds[i-1], bounds[i]]; `le_texts` are the
    bounds as `le` label values (precomputed: they are the same for every series)."""
    prefix = f"{name}_bucket{{{labels},le=" if labels else f"{name}_bucket{{le="
    parts = []
    cumulative = 0
    for le, bucket in zip(le_texts, buckets, strict=True):
        cumulative += bucket
        parts.append(f'{prefix}"{le}"}} {cumulative}\n')
    parts.append(f'{prefix}"+Inf"}} {count}\n')
    parts.append(sample(name + "_count", labels, count))
    parts.append(sample(name + "_sum", labels, total))
    return "".join(parts)


def le_texts(bounds: Iterable[float]) -> tuple[str, ...]:
    """Histogram bounds as `le` values, the way prometheus_client spells them (1 -> "1.0")."""
    return tuple(floatToGoString(bound) for bound in bounds)
