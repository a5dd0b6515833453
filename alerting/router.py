"""Decides which analyzer events become notifications, and on which channels.

Rules (per fingerprint = analyzer + metric + labels):

* a new firing alert, or a change of severity (escalated), is sent at once;
* while it keeps firing, it is repeated every `min_interval_secs`
  (`repeat_due`, called by the runtime), and a firing event for an alert
  that is already firing is held back until then (the repeat says how many
  were held back);
* a resolve is sent only for an alert whose firing was sent;
* one episode per series (metric + labels): while an announced alert on a
  series fires, another analyzer's alert on it at the same or a lower
  severity is folded into that episode (never sent, repeated or resolved),
  and the announced alert's resolve waits until every alert on the series has
  resolved (meanwhile it speaks for the episode as the folded alerts stand: its
  repeats in their words and at their level, and their easing below the level
  it told is sent once, an ESCALATED: `_ease_waiting`); a higher severity is a
  genuine later change and is sent (as a FIRING if that alert was folded until
  then) (docs/ALERTING.md);
* a re-fire after a sent resolve is a new FIRING (a new `alert_id`); if it
  comes within `dedup_window_secs` of the previous firing the alert flaps, and
  its next resolves are held until it has stayed resolved for the dedup window
  (a re-fire meanwhile continues the same episode, unannounced), so a value
  wobbling around its level gives a handful of notifications, not one per tick;
* a repeat is fresh: the `refresh` callable (the pipeline's, given by the
  runtime: alerting cannot import the store) gives it the current value and
  context, and it has its own timestamp and so its own `id`;
* each channel gets only alerts at or above its `min_severity`;
* a muted alert (silence, maintenance window, inhibition, folded) that still
  fires when nothing mutes it any more is announced then (`repeat_due`);
* across a restart: what was announced and not yet resolved is kept in the
  outbox (`episodes`) and taken back at the next start (`resume`); its
  analyzer raising it again continues the episode unannounced, and one it has
  not raised again within its learning time is resolved.

Time comes from the alerts' own timestamps, which keeps the router pure and its
tests exact.  Resolved fingerprints are remembered for `dedup_window_secs`.

The table of fingerprints is bounded (`MAX_TRACKED`) and its bookkeeping costs
O(1) per event however full it is: tracks are kept in order of last activity
and resolved ones in order of resolution, so the one to forget is always at
the front.  A storm of 100,000 distinct alerts (a log flood) thus costs
milliseconds, not the minutes a scan of the table per event took.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from alerting.alert import Alert, Severity, Status
from alerting.delivery import ChannelWorker
from alerting.format import format_metric, labels_text, when
from alerting.silences import InhibitRule, MaintenanceWindow, Silence, SilenceFile, matches

log = logging.getLogger(__name__)

# Bound on remembered fingerprints; the oldest resolved ones go first, then the least
# recently active.
MAX_TRACKED = 10_000
# A step down (critical to warn) is told once it has lasted this long: a 30-s CPU spike
# said FIRING, "now 88.7%, below 90.5% where the critical level clears" 20 s later and
# RESOLVED 10 s after that, three notifications for one condition.  Good news is not
# urgent; one that is over before it is told is not said at all.
STEP_DOWN_SETTLE_SECS = 120.0
SETTLING = f"told once it had lasted {STEP_DOWN_SETTLE_SECS:g} s"
# What the router adds to an alert's context (`_stamp`), as opposed to what its analyzer said.
STAMPED = ("repeats", "lasted_secs", "occurrences")
# In the context of a kept episode: an alert folded into its series' episode, never announced;
# the highest severity its episode told (its end reaches every channel told of it).
FOLDED_MARK = "folded_into_episode"
TOLD_MARK = "episode_told"
# When the words kept were said (a repeat is kept as of its own time, with the words of
# the change it repeats: after a restart they are quoted "at <then>:", not "first:").
SAID_MARK = "words_said_at"
KEPT_MARKS = (FOLDED_MARK, TOLD_MARK, SAID_MARK)


class Episodes(Protocol):
    """Where the alerts announced and not yet resolved are kept across a restart (the
    outbox: alerting/outbox.py)."""

    def keep_episode(self, alert: Alert) -> None: ...

    def end_episode(self, fingerprint: str) -> None: ...

    def clear_episodes(self) -> None: ...

    def together(self) -> contextlib.AbstractContextManager[None]: ...


@dataclass
class _Track:
    status: Status
    severity: Severity
    last_sent: float
    alert: Alert
    held_back: int = 0
    first_fired: float = 0.0
    occurrences: int = 1  # firings of this fingerprint within the dedup window
    flapping: bool = False  # re-fired within the dedup window: resolves wait (`held`)
    held: Alert | None = None  # a flapping alert's resolve, sent once it stayed resolved
    muted: bool = False  # silenced or inhibited: never announced, not repeated
    folded: bool = False  # muted because another analyzer's alert on the series carries it
    waiting: Alert | None = None  # its resolve, sent when the series' episode ends
    # Announced before the agent restarted: resolved at this time unless raised again.
    confirm_by: float | None = None
    # Announced, then changed severity while silenced: sent when the silence ends.
    unsent: Alert | None = None
    unsent_why: str = "muted"  # what kept it back, said when it is told
    unsent_at: float = 0.0  # when a step down that waits to settle (`SETTLING`) began
    # The highest severity its episode told the channels: its step downs and its end reach
    # every channel that was told it.
    told: Severity | None = None


@dataclass
class RouterStats:
    received: int = 0
    notified: int = 0
    suppressed: int = 0
    flaps: int = 0  # re-firings within the dedup window (announced once, then folded)
    silenced: int = 0  # matched a silence or a maintenance window
    inhibited: int = 0  # muted by a configured inhibit rule
    folded: int = 0  # folded into the episode another analyzer's alert on the series carries


class Router:
    def __init__(
        self,
        hostname: str,
        workers: Sequence[ChannelWorker],
        *,
        min_interval_secs: float = 300.0,
        dedup_window_secs: float = 600.0,
        silences: SilenceFile | None = None,
        maintenance: Sequence[MaintenanceWindow] = (),
        inhibit_rules: Sequence[InhibitRule] = (),
        refresh: Callable[[Alert, float], Alert] | None = None,
        episodes: Episodes | None = None,
    ) -> None:
        # (alert, now) -> the alert as it stands now: current value, fresh context.
        self.refresh = refresh
        self.episodes = episodes
        self.inhibit_rules = list(inhibit_rules)
        self.silences = silences
        self.maintenance = list(maintenance)
        self.hostname = hostname
        self.workers = list(workers)
        self.min_interval_secs = min_interval_secs
        self.dedup_window_secs = dedup_window_secs
        self.stats = RouterStats()
        # In order of last activity (a touched track moves to the end): the front is the stalest.
        self._tracks: dict[str, _Track] = {}
        self._resolved: dict[str, None] = {}  # resolved fingerprints, in order of resolution
        # Per inhibit rule, the live (firing, announced) tracks matching its source, by the
        # values of the rule's `equal` labels: an alert looks up those it shares them with.
        self._sources: list[dict[tuple[str, ...], dict[str, None]]] = [
            {} for _ in self.inhibit_rules
        ]
        self._placed: dict[str, list[tuple[int, tuple[str, ...]]]] = {}  # fp -> its places
        # Per rule, the sources whose condition ended less than its `linger_secs` ago, by the
        # same key: fp -> (the source as it last fired, until when it still mutes).
        self._lingering: list[dict[tuple[str, ...], dict[str, tuple[Alert, float]]]] = [
            {} for _ in self.inhibit_rules
        ]
        self._linger_ends = math.inf  # the earliest of those ends: a mute may end then
        self._lingerers: set[str] = set()  # their fingerprints (a live alert looks up none)
        # Whether a mute may have ended since the last look (`_announce_unmuted`): a source
        # left the index, a track changed, the silences or windows in force changed.
        self._mutes_changed = True
        self._settles_at = math.inf  # the earliest a step down waiting to settle is told
        self._in_force: tuple[tuple[int, ...], tuple[Silence, ...]] = ((), ())
        self._by_series: dict[
            tuple[str, tuple[tuple[str, str], ...]], set[str]
        ] = {}  # for inhibition

    def reconfigure(
        self,
        hostname: str,
        workers: Sequence[ChannelWorker],
        *,
        min_interval_secs: float,
        dedup_window_secs: float,
        maintenance: Sequence[MaintenanceWindow] = (),
        inhibit_rules: Sequence[InhibitRule] = (),
        episodes: Episodes | None = None,
    ) -> list[ChannelWorker]:
        """Swap settings and channels, keeping what was already sent; returns the old workers."""
        old = self.workers
        if episodes is not None and episodes is not self.episodes:  # a durable outbox now
            self.episodes = episodes
            episodes.clear_episodes()  # a file's, from a life before: this router knows better
            for fp, track in self._tracks.items():
                if (track.status is Status.FIRING and not track.muted) or track.held is not None:
                    stamped = self._stamp(track.alert, 0, first_fired=track.first_fired)
                    episodes.keep_episode(self._with_told(stamped, track))
                elif track.status is Status.FIRING and track.folded:
                    self._keep_folded(fp, track)
        self.maintenance = list(maintenance)
        # A rule kept by the reload keeps its lingering sources: what they mute still ebbs.
        kept = dict(zip(self.inhibit_rules, self._lingering, strict=True))
        self.inhibit_rules = list(inhibit_rules)
        self._sources, self._placed = [{} for _ in self.inhibit_rules], {}
        self._lingering = [kept.get(rule, {}) for rule in self.inhibit_rules]
        self._lingerers = {fp for by_key in self._lingering for e in by_key.values() for fp in e}
        self._linger_ends = min(
            (until for by_key in self._lingering for sources in by_key.values()
             for _, until in sources.values()),
            default=math.inf,
        )  # fmt: skip
        for fp, track in self._tracks.items():
            self._index(fp, track)
        self._mutes_changed = True
        self.hostname = hostname
        self.workers = list(workers)
        self.min_interval_secs = min_interval_secs
        self.dedup_window_secs = dedup_window_secs
        return old

    def route(self, alert: Alert) -> Alert | None:
        """Hand `alert` to the channels if it is news; returns what was sent, if anything."""
        self.stats.received += 1
        self._release_held(alert.fingerprint, alert.timestamp)
        outgoing = self._decide(alert)
        if outgoing is None:
            self.stats.suppressed += 1
            return None
        self.stats.notified += 1
        self._submit(outgoing)
        return outgoing

    def _submit(self, alert: Alert, kept: Alert | None = None) -> None:
        """Hand `alert` to the channels, and keep its episode (as `kept`, if given: a
        repeat keeps the analyzer's own words, not "still firing (first: ...)")."""
        resolved = alert.status is Status.RESOLVED
        track = self._tracks.get(alert.fingerprint)
        reach = alert.severity
        if track is not None and track.told is not None and alert.status is not Status.FIRING:
            # An episode's step down and its end reach every channel told of it: a pager
            # (min_severity critical) was otherwise never told that a critical eased to
            # warn and then ended, and kept it open for good.
            reach = max(reach, track.told)
        if track is not None and not resolved:
            track.told = max(track.told or alert.severity, alert.severity)
        episodes = self.episodes
        # The notification's rows and its episode in one transaction: a crash never keeps
        # an episode whose notification was not queued, nor the reverse.
        with contextlib.nullcontext() if episodes is None else episodes.together():
            if episodes is not None and not alert.context.get("event"):
                if resolved:
                    episodes.end_episode(alert.fingerprint)
                else:
                    kept_as = self._with_told(alert if kept is None else kept, track)
                    episodes.keep_episode(self._with_said(kept_as, track))
            for worker in self.workers:
                channel = worker.channel
                if reach >= channel.min_severity and (channel.send_resolved or not resolved):
                    worker.submit(alert)

    def _decide(self, alert: Alert, *, settled: bool = False) -> Alert | None:
        """What the receivers are told of `alert`, if anything; `settled`: a step down that
        waited to settle (`STEP_DOWN_SETTLE_SECS`) and is told now."""
        if alert.context.get("event"):  # a one-off (a log line): nothing to track or resolve
            return self._stamp(alert, 0)
        fp = alert.fingerprint
        track = self._tracks.pop(fp, None)
        if track is not None:
            self._tracks[fp] = track  # the most recently active now
        now = alert.timestamp
        series = (alert.metric, alert.labels)
        if alert.status is Status.RESOLVED:
            if track is None or track.status is Status.RESOLVED or track.waiting is not None:
                return None
            track.held_back, track.unsent, track.confirm_by = 0, None, None
            self._mutes_changed = True
            if track.muted:  # the end of a muted alert: nobody was told it began
                if track.folded:
                    self._keep_folded(fp, None)
                track.status, track.muted, track.folded = Status.RESOLVED, False, False
                self._resolved[fp] = None
                self._unindex(fp)
                return self._end_episode(series, fp, alert)
            lasted = now - track.first_fired
            resolve = self._stamp(
                alert,
                0,
                {"lasted_secs": round(lasted), "occurrences": track.occurrences},
                first_fired=track.first_fired,
            )
            if self._live_on_series(series, fp):
                # Another analyzer's alert on the series still fires: the episode goes on, and
                # this resolve waits for its end (one RESOLVED per episode, docs/ALERTING.md).
                track.waiting = resolve
                # Its condition ended: it mutes no more but for a linger, which starts when
                # the receiver is told of the end (`_linger_from`), with the episode's.
                self._unindex(fp, ended_at=math.inf)
                return None
            track.status = Status.RESOLVED
            self._resolved[fp] = None
            # A flapping alert's resolve is held for the dedup window: its linger waits too.
            self._unindex(fp, ended_at=math.inf if track.flapping else now)
            if track.flapping:  # may well fire again at once: said when it stays resolved
                track.held = resolve
                return None
            track.last_sent = now
            return self._end_episode(series, fp, alert, resolve)
        if (
            track is not None
            and track.confirm_by is not None
            and track.status is Status.FIRING
            and track.waiting is None
        ):
            # Raised again after a restart: the episode announced before it goes on.
            track.confirm_by = None
            if alert.severity == track.severity:
                track.alert = alert
                return None
            alert = dataclasses.replace(alert, status=Status.ESCALATED)  # worse (or better)
        if track is not None and track.waiting is not None:
            # Back while its resolve waited for the rest of the episode: it never ended.
            track.waiting = None
            self._index(fp, track)  # whatever comes next: silenced, folded or sent
            if alert.severity <= track.severity:
                track.alert = alert
                return None
        if track is not None and track.held is not None:
            # A flapping alert back before its resolve went out: for the receiver it never
            # stopped, so this is the same episode, counted and not announced again.
            track.status, track.alert, track.held = Status.FIRING, alert, None
            track.occurrences += 1
            self._resolved.pop(fp, None)
            self._index(fp, track)
            self.stats.flaps += 1
            if alert.severity == track.severity:
                return None
            # Back at another level than the one told: a change, told as any (a CPU back at
            # warn then critical was said "escalated" to the critical it was told, the warn
            # in between taken silently; a step down waits to settle).
            alert = dataclasses.replace(alert, status=Status.ESCALATED)
        # Within the dedup window of the previous firing: the alert flaps.  Its resolve was
        # sent, so this is news (a new FIRING, a new episode), but the next resolves wait.
        flap = (
            track is not None
            and track.status is Status.RESOLVED
            and not track.muted
            and now - track.first_fired < self.dedup_window_secs
        )
        new = track is None or track.status is Status.RESOLVED
        if track is not None and track.unsent is not None and alert.severity == track.severity:
            # The change that waited went away again: for the receiver nothing changed (an
            # ESCALATED back to the level it was told would say it twice).
            track.unsent, track.alert = None, alert
            return None
        changed = track is not None and (track.severity != alert.severity or track.muted)
        if self.silenced(alert, now):
            self.stats.silenced += 1
            if new:
                self._remember(
                    fp,
                    _Track(Status.FIRING, alert.severity, now, alert, first_fired=now, muted=True),
                )
                self._prune()
            elif track is not None and track.muted:  # as it is when the silence ends
                track.severity, track.alert = alert.severity, alert
                self._mutes_changed = True  # it may have held a step down of the episode
                if track.folded:
                    self._keep_folded(fp, track)
            elif track is not None and track.status is Status.FIRING and changed:
                # Announced: its change is told when the silence ends.
                track.unsent, track.unsent_why = alert, "muted"
            return None
        # An announced alert stepping down is told whatever an inhibition mutes: its repeats
        # would otherwise go on saying the severity it left.  It is folded only while another
        # announced alert on its series says the severity it leaves: the episode has not
        # eased, so there is nothing to tell.
        stepping_down = (
            not new and track is not None and not track.muted and alert.severity < track.severity
        )
        if stepping_down and track is not None and self._held(alert, fp, track.severity):
            # An alert folded into the episode is still at the level this one leaves: for
            # the receiver the episode has not eased (a step down told now, then the folded
            # alert announced on its own, would be two episodes of one condition).  Told as
            # a change that waited, once nothing holds the level (`_announce_unmuted`).
            track.unsent = alert
            track.unsent_why = f"while the series stayed {track.severity.label}"
            return None
        if stepping_down and track is not None and not settled and STEP_DOWN_SETTLE_SECS > 0:
            # Told once it has lasted (`_announce_unmuted`), unless the alert resolves or is
            # back at the level it left before then (the change that waited went away).
            if track.unsent is None or track.unsent_why != SETTLING:
                track.unsent_at = now
            track.unsent, track.unsent_why = alert, SETTLING
            self._settles_at = min(self._settles_at, track.unsent_at + STEP_DOWN_SETTLE_SECS)
            return None
        left = track.severity if stepping_down and track is not None else alert.severity
        folded = (new or changed) and self._carried(alert, fp, at=left)
        inhibited = (
            not folded and not stepping_down and (new or changed) and self._inhibited(alert, now)
        )
        if folded or inhibited:
            if folded:
                self.stats.folded += 1
            else:
                self.stats.inhibited += 1
            if new:
                muted = _Track(
                    Status.FIRING,
                    alert.severity,
                    now,
                    alert,
                    first_fired=now,
                    muted=True,
                    folded=folded,
                )
                self._remember(fp, muted)
                self._prune()
                if folded:
                    self._keep_folded(fp, muted)
            elif track is not None and track.muted:  # still muted, at its new severity
                was_folded = track.folded
                track.severity, track.alert, track.folded = alert.severity, alert, folded
                self._mutes_changed = True  # it may have held a step down of the episode
                if folded or was_folded:
                    self._keep_folded(fp, track if folded else None)
            elif track is not None and track.status is Status.FIRING and folded:
                # Announced, its change folded: nothing to tell (the episode says that
                # severity), but its repeats say what it is now.
                track.severity, track.alert = alert.severity, alert
            elif track is not None and track.status is Status.FIRING:
                # Announced, and its escalation inhibited: told once nothing mutes it any more
                # (the whole CPU's alert resolved while this socket went warn to critical).
                track.unsent, track.unsent_why = alert, "muted"
            return None
        if new or changed or alert.status is Status.ESCALATED:
            occurrences = track.occurrences if track is not None and not new else 1
            first = track.first_fired if track is not None and not new else now
            flapping = track is not None and track.flapping and not new
            if flap and track is not None:
                occurrences, flapping = track.occurrences + 1, True
                self.stats.flaps += 1
            fresh = _Track(
                Status.FIRING,
                alert.severity,
                now,
                alert,
                first_fired=first,
                occurrences=occurrences,
                flapping=flapping,
                told=track.told if track is not None and not new else None,
            )
            was_muted = track is not None and track.muted and not new
            self._remember(fp, fresh)
            self._prune()
            if was_muted:  # never announced: for the receiver this is its beginning
                alert = dataclasses.replace(alert, status=Status.FIRING)
            return self._stamp(alert, 0, {"occurrences": occurrences}, first_fired=first)
        if track is None:  # unreachable: `new` covers it; keeps the type checker informed
            return None
        track.alert = alert
        if now - track.last_sent >= self.min_interval_secs:
            held_back, track.held_back, track.last_sent = track.held_back, 0, now
            extra = {"occurrences": track.occurrences}
            return self._stamp(alert, held_back, extra, first_fired=track.first_fired)
        track.held_back += 1
        return None

    def silenced(self, alert: Alert, now: float) -> bool:
        if any(window.silences(alert, now) for window in self.maintenance):
            return True
        return self.silences is not None and any(
            s.silences(alert, now) for s in self.silences.current()
        )

    def _forget(self, fp: str) -> None:
        self._linger_from(fp, None)  # a source forgotten for room mutes nothing
        track = self._tracks.pop(fp)
        self._resolved.pop(fp, None)
        self._unindex(fp)
        if track.status is Status.FIRING:  # it may have carried others, or held a step down
            self._mutes_changed = True
        if self.episodes is not None and (track.status is Status.FIRING or track.held is not None):
            # Forgotten for room (MAX_TRACKED): not taken back after a restart either, so
            # the table is bounded as the tracks are.
            self.episodes.end_episode(fp)
        series = (track.alert.metric, track.alert.labels)
        fps = self._by_series.get(series)
        if fps is not None:
            fps.discard(fp)
            if not fps:
                del self._by_series[series]

    def _remember(self, fp: str, track: _Track) -> None:
        self._tracks.pop(fp, None)  # so that it goes to the end: the most recently active
        self._resolved.pop(fp, None)
        self._tracks[fp] = track
        self._index(fp, track)
        self._by_series.setdefault((track.alert.metric, track.alert.labels), set()).add(fp)
        if not track.muted:  # it may carry less, or mute less, than the one it replaces
            self._mutes_changed = True

    def _index(self, fp: str, track: _Track) -> None:
        self._unindex(fp)
        if fp in self._lingerers and track.status is Status.FIRING and track.waiting is None:
            self._linger_from(fp, None)  # it fires again: its own place mutes, not its end
        if track.status is Status.FIRING and not track.muted and track.waiting is None:
            placed = []
            for i, rule in enumerate(self.inhibit_rules):
                if matches(rule.source, track.alert):
                    key = rule.key(track.alert)
                    self._sources[i].setdefault(key, {})[fp] = None
                    placed.append((i, key))
            if placed:
                self._placed[fp] = placed

    def _unindex(self, fp: str, ended_at: float | None = None) -> None:
        """Out of the sources; `ended_at`: its condition ended then, and a rule with a
        `linger_secs` keeps it muting that long."""
        placed = self._placed.pop(fp, None)
        if placed is None:
            return
        self._mutes_changed = True  # what it muted may be free now
        for i, key in placed:
            sources = self._sources[i][key]
            del sources[fp]
            if not sources:
                del self._sources[i][key]
            linger = self.inhibit_rules[i].linger_secs
            if ended_at is not None and linger > 0:
                until = ended_at + linger
                self._lingering[i].setdefault(key, {})[fp] = (self._tracks[fp].alert, until)
                self._lingerers.add(fp)
                self._linger_ends = min(self._linger_ends, until)

    def _linger_from(self, fp: str, now: float | None) -> None:
        """The receiver was told that source `fp` ended (`now`: its linger starts), or it is
        no source any more (None: firing again, or forgotten)."""
        if fp not in self._lingerers:
            return
        for rule, by_key in zip(self.inhibit_rules, self._lingering, strict=True):
            for key in [key for key, entries in by_key.items() if fp in entries]:
                if now is None:
                    del by_key[key][fp]
                    if not by_key[key]:
                        del by_key[key]
                else:
                    until = now + rule.linger_secs
                    by_key[key][fp] = (by_key[key][fp][0], until)
                    self._linger_ends = min(self._linger_ends, until)
        if now is None:
            self._lingerers.discard(fp)
        self._mutes_changed = True

    def _inhibited(self, alert: Alert, now: float) -> bool:
        """Any firing alert, or one whose condition ended within its rule's linger, that a
        rule says mutes this one."""
        for i, (rule, sources) in enumerate(zip(self.inhibit_rules, self._sources, strict=True)):
            key = rule.key(alert)
            for fp in sources.get(key, ()):
                if rule.mutes(self._tracks[fp].alert, alert):
                    return True
            lingering = self._lingering[i]
            for source, until in lingering[key].values() if key in lingering else ():
                if until > now and rule.mutes(source, alert):
                    return True
        return False

    def _end_lingering(self, now: float) -> None:
        """Forget the sources whose linger is over: what they muted may be free now."""
        ends, lingerers = math.inf, set[str]()
        for lingering in self._lingering:
            for key in list(lingering):
                left = {fp: e for fp, e in lingering[key].items() if e[1] > now}
                if left:
                    lingering[key] = left
                    ends = min(ends, *(until for _, until in left.values()))
                    lingerers.update(left)
                else:
                    del lingering[key]
        self._linger_ends, self._lingerers = ends, lingerers
        self._mutes_changed = True

    def _is_source(self, alert: Alert) -> bool:
        return any(matches(rule.source, alert) for rule in self.inhibit_rules)

    def _carried(self, alert: Alert, fp: str, at: Severity | None = None) -> bool:
        """Whether another analyzer's announced alert on the same series carries the episode at
        this severity (or `at`) or above: then this one is folded into it (docs/ALERTING.md,
        "One episode per series")."""
        level = alert.severity if at is None else at
        for other_fp in self._by_series.get((alert.metric, alert.labels), set()):
            track = self._tracks[other_fp]
            # An announced alert whose own condition ended speaks for the episode up to the
            # level it told (`_ease_waiting` raises it back): the episode eased and went up
            # again is one episode, not a second FIRING and a second RESOLVED.
            says = track.severity
            if track.waiting is not None and track.told is not None:
                says = max(says, track.told)
            if (
                other_fp != fp
                and track.status is Status.FIRING
                and not track.muted
                and says >= level
            ):
                return True
        return False

    @staticmethod
    def _with_told(alert: Alert, track: _Track | None) -> Alert:
        """`alert` as kept for a restart: with the highest severity its episode told."""
        if track is None or track.told is None or track.told <= alert.severity:
            return alert
        return dataclasses.replace(alert, context={**alert.context, TOLD_MARK: track.told.label})

    @staticmethod
    def _with_said(alert: Alert, track: _Track | None) -> Alert:
        """`alert` as kept for a restart: with when its words were said, if not at its time."""
        if track is None or track.alert.timestamp == alert.timestamp:
            return alert
        return dataclasses.replace(
            alert, context={**alert.context, SAID_MARK: track.alert.timestamp}
        )

    def _keep_folded(self, fp: str, track: _Track | None) -> None:
        """Keep (None: forget) an alert folded into its series' episode, marked as such, with
        the announced ones: after a restart it is taken back folded, so the episode does not
        end early and come back as a new FIRING, and its analyzer takes its level back."""
        if self.episodes is None:
            return
        if track is None or track.alert.context.get("event"):
            self.episodes.end_episode(fp)
            return
        context = {**track.alert.context, FOLDED_MARK: True}
        self.episodes.keep_episode(
            dataclasses.replace(track.alert, first_fired=track.first_fired, context=context)
        )

    def _held(self, alert: Alert, fp: str, level: Severity) -> bool:
        """Whether an alert folded into the episode of `alert`'s series is still at `level`
        or above."""
        for other_fp in self._by_series.get((alert.metric, alert.labels), set()):
            track = self._tracks[other_fp]
            if (
                other_fp != fp
                and track.status is Status.FIRING
                and track.folded
                and track.waiting is None
                and track.severity >= level
            ):
                return True
        return False

    def _carrier(self, track: _Track) -> _Track | None:
        """For an announced alert whose condition ended (its resolve waiting for the end of
        its series' episode): the alert folded into that episode that now carries it (the
        most severe, the latest to change among those), None if none does or an announced
        alert on the series still fires (that one carries it)."""
        fp, alert = track.alert.fingerprint, track.alert
        best: _Track | None = None
        for other_fp in self._by_series.get((alert.metric, alert.labels), set()):
            other = self._tracks[other_fp]
            if other_fp == fp or other.status is not Status.FIRING or other.waiting is not None:
                continue
            if not other.muted:
                return None
            if other.folded and (
                best is None
                or (other.severity, other.alert.timestamp, other_fp)
                > (best.severity, best.alert.timestamp, best.alert.fingerprint)
            ):
                best = other
        return best

    def _ease_waiting(self, now: float) -> list[Alert]:
        """Tell the step down of an episode whose announced alert's condition ended while an
        alert folded into it still fires at a lower level: a disk filling to 97 % (the
        trend's critical, the threshold's folded) that a delete took to 89.5 % is warn now,
        and was repeated as critical, "full in 5 h 39 min", for as long as it stayed there.
        An ESCALATED of the announced alert, with the words of the one that holds the level
        (if they are older than the end of its own condition: when they were said, and the
        value of now); its repeats and its RESOLVED then say that level.  A step down once
        it has lasted `STEP_DOWN_SETTLE_SECS`, as any; the folded alert back up (to at most
        the level the episode told: above it, it is announced itself) is told the same
        way.  A silenced one is told when its silence ends."""
        sent = []
        for track in list(self._tracks.values()):
            waiting = track.waiting
            if (
                waiting is None
                or track.muted
                or track.confirm_by is not None
                or self.silenced(track.alert, now)
            ):
                continue
            carrier = self._carrier(track)
            if carrier is None or carrier.severity == track.severity:
                continue
            if carrier.severity > max(track.severity, track.told or track.severity):
                continue  # above what the episode told: announced on its own
            # Eased since the later of the carrier's change and the end of this alert's
            # own condition: a step down that lasted from then (a resolve right after it
            # is the only notification, as for any step down).
            settles = max(carrier.alert.timestamp, waiting.timestamp) + STEP_DOWN_SETTLE_SECS
            if carrier.severity < track.severity and now < settles:
                self._settles_at = min(self._settles_at, settles)
                continue
            left, change = track.severity, carrier.alert
            track.severity = carrier.severity
            track.waiting = dataclasses.replace(waiting, severity=carrier.severity)
            track.held_back, track.last_sent = 0, now
            current = self._as_now(track, now, change)
            message = change.message  # said as the announced alert's condition ended, or since
            if change.timestamp < waiting.timestamp:  # it held its level under the other's
                now_is = self._value_now(current, "; ")
                held = f"at {when(change.timestamp)}, while the series stayed {left.label}"
                message = f"{message} ({held}{now_is})"
            eased = self._stamp(
                dataclasses.replace(current, status=Status.ESCALATED, message=message),
                0,
                {"occurrences": track.occurrences},
                first_fired=track.first_fired,
            )
            self.stats.notified += 1
            # Kept (for a restart) with the analyzer's own words, at the level told, as of now
            # (its repeats count from here).
            kept = dataclasses.replace(
                track.alert, status=Status.FIRING, severity=track.severity, timestamp=now
            )
            self._submit(eased, kept)
            sent.append(eased)
        return sent

    def _live_on_series(self, series: tuple[str, tuple[tuple[str, str], ...]], fp: str) -> bool:
        """Whether an alert of another fingerprint on the series is still in its condition."""
        for other_fp in self._by_series.get(series, set()):
            track = self._tracks[other_fp]
            if other_fp != fp and track.status is Status.FIRING and track.waiting is None:
                return True
        return False

    def _end_episode(
        self,
        series: tuple[str, tuple[tuple[str, str], ...]],
        fp: str,
        ending: Alert,
        resolve: Alert | None = None,
    ) -> Alert | None:
        """`fp` ended with `ending` (its RESOLVED); if nothing else on the series fires, the
        resolves that waited for the episode's end go out too, before `resolve`, saying what
        `ending` says: its time, value, level, message and context, under their own identity
        (a trend that stopped when the disk was full waited for the threshold's resolve after
        the file was deleted, and said "100 % now" and "full in 0 h" of an empty disk).
        Returns the last to send (the caller sends it); the others are handed on here."""
        now = ending.timestamp
        if self._live_on_series(series, fp):
            return resolve
        out = []
        for other_fp in sorted(self._by_series.get(series, set())):
            track = self._tracks[other_fp]
            waiting = track.waiting
            if other_fp == fp or waiting is None:
                continue
            track.status, track.waiting, track.last_sent = Status.RESOLVED, None, now
            self._resolved[other_fp] = None
            self._unindex(other_fp)
            self._linger_from(other_fp, now)  # its end told now: what it muted ebbs from here
            context = {
                **{k: v for k, v in ending.context.items() if k not in STAMPED},
                **{k: v for k, v in waiting.context.items() if k in STAMPED},
                "lasted_secs": round(now - track.first_fired),
            }
            out.append(dataclasses.replace(
                waiting, timestamp=now, value=ending.value, threshold=ending.threshold,
                message=ending.message, context=context,
            ))  # fmt: skip
        if resolve is not None:
            out.append(resolve)
        for earlier in out[:-1]:  # the waiting ones first
            self.stats.notified += 1
            self._submit(earlier)
        return out[-1] if out else None

    def series_gone(
        self,
        metric: str,
        labels: tuple[tuple[str, str], ...],
        now: float,
        last: tuple[float, float] | None = None,
    ) -> None:
        """A series stopped being reported (its process exited): resolve what fired on it.
        `last`: (time, value) of its last sample, if known; the RESOLVED says it (a leak's
        end said the 270 MiB of its first firing, not the 719 MiB the process had reached),
        and carries it as its value (NaN if not known: never the value of its firing)."""
        where = labels_text(labels)
        seen, value = last if last is not None and math.isfinite(last[1]) else (math.nan, math.nan)
        # The announced alerts last, so the episode ends with one of its own messages (and
        # in the same order whatever the set's hash order).
        tracks = self._by_series.get((metric, labels), ())
        for fp in sorted(tracks, key=lambda fp: (not self._tracks[fp].muted, fp)):
            track = self._tracks[fp]
            alert = track.alert
            if track.status is Status.FIRING and alert.metric == metric and alert.labels == labels:
                # Which series: "process_rss_bytes comm=java pid=4242: no longer reported"
                # says which process exited, not only that some series went away.
                last_said = ""
                if math.isfinite(value):
                    shown = format_metric(metric, value, against=alert.threshold)
                    last_said = f" since {when(seen)}, last {shown}"
                gone = dataclasses.replace(
                    alert, status=Status.RESOLVED, timestamp=now, value=value, context={},
                    message=f"{alert.metric}{where}: no longer reported{last_said} "
                    f"(was: {alert.message})",
                )  # fmt: skip
                self.route(gone)

    def _release_held(self, fp: str, now: float) -> Alert | None:
        """Send a flapping alert's held resolve once it has stayed resolved for the dedup window."""
        track = self._tracks.get(fp)
        held = None if track is None else track.held
        if track is None or held is None or now - held.timestamp < self.dedup_window_secs:
            return None
        track.held, track.flapping, track.last_sent = None, False, now
        self._linger_from(fp, now)
        # It may have been the last of its series: the resolves that waited for it go too.
        last = self._end_episode((held.metric, held.labels), fp, held, held)
        self.stats.notified += 1
        self._submit(held if last is None else last)
        return held

    def repeat_due(self, now: float) -> list[Alert]:
        """Re-send alerts still firing `min_interval_secs` after they were last sent, as they
        stand now; announce those whose mute ended; send the resolves of flapping alerts that
        have stayed resolved."""
        sent: list[Alert] = []
        for fp in [fp for fp, t in self._tracks.items() if t.held is not None]:
            released = self._release_held(fp, now)
            if released is not None:
                sent.append(released)
        sent += self._announce_unmuted(now)
        for fp in [fp for fp, t in self._tracks.items() if (t.confirm_by or math.inf) <= now]:
            resolved = self._not_raised_again(fp, now)
            if resolved is not None:
                sent.append(resolved)
        if self.min_interval_secs <= 0:
            return sent
        for track in self._tracks.values():
            due = (
                track.status is Status.FIRING
                and not track.muted
                and track.confirm_by is None  # not known to fire since the restart
                and now - track.last_sent >= self.min_interval_secs
            )
            words = track.alert
            if due and track.waiting is not None:
                # Its own condition ended: it is repeated only as the voice of its episode,
                # with the words of the folded alert that keeps the episode open (never
                # its own of a level or a reason the series left), and not at all while an
                # announced alert on the series still fires (that one is repeated).
                carrier = self._carrier(track)
                due = carrier is not None
                words = words if carrier is None else carrier.alert
            if due and not self.silenced(track.alert, now):
                held_back, track.held_back, track.last_sent = track.held_back, 0, now
                extra = {"occurrences": track.occurrences, "still_firing": True}
                repeat = self._stamp(
                    self._as_now(track, now, words), held_back, extra, first_fired=track.first_fired
                )
                self.stats.notified += 1
                self._submit(repeat, dataclasses.replace(repeat, message=track.alert.message))
                sent.append(repeat)
        return sent

    def _announce_unmuted(self, now: float) -> list[Alert]:
        """Announce the alerts still firing whose mute ended: their silence expired (or was
        expired), their maintenance window closed, the alert that inhibited them resolved,
        the alert that carried their series' episode fell below them.  Muted is "not now",
        not "never": a disk still full when its two-hour silence ends is news, and so is
        a socket still saturated after the whole CPU's alert that muted it resolved.  For
        the receiver the alert begins here, as it stands now (a FIRING, fresh value).  An
        announced alert whose severity changed while silenced has that change sent now.

        Looked at only when a mute may have ended (`_mutes_changed`, or the silences and
        windows in force changed), and in a fixed order: alerts that may mute others first,
        then the most severe, so that what mutes is announced (and indexed) before what it
        mutes is judged, whatever the order the tracks were last active in."""
        if now >= self._linger_ends:
            self._end_lingering(now)
        windows = tuple(i for i, w in enumerate(self.maintenance) if w.active(now))
        silences = [s for s in self.silences.current() if s.active(now)] if self.silences else []
        in_force = (windows, tuple(silences))  # a silence edited in place is another one
        if in_force != self._in_force:
            self._in_force, self._mutes_changed = in_force, True
        settling = now >= self._settles_at
        if not self._mutes_changed and not settling:
            return []
        self._mutes_changed = False
        self._settles_at = math.inf

        def silenced(alert: Alert) -> bool:
            return any(matches(self.maintenance[i].matchers, alert) for i in windows) or any(
                matches(s.matchers, alert) for s in silences
            )

        muted = [
            (fp, t)
            for fp, t in self._tracks.items()
            if t.status is Status.FIRING and (t.muted or t.unsent is not None)
            and t.confirm_by is None  # taken back at a restart, not raised again yet
            and not silenced(t.unsent or t.alert)
        ]  # fmt: skip
        muted.sort(key=lambda item: (not self._is_source(item[1].alert), -item[1].severity))
        sent: list[Alert] = []
        for fp, track in muted:
            if track.unsent is not None:  # announced; its change waited for the silence
                change = track.unsent
                if track.unsent_why == SETTLING and now < track.unsent_at + STEP_DOWN_SETTLE_SECS:
                    self._settles_at = min(
                        self._settles_at, track.unsent_at + STEP_DOWN_SETTLE_SECS
                    )
                    continue  # not lasted yet
                if change.severity < track.severity and self._held(change, fp, track.severity):
                    continue  # a step down, and a folded alert still holds the level it leaves
                track.unsent = None
                told = self._tell_late(
                    change, now, track.unsent_why, settled=track.unsent_why == SETTLING
                )
                if told is not None:
                    sent.append(told)
                continue
            folded, track.folded = track.folded, self._carried(track.alert, fp)
            if folded != track.folded:  # folded now (a silence ended), or no more
                self._keep_folded(fp, track if track.folded else None)
            if track.folded or self._inhibited(track.alert, now):
                continue
            track.muted, track.held_back, track.last_sent = False, 0, now
            self._index(fp, track)
            current = self._as_now(track, now)
            # What the analyzer said, when, and what it is now: news to the receiver, not a
            # "still firing" of something it never heard of.
            now_is = self._value_now(current, "; ")
            message = f"{track.alert.message} (since {when(track.first_fired)}, muted{now_is})"
            announced = self._stamp(
                dataclasses.replace(current, status=Status.FIRING, message=message),
                0,
                {"occurrences": track.occurrences},
                first_fired=track.first_fired,
            )
            self.stats.notified += 1
            self._submit(announced, dataclasses.replace(announced, message=track.alert.message))
            sent.append(announced)
        return sent + self._ease_waiting(now)

    def resume(
        self,
        announced: Iterable[Alert],
        now: float,
        confirm_within: Callable[[Alert], float | None],
    ) -> None:
        """Take back, at start-up, the alerts announced before the restart and not resolved
        (`Episodes`, as the last notification of each): tracked as firing, announced, in
        their episode (its `alert_id`, repeats counted from its last notification), not
        sent again.  If their analyzer raises them again within `confirm_within(alert)`
        seconds (its learning time, and a few collection intervals), the episode goes on
        unannounced (an ESCALATED if the severity changed); if not, it is resolved then,
        "not raised again since the agent restarted" (an infinite time: no deadline, its
        analyzer says where it stands at its series' next reading).  None: the analyzer took
        the alert back as it was and will resolve it itself (a link down)."""
        for kept in announced:
            if kept.status is Status.RESOLVED or kept.fingerprint in self._tracks:
                continue
            # One never announced is taken back folded into its series' episode.
            folded = bool(kept.context.get(FOLDED_MARK))
            told = _severity_or_none(kept.context.get(TOLD_MARK))
            said = kept.context.get(SAID_MARK)
            alert = without_kept_marks(kept)
            first = alert.timestamp if alert.first_fired is None else alert.first_fired
            # Kept as of its last notification (a repeat's time: its schedule), with when its
            # words were said: the first firing's say "first:", an escalation's "at <then>:".
            if isinstance(said, int | float) and math.isfinite(said):
                words = dataclasses.replace(alert, timestamp=float(said))
            elif alert.status is Status.FIRING:
                words = dataclasses.replace(alert, timestamp=first)
            else:
                words = alert
            occurrences = alert.context.get("occurrences", 1)
            track = _Track(
                Status.FIRING,
                alert.severity,
                alert.timestamp,
                words,
                first_fired=first,
                occurrences=occurrences if isinstance(occurrences, int) else 1,
                muted=folded,
                folded=folded,
                told=None if folded else max(alert.severity, told or alert.severity),
            )
            within = confirm_within(alert)
            if within is not None:
                track.confirm_by = now + within
            self._remember(alert.fingerprint, track)
        self._prune()

    def resolve_unreported(self, reported: Callable[[Alert], bool], now: float) -> list[Alert]:
        """Resolve the alerts taken back at start-up, not raised again yet, whose series is
        not reported, or that their analyzer cannot judge any more (`reported` says; a
        process that exited while the agent was down, a rule removed): their analyzers
        never will raise them, however long they learn."""
        waiting = [fp for fp, t in self._tracks.items() if t.confirm_by is not None]
        sent = []
        for fp in waiting:
            if not reported(self._tracks[fp].alert):
                resolved = self._not_raised_again(fp, now)
                if resolved is not None:
                    sent.append(resolved)
        return sent

    def _not_raised_again(self, fp: str, now: float) -> Alert | None:
        """A track resumed after a restart that its analyzer has not raised again: resolved,
        saying so and what it is now."""
        track = self._tracks[fp]
        track.confirm_by = None
        current = self._as_now(track, now)
        where = labels_text(track.alert.labels)
        now_is = self._value_now(current, ", ")
        resolve = dataclasses.replace(
            current,
            status=Status.RESOLVED,
            message=f"{current.metric}{where}: not raised again since the agent restarted"
            f"{now_is} (was: {track.alert.message})",
            context={"not_raised_since_restart": True},
        )
        return self.route(resolve)

    def _tell_late(
        self, change: Alert, now: float, why: str = "muted", settled: bool = False
    ) -> Alert | None:
        """Route a change of an announced alert that waited for its mute to end: the episode
        keeps the analyzer's words; the notification says when it happened and the value of
        now, with fresh context (read now, "critical" with the 96 % of an hour ago would be
        stale when the disk is at 99 %, or already back at 93 %)."""
        self.stats.received += 1
        told = self._decide(dataclasses.replace(change, timestamp=now), settled=settled)
        track = self._tracks.get(change.fingerprint)
        if told is None:
            self.stats.suppressed += 1
            if track is not None and track.unsent is not None:  # held again: it happened then
                track.unsent = change
            return None
        current = told if track is None else self._as_now(track, now)
        now_is = self._value_now(current, "; ")
        message = f"{change.message} (at {when(change.timestamp)}, {why}{now_is})"
        # The context of now only (top processes of an hour ago beside "99% now" would be
        # read as today's), with what the router stamped on this notification.
        stamped = {k: v for k, v in told.context.items() if k in STAMPED}
        late = dataclasses.replace(
            told,
            value=current.value,
            message=message,
            context={**current.context, **stamped},
            series_id=current.series_id,
        )
        self.stats.notified += 1
        self._submit(late, told)
        return late

    def _value_now(self, current: Alert, separator: str) -> str:
        """The value of now for a message ("; 99.2% now", `separator` first), if known."""
        if self.refresh is None or not math.isfinite(current.value):
            return ""
        shown = format_metric(current.metric, current.value, against=current.threshold)
        return f"{separator}{shown} now"

    def _as_now(self, track: _Track, now: float, words: Alert | None = None) -> Alert:
        """The track's alert with the value and context of now, at the time of now: its own
        `id`, and what it says is true when it is read (not the first firing's old body).
        `words`: another alert on its series, whose words (and when they were said) it
        quotes instead of its own: the folded alert that carries its episode on."""
        base = track.alert
        if words is not None and words is not track.alert:
            base = dataclasses.replace(
                words,
                analyzer=track.alert.analyzer,
                severity=track.severity,
                hostname=track.alert.hostname,
            )
        base = dataclasses.replace(base, status=Status.FIRING, first_fired=track.first_fired)
        current = dataclasses.replace(base, timestamp=now)
        if self.refresh is not None:
            try:
                current = self.refresh(base, now)
            except Exception:  # a notification without fresh context beats none at all
                log.exception("refreshing %s as it stands now failed", base.metric)
                current = dataclasses.replace(current, value=math.nan)  # not known: not "now"
        return current

    def _stamp(
        self,
        alert: Alert,
        repeats: int,
        extra: Mapping[str, object] | None = None,
        *,
        first_fired: float | None = None,
    ) -> Alert:
        """The alert as sent: this host, what was held back, and its episode's start."""
        context = dict(alert.context)
        if repeats:
            context["repeats"] = repeats
        for key, value in (extra or {}).items():
            if key != "occurrences" or (isinstance(value, int) and value > 1):
                context[key] = value
        first = alert.timestamp if first_fired is None else first_fired
        # An alert about another host (the fleet watcher's: a silent host) keeps its host.
        return dataclasses.replace(
            alert, hostname=alert.hostname or self.hostname, context=context, first_fired=first
        )

    def adopt(self, alert: Alert, now: float, *, muted: bool = False) -> None:
        """Track `alert` as firing and already announced, without sending it: an alert that
        another instance of a service fired (the fleet watcher's previous leader), so that
        its resolve and repeats follow here.  `alert.timestamp` is its first firing.

        `muted`: that instance muted it (a silence, an inhibition) and never told anyone:
        here it is announced when nothing here mutes it (`repeat_due`), and its end is
        not told."""
        known = self._tracks.get(alert.fingerprint)
        if known is not None and known.status is Status.FIRING:
            return
        track = _Track(
            Status.FIRING, alert.severity, now, alert, first_fired=alert.timestamp, muted=muted,
            told=None if muted else alert.severity,
        )  # fmt: skip
        self._remember(alert.fingerprint, track)
        if muted:
            self._mutes_changed = True  # judged at the next look, as a mute that may be over
        self._prune()

    def muted(self, fingerprint: str) -> bool | None:
        """Whether the firing alert is muted (nobody has been told of it), None if it is not
        firing here."""
        track = self._tracks.get(fingerprint)
        if track is None or track.status is not Status.FIRING:
            return None
        return track.muted

    def _prune(self) -> None:
        """Keep the table bounded: the oldest resolved fingerprints go first, then the stalest."""
        while len(self._tracks) > MAX_TRACKED:
            fp = next(iter(self._resolved)) if self._resolved else next(iter(self._tracks))
            # A flapping alert's resolve held for the dedup window goes now, early rather
            # than never: its track, all that holds it, is forgotten for room.
            self._release_held(fp, math.inf)
            self._forget(fp)

    def forget_resolved(self, now: float) -> None:
        """Drop resolved fingerprints older than the dedup window (called periodically)."""
        horizon = now - self.dedup_window_secs
        stale = [
            fp
            for fp in self._resolved
            if self._tracks[fp].last_sent < horizon and self._tracks[fp].held is None
        ]
        for fp in stale:
            self._forget(fp)


def without_kept_marks(alert: Alert) -> Alert:
    """A kept episode's alert as its analyzer raised it: without the router's marks."""
    if not any(mark in alert.context for mark in KEPT_MARKS):
        return alert
    context = {k: v for k, v in alert.context.items() if k not in KEPT_MARKS}
    return dataclasses.replace(alert, context=context)


def _severity_or_none(label: object) -> Severity | None:
    """A severity kept as its label; None for anything else (a file edited by hand)."""
    try:
        return Severity.parse(label) if isinstance(label, str) else None
    except KeyError:
        return None
