"""`sysops-fleet run`: the long-running watcher.

Every instance subscribes to the heartbeats (core NATS, `{prefix}.*.heartbeat`) and
judges them (fleet/hosts.py), so that whichever takes over has fresh state.  Only the
leader (fleet/leader.py) acts: it writes the host records, sends the alerts and feeds
the CMDB.  A judge tick (`TICK_SECS`, shorter for hosts with short intervals) looks at the
hosts whose check is due; a heartbeat costs a JSON decode and a dict update, never a
JetStream write.  An inventory whose content_hash is the one stored is acknowledged
without being decoded (fleet/inventory.py).

Exactly once across instances: a transition (an alert firing or resolving) is done by
the leader in three steps on the host's record, each a compare-and-set on the record's
revision:

1. **claim**: the record with `pending = {status, metric, at}` (what is about to be
   announced, with its timestamp `at`);
2. **route** the alert, timestamped `at`, into the channels (durable outbox);
3. **settle**: the record with `pending = null` and `alerted`/`alert` as they now are, and
   `muted` if the router muted it (a silence here): nobody has been told, so a next leader
   announces it when nothing mutes it there, instead of taking it as told.

Claim first, because the claim is the fence: of two instances that both believe they
lead (a paused leader waking up), only one wins the compare-and-set, and the loser
routes nothing, so the same transition is never announced by two instances.  The
compare-and-set alone misses a leader that paused longer than the lease and wakes on a
record the new leader has not rewritten: so right before a claim the leader reads the
lease key again (`Lease.confirm`), and every `RESYNC_SECS` it reads the records back and
acts again on those that disagree with its judgment.  A crash
between 1 and 2 would lose the alert if nothing else happened; a crash between 2 and 3
would send it twice.  Both are closed by the next leader, which finds the record still
pending and routes the pending alert again with the same timestamp `at`: so the same
`id` and `alert_id` (both derive from the fingerprint and the timestamp), which a
receiver already uses to drop a redelivery.  A duplicate (only in the 2-3 window,
milliseconds) carries the id of the first.  Routing before writing instead would have
no fence: a deposed leader would announce, and its failed write afterwards would come
too late.

What is guaranteed, exactly: a claimed transition is routed by the instance that claimed
it or, if that one dies before settling, by the next leader.  Once routed it sits in the
routing instance's durable outbox (`data_dir`) until each channel took it.  If that
instance's machine dies for good with the alert still in its outbox (a webhook slow or
down at that moment) and the record already settled, no other instance sends it: it is
delivered when that instance starts again on the same `data_dir`.  So put `data_dir` on
storage that survives the machine, or accept that window (docs/DEPLOYMENT.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alerting import assembly
from alerting.alert import Alert, Severity, Status
from alerting.channels.nats import NatsConnection, connection_from, describe, subject_token
from alerting.delivery import ChannelWorker, drain_and_stop, hand_over, let_go
from alerting.format import when
from alerting.outbox import MemoryOutbox, Outbox
from alerting.router import Router
from common import __version__
from common.config import ConfigError
from common.logsetup import set_level
from common.notify import Notifier
from common.runner import Supervisor
from common.service import SignalRequests
from common.text import single_line
from fleet import store
from fleet.cmdb import change_alert
from fleet.config import LoadedConfig, load_config
from fleet.hosts import (
    MASS_LISTED,
    MASS_METRIC,
    SILENT,
    SILENT_METRIC,
    STOPPED_METRIC,
    Host,
    Judge,
    MassEpisode,
)
from fleet.inventory import Cmdb
from fleet.leader import Lease
from fleet.settings import CHANNELS, FleetSettings

log = logging.getLogger(__name__)

TICK_SECS = 1.0
MIN_TICK_SECS = 0.1
CMDB_BATCH = 64
WRITE_CONCURRENCY = 32  # host records written at once by the leader
# The leader reads the host records back this often and corrects those that disagree
# with its judgment (written behind its back, e.g. by a leader that paused too long).
RESYNC_SECS = 300.0
REPEAT_CHECK_SECS = 5.0
# The watcher's router holds no resolve (the agent's router holds a flapping alert's
# resolve for `dedup_window_secs`): the host record says "resolved" as soon as the
# resolve is routed, and a held one would be lost at a takeover (the new leader reads
# the record).  A host flapping silent/back is folded anyway: each silence takes
# `silent_after_intervals` intervals to be judged.
FLEET_DEDUP_WINDOW_SECS = 0.0
# At a stop, pending deliveries get this long (the rest stays in the outbox).
SHUTDOWN_SECS = 10.0
NATS_LOST_METRIC = "fleet_nats_unreachable"


class Conflict(Exception):
    """A record changed under us (another instance wrote it): re-read, do not act."""


def make_cmdb(js: Any, settings: FleetSettings) -> Cmdb:
    """The CMDB on this connection, with the subjects' prefix of `[nats]`."""
    return Cmdb(js, settings.fleet, store.Names.of(settings).prefix)


