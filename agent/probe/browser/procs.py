"""Processes of the browser we launched: found in our own process tree (psutil if installed, else /proc)."""

from __future__ import annotations

import os
from pathlib import Path

try:  # optional: /proc does the same job on Linux
    import psutil
except ImportError:  # pragma: no cover - depends on the environment
    psutil = None

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: the ppid follows the last ")"
        fields = stat[stat.rfind(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def descendants(pid: int | None = None) -> list[int]:
    """Every process below `pid` (default: this process), children first."""
    root = os.getpid() if pid is None else pid
    if psutil is not None:
        try:
            return [p.pid for p in psutil.Process(root).children(recursive=True)]
        except psutil.Error:
            return []
    children = _children_map()
    out: list[int] = []
    todo = list(children.get(root, ()))
    while todo:
        current = todo.pop(0)
        out.append(current)
        todo.extend(children.get(current, ()))
    return out


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_chromium(pid: int) -> bool:
    """A Chromium/Chrome process of any type (browser, renderer, GPU, utility, zygote)."""
    args = cmdline(pid)
    return bool(args) and any(name in Path(args[0]).name for name in ("chrom", "headless_shell"))


def chromium_processes(pid: int | None = None) -> list[int]:
    """Chromium processes below `pid` (default: this process)."""
    return [p for p in descendants(pid) if is_chromium(p)]


def browser_main_pids(pid: int | None = None) -> list[int]:
    """The main (browser) process of each Chromium below `pid`: the ones without `--type=`."""
    return [p for p in chromium_processes(pid) if not any(a.startswith("--type=") for a in cmdline(p))]


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of the given processes, summed; vanished ones count 0."""
    total = 0
    for pid in pids:
        if psutil is not None:
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.Error:
                pass
            continue
        try:
            fields = Path(f"/proc/{pid}/statm").read_text().split()
        except OSError:
            continue
        total += int(fields[1]) * _PAGE_SIZE
    return total


def pss_bytes(pids: list[int]) -> int:
    """Proportional set size (shared pages split between their processes), summed; Linux only."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except (OSError, ValueError, IndexError):
            continue
    return total


def tree_pss_bytes(pid: int | None = None) -> int:
    """Proportional memory of a process and its descendants: unlike RSS, shared pages count once."""
    root = os.getpid() if pid is None else pid
    return pss_bytes([root, *descendants(root)])


def tree_rss_bytes(pid: int | None = None) -> int:
    """Resident memory of a process and all its descendants (this process by default)."""
    root = os.getpid() if pid is None else pid
    return rss_bytes([root, *descendants(root)])
