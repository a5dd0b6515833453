"""Memory and swap from /proc/meminfo, paging and OOM kills from /proc/vmstat.

Used = MemTotal - MemAvailable: the kernel's own estimate of what can be given
to applications without swapping, which is what `free` reports as available.
Kernels older than 3.14 have no MemAvailable; there MemFree + Buffers + Cached
is the closest equivalent.
"""

from __future__ import annotations

import time
from pathlib import Path

from agent.collectors.base import (
    CounterRates,
    MetricSpec,
    ParseError,
    SampleBuilder,
    Samples,
    counter,
    gauge,
    read_optional,
    read_text,
)
from agent.plugins import CollectorPlugin

_MI, _VM = "/proc/meminfo", "/proc/vmstat"
METRICS: tuple[MetricSpec, ...] = (
    gauge("memory_total_bytes", "bytes", (), _MI, "MemTotal: usable RAM."),
    gauge("memory_used_bytes", "bytes", (), _MI, "MemTotal - MemAvailable."),
    gauge("memory_available_bytes", "bytes", (), _MI, "MemAvailable: memory that can be given to programs without swapping."),
    gauge("memory_used_percent", "percent", (), _MI, "memory_used_bytes as a share of MemTotal."),
    gauge("memory_free_bytes", "bytes", (), _MI, "MemFree: memory not used at all."),
    gauge("memory_buffers_bytes", "bytes", (), _MI, "Buffers: block device cache."),
    gauge("memory_cached_bytes", "bytes", (), _MI, "Cached: page cache (without swap cache)."),
    gauge("memory_shared_bytes", "bytes", (), _MI, "Shmem: shared memory and tmpfs."),
    gauge("memory_slab_bytes", "bytes", (), _MI, "Slab: kernel data structure caches."),
    gauge("memory_dirty_bytes", "bytes", (), _MI, "Dirty: waiting to be written back to disk."),
    gauge("memory_swap_total_bytes", "bytes", (), _MI, "SwapTotal."),
    gauge("memory_swap_used_bytes", "bytes", (), _MI, "SwapTotal - SwapFree."),
    gauge("memory_swap_used_percent", "percent", (), _MI, "Swap used as a share of SwapTotal (0 without swap)."),
    gauge("memory_swap_in_pages_per_second", "pages_per_second", (), _VM, "Pages swapped in per second (pswpin)."),
    gauge("memory_swap_out_pages_per_second", "pages_per_second", (), _VM, "Pages swapped out per second (pswpout)."),
    gauge("memory_page_faults_per_second", "per_second", (), _VM, "Page faults per second (pgfault)."),
    gauge("memory_major_faults_per_second", "per_second", (), _VM, "Major page faults (needing I/O) per second (pgmajfault)."),
    counter("memory_oom_kills_total", "kills", (), _VM, "Processes killed by the OOM killer since boot (oom_kill, kernel 4.13+)."),
)  # fmt: skip

_VMSTAT_RATES = ("pswpin", "pswpout", "pgfault", "pgmajfault")
_RATE_METRICS = (
    "memory_swap_in_pages_per_second",
    "memory_swap_out_pages_per_second",
    "memory_page_faults_per_second",
    "memory_major_faults_per_second",
)


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


def parse_vmstat(text: str) -> dict[str, int]:
    """/proc/vmstat: `name value` per line."""
    out: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise ParseError(f"/proc/vmstat line {number}: cannot parse {line[:60]!r}")
        try:
            out[parts[0]] = int(parts[1])
        except ValueError:
            raise ParseError(f"/proc/vmstat line {number}: {parts[0]} is not a number") from None
    return out


def used_bytes(meminfo: dict[str, int]) -> tuple[int, int]:
    """(total, used) in bytes."""
    total, available = _total_available(meminfo)
    return total, max(0, total - available)


def _total_available(meminfo: dict[str, int]) -> tuple[int, int]:
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
    return total, min(available, total)


class MemoryCollector:
    name = "memory"
    metrics = METRICS

    def __init__(self, procfs: Path) -> None:
        self._procfs = procfs
        self._rates = CounterRates()

    def collect(self) -> Samples:
        now = time.monotonic()
        info = parse_meminfo(read_text(self._procfs / "meminfo"))
        total, available = _total_available(info)
        used = total - available
        out = SampleBuilder()
        out.add("memory_total_bytes", total)
        out.add("memory_used_bytes", used)
        out.add("memory_available_bytes", available)
        out.add("memory_used_percent", 100.0 * used / total)
        for metric, field in (
            ("memory_free_bytes", "MemFree"),
            ("memory_buffers_bytes", "Buffers"),
            ("memory_cached_bytes", "Cached"),
            ("memory_shared_bytes", "Shmem"),
            ("memory_slab_bytes", "Slab"),
            ("memory_dirty_bytes", "Dirty"),
        ):
            if field in info:
                out.add(metric, info[field])
        swap_total = info.get("SwapTotal", 0)
        swap_used = max(0, swap_total - info.get("SwapFree", 0))
        out.add("memory_swap_total_bytes", swap_total)
        out.add("memory_swap_used_bytes", swap_used)
        out.add("memory_swap_used_percent", 100.0 * swap_used / swap_total if swap_total else 0.0)
        vmstat_text = read_optional(self._procfs / "vmstat")
        if vmstat_text is not None:
            vm = parse_vmstat(vmstat_text)
            rates = self._rates.update("vm", now, [vm.get(k, 0) for k in _VMSTAT_RATES])
            if rates is not None:
                out.add_many(_RATE_METRICS, rates)
            if "oom_kill" in vm:
                out.add("memory_oom_kills_total", vm["oom_kill"])
        return out.build()


PLUGIN = CollectorPlugin(
    name="memory",
    order=20,
    interval_key="collector.memory_interval_secs",
    metrics=METRICS,
    build=lambda settings, _stats: MemoryCollector(Path(settings.agent.procfs)),
)
