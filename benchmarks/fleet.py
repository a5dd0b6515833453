"""The fleet watcher at scale: N simulated hosts against a real nats-server with JetStream.

    .venv/bin/python benchmarks/fleet.py [--hosts 10000] [--speed K] [--secs S]
                                         [--probes 3] [--inventory-every 5] [--dry-run]

Starts nats-server (JetStream on, a temporary store, 127.0.0.1, a free port), an
HTTP receiver in this process that timestamps every alert the watcher POSTs
(its webhook channel), writes a fleet configuration and starts
`sysops-fleet --config F run` as a subprocess. Then it plays N hosts from one
NATS connection: each publishes the agent's heartbeat
(docs/schemas/heartbeat.schema.json) on `{prefix}.{host}.heartbeat` every
interval and its inventory (a real one: the captured machine in
tests/fixtures/node_exporter, hostname replaced, content_hash recomputed) on
`{prefix}.{host}.inventory` every `--inventory-every` intervals, the way an
agent without `nats.jetstream` does (a core publish each time, captured by the
inventory stream). Publishes are spread evenly over the interval.

Time compression: the interval is 60/K s (`--speed K`, default 1) and every
heartbeat says so in heartbeat_interval_secs, so the watcher judges silence in
that interval. The issue's goal (10,000 hosts, 60 s, < 5 % of one core, < 150 MB)
is about the real rate, 167 heartbeats/s: only `--speed 1` measures it; with
K > 1 the CPU figure is at K times that rate (printed with the rate it had).

Phases, each printed as it ends:
  start      the watcher's READY=1 (NOTIFY_SOCKET) and its leader lease
  warm-up    inventory_every + 1 intervals of beats (every host known, the watcher's
             silence period after its start passed, every host's first inventory
             stored and its second, unchanged one sent) and the CMDB consumer caught up
  steady     `--secs` seconds: CPU (utime+stime from /proc/<pid>/stat, % of one
             core, the mean and the busiest 10 s), VmRSS (mean, max) and VmHWM;
             the simulator's own rate, lag and CPU (is it the bottleneck?)
  silence    `--probes` hosts stop (fewer than mass_silence_min_hosts: one alert
             each): time from each one's deadline (last beat + silent_after_intervals
             x interval) to its alert's arrival, and to the alert's own timestamp
  return     each probe host beats again (the first one as after a reboot, its
             uptime reset): time from that publish until its record in the
             {bucket_prefix}_HOSTS bucket says healthy (read with nats-py), and
             until the resolve alert arrives
  new host   a host never seen before beats once: time until its record appears
  hosts      `sysops-fleet --config F hosts --format json`: wall time, hosts listed
Then the watcher gets SIGTERM (its exit code is printed).

`--dry-run` runs only nats-server (with the streams the watcher would create)
and the simulator, and prints the publish rate it achieved, its lag and CPU and
nats-server's CPU: the check that the simulator can drive the rate at all.
The figures go into docs/DESIGN.md ("The fleet watcher at scale"); nothing here
is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from alerting.channels.nats import (  # noqa: E402
    StreamSpec,
    ensure_stream,
    inventory_stream,
    subject_token,
)

VENV_BIN = REPO / ".venv" / "bin"
FIXTURES = REPO / "tests" / "fixtures"
TICKS = os.sysconf("SC_CLK_TCK")
PREFIX = "sysops"
BUCKET_PREFIX = "SYSOPS_FLEET"
HEARTBEAT_STREAM = "SYSOPS_HEARTBEAT"
INVENTORY_STREAM = "SYSOPS_INVENTORY"
SILENT_AFTER_INTERVALS = 3.0
REAL_INTERVAL_SECS = 60.0
GOAL_CPU_PERCENT = 5.0
GOAL_RSS_MB = 150.0


def say(text: str) -> None:
    print(text, flush=True)


def iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- processes ---------------------------------------------------------------------------


def cpu_secs(pid: int) -> float:
    """utime + stime + cutime + cstime of `pid`, in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # the name may hold spaces
    return sum(int(v) for v in fields[11:15]) / TICKS


