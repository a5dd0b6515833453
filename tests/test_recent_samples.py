"""The raw tier's last samples kept at a clean stop (agent/tier_file.py, `keep_recent` and
`take_recent`; `Store.raw_tiers` and `Store.restore_raw`): z-score and EMA go on judging
after a restart instead of learning for another hour."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent import tier_file
from agent.store import Store
from alerting.alert import Alert, Status
from analyzers.base import Batch, Clocks, LearnsFromRecentSamples, SeriesKey, Warmable
from analyzers.ema import EmaAnalyzer
from analyzers.season import SeasonAnalyzer
from analyzers.zscore import ZScoreAnalyzer
from tests.conftest import HttpReceiver, wait_until
from tests.test_e2e import start_agent

__all__ = ["start_agent"]  # the fixture, shared with test_e2e

MEMORY = SeriesKey("memory_used_percent")
CPU = SeriesKey("cpu_usage_percent")
ENTROPY = SeriesKey("entropy_available_bits")  # watched by neither analyzer
START = 1_767_571_200.0
STEP = 10.0
BOOT = "2f1e0c2a-7d8b-4b8e-9a4e-3f1c0d2b5a61"


def store() -> Store:
    return Store(360, 1440, 60.0)


def noise(count: int, level: float, seed: int) -> np.ndarray:
    return level + np.random.default_rng(seed).normal(0.0, 0.5, count)


def feed(s: Store, analyzer: Any, start: float, values: np.ndarray) -> list[Alert]:
    """One sample of memory (and of a series nobody watches) every STEP seconds."""
    alerts = []
    for i, value in enumerate(values.tolist()):
        batch = s.write_samples(start + i * STEP, [MEMORY, ENTROPY], [value, 3000.0], "memory")
        alerts += analyzer.observe(batch, s)
    return alerts


def keep(
    s: Store, path: Path, at: float, wanted: Callable[[SeriesKey], bool], *clocks_of: Any
) -> int:
    """The samples of what `wanted` wants, and the clocks of the analyzers `clocks_of` (as
    the runtime keeps them)."""
    clocks = [tier_file.SeriesClocks(a.name, s.key(sid), c)
              for a in clocks_of for sid, c in a.clocks(at).items()]  # fmt: skip
    return asyncio.run(tier_file.keep_recent(s, path, at, BOOT, wanted, clocks))


def quiet(analyzer: Any, now: float) -> dict[int, float]:
    """The series the analyzer keeps quiet after `now`, and until when."""
    return {sid: c.quiet_until for sid, c in analyzer.clocks(now).items()
            if c.quiet_until is not None}  # fmt: skip


def take(s: Store, path: Path, now: float, analyzers: list[Any], boot: str = BOOT) -> int:
    """As the runtime's `_warm_up` (tested as such below): the samples, the end of the
    warm-up, then the quiet series."""

    def replay(batch: Batch) -> None:
        for analyzer in analyzers:
            analyzer.warm_up(batch, s)

    clocks: list[tier_file.SeriesClocks] = []
    taken = tier_file.take_recent(s, path, now, replay, groups={"memory"}, boot_id=boot,
                                  keep_clocks=clocks.append)  # fmt: skip
    for analyzer in analyzers:
        analyzer.end_warm_up()
    for entry in clocks:
        sid = s.find(entry.key)
        for analyzer in analyzers:
            if analyzer.name == entry.analyzer and sid is not None:
                analyzer.keep_clocks(sid, entry.clocks, now)
    return taken


@pytest.mark.parametrize("make", [ZScoreAnalyzer, lambda: EmaAnalyzer(metrics=["memory_*"])])
@pytest.mark.parametrize("kept", [True, False])
def test_a_clean_restart_leaves_the_statistical_analyzers_judging_at_once(
    tmp_path: Path, make: Callable[[], LearnsFromRecentSamples], kept: bool
) -> None:
    """Memory at 40 % for 70 minutes, a restart 20 s after the stop, then at 80 %: found
    within the persistence time when the last hour was kept; without it, the analyzer
    learns for an hour and then takes 80 % for the usual level."""
    path = tier_file.recent_path_in(tmp_path)
    before, first = store(), make()
    assert feed(before, first, START, noise(420, 40.0, 1)) == []
    stop = START + 419 * STEP
    if kept:
        assert keep(before, path, stop, first.watches) == 1  # memory only: entropy is not watched
    after, second = store(), make()
    restart = stop + 20.0
    assert take(after, path, restart, [second]) == (1 if kept else 0)
    assert not path.exists()  # one start's: never taken for recent again
    alerts = feed(after, second, restart + STEP, noise(120, 80.0, 2))
    firing = [a for a in alerts if a.status is Status.FIRING]
    if kept:
        assert len(firing) == 1 and "usual 40" in firing[0].message, firing
        assert firing[0].timestamp - restart <= 300.0 + 3 * STEP  # anomaly_persist_secs
    else:
        assert firing == [] and second.learning(restart + 120 * STEP) == 1


@pytest.mark.parametrize("make", [ZScoreAnalyzer, lambda: EmaAnalyzer(metrics=["memory_*"])])
@pytest.mark.parametrize("clocks_kept", [True, False])
def test_a_collector_faster_than_10_s_judges_at_once_after_a_restart_too(
    tmp_path: Path, make: Callable[[], LearnsFromRecentSamples], clocks_kept: bool
) -> None:
    """Memory read every second for two hours: its ring (361 samples) holds six minutes,
    an hour short of the learning time.  Going through it alone would leave the series
    learning for 54 more minutes; with the learning clock kept, 80 % after the restart is
    found within the persistence time, as in the last life."""
    path = tier_file.recent_path_in(tmp_path)
    before, first = store(), make()
    for i, value in enumerate(noise(7200, 40.0, 21).tolist()):
        first.observe(before.write_samples(START + i, [MEMORY], [value], "memory"), before)
    stop = START + 7199
    keep(before, path, stop, first.watches, *([first] if clocks_kept else []))
    after, second = store(), make()
    restart = stop + 20.0
    assert take(after, path, restart, [second]) == 1
    assert second.learning(restart) == (0 if clocks_kept else 1)
    alerts = []
    for i, value in enumerate(noise(400, 80.0, 22).tolist()):
        batch = after.write_samples(restart + 1 + i, [MEMORY], [value], "memory")
        alerts += second.observe(batch, after)
    firing = [a for a in alerts if a.status is Status.FIRING]
    if clocks_kept:
        assert len(firing) == 1 and firing[0].timestamp - restart <= 300.0 + 5, firing
    else:
        assert firing == []


def through_a_restart(
    before: Store,
    analyzers: list[Any],
    stop: float,
    path: Path,
    after: Store,
    fresh: list[Any],
    change: Callable[[Clocks], Clocks] = lambda c: c,
) -> None:
    """A clean stop `stop` keeping the samples and the analyzers' clocks (as `change` leaves
    them), a start 20 s later going through them into `after` with `fresh`."""
    clocks = [tier_file.SeriesClocks(a.name, before.key(sid), change(c))
              for a in analyzers for sid, c in a.clocks(stop).items()]  # fmt: skip
    asyncio.run(tier_file.keep_recent(before, path, stop, BOOT, analyzers[0].watches, clocks))
    assert take(after, path, stop + 20.0, fresh) >= 1


@pytest.mark.parametrize("range_kept", [True, False])
def test_a_unit_less_series_keeps_the_range_it_held_across_a_restart(
    tmp_path: Path, range_kept: bool
) -> None:
    """An application's queue read every second: a burst to 100 early on, then about 0.1
    for two hours.  Its floor is 5 % of the range it has held (0 to 100: 5); the ring
    holds six minutes of 0.1, so the range goes on from the kept clocks, and 0.6 after
    the restart is as little news as in one life.  With the range of the ring alone, it
    is a hundred times its floor."""
    key, rng = SeriesKey("app_queue_len"), np.random.default_rng(1)
    values = np.where((np.arange(7200) > 300) & (np.arange(7200) < 900), 100.0, 0.1)
    before, first = store(), ZScoreAnalyzer(metrics=["app_*"])
    for i, value in enumerate((values + rng.normal(0, 0.01, 7200)).tolist()):
        first.observe(before.write_samples(START + i, [key], [value], "memory"), before)
    after, second = store(), ZScoreAnalyzer(metrics=["app_*"])
    through_a_restart(before, [first], START + 7199, tier_file.recent_path_in(tmp_path), after,
                      [second], (lambda c: c) if range_kept else
                      (lambda c: dataclasses.replace(c, low=None, high=None)))  # fmt: skip
    alerts = []
    for i, value in enumerate((0.6 + rng.normal(0, 0.01, 600)).tolist()):
        batch = after.write_samples(START + 7220 + i, [key], [value], "memory")
        alerts += second.observe(batch, after)
    firing = [a for a in alerts if a.status is Status.FIRING]
    assert (firing == []) is range_kept, firing


def test_a_series_still_learning_at_the_stop_goes_on_learning_from_when_it_was_first_seen(
    tmp_path: Path,
) -> None:
    """A 1-s series 50 minutes into its hour of learning: after the restart it learns for
    the 10 minutes left, not for another hour from the six minutes of ring."""
    before, first = store(), ZScoreAnalyzer()
    for i, value in enumerate(noise(3000, 40.0, 23).tolist()):
        first.observe(before.write_samples(START + i, [MEMORY], [value], "memory"), before)
    after, second = store(), ZScoreAnalyzer()
    through_a_restart(before, [first], START + 2999, tier_file.recent_path_in(tmp_path), after,
                      [second])  # fmt: skip
    assert second.learning(START + 3590) == 1 and second.learning(START + 3600) == 0


def test_a_file_cut_to_a_lower_max_series_keeps_every_analyzers_clocks_of_its_series(
    tmp_path: Path,
) -> None:
    """The clocks records are in the order of their series' places: the first series, which
    a cut keeps, have theirs read first, z-score's and EMA's alike."""
    keys = [SeriesKey.of("memory_used_percent", n=str(i)) for i in range(4)]
    before = store()
    analyzers = [ZScoreAnalyzer(metrics=["memory_*"]), EmaAnalyzer(metrics=["memory_*"])]
    rng = np.random.default_rng(1)
    for i in range(7200):
        batch = before.write_samples(START + i, keys, 40 + rng.normal(0, 0.5, 4), "memory")
        for analyzer in analyzers:
            analyzer.observe(batch, before)
    after = Store(360, 1440, 60.0, max_series=2)
    fresh = [ZScoreAnalyzer(metrics=["memory_*"]), EmaAnalyzer(metrics=["memory_*"])]
    through_a_restart(before, analyzers, START + 7199, tier_file.recent_path_in(tmp_path),
                      after, fresh)  # fmt: skip
    assert [a.learning(START + 7219) for a in fresh] == [0, 0]


def test_the_analyzers_that_learn_from_the_raw_tier_are_the_warmable_ones() -> None:
    assert isinstance(ZScoreAnalyzer(), Warmable) and isinstance(EmaAnalyzer(), Warmable)
    # Season judges a day against earlier days in the history tier, kept on its own.
    assert not isinstance(SeasonAnalyzer(), Warmable)


def restarted_under_way(
    tmp_path: Path,
    make: Callable[[], LearnsFromRecentSamples],
    kept_alert: Callable[[Alert], Alert],
    lasting: int = 120,
) -> tuple[Store, Any, Alert, float]:
    """Memory at 40 %, then at 80 % for the last `lasting` samples before a clean stop (an
    alert announced and still firing), a restart 20 s later: the new life's store and
    analyzer after its warm-up and `resume` of the announced alert (as `kept_alert` makes
    the router's kept episode)."""
    path = tier_file.recent_path_in(tmp_path)
    before, first = store(), make()
    values = np.concatenate([noise(360, 40.0, 3), noise(lasting, 80.0, 4)])
    (fired,) = feed(before, first, START, values)  # and not resolved before the stop
    assert fired.status is Status.FIRING
    stop = START + (359 + lasting) * STEP
    keep(before, path, stop, first.watches)
    after, second = store(), make()
    take(after, path, stop + 20.0, [second])
    second.resume([kept_alert(fired)])
    return after, second, fired, stop + 20.0


def test_an_alert_under_way_at_the_stop_is_taken_back_with_its_stretch(tmp_path: Path) -> None:
    """The announced alert is raised again at the first sample after the restart (for the
    router, its episode goes on) and resolved when memory comes back to 40 %, judged
    against the baseline frozen when it began, not against a window that now holds a
    third of it (judged afresh, 80 % would be within its band: no verdict for good)."""
    after, second, fired, restart = restarted_under_way(tmp_path, ZScoreAnalyzer, lambda a: a)
    assert second.took_back(fired)
    (again,) = feed(after, second, restart + STEP, noise(1, 80.0, 5))
    assert (again.status, again.fingerprint, again.severity) == (
        Status.FIRING, fired.fingerprint, fired.severity,
    )  # fmt: skip
    assert again.series_id == after.find(MEMORY) and again.timestamp == restart + STEP
    assert feed(after, second, restart + 2 * STEP, noise(60, 80.0, 6)) == []  # still on
    (resolved,) = feed(after, second, restart + 62 * STEP, noise(3, 40.0, 7))
    assert resolved.status is Status.RESOLVED and "back to usual" in resolved.message


def test_an_ema_alert_under_way_is_taken_back_and_settles_as_in_one_life(tmp_path: Path) -> None:
    """EMA's baseline takes a new level in within a few samples of firing (in one life:
    fired at the step's 31st sample, "settled" at the next): stopped right after it
    fired, the alert is taken back and ends at the next sample as it would have."""
    make = functools.partial(EmaAnalyzer, metrics=["memory_*"])
    after, second, fired, restart = restarted_under_way(tmp_path, make, lambda a: a, 31)
    assert second.took_back(fired)
    (settled,) = feed(after, second, restart + STEP, noise(1, 80.0, 5))
    assert settled.status is Status.RESOLVED and "settled" in settled.message
    assert settled.fingerprint == fired.fingerprint


def test_an_alert_that_ended_during_the_restart_is_resolved_at_the_first_sample(
    tmp_path: Path,
) -> None:
    after, second, fired, restart = restarted_under_way(tmp_path, ZScoreAnalyzer, lambda a: a)
    (resolved,) = feed(after, second, restart + STEP, noise(1, 40.0, 8))
    assert resolved.status is Status.RESOLVED and resolved.severity == fired.severity


def without_stretch(alert: Alert) -> Alert:
    """As a version before the stretch went along with the alert kept it."""
    context = {k: v for k, v in alert.context.items() if k not in ("baseline", "band")}
    return dataclasses.replace(alert, context=context)


@pytest.mark.parametrize(
    "kept_alert",
    [
        without_stretch,
        lambda a: dataclasses.replace(a, context={**a.context, "band": "wide"}),
        lambda a: dataclasses.replace(a, metric="memory_free_bytes"),  # a series it never saw
    ],
)
def test_an_alert_it_cannot_take_back_is_left_to_the_routers_deadline(
    tmp_path: Path, kept_alert: Callable[[Alert], Alert]
) -> None:
    after, second, fired, restart = restarted_under_way(tmp_path, ZScoreAnalyzer, kept_alert)
    assert not second.took_back(kept_alert(fired))
    assert feed(after, second, restart + STEP, noise(1, 80.0, 9)) == []
    sid = after.find(MEMORY)
    assert sid is not None and second.gate.s.state[sid] == 0  # judged afresh


def test_without_kept_samples_nothing_is_taken_back() -> None:
    """A kill -9 or a reboot: no samples went through it, so no stretch is known."""
    before, first = store(), ZScoreAnalyzer()
    values = np.concatenate([noise(360, 40.0, 3), noise(120, 80.0, 4)])
    (fired,) = [a for a in feed(before, first, START, values) if a.status is Status.FIRING]
    second = ZScoreAnalyzer()
    second.resume([fired])
    assert not second.took_back(fired) and second.end_resume() == []


def test_the_samples_taken_back_are_the_past_not_now(tmp_path: Path) -> None:
    path = tier_file.recent_path_in(tmp_path)
    before = store()
    for i in range(400):
        before.write_samples(START + i * STEP, [MEMORY, CPU], [40.0 + i % 3, 5.0], "memory")
    keep(before, path, START + 399 * STEP, lambda key: key == MEMORY)
    after = store()
    batches: list[Batch] = []
    now = START + 399 * STEP + 30.0
    taken = tier_file.take_recent(after, path, now, batches.append, boot_id=BOOT)
    assert taken == 1 and len(batches) == 360  # the ring's capacity: the newest hour
    assert batches[0].timestamp == START + 40 * STEP and batches[-1].timestamp == START + 399 * STEP
    sid = after.find(MEMORY)
    assert sid is not None and after.find(CPU) is None
    old = before.find(MEMORY)
    assert old is not None
    assert after.window(sid)[1].tolist() == before.window(old)[1].tolist()
    assert after.value_ago(np.array([sid]), 0)[0] == before.value_ago(np.array([old]), 0)[0]
    # Not a reading of this life: nothing "now" for a repeat, the exporter or the context.
    assert not after.reported(MEMORY) and after.latest(sid) is None and after.latest_all() == []
    with pytest.raises(ValueError, match="before its samples"):
        next(after.restore_raw(before.raw_tiers(lambda key: key == MEMORY)[0], now))
    after.write_samples(now + STEP, [MEMORY], [55.0], "memory")
    assert after.latest(sid) == 55.0 and after.window(sid)[1].size == 360
    assert after.stale_ids(now + 599, 600) == []  # retired as any series, counted from now


def test_the_caps_hold_and_a_series_of_another_ring_is_left_alone(tmp_path: Path) -> None:
    path = tier_file.recent_path_in(tmp_path)
    keys = [SeriesKey.of("network_receive_bytes_per_second", interface=f"eth{i}") for i in range(5)]
    before = Store(60, 0, 60.0)
    for i in range(30):
        before.write_samples(START + i * STEP, keys, np.arange(5.0) + i, "network")
    keep(before, path, START + 29 * STEP, lambda _key: True)
    after = Store(60, 0, 60.0, max_series=3)
    after.write_samples(START, [keys[0]], [1.0], "elsewhere")  # holds eth0 in another ring
    after_batches: list[Batch] = []
    tier_file.take_recent(after, path, START + 40 * STEP, after_batches.append, boot_id=BOOT)
    assert len(after) == 3 and {after.key(int(i)) for i in after_batches[0].ids} == set(keys[1:3])


@pytest.mark.parametrize(
    ("boot", "gap", "said"),
    [
        ("another-boot", 20.0, "kept before a reboot"),
        (BOOT, tier_file.RECENT_MAX_GAP_SECS + 60.0, "kept 31 min ago, not recent"),
        (BOOT, -120.0, "kept -2 min ago, not recent"),  # the clock stepped back meanwhile
        ("", 20.0, "the boot is not known"),  # no boot_id to read: a reboot cannot be ruled out
    ],
)
def test_samples_from_before_a_reboot_or_too_long_ago_are_not_used_and_the_file_goes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, boot: str, gap: float, said: str
) -> None:
    path = tier_file.recent_path_in(tmp_path)
    before, first = store(), ZScoreAnalyzer()
    feed(before, first, START, noise(60, 40.0, 5))
    stop = START + 59 * STEP
    keep(before, path, stop, first.watches)
    caplog.set_level(logging.INFO, logger="agent.tier_file")
    after, second = store(), ZScoreAnalyzer()
    assert take(after, path, stop + gap, [second], boot=boot) == 0
    assert said in caplog.text and not path.exists() and after.find(MEMORY) is None


