"""Silences from the CLI, maintenance windows from the config, and the router obeying both."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import math
import time
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pytest

from agent.assembly import BUILT_IN_INHIBITS, LOAD_EBB_SECS
from alerting import router as router_module
from alerting.alert import Alert, Severity, Status
from alerting.delivery import ChannelWorker
from alerting.format import when
from alerting.outbox import MemoryOutbox
from alerting.router import Router
from alerting.silences import (
    InhibitRule,
    MaintenanceWindow,
    SilenceFile,
    matches,
    parse_duration,
    parse_matcher,
)
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


def test_a_window_whose_start_and_end_are_the_same_is_a_whole_day() -> None:
    """`weekdays = ["sat"]` alone (start and end both 00:00 by default) was never open."""
    from agent.assembly import maintenance_windows
    from agent.config import ConfigError, parse_config_text

    text = '[[alerting.maintenance]]\nweekdays = ["sat"]\n'
    (saturday,) = maintenance_windows(parse_config_text(text, "t.toml").settings)
    friday_late = datetime(2026, 11, 20, 23, 59, tzinfo=UTC).timestamp()
    assert not saturday.active(friday_late)
    for hour in (0, 9, 23):
        assert saturday.active(datetime(2026, 11, 21, hour, 30, tzinfo=UTC).timestamp())
    assert not saturday.active(datetime(2026, 11, 22, 0, 0, tzinfo=UTC).timestamp())
    # Every day with start = end is open all the time: refused (a window with only a name,
    # its times to be decided, muted every alert for good).
    with pytest.raises(
        ConfigError, match=r"maintenance\[0\]\.end: the window is open all the time"
    ):
        parse_config_text('[[alerting.maintenance]]\nname = "backup"\n', "t.toml")
    ten_to_ten = MaintenanceWindow(("sat",), dtime(10, 0), dtime(10, 0), "UTC", ())
    assert ten_to_ten.active(datetime(2026, 11, 22, 9, 59, tzinfo=UTC).timestamp())  # Sunday
    assert not ten_to_ten.active(datetime(2026, 11, 22, 10, 0, tzinfo=UTC).timestamp())
    assert not ten_to_ten.active(datetime(2026, 11, 21, 9, 59, tzinfo=UTC).timestamp())


def test_silence_file_add_list_expire(tmp_path: Path) -> None:
    store = SilenceFile(tmp_path / "silences.json")
    silence = store.add([("mountpoint", "=", "/backup")], 3600, "restore test", "alice")
    (loaded,) = store.load()
    assert loaded == silence and loaded.active(time.time())
    assert store.expire(silence.id) and not store.load()[0].active(time.time() + 1)
    assert not store.expire("nope")


def test_a_hand_edited_silence_with_an_expression_too_large_is_skipped(tmp_path: Path) -> None:
    """A second reader's finding: "a{99999999999999999999}" raised OverflowError, not re.error,
    from the file's load into the router's every route."""
    path = tmp_path / "silences.json"
    now = time.time()
    path.write_text(json.dumps([
        {"id": "bad", "matchers": [["metric", "=~", "a{99999999999999999999}"]], "starts": now - 1,
         "ends": now + 3600},
        {"id": "good", "matchers": [["metric", "=", "m"]], "starts": now - 1, "ends": now + 3600},
    ]))  # fmt: skip
    assert [s.id for s in SilenceFile(path).load()] == ["good"]


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
    # A new user's findings: a bad expression was a traceback (exit 1), "!=~" a silence of
    # everything but "~x".
    for match, said in (("metric=~[bad", "bad regular expression in '[bad'"),
                        ("metric=~a{99999999999999999999}", "bad regular expression in"),
                        ("metric!=~x", "there is no '!=~'")):  # fmt: skip
        refused = run_agent("--config", str(config), "silence", "add", "--match", match,
                            "--for", "1h", "--comment", "x")  # fmt: skip
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    empty = run_agent("--config", str(config), "silence", "list")
    assert empty.returncode == 0 and "no active silences" in empty.stderr
    # No end, or one no calendar shows: `99999999999999d` was written, its id never shown
    # ("Value too large"), and every `list` after it failed the same way.
    for duration in ("0m", "367d", "99999999999999d"):
        refused = run_agent("--config", str(config), "silence", "add", "--match", "metric=x",
                            "--for", duration, "--comment", "x")  # fmt: skip
        assert refused.returncode == 2 and "at most 366 days" in refused.stderr, refused.stderr
    assert run_agent("--config", str(config), "silence", "list").returncode == 0
    a_year = run_agent("--config", str(config), "silence", "add", "--match", "metric=x",
                       "--for", "366d", "--comment", "decommissioning")  # fmt: skip
    assert a_year.returncode == 0, a_year.stderr
    # A file edited by hand to an end past any calendar is listed, not a failure.
    path = tmp_path / "data" / "silences.json"
    edited = json.loads(path.read_text())
    edited[0]["ends"] = 1e30
    path.write_text(json.dumps(edited))
    listed = run_agent("--config", str(config), "silence", "list")
    assert listed.returncode == 0 and "decommissioning" in listed.stdout, listed.stderr
    assert "(epoch)" in listed.stdout


def test_configured_inhibition_needs_equal_labels() -> None:
    from agent.assembly import inhibit_rules
    from agent.config import ConfigError, parse_config_text

    text = '[[alerting.inhibit]]\nsource_match = ["metric=gpu_up"]\ntarget_match = ["metric=~gpu_.*"]\nequal = ["gpu"]\n'
    rules = inhibit_rules(parse_config_text(text, "t.toml").settings)
    with pytest.raises(ConfigError, match=r"alerting\.inhibit\[0\]\.equal: required"):
        parse_config_text('[[alerting.inhibit]]\nsource_match = ["metric=gpu_up"]\n', "t.toml")
    # No matchers match every alert: the first alert on a host would mute all the others.
    with pytest.raises(ConfigError) as refused:
        parse_config_text('[[alerting.inhibit]]\nequal = ["host"]\n', "t.toml")
    said = [str(p) for p in refused.value.problems]
    assert len(said) == 2 and all("required: matchers of the alerts" in p for p in said), said
    assert "alerting.inhibit[0].source_match" in said[0]
    assert "alerting.inhibit[0].target_match" in said[1]

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


# -- a mute ends: what still fires is announced then ---------------------------------------


def routed(steps: list[tuple[str, Any]], refresh: Any = None, **router_options: Any) -> list[Alert]:
    """Run the router through ("route", alert), ("sweep", now) (the housekeeping's
    `repeat_due`) and ("call", function) steps; what the channel got, in order."""

    async def scenario() -> list[Alert]:
        recorder = Recorder()
        worker = ChannelWorker(recorder, max_age=float("inf"))
        worker.start()
        router = Router("h", [worker], min_interval_secs=3600, dedup_window_secs=0,
                        refresh=refresh, **router_options)  # fmt: skip
        for kind, what in steps:
            if kind == "route":
                router.route(what)
            elif kind == "sweep":
                router.repeat_due(what)
            else:
                what()
        assert await worker.drain(2.0)
        await worker.stop()
        return recorder.sent

    return asyncio.run(scenario())


def test_an_inhibited_alert_still_firing_when_its_source_resolves_is_announced_then() -> None:
    rule = InhibitRule(source=(("metric", "=", "gpu_up"),), target=(("metric", "=~", "gpu_.*"),),
                       equal=("gpu",))  # fmt: skip

    def gpu(metric: str, t: float, status: Status = Status.FIRING) -> Alert:
        return Alert(analyzer="threshold", metric=metric, labels=(("gpu", "0"),), status=status,
                     severity=Severity.CRITICAL, value=t, threshold=1, message=metric, timestamp=t)  # fmt: skip

    def now_value(alert: Alert, now: float) -> Alert:  # the runtime's refresh: as it is now
        return dataclasses.replace(alert, timestamp=now, value=now, message="as of now")

    sent = routed(
        [
            ("route", gpu("gpu_up", 1.0)),  # fell off the bus
            ("route", gpu("gpu_temperature_celsius", 2.0)),  # muted: the bus says it all
            ("sweep", 3.0),  # nothing ended: nothing to announce
            ("route", gpu("gpu_up", 4.0, Status.RESOLVED)),
            ("sweep", 5.0),  # the temperature is still over its level: news now
            ("sweep", 6.0),  # announced once, not at every sweep
            ("route", gpu("gpu_temperature_celsius", 7.0, Status.RESOLVED)),
        ],
        refresh=now_value,
        inhibit_rules=[rule],
    )
    assert [(a.metric, a.status, a.timestamp) for a in sent] == [
        ("gpu_up", Status.FIRING, 1.0),
        ("gpu_up", Status.RESOLVED, 4.0),
        ("gpu_temperature_celsius", Status.FIRING, 5.0),
        ("gpu_temperature_celsius", Status.RESOLVED, 7.0),  # announced, so its end is said
    ]
    announced = sent[2]
    assert announced.value == 5.0  # as of now
    assert announced.message == (
        "gpu_temperature_celsius (since 1970-01-01 00:00:02 UTC, muted; 5°C now)"
    )
    assert announced.first_fired == 2.0  # the alert_id of the episode that began muted
    assert announced.alert_id == sent[3].alert_id


def test_a_rule_with_a_linger_mutes_what_ebbs_after_its_source_ended() -> None:
    """The load average while the CPU's alert fires, and for LOAD_EBB_SECS after it: a load
    that decays meanwhile was never news; one still high after it is announced then; one
    more severe than the CPU's alert is not muted at all."""
    (rule,) = [r for r in BUILT_IN_INHIBITS if r.linger_secs]
    assert rule.linger_secs == LOAD_EBB_SECS == 300.0

    def alert(metric: str, t: float, status: Status = Status.FIRING, **kw: Any) -> Alert:
        fields: dict[str, Any] = {"analyzer": "zscore", "severity": Severity.WARN, **kw}
        return Alert(metric=metric, labels=(), status=status, value=t, threshold=1,
                     message=metric, timestamp=t, **fields)  # fmt: skip

    cpu = functools.partial(alert, "cpu_usage_percent", analyzer="threshold",
                            severity=Severity.CRITICAL)  # fmt: skip
    load = functools.partial(alert, "cpu_load1")
    sent = routed(
        [
            ("route", cpu(0.0)),
            ("route", load(300.0)),  # muted: the CPU's alert says it
            ("route", cpu(600.0, Status.RESOLVED)),
            ("sweep", 605.0),  # the load still ebbs: still muted
            ("route", load(660.0, Status.RESOLVED)),  # it ended muted: nothing to say
            ("route", cpu(1000.0)),
            ("route", load(1300.0)),
            ("route", cpu(1600.0, Status.RESOLVED)),
            ("sweep", 1899.0),
            ("sweep", 1901.0),  # still high five minutes on: not the CPU's any more
            ("route", load(2000.0, Status.RESOLVED)),
            ("route", load(2100.0, severity=Severity.CRITICAL)),  # no CPU alert: news
            ("route", load(2200.0, Status.RESOLVED, severity=Severity.CRITICAL)),
        ],
        inhibit_rules=list(BUILT_IN_INHIBITS),
    )
    assert [(a.metric, a.status, a.timestamp) for a in sent] == [
        ("cpu_usage_percent", Status.FIRING, 0.0),
        ("cpu_usage_percent", Status.RESOLVED, 600.0),
        ("cpu_usage_percent", Status.FIRING, 1000.0),
        ("cpu_usage_percent", Status.RESOLVED, 1600.0),
        ("cpu_load1", Status.FIRING, 1901.0),
        ("cpu_load1", Status.RESOLVED, 2000.0),
        ("cpu_load1", Status.FIRING, 2100.0),
        ("cpu_load1", Status.RESOLVED, 2200.0),
    ]
    assert "muted" in sent[4].message


