"""Decides which analyzer events become notifications, and on which channels.

Rules (per fingerprint = analyzer + metric + labels):

* a new firing alert, or a change of severity (escalated), is sent at once;
* while it keeps firing, it is repeated every `min_interval_secs`
  (`repeat_due`, called by the runtime), and a firing event for an alert
  that is already firing is held back until then (the repeat says how many
  were held back);
* a resolve is sent only for an alert whose firing was sent;
* each channel gets only alerts at or above its `min_severity`.

Time comes from the alerts' own timestamps, which keeps the router pure and its
tests exact.  Resolved fingerprints are remembered for `dedup_window_secs`.

The table of fingerprints is bounded (`MAX_TRACKED`) and its bookkeeping costs
O(1) per event however full it is: tracks are kept in order of last activity
and resolved ones in order of resolution, so the one to forget is always at
the front.  A storm of 100,000 distinct alerts (a log flood) thus costs
milliseconds, not the minutes a scan of the table per event took.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from alerting.alert import Alert, Severity, Status
from alerting.delivery import ChannelWorker
from alerting.silences import InhibitRule, MaintenanceWindow, SilenceFile, matches

log = logging.getLogger(__name__)

# Bound on remembered fingerprints; the oldest resolved ones go first, then the least
# recently active.
MAX_TRACKED = 10_000


@dataclass
class _Track:
    status: Status
    severity: Severity
    last_sent: float
    alert: Alert
    held_back: int = 0
    first_fired: float = 0.0
    occurrences: int = 1  # firings of this fingerprint within the dedup window
    silent: bool = (
        False  # a flap: firing again without a new announcement (its resolve is not sent)
    )
    muted: bool = False  # silenced or inhibited: never announced, not repeated


@dataclass
class RouterStats:
    received: int = 0
    notified: int = 0
    suppressed: int = 0
    flaps: int = 0  # re-firings within the dedup window, folded into the first alert
    silenced: int = 0  # matched a silence or a maintenance window
    inhibited: int = 0  # muted by a more severe alert on the same metric and labels


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
    ) -> None:
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
        # Per inhibit rule, the live (firing, not muted) tracks matching its source: a new
        # alert looks at those few, not at the whole table.
        self._sources: list[dict[str, None]] = [{} for _ in self.inhibit_rules]
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
    ) -> list[ChannelWorker]:
        """Swap settings and channels, keeping what was already sent; returns the old workers."""
        old = self.workers
        self.maintenance = list(maintenance)
        self.inhibit_rules = list(inhibit_rules)
        self._sources = [{} for _ in self.inhibit_rules]
        for fp, track in self._tracks.items():
            self._index(fp, track)
        self.hostname = hostname
        self.workers = list(workers)
        self.min_interval_secs = min_interval_secs
        self.dedup_window_secs = dedup_window_secs
        return old

    def route(self, alert: Alert) -> Alert | None:
        """Hand `alert` to the channels if it is news; returns what was sent, if anything."""
        self.stats.received += 1
        outgoing = self._decide(alert)
        if outgoing is None:
            self.stats.suppressed += 1
            return None
        self.stats.notified += 1
        self._submit(outgoing)
        return outgoing

    def _submit(self, alert: Alert) -> None:
        resolved = alert.status is Status.RESOLVED
        for worker in self.workers:
            channel = worker.channel
            if alert.severity >= channel.min_severity and (channel.send_resolved or not resolved):
                worker.submit(alert)

    def _decide(self, alert: Alert) -> Alert | None:
        if alert.context.get("event"):  # a one-off (a log line): nothing to track or resolve
            return self._stamp(alert, 0)
        fp = alert.fingerprint
        track = self._tracks.pop(fp, None)
        if track is not None:
            self._tracks[fp] = track  # the most recently active now
        now = alert.timestamp
        if alert.status is Status.RESOLVED:
            if track is None or track.status is Status.RESOLVED:
                return None
            track.status, track.held_back = Status.RESOLVED, 0
            self._resolved[fp] = None
            self._unindex(fp)
            if (
                track.silent or track.muted
            ):  # the end of a flap or of a muted alert: nobody was told it began
                track.silent = track.muted = False
                return None
            track.last_sent = now
            lasted = now - track.first_fired
            return self._stamp(
                alert, 0, {"lasted_secs": round(lasted), "occurrences": track.occurrences}
            )
        if (
            track is not None
            and track.status is Status.RESOLVED
            and now - track.first_fired < self.dedup_window_secs
        ):
            # Flapping: the same problem again within the dedup window is the same alert.
            track.status, track.severity, track.alert, track.silent = (
                Status.FIRING,
                alert.severity,
                alert,
                True,
            )
            track.occurrences += 1
            self._resolved.pop(fp, None)
            self._index(fp, track)
            self.stats.flaps += 1
            return None
        new = track is None or track.status is Status.RESOLVED
        changed = track is not None and (track.severity != alert.severity or track.muted)
        if self.silenced(alert, now):
            self.stats.silenced += 1
            if new:
                self._remember(
                    fp,
                    _Track(Status.FIRING, alert.severity, now, alert, first_fired=now, muted=True),
                )
                self._prune()
            return None
        if (new or changed) and self._inhibited(alert):
            self.stats.inhibited += 1
            if new:
                muted = _Track(
                    Status.FIRING, alert.severity, now, alert, first_fired=now, muted=True
                )
                self._remember(fp, muted)
                self._prune()
            return None
        if new or changed or alert.status is Status.ESCALATED:
            occurrences = track.occurrences if track is not None and not new else 1
            first = track.first_fired if track is not None and not new else now
            fresh = _Track(
                Status.FIRING,
                alert.severity,
                now,
                alert,
                first_fired=first,
                occurrences=occurrences,
            )
            self._remember(fp, fresh)
            self._prune()
            return self._stamp(alert, 0)
        if track is None:  # unreachable: `new` covers it; keeps the type checker informed
            return None
        track.alert = alert
        if now - track.last_sent >= self.min_interval_secs:
            held_back, track.held_back, track.last_sent = track.held_back, 0, now
            return self._stamp(alert, held_back, {"occurrences": track.occurrences})
        track.held_back += 1
        return None

    def silenced(self, alert: Alert, now: float) -> bool:
        if any(window.silences(alert, now) for window in self.maintenance):
            return True
        return self.silences is not None and any(
            s.silences(alert, now) for s in self.silences.current()
        )

    def _forget(self, fp: str) -> None:
        track = self._tracks.pop(fp)
        self._resolved.pop(fp, None)
        self._unindex(fp)
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

    def _index(self, fp: str, track: _Track) -> None:
        self._unindex(fp)
        if track.status is Status.FIRING and not track.muted:
            for rule, sources in zip(self.inhibit_rules, self._sources, strict=True):
                if matches(rule.source, track.alert):
                    sources[fp] = None

    def _unindex(self, fp: str) -> None:
        for sources in self._sources:
            sources.pop(fp, None)

    def _inhibited(self, alert: Alert) -> bool:
        """A firing, more severe alert of another analyzer on the same metric and labels mutes this one,
        and so does any firing alert that a configured rule says mutes it."""
        for rule, sources in zip(self.inhibit_rules, self._sources, strict=True):
            for fp in sources:
                if rule.mutes(self._tracks[fp].alert, alert):
                    return True
        for fp in self._by_series.get((alert.metric, alert.labels), set()):
            track = self._tracks[fp]
            other = track.alert
            if (
                track.status is Status.FIRING
                and not track.muted
                and track.severity > alert.severity
                and other.metric == alert.metric
                and other.labels == alert.labels
                and other.analyzer != alert.analyzer
            ):
                return True
        return False

    def series_gone(self, metric: str, labels: tuple[tuple[str, str], ...], now: float) -> None:
        """A series stopped being reported (its process exited): resolve what fired on it."""
        for fp in list(self._by_series.get((metric, labels), ())):
            track = self._tracks[fp]
            alert = track.alert
            if track.status is Status.FIRING and alert.metric == metric and alert.labels == labels:
                gone = dataclasses.replace(
                    alert, status=Status.RESOLVED, timestamp=now, context={},
                    message=f"{alert.metric}: no longer reported (was: {alert.message})",
                )  # fmt: skip
                self.route(gone)

    def repeat_due(self, now: float) -> list[Alert]:
        """Re-send alerts still firing `min_interval_secs` after they were last sent."""
        sent: list[Alert] = []
        if self.min_interval_secs <= 0:
            return sent
        for track in self._tracks.values():
            due = (
                track.status is Status.FIRING
                and not track.muted
                and now - track.last_sent >= self.min_interval_secs
            )
            if due and not self.silenced(track.alert, now):
                held_back, track.held_back, track.last_sent = track.held_back, 0, now
                repeat = dataclasses.replace(
                    self._stamp(track.alert, held_back, {"occurrences": track.occurrences}),
                    status=Status.FIRING,
                )
                repeat.context["still_firing"] = True
                self.stats.notified += 1
                self._submit(repeat)
                sent.append(repeat)
        return sent

    def _stamp(self, alert: Alert, repeats: int, extra: dict[str, object] | None = None) -> Alert:
        context = dict(alert.context)
        if repeats:
            context["repeats"] = repeats
        for key, value in (extra or {}).items():
            if key != "occurrences" or (isinstance(value, int) and value > 1):
                context[key] = value
        return dataclasses.replace(alert, hostname=self.hostname, context=context)

    def _prune(self) -> None:
        """Keep the table bounded: the oldest resolved fingerprints go first, then the stalest."""
        while len(self._tracks) > MAX_TRACKED:
            if self._resolved:
                self._forget(next(iter(self._resolved)))
            else:
                self._forget(next(iter(self._tracks)))

    def forget_resolved(self, now: float) -> None:
        """Drop resolved fingerprints older than the dedup window (called periodically)."""
        horizon = now - self.dedup_window_secs
        stale = [fp for fp in self._resolved if self._tracks[fp].last_sent < horizon]
        for fp in stale:
            self._forget(fp)