def ended_before_the_stop(
    make: Callable[[], LearnsFromRecentSamples],
) -> tuple[Store, Any, float, float]:
    """Memory at 40 %, 60 % for six minutes (an alert), 40 % again (its RESOLVED) for five
    minutes before a clean stop: the analyzer in its cooldown.  (store, analyzer, the
    RESOLVED's time, the stop's)"""
    before, first = store(), make()
    values = np.concatenate([noise(360, 40.0, 11), noise(36, 60.0, 12), noise(30, 40.0, 13)])
    told = feed(before, first, START, values)
    assert [a.status for a in told] == [Status.FIRING, Status.RESOLVED], told
    return before, first, told[1].timestamp, START + (len(values) - 1) * STEP


@pytest.mark.parametrize("make", [ZScoreAnalyzer, lambda: EmaAnalyzer(metrics=["memory_*"])])
@pytest.mark.parametrize("quiet_kept", [True, False])
def test_the_quiet_hour_after_an_alert_ended_goes_on_across_a_restart(
    tmp_path: Path, make: Callable[[], LearnsFromRecentSamples], quiet_kept: bool
) -> None:
    """`anomaly_cooldown_secs` (an hour) after an alert ended, the series fires nothing
    new: a restart five minutes into it keeps that, so memory at 80 % again is not a new
    FIRING within the hour (in one life it would not be either).  Going through the
    samples does not give the cooldown back (they are learning time then): without it
    kept, the second stretch is a new FIRING at once."""
    path = tier_file.recent_path_in(tmp_path)
    before, first, resolved, stop = ended_before_the_stop(make)
    assert quiet(first, stop) == {before.find(MEMORY): resolved + 3600.0}
    keep(before, path, stop, first.watches, *([first] if quiet_kept else []))
    after, second = store(), make()
    restart = stop + 20.0
    assert take(after, path, restart, [second]) == 1
    alerts = feed(after, second, restart + STEP, noise(120, 80.0, 14))
    firing = [a for a in alerts if a.status is Status.FIRING]
    if quiet_kept:
        assert firing == [] and quiet(second, restart) == {after.find(MEMORY): resolved + 3600.0}
    else:
        assert len(firing) == 1, firing


