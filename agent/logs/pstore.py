"""The previous boot: its crash records in pstore, the end of its journal, and how it ended.

A running agent cannot see the panic that killed the host: by the time anyone
could read the line, the host is gone.  Linux keeps it.  On a panic or oops
the kernel's pstore dumps the end of the log (fs/pstore/platform.c
`pstore_dump`) into a back end that survives the reboot: RAM (ramoops), EFI
variables or the ACPI ERST table.  After the reboot the records appear as files
in `/sys/fs/pstore` (`dmesg-<backend>-<id>`, fs/pstore/inode.c), and
systemd-pstore may move them to `/var/lib/systemd/pstore/[<id>/]`.  Each
record is split in parts of the back end's size, each part starting with the
header "Panic#1 Part1" ("%s#%d Part%u": reason, dump count, part), Part1 being
the newest text, and its lines in the syslog form `<prio>[seconds] message`.

At start this source reads those files (regular files only, opened with
O_NOFOLLOW|O_NONBLOCK, size-bounded), groups the parts of one record (the
record id without its last six digits, as systemd-pstore does, plus reason and
count; a part number seen again starts a new record), and raises one alert per
crash record: the headline (the panic line, else the oops, else the first
hardware error) and the lines before it.  What was reported is remembered by
a digest of the record's text in `data_dir`, so a restart, or systemd-pstore
moving the file, does not repeat it.  With the journald source it also reads
the end of the previous boot's kernel journal once per boot, for a panic or
hardware error that pstore missed.

It also tells whether the agent's last run ended with a clean stop: a marker
in `data_dir` is written at start, refreshed while running and marked clean at
shutdown; an unclean marker from another boot means the host went down under
the agent ("host rebooted without a clean shutdown at about T").
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import os
import re
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.logs.journald import parse_journal_entry
from agent.logs.kmsg import boot_id
from agent.logs.positions import Positions
from alerting.alert import Alert, Severity, Status, sha256_hex
from analyzers.logpatterns import LogLine, LogMatcher, build_patterns

log = logging.getLogger(__name__)

# A part is one back-end buffer (EFI ~1 KiB, ramoops' record_size, ERST a few KiB): far below this.
MAX_FILE_BYTES = 1024 * 1024
MAX_FILES = 512  # per directory tree: enough for dozens of records of 32 parts
MAX_REMEMBERED = 256  # digests of reported records kept in the state file
CONTEXT_LINES = 20
JOURNAL_LINES = 200
JOURNAL_TIMEOUT_SECS = 20.0
ALIVE_EVERY_SECS = 60.0

# fs/pstore/inode.c names records "<type>-<backend>-<id>"; ".enc.z" ones the kernel could not
# decompress are skipped.
_NAME = re.compile(r"^dmesg-(?P<backend>[A-Za-z0-9_]+)-(?P<id>\d+)$")
_HEADER = re.compile(r"^(?P<reason>[A-Z][a-z]+)#(?P<count>\d+) Part(?P<part>\d+)$")
# kmsg_dump_get_buffer(syslog=true): "<prio>" then "[ seconds]" with CONFIG_PRINTK_TIME, "[  T123]" with
# CONFIG_PRINTK_CALLER.
_LINE = re.compile(r"^<(?P<prio>\d{1,3})>(?:\[\s*\d+\.\d+\])?(?:\[\s*[TC]\d+\])? ?(?P<msg>.*)$")
_CRASH_REASONS = ("Panic", "Oops")
EPOCH_2000 = 946_684_800


def read_regular_file(path: Path, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """The first `limit` bytes of a regular file; None for a link, a FIFO, a device or an error."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ELOOP):
            log.warning("cannot read %s: %s", path, exc.strerror)
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks: list[bytes] = []
        left = limit
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        log.warning("cannot read %s: %s", path, exc.strerror)
        return None
    finally:
        os.close(fd)


@dataclass(frozen=True)
class PstorePart:
    path: Path
    backend: str
    record_id: int
    reason: str
    count: int
    part: int
    mtime: float
    lines: tuple[LogLine, ...]
    in_pstore: bool = True  # still in the pstore file system (whose mtime is the record's time)


