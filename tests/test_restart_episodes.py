"""Episodes across a restart: what the channels were told fires is kept in the outbox, and
the next start neither announces it again nor leaves it open for good (docs/ALERTING.md,
"Across a restart")."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alerting.alert import Alert, Severity, Status
from alerting.delivery import ChannelWorker
from alerting.outbox import MemoryOutbox, SqliteOutbox
from alerting.router import Router
from analyzers.base import SeriesKey
from tests.conftest import (
    HttpReceiver,
    hermetic_agent_keys,
    only_collectors,
    set_memory_used,
    wait_until,
)
from tests.test_e2e import INTERVAL, STARTUP_ALLOWANCE, start_agent, webhook_config
from tests.test_router import Recorder

__all__ = ["start_agent"]  # the fixture, shared with test_e2e

DISK = (("device", "sda1"), ("mountpoint", "/"))


def disk(t: float, status: Status = Status.FIRING, severity: Severity = Severity.WARN,
         analyzer: str = "threshold") -> Alert:  # fmt: skip
    return Alert(analyzer=analyzer, metric="disk_used_percent", labels=DISK, status=status,
                 severity=severity, value=93.0, threshold=90.0, message="disk is 93%",
                 timestamp=t)  # fmt: skip


def life(outbox: Any, steps: list[tuple[str, Any]], restored: list[Alert] | None = None,
         confirm_within: float = 60.0, now: float = 0.0) -> list[Alert]:  # fmt: skip
    """One life of the agent's router on `outbox`: resumed from `restored` at `now`, then
    ("route", alert) and ("sweep", time) steps; what the channel got."""

    async def scenario() -> list[Alert]:
        recorder = Recorder()
        worker = ChannelWorker(recorder, max_age=float("inf"))
        worker.start()
        router = Router("h", [worker], min_interval_secs=3600, dedup_window_secs=0,
                        episodes=outbox)  # fmt: skip
        if restored is not None:
            router.resume(restored, now, lambda _alert: confirm_within)
        for kind, what in steps:
            if kind == "route":
                router.route(what)
            else:
                router.repeat_due(what)
        assert await worker.drain(2.0)
        await worker.stop()
        return recorder.sent

    return asyncio.run(scenario())


def test_a_condition_still_there_after_a_restart_is_not_announced_again(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    (first,) = life(SqliteOutbox(path), [("route", disk(100.0))])
    # The process dies (nothing more is written); the next start reads the file back.
    restored = SqliteOutbox(path).open_episodes()
    assert [a.alert_id for a in restored] == [first.alert_id]
    sent = life(
        SqliteOutbox(path),
        [
            ("route", disk(1010.0)),  # the fresh analyzer raises it again: the same episode
            ("sweep", 1100.0),  # past the confirmation time: confirmed, nothing to resolve
            ("sweep", 100.0 + 3600.0 + 5),  # the repeat, an hour after the last notification
            ("route", disk(9000.0, Status.RESOLVED)),
        ],
        restored,
        now=1000.0,
    )
    assert [(a.status, a.alert_id) for a in sent] == [
        (Status.FIRING, first.alert_id),  # a "still firing" repeat, not a new FIRING
        (Status.RESOLVED, first.alert_id),
    ]
    assert sent[0].context.get("still_firing") is True
    assert SqliteOutbox(path).open_episodes() == []  # ended: nothing to resume next time


def test_a_condition_that_ended_during_the_restart_is_resolved_once_not_raised_again() -> None:
    outbox = MemoryOutbox()
    (first,) = life(outbox, [("route", disk(100.0))])
    sent = life(outbox, [("sweep", 1000.0), ("sweep", 1061.0), ("sweep", 1070.0)],
                outbox.open_episodes(), confirm_within=60.0, now=1000.0)  # fmt: skip
    assert [(a.status, a.alert_id, a.timestamp) for a in sent] == [
        (Status.RESOLVED, first.alert_id, 1061.0)
    ]
    assert sent[0].message.startswith(
        "disk_used_percent device=sda1 mountpoint=/: not raised again since the agent restarted"
    )
    assert outbox.open_episodes() == []


def test_a_condition_worse_after_a_restart_is_an_escalation_of_the_same_episode() -> None:
    outbox = MemoryOutbox()
    (first,) = life(outbox, [("route", disk(100.0))])
    sent = life(outbox, [("route", disk(1001.0, severity=Severity.CRITICAL))],
                outbox.open_episodes(), now=1000.0)  # fmt: skip
    assert [(a.status, a.severity, a.alert_id) for a in sent] == [
        (Status.ESCALATED, Severity.CRITICAL, first.alert_id)
    ]


def test_what_the_channels_were_told_is_kept_and_what_was_folded_into_it_marked() -> None:
    from alerting.router import FOLDED_MARK

    outbox = MemoryOutbox()
    event = dataclasses.replace(disk(1.0), context={"event": True}, metric="log_pattern")
    life(
        outbox,
        [
            ("route", event),  # a log line: nothing to resolve, nothing to keep
            ("route", disk(2.0, analyzer="trend")),  # announced
            ("route", disk(3.0)),  # folded into the trend's episode: never told
        ],
    )
    kept = [(a.analyzer, a.context.get(FOLDED_MARK, False)) for a in outbox.open_episodes()]
    assert kept == [("trend", False), ("threshold", True)]


@pytest.mark.usefixtures("step_downs_at_once")
def test_a_pager_told_of_a_critical_that_eased_is_told_its_end_after_a_restart() -> None:
    """A pager (min_severity critical) got a disk's critical and its step down to warn; the
    agent restarts; the RESOLVED, at warn, reached only the channels from warn: the episode
    kept was the step down, and the critical it had told was forgotten."""
    disk_series = {"metric": "disk_used_percent", "labels": DISK}

    def life_of(
        events: list[Alert], episodes: MemoryOutbox, resume_at: float | None
    ) -> list[Alert]:
        async def scenario() -> list[Alert]:
            pager = Recorder(min_severity=Severity.CRITICAL)
            worker = ChannelWorker(pager, max_age=float("inf"))
            worker.start()
            router = Router("h", [worker], min_interval_secs=3600, episodes=episodes)
            if resume_at is not None:
                router.resume(episodes.open_episodes(), resume_at, lambda _a: 600.0)
            for event in events:
                router.route(event)
            assert await worker.drain(2.0)
            await worker.stop()
            return pager.sent

        return asyncio.run(scenario())

    from tests.test_router import alert

    episodes = MemoryOutbox()
    first = life_of([alert(0.0, Status.FIRING, Severity.CRITICAL, **disk_series),
                     alert(10.0, Status.ESCALATED, Severity.WARN, **disk_series)], episodes, None)  # fmt: skip
    assert [a.status for a in first] == [Status.FIRING, Status.ESCALATED]
    second = life_of([alert(100.0, Status.FIRING, Severity.WARN, **disk_series),  # raised again
                      alert(200.0, Status.RESOLVED, Severity.WARN, **disk_series)], episodes, 90.0)  # fmt: skip
    assert [(a.status, a.alert_id) for a in second] == [(Status.RESOLVED, first[0].alert_id)]


@pytest.mark.usefixtures("step_downs_at_once")
def test_an_alert_folded_into_an_episode_keeps_it_open_across_a_restart() -> None:
    """The trend's critical is announced, the threshold's warn folded into it and held in
    its hysteresis band (88 %: warn at 90, clear at 85.5).  The trend stops predicting.
    In one life the episode goes on (the threshold still fires), eased to warn (told), and
    ends with one RESOLVED when the disk is back to 80 %.  Across a restart the folded warn was not kept: the
    trend's RESOLVED went out at once, and the threshold's warn at 91 % came as a new
    FIRING of a second episode.  Now it is taken back, folded, with its level."""
    from agent.config import parse_config_text
    from agent.store import Store
    from analyzers.threshold import ThresholdAnalyzer, threshold_rules

    key = SeriesKey("disk_used_percent", DISK)
    settings = parse_config_text("", "t.toml").settings
    steps: list[tuple[float, float | Alert | None]] = [
        (0.0, disk(0.0, severity=Severity.CRITICAL, analyzer="trend")),
        (10.0, 91.0), (20.0, 88.0),  # the threshold's warn, folded; then within its band
        (1000.0, None),  # the restart (or not)
        (1010.0, 88.0), (1020.0, disk(1020.0, Status.RESOLVED, Severity.CRITICAL, "trend")),
        (1030.0, 88.0), (1040.0, 91.0), (1050.0, 80.0),
    ]  # fmt: skip

    def run(restart: bool) -> list[tuple[str, Status, float]]:
        outbox = MemoryOutbox()

        def start() -> tuple[ThresholdAnalyzer, Router, Store]:
            router = Router("h", [], min_interval_secs=3600, dedup_window_secs=0, episodes=outbox)
            return ThresholdAnalyzer(threshold_rules(settings)), router, Store(64, 0)

        analyzer, router, store = start()
        told: list[Alert] = []
        for t, what in steps:
            if what is None:
                if restart:  # as the runtime's start: the analyzers, then the router
                    kept = outbox.open_episodes()
                    analyzer, router, store = start()
                    analyzer.resume([a for a in kept if a.analyzer == "threshold"])
                    router.resume(
                        kept, t, lambda a: math.inf if a.analyzer == "threshold" else 600.0
                    )
                continue
            if isinstance(what, Alert):
                events = [what]
            else:
                events = analyzer.observe(
                    store.write_samples(t, [key], np.array([what]), "disk"), store
                )
            for event in events:
                sent = router.route(event)
                told += [sent] if sent is not None else []
            told += router.repeat_due(t)
        return [(a.analyzer, a.status, a.timestamp) for a in told]

    one_life = run(restart=False)
    assert one_life == [
        ("trend", Status.FIRING, 0.0),
        ("trend", Status.ESCALATED, 1020.0),  # the episode stays warn: not "critical" any more
        ("trend", Status.RESOLVED, 1050.0),
    ]
    assert run(restart=True) == one_life


class FixedSilences:
    def __init__(self, silences: list[Any]) -> None:
        self.silences = silences

    def current(self, check_every: float = 2.0) -> list[Any]:
        return self.silences


@pytest.mark.parametrize("case", ["escalated while folded", "folded when its silence ended"])
def test_what_is_folded_into_an_episode_is_kept_as_it_stands(case: str) -> None:
    """Two second readers' cases, each told differently with a restart than in one life:
    the threshold escalated while folded was kept at its old warn (after the restart the
    trend's step down went out, then the threshold as a second episode); one that became
    folded when its silence ended was not kept at all (the episode ended early, and it
    came back as a new FIRING)."""
    from alerting.silences import Silence

    W, C, E, R = Severity.WARN, Severity.CRITICAL, Status.ESCALATED, Status.RESOLVED
    silence = Silence("s1", (("analyzer", "=", "threshold"),), 0.0, 50.0, "maintenance")
    before: list[Alert | float]  # a float: a housekeeping round at that time
    if case == "escalated while folded":
        silences: list[Any] = []
        before = [disk(0.0, severity=C, analyzer="trend"), disk(10.0), disk(20.0, E, C)]
        after = [disk(1010.0, E, W, "trend"), disk(1020.0, severity=C), disk(1030.0, R, C),
                 disk(1040.0, R, W, "trend")]  # fmt: skip
    else:
        silences = [silence]
        before = [disk(10.0), disk(20.0, severity=C, analyzer="trend"), 60.0]  # the silence ends
        after = [disk(1010.0, severity=C, analyzer="trend"), disk(1020.0, R, C, "trend"),
                 disk(1030.0), disk(1040.0, R)]  # fmt: skip

    def run(restart: bool) -> list[tuple[str, Status, float]]:
        outbox = MemoryOutbox()

        def start(silenced: list[Any]) -> Router:
            return Router("h", [], min_interval_secs=3600, dedup_window_secs=0,
                          episodes=outbox, silences=FixedSilences(silenced))  # type: ignore[arg-type]  # fmt: skip

        router, told = start(silences), []
        for at_restart, events in ((False, before), (True, after)):
            if at_restart and restart:
                kept = outbox.open_episodes()
                router = start([])
                router.resume(kept, 1000.0, lambda _a: 600.0)
            for event in events:
                if isinstance(event, float):
                    told += router.repeat_due(event)
                    continue
                sent = router.route(event)
                told += ([sent] if sent is not None else []) + router.repeat_due(event.timestamp)
        return [(a.analyzer, a.status, a.timestamp) for a in told]

    assert run(restart=True) == run(restart=False)


def test_an_edited_episode_mark_is_ignored_not_a_failed_start() -> None:
    """A kept episode whose marks were edited by hand (data_dir is writable by its owner):
    an unknown severity told is the alert's own; the episode is still taken back."""
    from alerting.router import TOLD_MARK

    outbox = MemoryOutbox()
    outbox.keep_episode(dataclasses.replace(disk(1.0), context={TOLD_MARK: "apocalyptic"}))
    sent = life(outbox, [("sweep", 1061.0)], outbox.open_episodes(), now=1000.0)
    assert [(a.status, a.severity) for a in sent] == [(Status.RESOLVED, Severity.WARN)]
    assert TOLD_MARK not in sent[0].context


@pytest.mark.usefixtures("step_downs_at_once")
def test_a_reload_that_makes_the_outbox_durable_keeps_what_each_episode_told() -> None:
    from alerting.router import TOLD_MARK

    router = Router("h", [], min_interval_secs=3600, dedup_window_secs=0)
    router.route(disk(0.0, severity=Severity.CRITICAL))
    router.route(disk(10.0, Status.ESCALATED, Severity.WARN))
    outbox = MemoryOutbox()  # a remote channel added: the episodes are kept from now on
    router.reconfigure("h", [], min_interval_secs=3600, dedup_window_secs=0, episodes=outbox)
    (kept,) = outbox.open_episodes()
    assert (kept.severity, kept.context.get(TOLD_MARK)) == (Severity.WARN, "critical")


def two_lives(before: list[float], after: list[float], config: str = "",
              seen_again: bool = True, config_after: str | None = None,
              metric: str = "disk_used_percent") -> list[Alert]:  # fmt: skip
    """The disk's threshold alerts in two lives of the agent (analyzer, router and the
    outbox's episodes, wired as the runtime wires them), samples every 10 s (NaN: none);
    the second life starts at 1000 s.  `seen_again=False`: the disk is not reported until
    the start-up's look for unreported series (at 1190 s) is over."""
    import math

    from agent.config import parse_config_text
    from agent.store import Store
    from analyzers.registry import confirm_after_restart_secs
    from analyzers.threshold import ThresholdAnalyzer, threshold_rules

    outbox = MemoryOutbox()
    told: list[Alert] = []
    key = SeriesKey(metric, DISK)
    for life, values in enumerate((before, after)):
        text = config if not life or config_after is None else config_after
        settings = parse_config_text(text, "t.toml").settings
        analyzer = ThresholdAnalyzer(threshold_rules(settings))
        router = Router("h", [], min_interval_secs=3600, dedup_window_secs=0, episodes=outbox)
        store = Store(64, 0)
        start = 1000.0 * life + (300.0 if life and not seen_again else 0.0)
        if life:
            announced = outbox.open_episodes()
            analyzer.resume(announced)
            within = confirm_after_restart_secs(settings, "threshold") + 190.0
            assert math.isinf(within)  # no deadline: its first finite sample decides
            router.resume(announced, 1000.0, lambda _a, w=within: w)
        looked = not life
        for i, value in enumerate(values):
            t = start + 10.0 * i
            if not looked and t >= 1190.0:  # the runtime's look, a few rounds after the start
                unjudged = analyzer.end_resume()
                told += router.resolve_unreported(
                    lambda _a, s=store, u=unjudged: s.find(key) is not None and key not in u, t
                )
                looked = True
            batch = store.write_samples(t, [key], np.array([value]), "disk")
            for alert in analyzer.observe(batch, store):
                sent = router.route(alert)
                told += [sent] if sent is not None else []
            told += router.repeat_due(t)
    return told


def summary(told: list[Alert]) -> list[tuple[str, str, bool]]:
    """(status, severity, of the first episode) of each notification."""
    first = told[0].alert_id if told else ""
    return [(a.status.value, a.severity.label, a.alert_id == first) for a in told]


@pytest.mark.usefixtures("step_downs_at_once")
def test_a_threshold_takes_its_level_back_with_its_hysteresis() -> None:
    """disk_percent = 90: critical 95, clear 85.5, critical back to warn under 90.5.  A value
    inside a band after the restart keeps the level it had, as it would without one."""
    warn, critical = ("firing", "warn", True), ("firing", "critical", True)
    assert summary(two_lives([91.0], [88.0, 86.0])) == [warn]  # no RESOLVED at 88
    assert summary(two_lives([91.0], [88.0, 80.0])) == [warn, ("resolved", "warn", True)]
    assert summary(two_lives([96.0], [93.0])) == [critical]  # still critical over 90.5
    assert summary(two_lives([96.0], [89.0])) == [critical, ("escalated", "warn", True)]
    assert summary(two_lives([91.0], [96.0])) == [warn, ("escalated", "critical", True)]
    # No reading for a while after the restart (NaN): it stands where it stood, as it would
    # in one life, and the reading that comes says where it is.
    nan = float("nan")
    assert summary(two_lives([91.0], [nan] * 40 + [88.0])) == [warn]
    assert summary(two_lives([91.0], [nan] * 40 + [80.0])) == [warn, ("resolved", "warn", True)]


def test_a_threshold_with_a_hold_time_keeps_its_level_while_a_higher_one_must_hold() -> None:
    config = "[thresholds]\ndisk_percent = { warn = 90, critical = 95, for_secs = 600 }\n"
    told = two_lives([91.0] * 61, [96.0] * 70, config)  # warn held; 96 % after the restart
    assert summary(told) == [("firing", "warn", True), ("escalated", "critical", True)]
    assert told[1].timestamp == 1600.0  # critical once 96 % held for its 600 s, not before


def test_a_series_back_long_after_the_restart_is_not_greeted_with_its_old_level() -> None:
    """The disk was unmounted across the restart: resolved a few rounds after the start.
    Mounted again later at 87 %, under its warn level: nothing to say."""
    told = two_lives([91.0], [87.0, 87.0], seen_again=False)
    assert [(a.status.value, "not raised again" in a.message) for a in told] == [
        ("firing", False),
        ("resolved", True),
    ]


def test_a_held_level_says_it_holds_inside_its_band() -> None:
    from agent.store import Store
    from analyzers.threshold import ThresholdAnalyzer, ThresholdRule

    analyzer = ThresholdAnalyzer([ThresholdRule("disk_used_percent", 90.0, 95.0, 85.5)])
    analyzer.resume([disk(1.0)])
    store = Store(8, 0)
    key = SeriesKey("disk_used_percent", DISK)
    (held,) = analyzer.observe(store.write_samples(10.0, [key], np.array([88.0]), "disk"), store)
    assert held.message == (
        "disk_used_percent device=sda1 mountpoint=/ is 88%, not past 85.5% where the warn "
        "level 90% clears: still warn"
    )


def test_a_link_down_taken_back_is_ended_by_its_link_up_line() -> None:
    from analyzers.logpatterns import LogAlerter, LogLine, LogMatcher, build_patterns

    def alerter() -> LogAlerter:
        return LogAlerter(LogMatcher(build_patterns()))

    def line(text: str) -> LogLine:
        return LogLine(text=text, source="kmsg", kernel=True)

    before = alerter()
    (down,) = before.process(line("e1000e 0000:00:19.0 eth0: NIC Link is Down"), 1.0)
    after = alerter()
    after.resume([down])
    assert after.process(line("e1000e 0000:00:19.0 eth0: NIC Link is Down"), 5.0) == []
    (up,) = after.process(
        line("e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex"), 9.0
    )
    assert (up.status, up.fingerprint) == (Status.RESOLVED, down.fingerprint)


def test_the_episode_store_survives_a_corrupted_file(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = SqliteOutbox(path)
    outbox.keep_episode(disk(1.0))
    outbox.close()
    path.write_bytes(b"not a database" * 100)
    fresh = SqliteOutbox(path)  # moved aside, started afresh: nothing to resume, no crash
    assert fresh.open_episodes() == [] and fresh.moved_aside


# -- the real daemon, killed -9 and started again --------------------------------------------


def memory_alerts(receiver: HttpReceiver) -> list[dict[str, Any]]:
    """The memory notifications received, once each: a kill right after a delivery, before
    the outbox row is deleted, sends it again at the restart (at least once, the same
    `id`), and receivers deduplicate by `id` as docs/ALERTING.md tells them to."""
    bodies = {b["id"]: b for b in (r.json() for r in receiver.requests)}
    return [b for b in bodies.values() if b["metric"] == "memory_used_percent"]


# Only the second life has it: its FIRING shows that life has judged the memory batch
# (memory_used_percent comes in the same batch, so it was judged too).
MARKER_RULE = '[[thresholds.rules]]\nmetric = "memory_total_bytes"\nwarn = 1\n'


@pytest.mark.e2e
def test_a_kill_and_restart_neither_announces_a_condition_again_nor_leaves_it_open(
    start_agent: Any, http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    host = hermetic_agent_keys(tmp_path)  # memory 25 % used, a 0.5 % warn level
    config = webhook_config(http_receiver.url + "/alerts", host)
    first = start_agent(config, {"E2E_TOKEN": "t"})
    assert first.wait_for_log("sysops-agent started", STARTUP_ALLOWANCE), first.stderr
    wait_until(lambda: memory_alerts(http_receiver), STARTUP_ALLOWANCE, "the FIRING")
    first.kill()  # SIGKILL: nothing is said or written on the way out
    second = start_agent(config + MARKER_RULE, {"E2E_TOKEN": "t"})
    assert second.wait_for_log("sysops-agent started", STARTUP_ALLOWANCE), second.stderr

    def marker() -> bool:
        return any(r.json()["metric"] == "memory_total_bytes" for r in http_receiver.requests)

    wait_until(marker, STARTUP_ALLOWANCE, f"the second life's first judgment:\n{second.stderr}")
    set_memory_used(tmp_path / "host-proc", 0.0)  # the condition ends
    wait_until(lambda: len(memory_alerts(http_receiver)) >= 2, 3 * INTERVAL + 10, "a RESOLVED")
    (fired, resolved) = memory_alerts(http_receiver)
    assert (fired["status"], resolved["status"]) == ("firing", "resolved")
    assert resolved["alert_id"] == fired["alert_id"]  # the episode the first life began
    assert resolved["message"].startswith("memory_used_percent is back to 0%")
    code, _ = second.stop()
    assert code == 0 and "Traceback" not in second.stderr


@pytest.mark.e2e
def test_a_condition_that_ended_while_the_agent_was_down_is_resolved_after_the_restart(
    start_agent: Any, http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    host = hermetic_agent_keys(tmp_path)
    config = webhook_config(http_receiver.url + "/alerts", host)
    first = start_agent(config, {"E2E_TOKEN": "t"})
    assert first.wait_for_log("sysops-agent started", STARTUP_ALLOWANCE), first.stderr
    wait_until(lambda: memory_alerts(http_receiver), STARTUP_ALLOWANCE, "the FIRING")
    first.kill()
    set_memory_used(tmp_path / "host-proc", 0.0)  # ends while nobody watches
    second = start_agent(config, {"E2E_TOKEN": "t"})
    assert second.wait_for_log("sysops-agent started", STARTUP_ALLOWANCE), second.stderr
    # The threshold takes its level back: the first sample finds it cleared.
    wait_until(lambda: len(memory_alerts(http_receiver)) >= 2, STARTUP_ALLOWANCE, "the RESOLVED")
    (fired, resolved) = memory_alerts(http_receiver)
    assert resolved["status"] == "resolved" and resolved["alert_id"] == fired["alert_id"]
    assert resolved["message"].startswith("memory_used_percent is back to 0%")
    assert "1 alert(s) open before the restart" in second.stderr
    code, _ = second.stop()
    assert code == 0 and "Traceback" not in second.stderr


# -- the file: one transaction per notification; a failing file loses no episode ----------------


def test_a_notification_and_its_episode_are_written_together(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "outbox.db"
    outbox = SqliteOutbox(path)
    other = sqlite3.connect(str(path))  # another reader: what a crash would leave

    def seen() -> tuple[int, int]:
        rows = other.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        kept = other.execute("SELECT COUNT(*) FROM episodes").fetchone()[0]
        return int(rows), int(kept)

    with outbox.together():
        outbox.add("webhook", disk(1.0))
        outbox.keep_episode(disk(1.0))
        outbox.add("email", disk(1.0))
        assert seen() == (0, 0)  # a kill -9 here keeps none of them
    assert seen() == (2, 1)
    other.close()


def test_a_file_that_fails_inside_a_transaction_loses_none_of_its_writes(tmp_path: Path) -> None:
    """The data directory is full: writes fail in the middle of a transaction (once SQLite's
    small cache must spill) or at its commit.  Those made before die with it and are made
    again in memory, the rest go there too: nothing is lost."""
    from tests.test_outbox_guarantee import fill, small_tmpfs

    wide = dataclasses.replace(disk(1.0), message="x" * 3000)
    for per_transaction in (300, 1):  # fails inside the transaction; fails at its commit
        with small_tmpfs(tmp_path / f"data{per_transaction}") as data_dir:
            outbox = SqliteOutbox(data_dir / "outbox.db")
            outbox.keep_episode(disk(0.0))  # a working file first, then the disk fills
            fill(data_dir)
            added = 0
            while outbox.degraded is None and added < 300:
                with outbox.together():
                    for _ in range(per_transaction):
                        outbox.keep_episode(dataclasses.replace(wide, labels=(("n", str(added)),)))
                        outbox.add("webhook", wide)
                        added += 1
            outbox.close()
        assert outbox.degraded is not None, "the file never filled up"
        assert outbox.count("webhook") == added  # every row: the file's, then memory's
        kept = {dict(a.labels).get("n") for a in outbox.open_episodes()}
        assert kept == {None} | {str(i) for i in range(added)}  # disk(0.0) has no "n"


def test_a_corrupted_file_replaced_while_running_keeps_the_open_episodes(tmp_path: Path) -> None:
    from tests.test_delivery_security import corrupt

    path = tmp_path / "outbox.db"
    outbox = SqliteOutbox(path)
    outbox.keep_episode(disk(1.0))
    corrupt(path)  # while the agent runs, as a failing disk or a stray write would
    outbox.add("webhook", disk(2.0))  # fails on the corruption: the file is replaced
    outbox.close()
    assert outbox.moved_aside, "the corruption went unnoticed"
    assert [a.fingerprint for a in SqliteOutbox(path).open_episodes()] == [disk(1.0).fingerprint]


def test_what_is_not_reported_after_a_restart_is_resolved_without_waiting_to_learn() -> None:
    router = Router("h", [], min_interval_secs=3600, dedup_window_secs=0)

    def rss(pid: str) -> Alert:
        return Alert(analyzer="leak", metric="process_rss_bytes", labels=(("pid", pid),),
                     status=Status.FIRING, severity=Severity.WARN, value=1e9, threshold=None,
                     message=f"pid {pid} leaks", timestamp=10.0)  # fmt: skip

    router.resume([rss("1"), rss("2")], 100.0, lambda _alert: 3600.0)
    sent = router.resolve_unreported(lambda alert: alert.labels == (("pid", "1"),), 130.0)
    assert [(dict(a.labels)["pid"], a.status) for a in sent] == [("2", Status.RESOLVED)]
    assert router.repeat_due(140.0) == []  # pid 1 still waits for its analyzer


@pytest.mark.e2e
def test_the_daemon_resolves_at_once_what_it_took_back_and_does_not_report(
    start_agent: Any, http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    """A previous life's open episodes, as its outbox file holds them: a leak on a process
    that is gone, and a z-score alert on memory (reported, but z-score learns for an hour)."""
    host = hermetic_agent_keys(tmp_path)
    previous = SqliteOutbox(tmp_path / "data" / "outbox.db")

    def was(analyzer: str, metric: str, labels: tuple[tuple[str, str], ...]) -> Alert:
        return Alert(analyzer=analyzer, metric=metric, labels=labels, status=Status.FIRING,
                     severity=Severity.WARN, value=1.0, threshold=None, message=f"{metric} was bad",
                     timestamp=1_000_000.0, hostname="e2e-host", first_fired=1_000_000.0)  # fmt: skip

    gone = was("leak", "process_rss_bytes", (("comm", "java"), ("pid", "999999")))
    learning = was("zscore", "memory_used_percent", ())
    previous.keep_episode(gone)
    previous.keep_episode(learning)
    previous.close()
    # Its history tier, kept at that stop, holds the gone process too: taken back, it is
    # known to the store, not reported by any collector, so still resolved at once.
    from agent import tier_file
    from agent.logs.kmsg import boot_id
    from agent.store import Store

    stopped = time.time() - 120
    bucket = 5.0  # short history buckets: the look waits for one (a leak level was taken back)
    tier = Store(8, 60, bucket)
    for i in range(10):
        tier.write_samples(stopped - 10 * bucket + bucket * i, [SeriesKey(gone.metric, gone.labels)],
                           np.array([1e9 + i * 1e7]), "process")  # fmt: skip
    path = tier_file.path_in(tmp_path / "data")
    assert asyncio.run(tier_file.keep(tier, path, stopped, boot_id(tmp_path / "host-proc")))
    config = webhook_config(http_receiver.url + "/alerts", host, memory_percent=99.0)
    config = config.replace('enabled = ["threshold"]', 'enabled = ["threshold", "zscore", "leak"]')
    # The process collector runs (on the captured host, which has no pid 999999), as often.
    config = config.replace(only_collectors("memory"), only_collectors("memory", "process"))
    config = config.replace("[collector]\n", f"[collector]\nprocess_interval_secs = {INTERVAL}\n")
    config += f"[storage]\nhistory_resolution_secs = {bucket:g}\n"
    agent = start_agent(config, {"E2E_TOKEN": "t"})
    assert agent.wait_for_log("sysops-agent started", STARTUP_ALLOWANCE), agent.stderr
    # Three memory intervals and two housekeeping rounds after the start, then the next
    # round (every 5 s); with a leak's level taken back, at least a history bucket and an
    # interval, for its first closed bucket.  A deadline, not a wait: with room for a busy
    # machine.
    look = max(3 * INTERVAL, bucket + INTERVAL) + 15
    wait_until(lambda: http_receiver.requests, look + STARTUP_ALLOWANCE, "a RESOLVED")
    (resolved,) = [r.json() for r in http_receiver.requests]
    assert (resolved["status"], resolved["alert_id"]) == ("resolved", gone.alert_id)
    assert "not raised again since the agent restarted" in resolved["message"]
    code, _ = agent.stop()
    assert code == 0 and "Traceback" not in agent.stderr
    assert len(http_receiver.requests) == 1  # the z-score one waits for its learning hour
    assert "history of 1 series taken back" in agent.stderr


def test_an_alert_back_while_its_resolve_waited_after_a_restart_keeps_its_episode_open() -> None:
    """The threshold and the trend on one disk were taken back; the threshold's first reading
    clears it (its resolve waits for the trend's end), the next fires it again."""
    trend = dataclasses.replace(disk(1.0, severity=Severity.CRITICAL), analyzer="trend")
    router = Router("h", [], min_interval_secs=86400, dedup_window_secs=0)
    router.resume(
        [disk(1.0), trend], 1000.0, lambda a: 190.0 if a.analyzer == "threshold" else 3790.0
    )
    assert router.route(disk(1010.0, Status.RESOLVED)) is None  # waits for the trend's episode
    assert router.route(disk(1020.0)) is None  # back: the same episode, nothing to say
    assert router.repeat_due(5000.0) == []  # the trend not raised again: the disk still fires
    assert router.route(disk(5010.0, Status.RESOLVED)) is not None  # now the episode ends


def test_the_episode_kept_says_what_the_analyzer_said_not_a_repeat() -> None:
    outbox = MemoryOutbox()

    def refresh(alert: Alert, now: float) -> Alert:  # as the pipeline words a repeat
        message = f"disk is 94% now, still firing (first: {alert.message})"
        return dataclasses.replace(alert, timestamp=now, message=message)

    router = Router("h", [], min_interval_secs=60, dedup_window_secs=0, episodes=outbox,
                    refresh=refresh)  # fmt: skip
    router.route(disk(0.0))
    (repeat,) = router.repeat_due(61.0)
    assert repeat.context.get("still_firing") and repeat.message.startswith("disk is 94% now")
    (kept,) = outbox.open_episodes()
    assert kept.message == "disk is 93%" and kept.timestamp == 61.0  # the repeat's schedule


def test_a_repeat_after_a_restart_quotes_the_first_firings_words_as_the_first() -> None:
    """The episode is kept as of its last repeat (its schedule), with the words it fired
    with: after a restart its repeats quote them as "(first: ...)", not as said at the time
    of that repeat."""
    from agent.pipeline import Pipeline
    from agent.store import Store

    down = Alert(analyzer="log", metric="link_down", labels=(("interface", "eth0"),),
                 status=Status.FIRING, severity=Severity.WARN, value=1.0, threshold=None,
                 message="link eth0 down", timestamp=0.0)  # fmt: skip
    refresh = Pipeline(Store(8), []).refresh
    outbox = MemoryOutbox()
    before = Router("h", [], min_interval_secs=3600, dedup_window_secs=0, episodes=outbox,
                    refresh=refresh)  # fmt: skip
    before.route(down)
    (repeat,) = before.repeat_due(4000.0)
    (kept,) = outbox.open_episodes()
    assert kept.timestamp == 4000.0
    after = Router("h", [], min_interval_secs=3600, dedup_window_secs=0, episodes=outbox,
                   refresh=refresh)  # fmt: skip
    after.resume([kept], 5000.0, lambda _alert: None)  # the log watcher took it back as it was
    (again,) = after.repeat_due(7600.0)
    first = "still firing since 1970-01-01 00:00:00 UTC (first: link eth0 down)"
    assert repeat.message.endswith(first) and again.message.endswith(first)
    assert again.alert_id == repeat.alert_id


def test_a_repeat_after_a_restart_quotes_an_escalations_words_as_said_then() -> None:
    """Fired at warn, escalated to critical, repeated, then a restart: the repeat after it
    said "(first: link eth0 down 10 min (critical))" of an alert that first fired at warn
    (a second reader's case).  The episode keeps when its words were said."""
    from agent.pipeline import Pipeline
    from agent.store import Store

    def link(t: float, status: Status, severity: Severity, message: str) -> Alert:
        return Alert(analyzer="log", metric="link_down", labels=(("interface", "eth0"),),
                     status=status, severity=severity, value=1.0, threshold=None,
                     message=message, timestamp=t)  # fmt: skip

    refresh = Pipeline(Store(8), []).refresh
    outbox = MemoryOutbox()
    before = Router("h", [], min_interval_secs=3600, dedup_window_secs=0, episodes=outbox,
                    refresh=refresh)  # fmt: skip
    before.route(link(0.0, Status.FIRING, Severity.WARN, "link eth0 down"))
    before.route(link(10.0, Status.ESCALATED, Severity.CRITICAL, "link eth0 down 10 min"))
    (repeat,) = before.repeat_due(4000.0)
    (kept,) = outbox.open_episodes()
    after = Router("h", [], min_interval_secs=3600, dedup_window_secs=0, episodes=outbox,
                   refresh=refresh)  # fmt: skip
    after.resume([kept], 5000.0, lambda _alert: None)
    (again,) = after.repeat_due(7700.0)
    said = "(at 1970-01-01 00:00:10 UTC: link eth0 down 10 min)"
    assert repeat.message.endswith(said) and again.message.endswith(said)


@contextlib.contextmanager
def outbox_that_filled_its_disk(tmp_path: Path) -> Iterator[tuple[SqliteOutbox, Path]]:
    """An outbox holding an episode whose small disk filled up (it fell back to memory),
    with room again: the stale episodes are still in its file."""
    from tests.test_outbox_guarantee import fill, small_tmpfs

    with small_tmpfs(tmp_path / "data") as data_dir:
        path = data_dir / "outbox.db"
        outbox = SqliteOutbox(path)
        outbox.keep_episode(disk(0.0))
        fill(data_dir)
        wide = dataclasses.replace(disk(1.0), message="x" * 3000)
        for n in range(300):
            outbox.keep_episode(dataclasses.replace(wide, labels=(("n", str(n)),)))
            if outbox.degraded is not None:
                break
        assert outbox.degraded is not None, "the file never filled up"
        (data_dir / "filler").unlink()  # room again
        yield outbox, path


def test_episodes_left_in_a_file_that_failed_are_cleared_once_it_can_be_written(
    tmp_path: Path,
) -> None:
    """A full disk sends the outbox to memory: the episodes in the file stop following what
    is sent.  They cannot be cleared while the disk is full (a DELETE needs room): the file
    is removed at once (its rows and episodes are in memory), so no later start, even after
    a kill -9, takes back their state of that moment.  The stop, with room again, writes
    their state then (one ended since) for the next start."""
    with outbox_that_filled_its_disk(tmp_path) as (outbox, path):
        assert not path.exists()
        assert SqliteOutbox(path).open_episodes() == []  # as a start after a kill -9 sees it
        outbox.end_episode(disk(0.0).fingerprint)
        current = sorted(a.labels for a in outbox.open_episodes())
        assert current and disk(0.0).labels not in current
        outbox.close()
        assert sorted(a.labels for a in SqliteOutbox(path).open_episodes()) == current


def test_stale_episodes_are_cleared_while_running_once_the_file_can_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the file can be neither cleared nor removed at once (here: its directory
    refuses the unlink): not only at the stop, a kill -9 later must not find them (tried
    again at an episode written `STALE_EPISODES_RETRY_SECS` after the last try)."""
    import alerting.outbox

    monkeypatch.setattr(SqliteOutbox, "_remove_stale_file", lambda self: False)  # EACCES, say
    with outbox_that_filled_its_disk(tmp_path) as (outbox, path):
        assert SqliteOutbox(path).open_episodes() != []  # not cleared before the retry is due
        monkeypatch.setattr(alerting.outbox, "STALE_EPISODES_RETRY_SECS", 0.0)
        outbox.end_episode(disk(0.0).fingerprint)  # the next episode written, while running
        assert SqliteOutbox(path).open_episodes() == []  # as a start after a kill -9 sees it
        outbox.close()


def test_a_rule_removed_while_the_agent_was_down_resolves_what_it_had_fired() -> None:
    """An application's metric with a [[thresholds.rules]] rule in the first life and none
    in the second: nothing will ever judge its level again, so it is resolved at the look
    for unreported series (it would otherwise stay open, and muting, for good)."""
    rule = '[[thresholds.rules]]\nmetric = "app_queue_depth"\nwarn = 90\n'
    told = two_lives([91.0], [91.0] * 30, config=rule, config_after="", metric="app_queue_depth")
    assert [(a.status.value, "not raised again" in a.message) for a in told] == [
        ("firing", False),
        ("resolved", True),
    ]


def test_repeats_wait_until_the_alert_is_raised_again_after_a_restart() -> None:
    router = Router("h", [], min_interval_secs=60, dedup_window_secs=0)
    router.resume([disk(1.0)], 1000.0, lambda _a: 3600.0)
    assert router.repeat_due(1100.0) == []  # due by its schedule, but not known to fire
    assert router.route(disk(1110.0)) is None  # raised again: the episode goes on
    (repeat,) = router.repeat_due(1120.0)
    assert repeat.context.get("still_firing") and repeat.alert_id == disk(1.0).alert_id


def test_the_episodes_kept_are_bounded_as_the_tracks_are(monkeypatch: pytest.MonkeyPatch) -> None:
    import alerting.router

    monkeypatch.setattr(alerting.router, "MAX_TRACKED", 3)
    outbox = MemoryOutbox()
    router = Router("h", [], episodes=outbox)
    for n in range(5):
        router.route(dataclasses.replace(disk(float(n)), labels=(("n", str(n)),)))
    assert len(outbox.open_episodes()) == 3


def test_a_reload_that_makes_the_outbox_durable_keeps_what_this_router_knows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.db"
    stale = SqliteOutbox(path)
    stale.keep_episode(dataclasses.replace(disk(0.0), labels=(("n", "old"),)))  # two lives ago
    stale.close()
    router = Router("h", [], episodes=MemoryOutbox())  # console only: nothing durable
    router.route(disk(10.0))
    durable = SqliteOutbox(path)  # a webhook added by a reload
    router.reconfigure("h", [], min_interval_secs=3600, dedup_window_secs=0, episodes=durable)
    assert [a.labels for a in durable.open_episodes()] == [DISK]


def test_a_notification_and_its_episode_go_in_the_same_transaction(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "outbox.db"
    outbox = SqliteOutbox(path)
    other = sqlite3.connect(str(path))
    seen_while_queuing: list[int] = []

    class Peeking:  # a channel worker that looks at the file while the row is queued
        channel = Recorder()

        def submit(self, alert: Alert) -> None:
            outbox.add("peek", alert)
            row = other.execute("SELECT COUNT(*) FROM episodes").fetchone()
            seen_while_queuing.append(int(row[0]))

    router = Router("h", [Peeking()], episodes=outbox)  # type: ignore[list-item]
    router.route(disk(1.0))
    assert seen_while_queuing == [0]  # not committed yet: a crash here keeps neither
    assert other.execute("SELECT COUNT(*) FROM episodes").fetchone()[0] == 1
    other.close()


def test_a_rule_brought_back_by_a_reload_before_the_look_takes_its_level_back() -> None:
    """The second life starts without the rule (its level cannot be applied); a reload puts
    it back before the look for unreported series: at 88 %, inside the band where one life
    would have stayed at warn, the level held goes on (repeated, never resolved)."""
    from agent.store import Store
    from analyzers.threshold import ThresholdAnalyzer, ThresholdRule

    key = SeriesKey("app_queue_depth", DISK)
    episode = dataclasses.replace(disk(500.0), metric="app_queue_depth", first_fired=500.0)
    analyzer = ThresholdAnalyzer([])
    router = Router("h", [], min_interval_secs=300, dedup_window_secs=0)
    analyzer.resume([episode])
    router.resume([episode], 1000.0, lambda _a: float("inf"))
    store, told = Store(64, 0), []
    for i in range(60):
        t = 1000.0 + 10.0 * i
        if t == 1050.0:  # SIGHUP: the rule is back
            analyzer.reconfigure([ThresholdRule("app_queue_depth", 90.0, 95.0, 85.0)])
        if t == 1190.0:  # the runtime's look
            unjudged = analyzer.end_resume()
            told += router.resolve_unreported(lambda _a, u=unjudged: key not in u, t)
        for alert in analyzer.observe(
            store.write_samples(t, [key], np.array([88.0]), "app"), store
        ):
            sent = router.route(alert)
            told += [sent] if sent is not None else []
        told += router.repeat_due(t)
    assert told and all(a.context.get("still_firing") for a in told)  # repeats, nothing else
    assert {a.alert_id for a in told} == {episode.alert_id}


def test_episodes_are_kept_only_where_the_outbox_survives_a_restart(tmp_path: Path) -> None:
    """The console alone (the embedded default) has an outbox in memory: nothing to keep
    episodes in for the next start, so nothing is written per notification either."""
    from agent.config import parse_config_text
    from agent.runtime import Agent

    console = f'[agent]\ndata_dir = "{tmp_path}"\n[alerting.console]\nenabled = true\n'
    assert Agent(parse_config_text(console, "t.toml")).router.episodes is None
    webhook = console + '[alerting.webhook]\nenabled = true\nurl = "http://127.0.0.1:9/"\n'
    agent = Agent(parse_config_text(webhook, "t.toml"))
    assert isinstance(agent.router.episodes, SqliteOutbox)
    agent.outbox.close()  # type: ignore[attr-defined]


def test_an_unreadable_episode_is_dropped_and_the_others_taken_back(tmp_path: Path) -> None:
    """A row a newer or broken version wrote, or garbage: nothing to resume from it, and it
    must not stop the start-up or stay to trip the next one."""
    import sqlite3

    path = tmp_path / "outbox.db"
    outbox = SqliteOutbox(path)
    outbox.keep_episode(disk(1.0))
    outbox.close()
    db = sqlite3.connect(str(path))
    db.execute("INSERT INTO episodes VALUES ('x', '{\"not\": \"an alert\"}'), ('y', 'garbage')")
    db.commit()
    db.close()
    assert [a.fingerprint for a in SqliteOutbox(path).open_episodes()] == [disk(1.0).fingerprint]
    assert len(SqliteOutbox(path).open_episodes()) == 1  # the bad rows are gone for good
    db = sqlite3.connect(str(path))
    assert db.execute("SELECT COUNT(*) FROM episodes").fetchone()[0] == 1
    db.close()


def test_an_alert_of_an_analyzer_no_longer_enabled_has_no_time_to_be_raised_again() -> None:
    from agent.config import parse_config_text
    from analyzers.registry import confirm_after_restart_secs

    settings = parse_config_text('[analyzer]\nenabled = ["threshold"]\n', "t.toml").settings
    assert confirm_after_restart_secs(settings, "zscore") == 0.0  # resolved after the slack
    assert confirm_after_restart_secs(settings, "no-such-analyzer") == 0.0
    default = parse_config_text("", "t.toml").settings
    assert confirm_after_restart_secs(default, "zscore") == 3600.0 + 300.0


def test_the_daemons_stop_clears_the_episodes_a_full_disk_left_stale(tmp_path: Path) -> None:
    """The disk filled: an alert resolved meanwhile is resolved in memory only, and the
    file's episodes could not be cleared.  Room again, then `systemctl restart`: the stop
    is the last chance to clear them, or the next start resolves the alert a second time."""
    from agent.config import parse_config_text
    from agent.runtime import Agent
    from tests.test_outbox_guarantee import fill, small_tmpfs

    with small_tmpfs(tmp_path / "data") as data_dir:
        config = (f'[agent]\ndata_dir = "{data_dir}"\n[log_analyzer]\nenabled = false\n'
                  '[alerting.webhook]\nenabled = true\nurl = "http://127.0.0.1:9/"\n')  # fmt: skip
        agent = Agent(parse_config_text(config, "test.toml"))
        outbox = agent.outbox
        assert isinstance(outbox, SqliteOutbox)
        outbox.keep_episode(disk(0.0))  # announced
        fill(data_dir)
        wide = dataclasses.replace(disk(1.0), message="x" * 3000)
        while outbox.degraded is None:  # the disk is full: writes fail, memory takes over
            outbox.add("webhook", wide)
        outbox.end_episode(disk(0.0).fingerprint)  # its RESOLVED, told from memory
        (data_dir / "filler").unlink()  # room again
        asyncio.run(agent._shutdown())
        assert SqliteOutbox(data_dir / "outbox.db").open_episodes() == []


def test_the_look_after_a_restart_waits_for_the_first_history_bucket(tmp_path: Path) -> None:
    """Trend and leak take their levels back, and judge on closed history buckets: with
    5-minute buckets the first closes up to six minutes after the start, and the look for
    unreported series (which drops the levels not applied yet) came after 190 s."""
    from agent.config import parse_config_text
    from agent.runtime import Agent

    config = (f'[agent]\ndata_dir = "{tmp_path}"\n[log_analyzer]\nenabled = false\n'
              "[storage]\nhistory_resolution_secs = 300\n"
              '[alerting.webhook]\nenabled = true\nurl = "http://127.0.0.1:9/"\n')  # fmt: skip
    before = SqliteOutbox(tmp_path / "outbox.db")
    before.keep_episode(disk(time.time() - 600, severity=Severity.CRITICAL, analyzer="trend"))
    before.close()
    agent = Agent(parse_config_text(config, "test.toml"))
    started = time.time()
    agent._resume_episodes()
    assert agent._look_for_unreported_at is not None
    assert agent._look_for_unreported_at - started >= 300 + 60  # a bucket and a disk interval
    asyncio.run(agent._shutdown())


def test_the_analyzers_take_back_their_alerts_without_the_routers_marks(tmp_path: Path) -> None:
    """A kept episode carries the router's marks (folded, the severity told); handed to an
    analyzer as they were, a z-score alert raised again carried `episode_told` into every
    repeat's payload."""
    from agent.config import parse_config_text
    from agent.runtime import Agent
    from alerting.router import FOLDED_MARK, KEPT_MARKS, TOLD_MARK

    loaded = parse_config_text(f'[agent]\ndata_dir = "{tmp_path}"\n', "t.toml")
    agent = Agent(loaded)
    marked = {"baseline": 50.0, FOLDED_MARK: True, TOLD_MARK: "critical"}
    agent.outbox.keep_episode(dataclasses.replace(disk(1.0), context=marked))
    (threshold,) = [a for a in agent.analyzers if a.name == "threshold"]
    given: list[Alert] = []

    class Recording:
        name = "threshold"

        def resume(self, alerts: Any) -> None:
            given.extend(alerts)

        def end_resume(self) -> list[SeriesKey]:
            return []

    agent.analyzers[agent.analyzers.index(threshold)] = Recording()  # type: ignore[call-overload]
    agent._resume_episodes()
    assert [a.context for a in given] == [{"baseline": 50.0}]
    assert not set(KEPT_MARKS) & set(given[0].context)
