"""No feedback (#15, item 2): the agent never alerts on a line it wrote itself.

The set-up the Ansible base config produces: the syslog channel writes to the
local syslog, the syslog source tails the file that syslog writes, and custom
patterns match what the alerts say.  Here the syslog is a real rsyslogd with a
private config (a Unix socket in, a file out), in the file formats a host may
use; the agent must alert on the application's line once and never on its own
messages about it, over several aggregation windows.  The journald source is
checked the same way with the agent's own entries (its PID and process name, or
its syslog identifier) in the journal.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    agent_command,
    hermetic_agent_keys,
    only_collectors,
    wait_until,
    write_config,
)

HELPERS = Path(__file__).parent / "helpers"
AGGREGATE_SECS = 1.0
# A custom pattern whose identity is the whole line (as a user writes one): an alert about
# "boom in app" is a new line with the same words, so without the filter each message
# fires again, nested one level deeper (the "9 nested notifications"); and a probe.
PATTERNS = """
[[log_analyzer.custom_patterns]]
name = "nested"
pattern = "(?P<line>.*boom in app.*)"
severity = "warn"
[[log_analyzer.custom_patterns]]
name = "probe"
pattern = "probe (?P<n>\\\\d+)"
severity = "info"
"""


def rsyslogd_binary() -> str:
    found = shutil.which("rsyslogd") or next(
        (p for p in ("/usr/sbin/rsyslogd", "/sbin/rsyslogd") if Path(p).exists()), None
    )
    if found is None:
        pytest.fail("rsyslogd is not installed (scripts/test installs Debian's rsyslog package)")
    return found


@pytest.fixture
def rsyslog(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Path, Path]]:
    """A private rsyslogd: (the Unix socket it reads, the file it writes)."""
    special_parser, template = request.param
    sock, out, work = tmp_path / "log.sock", tmp_path / "syslog", tmp_path / "rsyslog-work"
    work.mkdir()
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{work}")\n'
        'module(load="imuxsock" SysSock.Use="off")\n'
        f'input(type="imuxsock" Socket="{sock}" UseSpecialParser="{special_parser}")\n'
        f'*.* action(type="omfile" file="{out}" template="{template}")\n'
    )
    server = subprocess.Popen(
        [rsyslogd_binary(), "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslog.pid")],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "rsyslog.err").open("w"),
    )
    try:
        wait_until(sock.exists, 10, "rsyslogd's socket")
        yield sock, out
    finally:
        server.terminate()
        server.wait(timeout=10)


def log_to(sock: Path, text: str) -> None:
    """One line as an application logs it through syslog(3): `<PRI>TAG[PID]: MSG`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
        client.sendto(f"<14>app[4242]: {text}".encode(), str(sock))


def notifications(out: Path, pattern: str) -> int:
    """Console notifications of one pattern (`... FIRING   host: pattern: line`)."""
    text = out.read_text() if out.exists() else ""
    return len(re.findall(rf"FIRING +\S+: {re.escape(pattern)}: ", text))


@pytest.mark.parametrize(
    "rsyslog",
    [
        # Debian's defaults: the special parser of the local socket, high-precision file format.
        ("on", "RSYSLOG_FileFormat"),
        ("on", "RSYSLOG_TraditionalFileFormat"),
        # RFC 5424 parsed as such; in the file as "host sysops-agent[PID] ..." (no colon).
        ("off", "RSYSLOG_FileFormat"),
        # The file in RFC 5424 itself, structured data included.
        ("off", "RSYSLOG_SyslogProtocol23Format"),
    ],
    indirect=True,
    ids=["special-fileformat", "special-traditional", "rfc5424-fileformat", "protocol23"],
)
def test_the_agent_never_alerts_on_its_own_syslog_messages(
    tmp_path: Path, rsyslog: tuple[Path, Path]
) -> None:
    sock, syslog = rsyslog
    config = write_config(
        tmp_path,
        f'[agent]\ndata_dir = "data"\n{hermetic_agent_keys(tmp_path)}'
        f"[collector]\n{only_collectors()}"
        f'[log_analyzer]\nsources = ["syslog"]\nsyslog_path = "{syslog}"\n'
        f"poll_interval_secs = 0.1\naggregate_secs = {AGGREGATE_SECS}\n{PATTERNS}"
        "[alerting]\nmax_alerts_per_hour = 10000\n"
        "[alerting.console]\nenabled = true\n"
        f'[alerting.syslog]\nenabled = true\naddress = "{sock}"\n',
    )
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("w") as stdout, err.open("w") as stderr:
        agent = subprocess.Popen(
            agent_command("--config", str(config)), stdout=stdout, stderr=stderr, cwd=tmp_path
        )
    probes = 0

    def probe() -> None:
        """One probe line, then wait until the agent has alerted on it: the tail has read it."""
        nonlocal probes
        probes += 1
        log_to(sock, f"probe {probes}")
        wait_until(lambda: f"probe {probes}" in out.read_text(), 15, f"the alert on probe {probes}")

    try:
        # The first start tails from the end: probe until a probe line is alerted.
        deadline = time.monotonic() + 30
        while "probe" not in out.read_text():
            assert time.monotonic() < deadline, err.read_text()
            probes += 1
            log_to(sock, f"probe {probes}")
            time.sleep(0.2)  # paced probes while the agent starts; the wait is on its output
        log_to(sock, "boom in app, sector 7")
        wait_until(lambda: notifications(out, "nested"), 15, "the alert on the app's line")
        # The agent's message about it reaches the file (the loop the test is about exists) ...
        wait_until(
            lambda: len(re.findall("boom in app", syslog.read_text())) >= 2,
            15,
            "the syslog channel's message in rsyslog's file",
        )
        # ... and several aggregation windows pass, each closed by a probe the agent alerted on:
        # a re-fire or a follow-up of any pattern would be in the output by then.
        started = time.monotonic()
        while time.monotonic() - started < 4 * AGGREGATE_SECS:
            probe()
        probe()
    finally:
        agent.terminate()
        agent.wait(timeout=15)
    output = out.read_text()
    assert notifications(out, "nested") == 1, output
    assert " times in " not in output, output  # no aggregated follow-up of anything
    for n in range(1, probes + 1):  # every probe once, or not at all before the tail opened
        assert len(re.findall(rf"probe {n}\b", output)) <= 1, output
    # The agent's own lines are in the file: the filter, not an absent message, kept it quiet.
    own = [line for line in syslog.read_text().splitlines() if "sector 7" in line]
    assert len(own) >= 2, syslog.read_text()


