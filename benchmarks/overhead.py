"""What the agent costs the host, side by side with node_exporter and Glances.

    .venv/bin/python benchmarks/overhead.py [--duration 120] [--warmup 5] [--only NAME,...]
                                            [--starts 5] [--feature-costs]

Starts every target at once, each in its own session, and samples each whole
process tree from /proc once a second: CPU (utime+stime, and cutime+cstime of
reaped children) over `duration` seconds after `warmup`, RSS (average and peak)
and PSS from smaps_rollup (peak). Then stops each cleanly (SIGTERM, then
SIGKILL after 10 s) and prints

    name cpu_percent avg_rss_mb peak_rss_mb peak_pss_mb

plus the agent's ratios to node_exporter and Glances and the issue's goals.
Running them at the same time gives them the same machine conditions.

Targets (the harness's helpers are not counted):
  agent-embedded   config/embedded.toml: console channel, no NATS, seed intervals
  agent-full       NATS (a nats-server on loopback), Discord, Slack, Telegram,
                   webhook (a loopback HTTP stand-in) and email (a loopback SMTP
                   server) configured, syslog (a Unix datagram socket standing
                   in for /dev/log), log analyzer, SQLite history; Prometheus
                   off; seed intervals
  agent-leak       agent-full plus a tracked process leaking 1 MB/s, with the
                   leak analyzer's observation window shortened so it confirms
                   within the run: RSS after a confirmed candidate
  node-exporter    Debian's prometheus-node-exporter, scraped every 10 s
  glances          Glances from PyPI (.cache/glances-venv), -q --export csv -t 10
Missing node_exporter or Glances are installed (apt-get / pip) on first use.
Start-up: the time from spawn to the agent's READY=1 on a NOTIFY_SOCKET, which
it sends after its first successful collection, for each agent started alone
`--starts` times. `--feature-costs` then runs the full configuration with one
feature switched off at a time and prints each one's RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
GLANCES_VENV = REPO / ".cache" / "glances-venv"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024

# -- sampling a process tree from /proc -----------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from state on; comm may hold spaces


def session_members(sid: int) -> list[int]:
    """Every live process of the session (the target was started with setsid)."""
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[3]) == sid:  # field 6: session
                members.append(int(entry.name))
    return members


def tree_cpu_ticks(sid: int) -> int:
    total = 0
    for pid in session_members(sid):
        fields = _stat_fields(pid)
        if fields is None:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
        if pid == sid:
            total += int(fields[13]) + int(fields[14])  # cutime, cstime: reaped children
    return total


def tree_rss_pss(sid: int, with_pss: bool) -> tuple[int, int]:
    rss = pss = 0
    for pid in session_members(sid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
            if with_pss:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                        break
    return rss, pss


@dataclass
class Measurement:
    name: str
    cpu_start: int = 0
    cpu_end: int = 0
    seconds: float = 0.0
    rss: list[int] = field(default_factory=list)
    peak_pss: int = 0
    ready_after: float | None = None
    note: str = ""

    @property
    def cpu_percent(self) -> float:
        return (self.cpu_end - self.cpu_start) / TICKS / self.seconds * 100 if self.seconds else 0.0

    @property
    def avg_rss_mb(self) -> float:
        return sum(self.rss) / len(self.rss) / MB if self.rss else 0.0

    @property
    def peak_rss_mb(self) -> float:
        return max(self.rss) / MB if self.rss else 0.0

    @property
    def peak_pss_mb(self) -> float:
        return self.peak_pss / MB


# -- stand-ins the full configuration talks to (not counted) ----------------------------


class _Accept(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        # What each service answers on success: Slack's webhooks a plain "ok",
        # Telegram {"ok": true, ...}; Discord and the webhook any 2xx.
        slack = self.path.startswith("/services/")
        body = b"ok" if slack else b'{"ok": true, "result": {}}'
        self.send_response(200)
        self.send_header("Content-Type", "text/plain" if slack else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def stand_ins(work: Path) -> Iterator[dict[str, int]]:
    """A chat/webhook HTTP endpoint, an SMTP server, a nats-server on loopback, and a
    syslog socket (`syslog_socket(work)`, as /dev/log would be on a real host)."""
    syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    syslog.bind(str(syslog_socket(work)))
    threading.Thread(target=_drain, args=(syslog,), daemon=True).start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            return "250 OK"

    smtp_port = free_port()
    smtp = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    nats_binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    nats_port = free_port()
    nats = subprocess.Popen(
        [nats_binary, "-a", "127.0.0.1", "-p", str(nats_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield {"http": int(http.server_address[1]), "smtp": smtp_port, "nats": nats_port}
    finally:
        nats.terminate()
        nats.wait(10)
        smtp.stop()
        http.shutdown()
        syslog.close()


def syslog_socket(work: Path) -> Path:
    return work / "dev-log"


def _drain(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while sock.recv(65536):
            pass


# -- targets --------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    notify: bool = False  # measure start-up through NOTIFY_SOCKET
    stdout: Path | None = None
    during: Callable[[], None] | None = None  # called once a second while measured
    check: Callable[[], str] | None = None  # a note for the table after the run


def agent_config(work: Path, name: str, body: str) -> Path:
    data = work / f"{name}-data"
    path = work / f"{name}.toml"
    path.write_text(f'[agent]\ndata_dir = "{data}"\n\n{body}')
    path.chmod(0o600)
    return path


def full_config_body(work: Path, ports: dict[str, int], storage: str = "") -> str:
    url = f"http://127.0.0.1:{ports['http']}"
    return f"""
