"""Wires the log sources to the pattern matcher and the router.

It also decides which file may vouch for kernel messages (`kernel_trust`):
only the system syslog file, and only when neither /dev/kmsg nor journald is
there to give the kernel's messages first hand.

The configured sources are what to read, not a promise that each exists: a
Debian 12 host without rsyslog has no syslog file, and its system log is in
journald.  So when the syslog file is missing and journalctl is there, the
journal is read instead, and the sources chosen are said once, at info level:
a fresh install should not warn on every start about something it can do
without.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from agent.logs.kmsg import KmsgSource
from agent.logs.own import OwnLines
from agent.logs.positions import Positions
from agent.logs.pstore import PreviousBoot
from agent.logs.syslogfile import SyslogSource, default_syslog_path
from agent.settings import Settings
from alerting.alert import Alert, Severity
from analyzers.logpatterns import LogAlerter, LogLine, LogMatcher, build_patterns
from common.search_bound import BUDGET_SHARE, SEARCH_SECS, Unread

log = logging.getLogger(__name__)

KMSG = Path("/dev/kmsg")
# Lines custom patterns did not read (common/search_bound.py) are said in the heartbeat until an
# hour after the last, and logged at most once an hour: a storm of them is one warning, not many.
UNREAD_SAID_SECS = 3600.0


class LogSource(Protocol):
    name: str
    available: bool

    @property
    def reason(self) -> str: ...  # what is wrong, for the heartbeat ("" if nothing)

    async def run(self, emit: Callable[[LogLine], None]) -> None: ...


def build_alerter(settings: Settings) -> LogAlerter:
    la = settings.log_analyzer
    custom = [
        (
            re.sub(r"\W+", "_", p.name).strip("_") or f"custom_{i}",
            p.pattern,
            Severity.parse(p.severity),
        )
        for i, p in enumerate(la.custom_patterns)
    ]
    patterns = build_patterns(gpu_xid=la.gpu_xid_monitoring, segfaults=la.segfaults, custom=custom)
    return LogAlerter(
        LogMatcher(patterns), aggregate_secs=la.aggregate_secs, flood_limit=la.flood_limit
    )


def kernel_trust(settings: Settings, kmsg: Path = KMSG) -> tuple[bool, str]:
    """Whether the syslog file's ``kernel:`` lines count as the kernel's, and why.

    Anyone may write a ``kernel:`` line to syslog (``logger -t kernel``), so the
    tag is believed only when there is no better source: /dev/kmsg readable by
    us, or journald (whose `_TRANSPORT` field the sender cannot set).
    """
    sources = set(settings.log_analyzer.sources)
    if {"dmesg", "kmsg"} & sources:
        try:
            os.close(os.open(kmsg, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
            return False, f"the kernel log is read from {kmsg}"
        except OSError as exc:
            kmsg_why = f"{kmsg} is not readable ({exc.strerror})"
    else:
        kmsg_why = "the dmesg source is not configured"
    if "journald" in sources:
        journalctl = settings.log_analyzer.journalctl_path
        if on_path(journalctl):
            return False, "the kernel log is read from journald"
        return True, f"{kmsg_why} and {journalctl} is not found"
    return True, f"{kmsg_why} and the journald source is not configured"


def build_sources(
    settings: Settings,
    positions: Positions,
    route: Callable[[Alert], Any] | None = None,
    kmsg: Path = KMSG,
) -> list[LogSource]:
    la = settings.log_analyzer
    procfs, rootfs = Path(settings.agent.procfs), Path(settings.agent.rootfs)
    sources: list[LogSource] = []
    own = OwnLines.for_tag(settings.alerting.syslog.tag)  # never alert on our own lines
    if route is not None and ("pstore" in la.sources or la.unclean_reboot_alert):
        sources.append(previous_boot(settings, route))
    syslog_file = (
        (Path(la.syslog_path) if la.syslog_path else default_syslog_path(rootfs))
        if "syslog" in la.sources
        else None
    )
    # No syslog file, but journald holds the same system log: read that instead when it
    # adds something, i.e. lines for custom patterns, or the kernel's lines when /dev/kmsg
    # cannot be read.  Otherwise kmsg already has every line a built-in pattern looks
    # at, and a journalctl process (~7 MB resident) would only repeat them.
    kmsg_read = bool({"dmesg", "kmsg"} & set(la.sources)) and _readable(kmsg)
    no_syslog_file = "syslog" in la.sources and syslog_file is None
    journal_instead = (
        no_syslog_file
        and "journald" not in la.sources
        and (bool(la.custom_patterns) or not kmsg_read)
        and on_path(la.journalctl_path)
    )
    if {"dmesg", "kmsg"} & set(la.sources):
        sources.append(KmsgSource(positions, procfs, max_line=la.max_line_bytes))
    if "journald" in la.sources or journal_instead:
        from agent.logs.journald import JournaldSource  # a subprocess pipe, only when asked for

        sources.append(JournaldSource(positions, la.journalctl_path, la.max_line_bytes, own))
    # Application logs never vouch for the kernel, whatever their lines say.
    paths = [Path(f) for f in la.files]
    kernel_paths: list[Path] = []
    if "syslog" in la.sources:
        main = syslog_file
        if main is not None:
            paths.insert(0, main)
            trusted, why = kernel_trust(settings)
            if trusted:
                kernel_paths.append(main)
                log.info("kernel patterns apply to the kernel: lines of %s: %s", main, why)
            else:
                log.info(
                    "the kernel: lines of %s are not taken as the kernel's: %s (anyone may log "
                    "with that tag)",
                    main,
                    why,
                )
        elif not journal_instead and "journald" not in la.sources and kmsg_read:
            log.info(
                "no syslog file (/var/log/syslog or /var/log/messages): the kernel log is read "
                "from %s; with custom patterns the system log would be read from journald",
                kmsg,
            )
        elif not journal_instead and "journald" not in la.sources:
            log.warning(
                "no syslog file (/var/log/syslog or /var/log/messages) and no %s: "
                "the system log is not watched",
                la.journalctl_path,
            )
    if paths:
        sources.append(
            SyslogSource(
                paths, positions, la.poll_interval_secs, la.max_line_bytes, kernel_paths, own
            )
        )
    why = (
        " (no /var/log/syslog or /var/log/messages: the system log is read from journald)"
        if "syslog" in la.sources
        and syslog_file is None
        and (journal_instead or "journald" in la.sources)
        else ""
    )
    log.info("log sources: %s%s", ", ".join(s.name for s in sources) or "none", why)
    return sources


def on_path(program: str) -> bool:
    """Whether `program` (a name looked up on PATH, or a path) can be run.

    Not shutil.which: shutil loads the bz2, lzma and zlib modules, ~1 MB resident
    for an agent that never compresses a file.
    """
    if "/" in program:
        return os.access(program, os.X_OK) and os.path.isfile(program)
    return any(
        os.access(os.path.join(d, program), os.X_OK) and os.path.isfile(os.path.join(d, program))
        for d in os.environ.get("PATH", os.defpath).split(os.pathsep)
        if d
    )


def _readable(path: Path) -> bool:
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
    except OSError:
        return False
    return True


def previous_boot(settings: Settings, route: Callable[[Alert], Any]) -> PreviousBoot:
    la, agent = settings.log_analyzer, settings.agent
    return PreviousBoot(
        Path(agent.data_dir), route, sysfs=Path(agent.sysfs), rootfs=Path(agent.rootfs),
        procfs=Path(agent.procfs), pstore="pstore" in la.sources,
        journalctl=la.journalctl_path if {"journald", "pstore"} <= set(la.sources) else None,
        unclean_reboot_alert=la.unclean_reboot_alert, max_line=la.max_line_bytes,
    )  # fmt: skip


class LogWatch:
    def __init__(self, settings: Settings, route: Callable[[Alert], Any]) -> None:
        self.positions = Positions(Path(settings.agent.data_dir) / "log-positions.json")
        self.alerter = build_alerter(settings)
        self.sources = build_sources(settings, self.positions, route)
        self._route = route
        self.previous_boot = next((s for s in self.sources if isinstance(s, PreviousBoot)), None)
        self._group_timer: asyncio.TimerHandle | None = None
        self._group_timer_at = 0.0  # the deadline it was armed for
        self._unread_logged: tuple[int, float] | None = None  # (count, monotonic time) of the log

    def emit(self, line: LogLine) -> None:
        for alert in self.alerter.process(line, time.time()):
            self._route(alert)
        self._arm_group_timer()

    def _arm_group_timer(self) -> None:
        """A held multi-line report goes out when its window ends, not at the next tick (5 s)."""
        deadline = self.alerter.next_group_deadline()
        if deadline is None:
            return
        if self._group_timer is not None:
            if deadline >= self._group_timer_at:
                return
            # A report due sooner than the one the timer waits for (a 2 s one behind NVMe's 45 s).
            self._group_timer.cancel()
            self._group_timer = None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a test feeding lines by hand): tick() sends it
        self._group_timer_at = deadline
        self._group_timer = loop.call_later(max(0.0, deadline - time.time()), self._groups_due)

    def _groups_due(self) -> None:
        self._group_timer = None
        for alert in self.alerter.expire_groups(time.time()):
            self._route(alert)
        self._arm_group_timer()

    def tick(self, now: float, read_up: Callable[[str, float], bool] | None = None) -> None:
        """Follow-ups of aggregated repeats, links down read up again (`read_up`: the
        runtime's look at the network collector's link state), and saving positions (every
        few seconds)."""
        for alert in self.alerter.flush(now):
            self._route(alert)
        if read_up is not None:
            for alert in self.alerter.links_read_up(read_up, now):
                self._route(alert)
        self.save()
        if self.previous_boot is not None:
            self.previous_boot.alive(now)
        self._log_unread()

    def unread(self) -> str:
        """Lines custom patterns did not read, if the last was within the hour ("" if not)."""
        bound = self.alerter.matcher.bound
        if bound.last_unread is None or time.monotonic() - bound.last_unread > UNREAD_SAID_SECS:
            return ""
        return (
            f"custom log patterns did not read every line: {bound.unread[Unread.OVERRAN]} "
            f"search(es) stopped at {SEARCH_SECS * 1000:.0f} ms of CPU, "
            f"{bound.unread[Unread.BUDGET]} skipped while their time ({BUDGET_SHARE:.0%} of a "
            f"core) was spent, since the start, the last "
            f"{time.monotonic() - bound.last_unread:.0f} s ago: an expression with two unbounded "
            "pieces that can take the same characters (\\w+\\s?\\w+:) is slow on a long line"
        )

    def _log_unread(self) -> None:
        count = sum(self.alerter.matcher.bound.unread.values())
        logged = self._unread_logged
        if not count or (logged is not None and logged[0] == count):
            return
        if logged is None or time.monotonic() - logged[1] >= UNREAD_SAID_SECS:
            log.warning("%s", self.unread())
            self._unread_logged = (count, time.monotonic())

    def close(self) -> None:
        """At a clean stop: held reports sent, positions saved, and the run marked as ended cleanly."""
        if self._group_timer is not None:
            self._group_timer.cancel()
            self._group_timer = None
        for alert in self.alerter.expire_groups(float("inf")):  # their positions are saved below
            self._route(alert)
        self.save()
        if self.previous_boot is not None:
            self.previous_boot.stopped_cleanly(time.time())

    def save(self) -> None:
        try:
            self.positions.save()
        except OSError as exc:
            log.warning("cannot save log positions to %s: %s", self.positions.path, exc)
