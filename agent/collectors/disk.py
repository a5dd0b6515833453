"""Disks: file system usage per mount (statvfs) and I/O per block device (/proc/diskstats).

* Usage is what `df` shows: used = blocks - bfree, used% = used / (used + bavail),
  free = bavail (what users can still write).  Pseudo file systems are skipped,
  and a device mounted several times (bind mounts) is reported once, at its
  shortest mount point.  statvfs can hang on a dead network mount, so it runs
  in a worker thread with a deadline; a mount that does not answer is skipped
  (and said once) until its call returns.
* I/O rates come from /proc/diskstats, whose field count varies by kernel
  (11, 15 or 17 fields after the name).  Sectors are always 512 bytes.  The
  kernel keeps some fields in 32 bits, so a decrease from a large value is
  taken as a wrap, not as a negative rate.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.collectors.base import (
    MetricSpec,
    ParseError,
    SampleBuilder,
    Samples,
    counter_delta,
    gauge,
    labels,
    read_optional,
    read_text,
)
from agent.plugins import CollectorPlugin
from agent.settings import (
    DEFAULT_EXCLUDED_DEVICES,
    DEFAULT_EXCLUDED_FS_TYPES,
    DEFAULT_EXCLUDED_MOUNTPOINTS,
)

log = logging.getLogger(__name__)

_FS, _IO = "statvfs(2) of each mount in /proc/1/mountinfo", "/proc/diskstats"
_MOUNT, _DEV = ("mountpoint", "device"), ("device",)
METRICS: tuple[MetricSpec, ...] = (
    gauge("disk_total_bytes", "bytes", _MOUNT, _FS, "Size of the file system."),
    gauge("disk_used_bytes", "bytes", _MOUNT, _FS, "Used space (blocks - free blocks)."),
    gauge("disk_free_bytes", "bytes", _MOUNT, _FS, "Space unprivileged users can still write (bavail)."),
    gauge("disk_used_percent", "percent", _MOUNT, _FS, "Used share as df shows it: used / (used + bavail)."),
    gauge("disk_inodes", "inodes", _MOUNT, _FS, "Inodes of the file system (not reported where it has no fixed count, e.g. btrfs)."),
    gauge("disk_inodes_used_percent", "percent", _MOUNT, _FS, "Used inodes as a share of all inodes."),
    gauge("disk_readonly", "boolean", _MOUNT, "/proc/1/mountinfo", "1 when the file system is mounted read-only."),
    gauge("disk_read_bytes_per_second", "bytes_per_second", _DEV, _IO, "Bytes read per second (sectors x 512)."),
    gauge("disk_write_bytes_per_second", "bytes_per_second", _DEV, _IO, "Bytes written per second."),
    gauge("disk_reads_per_second", "per_second", _DEV, _IO, "Read requests completed per second."),
    gauge("disk_writes_per_second", "per_second", _DEV, _IO, "Write requests completed per second."),
    gauge("disk_read_await_seconds", "seconds", _DEV, _IO, "Average time a read took over the interval (0 without reads)."),
    gauge("disk_write_await_seconds", "seconds", _DEV, _IO, "Average time a write took over the interval (0 without writes)."),
    gauge("disk_utilization_percent", "percent", _DEV, _IO, "Share of the interval the device was busy (io_ticks); misleading for NVMe and RAID."),
    gauge("disk_queue_depth", "requests", _DEV, _IO, "Average requests in flight over the interval (aqu-sz)."),
    gauge("disk_io_in_progress", "requests", _DEV, _IO, "Requests in flight at the moment of reading."),
)  # fmt: skip

SECTOR_BYTES = 512


class _StatvfsCall(threading.Thread):
    """statvfs in a daemon thread: a hung NFS mount must not hang the agent, nor its exit."""

    def __init__(self, path: str) -> None:
        super().__init__(name=f"statvfs {path}", daemon=True)
        self.path = path
        self.result: os.statvfs_result | None = None
        self.start()

    def run(self) -> None:
        try:
            self.result = os.statvfs(self.path)
        except OSError:
            self.result = None


@dataclass(frozen=True)
class Mount:
    device_id: str  # major:minor
    root: str
    mountpoint: str
    fstype: str
    source: str
    readonly: bool
    # A FUSE file system an unprivileged user mounted (user_id= in its super options, not
    # 0): theirs, not the host's storage, and their daemon can leave statvfs hanging for
    # good, a thread of ours each time.
    user_fuse: bool = False


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    mounts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 6 or len(tail) < 2:
            raise ParseError(f"mountinfo line {number}: cannot parse {line[:80]!r}")
        options = fields[5].split(",")
        super_options = tail[2].split(",") if len(tail) > 2 else []
        owner = next((o[8:] for o in super_options if o.startswith("user_id=")), "0")
        mounts.append(
            Mount(
                device_id=fields[2],
                root=_unescape(fields[3]),
                mountpoint=_unescape(fields[4]),
                fstype=tail[0],
                source=_unescape(tail[1]),
                readonly="ro" in options,
                user_fuse=tail[0].startswith("fuse") and owner != "0",
            )
        )
    return mounts


def select_mounts(
    mounts: list[Mount], excluded_types: tuple[str, ...], excluded_mountpoints: re.Pattern[str]
) -> list[Mount]:
    """Real file systems, one mount per device: the one with the shortest mount point; not
    a user's own FUSE mount (`Mount.user_fuse`)."""
    best: dict[str, Mount] = {}
    for mount in mounts:
        if (
            mount.fstype in excluded_types
            or mount.user_fuse
            or excluded_mountpoints.search(mount.mountpoint)
        ):
            continue
        current = best.get(mount.device_id)
        if current is None or (len(mount.root), len(mount.mountpoint)) < (
            len(current.root),
            len(current.mountpoint),
        ):
            best[mount.device_id] = mount
    return sorted(best.values(), key=lambda m: m.mountpoint)


