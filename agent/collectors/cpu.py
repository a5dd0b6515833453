"""CPU: usage per mode, per core and per socket, load, context switches.

Every percentage is computed over the interval between two reads, never as a
since-boot average: busy% = delta(total - idle - iowait) / delta(total).  guest
and guest_nice are already counted inside user and nice, so they are not added
to the total again (platform-facts section 8).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agent.collectors.base import (
    CounterRates,
    MetricSpec,
    ParseError,
    SampleBuilder,
    Samples,
    gauge,
    labels,
    read_optional,
    read_text,
)
from agent.plugins import CollectorPlugin

# Column order of a cpu line: user nice system idle iowait irq softirq steal guest guest_nice.
MODES = (
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "irq",
    "softirq",
    "steal",
    "guest",
    "guest_nice",
)
_FIELDS = len(MODES)
_IDLE, _IOWAIT = 3, 4
_COUNTED = 8  # user..steal: guest columns are inside user/nice
_MODE_METRICS = tuple(f"cpu_{m}_percent" for m in MODES[:9])

_STAT = "/proc/stat"
METRICS: tuple[MetricSpec, ...] = (
    gauge("cpu_usage_percent", "percent", (), _STAT, "All CPUs: time not idle and not in iowait over the interval."),
    *(
        gauge(f"cpu_{m}_percent", "percent", (), _STAT, f"All CPUs: share of time in {m} over the interval.")
        for m in MODES[:9]
    ),
    gauge("cpu_core_usage_percent", "percent", ("cpu",), _STAT, "One logical CPU: busy share over the interval."),
    gauge(
        "cpu_socket_usage_percent", "percent", ("socket",),
        "/proc/stat, /sys/devices/system/cpu/cpu*/topology/physical_package_id",
        "One socket (physical package): busy share of its CPUs over the interval. Only on "
        "hosts whose CPUs span two sockets or more: one socket's share is cpu_usage_percent.",
    ),
    gauge("cpu_load1", "processes", (), "/proc/loadavg", "Load average over 1 minute."),
    gauge("cpu_load5", "processes", (), "/proc/loadavg", "Load average over 5 minutes."),
    gauge("cpu_load15", "processes", (), "/proc/loadavg", "Load average over 15 minutes."),
    gauge("cpu_load1_per_core", "load_per_core", (), "/proc/loadavg", "1-minute load divided by online CPUs."),
    gauge("cpu_online", "cpus", (), _STAT, "Logical CPUs the kernel reports."),
    gauge("cpu_context_switches_per_second", "per_second", (), _STAT, "Context switches per second (ctxt)."),
    gauge("cpu_interrupts_per_second", "per_second", (), _STAT, "Interrupts serviced per second (intr)."),
    gauge("cpu_forks_per_second", "per_second", (), _STAT, "Processes and threads created per second."),
    gauge("cpu_procs_running", "processes", (), _STAT, "Runnable threads now (procs_running)."),
    gauge("cpu_procs_blocked", "processes", (), _STAT, "Threads blocked on I/O now (procs_blocked)."),
)  # fmt: skip


@dataclass(frozen=True)
class ProcStat:
    """/proc/stat: tick counters per CPU line plus the system-wide counters."""

    cpus: tuple[str, ...]  # "cpu" first, then "cpu0", "cpu1", ...
    ticks: npt.NDArray[np.int64]  # one row per entry of `cpus`, 10 columns
    ctxt: int
    intr: int
    processes: int
    procs_running: int
    procs_blocked: int


def parse_proc_stat(text: str) -> ProcStat:
    names: list[str] = []
    rows: list[list[int]] = []
    scalars: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        key = fields[0]
        try:
            if key.startswith("cpu"):
                if len(fields) < 5:
                    raise ParseError(
                        f"/proc/stat: {key} has {len(fields) - 1} columns, expected >= 4"
                    )
                values = [int(f) for f in fields[1 : _FIELDS + 1]]
                if min(values) < 0:
                    raise ParseError(f"/proc/stat: negative counter on line {key!r}")
                names.append(key)
                rows.append(values + [0] * (_FIELDS - len(values)))
            elif (
                key in ("ctxt", "intr", "processes", "procs_running", "procs_blocked")
                and len(fields) > 1
            ):
                scalars[key] = int(fields[1])
        except ValueError:
            raise ParseError(f"/proc/stat: non-numeric value on line {key!r}") from None
    if not names or names[0] != "cpu":
        raise ParseError("/proc/stat: no aggregate 'cpu' line first")
    return ProcStat(
        tuple(names),
        np.array(rows, dtype=np.int64),
        scalars.get("ctxt", 0),
        scalars.get("intr", 0),
        scalars.get("processes", 0),
        scalars.get("procs_running", 0),
        scalars.get("procs_blocked", 0),
    )


def parse_loadavg(text: str) -> tuple[float, float, float]:
    fields = text.split()
    try:
        return float(fields[0]), float(fields[1]), float(fields[2])
    except (IndexError, ValueError):
        raise ParseError(f"/proc/loadavg: cannot parse {text[:60]!r}") from None


def busy_percent(delta: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Busy share per row of tick deltas; 0 where no time passed."""
    total = delta[..., :_COUNTED].sum(axis=-1)
    busy = total - delta[..., _IDLE] - delta[..., _IOWAIT]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, 100.0 * busy / np.maximum(total, 1), 0.0)
    return np.asarray(share, dtype=np.float64)


