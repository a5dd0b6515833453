"""sysops-fleet's command line in-process: exit codes, --validate, a NATS that is not there."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from alerting.alert import Alert, Severity, Status
from alerting.router import Router
from fleet.cli import hosts_table, main
from tests.conftest import write_config
from tests.test_nats_channel import free_port


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("sysops-fleet ")


def test_validate_prints_the_settings_with_secrets_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEET_NATS_TOKEN", "very-secret-token")
    config = write_config(tmp_path, f"""
[fleet]
instance = "w1"
data_dir = "{tmp_path}/data"
lease_secs = 5
[nats]
token = "${{FLEET_NATS_TOKEN}}"
[alerting.console]
enabled = true
""")  # fmt: skip
    assert main(["--config", str(config), "--validate"]) == 0
    out = capsys.readouterr().out
    assert f"# {config}: valid" in out and "# channels: console" in out
    assert 'token = "***"' in out and "very-secret-token" not in out
    assert "lease_secs = 5" in out and 'bucket_prefix = "SYSOPS_FLEET"' in out


def test_a_bad_configuration_exits_2_with_file_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, '[fleet]\ninstance = "w"\nlease_secs = 0\nwhat = 1\n')
    assert main(["--config", str(config), "hosts"]) == 2
    err = capsys.readouterr().err
    assert f"{config}:3: fleet.lease_secs:" in err
    assert f"{config}:4: fleet.what:" in err
    assert main(["--config", str(tmp_path / "missing.toml"), "run"]) == 2
    assert "file not found" in capsys.readouterr().err


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2


def test_hosts_without_nats_is_a_clear_error_within_seconds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens there
    config = write_config(tmp_path, f'[nats]\nurl = "nats://127.0.0.1:{port}"\n')
    started = time.monotonic()
    assert main(["--config", str(config), "hosts", "--format", "json"]) == 1
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert err.startswith("sysops-fleet hosts: cannot reach NATS: ")
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_the_table_has_one_row_per_host() -> None:
    rows = [
        {"hostname": "web-01", "status": "healthy", "last_heartbeat": "2026-01-01T00:00:00Z",
         "agent_version": "0.1.0", "uptime_secs": 90061, "reasons": []},
        {"hostname": "db-01", "status": "degraded", "last_heartbeat": None,
         "agent_version": None, "uptime_secs": None, "reasons": ["a", "b"]},
    ]  # fmt: skip
    lines = hosts_table(rows).splitlines()
    assert lines[0].split() == [
        "HOST",
        "STATUS",
        "LAST",
        "HEARTBEAT",
        "VERSION",
        "UPTIME",
        "REASONS",
    ]
    assert lines[1].split() == ["web-01", "healthy", "2026-01-01T00:00:00Z", "0.1.0", "1d01h", "-"]
    assert lines[2].split() == ["db-01", "degraded", "-", "-", "-", "a;", "b"]


ALERT = Alert(analyzer="fleet", metric="fleet_host_silent", labels=(("host", "web-01"),),
              status=Status.FIRING, severity=Severity.CRITICAL, value=180.0, threshold=None,
              message="web-01 is silent", timestamp=1_700_000_000.0, hostname="web-01")  # fmt: skip


def test_an_adopted_alert_is_not_sent_and_its_resolve_is_the_same_episode() -> None:
    """A new leader adopts what the previous one fired: no second FIRING, and the RESOLVED
    carries the first firing's alert_id; the alert keeps the host it is about."""
    router = Router("watcher-2", [])
    router.adopt(ALERT, now=1_700_000_100.0)
    router.adopt(ALERT, now=1_700_000_200.0)  # twice: still one track
    assert router.route(ALERT) is None  # already announced
    resolve = dataclasses.replace(ALERT, status=Status.RESOLVED, timestamp=1_700_000_300.0)
    sent = router.route(resolve)
    assert sent is not None and sent.status is Status.RESOLVED
    assert sent.alert_id == ALERT.alert_id and sent.hostname == "web-01"
    assert sent.context["lasted_secs"] == 300
    assert router.repeat_due(1_700_100_000.0) == []  # resolved: nothing to repeat


