"""The leader lease (fleet/leader.py) against an in-memory key-value bucket with the
compare-and-set semantics of JetStream's: exact clocks, replies that come too late."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from fleet.leader import LEASE_KEY, Lease


@dataclass
class Entry:
    value: bytes
    revision: int


class FakeKV:
    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.seq = 0
        self.lose_reply = False  # the write is applied, its reply never arrives

    async def get(self, key: str) -> Entry:
        if key not in self.entries:
            raise KeyNotFoundError
        return self.entries[key]

    async def create(self, key: str, value: bytes) -> int:
        if key in self.entries:
            raise KeyWrongLastSequenceError
        return self._put(key, value)

    async def update(self, key: str, value: bytes, last: int) -> int:
        if key not in self.entries or self.entries[key].revision != last:
            raise KeyWrongLastSequenceError
        return self._put(key, value)

    def _put(self, key: str, value: bytes) -> int:
        self.seq += 1
        self.entries[key] = Entry(value, self.seq)
        if self.lose_reply:
            self.lose_reply = False
            raise TimeoutError
        return self.seq


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_renewal_whose_reply_was_lost_does_not_depose_the_leader() -> None:
    now = [0.0]
    wall = [1_700_000_000.0]

    async def body() -> list[bool]:
        kv = FakeKV()
        lease = Lease(kv, "one", 9.0, lambda: now[0], lambda: wall[0])
        out = [await lease.step()]
        now[0] += 3
        wall[0] += 3
        kv.lose_reply = True
        try:
            await lease.step()
        except TimeoutError:
            out.append(lease.is_leader())  # still within the lease it had
        now[0] += 3
        wall[0] += 3
        out.append(await lease.step())  # conflicts with its own late write: still leads
        out.append(lease.revision == kv.entries[LEASE_KEY].revision)
        return out

    assert run(body()) == [True, True, True, True]


def test_a_lease_taken_by_another_is_lost_and_confirm_sees_it() -> None:
    now = [0.0]

    async def body() -> list[bool]:
        kv = FakeKV()
        one = Lease(kv, "one", 9.0, lambda: now[0])
        two = Lease(kv, "two", 9.0, lambda: now[0])
        out = [await one.step(), await one.confirm()]
        # one pauses longer than the lease; two takes over meanwhile
        await two.step()
        now[0] += 10
        out.append(await two.step())
        now[0] -= 10  # one's view: it woke with its lease seemingly still valid
        out.append(await one.confirm())
        out.append(one.is_leader())
        return out

    assert run(body()) == [True, True, True, False, False]
