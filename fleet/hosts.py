"""Judging heartbeats: which host is healthy, degraded, silent or stopped, and when a
silence is the whole fleet's (no I/O here: the clock is passed in, so tests are exact).

Two clocks come in with every call: `now`, a monotonic clock that measures silence
(a wall-clock step must not make the fleet silent), and `wall`, epoch seconds for what
is shown and stored.

* A host is **silent** when no heartbeat came for `silent_after_intervals` of its own
  `heartbeat_interval_secs`, counted from its last heartbeat or from the moment the
  watcher last (re)connected, whichever is later: while the watcher's own connection is
  down nothing is judged, and after it comes back every host gets its full silence
  period again before it can be judged silent (its heartbeats during the outage were
  lost, not missing).
* A host whose last heartbeat said `stopping` (a clean SIGTERM of its agent) is
  **stopped**; that is announced (at `stopped_severity`) only when it stays stopped for
  the same silence period, so a restart or an upgrade of the agent is no alert.
* **Mass silence**: when a host becomes silent, the hosts that have missed heartbeats
  too are counted ("suspects": silent for `silent_after_intervals - 1` intervals, at
  least 1.5; a host that stopped together with it, whatever its heartbeat phase, is one
  by then).  More than `mass_silence_fraction` of the watched hosts, and at least
  `mass_silence_min_hosts`, makes one fleet-wide episode: its hosts are silent but not
  announced one by one; hosts going silent while it lasts join it if they were last heard
  within one of their intervals of its start or of its latest growth (a partition that
  spreads); a host that dies later in a long episode is announced on its own.  It ends when fewer
  of its hosts than that are still silent: the fleet-wide alert resolves, and a host
  still silent a whole silence period after that is announced on its own (the others
  come back over an interval or so; one that does not is a problem of its own).
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alerting.channels.nats import subject_token
from fleet.settings import FleetSection

HEALTHY, DEGRADED, SILENT, STOPPED = "healthy", "degraded", "silent", "stopped"
STATUSES = (HEALTHY, DEGRADED, SILENT, STOPPED)
MASS_LISTED = 20  # hosts named in the fleet-wide alert
# A heartbeat's interval outside this range is taken as the default (logged once per host).
MIN_INTERVAL_SECS, MAX_INTERVAL_SECS = 0.1, 86400.0  # the agent's own range
# What a heartbeat may say about itself: more is cut.
MAX_REASONS, MAX_REASON_CHARS, MAX_VERSION_CHARS = 32, 300, 64

log = logging.getLogger(__name__)
SILENT_METRIC, STOPPED_METRIC, MASS_METRIC = (
    "fleet_host_silent",
    "fleet_host_stopped",
    "fleet_mass_silence",
)


@dataclass(slots=True)
class Host:
    token: str
    hostname: str
    interval: float
    seen: float  # `now` of the last heartbeat
    seen_wall: float  # epoch of the last heartbeat
    reported: str = HEALTHY  # what the last heartbeat said: healthy, degraded, stopping
    reasons: tuple[str, ...] = ()
    agent_version: str = ""
    uptime: float | None = None
    status: str = HEALTHY  # the judgment
    since_wall: float = 0.0  # epoch of the last change of judgment
    silent_from_wall: float | None = None  # last heartbeat before the silence (or stop)
    mass: bool = False  # silent within the fleet-wide episode: not announced on its own
    held_until: float | None = None  # after the episode: announced alone if still silent then
    announced: bool = False  # stopped for a whole silence period: its alert is due
    outage_secs: float | None = None  # of the last return from silent/stopped
    rebooted: bool | None = None  # whether that return came with a lower uptime
    due: float = math.inf  # `now` of its next check by `tick` (its entry in the schedule)

    def alert_metric(self) -> str | None:
        """The alert that should be firing for this host now, if any."""
        if self.status == SILENT and not self.mass:
            return SILENT_METRIC
        if self.status == STOPPED and self.announced:
            return STOPPED_METRIC
        return None


@dataclass
class MassEpisode:
    since_wall: float
    members: set[str] = field(default_factory=set)
    watched: int = 0  # hosts watched when it began (the fraction's denominator)
    # `now` when it began or last grew: a host last heard more than one of its intervals
    # after that went silent on its own, not with the episode.
    grown: float = -math.inf

    def joins(self, host: Host) -> bool:
        """Whether `host`, newly silent, went silent with the episode (or as it grew)."""
        return host.seen <= self.grown + host.interval


def _number(value: Any, default: float | None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return float(value)


class Judge:
    """The watched hosts and their judgment; `dirty` names the hosts whose judgment or
    due alert changed since it was last emptied (the leader records and announces those)."""

    def __init__(self, section: FleetSection, now: float) -> None:
        self.section = section
        self.hosts: dict[str, Host] = {}
        self.dirty: set[str] = set()
        self.mass: MassEpisode | None = None
        self.mass_dirty = False
        self._held: set[str] = set()  # silent hosts of an ended episode, not yet announced
        self._odd_intervals: set[str] = set()  # hosts whose bogus interval was logged
        # (due, token): when each host is next looked at by `tick`, a heap.  An entry
        # whose `due` is not the host's is stale (skipped); an early one is harmless (the
        # host is looked at and scheduled again), so a heartbeat need not touch it.
        self._schedule: list[tuple[float, str]] = []
        self.shortest = math.inf  # the shortest interval of a host heard (for the tick)
        self.connected = True
        self.judge_from = now  # silence counts from here at the earliest (start, reconnect)

    # -- the connection ---------------------------------------------------------------

    def connection_lost(self) -> None:
        self.connected = False

    def connection_back(self, now: float) -> None:
        """The watcher hears heartbeats again (or just started): everybody starts afresh."""
        self.connected = True
        self.judge_from = max(self.judge_from, now)

    # -- heartbeats ---------------------------------------------------------------------

    def beat(
        self, doc: Mapping[str, Any], now: float, wall: float, token: str | None = None
    ) -> Host | None:
        """One heartbeat (the decoded JSON); the host, or None if it names no host.
        `token`: the hostname's subject token, if the caller knows it already."""
        hostname = doc.get("hostname")
        if not isinstance(hostname, str) or not hostname:
            return None
        token = token or subject_token(hostname)
        interval = self._interval(token, hostname, doc.get("heartbeat_interval_secs"))
        reported = doc.get("status")
        reported = reported if reported in (HEALTHY, DEGRADED, "stopping") else HEALTHY
        reasons = doc.get("reasons")
        uptime = _number(doc.get("uptime_secs"), None)
        host = self.hosts.get(token)
        if host is None:
            host = Host(token, hostname, interval, now, wall, since_wall=wall)
            host.status = ""  # so that the judgment below is a change
            self.hosts[token] = host
        elif interval < host.interval:
            self._schedule_at(host, now)  # its deadline came nearer
        self.shortest = min(self.shortest, interval)
        previous, old_uptime = host.status, host.uptime
        host.hostname, host.interval, host.seen, host.seen_wall = hostname, interval, now, wall
        host.reported, host.uptime = reported, uptime
        host.reasons = (
            tuple(str(r)[:MAX_REASON_CHARS] for r in reasons[:MAX_REASONS])
            if isinstance(reasons, list)
            else ()
        )
        host.agent_version = str(doc.get("agent_version") or "")[:MAX_VERSION_CHARS]
        status = STOPPED if reported == "stopping" else str(reported)
        if status == previous:
            return host
        if previous in (SILENT, STOPPED) and status != STOPPED:  # back
            gone = host.silent_from_wall if host.silent_from_wall is not None else host.since_wall
            host.outage_secs = round(max(0.0, wall - gone), 1)
            host.rebooted = None if uptime is None or old_uptime is None else uptime < old_uptime
            host.silent_from_wall = None
            if host.mass and self.mass is not None:
                self.mass.members.discard(token)
        if status == STOPPED:
            host.silent_from_wall = wall
        self._judged(host, status, wall)
        return host

    def _interval(self, token: str, hostname: str, given: Any) -> float:
        """The heartbeat's interval, or the default when it is missing or not sane."""
        interval = _number(given, None)
        if interval is not None and MIN_INTERVAL_SECS <= interval <= MAX_INTERVAL_SECS:
            return interval
        default = self.section.default_heartbeat_interval_secs
        if given is not None and token not in self._odd_intervals:
            self._odd_intervals.add(token)
            log.warning(
                "%s: heartbeat_interval_secs %s is not a number of seconds in [%g, %g]: "
                "taken as %g s (logged once per host)",
                hostname[:100], repr(given)[:40], MIN_INTERVAL_SECS, MAX_INTERVAL_SECS, default,
            )  # fmt: skip
        return default

    def _judged(self, host: Host, status: str, wall: float) -> None:
        host.status, host.since_wall = status, wall
        host.mass, host.held_until = False, None
        host.announced = False
        self.dirty.add(host.token)
        self._schedule_at(host, -math.inf)  # looked at by the next tick

    def _schedule_at(self, host: Host, due: float) -> None:
        if due < host.due:
            host.due = due
            heapq.heappush(self._schedule, (due, host.token))

    def reschedule(self) -> None:
        """Every host looked at by the next tick (the section changed: a reload)."""
        self._schedule = [(-math.inf, token) for token in self.hosts]
        heapq.heapify(self._schedule)
        for host in self.hosts.values():
            host.due = -math.inf

    # -- time passing -------------------------------------------------------------------

    def quiet_for(self, host: Host, now: float) -> float:
        """How long the host has been silent, as far as this watcher can tell."""
        return now - max(host.seen, self.judge_from)

    def tick(self, now: float, wall: float) -> None:
        """Judge silence (and stopped hosts staying stopped, forgotten hosts, the episode).

        Only the hosts whose check is due are looked at (a heap of deadlines): at 10,000
        hosts a tick costs what the few due hosts cost, not a scan of all of them.
        """
        if not self.connected:
            return
        newly: list[Host] = []
        schedule = self._schedule
        while schedule and schedule[0][0] <= now:
            due, token = heapq.heappop(schedule)
            host = self.hosts.get(token)
            if host is None or host.due != due:
                continue  # forgotten, or a stale entry
            host.due = math.inf
            following = self._check(host, now, newly)
            if following is not None:
                # Never at or before `now`: a check that rounds the other way comes back.
                self._schedule_at(host, max(following, math.nextafter(now, math.inf)))
        if newly:
            self._went_silent(newly, now, wall)
        self._check_episode_end(now, wall)
        self._release_held(now)

    def _check(self, host: Host, now: float, newly: list[Host]) -> float | None:
        """Look at one host; when to look at it next (None: when something changes)."""
        after = self.section.silent_after_intervals
        forget = self.section.forget_after_days * 86400.0
        period = after * host.interval
        if host.status in (HEALTHY, DEGRADED):
            if self.quiet_for(host, now) >= period:
                newly.append(host)
                return None  # judged silent: scheduled anew by `_judged`
            return max(host.seen, self.judge_from) + period
        if host.status == STOPPED and not host.announced:
            if self.section.stopped_severity == "none":
                return now + max(period, 60.0)  # looked at again (a reload may change it)
            if self.quiet_for(host, now) >= period:
                host.announced = True
                self.dirty.add(host.token)
                return host.seen + forget if forget else None
            return max(host.seen, self.judge_from) + period
        if forget and now - host.seen >= forget:  # silent or stopped for days
            del self.hosts[host.token]
            self._odd_intervals.discard(host.token)
            self.dirty.add(host.token)
            if self.mass is not None:
                self.mass.members.discard(host.token)
            return None
        return host.seen + forget if forget else None

    def _went_silent(self, newly: list[Host], now: float, wall: float) -> None:
        s = self.section
        if self.mass is None:  # do they, with those that missed heartbeats too, make one?
            live = [h for h in self.hosts.values() if h.status in (HEALTHY, DEGRADED)]
            suspect_after = max(s.silent_after_intervals - 1, 1.5)
            suspects = [h for h in live if self.quiet_for(h, now) >= suspect_after * h.interval]
            if len(suspects) >= s.mass_silence_min_hosts and len(suspects) > (
                s.mass_silence_fraction * len(live)
            ):
                self.mass = MassEpisode(wall, watched=len(live), grown=now)
                newly = suspects
        for host in newly:
            host.silent_from_wall = host.seen_wall
            self._judged(host, SILENT, wall)
            # An episode began or lasts: they are part of it if they went silent with it
            # (a host that died an hour into a long episode is announced on its own).
            if self.mass is not None and self.mass.joins(host):
                host.mass = True
                self.mass.members.add(host.token)
                self.mass.grown = now
                self.mass_dirty = True

    def hold(self, host: Host, now: float) -> None:
        """A silent host of an episode that is over: announced alone if still silent a
        whole silence period from `now`."""
        host.held_until = now + self.section.silent_after_intervals * host.interval
        self._held.add(host.token)

    def mass_threshold(self) -> int:
        """Hosts silent together that make (and keep) a fleet-wide episode."""
        s = self.section
        watched = self.mass.watched if self.mass is not None else len(self.hosts)
        return max(s.mass_silence_min_hosts, math.floor(s.mass_silence_fraction * watched) + 1)

    def _check_episode_end(self, now: float, wall: float) -> None:
        episode = self.mass
        if episode is None:
            return
        still = [t for t in episode.members if t in self.hosts and self.hosts[t].status == SILENT]
        if len(still) >= self.mass_threshold():
            return
        self.mass = None
        self.mass_dirty = True
        # The others come back over about an interval: one still silent a whole silence
        # period after the end is a problem of its own, and announced so.
        for token in still:
            self.hold(self.hosts[token], now)

    def _release_held(self, now: float) -> None:
        if self.mass is not None:
            return
        for token in list(self._held):
            host = self.hosts.get(token)
            if host is None or host.held_until is None:  # back, or forgotten
                self._held.discard(token)
            elif now >= host.held_until:
                self._held.discard(token)
                host.held_until = None
                if host.status == SILENT and host.mass:
                    host.mass = False
                    self.dirty.add(host.token)

    # -- reading --------------------------------------------------------------------------

    def take_dirty(self) -> set[str]:
        dirty, self.dirty = self.dirty, set()
        return dirty

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for host in self.hosts.values():
            out[host.status] = out.get(host.status, 0) + 1
        return out

    def silent_members(self) -> list[Host]:
        """The episode's hosts still silent, in the order they were last heard of."""
        if self.mass is None:
            return []
        members: Iterable[Host] = (self.hosts[t] for t in self.mass.members if t in self.hosts)
        return sorted((h for h in members if h.status == SILENT), key=lambda h: h.seen)