@dataclass
class CrashRecord:
    backend: str
    reason: str
    parts: list[PstorePart] = field(default_factory=list)

    @property
    def lines(self) -> list[LogLine]:
        """Oldest first: Part1 holds the newest text, so the parts go from the highest number down."""
        out: list[LogLine] = []
        for part in sorted(self.parts, key=lambda p: -p.part):
            out.extend(part.lines)
        return out

    @property
    def time(self) -> tuple[float, bool]:
        """(when the record was written, whether that is known rather than guessed).

        efi-pstore's ids are (seconds * 100 + part) * 1000 + count; pstore's own
        files carry the record's time as mtime. systemd-pstore's copies carry
        the time they were copied, a guess at best.
        """
        if self.backend == "efi":
            seconds = min(p.record_id for p in self.parts) // 100_000
            if EPOCH_2000 < seconds < time.time() + 86400:
                return float(seconds), True
        return max(p.mtime for p in self.parts), all(p.in_pstore for p in self.parts)

    @property
    def digest(self) -> str:
        text = "\n".join(line.text for line in self.lines)
        return sha256_hex(f"{self.reason}\n{text}".encode())[:24]


def parse_part(path: Path, data: bytes, mtime: float) -> PstorePart | None:
    """One dmesg file: its header and lines; None if it is not a kmsg dump."""
    found = _NAME.match(path.name)
    if found is None:
        return None
    text = data.decode("utf-8", "replace")
    first, _, rest = text.partition("\n")
    header = _HEADER.match(first.strip())
    if header is None:
        return None
    lines = []
    for raw in rest.splitlines():
        parsed = _LINE.match(raw)
        if parsed is None:
            continue  # ramoops' "ECC: ..." notice, or a line cut at the part's start
        prio = int(parsed.group("prio"))
        lines.append(
            LogLine(parsed.group("msg"), kernel=prio >> 3 == 0, source="pstore", level=prio & 7)
        )
    return PstorePart(
        path, found.group("backend"), int(found.group("id")), header.group("reason"),
        int(header.group("count")), int(header.group("part")), mtime, tuple(lines),
    )  # fmt: skip


def find_parts(roots: Iterable[Path], max_depth: int = 2) -> list[PstorePart]:
    """The dmesg records under each root; the first root is the pstore file system itself."""
    parts: list[PstorePart] = []
    for index, root in enumerate(roots):
        seen = 0
        stack = [(root, 0)]
        while stack and seen < MAX_FILES:
            directory, depth = stack.pop()
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if depth + 1 < max_depth:
                        stack.append((Path(entry.path), depth + 1))
                    continue
                if not _NAME.match(entry.name) or seen >= MAX_FILES:
                    continue
                seen += 1
                path = Path(entry.path)
                data = read_regular_file(path)
                if data is None:
                    continue
                try:
                    mtime = entry.stat(follow_symlinks=False).st_mtime
                except OSError:
                    continue
                part = parse_part(path, data, mtime)
                if part is not None:
                    parts.append(part if index == 0 else dataclasses.replace(part, in_pstore=False))
    return parts


def group_records(parts: Iterable[PstorePart]) -> list[CrashRecord]:
    """The parts of one dump together.

    EFI and ERST ids carry the part and count in their last digits (efi-pstore:
    (seconds * 100 + part) * 1000 + count), so ids equal but for the last six
    digits belong together; ramoops numbers its zones 0, 1, 2... in the order
    written, Part1 first.  Within one directory and back end, a new reason or
    count, another id prefix, or a part number already seen starts a new record.
    """
    records: list[CrashRecord] = []
    current: CrashRecord | None = None
    key: tuple[str, str, str, int, int] | None = None
    for part in sorted(parts, key=lambda p: (str(p.path.parent), p.backend, p.record_id)):
        part_key = (
            str(part.path.parent),
            part.backend,
            part.reason,
            part.count,
            part.record_id // 10**6,
        )
        if current is None or part_key != key or any(p.part == part.part for p in current.parts):
            current = CrashRecord(part.backend, part.reason)
            records.append(current)
            key = part_key
        current.parts.append(part)
    return records