[log_analyzer]
enabled = true

[storage]
sqlite_enabled = true
{storage}

[nats]
enabled = true
url = "nats://127.0.0.1:{ports["nats"]}"

[alerting.discord]
enabled = true
webhook_url = "{url}/api/webhooks/1/discord"

[alerting.slack]
enabled = true
webhook_url = "{url}/services/T/B/slack"

[alerting.telegram]
enabled = true
bot_token = "123:telegram"
chat_id = "-100123"
api_url = "{url}"

[alerting.email]
enabled = true
smtp_host = "127.0.0.1"
smtp_port = {ports["smtp"]}
smtp_tls = "none"
min_severity = "warn"  # not only critical: the leak alert reaches every channel
from = "agent@localhost"
to = ["oncall@localhost"]

[alerting.webhook]
enabled = true
url = "{url}/ingest"

[alerting.syslog]
enabled = true
address = "{syslog_socket(work)}"
"""


def leaking_process(work: Path) -> subprocess.Popen[bytes]:
    """A process named `leaky-bench` whose RSS grows 1 MB a second (up to 400 MB)."""
    link = work / "leaky-bench"
    link.symlink_to(sys.executable)
    code = (
        "import time\nheld = []\nfor _ in range(400):\n"
        "    held.append(bytearray(1 << 20)); held[-1][::4096] = b'x' * 256; time.sleep(1)\n"
        "time.sleep(3600)\n"
    )
    return subprocess.Popen([str(link), "-c", code], start_new_session=True)


def ensure_node_exporter() -> str:
    found = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"
    if not Path(found).exists():
        print("installing Debian's prometheus-node-exporter ...", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["/usr/bin/apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            [
                "/usr/bin/apt-get",
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "prometheus-node-exporter",
            ],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
    return found


def ensure_glances() -> str:
    binary = GLANCES_VENV / "bin" / "glances"
    if not binary.exists():
        print("installing Glances into .cache/glances-venv ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(GLANCES_VENV)], check=True)
        subprocess.run([str(GLANCES_VENV / "bin" / "pip"), "install", "-q", "glances"], check=True)
    return str(binary)


def version_of(argv: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    return "?"


UNIT = REPO / "deploy" / "systemd" / "sysops-agent.service"


def unit_environment() -> dict[str, str]:
    """The Environment= assignments of the agent's systemd unit."""
    found: dict[str, str] = {}
    for line in UNIT.read_text().splitlines():
        if line.startswith("Environment="):
            for assignment in line.removeprefix("Environment=").split():
                name, _, value = assignment.partition("=")
                found[name] = value
    return found


