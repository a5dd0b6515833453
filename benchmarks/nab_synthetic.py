"""A seeded, labelled corpus in the Numenta Anomaly Benchmark's on-disk format: a
generalization check for the anomaly analyzers beyond NAB's 17 AWS CloudWatch files.

    .venv/bin/python benchmarks/nab_synthetic.py --out DIR [--seed N]
    .venv/bin/python benchmarks/nab_score.py --nab DIR --per-file --diagnose

Why: the project only carries NAB's real AWS CloudWatch series
(../shared/fixtures/nab).  NAB's full corpus (58 files) also has artificial
series, Twitter volumes, ad-exchange metrics, traffic sensors and "known
cause" series, and defaults tuned on CloudWatch CPU alone may not carry over.
This module generates OUR OWN data, modelled only on NAB's published
descriptions of those categories (Lavin & Ahmad 2015, arXiv:1510.03336, and the
NAB README's category list); no NAB data file was read or copied.  A figure on
this corpus is therefore a generalization check, not a NAB score, and must not
be quoted as one.

Format (what benchmarks/nab_score.py reads): DIR/data/<category>/<name>.csv
with a `timestamp,value` header and rows `2014-04-01 00:00:00,12.3` (UTC), and
DIR/labels/combined_windows.json mapping "<category>/<name>.csv" to windows
[start, end] built as NAB's labeler builds them: each labelled anomaly point
(the onset of the anomaly) gets a window of int(10 % of the file's rows / the
number of its anomalies) rows centred on it, clipped to the file, overlapping
windows merged; a file without anomalies has an empty list.

Every file is generated from its own random stream (seed and file name), so the
corpus is reproducible and a file does not change when another is added.
Levels, noise, anomaly positions (after the first 20 % of the file) and
magnitudes (from ~3 sigma of the noise to large) are drawn per file.

artificialNoAnomaly (5-minute, 4,032 rows = 14 days, no windows)
  art_daily_no_noise         a daily sine, no noise
  art_daily_small_noise      a daily sine with small Gaussian noise
  art_daily_perfect_square   a perfect daily square wave (two levels)
  art_flatline               a constant
  art_noise                  pure Gaussian noise around a level
artificialWithAnomaly (5-minute, 4,032 rows; one labelled onset each)
  art_daily_jumpsup          daily pattern; the level rises for about a day
  art_daily_jumpsdown        daily pattern; the level falls for about a day
  art_daily_flatmiddle       the daily pattern goes flat at its mean for about a day
  art_daily_nojump           a daily step up (the day's busy hours) fails to happen once
  art_increase_spike_density noise with rare spikes that become frequent (onset labelled)
  art_load_balancer_spikes   noisy base with regular small spikes; a run of tall ones
realAWSCloudwatch (5-minute, 4,032 rows)
  ec2_cpu_utilization_spike  noisy low CPU %, one short spike of 3.5-6 sigma
  ec2_network_in_ramp        network bytes; a ramp over several hours to a higher level
realKnownCause
  cpu_utilization_asg_misconfiguration  5-min, ~18k rows: CPU % of an autoscaling
                             group, a sustained level shift for days
  machine_temperature_system_failure    5-min, ~20k rows: 2-4 failures, each a
                             slow drift down then a drop (labelled at the drift's start)
  ec2_request_latency_system_failure    5-min, 4,032 rows: latency, 1-3 bursts of spikes
  nyc_taxi                   30-min, 10,320 rows: weekly + daily demand; two holidays
                             lower than usual and one storm day that collapses
  ambient_temperature_system_failure    hourly, ~7.2k rows: office temperature with
                             a daily and weekly HVAC cycle; an HVAC failure (slow
                             rise) and a cold dip
realTweets (5-minute)
  twitter_volume_steady      4,032 rows: heavy-tailed counts with daily seasonality, no anomaly
  twitter_volume_bursts      ~15.5k rows: the same with 2-3 large decaying bursts
realAdExchange (hourly, ~1.6k rows)
  exchange_cpc_level_change  cost per click with a daily cycle; a sustained level change
  exchange_cpm_dip           cost per mille; a dip of a few sigma for several hours
realTraffic
  speed_sensor               5-min, 4,032 rows: speed with weekday rush-hour dips; an
                             incident drops it suddenly
  travel_time                30-min, ~2.9k rows: travel time with rush hours; an incident
                             lengthens it for a few hours
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

WINDOW_FRACTION = 0.10  # NAB: all windows of a file together span 10 % of its rows
DAY = 86400
ROW_FORMAT = "%Y-%m-%d %H:%M:%S"
LABEL_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


@dataclass
class Series:
    """One generated file: its rows, where its anomalies start and how to print values."""

    category: str
    name: str
    start: datetime
    step: int  # seconds between rows
    values: list[float]
    anomalies: list[int] = field(default_factory=list)  # row indices of labelled onsets
    decimals: int = 3

    @property
    def path(self) -> str:
        return f"{self.category}/{self.name}.csv"

    def time(self, row: int) -> datetime:
        return self.start + timedelta(seconds=self.step * row)


# ---------------------------------------------------------------- helpers


def start_time(rng: random.Random, step: int) -> datetime:
    """A start between 2014-01-01 and 2015-06-30, on a multiple of `step` in the day."""
    day = datetime(2014, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(545))
    return day + timedelta(seconds=step * rng.randrange(DAY // step if step < DAY else 1))


def hours_of_day(start: datetime, step: int, n: int) -> list[float]:
    """The hour of day (0-24, fractional) of each row."""
    offset = start.hour * 3600 + start.minute * 60 + start.second
    return [((offset + i * step) % DAY) / 3600.0 for i in range(n)]


def weekdays(start: datetime, step: int, n: int) -> list[int]:
    """Monday = 0 ... Sunday = 6 of each row."""
    return [(start + timedelta(seconds=i * step)).weekday() for i in range(n)]


def rows_for(hours: float, step: int) -> int:
    return max(1, round(hours * 3600 / step))


def onset(rng: random.Random, n: int, lo: float = 0.2, hi: float = 0.85) -> int:
    """An anomaly's first row, after the first 20 % of the file."""
    return int(rng.uniform(lo, hi) * n)