@dataclass(frozen=True)
class Finding:
    """What a crash record or the previous boot's journal says, ready to be an alert."""

    severity: Severity
    kind: str  # "kernel panic", "kernel oops", "hardware error", ...
    headline: str
    context: tuple[str, ...]
    digest: str
    when: float  # the record's time, or the journal entry's
    origin: str  # "pstore efi record dmesg-efi-...", "journal of the previous boot"
    cause: str = ""  # for a panic: the first oops or hardware error before it
    exact_time: bool = True  # False: `when` is a file copy's mtime
    survivable: bool = (
        False  # an oops record: the kernel may have gone on (then it is of this boot)
    )


def _headline(lines: list[LogLine], matcher: LogMatcher) -> tuple[int, Severity, str] | None:
    """(index, severity, kind) of the line that says what happened: panic, else oops, else hardware."""
    first_oops = first_hardware = worst = None
    for i, line in enumerate(lines):
        found = matcher.match(line)
        if found is None:
            continue
        if found.pattern.name == "kernel_panic":
            return i, Severity.EMERGENCY, "kernel panic"
        if found.pattern.name == "kernel_oops" and first_oops is None:
            first_oops = (i, found.severity, "kernel oops")
        if found.pattern.category == "hardware" and first_hardware is None:
            first_hardware = (i, found.severity, "hardware error")
        if worst is None or found.severity > worst[1]:
            worst = (i, found.severity, found.pattern.name.replace("_", " "))
    return first_oops or first_hardware or worst


def _cause(lines: list[LogLine], before: int, matcher: LogMatcher) -> str:
    """What a panic followed: the first oops or hardware error ("Fatal exception" alone says little)."""
    for line in lines[:before]:
        found = matcher.match(line)
        if found is not None and (
            found.pattern.name == "kernel_oops" or found.pattern.category == "hardware"
        ):
            return line.text[:300]
    return ""


def examine_record(record: CrashRecord, matcher: LogMatcher) -> Finding | None:
    lines = record.lines
    picked = _headline(lines, matcher)
    if picked is None and record.reason not in _CRASH_REASONS:
        return None  # a dump at shutdown or restart (printk.always_kmsg_dump) with nothing in it
    if picked is None:
        index, severity, kind = len(lines) - 1, Severity.CRITICAL, f"kernel {record.reason.lower()}"
    else:
        index, severity, kind = picked
    if record.reason == "Panic":
        severity = Severity.EMERGENCY  # the dump was taken because the kernel panicked
    headline = lines[index].text if lines else f"{record.reason} (the record holds no log lines)"
    context = tuple(line.text for line in lines[max(0, index - CONTEXT_LINES) : index])
    names = ", ".join(sorted(p.path.name for p in record.parts))
    origin = f"pstore {record.backend} record {names}"
    when, exact = record.time
    cause = _cause(lines, index, matcher) if kind == "kernel panic" else ""
    return Finding(
        severity,
        kind,
        headline[:500],
        context,
        record.digest,
        when,
        origin,
        cause,
        exact,
        record.reason != "Panic",
    )


def examine_journal(lines: list[LogLine], matcher: LogMatcher) -> Finding | None:
    """A panic, oops or hardware error among the last kernel lines of the previous boot."""
    picked = _headline(lines, matcher)
    if picked is None:
        return None
    index, severity, kind = picked
    if kind not in ("kernel panic", "kernel oops", "hardware error"):
        return None  # other events of the previous boot were reported live
    line = lines[index]
    digest = sha256_hex(f"journal\n{line.timestamp}\n{line.text}".encode())[:24]
    context = tuple(x.text for x in lines[max(0, index - CONTEXT_LINES) : index])
    return Finding(
        severity,
        kind,
        line.text[:500],
        context,
        digest,
        line.timestamp,
        "journal of the previous boot",
    )


