"""The daily-seasonal path (analyzers/season.py): a departure from what a series does
at this time of day, replayed through the daemon's path with the default settings
(`replay` raises if an analyzer failed on the way, which the daemon only counts)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from agent.replay import UNITLESS_METRIC, Recording, replay
from agent.settings import Settings
from agent.store import Store
from alerting.alert import Status
from alerting.format import plain
from analyzers.base import SeriesKey
from analyzers.season import SeasonAnalyzer

DAY = 86_400
STEP = 300.0  # 5-minute samples, as NAB's daily series
START = 1_767_571_200.0  # 2026-01-05 00:00 UTC


def daily(days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A quiet night at 20 and a peak to 30 in the afternoon, noise 0.5."""
    rng = np.random.default_rng(seed)
    t = START + STEP * np.arange(int(days * DAY / STEP))
    phase = 2 * np.pi * ((t - START) % DAY) / DAY
    peak = 10 * np.maximum(0.0, np.sin(phase - 1.0)) ** 2
    return t, 20 + peak + rng.normal(0, 0.5, t.size)


def firing(t: np.ndarray, values: np.ndarray) -> list[tuple[str, float, str]]:
    alerts = replay(Settings(), Recording(t, values, 0), SeriesKey(UNITLESS_METRIC))
    return [(a.analyzer, a.timestamp, a.message) for a in alerts if a.status is Status.FIRING]


def test_a_regular_daily_cycle_gives_no_seasonal_alert() -> None:
    t, values = daily(9, seed=21)
    assert [a for a in firing(t, values) if a[0] == "season"] == []


def test_a_daily_peak_that_fails_to_come_is_seen_at_its_time_of_day() -> None:
    """Day 7's afternoon stays at the night's level: inside the range of any 12-hour
    window (z-score's baseline), but 10 below the same time on the earlier days."""
    t, values = daily(9, seed=22)
    day7 = (t >= START + 7 * DAY) & (t < START + 8 * DAY)
    values[day7] = 20 + np.random.default_rng(23).normal(0, 0.5, int(day7.sum()))
    seasonal = [a for a in firing(t, values) if a[0] == "season"]
    assert seasonal, "the missing peak was not seen"
    _, when, message = seasonal[0]
    assert START + 7 * DAY <= when < START + 8 * DAY
    assert "usually" in message and "at this time of day" in message
    assert "warn: a statistical anomaly alone" in message
    assert all(START + 7 * DAY <= w < START + 9 * DAY for _, w, _ in seasonal)


def test_a_series_without_a_daily_cycle_is_not_judged_by_it() -> None:
    """Noise with a level shift on day 5: the daily model explains nothing, so the
    shift is z-score's alone."""
    t = START + STEP * np.arange(int(7 * DAY / STEP))
    values = 100 + np.random.default_rng(24).normal(0, 5.0, t.size)
    values[t >= START + 5 * DAY] += 60
    alerts = firing(t, values)
    assert [a for a in alerts if a[0] == "season"] == []
    assert any(a[0] == "zscore" for a in alerts)


def test_history_between_finds_buckets_by_time_not_by_count() -> None:
    store = Store(64, 100, 60.0)
    key = (SeriesKey("m"),)
    minutes = [m for m in range(90) if not 40 <= m < 50]  # a 10-minute gap in the sampling
    for m in minutes:
        store.write_samples(m * 60.0, key, np.array([float(m)]))
    ids = store.ids_for(key)
    assert store.history_between(ids, 60 * 60.0, 62 * 60.0).tolist() == [61.0]
    assert np.isnan(store.history_between(ids, 41 * 60.0, 45 * 60.0)).all()
    # Read again after more writes (the time axis is derived once per write, not kept stale),
    # and after the clock stepped back (the buckets are no longer in time order).
    for m in (90, 91):  # bucket 90 closes when 91 comes
        store.write_samples(m * 60.0, key, np.array([float(m)]))
    assert store.history_between(ids, 89 * 60.0, 91 * 60.0).tolist() == [89.5]
    for m in range(30, 33):  # bucket 91 closes; 30 and 31 come again, after 91
        store.write_samples(m * 60.0 + 1, key, np.array([1000.0]))
    assert store.history_between(ids, 30 * 60.0, 31 * 60.0).tolist() == [(30 + 31 + 2000) / 4]
    assert store.history_between(ids, 89 * 60.0, 91 * 60.0).tolist() == [90.0]


