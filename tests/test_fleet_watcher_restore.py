"""The watcher's start (fleet/watcher.py `_seed`) with the stream and bucket reads
replaced: what it restores from the records, on injected clocks."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from fleet import store
from fleet.config import load_config
from fleet.hosts import SILENT, SILENT_METRIC
from fleet.watcher import Watcher
from tests.conftest import write_config

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