def test_an_alert_adopted_as_muted_is_announced_once_nothing_mutes_it() -> None:
    """The previous leader muted it (a silence of its own): announced here at the next look,
    in the same episode."""
    router = Router("watcher-2", [])
    router.adopt(ALERT, now=1_700_000_100.0, muted=True)
    assert router.muted(ALERT.fingerprint) is True
    (told,) = router.repeat_due(1_700_000_105.0)
    assert told.status is Status.FIRING and told.alert_id == ALERT.alert_id
    assert "(since" in told.message and "muted" in told.message
    assert router.muted(ALERT.fingerprint) is False
    assert router.muted("not firing here") is None


def test_an_alert_adopted_as_muted_and_still_muted_ends_untold(tmp_path: Path) -> None:
    """Muted here too: never announced, so its end is no news either."""
    from alerting.silences import Silence, SilenceFile

    silences = SilenceFile(tmp_path / "silences.json")
    silences.save([Silence("s1", (("host", "=", "web-01"),), 1.0, 2e9, "maintenance")])
    router = Router("watcher-2", [], silences=silences)
    router.adopt(ALERT, now=1_700_000_100.0, muted=True)
    assert router.repeat_due(1_700_000_105.0) == []  # muted here too
    resolve = dataclasses.replace(ALERT, status=Status.RESOLVED, timestamp=1_700_000_300.0)
    assert router.route(resolve) is None  # nobody was told it began


def test_a_malformed_heartbeat_is_one_row_of_dashes_not_a_broken_listing(
    tmp_path: Path,
) -> None:
    from fleet.cli import host_row
    from fleet.config import load_config

    loaded = load_config(write_config(tmp_path, f'[fleet]\ndata_dir = "{tmp_path}/d"\n'))
    now = 1_700_000_000.0
    bad = {"hostname": "a", "heartbeat_interval_secs": "60", "reasons": "disk full",
           "agent_version": 7, "uptime_secs": "long", "timestamp": 5}  # fmt: skip
    row = host_row("a", {}, bad, now - 100, loaded, now)
    assert row["heartbeat_interval_secs"] == 60.0  # the default, as the judge takes it
    assert row["reasons"] == [] and row["agent_version"] is None
    assert row["uptime_secs"] is None and row["last_heartbeat"] is None
    good = {"hostname": "b", "heartbeat_interval_secs": 10, "reasons": ["x"], "status": "degraded"}
    table = hosts_table([row, host_row("b", {}, good, now - 1, loaded, now)])
    assert table.splitlines()[1].split() == ["a", "healthy", "-", "-", "-", "-"]
    # A negative interval is no interval: not silent after "3 x -10 s".
    negative = host_row("c", {}, {"hostname": "c", "heartbeat_interval_secs": -10}, now - 1,
                        loaded, now)  # fmt: skip
    assert negative["status"] == "healthy"


def test_a_host_whose_alert_a_silence_muted_is_listed_as_muted(tmp_path: Path) -> None:
    from fleet.cli import host_row
    from fleet.config import load_config

    loaded = load_config(write_config(tmp_path, f'[fleet]\ndata_dir = "{tmp_path}/d"\n'))
    now = 1_700_000_000.0
    record = {"hostname": "a", "status": "silent", "alerted": True, "muted": True,
              "alert": "fleet_host_silent", "last_heartbeat": "2023-11-14T22:00:00Z"}  # fmt: skip
    muted = host_row("a", record, {}, None, loaded, now)
    told = host_row("b", {**record, "hostname": "b", "muted": False}, {}, None, loaded, now)
    ended = host_row("c", {**record, "hostname": "c", "alerted": False}, {}, None, loaded, now)
    assert [r["muted"] for r in (muted, told, ended)] == [True, False, False]
    lines = hosts_table([muted, told]).splitlines()
    assert lines[1].split()[:3] == ["a", "silent/muted", "2023-11-14T22:00:00Z"]
    assert lines[2].split()[:3] == ["b", "silent", "2023-11-14T22:00:00Z"]


class SlowJetStream:
    """A JetStream API on a plain nats-server that knows no stream and answers its first
    request after `first_delay` seconds (a busy server), the others at once."""

    NOT_FOUND = b'{"error":{"code":404,"err_code":10059,"description":"stream not found"}}'

    def __init__(self, url: str, first_delay: float) -> None:
        import threading

        self.url, self.first_delay = url, first_delay
        self.requests: list[str] = []
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        import nats

        client = await nats.connect(self.url)

        async def answer(msg: Any) -> None:
            self.requests.append(msg.subject)
            if len(self.requests) == 1:
                await asyncio.sleep(self.first_delay)
            await msg.respond(self.NOT_FOUND)

        await client.subscribe("$JS.API.>", cb=answer)
        await client.flush()
        self.loop, self.stopping = asyncio.get_running_loop(), asyncio.Event()
        self.ready.set()
        await self.stopping.wait()
        await client.close()

    def __enter__(self) -> SlowJetStream:
        self.thread.start()
        assert self.ready.wait(30), "the JetStream stand-in did not subscribe"
        return self

    def __exit__(self, *_: object) -> None:
        assert self.loop is not None and self.stopping is not None
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(30)


