"""The kernel ring buffer, read record by record from /dev/kmsg.

Each read() returns one record: ``prio,seq,usec,flags[,...];text`` followed by
continuation lines starting with a space (KEY=VALUE).  The facility is
prio >> 3: 0 is the kernel itself, anything else was written to /dev/kmsg by
user space.  EPIPE means records were overwritten before we read them: the
loss is counted (from the sequence gap) and reading goes on.  The last sequence
number is saved with the boot id: after a restart in the same boot reading
continues after it; after a reboot everything this boot logged is read, so a
hardware error printed during boot is not missed.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.logs.positions import Positions
from analyzers.logpatterns import LogLine

log = logging.getLogger(__name__)

READ_SIZE = 16384  # a record is at most ~8 KiB; a smaller buffer gives EINVAL
# Records handled before the event loop gets a turn (a storm of printks must not
# starve heartbeats or SIGTERM).
BATCH = 2000


@dataclass(frozen=True)
class KmsgRecord:
    level: int
    facility: int
    seq: int
    usec: int
    text: str


def parse_kmsg_record(data: bytes) -> KmsgRecord | None:
    """One record; None if it is not in the documented format."""
    head, sep, rest = data.partition(b";")
    if not sep:
        return None
    fields = head.split(b",")
    try:
        prio, seq, usec = int(fields[0]), int(fields[1]), int(fields[2])
    except (ValueError, IndexError):
        return None
    text = rest.split(b"\n", 1)[0].decode("utf-8", "replace")
    return KmsgRecord(prio & 7, prio >> 3, seq, usec, text)


def boot_id(procfs: Path) -> str:
    try:
        return (procfs / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def is_sequence(value: object) -> bool:
    """A kmsg sequence number as the kernel gives it (a u64), not what an edit left."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64


class KmsgSource:
    name = "dmesg"

    def __init__(
        self,
        positions: Positions,
        procfs: Path,
        device: Path = Path("/dev/kmsg"),
        max_line: int = 8192,
    ) -> None:
        self.positions = positions
        self.procfs = procfs
        self.device = device
        self.max_line = max_line
        self.lost = 0
        self.unparsable = 0
        self.available = True
        self.reason = ""

    async def run(self, emit: Callable[[LogLine], None]) -> None:
        try:
            fd = os.open(self.device, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except PermissionError:
            self.available = False
            log.warning(
                "cannot read %s (needs CAP_SYSLOG when kernel.dmesg_restrict=1): kernel log source off",
                self.device,
            )
            return
        except FileNotFoundError:
            self.available = False
            log.warning("%s does not exist (a container?): kernel log source off", self.device)
            return
        try:
            await self._follow(fd, emit)
        finally:
            os.close(fd)

    async def _follow(self, fd: int, emit: Callable[[LogLine], None]) -> None:
        current_boot = boot_id(self.procfs)
        saved = self.positions.get("kmsg") or {}
        seq = saved.get("seq") if isinstance(saved, dict) else None
        if not isinstance(saved, dict) or (seq is not None and not is_sequence(seq)):
            # data_dir/log-positions.json is ours, but someone may have edited it.
            log.warning("ignoring an unreadable kmsg position (%.80r): reading from the end", saved)
            saved, seq = {}, None
        last_seq = seq if saved.get("boot_id") == current_boot else None
        if not saved:  # first start: learn where the log ends, replay nothing
            more = True
            while more:
                last_seq, more, _ = self._drain(fd, None, None)
                await asyncio.sleep(0)
        elif last_seq is None:
            log.info("new boot since the last run: reading the kernel log of this boot")
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(fd, readable.set)
        try:
            caught_up, saved_seq, newest_read = False, last_seq, None
            while True:
                last_seq, more, newest = self._drain(fd, last_seq, emit)
                newest_read = newest if newest is not None else newest_read
                if not caught_up and not more:  # the first time at the end of the log
                    caught_up = True
                    newest = newest_read
                    if newest is not None and saved_seq is not None and newest < saved_seq:
                        # Ahead of every record of this boot: every new one would be skipped
                        # as seen.  Not ours (sequence numbers only grow within a boot).
                        log.warning("the saved kmsg position %d is ahead of the kernel log "
                                    "(%d): ignored", saved_seq, newest)  # fmt: skip
                        last_seq = newest
                self.positions.set("kmsg", {"boot_id": current_boot, "seq": last_seq})
                self.positions.save()  # after the alerts of these records are in the outbox
                if more:  # a turn for the rest of the agent, then on with the backlog
                    await asyncio.sleep(0)
                    continue
                readable.clear()
                await readable.wait()
        finally:
            loop.remove_reader(fd)

    def _drain(
        self, fd: int, last_seq: int | None, emit: Callable[[LogLine], None] | None
    ) -> tuple[int | None, bool, int | None]:
        """Read up to BATCH records: (last sequence number, whether more may be waiting, the
        newest sequence number read, even of a record skipped as seen)."""
        newest = None
        for _ in range(BATCH):
            try:
                data = os.read(fd, READ_SIZE)
            except BlockingIOError:
                return last_seq, False, newest
            except OSError as exc:
                if (
                    exc.errno == errno.EPIPE
                ):  # overwritten before we read them; the gap says how many
                    continue
                raise
            record = parse_kmsg_record(data)
            if record is None:
                self.unparsable += 1
                continue
            newest = record.seq
            if last_seq is not None:
                if record.seq <= last_seq:
                    continue  # already seen before the restart
                if record.seq > last_seq + 1:
                    self.lost += record.seq - last_seq - 1
            last_seq = record.seq
            if emit is not None:
                emit(
                    LogLine(
                        record.text[: self.max_line],
                        kernel=record.facility == 0,
                        source="kmsg",
                        level=record.level,
                    )
                )
        return last_seq, True, newest
