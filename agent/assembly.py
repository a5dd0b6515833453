"""Builds the running parts (collectors, analyzers, channels) from settings.

Kept apart from the runtime so `--validate` and `--once` describe and build
exactly what the daemon would run.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path

from agent import __version__
from agent.collectors import build_collectors
from agent.settings import Levels, Settings
from agent.store import Store
from alerting.alert import Severity
from alerting.channels.base import Channel
from alerting.channels.console import ConsoleChannel
from alerting.channels.syslog import SyslogChannel
from alerting.delivery import ChannelWorker
from alerting.outbox import MemoryOutbox, Outbox, SqliteOutbox
from alerting.silences import InhibitRule, MaintenanceWindow, SilenceFile
from analyzers.base import Analyzer
from analyzers.ema import EmaAnalyzer
from analyzers.leak import DEFAULT_KINDS, LeakAnalyzer
from analyzers.threshold import ThresholdAnalyzer, ThresholdRule
from analyzers.trend import TrendAnalyzer
from analyzers.zscore import ZScoreAnalyzer

log = logging.getLogger(__name__)

CHANNELS = ("console", "webhook", "discord", "slack", "telegram", "email", "syslog")


# [thresholds] key -> the metric it watches.
THRESHOLD_METRICS = {
    "cpu_percent": "cpu_usage_percent",
    "cpu_per_socket_percent": "cpu_socket_usage_percent",
    "memory_percent": "memory_used_percent",
    "disk_percent": "disk_used_percent",
    "disk_inode_percent": "disk_inodes_used_percent",
    "fd_percent": "fd_used_percent",
    "load_avg_multiplier": "cpu_load1_per_core",
    "network_error_rate": "network_error_ratio",
    "gpu_utilization_percent": "gpu_utilization_percent",
    "gpu_memory_percent": "gpu_memory_used_percent",
    "gpu_temperature_celsius": "gpu_temperature_celsius",
    "gpu_power_percent": "gpu_power_percent",
}


def derived_levels(key: str, warn: float) -> tuple[float | None, float]:
    """(critical, clear) for a threshold given as a single number (the seed's form).

    Percentages: critical halfway from warn to 100 (90 -> 95, 85 -> 92.5);
    load multiplier x1.5; error ratio x5 (at most 1); temperature +10 °C.
    Clear is 95 % of warn, so a value wobbling at the level does not flap.
    """
    if key == "load_avg_multiplier":
        critical: float | None = warn * 1.5
    elif key == "network_error_rate":
        critical = min(1.0, warn * 5)
    elif key == "gpu_temperature_celsius":
        critical = warn + 10
    else:
        critical = warn + (100 - warn) / 2 if warn < 100 else None
    return critical, warn * 0.95


def threshold_rules(settings: Settings) -> list[ThresholdRule]:
    """Custom [[thresholds.rules]] first (they are more specific), then the seed's keys."""
    rules = [
        ThresholdRule(
            metric=r.metric,
            warn=r.warn,
            critical=r.critical,
            clear=r.clear,
            for_secs=r.for_secs,
            below=r.direction == "below",
            labels=tuple(sorted(r.labels.items())),
            origin=f"thresholds.rules[{i}]",
        )
        for i, r in enumerate(settings.thresholds.rules)
    ]
    for key, metric in THRESHOLD_METRICS.items():
        value = getattr(settings.thresholds, key)
        if isinstance(value, Levels):
            rules.append(
                ThresholdRule(
                    metric,
                    value.warn,
                    value.critical,
                    value.clear,
                    value.for_secs,
                    origin=f"thresholds.{key}",
                )
            )
        else:
            critical, clear = derived_levels(key, value)
            rules.append(
                ThresholdRule(metric, value, critical, clear, 0.0, origin=f"thresholds.{key}")
            )
    return rules


def build_store(settings: Settings) -> Store:
    """Raw tier at least one sample longer than the z-score window; history tier per settings."""
    st, an = settings.storage, settings.analyzer
    history = max(
        math.ceil(st.history_hours * 3600 / st.history_resolution_secs),
        math.ceil(
            max(an.trend_window_hours, an.leak_min_observation_hours, an.anomaly_record_hours)
            * 3600
            / st.history_resolution_secs
        ),
    )
    return Store(
        max(st.ring_buffer_capacity, an.zscore_window + 1), history, st.history_resolution_secs
    )


def build_analyzers(settings: Settings, watch_everything: bool = False) -> list[Analyzer]:
    """The enabled analyzers, in order.  `watch_everything` (replay) makes z-score and EMA watch any metric."""
    an, res = settings.analyzer, settings.storage.history_resolution_secs
    metrics = ("*",) if watch_everything else an.anomaly_metrics
    record = math.ceil(an.anomaly_record_hours * 3600 / res)
    kinds = dict(DEFAULT_KINDS)
    kinds["process_rss_bytes"] = replace(
        kinds["process_rss_bytes"], min_growth_per_hour=an.leak_min_growth_bytes_per_hour
    )
    kinds["process_open_fds"] = replace(
        kinds["process_open_fds"], min_growth_per_hour=an.leak_min_growth_fds_per_hour
    )
    factories: dict[str, Analyzer] = {}
    for name in an.enabled:
        if name == "threshold":
            factories[name] = ThresholdAnalyzer(threshold_rules(settings))
        elif name == "zscore":
            factories[name] = ZScoreAnalyzer(
                metrics,
                an.zscore_window,
                an.zscore_threshold,
                an.anomaly_min_samples,
                an.anomaly_cooldown_secs,
                record_buckets=record,
            )
        elif name == "ema":
            factories[name] = EmaAnalyzer(
                metrics, an.ema_alpha, an.ema_threshold, an.ema_shift_threshold, an.ema_shift_samples,
                an.anomaly_min_samples, an.anomaly_cooldown_secs, record,
            )  # fmt: skip
        elif name == "trend":
            factories[name] = TrendAnalyzer(
                an.trend_window_hours, res, an.trend_min_span_hours, an.trend_min_r_squared
            )
        elif name == "leak":
            factories[name] = LeakAnalyzer(
                an.trend_window_hours,
                res,
                an.leak_min_observation_hours,
                an.leak_r_squared_threshold,
                kinds,
            )
    return [factories[n] for n in ("threshold", "zscore", "ema", "trend", "leak") if n in factories]


def build_channels(settings: Settings, only: str | None = None) -> list[Channel]:
    """Every enabled channel (or just `only`), configured from settings."""
    a = settings.alerting
    agent = f"sysops-agent/{__version__}"
    channels: list[Channel] = []

    def wanted(name: str) -> bool:
        return bool(getattr(a, name).enabled) and only in (None, name)

    # The HTTP and email channels are imported only when enabled: httpx with its
    # dependencies costs ~5 MB of resident memory that a console-only agent never needs.

    if wanted("console"):
        channels.append(
            ConsoleChannel(
                Severity.parse(a.console.min_severity), send_resolved=a.console.send_resolved
            )
        )
    if wanted("webhook") and a.webhook.url is not None:
        from alerting.channels.webhook import WebhookChannel

        channels.append(
            WebhookChannel(
                a.webhook.url.reveal(),
                method=a.webhook.method,
                headers={k: v.reveal() for k, v in a.webhook.headers.items()},
                timeout_secs=a.webhook.timeout_secs,
                retry_count=a.webhook.retry_count,
                min_severity=Severity.parse(a.webhook.min_severity),
                user_agent=agent,
                hmac_secret=a.webhook.hmac_secret.reveal() if a.webhook.hmac_secret else None,
                send_resolved=a.webhook.send_resolved,
            )
        )
    d, sl, t, e = a.discord, a.slack, a.telegram, a.email
    if wanted("discord") and d.webhook_url is not None:
        from alerting.channels.discord import DiscordChannel

        channels.append(
            DiscordChannel(
                d.webhook_url.reveal(),
                username=d.username,
                mention_roles=d.mention_roles,
                min_severity=Severity.parse(d.min_severity),
                user_agent=agent,
                send_resolved=d.send_resolved,
            )
        )
    if wanted("slack") and sl.webhook_url is not None:
        from alerting.channels.slack import SlackChannel

        channels.append(
            SlackChannel(
                sl.webhook_url.reveal(),
                channel=sl.channel,
                mention_users=sl.mention_users,
                min_severity=Severity.parse(sl.min_severity),
                user_agent=agent,
                send_resolved=sl.send_resolved,
            )
        )
    if wanted("telegram") and t.bot_token is not None and t.chat_id:
        from alerting.channels.telegram import TelegramChannel

        channels.append(
            TelegramChannel(
                t.bot_token.reveal(),
                t.chat_id,
                api_url=t.api_url,
                min_severity=Severity.parse(t.min_severity),
                user_agent=agent,
                send_resolved=t.send_resolved,
            )
        )
    if wanted("email") and e.smtp_host and e.from_:
        from alerting.channels.email import EmailChannel

        channels.append(
            EmailChannel(
                e.smtp_host,
                e.smtp_port,
                tls=e.smtp_tls,
                username=e.username,
                password=e.password.reveal() if e.password else None,
                sender=e.from_,
                recipients=e.to,
                subject_prefix=e.subject_prefix,
                min_severity=Severity.parse(e.min_severity),
                send_resolved=e.send_resolved,
            )
        )
    n = settings.nats
    if n.enabled and n.include_alerts and only in (None, "nats"):
        from alerting.channels.nats import NatsChannel, tls_context

        channels.append(
            NatsChannel(
                list(n.urls) or [n.url],
                settings.agent.hostname,
                subject_prefix=n.subject_prefix,
                token=n.token.reveal() if n.token else None,
                user=n.user,
                password=n.password.reveal() if n.password else None,
                credentials_file=n.credential_file,
                tls=tls_context(n.tls_ca_file, n.tls_cert_file, n.tls_key_file),
                tls_hostname=n.tls_server_name,
                jetstream_stream=n.jetstream_stream if n.jetstream else None,
            )
        )
    if wanted("syslog"):
        sy = a.syslog
        channels.append(SyslogChannel(facility=sy.facility, tag=sy.tag, address=sy.address,
                                      min_severity=Severity.parse(sy.min_severity), send_resolved=sy.send_resolved))  # fmt: skip
    return channels


def maintenance_windows(settings: Settings) -> list[MaintenanceWindow]:
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
        for m in settings.alerting.maintenance
    ]


