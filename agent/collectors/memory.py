"""Memory usage from /proc/meminfo.

Used = MemTotal - MemAvailable: the kernel's own estimate of what can be given
to applications without swapping, which is what `free` reports as available.
Kernels older than 3.14 have no MemAvailable; there MemFree + Buffers + Cached
is the closest equivalent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agent.collectors.base import MetricSpec, ParseError, Samples
from analyzers.base import SeriesKey

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("memory_used_percent", "percent", (), "MemTotal - MemAvailable, share of MemTotal."),
    MetricSpec("memory_used_bytes", "bytes", (), "MemTotal - MemAvailable."),
    MetricSpec("memory_total_bytes", "bytes", (), "MemTotal: usable RAM."),
)
_KEYS = tuple(SeriesKey.of(spec.name) for spec in METRICS)


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo as bytes (values in kB are multiplied out); malformed lines are errors."""
    out: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, rest = line.partition(":")
        parts = rest.split()
        if not sep or not parts or len(parts) > 2:
            raise ParseError(f"/proc/meminfo line {number}: cannot parse {line[:60]!r}")
        try:
            value = int(parts[0])
        except ValueError:
            raise ParseError(f"/proc/meminfo line {number}: {name} is not a number") from None
        if len(parts) == 2:
            if parts[1] != "kB":
                raise ParseError(f"/proc/meminfo line {number}: unknown unit {parts[1]!r}")
            value *= 1024
        out[name.strip()] = value
    return out


def used_bytes(meminfo: dict[str, int]) -> tuple[int, int]:
    """(total, used) in bytes."""
    try:
        total = meminfo["MemTotal"]
        if "MemAvailable" in meminfo:
            available = meminfo["MemAvailable"]
        else:
            available = meminfo["MemFree"] + meminfo.get("Buffers", 0) + meminfo.get("Cached", 0)
    except KeyError as exc:
        raise ParseError(f"/proc/meminfo: missing {exc.args[0]}") from None
    if total <= 0:
        raise ParseError("/proc/meminfo: MemTotal is zero")
    return total, max(0, total - available)


class MemoryCollector:
    name = "memory"
    metrics = METRICS

    def __init__(self, procfs: Path) -> None:
        self._path = procfs / "meminfo"

    def collect(self) -> Samples:
        total, used = used_bytes(parse_meminfo(self._path.read_text()))
        values = np.array([100.0 * used / total, used, total], dtype=np.float64)
        return Samples(_KEYS, values)
