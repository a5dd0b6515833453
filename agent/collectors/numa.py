"""NUMA nodes: memory per node from sysfs, CPU usage per node from /proc/stat.

Used is the node's MemUsed as the kernel reports it (MemTotal - MemFree): the
per-node meminfo has no MemAvailable.  A memory-only node (empty cpulist) has
memory series and no CPU series.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from agent.collectors.base import (
    MetricSpec,
    ParseError,
    SampleBuilder,
    Samples,
    SourceMissing,
    gauge,
    labels,
    parse_cpulist,
    read_optional,
    read_text,
)
from agent.collectors.cpu import ProcStat, busy_percent, parse_proc_stat
from agent.plugins import CollectorPlugin

_NODE = "/sys/devices/system/node/node*/meminfo"
METRICS: tuple[MetricSpec, ...] = (
    gauge("memory_numa_total_bytes", "bytes", ("node",), _NODE, "MemTotal of one NUMA node."),
    gauge("memory_numa_free_bytes", "bytes", ("node",), _NODE, "MemFree of one NUMA node."),
    gauge("memory_numa_used_bytes", "bytes", ("node",), _NODE, "MemUsed (MemTotal - MemFree) of one NUMA node."),
    gauge("memory_numa_used_percent", "percent", ("node",), _NODE, "MemUsed as a share of the node's MemTotal."),
    gauge(
        "cpu_numa_usage_percent", "percent", ("node",),
        "/proc/stat, /sys/devices/system/node/node*/cpulist",
        "Busy share of the node's CPUs over the interval.",
    ),
)  # fmt: skip

_NODE_DIR = re.compile(r"node(\d+)$")
_NODE_LINE = re.compile(r"^Node\s+\d+\s+")


def parse_node_meminfo(text: str) -> dict[str, int]:
    """`Node 0 MemTotal:  4942040 kB` lines -> bytes by field name."""
    out: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, rest = _NODE_LINE.sub("", line).partition(":")
        parts = rest.split()
        if not sep or not parts:
            raise ParseError(f"node meminfo line {number}: cannot parse {line[:60]!r}")
        try:
            value = int(parts[0])
        except ValueError:
            raise ParseError(f"node meminfo line {number}: {name} is not a number") from None
        out[name.strip()] = value * 1024 if parts[1:] == ["kB"] else value
    return out


class NumaCollector:
    name = "numa"
    metrics = METRICS

    def __init__(self, procfs: Path, sysfs: Path) -> None:
        self._procfs = procfs
        self._nodes_dir = sysfs / "devices/system/node"
        self._previous: ProcStat | None = None

    def _nodes(self) -> list[tuple[str, Path]]:
        try:
            entries = sorted(self._nodes_dir.iterdir())
        except FileNotFoundError:
            raise SourceMissing("no NUMA information in sysfs") from None
        nodes = [(m.group(1), p) for p in entries if (m := _NODE_DIR.match(p.name))]
        if not nodes:
            raise SourceMissing("no NUMA nodes in sysfs")
        return sorted(nodes, key=lambda n: int(n[0]))

    def collect(self) -> Samples:
        nodes = self._nodes()
        out = SampleBuilder()
        stat = parse_proc_stat(read_text(self._procfs / "stat"))
        previous, self._previous = self._previous, stat
        delta = None
        if previous is not None and previous.cpus == stat.cpus:
            delta = np.clip(stat.ticks - previous.ticks, 0, None)
        rows = {name: i for i, name in enumerate(stat.cpus)}
        for node, path in nodes:
            node_labels = labels(node=node)
            info = parse_node_meminfo(read_text(path / "meminfo"))
            total = info.get("MemTotal", 0)
            free = info.get("MemFree", 0)
            used = info.get("MemUsed", total - free)
            out.add("memory_numa_total_bytes", total, node_labels)
            out.add("memory_numa_free_bytes", free, node_labels)
            out.add("memory_numa_used_bytes", used, node_labels)
            out.add("memory_numa_used_percent", 100.0 * used / total if total else 0.0, node_labels)
            cpulist = read_optional(path / "cpulist")
            cpus = [rows[f"cpu{c}"] for c in parse_cpulist(cpulist or "") if f"cpu{c}" in rows]
            if delta is not None and cpus:
                out.add(
                    "cpu_numa_usage_percent",
                    float(busy_percent(delta[cpus].sum(axis=0))),
                    node_labels,
                )
        return out.build()


PLUGIN = CollectorPlugin(
    name="numa",
    order=30,
    interval_key="agent.collect_interval_secs",
    metrics=METRICS,
    build=lambda settings, _stats: (
        NumaCollector(Path(settings.agent.procfs), Path(settings.agent.sysfs))
        if settings.cpu.numa_monitoring
        else None
    ),
)
