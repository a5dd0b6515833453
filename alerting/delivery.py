"""Per-channel delivery workers: durable backlog, grouping, budget, pacing, retries, isolation.

Each channel has its own worker task, so a hung or dead endpoint only delays
its own alerts.  For channels people read, what becomes ready within the group
wait goes out as one message.  At most `max_per_hour` alerts per channel per
hour, shared fairly: one group of alerts (an analyzer and metric, e.g. one log
pattern) gets at most half of it; the first alert of a group in the hour, and
an alert more severe than any its group sent in the hour, get through even
when the budget is spent (but never beyond twice the budget); Emergency
bypasses the budget (when allowed) once per group per hour, and further ones
of that group are held back for the hour.  What the budget holds back is
counted in the next message and folded into one digest notification per
channel (counts per severity, the worst named), never silently removed.  The budget is charged once per
notification, when it is first admitted, not again when a backlog is retried.
Sends are paced to the API's documented
rate; failures are retried with exponential backoff and full jitter, and a
far side's Retry-After pauses the whole channel.  Alerts older than `max_age`
are dropped rather than delivered days late: counted, logged, and said (with
what `max_rows` dropped) by the next message that gets through on any channel
(`Undelivered`, shared by the agent's workers).  A channel whose endpoint is gone
(401/403/404) is marked dead instead of being hammered.  Everything waits in
the outbox (`alerting.outbox`), so a far side that is away for an hour, or an
agent killed in the middle, loses nothing: after the quick retries the backlog
waits `park_secs` and is tried again, oldest first, until it is delivered or
too old.

A worker never dies silently: an unexpected error (a channel bug, a broken
outbox) is logged with the channel's name and the worker starts again after a
backoff.  It yields to the event loop between rows, so a storm of alerts it
discards keeps the rest of the agent running.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from alerting.alert import Alert, Severity, Status
from alerting.channels.base import Channel, DeliveryError
from alerting.outbox import MemoryOutbox, Outbox, move_rows

log = logging.getLogger(__name__)

GROUP_MAX = 50  # alerts in one grouped message (the channel splits it further for its limits)
PARK_SECS = 30.0  # after the quick retries failed, the pause before the backlog is tried again
BACKOFF_BASE_SECS = 1.0
BACKOFF_MAX_SECS = 60.0
# A guard above the channel's own timeouts, so a channel bug cannot hang its worker.
ATTEMPT_TIMEOUT_SECS = 120.0
HOUR = 3600.0
GROUP_SHARE = 2  # one group of alerts may use at most 1/GROUP_SHARE of the hourly budget
YIELD_EVERY = 50  # rows handled between two yields to the event loop, however fast they went
RESTART_BASE_SECS = 1.0  # the first pause before a failed worker starts again; doubles up to...
RESTART_MAX_SECS = 60.0
DIGEST_NAMED = 3  # the most severe held-back alerts a digest names
DIGEST_METRIC = "alerts_folded"  # the digest's metric (from analyzer "agent")
# The outbox "channel" a worker keeps its pending digest under (never delivered from there).
PARKED = "/parked-digest"
DIGEST_EVERY = 12  # at most one digest per channel per 1/DIGEST_EVERY of the budget window
# Episodes a worker remembers having announced, so that their RESOLVED is never held back;
# the oldest are forgotten past it (their RESOLVED then meets the budget like any alert).
ANNOUNCED_MAX = 4096


def group_of(alert: Alert) -> tuple[str, str]:
    """What shares one slice of the budget: an analyzer's metric (one log pattern, say)."""
    return alert.analyzer, alert.metric


@dataclass
class _GroupBudget:
    sent: deque[tuple[float, Severity]] = dataclasses.field(default_factory=deque)
    emergency_at: float = float("-inf")  # the last emergency that bypassed the budget


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    retries: int = 0
    parked: int = 0  # times the quick retries ran out and the backlog waited
    expired: int = 0  # older than max_age when their turn came
    suppressed: int = 0  # held back by the hourly budget
    messages: int = 0
    restarts: int = 0  # the worker failed unexpectedly and was started again


