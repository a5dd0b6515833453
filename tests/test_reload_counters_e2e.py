"""A SIGHUP keeps the channel counters shown at stop (#15, item 8), and each channel's
backlog: sent once, not lost.

Before, the new workers of a reload started from zero, so "channel console:
sent N" at stop counted only what was sent since the last SIGHUP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from alerting.alert import Alert, Severity, Status
from tests.conftest import (
    HttpReceiver,
    agent_command,
    hermetic_agent_keys,
    only_collectors,
    until,
    wait_until,
    write_config,
)


def config(host: str, memory_percent: float) -> str:
    # The captured host's memory is 25 % used: 0.5 fires a warning, 99.9 resolves it.
    return (
        f'[agent]\ndata_dir = "data"\n{host}'
        f"[collector]\nmemory_interval_secs = 0.2\n{only_collectors('memory')}"
        f'[analyzer]\nenabled = ["threshold"]\n[thresholds]\nmemory_percent = {memory_percent}\n'
        "[log_analyzer]\nenabled = false\n[alerting.console]\nenabled = true\n"
    )


def test_a_reload_keeps_the_channel_counters(tmp_path: Path) -> None:
    host = hermetic_agent_keys(tmp_path)
    path = write_config(tmp_path, config(host, 0.5))
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("w") as stdout, err.open("w") as stderr:
        agent = subprocess.Popen(
            agent_command("--config", str(path)), stdout=stdout, stderr=stderr, cwd=tmp_path
        )
    try:
        wait_until(lambda: "FIRING" in out.read_text(), 30, "the memory alert")
        path.write_text(config(host, 99.9))
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in err.read_text(), 10, "the reload")
        wait_until(lambda: "RESOLVED" in out.read_text(), 15, "the resolution, after the reload")
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=15) == 0
    log = err.read_text()
    at_stop = log[log.index("stopping") :]
    sent = re.findall(r"channel console: sent (\d+),", at_stop)
    assert sent and sent[-1] == "2", log  # the warning before the SIGHUP, its resolution after


# -- a reload hands each channel's backlog over, once -----------------------------------------


def log_alert(job: int) -> Alert:
    return Alert(analyzer="log", metric="log_job_failed", labels=(("job", str(job)),),
                 status=Status.FIRING, severity=Severity.WARN, value=1.0, threshold=None,
                 message=f"ERROR job {job} failed", timestamp=time.time(),
                 context={"event": True})  # fmt: skip


def delivered(receiver: HttpReceiver) -> list[str]:
    """The notification ids the webhook accepted, in order."""
    return [r.json()["id"] for r in list(receiver.requests) if r.status < 300]  # type: ignore[index]


def log_alerts_config(tmp_path: Path, url: str, shutdown_secs: float) -> str:
    """Ten distinct alerts on demand: a custom pattern on a tailed file, one per job id."""
    return (
        f'[agent]\ndata_dir = "data"\nshutdown_timeout_secs = {shutdown_secs:g}\n'
        f"{hermetic_agent_keys(tmp_path)}"
        f"[collector]\nmemory_interval_secs = 1\n{only_collectors('memory')}"
        '[analyzer]\nenabled = ["threshold"]\n'
        f'[log_analyzer]\nsources = ["syslog"]\nsyslog_path = "{tmp_path / "sys.log"}"\n'
        f'files = ["{tmp_path / "app.log"}"]\npoll_interval_secs = 0.2\n'
        '[[log_analyzer.custom_patterns]]\nname = "job_failed"\npattern = "ERROR job (?P<job>\\\\d+)"\n'
        "[alerting]\nbacklog_retry_secs = 1\n"
        f'[alerting.webhook]\nenabled = true\nurl = "{url}"\nretry_count = 0\n'
    )


def run_reload_scenario(tmp_path: Path, receiver: HttpReceiver, shutdown_secs: float,
                        during: Callable[[subprocess.Popen[bytes], Path], None]) -> None:  # fmt: skip
    for name in ("sys.log", "app.log"):
        (tmp_path / name).write_text("")
    path = write_config(
        tmp_path, log_alerts_config(tmp_path, receiver.url + "/hook", shutdown_secs)
    )
    err = tmp_path / "err"
    with err.open("w") as stderr:
        agent = subprocess.Popen(agent_command("--config", str(path)), stdout=subprocess.DEVNULL,
                                 stderr=stderr, cwd=tmp_path)  # fmt: skip
    try:
        wait_until(lambda: "sysops-agent started" in err.read_text(), 30, "the start")
        with (tmp_path / "app.log").open("a") as log:
            log.write("".join(f"ERROR job {i} failed\n" for i in range(10)))
        during(agent, err)
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0, err.read_text()


@pytest.mark.parametrize(
    ("delay", "shutdown_secs", "once"),
    [
        # Before, the new workers started on the outbox while the old ones drained it: for
        # the shutdown timeout two workers took the same rows, and each went out twice.
        (0.3, 10.0, True),
        # The far side takes 1 s and the retiring worker gets 0.2 s: its batch in flight is
        # cut and its successor sends it again (at least once: the far side may have taken
        # it before the cut).
        (1.0, 0.2, False),
    ],
)
def test_a_reload_while_a_backlog_is_sent_loses_nothing_and_sends_it_once_if_it_can(
    tmp_path: Path, http_receiver: HttpReceiver, delay: float, shutdown_secs: float, once: bool
) -> None:
    http_receiver.delay = delay

    def during(agent: subprocess.Popen[bytes], err: Path) -> None:
        # The first answer is in: the second send has just begun.
        wait_until(lambda: delivered(http_receiver), 30, "the first of ten deliveries")
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in err.read_text(), 30, "the reload")
        wait_until(lambda: len(set(delivered(http_receiver))) >= 10, 60, "all ten")

    run_reload_scenario(tmp_path, http_receiver, shutdown_secs=shutdown_secs, during=during)
    ids = delivered(http_receiver)
    assert len(set(ids)) == 10 and (len(ids) == 10 or not once), ids


def test_a_reload_keeps_a_backlog_that_waits_in_memory(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    """The outbox refused (a symlink planted as data_dir/outbox.db): notifications wait in
    memory.  A reload opens a new outbox; what waited in the old one went with it, while
    the log said it stayed in the outbox for the next start."""
    http_receiver.status = 503
    (tmp_path / "data").mkdir()
    (tmp_path / "data/outbox.db").symlink_to(tmp_path / "elsewhere.db")

    def during(agent: subprocess.Popen[bytes], err: Path) -> None:
        wait_until(lambda: "cannot open the outbox" in err.read_text(), 30, "the memory outbox")
        wait_until(lambda: "503" in err.read_text(), 30, "the endpoint failing")
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in err.read_text(), 30, "the reload")
        http_receiver.status = 204  # the endpoint is back after the old workers gave up
        wait_until(
            lambda: len(set(delivered(http_receiver))) >= 10, 60, "all ten, after the reload"
        )

    run_reload_scenario(tmp_path, http_receiver, shutdown_secs=0.5, during=during)
    assert len(delivered(http_receiver)) == 10


def test_a_reload_keeps_what_is_still_to_be_said_about_undelivered_alerts(tmp_path: Path) -> None:
    """What expired undelivered is said by the next message that gets through, on any
    channel; a reload built a new account, and the count not said yet was gone."""
    from agent.config import load_config
    from agent.runtime import Agent

    host = hermetic_agent_keys(tmp_path)
    # In this process: data_dir must not be relative to the test run's directory.
    text = config(host, 99.9).replace('data_dir = "data"', f'data_dir = "{tmp_path / "data"}"')
    path = write_config(tmp_path, text)
    agent = Agent(load_config(path), config_path=str(path))

    async def scenario() -> dict[tuple[str, str], int]:
        agent.router.workers[0].undelivered.add("webhook", "expired", 7)
        assert await agent.reload()
        counts = dict(agent.router.workers[0].undelivered.counts)
        await agent._shutdown()
        return counts

    assert asyncio.run(scenario()) == {("webhook", "expired"): 7}


def test_a_reload_says_which_changes_take_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A reload that turned on Prometheus, added a log pattern and changed the hostname said
    only "configuration reloaded": none of them applies before a restart."""
    from agent.config import load_config
    from agent.runtime import Agent

    host = hermetic_agent_keys(tmp_path)
    text = config(host, 99.9).replace('data_dir = "data"', f'data_dir = "{tmp_path / "data"}"')
    path = write_config(tmp_path, text)
    agent = Agent(load_config(path), config_path=str(path))
    changed = (
        text.replace("[log_analyzer]\nenabled = false\n", "[log_analyzer]\nenabled = true\n")
        .replace("[agent]\n", '[agent]\nhostname = "renamed"\n')
        .replace("memory_percent = 99.9", "memory_percent = 90")  # applies now: not named
        + '[prometheus]\nenabled = true\nbind = "127.0.0.1:1"\n'
    )

    async def scenario() -> None:
        path.write_text(changed)
        with caplog.at_level(logging.WARNING, logger="agent.runtime"):
            assert await agent.reload()
        await agent._shutdown()

    asyncio.run(scenario())
    (said,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("reload:")]
    assert said.startswith(
        "reload: [prometheus], [log_analyzer], agent.hostname changed, and apply in full only "
        "after a restart"
    ), said
    assert "thresholds" in said  # what applies now is said too


