"""Collector domains, one module each, and the table that builds them from settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.collectors import (
    agent_self,
    cpu,
    disk,
    edac,
    fd,
    gpu,
    memory,
    network,
    numa,
    pressure,
    process,
)
from agent.collectors.agent_self import AgentStats
from agent.collectors.base import Collector, MetricSpec
from agent.settings import Settings


@dataclass(frozen=True)
class Domain:
    name: str
    interval_key: str  # the settings key that sets its interval
    metrics: tuple[MetricSpec, ...]


DOMAINS: tuple[Domain, ...] = (
    Domain("cpu", "collector.cpu_interval_secs", cpu.METRICS),
    Domain("memory", "collector.memory_interval_secs", memory.METRICS),
    Domain("numa", "agent.collect_interval_secs", numa.METRICS),
    Domain("edac", "agent.collect_interval_secs", edac.METRICS),
    Domain("disk", "collector.disk_interval_secs", disk.METRICS),
    Domain("network", "collector.network_interval_secs", network.METRICS),
    Domain("process", "collector.process_interval_secs", process.METRICS),
    Domain("fd", "collector.fd_interval_secs", fd.METRICS),
    Domain("pressure", "agent.collect_interval_secs", pressure.METRICS),
    Domain("gpu", "collector.gpu_interval_secs", gpu.METRICS),
    Domain("self", "agent.collect_interval_secs", agent_self.METRICS),
)
ALL_METRICS: tuple[MetricSpec, ...] = tuple(m for d in DOMAINS for m in d.metrics)


def interval_of(settings: Settings, domain: Domain) -> float:
    section, key = domain.interval_key.split(".")
    return float(getattr(getattr(settings, section), key))


def build_collectors(
    settings: Settings, stats: AgentStats | None = None
) -> list[tuple[Collector, float]]:
    """Every enabled collector with its interval in seconds.

    `self` needs the runtime's statistics, so it is built only when `stats` is given.
    """
    built: list[tuple[Collector, float]] = []
    for domain in DOMAINS:
        if domain.name in settings.collector.disabled:
            continue
        collector = _build(domain.name, settings, stats)
        if collector is not None:
            built.append((collector, interval_of(settings, domain)))
    return built


def _build(name: str, settings: Settings, stats: AgentStats | None) -> Collector | None:
    procfs, sysfs, rootfs = (
        Path(settings.agent.procfs),
        Path(settings.agent.sysfs),
        Path(settings.agent.rootfs),
    )
    c = settings.collector
    if name == "cpu":
        return cpu.CpuCollector(procfs, sysfs, per_socket=settings.cpu.per_socket_monitoring)
    if name == "memory":
        return memory.MemoryCollector(procfs)
    if name == "numa":
        return numa.NumaCollector(procfs, sysfs) if settings.cpu.numa_monitoring else None
    if name == "edac":
        return edac.EdacCollector(sysfs) if settings.cpu.ecc_monitoring else None
    if name == "disk":
        return disk.DiskCollector(
            procfs,
            rootfs,
            excluded_fs_types=c.disk_exclude_fs_types,
            excluded_mountpoints=c.disk_exclude_mountpoints,
            excluded_devices=c.disk_exclude_devices,
            statvfs_timeout=c.disk_statvfs_timeout_secs,
        )
    if name == "network":
        return network.NetworkCollector(procfs, sysfs, c.network_exclude_interfaces)
    if name == "process":
        return process.ProcessCollector(procfs, c.process_top_n, c.process_track_patterns)
    if name == "fd":
        return fd.FdCollector(procfs)
    if name == "pressure":
        return pressure.PressureCollector(procfs)
    if name == "gpu":
        return gpu.GpuCollector(driver_marker=procfs / gpu.DRIVER_MARKER)
    if name == "self":
        return agent_self.SelfCollector(stats) if stats is not None else None
    raise ValueError(f"unknown collector domain {name!r}")