def test_a_reload_keeps_what_a_lingering_source_mutes() -> None:
    """SIGHUP in the CPU's five minutes: the load it left is still the CPU's."""
    router = Router("h", [], inhibit_rules=BUILT_IN_INHIBITS)

    def alert(metric: str, t: float, status: Status = Status.FIRING) -> Alert:
        return Alert(analyzer="zscore", metric=metric, labels=(), status=status,
                     severity=Severity.WARN, value=t, threshold=1, message=metric, timestamp=t)  # fmt: skip

    assert router.route(alert("cpu_usage_percent", 0.0)) is not None
    assert router.route(alert("cpu_load1", 300.0)) is None  # muted
    assert router.route(alert("cpu_usage_percent", 600.0, Status.RESOLVED)) is not None
    router.reconfigure("h", [], min_interval_secs=14400, dedup_window_secs=300,
                       inhibit_rules=BUILT_IN_INHIBITS)  # fmt: skip
    assert router.repeat_due(605.0) == []  # still the CPU's
    assert router.route(alert("cpu_load1", 660.0, Status.RESOLVED)) is None  # never told
    router.reconfigure("h", [], min_interval_secs=14400, dedup_window_secs=300)  # rules gone
    assert router.route(alert("cpu_usage_percent", 700.0)) is not None
    assert router.route(alert("cpu_load1", 710.0)) is not None  # nothing mutes it now


