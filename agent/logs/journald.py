"""journald, through `journalctl --follow --output=json` (fixed argv, no shell).

The cursor of the last entry handled is saved, and a restart continues with
`--after-cursor`, so nothing is repeated or missed; the first start uses
`--lines=0` (no history).  If journalctl exits, it is restarted with backoff.
MESSAGE may be a string, null (a field over 4 KiB without --all) or an array
of byte values (not UTF-8): all three are handled.  The agent's own entries
are skipped (own.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

from agent.logs.own import OwnLines
from agent.logs.positions import Positions
from analyzers.logpatterns import LogLine

log = logging.getLogger(__name__)

RESTART_MAX_SECS = 60.0
# Entries handled before the event loop gets a turn: readline() returns without
# suspending while the pipe buffer holds lines, so a storm would never yield.
BATCH = 2000


def journal_message(entry: dict[str, Any]) -> str | None:
    message = entry.get("MESSAGE")
    if isinstance(message, str):
        return message
    if isinstance(message, list) and all(isinstance(b, int) for b in message):
        return bytes(b & 0xFF for b in message).decode("utf-8", "replace")
    return None


def parse_journal_entry(text: str) -> tuple[LogLine, str | None] | None:
    """(line, cursor) from one JSON object; None if it carries no message."""
    entry = load_journal_entry(text)
    return None if entry is None else journal_line(entry)


def load_journal_entry(text: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(text)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


_LEVELS = frozenset("01234567")


def journal_line(entry: dict[str, Any]) -> tuple[LogLine, str | None] | None:
    """(line, cursor) from one entry; None if it carries no message."""
    message = journal_message(entry)
    cursor = entry.get("__CURSOR") if isinstance(entry.get("__CURSOR"), str) else None
    if message is None:
        return None
    kernel = entry.get("_TRANSPORT") == "kernel"
    try:
        timestamp = int(entry.get("__REALTIME_TIMESTAMP", 0)) / 1e6
    except (TypeError, ValueError):
        timestamp = 0.0
    # The syslog level as a string, "0".."7"; anything else is no level.  Any sender sets
    # it: "²" passes str.isdigit() and fails int(), and one such entry replayed after each
    # restart of journalctl would stop the source for good.
    priority = entry.get("PRIORITY")
    level = int(priority) if priority in _LEVELS else None
    line = LogLine(message, kernel=kernel, source="journald", timestamp=timestamp, level=level)
    return line, cursor


class JournaldSource:
    name = "journald"

    def __init__(
        self,
        positions: Positions,
        journalctl: str = "journalctl",
        max_line: int = 8192,
        own: OwnLines | None = None,
    ) -> None:
        self.positions = positions
        self.own = own if own is not None else OwnLines()
        self.own_lines = 0  # the agent's own entries, skipped (agent/logs/own.py)
        self.journalctl = journalctl
        self.max_line = max_line
        self.unparsable = 0
        self.restarts = 0
        self.available = True
        self.reason = ""

    def argv(self) -> list[str]:
        cursor = self.positions.get("journald_cursor")
        start = [f"--after-cursor={cursor}"] if cursor else ["--lines=0"]
        return [self.journalctl, "--follow", "--output=json", "--all", *start]

    async def run(self, emit: Callable[[LogLine], None]) -> None:
        failures = 0
        while True:
            try:
                process = await asyncio.create_subprocess_exec(
                    *self.argv(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
                    stdin=asyncio.subprocess.DEVNULL, limit=4 * 1024 * 1024,
                )  # fmt: skip
            except FileNotFoundError:
                self.available = False
                log.warning("%s not found: journald source off", self.journalctl)
                return
            try:
                await self._read(process, emit)
                code = await process.wait()
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            failures += 1
            self.restarts += 1
            delay = min(RESTART_MAX_SECS, 2.0 ** min(failures, 6))
            log.warning("journalctl exited (code %s); restarting in %.0f s", code, delay)
            await asyncio.sleep(delay)

    async def _read(
        self, process: asyncio.subprocess.Process, emit: Callable[[LogLine], None]
    ) -> None:
        assert process.stdout is not None  # noqa: S101 - stdout=PIPE above
        handled = 0
        while True:
            handled += 1
            if handled % BATCH == 0:
                await asyncio.sleep(0)
            try:
                raw = await process.stdout.readline()
            except ValueError:  # a line over the limit: skip it
                self.unparsable += 1
                continue
            if not raw:
                return
            entry = load_journal_entry(raw.decode("utf-8", "replace"))
            parsed = None if entry is None else journal_line(entry)
            if entry is None or parsed is None:
                self.unparsable += 1
                continue
            line, cursor = parsed
            if self.own.journal(entry, line.text):
                self.own_lines += 1
            else:
                if len(line.text) > self.max_line:
                    line = dataclasses.replace(line, text=line.text[: self.max_line])
                emit(line)
            if cursor:
                self.positions.set("journald_cursor", cursor)
