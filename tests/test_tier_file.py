"""The history tier kept across a restart (agent/tier_file.py, `Store.history_tiers` and
`Store.restore_history`): the analyzers go on where the last life left them."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent import tier_file
from agent.store import Store
from alerting.alert import Alert, Status
from analyzers.base import SeriesKey
from analyzers.leak import LeakAnalyzer
from analyzers.trend import TrendAnalyzer
from tests.conftest import wait_until
from tests.test_e2e import start_agent

__all__ = ["start_agent"]  # the fixture, shared with test_e2e

MB = 2**20
DISK = SeriesKey.of("disk_used_percent", mountpoint="/var", device="/dev/sda1")
RSS = SeriesKey.of("process_rss_bytes", comm="java", pid="4242", user="app")
TOTAL = SeriesKey("memory_total_bytes")
CPU = SeriesKey("cpu_usage_percent")
MEMORY = SeriesKey("memory_used_percent")
START = 1_767_571_200.0  # a Monday, 00:00 UTC


def store() -> Store:
    return Store(60, 240, 60.0, needs_history=lambda metric: metric != "memory_total_bytes")


def written(minutes: int, step: float = 10.0) -> Store:
    """A store fed `minutes` of a CPU series (group cpu) and a disk (group disk)."""
    s = store()
    for i in range(int(minutes * 60 / step)):
        t = START + i * step
        s.write_samples(t, [CPU], np.array([float(i % 7)]), "cpu")
        s.write_samples(t, [DISK, TOTAL], np.array([40.0 + i / 100, 8e9]), "disk")
    return s


def kept(s: Store, at: float) -> list[Any]:
    """What a restart at `at` takes back: the store's tiers through the file's encoding."""
    kept = tier_file.decode(
        b"".join(tier_file.encode(s.history_tiers(), s.resolution, at)), 1000, 2000
    )
    assert (kept.resolution, kept.saved_at) == (s.resolution, at)
    return kept.copies


def test_a_restart_takes_the_history_tier_back_as_it_was() -> None:
    before = written(30)
    now = START + 30 * 60 + 5  # stopped at the end, started 5 s later
    after = store()
    taken = sum(after.restore_history(copy, now) for copy in kept(before, now))
    assert taken == 2  # memory_total_bytes keeps no history: not taken back
    for key in (CPU, DISK):
        old, new = before.find(key), after.find(key)
        assert old is not None and new is not None
        t0, v0 = before.history_window(old)
        t1, v1 = after.history_window(new)
        assert t1.tolist() == t0.tolist() and v1.tolist() == v0.tolist()
        assert after.history_ago(np.array([new]), 0)[0] == before.history_ago(np.array([old]), 0)[0]
    assert after.find(TOTAL) is None
    # Known, not known to exist: until a collector reports it; then as any series.
    assert not after.reported(DISK)
    assert after.window(after.find(DISK) or 0)[0].size == 0  # no raw value: nothing "now"
    after.write_samples(now + 10, [CPU], np.array([3.0]), "cpu")
    assert after.reported(CPU) and not after.reported(DISK)
    # Never reported again: stale like any series, counted from the start.
    assert after.stale_ids(now + 599, 600) == []
    assert after.stale_ids(now + 601, 600) == [after.find(DISK)]


def test_a_tier_older_than_its_reach_takes_nothing_back() -> None:
    """The agent down longer than the tier reaches: no series registered for nothing."""
    copies = kept(written(30), START + 1800)
    later = store()
    assert sum(later.restore_history(c, START + 1800 + 5 * 3600) for c in copies) == 0
    assert len(later) == 0 and later._rings == []


def test_only_buckets_within_the_tiers_reach_and_before_this_one_are_taken_back() -> None:
    before = written(30)
    copies = kept(before, START + 1800)
    late = store()  # started 3 h 50 min after the last bucket: the tier keeps 4 h (240)
    late.restore_history(copies[0], START + 4 * 3600 + 1800 - 600)
    times, _ = late.history_window(late.find(CPU) or 0)
    # The last ten minutes only, of which the last was open at the stop (never a bucket).
    assert times.tolist() == [START + m * 60 for m in range(20, 29)]
    early = store()  # a clock stepped back: nothing from "the future"
    early.restore_history(copies[0], START + 10 * 60 + 30)
    times, _ = early.history_window(early.find(CPU) or 0)
    assert times.tolist() == [START + m * 60 for m in range(10)]


def test_a_restore_keeps_the_caps_and_comes_before_any_write() -> None:
    before = written(5)
    copies = kept(before, START + 300)
    capped = Store(60, 240, 60.0, max_series=1)
    assert sum(capped.restore_history(c, START + 300) for c in copies) == 1
    assert len(capped) == 1
    used = store()
    used.write_samples(START + 400, [CPU], np.array([1.0]), "cpu")
    cpu_copy = next(c for c in copies if c.group == "cpu")
    with pytest.raises(ValueError, match="written before"):
        used.restore_history(cpu_copy, START + 400)


# -- the file ---------------------------------------------------------------------------


def saved(tmp_path: Path, boot: str = "") -> Path:
    """The daemon's way: `tier_file.keep`, a part at a time."""
    import asyncio

    path = tier_file.path_in(tmp_path)
    assert asyncio.run(tier_file.keep(written(10), path, START + 600, boot))
    return path