def test_a_source_lingers_from_when_its_end_is_told() -> None:
    """The CPU's threshold ended while z-score's alert, folded into its episode, still fired:
    for the receiver the CPU's alert goes on, and so does the mute.  A flapping CPU alert's
    resolve is held for the dedup window: the linger waits for it too."""

    def alert(metric: str, t: float, status: Status = Status.FIRING, **kw: Any) -> Alert:
        fields: dict[str, Any] = {"analyzer": "zscore", **kw}
        return Alert(metric=metric, labels=(), status=status, severity=Severity.WARN, value=t,
                     threshold=1, message=metric, timestamp=t, **fields)  # fmt: skip

    def told(router: Router, steps: list[Alert | float]) -> list[tuple[str, str, float]]:
        out = []
        for step in steps:
            sent = [router.route(step)] if isinstance(step, Alert) else router.repeat_due(step)
            out += [(a.metric, a.status.value, a.timestamp) for a in sent if a is not None]
        return out

    cpu = functools.partial(alert, "cpu_usage_percent", analyzer="threshold")
    folded = Router("h", [], min_interval_secs=14400, dedup_window_secs=0,
                    inhibit_rules=BUILT_IN_INHIBITS)  # fmt: skip
    assert told(folded, [
        cpu(0.0), alert("cpu_usage_percent", 10.0), alert("cpu_load1", 60.0),
        cpu(100.0, Status.RESOLVED),  # waits for z-score's: the episode goes on
        901.0,  # five minutes after the threshold's end: still the CPU's episode
        alert("cpu_usage_percent", 1000.0, Status.RESOLVED),  # the episode's end, told
        1200.0, alert("cpu_load1", 1250.0, Status.RESOLVED),  # ebbed within five minutes
    ]) == [("cpu_usage_percent", "firing", 0.0), ("cpu_usage_percent", "resolved", 1000.0)]  # fmt: skip

    flapping = Router("h", [], min_interval_secs=14400, dedup_window_secs=600,
                      inhibit_rules=BUILT_IN_INHIBITS)  # fmt: skip
    assert told(flapping, [
        cpu(0.0), cpu(100.0, Status.RESOLVED), cpu(200.0),  # back within the window: flaps
        alert("cpu_load1", 250.0), cpu(600.0, Status.RESOLVED),  # held until 1200
        901.0, 1201.0,  # the resolve told at 1201: the linger starts there
        1400.0, alert("cpu_load1", 1450.0, Status.RESOLVED),
    ]) == [
        ("cpu_usage_percent", "firing", 0.0), ("cpu_usage_percent", "resolved", 100.0),
        ("cpu_usage_percent", "firing", 200.0), ("cpu_usage_percent", "resolved", 600.0),
    ]  # fmt: skip