@dataclass(frozen=True)
class DiskStats:
    name: str
    counters: np.ndarray  # the fields after the name, as float64


def parse_diskstats(text: str) -> list[DiskStats]:
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 14:
            raise ParseError(
                f"diskstats line {number}: {len(fields)} columns, expected at least 14"
            )
        try:
            values = [int(f) for f in fields[3:]]
        except ValueError:
            raise ParseError(f"diskstats line {number}: non-numeric field") from None
        if min(values) < 0:
            raise ParseError(f"diskstats line {number}: negative field")
        out.append(DiskStats(fields[2], np.array(values, dtype=np.float64)))
    return out


def usage_from_statvfs(st: os.statvfs_result) -> dict[str, float]:
    total = st.f_blocks * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    out = {
        "disk_total_bytes": float(total),
        "disk_used_bytes": float(used),
        "disk_free_bytes": float(avail),
        "disk_used_percent": 100.0 * used / (used + avail) if used + avail > 0 else 0.0,
    }
    if st.f_files > 0:
        out["disk_inodes"] = float(st.f_files)
        out["disk_inodes_used_percent"] = 100.0 * (st.f_files - st.f_ffree) / st.f_files
    return out


def io_rates(delta: np.ndarray, elapsed: float) -> dict[str, float]:
    """Per-interval I/O figures from diskstats field deltas (1-based fields in comments)."""
    reads, read_sectors, read_ms = delta[0], delta[2], delta[3]  # 1, 3, 4
    writes, write_sectors, write_ms = delta[4], delta[6], delta[7]  # 5, 7, 8
    io_ms, weighted_ms = delta[9], delta[10]  # 10, 11
    wall_ms = elapsed * 1000.0
    return {
        "disk_read_bytes_per_second": read_sectors * SECTOR_BYTES / elapsed,
        "disk_write_bytes_per_second": write_sectors * SECTOR_BYTES / elapsed,
        "disk_reads_per_second": reads / elapsed,
        "disk_writes_per_second": writes / elapsed,
        "disk_read_await_seconds": read_ms / reads / 1000.0 if reads else 0.0,
        "disk_write_await_seconds": write_ms / writes / 1000.0 if writes else 0.0,
        "disk_utilization_percent": min(100.0, 100.0 * io_ms / wall_ms),
        "disk_queue_depth": weighted_ms / wall_ms,
    }


