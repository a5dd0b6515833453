"""SQLite history: the store's closed buckets, SIGTERM flush, retention, crash safety, the `history` command."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.history import History, query
from agent.store import Store
from analyzers.base import SeriesKey
from tests.conftest import (
    REPO,
    agent_command,
    hermetic_agent_keys,
    only_collectors,
    run_agent,
    wait_until,
    write_config,
)

CPU = SeriesKey("cpu_usage_percent")
DISK = SeriesKey("disk_used_percent", (("mountpoint", "/var"),))


def fed(history: History) -> Store:
    """The agent's wiring: the store hands the history every bucket it closes."""
    store = Store(4, history_capacity=4)
    history.follow(store)
    return store


def filled(
    db: Path, keys: list[SeriesKey], values: Callable[[int], list[float]], minutes: int
) -> None:
    """The database as a running agent leaves it: one sample of each key a minute for the
    last `minutes` minutes, `values(minutes_ago)` each."""
    now = time.time()

    async def fill() -> None:
        history = History(db, retention_days=30)
        await history.open()
        store = fed(history)
        for minutes_ago in range(minutes, 0, -1):
            store.write_samples(now - minutes_ago * 60, keys, values(minutes_ago))
        await history.close()

    asyncio.run(fill())


def test_minutes_are_aggregated_and_the_current_one_written_on_close(tmp_path: Path) -> None:
    db = tmp_path / "history.db"

    async def scenario() -> None:
        history = History(db, retention_days=30)
        await history.open()
        store = fed(history)
        for second, value in [(0, 10.0), (20, 20.0), (40, 60.0), (60, 5.0), (130, 7.0)]:
            store.write_samples(6_000 + second, [CPU, DISK], [value, 50.0 + second / 100])
        await history.flush()  # minutes 6000 and 6060 are complete; 6120 is still open
        assert [r.minute for r in query(db, "cpu_usage_percent", {}, 0)] == [6_000, 6_060]
        await history.close()  # SIGTERM: 6120 too

    asyncio.run(scenario())
    rows = query(db, "cpu_usage_percent", {}, 0)
    assert [(r.minute, r.mean, r.min, r.max, r.samples) for r in rows] == [
        (6_000, 30.0, 10.0, 60.0, 3),
        (6_060, 5.0, 5.0, 5.0, 1),
        (6_120, 7.0, 7.0, 7.0, 1),
    ]
    (disk,) = query(db, "disk_used_percent", {"mountpoint": "/var"}, 0)[:1]
    assert disk.labels == {"mountpoint": "/var"}
    assert query(db, "disk_used_percent", {"mountpoint": "/home"}, 0) == []


def test_a_minute_written_twice_is_merged_not_lost(tmp_path: Path) -> None:
    db = tmp_path / "history.db"

    async def write(values: list[float]) -> None:
        history = History(db, retention_days=30)
        await history.open()
        store = fed(history)
        for i, value in enumerate(values):
            store.write_samples(6_000 + i, [CPU], [value])
        await history.close()

    asyncio.run(write([10.0, 20.0]))  # stopped mid-minute
    asyncio.run(write([60.0]))  # restarted within the same minute
    (row,) = query(db, "cpu_usage_percent", {}, 0)
    assert (row.mean, row.min, row.max, row.samples) == (30.0, 10.0, 60.0, 3)


