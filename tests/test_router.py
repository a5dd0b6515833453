"""Router: one notification per transition, repeats no more often than min_interval."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import Sequence
from typing import Any

import pytest

from alerting.alert import Alert, Severity, Status
from alerting.channels.base import OneMessage
from alerting.channels.console import ConsoleChannel
from alerting.delivery import ChannelWorker
from alerting.router import Router


class Recorder(OneMessage):
    """A channel that records what it was given (the router test needs no network)."""

    name = "recorder"
    retry_count = 0
    groups = False
    pace_secs = 0.0
    send_resolved = True

    def __init__(self, min_severity: Severity = Severity.INFO) -> None:
        self.min_severity = min_severity
        self.sent: list[Alert] = []

    async def send(self, alerts: Sequence[Alert]) -> None:
        self.sent.extend(alerts)

    async def close(self) -> None:
        pass


def alert(t: float, status: Status = Status.FIRING, severity: Severity = Severity.WARN,
          metric: str = "memory_used_percent", labels: tuple[tuple[str, str], ...] = ()) -> Alert:  # fmt: skip
    return Alert(
        analyzer="threshold",
        metric=metric,
        labels=labels,
        status=status,
        severity=severity,
        value=90.0,
        threshold=85.0,
        message="msg",
        timestamp=t,
    )


def run_router(
    events: list[Alert],
    min_interval: float = 300.0,
    dedup: float = 600.0,
    *,
    rounds: bool = False,
    silences: Any = None,
    **kw: Severity,
) -> list[Alert]:
    """What a channel gets for `events`; `rounds`: the runtime's housekeeping round (repeats,
    mutes that ended) 5 s after each event."""

    async def scenario() -> list[Alert]:
        recorder = Recorder(**kw)
        worker = ChannelWorker(recorder, max_age=float("inf"))  # the events are dated 1970
        worker.start()
        router = Router("host-1", [worker], min_interval_secs=min_interval,
                        dedup_window_secs=dedup, silences=silences)  # fmt: skip
        for event in events:
            router.route(event)
            if rounds:
                router.repeat_due(event.timestamp + 5)
        assert await worker.drain(2.0)
        await worker.stop()
        return recorder.sent

    return asyncio.run(scenario())


def sent_in_rounds(events: Sequence[Alert], end: float) -> list[Alert]:
    """What a channel gets for `events` routed at their times, with the runtime's
    housekeeping round (repeats, mutes that ended, step downs that lasted) every 5 s."""

    async def scenario() -> list[Alert]:
        recorder = Recorder()
        worker = ChannelWorker(recorder, max_age=float("inf"))
        worker.start()
        router = Router("host-1", [worker], min_interval_secs=14400.0)
        for t in range(0, int(end), 5):
            for event in (e for e in events if e.timestamp == t):
                router.route(event)
            router.repeat_due(float(t))
        assert await worker.drain(2.0)
        await worker.stop()
        return recorder.sent

    return asyncio.run(scenario())


def test_firing_every_tick_is_sent_once_then_repeated_after_min_interval() -> None:
    events = [alert(float(t)) for t in range(0, 700, 10)]
    sent = run_router(events)
    assert [a.timestamp for a in sent] == [0.0, 300.0, 600.0]
    assert sent[0].hostname == "host-1"
    assert "repeats" not in sent[0].context
    assert sent[1].context["repeats"] == 29  # events at 10..290 were held back


def test_resolve_is_sent_once_and_only_after_a_sent_firing() -> None:
    sent = run_router([
        alert(0.0, Status.RESOLVED),  # never fired: nothing to resolve
        alert(10.0), alert(20.0), alert(30.0, Status.RESOLVED), alert(40.0, Status.RESOLVED),
        alert(50.0),  # fires again after resolving: a new transition (no dedup window here)
    ], dedup=0)  # fmt: skip
    assert [(a.timestamp, a.status) for a in sent] == [
        (10.0, Status.FIRING), (30.0, Status.RESOLVED), (50.0, Status.FIRING),
    ]  # fmt: skip


def test_severity_change_is_sent_at_once() -> None:
    sent = run_router(
        [
            alert(0.0),
            alert(10.0, severity=Severity.CRITICAL),
            alert(20.0, severity=Severity.CRITICAL),
        ]
    )
    assert [(a.timestamp, a.severity) for a in sent] == [
        (0.0, Severity.WARN),
        (10.0, Severity.CRITICAL),
    ]


def test_fingerprints_are_independent() -> None:
    sent = run_router(
        [alert(0.0, labels=(("mountpoint", "/"),)), alert(1.0, labels=(("mountpoint", "/var"),))]
    )
    assert len(sent) == 2


def test_min_severity_filters_per_channel() -> None:
    sent = run_router([alert(0.0, severity=Severity.INFO), alert(0.0, metric="x", severity=Severity.CRITICAL)],
                      min_severity=Severity.WARN)  # fmt: skip
    assert [a.metric for a in sent] == ["x"]


@pytest.mark.usefixtures("step_downs_at_once")
def test_a_channel_told_of_an_episode_is_told_it_eased_below_its_level_and_ended() -> None:
    """A pager (min_severity critical, email's default) got a disk's critical; the disk
    eased to warn, then was freed.  The step down and the RESOLVED carry their own severity
    (warn), below the pager's: it was told neither and kept the critical open for good."""
    disk = {"metric": "disk_used_percent", "labels": (("mountpoint", "/"),)}
    sent = run_router([
        alert(0.0, severity=Severity.WARN, **disk),  # below the pager: not its business
        alert(10.0, Status.ESCALATED, severity=Severity.CRITICAL, **disk),
        alert(20.0, Status.ESCALATED, severity=Severity.WARN, **disk),
        alert(30.0, Status.RESOLVED, severity=Severity.WARN, **disk),
        alert(40.0, severity=Severity.WARN, metric="memory_used_percent"),  # another: not told
        alert(50.0, Status.RESOLVED, severity=Severity.WARN, metric="memory_used_percent"),
    ], min_severity=Severity.CRITICAL)  # fmt: skip
    assert [(a.timestamp, a.status, a.severity) for a in sent] == [
        (10.0, Status.ESCALATED, Severity.CRITICAL),
        (20.0, Status.ESCALATED, Severity.WARN),
        (30.0, Status.RESOLVED, Severity.WARN),
    ]
    assert len({a.alert_id for a in sent}) == 1


def test_zero_min_interval_sends_every_event() -> None:
    assert len(run_router([alert(0.0), alert(0.0), alert(1.0)], min_interval=0)) == 3


def test_console_line_neutralises_control_characters() -> None:
    stream = io.StringIO()
    channel = ConsoleChannel(stream=stream)
    evil = Alert(analyzer="log", metric="kmsg", labels=(), status=Status.FIRING, severity=Severity.CRITICAL, value=1.0, threshold=None,
                 message="disk\x1b[2J error\nfake line", timestamp=0.0, hostname="h")  # fmt: skip
    asyncio.run(channel.send([evil]))
    line = stream.getvalue()
    assert line.count("\n") == 1 and "\x1b" not in line
    assert line.startswith(
        "1970-01-01T00:00:00Z CRITICAL  FIRING   h: disk\\x1b[2J error\\x0afake line"
    )


def test_flapping_folds_into_one_alert_and_counts() -> None:
    events = []
    for i in range(1000):  # a value wobbling around its level: 1,000 transitions in 1,000 s
        events.append(alert(float(i), Status.FIRING if i % 2 == 0 else Status.RESOLVED))
    events.append(alert(5000.0))  # long after the dedup window: news again
    sent = run_router(events, min_interval=300, dedup=600)
    # Four notifications, not 1,000: the first episode, then the re-fire after its sent
    # resolve (a new FIRING: the receiver was told it ended), whose resolves are held while
    # it flaps and the last one sent once it stayed resolved for the dedup window.
    assert [(a.timestamp, a.status) for a in sent] == [
        (0.0, Status.FIRING), (1.0, Status.RESOLVED), (2.0, Status.FIRING), (999.0, Status.RESOLVED), (5000.0, Status.FIRING),
    ]  # fmt: skip
    assert sent[2].alert_id == sent[3].alert_id != sent[0].alert_id
    assert sent[3].context["occurrences"] == 500  # every firing of the flap, counted


def test_repeat_says_how_often_it_flapped() -> None:
    async def scenario() -> list[Alert]:
        recorder = Recorder()
        worker = ChannelWorker(recorder, max_age=float("inf"))
        worker.start()
        router = Router("h", [worker], min_interval_secs=300, dedup_window_secs=600)
        for t, status in ((0.0, Status.FIRING), (10.0, Status.RESOLVED), (20.0, Status.FIRING)):
            router.route(alert(t, status))
        router.repeat_due(400.0)
        assert await worker.drain(2.0)
        await worker.stop()
        return recorder.sent

    _, resolved, refire, repeat = asyncio.run(scenario())
    assert resolved.context["lasted_secs"] == 10
    assert refire.status is Status.FIRING and refire.context["occurrences"] == 2
    assert repeat.context["still_firing"] and repeat.context["occurrences"] == 2


def test_a_more_severe_alert_inhibits_a_milder_one_on_the_same_series() -> None:
    critical = Alert(
        analyzer="threshold",
        metric="disk_used_percent",
        labels=(("mountpoint", "/"),),
        status=Status.FIRING,
        severity=Severity.CRITICAL,
        value=97,
        threshold=95,
        message="full",
        timestamp=0.0,
    )
    trend = Alert(
        analyzer="trend",
        metric="disk_used_percent",
        labels=(("mountpoint", "/"),),
        status=Status.FIRING,
        severity=Severity.WARN,
        value=97,
        threshold=100,
        message="filling",
        timestamp=1.0,
    )
    other = Alert(
        analyzer="trend",
        metric="disk_used_percent",
        labels=(("mountpoint", "/var"),),
        status=Status.FIRING,
        severity=Severity.WARN,
        value=50,
        threshold=100,
        message="filling",
        timestamp=2.0,
    )
    trend_resolved = dataclasses.replace(trend, status=Status.RESOLVED, timestamp=3.0)
    sent = run_router([critical, trend, other, trend_resolved])
    assert [(a.analyzer, a.labels) for a in sent] == [
        ("threshold", (("mountpoint", "/"),)),
        ("trend", (("mountpoint", "/var"),)),
    ]


def test_a_storm_becomes_a_handful_of_notifications_and_emergency_still_passes() -> None:
    async def scenario() -> tuple[list[Alert], Router, ChannelWorker]:
        recorder = Recorder()
        worker = ChannelWorker(recorder, max_age=float("inf"), max_per_hour=60)
        worker.start()
        router = Router("h", [worker], min_interval_secs=300, dedup_window_secs=600)
        for i in range(100_000):  # 100,000 events in a minute over 2,000 series
            router.route(alert(i * 0.0006, metric=f"m{i % 2000}"))
        router.route(alert(60.0, severity=Severity.EMERGENCY, metric="gpu_up"))
        assert await worker.drain(60.0)  # a deadline: 2,000 submissions take seconds on a busy host
        await worker.stop()
        return recorder.sent, router, worker

    sent, router, worker = asyncio.run(scenario())
    # 2,000 metrics are 2,000 groups: each one's first alert may pass the spent budget,
    # but never beyond twice the budget in all; the emergency bypasses even that.
    assert len(sent) == 122 and sent[-2].severity is Severity.EMERGENCY
    assert sent[-2].context["suppressed"] == worker.stats.suppressed
    assert sent[-1].metric == "alerts_folded"  # and then one digest of what was held back
    assert sent[-1].context["folded"] == worker.stats.suppressed
    assert worker.stats.suppressed + 120 == 2000  # every first firing accounted for
    assert router.stats.received == 100_001 and router.stats.suppressed == 98_000


def _on_disk(analyzer: str, t: float, status: Status, severity: Severity) -> Alert:
    return Alert(
        analyzer=analyzer,
        metric="disk_used_percent",
        labels=(("mountpoint", "/"),),
        status=status,
        severity=severity,
        value=90.0,
        threshold=90.0,
        message=f"{analyzer} {status.value} {severity.label}",
        timestamp=t,
    )


def test_the_analyzers_alerts_on_one_series_are_one_episode() -> None:
    """A runaway fill: trend critical first; the threshold's warn and critical fold into it;
    one RESOLVED when the last of them resolves, whichever resolves first."""
    F, E, R = Status.FIRING, Status.ESCALATED, Status.RESOLVED
    W, C = Severity.WARN, Severity.CRITICAL
    for trend_ends_first in (False, True):
        ends = [_on_disk("threshold", 400.0, R, C), _on_disk("trend", 460.0, R, C)]
        if trend_ends_first:
            ends = [_on_disk("trend", 400.0, R, C), _on_disk("threshold", 460.0, R, C)]
        events = [
            _on_disk("trend", 0.0, F, C),
            _on_disk("threshold", 200.0, F, W),
            _on_disk("threshold", 300.0, E, C),
            *ends,
        ]
        sent = run_router(events, min_interval=3600.0)
        assert [(a.analyzer, a.status, a.timestamp) for a in sent] == [
            ("trend", F, 0.0),
            ("trend", R, 460.0),  # the episode ends with its last alert
        ], trend_ends_first
        assert sent[1].alert_id == sent[0].alert_id
        assert sent[1].context["lasted_secs"] == 460


def test_the_resolve_that_waited_for_the_episodes_end_says_what_ended_it() -> None:
    """A trend that stopped predicting when the disk was full (100 %) resolves first; the
    threshold's resolve after the file was deleted (0.5 %) ends the episode.  The one RESOLVED
    sent is stamped then and says the disk as it is then, not "100 % now"."""
    F, R, C = Status.FIRING, Status.RESOLVED, Severity.CRITICAL
    full = dataclasses.replace(_on_disk("trend", 400.0, R, C), value=100.0, threshold=100.0,
                               message="no longer predicted to fill up soon (100.0% now)",
                               context={"eta_hours": 0.0})  # fmt: skip
    emptied = dataclasses.replace(_on_disk("threshold", 460.0, R, C), value=0.5, threshold=85.5,
                                  message="is back to 0.5% (clears at 85.5%)")  # fmt: skip
    events = [_on_disk("trend", 0.0, F, C), _on_disk("threshold", 200.0, F, C), full, emptied]
    sent = run_router(events, min_interval=3600.0)
    assert [(a.analyzer, a.status) for a in sent] == [("trend", F), ("trend", R)]
    resolve = sent[1]
    assert (resolve.timestamp, resolve.value, resolve.threshold) == (460.0, 0.5, 85.5)
    assert resolve.message == "is back to 0.5% (clears at 85.5%)"
    assert resolve.alert_id == sent[0].alert_id and resolve.context["lasted_secs"] == 460
    assert "eta_hours" not in resolve.context  # not "full in 0 h" beside "back to 0.5 %"


def test_an_episode_ended_by_a_flapping_alert_ends_when_its_resolve_goes_out() -> None:
    """The threshold flaps (its last resolve is held for the dedup window); the trend's
    critical, announced, resolved first and waited for the episode's end: it goes out with
    the held resolve, not never (the trend then stayed "firing", was repeated every
    interval, and every later alert on the disk was folded into it)."""
    F, R, W, C = Status.FIRING, Status.RESOLVED, Severity.WARN, Severity.CRITICAL
    events = [
        _on_disk("threshold", 0.0, F, W),
        _on_disk("threshold", 10.0, R, W),
        _on_disk("threshold", 20.0, F, W),  # back within the dedup window: it flaps
        _on_disk("trend", 60.0, F, C),  # worse than the episode said: announced
        _on_disk("trend", 100.0, R, C),  # waits for the threshold
        _on_disk("threshold", 120.0, R, W),  # held: it may come back
    ]

    async def scenario() -> tuple[list[Alert], list[Alert]]:
        recorder = Recorder()
        worker = ChannelWorker(recorder, max_age=float("inf"))
        worker.start()
        router = Router("h", [worker], min_interval_secs=3600.0, dedup_window_secs=600.0)
        for event in events:
            router.route(event)
        router.repeat_due(800.0)  # stayed resolved for the dedup window
        later = router.repeat_due(5000.0)  # past the repeat interval: nothing is still firing
        assert await worker.drain(2.0)
        await worker.stop()
        return recorder.sent, later

    sent, later = asyncio.run(scenario())
    assert [(a.analyzer, a.status) for a in sent] == [
        ("threshold", F), ("threshold", R), ("threshold", F), ("trend", F),
        ("trend", R), ("threshold", R),
    ]  # fmt: skip
    assert sent[4].timestamp == 120.0 and later == []


def test_a_series_gone_ends_its_episode_with_the_announced_alerts_own_words() -> None:
    F, W = Status.FIRING, Severity.WARN
    leak = dataclasses.replace(_on_disk("leak", 0.0, F, W), message="leak msg")
    level = dataclasses.replace(_on_disk("threshold", 10.0, F, W), message="threshold msg")

    async def scenario() -> list[Alert]:
        recorder = Recorder()
        worker = ChannelWorker(recorder, max_age=float("inf"))
        worker.start()
        router = Router("h", [worker], min_interval_secs=3600.0, dedup_window_secs=600.0)
        router.route(leak)
        router.route(level)  # folded: the leak said as much
        router.series_gone(leak.metric, leak.labels, 100.0)
        assert await worker.drain(2.0)
        await worker.stop()
        return recorder.sent

    sent = asyncio.run(scenario())
    assert [(a.analyzer, a.status) for a in sent] == [("leak", F), ("leak", Status.RESOLVED)]
    assert "leak msg" in sent[1].message and "threshold msg" not in sent[1].message
    # Which series went away, not only that one did.
    assert sent[1].message.startswith("disk_used_percent mountpoint=/: no longer reported")


def test_a_more_severe_alert_of_another_analyzer_is_a_genuine_later_change() -> None:
    """A slow fill: warned about in the morning, critical in the evening: both are sent, and
    an alert folded while it was milder is announced (as a FIRING) once it is the worse one."""
    F, E, R = Status.FIRING, Status.ESCALATED, Status.RESOLVED
    W, C = Severity.WARN, Severity.CRITICAL
    hours = 3600.0
    events = [
        _on_disk("trend", 0.0, F, W),
        _on_disk("threshold", 2 * hours, F, W),  # folded: the trend said as much
        _on_disk("threshold", 10 * hours, E, C),  # news: the episode was only a warning
        _on_disk("trend", 11 * hours, R, W),  # waits: the threshold still fires
        _on_disk("threshold", 12 * hours, R, C),
    ]
    sent = run_router(events, min_interval=24 * hours)
    assert [(a.analyzer, a.status, a.severity) for a in sent] == [
        ("trend", F, W),
        ("threshold", F, C),
        ("trend", R, W),  # it waited for the episode's end
        ("threshold", R, C),
    ]
    assert {a.timestamp for a in sent[2:]} == {12 * hours}


@pytest.mark.usefixtures("step_downs_at_once")
def test_an_announced_alert_stepping_down_under_a_folded_one_tells_nothing_until_the_series_eases() -> (
    None
):
    """The trend's critical is announced and the threshold's critical folded into it; the
    trend eases to warn while the disk stays over 95 %.  It was told "warn", and the folded
    critical was then announced on its own (a second episode, a second RESOLVED) for one
    condition.  Now the episode stays critical while anything in it is, and its easing is
    told once nothing holds the level; a step back up before then tells nothing."""
    F, E, R = Status.FIRING, Status.ESCALATED, Status.RESOLVED
    W, C = Severity.WARN, Severity.CRITICAL

    def run(events: list[Alert]) -> list[Alert]:
        return run_router(events, min_interval=3600.0, rounds=True)

    start = [_on_disk("trend", 0.0, F, C), _on_disk("threshold", 100.0, F, C),
             _on_disk("trend", 200.0, E, W)]  # fmt: skip
    both_end = run([*start, _on_disk("trend", 400.0, R, W), _on_disk("threshold", 600.0, R, C)])
    assert [(a.analyzer, a.status, a.severity, a.timestamp) for a in both_end] == [
        ("trend", F, C, 0.0),
        ("trend", R, W, 600.0),
    ]
    back_up = run([*start, _on_disk("trend", 300.0, E, C), _on_disk("threshold", 400.0, R, C),
                   _on_disk("trend", 600.0, R, C)])  # fmt: skip
    assert [(a.status, a.timestamp) for a in back_up] == [(F, 0.0), (R, 600.0)]
    eased = run([*start, _on_disk("threshold", 400.0, R, C), _on_disk("trend", 900.0, R, W)])
    assert [(a.analyzer, a.status, a.severity, a.timestamp) for a in eased] == [
        ("trend", F, C, 0.0),
        ("trend", E, W, 405.0),  # the series eased when the threshold's critical ended
        ("trend", R, W, 900.0),
    ]
    assert "while the series stayed critical" in eased[1].message
    assert len({a.alert_id for a in eased}) == 1


@pytest.mark.usefixtures("step_downs_at_once")
def test_a_held_step_down_is_told_when_the_silenced_alert_that_held_it_eases() -> None:
    """The same hold, the folded critical under a silence: it eased to warn, and the step
    down waited for the silence's end (an hour and a half) instead of the next round."""
    from alerting.silences import Silence

    F, E, W, C = Status.FIRING, Status.ESCALATED, Severity.WARN, Severity.CRITICAL

    class Silences:
        def current(self, check_every: float = 2.0) -> list[Silence]:
            return [Silence("s", (("analyzer", "=", "threshold"),), 150.0, 5000.0, "")]

    events = [_on_disk("trend", 0.0, F, C), _on_disk("threshold", 100.0, F, C),
              _on_disk("trend", 200.0, E, W), _on_disk("threshold", 300.0, E, W)]  # fmt: skip
    sent = run_router(events, min_interval=36000.0, rounds=True, silences=Silences())
    assert [(a.analyzer, a.status, a.severity, a.timestamp) for a in sent] == [
        ("trend", F, C, 0.0),
        ("trend", E, W, 305.0),
    ]


def test_a_milder_alert_folded_into_an_episode_is_never_repeated_alone() -> None:
    F, R = Status.FIRING, Status.RESOLVED
    W, C = Severity.WARN, Severity.CRITICAL
    events = [
        _on_disk("trend", 0.0, F, C),
        _on_disk("threshold", 10.0, F, W),
        _on_disk("trend", 20.0, R, C),  # the episode goes on: the threshold still fires
        _on_disk("trend", 30.0, F, C),  # back before the episode ended: nothing new
        _on_disk("trend", 40.0, R, C),
        _on_disk("threshold", 50.0, R, W),
    ]
    sent = run_router(events, min_interval=3600.0)
    assert [(a.analyzer, a.status, a.timestamp) for a in sent] == [
        ("trend", F, 0.0),
        ("trend", R, 50.0),
    ]


def test_a_flapping_alerts_held_resolve_goes_out_when_a_storm_needs_its_room() -> None:
    """A flapping alert's RESOLVED waits for the dedup window in its track; a storm of
    distinct alerts that fills the table forgot that track first, and the RESOLVED was
    never sent: the receiver's episode stayed open for good.  Now it goes out early."""
    from alerting.outbox import MemoryOutbox
    from alerting.router import MAX_TRACKED

    outbox = MemoryOutbox()
    router = Router("h", [ChannelWorker(Recorder(), outbox=outbox)], min_interval_secs=14400,
                    dedup_window_secs=600)  # fmt: skip
    disk = (("mountpoint", "/"),)
    for t, status in ((0, Status.FIRING), (60, Status.RESOLVED), (120, Status.FIRING),
                      (180, Status.RESOLVED)):  # fmt: skip
        router.route(alert(1e6 + t, status, metric="disk_used_percent", labels=disk))
    storm = alert(1e6 + 200, metric="log_pattern")
    for i in range(MAX_TRACKED + 1):
        router.route(dataclasses.replace(storm, labels=(("n", str(i)),)))
    router.repeat_due(1e6 + 1000)
    said = [a for _, a in outbox.pending("recorder", 10**6) if a.metric == "disk_used_percent"]
    assert [a.status for a in said] == [Status.FIRING, Status.RESOLVED] * 2
    assert said[2].alert_id == said[3].alert_id  # the second episode is closed


def _episode_eased_under_a_folded_alert(
    steps: list[tuple[float, Alert | None]], **kw: Severity
) -> list[Alert]:
    """What a channel gets: `steps` are (time, event routed then, or None: the housekeeping's
    round only); a round follows each event, the disk's value written as the pipeline's
    refresh reads it."""
    import numpy as np

    from agent.pipeline import Pipeline
    from agent.store import Store
    from analyzers.base import SeriesKey

    store = Store(64)
    disk = SeriesKey("disk_used_percent", (("mountpoint", "/"),))

    async def scenario() -> list[Alert]:
        recorder = Recorder(**kw)
        worker = ChannelWorker(recorder, max_age=float("inf"))
        worker.start()
        router = Router("h", [worker], min_interval_secs=3600.0, dedup_window_secs=600.0,
                        refresh=Pipeline(store, []).refresh)  # fmt: skip
        for t, event in steps:
            store.write_samples(t, [disk], np.array([97.0 if t < 4000 else 89.5]))
            if event is not None:
                router.route(event)
            router.repeat_due(t + 5)
        assert await worker.drain(2.0)
        await worker.stop()
        return recorder.sent

    return asyncio.run(scenario())


@pytest.mark.usefixtures("step_downs_at_once")
def test_an_episode_whose_announced_alert_ended_repeats_and_eases_as_the_folded_one_stands() -> (
    None
):
    """A reviewer's disk: the trend's critical announced, the threshold's folded into it; the
    trend stops predicting while the threshold still says critical, then a delete takes the
    disk to 89.5 % and the threshold eases to warn.  The trend's episode was repeated as
    critical, in its own words ("full in 5 h 39 min"), hours after both had ended.  Now its
    repeats say the folded alert's words and level, the easing is told once (an ESCALATED
    of the same episode), and one RESOLVED ends it at the level it stood at."""
    F, E, R = Status.FIRING, Status.ESCALATED, Status.RESOLVED
    W, C = Severity.WARN, Severity.CRITICAL
    steps: list[tuple[float, Alert | None]] = [
        (0.0, _on_disk("trend", 0.0, F, C)),
        (100.0, _on_disk("threshold", 100.0, F, W)),  # folded
        (200.0, _on_disk("threshold", 200.0, E, C)),  # folded: the episode says critical
        (300.0, _on_disk("trend", 300.0, R, C)),  # waits for the threshold: nothing to tell
        (3600.0, None),  # a repeat: still critical, as the threshold says
        (4000.0, _on_disk("threshold", 4000.0, E, W)),  # the delete: the episode eases
        (7600.0, None),
        (8000.0, _on_disk("threshold", 8000.0, R, W)),
    ]
    sent = _episode_eased_under_a_folded_alert(steps)
    assert [(a.analyzer, a.status, a.severity, a.timestamp) for a in sent] == [
        ("trend", F, C, 0.0),
        ("trend", F, C, 3605.0),  # a repeat
        ("trend", E, W, 4005.0),  # the step down, once
        ("trend", F, W, 7605.0),  # a repeat at the level the series stands at
        ("trend", R, W, 8000.0),
    ]
    assert len({a.alert_id for a in sent}) == 1
    critical, eased, warn = sent[1], sent[2], sent[3]
    assert critical.message.endswith("(at 1970-01-01 00:03:20 UTC: threshold escalated critical)")
    assert eased.message == "threshold escalated warn" and eased.value == 89.5
    assert warn.message == (
        "disk_used_percent mountpoint=/ is now 89.5%, still firing since 1970-01-01 00:00:00 "
        "UTC (at 1970-01-01 01:06:40 UTC: threshold escalated warn)"
    )
    assert "trend firing critical" not in critical.message + warn.message  # its words ended
    # A pager told of the critical is told it eased and ended, not reminded of the warn.
    pager = _episode_eased_under_a_folded_alert(steps, min_severity=C)
    assert [(a.status, a.severity, a.timestamp) for a in pager] == [
        (F, C, 0.0), (F, C, 3605.0), (E, W, 4005.0), (R, W, 8000.0),
    ]  # fmt: skip


def test_an_alert_whose_condition_ended_is_not_repeated_beside_the_one_that_carries_on() -> None:
    """The trend's warn announced, the threshold's critical announced as the later change;
    the trend stops predicting.  It went on being repeated, as warn, beside the threshold's
    critical: the threshold's repeats alone say what the series is."""
    F, R, W, C = Status.FIRING, Status.RESOLVED, Severity.WARN, Severity.CRITICAL
    steps: list[tuple[float, Alert | None]] = [
        (0.0, _on_disk("trend", 0.0, F, W)),
        (100.0, _on_disk("threshold", 100.0, F, C)),
        (200.0, _on_disk("trend", 200.0, R, W)),  # waits for the threshold
        (3700.0, None),
    ]
    sent = _episode_eased_under_a_folded_alert(steps)
    assert [(a.analyzer, a.status, a.timestamp) for a in sent] == [
        ("trend", F, 0.0), ("threshold", F, 100.0), ("threshold", F, 3705.0),
    ]  # fmt: skip


def test_a_step_down_is_told_once_it_has_lasted_and_not_if_it_ended_before() -> None:
    """A 30-s CPU spike (a live trial) sent FIRING critical, the step down to warn 20 s
    later and RESOLVED 10 s after that: three notifications for one condition.  A step
    down waits `STEP_DOWN_SETTLE_SECS` (the runtime's round tells it); over before then,
    or back at the level it left, it is not said at all."""
    from alerting import router as router_module

    settle = router_module.STEP_DOWN_SETTLE_SECS
    cpu = {"metric": "cpu_usage_percent"}

    def told(events: list[Alert], end: float) -> list[tuple[float, Status, Severity, str]]:
        return [(a.timestamp, a.status, a.severity, a.message) for a in sent_in_rounds(events, end)]

    every_5s = 400.0
    spike = told([
        alert(0.0, severity=Severity.CRITICAL, **cpu),
        alert(20.0, Status.ESCALATED, severity=Severity.WARN, **cpu),
        alert(30.0, Status.RESOLVED, severity=Severity.WARN, **cpu),
    ], every_5s)  # fmt: skip
    assert [(t, st, sv) for t, st, sv, _ in spike] == [
        (0.0, Status.FIRING, Severity.CRITICAL),
        (30.0, Status.RESOLVED, Severity.WARN),
    ]
    back_up = told([
        alert(0.0, severity=Severity.CRITICAL, **cpu),
        alert(20.0, Status.ESCALATED, severity=Severity.WARN, **cpu),
        alert(60.0, Status.ESCALATED, severity=Severity.CRITICAL, **cpu),
    ], every_5s)  # fmt: skip
    assert [(t, st, sv) for t, st, sv, _ in back_up] == [(0.0, Status.FIRING, Severity.CRITICAL)]
    lasted = told([
        alert(0.0, severity=Severity.CRITICAL, **cpu),
        alert(20.0, Status.ESCALATED, severity=Severity.WARN, **cpu),
    ], every_5s)  # fmt: skip
    assert [(t, st, sv) for t, st, sv, _ in lasted] == [
        (0.0, Status.FIRING, Severity.CRITICAL),
        (20.0 + settle, Status.ESCALATED, Severity.WARN),  # the first round after it lasted
    ]
    assert "(at 1970-01-01 00:00:20 UTC, told once it had lasted 120 s" in lasted[1][3]


def test_an_episode_eased_and_back_up_is_one_episode() -> None:
    """The trend's critical announced, its condition ended (its resolve waits), the folded
    threshold eased to warn (told, once it had lasted), then back to critical when the disk
    refilled: that was announced as a second FIRING and ended with two RESOLVEDs (a second
    reader's case).  Now an ESCALATED of the announced alert each way, and one RESOLVED."""
    F, E, R = Status.FIRING, Status.ESCALATED, Status.RESOLVED
    W, C = Severity.WARN, Severity.CRITICAL
    events = [
        _on_disk("trend", 0.0, F, C),
        _on_disk("threshold", 100.0, F, W),
        _on_disk("threshold", 200.0, E, C),
        _on_disk("trend", 300.0, R, C),  # its condition ended: its resolve waits
        _on_disk("threshold", 1000.0, E, W),  # eased
        _on_disk("threshold", 1500.0, E, C),  # refilled
        _on_disk("threshold", 2000.0, R, C),
    ]
    said = sent_in_rounds(events, 2100)
    sent = [(a.analyzer, a.status, a.severity, a.timestamp) for a in said]
    settle = 120.0  # alerting.router.STEP_DOWN_SETTLE_SECS
    assert sent == [
        ("trend", F, C, 0.0),
        ("trend", E, W, 1000.0 + settle),
        ("trend", E, C, 1500.0),
        ("trend", R, C, 2000.0),
    ]
    assert len({a.alert_id for a in said}) == 1  # one episode


def test_an_episode_that_eases_as_its_announced_alert_ends_waits_as_any_step_down() -> None:
    """The trend's critical announced, the threshold folded at warn since long before; the
    trend's condition ends, and the threshold's 30 s later: the easing was timed from the
    threshold's own last change, long past, so it went out at once, then the RESOLVED (a
    second reader's case).  It waits from when the episode eased."""
    F, E, R = Status.FIRING, Status.ESCALATED, Status.RESOLVED
    W, C = Severity.WARN, Severity.CRITICAL

    def told(events: list[Alert], end: int) -> list[tuple[Status, Severity, float]]:
        return [(a.status, a.severity, a.timestamp) for a in sent_in_rounds(events, end)]

    events = [
        _on_disk("trend", 0.0, F, C),
        _on_disk("threshold", 100.0, F, W),
        _on_disk("trend", 1000.0, R, C),
    ]
    ends_soon = [*events, _on_disk("threshold", 1030.0, R, W)]
    assert told(ends_soon, 1500) == [(F, C, 0.0), (R, C, 1030.0)]  # at the level told
    stays = [*events, _on_disk("threshold", 3000.0, R, W)]
    assert told(stays, 3100) == [(F, C, 0.0), (E, W, 1120.0), (R, W, 3000.0)]


def test_a_flapping_alert_back_at_another_level_is_told_as_a_change() -> None:
    """A CPU flapping under load (a live trial): its resolve held, it came back at warn,
    which was taken silently as the episode's level, and then critical was sent as
    "escalated" to the critical the receiver had been told all along.  Back at another
    level is a change, told as any: a step down waits to settle, so back up at once is
    nothing at all."""
    F, E, R = Status.FIRING, Status.ESCALATED, Status.RESOLVED
    W, C = Severity.WARN, Severity.CRITICAL
    cpu = {"metric": "cpu_usage_percent"}
    flapping = [alert(0.0, F, C, **cpu), alert(100.0, R, C, **cpu), alert(200.0, F, C, **cpu),
                alert(300.0, R, C, **cpu)]  # fmt: skip
    back_up = sent_in_rounds([*flapping, alert(330.0, F, W, **cpu), alert(340.0, E, C, **cpu)], 900)
    assert [(a.status, a.severity, a.timestamp) for a in back_up] == [
        (F, C, 0.0), (R, C, 100.0), (F, C, 200.0),
    ]  # fmt: skip
    stays = sent_in_rounds([*flapping, alert(330.0, F, W, **cpu)], 900)
    assert [(a.status, a.severity, a.timestamp) for a in stays][3:] == [(E, W, 450.0)]
