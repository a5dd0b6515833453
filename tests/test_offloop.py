"""Collections run off the event loop: a slow read delays no other coroutine (issue 19)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np

from agent.collectors.base import Samples
from agent.config import parse_config_text
from agent.runtime import Agent
from analyzers.base import SeriesKey
from tests.conftest import hermetic_agent_keys, only_collectors

READ_SECS = 0.5  # a big host's process or network tick (0.57 s measured in issue 19)


class SlowCollector:
    """A collector whose read takes READ_SECS of its thread: the narrowest slow boundary."""

    name = "disk"
    metrics = ()

    def __init__(self, release: threading.Event | None = None) -> None:
        self.calls = 0
        self.threads: set[str] = set()
        self.release = release

    def collect(self) -> Samples:
        self.threads.add(threading.current_thread().name)
        if self.release is not None:
            self.release.wait(10.0)
        else:
            time.sleep(READ_SECS)  # blocks whichever thread runs it, as a big read does
        self.calls += 1
        return Samples((SeriesKey.of("disk_busy_percent", device="sda"),), np.array([1.0]))


def make_agent(tmp_path: Path) -> Agent:
    text = f'[agent]\ndata_dir = "{tmp_path}"\n{hermetic_agent_keys(tmp_path)}'
    return Agent(parse_config_text(text + f"[collector]\n{only_collectors()}\n", "t.toml"))


async def heartbeat_lateness(until: asyncio.Event, period: float = 0.01) -> float:
    """The largest lateness of a coroutine that wakes every `period` (deliveries, watchdog)."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    while not until.is_set():
        due = loop.time() + period
        await asyncio.sleep(period)
        worst = max(worst, loop.time() - due)
    return worst


def test_a_slow_collection_does_not_delay_other_coroutines(tmp_path: Path) -> None:
    agent = make_agent(tmp_path)
    slow = SlowCollector()

    async def scenario() -> tuple[float, float]:
        done = asyncio.Event()
        beat = asyncio.create_task(heartbeat_lateness(done))
        domain = asyncio.create_task(agent._domain_loop_factory(slow, 0.05)())
        while slow.calls < 3:  # three reads of READ_SECS each, back to back
            await asyncio.sleep(0.02)
        done.set()
        domain.cancel()
        await asyncio.gather(domain, return_exceptions=True)
        return await beat, agent.take_loop_lag()

    lateness, _ = asyncio.run(scenario())
    # On the loop, each read would hold every coroutine for READ_SECS.
    assert lateness <= 0.1, lateness
    assert slow.threads and all(t.startswith("sysops-collect") for t in slow.threads)
    assert agent.ticks["disk"] == 3  # and its samples went through the pipeline, on the loop
    assert agent.store.latest_of(SeriesKey.of("disk_busy_percent", device="sda")) == 1.0


def test_a_read_that_never_returns_is_reported_and_the_others_go_on(tmp_path: Path) -> None:
    agent = make_agent(tmp_path)
    release = threading.Event()
    stuck, quick = SlowCollector(release), SlowCollector(threading.Event())
    quick.name = "network"
    assert quick.release is not None
    quick.release.set()

    async def scenario() -> tuple[list[str], int]:
        tasks = [asyncio.create_task(agent._domain_loop_factory(c, 0.02)()) for c in (stuck, quick)]
        while quick.calls < 10:
            await asyncio.sleep(0.01)
        reasons, _ = agent.health()
        calls = stuck.calls
        release.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return reasons, calls

    try:
        reasons, stuck_calls = asyncio.run(scenario())
    finally:
        release.set()
    assert stuck_calls == 0 and quick.calls >= 10
    assert any(r.startswith("collector disk stuck: one read has taken") for r in reasons), reasons
    assert not any("network" in r for r in reasons)


def test_the_self_collector_stays_on_the_loop(tmp_path: Path) -> None:
    """It reads the runtime's counters and asyncio's tasks: the loop thread's alone."""
    agent = make_agent(tmp_path)
    slow = SlowCollector(threading.Event())
    slow.name = "self"
    assert slow.release is not None
    slow.release.set()

    async def scenario() -> None:
        assert await agent.tick_off_loop(slow, 1.0)

    asyncio.run(scenario())
    assert slow.threads == {threading.main_thread().name}


def test_a_domain_behind_its_interval_still_lets_the_others_run(tmp_path: Path) -> None:
    """A read on the loop (`self`) longer than its interval: the domain runs tick after
    tick, and yields between two, so other tasks wait one read at most, not all of them."""
    agent = make_agent(tmp_path)

    class Behind:
        name = "self"
        metrics = ()
        calls = 0

        def collect(self) -> Samples:
            self.calls += 1
            if self.calls <= 5:
                time.sleep(0.1)  # five reads of 10 intervals each, back to back
            return Samples((), np.zeros(0))

    behind = Behind()

    async def scenario() -> float:
        done = asyncio.Event()
        beat = asyncio.create_task(heartbeat_lateness(done))
        await asyncio.sleep(0)  # the beat is waiting before the domain starts
        domain = asyncio.create_task(agent._domain_loop_factory(behind, 0.01)())
        while behind.calls < 6:
            await asyncio.sleep(0.01)
        done.set()
        domain.cancel()
        await asyncio.gather(domain, return_exceptions=True)
        return await beat

    lateness = asyncio.run(scenario())
    assert behind.calls >= 6 and lateness < 0.35, lateness  # 0.5 s if it never yielded
