"""Store: ids, vectorised batch writes, wrap-around, gaps and retirement."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.store import Buckets, Store
from analyzers.base import Batch, SeriesKey


def keys(n: int, metric: str = "m") -> tuple[SeriesKey, ...]:
    return tuple(SeriesKey.of(metric, cpu=str(i)) for i in range(n))


def test_ids_are_stable_and_keys_resolve_back() -> None:
    store = Store(16)
    ks = keys(3)
    ids = store.ids_for(ks)
    assert ids.tolist() == [0, 1, 2]
    assert store.ids_for(ks) is ids  # cached for the same key set
    assert store.series_id(SeriesKey.of("m", cpu="1")) == 1
    assert store.key(2) == SeriesKey.of("m", cpu="2")
    assert len(store) == 3


def test_batch_write_is_one_column_per_metric() -> None:
    store = Store(8)
    ks = keys(100)
    values = np.arange(100, dtype=np.float64)
    batch = store.write_samples(1000.0, ks, values)
    assert isinstance(batch, Batch)
    times, got = store.window(int(batch.ids[42]))
    assert times.tolist() == [1000.0] and got.tolist() == [42.0]


def test_mixed_metrics_in_one_batch() -> None:
    store = Store(8)
    ks = keys(2, "a") + keys(3, "b")
    store.write_samples(1.0, ks, np.array([1, 2, 3, 4, 5], dtype=np.float64))
    store.write_samples(2.0, ks, np.array([10, 20, 30, 40, 50], dtype=np.float64))
    assert store.window(store.series_id(SeriesKey.of("b", cpu="2")))[1].tolist() == [5.0, 50.0]
    assert store.window(store.series_id(SeriesKey.of("a", cpu="0")))[0].tolist() == [1.0, 2.0]


def test_wrap_around_keeps_the_newest_in_order() -> None:
    store = Store(16)
    ks = keys(2)
    for t in range(40):
        store.write_samples(float(t), ks, np.array([t, -t], dtype=np.float64))
    times, values = store.window(1)
    assert times.tolist() == [float(t) for t in range(24, 40)]
    assert values.tolist() == [float(-t) for t in range(24, 40)]
    assert store.window(0, last=3)[1].tolist() == [37.0, 38.0, 39.0]
    assert store.latest(0) == 39.0


def test_a_series_missing_from_a_batch_has_a_gap_not_a_stale_value() -> None:
    store = Store(16)
    both = keys(2)
    store.write_samples(1.0, both, np.array([1.0, 2.0]))
    store.write_samples(2.0, both[:1], np.array([3.0]))
    store.write_samples(3.0, both, np.array([5.0, 6.0]))
    times, values = store.window(1)
    assert times.tolist() == [1.0, 3.0] and values.tolist() == [2.0, 6.0]


def test_series_added_later_have_no_history_and_rows_grow() -> None:
    store = Store(16)
    store.write_samples(1.0, keys(1), np.array([1.0]))
    many = keys(50)
    store.write_samples(2.0, many, np.arange(50, dtype=np.float64))
    times, values = store.window(store.series_id(many[49]))
    assert times.tolist() == [2.0] and values.tolist() == [49.0]
    assert store.window(0)[1].tolist() == [1.0, 0.0]


def test_values_are_float32_within_relative_precision() -> None:
    store = Store(16)
    big = 123_456_789_012.0
    store.write_samples(1.0, keys(1), np.array([big]))
    assert store.latest(0) == pytest.approx(big, rel=1e-7)


def test_retire_stale_series_frees_ids_and_rows() -> None:
    store = Store(16)
    old, live = SeriesKey.of("proc_rss", pid="1"), SeriesKey.of("proc_rss", pid="2")
    store.write_samples(100.0, (old, live), np.array([1.0, 2.0]))
    store.write_samples(500.0, (live,), np.array([3.0]))
    retired = store.retire_stale(now=600.0, max_age=300.0)
    assert retired == [store.series_id(live) - 1]
    with pytest.raises(KeyError):
        store.key(retired[0])
    newcomer = SeriesKey.of("proc_rss", pid="3")
    sid = store.series_id(newcomer)
    assert sid == retired[0]  # the id is reused, with no history of the old series
    assert store.window(sid)[1].size == 0
    assert store.window(store.series_id(live))[1].tolist() == [2.0, 3.0]


def test_a_collectors_series_share_one_ring_and_its_time_axes() -> None:
    store = Store(360, 1440, 60.0)
    batch = (*keys(8, "cpu_core_usage_percent"), *keys(3, "cpu_load1"))
    store.write_samples(60.0, batch, np.arange(11.0), group="cpu")
    store.write_samples(60.0, keys(2, "memory_used_bytes"), np.ones(2), group="memory")
    assert [r.name for r in store._rings] == ["cpu", "memory"]
    assert store._rings[0].raw.rows == 11  # a first batch is sized exactly
    assert store.window(store.series_id(batch[9]))[1].tolist() == [9.0]


def test_24_hours_of_a_typical_host_fit_in_8_kb_per_series() -> None:
    """This machine's embedded agent: 140 series from 11 collectors (issue 4: <= 8 KB),
    even if every one of them kept history."""
    store = Store(360, 1440, 60.0)
    sizes = {"cpu": 41, "memory": 24, "network": 11, "disk": 8, "process": 16, "fd": 3,
             "pressure": 12, "numa": 6, "self": 14, "edac": 2, "gpu": 3}  # fmt: skip
    for group, n in sizes.items():
        store.write_samples(0.0, keys(n, f"{group}_m"), np.zeros(n), group=group)
    per_series = store.nbytes / len(store)
    assert len(store) == 140 and per_series <= 8192, per_series


# The big host of issue 19 (256 CPUs, 20,000 processes, 2,000 NICs, 256 disks): series
# per collector, and how many of them an analyzer reads history of at the defaults
# (disk and memory fill, per-process RSS and open files of the top processes, the
# anomaly metrics of the host-wide and aggregated series).
BIG_HOST = {"cpu": (256 * 10 + 8, 4), "memory": (40, 3), "network": (2000 * 12, 200),
            "disk": (256 * 9, 600), "process": (2 * 60 + 8, 122), "fd": (3, 2),
            "pressure": (12, 0), "numa": (16 * 6, 0), "self": (20, 0), "edac": (16 * 4, 0)}  # fmt: skip


def big_host_store() -> Store:
    watched = {f"{group}_h" for group in BIG_HOST}
    store = Store(360, 1440, 60.0, needs_history=watched.__contains__)
    for group, (n, with_history) in BIG_HOST.items():
        batch = keys(with_history, f"{group}_h") + keys(n - with_history, f"{group}_m")
        store.write_samples(0.0, batch, np.zeros(n), group=group)
    return store


def test_the_big_host_costs_at_most_2_5_kb_per_series() -> None:
    """Issue 19: 28,000 series of which ~1,000 keep history, <= 2.5 KB each on average
    (8.2 KB when every series got 24 h of history up front)."""
    store = big_host_store()
    watched = sum(w for _, w in BIG_HOST.values())
    assert len(store) > 28_000 and 900 <= watched <= 1100
    per_series = store.nbytes / len(store)
    assert per_series <= 2560, per_series
    everything = Store(360, 1440, 60.0)
    for group, (n, _) in BIG_HOST.items():
        everything.write_samples(0.0, keys(n, f"{group}_m"), np.zeros(n), group=group)
    assert everything.nbytes / len(everything) > 7000  # what it was: every series with history


def test_a_series_without_history_still_hands_sqlite_its_buckets() -> None:
    """Only the 24 h ring is left out: the per-minute mean/min/max go to SQLite as before."""
    buckets: list[Buckets] = []
    store = Store(16, 8, 60.0, needs_history=lambda metric: metric == "watched")
    store.on_buckets = buckets.append
    kept, plain = SeriesKey.of("watched"), SeriesKey.of("plain")
    for t, (a, b) in enumerate(((1.0, 10.0), (3.0, 30.0), (5.0, 50.0), (7.0, 70.0))):
        store.write_samples(30.0 * t, (kept, plain), np.array([a, b]), group="g")
    assert [b.start for b in buckets] == [0.0]  # the 60 s bucket closed at t = 60
    (closed,) = buckets
    assert closed.keys == [kept, plain]
    assert closed.means.tolist() == [2.0, 20.0] and closed.mins.tolist() == [1.0, 10.0]
    assert closed.maxs.tolist() == [3.0, 30.0] and closed.counts.tolist() == [2, 2]
    kept_id, plain_id = store.series_id(kept), store.series_id(plain)
    assert store.history_window(kept_id)[1].tolist() == [2.0]
    assert store.history_window(plain_id)[1].size == 0
    ago = store.history_ago(np.array([plain_id, kept_id]), 0)
    assert math.isnan(ago[0]) and ago[1] == 2.0
    assert store.window(plain_id)[1].tolist() == [10.0, 30.0, 50.0, 70.0]  # raw tier as ever


def test_history_is_the_same_for_a_watched_series_whatever_its_neighbours() -> None:
    """A lazily allocated tier keeps exactly what the full one kept for the series that use it."""
    rng = np.random.default_rng(7)
    lean = Store(32, 30, 60.0, needs_history=lambda metric: metric.startswith("disk"))
    full = Store(32, 30, 60.0)
    batch = keys(5, "net") + keys(3, "disk") + keys(4, "cpu")
    for step in range(400):
        values = rng.normal(50.0, 10.0, len(batch))
        if step == 200:  # a watched series joins later, in a ring that already has history
            batch = (*batch, SeriesKey.of("disk_late"))
            values = np.append(values, 1.0)
        for store in (lean, full):
            store.write_samples(10.0 * step, batch, values, group="mixed")
    for key in batch:
        want = full.history_window(full.series_id(key))
        got = lean.history_window(lean.series_id(key))
        if key.metric.startswith("disk"):
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
            assert got[1].size > 0
        else:
            assert got[1].size == 0
    lean_history, full_history = lean._rings[0].history, full._rings[0].history
    assert lean_history is not None and full_history is not None
    assert lean._rings[0]._hist_used == 4 and full_history.rows >= 13  # the 4 disk series


def test_a_ring_without_watched_series_has_no_history_tier() -> None:
    store = Store(16, 1440, 60.0, needs_history=lambda metric: metric == "disk_used_percent")
    store.write_samples(0.0, keys(100, "network_bytes"), np.zeros(100), group="network")
    store.write_samples(0.0, keys(2, "disk_used_percent"), np.zeros(2), group="disk")
    network, disk = store._rings
    assert network.history is None and network.nbytes < 100 * 1600 + 16 * 8
    assert disk.history is not None and disk.history.rows == 2  # sized exactly


def test_a_retired_watched_series_frees_its_history_column_for_the_next() -> None:
    store = Store(16, 8, 60.0, needs_history=lambda metric: metric == "rss")
    old, other = SeriesKey.of("rss", pid="1"), SeriesKey.of("cpu", pid="1")
    for t in range(4):
        store.write_samples(60.0 * t, (old, other), np.array([5.0, 1.0]), group="process")
    assert store.history_window(store.series_id(old))[1].size == 3
    store.retire([store.series_id(old), store.series_id(other)])
    ring = store._rings[0]
    newcomer_plain = store.series_id(SeriesKey.of("cpu", pid="2"), group="process")
    newcomer = store.series_id(SeriesKey.of("rss", pid="2"), group="process")
    assert store.history_window(newcomer)[1].size == 0  # the column, not the old history
    assert store.history_window(newcomer_plain)[1].size == 0
    assert ring.history is not None and ring.history.rows == 1  # reused, not grown
    store.write_samples(240.0, (SeriesKey.of("rss", pid="2"),), np.array([9.0]), group="process")
    store.write_samples(300.0, (SeriesKey.of("rss", pid="2"),), np.array([9.0]), group="process")
    assert store.history_window(newcomer)[1].tolist() == [9.0]


def test_history_times_are_exact_bucket_starts() -> None:
    """Bucket numbers are kept as int32 from the first one: exact even at 0.1 s steps."""
    for resolution, start in ((60.0, 1_795_000_000.0), (0.1, 1_795_000_000.0)):
        store = Store(10, 10, resolution)
        key = SeriesKey.of("m")
        first = math.floor(start / resolution)
        for i in range(6):  # one sample in the middle of each bucket
            store.write_samples((first + i + 0.5) * resolution, (key,), np.array([float(i)]))
        times, values = store.history_window(store.series_id(key))
        assert values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert times.tolist() == [(first + i) * resolution for i in range(5)]


def test_the_assembly_gives_history_to_what_analyzers_read_and_the_operator_lists() -> None:
    from agent.assembly import build_store
    from agent.config import parse_config_text

    text = '[storage]\nhistory_metrics = ["network_receive_*"]\n'
    settings = parse_config_text(text, "t.toml").settings
    store = build_store(settings)
    kept = {
        "disk_used_percent": True,  # trend
        "process_rss_bytes": True,  # leak
        "fd_allocated": True,  # leak
        "cpu_usage_percent": True,  # z-score and EMA: analyzer.anomaly_metrics
        "network_receive_errors_per_second": True,  # storage.history_metrics
        "network_transmit_errors_per_second": False,
        "process_cpu_percent": False,
        "cpu_core_usage_percent": False,
    }
    assert {metric: store.keeps_history(metric) for metric in kept} == kept
    trend_off = parse_config_text('[analyzer]\nenabled = ["threshold"]\n', "t.toml").settings
    assert not build_store(trend_off).keeps_history("disk_used_percent")
    # Replay's analyzers watch every metric: every series keeps history there.
    assert build_store(settings, watch_everything=True).needs_history is None
