"""Threshold analyzer: levels, hold time, hysteresis, escalation, label-matched rules."""

from __future__ import annotations

import random
import re

import numpy as np

from agent.assembly import derived_levels, threshold_rules
from agent.config import parse_config_text
from agent.store import Store
from alerting.alert import Alert, Severity, Status
from alerting.format import plain
from analyzers.base import SeriesKey
from analyzers.threshold import ThresholdAnalyzer, ThresholdRule, format_value

MEM = SeriesKey.of("memory_used_percent")


def run(
    analyzer: ThresholdAnalyzer, values: list[float], key: SeriesKey = MEM, step: float = 10.0
) -> list[Alert]:
    store = Store(32, 16, 60.0)
    alerts: list[Alert] = []
    for i, value in enumerate(values):
        alerts += analyzer.observe(store.write_samples(i * step, (key,), np.array([value])), store)
    return alerts


def test_scalar_fires_on_the_first_sample_over_and_emits_transitions_only() -> None:
    analyzer = ThresholdAnalyzer([ThresholdRule("memory_used_percent", 85.0, None, None)])
    alerts = run(analyzer, [50, 90, 91, 92, 85, 10, 10])
    assert [(a.status, a.timestamp) for a in alerts] == [
        (Status.FIRING, 10.0),
        (Status.RESOLVED, 50.0),
    ]
    assert alerts[0].message == "memory_used_percent is 90%, above the warn level 85%"
    assert alerts[0].severity is Severity.WARN and alerts[0].threshold == 85.0
    assert alerts[0].fingerprint == alerts[1].fingerprint


def test_hysteresis_stops_flapping_around_the_level() -> None:
    rule = ThresholdRule("memory_used_percent", warn=85, critical=None, clear=80)
    wobble = [84, 86, 84, 86, 84.5, 85.5, 81, 86, 79, 86]
    alerts = run(ThresholdAnalyzer([rule]), wobble)
    assert [a.status for a in alerts] == [Status.FIRING, Status.RESOLVED, Status.FIRING]
    assert [a.timestamp for a in alerts] == [10.0, 80.0, 90.0]
    assert (
        len(run(ThresholdAnalyzer([ThresholdRule("memory_used_percent", 85, None, 85)]), wobble))
        == 9
    )


def test_for_secs_holds_before_firing() -> None:
    rule = ThresholdRule("memory_used_percent", warn=85, for_secs=30)
    assert run(ThresholdAnalyzer([rule]), [90, 90, 90, 50, 90, 90]) == []  # held 20 s, then dropped
    alerts = run(ThresholdAnalyzer([rule]), [90, 90, 90, 90, 90])
    assert [(a.status, a.timestamp) for a in alerts] == [(Status.FIRING, 30.0)]


def test_escalation_and_de_escalation_with_hysteresis() -> None:
    rule = ThresholdRule("memory_used_percent", warn=85, critical=95, clear=80)
    alerts = run(ThresholdAnalyzer([rule]), [90, 96, 93, 89, 86, 79])
    # critical holds until below 95 - (85 - 80) = 90
    assert [(a.status, a.severity, a.timestamp) for a in alerts] == [
        (Status.FIRING, Severity.WARN, 0.0),
        (Status.ESCALATED, Severity.CRITICAL, 10.0),
        (Status.ESCALATED, Severity.WARN, 30.0),
        (Status.RESOLVED, Severity.WARN, 50.0),
    ]


def test_a_step_down_tells_the_critical_level_from_where_it_clears() -> None:
    """A new user's finding: "below 50.2% where the critical level 50.2% clears" (50.225 and
    50.25, each rounded alone): the two levels are shown with the digits that tell them apart."""
    rule = ThresholdRule("memory_used_percent", warn=50.2, critical=50.25, clear=50.175)
    *_, down = run(ThresholdAnalyzer([rule]), [50.21, 50.3, 50.2])
    assert down.status is Status.ESCALATED and down.severity is Severity.WARN
    assert down.message == (
        "memory_used_percent is now 50.2%, below 50.22% where the critical level 50.25% "
        "clears; warn until back past 50.17%"
    )