# -- a channel removed from the configuration ---------------------------------------------------


def waiting_rows(db: Path) -> dict[str, int]:
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        return dict(connection.execute("SELECT channel, COUNT(*) FROM outbox GROUP BY channel"))


@pytest.mark.parametrize("when", ["at a reload", "while the agent was down"])
def test_what_waited_for_a_removed_channel_is_dropped_and_said(
    tmp_path: Path, http_receiver: HttpReceiver, when: str
) -> None:
    """The webhook is down with ten alerts waiting, and is removed from the configuration.
    Its rows stayed in the outbox for good (the log said "for the next start", and no start
    sent them), or were sent days late if it came back.  Now they are dropped, logged,
    and said by the next message on the channels left."""
    http_receiver.status = 503
    for name in ("sys.log", "app.log"):
        (tmp_path / name).write_text("")
    with_webhook = log_alerts_config(tmp_path, http_receiver.url + "/hook", 0.5)
    # A syslog server over UDP keeps the outbox durable without the webhook (a console alone
    # needs none: its alerts go at once); critical only, so the console says the drop.
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    with_webhook += "[alerting.console]\nenabled = true\n[alerting.syslog]\nenabled = true\n"
    with_webhook += (
        f'address = "udp://127.0.0.1:{udp.getsockname()[1]}"\nmin_severity = "critical"\n'
    )
    without = with_webhook.replace(
        "[alerting.webhook]\nenabled = true", "[alerting.webhook]\nenabled = false"
    )
    path = write_config(tmp_path, with_webhook)
    db, out, err = tmp_path / "data/outbox.db", tmp_path / "out", tmp_path / "err"

    def start() -> subprocess.Popen[bytes]:
        with out.open("a") as stdout, err.open("a") as stderr:
            return subprocess.Popen(agent_command("--config", str(path)), stdout=stdout,
                                    stderr=stderr, cwd=tmp_path)  # fmt: skip

    def stop(agent: subprocess.Popen[bytes]) -> None:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0, err.read_text()

    agent = start()
    try:
        wait_until(lambda: "sysops-agent started" in err.read_text(), 30, "the start")
        with (tmp_path / "app.log").open("a") as log:
            log.write("".join(f"ERROR job {i} failed\n" for i in range(10)))
        wait_until(lambda: waiting_rows(db).get("webhook") == 10, 30, "ten rows waiting")
        wait_until(lambda: "503" in err.read_text(), 30, "the webhook failing")
        path.write_text(without)
        if when == "at a reload":
            agent.send_signal(signal.SIGHUP)
            wait_until(lambda: "configuration reloaded" in err.read_text(), 30, "the reload")
        else:
            stop(agent)
            assert waiting_rows(db).get("webhook") == 10  # kept for a start with the webhook
            agent = start()
        said = "channel webhook is no longer configured: 10 alert(s) waiting for it are dropped"
        wait_until(lambda: said in err.read_text(), 30, "the drop, logged")
        assert "webhook" not in waiting_rows(db)
        with (tmp_path / "app.log").open("a") as log:
            log.write("ERROR job 99 failed\n")
        note = "10 alert(s) dropped undelivered (channel removed from the configuration) on channel webhook"
        wait_until(lambda: note in out.read_text(), 30, "the next message saying it")
    finally:
        stop(agent)
        udp.close()