def test_a_lingering_source_forgotten_for_room_mutes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A source waiting for its episode's end lingers without an end of its own: when a storm
    of other alerts pushes it out of the bounded table, its mute goes with it, not on forever."""
    monkeypatch.setattr(router_module, "MAX_TRACKED", 3)

    def alert(metric: str, t: float, status: Status = Status.FIRING, **kw: Any) -> Alert:
        fields: dict[str, Any] = {"analyzer": "zscore", "labels": (), **kw}
        return Alert(metric=metric, status=status, severity=Severity.WARN, value=t,
                     threshold=1, message=metric, timestamp=t, **fields)  # fmt: skip

    router = Router("h", [], min_interval_secs=14400, dedup_window_secs=0,
                    inhibit_rules=BUILT_IN_INHIBITS)  # fmt: skip
    assert router.route(alert("cpu_usage_percent", 0.0, analyzer="threshold")) is not None
    assert router.route(alert("cpu_usage_percent", 10.0)) is None  # the same episode
    assert router.route(alert("cpu_load1", 60.0)) is None  # muted by the CPU's
    # The threshold's end waits for z-score's: it lingers until the episode's end is told.
    assert router.route(alert("cpu_usage_percent", 100.0, Status.RESOLVED, analyzer="threshold")) is None  # fmt: skip
    for i in range(6):  # a storm of other alerts: the oldest tracks are forgotten for room
        disk = alert("disk_used_percent", 200.0 + i, labels=(("mount", f"/m{i}"),))
        assert router.route(disk) is not None
    assert router.route(alert("cpu_load1", 1000.0)) is not None  # nothing mutes it now


def test_a_value_of_now_that_cannot_be_read_is_not_told_as_now(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refresh that fails (logged) leaves the value of then: not shown as "now"."""
    rule = InhibitRule(source=(("metric", "=", "gpu_up"),), target=(("metric", "=~", "gpu_.*"),),
                       equal=("gpu",))  # fmt: skip

    def gpu(metric: str, t: float, status: Status = Status.FIRING) -> Alert:
        return Alert(analyzer="threshold", metric=metric, labels=(("gpu", "0"),), status=status,
                     severity=Severity.CRITICAL, value=85.0, threshold=1, message=metric,
                     timestamp=t)  # fmt: skip

    def broken(alert: Alert, now: float) -> Alert:
        raise RuntimeError("the store is gone")

    sent = routed(
        [
            ("route", gpu("gpu_up", 1.0)),
            ("route", gpu("gpu_temperature_celsius", 2.0)),
            ("route", gpu("gpu_up", 4.0, Status.RESOLVED)),
            ("sweep", 5.0),
        ],
        refresh=broken,
        inhibit_rules=[rule],
    )
    announced = sent[-1]
    assert announced.message == "gpu_temperature_celsius (since 1970-01-01 00:00:02 UTC, muted)"
    assert math.isnan(announced.value)
    assert "refreshing gpu_temperature_celsius as it stands now failed" in caplog.text


