"""The fleet watcher's judgment (fleet/hosts.py) with an injected clock: exact instants."""

from __future__ import annotations

import dataclasses
from typing import Any

from fleet.hosts import (
    DEGRADED,
    HEALTHY,
    SILENT,
    SILENT_METRIC,
    STOPPED,
    STOPPED_METRIC,
    Judge,
)
from fleet.settings import FleetSection

SECTION = FleetSection(instance="t", silent_after_intervals=3.0, mass_silence_fraction=0.2,
                       mass_silence_min_hosts=5)  # fmt: skip
T0 = 1_000.0
WALL0 = 1_700_000_000.0


def beat(
    name: str, interval: float = 10.0, status: str = "healthy", **extra: Any
) -> dict[str, Any]:
    return {"hostname": name, "heartbeat_interval_secs": interval, "status": status,
            "reasons": [], "uptime_secs": 500.0, "agent_version": "0.1.0", **extra}  # fmt: skip


def at(judge: Judge, t: float, *docs: dict[str, Any]) -> None:
    """Heartbeats at T0 + t, then a tick."""
    for doc in docs:
        judge.beat(doc, T0 + t, WALL0 + t)
    judge.tick(T0 + t, WALL0 + t)


def test_a_host_is_silent_after_three_of_its_own_intervals_and_not_a_moment_before() -> None:
    judge = Judge(SECTION, T0)
    at(judge, 0, beat("fast", 1.0), beat("slow", 10.0))
    at(judge, 2.99)
    assert judge.hosts["fast"].status == HEALTHY
    at(judge, 3.0)
    assert judge.hosts["fast"].status == SILENT
    assert judge.hosts["fast"].alert_metric() == SILENT_METRIC
    assert judge.hosts["fast"].silent_from_wall == WALL0  # its last heartbeat
    assert judge.hosts["slow"].status == HEALTHY  # 3 s is not 3 of its 10 s intervals
    at(judge, 29.99)
    assert judge.hosts["slow"].status == HEALTHY
    at(judge, 30.0)
    assert judge.hosts["slow"].status == SILENT
    assert judge.take_dirty() == {"fast", "slow"}


def test_a_return_gives_the_outage_and_whether_the_host_rebooted() -> None:
    judge = Judge(SECTION, T0)
    at(judge, 0, beat("a", uptime_secs=5000.0), beat("b", uptime_secs=5000.0))
    at(judge, 30)
    assert judge.hosts["a"].status == judge.hosts["b"].status == SILENT
    judge.take_dirty()
    at(judge, 95, beat("a", uptime_secs=40.0), beat("b", uptime_secs=5095.0))
    a, b = judge.hosts["a"], judge.hosts["b"]
    assert (a.status, a.outage_secs, a.rebooted) == (HEALTHY, 95.0, True)
    assert (b.status, b.outage_secs, b.rebooted) == (HEALTHY, 95.0, False)
    assert a.alert_metric() is None
    assert judge.take_dirty() == {"a", "b"}


def test_a_clean_stop_is_stopped_at_once_and_announced_only_if_it_stays_stopped() -> None:
    judge = Judge(SECTION, T0)
    at(judge, 0, beat("a"), beat("b"))
    at(judge, 5, beat("a", status="stopping"), beat("b", status="stopping"))
    assert judge.hosts["a"].status == STOPPED and judge.hosts["a"].alert_metric() is None
    at(judge, 20, beat("b"))  # an agent restart: back before the silence period
    assert judge.hosts["b"].status == HEALTHY
    at(judge, 34.9, beat("b"))
    assert judge.hosts["a"].alert_metric() is None
    at(judge, 35, beat("b"))
    assert judge.hosts["a"].status == STOPPED  # never silent, never critical
    assert judge.hosts["a"].alert_metric() == STOPPED_METRIC
    assert judge.hosts["b"].alert_metric() is None


