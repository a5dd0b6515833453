"""Would a person trust these notifications?  A quiet host, and a few caused conditions.

    .venv/bin/python benchmarks/quiet_host.py [--config FILE]

Issue #14 found 35 notifications in 16 minutes on a lightly used host, of
which about 14 were about something real.  This benchmark is the check that
such noise is gone: synthetic host series, generated from a fixed seed by the
documented generator below, go through the daemon's own analyzers and router
(`agent.assembly.build_store` / `build_analyzers` and `alerting.router.Router`
with the given settings), and every notification the router lets out is
counted against what a person would want:

* quiet day: an idle 2-core machine for two days at the collectors' default
  intervals (CPU, memory, network every 10 s, disk every 60 s, processes every
  30 s).  CPU 3-5 % with noise, memory 55 % +- 1 point, an idle NIC at ~60 B/s
  in and ~40 B/s out with the odd 1.2 kB/s burst, a load average of a few
  tenths, a little disk I/O, a root file system at 42 %, four ordinary
  processes, and every night at 02:00 a 20-minute backup (disk writes at
  ~30 MB/s, CPU +25 points, a `restic` process).  The second day is judged,
  the first is the agent's learning day (its count is shown, not judged: the
  backup is new to it there).  Expected: nothing.  The same with the agent
  restarted at 14:00 of the learning day (an upgrade): the history tier is kept
  across it (agent/tier_file.py), so the second night's backup is no news
  either.  Expected: nothing.  The same with the second night's backup 40
  minutes late and 15 minutes longer (jobs drift, within the seasonality's
  tolerance of an hour).  Expected: nothing.
* a job every two hours: the quiet host's first day with, from 00:30 every two
  hours, a 15-minute job (CPU +30 points, disk writes +20 MB/s, reads +4 MB/s).
  Not the same time of day, so seasonality does not see it; its first runs are
  news (learning, then the backup's hour, then the first two told), the rest of
  the day is a recurring job.  Judged from 05:00.  Expected: nothing.
* caused conditions, each on the same quiet host (from 06:00, so no backup),
  starting after 3 h of normal life and followed by 2 h of it.  Everything the
  router lets out from the start counts:
  - cpu saturated: 100 % for 3 minutes (a `stress` process using both cores),
    then back.  Expected: one FIRING and one RESOLVED on cpu_usage_percent.  The
    same for 10 minutes: the load average stays high long enough for z-score,
    and says nothing the CPU's alert does not.  Expected: the same two.
  - the same on two sockets (one core each, so the collector reports each
    socket's usage too).  Expected: the same two, nothing about the sockets.
  - process leaking: a `leaky` process grows its RSS by 150 MiB/h for 4 hours,
    then is restarted (a new pid, back at its usual size).  Expected: one
    FIRING and one RESOLVED on process_rss_bytes (the resolve comes when the
    old pid's series is retired).
  - disk filled then emptied: / climbs from 42 % to 95 % in 40 minutes (a
    runaway dump, ~22 MB/s of writes), and the file is deleted a minute later.
    Expected: one FIRING and one RESOLVED on disk_used_percent.
  - memory freed: a 1.6 GiB `java` process exits and memory used falls from
    55 % to 35 % for good.  Good news.  Expected: nothing.

The replay of several series at once is written here, not taken from
agent.replay (which replays one series): it writes each collector's batch
into the store, runs every analyzer over it and routes each event as
`Agent.analyze` does, calls `Router.repeat_due` every tick and retires series
unseen for 600 s as the housekeeping does (`Router.series_gone`,
`Analyzer.forget`, `Store.retire`).  It skips `Agent.enrich` (sparkline, top
processes), which changes what a notification says, not whether it is sent.
The analyzers watch the metrics of `analyzer.anomaly_metrics`, as on a host.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent import tier_file
from agent.assembly import build_analyzers, build_store, inhibit_rules
from agent.settings import Settings
from alerting.alert import Alert, Status
from alerting.router import Router
from analyzers.base import SeriesKey

FloatArray = npt.NDArray[np.float64]

TICK = 10.0  # the shortest collector interval; everything else is a multiple
INTERVALS = {"cpu": 10.0, "memory": 10.0, "network": 10.0, "disk": 60.0, "process": 30.0}
STALE_AFTER = 600.0  # the runtime's max(10 x the longest interval, 600 s)
MEMORY_TOTAL = 8 * 2**30
DISK_TOTAL = 100e9
MIB = 2**20
DAY = 86_400.0
MONDAY = datetime(2026, 1, 5, tzinfo=UTC).timestamp()

CPU = SeriesKey("cpu_usage_percent")
IOWAIT = SeriesKey("cpu_iowait_percent")
LOAD = SeriesKey("cpu_load1")
LOAD_PER_CORE = SeriesKey("cpu_load1_per_core")
MEMORY = SeriesKey("memory_used_percent")
MEMORY_TOTAL_KEY = SeriesKey("memory_total_bytes")
RX = SeriesKey.of("network_receive_bytes_per_second", interface="eth0")
TX = SeriesKey.of("network_transmit_bytes_per_second", interface="eth0")
DISK_READ = SeriesKey.of("disk_read_bytes_per_second", device="sda")
DISK_WRITE = SeriesKey.of("disk_write_bytes_per_second", device="sda")
DISK_USED = SeriesKey.of("disk_used_percent", mountpoint="/", device="sda1")


def process_keys(comm: str, pid: int) -> tuple[SeriesKey, SeriesKey]:
    """(CPU %, RSS bytes) of one process, labelled as the process collector does."""
    labels = {"comm": comm, "pid": str(pid), "user": "root"}
    return (
        SeriesKey.of("process_cpu_percent", **labels),
        SeriesKey.of("process_rss_bytes", **labels),
    )


@dataclass
class Host:
    """Series on each collector's time grid: NaN where the series is not reported."""

    start: float
    hours: float
    seed: int
    # From the second night on, the backup starts this many seconds later and runs this
    # many longer than the first night's 02:00-02:20 (jobs drift: a bigger night, a queue).
    backup_drift: tuple[float, float] = (0.0, 0.0)
    series: dict[str, dict[SeriesKey, FloatArray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def times(self, collector: str) -> FloatArray:
        interval = INTERVALS[collector]
        return self.start + np.arange(0.0, self.hours * 3600.0, interval)

    def put(self, collector: str, key: SeriesKey, values: FloatArray) -> None:
        self.series.setdefault(collector, {})[key] = values

    def get(self, collector: str, key: SeriesKey) -> FloatArray:
        return self.series[collector][key]

    def during(self, collector: str, begin: float, end: float) -> npt.NDArray[np.bool_]:
        """Samples of `collector` at begin <= t < end (seconds since the host's start)."""
        t = self.times(collector) - self.start
        return (t >= begin) & (t < end)

    def noise(self, collector: str, sigma: float) -> FloatArray:
        return self.rng.normal(0.0, sigma, self.times(collector).size)


def backups(host: Host, collector: str) -> npt.NDArray[np.bool_]:
    """Samples inside the nightly backup, 02:00-02:20 UTC (later nights: `backup_drift`)."""
    times = host.times(collector)
    seconds_of_day = np.mod(times, DAY)
    later_night = times >= host.start - np.mod(host.start, DAY) + DAY
    late, longer = host.backup_drift
    begin = 2 * 3600 + np.where(later_night, late, 0.0)
    end = begin + 20 * 60 + np.where(later_night, longer, 0.0)
    return (seconds_of_day >= begin) & (seconds_of_day < end)


def quiet_host(
    start: float, hours: float, seed: int = 14, backup_drift: tuple[float, float] = (0.0, 0.0)
) -> Host:
    """An idle 2-core machine (see the module docstring for what it does)."""
    host = Host(start, hours, seed, backup_drift)
    rng = host.rng
    backup_cpu = backups(host, "cpu")
    cpu = 4.0 + host.noise("cpu", 0.5) + 25.0 * backup_cpu
    host.put("cpu", CPU, np.clip(cpu, 0.0, 100.0))
    iowait = 0.3 + np.abs(host.noise("cpu", 0.2)) + 8.0 * backup_cpu
    host.put("cpu", IOWAIT, iowait)
    # load1 is the kernel's 1-minute exponential average of runnable tasks.
    runnable = rng.binomial(1, 0.15, backup_cpu.size) + 1.3 * backup_cpu
    decay = math.exp(-TICK / 60.0)
    load = np.empty_like(cpu)
    level = 0.15
    for i, r in enumerate(runnable.tolist()):
        level = level * decay + r * (1 - decay)
        load[i] = level
    host.put("cpu", LOAD, load)
    host.put("cpu", LOAD_PER_CORE, load / 2)
    host.put("memory", MEMORY, np.clip(55.0 + host.noise("memory", 0.4), 54.0, 56.0))
    host.put("memory", MEMORY_TOTAL_KEY, np.full(host.times("memory").size, float(MEMORY_TOTAL)))
    for key, mean in ((RX, 60.0), (TX, 40.0)):
        n = host.times("network").size
        idle = np.maximum(mean + rng.normal(0.0, mean / 4, n), 0.0)
        bursts = rng.random(n) < 0.01  # an NTP exchange, an ARP storm, a DNS lookup...
        host.put("network", key, np.where(bursts, 1200.0 + rng.normal(0, 100, n), idle))
    backup_disk = backups(host, "disk")
    n = backup_disk.size
    host.put("disk", DISK_READ, rng.exponential(2000.0, n) + 5e6 * backup_disk)
    host.put("disk", DISK_WRITE, rng.exponential(20_000.0, n) + 30e6 * backup_disk)
    host.put("disk", DISK_USED, 42.0 + np.cumsum(np.full(n, 0.05 / (DAY / 60))))
    n = host.times("process").size
    for comm, pid, rss_mib, cpu_pct in (
        ("sshd", 812, 8.0, 0.0),
        ("systemd-journal", 301, 30.0, 0.1),
        ("postgres", 1201, 180.0, 0.5),
        ("cron", 640, 3.0, 0.0),
    ):
        cpu_key, rss_key = process_keys(comm, pid)
        host.put("process", cpu_key, np.maximum(cpu_pct + rng.normal(0, cpu_pct / 2 + 1e-9, n), 0))
        host.put("process", rss_key, rss_mib * MIB + rng.normal(0, rss_mib * MIB / 100, n))
    backup_proc = backups(host, "process")
    cpu_key, rss_key = process_keys("restic", 4242)
    host.put("process", cpu_key, np.where(backup_proc, 25.0 + rng.normal(0, 3, n), np.nan))
    host.put("process", rss_key, np.where(backup_proc, 300.0 * MIB, np.nan))
    return host


def job_every_two_hours(host: Host) -> None:
    """A 15-minute job from 00:30 every two hours (the module docstring)."""
    for collector, key, more in (
        ("cpu", CPU, 30.0),
        ("cpu", IOWAIT, 5.0),
        ("disk", DISK_WRITE, 20e6),
        ("disk", DISK_READ, 4e6),
    ):
        t = np.mod(host.times(collector) - host.start - 1800.0, 7200.0)
        host.get(collector, key)[:] += more * (t < 900.0)


# -- caused conditions ------------------------------------------------------------------

WARM_UP = 3 * 3600.0  # normal life before the condition
AFTER = 2 * 3600.0  # normal life after it


def cpu_saturated(host: Host, seconds: float = 180.0) -> None:
    begin, end = WARM_UP, WARM_UP + seconds
    busy = host.during("cpu", begin, end)
    cpu = host.get("cpu", CPU)
    cpu[busy] = 100.0 - np.abs(host.noise("cpu", 0.3)[busy])
    # Two more runnable tasks meanwhile: load1 climbs towards 2 and decays after.
    load = host.get("cpu", LOAD)
    decay = math.exp(-TICK / 60.0)
    t = host.times("cpu") - host.start
    extra = np.where(busy, 2.0 * (1 - decay ** ((t - begin) / TICK + 1)), 0.0)
    after = t >= end
    peak = 2.0 * (1 - decay ** (seconds / TICK))
    extra[after] = peak * decay ** ((t[after] - end) / TICK + 1)
    load += extra
    host.get("cpu", LOAD_PER_CORE)[:] = load / 2
    n = host.times("process").size
    cpu_key, rss_key = process_keys("stress", 5000)
    hog = host.during("process", begin, end)
    host.put("process", cpu_key, np.where(hog, 199.0, np.nan) + np.zeros(n))
    host.put("process", rss_key, np.where(hog, 4.0 * MIB, np.nan) + np.zeros(n))


def cpu_saturated_10_min(host: Host) -> None:
    """Long enough for the load average to stay beyond its band for z-score's five minutes."""
    cpu_saturated(host, 600.0)


def cpu_saturated_on_two_sockets(host: Host) -> None:
    """cpu saturated, on the same machine with its two cores on two sockets: the collector
    then reports `cpu_socket_usage_percent` too, each socket the whole give or take what
    the other takes."""
    cpu_saturated(host)
    whole = host.get("cpu", CPU)
    skew = host.noise("cpu", 0.5)
    for socket, values in enumerate((whole + skew, whole - skew)):
        key = SeriesKey.of("cpu_socket_usage_percent", socket=str(socket))
        host.put("cpu", key, np.clip(values, 0.0, 100.0))


def process_leaking(host: Host) -> None:
    begin, end = 3600.0, 3600.0 + 4 * 3600.0
    t = host.times("process") - host.start
    n = t.size
    base = 120.0 * MIB
    grows = (t >= begin) & (t < end)
    rss = np.where(grows, base + 150.0 * MIB * (t - begin) / 3600.0, np.nan)
    rss += host.noise("process", 0.2 * MIB)
    cpu_key, rss_key = process_keys("leaky", 6000)
    host.put("process", rss_key, rss)
    host.put("process", cpu_key, np.where(grows, 1.0, np.nan) + np.zeros(n))
    cpu_key, rss_key = process_keys("leaky", 6001)  # restarted
    restarted = t >= end
    host.put(
        "process", rss_key, np.where(restarted, base, np.nan) + host.noise("process", 0.2 * MIB)
    )
    host.put("process", cpu_key, np.where(restarted, 1.0, np.nan) + np.zeros(n))
    # The leak shows in memory used too, and goes away with the restart.
    tm = host.times("memory") - host.start
    leaked = np.where((tm >= begin) & (tm < end), 150.0 * MIB * (tm - begin) / 3600.0, 0.0)
    host.get("memory", MEMORY)[:] += 100.0 * leaked / MEMORY_TOTAL


def disk_filled_then_emptied(host: Host) -> None:
    begin, full = WARM_UP, WARM_UP + 40 * 60.0
    t = host.times("disk") - host.start
    used = host.get("disk", DISK_USED)
    filling = (t >= begin) & (t < full)
    used[filling] += (95.0 - 42.0) * (t[filling] - begin) / (full - begin)
    held = (t >= full) & (t < full + 60.0)
    used[held] = 95.0
    write = host.get("disk", DISK_WRITE)
    write[filling] += (95.0 - 42.0) / 100 * DISK_TOTAL / (full - begin)


def memory_freed(host: Host) -> None:
    t = host.times("memory") - host.start
    host.get("memory", MEMORY)[t >= WARM_UP] -= 20.0
    tp = host.times("process") - host.start
    cpu_key, rss_key = process_keys("java", 7100)
    host.put("process", rss_key, np.where(tp < WARM_UP, 1.6 * 2**30, np.nan))
    host.put("process", cpu_key, np.where(tp < WARM_UP, 2.0, np.nan))


# -- the scenarios and their expectations ------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    host: Callable[[], Host]
    expected: tuple[tuple[str, Status], ...]  # (metric, status) of each wanted notification
    judged_from: float = 0.0  # seconds after the start; earlier notifications are learning
    restart_at: float | None = None  # seconds after the start: the agent restarted (SIGTERM)


def _caused(change: Callable[[Host], None], hours: float) -> Callable[[], Host]:
    def build() -> Host:
        host = quiet_host(MONDAY + 6 * 3600.0, hours)
        change(host)
        return host

    return build


def _changed(host: Host, change: Callable[[Host], None]) -> Host:
    change(host)
    return host


def _pair(metric: str) -> tuple[tuple[str, Status], ...]:
    return ((metric, Status.FIRING), (metric, Status.RESOLVED))


SCENARIOS = (
    Scenario("quiet day", lambda: quiet_host(MONDAY, 48.0), (), judged_from=DAY),
    # An upgrade the afternoon before: the night's backup was seen before the restart.
    Scenario(
        "quiet day, restarted the day before",
        lambda: quiet_host(MONDAY, 48.0),
        (),
        judged_from=DAY,
        restart_at=14 * 3600.0,
    ),
    # Jobs drift: the second night's backup 40 minutes late and 15 minutes longer, within
    # anomaly_season_tolerance_secs of the first (it paged when the tier held exactly 24 h).
    Scenario(
        "quiet day, the backup late and longer",
        lambda: quiet_host(MONDAY, 48.0, backup_drift=(2400.0, 900.0)),
        (),
        judged_from=DAY,
    ),
    # Not the same time of day: its first runs are news, then it is a recurring job.
    Scenario(
        "quiet day, a job every two hours",
        lambda: _changed(quiet_host(MONDAY, 24.0), job_every_two_hours),
        (),
        judged_from=5 * 3600.0,
    ),
    Scenario(
        "cpu saturated 3 min",
        _caused(cpu_saturated, (WARM_UP + AFTER) / 3600),
        _pair("cpu_usage_percent"),
    ),
    Scenario(
        "cpu saturated 10 min",
        _caused(cpu_saturated_10_min, (WARM_UP + AFTER) / 3600),
        _pair("cpu_usage_percent"),
    ),
    Scenario(
        "cpu saturated, 2 sockets",
        _caused(cpu_saturated_on_two_sockets, (WARM_UP + AFTER) / 3600),
        _pair("cpu_usage_percent"),
    ),
    Scenario("process leaking", _caused(process_leaking, 7.0), _pair("process_rss_bytes")),
    Scenario(
        "disk filled then emptied",
        _caused(disk_filled_then_emptied, (WARM_UP + 3600 + AFTER) / 3600),
        _pair("disk_used_percent"),
    ),
    Scenario("memory freed", _caused(memory_freed, (WARM_UP + AFTER) / 3600), ()),
)


# -- replay ------------------------------------------------------------------------------


class RecordingRouter(Router):
    """The real router, with no channels, keeping every notification it lets out."""

    def __init__(self, settings: Settings) -> None:
        a = settings.alerting
        super().__init__(
            "quiet-host",
            [],
            min_interval_secs=a.min_interval_secs,
            dedup_window_secs=a.dedup_window_secs,
            inhibit_rules=inhibit_rules(settings),
        )
        self.sent: list[Alert] = []

    def _submit(self, alert: Alert, kept: Alert | None = None) -> None:  # every notification
        super()._submit(alert, kept)
        self.sent.append(alert)


def run_host(host: Host, settings: Settings, restart_at: float | None = None) -> list[Alert]:
    """Every notification the daemon's analyzers and router would send for `host`; with
    `restart_at`, the agent stopped and started again then, as the daemon does it: the
    history tier kept through its file's encoding (agent/tier_file.py), the analyzers
    and the router new (no alert is open at a quiet host's restart: no episode to resume)."""
    store = build_store(settings)
    analyzers = build_analyzers(settings)
    router = RecordingRouter(settings)
    sent: list[Alert] = []
    # Per collector: its keys, a (series x samples) matrix, and which are reported when.
    # Collectors on the same interval write one batch together: the analyzers judge each
    # series alone, so this changes nothing but the cost (one pass instead of three).
    by_interval: dict[float, dict[SeriesKey, FloatArray]] = {}
    for name, series in host.series.items():
        by_interval.setdefault(INTERVALS[name], {}).update(series)
    plan = []
    for interval, series in sorted(by_interval.items()):
        keys = list(series)
        matrix = np.vstack([series[k] for k in keys])
        plan.append((f"every {interval:g} s", interval, keys, matrix, np.isfinite(matrix)))
    ticks = round(host.hours * 3600 / TICK)
    for k in range(ticks):
        elapsed = k * TICK
        now = host.start + elapsed
        if restart_at is not None and elapsed == restart_at:
            kept = b"".join(tier_file.encode(store.history_tiers(), store.resolution, now))
            sent += router.sent
            store, analyzers, router = (
                build_store(settings),
                build_analyzers(settings),
                RecordingRouter(settings),
            )
            for copy in tier_file.decode(kept, 100_000, 100_000).copies:
                store.restore_history(copy, now)
        for name, interval, keys, matrix, present in plan:
            if elapsed % interval:
                continue
            column = int(elapsed // interval)
            rows = np.flatnonzero(present[:, column])
            if rows.size == 0:
                continue
            batch = store.write_samples(
                now, [keys[r] for r in rows.tolist()], matrix[rows, column], name
            )
            for analyzer in analyzers:
                for alert in analyzer.observe(batch, store):
                    router.route(alert)
        router.repeat_due(now)
        if k % 6 == 0:  # the housekeeping's minute
            stale = store.stale_ids(now, STALE_AFTER)
            if stale:
                for sid in stale:
                    key = store.key(sid)
                    router.series_gone(key.metric, key.labels, now, store.last_sample(sid))
                for analyzer in analyzers:
                    analyzer.forget(stale)
                store.retire(stale)
            router.forget_resolved(now)
    return sent + router.sent


@dataclass(frozen=True)
class Outcome:
    scenario: Scenario
    learning: list[Alert]  # before `judged_from`: shown, not judged
    got: list[Alert]
    unexpected: list[Alert]
    missing: list[tuple[str, Status]]

    @property
    def ok(self) -> bool:
        return not self.unexpected and not self.missing


def judge(scenario: Scenario, sent: list[Alert], start: float) -> Outcome:
    """Match what was sent against the wanted (metric, status) pairs, each used once."""
    cut = start + scenario.judged_from
    learning = [a for a in sent if a.timestamp < cut]
    got = [a for a in sent if a.timestamp >= cut]
    wanted = Counter(scenario.expected)
    unexpected = []
    for alert in got:
        # A repeat ("still firing") is a notification of its own, never the wanted FIRING.
        kind = (alert.metric, alert.status)
        if wanted[kind] > 0 and not alert.context.get("still_firing"):
            wanted[kind] -= 1
        else:
            unexpected.append(alert)
    missing = [kind for kind, n in wanted.items() for _ in range(n)]
    return Outcome(scenario, learning, got, unexpected, missing)


def run(settings: Settings, scenarios: tuple[Scenario, ...] = SCENARIOS) -> list[Outcome]:
    outcomes = []
    for scenario in scenarios:
        host = scenario.host()
        sent = run_host(host, settings, scenario.restart_at)
        outcomes.append(judge(scenario, sent, host.start))
    return outcomes


def describe(alert: Alert) -> str:
    repeat = " (repeat)" if alert.context.get("still_firing") else ""
    return f"{alert.status.value}{repeat} {alert.analyzer}/{alert.metric}"


_LETTER = {Status.FIRING: "F", Status.ESCALATED: "E", Status.RESOLVED: "R"}


def summary(alerts: list[Alert]) -> str:
    """Counts per analyzer/metric, e.g. "zscore/cpu_load1 3F 1E 3R 2r" (r = a repeat)."""
    per: dict[str, Counter[str]] = {}
    for a in alerts:
        letter = "r" if a.context.get("still_firing") else _LETTER[a.status]
        per.setdefault(f"{a.analyzer}/{a.metric}", Counter())[letter] += 1
    ranked = sorted(per.items(), key=lambda kv: -sum(kv[1].values()))
    return ", ".join(
        what + " " + " ".join(f"{c[x]}{x}" for x in "FERr" if c[x]) for what, c in ranked
    )


def table(outcomes: list[Outcome]) -> str:
    width = max(26, *(len(o.scenario.name) + 2 for o in outcomes))
    lines = [
        f"{'scenario':<{width}}{'expected':>9}{'got':>5}  unexpected "
        "(F firing, E escalated, R resolved, r repeat)"
    ]
    for o in outcomes:
        shown = summary(o.unexpected) or "-"
        if o.missing:
            shown += "; missing: " + ", ".join(f"{s.value} {m}" for m, s in o.missing)
        lines.append(
            f"{o.scenario.name:<{width}}{len(o.scenario.expected):>9}{len(o.got):>5}  {shown}"
        )
        if o.scenario.judged_from:
            lines.append(
                f"{f'  its first {o.scenario.judged_from / 3600:g} h':<{width}}{'-':>9}"
                f"{len(o.learning):>5}  {summary(o.learning)}"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config", type=Path, help="settings to evaluate (default: the built-in defaults)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print every notification")
    args = parser.parse_args()
    if args.config:
        from agent.config import load_config

        settings = load_config(args.config).settings
    else:
        settings = Settings()
    outcomes = run(settings)
    print(table(outcomes))
    if args.verbose:
        for o in outcomes:
            print(f"\n{o.scenario.name}:")
            for alert in o.learning + o.got:
                when = datetime.fromtimestamp(alert.timestamp, UTC).strftime("%a %H:%M:%S")
                print(f"  {when} {alert.severity.label:<8} {describe(alert)}: {alert.message}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