def status_mb(pid: int, key: str) -> float:
    """A `kB` line of /proc/<pid>/status (VmRSS, VmHWM), in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


@contextlib.contextmanager
def nats_server(store: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not Path(binary).exists():
        raise SystemExit(
            "nats-server not found (Debian package nats-server; scripts/test installs it)"
        )
    port = free_port()
    server = subprocess.Popen(
        [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("nats-server did not start") from None
                time.sleep(0.05)
        yield port, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@dataclass
class Received:
    arrived: float  # wall clock, on arrival
    record: dict[str, Any]


class AlertReceiver:
    """The webhook channel's endpoint: every POSTed alert, stamped when it arrives."""

    def __init__(self) -> None:
        self.alerts: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    record = json.loads(body)
                except ValueError:
                    record = {"unparsed": body[:200].decode(errors="replace")}
                with receiver._lock:
                    receiver.alerts.append(Received(arrived, record))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def find(self, hostname: str, status: str, after: float) -> Received | None:
        with self._lock:
            for got in self.alerts:
                record = got.record
                if (
                    got.arrived >= after
                    and record.get("hostname") == hostname
                    and record.get("status") == status
                ):
                    return got
        return None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class NotifyListener:
    """NOTIFY_SOCKET for the watcher: when READY=1 arrived (wall clock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ready_at: float | None = None
        self.status: str = ""
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                text = self._sock.recv(4096).decode(errors="replace")
            except TimeoutError:
                continue
            except OSError:
                return
            for line in text.splitlines():
                if line == "READY=1" and self.ready_at is None:
                    self.ready_at = time.time()
                elif line.startswith("STATUS="):
                    self.status = line[7:]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


# -- the simulated fleet -----------------------------------------------------------------


def base_inventory() -> dict[str, Any]:
    """The captured machine's inventory, as the agent collects it (agent.inventory)."""
    from agent.config import parse_config_text
    from agent.inventory import collect_inventory

    root = Path(tempfile.mkdtemp(prefix="fleet-bench-root-"))
    try:
        (root / "etc").mkdir()
        (root / "etc/os-release").write_text(
            'NAME="Ubuntu"\nVERSION="22.04.4 LTS (Jammy Jellyfish)"\nID=ubuntu\n'
        )
        text = (
            f'[agent]\nhostname = "fixture"\nprocfs = "{FIXTURES / "node_exporter/proc"}"\n'
            f'sysfs = "{FIXTURES / "node_exporter/sys"}"\nrootfs = "{root}"\n'
            "[inventory]\ninclude_dimm_details = false\n"
        )
        return collect_inventory(parse_config_text(text, "fleet-bench").settings)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Stats:
    heartbeats: int = 0
    inventories: int = 0
    bytes: int = 0
    lags: list[float] = field(default_factory=list)  # seconds behind schedule, per publish

    def reset(self) -> None:
        self.heartbeats = self.inventories = self.bytes = 0
        self.lags = []


