"""Syslog files, tailed: appends, rename rotation, copy-truncate rotation, truncation.

The position (inode and byte offset after the last complete line) is saved, so
every line is handled exactly once across agent restarts:

* same inode, file at least as long as the offset: continue at the offset;
* same inode, file shorter (copy-truncate, or truncated): start at 0;
* another inode (renamed away while the agent ran or was down): finish the old
  file first (kept open, or found again as PATH.1 / PATH-* by its inode),
  then read the new one from the start.

Lines are recognised in the classic BSD form (``Mmm dd hh:mm:ss host
tag[pid]: msg``, host optional), the ISO-timestamp form of rsyslog, and RFC
5424.  Only lines with the tag ``kernel`` count as kernel messages.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from agent.logs.positions import Positions
from analyzers.logpatterns import LogLine

log = logging.getLogger(__name__)

_BSD = re.compile(
    r"^(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) "  # BSD or ISO timestamp
    r"(?:(?P<host>\S+) )??(?P<tag>[^\s:\[\]]+)(?:\[(?P<pid>\d+)\])?: (?P<msg>.*)$"
)
_RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>1 \S+ \S+ (?P<tag>\S+) \S+ \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?(?P<msg>.*)$"
)
_KERNEL_TIME = re.compile(r"^\[\s*\d+\.\d+\]\s?")


def parse_syslog_line(text: str, source: str = "syslog") -> LogLine:
    match = _BSD.match(text) or _RFC5424.match(text)
    if match is None:
        return LogLine(text, kernel=False, source=source)
    tag, message = match.group("tag"), match.group("msg")
    kernel = tag == "kernel"
    if kernel:
        message = _KERNEL_TIME.sub("", message)
    pri = match.groupdict().get("pri")  # RFC 5424 carries the level; BSD lines in files do not
    return LogLine(message, kernel=kernel, source=source, level=int(pri) & 7 if pri else None)


class FileTail:
    """Reads the complete new lines of one file, following rotation."""

    def __init__(self, path: Path, positions: Positions, max_line: int = 8192) -> None:
        self.path = path
        self.positions = positions
        self.key = f"file:{path}"
        self.max_line = max_line
        self._file: BinaryIO | None = None
        self._inode = 0
        self._offset = 0  # after the last complete line handed out
        self.truncations = 0
        self.rotations = 0

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def poll(self) -> list[str]:
        lines: list[str] = []
        if self._file is None and not self._open(lines):
            return lines
        assert self._file is not None  # noqa: S101 - _open succeeded
        size = os.fstat(self._file.fileno()).st_size
        if size < self._offset:  # truncated in place (copy-truncate)
            self.truncations += 1
            self._offset = 0
        lines += self._read_from(self._file)
        try:
            on_disk = os.stat(self.path).st_ino
        except FileNotFoundError:
            on_disk = None
        if (
            on_disk != self._inode
        ):  # renamed away: the old file is finished, the new one starts at 0
            lines += self._read_from(self._file)
            self.close()
            self.rotations += 1
            if on_disk is not None:
                self._file = self.path.open("rb")
                self._inode, self._offset = on_disk, 0
                lines += self._read_from(self._file)
        self._save()
        return lines

    def _open(self, lines: list[str]) -> bool:
        try:
            handle = self.path.open("rb")
        except (FileNotFoundError, PermissionError) as exc:
            if isinstance(exc, PermissionError):
                log.warning("cannot read %s: permission denied", self.path)
            return False
        st = os.fstat(handle.fileno())
        saved = self.positions.get(self.key)
        self._file, self._inode = handle, st.st_ino
        if not isinstance(saved, dict):
            self._offset = st.st_size  # first start: from the end
        elif saved.get("inode") == st.st_ino:
            self._offset = saved.get("offset", 0) if saved.get("offset", 0) <= st.st_size else 0
        else:  # rotated while we were down: finish the old file if it is still around
            lines += self._finish_rotated(saved)
            self._offset = 0
        self._save()
        return True

    def _finish_rotated(self, saved: dict[str, int]) -> list[str]:
        for candidate in sorted(self.path.parent.glob(self.path.name + "[.-]*")):
            try:
                if candidate.stat().st_ino != saved.get("inode") or candidate.suffix in (
                    ".gz",
                    ".xz",
                    ".bz2",
                    ".zst",
                ):
                    continue
                with candidate.open("rb") as old:
                    self._offset = saved.get("offset", 0)
                    return self._read_from(old, final=True)
            except OSError:
                continue
        return []

    def _read_from(self, handle: BinaryIO, final: bool = False) -> list[str]:
        handle.seek(self._offset)
        data = handle.read()
        if not data:
            return []
        end = data.rfind(b"\n") + 1
        if final:  # a rotated file is complete: its last line may lack the newline
            end = len(data)
        chunk = data[:end]
        self._offset += end
        out = []
        for raw in chunk.split(b"\n"):
            if raw:
                out.append(raw[: self.max_line].decode("utf-8", "replace").rstrip("\r"))
        return out

    def _save(self) -> None:
        self.positions.set(self.key, {"inode": self._inode, "offset": self._offset})


def default_syslog_path(rootfs: Path) -> Path | None:
    for candidate in ("var/log/syslog", "var/log/messages"):
        if (rootfs / candidate).exists():
            return rootfs / candidate
    return None


class SyslogSource:
    name = "syslog"

    def __init__(
        self, paths: list[Path], positions: Positions, poll_secs: float = 1.0, max_line: int = 8192
    ) -> None:
        self.tails = [FileTail(p, positions, max_line) for p in paths]
        self.poll_secs = poll_secs
        self.available = bool(paths)

    def poll(self, emit: Callable[[LogLine], None]) -> None:
        for tail in self.tails:
            lines = tail.poll()
            for text in lines:
                emit(parse_syslog_line(text, source=str(tail.path)))
            if lines:  # the alerts are in the outbox: now the position may move past their lines
                tail.positions.save()

    async def run(self, emit: Callable[[LogLine], None]) -> None:
        if not self.tails:
            log.warning(
                "no syslog file found (/var/log/syslog or /var/log/messages): syslog source off"
            )
            return
        try:
            while True:
                self.poll(emit)
                await asyncio.sleep(self.poll_secs)
        finally:
            for tail in self.tails:
                tail.close()
