"""CPU cost of the six analyzers per series per tick, and its independence of the window.

    .venv/bin/python benchmarks/analyzers.py [--ticks 60]

Series are spread over four metrics so that every analyzer has work:
cpu_usage_percent (threshold, z-score, EMA), network_receive_bytes_per_second
(z-score, EMA), disk_used_percent (threshold, trend) and process_rss_bytes
(leak).  Each tick writes one batch for all series and runs all analyzers on
it, as the runtime does; ticks are 10 s apart, so trend and leak (1-minute
history tier) work on every sixth tick, which the average includes.  The raw
ring is marked full before measuring, so the z-score's window arithmetic runs
in its steady state, and the history tier holds the minutes around this time
of day on the three earlier days and weeks, so that season (z-score's metrics)
runs its whole path with both models: the expectations, the choice, the
verdict and the residuals' statistics.
Goal: <= 2 µs per series per tick at 10,000 series, and the same cost at
window 360 and 8,640.  The last two rows hold a full 72-hour tier (what season
needs for a daily verdict on a host), at 10,000 series and at a host's 300: a
small batch pays each analyzer's per-tick overhead over fewer series.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.assembly import build_analyzers
from agent.settings import AnalyzerSettings, Settings, StorageSettings
from agent.store import Store
from analyzers.base import SeriesKey

DAY = 86_400.0
METRICS = (
    "cpu_usage_percent",
    "network_receive_bytes_per_second",
    "disk_used_percent",
    "process_rss_bytes",
)


def measure(series: int, window: int, ticks: int, tier_hours: int = 0) -> float:
    """Mean µs per series per tick over `ticks` ticks (after 12 warm-up ticks).  With
    `tier_hours`, the history tier holds that many hours of one-minute buckets, every one
    written (what season reads at storage.history_hours = 72); else 360 buckets written
    only around this time of day on the earlier days and weeks."""
    settings = Settings(
        # All six (EMA is opt-in), past their learning time: the steady state's verdicts.
        analyzer=AnalyzerSettings(
            enabled=("threshold", "zscore", "ema", "season", "trend", "leak"),
            zscore_window=window,
            anomaly_learning_secs=0.0,
        ),
        storage=StorageSettings(ring_buffer_capacity=window + 1, history_hours=6),
    )
    store = Store(window + 1, tier_hours * 60 or 360, 60.0)
    analyzers = build_analyzers(settings)
    keys = tuple(SeriesKey(METRICS[i % 4], (("id", str(i)),)) for i in range(series))
    store.ids_for(keys)
    for ring in store._rings:  # steady state: the z-score window is full
        ring.raw.count = ring.raw.capacity
    rng = np.random.default_rng(1)
    base = np.where(np.arange(series) % 4 == 1, 1e6, 50.0)
    start = 22 * DAY
    span = (12 + ticks) * 10.0
    if tier_hours:  # every minute of the tier, as a host that has run that long
        minutes = [start - m * 60.0 for m in range(tier_hours * 60, 0, -1)]
    else:  # the same minutes three days and weeks back (season)
        minutes = [start - day * DAY + m * 60.0 for day in (21, 14, 7, 3, 2, 1)
                   for m in range(-6, int(span // 60) + 7)]  # fmt: skip
    noise = 1 + 0.01 * rng.standard_normal(series)
    for at in minutes:
        store.write_samples(at, keys, base * np.roll(noise, int(at // 60) % series))
    timings = []
    for tick in range(12 + ticks):
        values = base * (1 + 0.01 * rng.standard_normal(series))
        started = time.process_time()
        batch = store.write_samples(start + tick * 10.0, keys, values)
        for analyzer in analyzers:
            analyzer.observe(batch, store)
        if tick >= 12:
            timings.append(time.process_time() - started)
    return float(np.mean(timings)) / series * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ticks", type=int, default=60)
    args = parser.parse_args()
    print(
        "store write + all six analyzers, mean CPU µs per series per tick (includes every 6th "
        "tick's trend/leak)"
    )
    print(f"{'series':>8}{'window':>8}{'µs/series/tick':>16}")
    rows = ((1_000, 360, 0), (10_000, 360, 0), (100_000, 360, 0), (10_000, 8_640, 0),
            (10_000, 360, 72), (300, 360, 72))  # fmt: skip
    for series, window, tier_hours in rows:
        cost = measure(series, window, args.ticks, tier_hours)
        goal = "   (goal <= 2)" if series == 10_000 else ""
        tier = f"   history tier {tier_hours} h, full" if tier_hours else ""
        print(f"{series:>8}{window:>8}{cost:>16.3f}{goal}{tier}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