def deployed_python_env() -> dict[str, str]:
    """The agent's environment as its unit runs it (docstrings stripped, from compiled
    bytecode), the bytecode compiled first into the venv's cache as an install does:
    the agent is measured as it runs on a host, not as a checkout runs it."""
    env = {**unit_environment(), "PYTHONPYCACHEPREFIX": str(VENV_BIN.parent / "pycache")}
    subprocess.run(
        [str(VENV_BIN / "python"), "-m", "agent.bytecode"],
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=900,
    )
    return env


def build_targets(work: Path, ports: dict[str, int], wanted: set[str]) -> list[Target]:
    agent = str(VENV_BIN / "sysops-agent")
    deployed = deployed_python_env()
    embedded = (REPO / "config" / "embedded.toml").read_text().split("[thresholds]", 1)[1]
    targets: list[Target] = []
    if "agent-embedded" in wanted:
        config = agent_config(work, "embedded", "[thresholds]" + embedded)
        targets.append(
            Target("agent-embedded", [agent, "--config", str(config)], deployed, notify=True)
        )
    if "agent-full" in wanted:
        config = agent_config(work, "full", full_config_body(work, ports))
        targets.append(
            Target("agent-full", [agent, "--config", str(config)], deployed, notify=True)
        )
    if "agent-leak" in wanted:
        # Buckets of 10 s and 72 s of observation instead of 60 s and an hour; 4 h
        # of history (and of trend and record windows) keeps the default 1,440
        # buckets, so the store is the same size.
        storage = "history_resolution_secs = 10\nhistory_hours = 4"
        body = (
            full_config_body(work, ports, storage=storage)
            + """
[alerting.console]
enabled = true

[collector]
process_track_patterns = ["^leaky-bench$"]
process_interval_secs = 10

[analyzer]
leak_min_observation_hours = 0.02
leak_r_squared_threshold = 0.8
trend_window_hours = 4
anomaly_record_hours = 4
"""
        )
        config = agent_config(work, "leak", body)
        out = work / "leak.out"

        def leak_note() -> str:
            lines = [line for line in out.read_text().splitlines() if "leak" in line.lower()]
            return "leak confirmed" if lines else "NO leak alert"

        targets.append(
            Target(
                "agent-leak",
                [agent, "--config", str(config)],
                deployed,
                stdout=out,
                check=leak_note,
            )
        )
    if "node-exporter" in wanted:
        binary = ensure_node_exporter()
        port = free_port()
        argv = [binary, f"--web.listen-address=127.0.0.1:{port}"]
        last = [0.0]

        def scrape() -> None:
            if time.monotonic() - last[0] >= 10:
                last[0] = time.monotonic()
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()

        targets.append(Target("node-exporter", argv, during=scrape))
    if "glances" in wanted:
        binary = ensure_glances()
        argv = [
            binary,
            "-q",
            "--export",
            "csv",
            "--export-csv-file",
            str(work / "glances.csv"),
            "-t",
            "10",
        ]
        targets.append(Target("glances", argv))
    return targets


# -- the run --------------------------------------------------------------------------


@dataclass
class Running:
    target: Target
    process: subprocess.Popen[bytes]
    started: float
    measurement: Measurement
    notify_socket: socket.socket | None = None


def start(target: Target, work: Path) -> Running:
    env = {**os.environ, **target.env}
    notify = None
    if target.notify:
        path = work / f"{target.name}.notify"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(path))
        notify.setblocking(False)
        env["NOTIFY_SOCKET"] = str(path)
    stdout = open(target.stdout, "wb") if target.stdout else subprocess.DEVNULL  # noqa: SIM115
    started = time.monotonic()
    process = subprocess.Popen(
        target.argv,
        env=env,
        cwd=work,
        stdout=stdout,
        stderr=open(work / f"{target.name}.err", "wb"),  # noqa: SIM115
        start_new_session=True,
    )
    return Running(target, process, started, Measurement(target.name), notify)


def poll_ready(run: Running) -> None:
    if run.notify_socket is None or run.measurement.ready_after is not None:
        return
    with contextlib.suppress(BlockingIOError):
        while True:
            message = run.notify_socket.recv(4096)
            if b"READY=1" in message.split(b"\n"):
                run.measurement.ready_after = time.monotonic() - run.started
                return


def stop(run: Running) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(run.process.pid, signal.SIGTERM)
    try:
        run.process.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.process.pid, signal.SIGKILL)
        run.process.wait(10)
        run.measurement.note += " (needed SIGKILL)"