def mode_percent(delta: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Share of each mode (user..guest) in one row of tick deltas."""
    total = int(delta[:_COUNTED].sum())
    if total <= 0:
        return np.zeros(9)
    return np.asarray(100.0 * delta[:9] / total, dtype=np.float64)


def read_sockets(sysfs: Path, cpus: tuple[str, ...]) -> dict[str, str]:
    """cpuN -> physical_package_id; CPUs without topology (offline, some VMs) are left out."""
    out = {}
    for name in cpus[1:]:
        text = read_optional(sysfs / "devices/system/cpu" / name / "topology/physical_package_id")
        if text is not None and text.strip().lstrip("-").isdigit():
            out[name] = text.strip()
    return out


class CpuCollector:
    name = "cpu"
    metrics = METRICS

    def __init__(self, procfs: Path, sysfs: Path, per_socket: bool = True) -> None:
        self._procfs = procfs
        self._sysfs = sysfs
        self._per_socket = per_socket
        self._previous: ProcStat | None = None
        self._sockets: dict[str, str] = {}
        self._rates = CounterRates()

    def collect(self) -> Samples:
        now = time.monotonic()
        stat = parse_proc_stat(read_text(self._procfs / "stat"))
        load = parse_loadavg(read_text(self._procfs / "loadavg"))
        previous, self._previous = self._previous, stat
        online = len(stat.cpus) - 1 or 1
        out = SampleBuilder()
        out.add_many(("cpu_load1", "cpu_load5", "cpu_load15"), load)
        out.add("cpu_load1_per_core", load[0] / online)
        out.add("cpu_online", float(online))
        out.add("cpu_procs_running", float(stat.procs_running))
        out.add("cpu_procs_blocked", float(stat.procs_blocked))
        rates = self._rates.update("system", now, [stat.ctxt, stat.intr, stat.processes])
        if rates is not None:
            out.add_many(
                (
                    "cpu_context_switches_per_second",
                    "cpu_interrupts_per_second",
                    "cpu_forks_per_second",
                ),
                rates,
            )
        if previous is None:
            return out.build()  # the first read only sets the baseline for percentages
        if previous.cpus != stat.cpus:  # a CPU went on- or offline: new baseline for cores
            self._sockets = {}
            total_delta = stat.ticks[0] - previous.ticks[0]
            if (total_delta >= 0).all():
                self._add_totals(out, total_delta)
            return out.build()
        delta = stat.ticks - previous.ticks
        backwards = (delta < 0).any(axis=1)
        delta[backwards] = 0  # a reset counter row reads as idle-free zero for one interval
        self._add_totals(out, delta[0])
        core_busy = busy_percent(delta[1:])
        for name, value in zip(stat.cpus[1:], core_busy.tolist(), strict=True):
            out.add("cpu_core_usage_percent", value, labels(cpu=name[3:]))
        if self._per_socket:
            self._add_sockets(out, stat.cpus, delta)
        return out.build()

    def _add_totals(self, out: SampleBuilder, delta: npt.NDArray[np.int64]) -> None:
        out.add("cpu_usage_percent", float(busy_percent(delta)))
        out.add_many(_MODE_METRICS, mode_percent(delta))

    def _add_sockets(
        self, out: SampleBuilder, cpus: tuple[str, ...], delta: npt.NDArray[np.int64]
    ) -> None:
        if not self._sockets:
            self._sockets = read_sockets(self._sysfs, cpus)
        by_socket: dict[str, list[int]] = {}
        for row, name in enumerate(cpus[1:], start=1):
            socket = self._sockets.get(name)
            if socket is not None:
                by_socket.setdefault(socket, []).append(row)
        if len(by_socket) < 2:
            # One socket's share is the whole CPU's: a second series of it would be a
            # second alert for every saturated CPU (most hosts, every small VM).
            return
        for socket, rows in sorted(by_socket.items()):
            out.add(
                "cpu_socket_usage_percent",
                float(busy_percent(delta[rows].sum(axis=0))),
                labels(socket=socket),
            )


PLUGIN = CollectorPlugin(
    name="cpu",
    order=10,
    interval_key="collector.cpu_interval_secs",
    metrics=METRICS,
    build=lambda settings, _stats: CpuCollector(
        Path(settings.agent.procfs),
        Path(settings.agent.sysfs),
        per_socket=settings.cpu.per_socket_monitoring,
    ),
)