def test_a_silenced_alert_still_firing_when_the_silence_ends_is_announced_at_its_severity(
    tmp_path: Path,
) -> None:
    store = SilenceFile(tmp_path / "silences.json")
    silence = store.add([("mountpoint", "=", "/backup")], 3600, "resize")
    other = store.add([("mountpoint", "=", "/srv")], 3600, "resize")
    now = time.time()
    escalated = dataclasses.replace(
        disk(now + 1), status=Status.ESCALATED, severity=Severity.CRITICAL
    )
    steps: list[tuple[str, Any]] = [
        ("route", disk(now)),
        ("route", escalated),  # worse while silenced
        ("route", disk(now, mountpoint="/srv")),
        ("route", disk(now + 2, Status.RESOLVED, mountpoint="/srv")),  # over while silenced
        ("sweep", now + 3),
    ]

    def expire_both() -> None:
        store.expire(silence.id)
        store.expire(other.id)
        store.current(check_every=0)  # the running agent notices the change

    sent = routed([*steps, ("call", expire_both), ("sweep", now + 4)], silences=store)
    assert [(dict(a.labels)["mountpoint"], a.status, a.severity) for a in sent] == [
        ("/backup", Status.FIRING, Severity.CRITICAL),  # not /srv: it ended while silenced
    ]
    assert sent[0].timestamp == now + 4


def test_an_alert_still_firing_when_its_maintenance_window_closes_is_announced() -> None:
    # Saturdays 23:00-02:00 UTC; the alert fires at 01:00 Sunday and still fires at 02:00.
    window = MaintenanceWindow(("sat",), dtime(23, 0), dtime(2, 0), "UTC",
                               (("metric", "=", "disk_used_percent"),))  # fmt: skip
    one = datetime(2026, 11, 22, 1, 0, tzinfo=UTC).timestamp()
    sent = routed(
        [("route", disk(one)), ("sweep", one + 1800), ("sweep", one + 3600 + 5)],
        maintenance=[window],
    )
    assert [(a.status, a.timestamp) for a in sent] == [(Status.FIRING, one + 3600 + 5)]


def cpu_alert(metric: str, t: float, severity: Severity = Severity.WARN,
              status: Status = Status.FIRING, analyzer: str = "threshold") -> Alert:  # fmt: skip
    labels = (("socket", metric[-1]),) if metric.startswith("socket") else ()
    name = "cpu_socket_usage_percent" if metric.startswith("socket") else metric
    return Alert(analyzer=analyzer, metric=name, labels=labels, status=status, severity=severity,
                 value=99.0, threshold=95.0, message=metric, timestamp=t, hostname="h")  # fmt: skip


def test_when_a_silence_ends_what_mutes_is_judged_before_what_it_mutes(tmp_path: Path) -> None:
    """The whole CPU and both sockets fire while a silence holds; the whole escalates last
    (so its track is the most recently active).  When the silence ends, one FIRING: the
    whole's, at critical; the sockets are muted by it, not announced before it."""
    from agent.assembly import BUILT_IN_INHIBITS

    store = SilenceFile(tmp_path / "silences.json")
    silence = store.add([("metric", "=~", "cpu_.*")], 3600, "firmware update")
    now = time.time()

    def expire() -> None:
        store.expire(silence.id)
        store.current(check_every=0)

    sent = routed(
        [
            ("route", cpu_alert("cpu_usage_percent", now)),
            ("route", cpu_alert("socket0", now)),
            ("route", cpu_alert("socket1", now)),
            ("route", cpu_alert("cpu_usage_percent", now + 1, Severity.CRITICAL, Status.ESCALATED)),
            ("call", expire),
            ("sweep", now + 2),
        ],
        silences=store,
        inhibit_rules=BUILT_IN_INHIBITS,
    )
    assert [(a.metric, a.status, a.severity) for a in sent] == [
        ("cpu_usage_percent", Status.FIRING, Severity.CRITICAL)
    ]