def measure(targets: list[Target], work: Path, warmup: float, duration: float) -> list[Measurement]:
    runs = [start(t, work) for t in targets]
    try:
        begin = time.monotonic()
        while time.monotonic() - begin < warmup:
            for run in runs:
                poll_ready(run)
            time.sleep(0.05)
        for run in runs:
            if run.process.poll() is not None:
                raise SystemExit(
                    f"{run.target.name} exited: {(work / f'{run.target.name}.err').read_text()[-2000:]}"
                )
            run.measurement.cpu_start = tree_cpu_ticks(run.process.pid)
        measured_from = time.monotonic()
        tick = 0
        while time.monotonic() - measured_from < duration:
            for run in runs:
                poll_ready(run)
                if run.target.during:
                    run.target.during()
                rss, pss = tree_rss_pss(run.process.pid, with_pss=tick % 5 == 0)
                run.measurement.rss.append(rss)
                run.measurement.peak_pss = max(run.measurement.peak_pss, pss)
            tick += 1
            time.sleep(max(0.0, measured_from + tick - time.monotonic()))
        for run in runs:
            run.measurement.cpu_end = tree_cpu_ticks(run.process.pid)
            run.measurement.seconds = time.monotonic() - measured_from
            if run.process.poll() is not None:
                run.measurement.note += " (exited during the run)"
    finally:
        for run in runs:
            stop(run)
    for run in runs:
        if run.target.check:
            run.measurement.note += " " + run.target.check()
    return [run.measurement for run in runs]


def startup_times(targets: list[Target], work: Path, starts: int) -> dict[str, list[float]]:
    """Spawn-to-READY=1 of each agent target, started alone, `starts` times."""
    out: dict[str, list[float]] = {}
    for target in targets:
        if not target.notify:
            continue
        for attempt in range(starts):
            (work / f"start-{attempt}").mkdir(exist_ok=True)
            alone = Target(target.name, target.argv, target.env, notify=True)
            run = start(alone, work / f"start-{attempt}")
            deadline = time.monotonic() + 10
            while run.measurement.ready_after is None and time.monotonic() < deadline:
                poll_ready(run)
                time.sleep(0.005)
            stop(run)
            assert run.notify_socket is not None
            run.notify_socket.close()
            if run.measurement.ready_after is not None:
                out.setdefault(target.name, []).append(run.measurement.ready_after)
    return out


def report(results: list[Measurement], duration: float, warmup: float) -> None:
    print(f"\n{duration:.0f} s measured after a {warmup:.0f} s warm-up, all targets at once; "
          f"{os.cpu_count()} CPUs; cpu_percent is of one core")  # fmt: skip
    print(
        f"{'name':<16} {'cpu_percent':>11} {'avg_rss_mb':>10} {'peak_rss_mb':>11} {'peak_pss_mb':>11}  notes"
    )
    for m in results:
        ready = f"first collection after {m.ready_after:.2f} s" if m.ready_after is not None else ""
        print(f"{m.name:<16} {m.cpu_percent:>11.3f} {m.avg_rss_mb:>10.1f} {m.peak_rss_mb:>11.1f} "
              f"{m.peak_pss_mb:>11.1f}  {ready}{m.note}")  # fmt: skip
    by_name = {m.name: m for m in results}
    for ours in ("agent-embedded", "agent-full"):
        for other in ("node-exporter", "glances"):
            a, b = by_name.get(ours), by_name.get(other)
            if a and b and b.cpu_percent and b.avg_rss_mb:
                print(f"{ours} / {other}: cpu x{a.cpu_percent / b.cpu_percent:.2f}, "
                      f"avg rss x{a.avg_rss_mb / b.avg_rss_mb:.2f}, peak pss x{a.peak_pss_mb / b.peak_pss_mb:.2f}")  # fmt: skip
    # Issue 17: full features <= 60 MB (httpx for every web channel), below Netdata's 67-78 MB.
    goals = [
        ("agent-embedded", 0.15, 40.0),
        ("agent-full", 0.25, 60.0),
        ("agent-leak", None, 60.0),
    ]
    for name, cpu_goal, rss_goal in goals:
        m = by_name.get(name)
        if m is None:
            continue
        verdicts = []
        if cpu_goal is not None:
            verdicts.append(
                f"cpu {m.cpu_percent:.3f} % <= {cpu_goal} %: {_ok(m.cpu_percent <= cpu_goal)}"
            )
        verdicts.append(
            f"peak rss {m.peak_rss_mb:.1f} MB <= {rss_goal:.0f} MB: {_ok(m.peak_rss_mb <= rss_goal)}"
        )
        if m.ready_after is not None:
            verdicts.append(
                f"start to first collection {m.ready_after:.2f} s <= 1 s: {_ok(m.ready_after <= 1)}"
            )
        print(f"goal {name}: " + "; ".join(verdicts))


