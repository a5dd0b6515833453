"""Does pure noise alert?  Independent samples of several shapes, replayed at the agent's
10 s and at CloudWatch's 5 minutes, counted.

    .venv/bin/python benchmarks/noise_alerts.py [--series 3] [--metric NAME] [--config FILE]
        [--jobs 2]

Issue #14 asks that pure noise (independent fluctuations, however many samples) never
alert.  Each series here is independent draws around a level, nothing else: no
anomaly, no cycle.  It goes through `agent.replay.replay`, the daemon's own path, with
the default analyzers (or `--config`), and every FIRING of a statistical analyzer
(z-score, season, EMA) is counted; thresholds are left out, since a level over a
threshold is a real crossing whatever made it.  The metric name decides the family
(default: the unit-less `series_value`, which alerts in both directions with a floor
of 5 % of the series' own scale: the strictest case; `--metric cpu_usage_percent`
gives CPU's floor and direction).

Shapes, each around a level of 10 with a spread of about 1 (lognormal, exponential and
Poisson have their own): Gaussian, uniform, Laplace, Student's t with 3 degrees of
freedom (heavy tails: a sample beyond 6σ about once in 1,500), lognormal with σ 0.5
and 1 (a latency, a queue length), exponential (inter-arrival times), Poisson counts
with mean 5; and, not independent, first-order autoregressive noise with phi 0.9 and
0.99 (a wander whose correlation lasts 10 and 100 samples), to show where persistence
stops being enough.  At 10 s each series is two days (the first hour is learning); at 5
minutes it is 14 days (4,032 samples, a NAB file's length), where a sample covers
more than half of `anomaly_persist_secs`, so one or two samples can fire (the short
path, docs/DESIGN.md "Analyzers"): its 6σ and "beyond every sample of the baseline
window" are what hold heavy tails there.

Output: per shape and interval, the alerts counted, the series with at least one,
and alerts per series-week.  Figures are in docs/DESIGN.md ("Alert quality:
measurement", ninth pass).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.replay import UNITLESS_METRIC, Recording, replay
from alerting.alert import Status
from analyzers.base import SeriesKey
from benchmarks.nab_score import bad_config, load_settings

Draw = Callable[[np.random.Generator, int], np.ndarray]

SHAPES: dict[str, Draw] = {
    "gaussian": lambda rng, n: rng.normal(10.0, 1.0, n),
    "uniform": lambda rng, n: rng.uniform(10.0 - 3**0.5, 10.0 + 3**0.5, n),
    "laplace": lambda rng, n: rng.laplace(10.0, 2**-0.5, n),
    "student-t3": lambda rng, n: 10.0 + rng.standard_t(3, n) / 3**0.5,
    "lognormal-0.5": lambda rng, n: rng.lognormal(0.0, 0.5, n),
    "lognormal-1": lambda rng, n: rng.lognormal(0.0, 1.0, n),
    "exponential": lambda rng, n: rng.exponential(1.0, n),
    "poisson-5": lambda rng, n: rng.poisson(5.0, n).astype(np.float64),
    # Not independent: first-order autoregressive noise (each sample phi times the one
    # before plus a fresh draw; spread 1), a slow wander.  Where persistence stops helping.
    "ar1-0.9": lambda rng, n: 10.0 + _ar1(rng, n, 0.9),
    "ar1-0.99": lambda rng, n: 10.0 + _ar1(rng, n, 0.99),
}


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    fresh = rng.normal(0.0, (1.0 - phi * phi) ** 0.5, n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, 1.0)  # started in its stationary spread
    for i in range(1, n):
        out[i] = phi * out[i - 1] + fresh[i]
    return out


INTERVALS = {"10 s": (10.0, 2 * 86400.0), "5 min": (300.0, 14 * 86400.0)}
STATISTICAL = ("zscore", "season", "ema")
START = 1_404_172_800.0  # 2014-07-01 00:00 UTC, a Tuesday


def alerts_of(shape: str, interval: str, index: int, metric: str, config: Path | None) -> int:
    """The statistical FIRINGs of one series (run in a worker process)."""
    step, span = INTERVALS[interval]
    n = int(span / step)
    rng = np.random.default_rng([list(SHAPES).index(shape), int(step), index])
    recording = Recording(START + step * np.arange(n), SHAPES[shape](rng, n), 0)
    key = SeriesKey(metric, (("series", f"{shape}-{index}"),))
    settings = load_settings(config)
    return sum(
        1
        for alert in replay(settings, recording, key)
        if alert.status is Status.FIRING and alert.analyzer in STATISTICAL
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=int, default=3, help="series per shape and interval")
    parser.add_argument("--metric", default=UNITLESS_METRIC, help="the name series replay as")
    parser.add_argument("--config", type=Path, help="a config file (default: the defaults)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    args = parser.parse_args()
    if args.series < 1 or args.jobs < 1:
        parser.error("--series and --jobs: at least 1")
    if bad_config(args.config, "noise_alerts.py"):
        return 2
    cells = [(s, i) for s in SHAPES for i in INTERVALS]
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = {
            (shape, interval, k): pool.submit(
                alerts_of, shape, interval, k, args.metric, args.config
            )
            for shape, interval in cells
            for k in range(args.series)
        }
        counts = {key: future.result() for key, future in futures.items()}
    print(f"{args.series} series per cell, metric {args.metric}: statistical FIRINGs, the series")
    print("with at least one, FIRINGs per series-week")
    print(f"{'':<15}" + "".join(f"{i:>32}" for i in INTERVALS))
    print(f"{'shape':<15}" + f"{'alerts':>14} {'series':>8} {'/week':>8}" * len(INTERVALS))
    total = 0
    for shape in SHAPES:
        row = f"{shape:<15}"
        for interval, (_, span) in INTERVALS.items():
            per = [counts[shape, interval, k] for k in range(args.series)]
            weeks = args.series * span / (7 * 86400.0)
            row += f"{sum(per):>14} {sum(1 for c in per if c):>8} {sum(per) / weeks:>8.2f}"
            total += sum(per)
        print(row)
    print(f"total {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