def test_a_kept_quiet_time_is_at_most_the_cooldown_from_now(tmp_path: Path) -> None:
    """A kept file cannot silence a series for longer than an alert's end would: a time a
    year ahead is the cooldown from the start; one already past changes nothing."""
    path = tier_file.recent_path_in(tmp_path)
    before, first, _, stop = ended_before_the_stop(ZScoreAnalyzer)
    far = [tier_file.SeriesClocks("zscore", MEMORY, Clocks(stop + 365 * 86400.0, None, None, None))]
    copies = before.raw_tiers(first.watches, "memory")
    path.write_bytes(b"".join(tier_file.encode(copies, before.resolution, stop, BOOT,
                                               tier_file.RECENT_MAGIC, far)))  # fmt: skip
    after, second = store(), ZScoreAnalyzer()
    assert take(after, path, stop + 20.0, [second]) == 1
    assert quiet(second, stop + 20.0) == {after.find(MEMORY): stop + 20.0 + 3600.0}
    sid = after.find(MEMORY)
    assert sid is not None
    second.keep_clocks(sid, Clocks(stop - 1.0, None, None, None), stop + 20.0)  # past
    assert quiet(second, stop + 20.0) == {after.find(MEMORY): stop + 20.0 + 3600.0}


Head = dict[str, Any]
Records = list[Any]


