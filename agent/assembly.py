"""Builds the running parts (collectors, analyzers, channels) from settings.

Kept apart from the runtime so `--validate` and `--once` describe and build
exactly what the daemon would run.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent import __version__
from agent.collectors import build_collectors
from agent.settings import Settings
from alerting.alert import Severity
from alerting.channels.base import Channel
from alerting.channels.console import ConsoleChannel
from alerting.channels.webhook import WebhookChannel
from analyzers.threshold import ThresholdRule

# Channels the configuration accepts but this version cannot deliver to yet.
NOT_YET_AVAILABLE = ("discord", "slack", "telegram", "email", "syslog")


def threshold_rules(settings: Settings) -> list[ThresholdRule]:
    """The seed's [thresholds] keys, for the metrics this version collects."""
    t = settings.thresholds
    return [
        ThresholdRule("cpu_usage_percent", t.cpu_percent),
        ThresholdRule("memory_used_percent", t.memory_percent),
    ]


def build_channels(settings: Settings) -> list[Channel]:
    a = settings.alerting
    channels: list[Channel] = []
    if a.console.enabled:
        channels.append(ConsoleChannel(Severity.parse(a.console.min_severity)))
    if a.webhook.enabled and a.webhook.url is not None:
        channels.append(
            WebhookChannel(
                a.webhook.url.reveal(),
                method=a.webhook.method,
                headers={k: v.reveal() for k, v in a.webhook.headers.items()},
                timeout_secs=a.webhook.timeout_secs,
                retry_count=a.webhook.retry_count,
                min_severity=Severity.parse(a.webhook.min_severity),
                user_agent=f"sysops-agent/{__version__}",
            )
        )
    return channels


class _NoStats:
    """Stands in for the runtime so that `self` is listed like the other collectors."""

    def collector_stats(self) -> dict[str, tuple[float, int, int]]:
        return {}

    def take_loop_lag(self) -> float:
        return 0.0

    def store_size(self) -> tuple[int, int]:
        return 0, 0


@dataclass(frozen=True)
class Summary:
    collectors: tuple[tuple[str, float], ...]
    channels: tuple[str, ...]
    unavailable_channels: tuple[str, ...]
    notes: tuple[str, ...]


def summarize(settings: Settings) -> Summary:
    """What this configuration turns on, and what it asks for that this version lacks."""
    collectors = tuple((c.name, interval) for c, interval in build_collectors(settings, _NoStats()))
    a = settings.alerting
    enabled = [name for name in ("console", "webhook") if getattr(a, name).enabled]
    unavailable = tuple(name for name in NOT_YET_AVAILABLE if getattr(a, name).enabled)
    notes = []
    if not enabled:
        notes.append("no alert channel that this version can deliver to is enabled")
    if settings.nats.enabled:
        notes.append("nats is enabled but NATS publishing is not part of this version yet")
    if settings.prometheus.enabled:
        notes.append("prometheus is enabled but the exporter is not part of this version yet")
    if settings.storage.sqlite_enabled:
        notes.append(
            "storage.sqlite_enabled is set but SQLite history is not part of this version yet"
        )
    return Summary(collectors, tuple(enabled), unavailable, tuple(notes))
