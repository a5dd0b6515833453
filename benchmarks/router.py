"""Router throughput and memory under an alert storm.

    .venv/bin/python benchmarks/router.py [--events 100000] [--series 2000] [--distinct 100000]

Feeds `--events` firing events over `--series` series (as a storm would: every
series firing again and again) into the router with one in-memory channel
worker, then a flap of 1,000 transitions, and prints events per second, the
notifications that came out, and the peak traced memory (tracemalloc).  Then
`--distinct` alerts that are all new (a log flood with a new interface name on
every line, more than the router's table holds), routed while a heartbeat
coroutine measures how long the event loop was held at most.  Last, the
housekeeping's round (`repeat_due`) with 9,000 alerts muted by an inhibit rule
(100 sources): when nothing can have ended a mute, and when a source resolved.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerting.alert import Alert, Severity, Status
from alerting.channels.base import OneMessage
from alerting.delivery import ChannelWorker
from alerting.router import Router


class Sink(OneMessage):
    name = "sink"
    retry_count = 0
    groups = False
    pace_secs = 0.0
    send_resolved = True
    min_severity = Severity.INFO

    def __init__(self) -> None:
        self.count = 0

    async def send(self, alerts: Sequence[Alert]) -> None:
        self.count += len(alerts)

    async def close(self) -> None:
        return None


async def storm(events: int, series: int) -> None:
    sink = Sink()
    worker = ChannelWorker(sink, max_age=float("inf"), max_per_hour=60)
    worker.start()
    router = Router("bench", [worker], min_interval_secs=300, dedup_window_secs=600)
    alerts = [
        Alert(analyzer="threshold", metric=f"metric_{i % series}", labels=(("id", str(i % series)),), status=Status.FIRING, severity=Severity.WARN, value=1.0, threshold=0.5, message="x", timestamp=i * 60 / events)
        for i in range(events)
    ]  # fmt: skip
    tracemalloc.start()
    started = time.perf_counter()
    for alert in alerts:
        router.route(alert)
    elapsed = time.perf_counter() - started
    await worker.drain(60)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"storm: {events:,} events over {series:,} series in {elapsed:.2f} s = {events / elapsed:,.0f} events/s"
    )
    print(f"  notifications out: {sink.count} (budget 60/h); held back by the budget: {worker.stats.suppressed}; "
          f"by the router: {router.stats.suppressed:,}")  # fmt: skip
    print(f"  peak traced memory while routing: {peak / 2**20:.1f} MiB")
    flap_sink = Sink()
    flap_worker = ChannelWorker(flap_sink, max_age=float("inf"))
    flap_worker.start()
    flap = Router("bench", [flap_worker], min_interval_secs=300, dedup_window_secs=600)
    for i in range(1000):
        flap.route(
            Alert(
                analyzer="threshold",
                metric="m",
                labels=(),
                status=Status.FIRING if i % 2 == 0 else Status.RESOLVED,
                severity=Severity.WARN,
                value=1,
                threshold=1,
                message="x",
                timestamp=float(i),
            )
        )
    await flap_worker.drain(10)
    print(
        f"flap: 1,000 transitions in 1,000 s -> {flap_sink.count} notifications, {flap.stats.flaps} folded"
    )
    await worker.stop()
    await flap_worker.stop()


async def distinct_storm(count: int) -> None:
    sink = Sink()
    worker = ChannelWorker(sink, max_age=float("inf"), max_per_hour=60)
    worker.start()
    router = Router("bench", [worker], min_interval_secs=300, dedup_window_secs=600)
    loop = asyncio.get_running_loop()
    max_gap = 0.0

    async def heartbeat() -> None:
        nonlocal max_gap
        last = loop.time()
        while True:
            await asyncio.sleep(0.005)
            max_gap = max(max_gap, loop.time() - last - 0.005)
            last = loop.time()

    beat = loop.create_task(heartbeat())
    now = time.time()
    started = time.perf_counter()
    for i in range(count):
        router.route(
            Alert(
                analyzer="log", metric="log_link_down", labels=(("device", f"e{i}"),),
                status=Status.FIRING, severity=Severity.WARN, value=1.0, threshold=None,
                message="NIC Link is Down", timestamp=now + i * 0.001,
            )
        )  # fmt: skip
        if i % 200 == 199:  # the log watcher yields between chunks of lines
            await asyncio.sleep(0)
    routed = time.perf_counter() - started
    await worker.drain(600)
    total = time.perf_counter() - started
    beat.cancel()
    print(
        f"distinct: {count:,} new alerts routed in {routed:.2f} s, delivered or counted in "
        f"{total:.2f} s; loop held at most {max_gap * 1000:.0f} ms; sent {sink.count}, "
        f"held back {worker.stats.suppressed:,}"
    )
    await worker.stop()


def muted_sweep(muted: int = 9_000, sources: int = 100) -> None:
    from alerting.silences import InhibitRule

    rule = InhibitRule(source=(("metric", "=", "node_down"),),
                       target=(("metric", "=", "node_cpu"),), equal=("node",))  # fmt: skip
    router = Router("bench", [], min_interval_secs=300, inhibit_rules=[rule])

    def alert(metric: str, node: int, core: int = -1, status: Status = Status.FIRING) -> Alert:
        labels = (("node", str(node)),) if core < 0 else (("core", str(core)), ("node", str(node)))
        return Alert(analyzer="threshold", metric=metric, labels=labels, status=status,
                     severity=Severity.WARN, value=1.0, threshold=0.5, message="x",
                     timestamp=1.0)  # fmt: skip

    for node in range(sources):
        router.route(alert("node_down", node))
    for core in range(muted):
        router.route(alert("node_cpu", core % sources, core))
    router.repeat_due(2.0)
    started = time.perf_counter()
    router.repeat_due(7.0)
    quiet = time.perf_counter() - started
    router.route(alert("node_down", 0, status=Status.RESOLVED))
    started = time.perf_counter()
    announced = len(router.repeat_due(12.0))
    after = time.perf_counter() - started
    print(
        f"muted sweep: {router.stats.inhibited:,} alerts muted by {sources} sources; a round "
        f"with no mute ended {quiet * 1000:.1f} ms, after a source resolved {after * 1000:.0f} ms "
        f"({announced} announced)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--series", type=int, default=2_000)
    parser.add_argument("--distinct", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(storm(args.events, args.series))
    if args.distinct:
        asyncio.run(distinct_storm(args.distinct))
    muted_sweep()
    return 0


if __name__ == "__main__":
    sys.exit(main())