def test_stopped_hosts_are_not_announced_when_the_severity_is_none() -> None:
    judge = Judge(dataclasses.replace(SECTION, stopped_severity="none"), T0)
    at(judge, 0, beat("a", status="stopping"))
    at(judge, 100)
    assert judge.hosts["a"].status == STOPPED and judge.hosts["a"].alert_metric() is None


def test_degraded_is_a_status_not_an_alert() -> None:
    judge = Judge(SECTION, T0)
    at(judge, 0, beat("a", status="degraded", reasons=["collector gpu failing"]))
    assert judge.hosts["a"].status == DEGRADED
    assert judge.hosts["a"].reasons == ("collector gpu failing",)
    assert judge.hosts["a"].alert_metric() is None


def fleet(judge: Judge, t: float, names: list[str], interval: float = 10.0) -> None:
    at(judge, t, *(beat(n, interval) for n in names))


def test_many_hosts_silent_together_are_one_episode_whatever_their_heartbeat_phase() -> None:
    judge = Judge(SECTION, T0)
    names = [f"h{i:02d}" for i in range(20)]
    # Heartbeats spread over the 10 s interval (phases 0, 0.5 .. 9.5 s), a tick every 0.5 s;
    # 8 of the 20 hosts stop at t = 100.
    dead = set(names[:8])
    for k in range(0, 400):
        t = k / 2
        for i, name in enumerate(names):
            if (k - i) % 20 == 0 and not (t >= 100 and name in dead):
                judge.beat(beat(name), T0 + t, WALL0 + t)
        judge.tick(T0 + t, WALL0 + t)
        # The first of them goes silent: the episode begins with all of them at once.
        if any(judge.hosts[n].status == SILENT for n in judge.hosts):
            break
    assert t == 120.0  # h00 beat last at 90 (not at 100): silent 3 intervals later
    assert judge.mass is not None
    assert {n for n in names if judge.hosts[n].status == SILENT} == dead
    assert all(judge.hosts[n].mass and judge.hosts[n].alert_metric() is None for n in dead)
    assert judge.mass.members == dead and judge.mass.watched == 20
    assert [h.hostname for h in judge.silent_members()] == sorted(dead)


def test_a_few_hosts_silent_are_announced_one_by_one() -> None:
    judge = Judge(SECTION, T0)
    names = [f"h{i:02d}" for i in range(30)]
    fleet(judge, 0, names)
    fleet(judge, 30, names[4:])  # 4 of 30: below min_hosts 5 and below 20 %
    assert judge.mass is None
    assert all(judge.hosts[n].alert_metric() == SILENT_METRIC for n in names[:4])


def test_the_fraction_counts_too() -> None:
    judge = Judge(SECTION, T0)
    names = [f"h{i:02d}" for i in range(50)]
    fleet(judge, 0, names)
    fleet(judge, 30, names[10:])  # 10 of 50 = 20 %: not more than 20 %
    assert judge.mass is None
    judge2 = Judge(SECTION, T0)
    fleet(judge2, 0, names)
    fleet(judge2, 30, names[11:])  # 11 of 50
    assert judge2.mass is not None and len(judge2.mass.members) == 11


def test_the_episode_ends_when_most_are_back_and_the_rest_are_announced_alone() -> None:
    judge = Judge(SECTION, T0)
    names = [f"h{i:02d}" for i in range(10)]
    fleet(judge, 0, names)
    fleet(judge, 30, names[6:])  # 6 of 10 silent together
    assert judge.mass is not None and judge.mass_threshold() == 5
    judge.mass_dirty = False
    fleet(judge, 40, [names[1], *names[6:]])  # h01 back: 5 still silent, the episode lasts
    assert judge.mass is not None and not judge.mass_dirty
    judge.take_dirty()
    fleet(judge, 41, [names[2], *names[6:]])  # h02 back: 4 left, below the threshold
    assert judge.mass is None and judge.mass_dirty
    assert judge.hosts["h02"].status == HEALTHY
    assert judge.take_dirty() == {"h02"}
    # The others come back over an interval or so; still silent a whole period later,
    # each is a problem of its own.
    fleet(judge, 45, names[1:4] + names[6:])
    fleet(judge, 70.9, names[1:4] + names[6:])
    assert judge.take_dirty() == {"h03"}
    assert all(judge.hosts[n].alert_metric() is None for n in ("h00", "h04", "h05"))
    fleet(judge, 71, names[1:4] + names[6:])
    assert all(judge.hosts[n].alert_metric() == SILENT_METRIC for n in ("h00", "h04", "h05"))
    assert judge.take_dirty() == {"h00", "h04", "h05"}