def bump(hour: float, centre: float, width: float) -> float:
    """A Gaussian bump of height 1 over the hour of day, wrapping at midnight."""
    d = min(abs(hour - centre), 24.0 - abs(hour - centre))
    return math.exp(-0.5 * (d / width) ** 2)


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def heavy_counts(rng: random.Random, rates: list[float], shape: float) -> list[float]:
    """Over-dispersed counts: Poisson of a gamma-mixed, log-normally jittered rate."""
    return [
        float(poisson(rng, r * rng.gammavariate(shape, 1.0 / shape) * rng.lognormvariate(0, 0.25)))
        for r in rates
    ]


def daily_sine(rng: random.Random, n: int, step: int, start: datetime) -> tuple[list[float], float]:
    """A daily sine around a random level; returns the values and the amplitude."""
    level = rng.uniform(20.0, 80.0)
    amp = rng.uniform(0.2, 0.5) * level
    peak = rng.uniform(0.0, 24.0)
    hours = hours_of_day(start, step, n)
    return [level + amp * math.cos(2 * math.pi * (h - peak) / 24.0) for h in hours], amp


def noisy(rng: random.Random, values: list[float], sigma: float) -> list[float]:
    return [v + rng.gauss(0.0, sigma) for v in values]


def clip(values: list[float], lo: float, hi: float = math.inf) -> list[float]:
    return [min(max(v, lo), hi) for v in values]


# ---------------------------------------------------------------- artificialNoAnomaly

FIVE_MIN, HALF_HOUR, HOUR = 300, 1800, 3600
TWO_WEEKS = 4032  # 14 days of 5-minute rows


def art_daily_no_noise(rng: random.Random) -> Series:
    start = start_time(rng, FIVE_MIN)
    values, _ = daily_sine(rng, TWO_WEEKS, FIVE_MIN, start)
    return Series("artificialNoAnomaly", "art_daily_no_noise", start, FIVE_MIN, values)


def art_daily_small_noise(rng: random.Random) -> Series:
    start = start_time(rng, FIVE_MIN)
    values, amp = daily_sine(rng, TWO_WEEKS, FIVE_MIN, start)
    values = noisy(rng, values, amp * rng.uniform(0.02, 0.06))
    return Series("artificialNoAnomaly", "art_daily_small_noise", start, FIVE_MIN, values)


