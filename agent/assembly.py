"""Builds the running parts (collectors, analyzers, channels) from settings.

Kept apart from the runtime so `--validate` and `--once` describe and build
exactly what the daemon would run.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import math
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import __version__
from agent.collectors import build_collectors
from agent.settings import CHANNELS, Settings, history_tier_hours
from agent.store import Store
from alerting import assembly as alerting_assembly
from alerting.channels.base import Channel
from alerting.channels.registry import ChannelPlugin, installed
from alerting.delivery import ChannelWorker, Undelivered
from alerting.outbox import Outbox
from alerting.silences import InhibitRule, MaintenanceWindow, SilenceFile
from analyzers import registry, threshold
from analyzers.base import Analyzer
from analyzers.threshold import ThresholdRule

log = logging.getLogger(__name__)

# The [thresholds] keys become rules in the threshold analyzer's module; named here
# too for the CLI's --once, the runtime's reload and the tests.
THRESHOLD_METRICS = threshold.THRESHOLD_METRICS
derived_levels = threshold.derived_levels


def threshold_rules(settings: Settings) -> list[ThresholdRule]:
    return threshold.threshold_rules(settings)


def build_store(settings: Settings, watch_everything: bool = False) -> Store:
    """Raw tier at least one sample longer than the z-score window; history tier per settings,
    for the series an enabled analyzer reads history of or storage.history_metrics names.

    `watch_everything`: as for build_analyzers (replay: every series is watched).
    """
    st, an = settings.storage, settings.analyzer
    patterns = registry.history_patterns(settings, watch_everything) + st.history_metrics
    history = math.ceil(history_tier_hours(settings) * 3600 / st.history_resolution_secs)
    return Store(
        max(st.ring_buffer_capacity, an.zscore_window + 1), history, st.history_resolution_secs,
        max_series=st.max_series, max_series_per_group=st.max_series_per_collector,
        needs_history=None if "*" in patterns else functools.partial(_matches_any, patterns),
    )  # fmt: skip


def _matches_any(patterns: tuple[str, ...], metric: str) -> bool:
    return any(fnmatch.fnmatchcase(metric, p) for p in patterns)


def build_analyzers(settings: Settings, watch_everything: bool = False) -> list[Analyzer]:
    """The enabled analyzers, in evaluation order (analyzers.registry holds the table).

    `watch_everything` (replay) makes z-score and EMA watch any metric.
    """
    return registry.build_analyzers(settings, watch_everything)


def channel_section(settings: Settings, plugin: ChannelPlugin) -> Any:
    return alerting_assembly.channel_section(settings, plugin)


def enabled_channels(settings: Settings) -> list[ChannelPlugin]:
    return alerting_assembly.enabled_channels(settings, CHANNELS)


def build_channels(settings: Settings, only: str | None = None) -> list[Channel]:
    """Every enabled channel (or just `only`), configured from settings."""
    return alerting_assembly.build_channels(
        settings, CHANNELS, f"sysops-agent/{__version__}", settings.agent.hostname, only
    )


def maintenance_windows(settings: Settings) -> list[MaintenanceWindow]:
    return alerting_assembly.maintenance_windows(settings.alerting)


# The agent's own inhibitions, before the configured ones: an alert that only repeats what
# another already says.  A socket's usage over its level while the whole CPU's is over its
# own at that severity or above: on a two-socket box at 100 % one notification, not three.
# A socket still over its level when the whole CPU's alert resolves is announced then
# (`Router._announce_unmuted`); a socket hotter than the whole's severity is never muted.
# The load average while the CPU's usage alert fires, by any analyzer: on a saturated CPU
# the run queue grows, and "load 1.9 above its usual 0.2" says nothing the CPU's alert did
# not.  The load average decays for minutes after the CPU is free (the 1-minute one by a
# factor e a minute), so the mute outlasts the CPU's alert by LOAD_EBB_SECS; a load still
# high after that (tasks blocked on I/O) is news, announced then.
LOAD_EBB_SECS = 300.0
BUILT_IN_INHIBITS = (
    InhibitRule(
        source=(("analyzer", "=", "threshold"), ("metric", "=", "cpu_usage_percent")),
        target=(("analyzer", "=", "threshold"), ("metric", "=", "cpu_socket_usage_percent")),
        equal=("host",),
        as_severe=True,
    ),
    InhibitRule(
        source=(("metric", "=", "cpu_usage_percent"),),
        target=(("metric", "=~", "cpu_load.*"),),
        equal=("host",),
        as_severe=True,
        linger_secs=LOAD_EBB_SECS,
    ),
)


def inhibit_rules(settings: Settings) -> list[InhibitRule]:
    return [*BUILT_IN_INHIBITS, *alerting_assembly.inhibit_rules(settings.alerting)]


def silence_file(settings: Settings) -> SilenceFile:
    return alerting_assembly.silence_file(settings.agent.data_dir)


def history_path(settings: Settings) -> Path:
    return Path(settings.storage.sqlite_path or Path(settings.agent.data_dir) / "history.db")


def build_workers(
    settings: Settings,
    channels: list[Channel],
    outbox: Outbox | None = None,
    undelivered: Undelivered | None = None,
) -> list[ChannelWorker]:
    return alerting_assembly.build_workers(settings.alerting, channels, outbox, undelivered)


def needs_durable_outbox(settings: Settings, channels: list[Channel]) -> bool:
    return alerting_assembly.needs_durable_outbox(settings.alerting, channels)


def open_outbox(settings: Settings, channels: list[Channel]) -> Outbox:
    return alerting_assembly.open_outbox(settings.alerting, settings.agent.data_dir, channels)


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

    def series_dropped(self) -> dict[str, int]:
        return {}

    def channel_stats(self) -> dict[str, tuple[int, int, int, int, int]]:
        return {}

    def log_lines_unread(self) -> dict[str, int]:
        return {}


@dataclass(frozen=True)
class Summary:
    log_sources: tuple[str, ...]
    collectors: tuple[tuple[str, float], ...]
    channels: tuple[str, ...]
    # Enabled, but the optional extra they need is not installed (aiosmtplib for
    # email, nats-py for NATS): they are built, and every delivery fails.
    unavailable_channels: tuple[str, ...]
    notes: tuple[str, ...]
    # (what, extra): parts the configuration enables whose optional extra is not installed;
    # each does nothing, said once at start and by --validate with the command that mends it.
    missing_extras: tuple[tuple[str, str], ...] = ()

    def missing_extra_lines(self) -> list[str]:
        """One line per extra, naming every part that waits for it (NATS: channel and telemetry)."""
        parts: dict[str, list[str]] = {}
        for what, extra in self.missing_extras:
            parts.setdefault(extra, []).append(what)
        return [
            f"{' and '.join(whats)} {'is' if len(whats) == 1 else 'are'} enabled but "
            f"{'its' if len(whats) == 1 else 'their'} library is not installed "
            f"(pip install 'sysops-agent[{extra}]'): nothing is done until then"
            for extra, whats in parts.items()
        ]


# The optional extras (pyproject.toml) by the module each provides.
EXTRA_OF_MODULE = {
    "aiosmtplib": "email",
    "nats": "nats",
    "aiosqlite": "sqlite",
    "prometheus_client": "prometheus",
}


def summarize(settings: Settings, absent: Collection[str] = ()) -> Summary:
    """What this configuration turns on, and what it asks for that this install lacks.

    `absent`: collectors found to have no source on this host (the runtime
    knows after their first read); they are left out, as they do not run.
    """
    collectors = tuple(
        (c.name, interval)
        for c, interval in build_collectors(settings, _NoStats())
        if c.name not in absent
    )
    enabled = enabled_channels(settings)
    unavailable = tuple(p.name for p in enabled if not p.available())
    notes = []
    if not enabled:
        notes.append("no alert channel that this version can deliver to is enabled")
    logs = settings.log_analyzer.sources if settings.log_analyzer.enabled else ()
    missing = [
        (f"channel {p.name}", EXTRA_OF_MODULE.get(module, module))
        for p in enabled
        for module in p.requires
        if not installed(module)
    ]
    for on, what, module in (
        (settings.nats.enabled, "NATS telemetry", "nats"),
        (settings.storage.sqlite_enabled, "SQLite history", "aiosqlite"),
        (settings.prometheus.enabled, "the Prometheus endpoint", "prometheus_client"),
    ):
        if on and not installed(module):
            missing.append((what, EXTRA_OF_MODULE[module]))
    return Summary(
        tuple(logs),
        collectors,
        tuple(p.name for p in enabled),
        unavailable,
        tuple(notes),
        tuple(missing),
    )