def rewrite(path: Path, change: Callable[[Head, Records], None]) -> None:
    """The kept raw tier written again with its header and clocks records as `change` leaves
    them (each record's length right, so the reader judges what they say)."""
    kept = tier_file.decode(path.read_bytes(), 100, 1000, tier_file.RECENT_MAGIC)
    head: Head = {"version": 2, "saved_at": kept.saved_at, "resolution": kept.resolution,
                  "boot_id": kept.boot_id, "clocks": len(kept.clocks)}  # fmt: skip
    place = [key for c in kept.copies for key in c.keys]
    records: Records = [[c.analyzer, place.index(c.key), *dataclasses.astuple(c.clocks)]
                        for c in kept.clocks]  # fmt: skip
    change(head, records)
    parts = [tier_file.RECENT_MAGIC, tier_file._json(head)]
    parts += [tier_file._json(record) for record in records]
    for c in kept.copies:
        parts += [tier_file._ring_head(c.group, c.times, c.keys), c.values.astype("<f4").tobytes()]
    path.write_bytes(b"".join(parts))


def test_a_file_of_the_version_before_the_clocks_is_still_used(tmp_path: Path) -> None:
    """An upgrade from 0.3.0: its raw tier (version 1, no clocks) is gone through."""
    path = tier_file.recent_path_in(tmp_path)
    before, first = store(), ZScoreAnalyzer()
    feed(before, first, START, noise(60, 40.0, 16))
    keep(before, path, START + 59 * STEP, first.watches)

    def version_1(head: Head, records: Records) -> None:
        assert head.pop("clocks") == 0 and records == []
        head["version"] = 1

    rewrite(path, version_1)
    after, second = store(), ZScoreAnalyzer()
    assert take(after, path, START + 61 * STEP, [second]) == 1


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda b: b[:-7], "truncated values"),
        (lambda b: tier_file.MAGIC + b[len(tier_file.RECENT_MAGIC) :], "not a raw tier file"),
        (lambda b: b.replace(b'"group":"memory"', b'"group":777777'), "Extra data"),
    ],
)
def test_a_damaged_file_is_said_used_for_nothing_and_removed(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[bytes], bytes],
    said: str,
) -> None:
    path = tier_file.recent_path_in(tmp_path)
    before, first = store(), ZScoreAnalyzer()
    feed(before, first, START, noise(60, 40.0, 6))
    keep(before, path, START + 59 * STEP, first.watches)
    path.write_bytes(damage(path.read_bytes()))
    after, second = store(), ZScoreAnalyzer()
    assert take(after, path, START + 70 * STEP, [second]) == 0
    assert f"samples kept at the last stop not used ({path}): {said}" in caplog.text
    assert not path.exists() and after.find(MEMORY) is None