def test_a_channel_configured_again_while_its_removal_drains_keeps_its_rows(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    """Two SIGHUPs: the first removes the webhook (down), whose worker drains outside the
    reload; the second adds it back meanwhile.  The first's drop of what was left took the
    new worker's rows too (the same channel name), said as "channel removed"."""
    from agent.config import load_config
    from agent.runtime import Agent

    http_receiver.status = 503
    for name in ("sys.log", "app.log"):
        (tmp_path / name).write_text("")
    text = log_alerts_config(tmp_path, http_receiver.url + "/hook", 1.0)
    text = text.replace('data_dir = "data"', f'data_dir = "{tmp_path / "data"}"')
    path = write_config(tmp_path, text)
    agent = Agent(load_config(path), config_path=str(path))

    async def scenario() -> int:
        (webhook,) = [w for w in agent.router.workers if w.name == "webhook"]
        webhook.start()
        webhook.submit(log_alert(0))  # waits: the endpoint is down
        path.write_text(
            text.replace(
                "[alerting.webhook]\nenabled = true", "[alerting.webhook]\nenabled = false"
            )
        )
        removing = asyncio.ensure_future(agent.reload())
        await until(lambda: "webhook" not in [w.name for w in agent.router.workers], 10, "removed")
        path.write_text(text)
        assert await agent.reload()  # added back while the removed worker still drains
        (again,) = [w for w in agent.router.workers if w.name == "webhook"]
        again.submit(log_alert(1))
        assert await removing
        left = agent.outbox.count("webhook")
        await agent._shutdown()
        return left

    # Both wait for the channel configured again: its own row, and the one left before.
    assert asyncio.run(scenario()) == 2
