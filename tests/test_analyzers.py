"""Z-score, EMA, trend and leak on synthetic series with known answers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agent.store import Store
from alerting.alert import Alert, Severity, Status
from analyzers.base import SeriesKey, learning_series
from analyzers.ema import EmaAnalyzer
from analyzers.leak import LeakAnalyzer, mann_kendall, theil_sen
from analyzers.regression import SlidingRegression
from analyzers.trend import TrendAnalyzer, human_duration
from analyzers.zscore import ZScoreAnalyzer

RNG = np.random.default_rng(42)
CPU = SeriesKey.of("cpu_usage_percent")


def feed(analyzer: object, values: np.ndarray, key: SeriesKey = CPU, step: float = 10.0,
         store: Store | None = None, extra: dict[SeriesKey, float] | None = None) -> tuple[list[Alert], Store]:  # fmt: skip
    store = store if store is not None else Store(400, 400, 60.0)  # an empty Store is falsy
    alerts: list[Alert] = []
    keys = (key, *(extra or {}))
    for i, value in enumerate(values.tolist()):
        row = [value, *(extra or {}).values()]
        batch = store.write_samples(i * step, keys, np.array(row))
        alerts += analyzer.observe(batch, store)  # type: ignore[attr-defined]
    return alerts, store


# -- z-score ------------------------------------------------------------------------------


def zscore(**kw: Any) -> ZScoreAnalyzer:
    """Z-score without a learning time (the tests feed an hour or less), unless asked."""
    return ZScoreAnalyzer(**{"learning_secs": 0.0, "window": 200, **kw})


def ema(**kw: Any) -> EmaAnalyzer:
    return EmaAnalyzer(**{"learning_secs": 0.0, **kw})


def test_a_single_sample_far_beyond_never_fires_a_lasting_stretch_does_as_a_warning() -> None:
    values = 50 + RNG.uniform(-3, 3, 500)  # std 1.7
    values[250] = 95.0  # 26σ and 45 points, for one sample
    alerts, _ = feed(zscore(), values)
    assert alerts == []
    values[300:360] = 80 + RNG.uniform(-3, 3, 60)  # 30 points (the floor is 20) for 10 min
    alerts, _ = feed(zscore(window=360), values)
    firing = [a for a in alerts if a.status is Status.FIRING]
    # The stretch starts at t=3000 and must hold 300 s: it fires at the 31st sample.
    assert [a.timestamp for a in firing] == [3300.0]
    assert firing[0].severity is Severity.WARN  # a statistical anomaly alone
    assert "warn: a statistical anomaly alone" in firing[0].message
    assert "for 5 min" in firing[0].message and "above its usual 50" in firing[0].message
    assert [a.status for a in alerts] == [Status.FIRING, Status.RESOLVED]
    assert alerts[1].timestamp == 3600.0  # the first sample back
    assert "back to usual" in alerts[1].message


MEM = SeriesKey.of("memory_used_percent")  # floor 10 points: the short band is 30


def five_minutes(analyzer: object, values: np.ndarray, key: SeriesKey) -> list[Alert]:
    return feed(analyzer, values, key=key, step=300.0, store=Store(400, 400, 300.0))[0]


def test_at_five_minutes_one_sample_far_beyond_sigma_and_three_floors_fires_a_warning() -> None:
    # A 5-minute sample is itself the mean of five minutes: it covers the persistence time.
    values = 20 + RNG.normal(0, 0.5, 400)
    values[300] = 55.0  # 35 points (3.5 floors), 70σ, for one sample
    alerts = five_minutes(zscore(), values, MEM)
    assert [(a.status, a.timestamp) for a in alerts] == [
        (Status.FIRING, 300 * 300.0),
        (Status.RESOLVED, 301 * 300.0),
    ]
    assert alerts[0].severity is Severity.WARN and "for 5 min" in alerts[0].message
    # At 10 s the same sample covers 10 s of a 300 s persistence: nothing.
    assert feed(zscore(), values, key=MEM)[0] == []


def test_one_sample_after_a_gap_covers_its_series_step_not_the_gap() -> None:
    """A 10 s series stopped for an hour (the agent stopped, the host suspended): the first
    sample after it is 10 s of its level, not the hour missing ("75 % for 1 h" fired on
    one sample).  (A 5-minute series' one sample still covers its five minutes: above.)"""
    store = Store(400, 400, 60.0)
    analyzer = zscore(window=360)
    alerts: list[Alert] = []
    times = [
        *(i * 10.0 for i in range(400)),
        400 * 10.0 + 3600.0,
        *(4010.0 + 3600 + 10 * i for i in range(30)),
    ]
    rng = np.random.default_rng(78)  # its own, as every test should
    values = [*(5 + rng.normal(0, 2, 400)), 75.0, *(5 + rng.normal(0, 2, 30))]
    for t, v in zip(times, values, strict=True):
        alerts += analyzer.observe(store.write_samples(t, (CPU,), np.array([v])), store)
    assert alerts == []


def test_at_five_minutes_a_short_stretch_needs_three_floors_not_only_sigmas() -> None:
    values = 20 + RNG.normal(0, 0.5, 400)
    values[300] = 45.0  # 50σ but 2.5 floors: a bursty series' σ says nothing
    values[350:352] = 44.0  # two samples, their mean 2.4 floors
    assert five_minutes(zscore(), values, MEM) == []


def test_at_five_minutes_independent_noise_never_fires_however_many_samples() -> None:
    # Unit-less (floor 5 % of the level, 0.5 here), so σ decides: 70 days of Gaussian noise.
    key = SeriesKey.of("series_value")
    values = 10 + RNG.normal(0, 1.0, 20_000)
    assert five_minutes(zscore(window=360, metrics=("*",)), values, key) == []
    values[15_000] = 18.0  # 8σ for one sample: beyond the short band of 6σ
    firing = [
        a
        for a in five_minutes(zscore(window=360, metrics=("*",)), values, key)
        if a.status is Status.FIRING
    ]
    assert [a.timestamp for a in firing] == [15_000 * 300.0]


def test_at_five_minutes_a_short_stretch_no_higher_than_the_windows_own_extremes_is_a_tail() -> (
    None
):
    # Heavy-tailed noise: a spike of 12σ that the raw window already holds once is not the
    # 1-in-10^9 event the Gaussian short band assumes.
    key = SeriesKey.of("series_value")
    values = 10 + RNG.normal(0, 1.0, 400)
    values[320] = 23.0  # fires (a first), cools down for an hour (12 samples)
    values[360] = 22.0  # no higher than the one 40 samples back
    values[380] = 24.0  # higher: news
    firing = [
        a for a in five_minutes(zscore(metrics=("*",)), values, key) if a.status is Status.FIRING
    ]
    assert [a.timestamp / 300 for a in firing] == [320, 380]


def test_at_five_minutes_a_bursty_series_usual_spikes_are_its_tail_a_new_large_one_fires() -> None:
    """A series with a shoulder (7 % of its samples are bursts 6 above its level, so its
    95th percentile of |x - mean| is ~2.8σ, not 1.96σ): a daily spike 13 out is 7σ of the
    window but within 6 of its tail scale (q95 / 1.96), and new to the 12-hour raw window
    each time, so only the tail scale keeps it quiet; one twice as far out fires."""
    rng = np.random.default_rng(7)
    key = SeriesKey.of("series_value")
    values = 10 + rng.normal(0, 1.0, 1500)
    values[::14] = 16 + rng.normal(0, 0.5, values[::14].size)  # a burst every 70 min
    for day, offset in enumerate((100, 30, 190, 70)):  # once a day, at no fixed time
        values[(day + 1) * 288 + offset] = 23.0
    values[1450] = 35.0
    alerts = five_minutes(zscore(metrics=("*",)), values, key)
    assert [int(a.timestamp // 300) for a in alerts if a.status is Status.FIRING] == [1450]


def test_an_abrupt_lasting_shift_past_three_floors_is_confirmed_by_ema_and_critical() -> None:
    """Item 3 of issue #14: EMA's shift detector is z-score's second signal, not a notifier."""
    values = 20 + RNG.normal(0, 0.5, 700)
    values[400:] += 35.0  # memory: 3.5 floors of 10 points, at once, for good
    alerts = feed(zscore(window=360), values, key=MEM, store=Store(800, 400, 60.0))[0]
    firing = [a for a in alerts if a.status is Status.FIRING]
    assert [(a.severity, a.timestamp) for a in firing] == [(Severity.CRITICAL, 4300.0)]
    assert "critical: confirmed by a second signal, EMA's shift detector" in firing[0].message
    assert firing[0].context["severity_reason"].startswith("critical: confirmed")
    assert {a.severity for a in alerts} == {Severity.CRITICAL}  # its resolve too
    # 15 points (1.5 floors): past the band, but not three floors: a statistical anomaly alone.
    values = 20 + RNG.normal(0, 0.5, 700)
    values[400:] += 15.0
    alerts = feed(zscore(window=360), values, key=MEM, store=Store(800, 400, 60.0))[0]
    firing = [a for a in alerts if a.status is Status.FIRING]
    assert [a.severity for a in firing] == [Severity.WARN]
    assert "warn: a statistical anomaly alone" in firing[0].message


def test_the_z_score_baseline_spans_at_most_twelve_hours() -> None:
    key = SeriesKey.of("series_value")
    analyzer = zscore(window=360, metrics=("*",))
    _, store = feed(analyzer, 10 + RNG.normal(0, 1.0, 200), key=key, step=300.0,
                    store=Store(400, 400, 300.0))  # fmt: skip
    sid = store.series_id(key)
    assert analyzer.s.lag[sid] == 144  # 12 h at 5 minutes
    n, total, _ = analyzer.exact(sid, store)
    assert analyzer.s.n[sid] == n == 144 and analyzer.s.total[sid] == pytest.approx(total)
    fast = zscore(window=360)
    _, store = feed(fast, 50 + RNG.normal(0, 1.0, 50))
    assert fast.s.lag[store.series_id(CPU)] == 360  # at 10 s the window binds: 1 h


def test_at_five_minutes_a_burst_the_baseline_already_held_as_long_is_not_news() -> None:
    """A batch job at irregular times (NAB's ec2_cpu_utilization_77c1ca does this): its
    first burst is news, the next ones at the same level are not; a higher one is."""
    key = SeriesKey.of("series_value")
    rng = np.random.default_rng(77)  # its own: the shared one's draws depend on which tests ran
    values = 10 + rng.normal(0, 1.0, 400)
    values[100:105] = 40 + rng.normal(0, 1.0, 5)
    for start in (160, 230):  # no higher than the first burst held for as long
        values[start : start + 5] = values[100:105].min() - rng.uniform(0, 0.5, 5)
    values[300:305] = 70 + rng.normal(0, 1.0, 5)
    alerts = five_minutes(zscore(metrics=("*",)), values, key)
    firing = [int(a.timestamp // 300) for a in alerts if a.status is Status.FIRING]
    assert firing == [100, 300]  # the first burst at once (far past 6σ), and the higher one


def test_a_lasting_new_level_resolves_as_settled_once_the_baseline_took_it_in() -> None:
    values = np.concatenate([50 + RNG.uniform(-3, 3, 300), 80 + RNG.uniform(-3, 3, 300)])
    alerts, _ = feed(zscore(window=200), values)
    assert [a.status for a in alerts] == [Status.FIRING, Status.RESOLVED]
    settled = alerts[1]
    assert "settled at a new usual level" in settled.message
    # Not while σ is inflated by the mix of old and new, but once the window's mean is
    # within half the 20-point band of the value: about two thirds of a window later.
    assert 3000 + 10 * 110 <= settled.timestamp <= 3000 + 10 * 160


def test_a_stretch_shorter_than_the_persistence_is_the_thresholds_business() -> None:
    values = 50 + RNG.uniform(-3, 3, 500)
    values[300:318] = 99.0  # 3 minutes
    assert feed(zscore(), values)[0] == []


def test_below_the_familys_floor_nothing_is_an_anomaly_however_many_sigma() -> None:
    # An idle NIC: 60 B/s +- 15, then 5 kB/s for 20 minutes: 300σ, and nothing in a MiB/s floor.
    nic = SeriesKey.of("network_receive_bytes_per_second", interface="eth0")
    values = np.maximum(60 + RNG.normal(0, 15, 600), 0)
    values[400:520] = 5000.0
    assert feed(zscore(), values, key=nic)[0] == []
    values[400:520] = 20e6  # 20 MB/s for 20 minutes is traffic
    (firing, resolved) = feed(zscore(), values, key=nic)[0]
    assert firing.status is Status.FIRING and resolved.status is Status.RESOLVED
    assert firing.context["unit"] == "B/s" and firing.context["floor"] == 2**20


def test_a_fall_in_usage_is_good_news_an_unknown_series_alerts_both_ways() -> None:
    values = np.concatenate([60 + RNG.normal(0, 1, 300), 10 + RNG.normal(0, 1, 200)])
    assert feed(zscore(), values)[0] == []  # CPU 60 % -> 10 %: good news
    assert feed(ema(), values)[0] == []
    # The same numbers under a name no family knows: own scale, both directions.
    app = SeriesKey.of("app_latency_score")
    (firing, *_) = feed(zscore(metrics=("*",)), values, key=app)[0]
    assert firing.status is Status.FIRING and "below its usual" in firing.message


def test_a_unit_less_series_floor_is_relative_to_the_range_it_has_covered() -> None:
    """An idle job's CPU near 0.1 that bursts to 90: a wiggle to 0.5 is 40σ and 400 % of its
    level, and nothing on the scale its graph is drawn at (5 % of 90 is 4.5)."""
    key = SeriesKey.of("series_value")
    values = 0.1 + RNG.normal(0, 0.01, 800)
    values[600:660] = 0.5 + RNG.normal(0, 0.01, 60)  # 10 minutes
    (firing, *_) = feed(zscore(metrics=("*",)), values, key=key)[0]  # no range: news
    assert firing.status is Status.FIRING and firing.timestamp == 6300.0
    values[50:52] = 90.0  # two bursts long gone from the 200-sample window by t=6000
    assert feed(zscore(metrics=("*",)), values, key=key)[0] == []
    values[600:660] = 10.0  # 11 % of the range covered: beyond the floor again
    (firing, *_) = feed(zscore(metrics=("*",)), values, key=key)[0]
    assert firing.status is Status.FIRING and firing.timestamp == 6300.0
    # The range is of levels held two samples in a row: one corrupt reading is no scale.
    values[50:52] = 0.1
    values[50] = 1e6
    values[600:660] = 0.5 + RNG.normal(0, 0.01, 60)
    (firing, *_) = feed(zscore(metrics=("*",)), values, key=key)[0]
    assert firing.status is Status.FIRING and firing.timestamp == 6300.0


def test_no_statistical_alert_while_a_series_is_learning() -> None:
    values = np.concatenate([50 + RNG.normal(0, 1, 200), 90 + RNG.normal(0, 1, 100)])
    analyzer = ZScoreAnalyzer(window=100, learning_secs=3600.0)
    alerts, _ = feed(analyzer, values)  # 3000 s of data: still learning
    assert alerts == []
    assert analyzer.learning(3000.0) == 1 and analyzer.learning(3600.0) == 0
    # What the heartbeat shows: the largest count of the statistical analyzers.
    assert learning_series([analyzer, object()], 3000.0) == 1
    # An hour of history, and the same jump fires.
    values = np.concatenate([50 + RNG.normal(0, 1, 400), 90 + RNG.normal(0, 1, 100)])
    alerts, _ = feed(ZScoreAnalyzer(window=100, learning_secs=3600.0), values)
    assert alerts[0].status is Status.FIRING and alerts[0].timestamp == 4300.0


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


def test_ema_a_lasting_step_fires_once_and_resolves_when_taken_in() -> None:
    values = np.concatenate([50 + RNG.normal(0, 1, 200), 80 + RNG.normal(0, 1, 400)])
    alerts, _ = feed(ema(), values)
    assert [a.status for a in alerts] == [Status.FIRING, Status.RESOLVED]
    assert alerts[0].timestamp == 2300.0 and alerts[0].severity is Severity.WARN
    assert alerts[0].context["kind"] == "level_shift"


def test_ema_a_spike_is_nothing() -> None:
    values = 50 + RNG.normal(0, 1, 300)
    values[200:205] = 90
    assert feed(ema(), values)[0] == []


@pytest.mark.parametrize("make", [
    lambda: ZScoreAnalyzer(window=60, cooldown_secs=0, learning_secs=0, persist_secs=240),
    lambda: EmaAnalyzer(cooldown_secs=0, learning_secs=0, persist_secs=240),
])  # fmt: skip
def test_a_burst_seen_at_this_time_yesterday_is_not_news_a_higher_one_is(make: Any) -> None:
    """Seasonality: one sample a minute for two days, a 20-minute burst at 02:00 each
    night; the second night's burst is in yesterday's bucket means, at that hour."""
    day = 1440
    values = 20 + RNG.uniform(-1, 1, 2 * day + 300)  # never 3σ from its own mean
    for night in (120, day + 120):
        values[night : night + 20] = 60.0
    store = Store(400, 1500, 60.0)
    alerts, _ = feed(make(), values, step=60.0, store=store)
    fired = [int(a.timestamp // 60) for a in alerts if a.status is Status.FIRING]
    assert fired == [124]  # the first night only
    values[day + 120 : day + 140] = 95.0  # the second night far higher than the first
    alerts, _ = feed(make(), values, step=60.0, store=Store(400, 1500, 60.0))
    fired = [int(a.timestamp // 60) for a in alerts if a.status is Status.FIRING]
    assert fired == [124, day + 124]
    # At another time of day the same 60 % is news again.
    values[day + 120 : day + 140] = 20.0
    values[day + 600 : day + 620] = 60.0
    alerts, _ = feed(make(), values, step=60.0, store=Store(400, 1500, 60.0))
    fired = [int(a.timestamp // 60) for a in alerts if a.status is Status.FIRING]
    assert fired == [124, day + 604]


@pytest.mark.parametrize("make", [
    lambda days: ZScoreAnalyzer(window=60, cooldown_secs=0, learning_secs=0, season_days=days),
    lambda days: EmaAnalyzer(cooldown_secs=0, learning_secs=0, season_days=days),
])  # fmt: skip
def test_a_weekday_job_is_not_news_on_monday_after_a_quiet_weekend(make: Any) -> None:
    """The seasonality check looks back a week of the history tier (as far as it reaches):
    a job at 02:00 on weekdays only ran on Friday, not yesterday; with one day of memory
    every Monday's run would page again."""
    day = 144  # one sample every 10 minutes; the tier (1,500 buckets of 10 min) holds 10 days
    values = 20 + RNG.uniform(-1, 1, 10 * day)  # from a Sunday
    for weekday in (1, 2, 3, 4, 5, 8, 9):  # Monday to Friday, then Monday and Tuesday again
        values[weekday * day + 12 : weekday * day + 16] = 60.0
    fired = [
        int(a.timestamp // 600)
        for a in feed(make(7), values, step=600.0, store=Store(400, 1500, 600.0))[0]
        if a.status is Status.FIRING
    ]
    assert fired == [day + 14]  # the first night only (its third sample)
    once_a_day = [
        int(a.timestamp // 600)
        for a in feed(make(1), values, step=600.0, store=Store(400, 1500, 600.0))[0]
        if a.status is Status.FIRING
    ]
    assert once_a_day == [day + 14, 8 * day + 14]  # Monday again: Sunday had no run


def _job_every_two_hours(seed: int, runs: dict[int, tuple[int, float]] | None = None) -> np.ndarray:
    """A day at one sample a minute, 20 % +- 1, and a job at 60 % for 15 minutes every two
    hours from minute 90; `runs` changes some runs (minute -> (minutes, level))."""
    values = 20 + np.random.default_rng(seed).uniform(-1, 1, 1440)
    for start in range(90, 1440 - 30, 120):
        minutes, level = (runs or {}).get(start, (15, 60.0))
        values[start : start + minutes] = level
    return values


@pytest.mark.parametrize("make", [
    lambda: ZScoreAnalyzer(window=60, cooldown_secs=0, learning_secs=0),
    lambda: EmaAnalyzer(cooldown_secs=0, learning_secs=0),
])  # fmt: skip
def test_a_job_every_two_hours_is_news_on_its_first_runs_not_all_day(make: Any) -> None:
    """Not the same time of day, so seasonality does not see it: once the history tier
    holds two earlier runs a period apart, as high and as long, the next is a recurring
    job.  A run that goes further, or lasts longer than the runs before it, is news.
    (The raw tier holds an hour, z-score's window: EMA's precedent is the whole raw
    tier, which would otherwise hold the run before.)"""

    def fired(values: np.ndarray, runs: int = 3) -> list[int]:
        analyzer = make()
        analyzer.gate.recurring_runs = runs
        alerts, _ = feed(analyzer, values, step=60.0, store=Store(61, 1500, 60.0))
        return [int(a.timestamp // 60) for a in alerts if a.status is Status.FIRING]

    plain = _job_every_two_hours(7)
    assert fired(plain) == [95, 215, 335]  # the first three runs (their fifth minute)
    assert fired(plain, runs=0) == list(range(95, 1440 - 30, 120))  # off: every run
    higher = _job_every_two_hours(7, {810: (15, 95.0)})
    assert fired(higher) == [95, 215, 335, 815]
    # The last run 45 minutes instead of 15: told once it has lasted longer than the runs
    # before it.  (A run after it is the job's again once three like each other precede it.)
    longer = fired(_job_every_two_hours(7, {1290: (45, 60.0)}))
    assert longer[:3] == [95, 215, 335] and len(longer) == 4
    assert 1290 + 15 < longer[3] <= 1290 + 20
    # Runs of 10 to 20 minutes, and another job's between them, are still the job's runs.
    varied = _job_every_two_hours(7, {450: (10, 60.0), 570: (20, 60.0), 690: (12, 60.0)})
    for start in range(150, 1440 - 30, 180):  # a 10-minute job every three hours, higher
        varied[start : start + 10] = 70.0
    assert max(fired(varied)) < 600 < max(fired(varied, runs=0))  # quiet from the 5th run on
    # The same runs at irregular times are news each time: no steady period.
    irregular = 20 + np.random.default_rng(7).uniform(-1, 1, 1440)
    starts = [90, 170, 330, 420, 640, 730, 950, 1230]
    for start in starts:
        irregular[start : start + 15] = 60.0
    assert fired(irregular) == [start + 5 for start in starts]


def test_a_recurring_job_covers_neither_an_incident_off_its_slot_nor_a_run_higher_than_its_own() -> (
    None
):
    """What the job's runs do not cover is news: an incident as high as a run twenty minutes
    before the job's slot (a chain of every other run, four hours apart, would put a slot
    there within a tenth of its period: the stretch must start where the runs' own spacing
    puts the next), and a run at the job's slot twice as high as its runs, whose start-up
    spike (one minute at +60) is no cover for the whole run."""

    def fired(values: np.ndarray) -> list[int]:
        analyzer = ZScoreAnalyzer(window=60, cooldown_secs=0, learning_secs=0)
        alerts, _ = feed(analyzer, values, step=60.0, store=Store(61, 1500, 60.0))
        return [int(a.timestamp // 60) for a in alerts if a.status is Status.FIRING]

    incident = _job_every_two_hours(7)
    incident[1030:1042] = 60.0  # the job's next run at 1050
    assert [m for m in fired(incident) if m > 400] == [1035]
    spiky = 20 + np.random.default_rng(7).uniform(-1, 1, 1440)
    for start in range(90, 1440 - 30, 120):
        spiky[start] = 80.0
        spiky[start + 1 : start + 20] = 45.0
    assert [m for m in fired(spiky) if m > 400] == []  # its runs: recurring
    spiky[1051:1070] = 75.0  # the run at 1050, +55 after its spike
    assert [m for m in fired(spiky) if m > 400] == [1055]


# -- trend ----------------------------------------------------------------------------------


DISK = SeriesKey.of("disk_used_percent", mountpoint="/var", device="/dev/sda1")


def test_trend_ramp_gives_the_exact_eta() -> None:
    # One sample a minute; 2 points per hour from 60 %: after 3 h, 66 % -> full in 17 h.
    minutes = np.arange(0, 3 * 60 + 2)
    values = 60 + 2 * minutes / 60
    alerts, _ = feed(TrendAnalyzer(window_hours=6, min_span_hours=1), values, key=DISK, step=60.0)
    (alert,) = alerts
    assert alert.status is Status.FIRING and alert.severity is Severity.WARN
    # It fires as soon as the span reaches an hour, counted from the raw value then
    # (minute 61, 62.03 %): (100 - 62.03) / 2 = 18.98 h.
    assert alert.context["eta_hours"] == pytest.approx((100 - (60 + 2 * 61 / 60)) / 2, abs=1e-3)
    assert alert.context["rate_per_hour"] == pytest.approx(2.0, rel=1e-6)
    assert "will be full in 18 h 59 min" in alert.message and "/var" in alert.message
    assert "warn: full within 24 h" in alert.message  # why this severity


def test_trend_escalates_and_noise_never_fires() -> None:
    minutes = np.arange(0, 4 * 60)
    fast = 70 + 6 * minutes / 60  # 6 points/h: 30 points left = 5 h -> critical
    alerts, _ = feed(TrendAnalyzer(), fast, key=DISK, step=60.0)
    assert alerts[0].severity is Severity.CRITICAL
    noise = 50 + RNG.normal(0, 3, 6 * 60)
    assert feed(TrendAnalyzer(), noise, key=DISK, step=60.0)[0] == []


def test_trend_ignores_a_short_burst_that_stops_short_of_full() -> None:
    # 20 points in 20 minutes, then flat at 70 %: 30 points left would take 30 minutes at
    # that rate, farther ahead than the 20 minutes of line observed.
    burst = np.concatenate([np.full(40, 50.0), np.linspace(50, 70, 20), np.full(10, 70.0)])
    assert feed(TrendAnalyzer(min_span_hours=1), burst, key=DISK, step=60.0)[0] == []
    noise = np.concatenate([np.full(40, 50.0), 50 + RNG.normal(0, 3, 60)])
    assert feed(TrendAnalyzer(min_span_hours=1), noise, key=DISK, step=60.0)[0] == []


def test_trend_a_runaway_fill_fires_critical_before_an_hour_of_history() -> None:
    """A disk filling in 20 minutes: the short fit predicts it, at the severity it will have."""
    burst = np.concatenate([np.full(40, 50.0), np.linspace(50, 95, 20), np.full(30, 95.0)])
    alerts, _ = feed(TrendAnalyzer(min_span_hours=1), burst, key=DISK, step=60.0)
    firing, resolved = alerts
    assert firing.status is Status.FIRING and firing.severity is Severity.CRITICAL
    # Within the ramp (minutes 40-59), before the value reaches 95 %, with an ETA no longer
    # than the 30-minute short window could have observed.
    assert 50 * 60 <= firing.timestamp < 60 * 60 and firing.value < 95.0
    assert 0 < firing.context["eta_hours"] <= 0.5
    assert "critical: full within 6 h" in firing.message
    assert resolved.status is Status.RESOLVED  # the growth stopped at 95 %


def test_trend_no_eta_once_a_ramp_has_stopped() -> None:
    """An application's start: memory from 40 to 75 % in ten minutes, then flat.  The short
    fit's line still rose five minutes into the plateau and said "full in 17 min"; its last
    minutes must rise as it says (a second reader's case)."""
    rng = np.random.default_rng(12)
    ramp = np.concatenate([np.full(120, 40.0), np.linspace(40, 75, 11)[1:], np.full(120, 75.0)])
    values = ramp + rng.normal(0, 0.3, ramp.size)
    alerts, _ = feed(TrendAnalyzer(), values, key=SeriesKey.of("memory_used_percent"), step=60.0)
    assert alerts == []


def test_trend_a_drop_resolves_with_the_current_value_and_restarts_the_fit() -> None:
    """The issue's case: filled to 99.5 %, then emptied: never "full in 0 min"."""
    minutes = np.arange(0, 3 * 60)
    filling = 40 + 59.5 * minutes / minutes[-1]  # ~20 points/h up to 99.5 %
    after = np.concatenate([np.full(30, 0.5), 0.5 + 2 * np.arange(0, 180) / 60])
    alerts, _ = feed(TrendAnalyzer(), np.concatenate([filling, after]), key=DISK, step=60.0)
    firing = [a for a in alerts if a.status is not Status.RESOLVED]
    assert firing and all(a.timestamp < 180 * 60 for a in firing)
    resolved = [a for a in alerts if a.status is Status.RESOLVED]
    assert len(resolved) == 1 and resolved[0].timestamp <= 182 * 60
    assert resolved[0].value == 0.5 and "(0.5% now)" in resolved[0].message
    assert "eta_hours" not in resolved[0].context  # no "Full in" fact on a resolve
    # The slow refill after the drop (2 points/h, 49 h left) is judged on its own slope
    # only: the fill before the drop would have made it 20 points/h.
    assert all("full in 0 min" not in a.message for a in alerts)


def test_trend_a_temporary_file_during_a_fill_is_not_a_deletion() -> None:
    """A disk filling at 2 points/h from 60 %, and a 2-point staging file for 5 minutes
    every 40 minutes (a second reader's case): each cleanup fell back to the line and
    started the fit afresh, so the fill was never reported (spill every 40 minutes) or was
    resolved and fired again at each cleanup (every 90).  One FIRING, escalated once."""
    rng = np.random.default_rng(21)
    minutes = np.arange(0, 16 * 60)
    for every in (40, 90):
        values = 60 + 2 * minutes / 60 + 2.0 * ((minutes % every) < 5)
        values += rng.normal(0, 0.02, minutes.size)
        alerts, _ = feed(TrendAnalyzer(), values, key=DISK, step=60.0)
        assert [(a.status, a.severity) for a in alerts] == [
            (Status.FIRING, Severity.WARN),
            (Status.ESCALATED, Severity.CRITICAL),  # full within 6 h: from 88 %
        ], every
        assert alerts[0].timestamp <= 3 * 3600
    # A real deletion still starts afresh: the same fill, 20 points deleted at 8 h.
    values = 60 + 2 * minutes / 60 - 20.0 * (minutes >= 8 * 60)
    alerts, _ = feed(TrendAnalyzer(), values, key=DISK, step=60.0)
    assert [a.status for a in alerts] == [Status.FIRING, Status.RESOLVED, Status.FIRING]
    # Resolved when the bucket of the fall closes (a minute later), judged a deletion.
    assert alerts[1].timestamp == 8 * 3600 + 60 and alerts[2].timestamp >= 9 * 3600


def test_trend_a_temporary_file_leaves_the_fit() -> None:
    """Second readers' cases.  A 4-point file for 10 minutes every 25, on a disk filling 3
    points/h after a cleanup: the file pulled the line up, so each removal looked like a
    deletion, and the fill went unreported until the disk was full.  A 10-point file for
    30 minutes on a firing fill: its plateau in the fit held R² down, and the fill was
    resolved at its end and silent for six hours.  Its buckets leave the fits."""
    rng = np.random.default_rng(14)
    minutes = np.arange(0, 16 * 60)
    after = minutes >= 4 * 60
    fill = np.where(after, 50 + 3 * (minutes - 4 * 60) / 60, 60 + 3 * minutes / 60)
    spill = 4.0 * (((minutes - 246) % 25) < 10) * (minutes >= 246)
    values = fill + spill + rng.normal(0, 0.03, minutes.size)
    alerts, _ = feed(TrendAnalyzer(), values, key=DISK, step=60.0)
    later = [(a.status, a.severity, a.timestamp / 3600) for a in alerts if a.timestamp > 4.1 * 3600]
    assert [(st, sv) for st, sv, _ in later] == [
        (Status.FIRING, Severity.WARN),
        (Status.ESCALATED, Severity.CRITICAL),
    ]
    assert later[0][2] < 5.5  # within its hour and a half of fit after the cleanup
    big = 60 + 2 * minutes / 60 + 10.0 * ((minutes >= 180) & (minutes < 210))
    alerts, _ = feed(TrendAnalyzer(), big + rng.normal(0, 0.03, minutes.size), key=DISK, step=60.0)
    assert [a.status for a in alerts] == [Status.FIRING, Status.ESCALATED]


def test_trend_a_plateau_after_a_ramp_is_not_held_as_a_file_that_may_go() -> None:
    """A disk from 42 to 80 % in 30 minutes, then flat: the long line lags under the
    plateau, and the hold for a value above the line (a temporary file's) kept "full in
    12 h, R² 0.19" for two hours (a second reader's case).  Only a value above the line
    by its last jump is held."""
    minutes = np.arange(0, 8 * 60)
    ramp = np.clip(42 + 38 * (minutes - 6 * 60) / 30, 42, 80)
    alerts, _ = feed(TrendAnalyzer(), ramp, key=DISK, step=60.0)
    assert [a.status for a in alerts] == [Status.FIRING, Status.RESOLVED]
    assert alerts[1].timestamp <= (6 * 60 + 40) * 60  # within ten minutes of the plateau


@pytest.mark.parametrize(("start", "per_hour", "minutes"), [(50, 6, 90), (70, 3, 120)])
def test_trend_a_copy_that_stopped_is_not_told_as_a_fill_while_the_disk_is_flat(
    start: float, per_hour: float, minutes: int
) -> None:
    """A disk flat for ten hours takes a copy (9 points in 90 minutes, 6 in 120), then
    stays flat.  The window's line, lagging, reached its R² 83 minutes into the plateau
    and said "full in 16 h" of a flat disk (and on and off with noise): a line raises a
    level only while its last hour still rises at half its slope.  The fill told during
    the copy resolves within two hours of its end (it was held 3 h 37 min): a level is
    held only while the last two hours still rise at a quarter of the line's slope."""
    rng = np.random.default_rng(4)
    t = np.arange(600 + minutes + 300)
    values = start + per_hour / 60 * np.clip(t - 600, 0, minutes) + rng.normal(0, 0.05, t.size)
    alerts, _ = feed(TrendAnalyzer(), values, key=DISK, step=60.0)
    assert [a.status for a in alerts] == [Status.FIRING, Status.RESOLVED]
    end = (600 + minutes) * 60
    assert alerts[0].timestamp < end < alerts[1].timestamp <= end + 2 * 3600


@pytest.mark.parametrize(("write", "noise"), [(10, 0.02), (10, 0.3), (30, 0.3)])
def test_trend_a_fill_in_steps_is_one_alert(write: int, noise: float) -> None:
    """A disk that takes 4 points every two hours (a backup kept each time) fills at 2
    points/h.  Before the next step it stands below its line by half a step: it was
    resolved and fired again at every step, twelve times a day; a noisy fall there was a
    deletion; and a step read as a fill after a flat stretch escalated to critical for ten
    minutes.  One FIRING, escalated once when it is due (full within 6 h, from 88 %)."""
    rng = np.random.default_rng(8)
    t = np.arange(24 * 60)
    steps = 4 * (t // 120 + np.clip((t % 120) / write, 0, 1))
    values = 40 + steps + rng.normal(0, noise, t.size)
    alerts, _ = feed(TrendAnalyzer(), values, key=DISK, step=60.0)
    assert [(a.status, a.severity) for a in alerts] == [
        (Status.FIRING, Severity.WARN),
        (Status.ESCALATED, Severity.CRITICAL),
    ]
    assert alerts[0].timestamp <= 7 * 3600 and alerts[1].value >= 86.0


def flat_then_filling(flat_minutes: int, per_hour: float, minutes: int, start: float = 42.0,
                      noise: float = 0.02, seed: int = 3) -> np.ndarray:  # fmt: skip
    """A disk flat at `start` % for `flat_minutes`, then filling at `per_hour` points/h."""
    t = np.arange(minutes)
    rise = per_hour * np.maximum(0, t - flat_minutes) / 60
    return np.minimum(start + rise + np.random.default_rng(seed).normal(0, noise, t.size), 100.0)


def test_trend_a_fill_after_a_flat_stretch_is_told_after_its_hour_at_its_rate() -> None:
    """The twenty-third pass's live trial: one line over the window took in the flat
    hours before the fill, stayed under its R² and said half the rate.  Flat for five
    hours, then 10 points/h: the fill is told once it has lasted its hour, at its rate
    (it was told three hours in, "5.02 points/h, full in 5 h 32 min", with 2 h 48 left)."""
    values = flat_then_filling(300, 10.0, 300 + 5 * 60)
    alerts, _ = feed(TrendAnalyzer(), values, key=DISK, step=60.0)
    assert [(a.status, a.severity) for a in alerts] == [(Status.FIRING, Severity.CRITICAL)]
    (alert,) = alerts
    assert 360 * 60 <= alert.timestamp <= 370 * 60  # 60 to 70 minutes into the fill
    assert alert.context["rate_per_hour"] == pytest.approx(10.0, rel=0.02)
    left_hours = (100.0 - alert.value) / 10.0
    assert alert.context["eta_hours"] == pytest.approx(left_hours, rel=0.02)


def test_trend_a_fill_shorter_than_its_hour_is_not_judged_on_a_bent_line() -> None:
    """Before the fill has lasted its hour, the last hour's line takes in the flat minutes
    before it: bent, at half the rate.  No verdict on it (the short fit says a runaway
    fill); at 20 points/h from 70 %, 1.5 h to full, nothing in the first hour."""
    values = flat_then_filling(300, 20.0, 300 + 59)
    alerts, _ = feed(TrendAnalyzer(), values, key=DISK, step=60.0)
    assert alerts == []


def test_trend_a_fill_after_a_cleanup_and_a_flat_stretch_is_told_after_its_hour() -> None:
    """Cleaned from 80 to 40 %, flat for two hours, then 10 points/h: the bend is looked
    for among the points since the cleanup only (those before it stand far above the
    flat stretch, which would no longer be one the fill left)."""
    before = np.full(120, 80.0) + np.random.default_rng(8).normal(0, 0.02, 120)
    values = np.concatenate([before, flat_then_filling(120, 10.0, 120 + 3 * 60, start=40.0)])
    alerts, _ = feed(TrendAnalyzer(), values, key=DISK, step=60.0)
    firing = [a for a in alerts if a.status is Status.FIRING]
    assert firing and (240 + 60) * 60 <= firing[0].timestamp <= (240 + 70) * 60
    assert firing[0].context["rate_per_hour"] == pytest.approx(10.0, rel=0.02)


def test_trend_a_noisy_fill_after_a_flat_stretch_stays_one_alert() -> None:
    """3 points/h with ± 0.3 of noise: the short fit's R² wanders under its bar minute to
    minute, and the line since the bend must still be looked at while the alert fires
    (its hysteresis), or the window's bent line resolves it and it fires again later."""
    for seed in (0, 1, 2):
        values = flat_then_filling(300, 3.0, 300 + 8 * 60, noise=0.3, seed=seed)
        alerts, _ = feed(TrendAnalyzer(), values, key=DISK, step=60.0)
        assert [(a.status, a.severity) for a in alerts] == [(Status.FIRING, Severity.WARN)], seed
        assert alerts[0].timestamp <= (300 + 120) * 60


def test_trend_a_fill_after_a_flat_stretch_leaves_its_temporary_files_out() -> None:
    """Flat for four hours, then 6 points/h with a 4-point staging file for 10 minutes
    every 25: the line since the bend leaves out what the fits leave out (each file once
    it went), or the files hold its R² down for an hour more."""
    t = np.arange(240 + 6 * 60)
    staging = 4.0 * (((t - 250) % 25) < 10) * (t >= 250)
    values = flat_then_filling(240, 6.0, t.size) + staging
    alerts, _ = feed(TrendAnalyzer(), values, key=DISK, step=60.0)
    assert alerts[0].status is Status.FIRING and alerts[0].severity is Severity.WARN
    assert alerts[0].timestamp <= (240 + 110) * 60  # was 160 minutes into the fill
    assert alerts[0].context["rate_per_hour"] == pytest.approx(6.0, rel=0.03)


def test_trend_a_rise_across_missing_buckets_is_no_file_written() -> None:
    """A second reader's case: a noisy fill (3 points/h, ± 0.3) whose collector stopped
    for an hour.  The fill's growth meanwhile, a rise across the missing buckets, was read
    as a file written; the first noisy fall as the file gone; the fill's buckets since
    left the fits, and a real fill was resolved and fired again, twice."""
    values = flat_then_filling(180, 3.0, 480, noise=0.3, seed=1)
    store, trend, alerts = Store(400, 400, 60.0), TrendAnalyzer(), []
    for minute, value in enumerate(values.tolist()):
        if not 220 <= minute < 280:  # the collector stopped
            batch = store.write_samples(minute * 60.0, (DISK,), np.array([value]))
            alerts += trend.observe(batch, store)
    assert [(a.status, a.severity) for a in alerts] == [(Status.FIRING, Severity.WARN)]


def test_trend_a_file_written_while_a_bucket_was_missing_is_still_a_file() -> None:
    """The second reader's case against a first mend that counted no rise across missing
    buckets: a 10-point file for 30 minutes on a fill at 3 points/h, written while the
    collector was a minute late.  Its fall then looked like one back to the line its
    buckets had pulled up, they stayed in the fits, and the critical fill was resolved at
    81 % and silent until 98.5 %."""
    t = np.arange(900)
    values = 60 + 3.0 * t / 60 + np.random.default_rng(2).normal(0, 0.02, t.size)
    values[400:430] += 10
    store, trend, alerts = Store(400, 400, 60.0), TrendAnalyzer(), []
    for minute, value in enumerate(values.tolist()):
        if minute != 400:  # the collector was late
            batch = store.write_samples(minute * 60.0, (DISK,), np.array([value]))
            alerts += trend.observe(batch, store)
    assert [a.status for a in alerts] == [Status.FIRING, Status.ESCALATED]


def test_trend_a_disk_that_goes_up_and_down_is_no_fill_after_a_flat_stretch() -> None:
    """A cache filled and evicted, 6 points up and down every three hours: each rise is a
    line for an hour and more (4 points/h, full within a day), but what came before it
    went as high and wandered off its own line.  Not a fill after a flat stretch."""
    t = np.arange(0, 12 * 60)
    wave = 60 + 3 * np.cos(2 * np.pi * t / 180) + np.random.default_rng(5).normal(0, 0.05, t.size)
    alerts, _ = feed(TrendAnalyzer(), wave, key=DISK, step=60.0)
    assert alerts == []


def test_a_temporary_file_stays_a_while_a_blip_is_noise() -> None:
    """`temporary_bump`: a jump held two buckets or more and taken away is a file; a
    one-bucket blip up and down (a busy host's memory) is noise and stays in the fit (on
    noisy series every blip was taken out: a one-sided cut, and Python per series and
    bucket)."""
    from analyzers.trend import temporary_bump

    buckets = np.arange(12, dtype=float)
    line = 50 + 0.05 * buckets
    filed = line + np.where((buckets >= 6) & (buckets < 10), 4.0, 0.0)
    assert temporary_bump(buckets[:11], filed[:11]) == 6
    blip = line + np.where(buckets == 9, 4.0, 0.0)
    assert temporary_bump(buckets[:11], blip[:11]) is None
    deleted = filed.copy()
    deleted[10] = 40.0  # below where it stood before the file: a deletion, not the file
    assert temporary_bump(buckets[:11], deleted[:11]) is None


@pytest.mark.parametrize("seed", [40, 41, 43])
def test_trend_a_noisy_memory_leak_is_one_alert_escalated_once(seed: int) -> None:
    """A leak of 3 points/h on a memory series that moves by a point a minute (a second
    reader's case).  A chance fall of three points was a deletion: the fit started afresh,
    and its few points made the next ordinary dip one too; the leak was resolved at 94 %
    and never told again.  Near the critical horizon the ETA from the newest sample alone
    crossed 1.5 h and back: critical, warn and critical again, nine times in 40 minutes.
    A fall is a deletion only out of the series' noise; the ETA that keeps a level counts
    from the highest of the last minutes."""
    rng = np.random.default_rng(seed)
    t = np.arange(180 + 600)
    values = np.minimum(70 + 3 * np.maximum(0, t - 180) / 60 + rng.normal(0, 1.0, t.size), 100)
    alerts, _ = feed(TrendAnalyzer(), values, key=SeriesKey.of("memory_used_percent"), step=60.0)
    assert [(a.status, a.severity) for a in alerts] == [
        (Status.FIRING, Severity.WARN),
        (Status.ESCALATED, Severity.CRITICAL),
    ]


def test_a_chance_rise_and_fall_of_a_noisy_series_is_no_temporary_file() -> None:
    """On a series that moves by a third of a point a minute (a fill, then flat), a chance
    rise of a point and a chance fall two hours later were a temporary file: 114 minutes of
    the fill and its plateau left the fits, which then held the stopped fill for three
    hours.  A file's jump, and the fall that takes it away, stand out of the series' own
    noise; a 3-point file on the same noise is still one."""
    from analyzers.trend import temporary_bump

    rng = np.random.default_rng(23)
    t = np.arange(240)
    values = 50 + 3 / 60 * np.clip(t - 60, 0, 120) + rng.normal(0, 0.3, t.size)
    buckets = t.astype(float)
    falls = np.flatnonzero(values[:-1] - values[1:] > 1.0) + 1
    assert falls.size >= 3  # chance falls of more than a point
    for i in falls.tolist():
        lo = max(0, i - 121)
        assert temporary_bump(buckets[lo : i + 1], values[lo : i + 1]) is None, i
    filed = values + np.where((t >= 100) & (t < 130), 3.0, 0.0)
    assert temporary_bump(buckets[9:131], filed[9:131]) == 91  # from bucket 100
    # A file written and kept (3 points), then a chance fall of 1.2 back towards where the
    # series stood: the fall does not stand out of the noise, and the file stays.
    kept = 50 + rng.normal(0, 0.3, 61) + np.where(np.arange(61) >= 20, 3.0, 0.0)
    kept[-1] = kept[-2] - 1.2
    assert temporary_bump(np.arange(61, dtype=float), kept) is None


def test_trend_numbers_near_full_keep_their_digits() -> None:
    """A 100 TB volume at 99.95 %, growing 2 GB/h (0.002 points/h): "now 100.0%, growing
    0.00 points/h" said it was full and not growing (a second reader's case)."""
    minutes = np.arange(0, 3 * 60)
    values = 99.95 + 0.002 * minutes / 60
    alerts, _ = feed(TrendAnalyzer(), values, key=DISK, step=60.0)
    assert alerts and alerts[0].severity is Severity.WARN
    assert "(now 99.95%, growing 0.002 points/h" in alerts[0].message


def test_trend_a_log_rotated_every_night_warns_on_its_first_day_only() -> None:
    """A disk from 60 % to 85 % over each day, rotated back to 60 % at midnight: "full in
    24 h" every afternoon, repeated and resolved at the rotation, for a disk that never
    passed 85 % (a second reader's case).  Once a day of history shows the same fill
    given back, it is the day's cycle.  A day that fills faster than the one before (a
    runaway on top of the cycle) is news, and so is a fill after a one-off cleanup."""
    rng = np.random.default_rng(31)
    day = 24 * 60
    minutes = np.arange(4 * day)
    rotated = 60 + 25 * (minutes % day) / day + rng.normal(0, 0.05, minutes.size)

    def firings(values: np.ndarray) -> list[float]:
        alerts, _ = feed(TrendAnalyzer(), values, key=DISK, step=60.0, store=Store(400, 1500, 60.0))
        return [a.timestamp / 3600 for a in alerts if a.status is Status.FIRING]

    (first,) = firings(rotated)
    assert first < 24  # the first day: no cycle seen yet
    runaway = rotated.copy()
    runaway[3 * day + 600 :] += 6.0 * (minutes[3 * day + 600 :] - (3 * day + 600)) / 60
    assert [t for t in firings(runaway) if t > 72] != []  # 6 points/h on the fourth day
    # Cleaned once from 90 % to 40 %, then the same fill again: a deletion, no cycle.
    once = np.where(minutes < 1000, 40 + 50 * minutes / 1000, 40 + 3 * (minutes - 1000) / 60)
    assert len(firings(np.minimum(once, 100.0)[: 2 * day])) == 2
    # Flat at 88 % for a day, cleaned to 40 %, then filling 5 points/h: higher a day ago,
    # but not where it stands now; news within the fit's hour (a second reader's case,
    # held until it passed yesterday's 88 %).
    flat = np.where(minutes < day + 60, 88.0, 40 + 5 * (minutes - day - 60) / 60)
    flat += rng.normal(0, 0.05, minutes.size)
    (warned,) = firings(flat[: day + 5 * 60])[:1]
    assert warned <= (day + 60) / 60 + 1.1
    # Rotated 25 hours after the last time, or an hour early: still the day's cycle.
    late = 60 + 25 * ((minutes - 60 * (minutes >= 2 * day)) % day) / day
    assert [t for t in firings(late + rng.normal(0, 0.05, minutes.size)) if t > 24] == []


def test_trend_no_eta_while_the_value_is_off_the_line() -> None:
    minutes = np.arange(0, 3 * 60)
    values = 70 + 6 * minutes / 60
    values[-5:] = values[-6] - 0.5  # it stopped growing: held, then not on the line
    values = np.concatenate([values, np.full(10, values[-1])])
    alerts, _ = feed(TrendAnalyzer(), values, key=DISK, step=60.0)
    assert alerts[-1].status is Status.RESOLVED


@pytest.mark.parametrize("gaps", [False, True])
def test_regression_incremental_matches_exact(gaps: bool) -> None:
    """Also when the columns are not one bucket apart (a collector slower than a bucket, an
    agent down for a while): each point leaves at its own bucket number."""
    store = Store(400, 200, 60.0)
    reg = SlidingRegression(window=50)
    ids = np.array([store.series_id(DISK)])
    rng = np.random.default_rng(3)
    minutes = np.cumsum(rng.choice([1, 1, 2, 3, 37], 300)) if gaps else np.arange(300)
    for minute in minutes.tolist():
        batch = store.write_samples(
            minute * 60.0, (DISK,), np.array([RNG.normal(50 + minute / 10, 1)])
        )
        if batch.closed is not None and batch.closed[0]:
            fit = reg.add_newest(ids, store, 60.0)
    times, values = store.history_window(0, last=50)
    slope, _intercept = np.polyfit(times / 60.0, values, 1)
    assert fit.slope[0] == pytest.approx(slope, rel=1e-9)
    r2 = np.corrcoef(times, values)[0, 1] ** 2
    assert fit.r2[0] == pytest.approx(r2, rel=1e-9)
    assert fit.span[0] == (times[-1] - times[0]) / 60.0  # from its oldest point, gaps or not
    before = reg.s.ky[0]
    reg.rebase(0, store, 60.0)
    assert reg.fit(ids, np.array([reg.s.kk[0] * 0 + 49.0])).slope[0] == pytest.approx(
        slope, rel=1e-9
    )
    assert reg.s.ky[0] != before  # the origin moved


def test_regression_points_taken_out_leave_the_window_once() -> None:
    """A temporary file's buckets taken out of the sums (`exclude`) do not leave them again
    when the window moves past them: the sums stay those of the window without them, as
    added and as recomputed (`rebase`)."""
    store = Store(400, 200, 60.0)
    reg = SlidingRegression(window=50)
    ids = np.array([store.series_id(DISK)])
    rng = np.random.default_rng(4)
    out: set[float] = set()
    for minute in range(300):
        value = 50 + minute / 10 + rng.normal(0, 0.2) + (5.0 if minute % 40 < 6 else 0.0)
        batch = store.write_samples(minute * 60.0, (DISK,), np.array([value]))
        if batch.closed is not None and batch.closed[0]:
            reg.add_newest(ids, store, 60.0)
            times, values = store.history_window(0, last=1)
            if minute % 40 == 6:  # the file's end: its buckets out
                times, values = store.history_window(0, last=7)
                bump = np.round(times[:-1] / 60.0), values[:-1]
                reg.exclude(
                    0,
                    bump[0][bump[1] > 50 + (minute - 8) / 10 + 2.5],
                    bump[1][bump[1] > 50 + (minute - 8) / 10 + 2.5],
                )
                out |= set(bump[0][bump[1] > 50 + (minute - 8) / 10 + 2.5].tolist())
    times, values = store.history_window(0, last=50)
    keep = ~np.isin(np.round(times / 60.0), list(out))
    slope = np.polyfit(times[keep] / 60.0, values[keep], 1)[0]
    k_now = np.array([np.round(times[-1] / 60.0) - reg.s.origin[0]])
    assert reg.s.n[0] == keep.sum()
    assert reg.fit(ids, k_now).slope[0] == pytest.approx(slope, rel=1e-9)
    reg.rebase(0, store, 60.0)
    k_now = np.array([np.round(times[-1] / 60.0) - reg.s.origin[0]])
    assert reg.s.n[0] == keep.sum()
    assert reg.fit(ids, k_now).slope[0] == pytest.approx(slope, rel=1e-9)


def test_a_series_new_in_a_running_ring_needs_its_own_span_of_evidence() -> None:
    """A process first seen in the write that closes a bucket: its newest column is empty,
    and the window's oldest column (hours before it existed) is not its first point."""
    store = Store(400, 400, 60.0)
    other = SeriesKey.of("process_rss_bytes", pid="1", comm="init", user="root")
    leak = LeakAnalyzer(window_hours=6, min_observation_hours=1)
    fired: list[float] = []
    for minute in range(6 * 60 + 90):
        keys, values = [other], [100.0 * MB]
        if minute >= 6 * 60:  # the new process, growing 200 MiB/h from its first sample
            keys.append(RSS)
            values.append(500 * MB + 200 * MB * (minute - 6 * 60) / 60)
        batch = store.write_samples(minute * 60.0, keys, np.array(values), "process")
        fired += [
            a.timestamp / 60 - 6 * 60 for a in leak.observe(batch, store) if a.metric == RSS.metric
        ]
    assert fired and fired[0] >= 60  # an hour of its own, not the 6 h of its ring


@pytest.mark.parametrize("rebase_per_tick", [0, 1])  # the sums kept as added; recomputed
def test_a_trend_on_a_slow_collector_fits_what_came_after_a_drop_exactly(
    rebase_per_tick: int,
) -> None:
    """A disk read every 5 minutes (its columns 5 buckets apart: a 2-hour window of columns
    reaches back 10 h), cleaned from 90 % to 40 % at 2 h, then filling at 4 points/h.  At
    8 h the window's columns reach back before the drop; at 14 h the drop's own point has
    left the window.  The fit, as added or recomputed, is the exact one of what came after."""
    store = Store(400, 400, 60.0)
    trend = TrendAnalyzer(window_hours=2, rebase_per_tick=rebase_per_tick)

    def exact_and_kept() -> tuple[float, float]:
        sid = store.find(DISK)
        assert sid is not None
        times, values = store.history_window(sid, last=trend.window)
        after = np.round(times / 60.0) >= trend.s.since[sid]
        ids = np.array([sid])
        k_now = np.round(store.history_time_ago(ids, 0) / 60.0) - trend.regression.s.origin[sid]
        kept = trend.regression.fit(ids, k_now).slope[0]
        return float(np.polyfit(times[after] / 60.0, values[after], 1)[0]), float(kept)

    noise = np.random.default_rng(5).normal(0, 0.05, 14 * 12 + 1)
    for step in range(14 * 12 + 1):
        minute = 5 * step
        value = 90.0 if minute < 120 else 40.0 + 4.0 * (minute - 120) / 60 + noise[step]
        trend.observe(store.write_samples(minute * 60.0, [DISK], np.array([value]), "disk"), store)
        if minute in (8 * 60, 14 * 60):
            exact, kept = exact_and_kept()
            assert kept == pytest.approx(exact, rel=1e-9)
            assert exact * 60 == pytest.approx(4.0, rel=0.01)


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
    assert alert.message.endswith("(info: its limit more than 48 h away)")  # why this severity
    flat, _ = feed(LeakAnalyzer(), sawtooth(4, 0), key=RSS, step=60.0, extra={TOTAL: 16384 * MB})
    assert flat == []


def test_a_heap_warming_up_is_not_a_leak() -> None:
    """A JVM's first half hour: fast growth that levels off.  At its first hour it was
    "1.29 GiB/h" and stayed a leak for two hours after it had levelled (a second reader's
    case); the last third of the window must grow at half the whole's rate or more."""
    rng = np.random.default_rng(22)
    minutes = np.arange(6 * 60)
    heap = 200 * MB + 1800 * MB * (1 - np.exp(-minutes / 20)) + rng.normal(0, 10 * MB, minutes.size)
    assert feed(LeakAnalyzer(), heap, key=RSS, step=60.0, extra={TOTAL: 16384 * MB})[0] == []


def test_memory_given_back_every_few_hours_is_a_cycle_not_a_leak() -> None:
    """An old generation collected every six hours: the window (six hours) holds one
    tooth, a straight rise, and each tooth fired.  The first is news (no fall seen yet);
    the next ones, with the falls in the day the tier holds, are a cycle."""
    rng = np.random.default_rng(21)
    minutes = np.arange(48 * 60)
    old_gen = 1000 * MB + 800 * MB * ((minutes % 360) / 360) + rng.normal(0, 5 * MB, minutes.size)
    store = Store(400, 1500, 60.0)  # a day of one-minute buckets, as the agent keeps
    alerts, _ = feed(
        LeakAnalyzer(), old_gen, key=RSS, step=60.0, store=store, extra={TOTAL: 16384 * MB}
    )
    firing = [a.timestamp / 3600 for a in alerts if a.status is Status.FIRING]
    assert len(firing) <= 2 and all(t < 12 for t in firing), firing  # two teeth, not eight
    # Memory given back once (a pool freed), then a leak: a leak, not a cycle (one fall
    # was enough to hide it for a day: a second reader's case).
    hours = np.arange(20 * 60) / 60
    once = 500 * MB + np.where((hours >= 1) & (hours < 2), 800 * MB, 0.0)
    once = (
        once + np.where(hours >= 2, 100 * MB * (hours - 2), 0.0) + rng.normal(0, 5 * MB, hours.size)
    )
    freed, _ = feed(LeakAnalyzer(), once, key=RSS, step=60.0, store=Store(400, 1500, 60.0),
                    extra={TOTAL: 16384 * MB})  # fmt: skip
    assert [a.status for a in freed][:1] == [Status.FIRING]
    # A leak under a young generation's sawtooth still is one: it outgrows the falls.
    leak = LeakAnalyzer(window_hours=6, min_observation_hours=1)
    drifting, _ = feed(leak, sawtooth(4, 100), key=RSS, step=60.0, extra={TOTAL: 16384 * MB})
    assert [a.status for a in drifting] == [Status.FIRING]


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


def test_a_firing_leak_is_raised_as_its_limit_comes_nearer() -> None:
    """150 MiB/h from 120 MiB on an 8 GiB host: info two days out, and it stayed info
    until minutes before the limit (a second reader's case).  Looked at every ten
    minutes while it fires: warn once the limit is within 48 h, critical within 6 h,
    each once."""
    minutes = np.arange(52 * 60)
    rss = 120 * MB + 150 * MB * minutes / 60 + RNG.normal(0, 0.2 * MB, minutes.size)
    alerts, _ = feed(LeakAnalyzer(), rss, key=RSS, step=60.0, extra={TOTAL: 8192 * MB})
    said = [(a.status, a.severity, a.timestamp / 3600) for a in alerts]
    limit_at = (8192 - 120) / 150  # hours
    assert [(st, sv) for st, sv, _ in said] == [
        (Status.FIRING, Severity.INFO),
        (Status.ESCALATED, Severity.WARN),
        (Status.ESCALATED, Severity.CRITICAL),
    ]
    assert limit_at - 48 - 0.1 <= said[1][2] <= limit_at - 48 + 0.5  # a look is 10 min apart
    assert limit_at - 6 - 0.1 <= said[2][2] <= limit_at - 6 + 0.5
    assert "(critical: its limit within 6 h)" in alerts[2].message


@pytest.mark.parametrize("seed", range(4))
def test_a_leak_that_stopped_resolves_within_two_hours_and_a_noisy_one_does_not(seed: int) -> None:
    """Growth that stops (a cache at its size after 5 h, a heap warmed up) resolved only
    once the six-hour fit's slope fell, four hours and more after it was flat; looked at
    every ten minutes, a flat last third of the window resolves it.  A leak as fast
    under heavy noise, whose recent slope dips by chance, stays firing."""
    rng = np.random.default_rng(seed)
    minutes = np.arange(12 * 60)
    plateau = 400 * MB + 300 * MB * np.minimum(minutes, 300) / 60 + rng.normal(0, MB, minutes.size)
    alerts, _ = feed(LeakAnalyzer(), plateau, key=RSS, step=60.0, extra={TOTAL: 8192 * MB})
    assert [a.status for a in alerts] == [Status.FIRING, Status.RESOLVED]
    assert 5 * 3600 < alerts[1].timestamp <= 7 * 3600
    noisy = 400 * MB + 40 * MB * minutes / 60 + rng.normal(0, 40 * MB, minutes.size)
    noisy[:120] = 400 * MB + 40 * MB * minutes[:120] / 60 + rng.normal(0, MB, 120)  # clean start
    alerts, _ = feed(LeakAnalyzer(), noisy, key=RSS, step=60.0, extra={TOTAL: 8192 * MB})
    assert [a.status for a in alerts] == [Status.FIRING]


@pytest.mark.parametrize("every_hours", [1, 2, 3])
def test_a_leak_by_steps_is_one_alert_not_one_a_step(every_hours: int) -> None:
    """RSS up 100 MiB an hour, in steps every 1, 2 or 3 hours (a cache of sessions that
    never expire, grown by a batch): the flat between two steps looked like the leak had
    stopped, and each step fired it again (16 FIRING/RESOLVED pairs in 36 h: a second
    reader's case).  A pause the day shows before, followed by growth, is the pattern."""
    minutes = np.arange(36 * 60)
    steps = 100 * every_hours * MB * np.floor(minutes / (60 * every_hours))
    rss = 500 * MB + steps + RNG.normal(0, 3 * MB, minutes.size)
    store = Store(400, 1500, 60.0)  # a day of one-minute buckets, as the agent keeps
    alerts, _ = feed(LeakAnalyzer(), rss, key=RSS, step=60.0, store=store, extra={TOTAL: 8192 * MB})
    assert [a.status for a in alerts if a.status is not Status.ESCALATED] == [Status.FIRING]


def test_a_firing_leak_is_looked_at_whatever_its_collectors_interval() -> None:
    """Looks staggered by `(bucket + series) % 10` never came for a series whose buckets
    close every second minute (a process collector every 120 s: the same parity each
    time): a leak stayed warn until memory ran out (a second reader's case)."""
    for step in (60.0, 120.0, 300.0):
        n = int(30 * 3600 / step)
        rss = 1000 * MB + 300 * MB * np.arange(n) * step / 3600
        store = Store(400, 1500, 60.0)
        alerts, _ = feed(LeakAnalyzer(), rss, key=RSS, step=step, store=store,
                         extra={TOTAL: 8192 * MB})  # fmt: skip
        assert [a.severity for a in alerts][-1] is Severity.CRITICAL, step


def test_an_fd_leak_at_its_limit_is_not_resolved() -> None:
    """40 fds/h up to RLIMIT_NOFILE (1024): there every open fails and the count stays
    flat, which said "open files stopped growing (1024)" an hour after the process began
    failing (a second reader's case)."""
    fds = SeriesKey.of("process_open_fds", pid="7", comm="nginx", user="www")
    limit = SeriesKey.of("process_max_fds", pid="7", comm="nginx", user="www")
    minutes = np.arange(30 * 60)
    opened = np.minimum(200 + 40 * minutes / 60, 1024.0) + RNG.normal(0, 0.5, minutes.size)
    alerts, _ = feed(LeakAnalyzer(), np.minimum(opened, 1024.0), key=fds, step=60.0,
                     extra={limit: 1024.0})  # fmt: skip
    assert [a.status for a in alerts] == [Status.FIRING, Status.ESCALATED]
    assert alerts[-1].severity is Severity.CRITICAL


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


# -- families -------------------------------------------------------------------------------


def test_every_host_metric_has_a_family_in_its_own_unit() -> None:
    from agent.collectors import ALL_METRICS
    from analyzers.families import family_of

    catch_all = [
        spec.name
        for spec in ALL_METRICS
        if family_of(spec.name).relative and not spec.name.startswith("agent_")
    ]
    assert catch_all == []
    assert family_of("cpu_usage_percent").direction == "up"
    assert family_of("memory_available_bytes").direction == "down"
    assert family_of("series_value").relative and family_of("series_value").direction == "both"


def test_a_configured_family_rule_comes_before_the_built_in_ones(tmp_path: Any) -> None:
    from agent.config import load_config
    from analyzers.base import policy_from

    config = tmp_path / "config.toml"
    config.write_text(
        "[analyzer]\nanomaly_learning_secs = 0\n"
        '[[analyzer.families]]\nmetric = "network_receive_bytes_per_second"\nlabels = { interface = "eth3" }\n'
        'floor = 60e6\ndirection = "both"\nunit = "B/s"\n'
    )
    settings = load_config(config).settings
    (tmp_path / "plain.toml").write_text("[analyzer]\nanomaly_learning_secs = 0\n")
    policy = policy_from(settings, 3.0)
    ruled = policy.family(SeriesKey.of("network_receive_bytes_per_second", interface="eth3"))
    assert (ruled.floor, ruled.direction) == (60e6, "both")
    assert (
        policy.family(SeriesKey.of("network_receive_bytes_per_second", interface="eth0")).floor
        == 2**20
    )  # other labels
    # In use: a 4 MB/s rise for 10 minutes is beyond the built-in 1 MiB/s floor, not 60 MB/s.
    values = np.concatenate([1e6 + RNG.normal(0, 1e5, 300), 5e6 + RNG.normal(0, 1e5, 60)])
    key = SeriesKey.of("network_receive_bytes_per_second", interface="eth3")
    assert feed(zscore(policy=policy), values, key=key)[0] == []
    default = policy_from(load_config(tmp_path / "plain.toml").settings, 3.0)
    assert feed(zscore(policy=default), values, key=key)[0] != []
    bad = tmp_path / "bad.toml"
    bad.write_text('[[analyzer.families]]\nmetric = "x"\ndirection = "sideways"\n')
    with pytest.raises(Exception, match=r"sideways|direction"):
        load_config(bad)