def _set(name: str, value: Any) -> Callable[[Head, Records], None]:
    return lambda head, _records: head.update({name: value})


def _record(value: Any) -> Callable[[Head, Records], None]:
    return lambda _head, records: records.__setitem__(0, value)


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (_set("version", 3), "unknown version"),
        (_set("clocks", -1), "bad count of clocks"),
        (_set("clocks", 2 * 1_000_000 + 1), "bad count of clocks"),  # beyond any store
        (_set("clocks", "1"), "bad count of clocks"),
        (_set("clocks", True), "bad count of clocks"),
        (_set("clocks", 9), "a list expected"),  # a ring header read as a clocks record
        (_set("clocks", 2**40), "bad count of clocks"),
        (_set("clocks", 50_000), "truncated clocks"),
        (_record(["zscore", 0, True, None, None, None]), "bad clocks"),
        (_record(["zscore", 0, 1e400, None, None, None]), "bad clocks"),
        (_record(["zscore", 0, None, "1", None, None]), "bad clocks"),
        (_record(["zscore", 0, None, None, [1], None]), "bad clocks"),
        (_record(["zscore", 0, 1.0, None, None]), "bad clocks"),
        (_record(["zscore", -1, 1.0, None, None, None]), "bad clocks"),
        (_record(["zscore", "0", 1.0, None, None, None]), "bad clocks"),
        (_record(["zscore", True, 1.0, None, None, None]), "bad clocks"),
        (_record([7, 0, 1.0, None, None, None]), "bad clocks"),
        (_record(["zscore", 0, 1.0, None, None, "x" * 300]), "clocks larger than 256 bytes"),
        (_record({"zscore": 1.0}), "a list expected"),
    ],
)
def test_a_file_with_bad_clocks_is_used_for_nothing(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[Head, Records], None],
    said: str,
) -> None:
    """The clocks records are read against bounds of their own (a count no store could have
    written, a record over CLOCKS_BYTES) before anything is used."""
    path = tier_file.recent_path_in(tmp_path)
    before, first, _, stop = ended_before_the_stop(ZScoreAnalyzer)
    keep(before, path, stop, first.watches, first)
    assert b'"clocks":1' in path.read_bytes()
    rewrite(path, damage)
    after, second = store(), ZScoreAnalyzer()
    assert take(after, path, stop + 20.0, [second]) == 0
    assert f"samples kept at the last stop not used ({path}): {said}" in caplog.text
    assert not path.exists() and after.find(MEMORY) is None


def test_samples_later_than_the_stop_that_kept_them_are_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Times a month ahead would keep each series learning until then."""
    path = tier_file.recent_path_in(tmp_path)
    before, first = store(), ZScoreAnalyzer()
    feed(before, first, START, noise(60, 40.0, 10))
    keep(before, path, START + 30 * STEP, first.watches)  # "saved" before its last samples
    after, second = store(), ZScoreAnalyzer()
    assert take(after, path, START + 70 * STEP, [second]) == 0
    assert "samples later than the stop that kept them" in caplog.text
    assert not path.exists() and after.find(MEMORY) is None


def test_nothing_watched_keeps_no_file_and_removes_an_old_one(tmp_path: Path) -> None:
    path = tier_file.recent_path_in(tmp_path)
    path.write_bytes(b"an earlier stop's")
    before = store()
    before.write_samples(START, [ENTROPY], [3000.0], "memory")
    assert keep(before, path, START, lambda key: key == MEMORY) == 0
    assert not path.exists()


def captured_host(tmp_path: Path) -> str:
    """hermetic_agent_keys' captured host, with a boot id (the fixture has none: the
    samples of an unknown boot are not taken back)."""
    from tests.conftest import hermetic_agent_keys

    host = hermetic_agent_keys(tmp_path)
    random = tmp_path / "host-proc" / "sys" / "kernel" / "random"
    random.mkdir(parents=True, exist_ok=True)
    (random / "boot_id").write_text(BOOT + "\n")
    return host


def memory_zscore_config(tmp_path: Path, learning_secs: float, rest: str) -> str:
    """The captured host's memory read every 0.25 s, z-score on it with `learning_secs`,
    then `rest` (thresholds, channels)."""
    from tests.conftest import only_collectors

    return f"""
