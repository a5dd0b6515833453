"""Builds the alerting half of a service from its settings: channels, workers, outbox,
router rules.

Both `sysops-agent` and `sysops-fleet` run a router in front of the same channels,
configured by the same `[alerting]` section; this is the one place that turns those
settings into running parts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alerting.channels.base import Channel
from alerting.channels.registry import ChannelPlugin
from alerting.delivery import ChannelWorker, Undelivered
from alerting.outbox import MemoryOutbox, Outbox, SqliteOutbox
from alerting.settings import AlertingSettings
from alerting.silences import InhibitRule, MaintenanceWindow, SilenceFile

log = logging.getLogger(__name__)


def channel_section(settings: Any, plugin: ChannelPlugin) -> Any:
    """The settings section a channel plug-in names ("alerting.discord" -> settings.alerting.discord)."""
    section: Any = settings
    for part in plugin.section.split("."):
        section = getattr(section, part)
    return section


def enabled_channels(settings: Any, table: Sequence[ChannelPlugin]) -> list[ChannelPlugin]:
    return [p for p in table if p.is_enabled(channel_section(settings, p))]


def build_channels(
    settings: Any,
    table: Sequence[ChannelPlugin],
    user_agent: str,
    hostname: str,
    only: str | None = None,
) -> list[Channel]:
    """Every enabled channel of `table` (or just `only`), configured from `settings`.

    Each channel's module is imported only when it is enabled: httpx with its
    dependencies costs ~5 MB of resident memory that a console-only agent never needs.
    """
    channels: list[Channel] = []
    for plugin in enabled_channels(settings, table):
        if only not in (None, plugin.name):
            continue
        channel = plugin.build(channel_section(settings, plugin), user_agent, hostname)
        if channel is not None:
            channels.append(channel)
    return channels


def maintenance_windows(alerting: AlertingSettings) -> list[MaintenanceWindow]:
    from datetime import time as dtime

    from alerting.silences import parse_matcher

    return [
        MaintenanceWindow(
            m.weekdays,
            dtime.fromisoformat(m.start),
            dtime.fromisoformat(m.end),
            m.timezone,
            tuple(parse_matcher(x) for x in m.match),
            m.name,
        )
        for m in alerting.maintenance
    ]


def inhibit_rules(alerting: AlertingSettings) -> list[InhibitRule]:
    from alerting.silences import parse_matcher

    return [
        InhibitRule(
            tuple(parse_matcher(m) for m in r.source_match),
            tuple(parse_matcher(m) for m in r.target_match),
            r.equal,
        )
        for r in alerting.inhibit
    ]


def silence_file(data_dir: str | Path) -> SilenceFile:
    return SilenceFile(Path(data_dir) / "silences.json")


def build_workers(
    alerting: AlertingSettings,
    channels: list[Channel],
    outbox: Outbox | None = None,
    undelivered: Undelivered | None = None,
) -> list[ChannelWorker]:
    a = alerting
    # One account of what left the outbox undelivered, so any channel that gets through says
    # it; a reload passes the running one on (what it holds is not said yet).
    undelivered = Undelivered() if undelivered is None else undelivered
    return [
        ChannelWorker(
            c,
            outbox=outbox,
            undelivered=undelivered,
            group_wait=a.group_wait_secs,
            max_per_hour=a.max_alerts_per_hour,
            emergency_bypass=a.emergency_bypass_rate_limit,
            max_age=a.max_age_secs,
            park_secs=a.backlog_retry_secs,
        )
        for c in channels
    ]


def needs_durable_outbox(alerting: AlertingSettings, channels: list[Channel]) -> bool:
    """Whether any channel has a remote end that an alert may have to wait for.

    The console and syslog on a local socket take an alert at once; keeping
    their alerts across a restart buys nothing, and SQLite costs ~2 MB resident.
    """
    local = {"console"}
    if alerting.syslog.address.startswith("/"):
        local.add("syslog")
    return any(c.name not in local for c in channels)


def open_outbox(
    alerting: AlertingSettings, data_dir: str | Path, channels: list[Channel]
) -> Outbox:
    """The durable outbox in data_dir when a channel needs it (in memory until its file can
    be opened, if it cannot be at first), else in memory; in memory too, and said, where
    data_dir cannot be made or the file there is refused (planted: a symlink, a fifo)."""
    max_rows = alerting.outbox_max_rows
    if not needs_durable_outbox(alerting, channels):
        return MemoryOutbox(max_rows=max_rows)
    import sqlite3

    path = Path(data_dir) / "outbox.db"
    try:
        return SqliteOutbox(
            path, max_rows=max_rows
        )  # refuses a symlink or special file planted in data_dir
    except (OSError, sqlite3.Error) as exc:
        log.error(
            "cannot open the outbox %s (%s): undelivered alerts will not survive a restart",
            path,
            exc,
        )
        return MemoryOutbox(
            degraded=f"outbox in memory only: cannot open {path}: {exc}", max_rows=max_rows
        )