# -- at the agent's own resolution: one-minute buckets ----------------------------------------

CPU = SeriesKey("cpu_usage_percent")


def host_day_cycle(days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A web server's CPU, one sample a minute: 20 % at night, 50 % in the afternoon."""
    rng = np.random.default_rng(seed)
    t = START + 60.0 * np.arange(days * 1440)
    phase = 2 * np.pi * ((t - START) % DAY) / DAY
    return t, 20 + 30 * np.maximum(0.0, np.sin(phase - 1.0)) ** 2 + rng.normal(0, 2.0, t.size)


def host_alerts(t: np.ndarray, values: np.ndarray, history_hours: float) -> list[Any]:
    defaults = Settings()
    settings = dataclasses.replace(
        defaults, storage=dataclasses.replace(defaults.storage, history_hours=history_hours)
    )
    return list(replay(settings, Recording(t, values, 0), CPU))


def at(day: int, hour: float) -> float:
    return START + day * DAY + hour * 3600


def test_a_verdict_needs_three_earlier_days_in_the_history_tier() -> None:
    """At the defaults the tier holds one day of one-minute buckets: season gives no
    verdict (one earlier day is no expectation: yesterday's outage would make today's
    normal afternoon news), and a busy night is z-score's alone."""
    t, values = host_day_cycle(5, seed=31)
    values[(t >= at(4, 0)) & (t < at(4, 3))] += 30  # a busy night
    alerts = host_alerts(t, values, history_hours=24)
    assert [a.analyzer for a in alerts if a.analyzer == "season"] == []
    assert any(a.analyzer == "zscore" and a.status is Status.FIRING for a in alerts)


def test_yesterdays_outage_is_not_an_expectation_a_busy_night_settles_after_an_hour() -> None:
    """With four days in the tier (storage.history_hours = 96): an hour's outage on day 3
    makes nothing of day 4's ordinary afternoon (the median of three days is not the
    outage); a night that stays busy fires once, then settles as a new level after an
    hour instead of staying open (and repeated) until the median holds it."""
    t, values = host_day_cycle(5, seed=32)
    outage = (t >= at(3, 14)) & (t < at(3, 15))
    values[outage] = 5 + np.random.default_rng(33).normal(0, 0.5, int(outage.sum()))
    values[(t >= at(4, 0)) & (t < at(4, 5))] += 30
    seasonal = [a for a in host_alerts(t, values, history_hours=96) if a.analyzer == "season"]
    assert [a.status for a in seasonal] == [Status.FIRING, Status.RESOLVED]
    fired, settled = seasonal
    assert at(4, 0) < fired.timestamp < at(4, 0.5)
    assert "usually" in fired.message and "(threshold" not in fired.message
    assert settled.timestamp == pytest.approx(fired.timestamp + 3600, abs=60)
    assert "settled at a new level for this time of day" in settled.message


def test_a_gap_in_the_history_a_day_back_neither_ends_nor_restarts_a_stretch() -> None:
    """Fifteen minutes missing two days back leave no expectation for a quarter of an hour
    in the middle of a busy night: season gives no verdict then, so the night is one alert
    that settles, not "back to usual" against nothing and a second FIRING."""
    t, values = host_day_cycle(5, seed=32)
    values[(t >= at(4, 0)) & (t < at(4, 5))] += 30
    keep = ~((t >= at(2, 0.5)) & (t < at(2, 0.75)))
    seasonal = [a for a in host_alerts(t[keep], values[keep], history_hours=96)
                if a.analyzer == "season"]  # fmt: skip
    assert [a.status for a in seasonal] == [Status.FIRING, Status.RESOLVED]
    assert "settled at a new level" in seasonal[1].message


def test_a_spike_of_one_or_two_samples_is_z_scores_not_seasons() -> None:
    """At 5-minute samples one sample covers the persistence time, but season's short path
    is closed: a spike is z-score's business (with its record and tail checks)."""
    t, values = daily(9, seed=35)
    spikes = [START + day * DAY for day in (8, 8.5)]
    for at_, width in zip(spikes, (1, 2), strict=True):
        first = int(np.searchsorted(t, at_))
        values[first : first + width] += 40
    alerts = firing(t, values)
    assert [a for a in alerts if a[0] == "season"] == []
    for at_ in spikes:  # seen, by z-score
        assert any(a[0] == "zscore" and at_ <= a[1] <= at_ + 600 for a in alerts)


@pytest.mark.parametrize("persist", [300.0, 20.0, 0.0])
def test_season_judges_whatever_the_persistence_and_the_collectors_phase(persist: float) -> None:
    """The expectation is the buckets around the instant a day back, at least a bucket wide:
    with `anomaly_persist_secs` of 0 (allowed) and samples 3.7 s off the minute, a window
    of ± persist held no bucket start and season silently judged nothing."""
    t, values = host_day_cycle(5, seed=32)
    t = t + 3.7
    values[(t >= at(4, 0)) & (t < at(4, 5))] += 30
    defaults = Settings()
    settings = dataclasses.replace(
        defaults,
        storage=dataclasses.replace(defaults.storage, history_hours=96),
        analyzer=dataclasses.replace(defaults.analyzer, anomaly_persist_secs=persist),
    )
    seasonal = [a for a in replay(settings, Recording(t, values, 0), CPU) if a.analyzer == "season"]
    assert [a.status for a in seasonal] == [Status.FIRING, Status.RESOLVED]
    assert at(4, 0) < seasonal[0].timestamp < at(4, 0.5)


# -- the weekly cycle: series whose weekends differ from their weekdays -----------------------

HALF_HOUR = 1800.0


def weekly(
    weeks: int, seed: int, like_a_sunday: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Half-hourly demand, as NAB's taxi series: weekdays peak at 08:00 and 18:00, weekends
    at 13:00 and 23:00 from a higher floor; noise 2 % of the level.  Day `like_a_sunday`
    (a holiday) has a weekend's shape."""
    rng = np.random.default_rng(seed)
    t = START + HALF_HOUR * np.arange(int(weeks * 7 * DAY / HALF_HOUR))  # START is a Monday
    hour = ((t - START) % DAY) / 3600
    day = (t - START) // DAY
    weekend = (day % 7 >= 5) | (day == like_a_sunday)

    def bump(centre: float, width: float) -> np.ndarray:
        return np.exp(-0.5 * ((hour - centre) / width) ** 2)

    level = np.where(
        weekend,
        40 + 50 * bump(13, 3) + 60 * bump(23, 2),
        15 + 80 * bump(8, 1.5) + 90 * bump(18, 2.5),
    )
    return t, level * rng.lognormal(0.0, 0.02, t.size)


def test_a_weekly_cycle_gives_no_seasonal_alert_on_ordinary_mondays() -> None:
    """What is new the first time it happens may be news once (the first weekend after a
    week of weekdays; the first Monday against that weekend, before the explained-variance
    test has seen a whole week); from the third week, no ordinary day is."""
    t, values = weekly(6, seed=41)
    seasonal = [a for a in firing(t, values) if a[0] == "season"]
    assert len(seasonal) <= 2
    assert all(when < START + 14 * DAY for _, when, _ in seasonal)


def test_a_holiday_on_a_weekday_is_seen_against_the_same_weekday_of_earlier_weeks() -> None:
    """Thursday of week 5 is a holiday with a Sunday's shape.  Against the day before (the
    daily model) every Monday and Tuesday differs as much, so that model explains too
    little to judge; against the last three Thursdays (the weekly model: the tier holds
    30 days of half-hours) the holiday stands out.  The seasonality veto compares with
    those Thursdays, not with last Sunday, whose every hour the holiday repeats: it is seen
    in its first hours (against the last seven days, only where it leaves a Sunday's
    shape, in its evening)."""
    t, values = weekly(6, seed=42, like_a_sunday=31)
    later = [a for a in firing(t, values) if a[0] == "season" and a[1] >= START + 14 * DAY]
    assert later, "the holiday was not seen"
    assert all(START + 31 * DAY <= when < START + 32 * DAY for _, when, _ in later)
    assert later[0][1] <= START + 31 * DAY + 3 * 3600  # its first hours, not its evening
    assert "at this time of the week" in later[0][2] and "weekly residual" in later[0][2]


@pytest.mark.parametrize("day", [29, 20])
def test_a_settled_change_is_not_reported_again_by_the_other_model(day: int) -> None:
    """A daily-cycle series, half-hourly, whose early morning rises by 8 for good on `day`:
    the daily model fires and settles it; the weekly model, whose median of three weeks
    will not hold the level for two more weeks, must not report the same change again;
    nor, on day 20, while the weekly model has found only two earlier weeks."""
    rng = np.random.default_rng(0)
    t = START + HALF_HOUR * np.arange(int(42 * DAY / HALF_HOUR))
    hour = ((t - START) % DAY) / 3600
    values = 20 + 10 * np.maximum(0.0, np.sin(2 * np.pi * hour / 24 - 1.0)) ** 2
    values += rng.normal(0, 0.5, t.size)
    values[(t >= START + day * DAY) & (hour >= 2) & (hour < 7)] += 8
    seasonal = [a for a in replay(Settings(), Recording(t, values, 0), SeriesKey(UNITLESS_METRIC))
                if a.analyzer == "season"]  # fmt: skip
    assert [a.status for a in seasonal] == [Status.FIRING, Status.RESOLVED]
    assert "settled at a new level" in seasonal[1].message


def test_history_reach_is_the_span_of_a_full_tier() -> None:
    """What season asks before looking a cycle back: a full tier reaches its span (a number
    of buckets: further at sparser sampling), a filling one what its rate so far makes of
    its capacity; a series without history, nowhere."""
    store = Store(64, 100, 60.0, needs_history=lambda metric: metric == "kept")
    kept, raw_only = SeriesKey("kept"), SeriesKey("raw_only")
    ids = store.ids_for((kept, raw_only))
    store.write_samples(0.0, (kept, raw_only), np.array([1.0, 2.0]))
    assert store.history_reach(ids).tolist() == [np.inf, 0.0]  # one bucket: no rate yet
    for m in range(5, 500, 5):  # every 5 minutes: 100 buckets reach 500 minutes
        store.write_samples(m * 60.0, (kept, raw_only), np.array([1.0, 2.0]))
        if m == 245:
            assert store.history_reach(ids)[0] == pytest.approx(100 * 300.0)
    assert store.history_reach(ids).tolist() == [100 * 300.0, 0.0]
    for m in range(500, 700):  # now every minute: the oldest buckets go, the span shrinks
        store.write_samples(m * 60.0, (kept, raw_only), np.array([1.0, 2.0]))
    assert store.history_reach(ids).tolist() == [100 * 60.0, 0.0]
    for m in range(580, 600):  # the clock stepped back 2 hours: by the times, not the order
        store.write_samples(m * 60.0, (kept, raw_only), np.array([1.0, 2.0]))
    assert store.history_reach(ids)[0] >= 100 * 60.0


def peak_heavier_at_weekends(t: np.ndarray, weekend_peak: float, seed: int) -> np.ndarray:
    """A daily peak at 14:00 of 10 above a floor of 20, `weekend_peak` on Saturdays and
    Sundays; noise 0.3."""
    hour = ((t - START) % DAY) / 3600
    weekend = ((t - START) // DAY) % 7 >= 5
    shape = np.exp(-0.5 * ((hour - 14) / 3) ** 2)
    noise = np.random.default_rng(seed).normal(0, 0.3, t.size)
    values: np.ndarray = 20 + np.where(weekend, weekend_peak, 10.0) * shape + noise
    return values


def test_heavier_weekends_are_news_only_until_the_weekly_model_holds_them() -> None:
    """The daily model, alone for three weeks, may call a Saturday news; once the weekly
    model fits better it takes the series, and later weekends are not (a settled weekend
    must not keep the series on the daily model)."""
    t = START + HALF_HOUR * np.arange(int(42 * DAY / HALF_HOUR))
    values = peak_heavier_at_weekends(t, 14.0, seed=5)
    seasonal = [a for a in firing(t, values) if a[0] == "season"]
    assert all(when < START + 21 * DAY for _, when, _ in seasonal)


def test_a_weekly_job_is_seasons_news_once() -> None:
    """A daily cycle, half-hourly, and a job of two hours every Sunday night (+20): the
    first Sunday is news; later ones are not, though against the last three days (the
    daily model) each one departs again.  The veto finds the same departure a week back:
    the level a week back, averaged over the widened span (± tolerance: the quiet hours
    around the job), was not enough."""
    t = START + HALF_HOUR * np.arange(int(35 * DAY / HALF_HOUR))
    hour = ((t - START) % DAY) / 3600
    values = 20 + 30 * np.maximum(0.0, np.sin(2 * np.pi * hour / 24 - 1.0)) ** 2
    values += np.random.default_rng(1).normal(0, 1.0, t.size)
    values[(((t - START) // DAY) % 7 == 6) & (hour >= 3) & (hour < 5)] += 20
    seasonal = [when for analyzer, when, _ in firing(t, values) if analyzer == "season"]
    assert len(seasonal) == 1 and START + 6 * DAY < seasonal[0] < START + 7 * DAY, seasonal


def test_one_odd_early_day_is_no_expectation_for_the_veto_either() -> None:
    """A burst on the first night, then a night at 02:00 on day 5 six σ below usual: the
    veto compares departures only where an earlier day had all three days before it (the
    day after the burst, against the burst alone, looked like the same departure)."""
    t, values = daily(6, seed=5)
    hour = ((t - START) % DAY) / 3600
    day = (t - START) // DAY
    values[(day == 0) & (hour >= 2) & (hour < 3.5)] += 6.0
    values[(day == 5) & (hour >= 2) & (hour < 3)] -= 3.0
    seasonal = [when for analyzer, when, _ in firing(t, values) if analyzer == "season"]
    assert any(START + 5 * DAY + 2 * 3600 <= when < START + 5 * DAY + 3 * 3600
               for when in seasonal), seasonal  # fmt: skip


class TierOnly:
    """A history tier and nothing else: (bucket start times, means) for one series."""

    def __init__(self, times: np.ndarray, means: np.ndarray) -> None:
        self.times, self.means = times, means

    def history_window(self, series_id: int, last: int | None = None) -> tuple[Any, Any]:
        return self.times, self.means


@pytest.mark.parametrize(("yesterday", "vetoed"), [(11.6, False), (12.2, True)])
def test_an_earlier_departure_vetoes_only_if_it_was_beyond_the_band(
    yesterday: float, vetoed: bool
) -> None:
    """Ten flat days of one-minute buckets at 10; today's last hour at 12.5 (2.5 above its
    expectation, the band 2).  The same hour yesterday at 11.6 departed within half a band
    of today's but was no departure itself (under the band): today is news.  At 12.2 it
    was one: today is not."""
    times = START + 60.0 * np.arange(10 * 1440)
    means = np.full(times.size, 10.0)
    now = float(times[-1])
    means[times > now - 3600] = 12.5
    means[(times > now - DAY - 3600) & (times <= now - DAY)] = yesterday
    gate = SeasonAnalyzer(bucket_secs=60.0).gate
    ids = np.array([0])
    gate.s.ensure(ids)
    gate.cycle.ensure(ids)
    gate.s.run_start[0], gate.s.base_band[0] = now - 3600 + 60, 2.0
    assert gate.seen_before(TierOnly(times, means), 0, now, 12.5, 1) is vetoed


def test_a_model_the_tier_no_longer_reaches_does_not_keep_the_series() -> None:
    """Five weeks every 30 minutes (the weekly model fits best), then every 5 minutes (an
    operator's shorter interval: the tier now reaches 5 days, no week back).  The daily
    model takes the series over, and a Thursday whose peak does not come is seen."""
    t1 = START + HALF_HOUR * np.arange(int(35 * DAY / HALF_HOUR))
    t = np.concatenate([t1, t1[-1] + 300.0 * np.arange(1, int(12 * DAY / 300))])
    values = peak_heavier_at_weekends(t, 11.0, seed=5)
    hour = ((t - START) % DAY) / 3600
    missing = (t >= START + 44 * DAY) & (t < START + 45 * DAY) & (hour >= 11) & (hour < 17)
    values[missing] = 20 + np.random.default_rng(6).normal(0, 0.3, int(missing.sum()))
    seasonal = [a for a in firing(t, values) if a[0] == "season"]
    assert any(START + 44 * DAY + 11 * 3600 <= when < START + 44 * DAY + 17 * 3600
               for _, when, _ in seasonal)  # fmt: skip


def test_season_and_zscore_alerts_show_their_threshold_in_sigma() -> None:
    """The channels show a statistical alert's threshold as a number of σ (the alert says
    so in its context), not as a level in the metric's unit."""
    t, values = daily(9, seed=22)
    day7 = (t >= START + 7 * DAY) & (t < START + 8 * DAY)
    values[day7] = 20 + np.random.default_rng(23).normal(0, 0.5, int(day7.sum()))
    values[t >= START + 8 * DAY] += 40  # and a lasting jump, z-score's
    alerts = replay(Settings(), Recording(t, values, 0), SeriesKey(UNITLESS_METRIC))
    firing = {a.analyzer: a for a in alerts if a.status is Status.FIRING}
    for analyzer in ("season", "zscore"):
        assert "(threshold 3σ)" in plain(firing[analyzer]), analyzer