class Fleet:
    """N hosts, each beating every `interval` at its own phase, from one NATS connection."""

    def __init__(self, hosts: int, interval: float, inventory_every: int, degraded: float) -> None:
        self.names = [f"bench-{i:05d}.example.com" for i in range(hosts)]
        self.tokens = [subject_token(n) for n in self.names]
        self.interval = interval
        self.inventory_every = inventory_every
        now = time.time()
        # Hosts booted days ago, agents started an hour ago; some degraded all along.
        self.booted = [now - 86400 * (1 + i % 30) for i in range(hosts)]
        self.agent_started = [now - 3600.0] * hosts
        step = round(1 / degraded) if degraded > 0 else 0
        self.degraded = {i for i in range(0, hosts, step)} if step else set()
        self.stopped: set[int] = set()
        self.last_beat: dict[int, float] = {}
        self.stats = Stats()
        self._inventory = base_inventory() if inventory_every else {}
        self._hashes: dict[int, str] = {}

    def heartbeat(self, i: int, now: float) -> dict[str, Any]:
        degraded = i in self.degraded
        return {
            "hostname": self.names[i],
            "timestamp": iso(now),
            "heartbeat_interval_secs": self.interval,
            "uptime_secs": round(now - self.booted[i], 1),
            "agent_uptime_secs": round(now - self.agent_started[i], 1),
            "agent_version": "0.1.0",
            "status": "degraded" if degraded else "healthy",
            "reasons": ["collector disk: statvfs timed out on /mnt/nfs"] if degraded else [],
            "metrics_buffered": 0,
            "metrics_dropped": 0,
            "outbox_pending": 0,
            "series": 151,
            "absent_collectors": ["gpu"],
            "learning_series": 0,
            "rss_bytes": 41_000_000,
        }

    def inventory(self, i: int, now: float) -> dict[str, Any]:
        from agent.inventory import content_hash

        base = self._inventory
        document = {
            **base,
            "hostname": self.names[i],
            "collected_at": iso(now),
            "os": {**base["os"], "hostname": self.names[i]},
        }
        if i not in self._hashes:
            self._hashes[i] = content_hash(document)
        document["content_hash"] = self._hashes[i]
        return document

    async def publish(self, nc: Any, i: int, round_: int, due: float, loop_now: float) -> None:
        now = time.time()
        body = json.dumps(self.heartbeat(i, now), separators=(",", ":")).encode()
        await nc.publish(f"{PREFIX}.{self.tokens[i]}.heartbeat", body)
        self.last_beat[i] = now
        self.stats.heartbeats += 1
        self.stats.bytes += len(body)
        self.stats.lags.append(loop_now - due)
        # Every host at start (an agent publishes its inventory at once), then every
        # inventory_every rounds, hosts spread over those rounds.
        if self.inventory_every and (
            round_ == 0 or round_ % self.inventory_every == i % self.inventory_every
        ):
            inv = json.dumps(self.inventory(i, now), separators=(",", ":")).encode()
            await nc.publish(f"{PREFIX}.{self.tokens[i]}.inventory", inv)
            self.stats.inventories += 1
            self.stats.bytes += len(inv)

    async def beat_now(self, nc: Any, i: int) -> float:
        """One heartbeat of host `i` at once, flushed: the wall time it left."""
        now = time.time()
        body = json.dumps(self.heartbeat(i, now), separators=(",", ":")).encode()
        await nc.publish(f"{PREFIX}.{self.tokens[i]}.heartbeat", body)
        await nc.flush()
        self.last_beat[i] = now
        return now

    async def run(self, nc: Any, stop: asyncio.Event) -> None:
        """Slot j is host j % N in round j // N, due at start + j / N x interval."""
        loop = asyncio.get_running_loop()
        n = len(self.names)
        start = loop.time()
        j = 0
        while not stop.is_set():
            now = loop.time()
            while start + j / n * self.interval <= now:
                i, round_ = j % n, j // n
                if i not in self.stopped:
                    await self.publish(nc, i, round_, start + j / n * self.interval, now)
                j += 1
            await asyncio.sleep(max(0.002, start + j / n * self.interval - loop.time()))


# -- the watcher -------------------------------------------------------------------------


def fleet_config(path: Path, port: int, data: Path, webhook: str) -> Path:
    path.write_text(
        f"""# written by benchmarks/fleet.py
[fleet]
instance = "bench"
data_dir = "{data}"
log_level = "info"
silent_after_intervals = {SILENT_AFTER_INTERVALS:g}
bucket_prefix = "{BUCKET_PREFIX}"
heartbeat_stream = "{HEARTBEAT_STREAM}"
inventory_stream = "{INVENTORY_STREAM}"

[nats]
url = "nats://127.0.0.1:{port}"
subject_prefix = "{PREFIX}"
reconnect_delay_secs = 1

[alerting]
max_alerts_per_hour = 1000

[alerting.webhook]
enabled = true
url = "{webhook}"
retry_count = 1
"""
    )
    return path


WATCHER = [str(VENV_BIN / "sysops-fleet")]


def fleet_command(*args: str) -> list[str]:
    return [*WATCHER, *args]


async def kv_record(js: Any, bucket: str, key: str) -> dict[str, Any] | None:
    from nats.js.errors import BucketNotFoundError, KeyNotFoundError

    try:
        kv = await js.key_value(bucket)
        entry = await kv.get(key)
    except (BucketNotFoundError, KeyNotFoundError):
        return None
    if entry.value is None:
        return None
    try:
        value = json.loads(entry.value)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def wait_record(
    js: Any, bucket: str, key: str, want: dict[str, Any], timeout: float
) -> float | None:
    """Poll a KV key every 10 ms until its JSON has `want`'s items: the wall time, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = await kv_record(js, bucket, key)
        if record is not None and all(record.get(k) == v for k, v in want.items()):
            return time.time()
        await asyncio.sleep(0.01)
    return None


async def consumer_backlog(js: Any) -> int | None:
    """Inventories the CMDB's durable consumer has not acknowledged yet (None: no consumer)."""
    try:
        info = await js.consumer_info(INVENTORY_STREAM, f"{BUCKET_PREFIX}_cmdb")
    except Exception:
        return None
    return int(info.num_pending or 0) + int(info.num_ack_pending or 0)