[agent]
hostname = "e2e-host"
data_dir = "data"
{captured_host(tmp_path)}
[collector]
memory_interval_secs = 0.25
{only_collectors("memory")}
[analyzer]
enabled = ["zscore", "threshold"]
anomaly_metrics = ["memory_used_percent"]
anomaly_learning_secs = {learning_secs:g}
anomaly_min_samples = 20
anomaly_persist_secs = 2
{rest}"""


def webhook_with_marker(url: str, hold_secs: float) -> str:
    """The webhook, and a marker rule (memory's total, always over 1 byte) that fires after
    `hold_secs` of the agent's own clock: the test's sign that z-score is past its
    learning time.  Memory's own threshold is out of the way."""
    return f"""
[thresholds]
memory_percent = 100
[[thresholds.rules]]
metric = "memory_total_bytes"
warn = 1
for_secs = {hold_secs:g}
[alerting]
min_interval_secs = 2
[alerting.webhook]
enabled = true
url = "{url}/alerts"
retry_count = 1
"""


def memory_bodies(receiver: HttpReceiver) -> list[dict[str, Any]]:
    """What the webhook received about memory_used_percent, in order."""
    return [body for r in receiver.requests
            if (body := r.json())["metric"] == "memory_used_percent"]  # fmt: skip


def zscore_fired_at(
    start_agent: Any, config: str, receiver: HttpReceiver, tmp_path: Path, used: float
) -> Any:
    """The agent started at memory's 25 %; once the marker rule fired (by the agent's own
    clock z-score is then past its learning time, quiet), memory at `used`: the agent,
    once the webhook has z-score's FIRING."""
    from tests.conftest import set_memory_used

    agent = start_agent(config)
    assert agent.wait_for_log("sysops-agent started", 15.0), agent.stderr
    wait_until(lambda: receiver.requests, 60.0, "the marker rule's FIRING")
    assert memory_bodies(receiver) == []
    set_memory_used(tmp_path / "host-proc", used)
    wait_until(lambda: memory_bodies(receiver), 30.0, "the z-score FIRING")
    return agent


@pytest.mark.e2e
def test_a_restarted_agent_judges_against_the_last_lifes_samples(
    start_agent: Any, tmp_path: Path
) -> None:
    """The real daemon, stopped with SIGTERM while memory was at 25 %, started again with
    memory at 95 %: z-score compares with the 25 % of before the restart, and fires once its
    persistence time has passed.  Without the kept samples it would learn 95 % as the
    usual level, and say nothing."""
    from tests.conftest import set_memory_used

    config = memory_zscore_config(tmp_path, 5, """
[thresholds]
memory_percent = { warn = 0.5, for_secs = 8 }
[alerting.console]
enabled = true
""")  # fmt: skip
    path = tier_file.recent_path_in(tmp_path / "data")
    first = start_agent(config)
    assert first.wait_for_log("sysops-agent started", 15.0), first.stderr
    assert "samples of" not in first.stderr  # a first start: nothing to take back
    # The threshold's 8 s over its level are the agent's own clock: by then z-score has
    # seen memory past its learning time and minimum samples (5 s, 20 samples), quiet.
    first.wait_for_output("FIRING", 30.0)
    code, _ = first.stop()
    assert code == 0 and path.exists() and "zscore" not in first.stdout
    set_memory_used(tmp_path / "host-proc", 0.95)
    second = start_agent(config)
    wait_until(lambda: "the last samples of 1 series taken back" in second.stderr, 15.0,
               "the samples taken back")  # fmt: skip
    assert not path.exists()
    second.wait_for_output("above its usual 25% (a flat series, zscore", 30.0)
    code, _ = second.stop()
    assert code == 0 and "Traceback" not in second.stderr


@pytest.mark.e2e
def test_an_episode_goes_on_across_a_clean_restart_and_ends_when_its_condition_does(
    start_agent: Any, http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    """A z-score alert announced on the webhook; the agent stopped with SIGTERM and started
    again while memory is still at 95 %: the episode goes on (its repeats, same
    `alert_id`), judged against the 25 % of before, where the new window (a third of it
    at 95 %) would no longer see it.  Stopped again, memory back to 25 %, started: z-score
    says it is back to usual at its first sample, not "not raised again" after its
    30 s learning time."""
    from tests.conftest import set_memory_used

    config = memory_zscore_config(tmp_path, 30, webhook_with_marker(http_receiver.url, 31))

    def memory() -> list[dict[str, Any]]:
        return memory_bodies(http_receiver)

    # The marker rule's 31 s hold: z-score past its 30 s learning time; then 95 %.
    first = zscore_fired_at(start_agent, config, http_receiver, tmp_path, 0.95)
    assert first.stop()[0] == 0
    (fired,) = memory()
    assert (fired["status"], fired["analyzer"]) == ("firing", "zscore")

    second = start_agent(config)  # memory still at 95 %
    wait_until(lambda: len(memory()) >= 2, 30.0, f"a repeat of the episode:\n{second.stderr}")
    repeat = memory()[1]
    assert repeat["status"] == "firing" and repeat["context"].get("still_firing")
    assert repeat["alert_id"] == fired["alert_id"]
    assert second.stop()[0] == 0
    told = len(memory())
    assert all(body["status"] == "firing" for body in memory())

    set_memory_used(tmp_path / "host-proc", 0.25)  # ends while the agent is down
    third = start_agent(config)
    started = time.monotonic()
    wait_until(lambda: len(memory()) > told, 60.0, "the RESOLVED")
    waited = time.monotonic() - started
    resolved = memory()[told]
    assert resolved["status"] == "resolved" and resolved["alert_id"] == fired["alert_id"]
    assert resolved["message"].startswith("memory_used_percent is back to usual"), resolved
    assert waited < 20.0, waited  # the 30 s learning time, its persistence, rounds: > 40 s
    code, _ = third.stop()
    assert code == 0 and "Traceback" not in third.stderr


@pytest.mark.e2e
def test_the_quiet_time_after_an_alert_ended_goes_on_across_a_clean_restart(
    start_agent: Any, http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    """A z-score alert (memory 25 % -> 45 %) fired and resolved; the agent stopped with
    SIGTERM, memory at 95 %, started: `anomaly_cooldown_secs` after that RESOLVED goes on
    across the restart, so the new FIRING comes when it ends, as in one life, not seconds
    after the start.  Going through the kept samples does not give the cooldown back
    where the alert lies in their first `anomaly_learning_secs` (learning time then): at
    10 s, the defaults' hour of samples (the ring holds `zscore_window` + 1 or
    `ring_buffer_capacity`, 360) against an hour of learning; here 41 samples (10 s at
    0.25 s) and 8 s of learning, stopped once the alert is in the oldest 8 s.  (A
    collection slower than 0.25 s widens the ring: the replay may then judge the alert
    itself and recreate the cooldown, and this run proves less; it cannot fail for it.)"""
    from tests.conftest import set_memory_used

    cooldown = 45.0
    ring = f"anomaly_cooldown_secs = {cooldown:g}\nzscore_window = 40\n[storage]\nring_buffer_capacity = 16"
    config = memory_zscore_config(tmp_path, 8, ring + webhook_with_marker(http_receiver.url, 11))

    def memory() -> list[dict[str, Any]]:
        return memory_bodies(http_receiver)

    # The marker rule's 11 s hold: z-score past its learning time and minimum samples (8 s,
    # 20 samples).  Then 20 points (the family's floor is 10) for a few seconds: against
    # the window of the next start (25 % and these) 95 % is far beyond the band, and a
    # level never held.
    first = zscore_fired_at(start_agent, config, http_receiver, tmp_path, 0.45)
    set_memory_used(tmp_path / "host-proc", 0.25)
    wait_until(lambda: len(memory()) >= 2, 30.0, "its RESOLVED")
    fired, resolved = memory()[:2]
    assert (fired["status"], resolved["status"]) == ("firing", "resolved")
    # 45 % (before the RESOLVED) in the oldest 8 s of the 10 s the ring holds at the stop.
    wait_until(lambda: time.time() > resolved["epoch"] + 4.0, 30.0, "the alert 4 s old")
    assert first.stop()[0] == 0

    set_memory_used(tmp_path / "host-proc", 0.95)
    second = start_agent(config)
    wait_until(lambda: len(memory()) >= 3, cooldown + 60.0, "the FIRING after the cooldown")
    assert "the last samples of 1 series taken back" in second.stderr
    again = memory()[2]
    assert again["status"] == "firing" and again["alert_id"] != fired["alert_id"]
    # Without the quiet time kept: persistence and a few seconds after the start.
    assert again["epoch"] >= resolved["epoch"] + cooldown, again["epoch"] - resolved["epoch"]
    code, _ = second.stop()
    assert code == 0 and "Traceback" not in second.stderr


def test_the_stop_keeps_the_samples_within_what_the_history_tier_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """systemd stops the agent 15 s after SIGTERM: the samples are kept within what the
    history tier's save left of its 5 s, not after a save that failed or hung (the same
    disk), and a write that hangs is given up within that."""
    import threading

    from agent.config import parse_config_text
    from agent.runtime import Agent
    from common import datafile

    config = f'[agent]\ndata_dir = "{tmp_path}/data"\n[analyzer]\nenabled = ["zscore"]\n'
    agent = Agent(parse_config_text(config, "t.toml"))
    path = tier_file.recent_path_in(tmp_path / "data")
    for i in range(40):
        agent.store.write_samples(START + i * STEP, [MEMORY, ENTROPY], [40.0, 3000.0], "memory")

    agent._tier_failed = True  # the history tier's save failed: this disk is not writable
    asyncio.run(agent._keep_recent_samples(5.0))
    assert not path.exists()
    agent._tier_failed = False
    asyncio.run(agent._keep_recent_samples(0.1))
    assert not path.exists() and "took the time of both" in caplog.text

    release = threading.Event()
    real_write = datafile.AtomicWriter.write

    def stalled(self: datafile.AtomicWriter, part: bytes | memoryview) -> None:
        release.wait(30)
        real_write(self, part)

    monkeypatch.setattr(datafile.AtomicWriter, "write", stalled)
    began = time.monotonic()
    try:
        asyncio.run(agent._keep_recent_samples(0.6))
    finally:
        took = time.monotonic() - began
        release.set()
    assert took < 5.0 and "not written within 0.6 s" in caplog.text
    folder = tmp_path / "data"
    wait_until(lambda: not any(p.name.endswith(".tmp") for p in folder.iterdir()), 10,
               "the temp file gone")  # fmt: skip
    monkeypatch.setattr(datafile.AtomicWriter, "write", real_write)
    asyncio.run(agent._keep_recent_samples(5.0))
    (ring,) = tier_file.decode(path.read_bytes(), 100, 1000, tier_file.RECENT_MAGIC).copies
    assert ring.keys == [MEMORY] and ring.values.shape == (1, 40)  # what z-score watches


def test_the_running_agent_keeps_the_samples_every_so_often_for_a_kill_9(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the history tier, not only at a clean stop: after a kill -9 (an OOM kill, the
    watchdog, a crash that systemd restarts) the next start finds the samples as they
    stood at most SAVE_EVERY_SECS before, and goes on from them."""
    from agent import runtime
    from agent.config import parse_config_text
    from agent.runtime import Agent
    from tests.conftest import until

    monkeypatch.setattr(runtime, "REPEAT_CHECK_SECS", 0.01)
    monkeypatch.setattr(runtime, "HOUSEKEEPING_SECS", 0.0)
    monkeypatch.setattr(tier_file, "SAVE_EVERY_SECS", 0.05)
    config = f'[agent]\ndata_dir = "{tmp_path}/data"\n[analyzer]\nenabled = ["zscore"]\n'
    agent = Agent(parse_config_text(config, "t.toml"))
    agent._boot_id = BOOT  # as `run` reads it
    recent = time.time() - 300  # not stale for the housekeeping's retiring
    for i in range(30):
        agent.store.write_samples(recent + STEP * i, [MEMORY, ENTROPY], [40.0 + i, 3.0], "memory")
    path = tier_file.recent_path_in(tmp_path / "data")

    async def scenario() -> None:
        task = asyncio.create_task(agent._housekeeping())
        await until(path.exists, 10.0, "the samples kept while running")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())  # and then nothing: killed
    after, second = store(), ZScoreAnalyzer()
    assert take(after, path, time.time(), [second]) == 1
    sid = after.find(MEMORY)
    assert sid is not None and after.window(sid)[1].tolist() == [40.0 + i for i in range(30)]


def test_an_analyzer_that_fails_on_the_kept_samples_learns_again_and_the_others_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A defect in one analyzer's warm-up is said with its traceback; that analyzer starts
    as without the file (learning), the other goes on from the samples, the agent starts."""
    from agent.config import parse_config_text
    from agent.runtime import Agent

    config = f'[agent]\ndata_dir = "{tmp_path}/data"\n[analyzer]\nenabled = ["zscore", "ema"]\n'
    agent = Agent(parse_config_text(config, "t.toml"))
    agent._boot_id = BOOT  # as `run` reads it
    before, first = store(), ZScoreAnalyzer()
    stop = time.time() - 20.0  # `_warm_up` reads the clock: a restart 20 s after the stop
    feed(before, first, stop - 419 * STEP, noise(420, 40.0, 11))
    path = tier_file.recent_path_in(tmp_path / "data")
    keep(before, path, stop, first.watches)
    zscore, ema = agent._warmable()
    assert isinstance(zscore, ZScoreAnalyzer) and isinstance(ema, EmaAnalyzer)

    real, seen = ZScoreAnalyzer.observe, []

    def broken(self: ZScoreAnalyzer, batch: Batch, history: Any) -> list[Alert]:
        seen.append(batch.timestamp)  # half of it went through: what it learnt is forgotten
        if len(seen) > 200:
            raise RuntimeError("a defect")
        return real(self, batch, history)

    monkeypatch.setattr(ZScoreAnalyzer, "observe", broken)
    agent._warm_up(path, {"memory"})
    monkeypatch.undo()
    assert "zscore could not go through the kept samples: it learns again" in caplog.text
    assert "RuntimeError: a defect" in caplog.text and not path.exists()
    now = stop + 30.0
    batch = agent.store.write_samples(now, [MEMORY], [40.0], "memory")
    zscore.observe(batch, agent.store)
    ema.observe(batch, agent.store)
    assert zscore.learning(now) == 1 and ema.learning(now) == 0


def test_the_start_gives_the_quiet_time_back_after_a_replay_that_judged(tmp_path: Path) -> None:
    """The runtime's stop and start (`_keep_recent_samples`, `_warm_up`), with a ring longer
    than the learning time (a disk collector's 60 s at the defaults: six hours of ring,
    one of learning), so the replay judges its later part: the last life's alert A ended
    (its hour of quiet began) and a second stretch B was held back by that quiet.  The
    replay, which learnt through A, fires B (dropped); the quiet time is given back after
    its stretches are ended, so B is not news before A's hour is over, as in one life."""
    from agent.config import parse_config_text
    from agent.runtime import Agent

    config = (f'[agent]\ndata_dir = "{tmp_path}/data"\n[analyzer]\nenabled = ["zscore"]\n'
              "anomaly_learning_secs = 1800\n")  # fmt: skip

    def agent_and_zscore() -> tuple[Agent, ZScoreAnalyzer]:
        agent = Agent(parse_config_text(config, "t.toml"))
        agent._boot_id = BOOT  # as `run` reads it
        (zscore,) = (a for a in agent.analyzers if isinstance(a, ZScoreAnalyzer))
        return agent, zscore

    first, z1 = agent_and_zscore()
    values = np.concatenate([noise(400, 40.0, 1), noise(60, 53.0, 2), noise(150, 40.0, 3),
                             noise(40, 65.0, 4)])  # fmt: skip
    start = time.time() - len(values) * STEP
    told = feed(first.store, z1, start, values)
    assert [a.status for a in told] == [Status.FIRING, Status.RESOLVED], told
    resolved = told[1].timestamp
    asyncio.run(first._keep_recent_samples(5.0))

    second, z2 = agent_and_zscore()
    second._warm_up(tier_file.recent_path_in(tmp_path / "data"), {"memory"})
    sid = second.store.find(MEMORY)
    assert sid is not None and quiet(z2, time.time()) == {sid: resolved + 3600.0}
    assert feed(second.store, z2, time.time(), noise(40, 65.0, 5)) == []


def test_clocks_of_series_cut_or_not_in_the_file_are_dropped_not_the_file(
    tmp_path: Path,
) -> None:
    """A file kept under a larger `max_series` is cut to the store's caps, its clocks records
    with it (the samples of the series kept are still gone through); a record naming a
    place past the file's series names nothing."""
    path = tier_file.recent_path_in(tmp_path)
    before, first = store(), ZScoreAnalyzer()
    for i, (m, c) in enumerate(zip(noise(60, 40.0, 7).tolist(), noise(60, 30.0, 8).tolist(),
                                   strict=True)):  # fmt: skip
        first.observe(before.write_samples(START + i * STEP, [MEMORY, CPU], [m, c], "memory"),
                      before)  # fmt: skip
    stop, restart = START + 59 * STEP, START + 61 * STEP
    clocks = [tier_file.SeriesClocks("zscore", key, Clocks(restart + 600.0, None, None, None))
              for key in (MEMORY, CPU)]  # fmt: skip
    copies = before.raw_tiers(first.watches, "memory")
    path.write_bytes(b"".join(tier_file.encode(copies, before.resolution, stop, BOOT,
                                               tier_file.RECENT_MAGIC, clocks)))  # fmt: skip
    rewrite(path, lambda head, records: (records.append(["zscore", 7, 1.0, None, None, None]),
                                         head.update(clocks=3)))  # fmt: skip
    after, second = Store(360, 1440, 60.0, max_series=1), ZScoreAnalyzer()
    assert take(after, path, restart, [second]) == 1
    assert after.find(CPU) is None and quiet(second, restart) == {after.find(MEMORY): restart + 600}


def test_an_analyzer_failing_at_its_clocks_loses_them_not_the_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A defect in listing the clocks at the stop is said, and the samples are kept all the
    same (the other analyzer's clocks with them); a defect in taking one back at the start
    is said, and the start goes on with what the samples gave back."""
    from agent.config import parse_config_text
    from agent.runtime import Agent

    config = f'[agent]\ndata_dir = "{tmp_path}/data"\n[analyzer]\nenabled = ["zscore", "ema"]\n'

    def agent() -> Agent:
        made = Agent(parse_config_text(config, "t.toml"))
        made._boot_id = BOOT  # as `run` reads it
        return made

    first = agent()
    start = time.time() - 420 * STEP
    for i, value in enumerate(noise(420, 40.0, 31).tolist()):
        batch = first.store.write_samples(start + i * STEP, [MEMORY], [value], "memory")
        for analyzer in first._warmable():
            analyzer.observe(batch, first.store)

    def broken(*_args: Any) -> Any:
        raise RuntimeError("a defect")

    monkeypatch.setattr(ZScoreAnalyzer, "clocks", broken)
    asyncio.run(first._keep_recent_samples(5.0))
    monkeypatch.undo()
    assert "zscore: its clocks not kept for the next start" in caplog.text
    path = tier_file.recent_path_in(tmp_path / "data")
    kept = tier_file.decode(path.read_bytes(), 100, 1000, tier_file.RECENT_MAGIC)
    assert kept.copies[0].keys == [MEMORY] and [c.analyzer for c in kept.clocks] == ["ema"]

    second = agent()
    monkeypatch.setattr(EmaAnalyzer, "keep_clocks", broken)
    second._warm_up(path, {"memory"})
    monkeypatch.undo()
    assert "ema could not take back a series' clocks" in caplog.text
    zscore, ema = second._warmable()
    now = time.time()
    batch = second.store.write_samples(now, [MEMORY], [40.0], "memory")
    zscore.observe(batch, second.store)
    ema.observe(batch, second.store)
    assert zscore.learning(now) == 0 and ema.learning(now) == 0  # the samples: an hour


def test_kept_clocks_only_add_to_what_the_samples_gave_back(tmp_path: Path) -> None:
    """A first sighting later than the samples' does not make a series learn again, a
    narrower range does not narrow its own, a past quiet time changes nothing."""
    path = tier_file.recent_path_in(tmp_path)
    before, first = store(), ZScoreAnalyzer()
    feed(before, first, START, noise(420, 40.0, 32))
    stop = START + 419 * STEP
    keep(before, path, stop, first.watches)
    after, second = store(), ZScoreAnalyzer()
    assert take(after, path, stop + 20.0, [second]) == 1
    sid = after.find(MEMORY)
    assert sid is not None
    (own,) = second.clocks(stop + 20.0).values()
    assert own.quiet_until is None and own.low is not None and own.high is not None
    second.keep_clocks(sid, Clocks(stop - 1.0, stop + 10.0, own.low + 0.1, own.high - 0.1),
                       stop + 20.0)  # fmt: skip
    assert second.clocks(stop + 20.0) == {sid: own} and second.learning(stop + 20.0) == 0
