"""Scheduling: no drift, no catch-up bursts, and crashed tasks come back."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from agent.schedule import Ticker
from common.runner import Supervisor


def test_deadlines_stay_on_the_grid_over_many_ticks() -> None:
    rng = random.Random(7)
    interval, start = 10.0, 1000.0
    ticker = Ticker(interval, start)
    now = deadline = ticker.first_deadline
    for k in range(1, 10_001):
        # Each tick wakes a little late and does a varying amount of work.
        now = deadline + rng.uniform(0.0, 0.05) + rng.uniform(0.0, 2.0)
        deadline = ticker.advance(now)
        assert deadline == start + k * interval
    assert ticker.skipped == 0


def test_a_stall_runs_one_tick_then_rejoins_the_grid() -> None:
    ticker = Ticker(10.0, 0.0)
    assert ticker.advance(0.5) == 10.0
    # The process was frozen from t=10 to t=47: slots 20, 30 and 40 passed.
    due = ticker.advance(47.0)
    assert due == 40.0  # one tick now (40 <= 47), not three in a row
    assert ticker.skipped == 2
    assert ticker.advance(47.2) == 50.0
    assert ticker.advance(50.1) == 60.0
    assert ticker.skipped == 2


def test_a_slow_tick_within_one_interval_is_not_skipped() -> None:
    ticker = Ticker(10.0, 0.0)
    assert ticker.advance(9.9) == 10.0
    assert ticker.advance(19.99) == 20.0
    assert ticker.skipped == 0


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Ticker(0, 0.0)


def test_crashing_task_is_restarted_with_backoff_while_others_run() -> None:
    async def scenario() -> tuple[int, int, list[float], int]:
        supervisor = Supervisor(base_delay=0.02, max_delay=0.08)
        healthy_ticks = 0
        crash_times: list[float] = []
        loop = asyncio.get_running_loop()

        async def healthy() -> None:
            nonlocal healthy_ticks
            while True:
                healthy_ticks += 1
                await asyncio.sleep(0.005)

        async def crashing() -> None:
            crash_times.append(loop.time())
            await asyncio.sleep(0)
            raise RuntimeError("collector bug")

        supervisor.spawn("healthy", healthy)
        supervisor.spawn("crashing", crashing)
        deadline = loop.time() + 10
        while supervisor.restarts["crashing"] < 5 or healthy_ticks <= 20:
            assert loop.time() < deadline, (supervisor.restarts, healthy_ticks)
            await asyncio.sleep(0.01)
        restarts = supervisor.restarts["crashing"]
        await supervisor.stop()
        return healthy_ticks, restarts, crash_times, supervisor.restarts["healthy"]

    healthy_ticks, restarts, crash_times, healthy_restarts = asyncio.run(scenario())
    assert healthy_ticks > 20
    assert healthy_restarts == 0
    assert restarts >= 5
    gaps = [b - a for a, b in itertools.pairwise(crash_times)]
    # Backoff doubles from 0.02 s and is capped at 0.08 s.
    assert gaps[0] >= 0.02 and gaps[1] >= 0.04 and all(g >= 0.08 for g in gaps[2:])
    assert all(g < 0.5 for g in gaps)


def test_finished_task_is_not_restarted() -> None:
    async def scenario() -> int:
        supervisor = Supervisor(base_delay=0.01)
        runs = 0

        async def once() -> None:
            nonlocal runs
            runs += 1

        supervisor.spawn("once", once)
        await asyncio.sleep(0.1)
        await supervisor.stop()
        return runs

    assert asyncio.run(scenario()) == 1


def test_a_stop_is_bounded_even_when_a_task_swallows_its_cancellation() -> None:
    """nats-py turns a cancel into its own error (or swallows it) in places: the stop must
    neither restart such a task as crashed nor wait for it forever."""

    async def scenario() -> tuple[float, int, int]:
        supervisor = Supervisor(base_delay=0.01)
        loop = asyncio.get_running_loop()
        started = asyncio.Event()
        runs = 0

        async def converts_the_cancel() -> None:  # as a library's fetch does
            nonlocal runs
            runs += 1
            if runs > 1:  # restarted (the defect): end, so that the test fails, not hangs
                return
            started.set()
            try:
                await asyncio.Event().wait()  # parked until the stop cancels it
            except asyncio.CancelledError:
                raise TimeoutError("fetch timed out") from None

        released = asyncio.Event()

        async def swallows_the_cancel() -> None:
            while not released.is_set():
                try:
                    await released.wait()
                except asyncio.CancelledError:
                    continue

        supervisor.spawn("converts", converts_the_cancel)
        supervisor.spawn("swallows", swallows_the_cancel)
        await started.wait()
        begun = loop.time()
        await supervisor.stop(timeout=0.3)
        took = loop.time() - begun
        # No wait for a restart that should not come: one would already show, since the
        # restart delay (0.01 s) is shorter than the time stop() gives a task (0.3 s).
        released.set()  # the task left behind ends, so that asyncio.run can finish
        return took, runs, supervisor.restarts["converts"]

    took, runs, restarts = asyncio.run(scenario())
    assert took < 2.0, took  # the swallowing task is left behind after 0.3 s
    assert (runs, restarts) == (1, 0)  # stopped, not restarted as crashed
