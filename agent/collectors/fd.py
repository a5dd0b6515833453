"""System-wide file handles from /proc/sys/fs/file-nr.

The file holds `allocated  free  max`; the middle value has been 0 since
Linux 2.6, so used = allocated.
"""

from __future__ import annotations

from pathlib import Path

from agent.collectors.base import MetricSpec, ParseError, SampleBuilder, Samples, gauge, read_text
from agent.plugins import CollectorPlugin

_SRC = "/proc/sys/fs/file-nr"
METRICS: tuple[MetricSpec, ...] = (
    gauge("fd_allocated", "handles", (), _SRC, "File handles allocated system-wide."),
    gauge("fd_max", "handles", (), _SRC, "fs.file-max: the system-wide limit."),
    gauge("fd_used_percent", "percent", (), _SRC, "Allocated handles as a share of fs.file-max."),
)


def parse_file_nr(text: str) -> tuple[int, int, int]:
    fields = text.split()
    try:
        allocated, free, maximum = (int(f) for f in fields)
    except ValueError:
        raise ParseError(f"file-nr: expected three integers, got {text[:60]!r}") from None
    if min(allocated, free, maximum) < 0:
        raise ParseError("file-nr: negative value")
    return allocated, free, maximum


class FdCollector:
    name = "fd"
    metrics = METRICS

    def __init__(self, procfs: Path) -> None:
        self._path = procfs / "sys/fs/file-nr"

    def collect(self) -> Samples:
        allocated, free, maximum = parse_file_nr(read_text(self._path))
        used = allocated - free
        out = SampleBuilder()
        out.add("fd_allocated", used)
        out.add("fd_max", maximum)
        out.add("fd_used_percent", 100.0 * used / maximum if maximum else 0.0)
        return out.build()


PLUGIN = CollectorPlugin(
    name="fd",
    order=80,
    interval_key="collector.fd_interval_secs",
    metrics=METRICS,
    build=lambda settings, _stats: FdCollector(Path(settings.agent.procfs)),
)