def inhibit_rules(settings: Settings) -> list[InhibitRule]:
    from alerting.silences import parse_matcher

    return [
        InhibitRule(
            tuple(parse_matcher(m) for m in r.source_match),
            tuple(parse_matcher(m) for m in r.target_match),
            r.equal,
        )
        for r in settings.alerting.inhibit
    ]


def silence_file(settings: Settings) -> SilenceFile:
    return SilenceFile(Path(settings.agent.data_dir) / "silences.json")


def history_path(settings: Settings) -> Path:
    return Path(settings.storage.sqlite_path or Path(settings.agent.data_dir) / "history.db")


def build_workers(
    settings: Settings, channels: list[Channel], outbox: Outbox | None = None
) -> list[ChannelWorker]:
    a = settings.alerting
    return [
        ChannelWorker(
            c,
            outbox=outbox,
            group_wait=a.group_wait_secs,
            max_per_hour=a.max_alerts_per_hour,
            emergency_bypass=a.emergency_bypass_rate_limit,
            max_age=a.max_age_secs,
            park_secs=a.backlog_retry_secs,
        )
        for c in channels
    ]


def needs_durable_outbox(settings: Settings, channels: list[Channel]) -> bool:
    """Whether any channel has a remote end that an alert may have to wait for.

    The console and syslog on a local socket take an alert at once; keeping
    their alerts across a restart buys nothing, and SQLite costs ~2 MB resident.
    """
    local = {"console"}
    if settings.alerting.syslog.address.startswith("/"):
        local.add("syslog")
    return any(c.name not in local for c in channels)


