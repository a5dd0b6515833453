"""Startup on a server that already has an older stream over `sysops.>` (a real
nats-server): the heartbeat stream cannot be made ("subjects overlap"), the watcher
uses the stream that covers the subject instead of exiting."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from fleet import store
from fleet.settings import FleetSettings
from tests.test_nats_channel import free_port
from tests.test_telemetry_e2e import TOKEN, start_server


@pytest.mark.e2e
def test_an_older_stream_over_everything_is_used_for_the_seed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    process = start_server(port, tmp_path / "js")

    async def main() -> tuple[list[str], list[Any]]:
        import nats

        client = await nats.connect(f"nats://127.0.0.1:{port}", token=TOKEN)
        try:
            js = client.jetstream()
            await js.add_stream(name="SYSOPS", subjects=["sysops.>"])
            for host in ("a", "b"):
                doc = {"hostname": host, "status": "healthy", "heartbeat_interval_secs": 10}
                await js.publish(f"sysops.{host}.heartbeat", json.dumps(doc).encode())
            await js.publish("sysops.a.heartbeat", json.dumps({**doc, "hostname": "a",
                             "status": "degraded"}).encode())  # fmt: skip
            settings = FleetSettings()
            await store.ensure(js, settings)  # no exception: "subjects overlap" handled
            seeded = await asyncio.wait_for(store.heartbeats(js, settings), 30)
            return sorted(f"{d['hostname']}:{d['status']}" for d, _ in seeded), seeded
        finally:
            await client.close()

    try:
        with caplog.at_level(logging.WARNING, "fleet.store"):
            hosts, _ = asyncio.run(main())
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert hosts == ["a:degraded", "b:healthy"]
    assert any("read from the stream SYSOPS" in r.getMessage() for r in caplog.records)
