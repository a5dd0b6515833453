"""Event-loop lag while a big host's process tree is read (issue 19, item 4).

    .venv/bin/python benchmarks/loop_lag.py [--pids 20000] [--seconds 20]

Builds a synthetic procfs of --pids processes (benchmarks/collectors.py's
generator), then runs the agent's own domain loops (`Agent._domain_loop_factory`)
for --seconds: the process domain every 2 s on the synthetic tree, and a light
domain every 0.1 s.  Reported: the agent's loop-lag self metric (how late a
domain woke up: `agent_loop_lag_seconds`, the maximum over the run) and the
worst lateness of a coroutine that wakes every 10 ms (what a delivery or the
systemd watchdog sees), first with the process read on the loop (as before
issue 19), then on the collector threads (`agent.runtime.COLLECT_THREADS`).
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

from agent import runtime
from agent.collectors.base import Samples
from agent.collectors.process import ProcessCollector
from agent.config import parse_config_text
from analyzers.base import SeriesKey
from benchmarks.collectors import synthetic_procfs


class Light:
    """A cheap domain (like cpu or memory): one sample, no I/O."""

    name = "memory"
    metrics = ()

    def collect(self) -> Samples:
        return Samples((SeriesKey.of("memory_used_percent"),), np.array([25.0]))


async def measure(procfs: Path, data_dir: Path, seconds: float) -> tuple[float, float, float]:
    """(max loop lag, worst 10 ms heartbeat lateness, the last process read's seconds)."""
    text = f'[agent]\ndata_dir = "{data_dir}"\n'
    agent = runtime.Agent(parse_config_text(text, "bench.toml"))
    process = ProcessCollector(procfs, top_n=10)
    loop = asyncio.get_running_loop()
    tasks = [
        asyncio.create_task(agent._domain_loop_factory(process, 2.0)()),
        asyncio.create_task(agent._domain_loop_factory(Light(), 0.1)()),
    ]
    worst_beat = worst_lag = 0.0
    end = loop.time() + seconds
    await asyncio.sleep(2.5)  # the first read and analyzer set-up are not the steady state
    agent.take_loop_lag()
    while loop.time() < end:
        due = loop.time() + 0.01
        await asyncio.sleep(0.01)
        worst_beat = max(worst_beat, loop.time() - due)
        worst_lag = max(worst_lag, agent.take_loop_lag())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return worst_lag, worst_beat, agent.durations.get("process", float("nan"))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pids", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proc"
        root.mkdir()
        started = time.monotonic()
        synthetic_procfs(root, args.pids)
        print(f"{args.pids} synthetic processes in {time.monotonic() - started:.1f} s")
        print(f"{'process read':<16}{'loop lag s':>12}{'10 ms beat late s':>20}{'last read s':>14}")
        for where, on_loop in (("on the loop", {"self", "process"}), ("off the loop", {"self"})):
            runtime.ON_LOOP_COLLECTORS = frozenset(on_loop)
            data = Path(tmp) / where.replace(" ", "-")
            lag, beat, read = asyncio.run(measure(root, data, args.seconds))
            print(f"{where:<16}{lag:>12.3f}{beat:>20.3f}{read:>14.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
