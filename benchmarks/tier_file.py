"""What keeping the history tier across a restart costs (agent/tier_file.py).

    .venv/bin/python benchmarks/tier_file.py [--series 1000,10000,20000] [--hours 24]

For each size: a store whose series all keep history (in 10 rings, as collectors
group them), the tier full (`hours` of one-minute buckets), then the daemon's
steps timed: `tier_file.keep` (a part copied on the event loop, written on a
thread, and so on), with the longest time it held the loop at once, the file's
size, and a start's read, check and take-back (`tier_file.restore`) into a new
store.
20,000 series is the default cap (`storage.max_series`); a host rarely keeps
history for more than a few hundred (the watched metrics only).

Then the raw tier kept at a clean stop (`tier_file.keep_recent`: an hour at
10 s of series z-score watches, with z-score's clocks of each, as the runtime
keeps them) and the next start's `tier_file.take_recent` with z-score going
through it (`warm_up`) and taking its clocks back: how long a start waits for
it before its first collection.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent import tier_file
from agent.store import Store
from analyzers.base import SeriesKey
from analyzers.zscore import ZScoreAnalyzer

RINGS = 10
START = 1_767_571_200.0
BOOT = "5a1d3c8e-0b7f-4e2a-9c61-2d4f8e0a7b13"  # one boot: samples of an unknown one are not used


def filled(series: int, hours: float) -> Store:
    buckets = int(hours * 60)
    store = Store(360, buckets, 60.0)
    rng = np.random.default_rng(1)
    groups = [
        [SeriesKey.of("process_rss_bytes", pid=str(i)) for i in range(g, series, RINGS)]
        for g in range(RINGS)
    ]
    for b in range(buckets + 1):  # one sample a minute: each closes the bucket before
        for g, keys in enumerate(groups):
            store.write_samples(START + 60.0 * b, keys, rng.normal(1e9, 1e6, len(keys)), f"g{g}")
    return store


def measure(series: int, hours: float, folder: Path) -> tuple[float, float, float, float]:
    """(longest turn of the loop while keeping, whole keep, read + take back, MiB)."""
    store = filled(series, hours)
    path = folder / f"{series}.bin"
    turns: list[float] = []

    async def keep() -> float:
        async def watch() -> None:  # how long the loop was held at a time
            while True:
                began = time.perf_counter()
                await asyncio.sleep(0)
                turns.append(time.perf_counter() - began)

        watcher = asyncio.create_task(watch())
        began = time.perf_counter()
        if not await tier_file.keep(store, path, START + hours * 3600, ""):
            raise SystemExit("the store changed under the copy")
        took = time.perf_counter() - began
        watcher.cancel()
        return took

    kept = asyncio.run(keep())
    fresh = Store(360, int(hours * 60), 60.0)
    began = time.perf_counter()
    taken = tier_file.restore(fresh, path, START + hours * 3600 + 120)
    restored = time.perf_counter() - began
    if taken != series:
        raise SystemExit(f"took back {taken} of {series} series")
    return max(turns), kept, restored, path.stat().st_size / 2**20


def measure_recent(series: int, folder: Path) -> tuple[float, float, float]:
    """(keep at the stop, take back through z-score at the start, MiB)."""
    store, last_life = Store(360, 0, 60.0), ZScoreAnalyzer()
    rng = np.random.default_rng(2)
    groups = [
        [SeriesKey.of("cpu_usage_percent", cpu=str(i)) for i in range(g, series, RINGS)]
        for g in range(RINGS)
    ]
    for i in range(361):
        for g, keys in enumerate(groups):
            values = rng.normal(40.0, 2.0, len(keys))
            last_life.observe(store.write_samples(START + 10.0 * i, keys, values, f"g{g}"), store)
    path = folder / f"recent-{series}.bin"
    stop = START + 3600.0
    began = time.perf_counter()
    clocks = [tier_file.SeriesClocks(last_life.name, store.key(sid), c)
              for sid, c in last_life.clocks(stop).items()]  # fmt: skip
    asyncio.run(tier_file.keep_recent(store, path, stop, BOOT, last_life.watches, clocks))
    kept = time.perf_counter() - began
    mib = path.stat().st_size / 2**20
    fresh, zscore = Store(360, 0, 60.0), ZScoreAnalyzer()
    kept_clocks: list[tier_file.SeriesClocks] = []
    began = time.perf_counter()
    taken = tier_file.take_recent(fresh, path, stop + 20.0, lambda b: zscore.warm_up(b, fresh),
                                  boot_id=BOOT, keep_clocks=kept_clocks.append)  # fmt: skip
    zscore.end_warm_up()
    for entry in kept_clocks:
        sid = fresh.find(entry.key)
        if sid is None:
            raise SystemExit(f"clocks of a series not taken back: {entry.key}")
        zscore.keep_clocks(sid, entry.clocks, stop + 20.0)
    warmed = time.perf_counter() - began
    if taken != series or len(kept_clocks) != series or zscore.learning(stop + 20.0):
        raise SystemExit(f"took back {taken} of {series} series, {len(kept_clocks)} clocks, "
                         f"{zscore.learning(stop + 20.0)} learning")  # fmt: skip
    return kept, warmed, mib


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", default="1000,10000,20000", help="sizes, comma-separated")
    parser.add_argument("--hours", type=float, default=24.0, help="hours of one-minute buckets")
    args = parser.parse_args()
    print(f"history tier of {args.hours:g} h at one-minute buckets, {RINGS} rings")
    print("| series | loop held at most | keep (whole) | read + take back | file |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        for series in (int(s) for s in args.series.split(",")):
            held, kept, restored, mib = measure(series, args.hours, Path(folder))
            print(f"| {series:,} | {held * 1e3:.0f} ms | {kept * 1e3:.0f} ms | "
                  f"{restored * 1e3:.0f} ms | {mib:.1f} MiB |")  # fmt: skip
        print("\nraw tier of an hour at 10 s, kept at a clean stop; taken back through z-score")
        print("| series z-score watches | keep at the stop | take back + go through | file |")
        print("| --- | --- | --- | --- |")
        for series in (int(s) for s in args.series.split(",")):
            kept, warmed, mib = measure_recent(series, Path(folder))
            print(f"| {series:,} | {kept * 1e3:.0f} ms | {warmed * 1e3:.0f} ms | {mib:.1f} MiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
