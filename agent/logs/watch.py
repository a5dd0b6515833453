"""Wires the log sources to the pattern matcher and the router."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from agent.logs.kmsg import KmsgSource
from agent.logs.positions import Positions
from agent.logs.pstore import PreviousBoot
from agent.logs.syslogfile import SyslogSource, default_syslog_path
from agent.settings import Settings
from alerting.alert import Alert, Severity
from analyzers.logpatterns import LogAlerter, LogLine, LogMatcher, build_patterns

log = logging.getLogger(__name__)


class LogSource(Protocol):
    name: str
    available: bool

    async def run(self, emit: Callable[[LogLine], None]) -> None: ...


def build_alerter(settings: Settings) -> LogAlerter:
    la = settings.log_analyzer
    custom = [
        (
            re.sub(r"\W+", "_", p.name).strip("_") or f"custom_{i}",
            p.pattern,
            Severity.parse(p.severity),
        )
        for i, p in enumerate(la.custom_patterns)
    ]
    patterns = build_patterns(gpu_xid=la.gpu_xid_monitoring, segfaults=la.segfaults, custom=custom)
    return LogAlerter(LogMatcher(patterns), aggregate_secs=la.aggregate_secs)


def build_sources(
    settings: Settings, positions: Positions, route: Callable[[Alert], Any] | None = None
) -> list[LogSource]:
    la = settings.log_analyzer
    procfs, rootfs = Path(settings.agent.procfs), Path(settings.agent.rootfs)
    sources: list[LogSource] = []
    if route is not None and ("pstore" in la.sources or la.unclean_reboot_alert):
        sources.append(previous_boot(settings, route))
    if {"dmesg", "kmsg"} & set(la.sources):
        sources.append(KmsgSource(positions, procfs, max_line=la.max_line_bytes))
    if "journald" in la.sources:
        from agent.logs.journald import JournaldSource  # a subprocess pipe, only when asked for

        sources.append(JournaldSource(positions, la.journalctl_path, la.max_line_bytes))
    paths = [Path(f) for f in la.files]
    if "syslog" in la.sources:
        main = Path(la.syslog_path) if la.syslog_path else default_syslog_path(rootfs)
        if main is not None:
            paths.insert(0, main)
        else:
            log.warning(
                "no syslog file (/var/log/syslog or /var/log/messages): the syslog source is off"
            )
    if paths:
        sources.append(SyslogSource(paths, positions, la.poll_interval_secs, la.max_line_bytes))
    return sources


def previous_boot(settings: Settings, route: Callable[[Alert], Any]) -> PreviousBoot:
    la, agent = settings.log_analyzer, settings.agent
    return PreviousBoot(
        Path(agent.data_dir), route, sysfs=Path(agent.sysfs), rootfs=Path(agent.rootfs),
        procfs=Path(agent.procfs), pstore="pstore" in la.sources,
        journalctl=la.journalctl_path if {"journald", "pstore"} <= set(la.sources) else None,
        unclean_reboot_alert=la.unclean_reboot_alert, max_line=la.max_line_bytes,
    )  # fmt: skip


class LogWatch:
    def __init__(self, settings: Settings, route: Callable[[Alert], Any]) -> None:
        self.positions = Positions(Path(settings.agent.data_dir) / "log-positions.json")
        self.alerter = build_alerter(settings)
        self.sources = build_sources(settings, self.positions, route)
        self._route = route
        self.previous_boot = next((s for s in self.sources if isinstance(s, PreviousBoot)), None)

    def emit(self, line: LogLine) -> None:
        for alert in self.alerter.process(line, time.time()):
            self._route(alert)

    def tick(self, now: float) -> None:
        """Follow-ups of aggregated repeats, and saving positions (every few seconds)."""
        for alert in self.alerter.flush(now):
            self._route(alert)
        self.save()
        if self.previous_boot is not None:
            self.previous_boot.alive(now)

    def close(self) -> None:
        """At a clean stop: positions saved, and the run marked as ended cleanly."""
        self.save()
        if self.previous_boot is not None:
            self.previous_boot.stopped_cleanly(time.time())

    def save(self) -> None:
        try:
            self.positions.save()
        except OSError as exc:
            log.warning("cannot save log positions to %s: %s", self.positions.path, exc)