def art_daily_perfect_square(rng: random.Random) -> Series:
    start = start_time(rng, FIVE_MIN)
    low = rng.uniform(10.0, 40.0)
    high = low + rng.uniform(20.0, 60.0)
    on, length = rng.uniform(0.0, 24.0), rng.uniform(6.0, 14.0)
    hours = hours_of_day(start, FIVE_MIN, TWO_WEEKS)
    values = [high if (h - on) % 24.0 < length else low for h in hours]
    return Series("artificialNoAnomaly", "art_daily_perfect_square", start, FIVE_MIN, values)


def art_flatline(rng: random.Random) -> Series:
    start = start_time(rng, FIVE_MIN)
    level = rng.uniform(10.0, 100.0)
    return Series("artificialNoAnomaly", "art_flatline", start, FIVE_MIN, [level] * TWO_WEEKS)


def art_noise(rng: random.Random) -> Series:
    start = start_time(rng, FIVE_MIN)
    level = rng.uniform(20.0, 80.0)
    values = noisy(rng, [level] * TWO_WEEKS, level * rng.uniform(0.02, 0.15))
    return Series("artificialNoAnomaly", "art_noise", start, FIVE_MIN, values)


def tweet_rates(rng: random.Random, n: int, start: datetime) -> list[float]:
    """Tweets per 5 minutes: a daily cycle (evening peak, night trough) and a weekly tilt."""
    base = rng.uniform(8.0, 60.0)
    peak, depth = rng.uniform(17.0, 22.0), rng.uniform(0.4, 0.8)
    hours = hours_of_day(start, FIVE_MIN, n)
    days = weekdays(start, FIVE_MIN, n)
    weekend = rng.uniform(0.75, 1.15)
    return [
        base
        * (1.0 - depth + depth * (0.5 + 0.5 * math.cos(2 * math.pi * (h - peak) / 24.0)))
        * (weekend if d >= 5 else 1.0)
        for h, d in zip(hours, days, strict=True)
    ]


def twitter_volume_steady(rng: random.Random) -> Series:
    start = start_time(rng, FIVE_MIN)
    values = heavy_counts(rng, tweet_rates(rng, TWO_WEEKS, start), rng.uniform(3.0, 6.0))
    return Series("realTweets", "twitter_volume_steady", start, FIVE_MIN, values, decimals=0)


# ---------------------------------------------------------------- artificialWithAnomaly


def daily_with_noise(rng: random.Random) -> tuple[datetime, list[float], float, float]:
    """A noisy daily sine: start, values, amplitude, noise sigma."""
    start = start_time(rng, FIVE_MIN)
    values, amp = daily_sine(rng, TWO_WEEKS, FIVE_MIN, start)
    sigma = amp * rng.uniform(0.03, 0.1)
    return start, noisy(rng, values, sigma), amp, sigma


def art_daily_jump(rng: random.Random, up: bool) -> Series:
    start, values, amp, sigma = daily_with_noise(rng)
    first = onset(rng, TWO_WEEKS, hi=0.8)
    shift = rng.uniform(max(3.0 * sigma, 0.25 * amp), 1.2 * amp) * (1 if up else -1)
    for i in range(first, min(TWO_WEEKS, first + rows_for(rng.uniform(20.0, 28.0), FIVE_MIN))):
        values[i] += shift
    name = "art_daily_jumpsup" if up else "art_daily_jumpsdown"
    return Series("artificialWithAnomaly", name, start, FIVE_MIN, values, [first])


def art_daily_jumpsup(rng: random.Random) -> Series:
    return art_daily_jump(rng, up=True)


def art_daily_jumpsdown(rng: random.Random) -> Series:
    return art_daily_jump(rng, up=False)


def art_daily_flatmiddle(rng: random.Random) -> Series:
    start = start_time(rng, FIVE_MIN)
    clean, amp = daily_sine(rng, TWO_WEEKS, FIVE_MIN, start)
    sigma = amp * rng.uniform(0.03, 0.1)
    level = sum(clean) / len(clean)
    first = onset(rng, TWO_WEEKS, hi=0.8)
    last = min(TWO_WEEKS, first + rows_for(rng.uniform(20.0, 28.0), FIVE_MIN))
    values = [level if first <= i < last else v for i, v in enumerate(clean)]
    values = noisy(rng, values, sigma)
    return Series("artificialWithAnomaly", "art_daily_flatmiddle", start, FIVE_MIN, values, [first])


