"""Processes: counts by state, the top consumers, and a tracked set for leak detection.

This is the expensive domain, so it reads exactly one small file per process
(/proc/[pid]/stat, with os.open/os.read and no Python file objects) and only
looks further (owner, open fds) for the handful of processes it reports.
CPU % is over the interval, per process, as `top` shows it (100 % = one core);
a process is identified by (pid, start time) so a reused pid starts afresh.  A
process born since the previous read is measured over its life, which lies within
the interval: a hog that started a second before the read is the top consumer of
that read, not unknown until the next one.  Its start time counts clock ticks since
boot on the kernel's CLOCK_BOOTTIME, which the agent reads itself (not /proc/uptime,
which lxcfs rewrites to a container's age); the life ends where the scan ends, so a
slow scan (a second for 20,000 processes) under-states such a process, never
over-states it.
A stat file that cannot be parsed is counted and skipped.
"""

from __future__ import annotations

import heapq
import os
import pwd
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from agent.collectors.base import (
    MetricSpec,
    ParseError,
    SampleBuilder,
    Samples,
    counter,
    gauge,
    labels,
)
from agent.plugins import CollectorPlugin

_STAT = "/proc/[pid]/stat"
_PROC = ("pid", "comm", "user")
METRICS: tuple[MetricSpec, ...] = (
    gauge("processes", "processes", (), _STAT, "Processes whose stat could be read."),
    gauge("process_running", "processes", (), _STAT, "Processes in state R (running or runnable)."),
    gauge("process_blocked", "processes", (), _STAT, "Processes in state D (uninterruptible sleep, usually I/O)."),
    gauge("process_zombies", "processes", (), _STAT, "Processes in state Z (exited, not reaped by their parent)."),
    gauge("process_threads", "threads", (), _STAT, "Threads of all processes."),
    gauge("process_cpu_percent", "percent", _PROC, _STAT, "CPU used over the interval (over its life, if it started within it), 100 = one core (top-N by CPU or RSS, and tracked processes)."),
    gauge("process_rss_bytes", "bytes", _PROC, _STAT, "Resident memory (top-N by CPU or RSS, and tracked processes)."),
    gauge("process_open_fds", "fds", _PROC, "/proc/[pid]/fd", "Open file descriptors of a tracked process."),
    gauge("process_max_fds", "fds", _PROC, "/proc/[pid]/limits", "Soft limit of open files (RLIMIT_NOFILE) of a tracked process."),
    counter("process_unparsable_total", "files", (), _STAT, "Stat files skipped because they could not be parsed, since start."),
)  # fmt: skip

CLK_TCK = os.sysconf("SC_CLK_TCK")
# A life shorter than this is not measured: at CLK_TCK 100 a tick is 1 % of a second.
MIN_LIFE_SECS = 1.0
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class PidStat(NamedTuple):
    raw_comm: bytes  # decoded only for the processes that are reported
    state: bytes
    cpu_ticks: int  # utime + stime
    threads: int
    start_ticks: int
    rss_pages: int

    @property
    def comm(self) -> str:
        return self.raw_comm.decode("utf-8", "replace")


def parse_pid_stat(data: bytes) -> PidStat:
    """/proc/[pid]/stat.  comm may hold spaces and parentheses: split after the last ')'.

    comm is set by the process itself and may hold any byte but NUL, newlines
    and ')' included, so the whole file is one record: cutting at the first
    newline would let a process hide from top-N by naming itself "x\ny".
    """
    line = data.rstrip(b"\n")
    left, right = line.find(b"("), line.rfind(b")")
    if left < 0 or right < left:
        raise ParseError("pid stat: no (comm)")
    fields = line[right + 2 :].split(maxsplit=22)  # only fields 3..24 are needed
    if len(fields) < 22:
        raise ParseError(f"pid stat: {len(fields)} fields after comm, expected at least 22")
    try:
        utime, stime = int(fields[11]), int(fields[12])  # fields 14, 15
        threads, start, rss = int(fields[17]), int(fields[19]), int(fields[21])  # 20, 22, 24
    except ValueError:
        raise ParseError("pid stat: non-numeric field") from None
    if min(utime, stime, threads, start) < 0:
        raise ParseError("pid stat: negative counter")
    return PidStat(line[left + 1 : right], fields[0], utime + stime, threads, start, max(rss, 0))


def parse_max_open_files(text: str) -> int | None:
    """The soft "Max open files" limit from /proc/[pid]/limits; None if unlimited or absent."""
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft = line[len("Max open files") :].split()[0]
            return int(soft) if soft.isdigit() else None
    return None


def _read_small(path: bytes) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