class Watcher(SignalRequests):
    """One `run` instance: the connection, the judge, the lease, the router and its
    channels; acting (records, alerts, CMDB) only while it holds the lease."""

    def __init__(
        self,
        loaded: LoadedConfig,
        config_path: str | None = None,
        log_level_override: str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = loaded.settings
        self.config_path = config_path
        self.log_level_override = log_level_override
        self.clock, self.wall = clock, wall
        self.names = store.Names.of(self.settings)
        Path(self.settings.fleet.data_dir).mkdir(mode=0o750, parents=True, exist_ok=True)
        self.nats: NatsConnection = connection_from(
            self.settings.nats, name=f"sysops-fleet {self.settings.fleet.instance}"
        )
        self.judge = Judge(self.settings.fleet, clock())
        self.outbox, self.workers = self._build_workers(self.settings)
        self.router = self._new_router()
        self.lease: Lease | None = None
        self.leading = False
        self.records: dict[str, tuple[int, dict[str, Any]]] = {}
        self.notifier = Notifier()
        self.cmdb_factory = make_cmdb
        self._js: Any = None
        self._hosts_kv: Any = None
        self._reconnects = 0
        self._stopping = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self.supervisor = Supervisor()
        self._background: set[asyncio.Task[Any]] = set()
        self.heartbeats_received = 0
        self._writes = 0  # to the hosts bucket since the last read-back (_resync)
        self._resync_seen: int | None = None  # its stream's last sequence then
        self._nats_lost: tuple[float, float] | None = None  # since when (monotonic, wall)
        self._nats_lost_told: Alert | None = None  # its FIRING, while it is not resolved
        self.refused = store.Throttled()  # payloads refused (too big, not ours, not JSON)
        self.cmdb_errors = store.Throttled()
        for warning in loaded.warnings:
            log.warning("%s", warning)

    # -- building ---------------------------------------------------------------------

    def _build_workers(
        self, settings: FleetSettings, running: Watcher | None = None
    ) -> tuple[Outbox, list[ChannelWorker]]:
        """The outbox and (unstarted) workers of `settings`; for a reload (`running`), the
        running outbox unless it is in memory and a channel now needs a durable one."""
        channels = assembly.build_channels(
            settings, CHANNELS, f"sysops-fleet/{__version__}", settings.fleet.instance
        )
        if running is not None and not (
            isinstance(running.outbox, MemoryOutbox)
            and assembly.needs_durable_outbox(settings.alerting, channels)
        ):
            outbox = running.outbox
        else:
            outbox = assembly.open_outbox(settings.alerting, settings.fleet.data_dir, channels)
        undelivered = running.workers[0].undelivered if running and running.workers else None
        return outbox, assembly.build_workers(settings.alerting, channels, outbox, undelivered)

    def _new_router(self) -> Router:
        a = self.settings.alerting
        return Router(
            self.settings.fleet.instance,
            self.workers,
            min_interval_secs=a.min_interval_secs,
            dedup_window_secs=FLEET_DEDUP_WINDOW_SECS,
            silences=assembly.silence_file(self.settings.fleet.data_dir),
            maintenance=assembly.maintenance_windows(a),
            inhibit_rules=assembly.inhibit_rules(a),
        )

    # -- life cycle -------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        for worker in self.workers:
            worker.start()
        try:
            if not await self._connect():
                return await self._finish(0)
        except Exception as exc:  # the streams or buckets cannot be made (permissions)
            log.critical("cannot start: %s", store.explain(exc))
            return await self._finish(1)
        self.notifier.ready(self.status_line())
        log.info(
            "sysops-fleet %s started as %s: %d host(s) known; channels %s",
            __version__, self.settings.fleet.instance, len(self.judge.hosts),
            ", ".join(w.name for w in self.workers) or "none",
        )  # fmt: skip
        self.supervisor.spawn("judge", self._judge_loop)
        self.supervisor.spawn("lease", self._lease_loop)
        self.supervisor.spawn("cmdb", self._cmdb_loop)
        if self.notifier.enabled:
            self.supervisor.spawn("systemd", self._systemd)
        await self._stopping.wait()
        return await self._finish(0)

    async def _connect(self) -> bool:
        """Connect (retrying until stopped), make the streams and buckets, read what they
        hold, subscribe.  False if a stop came first."""
        delay = self.settings.nats.reconnect_delay_secs
        while not self._stopping.is_set():
            try:
                client = await self.nats.get()
                break
            except Exception as exc:
                log.warning("cannot connect to NATS (%s); retrying in %g s",
                            describe(exc, self.nats.timeout), delay)  # fmt: skip
                self._watch_nats(False, describe(exc, self.nats.timeout))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
        else:
            return False
        self._js = client.jetstream()
        await store.ensure(self._js, self.settings)
        self._hosts_kv = await self._js.key_value(self.names.hosts_bucket)
        self.lease = Lease(
            await self._js.key_value(self.names.leader_bucket),
            self.settings.fleet.instance, self.settings.fleet.lease_secs, self.clock, self.wall,
        )  # fmt: skip
        await client.subscribe(self.names.heartbeat_subjects, cb=self._on_heartbeat)
        await client.flush(timeout=self.nats.timeout)
        self._reconnects = int(client.stats.get("reconnects", 0))
        self.judge.connection_back(self.clock())  # silence counts from now at the earliest
        await self._seed()
        return True

    async def _seed(self) -> None:
        """What the streams and the bucket know: hosts heard before this start."""
        self.records = await store.records(self._js, self.names.hosts_bucket)
        now, wall = self.clock(), self.wall()
        for document, stored in await store.heartbeats(self._js, self.settings):
            host = self.judge.hosts.get(subject_token(str(document.get("hostname", ""))))
            if host is not None and host.seen_wall >= stored:
                continue  # heard live already
            seen = now - max(0.0, wall - stored)
            restored = self.judge.beat(document, seen, stored)
            if restored is not None:
                self._restore(restored)
        mass = self.records.get(store.MASS_KEY)
        if mass is not None and mass[1].get("alerted"):
            members = {h.token for h in self.judge.hosts.values() if h.mass and h.status == SILENT}
            since = store.epoch_of(mass[1].get("since")) or wall
            watched = int(mass[1].get("watched") or len(self.judge.hosts))
            self.judge.mass = MassEpisode(since, members, watched, grown=now)
        self._hold_orphans(now)
        self.judge.take_dirty()

    def _hold_orphans(self, now: float) -> None:
        """Hosts recorded silent within a fleet-wide episode that is over (a restart just
        after it ended): held, then announced alone if still silent, as at the episode's
        end (else nothing would ever announce them)."""
        episode = self.judge.mass
        for host in self.judge.hosts.values():
            orphan = episode is None or host.token not in episode.members
            if host.mass and host.status == SILENT and orphan and host.held_until is None:
                self.judge.hold(host, now)

    def _restore(self, host: Host) -> None:
        """A judgment the leader recorded, for a host not heard since: kept."""
        entry = self.records.get(host.token)
        if entry is None:
            return
        record = entry[1]
        last = store.epoch_of(record.get("last_heartbeat")) or 0.0
        # The leader's time of the heartbeat and the stream's differ by milliseconds; a
        # heartbeat after a silence comes intervals later.
        if (
            record.get("status") in (SILENT, "stopped")
            and last >= host.seen_wall - host.interval / 2
        ):
            host.status = str(record["status"])
            host.since_wall = store.epoch_of(record.get("since")) or host.since_wall
            host.silent_from_wall = store.epoch_of(record.get("silent_from"))
            host.mass = bool(record.get("mass"))
            host.announced = record.get("alert") == STOPPED_METRIC

    async def _finish(self, code: int) -> int:
        await self.supervisor.stop()
        for task in list(self._background):
            task.cancel()
        if self.lease is not None and self.nats.connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.lease.release(), 2.0)
        await drain_and_stop(self.router.workers, SHUTDOWN_SECS)
        await self.nats.close()
        log.info("stopped")
        return code

    # -- heartbeats -------------------------------------------------------------------

    async def _on_heartbeat(self, msg: Any) -> None:
        token = store.subject_host(msg.subject, self.names.prefix, "heartbeat")
        document, problem = store.parse(msg.data, msg.headers, store.MAX_HEARTBEAT_BYTES)
        known = self.judge.hosts.get(token) if token is not None else None
        if problem is None and document is not None and known is not None:
            if document.get("hostname") != known.hostname:  # else checked when first heard
                problem = store.refusal(document, token)
        else:
            problem = problem or store.refusal(document, token)
        if problem is not None or document is None:
            self.refused.warn(log, "refused a heartbeat on %s: %s",
                              single_line(msg.subject, 120), problem)  # fmt: skip
            return
        self.heartbeats_received += 1
        self.judge.beat(document, self.clock(), self.wall(), token)

    # -- the judge --------------------------------------------------------------------

    def tick_secs(self) -> float:
        shortest = self.judge.shortest  # of every host heard (one forgotten since too)
        return max(MIN_TICK_SECS, min(TICK_SECS, shortest / 4))

    def _watch_nats(self, connected: bool, problem: str = "") -> None:
        """A watcher that cannot reach NATS watches no host, and only its log said so: a
        wrong URL at start, or the server gone, left the fleet unwatched with no one told.
        After `nats_lost_alert_secs` it is one critical alert through this instance's own
        channels (which need no NATS), resolved when the connection is back."""
        instance = self.settings.fleet.instance
        if connected:
            if self._nats_lost_told is not None and self._nats_lost is not None:
                lasted = self.clock() - self._nats_lost[0]
                self.router.route(self._nats_alert(Status.RESOLVED, lasted,
                    f"fleet watcher {instance} reaches NATS again after {lasted:.0f} s; hosts are "
                    "judged again after their silence period"))  # fmt: skip
            self._nats_lost, self._nats_lost_told = None, None
            return
        if self._nats_lost is None:
            self._nats_lost = (self.clock(), self.wall())
        since, since_wall = self._nats_lost
        lasted = self.clock() - since
        if self._nats_lost_told is None and lasted >= self.settings.fleet.nats_lost_alert_secs:
            cause = problem or self.nats.problem or "the connection is lost"
            self._nats_lost_told = self._nats_alert(Status.FIRING, lasted,
                f"fleet watcher {instance} cannot reach NATS since {when(since_wall)} ({cause}): "
                "no host is watched until it is back")  # fmt: skip
            self.router.route(self._nats_lost_told)

    def _nats_alert(self, status: Status, lasted: float, message: str) -> Alert:
        return Alert(
            analyzer="fleet", metric=NATS_LOST_METRIC,
            labels=(("instance", self.settings.fleet.instance),), status=status,
            severity=Severity.CRITICAL, value=lasted, threshold=None, message=message,
            timestamp=self.wall(), hostname=self.settings.fleet.instance,
        )  # fmt: skip

    def _watch_connection(self) -> None:
        client = self.nats.client
        connected = self.nats.connected
        self._watch_nats(connected)
        if not connected:
            if self.judge.connected:
                log.warning("NATS connection lost: no host is judged until it is back")
            self.judge.connection_lost()
            return
        reconnects = int(client.stats.get("reconnects", 0))
        if not self.judge.connected or reconnects != self._reconnects:
            self._reconnects = reconnects
            self.judge.connection_back(self.clock())
            log.info("NATS connection back: hosts are judged again after their silence period")

    async def _judge_loop(self) -> None:
        last_repeat = last_resync = self.clock()
        while not self._stopping.is_set():  # a library may swallow a cancel
            self._watch_connection()
            self.judge.tick(self.clock(), self.wall())
            leading = self.leading and self.lease is not None and self.lease.is_leader()
            if leading and self.nats.connected:
                if self.clock() - last_resync >= RESYNC_SECS:
                    last_resync = self.clock()
                    await self._resync()
                await self._act()
                if self.clock() - last_repeat >= REPEAT_CHECK_SECS:
                    last_repeat = self.clock()
                    self._note_told(self.router.repeat_due(self.wall()))
                    self.router.forget_resolved(self.wall())
            elif not leading:  # the leader acts on these; at a takeover, on all of them
                self.judge.take_dirty()
                self.judge.mass_dirty = False
            await asyncio.sleep(self.tick_secs())

    async def _lease_loop(self) -> None:
        lease = self.lease
        if lease is None:  # _connect made it
            return
        while not self._stopping.is_set():  # a library may swallow a cancel
            try:
                leading = await asyncio.wait_for(lease.step(), max(1.0, lease.period))
            except Exception as exc:
                log.warning("leader lease: %s", describe(exc))
                leading = lease.is_leader()
            if leading and not self.leading:
                try:
                    await self._take_over()
                except Exception as exc:
                    log.warning("taking over failed (%s); retrying", describe(exc))
                    leading = False
            elif not leading and self.leading:
                log.warning("%s is no longer the leader", self.settings.fleet.instance)
            if leading != self.leading and self.notifier.enabled:  # else every 10 s (_systemd)
                self.leading = leading
                self.notifier.status(self.status_line())
            self.leading = leading
            await asyncio.sleep(lease.period)

    async def _take_over(self) -> None:
        """Becoming leader: the records as they are now, a router that knows which alerts
        fire, and every host to be checked against its record."""
        self.records = await store.records(self._js, self.names.hosts_bucket)
        self._resync_seen = None  # the first read-back reads them all
        now, wall = self.clock(), self.wall()
        for token, (_, record) in self.records.items():
            if token != store.MASS_KEY and token not in self.judge.hosts:
                self._adopt_host(token, record, now, wall)
        self._hold_orphans(now)
        self.router = self._new_router()
        if self._nats_lost_told is not None:  # its resolve may come after this takeover
            self.router.adopt(self._nats_lost_told, wall)
        for token, (_, record) in self.records.items():
            if record.get("alerted") and record.get("alert"):
                alert = self._alert(token, record, str(record["alert"]))
                self.router.adopt(alert, wall, muted=bool(record.get("muted")))
        self.judge.dirty |= set(self.judge.hosts) | set(self.records)
        self.judge.mass_dirty = True
        log.info("leading: %d host(s), %d record(s)", len(self.judge.hosts), len(self.records))

    def _adopt_host(self, token: str, record: dict[str, Any], now: float, wall: float) -> None:
        """A host in the records and in no heartbeat (the stream lost it): as recorded."""
        last = store.epoch_of(record.get("last_heartbeat")) or wall
        document = {k: record.get(k) for k in ("hostname", "heartbeat_interval_secs",
                                               "agent_version", "uptime_secs", "reasons")}  # fmt: skip
        document["status"] = "stopping" if record.get("status") == "stopped" else "healthy"
        host = self.judge.beat(document, now - max(0.0, wall - last), last)
        if host is not None and host.token == token:
            self._restore(host)

    # -- acting (the leader) ------------------------------------------------------------

    async def _act(self) -> None:
        """Record (and announce) the dirty hosts, `WRITE_CONCURRENCY` at a time."""
        dirty = self.judge.take_dirty()
        pending = iter(sorted(dirty))

        async def worker() -> None:
            for token in pending:
                if not self._leads():
                    self.judge.dirty.add(token)
                    continue
                try:
                    await self._reconcile(token)
                except Conflict:
                    self.judge.dirty.add(token)
                    await self._reread(token)
                except Exception as exc:  # NATS away: tried again at the next tick
                    self.judge.dirty.add(token)
                    log.warning("recording %s failed: %s", token, describe(exc))

        if dirty:
            await asyncio.gather(*(worker() for _ in range(min(WRITE_CONCURRENCY, len(dirty)))))
        if self.judge.mass_dirty:
            self.judge.mass_dirty = False
            try:
                await self._reconcile_mass()
            except Conflict:
                self.judge.mass_dirty = True
                await self._reread(store.MASS_KEY)
            except Exception as exc:
                self.judge.mass_dirty = True
                log.warning("recording the fleet-wide silence failed: %s", describe(exc))

    async def _resync(self) -> None:
        """Read every record back; a host whose record disagrees with the judgment (its
        status, episode or alert) is acted on again.

        Only if someone else wrote the bucket since the last read-back: its stream's last
        sequence then moved by more than this leader's own writes (one request; reading
        10,000 records costs a second of CPU).
        """
        try:
            info = await self._js.stream_info(f"KV_{self.names.hosts_bucket}")
            last = int(info.state.last_seq)
            if self._resync_seen is not None and last == self._resync_seen + self._writes:
                self._resync_seen, self._writes = last, 0
                return
            records = await store.records(self._js, self.names.hosts_bucket)
        except Exception as exc:
            log.warning("reading the host records back failed: %s", describe(exc))
            return
        self._resync_seen, self._writes = last, 0  # (nothing else writes meanwhile: _act)
        self.records = records
        for token, host in self.judge.hosts.items():
            record = records.get(token)
            current = record[1].get("alert") if record and record[1].get("alerted") else None
            if (
                record is None
                or record[1].get("pending")
                or record[1].get("status") != host.status
                or bool(record[1].get("mass")) != host.mass
                or (current != host.alert_metric() and not (host.mass and current))
            ):
                self.judge.dirty.add(token)
        self.judge.dirty |= set(records) - set(self.judge.hosts) - {store.MASS_KEY}
        self.judge.mass_dirty = True

    async def _reread(self, key: str) -> None:
        from nats.js.errors import KeyNotFoundError

        try:
            entry = await self._hosts_kv.get(key)
        except KeyNotFoundError:
            self.records.pop(key, None)
            return
        except Exception:  # tried again at the next tick
            return
        self.records[key] = (entry.revision, json.loads(entry.value))

    async def _write(self, key: str, record: dict[str, Any] | None) -> None:
        """Compare-and-set `record` (None: delete) over the revision we know."""
        from nats.js.errors import KeyWrongLastSequenceError

        revision = self.records[key][0] if key in self.records else None
        try:
            if record is None:
                if revision is not None:
                    await self._hosts_kv.delete(key, last=revision)
                    self._writes += 1
                self.records.pop(key, None)
                return
            body = json.dumps(record, separators=(",", ":")).encode()
            if revision is None:
                new = await self._hosts_kv.create(key, body)
            else:
                new = await self._hosts_kv.update(key, body, last=revision)
        except KeyWrongLastSequenceError:
            raise Conflict(key) from None
        self._writes += 1
        self.records[key] = (new, record)

    async def _transition(
        self, key: str, record: dict[str, Any], status: Status, metric: str, at: float
    ) -> None:
        """Claim, route, settle (see the module's docstring)."""
        claimed = {**record, "pending": {"status": status.value, "metric": metric, "at": at}}
        # The fence's other half: a leader that paused longer than the lease may find a
        # record the new leader has not rewritten; the lease key tells it apart.
        if self.lease is None or not await self.lease.confirm():
            raise Conflict(key)
        await self._write(key, claimed)
        told = self._route(key, claimed, status, metric, at)
        await self._settle(key, claimed, told)

    def _route(
        self, key: str, record: dict[str, Any], status: Status, metric: str, at: float
    ) -> bool:
        """Route the transition; whether it was told (not muted by a silence)."""
        if status is Status.RESOLVED:  # perhaps fired by the previous leader: known as firing
            muted = bool(record.get("muted"))  # ... and muted there: its end is not news
            self.router.adopt(self._alert(key, record, metric), at, muted=muted)
        return self.router.route(self._alert(key, record, metric, status, at)) is not None

    async def _settle(self, key: str, claimed: dict[str, Any], told: bool) -> None:
        """The record as the transition left it.  `muted`: fired, but nobody was told, so a
        next leader announces it when nothing mutes it there (not adopted as told)."""
        pending = claimed["pending"]
        firing = pending["status"] != Status.RESOLVED.value
        settled = {**claimed, "pending": None, "alerted": firing,
                   "alert": pending["metric"] if firing else None,
                   "alert_since": pending["at"] if firing else None,
                   "muted": firing and not told}  # fmt: skip
        await self._write(key, settled)

    async def _finish_pending(self, key: str) -> None:
        """A claim the previous leader made and did not settle: routed again, same timestamp."""
        record = self.records[key][1]
        pending = record["pending"]
        status = Status(pending["status"])
        log.info("%s: finishing the previous leader's %s of %s", key, status.value,
                 pending["metric"])  # fmt: skip
        told = self._route(key, record, status, str(pending["metric"]), float(pending["at"]))
        await self._settle(key, record, told)

    async def _reconcile(self, token: str) -> None:
        if token in self.records and self.records[token][1].get("pending"):
            await self._finish_pending(token)
        host = self.judge.hosts.get(token)
        record = self.records[token][1] if token in self.records else None
        current = str(record["alert"]) if record and record.get("alerted") else None
        desired = host.alert_metric() if host is not None else None
        if host is not None and host.mass and current == SILENT_METRIC:
            desired = current  # announced on its own before the episode: it stays
        wall = self.wall()
        if host is None:  # forgotten
            if record is not None and current is not None:
                gone = {**record, "status": "forgotten"}
                await self._transition(token, gone, Status.RESOLVED, current, wall)
            await self._write(token, None)
            return
        base = store.host_record(
            host,
            current,
            record.get("alert_since") if record else None,
            self._still_muted(token, record),
        )
        if current is not None and current != desired:
            await self._transition(token, base, Status.RESOLVED, current, wall)
            base = {**base, "alerted": False, "alert": None, "alert_since": None, "muted": False}
            if desired is None:
                return
        if desired is not None and desired != current:
            await self._transition(token, base, Status.FIRING, desired, wall)
            return
        if (
            record is None
            or any(record.get(k) != base[k] for k in ("status", "mass", "alert"))
            or record.get("muted", False) != base["muted"]  # (records before it had none)
        ):
            await self._write(token, base)

    async def _reconcile_mass(self) -> None:
        key = store.MASS_KEY
        if key in self.records and self.records[key][1].get("pending"):
            await self._finish_pending(key)
        record = self.records[key][1] if key in self.records else None
        firing = bool(record and record.get("alerted"))
        members = self.judge.silent_members()
        episode = self.judge.mass
        base: dict[str, Any] = {
            "hostname": "",
            "status": "mass_silence" if episode else "healthy",
            "since": store.iso(episode.since_wall if episode else self.wall()),
            "silent": len(members),
            "watched": episode.watched if episode else len(self.judge.hosts),
            "hosts": [h.hostname for h in members[:MASS_LISTED]],
            "alerted": firing,
            "alert": MASS_METRIC if firing else None,
            "alert_since": record.get("alert_since") if record and firing else None,
            "muted": self._still_muted(key, record),
            "pending": None,
        }
        if episode is not None and not firing:
            await self._transition(key, base, Status.FIRING, MASS_METRIC, self.wall())
        elif episode is None and firing:
            await self._transition(key, base, Status.RESOLVED, MASS_METRIC, self.wall())
        elif (
            episode is not None
            and record is not None
            and (
                record.get("silent") != len(members) or record.get("muted", False) != base["muted"]
            )
        ):
            await self._write(key, {**record, **{k: base[k] for k in ("silent", "hosts", "muted")}})

    def _still_muted(self, key: str, record: dict[str, Any] | None) -> bool:
        """Whether the record's firing alert is still untold: as this leader's router has it
        (a silence here may have ended and the alert been announced), else as recorded."""
        if not record or not record.get("alerted") or not record.get("alert"):
            return False
        here = self.router.muted(self._alert(key, record, str(record["alert"])).fingerprint)
        return bool(record.get("muted")) if here is None else here

    def _note_told(self, sent: list[Alert]) -> None:
        """Alerts this leader just announced that the records still have as muted (their
        mute ended here): recorded at the next act, so that a next leader does not
        announce them again."""
        told = {alert.fingerprint for alert in sent if alert.status is Status.FIRING}
        for key, (_, record) in self.records.items() if told else ():
            if not record.get("muted") or not record.get("alert"):
                continue
            if self._alert(key, record, str(record["alert"])).fingerprint in told:
                if key == store.MASS_KEY:
                    self.judge.mass_dirty = True
                else:
                    self.judge.dirty.add(key)

    # -- alerts -----------------------------------------------------------------------------

    def _alert(
        self,
        key: str,
        record: dict[str, Any],
        metric: str,
        status: Status = Status.FIRING,
        at: float | None = None,
    ) -> Alert:
        """The alert `metric` about `record`, as any instance would build it from the record."""
        f = self.settings.fleet
        timestamp = at if at is not None else float(record.get("alert_since") or self.wall())
        if metric == MASS_METRIC:
            named = ", ".join(record.get("hosts") or [])
            more = max(0, int(record.get("silent") or 0) - len(record.get("hosts") or []))
            silent, watched = int(record.get("silent") or 0), int(record.get("watched") or 0)
            message = (
                f"{silent} of {watched} hosts went silent together (a network or NATS problem, "
                f"not {silent} host failures): {named}" + (f" (+{more} more)" if more else "")
                if status is not Status.RESOLVED
                else "the fleet-wide silence is over (hosts still silent are announced one by one)"
            )
            return Alert(
                analyzer="fleet", metric=MASS_METRIC, labels=(), status=status,
                severity=Severity.parse(f.silent_severity), value=float(silent),
                threshold=float(watched) * f.mass_silence_fraction, message=message,
                timestamp=timestamp, context={"silent": silent, "watched": watched, "hosts": named},
            )  # fmt: skip
        hostname = str(record.get("hostname") or key)
        interval = float(record.get("heartbeat_interval_secs") or f.default_heartbeat_interval_secs)
        last = record.get("silent_from") or record.get("last_heartbeat")
        reasons = "; ".join(record.get("reasons") or [])
        context: dict[str, Any] = {"last_heartbeat": last, "heartbeat_interval_secs": interval}
        stopped = metric == STOPPED_METRIC
        if stopped:
            severity = "info" if f.stopped_severity == "none" else f.stopped_severity
            message = f"{hostname}: its agent stopped cleanly at {last} and has not come back"
        else:
            severity = f.silent_severity
            message = (
                f"{hostname} is silent: no heartbeat since {last} "
                f"({f.silent_after_intervals:g} x its {interval:g} s interval)"
                + (f"; it was degraded: {reasons}" if reasons else "")
            )
        if status is Status.RESOLVED and record.get("status") == "forgotten":
            days = f"{f.forget_after_days:g} days"
            message = f"{hostname}: no longer watched ({'stopped' if stopped else 'silent'} {days})"
        elif status is Status.RESOLVED:
            outage, rebooted = record.get("outage_secs"), record.get("rebooted")
            context.update(outage_secs=outage, rebooted=rebooted)
            what = "its agent is back" if stopped else "back"
            message = (
                f"{hostname}: {what} after {outage:g} s"
                if isinstance(outage, int | float)
                else f"{hostname}: {what}"
            ) + (", rebooted" if rebooted else ", not rebooted" if rebooted is False else "")
        return Alert(
            analyzer="fleet", metric=metric, labels=(("host", hostname),), status=status,
            severity=Severity.parse(severity), value=float(f.silent_after_intervals * interval),
            threshold=None, message=message, timestamp=timestamp, hostname=hostname,
            context=context,
        )  # fmt: skip

    # -- the CMDB (leader only) -----------------------------------------------------------

    async def _cmdb_loop(self) -> None:
        """While leading: the inventories, through one durable pull consumer, into the CMDB;
        each acknowledged once stored, so a takeover neither loses nor repeats one."""
        made = None
        subscription: Any = None
        try:
            while not self._stopping.is_set():  # a library may swallow a cancel
                if not self._leads():
                    if made is not None:
                        made.forget()  # another instance may write the bucket now
                    await asyncio.sleep(self.lease.period if self.lease else 1.0)
                    continue
                if made is None:
                    made = self.cmdb_factory(self._js, self.settings)
                    await made.ensure()
                if subscription is None:
                    stream = await store.covering_stream(
                        self._js, self.names.inventory_stream, self.names.inventory_subjects
                    )
                    if stream is None:
                        self.cmdb_errors.warn(log, "CMDB: no stream holds %s",
                                              self.names.inventory_subjects)  # fmt: skip
                        await asyncio.sleep(self.lease.period if self.lease else 1.0)
                        continue
                    subscription = await self._js.pull_subscribe(
                        self.names.inventory_subjects, durable=self.names.cmdb_durable,
                        stream=stream,
                    )  # fmt: skip
                try:
                    messages = await subscription.fetch(CMDB_BATCH, timeout=1.0)
                except TimeoutError:  # nothing new
                    continue
                except Exception as exc:  # NATS away, the consumer deleted...: made again
                    self.cmdb_errors.warn(log, "CMDB fetch: %s (subscribing again)", describe(exc))
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(subscription.unsubscribe(), 1.0)
                    subscription = None
                    await asyncio.sleep(1.0)
                    continue
                for msg in messages:
                    # Not leading any more: the rest is left unacknowledged, for the next
                    # leader (stored and acknowledged here, its change alert would be lost).
                    if not self._leads():
                        break
                    await self._ingest(made, msg)
        finally:
            # Left subscribed, the connection's drain at stop would wait its full timeout
            # on this subscription's queue, which nothing reads any more.
            if subscription is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(subscription.unsubscribe(), 1.0)

    def _leads(self) -> bool:
        return self.leading and self.lease is not None and self.lease.is_leader()

    async def _ingest(self, cmdb: Cmdb, msg: Any) -> None:
        token = store.subject_host(msg.subject, self.names.prefix, "inventory")
        raw, problem = store.payload(msg.data, msg.headers, store.MAX_INVENTORY_BYTES)
        # The common case, an inventory with the content stored already: not even decoded
        # (the host's own subject; the hash was stored from a document checked in full).
        stored = (
            raw is not None
            and token is not None
            and cmdb.unchanged(token, store.content_hash_of(raw))
        )
        if stored:
            await msg.ack()
            return
        document, problem = store.parse_json(raw) if raw is not None else (None, problem)
        problem = problem or store.refusal(document, token)
        if problem is not None or document is None or token is None:
            self.refused.warn(log, "refused an inventory on %s: %s",
                              single_line(msg.subject, 120), problem)  # fmt: skip
            await msg.term()  # never valid: not delivered again
            return
        if cmdb.unchanged(token, document):  # the common case: the content stored already
            await msg.ack()
            return
        try:
            changes = await cmdb.ingest(document)
        except Exception as exc:  # not acknowledged: delivered again after the ack wait
            log.warning("CMDB: storing the inventory of %s failed: %s",
                        single_line(str(document["hostname"]), 100), describe(exc))  # fmt: skip
            return
        if changes:
            # Stored: announced even if the lease lapsed meanwhile (the next leader finds
            # the inventory stored, so it would not announce it).
            alert = change_alert(str(document["hostname"]), changes, self.settings.fleet,
                                 self.wall())  # fmt: skip
            if alert is not None:
                self.router.route(alert)
        await msg.ack()

    # -- systemd, reload --------------------------------------------------------------------

    def status_line(self) -> str:
        counts = self.judge.counts()
        role = "leader" if self.leading else "follower"
        hosts = ", ".join(f"{n} {s}" for s, n in counts.items())
        pending = sum(w.pending for w in self.router.workers)
        episode = "; fleet-wide silence" if self.judge.mass is not None else ""
        return f"{role}; {len(self.judge.hosts)} hosts: {hosts}; {pending} alerts pending{episode}"

    async def _systemd(self) -> None:
        """WATCHDOG=1 from the event loop itself; STATUS= with the role and the counts."""
        interval = (self.notifier.watchdog_secs or 60.0) / 2
        while not self._stopping.is_set():  # a library may swallow a cancel
            await asyncio.sleep(min(interval, 10.0))
            if self._stopping.is_set():
                return
            if self.notifier.watchdog_secs:
                self.notifier.watchdog()
            self.notifier.status(self.status_line())

    async def reload(self) -> bool:
        """Apply the configuration file again (channels rebuilt); a bad one is refused."""
        if self.config_path is None:
            return False
        async with self._reload_lock:
            self.notifier.reloading()
            try:
                loaded = load_config(self.config_path)
                outbox, workers = self._build_workers(loaded.settings, self)
            except ConfigError as exc:
                return self.reload_refused("", exc.problems)
            except Exception as exc:  # a channel that cannot be built (a TLS file)
                return self.reload_refused(describe(exc))
            for warning in loaded.warnings:
                log.warning("%s", warning)
            old_nats = self.settings.nats
            self.settings = loaded.settings
            set_level(self.log_level_override or self.settings.fleet.log_level)
            if loaded.settings.nats != old_nats:
                log.warning("[nats] changes apply at the next start")
            self.judge.section = self.settings.fleet
            self.judge.reschedule()
            if self.lease is not None:
                self.lease.lease_secs = self.settings.fleet.lease_secs
            # As the agent's reload: a new worker started beside the old one on the same
            # outbox sent the alert in flight a second time, same `id`.
            await hand_over(self.workers, workers, self.outbox, outbox, SHUTDOWN_SECS)
            self.outbox = outbox
            a = self.settings.alerting
            old = self.router.reconfigure(
                self.settings.fleet.instance, workers,
                min_interval_secs=a.min_interval_secs, dedup_window_secs=FLEET_DEDUP_WINDOW_SECS,
                maintenance=assembly.maintenance_windows(a),
                inhibit_rules=assembly.inhibit_rules(a),
            )  # fmt: skip
            self.workers = workers
            log.info("configuration reloaded from %s", self.config_path)
            self.notifier.ready(self.status_line())
        kept = {worker.name for worker in workers}
        removed = [worker for worker in old if worker.name not in kept]
        await let_go(removed, 10.0, lambda: {worker.name for worker in self.workers})
        return True