async def ensure_streams(js: Any) -> None:
    """What the watcher creates, for --dry-run: the inventory stream as the agent's spec
    says, and a heartbeat stream keeping the latest heartbeat per host."""
    await ensure_stream(js, inventory_stream("SYSOPS", PREFIX, 256 * 2**20, 300.0))
    await ensure_stream(
        js, StreamSpec(HEARTBEAT_STREAM, (f"{PREFIX}.*.heartbeat",), 0.0, -1, 1, 120.0)
    )


# -- measurement -------------------------------------------------------------------------


@dataclass
class Window:
    """CPU and RSS of one process over a window, sampled once a second."""

    pid: int
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # (t, cpu s, rss MB)

    def sample(self) -> None:
        with contextlib.suppress(OSError):
            self.samples.append(
                (time.monotonic(), cpu_secs(self.pid), status_mb(self.pid, "VmRSS"))
            )

    def cpu_percent(self) -> float:
        (t0, c0, _), (t1, c1, _) = self.samples[0], self.samples[-1]
        return 100 * (c1 - c0) / (t1 - t0) if t1 > t0 else float("nan")

    def busiest_10s(self) -> float:
        """The highest CPU % over any 10 s of the window (NaN: shorter than 10 s)."""
        best = float("nan")
        for a, (t0, c0, _) in enumerate(self.samples):
            for t1, c1, _ in self.samples[a + 1 :]:
                if t1 - t0 >= 10:
                    value = 100 * (c1 - c0) / (t1 - t0)
                    best = value if not best >= value else best  # NaN-safe max
                    break
        return best

    def rss(self) -> tuple[float, float]:
        values = [r for _, _, r in self.samples]
        return sum(values) / len(values), max(values)


async def measure(secs: float, *pids: int) -> list[Window]:
    windows = [Window(pid) for pid in pids]
    end = time.monotonic() + secs
    while time.monotonic() < end:
        for window in windows:
            window.sample()
        await asyncio.sleep(min(1.0, max(0.0, end - time.monotonic())))
    for window in windows:
        window.sample()
    return windows


def simulator_report(fleet: Fleet, secs: float, sim_cpu: float, target: float) -> str:
    stats = fleet.stats
    rate = stats.heartbeats / secs
    lags = sorted(stats.lags) or [0.0]
    p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))]
    verdict = "ok" if rate >= 0.97 * target and p99 < fleet.interval / 20 else "SIMULATOR LAGGED"
    return (
        f"simulator: {rate:.1f} heartbeats/s (target {target:.1f}), "
        f"{stats.inventories / secs:.1f} inventories/s, {stats.bytes / secs / 1e6:.2f} MB/s, "
        f"lag p99 {p99 * 1000:.1f} ms max {lags[-1] * 1000:.1f} ms, "
        f"its CPU {100 * sim_cpu / secs:.1f} % of a core: {verdict}"
    )


# -- the phases --------------------------------------------------------------------------


async def dry_run(args: argparse.Namespace, port: int, server: subprocess.Popen[bytes]) -> None:
    import nats

    fleet = Fleet(args.hosts, args.interval, args.inventory_every, args.degraded)
    nc = await nats.connect(f"nats://127.0.0.1:{port}", pending_size=64 * 2**20)
    js = nc.jetstream()
    await ensure_streams(js)
    check_schemas(fleet)
    stop = asyncio.Event()
    task = asyncio.create_task(fleet.run(nc, stop))
    say(f"dry run: {args.hosts} hosts every {args.interval:g} s, {args.secs:g} s")
    fleet.stats.reset()
    sim0, t0 = time.process_time(), time.monotonic()
    [server_window] = await measure(args.secs, server.pid)
    secs, sim_cpu = time.monotonic() - t0, time.process_time() - sim0
    stop.set()
    await task
    await nc.flush()
    say(simulator_report(fleet, secs, sim_cpu, args.hosts / args.interval))
    say(
        f"nats-server: CPU {server_window.cpu_percent():.1f} % of a core, RSS max {server_window.rss()[1]:.0f} MB"
    )
    info = await js.stream_info(HEARTBEAT_STREAM)
    say(f"{HEARTBEAT_STREAM} holds {info.state.messages} messages (one per host: {args.hosts})")
    await nc.close()


