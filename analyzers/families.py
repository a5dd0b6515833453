"""Metric families: the unit, noise floor and direction the anomaly analyzers judge in.

A z-score is a statement about a series' own noise; it says nothing about
whether the change matters.  An idle NIC going from 60 B/s to 1.2 kB/s is 40σ
and nothing at all in bytes per second.  So every metric family has:

* a **floor** in its own unit: a deviation from the baseline smaller than this
  is never an anomaly, however quiet the series was;
* a **direction**: `up` (usage, saturation, errors, latency, temperature:
  only a rise is bad news; a fall in usage is good news and never pages),
  `down` (something that should stay up, e.g. free memory), or `both`.

The first pattern (shell-style, on the metric name) that matches wins.  The
last entry, `*`, is the family of a series the agent knows nothing about (an
application's metric, a replayed NAB series): its floor is *relative* (a
fraction of its own scale: the larger of its baseline's magnitude and the range it
has covered) and it alerts in both directions,
so that a unit-less recording measures detection, not a unit's floor.
Operators override or add families with `[[analyzer.families]]` tables (a
metric pattern, and labels for some series only, as `[[thresholds.rules]]`);
they come before these (`analyzers.base.policy_from`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MIB = 1024.0 * 1024.0
DIRECTIONS = ("up", "down", "both")


@dataclass(frozen=True)
class Family:
    pattern: str  # shell-style pattern on the metric name
    unit: str
    floor: float  # in `unit`; if `relative`, a fraction of max(|baseline mean|, range covered)
    direction: str  # "up", "down" or "both"
    why: str = ""
    relative: bool = False
    labels: tuple[tuple[str, str], ...] = ()  # a rule for some series of the metric only

    @property
    def sign(self) -> int:
        """+1 up, -1 down, 0 both."""
        return {"up": 1, "down": -1}.get(self.direction, 0)


# Written from each metric's physics, not from any benchmark: what change, in the
# metric's own unit, would make a person look at the machine.
DEFAULT_FAMILIES: tuple[Family, ...] = (
    Family("cpu_iowait_percent", "%", 10.0, "up",
           "a tenth of all CPU time stalled on I/O is felt; a few points is a cache flush"),
    Family("cpu_steal_percent", "%", 10.0, "up",
           "a tenth of the CPU taken by the hypervisor is a noisy neighbour; less is normal"),
    Family("cpu_idle_percent", "%", 20.0, "down",
           "idle falling by a fifth of the machine mirrors cpu_usage rising by as much"),
    Family("cpu_*percent", "%", 20.0, "up",
           "a fifth of the machine: smaller swings are a cron job, a compile, a login"),
    Family("cpu_load*_per_core", "load per core", 0.5, "up",
           "half a runnable task per core more, all the time, is a busy machine"),
    Family("cpu_load*", "runnable tasks", 1.0, "up",
           "one more task wanting a CPU all the time; load of a few tenths is idle noise"),
    Family("cpu_*_per_second", "events/s", 1000.0, "up",
           "context switches, forks and interrupts move by thousands per second on any host"),
    Family("memory_available_bytes", "B", 512 * MIB, "down",
           "available memory falling by half a GiB is what an OOM builds up from"),
    Family("memory_free_bytes", "B", 512 * MIB, "down",
           "free memory is eaten by the page cache by design; only a large fall matters"),
    Family("memory_*percent", "%", 10.0, "up",
           "programs and caches move memory by a few points; a tenth of RAM is a real change"),
    Family("memory_*pages_per_second", "pages/s", 256.0, "up",
           "swapping a MiB/s (256 pages) is when a machine starts to crawl"),
    Family("memory_*faults_per_second", "faults/s", 1000.0, "up",
           "page faults run in the thousands per second on a healthy host"),
    Family("memory_*_bytes", "B", 512 * MIB, "up",
           "half a GiB: smaller moves are caches and buffers doing their work"),
    Family("disk_*_bytes_per_second", "B/s", 50 * MIB, "up",
           "throughput: a third of a disk's sequential bandwidth before it is news"),
    Family("disk_*s_per_second", "IO/s", 500.0, "up",
           "throughput: a few hundred IOPS is a database doing its job"),
    Family("disk_*_seconds", "s", 0.05, "up",
           "latency: 50 ms more per request is felt by every program on the disk"),
    Family("disk_*percent", "%", 10.0, "up",
           "utilisation and space: a tenth of the device"),
    Family("network_*errors_per_second", "errors/s", 1.0, "up",
           "errors: one a second, sustained, is a bad cable or a full ring"),
    Family("network_*drops_per_second", "drops/s", 10.0, "up",
           "drops: a few per second are normal under bursts"),
    Family("network_error_ratio", "ratio", 0.01, "up", "errors: one frame in a hundred"),
    Family("network_*_bytes_per_second", "B/s", 1 * MIB, "up",
           "throughput: an idle NIC's kB/s bursts are NTP and ARP; a MiB/s is traffic"),
    Family("network_*packets_per_second", "packets/s", 1000.0, "up",
           "throughput: a thousand packets a second is real traffic"),
    Family("network_aggregate_interfaces", "interfaces", 50.0, "both",
           "containers come and go by the dozen; fifty more or fewer is a fleet event"),
    Family("pressure_*_percent", "%", 10.0, "up",
           "saturation: a tenth of the time stalled is felt by every task"),
    Family("pressure_*_seconds_per_second", "s/s", 0.1, "up",
           "saturation: a tenth of a second stalled per second"),
    Family("*temperature_celsius", "°C", 10.0, "up",
           "ten degrees above usual is a fan or a blocked airflow; a few is load"),
    Family("gpu_*percent", "%", 20.0, "up", "a fifth of the device, as for the CPU"),
    Family("*_errors*", "errors", 1.0, "up", "any new error counts, one is the smallest step"),
    Family("gpu_re*", "pages", 1.0, "up", "errors: a retired or remapped row is a failing memory cell"),
    Family("*_total", "events", 1.0, "up", "counters of bad things (OOM kills, drops): one more counts"),
    Family("*zombies", "processes", 5.0, "up", "a few zombies come and go; a pile-up is a parent not reaping"),
    Family("*procs_*", "tasks", 2.0, "up", "two more runnable or blocked tasks all the time is contention"),
    Family("process_running", "tasks", 2.0, "up", "as cpu_procs_running"),
    Family("process_blocked", "tasks", 2.0, "up", "as cpu_procs_blocked"),
    Family("processes", "processes", 100.0, "up", "a hundred more processes is a fork storm"),
    Family("process_threads", "threads", 100.0, "up", "a hundred more threads is a thread leak"),
    Family("*_open_fds", "files", 1000.0, "up", "a thousand more open files is a descriptor leak"),
    Family("fd_allocated", "files", 1000.0, "up", "as *_open_fds, for the whole host"),
    Family("disk_queue_depth", "requests", 8.0, "up", "saturation: eight more requests waiting"),
    Family("disk_io_in_progress", "requests", 8.0, "up", "saturation: as disk_queue_depth"),
    Family("*_watts", "W", 50.0, "up", "fifty watts more is a device working much harder"),
    Family("*_up", "state", 0.5, "down", "1 up, 0 down: going down is the news"),
    Family("*online", "CPUs", 0.5, "down", "a CPU going offline"),
    Family("*throttle*", "state", 0.5, "up", "throttling starting"),
    Family("disk_readonly", "state", 0.5, "up", "a file system turning read-only"),
    Family("*_seconds", "s", 0.05, "up", "latency: 50 ms"),
    Family("*_percent", "%", 10.0, "up", "usage: a tenth of the resource"),
    Family("*max*", "limit", 0.5, "both", "a configured limit: any change is news"),
    Family("gpus", "devices", 0.5, "both", "a device appearing or vanishing"),
    Family("disk_inodes", "inodes", 0.5, "both", "the inode count of a file system changes only if remade"),
    Family("*_ratio", "ratio", 0.1, "up", "a tenth of the whole"),
    Family("*_bytes_per_second", "B/s", 1 * MIB, "up", "throughput: a MiB/s"),
    Family("*_bytes", "B", 64 * MIB, "up", "size: 64 MiB"),
    Family("*", "own scale", 0.05, "both",
           "unknown unit (replay, an application's metric): 5 % of its own scale (level or range covered), both ways",
           relative=True),
)  # fmt: skip


def family_of(metric: str, families: Iterable[Family] = DEFAULT_FAMILIES) -> Family:
    for family in families:
        if fnmatch.fnmatchcase(metric, family.pattern):
            return family
    return DEFAULT_FAMILIES[-1]


def resolve(overrides: Sequence[Family]) -> tuple[Family, ...]:
    """The operator's families first, then the defaults."""
    return (*overrides, *DEFAULT_FAMILIES)
