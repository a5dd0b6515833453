"""The leader lease (fleet/leader.py) on a real JetStream key-value bucket, with the
instances' clocks injected: who leads, when a follower takes over, and that a deposed
leader's renewal is refused."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from fleet.leader import LEASE_KEY, Lease
from tests.test_nats_channel import free_port
from tests.test_telemetry_e2e import TOKEN, start_server


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def scenario(tmp_path: Path, body: Any) -> None:
    port = free_port()
    server = start_server(port, tmp_path / "js")

    async def run() -> None:
        import nats

        client = await nats.connect(f"nats://127.0.0.1:{port}", token=TOKEN)
        try:
            kv = await client.jetstream().create_key_value(bucket="T_LEADER")
            await body(kv)
        finally:
            await client.close()

    try:
        asyncio.run(run())
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_one_leader_and_a_takeover_after_one_lease_of_an_unchanged_revision(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body(kv: Any) -> None:
        clock1, clock2 = Clock(), Clock()
        one = Lease(kv, "one", 3.0, clock1, lambda: 1_700_000_000.0)
        two = Lease(kv, "two", 3.0, clock2, lambda: 1_700_000_000.0)
        assert await one.step() is True
        assert await two.step() is False and two.holder == "one"
        value = json.loads((await kv.get(LEASE_KEY)).value)
        assert value == {"instance": "one", "expires": 1_700_000_003.0, "released": False}
        # "one" renews: the revision moves, "two" never takes over however long it waits.
        for _ in range(5):
            clock1.now += 1.0
            clock2.now += 1.0
            assert await one.step() is True
            assert await two.step() is False
        # "one" dies (no more renewals): "two" takes over once it has seen the same
        # revision for a whole lease, by its own clock, not before.
        clock2.now += 1.0
        assert await two.step() is False  # the last revision, first seen at 105
        clock2.now += 1.9
        assert await two.step() is False
        clock2.now += 0.1
        assert await two.step() is True and two.is_leader()
        # "one" wakes up: its lease ran out by its own clock, and its renewal is refused.
        clock1.now += 3.0
        assert not one.is_leader()
        assert await one.step() is False and one.holder == "two"
        assert json.loads((await kv.get(LEASE_KEY)).value)["instance"] == "two"
        assert "the key changed under us (it names two): now a follower" in caplog.text
        # The key gone (a NATS that lost its store, a purge): said so, and taken again.
        await kv.delete(LEASE_KEY)
        clock2.now += 1.0
        assert await two.step() is True
        assert "the key changed under us (the key is gone): now a follower" in caplog.text

    scenario(tmp_path, body)


def test_a_released_lease_is_taken_at_once_and_racing_takers_get_one_winner(
    tmp_path: Path,
) -> None:
    async def body(kv: Any) -> None:
        clock = Clock()
        one = Lease(kv, "one", 10.0, clock)
        assert await one.step()
        racers = [Lease(kv, f"r{i}", 10.0, clock) for i in range(4)]
        assert not any([await r.step() for r in racers])
        await one.release()
        assert not one.is_leader()
        won = await asyncio.gather(*(r.step() for r in racers))
        assert sorted(won) == [False, False, False, True]

    scenario(tmp_path, body)