def test_a_step_down_prints_its_four_numbers_apart_whatever_they_are() -> None:
    """A second reader's finding on the first mend: each number widened against one other
    printed "is now 50.45%, below 50.45%" (50.4471 and 50.45).  All four go at one precision."""
    rule = ThresholdRule("memory_used_percent", warn=50.38, critical=50.48, clear=50.355)
    *_, down = run(ThresholdAnalyzer([rule]), [50.4, 50.6, 50.4471])
    assert down.message.startswith("memory_used_percent is now 50.447%, below 50.455% "), (
        down.message
    )
    rng = random.Random(7)
    for case in range(2000):
        warn = round(rng.uniform(40, 60), rng.choice((1, 2, 3)))
        critical = warn + round(rng.uniform(0.01, 1), rng.choice((2, 3)))
        clear = warn - round(rng.uniform(0.01, 1), rng.choice((2, 3)))
        rule = ThresholdRule("memory_used_percent", warn=warn, critical=critical, clear=clear)
        back = critical - (warn - clear)  # where critical clears
        value = rng.uniform(clear, back)
        alerts = run(ThresholdAnalyzer([rule]), [warn + 0.001, critical + 0.5, value])
        down = alerts[-1]
        if down.status is not Status.ESCALATED:
            continue  # the value fell on a level exactly
        numbers = re.findall(r"(\d+(?:\.\d+)?)%", down.message)
        assert len(numbers) == 4 and len(set(numbers)) == 4, (case, down.message)


def test_below_rules_and_label_matching() -> None:
    var = SeriesKey.of("disk_free_bytes", mountpoint="/var", device="/dev/sda1")
    home = SeriesKey.of("disk_free_bytes", mountpoint="/home", device="/dev/sda2")
    rule = ThresholdRule(
        "disk_free_bytes",
        warn=10e9,
        critical=2e9,
        clear=12e9,
        below=True,
        labels=(("mountpoint", "/var"),),
    )
    analyzer = ThresholdAnalyzer([rule])
    assert run(analyzer, [1e9], key=home) == []
    alerts = run(ThresholdAnalyzer([rule]), [20e9, 9e9, 1e9, 11e9, 13e9], key=var)
    assert [(a.status, a.severity) for a in alerts] == [
        (Status.FIRING, Severity.WARN), (Status.ESCALATED, Severity.CRITICAL),
        (Status.ESCALATED, Severity.WARN), (Status.RESOLVED, Severity.WARN),
    ]  # fmt: skip
    assert "below the warn level 9.31 GiB" in alerts[0].message


def test_nan_never_fires_or_resolves() -> None:
    analyzer = ThresholdAnalyzer([ThresholdRule("memory_used_percent", 1.0)])
    alerts = run(analyzer, [float("nan"), 50, float("nan"), 50])
    assert [a.status for a in alerts] == [Status.FIRING]


def test_reload_keeps_state_and_resolves_removed_rules() -> None:
    store = Store(32, 16, 60.0)
    analyzer = ThresholdAnalyzer([ThresholdRule("memory_used_percent", 50.0)])

    def feed(t: float, v: float) -> list[Alert]:
        return analyzer.observe(store.write_samples(t, (MEM,), np.array([v])), store)

    assert len(feed(1, 60)) == 1
    analyzer.reconfigure([ThresholdRule("memory_used_percent", 55.0)])
    assert feed(2, 60) == []  # still firing under the new level: nothing re-fires
    analyzer.reconfigure([])
    (gone,) = feed(3, 60)
    assert gone.status is Status.RESOLVED and "no threshold any more" in gone.message