def boot_time(procfs: Path) -> float:
    """When this boot began (btime in /proc/stat); 0 if unknown."""
    try:
        for line in (procfs / "stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class PreviousBoot:
    """The log source "pstore": runs once at start, then only keeps the run marker fresh."""

    name = "pstore"

    def __init__(
        self,
        data_dir: Path,
        route: Callable[[Alert], Any],
        *,
        sysfs: Path = Path("/sys"),
        rootfs: Path = Path("/"),
        procfs: Path = Path("/proc"),
        pstore: bool = True,
        journalctl: str | None = None,
        unclean_reboot_alert: bool = True,
        max_line: int = 8192,
    ) -> None:
        self.route = route
        self.roots = [sysfs / "fs/pstore", rootfs / "var/lib/systemd/pstore"]
        self.procfs = procfs
        self.pstore = pstore
        self.journalctl = journalctl
        self.unclean_reboot_alert = unclean_reboot_alert
        self.max_line = max_line
        self.state = Positions(data_dir / "previous-boot.json")
        self.marker = Positions(data_dir / "agent-run.json")
        self.matcher = LogMatcher(build_patterns(segfaults=True))
        self.available = True
        self.reason = ""  # nothing to report in the heartbeat: unreadable records are skipped
        self.findings: list[Finding] = []
        self._alive_at = 0.0

    # -- the run marker ----------------------------------------------------------------------

    def start_marker(self, now: float) -> dict[str, Any] | None:
        """The marker the last run left (None on a first start), replaced by this run's."""
        previous = self.marker.get("run")
        current = boot_id(self.procfs)
        self.marker.set("run", {"boot_id": current, "started": now, "alive": now, "clean": False})
        self._save(self.marker)
        self._alive_at = now
        return previous if isinstance(previous, dict) else None

    def alive(self, now: float) -> None:
        """Every minute or so: the last sign of life, which dates an unclean end."""
        run = self.marker.get("run")
        if (
            not self._alive_at
            or not isinstance(run, dict)
            or now - self._alive_at < ALIVE_EVERY_SECS
        ):
            return  # before start_marker, the marker is still the last run's: not ours to touch
        self._alive_at = now
        self.marker.set("run", {**run, "alive": now})
        self._save(self.marker)

    def stopped_cleanly(self, now: float) -> None:
        run = self.marker.get("run")
        if self._alive_at and isinstance(
            run, dict
        ):  # not before start_marker: that is the last run's
            self.marker.set("run", {**run, "alive": now, "clean": True})
            self._save(self.marker)

    # -- the source ---------------------------------------------------------------------------

    async def run(self, emit: Callable[[LogLine], None]) -> None:
        now = time.time()
        previous_run = self.start_marker(now)
        current_boot = boot_id(self.procfs)
        if self.pstore:
            # Reading the files may take a while on a slow disk: not on the event loop.
            parts = await asyncio.to_thread(find_parts, self.roots)
            self.findings += self.scan_pstore(current_boot, parts)
        # The journal is asked only when the last run did not stop cleanly (or there was none):
        # after a clean shutdown the previous boot's errors were reported live.
        ended_badly = previous_run is None or not previous_run.get("clean")
        if (
            self.journalctl
            and ended_badly
            and self.state.get("journal_checked_boot") != current_boot
        ):
            found = await self.check_journal()
            self.state.set("journal_checked_boot", current_boot)
            if found is not None and not self.findings and self._new(found):
                self.findings.append(found)
                self._report(found, current_boot)
            self._save(self.state)
        if self.unclean_reboot_alert:
            self.check_unclean(previous_run, current_boot, now)
        log.info("previous boot checked: %d new crash report(s)", len(self.findings))

    def scan_pstore(self, current_boot: str, parts: list[PstorePart]) -> list[Finding]:
        records = group_records(parts)
        findings = []
        for record in records:
            finding = examine_record(record, self.matcher)
            if finding is None or not self._new(finding):
                continue
            findings.append(finding)
            self._report(finding, current_boot)
        self._save(self.state)
        return findings

    def _new(self, finding: Finding) -> bool:
        reported = self.state.get("reported")
        return not (isinstance(reported, list) and finding.digest in reported)

    def _report(self, finding: Finding, current_boot: str) -> None:
        reported = self.state.get("reported")
        reported = [d for d in reported if isinstance(d, str)] if isinstance(reported, list) else []
        self.state.set("reported", [*reported, finding.digest][-MAX_REMEMBERED:])
        after = f", after: {finding.cause}" if finding.cause else ""
        # An oops the kernel survived is in pstore at once: written after this boot began, it is not
        # the previous boot's end.
        this_boot = (
            finding.survivable and finding.exact_time and finding.when >= boot_time(self.procfs) > 0
        )
        what = (
            f"kernel recorded a {finding.kind} in this boot"
            if this_boot
            else f"previous boot ended in a {finding.kind}"
        )
        message = (
            f"{what}: {finding.headline[:300]}{after} "
            f"({finding.origin}, {'written' if finding.exact_time else 'archived'} about {_iso(finding.when)}; "
            f"seen in boot {current_boot or '?'})"
        )
        if finding.origin.startswith("journal"):
            message = (
                f"previous boot's last kernel messages report a {finding.kind}: {finding.headline[:300]} "
                f"(at {_iso(finding.when)}; seen in boot {current_boot or '?'})"
            )
        self.route(
            Alert(
                analyzer="log",
                metric="log_previous_boot_crash",
                labels=(("record", finding.digest),),
                status=Status.FIRING,
                severity=finding.severity,
                value=1.0,
                threshold=None,
                message=message,
                timestamp=time.time(),
                context={
                    "line": finding.headline,
                    "lines": list(finding.context),
                    "category": "kernel",
                    "source": "pstore",
                    "event": True,
                    "origin": finding.origin,
                    "record_time": _iso(finding.when),
                    "boot_id": current_boot,
                    **({"cause": finding.cause} if finding.cause else {}),
                },
            )
        )

    async def check_journal(self) -> Finding | None:
        assert self.journalctl is not None  # noqa: S101 - run() checks
        argv = [
            self.journalctl,
            "-b",
            "-1",
            "-k",
            "-o",
            "json",
            "--no-pager",
            "-n",
            str(JOURNAL_LINES),
        ]
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
                stdin=asyncio.subprocess.DEVNULL, limit=4 * 1024 * 1024,
            )  # fmt: skip
        except OSError as exc:
            log.warning("cannot run %s for the previous boot: %s", self.journalctl, exc)
            return None
        try:
            out, _ = await asyncio.wait_for(process.communicate(), JOURNAL_TIMEOUT_SECS)
        except TimeoutError:
            log.warning(
                "%s -b -1 took over %.0f s: previous boot not checked",
                self.journalctl,
                JOURNAL_TIMEOUT_SECS,
            )
            return None
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        if (
            process.returncode != 0
        ):  # no previous boot in the journal (volatile storage, first boot)
            return None
        lines = []
        for raw in out.decode("utf-8", "replace").splitlines()[-JOURNAL_LINES:]:
            parsed = parse_journal_entry(raw)
            if parsed is not None and parsed[0].kernel:
                lines.append(parsed[0])
        return examine_journal([LogLine(x.text[: self.max_line], x.kernel, x.source, x.timestamp, x.level)
                                for x in lines], self.matcher)  # fmt: skip

    def check_unclean(self, previous: dict[str, Any] | None, current_boot: str, now: float) -> None:
        if previous is None or previous.get("clean") or not current_boot:
            return
        if previous.get("boot_id") in (None, "", current_boot):
            return  # the agent died, the host did not: the supervisor's business
        alive = previous.get("alive")
        when = float(alive) if isinstance(alive, int | float) else now
        crash = max(self.findings, key=lambda f: f.severity, default=None)
        message = f"host rebooted without a clean shutdown at about {_iso(when)}"
        if crash is not None:
            message += f"; the previous boot ended in a {crash.kind}: {crash.headline[:200]}"
        self.route(
            Alert(
                analyzer="log",
                metric="log_unclean_reboot",
                labels=(("boot_id", str(previous.get("boot_id"))),),
                status=Status.FIRING,
                severity=Severity.WARN,
                value=1.0,
                threshold=None,
                message=message,
                timestamp=now,
                context={
                    "category": "kernel",
                    "source": "pstore",
                    "event": True,
                    "last_alive": _iso(when),
                    "previous_boot_id": str(previous.get("boot_id")),
                    "boot_id": current_boot,
                    **({"line": crash.headline} if crash is not None else {}),
                },
            )
        )

    @staticmethod
    def _save(store: Positions) -> None:
        try:
            store.save()
        except OSError as exc:
            log.warning("cannot save %s: %s", store.path, exc)