def test_an_alert_back_while_its_resolve_waited_mutes_again_whatever_its_severity(
    tmp_path: Path,
) -> None:
    rule = InhibitRule(source=(("metric", "=", "gpu_up"),),
                       target=(("metric", "=", "gpu_temperature_celsius"),), equal=("gpu",))  # fmt: skip
    store = SilenceFile(tmp_path / "silences.json")
    now = time.time()

    def gpu(metric: str, t: float, severity: Severity = Severity.WARN,
            status: Status = Status.FIRING, analyzer: str = "threshold") -> Alert:  # fmt: skip
        return Alert(analyzer=analyzer, metric=metric, labels=(("gpu", "0"),), status=status,
                     severity=severity, value=0, threshold=1, message=metric, timestamp=t)  # fmt: skip

    def silence_gpu_up() -> None:
        store.add([("metric", "=", "gpu_up"), ("analyzer", "=", "threshold")], 3600, "bus")
        store.current(check_every=0)

    sent = routed(
        [
            ("route", gpu("gpu_up", now)),  # announced: mutes the temperature
            ("route", gpu("gpu_up", now + 1, analyzer="zscore")),  # folded into it
            ("route", gpu("gpu_up", now + 2, status=Status.RESOLVED)),  # waits for the zscore
            ("call", silence_gpu_up),
            ("route", gpu("gpu_up", now + 3, Severity.CRITICAL)),  # back, worse, silenced
            ("route", gpu("gpu_temperature_celsius", now + 4)),  # while gpu_up fires: muted
            ("sweep", now + 5),
        ],
        silences=store,
        inhibit_rules=[rule],
    )
    assert [(a.metric, a.status) for a in sent] == [("gpu_up", Status.FIRING)]


class BackupSilence:
    """A silence on /backup that a test adds and expires between the router's steps."""

    def __init__(self, path: Path) -> None:
        self.store = SilenceFile(path)
        self.id = ""

    def add(self) -> None:
        self.id = self.store.add([("mountpoint", "=", "/backup")], 3600, "resize").id
        self.store.current(check_every=0)  # the running agent notices the change

    def expire(self) -> None:
        self.store.expire(self.id)
        self.store.current(check_every=0)


def test_an_announced_alert_that_escalated_while_silenced_is_escalated_when_it_ends(
    tmp_path: Path,
) -> None:
    backup = BackupSilence(tmp_path / "silences.json")
    store, add, expire, now = backup.store, backup.add, backup.expire, time.time()

    critical = dataclasses.replace(
        disk(now + 2), status=Status.ESCALATED, severity=Severity.CRITICAL, value=97.0,
        threshold=96.0, message="disk is 97%, above the critical level 96%",
        context={"top_processes": "of then"},
    )  # fmt: skip

    def as_of_now(alert: Alert, at: float) -> Alert:
        """The runtime's refresh: the disk now, and no process read recent enough to name."""
        return dataclasses.replace(alert, timestamp=at, value=99.0, message="as of now",
                                   context={"sparkline": "now"})  # fmt: skip

    episodes = MemoryOutbox()
    sent = routed(
        [
            ("route", disk(now)),
            ("call", add),
            ("route", critical),
            ("sweep", now + 3),
            ("call", expire),
            ("sweep", now + 4),
            ("sweep", now + 5),
        ],
        refresh=as_of_now,
        silences=store,
        episodes=episodes,
    )
    assert [(a.status, a.severity, a.timestamp) for a in sent] == [
        (Status.FIRING, Severity.WARN, now),
        (Status.ESCALATED, Severity.CRITICAL, now + 4),  # what the pager (critical) needs
    ]
    escalated = sent[1]
    assert escalated.alert_id == sent[0].alert_id
    # Read now, it says when it happened and what the disk is now, not 97 % of then, and
    # names no processes rather than those of then.
    assert (escalated.value, escalated.context) == (99.0, {"sparkline": "now"})
    assert escalated.message == (
        f"disk is 97%, above the critical level 96% (at {when(now + 2)}, muted; 99% now)"
    )
    # What a restart takes back is the analyzer's words (its repeats quote them).
    (kept,) = episodes.open_episodes()
    assert kept.message == "disk is 97%, above the critical level 96%"


