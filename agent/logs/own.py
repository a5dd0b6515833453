"""The agent's own lines, recognised so that it never alerts on what it wrote itself.

The agent writes to the system log in two ways: its syslog channel (RFC 5424,
APP-NAME = `alerting.syslog.tag`, PROCID = its PID, structured data
``[alert@32473 ...]``) and its own log records on stderr, which systemd puts in
journald (SYSLOG_IDENTIFIER = the unit's identifier, ``sysops-agent``) and
rsyslog copies to /var/log/syslog.  An alert quotes the line it fired on, so a
custom pattern that matches an alert would match the agent's message about it
again, and again: a loop.  Every log source therefore drops:

* a line whose tag is the syslog channel's tag or the program's name
  (``sysops-agent``), whatever the PID: a previous run's lines read after a
  restart are ours too;
* a line whose PID is ours and whose tag is our process name (``python3`` when
  started as ``python -m agent``);
* a line carrying the channel's SD-ID ``[alert@32473`` (a file written in the
  RFC 5424 format, or a relay that folds the structured data into the text);
* in journald, also an entry whose `_PID` and `_COMM` are ours or whose
  `_SYSTEMD_UNIT` is the service the agent runs in (fields journald sets
  itself, which a sender cannot forge);
* every line of a tailed file that is the agent's own stderr (a unit with
  `StandardError=append:/var/log/sysops-agent.log`, that file also tailed):
  the same device and inode as file descriptor 2.

The same tag on a line written by someone else (``logger -t sysops-agent``) is
dropped too: that only hides the writer's own line, never anyone else's.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alerting.channels.syslog import SD_ID, app_name

PROGRAM = "sysops-agent"
MARKER = f"[{SD_ID} "


def _own_comm() -> str:
    try:
        return Path("/proc/self/comm").read_text().strip()
    except OSError:
        return ""


def _own_stderr() -> tuple[int, int] | None:
    """(device, inode) of our stderr when it is a regular file (else None: a pipe, journald)."""
    try:
        st = os.fstat(2)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _own_unit() -> str:
    """The systemd service the agent runs in ("" if none: a login scope holds other processes)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        last = line.rpartition("/")[2]
        if last.endswith(".service"):
            return last
    return ""


@dataclass(frozen=True)
class OwnLines:
    """Who the agent is in the system log: tags, PID, process name, systemd unit."""

    tags: frozenset[str] = frozenset({PROGRAM})
    pid: int = field(default_factory=os.getpid)
    comm: str = field(default_factory=_own_comm)
    unit: str = field(default_factory=_own_unit)
    stderr: tuple[int, int] | None = field(default_factory=_own_stderr)

    @classmethod
    def for_tag(cls, syslog_tag: str) -> OwnLines:
        return cls(tags=frozenset({PROGRAM, app_name(syslog_tag)}))

    def syslog(self, tag: str | None, pid: int | None, text: str) -> bool:
        """A syslog file line (its parsed tag and PID, and the raw text) is the agent's own."""
        if tag is not None and (
            tag in self.tags or (pid == self.pid and bool(self.comm) and tag == self.comm)
        ):
            return True
        return MARKER in text

    def file(self, st: os.stat_result) -> bool:
        """A tailed file (its fstat) is the agent's own stderr."""
        return self.stderr == (st.st_dev, st.st_ino)

    def journal(self, entry: Mapping[str, object], message: str) -> bool:
        """A journald entry is the agent's own."""
        if entry.get("SYSLOG_IDENTIFIER") in self.tags:
            return True
        if entry.get("_PID") == str(self.pid) and entry.get("_COMM") == self.comm:
            return True
        if self.unit and entry.get("_SYSTEMD_UNIT") == self.unit:
            return True
        return MARKER in message