class ProcessCollector:
    name = "process"
    metrics = METRICS

    def __init__(
        self,
        procfs: Path,
        top_n: int = 5,
        track_patterns: tuple[str, ...] = (),
        boottime: Callable[[], float] = lambda: time.clock_gettime(time.CLOCK_BOOTTIME),
    ) -> None:
        self._procfs = procfs
        self._boottime = boottime  # seconds since boot, the clock of a process's start time
        self._root = os.fsencode(procfs)
        self._top_n = top_n
        self._track = [re.compile(p) for p in track_patterns]
        self._previous: dict[tuple[int, int], int] = {}  # (pid, start) -> cpu ticks
        self._previous_time: float | None = None
        self._previous_began: float | None = None  # boot time when the previous read began
        self._users: dict[int, str] = {}
        self.unparsable = 0

    def collect(self) -> Samples:
        now = time.monotonic()
        elapsed = now - self._previous_time if self._previous_time is not None else 0.0
        self._previous_time = now
        began = self._boottime()
        born_after, self._previous_began = self._previous_began, began
        stats: dict[int, PidStat] = {}
        for name in os.listdir(self._root):
            if not name.isdigit():
                continue
            try:
                data = _read_small(self._root + b"/" + name + b"/stat")
            except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
                continue  # exited between listdir and open
            except PermissionError:
                continue
            try:
                stats[int(name)] = parse_pid_stat(data)
            except ParseError:
                self.unparsable += 1
        lives = None if born_after is None else (born_after, self._boottime())
        return self._samples(stats, elapsed, lives)

    def _samples(
        self, stats: dict[int, PidStat], elapsed: float, lives: tuple[float, float] | None = None
    ) -> Samples:
        """`lives`: (boot time when the previous read began, boot time now), to measure a
        process born between the two over its life."""
        out = SampleBuilder()
        states = [s.state for s in stats.values()]
        out.add("processes", float(len(stats)))
        out.add("process_running", float(states.count(b"R")))
        out.add("process_blocked", float(states.count(b"D")))
        out.add("process_zombies", float(states.count(b"Z")))
        out.add("process_threads", float(sum(s.threads for s in stats.values())))
        out.add("process_unparsable_total", float(self.unparsable))

        cpu: dict[int, float] = {}
        current: dict[tuple[int, int], int] = {}
        for pid, s in stats.items():
            key = (pid, s.start_ticks)
            current[key] = s.cpu_ticks
            before = self._previous.get(key)
            if before is not None and elapsed > 0:
                cpu[pid] = max(0, s.cpu_ticks - before) / CLK_TCK / elapsed * 100.0
            elif before is None and lives is not None:
                born = s.start_ticks / CLK_TCK
                life = lives[1] - born
                if born >= lives[0] and life >= MIN_LIFE_SECS:
                    cpu[pid] = s.cpu_ticks / CLK_TCK / life * 100.0
        self._previous = current

        # Idle processes and kernel threads (no RSS) are nobody's top consumer.
        busy = [p for p, used in cpu.items() if used > 0]
        resident = [p for p, s in stats.items() if s.rss_pages > 0]
        chosen = set(heapq.nlargest(self._top_n, busy, key=cpu.__getitem__))
        chosen |= set(heapq.nlargest(self._top_n, resident, key=lambda p: stats[p].rss_pages))
        tracked = {p for p, s in stats.items() if any(t.search(s.comm) for t in self._track)}
        for pid in sorted(chosen | tracked):
            s = stats[pid]
            proc_labels = labels(pid=str(pid), comm=s.comm, user=self._user(pid))
            if pid in cpu:  # CPU % needs an interval: a first read of an old process knows nothing
                out.add("process_cpu_percent", cpu[pid], proc_labels)
            out.add("process_rss_bytes", float(s.rss_pages * PAGE_SIZE), proc_labels)
            if pid in tracked:
                fds = self._open_fds(pid)
                if fds is not None:
                    out.add("process_open_fds", float(fds), proc_labels)
                limit = self._max_fds(pid)
                if limit is not None:
                    out.add("process_max_fds", float(limit), proc_labels)
        return out.build()

    def _user(self, pid: int) -> str:
        try:
            uid = os.stat(self._root + b"/" + str(pid).encode()).st_uid
        except OSError:
            return ""
        name = self._users.get(uid)
        if name is None:
            try:
                name = pwd.getpwuid(uid).pw_name
            except KeyError:
                name = str(uid)
            self._users[uid] = name
        return name

    def _max_fds(self, pid: int) -> int | None:
        try:
            data = _read_small(self._root + b"/" + str(pid).encode() + b"/limits")
        except OSError:
            return None
        return parse_max_open_files(data.decode("ascii", "replace"))

    def _open_fds(self, pid: int) -> int | None:
        try:
            return len(os.listdir(self._root + b"/" + str(pid).encode() + b"/fd"))
        except OSError:  # exited, or another user's process without CAP_SYS_PTRACE
            return None


PLUGIN = CollectorPlugin(
    name="process",
    order=70,
    interval_key="collector.process_interval_secs",
    metrics=METRICS,
    build=lambda settings, _stats: ProcessCollector(
        Path(settings.agent.procfs),
        settings.collector.process_top_n,
        settings.collector.process_track_patterns,
    ),
)
