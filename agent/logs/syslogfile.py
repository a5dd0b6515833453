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
5424.  The agent's own lines (its syslog channel's, its log records) are
skipped: see own.py.  Lines with the tag ``kernel`` count as kernel messages only in the
system syslog file and only when no kernel source is available (watch.py).

Hostile files: every file is opened with O_NOFOLLOW|O_NONBLOCK, symlinks are
followed only when owned by root or the file's owner, only regular files are
read, reads are bounded (see `open_log_file` and `FileTail`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
from collections.abc import Callable, Collection
from pathlib import Path

from agent.logs.own import OwnLines
from agent.logs.positions import Positions
from analyzers.logpatterns import LogLine

log = logging.getLogger(__name__)

_BSD = re.compile(
    r"^(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) "  # BSD or ISO timestamp
    # "tag[pid]:", "tag:", or "tag[pid]" with no colon: what rsyslog's file formats write
    # for an RFC 5424 message (its syslogtag is APP-NAME[PROCID]).
    r"(?:(?P<host>\S+) )??(?P<tag>[^\s:\[\]]+)(?:\[(?P<pid>\d+)\]:?|:) (?P<msg>.*)$"
)
_RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>1 \S+ \S+ (?P<tag>\S+) (?P<pid>\S+) \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?(?P<msg>.*)$"
)
_KERNEL_TIME = re.compile(r"^\[\s*\d+\.\d+\]\s?")


def parse_syslog_line(text: str, source: str = "syslog", kernel_trusted: bool = False) -> LogLine:
    """One syslog line; `kernel` only if the tag is ``kernel`` and the file may vouch for it.

    Any local user can log with the tag ``kernel`` (``logger -t kernel``), so the
    tag means something only in the system's syslog file when no kernel source
    (kmsg, journald) is available: `kernel_trusted` says so (see watch.py).
    """
    return _parse(text, source, kernel_trusted)[0]


def _parse(text: str, source: str, kernel_trusted: bool) -> tuple[LogLine, str | None, int | None]:
    """The line, and its tag and PID (None where the line has none) for `OwnLines`."""
    match = _BSD.match(text) or _RFC5424.match(text)
    if match is None:
        return LogLine(text, kernel=False, source=source), None, None
    tag, message = match.group("tag"), match.group("msg")
    if tag == "kernel":
        message = _KERNEL_TIME.sub("", message)
    fields = match.groupdict()
    pri = fields.get("pri")  # RFC 5424 carries the level; BSD lines in files do not
    level = int(pri) & 7 if pri else None
    pid_text = fields.get("pid")
    pid = int(pid_text) if pid_text and pid_text.isdigit() else None
    line = LogLine(message, kernel=kernel_trusted and tag == "kernel", source=source, level=level)
    return line, tag, pid


# O_NONBLOCK: a FIFO put in place of a log file opens at once instead of
# blocking the event loop until a writer shows up.  O_NOFOLLOW: symlinks are
# followed by hand, so their owners can be checked (open_log_file).
OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_SYMLINKS = 8
CHUNK = 65536
# Bytes read from one file per poll: about 2,000 syslog lines, after which the event
# loop gets a turn (heartbeats, collectors, SIGTERM) before reading on.
POLL_BUDGET = 128 * 1024
# What is read of a rotated file's remainder found after a restart.
MAX_ROTATED_REMAINDER = 16 * 1024 * 1024


class Refused(OSError):
    """A tailed path that is not read, and why (logged once, shown in the heartbeat)."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a directory")):  # fmt: skip
        if test(mode):
            return name
    return "not a regular file"


def open_log_file(path: Path) -> tuple[int, os.stat_result]:
    """Open a file to tail, safely; (fd, fstat of it) or `Refused`.

    The agent reads with CAP_DAC_READ_SEARCH, so a symlink is a way for anyone
    who can write to a log directory to have it read a file they cannot read
    (a root-only 0600 file would leak into an alert).  The rule: the final
    component may be a symlink (/var/log/syslog -> ... is legitimate) only if
    every symlink on the way is owned by root or by the owner of the file it
    reaches; and only a regular file is read (a FIFO would block, /dev/zero
    never ends).  The check is on the opened handle (fstat), so swapping the
    link between the checks gains nothing.  Directory components are taken
    as configured.
    """
    target = path
    links: list[tuple[Path, int]] = []
    for _ in range(MAX_SYMLINKS + 1):
        st = os.lstat(target)
        if stat.S_ISLNK(st.st_mode):
            links.append((target, st.st_uid))
            target = target.parent / os.readlink(target)
            continue
        if not stat.S_ISREG(st.st_mode):  # refused before open: opening a device may do things
            raise Refused(f"{target} is {_kind(st.st_mode)}: not read")
        break
    else:
        raise Refused(f"more than {MAX_SYMLINKS} symlinks from {path}: not read")
    fd = os.open(target, OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused(f"{target} is {_kind(st.st_mode)}: not read")
        for link, owner in links:
            if owner not in (0, st.st_uid):
                raise Refused(
                    f"{path} reaches {target} (owner uid {st.st_uid}) through the symlink {link} "
                    f"owned by uid {owner}, neither root nor the file's owner: not read"
                )
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def writable_by_others(st: os.stat_result) -> str:
    """Why a tailed file's lines cannot be trusted to come from its owner ("" if they can)."""
    if st.st_mode & stat.S_IWOTH:
        return "writable by every user: its lines may be forged"
    if st.st_mode & stat.S_IWGRP and st.st_gid != 0:
        return f"writable by group {st.st_gid}: its lines may be forged"
    return ""


