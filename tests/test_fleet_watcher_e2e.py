"""The watcher in-process on a real nats-server: the CMDB fed through the durable pull
consumer by the leader (a real agent inventory, one DIMM fewer), `show` and `changes`
reading it back, systemd notifications, and SIGHUP-style reloads."""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from alerting.alert import Alert, Severity, Status
from fleet import cli, store
from fleet.config import load_config
from fleet.watcher import Watcher
from tests.conftest import HttpReceiver, until, write_config
from tests.test_fleet_cmdb import captured, edited  # noqa: F401 - the fixture
from tests.test_nats_channel import free_port
from tests.test_telemetry_e2e import TOKEN, start_server


def config_text(tmp_path: Path, port: int, url: str, lease: float = 1.0) -> str:
    return f"""
[fleet]
instance = "w1"
data_dir = "{tmp_path / "data"}"
lease_secs = {lease}
[nats]
url = "nats://127.0.0.1:{port}"
token = "{TOKEN}"
[alerting.webhook]
enabled = true
url = "{url}"
"""


@pytest.mark.e2e
def test_the_leader_feeds_the_cmdb_and_announces_changes_and_systemd_hears_of_it(
    tmp_path: Path,
    http_receiver: HttpReceiver,
    monkeypatch: pytest.MonkeyPatch,
    captured: dict[str, Any],  # noqa: F811 - the fixture imported above
) -> None:
    """An agent's inventory, the same again, then one DIMM fewer: the CMDB stores all three
    through the durable consumer, and the one change is one warn naming the DIMM; `show`
    and `changes` read it back while the watcher runs."""
    port = free_port()
    server = start_server(port, tmp_path / "js")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    config = write_config(tmp_path, config_text(tmp_path, port, http_receiver.url + "/a"))
    first = {**copy.deepcopy(captured), "hostname": "gpu-01.example"}
    fewer = edited(first)
    fewer["memory"]["dimms"] = [d for d in fewer["memory"]["dimms"] if d["slot"] != "P1-DIMMB1"]
    fewer["memory"].update(dimm_count=7, total_gb=219.54)
    fewer["content_hash"] = "e" * 64

    async def scenario() -> tuple[list[str], dict[str, Any]]:
        import nats

        loaded = load_config(config)
        watcher = Watcher(loaded, str(config))
        task = asyncio.create_task(watcher.run())
        await until(lambda: watcher.leading)
        client = await nats.connect(f"nats://127.0.0.1:{port}", token=TOKEN)
        js = client.jetstream()

        async def acked(n: int) -> bool:
            try:
                info = await js.consumer_info("SYSOPS_INVENTORY", "SYSOPS_FLEET_cmdb")
            except Exception:  # the leader has not made its consumer yet
                return False
            return bool(info.ack_floor.stream_seq == n)

        await until(lambda: acked(0))
        for n, doc in enumerate((first, edited(first), fewer), 1):  # same twice, a DIMM fewer
            await js.publish("sysops.gpu-01_example.inventory", json.dumps(doc).encode())
            await until(lambda n=n: acked(n))
        await until(lambda: http_receiver.requests)
        consumer = await js.consumer_info("SYSOPS_INVENTORY", "SYSOPS_FLEET_cmdb")
        beat = {"hostname": "gpu-01.example", "timestamp": store.iso(time.time()),
                "heartbeat_interval_secs": 60.0, "uptime_secs": 100.0, "agent_uptime_secs": 9.0,
                "agent_version": "0.1.0", "status": "healthy", "reasons": []}  # fmt: skip
        await js.publish("sysops.gpu-01_example.heartbeat", json.dumps(beat).encode())
        shown = await cli.show(js, loaded, "gpu-01.example")
        recorded = await cli.changes(js, loaded, "gpu-01.example", 10)
        # A bad file is refused and the running configuration kept; a good one applies.
        config.write_text(config_text(tmp_path, port, http_receiver.url + "/b") + "oops = 1\n")
        assert await watcher.reload() is False
        config.write_text(config_text(tmp_path, port, http_receiver.url + "/b"))
        assert await watcher.reload() is True
        assert [w.name for w in watcher.router.workers] == ["webhook"]
        await client.close()
        watcher.request_stop()
        assert await task == 0
        messages = []
        while True:
            try:
                messages.append(notify.recv(4096).decode())
            except BlockingIOError:
                break
        return messages, {"acked": consumer.ack_floor.stream_seq, "pending": consumer.num_pending,
                          "shown": shown, "recorded": recorded}  # fmt: skip

    try:
        messages, consumer = asyncio.run(scenario())
    finally:
        server.terminate()
        server.wait(timeout=10)
        notify.close()
    (request,) = http_receiver.requests
    record = request.json()
    assert request.path == "/a"
    assert record["metric"] == "inventory_changes" and record["hostname"] == "gpu-01.example"  # type: ignore[index]
    assert record["severity"] == "warn"  # type: ignore[index]
    assert (
        "memory.dimms[P1-DIMMB1] removed: 32 GiB DDR4 Samsung M393A4K40DB3-CWE serial 4A3B2C1E"
        in (
            record["message"]  # type: ignore[index]
        )
    )
    assert consumer["shown"]["inventory"]["memory"]["dimm_count"] == 7
    assert [(c["path"], c["kind"]) for c in consumer["recorded"]] == [
        ("memory.total_gb", "changed"),
        ("memory.dimms[P1-DIMMB1]", "removed"),
    ]
    assert (consumer["acked"], consumer["pending"]) == (3, 0)  # each stored, then acknowledged
    assert messages[0].startswith("READY=1\nSTATUS=")
    assert any(m.startswith("STATUS=leader; ") for m in messages), messages
    assert "RELOADING=1" in messages and messages[-1] == "STOPPING=1"