def _ok(passed: bool) -> str:
    return "met" if passed else "NOT MET"


def _without(body: str, section: str) -> str:
    """The configuration text without one [section] table."""
    return re.sub(r"\n\[" + re.escape(section) + r"\]\n(?:[^\[\n].*\n)*", "\n", body)


def feature_costs(work: Path, ports: dict[str, int], seconds: float = 40.0) -> None:
    """RSS of the full configuration with one feature switched off at a time (all at once)."""
    deployed = deployed_python_env()
    full = full_config_body(work, ports)
    web = full
    for section in ("alerting.discord", "alerting.slack", "alerting.telegram", "alerting.webhook"):
        web = _without(web, section)
    no_history = full.replace("sqlite_enabled = true", "sqlite_enabled = false")
    variants = {
        "full": full,
        "no web channels": web,
        "no NATS": _without(full, "nats"),
        "no SQLite history": no_history,
        "no email": _without(full, "alerting.email"),
        "none of these": _without(_without(web, "nats"), "alerting.email").replace(
            "sqlite_enabled = true", "sqlite_enabled = false"
        ),
    }
    running = {}
    for name, body in variants.items():
        config = agent_config(work, "variant-" + name.replace(" ", "-"), body)
        running[name] = subprocess.Popen(
            [str(VENV_BIN / "sysops-agent"), "--config", str(config)],
            env={**os.environ, **deployed},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    time.sleep(seconds)
    print(f"\nfull configuration with one feature off, RSS after {seconds:.0f} s:")
    base = None
    for name, process in running.items():
        rss = tree_rss_pss(process.pid, with_pss=False)[0] / MB
        base = rss if base is None else base
        print(f"  {name:<18} {rss:6.1f} MB  ({rss - base:+.1f})")
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    names = ["agent-embedded", "agent-full", "agent-leak", "node-exporter", "glances"]
    parser.add_argument("--only", default=",".join(names), help="comma-separated targets")
    parser.add_argument(
        "--starts", type=int, default=5, help="solo starts per agent for the start-up time"
    )
    parser.add_argument(
        "--feature-costs", action="store_true", help="also: full RSS with each feature off"
    )
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    unknown = wanted - set(names)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))} (known: {', '.join(names)})")
    with tempfile.TemporaryDirectory(prefix="overhead-") as tmp, stand_ins(Path(tmp)) as ports:
        work = Path(tmp)
        targets = build_targets(work, ports, wanted)
        leak = leaking_process(work) if "agent-leak" in wanted else None
        try:
            print("versions: " + "; ".join(
                f"{t.name}: {version_of([t.argv[0], '--version'])}" for t in targets
            ))  # fmt: skip
            starts = startup_times(targets, work, args.starts) if args.starts else {}
            results = measure(targets, work, args.warmup, args.duration)
        finally:
            if leak is not None:
                os.killpg(leak.pid, signal.SIGKILL)
                leak.wait()
    report(results, args.duration, args.warmup)
    if args.feature_costs:
        with tempfile.TemporaryDirectory(prefix="overhead-") as tmp, stand_ins(Path(tmp)) as ports:
            feature_costs(Path(tmp), ports)
    for name, seconds in starts.items():
        seconds.sort()
        print(f"start to first collection, {name} started alone {len(seconds)} times: "
              f"median {seconds[len(seconds) // 2]:.2f} s, max {seconds[-1]:.2f} s (goal <= 1 s: "
              f"{_ok(seconds[-1] <= 1.0)})")  # fmt: skip


if __name__ == "__main__":
    main()