def art_daily_nojump(rng: random.Random) -> Series:
    """Each day the value steps up for the busy hours and back; one day it stays low."""
    start = start_time(rng, FIVE_MIN)
    low = rng.uniform(10.0, 40.0)
    high = low + rng.uniform(15.0, 50.0)
    sigma = (high - low) * rng.uniform(0.03, 0.08)
    on, length = rng.uniform(6.0, 10.0), rng.uniform(8.0, 12.0)
    hours = hours_of_day(start, FIVE_MIN, TWO_WEEKS)
    busy = [(h - on) % 24.0 < length for h in hours]
    # The missed jump: the first busy row of a day after the first 20 % of the file.
    starts = [i for i in range(1, TWO_WEEKS) if busy[i] and not busy[i - 1]]
    candidates = [i for i in starts if 0.2 * TWO_WEEKS <= i <= 0.85 * TWO_WEEKS]
    first = rng.choice(candidates)
    values = []
    for i, b in enumerate(busy):
        missed = first <= i < first + rows_for(length, FIVE_MIN)
        values.append((high if b and not missed else low) + rng.gauss(0.0, sigma))
    return Series("artificialWithAnomaly", "art_daily_nojump", start, FIVE_MIN, values, [first])


def art_increase_spike_density(rng: random.Random) -> Series:
    start = start_time(rng, FIVE_MIN)
    level = rng.uniform(10.0, 40.0)
    sigma = level * rng.uniform(0.02, 0.06)
    height = rng.uniform(5.0, 15.0) * sigma
    rare, dense = rng.uniform(0.001, 0.003), rng.uniform(0.03, 0.08)
    change = onset(rng, TWO_WEEKS)
    values, first = [], -1
    for i in range(TWO_WEEKS):
        spike = rng.random() < (dense if i >= change else rare)
        if spike and i >= change and first < 0:
            first = i
        values.append(
            level + rng.gauss(0.0, sigma) + (height * rng.uniform(0.7, 1.3) if spike else 0.0)
        )
    return Series(
        "artificialWithAnomaly", "art_increase_spike_density", start, FIVE_MIN, values, [first]
    )


def art_load_balancer_spikes(rng: random.Random) -> Series:
    start = start_time(rng, FIVE_MIN)
    level = rng.uniform(0.5, 5.0)
    sigma = level * rng.uniform(0.05, 0.15)
    values = [max(0.0, level + rng.gauss(0.0, sigma)) for _ in range(TWO_WEEKS)]
    usual = rng.uniform(3.0, 6.0) * sigma
    every = rows_for(rng.uniform(2.0, 6.0), FIVE_MIN)
    for i in range(rng.randrange(every), TWO_WEEKS, every):
        values[i] += usual * rng.uniform(0.8, 1.2)
    first = onset(rng, TWO_WEEKS)
    burst = rows_for(rng.uniform(1.5, 4.0), FIVE_MIN)
    tall = usual * rng.uniform(2.0, 5.0)
    values[first] += tall
    for i in range(first + 1, min(TWO_WEEKS, first + burst)):
        if rng.random() < 0.35:
            values[i] += tall * rng.uniform(0.6, 1.2)
    return Series(
        "artificialWithAnomaly", "art_load_balancer_spikes", start, FIVE_MIN, values, [first]
    )


# ---------------------------------------------------------------- realAWSCloudwatch


def ec2_cpu_utilization_spike(rng: random.Random) -> Series:
    start = start_time(rng, FIVE_MIN)
    level = rng.uniform(2.0, 12.0)
    sigma = level * rng.uniform(0.04, 0.1)
    values = [level + rng.gauss(0.0, sigma) for _ in range(TWO_WEEKS)]
    first = onset(rng, TWO_WEEKS)
    for i in range(first, first + rng.randint(1, 3)):
        values[i] += rng.uniform(3.5, 6.0) * sigma
    return Series(
        "realAWSCloudwatch",
        "ec2_cpu_utilization_spike",
        start,
        FIVE_MIN,
        clip(values, 0.0, 100.0),
        [first],
    )


