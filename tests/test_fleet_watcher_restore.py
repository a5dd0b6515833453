"""The watcher's start (fleet/watcher.py `_seed`) with the stream and bucket reads
replaced: what it restores from the records, on injected clocks."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from fleet import store
from fleet.config import load_config
from fleet.hosts import SILENT, SILENT_METRIC
from fleet.watcher import Watcher
from tests.conftest import until, write_config

WALL0 = 1_700_000_000.0


def test_a_restart_just_after_an_episode_ended_still_announces_a_dead_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record says silent within the episode (mass), the episode's record is over:
    the host is held a silence period, then announced on its own, not hidden for good."""
    now, wall = [100.0], [WALL0]
    last = WALL0 - 600.0
    record = {
        "hostname": "a", "status": SILENT, "since": store.iso(last + 30),
        "last_heartbeat": store.iso(last), "heartbeat_interval_secs": 10.0, "mass": True,
        "silent_from": store.iso(last), "alerted": False, "alert": None, "alert_since": None,
        "pending": None, "reasons": [],
    }  # fmt: skip
    ended = {"status": "healthy", "alerted": False, "alert": None, "pending": None}
    beat = {"hostname": "a", "status": "healthy", "heartbeat_interval_secs": 10.0}

    async def records(js: Any, bucket: str, timeout: float = 5.0) -> Any:
        return {"a": (1, record), store.MASS_KEY: (2, ended)}

    async def heartbeats(js: Any, settings: Any, timeout: float = 5.0) -> Any:
        return [(beat, last)]

    monkeypatch.setattr(store, "records", records)
    monkeypatch.setattr(store, "heartbeats", heartbeats)
    config = write_config(tmp_path, f'[fleet]\ndata_dir = "{tmp_path}/d"\n')
    watcher = Watcher(load_config(config), clock=lambda: now[0], wall=lambda: wall[0])
    asyncio.run(watcher._seed())
    host = watcher.judge.hosts["a"]
    assert host.status == SILENT and host.mass and host.alert_metric() is None
    now[0] += 29.9
    watcher.judge.tick(now[0], wall[0])
    assert host.alert_metric() is None  # held for a silence period (3 x 10 s)
    now[0] += 0.1
    watcher.judge.tick(now[0], wall[0])
    assert host.alert_metric() == SILENT_METRIC and "a" in watcher.judge.take_dirty()


class FakeMsg:
    def __init__(self, subject: str, body: dict[str, Any]) -> None:
        self.subject, self.data, self.headers = subject, json.dumps(body).encode(), None
        self.acked = self.termed = False

    async def ack(self) -> None:
        self.acked = True

    async def term(self) -> None:
        self.termed = True


def test_the_cmdb_batch_stops_when_the_lease_lapses_and_refusals_are_terminated(
    tmp_path: Path,
) -> None:
    """The lease lapses after the first inventory of a batch: the rest is neither stored
    nor acknowledged (the next leader gets them, change alerts and all).  An inventory
    of another host than its subject's is terminated, never stored."""
    config = write_config(tmp_path, f'[fleet]\ndata_dir = "{tmp_path}/d"\n')
    watcher = Watcher(load_config(config))
    leads = [True]
    stored: list[str] = []
    forgotten: list[bool] = []

    class Lease:
        period = 0.01

        def is_leader(self) -> bool:
            return leads[0]

    class Cmdb:
        async def ensure(self) -> None:
            pass

        def forget(self) -> None:  # the loop saw the lease gone: the batch is over
            forgotten.append(True)

        def unchanged(self, key: str, document: Any) -> bool:
            return False

        async def ingest(self, document: dict[str, Any]) -> list[Any]:
            stored.append(document["hostname"])
            leads[0] = False  # the lease lapses while this one is stored
            return []

    batch = [
        FakeMsg("sysops.b.inventory", {"hostname": "a"}),  # not its subject's host
        FakeMsg("sysops.a.inventory", {"hostname": "a"}),
        FakeMsg("sysops.c.inventory", {"hostname": "c"}),
    ]

    class Subscription:
        fetched = 0

        async def fetch(self, n: int, timeout: float) -> list[FakeMsg]:
            self.fetched += 1
            if self.fetched > 1:
                await asyncio.sleep(3600)
            return batch

        async def unsubscribe(self) -> None:
            pass

    class Js:
        async def stream_info(self, name: str) -> None:
            return None

        async def pull_subscribe(self, *args: Any, **kwargs: Any) -> Subscription:
            return Subscription()

    watcher.leading, watcher.lease = True, Lease()  # type: ignore[assignment]
    watcher._js = Js()
    watcher.cmdb_factory = lambda js, settings: Cmdb()  # type: ignore[assignment,return-value]

    async def main() -> None:
        task = asyncio.create_task(watcher._cmdb_loop())
        # The batch ended (or went on, wrongly) before this.
        await until(lambda: forgotten, 30, f"the lapsed lease reported (stored: {stored})")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert stored == ["a"]
    assert batch[0].termed and not batch[0].acked and watcher.refused.count == 1
    assert batch[1].acked
    assert not batch[2].acked and not batch[2].termed  # left for the next leader
