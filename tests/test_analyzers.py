"""Z-score, EMA, trend and leak on synthetic series with known answers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agent.store import Store
from alerting.alert import Alert, Severity, Status
from analyzers.base import SeriesKey
from analyzers.ema import EmaAnalyzer
from analyzers.leak import LeakAnalyzer, mann_kendall, theil_sen
from analyzers.regression import SlidingRegression
from analyzers.trend import TrendAnalyzer, human_duration
from analyzers.zscore import ZScoreAnalyzer

RNG = np.random.default_rng(42)
CPU = SeriesKey.of("cpu_usage_percent")


def feed(analyzer: object, values: np.ndarray, key: SeriesKey = CPU, step: float = 10.0,
         store: Store | None = None, extra: dict[SeriesKey, float] | None = None) -> tuple[list[Alert], Store]:  # fmt: skip
    store = store or Store(400, 400, 60.0)
    alerts: list[Alert] = []
    keys = (key, *(extra or {}))
    for i, value in enumerate(values.tolist()):
        row = [value, *(extra or {}).values()]
        batch = store.write_samples(i * step, keys, np.array(row))
        alerts += analyzer.observe(batch, store)  # type: ignore[attr-defined]
    return alerts, store


# -- z-score ------------------------------------------------------------------------------


def test_zscore_spike_fires_once_and_escalates_by_size() -> None:
    values = 50 + RNG.uniform(-3, 3, 400)  # std 1.7, never beyond 1.8σ
    values[300] = 64.0  # about 8σ: past twice the threshold, so critical
    alerts, _ = feed(ZScoreAnalyzer(window=200), values)
    firing = [a for a in alerts if a.status is Status.FIRING]
    assert [a.timestamp for a in firing] == [3000.0]
    assert firing[0].severity is Severity.CRITICAL
    assert "σ above its recent mean" in firing[0].message
    assert alerts[-1].status is Status.RESOLVED


def test_zscore_excludes_the_current_sample_from_its_baseline() -> None:
    values = 50 + RNG.normal(0, 2, 250)
    values[-1] = 60.0
    alerts, _store = feed(ZScoreAnalyzer(window=200), values)
    baseline = values[-201:-1]
    expected = (60.0 - baseline.mean()) / baseline.std()
    (alert,) = [a for a in alerts if a.timestamp == 2490.0]
    assert alert.context["z"] == pytest.approx(expected, abs=0.05)


def test_zscore_no_verdict_before_min_samples_nor_on_flat_series() -> None:
    early = np.array([50.0] * 10 + [95.0])
    assert feed(ZScoreAnalyzer(min_samples=30), early)[0] == []
    flat = np.full(300, 42.0)
    flat[-1] = 42.5  # under the 1-point noise floor of a percentage
    assert feed(ZScoreAnalyzer(), flat)[0] == []


def test_zscore_incremental_sums_match_the_ring_buffer() -> None:
    analyzer = ZScoreAnalyzer(window=100, resync_per_tick=0)
    values = 1e6 + RNG.normal(0, 5e4, 1000)
    _, store = feed(
        analyzer, values, key=SeriesKey.of("network_receive_bytes_per_second", interface="eth0")
    )
    n, total, squares = analyzer.exact(0, store)
    assert analyzer.s.n[0] == n == 100
    assert analyzer.s.total[0] == pytest.approx(total, rel=1e-12)
    assert analyzer.s.squares[0] == pytest.approx(squares, rel=1e-9)


def test_zscore_cost_does_not_depend_on_the_window() -> None:
    """The update touches O(1) state: the window only decides which old value leaves."""
    for window in (50, 350):
        analyzer = ZScoreAnalyzer(window=window, resync_per_tick=0)
        feed(analyzer, 50 + RNG.normal(0, 1, 400))
        assert analyzer.s.n[0] == window


# -- EMA ------------------------------------------------------------------------------------


def test_ema_step_fires_once_and_rebaselines() -> None:
    values = np.concatenate([50 + RNG.normal(0, 1, 200), 80 + RNG.normal(0, 1, 300)])
    alerts, _ = feed(EmaAnalyzer(), values)
    firing = [a for a in alerts if a.status is Status.FIRING]
    assert (
        len(firing) == 1
        and firing[0].timestamp == 2000.0
        and firing[0].context["kind"] == "sudden_change"
    )
    (settled,) = [a for a in alerts if a.status is Status.RESOLVED]
    assert "settled at a new level" in settled.message
    assert len(alerts) == 2  # nothing more once the new level is the baseline


def test_ema_spike_is_a_transient() -> None:
    values = 50 + RNG.normal(0, 1, 300)
    values[200] = 90
    alerts, _ = feed(EmaAnalyzer(), values)
    assert [a.status for a in alerts] == [Status.FIRING, Status.RESOLVED]
    assert "back to its usual level" in alerts[1].message


def test_ema_notices_a_sustained_moderate_shift() -> None:
    # +4 points on a 1-point-noise series: never 6σ at once, but 12 samples in a row past 2σ.
    values = np.concatenate([50 + RNG.normal(0, 1, 200), 54 + RNG.normal(0, 0.3, 100)])
    alerts, _ = feed(EmaAnalyzer(), values)
    firing = [a for a in alerts if a.status is Status.FIRING]
    assert len(firing) == 1 and firing[0].context["kind"] == "level_shift"
    assert 2000 <= firing[0].timestamp <= 2200


@pytest.mark.parametrize("make", [
    lambda record: ZScoreAnalyzer(window=60, cooldown_secs=0, record_buckets=record),
    lambda record: EmaAnalyzer(cooldown_secs=0, record_buckets=record),
])  # fmt: skip
def test_a_peak_that_comes_every_day_is_not_news_a_higher_one_is(make: Any) -> None:
    """Record gate: one sample per history bucket (60 s), a 'day' of 100 samples with
    the same 5-sample peak; a record window of 300 buckets sees the earlier peaks."""
    values = 20 + RNG.uniform(-1, 1, 700)  # never 3 sigma from its own mean
    for day_start in range(100, 600, 100):
        values[day_start : day_start + 5] = 45.0
    values[650:655] = 70.0  # beyond anything in the record window
    alerts, _ = feed(make(300), values, step=60.0, store=Store(400, 400, 60.0))
    fired = [int(a.timestamp // 60) for a in alerts if a.status is Status.FIRING]
    assert fired == [100, 650]
    # Without a record window every daily peak is 25 sigma from its last hour, and fires.
    alerts, _ = feed(make(0), values, step=60.0, store=Store(400, 400, 60.0))
    assert len([a for a in alerts if a.status is Status.FIRING]) >= 5


# -- trend ----------------------------------------------------------------------------------


DISK = SeriesKey.of("disk_used_percent", mountpoint="/var", device="/dev/sda1")


def test_trend_ramp_gives_the_exact_eta() -> None:
    # One sample a minute; 2 points per hour from 60 %: after 3 h, 66 % -> full in 17 h.
    minutes = np.arange(0, 3 * 60 + 2)
    values = 60 + 2 * minutes / 60
    alerts, _ = feed(TrendAnalyzer(window_hours=6, min_span_hours=1), values, key=DISK, step=60.0)
    (alert,) = alerts
    assert alert.status is Status.FIRING and alert.severity is Severity.WARN
    # It fires as soon as the span reaches an hour: at 62 % -> (100 - 62) / 2 = 19 h.
    assert alert.context["eta_hours"] == pytest.approx(19.0, abs=0.05)
    assert alert.context["rate_per_hour"] == pytest.approx(2.0, rel=1e-6)
    assert "will be full in 19 h 00 min" in alert.message and "/var" in alert.message


def test_trend_escalates_and_noise_never_fires() -> None:
    minutes = np.arange(0, 4 * 60)
    fast = 70 + 6 * minutes / 60  # 6 points/h: 30 points left = 5 h -> critical
    alerts, _ = feed(TrendAnalyzer(), fast, key=DISK, step=60.0)
    assert alerts[0].severity is Severity.CRITICAL
    noise = 50 + RNG.normal(0, 3, 6 * 60)
    assert feed(TrendAnalyzer(), noise, key=DISK, step=60.0)[0] == []


def test_trend_ignores_a_short_burst() -> None:
    burst = np.concatenate([np.full(40, 50.0), np.linspace(50, 95, 20), np.full(10, 95.0)])
    assert feed(TrendAnalyzer(min_span_hours=1), burst, key=DISK, step=60.0)[0] == []


def test_regression_incremental_matches_exact() -> None:
    store = Store(400, 200, 60.0)
    reg = SlidingRegression(window=50)
    ids = np.array([store.series_id(DISK)])
    for minute in range(300):
        batch = store.write_samples(
            minute * 60.0, (DISK,), np.array([RNG.normal(50 + minute / 10, 1)])
        )
        if batch.closed is not None and batch.closed[0]:
            bucket = minute - 1
            fit = reg.add(ids, bucket, store.history_ago(ids, 0), store.history_ago(ids, 50))
    times, values = store.history_window(0, last=50)
    slope, _intercept = np.polyfit(times / 60.0, values, 1)
    assert fit.slope[0] == pytest.approx(slope, rel=1e-9)
    r2 = np.corrcoef(times, values)[0, 1] ** 2
    assert fit.r2[0] == pytest.approx(r2, rel=1e-9)
    before = reg.s.ky[0]
    reg.rebase(0, store, 60.0)
    assert reg.fit(ids, np.array([reg.s.kk[0] * 0 + 49.0])).slope[0] == pytest.approx(
        slope, rel=1e-9
    )
    assert reg.s.ky[0] != before  # the origin moved


# -- leak -----------------------------------------------------------------------------------


RSS = SeriesKey.of("process_rss_bytes", pid="4242", comm="java", user="app")
TOTAL = SeriesKey.of("memory_total_bytes")
MB = 1024 * 1024


def sawtooth(hours: float, drift_mb_per_hour: float) -> np.ndarray:
    minutes = np.arange(int(hours * 60))
    gc = 60 * MB * ((minutes % 12) / 12)  # grows 60 MB, collected every 12 minutes
    return 500 * MB + gc + drift_mb_per_hour * MB * minutes / 60 + RNG.normal(0, MB, minutes.size)


def test_sawtooth_with_upward_drift_is_a_leak_flat_one_is_not() -> None:
    leak = LeakAnalyzer(window_hours=6, min_observation_hours=1)
    alerts, _ = feed(leak, sawtooth(4, 200), key=RSS, step=60.0, extra={TOTAL: 16384 * MB})
    (alert,) = alerts
    assert alert.status is Status.FIRING
    assert alert.context["rate_per_hour"] == pytest.approx(200 * MB, rel=0.1)  # Theil-Sen
    assert "process java (pid 4242, user app): memory has grown" in alert.message
    assert alert.severity is Severity.INFO  # 16 GiB at 200 MB/h is days away
    flat, _ = feed(LeakAnalyzer(), sawtooth(4, 0), key=RSS, step=60.0, extra={TOTAL: 16384 * MB})
    assert flat == []


def test_slow_growth_is_not_a_leak() -> None:
    minutes = np.arange(4 * 60)
    creep = 500 * MB + 4096 * minutes / 60.0  # 4 kB/h, perfectly linear
    assert feed(LeakAnalyzer(), creep, key=RSS, step=60.0)[0] == []


def test_fd_leak_severity_from_the_process_limit() -> None:
    fds = SeriesKey.of("process_open_fds", pid="7", comm="nginx", user="www")
    limit = SeriesKey.of("process_max_fds", pid="7", comm="nginx", user="www")
    minutes = np.arange(3 * 60)
    opened = 100 + 50 * minutes / 60 + RNG.normal(0, 1, minutes.size)  # +50/h, limit 1024: ~16 h
    alerts, _ = feed(LeakAnalyzer(), opened, key=fds, step=60.0, extra={limit: 1024.0})
    (alert,) = alerts
    assert alert.severity is Severity.WARN and alert.threshold == 1024.0
    assert 15 < alert.context["eta_hours"] < 19


def test_robust_statistics() -> None:
    up = np.arange(50, dtype=float)
    tau, p = mann_kendall(up)
    assert tau == 1.0 and p < 1e-10
    tau, p = mann_kendall(RNG.normal(0, 1, 100))
    assert abs(tau) < 0.2 and p > 0.01
    assert (
        theil_sen(np.arange(10.0), 3 * np.arange(10.0) + np.array([0, 0, 0, 50, 0, 0, 0, 0, 0, 0]))
        == 3.0
    )


def test_robust_statistics_equal_the_all_pairs_definition() -> None:
    for n in (3, 4, 57, 360):
        times = np.cumsum(RNG.uniform(30, 90, n))
        values = np.cumsum(RNG.normal(0.2, 1, n)) + np.where(np.arange(n) % 9 == 0, 5.0, 0.0)
        values[n // 3] = values[n // 3 + 1]  # a tie
        i, j = np.triu_indices(n, k=1)
        tau, _ = mann_kendall(values)
        assert tau == pytest.approx(np.sign(values[j] - values[i]).sum() / i.size)
        slopes = (values[j] - values[i]) / (times[j] - times[i])
        assert theil_sen(times, values) == pytest.approx(float(np.median(slopes)))
    # Equal timestamps give no slope, and no pair at all gives 0.
    assert theil_sen(np.array([1.0, 1.0, 2.0]), np.array([0.0, 5.0, 1.0])) == pytest.approx(-1.5)
    assert theil_sen(np.array([1.0, 1.0]), np.array([0.0, 5.0])) == 0.0


def test_robust_test_memory_is_bounded_for_a_day_of_minutes() -> None:
    """All pairs of 1,440 points at once took ~50 MB for a moment; blocks keep it small."""
    import tracemalloc

    n = 1440
    times = np.arange(n) * 60.0
    sawtooth = (np.arange(n) % 30) * 4e6  # a garbage collector's pattern on a slow leak
    values = 1e9 + times * 5000.0 + sawtooth
    tracemalloc.start()
    try:
        tau, p = mann_kendall(values)
        rate = theil_sen(times / 3600.0, values)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2.5 * 1024 * 1024
    assert tau > 0.5 and p < 1e-6
    assert rate == pytest.approx(5000.0 * 3600, rel=0.02)


def test_the_robust_test_leaves_numpy_ma_unimported() -> None:
    """np.median imports numpy.ma (~1.4 MB that would stay resident in the daemon)."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; from analyzers.leak import mann_kendall, theil_sen; "
        "v = np.arange(100.0); mann_kendall(v); theil_sen(v, v); theil_sen(v[:9], v[:9]); "
        "print('numpy.ma' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_human_duration() -> None:
    assert human_duration(0.5) == "30 min"
    assert human_duration(3 + 10 / 60) == "3 h 10 min"
    assert human_duration(72) == "3.0 days"
    assert human_duration(float("inf")) == "never"


def test_store_keeps_24h_in_under_8kb_per_series() -> None:
    store = Store(360, 1440, 60.0)
    assert store.bytes_per_series() == 7236  # 1,472 for a series without history
    assert store.bytes_per_series(history=False) == 1472