def test_retention_removes_old_rows_only(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    now = time.time()

    async def scenario() -> int:
        history = History(db, retention_days=30)
        await history.open()
        store = fed(history)
        store.write_samples(now - 40 * 86400, [CPU], [1.0])
        store.write_samples(now - 29 * 86400, [CPU], [2.0])
        store.write_samples(now, [CPU], [3.0])
        await history.flush()
        removed = await history.enforce_retention(now)
        await history.close()
        return removed

    assert asyncio.run(scenario()) == 1
    assert [r.mean for r in query(db, "cpu_usage_percent", {}, 0)] == [2.0, 3.0]


def test_kill_9_during_writes_leaves_a_readable_database(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    writer = textwrap.dedent(
        f"""
        import asyncio, sys
        sys.path.insert(0, {str(REPO)!r})
        from agent.history import History
        from agent.store import Store
        from analyzers.base import SeriesKey
        keys = [SeriesKey("m", (("i", str(i)),)) for i in range(500)]
        async def main():
            h = History(__import__("pathlib").Path({str(db)!r}), 30)
            await h.open()
            store = Store(4, history_capacity=4)
            h.follow(store)
            minute = 0
            while True:
                store.write_samples(minute * 60.0, keys, [float(minute)] * len(keys))
                minute += 1
                await h.flush()
                if minute == 20:  # well into a stream of transactions
                    print("writing", flush=True)
        asyncio.run(main())
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
    proc.send_signal(signal.SIGKILL)  # it goes on writing: most likely mid-transaction
    proc.wait(timeout=10)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        minutes, count = conn.execute(
            "SELECT COUNT(DISTINCT minute), COUNT(*) FROM minutes"
        ).fetchone()
    # Every minute closed before the print is in, and only whole transactions.
    assert minutes >= 19 and count == minutes * 500
    assert len(query(db, "m", {"i": "7"}, 0)) == minutes


def test_history_command_prints_csv_that_replay_reads_and_json(tmp_path: Path) -> None:
    filled(tmp_path / "data" / "history.db", [CPU, DISK], lambda ago: [float(ago), 80.0], 120)
    config = write_config(tmp_path, f'[agent]\ndata_dir = "{tmp_path / "data"}"\n')
    result = run_agent("--config", str(config), "history", "cpu_usage_percent", "--since", "1h")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert 59 <= len(rows) <= 61 and rows[0]["timestamp"] < rows[-1]["timestamp"]
    assert float(rows[-1]["value"]) == 1.0 and rows[-1]["samples"] == "1"
    recording = tmp_path / "cpu.csv"
    recording.write_text(result.stdout)
    replayed = run_agent(
        "--config", str(config), "replay", str(recording), "--metric", "cpu_usage_percent"
    )
    assert replayed.returncode == 0, replayed.stderr
    as_json = run_agent(
        "--config", str(config), "history", "disk_used_percent", "--labels", "mountpoint=/var",
        "--since", "3h", "--format", "json",
    )  # fmt: skip
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert len(lines) == 120 and lines[0]["labels"] == {"mountpoint": "/var"}
    assert lines[0]["metric"] == "disk_used_percent" and lines[0]["mean"] == 80.0
    # A new user's finding: a misspelt metric printed the header alone, as a quiet one would.
    misspelt = run_agent("--config", str(config), "history", "cpu_usage_percnt")
    assert misspelt.returncode == 0 and misspelt.stdout.count("\n") == 1  # the header
    assert "no row for cpu_usage_percnt since 6h (metric names: docs/METRICS.md)" in misspelt.stderr
    missing = run_agent("--config", str(config), "history", "x", "--since", "soon")
    assert missing.returncode == 2 and "sysops-agent history:" in missing.stderr
    elsewhere = write_config(tmp_path, f'[agent]\ndata_dir = "{tmp_path / "empty"}"\n', "e.toml")
    no_db = run_agent("--config", str(elsewhere), "history", "cpu_usage_percent")
    assert no_db.returncode == 1 and "is storage.sqlite_enabled set?" in no_db.stderr


def test_a_history_csv_of_several_series_is_replayed_one_series_at_a_time(
    tmp_path: Path,
) -> None:
    """A second reader's finding: `history disk_used_percent` holds every mount point, and
    `replay` of it interleaved their samples as one series ("2 samples over 0.0 h")."""
    root = SeriesKey("disk_used_percent", (("mountpoint", "/"),))
    # /var fills from 80 % to 99.8 %; / stays at 50.
    filled(tmp_path / "data" / "history.db", [root, DISK],
           lambda ago: [50.0, 80.0 + (120 - ago) / 6], 120)  # fmt: skip
    config = write_config(tmp_path, f'[agent]\ndata_dir = "{tmp_path / "data"}"\n')
    both = run_agent("--config", str(config), "history", "disk_used_percent", "--since", "3h")
    assert both.returncode == 0 and both.stdout.count("\n") == 1 + 2 * 120, both.stderr
    recording = tmp_path / "disk.csv"
    recording.write_text(both.stdout)
    mixed = run_agent("--config", str(config), "replay", str(recording),
                      "--metric", "disk_used_percent")  # fmt: skip
    assert mixed.returncode == 2 and mixed.stdout == ""
    assert "holds 2 series (mountpoint=/; mountpoint=/var): replay one" in mixed.stderr
    one = run_agent("--config", str(config), "replay", str(recording),
                    "--metric", "disk_used_percent", "--labels", "mountpoint=/var")  # fmt: skip
    assert one.returncode == 0 and "120 samples over 2.0 h" in one.stderr, one.stderr
    events = [json.loads(line) for line in one.stdout.splitlines()]
    assert {e["labels"]["mountpoint"] for e in events} == {"/var"}
    assert any(e["analyzer"] == "threshold" and e["status"] == "firing" for e in events)
    nothing = run_agent("--config", str(config), "replay", str(recording),
                        "--metric", "disk_used_percent", "--labels", "mountpoint=/data")  # fmt: skip
    assert nothing.returncode == 2
    assert (
        "holds 2 series (mountpoint=/; mountpoint=/var), and none with labels mountpoint=/data"
        in (nothing.stderr)
    )
    # The header cut off (`tail -n +2`, a grep for a day): the same six columns, the same.
    headless = tmp_path / "headless.csv"
    headless.write_text(both.stdout.split("\n", 1)[1])
    cut = run_agent("--config", str(config), "replay", str(headless),
                    "--metric", "disk_used_percent", "--labels", "mountpoint=/")  # fmt: skip
    assert cut.returncode == 0 and cut.stdout == "" and "120 samples" in cut.stderr, cut.stderr
    assert run_agent("--config", str(config), "replay", str(headless)).returncode == 2


def test_the_labels_column_of_a_history_csv_as_replay_reads_it(tmp_path: Path) -> None:
    """A second reader's cases: a comma in a label value (a process name), --labels that
    only names a series with no labels, a header in other case and spacing."""
    from agent.replay import SeveralSeries, read_csv

    def csv_of(name: str, header: str, rows: list[tuple[int, float, str]]) -> Path:
        path = tmp_path / name
        lines = [header] + [f'{t},{v},{v},{v},1,"{labels}"' for t, v, labels in rows]
        path.write_text("\n".join(lines) + "\n")
        return path

    header = "timestamp,value,min,max,samples,labels"
    commas = csv_of("p.csv", header, [(60 * i, 1.0, "comm=a,b" if i % 2 else "comm=c")
                                      for i in range(10)])  # fmt: skip
    with pytest.raises(SeveralSeries, match=r"holds 2 series \(comm=c; comm=a,b\)"):
        read_csv(commas)
    picked = read_csv(commas, [("comm", "a,b")])
    assert picked.labels == (("comm", "a,b"),) and picked.times.size == 5 and not picked.skipped
    unlabelled = csv_of("l.csv", " Timestamp, Value ,Min,Max,Samples, Labels ",
                        [(60 * i, 0.5, "") for i in range(4)])  # fmt: skip
    named = read_csv(unlabelled, [("env", "prod")])  # names it; nothing disagrees
    assert named.times.size == 4 and named.labels == () and not named.skipped


def test_history_prints_no_control_character_of_a_label(tmp_path: Path) -> None:
    """A process names itself (`comm`): its name in a label cleared the operator's screen,
    set the window title or reversed the text when `history` printed it."""
    db = tmp_path / "data" / "history.db"
    names = ["\x1b[2J\x1b[H", "\x1b]0;owned\x07", "ok\u202egnp.hs", "a\x9b31mRED"]
    keys = [
        SeriesKey("process_cpu_percent", (("comm", n), ("pid", str(i))))
        for i, n in enumerate(names)
    ]
    filled(db, keys, lambda _: [1.0] * len(keys), 5)
    config = write_config(tmp_path, f'[agent]\ndata_dir = "{tmp_path / "data"}"\n')
    for form in ("csv", "json"):
        out = run_agent("--config", str(config), "history", "process_cpu_percent", "--format", form)
        assert out.returncode == 0 and out.stdout.count("\n") >= 4, out.stderr
        for bad in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert bad not in out.stdout, (form, bad)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert {row["labels"]["comm"] for row in rows} == set(names)  # JSON escapes, loses nothing


@pytest.mark.e2e
def test_running_agent_writes_history_and_flushes_on_sigterm(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        f'[agent]\ndata_dir = "data"\n{hermetic_agent_keys(tmp_path)}'
        f"[collector]\ncpu_interval_secs = 0.25\n{only_collectors('cpu')}"
        "[storage]\nsqlite_enabled = true\n",
    )
    err_path = tmp_path / "stderr"
    with err_path.open("w") as err:
        agent = subprocess.Popen(agent_command("--config", str(config)), cwd=tmp_path,
                                 stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
    try:
        wait_until(lambda: "sysops-agent started" in err_path.read_text(), 60, "the start")
        # Samples accrue with time (4 intervals here): the elapsed time is what is tested.
        time.sleep(1.0)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=15) == 0, err_path.read_text()
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(timeout=5)
    rows = query(tmp_path / "data" / "history.db", "cpu_usage_percent", {}, 0)
    # Only the in-memory minute exists: it reached the database through the SIGTERM flush.
    assert rows and sum(r.samples for r in rows) >= 2, err_path.read_text()


def test_a_failing_write_is_reported_and_retried_without_loss(tmp_path: Path) -> None:
    db = tmp_path / "history.db"

    async def scenario() -> None:
        history = History(db, retention_days=30)
        await history.open()
        store = fed(history)
        store.write_samples(6_000, [CPU], [1.0])
        store.write_samples(6_060, [CPU], [2.0])
        assert history._db is not None
        await history._db.execute("PRAGMA query_only = ON")  # every write now fails
        await history.flush()
        assert history.last_error and history.write_errors == 1
        await history._db.execute("PRAGMA query_only = OFF")
        await history.flush()
        assert history.last_error is None
        await history.close()

    asyncio.run(scenario())
    assert [r.mean for r in query(db, "cpu_usage_percent", {}, 0)] == [1.0, 2.0]


@pytest.mark.parametrize("planted", ["history.db", "history.db-wal"])
def test_a_symlink_planted_in_data_dir_is_not_followed(tmp_path: Path, planted: str) -> None:
    """SQLite follows a symlink and creates its target: a local user who can write to
    data_dir would have the agent create (or write into) a file of their choosing."""
    target = tmp_path / "chosen-by-attacker.db"
    (tmp_path / planted).symlink_to(target)
    history = History(tmp_path / "history.db", retention_days=1)
    store = fed(history)
    asyncio.run(asyncio.wait_for(history.run(), 10))  # returns: history off, said why
    assert not target.exists()
    assert history.last_error is not None and f"{planted} is" in history.last_error  # named
    assert store.on_buckets is None  # nothing gathered for a file that will not be written