def test_hosts_going_silent_during_an_episode_join_it() -> None:
    judge = Judge(SECTION, T0)
    names = [f"h{i:02d}" for i in range(10)]
    fleet(judge, 0, names)
    fleet(judge, 30, names[6:])
    fleet(judge, 40, names[7:])  # h06 too, later
    fleet(judge, 70, names[7:])
    assert judge.hosts["h06"].status == SILENT and judge.hosts["h06"].mass
    assert "h06" in judge.mass.members  # type: ignore[union-attr]


def test_nothing_is_judged_while_the_connection_is_down_nor_for_a_silence_period_after() -> None:
    judge = Judge(SECTION, T0)
    fleet(judge, 0, ["a", "b"])
    judge.connection_lost()
    at(judge, 100)
    assert judge.hosts["a"].status == HEALTHY  # not judged while blind
    judge.connection_back(T0 + 100)
    at(judge, 129.9)
    assert judge.hosts["a"].status == HEALTHY  # their heartbeats were lost, not missing
    fleet(judge, 125, ["a"])
    at(judge, 130)
    assert judge.hosts["b"].status == SILENT  # dead for real: a full period after the return
    assert judge.hosts["a"].status == HEALTHY
    assert judge.mass is None


def test_hosts_silent_for_days_are_forgotten() -> None:
    judge = Judge(dataclasses.replace(SECTION, forget_after_days=1.0), T0)
    fleet(judge, 0, ["a", "b"])
    at(judge, 30, beat("b"))
    judge.take_dirty()
    at(judge, 86_400, beat("b"))
    assert "a" not in judge.hosts and "b" in judge.hosts
    assert judge.take_dirty() == {"a"}


def test_hostnames_become_subject_tokens_and_bad_heartbeats_are_ignored() -> None:
    judge = Judge(SECTION, T0)
    at(judge, 0, beat("web-01.example.com"))
    assert judge.beat({"status": "healthy"}, T0, WALL0) is None
    host = judge.beat({"hostname": "x", "heartbeat_interval_secs": "soon"}, T0, WALL0)
    assert host is not None and host.interval == SECTION.default_heartbeat_interval_secs
    assert set(judge.hosts) == {"web-01_example_com", "x"}
    assert judge.counts() == {HEALTHY: 2, DEGRADED: 0, SILENT: 0, STOPPED: 0}


def test_a_host_dying_late_in_a_long_episode_is_announced_on_its_own() -> None:
    judge = Judge(SECTION, T0)
    names = [f"h{i:02d}" for i in range(10)]
    fleet(judge, 0, names)
    for t in range(10, 600, 10):  # h06 lives on through a long episode
        fleet(judge, t, names[6:])
    assert judge.mass is not None
    for t in range(600, 640, 10):
        fleet(judge, t, names[7:])
    host = judge.hosts["h06"]
    assert host.status == SILENT and not host.mass
    assert host.alert_metric() == SILENT_METRIC
    assert "h06" not in judge.mass.members


def test_a_held_host_is_announced_alone_if_still_silent_after_its_hold() -> None:
    judge = Judge(SECTION, T0)
    at(judge, 0, beat("a"), beat("b"))
    at(judge, 30)
    host = judge.hosts["a"]
    host.mass = True  # as restored from a record of an episode that is over
    judge.take_dirty()
    judge.hold(host, T0 + 30)
    at(judge, 59.9, beat("b"))
    assert host.alert_metric() is None
    at(judge, 60, beat("b"))
    assert host.alert_metric() == SILENT_METRIC and "a" in judge.take_dirty()