def ec2_network_in_ramp(rng: random.Random) -> Series:
    start = start_time(rng, FIVE_MIN)
    level = rng.uniform(2e6, 5e7)
    hours = hours_of_day(start, FIVE_MIN, TWO_WEEKS)
    amp, peak = rng.uniform(0.1, 0.3), rng.uniform(10.0, 16.0)
    first = onset(rng, TWO_WEEKS)
    ramp = rows_for(rng.uniform(3.0, 8.0), FIVE_MIN)
    rise = rng.uniform(0.3, 1.0)
    values = []
    for i, h in enumerate(hours):
        step_up = rise * min(1.0, max(0.0, (i - first) / ramp))
        base = level * (1.0 + amp * math.cos(2 * math.pi * (h - peak) / 24.0) + step_up)
        values.append(max(0.0, base * rng.lognormvariate(0.0, 0.08)))
    return Series(
        "realAWSCloudwatch", "ec2_network_in_ramp", start, FIVE_MIN, values, [first], decimals=0
    )


# ---------------------------------------------------------------- realKnownCause


def cpu_utilization_asg_misconfiguration(rng: random.Random) -> Series:
    n = rng.randint(17000, 19000)
    start = start_time(rng, FIVE_MIN)
    level, amp = rng.uniform(25.0, 45.0), rng.uniform(3.0, 10.0)
    sigma = rng.uniform(1.0, 3.0)
    peak = rng.uniform(12.0, 18.0)
    first = onset(rng, n, hi=0.7)
    last = first + rows_for(rng.uniform(72.0, 144.0), FIVE_MIN)
    shift = rng.uniform(3.0, 10.0) * sigma * rng.choice((1.0, 1.0, -1.0))
    hours = hours_of_day(start, FIVE_MIN, n)
    values = [
        level
        + amp * math.cos(2 * math.pi * (h - peak) / 24.0)
        + (shift if first <= i < last else 0.0)
        + rng.gauss(0.0, sigma)
        for i, h in enumerate(hours)
    ]
    return Series(
        "realKnownCause",
        "cpu_utilization_asg_misconfiguration",
        start,
        FIVE_MIN,
        clip(values, 0.0, 100.0),
        [first],
    )


def machine_temperature_system_failure(rng: random.Random) -> Series:
    n = rng.randint(19000, 22000)
    start = start_time(rng, FIVE_MIN)
    level = rng.uniform(75.0, 95.0)
    sigma = rng.uniform(0.5, 1.5)
    # A slow wander (AR(1)) around the running level, plus noise.
    wander, drift = [], 0.0
    for _ in range(n):
        drift = 0.995 * drift + rng.gauss(0.0, 0.15)
        wander.append(drift)
    offset = [0.0] * n
    events = rng.randint(2, 4)
    lo, hi = int(0.2 * n), int(0.95 * n)
    slot = (hi - lo) // events
    anomalies = []
    for e in range(events):
        fall = rows_for(rng.uniform(6.0, 36.0), FIVE_MIN)  # the drift down before the failure
        down = rows_for(rng.uniform(2.0, 24.0), FIVE_MIN)  # the machine off
        back = rows_for(rng.uniform(1.0, 6.0), FIVE_MIN)  # the return to the level
        length = fall + down + back
        first = lo + e * slot + rng.randrange(max(1, slot - length))
        sag, drop = rng.uniform(3.0, 10.0), rng.uniform(15.0, 50.0)
        for k in range(length):
            i = first + k
            if i >= n:
                break
            if k < fall:
                offset[i] = -sag * k / fall
            elif k < fall + down:
                offset[i] = -sag - drop
            else:
                offset[i] = (-sag - drop) * (1.0 - (k - fall - down) / back)
        anomalies.append(first)
    values = [level + w + o + rng.gauss(0.0, sigma) for w, o in zip(wander, offset, strict=True)]
    return Series(
        "realKnownCause", "machine_temperature_system_failure", start, FIVE_MIN, values, anomalies
    )