def test_seed_keys_and_table_form_become_rules() -> None:
    text = """
[thresholds]
cpu_percent = 90
memory_percent = { warn = 85, critical = 95, clear = 80, for_secs = 60 }
load_avg_multiplier = 2
[[thresholds.rules]]
metric = "disk_free_bytes"
labels = { mountpoint = "/var" }
warn = 10
critical = 2
direction = "below"
"""
    rules = {r.origin: r for r in threshold_rules(parse_config_text(text, "t.toml").settings)}
    cpu = rules["thresholds.cpu_percent"]
    assert (cpu.metric, cpu.warn, cpu.critical, cpu.clear, cpu.for_secs) == (
        "cpu_usage_percent",
        90,
        95,
        85.5,
        0,
    )
    mem = rules["thresholds.memory_percent"]
    assert (mem.warn, mem.critical, mem.clear, mem.for_secs) == (85, 95, 80, 60)
    assert rules["thresholds.load_avg_multiplier"].metric == "cpu_load1_per_core"
    assert rules["thresholds.load_avg_multiplier"].critical == 3.0
    custom = rules["thresholds.rules[0]"]
    assert custom.below and custom.labels == (("mountpoint", "/var"),)
    assert next(iter(rules)) == "thresholds.rules[0]"  # custom rules are matched first
    assert derived_levels("gpu_temperature_celsius", 85) == (95, 80.75)
    assert derived_levels("network_error_rate", 0.5) == (1.0, 0.475)


def test_format_value_units() -> None:
    assert format_value("x_percent", 12.345) == "12.3%"
    assert format_value("x_bytes", 3 * 1024**3) == "3 GiB"
    assert format_value("x_celsius", 84.6) == "84.6°C"
    assert format_value("load1", 2.5) == "2.5"


def test_a_value_at_the_level_is_said_to_be_at_it() -> None:
    """A level fires on reaching it (>=), and "is 85°C, above the warn level 85°C" was said of
    a value equal to it (nvidia-smi gives whole degrees): the message says "at", up and down,
    firing and escalating; a value past the level is still "above" / "below"."""
    gpu = SeriesKey.of("gpu_temperature_celsius", gpu="0")
    rule = ThresholdRule("gpu_temperature_celsius", warn=85, critical=95, clear=80.75)
    fired, escalated = run(ThresholdAnalyzer([rule]), [50, 85, 95], key=gpu)
    assert fired.message == "gpu_temperature_celsius gpu=0 is 85°C, at the warn level 85°C"
    assert escalated.message == (
        "gpu_temperature_celsius gpu=0 is now 95°C, at the critical level 95°C"
    )
    assert "Value: 85°C (at the threshold 85°C)" in plain(fired)
    (past,) = run(ThresholdAnalyzer([rule]), [85.04], key=gpu)
    assert past.message == "gpu_temperature_celsius gpu=0 is 85.04°C, above the warn level 85°C"
    assert "Value: 85.04°C (threshold 85°C)" in plain(past)

    var = SeriesKey.of("disk_free_bytes", mountpoint="/var")
    g = 1024.0**3
    rule = ThresholdRule("disk_free_bytes", warn=10 * g, critical=2 * g, clear=12 * g, below=True)
    fired, escalated = run(ThresholdAnalyzer([rule]), [20 * g, 10 * g, 2 * g], key=var)
    assert fired.message == "disk_free_bytes mountpoint=/var is 10 GiB, at the warn level 10 GiB"
    assert escalated.message == (
        "disk_free_bytes mountpoint=/var is now 2 GiB, at the critical level 2 GiB"
    )
    (past,) = run(ThresholdAnalyzer([rule]), [10 * g - 1], key=var)
    assert past.message == (
        "disk_free_bytes mountpoint=/var is 9.999999999 GiB, below the warn level 10 GiB"
    )


def test_a_level_taken_back_after_a_restart_says_where_the_value_stands() -> None:
    """After a restart, a value at the level is "at" it; one inside the hysteresis band is
    shown apart from where the level clears ("is 85.5%, not past 85.5%" said 85.52 and 85.5)."""
    rule = ThresholdRule("cpu_usage_percent", warn=90, critical=95, clear=85.5)
    told = Alert(analyzer="threshold", metric="cpu_usage_percent", labels=(),
                 status=Status.FIRING, severity=Severity.WARN, value=92.0, threshold=90.0,
                 message="m", timestamp=0.0)  # fmt: skip
    cpu = SeriesKey.of("cpu_usage_percent")
    messages = []
    for value in (90.0, 85.52):
        analyzer = ThresholdAnalyzer([rule])
        analyzer.resume([told])
        (alert,) = run(analyzer, [value], key=cpu)
        messages.append(alert.message)
    assert messages == [
        "cpu_usage_percent is 90%, at the warn level 90%",
        "cpu_usage_percent is 85.52%, not past 85.5% where the warn level 90% clears: still warn",
    ]
