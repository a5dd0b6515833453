"""Threshold analyzer: fires on the first sample over the level, resolves below it."""

from __future__ import annotations

import numpy as np

from agent.store import Store
from alerting.alert import Severity, Status
from analyzers.base import SeriesKey
from analyzers.threshold import ThresholdAnalyzer, ThresholdRule, format_value

MEM = SeriesKey.of("memory_used_percent")
CPU = SeriesKey.of("cpu_usage_percent")
OTHER = SeriesKey.of("memory_total_bytes")


def feed(store: Store, analyzer: ThresholdAnalyzer, t: float, mem: float, cpu: float) -> list:
    batch = store.write_samples(t, (MEM, CPU, OTHER), np.array([mem, cpu, 1e9]))
    return analyzer.observe(batch, store)


def test_first_sample_over_the_level_fires_and_every_sample_while_over() -> None:
    store = Store(16)
    analyzer = ThresholdAnalyzer([ThresholdRule("memory_used_percent", 85.0)])
    assert feed(store, analyzer, 1.0, 50.0, 99.0) == []  # cpu has no rule here
    (alert,) = feed(store, analyzer, 2.0, 90.0, 0.0)
    assert alert.status is Status.FIRING and alert.severity is Severity.WARN
    assert alert.metric == "memory_used_percent" and alert.value == 90.0 and alert.threshold == 85.0
    assert alert.timestamp == 2.0
    assert alert.message == "memory_used_percent is above its threshold: 90.0% (threshold 85.0%)"
    (again,) = feed(store, analyzer, 3.0, 91.0, 0.0)
    assert again.status is Status.FIRING and again.fingerprint == alert.fingerprint
    (resolved,) = feed(store, analyzer, 4.0, 85.0, 0.0)  # at the level is not over it
    assert resolved.status is Status.RESOLVED and resolved.fingerprint == alert.fingerprint
    assert feed(store, analyzer, 5.0, 10.0, 0.0) == []


def test_nan_never_fires() -> None:
    store = Store(16)
    analyzer = ThresholdAnalyzer([ThresholdRule("memory_used_percent", 0.0)])
    assert feed(store, analyzer, 1.0, float("nan"), 0.0) == []


def test_reload_changes_levels_keeps_state_and_resolves_removed_rules() -> None:
    store = Store(16)
    analyzer = ThresholdAnalyzer([ThresholdRule("memory_used_percent", 50.0)])
    assert len(feed(store, analyzer, 1.0, 60.0, 0.0)) == 1
    analyzer.reconfigure([ThresholdRule("memory_used_percent", 70.0)])
    (resolved,) = feed(store, analyzer, 2.0, 60.0, 0.0)
    assert resolved.status is Status.RESOLVED and resolved.threshold == 70.0
    assert len(feed(store, analyzer, 3.0, 80.0, 0.0)) == 1
    analyzer.reconfigure([])
    (gone,) = feed(store, analyzer, 4.0, 80.0, 0.0)
    assert gone.status is Status.RESOLVED and gone.threshold is None
    assert feed(store, analyzer, 5.0, 80.0, 0.0) == []


def test_format_value_units() -> None:
    assert format_value("x_percent", 12.345) == "12.3%"
    assert format_value("x_bytes", 3 * 1024**3) == "3.0 GiB"
    assert format_value("x_celsius", 84.6) == "85°C"
    assert format_value("load1", 2.5) == "2.5"