def ec2_request_latency_system_failure(rng: random.Random) -> Series:
    start = start_time(rng, FIVE_MIN)
    level = rng.uniform(30.0, 60.0)
    values = [level * rng.lognormvariate(0.0, 0.03) for _ in range(TWO_WEEKS)]
    for i in range(TWO_WEEKS):  # the odd slow request in normal operation
        if rng.random() < 0.004:
            values[i] *= rng.uniform(1.05, 1.25)
    bursts = rng.randint(1, 3)
    lo, hi = int(0.2 * TWO_WEEKS), int(0.9 * TWO_WEEKS)
    slot = (hi - lo) // bursts
    anomalies = []
    for b in range(bursts):
        length = rows_for(rng.uniform(0.5, 3.0), FIVE_MIN)
        first = lo + b * slot + rng.randrange(max(1, slot - length))
        height = rng.uniform(0.2, 1.5)
        values[first] *= 1.0 + height
        for i in range(first + 1, first + length):
            if rng.random() < 0.5:
                values[i] *= 1.0 + height * rng.uniform(0.5, 1.5)
        anomalies.append(first)
    return Series(
        "realKnownCause", "ec2_request_latency_system_failure", start, FIVE_MIN, values, anomalies
    )


def taxi_shape(hour: float, weekday: int) -> float:
    """Relative taxi demand by hour of day: night trough, morning and evening peaks."""
    if weekday >= 5:  # weekends: a late morning, busy nights
        return (
            0.35
            + 0.5 * bump(hour, 13.0, 4.0)
            + 0.55 * bump(hour, 22.0, 3.0)
            + 0.3 * bump(hour, 1.0, 2.0)
        )
    return (
        0.15
        + 0.7 * bump(hour, 8.5, 1.5)
        + 0.85 * bump(hour, 19.0, 2.5)
        + 0.4 * bump(hour, 13.0, 3.0)
    )


def nyc_taxi(rng: random.Random) -> Series:
    n = 10320  # 215 days of half-hours
    start = datetime(2014, 7, 1, tzinfo=UTC) + timedelta(days=rng.randrange(90))
    base = rng.uniform(12000.0, 20000.0)
    hours = hours_of_day(start, HALF_HOUR, n)
    days = weekdays(start, HALF_HOUR, n)
    per_day = DAY // HALF_HOUR
    first_day, last_day = math.ceil(0.2 * n / per_day), int(0.92 * n / per_day)
    chosen = rng.sample(range(first_day, last_day), 3)
    holidays, storm = sorted(chosen[:2]), chosen[2]
    factor = [1.0] * n
    for d in holidays:
        low = rng.uniform(0.55, 0.8)
        for i in range(d * per_day, (d + 1) * per_day):
            factor[i] = low
    collapse = rng.uniform(0.1, 0.35)
    for i in range(storm * per_day, (storm + 1) * per_day):
        factor[i] = collapse
    values = [
        base * taxi_shape(h, d) * f * rng.lognormvariate(0.0, 0.04)
        for h, d, f in zip(hours, days, factor, strict=True)
    ]
    # The day boundaries relative to the start: the start is at midnight.
    anomalies = sorted(d * per_day for d in chosen)
    return Series("realKnownCause", "nyc_taxi", start, HALF_HOUR, values, anomalies, decimals=0)


def ambient_temperature_system_failure(rng: random.Random) -> Series:
    n = rng.randint(7000, 7400)
    start = start_time(rng, HOUR)
    set_point = rng.uniform(68.0, 74.0)
    sigma = rng.uniform(0.3, 0.8)
    hours = hours_of_day(start, HOUR, n)
    days = weekdays(start, HOUR, n)
    season, phase = rng.uniform(1.0, 3.0), rng.uniform(0.0, 2 * math.pi)
    offset = [0.0] * n
    failure = onset(rng, n, hi=0.5)  # the HVAC fails: a rise over a day, held, then repaired
    rise, held = rng.randint(8, 30), rng.randint(12, 72)
    heat = rng.uniform(3.0, 10.0)
    for k in range(rise + held):
        if failure + k < n:
            offset[failure + k] = heat * min(1.0, k / rise)
    cold = onset(rng, n, lo=0.6, hi=0.9)  # a cold spell: a dip over a few hours
    dip, length = rng.uniform(2.5, 6.0), rng.randint(4, 16)
    for k in range(length):
        offset[cold + k] -= dip
    values = [
        set_point
        + season * math.sin(2 * math.pi * i / (365 * 24) + phase)
        + (1.2 * bump(h, 15.0, 4.0) if d < 5 else -1.0)
        + o
        + rng.gauss(0.0, sigma)
        for i, (h, d, o) in enumerate(zip(hours, days, offset, strict=True))
    ]
    return Series(
        "realKnownCause",
        "ambient_temperature_system_failure",
        start,
        HOUR,
        values,
        [failure, cold],
        decimals=4,
    )


