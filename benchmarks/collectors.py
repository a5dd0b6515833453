"""CPU cost of one collection tick, per collector domain.

    .venv/bin/python benchmarks/collectors.py [--ticks 200] [--pids 2000]

Runs every domain against this machine's /proc and /sys, and the process domain
also against a synthetic procfs with --pids processes, and prints the median
and 95th percentile CPU time (process_time, so sleeping does not count) of one
tick.  Goals: all domains but process together under 5 ms per tick; process
with 2,000 pids under 30 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.collectors import build_collectors
from agent.collectors.base import Collector, SourceMissing
from agent.collectors.process import ProcessCollector
from agent.settings import Settings

STAT_TEMPLATE = (
    "{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 1203 0 0 0 {utime} {stime} 0 0 20 0 {threads} 0 "
    "{start} 123456789 {rss} 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
)


def synthetic_procfs(root: Path, pids: int) -> None:
    """`pids` process directories with realistic stat lines (and a few fds each)."""
    for pid in range(1000, 1000 + pids):
        directory = root / str(pid)
        (directory / "fd").mkdir(parents=True)
        # One tracked process (java), the rest an ordinary mix.
        comm = (
            "java"
            if pid == 1000
            else ("postgres", "nginx", "python3", "sshd", "kworker/0:1")[pid % 5]
        )
        (directory / "stat").write_text(
            STAT_TEMPLATE.format(
                pid=pid,
                comm=comm,
                utime=pid * 7,
                stime=pid * 3,
                threads=1 + pid % 9,
                start=pid * 11,
                rss=100 + pid % 5000,
            )
        )
        for fd in range(4):
            (directory / "fd" / str(fd)).write_text("")


def cost_per_tick(
    collector: Collector, ticks: int, advance: object = None
) -> tuple[float, float] | None:
    """(median, p95) CPU seconds of one tick, after a warm-up tick."""
    try:
        collector.collect()
    except SourceMissing:
        return None
    samples = []
    for _ in range(ticks):
        if callable(advance):
            advance()
        started = time.process_time()
        collector.collect()
        samples.append(time.process_time() - started)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--pids", type=int, default=2000)
    args = parser.parse_args()

    class NoStats:
        def collector_stats(self) -> dict[str, tuple[float, int, int]]:
            return {"cpu": (0.001, 0, 0)}

        def take_loop_lag(self) -> float:
            return 0.0

        def store_size(self) -> tuple[int, int]:
            return 0, 0

        def channel_stats(self) -> dict[str, tuple[int, int, int, int, int]]:
            return {}

    print(f"median / p95 CPU time of one tick over {args.ticks} ticks, this machine")
    print(f"{'domain':<22}{'median ms':>10}{'p95 ms':>10}{'series':>8}")
    total = 0.0
    for collector, _ in build_collectors(Settings(), NoStats()):
        result = cost_per_tick(
            collector, args.ticks if collector.name != "disk" else max(20, args.ticks // 10)
        )
        if result is None:
            print(f"{collector.name:<22}{'absent':>10}")
            continue
        series = len(collector.collect())
        print(f"{collector.name:<22}{result[0] * 1000:>10.3f}{result[1] * 1000:>10.3f}{series:>8}")
        if collector.name != "process":
            total += result[0]
    print(f"{'all but process':<22}{total * 1000:>10.3f}   (goal < 5 ms)")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synthetic_procfs(root, args.pids)
        collector = ProcessCollector(root, top_n=5, track_patterns=("^java$",))
        result = cost_per_tick(collector, max(10, args.ticks // 10))
        assert result is not None
        print(f"{f'process, {args.pids} pids':<22}{result[0] * 1000:>10.3f}{result[1] * 1000:>10.3f}"
              f"{len(collector.collect()):>8}   (goal < 30 ms)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