@pytest.mark.e2e
def test_a_claim_the_previous_leader_left_unsettled_is_sent_again_as_the_same_notification(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    """The crash window between claiming a transition and settling it: the next leader
    routes the pending alert with the claimed timestamp (so with the same id) and settles."""
    port = free_port()
    server = start_server(port, tmp_path / "js")
    config = write_config(tmp_path, config_text(tmp_path, port, http_receiver.url))
    at = round(time.time() - 400.0, 3)
    record = silent_record(
        at, pending={"status": "firing", "metric": "fleet_host_silent", "at": at}
    )

    async def scenario() -> dict[str, Any]:
        import nats

        client = await nats.connect(f"nats://127.0.0.1:{port}", token=TOKEN)
        js = client.jetstream()
        kv = await js.create_key_value(bucket="SYSOPS_FLEET_HOSTS")
        await kv.create("db-01_example", json.dumps(record).encode())
        watcher = Watcher(load_config(config), str(config))
        task = asyncio.create_task(watcher.run())

        async def sent_and_settled() -> bool:
            record = json.loads((await kv.get("db-01_example")).value)
            return bool(http_receiver.requests) and not record.get("pending")

        await until(sent_and_settled, what="the pending claim sent and settled")
        settled: dict[str, Any] = json.loads((await kv.get("db-01_example")).value)
        watcher.request_stop()
        assert await task == 0
        await client.close()
        return settled

    try:
        settled = asyncio.run(scenario())
    finally:
        server.terminate()
        server.wait(timeout=10)
    (request,) = http_receiver.requests
    sent = request.json()
    assert sent["status"] == "firing" and sent["hostname"] == "db-01.example"  # type: ignore[index]
    assert sent["epoch"] == at  # type: ignore[index]
    expected = Alert(analyzer="fleet", metric="fleet_host_silent",
                     labels=(("host", "db-01.example"),), status=Status.FIRING,
                     severity=Severity.CRITICAL, value=0.0, threshold=None, message="",
                     timestamp=at)  # fmt: skip
    assert sent["id"] == expected.id and sent["alert_id"] == expected.alert_id  # type: ignore[index]
    assert settled["pending"] is None and settled["alerted"] is True
    assert (settled["alert"], settled["alert_since"]) == ("fleet_host_silent", at)


def silent_record(at: float, **fields: Any) -> dict[str, Any]:
    """db-01's record: silent since `at` (its last heartbeat 200 s before), as a leader
    wrote it, with `fields` over it."""
    last = store.iso(at - 200.0)
    return {"hostname": "db-01.example", "status": "silent", "since": store.iso(at),
            "last_heartbeat": last, "heartbeat_interval_secs": 60.0,
            "agent_version": "0.1.0", "uptime_secs": 100.0, "reasons": [], "mass": False,
            "silent_from": last, "outage_secs": None, "rebooted": None,
            "alerted": False, "alert": None, "alert_since": None, "pending": None,
            **fields}  # fmt: skip


def run_watcher_on(
    tmp_path: Path,
    http_receiver: HttpReceiver,
    record: dict[str, Any],
    scenario: Any,
) -> Any:
    """A watcher leading on a real nats-server whose hosts bucket holds db-01's `record`;
    `scenario(watcher, kv)` runs while it leads, and what it returns is returned."""
    port = free_port()
    server = start_server(port, tmp_path / "js")
    config = write_config(tmp_path, config_text(tmp_path, port, http_receiver.url))

    async def run() -> Any:
        import nats

        client = await nats.connect(f"nats://127.0.0.1:{port}", token=TOKEN)
        kv = await client.jetstream().create_key_value(bucket="SYSOPS_FLEET_HOSTS")
        await kv.create("db-01_example", json.dumps(record).encode())
        watcher = Watcher(load_config(config), str(config))
        task = asyncio.create_task(watcher.run())
        try:
            return await scenario(watcher, kv)
        finally:
            watcher.request_stop()
            assert await task == 0
            await client.close()

    try:
        return asyncio.run(run())
    finally:
        server.terminate()
        server.wait(timeout=10)


async def recorded(kv: Any) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((await kv.get("db-01_example")).value)
    return value


@pytest.mark.e2e
def test_an_alert_the_previous_leader_muted_is_announced_by_the_next_when_nothing_mutes_it(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    """The previous leader fired db-01's silence alert under a silence of its own: nobody
    was told.  The next leader, with no silence, announces it (it was taken as told
    before, and never sent) and records that it did."""
    at = round(time.time() - 400.0, 3)
    record = silent_record(at, alerted=True, alert="fleet_host_silent", alert_since=at, muted=True)

    async def scenario(watcher: Watcher, kv: Any) -> dict[str, Any]:
        await until(lambda: http_receiver.requests, what="the muted alert announced")
        await until(lambda: recorded(kv), what="the record")

        async def told() -> bool:
            return (await recorded(kv))["muted"] is False

        await until(told, what="the record saying it was told")
        return await recorded(kv)

    settled = run_watcher_on(tmp_path, http_receiver, record, scenario)
    (request,) = http_receiver.requests
    sent = request.json()
    assert sent["status"] == "firing" and sent["hostname"] == "db-01.example"  # type: ignore[index]
    assert "muted" in sent["message"]  # type: ignore[index]  # "(since ..., muted)"
    expected = Alert(analyzer="fleet", metric="fleet_host_silent",
                     labels=(("host", "db-01.example"),), status=Status.FIRING,
                     severity=Severity.CRITICAL, value=0.0, threshold=None, message="",
                     timestamp=at)  # fmt: skip
    assert sent["alert_id"] == expected.alert_id  # type: ignore[index]  # the same episode
    assert (settled["alerted"], settled["alert"], settled["muted"]) == (
        True, "fleet_host_silent", False,
    )  # fmt: skip


@pytest.mark.e2e
def test_a_transition_a_silence_mutes_is_recorded_untold_and_told_when_the_silence_ends(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    """A silence on db-01 when its alert fires: the record says it fired untold (for a next
    leader), nothing is sent; expiring the silence announces it once, and the record says
    so."""
    from alerting.silences import Silence, SilenceFile

    at = round(time.time() - 400.0, 3)
    silences = SilenceFile(tmp_path / "data" / "silences.json")
    # In force since before the claim's time (a silence judges an alert at its timestamp).
    silence = Silence("s1", (("host", "=", "db-01.example"),), at - 60, at + 7200, "maintenance")
    silences.save([silence])
    claim = {"status": "firing", "metric": "fleet_host_silent", "at": at}
    record = silent_record(at, pending=claim)

    async def scenario(watcher: Watcher, kv: Any) -> tuple[dict[str, Any], int, dict[str, Any]]:
        async def settled() -> bool:
            return (await recorded(kv)).get("pending") is None

        await until(settled, what="the claim settled")
        muted = await recorded(kv)
        notified = watcher.router.stats.notified  # what was handed to the channels by now
        assert silences.expire(silence.id)
        await until(lambda: http_receiver.requests, what="the alert announced")

        async def told() -> bool:
            return (await recorded(kv))["muted"] is False

        await until(told, what="the record saying it was told")
        return muted, notified, await recorded(kv)

    muted, notified, told = run_watcher_on(tmp_path, http_receiver, record, scenario)
    assert (muted["alerted"], muted["alert"], muted["muted"]) == (True, "fleet_host_silent", True)
    assert notified == 0
    (request,) = http_receiver.requests
    sent = request.json()
    assert sent["status"] == "firing" and "muted" in sent["message"]  # type: ignore[index]
    assert told["muted"] is False and told["alert_since"] == at


@pytest.mark.e2e
def test_a_watcher_that_cannot_reach_nats_says_so_through_its_channels(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    """A wrong URL, or the server down, left the fleet unwatched and only the watcher's
    log said so.  Now, past nats_lost_alert_secs, one critical alert goes out through the
    instance's own channels, and its resolve when NATS is reached again (after a reload
    in the outage too)."""
    port = free_port()  # nothing listens there yet
    text = config_text(tmp_path, port, http_receiver.url)
    text = text.replace(
        "[nats]\n", "nats_lost_alert_secs = 1\n[nats]\nreconnect_delay_secs = 0.2\n"
    )
    config = write_config(tmp_path, text)
    server: Any = None

    async def scenario() -> list[dict[str, Any]]:
        nonlocal server
        watcher = Watcher(load_config(config), str(config))
        task = asyncio.create_task(watcher.run())
        try:
            await until(lambda: http_receiver.requests, 90, "the alert that NATS is unreachable")
            server = await asyncio.to_thread(start_server, port, tmp_path / "js")
            await until(lambda: len(http_receiver.requests) >= 2, 120, "its resolve")
            server.terminate()  # and lost while the watcher runs: a new episode
            await asyncio.to_thread(server.wait, 10)
            await until(lambda: len(http_receiver.requests) >= 3, 90, "the loss while running")
            # A reload (SIGHUP) during the outage: new channels, the open alert kept, so
            # its resolve goes out through them and no second FIRING is sent.
            config.write_text(text.replace(http_receiver.url, http_receiver.url + "/reloaded"))
            assert await watcher.reload()
            server = await asyncio.to_thread(start_server, port, tmp_path / "js")
            await until(lambda: len(http_receiver.requests) >= 4, 120, "its resolve too")
        finally:
            watcher.request_stop()
            assert await task == 0
        return [r.json() for r in http_receiver.requests]  # type: ignore[misc]

    try:
        firing, resolved, again, back = asyncio.run(scenario())
        assert [r.path for r in http_receiver.requests][-1].endswith("/reloaded")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    assert (firing["metric"], firing["status"], firing["severity"]) == (
        "fleet_nats_unreachable", "firing", "critical",
    )  # fmt: skip
    assert "fleet watcher w1 cannot reach NATS since" in firing["message"]
    assert "connection refused" in firing["message"] and firing["labels"] == {"instance": "w1"}
    assert resolved["status"] == "resolved" and "reaches NATS again after" in resolved["message"]
    assert resolved["alert_id"] == firing["alert_id"]
    assert again["status"] == "firing" and again["alert_id"] != firing["alert_id"]
    assert "cannot reach NATS since" in again["message"]
    # Back while it runs: resolved, though the watcher may take the lease over (and make a
    # new router) before it notices the connection is back.
    assert back["status"] == "resolved" and back["alert_id"] == again["alert_id"]


@pytest.mark.e2e
def test_a_reload_while_an_alert_is_in_flight_sends_it_once(tmp_path: Path) -> None:
    """A reload (SIGHUP) built the new channel's worker on the same outbox and started it
    beside the old one, whose alert was still in flight: the new worker sent it again,
    same `id` (a CI run under load: a fourth "firing" where its resolve was due).  As the
    agent's reload does, the kept channel's worker is retired first (its batch finished),
    and its successor goes on from its rows."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    bodies: list[dict[str, Any]] = []
    arrived, release = threading.Event(), threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            arrived.set()
            release.wait(30)  # the far side answers once the reload has begun
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    config = write_config(tmp_path, config_text(tmp_path, free_port(), url))
    watcher = Watcher(load_config(config), str(config))

    async def scenario() -> None:
        for worker in watcher.workers:
            worker.start()
        watcher.router.route(
            Alert(analyzer="fleet", metric="host_silent", labels=(("host", "web-01"),),
                  status=Status.FIRING, severity=Severity.CRITICAL, value=300.0,
                  threshold=None, message="web-01 silent", timestamp=time.time())
        )  # fmt: skip
        assert await asyncio.to_thread(arrived.wait, 30)
        running = list(watcher.workers)
        reload = asyncio.create_task(watcher.reload())
        # While the first send is in flight: the reload retires its worker (mended), or a
        # new worker beside it sends the alert again (a second request arrives).
        await until(lambda: len(bodies) >= 2 or any(w.retiring for w in running), 30,
                    "the reload's hand-over")  # fmt: skip
        release.set()
        assert await reload
        for worker in watcher.router.workers:
            assert await worker.drain(10.0)
            await worker.stop()

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        server.shutdown()
    assert [body["status"] for body in bodies] == ["firing"]  # once, not twice