@pytest.mark.e2e
def test_a_request_a_busy_server_answers_after_nats_pys_five_seconds_is_waited_for(
    tmp_path: Path, nats_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # It failed the command as "JetStream did not answer within 30 s" after 5 s.
    config = write_config(tmp_path, f'[nats]\nurl = "{nats_url}"\n')
    with SlowJetStream(nats_url, first_delay=6.0) as jetstream:
        assert main(["--config", str(config), "hosts", "--format", "json"]) == 0, (
            capsys.readouterr().err
        )
    assert capsys.readouterr().out == "[]\n"
    assert len(jetstream.requests) >= 2  # the slow one, and the reads after it


def test_a_delivery_that_stalls_is_an_error_not_a_shorter_list() -> None:
    """A second reader's finding: a read of the latest messages took a delivery slower
    than its timeout for "nothing more", so `hosts` listed fewer hosts, exit 0 (a stand-in
    for the JetStream context: a stalled delivery cannot be made on demand)."""
    import json
    from types import SimpleNamespace

    import nats.errors

    from fleet import store

    class Subscription:
        def __init__(self) -> None:
            self.delivered = 0

        async def next_msg(self, timeout: float) -> Any:
            self.delivered += 1
            if self.delivered == 1:
                return SimpleNamespace(
                    subject="$KV.B.h1", headers=None, data=json.dumps({"status": "silent"}).encode(),
                    metadata=SimpleNamespace(num_pending=2, sequence=SimpleNamespace(stream=1)),
                )  # fmt: skip
            raise nats.errors.TimeoutError

        async def unsubscribe(self) -> None:
            return None

    class JetStream:
        def __init__(self, subjects: dict[str, int]) -> None:
            self.subjects = subjects

        async def stream_info(self, name: str, subjects_filter: str | None = None) -> Any:
            return SimpleNamespace(state=SimpleNamespace(subjects=self.subjects, messages=9))

        async def subscribe(self, *_: Any, **__: Any) -> Subscription:
            return Subscription()

    three = {"$KV.B.h1": 1, "$KV.B.h2": 1, "$KV.B.h3": 1}
    with pytest.raises(store.IncompleteRead, match="delivered 1 of the 3 latest messages"):
        asyncio.run(store.records(JetStream(three), "B"))
    # Every subject came (the pending rest was removed meanwhile): the list is whole.
    assert list(asyncio.run(store.records(JetStream({"$KV.B.h1": 1}), "B"))) == ["h1"]
    # A stream that holds messages, none on these subjects: nothing, without waiting.
    assert asyncio.run(store.records(JetStream({}), "B")) == {}


@pytest.mark.e2e
def test_a_read_that_times_out_says_what_it_waited_for_not_the_budget(
    tmp_path: Path,
    nats_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every TimeoutError was reported as "did not answer within 30 s", after 0.2 s.
    from fleet import cli, store

    async def stalled(*_: Any) -> str:
        raise store.IncompleteRead("JetStream delivered 1 of the 3 latest messages of KV_X")

    monkeypatch.setattr(cli, "_answer", stalled)
    config = write_config(tmp_path, f'[nats]\nurl = "{nats_url}"\n')
    assert main(["--config", str(config), "hosts"]) == 1
    err = capsys.readouterr().err
    assert err == "sysops-fleet hosts: JetStream delivered 1 of the 3 latest messages of KV_X\n"
    with pytest.raises(SystemExit) as usage:
        main(["--config", str(config), "changes", "h1", "--limit", "0"])
    assert usage.value.code == 2 and "at least 1, not 0" in capsys.readouterr().err


@pytest.mark.e2e
def test_a_server_without_jetstream_is_said_so(
    tmp_path: Path, nats_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, f'[nats]\nurl = "{nats_url}"\n')
    assert main(["--config", str(config), "hosts"]) == 1
    assert capsys.readouterr().err == (
        "sysops-fleet hosts: the server has no JetStream (start it with -js, or a jetstream {} "
        "block in its configuration)\n"
    )