def test_a_sweep_when_no_mute_can_have_ended_judges_nothing() -> None:
    """Muted alerts are looked at again only when a mute may have ended (a source left, a
    track changed, the silences or windows in force changed): 9,000 of them every 5 s would
    otherwise hold the event loop for as long as judging them takes."""
    judged: list[int] = []

    @dataclasses.dataclass(frozen=True)
    class Counting(InhibitRule):
        def mutes(self, source: Alert, target: Alert) -> bool:
            judged.append(1)
            return super().mutes(source, target)

    rule = Counting(source=(("metric", "=", "node_up"),), target=(("metric", "=", "disk"),),
                    equal=("node",))  # fmt: skip

    def alert(metric: str, node: int, t: float, status: Status = Status.FIRING,
              disk: str | None = None) -> Alert:  # fmt: skip
        labels = (("node", str(node)),) if disk is None else (("disk", disk), ("node", str(node)))
        return Alert(analyzer="threshold", metric=metric, labels=labels, status=status,
                     severity=Severity.WARN, value=0, threshold=1, message=metric,
                     timestamp=t)  # fmt: skip

    router = Router("h", [], inhibit_rules=[rule])
    for node in range(100):
        router.route(alert("node_up", node, 1.0))
        for disk_index in range(20):
            router.route(alert("disk", node, 1.0, disk=str(disk_index)))
    assert router.stats.inhibited == 2000
    router.repeat_due(2.0)  # the first look
    judged.clear()
    router.repeat_due(7.0)
    assert judged == []  # nothing ended: nothing judged
    router.route(alert("node_up", 7, 8.0, Status.RESOLVED))
    sent = router.repeat_due(12.0)
    assert len(sent) == 20 and {dict(a.labels)["node"] for a in sent} == {"7"}
    assert len(judged) <= 2000  # each muted alert against the sources of its node: one


def test_an_escalation_gone_again_under_a_silence_is_not_told_when_it_ends(tmp_path: Path) -> None:
    backup = BackupSilence(tmp_path / "silences.json")
    store, add, expire, now = backup.store, backup.add, backup.expire, time.time()

    worse = dataclasses.replace(disk(now + 2), status=Status.ESCALATED, severity=Severity.CRITICAL)
    back = dataclasses.replace(disk(now + 3), status=Status.ESCALATED)  # warn again
    sent = routed(
        [
            ("route", disk(now)),
            ("call", add),
            ("route", worse),
            ("route", back),
            ("call", expire),
            ("sweep", now + 5),
        ],
        silences=store,
    )
    assert [(a.status, a.severity) for a in sent] == [(Status.FIRING, Severity.WARN)]


def test_an_announced_alert_whose_escalation_was_inhibited_is_told_when_the_source_ends() -> None:
    """Socket 0 was announced at warn before the whole CPU fired; it went critical while the
    whole CPU's critical muted it; the whole CPU recovered, socket 0 did not."""
    from agent.assembly import BUILT_IN_INHIBITS

    sent = routed(
        [
            ("route", cpu_alert("socket0", 1.0)),
            ("route", cpu_alert("cpu_usage_percent", 2.0, Severity.CRITICAL)),
            ("route", cpu_alert("socket0", 3.0, Severity.CRITICAL, Status.ESCALATED)),  # muted
            ("sweep", 4.0),
            ("route", cpu_alert("cpu_usage_percent", 5.0, Severity.CRITICAL, Status.RESOLVED)),
            ("sweep", 6.0),
        ],
        inhibit_rules=BUILT_IN_INHIBITS,
    )
    assert [(a.metric, a.status, a.severity) for a in sent] == [
        ("cpu_socket_usage_percent", Status.FIRING, Severity.WARN),
        ("cpu_usage_percent", Status.FIRING, Severity.CRITICAL),
        ("cpu_usage_percent", Status.RESOLVED, Severity.CRITICAL),
        ("cpu_socket_usage_percent", Status.ESCALATED, Severity.CRITICAL),
    ]
    # When it happened, not when a sweep last found it still muted (4.0).
    assert sent[3].message == f"socket0 (at {when(3.0)}, muted)"


@pytest.mark.usefixtures("step_downs_at_once")
def test_an_announced_alert_stepping_down_is_told_whatever_mutes_others() -> None:
    from agent.assembly import BUILT_IN_INHIBITS

    sent = routed(
        [
            ("route", cpu_alert("socket0", 1.0, Severity.CRITICAL)),
            ("route", cpu_alert("cpu_usage_percent", 2.0)),  # warn: does not mute a critical
            ("route", cpu_alert("socket0", 3.0, Severity.WARN, Status.ESCALATED)),  # down
        ],
        inhibit_rules=BUILT_IN_INHIBITS,
    )
    assert [(a.metric, a.severity) for a in sent] == [
        ("cpu_socket_usage_percent", Severity.CRITICAL),
        ("cpu_usage_percent", Severity.WARN),
        ("cpu_socket_usage_percent", Severity.WARN),  # its repeats would say critical else
    ]