class Undelivered:
    """Alerts that left the outbox undelivered (expired, trimmed), per channel, until said.

    One instance is shared by every worker of the agent, so what a channel that
    is down loses is said by the next message that gets through on any channel.
    """

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()  # (channel, why) -> alerts
        self.total: Counter[tuple[str, str]] = Counter()  # ever, for the stop line and tests

    def add(self, channel: str, why: str, n: int) -> None:
        if n > 0:
            self.counts[channel, why] += n
            self.total[channel, why] += n

    def take(self) -> Counter[tuple[str, str]]:
        taken, self.counts = self.counts, Counter()
        return taken

    def give_back(self, taken: Counter[tuple[str, str]]) -> None:
        self.counts.update(taken)

    @staticmethod
    def text(taken: Counter[tuple[str, str]]) -> str:
        why_text = {"expired": "expired undelivered (older than max_age_secs)",
                    "trimmed": "dropped undelivered (outbox over max_rows)",
                    "removed": "dropped undelivered (channel removed from the configuration)"}  # fmt: skip
        return "; ".join(
            f"{n} alert(s) {why_text.get(why, why)} on channel {channel}"
            for (channel, why), n in sorted(taken.items())
        )


def backoff_delay(
    attempt: int, base: float = BACKOFF_BASE_SECS, cap: float = BACKOFF_MAX_SECS
) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    import random  # only when a delivery is retried

    return random.uniform(0, min(cap, base * 2**attempt))


# What became of one message: sent; given up for good (a dead endpoint, a permanent
# rejection: the rows go, their failure counted); kept to try again later.
Outcome = Literal["sent", "dropped", "later"]


