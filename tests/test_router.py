"""Router: one notification per transition, repeats no more often than min_interval."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence

from alerting.alert import Alert, Severity, Status
from alerting.channels.console import ConsoleChannel
from alerting.delivery import ChannelWorker
from alerting.router import Router


class Recorder:
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
    return Alert("threshold", metric, labels, status, severity, 90.0, 85.0, "msg", t)


def run_router(events: list[Alert], min_interval: float = 300.0, **kw: Severity) -> list[Alert]:
    async def scenario() -> list[Alert]:
        recorder = Recorder(**kw)
        worker = ChannelWorker(recorder, max_age=float("inf"))  # the events are dated 1970
        worker.start()
        router = Router("host-1", [worker], min_interval_secs=min_interval, dedup_window_secs=600)
        for event in events:
            router.route(event)
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
        alert(50.0),  # fires again after resolving: a new transition
    ])  # fmt: skip
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


def test_zero_min_interval_sends_every_event() -> None:
    assert len(run_router([alert(0.0), alert(0.0), alert(1.0)], min_interval=0)) == 3


def test_console_line_neutralises_control_characters() -> None:
    stream = io.StringIO()
    channel = ConsoleChannel(stream=stream)
    evil = Alert("log", "kmsg", (), Status.FIRING, Severity.CRITICAL, 1.0, None,
                 "disk\x1b[2J error\nfake line", 0.0, hostname="h")  # fmt: skip
    asyncio.run(channel.send([evil]))
    line = stream.getvalue()
    assert line.count("\n") == 1 and "\x1b" not in line
    assert line.startswith(
        "1970-01-01T00:00:00Z CRITICAL  FIRING   h: disk\\x1b[2J error\\x0afake line"
    )
