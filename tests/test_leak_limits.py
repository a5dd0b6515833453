"""How a leak's limit is said: a limit out of reach without absurd numbers (a reviewer's
finding: against fs.file-max = LONG_MAX, "its limit (9223372036854775808 handles) in
76861433641734.7 days" and "Full in: 1844674407401632.2 h", the limit one more than it is,
read through a float)."""

from __future__ import annotations

import re

import numpy as np

from agent.collectors import fd
from agent.store import Store
from alerting.alert import Alert
from alerting.format import facts, plain, register_units
from analyzers.base import SeriesKey
from analyzers.leak import LeakAnalyzer

HANDLES = SeriesKey.of("fd_allocated")
FILE_MAX = SeriesKey.of("fd_max")


def leak_against(limit: float, per_hour: float = 5000.0) -> Alert:
    """System file handles growing `per_hour` from 2000, read every minute for 90 min."""
    register_units({spec.name: spec.unit for spec in fd.METRICS})  # as the agent does
    store = Store(400, 400, 60.0)
    analyzer = LeakAnalyzer(window_hours=6, min_observation_hours=1)
    alerts: list[Alert] = []
    for minute in range(90):
        row = np.array([np.floor(2000 + per_hour * minute / 60), limit])
        batch = store.write_samples(minute * 60.0, (HANDLES, FILE_MAX), row)
        alerts += analyzer.observe(batch, store)
    (alert,) = alerts
    return alert


def test_the_kernels_no_limit_is_said_as_none_within_reach() -> None:
    alert = leak_against(float(2**63 - 1))  # LONG_MAX, as /proc/sys/fs/file-nr reads
    assert "; no limit within reach (the kernel's largest value, LONG_MAX) (" in alert.message
    assert "9223372036854775808" not in plain(alert) and "days" not in alert.message
    assert alert.threshold is None and alert.context["eta_hours"] is None
    assert [name for name, _ in facts(alert) if name == "Full in"] == []
    assert "(threshold" not in dict(facts(alert))["Value"]


def test_a_limit_more_than_a_year_away_is_said_without_a_date() -> None:
    alert = leak_against(1e9)  # ~200,000 h at 5000 handles/h
    assert "; no limit within reach (its limit, 1000000000 handles, more than a year away)" in (
        alert.message
    )
    assert alert.threshold == 1e9 and alert.context["eta_hours"] is None
    assert "Full in" not in dict(facts(alert))
    # Within the year, the date as before, with the limit exact.
    near = leak_against(9_000_001.0)
    assert re.search(r"; its limit \(9000001 handles\) in 7\d\.\d days \(", near.message), (
        near.message
    )
    assert 1700 < near.context["eta_hours"] < 1900