class ChannelWorker:
    def __init__(
        self,
        channel: Channel,
        *,
        outbox: Outbox | None = None,
        backoff_base: float = BACKOFF_BASE_SECS,
        group_wait: float = 10.0,
        max_per_hour: int = 60,
        emergency_bypass: bool = True,
        max_age: float = HOUR,
        park_secs: float = PARK_SECS,
        window: float = HOUR,
        undelivered: Undelivered | None = None,
    ) -> None:
        self.channel = channel
        self.outbox: Outbox = outbox if outbox is not None else MemoryOutbox()
        self.backoff_base = backoff_base
        self.group_wait = group_wait if channel.groups else 0.0
        self.max_per_hour = max_per_hour
        self.emergency_bypass = emergency_bypass
        self.max_age = max_age
        self.park_secs = park_secs
        # The budget's window: an hour; shorter only in tests that simulate hours.
        self.window = window
        self.undelivered = undelivered if undelivered is not None else Undelivered()
        self.stats = DeliveryStats()
        self.dead: str | None = None
        self.failing = False  # the last try ran out of quick retries; cleared by the next delivery
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self._retiring = False
        self._recent: deque[float] = deque()  # send times within the last hour, for the budget
        self._groups: dict[tuple[str, str], _GroupBudget] = {}
        self._charged: set[int] = set()  # outbox rows admitted once: a retry is not charged again
        # The episodes (`alert_id`) this channel was told of and not yet told the end of, oldest
        # first: their RESOLVED closes what a person or a receiver already holds open.
        self._announced: dict[str, None] = {}
        self._held_back = 0  # suppressed since the last delivered message
        # What the budget held back and no delivered message has said yet: folded into one
        # digest notification (per severity, the worst named) instead of being lost.
        self._folded: Counter[Severity] = Counter()
        self._folded_worst: list[Alert] = []
        self._folded_down = False  # some of it waited through an outage
        self._digest_row: int | None = None  # the digest waiting in the outbox, if any
        self._digest_at = float("-inf")  # when the last digest was written
        self._digest_says = 0  # how many held-back alerts the waiting digest counts
        self._digest_counts: Counter[Severity] = Counter()  # ... by severity
        self._digest_named: list[Alert] = []  # ... and which of `_folded_worst` it names
        # The digest as it stands, kept in the outbox under PARKED (not delivered from there)
        # from the moment an alert is folded: a kill -9 before the digest goes out loses nothing.
        self._parked_row: int | None = None
        self._restored = False  # a parked digest of the previous run was queued at start
        self._last_send = 0.0
        self._resume_at = 0.0  # (monotonic) not before: the far side's Retry-After
        self._certificate_said = False  # a certificate failure logged at error level, this episode

    @property
    def name(self) -> str:
        return self.channel.name

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._supervise(), name=f"channel:{self.channel.name}"
            )

    def submit(self, alert: Alert) -> None:
        """Persist the alert for this channel (before any attempt) and wake the worker."""
        self.outbox.add(self.channel.name, alert)
        self._wakeup.set()

    @property
    def pending(self) -> int:
        return self.outbox.count(self.channel.name)

    async def drain(self, timeout: float) -> bool:
        """Wait until the backlog is delivered or given up; False on timeout (it stays in the outbox)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.pending or self._busy or (self._task is not None and not self._restored):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    @property
    def retiring(self) -> bool:
        """Whether a successor is about to take its rows over (`retire` has begun)."""
        return self._retiring

    async def retire(self, timeout: float) -> None:
        """Stop for a successor (a reload): the batch in flight is finished first (within
        `timeout`; past it, cut, and its rows sent again by the successor), no other is
        taken, and everything else stays in the outbox for the successor, which
        `take_over`s from here.  Two workers sending one outbox's rows would send each
        row twice."""
        self._retiring = True
        self._wakeup.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._busy and loop.time() < deadline:
            await asyncio.sleep(0.02)
        try:  # a channel that hangs closing must not hold the reload (collection waits on it)
            await asyncio.wait_for(self.stop(), max(1.0, deadline - loop.time()))
        except TimeoutError:
            log.warning("channel %s: the worker being replaced did not stop in time", self.name)

    def take_over(self, old: ChannelWorker, rows: Mapping[int, int] | None = None) -> None:
        """Go on where `old` (retired) left off: its counters, its hour of sends and group
        budgets, the rows it charged (not charged again), what it held back and folded, its
        digest, whether its parked one was restored.  `rows` maps its outbox's row ids to
        this worker's outbox (`move_rows`), None when both share one."""

        def mapped(row: int | None) -> int | None:
            return row if rows is None or row is None else rows.get(row)

        self.stats = old.stats
        self.failing = old.failing
        self._recent, self._groups = old._recent, old._groups
        self._charged = {r for r in map(mapped, old._charged) if r is not None}
        self._announced = old._announced
        self._held_back = old._held_back
        self._folded, self._folded_worst = old._folded, old._folded_worst
        self._folded_down = old._folded_down
        self._digest_row, self._parked_row = mapped(old._digest_row), mapped(old._parked_row)
        self._digest_at, self._digest_says = old._digest_at, old._digest_says
        self._digest_counts, self._digest_named = old._digest_counts, old._digest_named
        self._restored = old._restored
        self._last_send = old._last_send
        self._certificate_said = old._certificate_said

    async def stop(self) -> None:
        task, self._task = self._task, None
        while task is not None and not task.done():
            # Cancelled again until it has ended: a cancellation that meets a completing
            # `asyncio.wait_for` (Python 3.11, in a channel's library as once here) is
            # swallowed, the loop went on, and the stop (a shutdown, a reload) waited for good.
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        await self.channel.close()

    # -- the loop --------------------------------------------------------------------------

    async def _supervise(self) -> None:
        """Run the loop; if it fails unexpectedly, say so and start it again after a backoff."""
        failures = 0
        while True:
            started = time.monotonic()
            try:
                await self._run()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._busy = False
                if time.monotonic() - started > RESTART_MAX_SECS:
                    failures = 0  # it ran for a while: a new problem, not the same one again
                delay = min(RESTART_MAX_SECS, RESTART_BASE_SECS * 2**failures)
                failures += 1
                self.stats.restarts += 1
                log.exception(
                    "channel %s: the delivery worker failed; starting it again in %.0f s",
                    self.channel.name,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _run(self) -> None:
        name = self.channel.name
        handled = 0
        self._restore_parked()  # in the loop: a failing outbox here is a worker failure
        while True:
            if self._retiring:  # a successor takes the rows from here (`retire`)
                await asyncio.Event().wait()
            rows = self.outbox.pending(name, 1)
            if not rows:
                self._wakeup.clear()
                if self._fold_due():
                    continue
                if not self.outbox.pending(name, 1):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), self._fold_wait())
                continue
            if self.group_wait > 0 and time.time() - rows[0][1].timestamp < self.group_wait:
                await asyncio.sleep(self.group_wait)  # let what is about to come join the message
            # A channel that sends one alert per message still takes its rows a batch at a
            # time: in a storm most are held back by the budget, at a fraction of the cost.
            rows = self.outbox.pending(name, GROUP_MAX if self.channel.groups else YIELD_EVERY)
            self._busy = True
            try:
                await self._handle(rows)
            finally:
                self._busy = False
            handled += len(rows)
            if handled >= YIELD_EVERY:
                # Rows that are discarded (over budget, too old) never wait for anything:
                # without this a storm of them would hold the event loop for minutes.
                handled = 0
                await asyncio.sleep(0)

    def _forget_rows(self, ids: list[int]) -> None:
        self.outbox.remove(ids)
        self._charged.difference_update(ids)
        if self._digest_row in ids:  # the digest is delivered: what it folded is said
            # Only that: alerts held back after it was written (it is not rewritten while
            # rows wait to be admitted) are said by the next one.
            said, named = self._digest_counts, self._digest_named
            self._digest_row = None
            self._digest_says = 0
            self._folded -= said
            self._folded_worst = [a for a in self._folded_worst if not any(a is b for b in named)]
            self._folded_down = self._folded_down and bool(self._folded)

    @property
    def _parked_name(self) -> str:
        return f"{self.channel.name}{PARKED}"

    @property
    def outbox_channels(self) -> tuple[str, str]:
        """The outbox's channel names of this worker's rows: its queue and its parked digest."""
        return self.channel.name, self._parked_name

    def _park(self) -> None:
        """Keep the digest of what is folded so far in the outbox (replacing the last copy)."""
        old, self._parked_row = self._parked_row, self.outbox.add(self._parked_name, self._digest())
        if old is not None:
            self.outbox.remove([old])

    def _restore_parked(self) -> None:
        """A digest parked by a run that never sent it (killed): queue it now, once, as is."""
        if self._restored:
            return
        parked = self.outbox.pending(self._parked_name, 1000)
        self._restored = True
        if not parked:
            return
        for _row, alert in parked:
            queued = self.outbox.add(self.channel.name, alert)
            self._charged.add(queued)  # said before the crash would have: not charged again
        self.outbox.remove([row for row, _ in parked])
        log.warning(
            "channel %s: the previous run stopped before its digest of held-back alerts "
            "went out; it is sent now",
            self.channel.name,
        )

    def _fold(self, alert: Alert) -> None:
        self._folded[alert.severity] += 1
        self._folded_worst.append(alert)
        self._folded_worst.sort(key=lambda a: (-a.severity, a.timestamp))
        del self._folded_worst[DIGEST_NAMED:]
        self._folded_down = self._folded_down or self.failing

    def _fold_wait(self) -> float | None:
        """How long the idle worker may sleep before a digest is due (None: none is)."""
        if not self._folded or self._digest_row is not None:
            return None
        return max(0.01, self._digest_at + self.window / DIGEST_EVERY - time.time())

    def _fold_due(self) -> bool:
        """Write (or rewrite) the digest row if held-back alerts are left unsaid; True if written.

        Only once no row still waits to be admitted (the digest comes after what is
        delivered itself), and at most once per 1/DIGEST_EVERY of the window, so a storm that
        outlasts the budget is one digest now and then, not one per alert.  A digest
        still waiting (the channel is down) is replaced, so there is one per channel.
        """
        if not self._folded or sum(self._folded.values()) == self._digest_says:
            return False
        if self._digest_row is None and time.time() < self._digest_at + self.window / DIGEST_EVERY:
            return False
        waiting = self.outbox.pending(self.channel.name, len(self._charged) + 1)
        if any(row not in self._charged for row, _ in waiting):
            return False
        if self._digest_row is not None:
            self.outbox.remove([self._digest_row])
            self._charged.discard(self._digest_row)
        self._digest_row = self.outbox.add(self.channel.name, self._digest())
        self._charged.add(self._digest_row)  # a digest is not charged to the budget
        if self._parked_row is not None:  # queued now: the parked copy has done its job
            self.outbox.remove([self._parked_row])
            self._parked_row = None
        self._digest_at = time.time()
        self._digest_says = sum(self._folded.values())
        self._digest_counts = Counter(self._folded)
        self._digest_named = list(self._folded_worst)
        self._held_back = 0  # said by the digest, not again by the next alert
        return True

    def _digest(self) -> Alert:
        n = sum(self._folded.values())
        counts = ", ".join(
            f"{c} {s.name.lower()}" for s, c in sorted(self._folded.items(), reverse=True)
        )
        worst = "; ".join(f"{a.message} ({a.severity.name.lower()})" for a in self._folded_worst)
        # Held back by the budget, a group's share of it, or an emergency's once an hour: the
        # words name the rules, not only the first (12 alerts in the hour, "over the budget"
        # of 60, was untrue for the second emergency of one group).
        why = (
            "while the channel was down" if self._folded_down else "held back by the hourly budget"
        )
        return Alert(
            analyzer="agent",
            metric=DIGEST_METRIC,
            labels=(("channel", self.channel.name),),
            status=Status.FIRING,
            severity=max(self._folded),
            value=float(n),
            threshold=float(self.max_per_hour),
            message=f"{n} alerts {why} ({self.max_per_hour} per hour, at most "
            f"{max(1, self.max_per_hour // GROUP_SHARE)} of one kind"
            f"{', an emergency of one kind once an hour' if self.emergency_bypass else ''}): "
            f"{counts}; "
            f"most severe: {worst}",
            timestamp=time.time(),
            hostname=self._folded_worst[0].hostname,
            # Scalars only: a record's context carries nothing else (Alert.to_record).
            context={
                "folded": n,
                **{f"folded_{s.name.lower()}": c for s, c in self._folded.items()},
                "folded_worst": worst,
            },
        )

    async def _handle(self, rows: list[tuple[int, Alert]]) -> None:
        admitted, discarded = self._admit(rows)
        if self._folded and sum(self._folded.values()) != self._digest_says:
            self._park()  # before the folded rows leave the outbox
        self._forget_rows(discarded)
        if self._fold_due():  # a digest replaced in this batch goes out once, as the new row
            admitted = [(row, alert) for row, alert in admitted if row in self._charged]
        messages = [admitted] if self.channel.groups else [[one] for one in admitted]
        for n, message in enumerate(messages):
            went = False
            try:
                went = not message or await self._send_message(message)
            finally:
                if not went:  # the rest of the batch waits too: what it was to say, its retry says
                    self._held_back += _suppressed(a for rest in messages[n + 1 :] for _, a in rest)
            if not went:
                return  # the far side is away: what is left waits in the outbox

    async def _send_message(self, message: list[tuple[int, Alert]]) -> bool:
        """One message's rows, in the parts the channel's limits make of it, each paced
        and retried alone, so a part that fails does not send again the parts delivered
        before it.  False if the far side is away (the rest kept; `park_secs` waited)."""
        rows = [row for row, _ in message]
        alerts = [alert for _, alert in message]
        lost = self.undelivered.take()
        if lost:  # what left an outbox undelivered is said by the next message that goes
            first = alerts[0]
            note = Undelivered.text(lost)
            alerts[0] = dataclasses.replace(first, context={**first.context, "undelivered": note})
        try:
            parts = self.channel.split(alerts)
        except Exception:  # rendering them failed: a channel bug, as a send that raises
            self._unsaid(lost, alerts)
            self._failed(rows)
            return True
        for n, part in enumerate(parts):
            ids, rows = rows[: len(part)], rows[len(part) :]
            try:
                outcome = await self._deliver(part)
            except asyncio.CancelledError:  # cut (a stop, a reload's retire): said by the next
                self._unsaid(lost, [a for kept in parts[n:] for a in kept])
                raise
            except Exception:  # a channel bug must not kill the worker, nor take other rows
                self._unsaid(lost, part)
                self._failed(ids)
            else:
                if outcome == "later":  # the rows stay, and the channel waits before trying again
                    self._unsaid(lost, [a for kept in parts[n:] for a in kept])
                    self.failing = True
                    self.stats.parked += 1
                    await asyncio.sleep(self.park_secs)
                    return False
                self._forget_rows(ids)
                if outcome == "sent":
                    self.failing = False
                else:  # dropped: nobody read what it said
                    self._unsaid(lost, part)
            lost = Counter()  # the note rides on the first part only: said, or given back
        return True

    def _unsaid(self, lost: Counter[tuple[str, str]], alerts: Sequence[Alert]) -> None:
        """What alerts that did not go were to say (what left an outbox undelivered, what
        the budget held back before them): the next message, or their retry, says it."""
        self.undelivered.give_back(lost)
        self._held_back += _suppressed(alerts)

    def _failed(self, rows: list[int]) -> None:
        self.stats.failed += len(rows)
        self._forget_rows(rows)
        log.exception("channel %s: unexpected error while sending", self.channel.name)

    def _admit(self, rows: list[tuple[int, Alert]]) -> tuple[list[tuple[int, Alert]], list[int]]:
        """Drop what is too old, apply the hourly budget, and say what was held back."""
        now = time.time()
        while self._recent and self._recent[0] < now - self.window:
            self._recent.popleft()
        for channel, n in self.outbox.take_dropped().items():  # trimmed by max_rows
            self.undelivered.add(channel, "trimmed", n)
        admitted: list[tuple[int, Alert]] = []
        discarded: list[int] = []
        expired = 0
        for row, alert in rows:
            if now - alert.timestamp > self.max_age and row != self._digest_row:
                # A digest restored from a run that was killed counts what it folds: "1 alert
                # expired" would say 30 held-back alerts were one.
                n = _folded_count(alert)
                self.stats.expired += n
                expired += n
                discarded.append(row)
                continue
            if row in self._charged:  # admitted before, the far side was away: no second charge
                admitted.append((row, self._saying_held_back(alert)))
                continue
            if alert.status is Status.RESOLVED and alert.alert_id in self._announced:
                # The end of an episode this channel announced is never held back: folded
                # into a digest, it would leave that alert open for good in the receiver
                # that groups by `alert_id` (and in the reader's mind).  Bounded by what
                # the budget admitted, one each.
                del self._announced[alert.alert_id]
                self._charged.add(row)
                admitted.append((row, alert))
                continue
            if not self._within_budget(alert, now):
                self.stats.suppressed += 1
                self._held_back += 1
                self._fold(alert)
                discarded.append(row)
                continue
            self._charged.add(row)
            if self.channel.send_resolved and not self._has_no_end(alert):
                self._announce(alert.alert_id)
            admitted.append((row, self._saying_held_back(alert)))
        if expired:
            self.undelivered.add(self.channel.name, "expired", expired)
            log.warning(
                "channel %s: %d alert(s) expired undelivered (older than max_age_secs %.0f s); "
                "the next message that gets through says so",
                self.channel.name, expired, self.max_age,
            )  # fmt: skip
        return admitted, discarded

    def _saying_held_back(self, alert: Alert) -> Alert:
        """The alert, saying what the budget held back since the last one admitted."""
        if not self._held_back:
            return alert
        context = {**alert.context, "suppressed": self._held_back}
        self._held_back = 0  # counted here (given back if it does not go); the digest names them
        return dataclasses.replace(alert, context=context)

    @staticmethod
    def _has_no_end(alert: Alert) -> bool:
        """No RESOLVED will follow this: it is one, or a one-off event (a log line)."""
        return alert.status is Status.RESOLVED or bool(alert.context.get("event"))

    def _announce(self, alert_id: str) -> None:
        self._announced.pop(alert_id, None)  # to the end: the most recently told, forgotten last
        self._announced[alert_id] = None
        if len(self._announced) > ANNOUNCED_MAX:
            del self._announced[next(iter(self._announced))]

    def _within_budget(self, alert: Alert, now: float) -> bool:
        """Charge the budget for `alert` if it may go; False if it is held back.

        Fair: a noisy group takes at most its share, so what else happens in the hour
        still gets through.  Bounded: the exceptions for a group's first or most severe
        alert stop at twice the budget; the emergency bypass is once per group per hour.
        """
        if len(self._groups) > 1000:  # groups quiet for an hour are forgotten
            self._groups = {
                k: g
                for k, g in self._groups.items()
                if (g.sent and g.sent[-1][0] >= now - self.window)
                or now - g.emergency_at < self.window
            }
        group = self._groups.setdefault(group_of(alert), _GroupBudget())
        while group.sent and group.sent[0][0] < now - self.window:
            group.sent.popleft()
        share = max(1, self.max_per_hour // GROUP_SHARE)
        worst = max((severity for _, severity in group.sent), default=None)
        news = worst is None or alert.severity > worst
        if self.emergency_bypass and alert.severity is Severity.EMERGENCY:
            # One per group per hour, so that a flood of them (forged kernel lines, say) is
            # one page and a count in the next message, not hundreds of pages.
            if now - group.emergency_at < self.window:
                return False
            group.emergency_at = now
            return self._charge(group, alert, now)
        if news and len(self._recent) < 2 * self.max_per_hour:
            return self._charge(group, alert, now)
        if len(self._recent) >= self.max_per_hour or len(group.sent) >= share:
            return False
        return self._charge(group, alert, now)

    def _charge(self, group: _GroupBudget, alert: Alert, now: float) -> bool:
        self._recent.append(now)
        group.sent.append((now, alert.severity))
        return True

    async def _deliver(self, alerts: Sequence[Alert]) -> Outcome:
        """ "sent"; "dropped" (given up for good: a dead endpoint, a permanent rejection);
        "later" (kept, to retry)."""
        name = self.channel.name
        if self.dead is not None:
            self.stats.failed += len(alerts)
            return "dropped"
        attempts = 1 + max(0, self.channel.retry_count)
        for attempt in range(attempts):
            wait = max(self._last_send + self.channel.pace_secs, self._resume_at) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_send = time.monotonic()
            try:
                async with asyncio.timeout(ATTEMPT_TIMEOUT_SECS):
                    await self.channel.send(alerts)
            except DeliveryError as exc:
                if exc.dead:
                    self.dead = str(exc)
                    self.stats.failed += len(alerts)
                    log.error(
                        "channel %s: %s; the endpoint is gone, channel disabled until reload",
                        name,
                        exc,
                    )
                    return "dropped"
                if not exc.retryable:
                    self.stats.failed += len(alerts)
                    log.error("channel %s: giving up on %d alert(s): %s", name, len(alerts), exc)
                    return "dropped"
                if exc.retry_after is not None:
                    # The far side's pause holds the whole channel, whatever is sent next:
                    # this batch again, the backlog after `park_secs`, another message.
                    self._resume_at = time.monotonic() + exc.retry_after
                if attempt + 1 >= attempts:
                    # The batch kept, and all that waits: the channel's failing alert counts
                    # what waits, and the two said different numbers as if of one thing.
                    self._say(logging.ERROR, exc,
                              "channel %s: %s; keeping %d alert(s) for later (%d waiting in all)",
                              name, exc, len(alerts), self.pending)  # fmt: skip
                    return "later"
                delay = (
                    exc.retry_after
                    if exc.retry_after is not None
                    else backoff_delay(attempt, self.backoff_base)
                )
                self.stats.retries += 1
                self._say(
                    logging.WARNING, exc, "channel %s: %s; retrying in %.1f s", name, exc, delay
                )
                if exc.retry_after is None:  # the far side's pause is waited for above
                    await asyncio.sleep(delay)
            except TimeoutError:
                log.error(
                    "channel %s: send did not finish in %.0f s; keeping it for later",
                    name,
                    ATTEMPT_TIMEOUT_SECS,
                )
                return "later"
            else:
                self.stats.sent += len(alerts)
                self.stats.messages += 1
                if self._certificate_said:
                    self._certificate_said = False
                    log.info("channel %s: the certificate is accepted again; delivering", name)
                return "sent"
        return "later"  # unreachable: the last attempt returns above

    def _say(self, level: int, exc: DeliveryError, message: str, *args: object) -> None:
        """A retryable failure; a certificate failure at error level once per episode, then debug
        (it lasts until someone renews or trusts the certificate: saying it each try is noise)."""
        if "certificate verify failed" in str(exc):
            level = logging.DEBUG if self._certificate_said else logging.ERROR
            self._certificate_said = True
        log.log(level, message, *args)


def drop_rows(outbox: Outbox, channel: str, undelivered: Undelivered) -> int:
    """Drop every row waiting for `channel` (an outbox channel name: a channel's queue or its
    parked digest) of a channel no longer configured: counted and said by the next message
    (left there, they were never sent, nor said, and kept for good)."""
    name = channel.removesuffix(PARKED)
    dropped = 0
    while rows := outbox.pending(channel, 1000):
        dropped += sum(_folded_count(alert) for _, alert in rows)
        outbox.remove([row for row, _ in rows])
    if dropped:
        undelivered.add(name, "removed", dropped)
        log.warning(
            "channel %s is no longer configured: %d alert(s) waiting for it are dropped "
            "(said in the next message that gets through)", name, dropped,
        )  # fmt: skip
    return dropped


def _suppressed(alerts: Iterable[Alert]) -> int:
    """What these alerts say the budget held back before them."""
    return sum(int(alert.context.get("suppressed", 0)) for alert in alerts)


def _folded_count(alert: Alert) -> int:
    """How many alerts one notification stands for: a digest, those it folds."""
    digest = alert.analyzer == "agent" and alert.metric == DIGEST_METRIC
    folded = alert.context.get("folded") if digest else None
    return folded if isinstance(folded, int) and folded > 0 else 1


async def hand_over(
    running: Sequence[ChannelWorker],
    workers: Sequence[ChannelWorker],
    outbox: Outbox,
    new_outbox: Outbox,
    timeout: float,
) -> None:
    """A reload's channels: each channel kept goes on from its worker of before, which is
    retired first (its batch in flight finished), then its rows (moved, if the outbox was
    replaced) and budgets are taken over, and the new workers start.  Both workers on the
    same rows would send each twice; rows left in a replaced memory outbox would be lost.
    A replaced `outbox` is closed."""
    successors = {worker.name: worker for worker in workers}
    kept = [worker for worker in running if worker.name in successors]
    await asyncio.gather(*(worker.retire(timeout) for worker in kept))
    moved = None
    if new_outbox is not outbox:
        channels = [name for worker in kept for name in worker.outbox_channels]
        moved = move_rows(outbox, new_outbox, channels)
    for worker in kept:
        successors[worker.name].take_over(worker, moved)
    if new_outbox is not outbox:
        outbox.close()
    for worker in workers:
        worker.start()


async def let_go(
    removed: Sequence[ChannelWorker], timeout: float, configured: Callable[[], set[str]]
) -> None:
    """After a reload, the workers of channels no longer configured: what they still have is
    sent as at a stop, the rest dropped (and counted), unless a reload meanwhile configured
    the channel again (`configured`: the names of now; its new worker's rows are under the
    same name)."""
    await drain_and_stop(removed, timeout, removed=True)
    names = configured()
    for worker in removed:
        if worker.name not in names:
            for channel in worker.outbox_channels:
                drop_rows(worker.outbox, channel, worker.undelivered)


async def drain_and_stop(
    workers: Sequence[ChannelWorker], timeout: float, *, removed: bool = False
) -> None:
    """At a stop (or after a reload, for the channels it `removed`): pending deliveries get
    `timeout` seconds, what is left stays in the outbox for the next start (for a removed
    channel, the caller drops it: `drop_rows`), then each worker stops and says what it
    did."""
    results = await asyncio.gather(*(w.drain(timeout) for w in workers))
    for worker, drained in zip(workers, results, strict=True):
        if not drained:
            log.error(
                "channel %s: %d alert(s) not delivered before the %.0f s shutdown deadline; %s",
                worker.name, worker.pending, timeout,
                "the channel is removed" if removed else "they stay in the outbox for the next start",
            )  # fmt: skip
    await asyncio.gather(*(w.stop() for w in workers))
    for w in workers:
        s = w.stats
        log.info(
            "channel %s: sent %d, failed %d, expired %d, suppressed %d, retries %d, pending %d",
            w.name, s.sent, s.failed, s.expired, s.suppressed, s.retries, w.pending,
        )  # fmt: skip