def open_outbox(settings: Settings, channels: list[Channel]) -> Outbox:
    """The durable outbox in data_dir when a channel needs it, else (or if it cannot be
    opened, and said so) in memory."""
    if not needs_durable_outbox(settings, channels):
        return MemoryOutbox()
    import sqlite3

    path = Path(settings.agent.data_dir) / "outbox.db"
    try:
        return SqliteOutbox(path)  # refuses a symlink or special file planted in data_dir
    except (OSError, sqlite3.Error) as exc:
        log.error(
            "cannot open the outbox %s (%s): undelivered alerts will not survive a restart",
            path,
            exc,
        )
        return MemoryOutbox(degraded=f"outbox in memory only: cannot open {path}: {exc}")


class _NoStats:
    """Stands in for the runtime so that `self` is listed like the other collectors."""

    def collector_stats(self) -> dict[str, tuple[float, int, int]]:
        return {}

    def take_loop_lag(self) -> float:
        return 0.0

    def store_size(self) -> tuple[int, int]:
        return 0, 0

    def task_count(self) -> int:
        return 0

    def channel_stats(self) -> dict[str, tuple[int, int, int, int, int]]:
        return {}


@dataclass(frozen=True)
class Summary:
    log_sources: tuple[str, ...]
    collectors: tuple[tuple[str, float], ...]
    channels: tuple[str, ...]
    unavailable_channels: tuple[str, ...]
    notes: tuple[str, ...]


def summarize(settings: Settings) -> Summary:
    """What this configuration turns on, and what it asks for that this version lacks."""
    collectors = tuple((c.name, interval) for c, interval in build_collectors(settings, _NoStats()))
    a = settings.alerting
    enabled = [name for name in CHANNELS if getattr(a, name).enabled]
    if settings.nats.enabled and settings.nats.include_alerts:
        enabled.append("nats")
    unavailable: tuple[str, ...] = ()
    notes = []
    if not enabled:
        notes.append("no alert channel that this version can deliver to is enabled")
    logs = settings.log_analyzer.sources if settings.log_analyzer.enabled else ()
    return Summary(tuple(logs), collectors, tuple(enabled), unavailable, tuple(notes))