class FileTail:
    """Reads the complete new lines of one file, following rotation.

    Reads are bounded: at most POLL_BUDGET bytes a poll (`more` says there is
    more), in chunks; a line longer than max_line is cut once and the rest of
    it skipped up to its newline, without reading it again on the next poll.
    """

    def __init__(
        self, path: Path, positions: Positions, max_line: int = 8192, kernel_trusted: bool = False
    ) -> None:
        self.path = path
        self.positions = positions
        self.key = f"file:{path}"
        self.max_line = max_line
        self.kernel_trusted = kernel_trusted
        self.chunk = max(CHUNK, 2 * max_line)  # a chunk always holds max_line bytes of a line
        self._fd: int | None = None
        self._inode = 0
        self._offset = 0  # after the last complete line handed out (or inside a skipped one)
        self._skip = False  # inside an over-long line whose start was handed out
        self.truncations = 0
        self.rotations = 0
        self.bytes_read = 0
        self.more = False  # the last poll stopped at its budget, not at the end of the file
        self.problem = ""  # why the file is not read, or cannot be trusted ("" if fine)
        self._warned: set[str] = set()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def poll(self) -> list[str]:
        lines: list[str] = []
        self.more = False
        if self._fd is None and not self._open(lines):
            return lines
        assert self._fd is not None  # noqa: S101 - _open succeeded
        st = os.fstat(self._fd)
        self._report(writable_by_others(st))  # a chmod after the open counts too
        if st.st_size < self._offset:  # truncated in place (copy-truncate)
            self.truncations += 1
            self._offset, self._skip = 0, False
        at_end = self._read(self._fd, lines)
        if at_end:
            try:
                on_disk: int | None = os.stat(self.path).st_ino
            except OSError:
                on_disk = None
            if on_disk != self._inode:
                # Renamed away: what was written to the old file since our read
                # still counts; then the new one starts at 0.
                at_end = self._read(self._fd, lines)
                if at_end:
                    self.close()
                    self.rotations += 1
                    # The old file is done: whatever comes next at the path starts at 0,
                    # even if it reuses the old inode number.
                    self._inode, self._offset, self._skip = 0, 0, False
                    if on_disk is not None:
                        at_end = self._reopen(lines)
        self.more = not at_end
        self._save()
        return lines

    def is_own(self, own: OwnLines) -> bool:
        """The open file is the agent's own stderr (own.py)."""
        try:
            return self._fd is not None and own.file(os.fstat(self._fd))
        except OSError:
            return False

    def _report(self, problem: str) -> None:
        self.problem = problem
        if problem and problem not in self._warned:
            self._warned.add(problem)
            log.warning("log file %s: %s", self.path, problem)

    def _safe_open(self) -> tuple[int, os.stat_result] | None:
        try:
            fd, st = open_log_file(self.path)
        except FileNotFoundError:
            return None
        except Refused as exc:
            self._report(str(exc))
            return None
        except OSError as exc:
            self._report(f"cannot open: {exc.strerror or exc}")
            return None
        self._report(writable_by_others(st))
        return fd, st

    def _reopen(self, lines: list[str]) -> bool:
        opened = self._safe_open()
        if opened is None:
            return True
        self._fd, st = opened
        self._inode, self._offset, self._skip = st.st_ino, 0, False
        return self._read(self._fd, lines)

    def _open(self, lines: list[str]) -> bool:
        opened = self._safe_open()
        if opened is None:
            return False
        fd, st = opened
        saved = self.positions.get(self.key)
        self._fd, self._inode = fd, st.st_ino
        offset = saved.get("offset") if isinstance(saved, dict) else None
        if not isinstance(offset, int) or offset < 0:
            self._offset, self._skip = st.st_size, False  # first start: from the end
        elif saved.get("inode") == st.st_ino:
            self._offset, self._skip = (
                (offset, bool(saved.get("skip"))) if offset <= st.st_size else (0, False)
            )
        else:  # rotated while we were down: finish the old file if it is still around
            lines += self._finish_rotated(saved.get("inode"), offset, bool(saved.get("skip")))
            self._offset, self._skip = 0, False
        self._save()
        return True

    def _finish_rotated(self, inode: object, offset: int, skip: bool) -> list[str]:
        for candidate in sorted(self.path.parent.glob(self.path.name + "[.-]*")):
            if candidate.suffix in (".gz", ".xz", ".bz2", ".zst"):
                continue
            try:
                if candidate.lstat().st_ino != inode:
                    continue
                fd, st = open_log_file(candidate)
            except OSError:
                continue
            if offset > st.st_size:  # not a position in this file (an edit): nothing to finish
                os.close(fd)
                return []
            lines: list[str] = []
            try:
                self._offset, self._skip = offset, skip
                limit = offset + MAX_ROTATED_REMAINDER
                while self._offset < limit and not self._read(fd, lines, final=True):
                    pass
            finally:
                os.close(fd)
            return lines
        return []

    def _read(self, fd: int, lines: list[str], final: bool = False) -> bool:
        """Complete lines from the offset on, up to the budget; True if the end was reached.

        `final`: the file is complete (rotated away), so its last line counts even
        without a newline.
        """
        budget = POLL_BUDGET
        while budget > 0:
            want = self.chunk
            data = os.pread(fd, want, self._offset)
            self.bytes_read += len(data)
            budget -= len(data)
            self._take(data, lines, final and len(data) < want)
            if len(data) < want:
                return True
        return False

    def _take(self, data: bytes, lines: list[str], complete: bool) -> None:
        pos = 0
        if self._skip:  # the rest of a line already cut
            newline = data.find(b"\n")
            if newline < 0:
                self._offset += len(data)
                return
            pos, self._skip = newline + 1, False
        end = data.rfind(b"\n") + 1
        if end > pos:
            for raw in data[pos : end - 1].split(b"\n"):
                if raw:
                    lines.append(self._decode(raw))
            pos = end
        rest = len(data) - pos
        if rest >= self.max_line or (complete and rest):
            # A line longer than allowed: its start is handed out now, the rest is skipped.
            lines.append(self._decode(data[pos : pos + self.max_line]))
            self._skip = not complete
            pos = len(data)
        self._offset += pos

    def _decode(self, raw: bytes) -> str:
        return raw[: self.max_line].decode("utf-8", "replace").rstrip("\r")

    def _save(self) -> None:
        state: dict[str, int | bool] = {"inode": self._inode, "offset": self._offset}
        if self._skip:
            state["skip"] = True
        self.positions.set(self.key, state)


