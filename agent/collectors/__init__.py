"""Collector domains, one module each, and the table that builds them from settings."""

from __future__ import annotations

from pathlib import Path

from agent.collectors.base import Collector, MetricSpec
from agent.collectors.cpu import CpuCollector
from agent.collectors.memory import MemoryCollector
from agent.settings import Settings

ALL_METRICS: tuple[MetricSpec, ...] = (*CpuCollector.metrics, *MemoryCollector.metrics)


def build_collectors(settings: Settings) -> list[tuple[Collector, float]]:
    """Every enabled collector with its interval in seconds."""
    procfs = Path(settings.agent.procfs)
    return [
        (CpuCollector(procfs), settings.collector.cpu_interval_secs),
        (MemoryCollector(procfs), settings.collector.memory_interval_secs),
    ]
