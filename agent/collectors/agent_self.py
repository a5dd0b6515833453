"""The agent's own health: what it costs the host, and whether each collector works.

A broken collector must be visible, not silent: its error count and last
duration are metrics like any other, so a threshold or a dashboard can see them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Protocol

from agent.collectors.base import (
    MetricSpec,
    SampleBuilder,
    Samples,
    counter,
    gauge,
    labels,
    read_text,
)
from agent.plugins import CollectorPlugin

_SELF = "the agent process"
METRICS: tuple[MetricSpec, ...] = (
    gauge("agent_rss_bytes", "bytes", (), "/proc/self/statm", "Resident memory of the agent."),
    gauge("agent_cpu_percent", "percent", (), "os.times()", "CPU the agent used over the interval, 100 = one core."),
    gauge("agent_open_fds", "fds", (), "/proc/self/fd", "File descriptors the agent holds."),
    gauge("agent_event_loop_lag_seconds", "seconds", (), _SELF, "Worst lateness of a scheduled tick since the last report."),
    gauge("agent_tasks", "tasks", (), _SELF, "asyncio tasks alive; a count that keeps growing is a task leak."),
    gauge("agent_series", "series", (), _SELF, "Series held in the in-memory store."),
    gauge("agent_store_bytes", "bytes", (), _SELF, "Memory reserved by the ring buffers."),
    counter("agent_series_dropped_total", "samples", ("collector",), _SELF, "Samples of new series refused because storage.max_series or max_series_per_collector was reached."),
    gauge("agent_collector_duration_seconds", "seconds", ("collector",), _SELF, "Wall time of the collector's last tick."),
    counter("agent_collector_errors_total", "errors", ("collector",), _SELF, "Failed ticks of the collector since start."),
    counter("agent_collector_skipped_ticks_total", "ticks", ("collector",), _SELF, "Ticks skipped because the collector fell behind."),
    counter("agent_alerts_sent_total", "alerts", ("channel",), _SELF, "Alerts the channel's far side accepted."),
    counter("agent_alerts_failed_total", "alerts", ("channel",), _SELF, "Alerts given up: permanent error or dead endpoint."),
    counter("agent_alerts_expired_total", "alerts", ("channel",), _SELF, "Alerts dropped as older than alerting.max_age_secs."),
    counter("agent_alerts_suppressed_total", "alerts", ("channel",), _SELF, "Alerts held back by the hourly budget."),
    gauge("agent_alerts_pending", "alerts", ("channel",), _SELF, "Alerts waiting in the outbox for the channel."),
    counter("agent_log_lines_unread_total", "searches", ("reason",), _SELF, "Searches of a log line by the custom patterns stopped at 50 ms of CPU (reason overran) or not made while their time budget was spent (budget): each a line custom patterns did not read (a line searched twice may count twice)."),
)  # fmt: skip


class AgentStats(Protocol):
    """What the runtime tells the self collector."""

    def collector_stats(self) -> dict[str, tuple[float, int, int]]:
        """collector -> (last duration s, errors, skipped ticks)."""

    def take_loop_lag(self) -> float:
        """The worst lateness since the last call, and reset it."""

    def store_size(self) -> tuple[int, int]:
        """(series, bytes)."""

    def task_count(self) -> int:
        """asyncio tasks alive."""

    def series_dropped(self) -> dict[str, int]:
        """collector -> samples of new series refused by a series cap."""

    def channel_stats(self) -> dict[str, tuple[int, int, int, int, int]]:
        """channel -> (sent, failed, expired, suppressed, pending)."""

    def log_lines_unread(self) -> dict[str, int]:
        """reason ("overran", "budget") -> searches of custom log patterns not done."""


class SelfCollector:
    name = "self"
    metrics = METRICS

    def __init__(self, stats: AgentStats, procfs: Path = Path("/proc")) -> None:
        self._stats = stats
        self._procfs = procfs
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._previous: tuple[float, float] | None = None

    def collect(self) -> Samples:
        out = SampleBuilder()
        statm = read_text(self._procfs / "self/statm").split()
        out.add("agent_rss_bytes", float(int(statm[1]) * self._page))
        now, times = time.monotonic(), os.times()
        cpu = times.user + times.system
        if self._previous is not None and now > self._previous[0]:
            out.add(
                "agent_cpu_percent", 100.0 * (cpu - self._previous[1]) / (now - self._previous[0])
            )
        self._previous = (now, cpu)
        out.add("agent_open_fds", float(len(os.listdir(self._procfs / "self/fd"))))
        out.add("agent_event_loop_lag_seconds", self._stats.take_loop_lag())
        out.add("agent_tasks", float(self._stats.task_count()))
        series, nbytes = self._stats.store_size()
        out.add("agent_series", float(series))
        out.add("agent_store_bytes", float(nbytes))
        for name, dropped in sorted(self._stats.series_dropped().items()):
            out.add("agent_series_dropped_total", float(dropped), labels(collector=name))
        for name, (sent, failed, expired, suppressed, pending) in sorted(
            self._stats.channel_stats().items()
        ):
            channel_labels = labels(channel=name)
            for metric, value in (("agent_alerts_sent_total", sent), ("agent_alerts_failed_total", failed),
                                  ("agent_alerts_expired_total", expired), ("agent_alerts_suppressed_total", suppressed),
                                  ("agent_alerts_pending", pending)):  # fmt: skip
                out.add(metric, float(value), channel_labels)
        for reason, unread in sorted(self._stats.log_lines_unread().items()):
            out.add("agent_log_lines_unread_total", float(unread), labels(reason=reason))
        for name, (duration, errors, skipped) in sorted(self._stats.collector_stats().items()):
            collector_labels = labels(collector=name)
            out.add("agent_collector_duration_seconds", duration, collector_labels)
            out.add("agent_collector_errors_total", float(errors), collector_labels)
            out.add("agent_collector_skipped_ticks_total", float(skipped), collector_labels)
        return out.build()


# `self` needs the runtime's statistics: without them (--once, --validate) it is not built.
PLUGIN = CollectorPlugin(
    name="self",
    order=110,
    interval_key="agent.collect_interval_secs",
    metrics=METRICS,
    build=lambda _settings, stats: SelfCollector(stats) if stats is not None else None,
)