def default_syslog_path(rootfs: Path) -> Path | None:
    for candidate in ("var/log/syslog", "var/log/messages"):
        if (rootfs / candidate).exists():
            return rootfs / candidate
    return None


class SyslogSource:
    name = "syslog"

    def __init__(
        self,
        paths: list[Path],
        positions: Positions,
        poll_secs: float = 1.0,
        max_line: int = 8192,
        kernel_paths: Collection[Path] = (),
        own: OwnLines | None = None,
    ) -> None:
        self.tails = [FileTail(p, positions, max_line, p in kernel_paths) for p in paths]
        self.poll_secs = poll_secs
        self.available = bool(paths)
        self.own = own if own is not None else OwnLines()
        self.own_lines = 0  # the agent's own lines, skipped (agent/logs/own.py)

    @property
    def reason(self) -> str:
        """What is wrong with the files (refused, writable by others), for the heartbeat."""
        return "; ".join(f"{t.path}: {t.problem}" for t in self.tails if t.problem)

    def poll(self, emit: Callable[[LogLine], None]) -> bool:
        """Hand out new lines; True if a file has more right away (the budget stopped it)."""
        more = False
        for tail in self.tails:
            lines = tail.poll()
            if lines and self.own.stderr is not None and tail.is_own(self.own):
                self.own_lines += len(lines)  # the agent's own log records: never alerted on
                lines = []
                tail.positions.save()
            for text in lines:
                line, tag, pid = _parse(text, str(tail.path), tail.kernel_trusted)
                if self.own.syslog(tag, pid, text):
                    self.own_lines += 1
                    continue
                emit(line)
            if lines:  # the alerts are in the outbox: now the position may move past their lines
                tail.positions.save()
            more = more or tail.more
        return more

    async def run(self, emit: Callable[[LogLine], None]) -> None:
        if not self.tails:
            log.warning(
                "no syslog file found (/var/log/syslog or /var/log/messages): syslog source off"
            )
            return
        try:
            while True:
                more = self.poll(emit)
                # A backlog is read in slices with a turn for the rest of the agent between them.
                await asyncio.sleep(0 if more else self.poll_secs)
        finally:
            for tail in self.tails:
                tail.close()
