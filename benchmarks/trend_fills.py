"""How soon, and how truly, the trend tells a fill; and what it says of shapes that are not.

    .venv/bin/python benchmarks/trend_fills.py [--seeds 6]

Series of one point a minute (the history tier's bucket) go through the trend analyzer
alone, with its defaults (6-hour window, an hour of span, R² 0.8; a disk warns when
full within 24 h, critical within 6 h; memory within 6 h / 1 h).

* Fills after a flat stretch: a disk flat for 1, 3, 5 or 12 hours, then filling at 1,
  3, 10 or 30 points an hour, from 42 or 70 %, with noise of 0.02 or 0.3 points (64
  series).  For each: minutes from the fill's start to the first alert, and the rate
  and ETA it said against the truth.  Summary: the median minutes and the median
  relative error of the rate, and how many were never told within 30 hours.
* Fills in steps: a disk from 40 % that takes 2 or 4 points, written over 10 or 30
  minutes, every 1, 2 or 3 hours (a backup kept each time), noise 0.02 or 0.3, for a
  day.  For each: its alerts; summary: the FIRINGs in all, and how many series said
  more than one (a fill is one alert, escalated when it is due).
* Copies that stop: a disk flat at 50 or 70 % for 10 hours takes 2, 3, 6 or 10 points an
  hour for 30 minutes to 5 hours, then stays flat for 8 hours (noise 0.05 or 0.3).
  Summary: how many said a FIRING more than 5 minutes after the copy ended (a fill
  told while the disk is flat), and the minutes from its end to its last alert (the
  resolve), as median, 90th percentile and maximum.
* Shapes that are no fill, 30 hours each over `--seeds` seeds: flat noise, steps,
  ramps that stop, daily cycles (a log rotated at midnight, usage that goes back down
  overnight), and wandering series (a disk's usage as a random walk, a disk and a
  memory series as first-order autoregressive noise).  For each: the alert episodes
  (FIRINGs more than an hour after the previous one), which on a disk are warns a
  person would have to read.

Figures, with what changed them, are in docs/DESIGN.md (the twenty-fourth and
twenty-fifth passes).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.store import Store
from alerting.alert import Alert, Status
from analyzers.base import SeriesKey
from analyzers.trend import TrendAnalyzer

DISK = SeriesKey.of("disk_used_percent", mountpoint="/var", device="/dev/sda1")
MEMORY = SeriesKey.of("memory_used_percent")


def run(values: np.ndarray, key: SeriesKey = DISK) -> list[Alert]:
    store, trend, alerts = Store(400, 2000, 60.0), TrendAnalyzer(), []
    for i, value in enumerate(values.tolist()):
        batch = store.write_samples(i * 60.0, (key,), np.array([value]))
        alerts += trend.observe(batch, store)
    return alerts


def fills() -> None:
    rng = np.random.default_rng(7)
    late, rate_error, untold = [], [], 0
    print(
        "fills after a flat stretch: first alert, minutes into the fill; rate and ETA said / true"
    )
    for flat_h, rate, noise, start in itertools.product((1, 3, 5, 12), (1, 3, 10, 30), (0.02, 0.3), (42, 70)):  # fmt: skip
        flat = flat_h * 60
        minutes = flat + min(30 * 60, int((100 - start) / rate * 1.2 * 60))
        t = np.arange(minutes)
        values = start + rate * np.maximum(0, t - flat) / 60 + rng.normal(0, noise, t.size)
        firing = [a for a in run(np.minimum(values, 100.0)) if a.status is Status.FIRING]
        head = f"  flat {flat_h:>2} h, {rate:>2} points/h, noise {noise:<4}, from {start} %:"
        if not firing:
            untold += 1
            print(head, "never told")
            continue
        first = firing[0]
        after = first.timestamp / 60 - flat
        said_rate = float(first.context["rate_per_hour"]) / rate  # type: ignore[arg-type]
        said_eta = float(first.context["eta_hours"]) / ((100 - first.value) / rate)  # type: ignore[arg-type]
        late.append(after)
        rate_error.append(abs(said_rate - 1))
        print(
            head,
            f"{after:5.0f} min, rate x{said_rate:.2f}, ETA x{said_eta:.2f}, {first.severity.label}",
        )
    print(f"  median minutes into the fill: {np.median(late):.0f}; median rate error: "
          f"{100 * np.median(rate_error):.1f} %; never told: {untold} of 64")  # fmt: skip


def said(alerts: list[Alert]) -> str:
    return "; ".join(
        f"{a.timestamp / 3600:.1f} h {a.status.value} {a.severity.label}" for a in alerts
    )


def steps() -> None:
    rng = np.random.default_rng(11)
    again, firings = 0, 0
    print("fills in steps, a day from 40 %: alerts (hours)")
    for every, size, write, noise in itertools.product((60, 120, 180), (2, 4), (10, 30), (0.02, 0.3)):  # fmt: skip
        t = np.arange(24 * 60)
        written = size * (t // every + np.clip((t % every) / write, 0, 1))
        alerts = run(np.minimum(40 + written + rng.normal(0, noise, t.size), 100.0))
        fired = sum(a.status is Status.FIRING for a in alerts)
        again, firings = again + (fired > 1), firings + fired
        print(
            f"  +{size} in {write:>2} min every {every:>3} min, noise {noise:<4}: {said(alerts) or '-'}"
        )
    print(f"  FIRINGs in all: {firings}; series with more than one: {again} of 24")


def copies() -> None:
    rng = np.random.default_rng(3)
    told_flat, last = 0, []
    for minutes, rate, start, noise in itertools.product((30, 60, 90, 120, 180, 300), (2, 3, 6, 10), (50, 70), (0.05, 0.3)):  # fmt: skip
        flat = 600
        t = np.arange(flat + minutes + 8 * 60)
        copied = rate / 60 * np.clip(t - flat, 0, minutes)
        alerts = run(np.minimum(start + copied + rng.normal(0, noise, t.size), 100.0))
        end = (flat + minutes) * 60
        told_flat += any(a.status is Status.FIRING and a.timestamp > end + 300 for a in alerts)
        if alerts:
            last.append(max(0.0, alerts[-1].timestamp - end) / 60)
    q50, q90, top = np.percentile(last, [50, 90, 100])
    print(f"copies that stop ({len(last)} of 96 told): a FIRING while flat after it: {told_flat}; "
          f"minutes from its end to its last alert: median {q50:.0f}, 90th {q90:.0f}, max {top:.0f}")  # fmt: skip


def ar(rng: np.random.Generator, n: int, phi: float, step: float) -> np.ndarray:
    wander = np.zeros(n)
    shocks = rng.normal(0, step, n)
    for i in range(1, n):
        wander[i] = phi * wander[i - 1] + shocks[i]
    return wander


def shapes(seed: int) -> Iterator[tuple[str, SeriesKey, np.ndarray]]:
    rng = np.random.default_rng(100 + seed)
    n = 30 * 60
    t = np.arange(n)
    day = (t % 1440) / 60
    yield "disk: noise 0.3", DISK, 50 + rng.normal(0, 0.3, n)
    yield "disk: noise 1", DISK, 50 + rng.normal(0, 1, n)
    yield "disk: step +5, then flat", DISK, 50 + 5 * (t > 600) + rng.normal(0, 0.05, n)
    yield "disk: ramp +8 in 30 min, then flat", DISK, 50 + np.clip((t - 600) / 30, 0, 1) * 8 + rng.normal(0, 0.05, n)  # fmt: skip
    yield "disk: ramp +6 in 90 min, then flat", DISK, 50 + np.clip((t - 600) / 90, 0, 1) * 6 + rng.normal(0, 0.05, n)  # fmt: skip
    by_day = np.where((day > 8) & (day < 20), day - 8, np.where(day >= 20, 12.0, 0.0))
    yield "disk: +12 by day, rotated at midnight", DISK, 60 + by_day + rng.normal(0, 0.05, n)
    overnight = np.where(day >= 20, 12 - (day - 20) * 3, by_day)
    yield "disk: +12 by day, back down overnight", DISK, 60 + overnight + rng.normal(0, 0.05, n)
    for step in (0.05, 0.1, 0.2):
        walk = np.clip(50 + np.cumsum(rng.normal(0, step, n)), 0, 100)
        yield f"disk: random walk, {step} a minute", DISK, walk
    for phi, step in ((0.99, 0.3), (0.995, 0.3), (0.999, 0.1)):
        wander = ar(rng, n, phi, step)
        yield f"disk: AR({phi}), {step} a minute", DISK, np.clip(60 + wander + rng.normal(0, 0.05, n), 0, 100)  # fmt: skip
        yield f"memory: AR({phi}), {step} a minute", MEMORY, np.clip(60 + wander + rng.normal(0, 0.2, n), 0, 100)  # fmt: skip


def episodes(alerts: list[Alert]) -> int:
    count, last = 0, -np.inf
    for alert in alerts:
        if alert.status is Status.FIRING:
            count += alert.timestamp - last > 3600
            last = alert.timestamp
    return count


def no_fills(seeds: int) -> None:
    totals: dict[str, int] = {}
    for seed in range(seeds):
        for name, key, values in shapes(seed):
            totals[name] = totals.get(name, 0) + episodes(run(values, key))
    print(f"shapes that are no fill: alert episodes over {seeds} series of 30 h each")
    for name, count in totals.items():
        print(f"  {name:<40} {count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args()
    fills()
    steps()
    copies()
    no_fills(args.seeds)


if __name__ == "__main__":
    main()