def test_the_file_is_private_and_a_fresh_store_takes_it_back(tmp_path: Path) -> None:
    path = saved(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    cut_short = tmp_path / f".{path.name}.123.abc.tmp"  # a save a kill -9 cut short
    cut_short.write_bytes(b"x" * 1000)
    fresh = store()
    assert tier_file.restore(fresh, path, START + 605) == 2
    assert fresh.history_window(fresh.find(DISK) or 0)[1].size == 9  # the 10th was open
    assert not cut_short.exists()


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda b: b"garbage" + b, "not a history tier file"),
        (lambda b: b[:-3], "truncated values"),
        (lambda b: b + b"\0", "truncated ring header"),
        (lambda b: b[: len(tier_file.MAGIC) + 4], "truncated header"),
        (lambda b: b.replace(b'"version":1', b'"version":9'), "unknown version"),
    ],
)
def test_a_damaged_file_is_said_and_the_agent_starts_without_it(
    tmp_path: Path, damage: Any, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = saved(tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    fresh = store()
    with caplog.at_level(logging.WARNING):
        assert tier_file.restore(fresh, path, START + 605) == 0
    assert len(fresh) == 0
    assert f"history kept at the last stop not used ({path}): {why}" in caplog.text


def crafted(path: Path, meta: dict[str, Any], *rings: dict[str, Any]) -> None:
    """A file with these headers (those of a good one, overridden): a ring's "times" and
    "keys" (JSON documents here) go in the records after its header, its "values" (bytes)
    after them; "series" and "buckets" default to their counts."""
    head = {"version": 1, "saved_at": START, "resolution": 60.0, "boot_id": "", **meta}
    parts = [tier_file.MAGIC, tier_file._json(head)]
    for ring in rings:
        times, keys = ring.get("times", [START]), ring.get("keys", [])
        counts = {"series": len(keys), "buckets": len(times)}
        header = {"group": "cpu", **counts, **{k: v for k, v in ring.items()
                                                if k not in ("times", "keys", "values")}}  # fmt: skip
        parts.append(tier_file._json(header))
        parts.append(np.array(times, dtype="<f8").tobytes() if times else b"")
        parts += [tier_file._json(key) for key in keys]
        parts.append(ring.get("values", b"\0" * 4 * len(keys) * len(times)))
    path.write_bytes(b"".join(parts))


DISK_KEY = ["disk_used_percent", [["device", "/dev/sda1"], ["mountpoint", "/var"]]]


@pytest.mark.parametrize(
    ("meta", "rings", "why"),
    [
        ({"resolution": "60"}, [], "bad resolution"),
        ({"saved_at": 10**400}, [], "malformed: OverflowError"),
        ({"boot_id": 7}, [], "bad boot_id"),
        ({}, [{"series": "3"}], "bad ring counts"),
        ({}, [{"buckets": -1}], "bad ring counts"),
        ({}, [{"times": [float("nan")], "keys": [DISK_KEY]}], "bad times"),
        ({}, [{"keys": [[1, []]]}], "bad series key"),
        ({}, [{"keys": [["m", [["a"]]]]}], "bad label"),
        ({}, [{"keys": [["m", [["a", str(i)] for i in range(65)]]]}], "bad series key"),
        ({}, [{"keys": [DISK_KEY, DISK_KEY]}], "a series twice"),
        ({}, [{"keys": [DISK_KEY]}, {"keys": [["m", []]]}], "a ring without a group, or twice"),
        ({}, [{"keys": [DISK_KEY]}, {"group": "disk", "keys": [DISK_KEY]}], "a series twice"),
        ({}, [{"keys": []}], "bad ring counts"),  # a ring of no series: never written
        ({}, [{"group": None}], "a ring without a group, or twice"),
        ({}, [{"keys": [DISK_KEY], "values": b"\0\0"}], "truncated values"),
        ({}, [{"series": 2, "keys": [DISK_KEY]}], "truncated series key"),
        # Counts the file does not hold: found out by skipping, never by building what
        # they size (the caps bound what is read: 3 series, 240 buckets).
        ({}, [{"series": 10**9}], "truncated series key"),
        ({}, [{"buckets": 10**9, "keys": [DISK_KEY]}], "truncated times"),
        ({}, [{"series": 10**9, "keys": [DISK_KEY] * 3}], "a series twice"),
    ],
)
def test_a_header_that_is_off_is_said_and_the_agent_starts_without_it(
    tmp_path: Path, meta: dict[str, Any], rings: list[dict[str, Any]], why: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    path = tmp_path / "tier.bin"
    crafted(path, meta, *rings)
    capped = Store(60, 240, 60.0, max_series=3)
    assert tier_file.restore(capped, path, START + 605) == 0
    assert len(capped) == 0 and f"not used ({path}): {why}" in caplog.text


def test_a_file_that_says_more_series_than_any_store_holds_is_refused_before_skipping_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Series beyond the store's cap are skipped a record at a time: a count beyond what
    the agent can ever have written (max_series' ceiling, small here) is refused first,
    so a planted file cannot keep the start busy skipping."""
    monkeypatch.setattr(tier_file, "SERIES_CEILING", 5)
    path = tmp_path / "tier.bin"
    keys = [["m", [["n", str(i)]]] for i in range(10)]
    crafted(path, {}, {"keys": keys})  # 10 series: 3 taken, 7 to skip, 10 > 5
    capped = Store(60, 240, 60.0, max_series=3)
    assert tier_file.restore(capped, path, START + 605) == 0
    assert f"not used ({path}): more series than any store holds" in caplog.text
    monkeypatch.setattr(tier_file, "SERIES_CEILING", 10)  # within it: cut to the cap
    with caplog.at_level(logging.INFO):
        assert tier_file.restore(capped, path, START + 605) == 3
    assert "cut to cpu: 3 of 10 series" in caplog.text


def test_a_file_kept_under_larger_caps_is_cut_to_the_lowered_ones_not_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """history_hours or max_series lowered since the stop: what fits is taken back, the
    newest buckets and the first series (the whole file was refused, and a day of
    history relearned)."""
    import asyncio

    before = written(30)
    path = tier_file.path_in(tmp_path)
    assert asyncio.run(tier_file.keep(before, path, START + 1800, ""))
    shorter = Store(60, 10, 60.0, needs_history=lambda metric: metric != "memory_total_bytes")
    with caplog.at_level(logging.INFO):
        assert tier_file.restore(shorter, path, START + 1805) == 2
    assert "cut to cpu: 1 of 1 series, the newest 10 of 29 buckets" in caplog.text
    for key in (CPU, DISK):
        times, values = shorter.history_window(shorter.find(key) or 0)
        assert times.tolist() == [START + m * 60 for m in range(20, 29)]  # within its reach
        was_times, was_values = before.history_window(before.find(key) or 0)
        assert values.tolist() == was_values[np.isin(was_times, times)].tolist()
    fewer = Store(60, 240, 60.0, max_series=1, needs_history=lambda m: m != "memory_total_bytes")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert tier_file.restore(fewer, path, START + 1805) == 1
    assert "0 of 1 series" in caplog.text and len(fewer) == 1


def test_a_record_nested_deep_or_longer_than_its_bound_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tier.bin"
    key = b"[" * 1000 + b"]" * 1000  # within a key's bound, nested past the parser's
    crafted(path, {}, {"series": 1})
    path.write_bytes(path.read_bytes() + tier_file._record(key) + b"\0" * 4)
    assert tier_file.restore(store(), path, START) == 0
    assert "malformed: RecursionError" in caplog.text
    # A record longer than its bound is not even read: a header, then a key.
    huge = b'{"pad":"' + b"x" * tier_file.HEADER_BYTES + b'"}'
    path.write_bytes(tier_file.MAGIC + tier_file._record(huge))
    assert tier_file.restore(store(), path, START) == 0
    assert f"header larger than {tier_file.HEADER_BYTES} bytes" in caplog.text
    crafted(path, {}, {"series": 1})
    long_key = b'["m",[["a","' + b"x" * tier_file.KEY_BYTES + b'"]]]'
    path.write_bytes(path.read_bytes() + tier_file._record(long_key))
    assert tier_file.restore(store(), path, START) == 0
    assert f"series key larger than {tier_file.KEY_BYTES} bytes" in caplog.text


def test_only_the_rings_of_collectors_that_run_are_taken_back_and_none_made_without_room(
    tmp_path: Path,
) -> None:
    path = saved(tmp_path)
    only_disk = store()
    assert tier_file.restore(only_disk, path, START + 605, groups={"disk", "memory"}) == 1
    assert only_disk.find(CPU) is None and only_disk.find(DISK) is not None
    full = Store(60, 240, 60.0, max_series=2)  # the file's 2 series are within its cap...
    full.write_samples(START, [TOTAL, MEMORY], np.array([1.0, 2.0]), "memory")  # ...but full
    assert tier_file.restore(full, path, START + 605) == 0
    assert {r.name for r in full._rings} == {"memory"}  # no empty ring for what has no room


def test_after_a_reboot_the_history_of_processes_is_not_taken_back(tmp_path: Path) -> None:
    import asyncio

    s = written(10)
    s.write_samples(START + 660, [RSS], np.array([1e9]), "process")
    s.write_samples(START + 720, [RSS], np.array([1e9]), "process")  # closes a bucket
    path = tier_file.path_in(tmp_path)
    assert asyncio.run(tier_file.keep(s, path, START + 720, "boot-1"))
    same_boot = store()
    assert tier_file.restore(same_boot, path, START + 725, boot_id="boot-1") == 3
    rebooted = store()
    assert tier_file.restore(rebooted, path, START + 725, boot_id="boot-2") == 2
    assert rebooted.find(RSS) is None  # pid 4242 is another process now, if any


def test_a_save_that_the_store_moves_under_starts_again_and_gives_up_in_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copied a part at a time while the store goes on: a ring that gained a bucket or
    changed its series in between would mix two states in one file."""
    import asyncio

    monkeypatch.setattr(tier_file, "CHUNK_SERIES", 1)
    s = written(10)
    for i in range(5):  # a ring of several series: several parts
        s.write_samples(START + 540 + i, [SeriesKey.of("disk_used_percent", n=str(i))],
                        np.array([1.0]), "disk")  # fmt: skip
    path = tier_file.path_in(tmp_path)
    from common import datafile

    real_write = datafile.AtomicWriter.write
    minute, moves = [11], [10**9]  # writes that find the store moved (a new bucket) meanwhile

    def moving(self: datafile.AtomicWriter, part: bytes | memoryview) -> None:
        if moves[0] > 0:  # while the loop waits for this write: as a collection would
            moves[0] -= 1
            s.write_samples(START + 60 * minute[0], [SeriesKey.of("disk_used_percent", n="0")],
                            np.array([1.0]), "disk")  # fmt: skip
            minute[0] += 1
        real_write(self, part)

    monkeypatch.setattr(datafile.AtomicWriter, "write", moving)
    assert not asyncio.run(tier_file.keep(s, path, START + 700, ""))  # moved under every try
    assert not path.exists() and list(tmp_path.iterdir()) == []  # no file, no temp file left
    moves[0] = 3  # moved under the first try only: the second keeps it whole
    assert asyncio.run(tier_file.keep(s, path, START + 700, ""))
    kept = tier_file.decode(path.read_bytes(), 100, 1000).copies
    disk = next(c for c in kept if c.group == "disk")
    assert len(kept) == 2 and disk.values.shape == (len(disk.keys), disk.times.size)


def test_a_planted_symlink_is_not_followed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = saved(tmp_path / "elsewhere")
    path = tier_file.path_in(tmp_path)
    os.symlink(target, path)
    assert tier_file.restore(store(), path, START + 605) == 0
    assert "not used" in caplog.text
    tier_file.datafile.write_atomically(path, b"x")  # replaces the link, never writes through it
    assert not path.is_symlink() and target.read_bytes().startswith(tier_file.MAGIC)


def test_buckets_of_another_size_are_not_taken_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = saved(tmp_path)
    other = Store(60, 240, 30.0)
    with caplog.at_level(logging.INFO):
        assert tier_file.restore(other, path, START + 605) == 0
    assert "its buckets are 60 s, now 30 s" in caplog.text
    assert tier_file.restore(store(), tmp_path / "none.bin", START) == 0  # a first start


# -- the analyzers go on ------------------------------------------------------------------


def lives(analyzer: Any, key: SeriesKey, values: np.ndarray, restart: int | None,
          extra: dict[SeriesKey, float] | None = None, keep: bool = True, down: int = 0,
          last: list[Any] | None = None, said: list[Alert] | None = None,
          resume: bool = True, tier: Any = store) -> list[tuple[float, str, str]]:  # fmt: skip
    """(time, status, severity) of the alerts over one sample a minute, with the agent
    restarted before sample `restart` (a new analyzer and store, the tier kept or not,
    the alert still firing handed to the new analyzer's `resume` as the runtime does),
    after `down` minutes without samples; `last` gets the last (analyzer, store), `said`
    the alerts themselves; `tier` makes each life's store."""
    s, a = tier(), analyzer()
    keys = (key, *(extra or {}))
    out = []
    firing: Alert | None = None  # the router's open episode
    for i, value in enumerate(values.tolist()):
        t = START + i * 60.0
        if restart is not None and restart - down <= i < restart:
            continue  # the agent is down
        if i == restart:
            copies = kept(s, t)
            s, a = tier(), analyzer()
            if keep:
                for copy in copies:
                    s.restore_history(copy, t)
            if resume:
                a.resume([firing] if firing is not None else [])
        batch = s.write_samples(t, keys, np.array([value, *(extra or {}).values()]), "g")
        for x in a.observe(batch, s):
            out.append((x.timestamp, x.status.value, x.severity.label))
            firing = None if x.status is Status.RESOLVED else x
            if said is not None:
                said.append(x)
    if last is not None:
        last[:] = [a, s]
    return out


def test_a_deletion_among_temporary_files_is_found_again_after_a_restart() -> None:
    """A disk filling at 3 points/h with a 6-point temporary file for 30 minutes of every
    90, and 3.5 points deleted at 6 h 10 min (a second reader's case).  The history taken
    back judged the deletion against a line whose scatter held the files' (2.8 points, not
    0.1), forgot it, and the restarted agent said a FIRING and a RESOLVED more and
    critical an hour and a half late.  The take-back leaves the files out, as one life."""
    rng = np.random.default_rng(9)
    t = np.arange(12 * 60)
    files = 6.0 * ((((t - 20) % 90) < 30) & (t >= 20))
    values = 50 + 3 / 60 * t + rng.normal(0, 0.1, t.size) + files - 3.5 * (t >= 370)
    tier = lambda: Store(60, 2000, 60.0)  # noqa: E731
    one_life = lives(TrendAnalyzer, DISK, values, None, tier=tier)
    assert ("resolved", "warn") in [(s, v) for _, s, v in one_life]  # the deletion
    for restart in (400, 430):
        assert lives(TrendAnalyzer, DISK, values, restart, tier=tier) == one_life, restart
    # Nor does the take-back find deletions in the noise that live does not: a leak of 3
    # points/h on a memory series that moves by a point a minute, restarted while it warns
    # (it was resolved and fired again, and critical 3 minutes early).
    rng = np.random.default_rng(43)
    t = np.arange(180 + 600)
    leak = np.minimum(70 + 3 * np.maximum(0, t - 180) / 60 + rng.normal(0, 1.0, t.size), 100)
    memory = SeriesKey.of("memory_used_percent")
    one_life = lives(TrendAnalyzer, memory, leak, None, tier=tier)
    assert [(s, v) for _, s, v in one_life] == [("firing", "warn"), ("escalated", "critical")]
    again = (START + 601 * 60.0, "firing", "warn")  # raised again at the first bucket
    assert lives(TrendAnalyzer, memory, leak, 600, tier=tier) == sorted([*one_life, again])


def test_a_trend_goes_on_across_a_restart_as_if_there_was_none() -> None:
    minutes = np.arange(0, 3 * 60)
    filling = 60 + 9 * minutes / 60  # 9 points/h from 60 %: full in under 4.5 h
    one_life = lives(TrendAnalyzer, DISK, filling, None)
    assert [(s, v) for _, s, v in one_life] == [("firing", "critical")]
    fired_at = one_life[0][0]
    restart = int((fired_at - START) / 60) + 30  # half an hour after it fired
    assert lives(TrendAnalyzer, DISK, filling, restart) == [
        *one_life,
        (START + restart * 60.0 + 60, "firing", "critical"),  # raised again at the first bucket
    ]
    before = int((fired_at - START) / 60) - 20  # and 20 minutes before it fired
    assert lives(TrendAnalyzer, DISK, filling, before) == one_life
    # Without the tier it learns again: an hour later.
    forgot = lives(TrendAnalyzer, DISK, filling, before, keep=False)
    assert forgot and forgot[0][0] >= START + (before + 60) * 60


def flat_then_filling() -> np.ndarray:
    """A disk flat at 42 % for three hours, then filling at 10 points/h: its first alert
    comes from the line since the fill began (analyzers/trend.py, `line_since_bend`)."""
    minutes = np.arange(0, 3 * 60 + 4 * 60)
    noise = np.random.default_rng(3).normal(0, 0.02, minutes.size)
    return 42 + 10 * np.maximum(0, minutes - 180) / 60 + noise


def test_a_fill_after_a_flat_stretch_goes_on_across_a_restart() -> None:
    """Nothing of the bend is kept: it is found again in the history tier taken back, so a
    restart while it fires raises it again at the first bucket (not a RESOLVED for want
    of the bend, then a FIRING), and one before it fires does not delay it."""
    disk = flat_then_filling()
    one_life = lives(TrendAnalyzer, DISK, disk, None)
    assert [(s, v) for _, s, v in one_life] == [("firing", "critical")]
    fired = int((one_life[0][0] - START) / 60)
    assert 180 + 60 <= fired <= 180 + 70  # after its hour, not hours later
    restart = fired + 20
    assert lives(TrendAnalyzer, DISK, disk, restart) == [
        *one_life,
        (START + restart * 60.0 + 60, "firing", "critical"),
    ]
    # One before it fires: the same alert, a minute later at most (the bucket still open
    # at the stop is not in the file, and the line since the bend counts its points).
    ((at, status, severity),) = lives(TrendAnalyzer, DISK, disk, fired - 20)
    assert (status, severity) == ("firing", "critical") and 0 <= at - one_life[0][0] <= 60


def test_a_fill_after_a_flat_stretch_counts_its_points_not_the_time_the_agent_was_down() -> None:
    """The fill began 40 minutes before the agent stopped for 40 minutes: its line has 40
    points, though it spans 80 minutes.  It is judged once it has its hour of points (a
    second reader's case: a warn three minutes after the restart)."""
    disk = flat_then_filling()
    alerts = lives(TrendAnalyzer, DISK, disk, 180 + 80, down=40)
    assert [(s, v) for _, s, v in alerts] == [("firing", "critical")]
    assert alerts[0][0] >= START + (180 + 80 + 20) * 60.0


def test_a_leak_goes_on_across_a_restart() -> None:
    rng = np.random.default_rng(7)
    minutes = np.arange(4 * 60)
    leaking = 500 * MB + 300 * MB * minutes / 60 + rng.normal(0, MB, minutes.size)
    extra = {TOTAL: 2048 * MB}

    def leak() -> LeakAnalyzer:
        return LeakAnalyzer(window_hours=6, min_observation_hours=1)

    one_life = lives(leak, RSS, leaking, None, extra)
    assert [(s, v) for _, s, v in one_life] == [("firing", "critical")]
    restart = int((one_life[0][0] - START) / 60) + 45
    again = lives(leak, RSS, leaking, restart, extra)
    assert again == [*one_life, (START + restart * 60.0 + 60, "firing", "critical")]


def hovering_fill() -> np.ndarray:
    """A disk filling at 9 points/h from 40 % for 3 h (critical: full within 6 h), then at
    3.5 points/h: the six-hour fit's estimate moves past 6 h, and the hysteresis keeps the
    alert critical (until 9 h)."""
    minutes = np.arange(0, 8 * 60)
    return np.where(minutes < 180, 40 + 9 * minutes / 60, 67 + 3.5 * (minutes - 180) / 60)


def test_a_trend_held_by_its_hysteresis_is_raised_again_after_a_restart() -> None:
    """A new life that did not know the alert's level would not raise it (its estimate is
    past the horizon): the router would resolve it an hour later and a new FIRING follow
    when the estimate crossed back.  The level taken back keeps it, as one life did."""
    disk = hovering_fill()
    one_life = lives(TrendAnalyzer, DISK, disk, None)
    assert [(s, v) for _, s, v in one_life] == [("firing", "critical")]
    said: list[Alert] = []
    assert lives(TrendAnalyzer, DISK, disk, 260, said=said) == [
        *one_life,
        (START + 261 * 60.0, "firing", "critical"),
    ]
    assert "held until the estimate passes 9 h" in said[-1].message
    # What a life that does not take the level back says: nothing for two hours.
    unaware = lives(TrendAnalyzer, DISK, disk, 260, resume=False)
    assert unaware[1][0] >= START + 360 * 60.0


def test_an_emptied_disk_resolves_its_trend_at_the_first_bucket_after_a_restart() -> None:
    """Cleaned while the agent was down: its RESOLVED at once, not an hour later for want
    of being raised again."""
    disk = hovering_fill()
    disk[250:] = 20.0  # cleaned up during the ten minutes the agent was down
    alerts = lives(TrendAnalyzer, DISK, disk, 260, down=10)
    assert alerts[1:] == [(START + 261 * 60.0, "resolved", "critical")]


def test_a_trend_level_taken_back_without_the_tier_waits_for_an_hour_of_fit() -> None:
    """No file (a life killed before it wrote one): no verdict before the fit spans its
    hour, and then one, not a RESOLVED at the first bucket."""
    disk = hovering_fill()
    alerts = lives(TrendAnalyzer, DISK, disk, 260, keep=False)
    after = [a for a in alerts if a[0] > START + 260 * 60.0]
    assert after and after[0][0] >= START + (260 + 60) * 60.0
    assert after[0][1] == "firing"


def test_a_leak_whose_fit_weakened_is_raised_again_after_a_restart() -> None:
    """Growth slowed and noisier: the fit is below the cheap test (no new alert) but not so
    far that the firing leak resolves.  A new life that did not know it fired would never
    raise it again; the severity taken back keeps it until its growth stops."""
    rng = np.random.default_rng(7)
    minutes = np.arange(6 * 60)
    rss = np.where(minutes < 120, 500 * MB + 60 * MB * minutes / 60,
                   620 * MB + 3 * MB * (minutes - 120) / 60)  # fmt: skip
    rss += rng.normal(0, MB, minutes.size)
    rss[120:] += rng.normal(0, 30 * MB, minutes.size - 120)
    extra = {TOTAL: 2048 * MB}

    def leak() -> LeakAnalyzer:
        return LeakAnalyzer(window_hours=6, min_observation_hours=1)

    one_life = lives(leak, RSS, rss, None, extra)
    assert [(s, v) for _, s, v in one_life] == [("firing", "warn"), ("resolved", "warn")]
    again = lives(leak, RSS, rss, 210, extra)
    assert again[:2] == [one_life[0], (START + 211 * 60.0, "firing", "warn")]
    assert [(s, v) for _, s, v in again[2:]] == [("resolved", "warn")]
    assert lives(leak, RSS, rss, 210, extra, resume=False) == one_life[:1]  # never again
    # Without the tier's file: nothing until its fit spans the hour of observation.
    forgot = lives(leak, RSS, rss, 210, extra, keep=False)
    assert forgot[1][0] >= START + (210 + 60) * 60.0


def test_a_fit_taken_back_over_the_time_the_agent_was_down_stays_exact() -> None:
    """The bucket open at the stop is never kept and the agent is down a while: the columns
    on either side of the restart are further apart than one bucket.  Each leaves the fit
    at its own bucket number, so the incremental sums stay those of the window."""
    rng = np.random.default_rng(8)
    minutes = np.arange(4 * 60)  # the 3-hour window ends up straddling the restart
    leaking = 500 * MB + 100 * MB * minutes / 60 + rng.normal(0, MB, minutes.size)
    for down in (0, 1, 30):  # 0: back within seconds, only the open bucket lost
        last: list[Any] = []
        lives(lambda: LeakAnalyzer(window_hours=3, min_observation_hours=1), RSS, leaking,
              3 * 60, {TOTAL: 2048 * MB}, down=down, last=last)  # fmt: skip
        analyzer, history = last
        sid = history.find(RSS)
        ids = np.array([sid])
        k_now = np.array(
            [round(history.history_time_ago(ids, 0)[0] / 60) - analyzer.regression.s.origin[sid]]
        )
        kept = analyzer.regression.fit(ids, k_now)
        analyzer.regression.rebase(sid, history, 60.0)  # the sums computed afresh, exactly
        k_now = np.array(
            [round(history.history_time_ago(ids, 0)[0] / 60) - analyzer.regression.s.origin[sid]]
        )
        exact = analyzer.regression.fit(ids, k_now)
        assert kept.slope[0] * 60 / MB == pytest.approx(exact.slope[0] * 60 / MB, rel=1e-9)
        assert kept.slope[0] * 60 / MB == pytest.approx(100.0, rel=0.02)  # 100 MiB/h
        assert kept.span[0] == exact.span[0]


def test_a_drop_before_a_restart_still_starts_the_trend_afresh() -> None:
    """A disk at 90 % cleaned to 40 % that then fills at 4 points/h: the trend fits what
    came after the cleaning, across a restart as in one life."""
    minutes = np.arange(0, 4 * 60)
    disk = np.where(minutes < 60, 90.0, 40.0 + 4.0 * np.maximum(minutes - 60, 0) / 60)
    one_life = lives(TrendAnalyzer, DISK, disk, None)
    assert [(st, sv) for _, st, sv in one_life] == [("firing", "warn")]
    assert lives(TrendAnalyzer, DISK, disk, 90) == one_life  # 30 minutes after the drop
    assert lives(TrendAnalyzer, DISK, disk, 90, down=10) == one_life  # and down 10 minutes


def test_a_temporary_file_before_a_restart_does_not_start_the_trend_afresh() -> None:
    """A fill at 4 points/h with a 2-point staging file for 5 minutes every 40: the fit
    taken back across a restart judges each fall as one life does (back to the line: not a
    deletion), so it goes on, and a real deletion in the history still restarts it."""
    minutes = np.arange(0, 4 * 60)
    disk = 50 + 4 * minutes / 60 + 2.0 * ((minutes % 40) < 5)
    one_life = lives(TrendAnalyzer, DISK, disk, None)
    assert [(st, sv) for _, st, sv in one_life] == [("firing", "warn")]
    assert lives(TrendAnalyzer, DISK, disk, 150) == [
        *one_life,
        (START + 151 * 60.0, "firing", "warn"),  # raised again at the first bucket
    ]
    cleaned = np.where(minutes < 100, disk, disk - 30.0)
    one_life = lives(TrendAnalyzer, DISK, cleaned, None)
    assert lives(TrendAnalyzer, DISK, cleaned, 130) == one_life


def test_a_log_rotated_long_before_a_restart_is_still_the_days_cycle() -> None:
    """A disk from 60 % to 85 % over each day, rotated at midnight, the agent restarted 16
    hours after a rotation: the fit taken back covers its window (6 h), and the rotation,
    older than that, was forgotten: the afternoon warned "full in 24 h" (a second
    reader's case).  The last deletion is looked for in the whole tier."""
    day = 24 * 60
    minutes = np.arange(3 * day)
    disk = 60 + 25 * (minutes % day) / day

    def a_day_of_tier() -> Store:
        return Store(60, 1500, 60.0, needs_history=lambda metric: metric != "memory_total_bytes")

    one_life = lives(TrendAnalyzer, DISK, disk, None, tier=a_day_of_tier)
    assert [t for t, st, _ in one_life if st == "firing" and t > START + day * 60.0] == []
    restarted = lives(TrendAnalyzer, DISK, disk, 2 * day + 16 * 60, tier=a_day_of_tier)
    assert restarted == one_life


# -- the daemon ---------------------------------------------------------------------------


def test_the_running_agent_keeps_the_tier_every_so_often_for_a_kill_9(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only at a clean stop: a kill -9, an OOM kill or a power cut finds the tier as it
    stood at most SAVE_EVERY_SECS before."""
    import asyncio

    from agent import runtime
    from agent.config import parse_config_text
    from agent.runtime import Agent
    from tests.conftest import until

    monkeypatch.setattr(runtime, "REPEAT_CHECK_SECS", 0.01)
    monkeypatch.setattr(runtime, "HOUSEKEEPING_SECS", 0.0)
    monkeypatch.setattr(tier_file, "SAVE_EVERY_SECS", 0.05)
    agent = Agent(parse_config_text(f'[agent]\ndata_dir = "{tmp_path}/data"\n', "t.toml"))
    recent = time.time() - 300  # not stale for the housekeeping's retiring
    for minute in range(5):
        agent.store.write_samples(recent + 60 * minute, [DISK], np.array([50.0 + minute]), "disk")
    path = tier_file.path_in(tmp_path / "data")

    async def scenario() -> None:
        task = asyncio.create_task(agent._housekeeping())
        await until(path.exists, 10.0, "the tier kept while running")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    (copy,) = tier_file.decode(path.read_bytes(), 100, 2000).copies
    assert copy.keys == [DISK] and copy.values[0].tolist() == [50.0, 51.0, 52.0, 53.0]


@pytest.mark.e2e
def test_a_stopped_agent_takes_its_history_back_at_the_next_start(
    start_agent: Any, tmp_path: Path
) -> None:
    from tests.conftest import hermetic_agent_keys, only_collectors

    config = f"""
[agent]
data_dir = "data"
{hermetic_agent_keys(tmp_path)}
[collector]
memory_interval_secs = 0.5
{only_collectors("memory")}
[analyzer]
enabled = ["threshold"]
[thresholds]
memory_percent = {{ warn = 0.5, for_secs = 2 }}
[storage]
history_resolution_secs = 1
history_metrics = ["memory_used_percent"]
[alerting.console]
enabled = true
"""
    path = tier_file.path_in(tmp_path / "data")
    first = start_agent(config)
    assert first.wait_for_log("sysops-agent started", 15.0), first.stderr
    assert "history of" not in first.stderr  # a first start: nothing to take back
    # Over its level for 2 s: by then 1-second buckets have closed.
    first.wait_for_output("FIRING", 30.0)
    code, _ = first.stop()
    assert code == 0 and path.exists()
    kept = tier_file.decode(path.read_bytes(), 100, 100_000)
    assert kept.resolution == 1.0
    assert [c.keys for c in kept.copies] == [[SeriesKey("memory_used_percent")]]
    second = start_agent(config)
    wait_until(lambda: "history of 1 series taken back" in second.stderr, 15.0,
               "the history taken back")  # fmt: skip
    code, _ = second.stop()
    assert code == 0 and "Traceback" not in second.stderr


def test_a_write_that_hangs_does_not_hang_the_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A data_dir on a file system that stalls: the save gives up within its bound, and the
    temp file goes once the write returns."""
    import asyncio
    import threading

    from agent import runtime
    from agent.config import parse_config_text
    from agent.runtime import Agent
    from common import datafile

    release = threading.Event()
    real_write = datafile.AtomicWriter.write

    def stalled(self: datafile.AtomicWriter, part: bytes | memoryview) -> None:
        with self._lock:  # as a write stuck in the kernel holds it
            release.wait(30)
        real_write(self, part)

    monkeypatch.setattr(datafile.AtomicWriter, "write", stalled)
    monkeypatch.setattr(runtime, "TIER_KEEP_SECS", 0.2)
    agent = Agent(parse_config_text(f'[agent]\ndata_dir = "{tmp_path}/data"\n', "t.toml"))

    async def stop() -> float:
        began = time.monotonic()
        await agent._keep_history_tier()
        took = time.monotonic() - began
        try:
            # The next round finds the file's own thread still stuck: it says so and waits
            # for nothing, and the loop's shared executor (name lookups) is untouched.
            with pytest.raises(OSError, match="the last save is still being written"):
                await tier_file.keep(agent.store, tmp_path / "other.bin", START, "")
            assert await asyncio.wait_for(asyncio.to_thread(lambda: 7), 5.0) == 7
        finally:
            release.set()  # the file system wakes up
        return took

    took = asyncio.run(stop())
    assert took < 5.0, f"the save held the stop {took:.1f} s"
    assert "not written within 0.2 s" in caplog.text
    folder = tmp_path / "data"
    wait_until(lambda: not any(p.name.endswith(".tmp") for p in folder.iterdir()), 10,
               "the temp file gone")  # fmt: skip


def test_the_tier_is_synced_before_it_is_renamed_and_log_positions_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power cut must not leave an empty tier; positions are saved every second on the
    loop, where an fsync on a busy disk would stall collection."""
    import asyncio

    from agent.logs.positions import Positions
    from common import datafile

    synced: list[int] = []
    real_fsync = datafile.os.fsync
    monkeypatch.setattr(datafile.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    positions = Positions(tmp_path / "log-positions.json")
    positions.set("kmsg", 1)
    positions.save()
    assert synced == []
    assert asyncio.run(tier_file.keep(written(5), tier_file.path_in(tmp_path), START, ""))
    assert len(synced) == 2  # the file, then its folder


def test_a_file_cut_short_while_it_is_read_is_an_error_not_a_crash(tmp_path: Path) -> None:
    """Read by position, not mapped: a file truncated under the reader (its owner, an I/O
    error) is an OSError the start logs, where a mapping would die of SIGBUS."""
    from common import datafile

    path = saved(tmp_path)
    with datafile.opened(path) as (fd, size):
        os.truncate(path, size // 2)
        reader = tier_file._Reader(fd, size)
        tier_file._meta(reader, tier_file.MAGIC, 100)
        with pytest.raises(OSError, match="changed while it was read"):
            list(tier_file._rings(reader, 100, 1000, lambda _group: True))


def test_the_stop_keeps_the_tier_after_a_periodic_save_under_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGTERM in the middle of a periodic save on a slow disk: the stop's save waits for
    the file's thread (within its bound), it is not refused as "still being written"."""
    import asyncio

    from agent.config import parse_config_text
    from agent.runtime import Agent
    from common import datafile
    from tests.conftest import until

    real_write = datafile.AtomicWriter.write
    disk_wakes = threading.Event()

    def slow(self: datafile.AtomicWriter, part: bytes | memoryview) -> None:
        disk_wakes.wait(30)  # a slow disk, until the test says
        real_write(self, part)

    monkeypatch.setattr(datafile.AtomicWriter, "write", slow)
    agent = Agent(parse_config_text(f'[agent]\ndata_dir = "{tmp_path}/data"\n', "t.toml"))
    recent = time.time() - 300
    for minute in range(5):
        agent.store.write_samples(recent + 60 * minute, [DISK], np.array([50.0 + minute]), "disk")
    path = tier_file.path_in(tmp_path / "data")

    async def stop_in_the_middle() -> None:
        agent._keep_history_tier_now()  # the periodic round
        await until(lambda: tier_file._FILE_THREAD.busy, 10.0, "the periodic save writing")
        assert agent._tier_task is not None
        agent._tier_task.cancel()  # as _shutdown does
        with contextlib.suppress(asyncio.CancelledError):
            await agent._tier_task
        queued = tier_file._FILE_THREAD._last
        stop = asyncio.create_task(agent._keep_history_tier(at_stop=True))
        # The stop's save queued behind the stuck write (not refused), then the disk wakes.
        await until(lambda: tier_file._FILE_THREAD._last is not queued, 10.0, "the stop queued")
        disk_wakes.set()
        await stop

    asyncio.run(stop_in_the_middle())
    assert "could not be kept" not in caplog.text
    (copy,) = tier_file.decode(path.read_bytes(), 100, 2000).copies
    assert copy.keys == [DISK] and copy.values[0].tolist() == [50.0, 51.0, 52.0, 53.0]


def test_a_tier_that_cannot_be_written_is_said_once_and_the_agent_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A full or read-only data_dir (here: a folder where the file goes): one warning until
    it works again, and nothing else stops.  A failed save returns only once its temp file
    is removed (here held, as on a busy disk), so the next save is not refused as still
    being written."""
    import asyncio

    from agent.config import parse_config_text
    from agent.runtime import Agent
    from common import datafile
    from tests.conftest import until

    real_abort = datafile.AtomicWriter.abort
    aborting, disk_wakes = threading.Event(), threading.Event()

    def held_abort(self: datafile.AtomicWriter) -> None:
        aborting.set()
        disk_wakes.wait(30)  # a slow disk, until the test says
        real_abort(self)

    monkeypatch.setattr(datafile.AtomicWriter, "abort", held_abort)

    agent = Agent(parse_config_text(f'[agent]\ndata_dir = "{tmp_path}/data"\n', "t.toml"))
    recent = time.time() - 300
    for minute in range(3):
        agent.store.write_samples(recent + 60 * minute, [DISK], np.array([50.0]), "disk")
    path = tier_file.path_in(tmp_path / "data")
    path.mkdir(parents=True)  # the rename over it fails

    async def failed_save() -> None:
        save = asyncio.create_task(agent._keep_history_tier())
        await until(aborting.is_set, 10.0, "the failed save's abort")
        assert not save.done(), "the failed save returned before its temp file was removed"
        disk_wakes.set()
        await save

    asyncio.run(failed_save())
    asyncio.run(agent._keep_history_tier())
    said = [r.message for r in caplog.records if "could not be kept" in r.message]
    assert len(said) == 1 and "Is a directory" in said[0]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left
    path.rmdir()  # room again
    asyncio.run(agent._keep_history_tier())
    assert tier_file.decode(path.read_bytes(), 100, 2000).copies[0].keys == [DISK]
    asyncio.run(agent._keep_history_tier(at_stop=True))
    path.unlink()
    path.mkdir()
    asyncio.run(agent._keep_history_tier())  # fails again after working: said again
    assert len([r for r in caplog.records if "could not be kept" in r.message]) == 2


def test_the_raw_tier_benchmark_takes_back_every_series_and_its_clocks(tmp_path: Path) -> None:
    """benchmarks/tier_file.py's second table (DESIGN.md) measures a start that goes through
    every series and its clocks: it stops with an error when it does not (an unknown boot
    once made it time a start that took nothing back)."""
    from benchmarks.tier_file import measure_recent

    kept, warmed, mib = measure_recent(50, tmp_path)
    assert kept > 0 and warmed > 0 and mib > 0