def journal_entry(cursor: int, message: str, **fields: str) -> str:
    return json.dumps(
        {
            "__CURSOR": f"c{cursor}",
            "MESSAGE": message,
            "_TRANSPORT": "stdout",
            "__REALTIME_TIMESTAMP": str(int(time.time() * 1e6)),
            "_PID": "4242",
            "_COMM": "app",
            "SYSLOG_IDENTIFIER": "app",
            **fields,
        }
    )


def test_the_agent_never_alerts_on_its_own_journal_entries(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    journal.write_text("")
    config = write_config(
        tmp_path,
        f'[agent]\ndata_dir = "data"\n{hermetic_agent_keys(tmp_path)}'
        f"[collector]\n{only_collectors()}"
        f'[log_analyzer]\nsources = ["journald"]\n'
        f'journalctl_path = "{HELPERS / "fake_journalctl.py"}"\n'
        f"aggregate_secs = {AGGREGATE_SECS}\n{PATTERNS}"
        "[alerting.console]\nenabled = true\n"
        '[alerting.syslog]\nenabled = false\ntag = "my-agent"\n',
    )
    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("w") as stdout, err.open("w") as stderr:
        agent = subprocess.Popen(
            agent_command("--config", str(config)),
            stdout=stdout,
            stderr=stderr,
            cwd=tmp_path,
            env={**os.environ, "FAKE_JOURNAL": str(journal)},
        )
    try:
        wait_until(Path(f"{journal}.following").exists, 30, "journalctl to follow the journal")
        comm = Path(f"/proc/{agent.pid}/comm").read_text().strip()
        entries = [
            # The agent's own log record (stderr, picked up by journald): its PID and name.
            journal_entry(1, "WARN boom in app, sector 7", _PID=str(agent.pid), _COMM=comm),
            # Its syslog channel's message through /dev/log, from an earlier run (another PID).
            journal_entry(2, "WARN boom in app, sector 7", SYSLOG_IDENTIFIER="my-agent"),
            journal_entry(3, '[alert@32473 metric="x"] WARN boom in app', _PID="1"),
            journal_entry(4, "boom in app, sector 7"),  # the application's line
            journal_entry(5, "probe 1"),
        ]
        with journal.open("a") as f:
            f.write("".join(e + "\n" for e in entries))
        wait_until(lambda: "probe 1" in out.read_text(), 20, "the alert on the probe")
    finally:
        agent.terminate()
        agent.wait(timeout=15)
    output = out.read_text()
    assert notifications(out, "nested") == 1, output


def test_the_agent_never_alerts_on_its_own_log_file(tmp_path: Path) -> None:
    """Its stderr appended to a file (`StandardError=append:`) that it also tails."""
    own_log, app_log = tmp_path / "agent.log", tmp_path / "app.log"
    own_log.write_text("")
    app_log.write_text("")
    config = write_config(
        tmp_path,
        f'[agent]\ndata_dir = "data"\n{hermetic_agent_keys(tmp_path)}'
        f"[collector]\n{only_collectors()}"
        f'[log_analyzer]\nsources = []\nfiles = ["{own_log}", "{app_log}"]\n'
        "poll_interval_secs = 0.1\n"
        '[[log_analyzer.custom_patterns]]\nname = "reloaded"\n'
        'pattern = "configuration reloaded"\nseverity = "warn"\n'
        '[[log_analyzer.custom_patterns]]\nname = "probe"\n'
        'pattern = "probe (?P<n>\\\\d+)"\nseverity = "info"\n'
        "[alerting.console]\nenabled = true\n",
    )
    out = tmp_path / "out"
    with out.open("w") as stdout, own_log.open("a") as stderr:
        agent = subprocess.Popen(
            agent_command("--config", str(config)), stdout=stdout, stderr=stderr, cwd=tmp_path
        )
    try:
        deadline, probes = time.monotonic() + 30, 0
        while "probe" not in out.read_text():  # the tails open at the end: probe until read
            assert time.monotonic() < deadline, own_log.read_text()
            probes += 1
            with app_log.open("a") as f:
                f.write(f"Nov 21 10:00:00 host app[7]: probe {probes}\n")
            time.sleep(0.2)  # paced probes while the agent starts; the wait is on its output
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in own_log.read_text(), 10, "the reload")
        # A probe after the agent's line: alerted means the agent's log was read past it
        # (agent.log is polled before app.log).
        with app_log.open("a") as f:
            f.write("Nov 21 10:00:00 host app[7]: probe 1000\n")
        wait_until(lambda: "probe 1000" in out.read_text(), 15, "the alert on the last probe")
    finally:
        agent.terminate()
        agent.wait(timeout=15)
    assert notifications(out, "reloaded") == 0, out.read_text()