def check_schemas(fleet: Fleet) -> None:
    """The simulated documents match the agent's published schemas (when jsonschema is there)."""
    try:
        import jsonschema  # type: ignore[import-untyped]
    except ImportError:
        say("(jsonschema not installed: the documents are not checked against docs/schemas)")
        return
    now = time.time()
    for kind, document in (
        ("heartbeat", fleet.heartbeat(0, now)),
        ("inventory", fleet.inventory(0, now)),
    ):
        if kind == "inventory" and not fleet.inventory_every:
            continue
        schema = json.loads((REPO / f"docs/schemas/{kind}.schema.json").read_text())
        jsonschema.validate(document, schema)
    sizes = ", ".join(
        f"{kind} {len(json.dumps(doc, separators=(',', ':')))} B"
        for kind, doc in (
            ("heartbeat", fleet.heartbeat(0, now)),
            ("inventory", fleet.inventory(0, now)),
        )
        if kind == "heartbeat" or fleet.inventory_every
    )
    say(f"simulated heartbeat and inventory match docs/schemas ({sizes})")


async def benchmark(
    args: argparse.Namespace, port: int, server: subprocess.Popen[bytes], work: Path
) -> int:
    import nats

    receiver = AlertReceiver()
    notify = NotifyListener(work / "notify.sock")
    (work / "data").mkdir(mode=0o700)
    config = fleet_config(work / "fleet.toml", port, work / "data", receiver.url)
    checked = subprocess.run(
        fleet_command("--config", str(config), "--validate"),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if checked.returncode != 0:
        say(f"the watcher refuses the benchmark's configuration (exit {checked.returncode}):")
        say(checked.stdout + checked.stderr)
        notify.close()
        receiver.close()
        return 1
    log = (work / "watcher.log").open("wb")
    env = {**os.environ, "NOTIFY_SOCKET": str(notify.path)}
    spawned = time.time()
    watcher = subprocess.Popen(
        fleet_command("--config", str(config), "run"), stdout=log, stderr=subprocess.STDOUT, env=env
    )
    nc = await nats.connect(f"nats://127.0.0.1:{port}", pending_size=64 * 2**20)
    js = nc.jetstream()
    interval = args.interval
    fleet = Fleet(args.hosts, interval, args.inventory_every, args.degraded)
    check_schemas(fleet)
    stop = asyncio.Event()
    sim: asyncio.Task[None] | None = None
    hosts_bucket = f"{BUCKET_PREFIX}_HOSTS"
    try:
        # start: READY=1 and the lease
        leader = await wait_record(
            js, f"{BUCKET_PREFIX}_LEADER", "leader", {"instance": "bench"}, 60
        )
        if watcher.poll() is not None:
            raise RuntimeError(f"the watcher exited with {watcher.returncode}")
        ready = notify.ready_at
        say(
            f"start: READY=1 after {(ready - spawned) if ready else float('nan'):.2f} s, "
            f"leader lease after {(leader - spawned) if leader else float('nan'):.2f} s, "
            f"VmRSS {status_mb(watcher.pid, 'VmRSS'):.1f} MB"
        )

        # warm-up
        sim = asyncio.create_task(fleet.run(nc, stop))
        t0 = time.monotonic()
        # Until every host has sent its inventory twice (the first one, then an unchanged
        # one): before that the CMDB is still storing first inventories, which a running
        # fleet does once per new host, not in its steady state.
        warm = max(2, fleet.inventory_every + 1) * interval
        await asyncio.sleep(warm)
        backlog = await consumer_backlog(js)
        while backlog and time.monotonic() - t0 < warm + args.catch_up_secs:
            await asyncio.sleep(1)
            backlog = await consumer_backlog(js)
        say(
            f"warm-up: {time.monotonic() - t0:.0f} s; CMDB consumer backlog {backlog} "
            f"(None: no consumer {BUCKET_PREFIX}_cmdb on {INVENTORY_STREAM})"
        )

        # steady state
        fleet.stats.reset()
        sim0, t0 = time.process_time(), time.monotonic()
        window, server_window = await measure(args.secs, watcher.pid, server.pid)
        secs, sim_cpu = time.monotonic() - t0, time.process_time() - sim0
        target = args.hosts / interval
        rate = fleet.stats.heartbeats / secs
        cpu = window.cpu_percent()
        rss_mean, rss_max = window.rss()
        hwm = status_mb(watcher.pid, "VmHWM")
        at = "the real rate" if args.speed == 1 else f"{args.speed:g}x the real rate"
        say(
            f"steady: watcher CPU {cpu:.2f} % of one core (busiest 10 s {window.busiest_10s():.2f} %) "
            f"at {rate:.1f} heartbeats/s ({at}); VmRSS mean {rss_mean:.1f} MB max {rss_max:.1f} MB, "
            f"VmHWM {hwm:.1f} MB; CMDB backlog {await consumer_backlog(js)}"
        )
        say(simulator_report(fleet, secs, sim_cpu, target))
        say(
            f"nats-server: CPU {server_window.cpu_percent():.1f} % of a core, VmRSS max {server_window.rss()[1]:.0f} MB"
        )
        if args.speed == 1:
            ok = cpu < GOAL_CPU_PERCENT and hwm < GOAL_RSS_MB
            say(
                f"goal (< {GOAL_CPU_PERCENT:g} % of one core, < {GOAL_RSS_MB:g} MB): {'met' if ok else 'NOT met'}"
            )
        say(f"watcher status: {notify.status!r}")

        # silence
        step = max(1, args.hosts // (args.probes + 1))
        probes = [step * (k + 1) + 1 for k in range(args.probes)]  # not the degraded ones
        stopped_at = time.time()
        fleet.stopped.update(probes)
        deadlines = {i: fleet.last_beat[i] + SILENT_AFTER_INTERVALS * interval for i in probes}
        timeout = max(deadlines.values()) + 3 * interval
        fired: dict[int, Received] = {}
        while len(fired) < len(probes) and time.time() < timeout:
            for i in probes:
                got = receiver.find(fleet.names[i], "firing", stopped_at)
                if got is not None:
                    fired.setdefault(i, got)
            await asyncio.sleep(0.02)
        for i in probes:
            got = fired.get(i)
            if got is None:
                say(f"silence: {fleet.names[i]}: no alert within 3 intervals of its deadline")
                continue
            epoch = float(got.record.get("epoch") or float("nan"))
            say(
                f"silence: {fleet.names[i]}: alert {got.arrived - deadlines[i]:+.2f} s after the "
                f"deadline (judged {epoch - deadlines[i]:+.2f} s; severity "
                f"{got.record.get('severity')}): {got.record.get('message')}"
            )
        for i in probes:
            record = await kv_record(js, hosts_bucket, fleet.tokens[i])
            say(f"  {hosts_bucket}[{fleet.tokens[i]}] = {json.dumps(record)[:300]}")

        # return
        for n, i in enumerate(probes):
            if n == 0:
                fleet.booted[i] = time.time() - 30.0  # came back from a reboot
                fleet.agent_started[i] = time.time() - 5.0
            fleet.stopped.discard(i)
            sent = await fleet.beat_now(nc, i)
            healthy = await wait_record(
                js,
                hosts_bucket,
                fleet.tokens[i],
                {"status": "degraded" if i in fleet.degraded else "healthy"},
                3 * interval,
            )
            resolved_by = time.time() + 3 * interval
            resolved = receiver.find(fleet.names[i], "resolved", sent)
            while resolved is None and time.time() < resolved_by:
                await asyncio.sleep(0.02)
                resolved = receiver.find(fleet.names[i], "resolved", sent)
            say(
                f"return: {fleet.names[i]}{' (rebooted)' if n == 0 else ''}: state "
                + (f"{healthy - sent:.3f} s" if healthy else "not healthy in KV within 3 intervals")
                + ", resolve alert "
                + (
                    f"{resolved.arrived - sent:.3f} s: {resolved.record.get('message')}"
                    if resolved
                    else "none"
                )
            )

        # a new host
        newcomer = Fleet(1, interval, 0, 0.0)
        newcomer.names = ["bench-new.example.com"]
        newcomer.tokens = [subject_token(newcomer.names[0])]
        sent = await newcomer.beat_now(nc, 0)
        seen = await wait_record(
            js, hosts_bucket, newcomer.tokens[0], {"status": "healthy"}, 2 * interval
        )
        say(
            "new host: "
            + (f"healthy in KV {seen - sent:.3f} s after its first heartbeat" if seen
               else "no KV record within 2 intervals (hosts shows it from the heartbeat stream)")
        )  # fmt: skip

        # hosts
        t0 = time.monotonic()
        listed = subprocess.run(
            fleet_command("--config", str(config), "hosts", "--format", "json"),
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        took = time.monotonic() - t0
        say(
            f"hosts --format json: exit {listed.returncode} in {took:.2f} s, {describe_hosts(listed.stdout)}"
        )
        info = await js.stream_info(HEARTBEAT_STREAM)
        say(
            f"{HEARTBEAT_STREAM}: {info.state.messages} messages; alerts received: {summarize(receiver.alerts)}"
        )
    finally:
        stop.set()
        if sim is not None:
            await sim
        await nc.close()
        if watcher.poll() is None:
            watcher.send_signal(signal.SIGTERM)
            try:
                watcher.wait(timeout=20)
            except subprocess.TimeoutExpired:
                watcher.kill()
                watcher.wait()
        log.close()
        notify.close()
        receiver.close()
        say(f"watcher exit code on SIGTERM: {watcher.returncode}")
        tail = (work / "watcher.log").read_text(errors="replace").splitlines()[-15:]
        say("watcher log (last lines):\n  " + "\n  ".join(tail))
        say(f"run took {time.time() - spawned:.0f} s")
    return 0 if watcher.returncode == 0 else 1


def describe_hosts(stdout: str) -> str:
    try:
        data = json.loads(stdout)
    except ValueError:
        return f"not JSON ({stdout[:80]!r})"
    rows = data.get("hosts", data) if isinstance(data, dict) else data
    if not isinstance(rows, list):
        return f"unexpected JSON {type(rows).__name__}"
    statuses: dict[str, int] = {}
    for row in rows:
        status = str(row.get("status")) if isinstance(row, dict) else "?"
        statuses[status] = statuses.get(status, 0) + 1
    return f"{len(rows)} hosts {statuses}"


def summarize(alerts: list[Received]) -> str:
    counts: dict[str, int] = {}
    for got in alerts:
        r = got.record
        key = f"{r.get('status')}/{r.get('severity')}/{r.get('analyzer')}/{r.get('metric')}"
        counts[key] = counts.get(key, 0) + 1
    return f"{len(alerts)} {counts}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument(
        "--speed", type=float, default=1.0, help="time compression: interval 60/K s"
    )
    parser.add_argument("--secs", type=float, default=120.0, help="steady-state window")
    parser.add_argument(
        "--probes", type=int, default=3, help="hosts stopped for the silence test (< 5)"
    )
    parser.add_argument(
        "--inventory-every", type=int, default=5, help="intervals between inventories (0: none)"
    )
    parser.add_argument(
        "--degraded", type=float, default=0.01, help="fraction of hosts degraded all along"
    )
    parser.add_argument(
        "--catch-up-secs", type=float, default=300.0, help="longest wait for the CMDB backlog"
    )
    parser.add_argument("--dry-run", action="store_true", help="nats-server and the simulator only")
    parser.add_argument(
        "--watcher",
        default=WATCHER[0],
        help="the sysops-fleet program (default .venv/bin/sysops-fleet; e.g. an installed one)",
    )
    args = parser.parse_args()
    if not 1 <= args.probes < 5:
        parser.error("--probes must be 1 to 4 (5 is mass_silence_min_hosts: one fleet-wide alert)")
    if args.hosts < 2 * (args.probes + 1):
        parser.error("--hosts too small for the probes")
    args.interval = REAL_INTERVAL_SECS / args.speed
    WATCHER[:] = args.watcher.split()
    say(
        f"{args.hosts} hosts, heartbeat every {args.interval:g} s ({args.hosts / args.interval:.1f}/s), "
        f"inventory every {args.inventory_every} intervals, speed {args.speed:g}"
    )
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        work = Path(tmp)
        with nats_server(work / "js") as (port, server):
            if args.dry_run:
                asyncio.run(dry_run(args, port, server))
                return 0
            return asyncio.run(benchmark(args, port, server, work))


if __name__ == "__main__":
    sys.exit(main())