def test_an_alert_firing_again_lower_is_muted_as_any_new_alert() -> None:
    """socket 0 critical, resolved; then the whole CPU critical, and socket 0 fires again at
    warn: a new alert, muted by the whole CPU's (not an announced alert stepping down)."""
    from agent.assembly import BUILT_IN_INHIBITS

    sent = routed(
        [
            ("route", cpu_alert("socket0", 1.0, Severity.CRITICAL)),
            ("route", cpu_alert("socket0", 2.0, Severity.CRITICAL, Status.RESOLVED)),
            ("route", cpu_alert("cpu_usage_percent", 3.0, Severity.CRITICAL)),
            ("route", cpu_alert("socket0", 4.0)),
            ("sweep", 5.0),
        ],
        inhibit_rules=BUILT_IN_INHIBITS,
    )
    assert [(a.metric, a.status) for a in sent] == [
        ("cpu_socket_usage_percent", Status.FIRING),
        ("cpu_socket_usage_percent", Status.RESOLVED),
        ("cpu_usage_percent", Status.FIRING),
    ]


@pytest.mark.usefixtures("step_downs_at_once")
def test_a_folded_change_of_an_announced_alert_adds_nothing_now_or_later() -> None:
    """One disk: the threshold announced at warn, the trend at critical.  The threshold goes
    critical (folded: the episode says critical) and the trend steps down to warn (folded:
    the threshold says at least that).  Nothing to tell: the disk was critical throughout."""

    def on_disk(
        analyzer: str, t: float, severity: Severity, status: Status = Status.FIRING
    ) -> Alert:
        return Alert(analyzer=analyzer, metric="disk_used_percent", labels=(("mountpoint", "/"),),
                     status=status, severity=severity, value=96.0, threshold=95.0,
                     message=analyzer, timestamp=t)  # fmt: skip

    W, C, E = Severity.WARN, Severity.CRITICAL, Status.ESCALATED
    sent = routed(
        [
            ("route", on_disk("threshold", 1.0, W)),
            ("route", on_disk("trend", 2.0, C)),
            ("route", on_disk("threshold", 3.0, C, E)),
            ("route", on_disk("trend", 4.0, W, E)),
            ("sweep", 5.0),
        ]
    )
    assert [(a.analyzer, a.severity) for a in sent] == [("threshold", W), ("trend", C)]
    # Before, the stepping-down trend was sent ("escalated warn": the disk eased off) and the
    # threshold's critical after it at the next round: the pager heard critical twice.
    # The trend firing again lower after its episode ended is folded too:
    sent = routed(
        [
            ("route", on_disk("trend", 1.0, C)),
            ("route", on_disk("trend", 2.0, C, Status.RESOLVED)),
            ("route", on_disk("threshold", 3.0, C)),
            ("route", on_disk("trend", 4.0, W)),
            ("sweep", 5.0),
            ("route", on_disk("threshold", 6.0, C, Status.RESOLVED)),
            ("route", on_disk("trend", 7.0, W, Status.RESOLVED)),
        ]
    )
    assert [(a.analyzer, a.status) for a in sent] == [
        ("trend", Status.FIRING),
        ("trend", Status.RESOLVED),
        ("threshold", Status.FIRING),
        ("threshold", Status.RESOLVED),  # one episode: the threshold's, with the trend in it
    ]
    # Folded changes are recorded, so repeats say what each alert is now: the trend's step
    # down was folded (the threshold said critical); the threshold's then eased the episode.
    sent = routed(
        [
            ("route", on_disk("threshold", 1.0, W)),
            ("route", on_disk("trend", 2.0, C)),
            ("route", on_disk("threshold", 3.0, C, E)),
            ("route", on_disk("trend", 4.0, W, E)),
            ("route", on_disk("threshold", 5.0, W, E)),
            ("sweep", 3605.0),
        ]
    )
    told = [(a.analyzer, a.severity, bool(a.context.get("still_firing"))) for a in sent]
    assert told[:3] == [("threshold", W, False), ("trend", C, False), ("threshold", W, False)]
    assert sorted(told[3:]) == [("threshold", W, True), ("trend", W, True)]  # not critical