class DiskCollector:
    name = "disk"
    metrics = METRICS

    def __init__(
        self,
        procfs: Path,
        rootfs: Path,
        *,
        excluded_fs_types: tuple[str, ...] = DEFAULT_EXCLUDED_FS_TYPES,
        excluded_mountpoints: str = DEFAULT_EXCLUDED_MOUNTPOINTS,
        excluded_devices: str = DEFAULT_EXCLUDED_DEVICES,
        statvfs_timeout: float = 2.0,
    ) -> None:
        self._procfs = procfs
        self._rootfs = rootfs
        self._excluded_fs_types = excluded_fs_types
        self._excluded_mountpoints = re.compile(excluded_mountpoints)
        self._excluded_devices = re.compile(excluded_devices)
        self._statvfs_timeout = statvfs_timeout
        self._previous: dict[str, tuple[float, np.ndarray]] = {}
        self._stuck: dict[str, _StatvfsCall] = {}

    def collect(self) -> Samples:
        out = SampleBuilder()
        self._usage(out)
        self._io(out)
        return out.build()

    # -- usage -----------------------------------------------------------------------

    def _mountinfo(self) -> str:
        text = read_optional(self._procfs / "1/mountinfo")
        if text is None:
            text = read_text(self._procfs / "self/mountinfo")
        return text

    def _usage(self, out: SampleBuilder) -> None:
        mounts = select_mounts(
            parse_mountinfo(self._mountinfo()), self._excluded_fs_types, self._excluded_mountpoints
        )
        calls = {}
        listed = {mount.mountpoint for mount in mounts}
        for mountpoint, call in list(self._stuck.items()):
            if mountpoint not in listed and not call.is_alive():  # gone, and its call ended
                del self._stuck[mountpoint]
        for mount in mounts:
            stuck = self._stuck.get(mount.mountpoint)
            if stuck is not None:
                if stuck.is_alive():
                    continue
                del self._stuck[mount.mountpoint]
                log.info("mount %s answers statvfs again", mount.mountpoint)
            calls[mount] = _StatvfsCall(str(self._rootfs / mount.mountpoint.lstrip("/")))
        deadline = time.monotonic() + self._statvfs_timeout
        for mount, call in calls.items():
            call.join(max(0.0, deadline - time.monotonic()))
            if call.is_alive():
                self._stuck[mount.mountpoint] = call
                log.warning(
                    "statvfs(%s) did not answer in %.1f s (a dead network mount?); skipping it "
                    "until it does", mount.mountpoint, self._statvfs_timeout,
                )  # fmt: skip
                continue
            if call.result is None:  # unmounted meanwhile, or not permitted
                continue
            mount_labels = labels(mountpoint=mount.mountpoint, device=mount.source)
            for metric, value in usage_from_statvfs(call.result).items():
                out.add(metric, value, mount_labels)
            out.add("disk_readonly", 1.0 if mount.readonly else 0.0, mount_labels)

    # -- I/O ---------------------------------------------------------------------------

    def _io(self, out: SampleBuilder) -> None:
        now = time.monotonic()
        seen = set()
        for disk in parse_diskstats(read_text(self._procfs / "diskstats")):
            if self._excluded_devices.search(disk.name):
                continue
            seen.add(disk.name)
            device_labels = labels(device=disk.name)
            out.add("disk_io_in_progress", float(disk.counters[8]), device_labels)
            previous = self._previous.get(disk.name)
            self._previous[disk.name] = (now, disk.counters)
            if previous is None or previous[1].shape != disk.counters.shape or now <= previous[0]:
                continue
            # Some fields are 32-bit in the kernel and wrap; field 9 (in flight) is a gauge.
            delta = counter_delta(previous[1], disk.counters, wrap=2**32)
            delta[8] = 0.0
            for metric, value in io_rates(delta, now - previous[0]).items():
                out.add(metric, value, device_labels)
        for gone in set(self._previous) - seen:
            del self._previous[gone]


PLUGIN = CollectorPlugin(
    name="disk",
    order=50,
    interval_key="collector.disk_interval_secs",
    metrics=METRICS,
    build=lambda settings, _stats: DiskCollector(
        Path(settings.agent.procfs),
        Path(settings.agent.rootfs),
        excluded_fs_types=settings.collector.disk_exclude_fs_types,
        excluded_mountpoints=settings.collector.disk_exclude_mountpoints,
        excluded_devices=settings.collector.disk_exclude_devices,
        statvfs_timeout=settings.collector.disk_statvfs_timeout_secs,
    ),
)
