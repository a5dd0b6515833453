"""The leader's read-back (fleet/watcher.py `_resync`) on a real nats-server: a host
record written behind its back (a deposed leader waking up) is corrected."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from fleet import watcher as watcher_module
from fleet.config import load_config
from fleet.watcher import Watcher
from tests.conftest import until, write_config
from tests.test_fleet_watcher_e2e import config_text
from tests.test_nats_channel import free_port
from tests.test_telemetry_e2e import TOKEN, start_server


@pytest.mark.e2e
def test_a_record_written_behind_the_leaders_back_is_corrected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watcher_module, "RESYNC_SECS", 0.5)
    port = free_port()
    server = start_server(port, tmp_path / "js")
    config = write_config(tmp_path, config_text(tmp_path, port, "http://127.0.0.1:9/none"))

    async def scenario() -> tuple[str, str]:
        import nats

        watcher = Watcher(load_config(config), str(config))
        task = asyncio.create_task(watcher.run())
        client = await nats.connect(f"nats://127.0.0.1:{port}", token=TOKEN)
        try:
            beat = {"hostname": "a", "status": "healthy", "heartbeat_interval_secs": 60}
            await until(lambda: watcher.leading)
            await client.publish("sysops.a.heartbeat", json.dumps(beat).encode())
            kv = await client.jetstream().key_value("SYSOPS_FLEET_HOSTS")

            async def status() -> str:
                try:
                    return str(json.loads((await kv.get("a")).value)["status"])
                except Exception:  # not written yet
                    return ""

            await until(lambda: _is(status(), "healthy"))
            record = json.loads((await kv.get("a")).value)
            await kv.put("a", json.dumps({**record, "status": "silent"}).encode())
            first = await status()
            await until(lambda: _is(status(), "healthy"))
            return first, await status()
        finally:
            watcher.request_stop()
            await asyncio.wait_for(task, 30)
            await client.close()

    try:
        assert asyncio.run(asyncio.wait_for(scenario(), 90)) == ("silent", "healthy")
    finally:
        server.terminate()
        server.wait(timeout=30)


async def _is(value: Any, expected: str) -> bool:
    return bool(await value == expected)