# ---------------------------------------------------------------- realTweets


def twitter_volume_bursts(rng: random.Random) -> Series:
    n = rng.randint(15000, 16000)
    start = start_time(rng, FIVE_MIN)
    rates = tweet_rates(rng, n, start)
    bursts = rng.randint(2, 3)
    lo, hi = int(0.2 * n), int(0.92 * n)
    slot = (hi - lo) // bursts
    anomalies = []
    for b in range(bursts):
        first = lo + b * slot + rng.randrange(slot // 2)
        factor = rng.uniform(3.0, 15.0)
        decay = rows_for(rng.uniform(0.5, 4.0), FIVE_MIN)
        for k in range(min(n - first, 8 * decay)):
            rates[first + k] *= 1.0 + (factor - 1.0) * math.exp(-k / decay)
        anomalies.append(first)
    values = heavy_counts(rng, rates, rng.uniform(3.0, 6.0))
    return Series(
        "realTweets", "twitter_volume_bursts", start, FIVE_MIN, values, anomalies, decimals=0
    )


# ---------------------------------------------------------------- realAdExchange


def ad_exchange(
    rng: random.Random, n: int, start: datetime, level: float
) -> tuple[list[float], float]:
    """An hourly ad price with a daily cycle: the clean values and the relative noise."""
    amp, peak = rng.uniform(0.05, 0.25), rng.uniform(12.0, 21.0)
    hours = hours_of_day(start, HOUR, n)
    clean = [level * (1.0 + amp * math.cos(2 * math.pi * (h - peak) / 24.0)) for h in hours]
    return clean, rng.uniform(0.04, 0.1)


def exchange_cpc_level_change(rng: random.Random) -> Series:
    n = rng.randint(1550, 1650)
    start = start_time(rng, HOUR)
    clean, noise = ad_exchange(rng, n, start, rng.uniform(0.1, 0.6))
    first = onset(rng, n)
    change = rng.choice((rng.uniform(0.6, 0.8), rng.uniform(1.3, 1.7)))
    values = [
        v * (change if i >= first else 1.0) * rng.lognormvariate(0.0, noise)
        for i, v in enumerate(clean)
    ]
    return Series(
        "realAdExchange", "exchange_cpc_level_change", start, HOUR, values, [first], decimals=6
    )


def exchange_cpm_dip(rng: random.Random) -> Series:
    n = rng.randint(1500, 1650)
    start = start_time(rng, HOUR)
    clean, noise = ad_exchange(rng, n, start, rng.uniform(0.8, 3.0))
    first = onset(rng, n)
    length, depth = rng.randint(6, 12), rng.uniform(3.0, 5.0) * noise
    values = [
        v * (1.0 - depth if first <= i < first + length else 1.0) * rng.lognormvariate(0.0, noise)
        for i, v in enumerate(clean)
    ]
    return Series("realAdExchange", "exchange_cpm_dip", start, HOUR, values, [first], decimals=6)


# ---------------------------------------------------------------- realTraffic


def speed_sensor(rng: random.Random) -> Series:
    start = start_time(rng, FIVE_MIN)
    free = rng.uniform(55.0, 70.0)
    am, pm = rng.uniform(5.0, 20.0), rng.uniform(8.0, 25.0)
    sigma = rng.uniform(1.5, 4.0)
    hours = hours_of_day(start, FIVE_MIN, TWO_WEEKS)
    days = weekdays(start, FIVE_MIN, TWO_WEEKS)
    first = onset(rng, TWO_WEEKS)
    length = rows_for(rng.uniform(0.5, 3.0), FIVE_MIN)
    incident = rng.uniform(10.0, 30.0)
    values = []
    for i, (h, d) in enumerate(zip(hours, days, strict=True)):
        speed = free - ((am * bump(h, 8.0, 1.0) + pm * bump(h, 17.5, 1.3)) if d < 5 else 0.0)
        if first <= i < first + length:
            speed = min(speed, incident)
        values.append(max(0.0, speed + rng.gauss(0.0, sigma)))
    return Series("realTraffic", "speed_sensor", start, FIVE_MIN, values, [first], decimals=0)


def travel_time(rng: random.Random) -> Series:
    n = rng.randint(2800, 3000)
    start = start_time(rng, HALF_HOUR)
    free = rng.uniform(200.0, 600.0)  # seconds
    am, pm = rng.uniform(0.2, 0.6), rng.uniform(0.3, 0.8)
    hours = hours_of_day(start, HALF_HOUR, n)
    days = weekdays(start, HALF_HOUR, n)
    first = onset(rng, n)
    length = rng.randint(2, 8)
    slower = rng.uniform(1.5, 3.0)
    values = []
    for i, (h, d) in enumerate(zip(hours, days, strict=True)):
        rush = (am * bump(h, 8.0, 1.0) + pm * bump(h, 17.5, 1.2)) if d < 5 else 0.0
        value = free * (1.0 + rush) * rng.lognormvariate(0.0, 0.06)
        if first <= i < first + length:
            value *= slower
        values.append(value)
    return Series("realTraffic", "travel_time", start, HALF_HOUR, values, [first], decimals=0)


# ---------------------------------------------------------------- the corpus

GENERATORS: tuple[Callable[[random.Random], Series], ...] = (
    art_daily_no_noise,
    art_daily_small_noise,
    art_daily_perfect_square,
    art_flatline,
    art_noise,
    twitter_volume_steady,
    art_daily_jumpsup,
    art_daily_jumpsdown,
    art_daily_flatmiddle,
    art_daily_nojump,
    art_increase_spike_density,
    art_load_balancer_spikes,
    ec2_cpu_utilization_spike,
    ec2_network_in_ramp,
    cpu_utilization_asg_misconfiguration,
    machine_temperature_system_failure,
    ec2_request_latency_system_failure,
    nyc_taxi,
    ambient_temperature_system_failure,
    twitter_volume_bursts,
    exchange_cpc_level_change,
    exchange_cpm_dip,
    speed_sensor,
    travel_time,
)


def windows(series: Series) -> list[tuple[int, int]]:
    """NAB's windows as (first row, last row): int(10 % of rows / anomalies) rows centred
    on each anomaly, clipped to the file, overlapping ones merged."""
    n = len(series.values)
    if not series.anomalies:
        return []
    half = int(WINDOW_FRACTION * n / len(series.anomalies)) // 2
    merged: list[tuple[int, int]] = []
    for row in sorted(series.anomalies):
        first, last = max(0, row - half), min(n - 1, row + half)
        if merged and first <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def generate(seed: int) -> list[Series]:
    """Every file, each from its own stream: the seed and the file's name."""
    out = []
    for make in GENERATORS:
        series = make(random.Random(f"nab-synthetic:{seed}:{make.__name__}"))
        assert all(0 <= a < len(series.values) for a in series.anomalies), series.name
        out.append(series)
    return out


def write(corpus: list[Series], out: Path) -> dict[str, list[list[str]]]:
    labels: dict[str, list[list[str]]] = {}
    for series in corpus:
        path = out / "data" / series.path
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = ["timestamp,value"]
        for i, v in enumerate(series.values):
            value = f"{v:.{series.decimals}f}" if series.decimals else str(round(v))
            lines.append(f"{series.time(i).strftime(ROW_FORMAT)},{value}")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        labels[series.path] = [
            [series.time(a).strftime(LABEL_FORMAT), series.time(b).strftime(LABEL_FORMAT)]
            for a, b in windows(series)
        ]
    (out / "labels").mkdir(parents=True, exist_ok=True)
    (out / "labels" / "combined_windows.json").write_text(
        json.dumps(labels, indent=4, sort_keys=True) + "\n", encoding="utf-8"
    )
    return labels


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="the corpus directory to write")
    parser.add_argument("--seed", type=int, default=1, help="the corpus seed (default 1)")
    args = parser.parse_args()
    corpus = generate(args.seed)
    labels = write(corpus, args.out)
    rows = sum(len(s.values) for s in corpus)
    points = sum(len(s.anomalies) for s in corpus)
    spans = sum(len(w) for w in labels.values())
    categories = len({s.category for s in corpus})
    print(
        f"wrote {len(corpus)} files in {categories} categories ({rows} rows, {points} labelled "
        f"anomalies, {spans} windows, {sum(not s.anomalies for s in corpus)} files without) "
        f"to {args.out} (seed {args.seed}); our own generated data, not NAB's"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
