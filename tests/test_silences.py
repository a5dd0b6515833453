"""Silences from the CLI, maintenance windows from the config, and the router obeying both."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path

import pytest

from alerting.alert import Alert, Severity, Status
from alerting.delivery import ChannelWorker
from alerting.router import Router
from alerting.silences import MaintenanceWindow, SilenceFile, matches, parse_duration, parse_matcher
from tests.conftest import run_agent, write_config
from tests.test_router import Recorder


def disk(t: float, status: Status = Status.FIRING, mountpoint: str = "/backup") -> Alert:
    return Alert(analyzer="threshold", metric="disk_used_percent", labels=(("device", "/dev/sdb1"), ("mountpoint", mountpoint)), status=status,
                 severity=Severity.WARN, value=95.0, threshold=90.0, message="disk", timestamp=t, hostname="h")  # fmt: skip


def test_matchers_and_durations() -> None:
    alert = disk(0)
    assert matches(
        [parse_matcher("metric=disk_used_percent"), parse_matcher("mountpoint=~/back.*")], alert
    )
    assert not matches([parse_matcher("mountpoint!=/backup")], alert)
    assert matches([parse_matcher("severity=warn"), parse_matcher("host=h")], alert)
    assert parse_duration("1h30m") == 5400 and parse_duration("2d") == 172800
    for bad in ("2 hours", "", "h"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    with pytest.raises(ValueError):
        parse_matcher("no operator")


def test_maintenance_window_in_its_time_zone_and_over_midnight() -> None:
    window = MaintenanceWindow(
        ("sat",),
        dtime(23, 0),
        dtime(2, 0),
        "Europe/Berlin",
        (("metric", "=", "disk_used_percent"),),
    )
    # Saturday 2026-11-21 23:30 in Berlin (UTC+1) = 22:30 UTC; Sunday 01:30 Berlin = 00:30 UTC.
    sat_night = datetime(2026, 11, 21, 22, 30, tzinfo=UTC).timestamp()
    sun_morning = datetime(2026, 11, 22, 0, 30, tzinfo=UTC).timestamp()
    sun_later = datetime(2026, 11, 22, 2, 30, tzinfo=UTC).timestamp()
    assert window.silences(disk(sat_night), sat_night) and window.silences(
        disk(sun_morning), sun_morning
    )
    assert not window.active(sun_later)
    assert not window.silences(
        Alert(
            analyzer="t",
            metric="cpu_usage_percent",
            labels=(),
            status=Status.FIRING,
            severity=Severity.WARN,
            value=1,
            threshold=1,
            message="",
            timestamp=sat_night,
        ),
        sat_night,
    )


def test_silence_file_add_list_expire(tmp_path: Path) -> None:
    store = SilenceFile(tmp_path / "silences.json")
    silence = store.add([("mountpoint", "=", "/backup")], 3600, "restore test", "alice")
    (loaded,) = store.load()
    assert loaded == silence and loaded.active(time.time())
    assert store.expire(silence.id) and not store.load()[0].active(time.time() + 1)
    assert not store.expire("nope")


def test_router_obeys_silences_without_restart(tmp_path: Path) -> None:
    async def scenario() -> list[Alert]:
        recorder = Recorder()
        worker = ChannelWorker(recorder, max_age=float("inf"))
        worker.start()
        store = SilenceFile(tmp_path / "silences.json")
        router = Router("h", [worker], min_interval_secs=300, dedup_window_secs=0, silences=store)
        silence = store.add([("mountpoint", "=", "/backup")], 3600, "restore test")
        now = time.time()
        router.route(disk(now))  # silenced: not sent, and its resolve will not be either
        router.route(disk(now, mountpoint="/var"))  # another mount: sent
        router.route(disk(now + 1, Status.RESOLVED))
        store.expire(silence.id)
        store.current(check_every=0)  # the running agent notices the change
        router.route(disk(now + 2))  # fires again, no longer silenced
        assert await worker.drain(2.0)
        await worker.stop()
        assert router.stats.silenced == 1
        return recorder.sent

    sent = asyncio.run(scenario())
    assert [(dict(a.labels)["mountpoint"], a.status) for a in sent] == [
        ("/var", Status.FIRING),
        ("/backup", Status.FIRING),
    ]


def test_silence_cli(tmp_path: Path) -> None:
    config = write_config(tmp_path, f'[agent]\ndata_dir = "{tmp_path / "data"}"\n')
    added = run_agent("--config", str(config), "silence", "add", "--match", "metric=disk_used_percent",
                      "--match", "mountpoint=/backup", "--for", "2h", "--comment", "restore test")  # fmt: skip
    assert added.returncode == 0, added.stderr
    silence_id = added.stdout.split()[0]
    listed = run_agent("--config", str(config), "silence", "list")
    assert (
        silence_id in listed.stdout
        and "metric=disk_used_percent mountpoint=/backup" in listed.stdout
    )
    assert "restore test" in listed.stdout
    assert run_agent("--config", str(config), "silence", "expire", silence_id).returncode == 0
    assert silence_id not in run_agent("--config", str(config), "silence", "list").stdout
    bad = run_agent(
        "--config",
        str(config),
        "silence",
        "add",
        "--match",
        "oops",
        "--for",
        "1h",
        "--comment",
        "x",
    )
    assert bad.returncode == 2 and "bad matcher" in bad.stderr


def test_configured_inhibition_needs_equal_labels() -> None:
    from agent.assembly import inhibit_rules
    from agent.config import ConfigError, parse_config_text

    text = '[[alerting.inhibit]]\nsource_match = ["metric=gpu_up"]\ntarget_match = ["metric=~gpu_.*"]\nequal = ["gpu"]\n'
    rules = inhibit_rules(parse_config_text(text, "t.toml").settings)
    with pytest.raises(ConfigError, match=r"alerting\.inhibit\[0\]\.equal: required"):
        parse_config_text('[[alerting.inhibit]]\nsource_match = ["metric=gpu_up"]\n', "t.toml")

    def gpu(metric: str, gpu_index: str, t: float, severity: Severity = Severity.WARN) -> Alert:
        return Alert(
            analyzer="threshold",
            metric=metric,
            labels=(("gpu", gpu_index),),
            status=Status.FIRING,
            severity=severity,
            value=0,
            threshold=1,
            message=metric,
            timestamp=t,
            hostname="h",
        )

    async def scenario() -> list[Alert]:
        recorder = Recorder()
        worker = ChannelWorker(recorder, max_age=float("inf"))
        worker.start()
        router = Router("h", [worker], inhibit_rules=rules)
        router.route(gpu("gpu_up", "0", 1.0, Severity.EMERGENCY))
        router.route(gpu("gpu_temperature_celsius", "0", 2.0))  # same GPU: muted
        router.route(gpu("gpu_temperature_celsius", "1", 3.0))  # another GPU: sent
        assert await worker.drain(2.0)
        await worker.stop()
        return recorder.sent

    sent = asyncio.run(scenario())
    assert [(a.metric, dict(a.labels)["gpu"]) for a in sent] == [
        ("gpu_up", "0"),
        ("gpu_temperature_celsius", "1"),
    ]
