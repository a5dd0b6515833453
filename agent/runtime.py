"""The asyncio supervisor: one task per collector domain, signals, reload, shutdown.

* Each domain runs on its own drift-free schedule (`agent.schedule.Ticker`).
* A failing collection is counted and logged (rate-limited) and the domain
  goes on with its next tick; a task that dies anyway is restarted with
  exponential backoff while the other domains keep running.
* SIGTERM/SIGINT: stop collecting, give pending deliveries
  `agent.shutdown_timeout_secs`, exit 0.
* SIGHUP: re-read and validate the configuration; apply it if valid, else
  keep the running one and log every problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import math
import os
import signal
import stat
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent import tier_file
from agent.assembly import (
    build_analyzers,
    build_channels,
    build_store,
    build_workers,
    history_path,
    inhibit_rules,
    maintenance_windows,
    needs_durable_outbox,
    open_outbox,
    silence_file,
    summarize,
    threshold_rules,
)
from agent.bytecode import say_what_was_compiled_at_start
from agent.collectors import DOMAINS, build_collectors, interval_of
from agent.collectors.base import Collector, Samples, SourceMissing
from agent.collectors.network import LINK_STATE_METRIC
from agent.config import ConfigError, LoadedConfig, load_config, runtime_file_problems
from agent.logs.kmsg import boot_id
from agent.logs.watch import LogWatch
from agent.memory import release_free_memory
from agent.pipeline import PROCESS_COLLECTOR, Pipeline
from agent.privileges import PrivilegeReport, check_privileges, log_report
from agent.schedule import Ticker
from agent.settings import Settings
from agent.store import Store
from alerting.channels.registry import installed
from common.logsetup import set_level
from common.notify import Notifier
from common.runner import Supervisor
from common.service import SignalRequests

if TYPE_CHECKING:
    from agent.exporter import Exporter
    from agent.history import History
    from agent.telemetry import Telemetry
    from alerting.channels.base import Channel
    from alerting.channels.nats import NatsConnection
from alerting.alert import Alert, Severity, Status
from alerting.delivery import (
    ChannelWorker,
    Undelivered,
    drain_and_stop,
    drop_rows,
    hand_over,
    let_go,
)
from alerting.outbox import MemoryOutbox, Outbox
from alerting.router import Router, without_kept_marks
from analyzers.base import Batch, Resumable, SeriesKey, Warmable, learning_series
from analyzers.logpatterns import LOG_ANALYZER
from analyzers.registry import confirm_after_restart_secs, judges_closed_buckets
from analyzers.threshold import ThresholdAnalyzer, ThresholdRule

log = logging.getLogger(__name__)

HOUSEKEEPING_SECS = 60.0
REPEAT_CHECK_SECS = 5.0
# How long writing the history tier may take (agent/tier_file.py), at the stop too.
TIER_KEEP_SECS = 5.0
MIN_KEEP_RECENT_SECS = 0.5  # what a host's raw tier needs at most; less left: not tried
# A link down's readings count as "read up" from this long after its line (`link_read_up`).
LINK_SETTLE_SECS = 2.0


# asyncio's default executor runs DNS lookups, aiosmtplib's getfqdn and the
# inventory; by default it grows to min(32, CPUs + 4) threads, each kept for good.
IO_THREADS = 4

# Collections run on these threads, not on the event loop: reading 20,000
# /proc/PID directories or 2,000 interfaces takes 0.5-1 s, for which deliveries,
# the systemd watchdog and the other domains' ticks would otherwise wait.  Their
# own pool, so a slow or stuck read (a hung NFS mount) never holds up the DNS
# lookups of a delivery in the default executor; two threads, so one stuck read
# leaves the other domains a thread.  Each collector keeps its own state and one
# domain collects once at a time; the store, analyzers and router stay on the loop.
COLLECT_THREADS = 2
# Collectors that read the runtime itself (its counters, asyncio's task list), which
# only the loop thread may touch; they are quick.
ON_LOOP_COLLECTORS = frozenset({"self"})
# A collection that has run this many of its intervals is reported stuck (health).
STUCK_INTERVALS = 3
# A process read an alert asks for (agent/pipeline.py) comes at least this long after the
# last: its CPU % is measured over the time between them, in clock ticks of 10 ms.
ASKED_READ_GAP_SECS = 2.0


def _timed_collect(collector: Collector) -> tuple[Samples | Exception, float]:
    """One collection and its duration; the exception instead of the samples if it failed."""
    started = time.perf_counter()
    try:
        outcome: Samples | Exception = collector.collect()
    except Exception as exc:
        outcome = exc
    return outcome, time.perf_counter() - started


async def _sleep_until(
    loop: asyncio.AbstractEventLoop, deadline: float, wake: asyncio.Event | None
) -> bool:
    """Sleep until `deadline` (loop time); True if `wake` was set before it (then cleared).

    Behind (a read longer than the interval), still yield once: an on-loop tick that never
    awaits would otherwise starve every other task.  A wake that finds the scheduled read
    due is that read."""
    delay = max(0.0, deadline - loop.time())
    if wake is not None and delay > 0:
        try:
            async with asyncio.timeout(delay):
                await wake.wait()
        except TimeoutError:
            pass
        else:
            wake.clear()
            return True
    else:
        await asyncio.sleep(delay)
    if wake is not None:
        wake.clear()
    return False


def bound_default_executor(loop: asyncio.AbstractEventLoop) -> None:
    from concurrent.futures import ThreadPoolExecutor

    loop.set_default_executor(
        ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="sysops-io")
    )


def data_dir_exposure(data_dir: Path) -> str | None:
    """Why data_dir is open to other local users (world-writable, or group-writable by a
    group that is neither root's nor the agent's), or None."""
    try:
        info = os.stat(data_dir)
    except OSError:
        return None
    if info.st_mode & stat.S_IWOTH:
        return f"data_dir {data_dir} is world-writable"
    if info.st_mode & stat.S_IWGRP and info.st_gid not in (0, os.getegid()):
        return f"data_dir {data_dir} is writable by group {info.st_gid}"
    return None


# What the agent builds once, at start: the analyzers and their store, the NATS connection
# (telemetry, inventory, the alert channel over it), the Prometheus endpoint, the log
# sources and their patterns, and the files under data_dir; the host name and the file
# systems read are also in what the start built (telemetry's subjects, the log sources),
# though the router and the collectors a reload makes take them.  A reload applies the rest.
RESTART_SECTIONS = ("analyzer", "storage", "nats", "prometheus", "log_analyzer", "inventory")
RESTART_AGENT_KEYS = ("hostname", "data_dir", "pid_file", "procfs", "sysfs", "rootfs")


def restart_only_changes(old: Settings, new: Settings) -> list[str]:
    """The settings a reload changed and does not apply (said, not silently kept)."""
    changed = [f"[{name}]" for name in RESTART_SECTIONS if getattr(old, name) != getattr(new, name)]
    return changed + [
        f"agent.{key}" for key in RESTART_AGENT_KEYS
        if getattr(old.agent, key) != getattr(new.agent, key)
    ]  # fmt: skip


class Agent(SignalRequests):
    """The daemon: owns the store, the analyzers, the router and the supervisor."""

    def __init__(
        self,
        loaded: LoadedConfig,
        config_path: str | None = None,
        log_level_override: str | None = None,
    ) -> None:
        self.settings: Settings = loaded.settings
        self.config_path = config_path
        self.log_level_override = log_level_override
        self.store = build_store(self.settings)
        data_dir = self.settings.agent.data_dir
        try:
            Path(data_dir).mkdir(mode=0o750, parents=True, exist_ok=True)
        except OSError as exc:  # "cannot run: [Errno 17] File exists" named no key
            raise OSError(exc.errno, f"agent.data_dir: {data_dir}: {exc.strerror}") from None
        # Checked here, not by --validate: a container's configuration is validated where
        # its /host/proc is not.  Without it every collector failed under "started".
        procfs = self.settings.agent.procfs
        if not Path(procfs).is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"agent.procfs: {procfs}: not a directory")
        self.nats: NatsConnection | None = None
        if self.settings.nats.enabled:  # one connection for telemetry and the alert channel
            from agent.telemetry import nats_connection

            self.nats = nats_connection(self.settings)
        channels = self._share_nats(build_channels(self.settings))
        self.outbox = open_outbox(self.settings, channels)
        self.analyzers = build_analyzers(self.settings)
        self.router = Router(
            self.settings.agent.hostname,
            build_workers(self.settings, channels, self.outbox),
            min_interval_secs=self.settings.alerting.min_interval_secs,
            dedup_window_secs=self.settings.alerting.dedup_window_secs,
            silences=silence_file(self.settings),
            maintenance=maintenance_windows(self.settings),
            inhibit_rules=inhibit_rules(self.settings),
            episodes=episodes_of(self.outbox),
        )
        self.pipeline = Pipeline(
            self.store,
            self.analyzers,
            self.router.route,
            process_interval=lambda: self.settings.collector.process_interval_secs,
        )
        self.router.refresh = self.pipeline.refresh  # fresh repeats: value and context of now
        self.pipeline.read_processes = self._read_processes_now
        self._process_wake: asyncio.Event | None = None  # set by the process domain's loop
        self.analyzer_errors = self.pipeline.analyzer_errors
        self.supervisor = Supervisor()
        self.collector_errors: Counter[str] = Counter()
        self.ticks: Counter[str] = Counter()
        self.skipped_ticks: Counter[str] = Counter()
        self.durations: dict[str, float] = {}
        self.absent: dict[str, str] = {}
        self._loop_lag = 0.0
        self._collect_pool: ThreadPoolExecutor | None = None  # started with the first off-loop tick
        self._collecting: dict[str, tuple[float, float]] = {}  # name -> (monotonic start, interval)
        self._failing: dict[str, str] = {}  # collector -> the cause last logged
        self._failing_channels: set[str] = set()
        self._collector_tasks: list[str] = []
        self.logs: LogWatch | None = None
        self.telemetry: Telemetry | None = None
        self.exporter: Exporter | None = None
        self.history: History | None = None
        self.notifier = Notifier()
        self.privileges: PrivilegeReport | None = None
        self._ready = False
        self._look_for_unreported_at: float | None = None  # see _resume_episodes
        self._tier_failed = False
        self._tier_task: asyncio.Task[None] | None = None  # a periodic save under way
        self._boot_id = ""  # this boot's, read at start: the history tier is saved with it
        self.data_dir_problem: str | None = None  # data_dir writable by others
        self._stopping = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        for warning in loaded.warnings:
            log.warning("%s", warning)

    # -- life cycle ----------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        bound_default_executor(loop)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        self._prepare_dirs()
        self.privileges = check_privileges(self.settings, self.config_path)
        log_report(self.privileges)
        self._drop_unconfigured_rows()
        for worker in self.router.workers:
            worker.start()
        # The history tier of the last life, before any collection writes the store.
        self._boot_id = boot_id(Path(self.settings.agent.procfs))
        running = {d.name for d in DOMAINS if d.name not in self.settings.collector.disabled}
        data_dir = self.settings.agent.data_dir
        tier_file.restore(self.store, tier_file.path_in(data_dir), time.time(),
                          groups=running, boot_id=self._boot_id)  # fmt: skip
        self._warm_up(tier_file.recent_path_in(data_dir), running)
        self._start_collectors()
        self._start_logs()
        # Before the first collection or log line is handled (nothing awaited since the
        # tasks were spawned): the analyzers and the router take back what was firing.
        self._resume_episodes()
        self._start_telemetry()
        await self._start_exporter()
        self._start_history()
        self.supervisor.spawn("housekeeping", self._housekeeping)
        if self.notifier.enabled:
            self.supervisor.spawn("systemd", self._systemd)
        await self._describe_start()
        say_what_was_compiled_at_start()
        await self._stopping.wait()
        await self._shutdown()
        return 0

    async def _shutdown(self) -> None:
        await self.supervisor.stop()
        self.pipeline.release_held()  # no process read will come now: hand them on as they are
        if self.telemetry is not None:
            await self.telemetry.close()
        if self.exporter is not None:
            await self.exporter.stop()
        if self.history is not None:
            await self.history.close()
        if self.logs is not None:
            self.logs.close()  # saves positions and marks this run as stopped cleanly
        for task in list(self._background):
            task.cancel()
        if self._tier_task is not None:  # a periodic save under way gives way to the last
            self._tier_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tier_task  # (it logs what else went wrong itself)
        await self._keep_tiers(at_stop=True)  # the collectors are stopped: as it ends
        timeout = self.settings.agent.shutdown_timeout_secs
        await self._drain_and_stop(self.router.workers, timeout)
        self.outbox.close()  # clears episodes a full disk left stale, now that it may have room
        if self.nats is not None:  # after the channel's last publish
            await self.nats.close()
        if self._collect_pool is not None:  # queued reads are dropped, a running one finishes
            self._collect_pool.shutdown(wait=False, cancel_futures=True)
        if self.settings.agent.pid_file:
            with contextlib.suppress(OSError):
                Path(self.settings.agent.pid_file).unlink()
        log.info("stopped")

    def _share_nats(self, channels: list[Channel]) -> list[Channel]:
        """The NATS alert channel publishes on the agent's connection, not on one of its own."""
        if self.nats is not None:
            from alerting.channels.nats import NatsChannel

            for channel in channels:
                if isinstance(channel, NatsChannel):
                    channel.share(self.nats)
        return channels

    @staticmethod
    async def _drain_and_stop(workers: list[ChannelWorker], timeout: float) -> None:
        await drain_and_stop(workers, timeout)

    def _drop_unconfigured_rows(self) -> None:
        """Rows the last run left for a channel this configuration does not have (removed
        while the agent was down) are dropped, counted and said, not kept for good."""
        workers = self.router.workers
        undelivered = workers[0].undelivered if workers else Undelivered()
        configured = {name for worker in workers for name in worker.outbox_channels}
        for channel in sorted(self.outbox.channels() - configured):
            drop_rows(self.outbox, channel, undelivered)

    def _prepare_dirs(self) -> None:
        data_dir = Path(self.settings.agent.data_dir)
        data_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
        self.data_dir_problem = data_dir_exposure(data_dir)
        if self.data_dir_problem:
            log.warning(
                "%s: another local user could plant links or FIFOs in it; make it 0750 and "
                "owned by the agent",
                self.data_dir_problem,
            )
        pid_file = self.settings.agent.pid_file
        if pid_file:
            try:
                Path(pid_file).write_text(f"{os.getpid()}\n")
            except OSError as exc:  # "cannot run: [Errno 2] ..." named no key
                raise OSError(exc.errno, f"agent.pid_file: {pid_file}: {exc.strerror}") from None

    async def _describe_start(self) -> None:
        # The line names only the collectors that run: each one's first read,
        # due at once, says whether its source exists on this host (edac, gpu).
        # A read still going after 5 s does not hold the line back any longer.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        names = {task.removeprefix("collector:") for task in self._collector_tasks}
        while not names <= self.durations.keys() and loop.time() < deadline:
            await asyncio.sleep(0.02)
        summary = summarize(self.settings, absent=self.absent.keys())
        log.info(
            "sysops-agent started on %s: collectors %s; channels %s",
            self.settings.agent.hostname,
            ", ".join(f"{n} every {i:g}s" for n, i in summary.collectors),
            ", ".join(summary.channels) or "none",
        )
        for line in summary.missing_extra_lines():
            log.error("%s", line)
        for note in summary.notes:
            log.warning("%s", note)

    # -- telemetry ---------------------------------------------------------------------------

    def _start_telemetry(self) -> None:
        if not self.settings.nats.enabled or not installed("nats"):
            return  # without nats-py: said once at start (_describe_start), not every 5 s
        from agent.inventory import collect_inventory  # only published over NATS
        from agent.telemetry import Telemetry

        settings = self.settings
        self.telemetry = Telemetry(
            settings, lambda: collect_inventory(settings), self.health, connection=self.nats
        )
        self.supervisor.spawn("telemetry", self.telemetry.run)

    def _start_history(self) -> None:
        storage = self.settings.storage
        if not storage.sqlite_enabled or not installed("aiosqlite"):
            return  # without aiosqlite: said once at start, not a crash and a traceback a minute
        from agent.history import History

        self.history = History(history_path(self.settings), storage.sqlite_retention_days)
        self.history.follow(self.store)  # each closed bucket: mean, min, max, count
        self.supervisor.spawn("history", self.history.run)

    async def _start_exporter(self) -> None:
        """The opt-in Prometheus endpoint; a port that cannot be bound is logged, not fatal."""
        prom = self.settings.prometheus
        if not prom.enabled or not installed("prometheus_client"):
            return  # without prometheus-client: said once at start (_describe_start)
        try:
            from agent.exporter import Exporter  # prometheus-client only when asked for
        except ImportError as exc:  # there, but broken (a version it cannot work with)
            log.error("the Prometheus endpoint cannot start: %s", exc)
            return

        exporter = Exporter(self.store, prom.bind, prom.path)
        try:
            await exporter.start()
        except (OSError, ValueError) as exc:
            log.error("cannot serve Prometheus on %s: %s", prom.bind, exc)
            return
        self.exporter = exporter

    def status_line(self) -> str:
        """One line for `systemctl status`."""
        reasons, figures = self.health()
        running = len(self._collector_tasks) - len(self.absent)
        text = f"{running} collectors, {len(self.store)} series, {figures['outbox_pending']} alerts pending"
        return text + (
            f"; degraded: {reasons[0]}"
            + (f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else "")
            if reasons
            else "; healthy"
        )

    async def _systemd(self) -> None:
        """WATCHDOG=1 from the event loop itself: if the loop is stuck, the pings stop."""
        interval = (self.notifier.watchdog_secs or 60.0) / 2
        while True:
            await asyncio.sleep(interval)
            if self._stopping.is_set():  # STOPPING=1 has been sent: it stays the last word
                return
            if self.notifier.watchdog_secs:
                self.notifier.watchdog()
            self.notifier.status(self.status_line())

    def health(self) -> tuple[list[str], dict[str, Any]]:
        """Why the agent is degraded (for the heartbeat), and a few figures about itself."""
        reasons = [
            f"collector {name} failing: {cause}" for name, cause in sorted(self._failing.items())
        ]
        reasons += [f"channel {name} failing" for name in sorted(self._failing_channels)]
        reasons += [
            f"collector {name} stuck: one read has taken {time.monotonic() - started:.0f} s"
            for name, (started, interval) in sorted(self._collecting.items())
            if time.monotonic() - started > STUCK_INTERVALS * interval
        ]
        if self.logs is not None:
            reasons += [
                f"log source {s.name} unavailable" for s in self.logs.sources if not s.available
            ]
            reasons += [f"log source {s.name}: {s.reason}" for s in self.logs.sources if s.reason]
            if unread := self.logs.unread():
                reasons.append(unread)
        if self.privileges is not None:
            reasons += [
                reason
                for source, reason in self.privileges.unreadable.items()
                if not (source == "kmsg" and self.logs is not None)  # the log source says so
            ]
        if self.data_dir_problem:
            reasons.append(self.data_dir_problem)
        reasons += sorted({w.outbox.degraded for w in self.router.workers if w.outbox.degraded})
        if self.router.silences is not None and self.router.silences.problem:
            reasons.append(self.router.silences.problem)
        if self.history is not None and self.history.last_error:
            reasons.append(f"history not written: {self.history.last_error}")
        if time.monotonic() - self.store.last_drop < HOUSEKEEPING_SECS * 10:
            crowded = ", ".join(f"{g} {n}" for g, n in sorted(self.store.dropped.items()))
            reasons.append(f"series cap reached, samples of new series dropped: {crowded}")
        if self.telemetry is not None and self.telemetry.dropped:
            reasons.append(f"{self.telemetry.dropped} metric samples dropped while NATS was away")
        figures: dict[str, Any] = {
            "outbox_pending": sum(w.pending for w in self.router.workers),
            "series": len(self.store),
            "absent_collectors": sorted(self.absent),
            # Statistical analyzers say nothing on a series younger than its learning time.
            "learning_series": learning_series(self.analyzers, time.time()),
        }
        with contextlib.suppress(OSError, ValueError, IndexError):
            figures["rss_bytes"] = int(
                Path("/proc/self/statm").read_text().split()[1]
            ) * os.sysconf("SC_PAGE_SIZE")
        return reasons, figures

    # -- logs --------------------------------------------------------------------------------

    def _start_logs(self) -> None:
        if not self.settings.log_analyzer.enabled:
            return
        watch = self.logs = LogWatch(self.settings, self.router.route)
        for source in watch.sources:
            self.supervisor.spawn(f"logs:{source.name}", functools.partial(source.run, watch.emit))

    # -- collection ----------------------------------------------------------------------

    def _start_collectors(self) -> None:
        self._collector_tasks = []
        for collector, interval in build_collectors(self.settings, stats=self):
            if collector.name in self.absent:
                continue
            name = f"collector:{collector.name}"
            self._collector_tasks.append(name)
            self.supervisor.spawn(name, self._domain_loop_factory(collector, interval))

    def _domain_loop_factory(
        self, collector: Collector, interval: float
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        async def loop_forever() -> None:
            loop = asyncio.get_running_loop()
            ticker = Ticker(interval, start=loop.time())
            deadline = ticker.first_deadline
            # The process domain also reads when an alert asks for it (_read_processes_now).
            wake = asyncio.Event() if collector.name == PROCESS_COLLECTOR else None
            if wake is not None:
                self._process_wake = wake
            last_read = -math.inf
            try:
                while True:
                    asked = await _sleep_until(loop, deadline, wake)
                    if not asked:
                        self._loop_lag = max(self._loop_lag, loop.time() - deadline)
                    elif (ready := last_read + ASKED_READ_GAP_SECS) > loop.time():
                        # CPU % over the milliseconds since the last read would be noise.  A
                        # scheduled read due by then (an interval under the gap) is the one asked
                        # for: reading before it would put two reads back to back.
                        if ready >= deadline:
                            continue
                        await asyncio.sleep(ready - loop.time())
                    last_read = loop.time()
                    if not await self.tick_off_loop(collector, interval):
                        return  # the source does not exist on this host
                    if wake is not None:  # the read alerts wait for came, or failed: no more wait
                        self.pipeline.release_held()
                    if asked and deadline - loop.time() > interval / 2:
                        continue  # a read in between: the schedule stays as it was
                    # (asked close to the next read, the read asked for is that one: two reads
                    # back to back would measure CPU % over a few milliseconds)
                    skipped_before = ticker.skipped
                    deadline = ticker.advance(loop.time())
                    if ticker.skipped != skipped_before:
                        self.skipped_ticks[collector.name] += ticker.skipped - skipped_before
                        log.warning(
                            "collector %s fell behind: skipped %d tick(s)",
                            collector.name, ticker.skipped - skipped_before,
                        )  # fmt: skip
            finally:
                if wake is not None and self._process_wake is wake:
                    self._process_wake = None

        return loop_forever

    def _read_processes_now(self) -> bool:
        """The pipeline's ask for a process read now (agent/pipeline.py): True if one is
        coming, from the process domain's loop (woken) or already under way."""
        if self._process_wake is None:
            return False  # no process loop (disabled, absent, stopping)
        if PROCESS_COLLECTOR not in self._collecting:
            self._process_wake.set()
        return True

    def tick(self, collector: Collector) -> bool:
        """One collection of one domain on this thread, through the store, analyzers and router.

        Returns False when the domain's source does not exist on this host.
        """
        return self._handle(collector, *_timed_collect(collector))

    async def tick_off_loop(self, collector: Collector, interval: float) -> bool:
        """`tick`, with the collection itself on a collector thread (COLLECT_THREADS)."""
        if collector.name in ON_LOOP_COLLECTORS:
            return self.tick(collector)
        if self._collect_pool is None:
            self._collect_pool = ThreadPoolExecutor(
                max_workers=COLLECT_THREADS, thread_name_prefix="sysops-collect"
            )
        self._collecting[collector.name] = (time.monotonic(), interval)
        try:
            outcome, duration = await asyncio.get_running_loop().run_in_executor(
                self._collect_pool, _timed_collect, collector
            )
        finally:
            self._collecting.pop(collector.name, None)
        return self._handle(collector, outcome, duration)

    def _handle(self, collector: Collector, outcome: Samples | Exception, duration: float) -> bool:
        """What one collection gave, on the loop: counters, then the store, analyzers, router."""
        self.durations[collector.name] = duration
        if isinstance(outcome, SourceMissing):
            self.absent[collector.name] = str(outcome)
            log.info("collector %s disabled: %s", collector.name, outcome)
            return False
        if isinstance(outcome, Exception):
            self._collector_failed(collector.name, outcome)
            return True
        samples = outcome
        self.ticks[collector.name] += 1
        if not self._ready and len(samples):  # systemd: started once something was collected
            self._ready = True
            self.notifier.ready(self.status_line())
        if self._failing.pop(collector.name, None) is not None:
            log.info("collector %s works again", collector.name)
        if len(samples):
            now = time.time()
            if self.telemetry is not None:
                self.telemetry.add_samples(now, samples.keys, samples.values)
            self.pipeline.process(collector.name, now, samples)
        return True

    # -- AgentStats, for the self collector ----------------------------------------------

    def collector_stats(self) -> dict[str, tuple[float, int, int]]:
        return {
            name: (duration, self.collector_errors[name], self.skipped_ticks[name])
            for name, duration in self.durations.items()
        }

    def channel_stats(self) -> dict[str, tuple[int, int, int, int, int]]:
        return {
            w.name: (w.stats.sent, w.stats.failed, w.stats.expired, w.stats.suppressed, w.pending)
            for w in self.router.workers
        }

    def take_loop_lag(self) -> float:
        lag, self._loop_lag = self._loop_lag, 0.0
        return lag

    def store_size(self) -> tuple[int, int]:
        return len(self.store), self.store.nbytes

    def series_dropped(self) -> dict[str, int]:
        return dict(self.store.dropped)

    def log_lines_unread(self) -> dict[str, int]:
        if self.logs is None or not self.logs.alerter.matcher.custom:
            return {}
        return {why.value: n for why, n in self.logs.alerter.matcher.bound.unread.items()}

    def task_count(self) -> int:
        return len(asyncio.all_tasks())

    def _collector_failed(self, name: str, exc: Exception) -> None:
        """Count every failure; log each distinct cause once, until the collector recovers."""
        self.collector_errors[name] += 1
        message = f"{type(exc).__name__}: {exc}"
        if self._failing.get(name) != message:
            self._failing[name] = message
            log.warning(
                "collector %s failed (%d so far): %s", name, self.collector_errors[name], message
            )

    def _resume_episodes(self) -> None:
        """The alerts announced before a restart and not resolved: their episodes go on if
        their analyzers raise them again, and are resolved if not (`Router.resume`)."""
        announced = self.outbox.open_episodes()
        if not announced:
            return
        # Analyzers that can take their state back do (threshold, trend and leak: the levels,
        # with their hysteresis; the log watcher: the open links down); the others learn
        # again, or go through their kept samples (Warmable, below).  They get the alerts
        # as their analyzer raised them: the router's marks on a kept episode are its own
        # (an analyzer raising one again would carry them into notifications).
        raised = [without_kept_marks(alert) for alert in announced]
        for analyzer in self.analyzers:
            if isinstance(analyzer, Resumable):
                analyzer.resume([a for a in raised if a.analyzer == analyzer.name])
        if self.logs is not None:
            self.logs.alerter.resume([a for a in raised if a.analyzer == LOG_ANALYZER])
        enabled = [d for d in DOMAINS if d.name not in self.settings.collector.disabled]
        # A few rounds of the slowest collector, and of the housekeeping that judges it; with
        # a level taken back that waits for a closed history bucket (trend, leak), at least
        # until the first one closed after it: the look drops the levels not applied yet.
        slowest = max((interval_of(self.settings, d) for d in enabled), default=0.0)
        slack = 3 * slowest
        if any(judges_closed_buckets(alert.analyzer) for alert in announced):
            slack = max(slack, self.settings.storage.history_resolution_secs + slowest)
        slack += 2 * REPEAT_CHECK_SECS

        now = time.time()
        warmed = {analyzer.name: analyzer for analyzer in self._warmable()}

        def confirm_within(alert: Alert) -> float | None:
            if alert.analyzer == LOG_ANALYZER and self.logs is not None:
                return None  # a link down ends with its "link is up" line, as in one life
            analyzer = warmed.get(alert.analyzer)
            if analyzer is not None and analyzer.took_back(alert):
                # Its stretch taken back: the series' next sample raises it again or ends
                # it; no deadline but the look for series no longer reported.
                return math.inf
            return confirm_after_restart_secs(self.settings, alert.analyzer) + slack

        self.router.resume(announced, now, confirm_within)
        # By then every collector has reported (or failed) a few times: what is not in the
        # store is gone (a process that exited meanwhile), and is resolved at once.
        self._look_for_unreported_at = now + slack
        log.info(
            "%d alert(s) open before the restart (announced, or folded into the episode of "
            "one that was) and not resolved: they are resolved "
            "unless their analyzers raise them again",
            len(announced),
        )

    async def _housekeeping(self) -> None:
        """Every few seconds: repeats of firing alerts; every minute: retire vanished
        series and hand freed heap memory back (also once just after start-up)."""
        last_retire = last_kept = time.monotonic()
        first_round = True
        while True:
            await asyncio.sleep(REPEAT_CHECK_SECS)
            if first_round:  # start-up's garbage: configuration, dataclasses, first collections
                release_free_memory()
                first_round = False
            now = time.time()
            if not self.pipeline.holding:
                # A repeat now could overtake a RESOLVED waiting behind a held alert: "still
                # firing" stamped after its own end.  The hold is short: the next round.
                self.router.repeat_due(now)
                if self._look_for_unreported_at is not None and now >= self._look_for_unreported_at:
                    self._look_for_unreported_at = None
                    self._end_resume(now)
            self.check_channels(now)
            if self.logs is not None:
                self.logs.tick(now, functools.partial(link_read_up, self.store))
            self._retire_under_pressure(now)
            if time.monotonic() - last_retire < HOUSEKEEPING_SECS:
                continue
            last_retire = time.monotonic()
            if last_retire - last_kept >= tier_file.SAVE_EVERY_SECS:
                last_kept = last_retire
                self._keep_history_tier_now()
            release_free_memory()  # the minute's garbage
            longest = max(interval_of(self.settings, d) for d in DOMAINS)
            self._retire(self.store.stale_ids(now, max_age=max(10 * longest, 600.0)), now)
            self.router.forget_resolved(now)

    async def _keep_history_tier(self, at_stop: bool = False) -> None:
        """Write the history tier for the next start (agent/tier_file.py), within
        `TIER_KEEP_SECS`: a file system that hangs must not hang the stop.  At the stop,
        after a periodic save still under way; otherwise such a round is skipped."""
        path = tier_file.path_in(self.settings.agent.data_dir)
        kept = False
        try:
            kept = await asyncio.wait_for(
                tier_file.keep(
                    self.store,
                    path,
                    time.time(),
                    self._boot_id,
                    wait=at_stop,
                ),
                TIER_KEEP_SECS,
            )
            problem = "" if kept else "the store changed under every copy"
        except TimeoutError:
            problem = f"not written within {TIER_KEEP_SECS:g} s"
        except OSError as exc:
            problem = str(exc)
        except Exception as exc:  # a defect: said with its traceback, the agent goes on
            log.exception("keeping the history tier failed")
            problem = repr(exc)
        if problem and not self._tier_failed:  # once, until it works again (a full disk)
            log.warning("the history tier could not be kept for the next start: %s", problem)
        self._tier_failed = not kept

    def _warmable(self) -> list[Warmable]:
        return [a for a in self.analyzers if isinstance(a, Warmable)]

    def _warm_up(self, path: Path, running: set[str]) -> None:
        """The statistical analyzers go through the samples kept at the last stop or
        periodic save (agent/tier_file.py, `take_recent`), as they did then: a restart, an
        upgrade or a crash systemd restarted leaves them judging at once, not learning for
        another hour.  One that fails at it
        learns again (said, with the traceback: a defect)."""
        warmable = self._warmable()
        failed: list[Warmable] = []
        seen: set[int] = set()

        def replay(batch: Batch) -> None:
            seen.update(batch.ids.tolist())
            for analyzer in warmable:
                if analyzer not in failed:
                    try:
                        analyzer.warm_up(batch, self.store)
                    except Exception:
                        log.exception("%s could not go through the kept samples: it learns "
                                      "again", analyzer.name)  # fmt: skip
                        failed.append(analyzer)

        now = time.time()
        clocks: list[tier_file.SeriesClocks] = []
        tier_file.take_recent(self.store, path, now, replay, groups=running,
                              boot_id=self._boot_id, keep_clocks=clocks.append)  # fmt: skip
        for analyzer in warmable:
            if analyzer in failed:
                analyzer.forget(seen)
            else:
                analyzer.end_warm_up()
        # After the stretches the replay left are ended: a series the replay judged (its
        # ring longer than the learning time) is quiet as the last life left it.
        by_name = {analyzer.name: analyzer for analyzer in warmable if analyzer not in failed}
        for entry in clocks:
            owner, sid = by_name.get(entry.analyzer), self.store.find(entry.key)
            if owner is not None and sid is not None:
                try:
                    owner.keep_clocks(sid, entry.clocks, now)
                except Exception:  # a defect: said; the series goes on as the samples left it
                    log.exception("%s could not take back a series' clocks", owner.name)

    async def _keep_recent_samples(self, budget: float) -> None:
        """After the history tier: the raw tier of what the statistical analyzers watch,
        for the next start's `_warm_up`, within what is left of the history tier's
        `TIER_KEEP_SECS` (the stop as a whole stays within systemd's TimeoutStopSec,
        deliveries drained after it)."""
        warmable = self._warmable()
        if not warmable or self._tier_failed:  # a disk that failed or hung the history tier
            return
        if budget < MIN_KEEP_RECENT_SECS:
            log.warning("the last samples not kept for the next start: the history tier took "
                        "the time of both")  # fmt: skip
            return

        def wanted(key: SeriesKey) -> bool:
            return any(analyzer.watches(key) for analyzer in warmable)

        path = tier_file.recent_path_in(self.settings.agent.data_dir)
        now = time.time()
        try:
            clocks = self._series_clocks(warmable, now)
            await asyncio.wait_for(
                tier_file.keep_recent(self.store, path, now, self._boot_id, wanted, clocks),
                budget,
            )
        except TimeoutError:
            log.warning("the last samples could not be kept for the next start: not "
                        "written within %.1f s", budget)  # fmt: skip
        except OSError as exc:
            log.warning("the last samples could not be kept for the next start: %s", exc)
        except Exception:  # a defect: said with its traceback, the stop goes on
            log.exception("keeping the last samples failed")

    def _series_clocks(self, warmable: list[Warmable], now: float) -> list[tier_file.SeriesClocks]:
        """The analyzers' clocks (`analyzers.base.Clocks`), kept with the samples, which do
        not give them back: the cooldowns under way (a series that just ended an alert
        would be news again at once), since when each series was seen (a ring shorter
        than the learning time would start it again) and the range it held.  An analyzer
        that fails at it loses its own (said), not the samples."""
        kept = []
        for analyzer in warmable:
            try:
                kept += [tier_file.SeriesClocks(analyzer.name, self.store.key(sid), clocks)
                         for sid, clocks in analyzer.clocks(now).items()]  # fmt: skip
            except Exception:
                log.exception("%s: its clocks not kept for the next start", analyzer.name)
        return kept

    async def _keep_tiers(self, at_stop: bool = False) -> None:
        """The history tier, then the last samples, for the next start, both within
        `TIER_KEEP_SECS`: at the stop, and every `tier_file.SAVE_EVERY_SECS` for a start
        after a kill -9 (an OOM kill, the watchdog, a crash that systemd restarts)."""
        began = time.monotonic()
        await self._keep_history_tier(at_stop=at_stop)
        await self._keep_recent_samples(TIER_KEEP_SECS - (time.monotonic() - began))

    def _keep_history_tier_now(self) -> None:
        """The periodic save, as a task of its own (the housekeeping goes on), one at a time."""
        if self._tier_task is None or self._tier_task.done():
            self._tier_task = asyncio.get_running_loop().create_task(self._keep_tiers())

    def _end_resume(self, now: float) -> None:
        """A few collection rounds after a start with episodes taken back: what is not
        reported is gone, and what its analyzer can no longer judge (a rule removed while
        the agent was down) will never be raised again: both are resolved now."""
        unjudged: set[tuple[str, SeriesKey]] = set()
        for analyzer in self.analyzers:
            if isinstance(analyzer, Resumable):
                unjudged |= {(analyzer.name, key) for key in analyzer.end_resume()}

        def still_there(alert: Alert) -> bool:
            if alert.analyzer == LOG_ANALYZER:  # a log alert has no series: always there
                return True
            key = SeriesKey(alert.metric, alert.labels)
            return (alert.analyzer, key) not in unjudged and self.store.reported(key)

        self.router.resolve_unreported(still_there, now)

    def _retire(self, stale: list[int], now: float) -> None:
        if stale:
            for sid in stale:
                key = self.store.key(sid)
                # Read before the store forgets it: its RESOLVED says its last value and when.
                last = self.store.last_sample(sid)
                self.router.series_gone(key.metric, key.labels, now, last)
            for analyzer in self.analyzers:
                analyzer.forget(stale)
            self.store.retire(stale)

    def _retire_under_pressure(self, now: float) -> None:
        """Near a series cap, churn (interfaces renamed every tick) is retired after two of its
        collector's intervals, not ten minutes, so that real new series still find room."""
        crowded = self.store.under_pressure()
        if not crowded:
            return
        intervals = {d.name: interval_of(self.settings, d) for d in DOMAINS}
        longest = max(intervals.values())
        stale: list[int] = []
        for group in crowded:
            stale += self.store.stale_ids(now, 2 * intervals.get(group, longest), group)
        self._retire(stale, now)

    def check_channels(self, now: float) -> None:
        """A channel that keeps failing (dead, or a backlog that cannot go out) is announced elsewhere."""
        for worker in self.router.workers:
            failing = worker.dead is not None or worker.failing
            was = worker.name in self._failing_channels
            if failing == was:
                continue
            if failing:
                self._failing_channels.add(worker.name)
            else:
                self._failing_channels.discard(worker.name)
            reason = (
                worker.dead
                or f"{worker.pending} alert(s) waiting, the far side does not accept them"
            )
            if failing:
                message = f"alert channel {worker.name} is failing: {reason}"
            else:
                message = f"alert channel {worker.name} delivers again"
                log.info("%s", message)  # its failure was logged; so is its end
            self.router.route(
                Alert(
                    analyzer="agent", metric="agent_channel_failing", labels=(("channel", worker.name),),
                    status=Status.FIRING if failing else Status.RESOLVED, severity=Severity.CRITICAL,
                    value=float(failing), threshold=None, message=message, timestamp=now,
                )
            )  # fmt: skip

    # -- reload --------------------------------------------------------------------------

    async def reload(self) -> bool:
        """Apply the configuration file again; keep the running one if it is invalid."""
        if self.config_path is None:
            log.warning("reload requested, but the agent was not started from a file")
            return False
        async with self._reload_lock:
            self.notifier.reloading()
            try:
                loaded = load_config(self.config_path)
            except ConfigError as exc:
                return self.reload_refused("", exc.problems)
            for warning in loaded.warnings:
                log.warning("%s", warning)
            new = loaded.settings
            # The whole new runtime is built before anything of the running one stops: a
            # file that vanished or a channel that cannot be built leaves the agent as it was.
            try:
                rules, outbox, workers = self._build_for_reload(new)
            except Exception as exc:  # OSError, ssl.SSLError, ValueError from a channel
                return self.reload_refused(describe_build_error(exc, new))
            set_level(self.log_level_override or new.agent.log_level)
            await self.supervisor.stop(self._collector_tasks)
            later = restart_only_changes(self.settings, new)
            if later:
                log.warning(
                    "reload: %s changed, and apply in full only after a restart (systemctl "
                    "restart sysops-agent); the channels, alerting rules, thresholds, "
                    "collectors and log level apply now", ", ".join(later),
                )  # fmt: skip
            self.settings = new
            for analyzer in self.analyzers:
                if isinstance(analyzer, ThresholdAnalyzer):
                    analyzer.reconfigure(rules)
            timeout = new.agent.shutdown_timeout_secs
            await hand_over(self.router.workers, workers, self.outbox, outbox, timeout)
            self.outbox = outbox
            old = self.router.reconfigure(
                new.agent.hostname,
                workers,
                min_interval_secs=new.alerting.min_interval_secs,
                dedup_window_secs=new.alerting.dedup_window_secs,
                maintenance=maintenance_windows(new),
                inhibit_rules=inhibit_rules(new),
                episodes=episodes_of(outbox),
            )
            self._start_collectors()
            log.info("configuration reloaded from %s", self.config_path)
            self.notifier.ready(self.status_line())
        kept = {worker.name for worker in workers}
        removed = [worker for worker in old if worker.name not in kept]
        await let_go(removed, timeout, lambda: {w.name for w in self.router.workers})
        return True

    def _build_for_reload(
        self, new: Settings
    ) -> tuple[list[ThresholdRule], Outbox, list[ChannelWorker]]:
        """Rules, outbox and (unstarted) workers of `new`; raises, leaving nothing half-made."""
        rules = threshold_rules(new)
        channels = self._share_nats(build_channels(new))
        outbox = self.outbox
        if isinstance(outbox, MemoryOutbox) and needs_durable_outbox(new, channels):
            outbox = open_outbox(new, channels)  # a remote channel was added
        running = self.router.workers[0].undelivered if self.router.workers else None
        return rules, outbox, build_workers(new, channels, outbox, running)


def link_read_up(store: Store, interface: str, since: float) -> bool:
    """Whether the network collector's last two readings of `interface`, both stored
    `LINK_SETTLE_SECS` after `since`, say its link is up.  Two: a collection runs on its own
    thread, so one reading may have been taken just before the link went down and stored
    just after the line saying so was read; the next one began after it was stored.  The
    margin: the kernel updates `operstate` (linkwatch) up to a second after the carrier
    changed and the driver printed it."""
    series = store.find(SeriesKey(LINK_STATE_METRIC, (("interface", interface),)))
    if series is None:
        return False  # not collected (excluded, summed into a family): the line decides
    times, values = store.window(series, last=2)
    return (
        len(times) == 2
        and bool(times[0] > since + LINK_SETTLE_SECS)
        and bool(np.all(values == 1.0))
    )


def episodes_of(outbox: Outbox) -> Outbox | None:
    """Where the router keeps its open episodes: the durable outbox only.  In memory (the
    console alone, the embedded default) nothing survives a restart anyway, and keeping
    them would be a write per notification and a copy of every firing alert for nothing."""
    return None if isinstance(outbox, MemoryOutbox) else outbox


def describe_build_error(exc: BaseException, settings: Settings) -> str:
    """An error from building channels, naming the file: OpenSSL's errors name none."""
    problems = runtime_file_problems(settings)
    if problems:
        return "; ".join(problems)
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"
