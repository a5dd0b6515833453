"""Episodes across a restart: what the channels were told fires is kept in the outbox, and
the next start neither announces it again nor leaves it open for good (docs/ALERTING.md,
"Across a restart")."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from alerting.alert import Alert, Severity, Status
from alerting.delivery import ChannelWorker
from alerting.outbox import MemoryOutbox, SqliteOutbox
from alerting.router import Router
from tests.conftest import HttpReceiver, hermetic_agent_keys, wait_until
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


def test_only_what_the_channels_were_told_is_kept() -> None:
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
    assert [a.analyzer for a in outbox.open_episodes()] == ["trend"]


def test_the_episode_store_survives_a_corrupted_file(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = SqliteOutbox(path)
    outbox.keep_episode(disk(1.0))
    outbox.close()
    path.write_bytes(b"not a database" * 100)
    fresh = SqliteOutbox(path)  # moved aside, started afresh: nothing to resume, no crash
    assert fresh.open_episodes() == [] and fresh.moved_aside


# -- the real daemon, killed -9 and started again --------------------------------------------


def set_memory_used(tmp_path: Path, fraction: float) -> None:
    """hermetic_agent_keys' captured host, with memory `fraction` used (written whole)."""
    meminfo = tmp_path / "host-proc" / "meminfo"
    lines = meminfo.read_text().splitlines(keepends=True)
    total = next(int(line.split()[1]) for line in lines if line.startswith("MemTotal:"))
    kept = [line for line in lines if not line.startswith("MemAvailable:")]
    changed = meminfo.with_name("meminfo.new")
    changed.write_text("".join(kept) + f"MemAvailable:   {round(total * (1 - fraction))} kB\n")
    changed.replace(meminfo)


def memory_alerts(receiver: HttpReceiver) -> list[dict[str, Any]]:
    bodies = [r.json() for r in receiver.requests]
    return [b for b in bodies if b["metric"] == "memory_used_percent"]


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
    wait_until(lambda: memory_alerts(http_receiver), STARTUP_ALLOWANCE, "the FIRING")
    first.kill()  # SIGKILL: nothing is said or written on the way out
    second = start_agent(config + MARKER_RULE, {"E2E_TOKEN": "t"})

    def marker() -> bool:
        return any(r.json()["metric"] == "memory_total_bytes" for r in http_receiver.requests)

    wait_until(marker, STARTUP_ALLOWANCE, f"the second life's first judgment:\n{second.stderr}")
    set_memory_used(tmp_path, 0.0)  # the condition ends
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
    wait_until(lambda: memory_alerts(http_receiver), STARTUP_ALLOWANCE, "the FIRING")
    first.kill()
    set_memory_used(tmp_path, 0.0)  # ends while nobody watches
    second = start_agent(config, {"E2E_TOKEN": "t"})
    # The threshold fires on its first sample: not raised again within a few of the
    # slowest collector's intervals (and two housekeeping rounds), it is resolved.
    deadline = STARTUP_ALLOWANCE + 3 * INTERVAL + 10 + 10
    wait_until(lambda: len(memory_alerts(http_receiver)) >= 2, deadline, "the RESOLVED")
    (fired, resolved) = memory_alerts(http_receiver)
    assert resolved["status"] == "resolved" and resolved["alert_id"] == fired["alert_id"]
    assert "not raised again since the agent restarted, 0% now" in resolved["message"]
    assert "1 alert(s) announced before the restart" in second.stderr
    code, _ = second.stop()
    assert code == 0 and "Traceback" not in second.stderr
