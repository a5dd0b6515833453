"""The quiet-host scenario (benchmarks/quiet_host.py): what issue #14 is judged by.

A quiet day must send nothing, and each caused condition exactly one FIRING
and one RESOLVED (none for good news); all of them pass (the leak with the
default 4-hour repeat interval, the disk as one episode of the trend's and the
thresholds' alerts).  The other tests check the instrument itself: the generator
makes the host the docstring describes, the replay sees the caused conditions,
and the judging counts what it should.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from agent.settings import Settings
from alerting.alert import Alert, Severity, Status
from benchmarks.quiet_host import (
    AFTER,
    CPU,
    DISK_USED,
    DISK_WRITE,
    MEMORY,
    MONDAY,
    RX,
    SCENARIOS,
    WARM_UP,
    Host,
    Outcome,
    Scenario,
    _caused,
    backups,
    judge,
    quiet_host,
    run,
    table,
)


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    return run(Settings())


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_a_quiet_host_is_silent_and_each_caused_condition_notifies_exactly_once(
    outcomes: list[Outcome], name: str
) -> None:
    (outcome,) = [o for o in outcomes if o.scenario.name == name]
    assert outcome.ok, "\n" + table([outcome])


def test_the_filling_disk_is_one_critical_episode_announced_before_the_thresholds(
    outcomes: list[Outcome],
) -> None:
    """The runaway fill is announced by the trend, critical, before it reaches the warn
    level; the thresholds' warn and critical fold into that episode, whose one RESOLVED
    comes when the file is deleted (docs/ALERTING.md, "One episode per series")."""
    disk = {o.scenario.name: o for o in outcomes}["disk filled then emptied"]
    firing, resolved = disk.got
    assert (firing.analyzer, firing.status, firing.severity) == (
        "trend",
        Status.FIRING,
        Severity.CRITICAL,
    )
    assert firing.value < 90.0  # before the threshold's warn level: an ETA, not a level
    assert (resolved.analyzer, resolved.status) == ("trend", Status.RESOLVED)
    assert resolved.alert_id == firing.alert_id
    assert resolved.value < 50.0  # after the deletion


def _slow_fill(host: Host) -> None:
    """/ at 80 %, then 2 points an hour for 9 hours (to 98 %), then the logs are cleaned up."""
    begin, end = WARM_UP, WARM_UP + 9 * 3600.0
    t = host.times("disk") - host.start
    used = host.get("disk", DISK_USED)
    filling = (t >= begin) & (t < end)
    used[t < begin] = 80.0
    used[filling] = 80.0 + 2.0 * (t[filling] - begin) / 3600
    used[t >= end] = 40.0


def test_a_slow_fill_warns_then_escalates_once_as_a_genuine_later_change() -> None:
    """Hours apart, warn and critical ask different things of a person: both are sent (the
    trend's, from its ETA), the threshold's 90 % and 95 % fold into them, one RESOLVED."""
    scenario = Scenario("slow fill", _caused(_slow_fill, (WARM_UP + 9 * 3600 + AFTER) / 3600), ())
    (outcome,) = run(Settings(), (scenario,))
    news = [a for a in outcome.got if not a.context.get("still_firing")]
    assert [(a.analyzer, a.status, a.severity) for a in news] == [
        ("trend", Status.FIRING, Severity.WARN),
        ("trend", Status.ESCALATED, Severity.CRITICAL),
        ("trend", Status.RESOLVED, Severity.CRITICAL),
    ]
    assert news[1].timestamp - news[0].timestamp > 3600  # a later change, not the same one
    assert len({a.alert_id for a in news}) == 1


def test_the_leak_is_quiet_because_repeats_wait_four_hours() -> None:
    """With the old 5-minute repeat interval, the same leak is dozens of reminders."""
    leak = next(s for s in SCENARIOS if s.name == "process leaking")
    defaults = Settings()
    assert defaults.alerting.min_interval_secs == 4 * 3600
    every_5_min = replace(defaults, alerting=replace(defaults.alerting, min_interval_secs=300.0))
    (outcome,) = run(every_5_min, (leak,))
    assert outcome.missing == []
    assert len(outcome.unexpected) > 30
    assert {(a.analyzer, bool(a.context.get("still_firing"))) for a in outcome.unexpected} == {
        ("leak", True)
    }


def test_the_replay_sees_the_caused_conditions(outcomes: list[Outcome]) -> None:
    """Whatever #14 changes, the thresholds' own verdicts on the real conditions get through."""
    by_name = {o.scenario.name: o for o in outcomes}
    sent = [(a.analyzer, a.metric, a.status) for a in by_name["cpu saturated 3 min"].got]
    assert ("threshold", "cpu_usage_percent", Status.FIRING) in sent
    assert ("threshold", "cpu_usage_percent", Status.RESOLVED) in sent
    leak = [a for a in by_name["process leaking"].got if a.analyzer == "leak"]
    assert [a.status for a in leak if not a.context.get("still_firing")] == [
        Status.FIRING,
        Status.RESOLVED,
    ]


def test_the_generated_host_is_the_documented_idle_machine() -> None:
    host = quiet_host(MONDAY, 27.0)
    night = backups(host, "cpu")
    cpu = host.get("cpu", CPU)
    assert 3.0 < float(np.median(cpu[~night])) < 5.0
    assert 25.0 < float(np.median(cpu[night])) < 35.0
    memory = host.get("memory", MEMORY)
    assert memory.min() >= 54.0 and memory.max() <= 56.0
    rx = host.get("network", RX)
    assert 50.0 < float(np.median(rx)) < 70.0
    assert 0.002 < float(np.mean(rx > 1000)) < 0.02  # the odd 1.2 kB/s burst
    write = host.get("disk", DISK_WRITE)
    assert float(np.median(write[backups(host, "disk")])) > 1e7
    # Two nights, 20 minutes each, at 02:00 UTC.
    t = host.times("cpu")[night]
    assert t.size == 2 * 20 * 6
    assert {int((x - MONDAY) // 3600) % 24 for x in t} == {2}
    # The same seed, the same host.
    assert np.array_equal(quiet_host(MONDAY, 27.0).get("network", RX), rx)


def _alert(metric: str, status: Status, t: float, repeat: bool = False) -> Alert:
    context: dict[str, object] = {"still_firing": True} if repeat else {}
    return Alert(
        analyzer="threshold",
        metric=metric,
        labels=(),
        status=status,
        severity=Severity.WARN,
        value=1.0,
        threshold=None,
        message="",
        timestamp=t,
        context=context,
    )


def test_judging_matches_each_wanted_notification_once_and_never_with_a_repeat() -> None:
    scenario = Scenario(
        "x", lambda: quiet_host(MONDAY, 1.0), (("m", Status.FIRING), ("m", Status.RESOLVED))
    )
    sent = [
        _alert("m", Status.FIRING, MONDAY + 10),
        _alert("m", Status.FIRING, MONDAY + 300, repeat=True),
        _alert("other", Status.FIRING, MONDAY + 400),
        _alert("m", Status.RESOLVED, MONDAY + 500),
    ]
    outcome = judge(scenario, sent, MONDAY)
    assert [(a.metric, a.context.get("still_firing", False)) for a in outcome.unexpected] == [
        ("m", True),
        ("other", False),
    ]
    assert outcome.missing == []
    assert not outcome.ok
    exact = judge(scenario, [sent[0], sent[3]], MONDAY)
    assert exact.ok
    assert judge(scenario, [sent[0]], MONDAY).missing == [("m", Status.RESOLVED)]


def test_a_learning_period_is_shown_but_not_judged() -> None:
    quiet = next(s for s in SCENARIOS if s.name == "quiet day")
    early = _alert("m", Status.FIRING, MONDAY + 3600)
    outcome = judge(quiet, [early], MONDAY)
    assert outcome.ok
    assert outcome.learning == [early]
    late = _alert("m", Status.FIRING, MONDAY + quiet.judged_from)
    assert not judge(quiet, [late], MONDAY).ok
