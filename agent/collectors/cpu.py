"""CPU usage from /proc/stat.

Usage is computed over the interval between two reads, never as a since-boot
average: busy% = delta(total - idle - iowait) / delta(total).  guest and
guest_nice are already counted inside user and nice, so they are not added
again (platform-facts section 8).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from agent.collectors.base import MetricSpec, ParseError, Samples
from analyzers.base import SeriesKey

# Column order of a cpu line: user nice system idle iowait irq softirq steal guest guest_nice.
_FIELDS = 10
_IDLE, _IOWAIT = 3, 4
_COUNTED = 8  # user..steal; guest columns are inside user/nice

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "cpu_usage_percent",
        "percent",
        (),
        "Share of all CPU time spent busy over the interval (not idle, not iowait).",
    ),
)
_USAGE = SeriesKey.of("cpu_usage_percent")


def parse_proc_stat_cpus(text: str) -> dict[str, npt.NDArray[np.int64]]:
    """The `cpu` and `cpuN` lines of /proc/stat as arrays of 10 tick counters.

    Kernels before 2.6.33 print fewer columns; the missing ones are zero.
    """
    cpus: dict[str, npt.NDArray[np.int64]] = {}
    for line in text.splitlines():
        if not line.startswith("cpu"):
            continue
        name, *fields = line.split()
        if len(fields) < 4:
            raise ParseError(f"/proc/stat: {name} has {len(fields)} columns, expected at least 4")
        try:
            values = [int(f) for f in fields[:_FIELDS]]
        except ValueError:
            raise ParseError(f"/proc/stat: non-numeric counter on line {name!r}") from None
        if any(v < 0 for v in values):
            raise ParseError(f"/proc/stat: negative counter on line {name!r}")
        values += [0] * (_FIELDS - len(values))
        cpus[name] = np.array(values, dtype=np.int64)
    if "cpu" not in cpus:
        raise ParseError("/proc/stat: no aggregate 'cpu' line")
    return cpus


def busy_percent(previous: npt.NDArray[np.int64], current: npt.NDArray[np.int64]) -> float | None:
    """Busy share between two readings; None when the counters went backwards (reset)."""
    delta = current[:_COUNTED] - previous[:_COUNTED]
    if (delta < 0).any():
        return None
    total = int(delta.sum())
    if total == 0:
        return 0.0
    busy = total - int(delta[_IDLE]) - int(delta[_IOWAIT])
    return 100.0 * busy / total


class CpuCollector:
    name = "cpu"
    metrics = METRICS

    def __init__(self, procfs: Path) -> None:
        self._path = procfs / "stat"
        self._previous: npt.NDArray[np.int64] | None = None

    def collect(self) -> Samples:
        current = parse_proc_stat_cpus(self._path.read_text())["cpu"]
        previous, self._previous = self._previous, current
        if previous is None:
            return Samples.empty()  # the first read only sets the baseline
        usage = busy_percent(previous, current)
        if usage is None:
            return Samples.empty()
        return Samples((_USAGE,), np.array([usage], dtype=np.float64))
