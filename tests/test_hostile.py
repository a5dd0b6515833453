"""Hostile input (#20): each test reproduces one finding of the red-team pass.

A local user, a log writer, a network peer or a config author controls the
input here; the agent must neither freeze, leak, crash nor say something false.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import typing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest

import agent.runtime as agent_runtime
from agent.cli import run_daemon
from agent.collectors.agent_self import SelfCollector
from agent.collectors.base import Samples
from agent.collectors.network import NetworkCollector
from agent.collectors.process import ProcessCollector, parse_pid_stat
from agent.config import MAX_SECRET_FILE_BYTES, ConfigError, load_config, parse_config_text
from agent.runtime import Agent
from agent.settings import Settings
from agent.store import Store
from alerting.alert import Alert, Severity, Status
from alerting.channels.console import ConsoleChannel
from alerting.channels.syslog import SyslogChannel
from alerting.channels.webhook import WebhookChannel
from alerting.delivery import ChannelWorker
from analyzers.base import SeriesKey
from analyzers.threshold import ThresholdAnalyzer, ThresholdRule
from common.logsetup import TEXT_FORMAT, ScrubbingFormatter
from common.text import single_line
from tests.conftest import agent_command, run_agent, spawn_agent, wait_until, write_config
from tests.test_nats_channel import free_port, nats_server_binary
from tests.test_threshold import run

# Collectors that read nothing of interest: these tests look at other things.
_QUIET = """
[collector]
disabled = ["disk", "network", "process", "numa", "edac", "pressure", "gpu", "fd"]
[log_analyzer]
enabled = false
"""

# --------------------------------------------------------------------------- 13a


def test_de_escalation_names_the_level_actually_crossed() -> None:
    # warn 20, critical 30, clear 10: critical clears at 30 - (20 - 10) = 20.
    rule = ThresholdRule("disk_used_percent", warn=20, critical=30, clear=10)
    alerts = run(ThresholdAnalyzer([rule]), [35.0, 14.6], SeriesKey.of("disk_used_percent"))
    down = alerts[-1]
    assert (down.status, down.severity) == (Status.ESCALATED, Severity.WARN)
    assert "above the warn level" not in down.message
    assert down.message == (
        "disk_used_percent is now 14.6%, below 20% where the critical level 30% clears; "
        "warn until back past 10%"
    )
    assert down.threshold == 20.0


def test_de_escalation_of_a_below_rule_says_above() -> None:
    rule = ThresholdRule("disk_free_percent", warn=20, critical=10, clear=25, below=True)
    alerts = run(ThresholdAnalyzer([rule]), [5.0, 16.0], SeriesKey.of("disk_free_percent"))
    assert alerts[-1].message == (
        "disk_free_percent is now 16%, above 15% where the critical level 10% clears; "
        "warn until back past 25%"
    )


# --------------------------------------------------------------------------- 10


def test_stat_parsed_by_the_last_paren_over_the_whole_file() -> None:
    tail = b" ".join([b"S"] + [b"1"] * 40)
    parsed = parse_pid_stat(b"42 (a)\n) 1 2 b) " + tail + b"\n")
    assert parsed.raw_comm == b"a)\n) 1 2 b"
    assert parsed.state == b"S"


_HIDER = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(15, b"hid\ner)x", 0, 0, 0) != 0:  # PR_SET_NAME
    sys.exit("prctl failed")
big = b"\x01" * (1 << 30)  # resident, so it is the top RSS consumer
print("ready", flush=True)
sys.stdin.read()
"""


def test_a_process_with_a_newline_in_its_name_is_in_top_n() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _HIDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        comm = Path(f"/proc/{child.pid}/comm").read_bytes()
        assert comm == b"hid\ner)x\n"
        collector = ProcessCollector(Path("/proc"), top_n=5)
        samples = collector.collect()
        rss = {
            dict(k.labels)["pid"]: dict(k.labels)["comm"]
            for k in samples.keys
            if k.metric == "process_rss_bytes"
        }
        assert rss.get(str(child.pid)) == "hid\ner)x"
    finally:
        child.kill()
        child.wait()


# --------------------------------------------------------------------------- 5

_USERINFO_CONFIG = """
[agent]
data_dir = "data"
[nats]
enabled = true
url = "nats://alice:s3cretpw@127.0.0.1:{port}"
urls = ["nats://alice:s3cretpw@127.0.0.1:{port}", "tls://tok3n-only@10.0.0.2:4222"]
reconnect_delay_secs = 0.2
[alerting.webhook]
enabled = true
url = "https://u:pw12345@example.com/hook"
"""


def test_validate_masks_userinfo_of_every_url(tmp_path: Path) -> None:
    config = write_config(tmp_path, _USERINFO_CONFIG.format(port=4222), mode=0o644)
    result = run_agent("--config", str(config), "--validate")
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    for leaked in ("s3cretpw", "alice", "tok3n-only", "pw12345"):
        assert leaked not in out
    assert 'url = "nats://***@127.0.0.1:4222"' in out
    assert "tls://***@10.0.0.2:4222" in out
    # A password in a plain-string key makes the file secret-bearing, like a token would.
    assert "contains secrets and is world-readable" in result.stderr


def test_a_bad_url_in_an_error_message_is_masked(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[alerting.telegram]\napi_url = "ftp://u:pw12345@h/x"\n')
    result = run_agent("--config", str(config), "--validate")
    assert result.returncode == 2
    assert "pw12345" not in result.stderr and "ftp://***@h/x" in result.stderr


@pytest.mark.e2e
def test_connected_to_nats_log_line_has_no_password(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port),
         "--user", "alice", "--pass", "s3cretpw"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    config = write_config(tmp_path, _USERINFO_CONFIG.format(port=port) + _QUIET)
    agent = spawn_agent(tmp_path, "--config", str(config), "--log-level", "info")
    lines: list[str] = []
    try:
        assert agent.stderr is not None
        reader = threading.Thread(target=lambda: lines.extend(agent.stderr or ()), daemon=True)
        reader.start()
        wait_until(
            lambda: any("connected to NATS" in line for line in lines),
            30,
            "the telemetry's connected line",
        )
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
        server.terminate()
        server.wait(10)
    text = "".join(lines)
    assert f"connected to NATS 127.0.0.1:{port}" in text
    assert "s3cretpw" not in text and "alice" not in text


# --------------------------------------------------------------------------- 8


def _numeric_fields() -> list[tuple[str, dict[str, object]]]:
    out: list[tuple[str, dict[str, object]]] = []

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            parts = [a for a in (typing.get_args(tp) or (tp,)) if a is not type(None)]
            for part in parts:
                inner = typing.get_args(part) or (part,)
                for sub in inner:
                    if isinstance(sub, type) and dataclasses.is_dataclass(sub):
                        walk(sub, f"{prefix}{f.name}.")
            if any(p in (int, float) for p in parts):
                out.append((f"{prefix}{f.name}", dict(f.metadata)))

    walk(Settings, "")
    return out


def test_every_numeric_key_has_both_bounds() -> None:
    fields = _numeric_fields()
    assert len(fields) > 60
    unbounded = [
        name
        for name, meta in fields
        if meta.get("le") is None or (meta.get("ge") is None and meta.get("gt") is None)
    ]
    assert unbounded == []


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("analyzer", "anomaly_record_hours", "1e306"),
        ("analyzer", "trend_window_hours", "1e306"),
        ("analyzer", "leak_min_observation_hours", "1e306"),
        ("analyzer", "zscore_window", "1000000000000"),
        ("storage", "history_resolution_secs", "1e-300"),
        ("collector", "cpu_interval_secs", "1e-9"),
        ("agent", "collect_interval_secs", "nan"),
        ("nats", "heartbeat_interval_secs", "inf"),
        ("thresholds", "memory_percent", "{ warn = 80, critical = 1e308 }"),
    ],
)
def test_values_that_would_overflow_or_allocate_without_limit_exit_2(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    config = write_config(tmp_path, f"[{section}]\n{key} = {value}\n")
    result = run_agent("--config", str(config), "--validate", timeout=20)
    assert result.returncode == 2, result.stdout
    assert f":2: {section}.{key}" in result.stderr
    assert "Traceback" not in result.stderr


def test_secret_file_that_is_dev_zero_is_refused_quickly_with_bounded_memory(
    tmp_path: Path,
) -> None:
    config = write_config(
        tmp_path,
        '[alerting.webhook]\nenabled = true\nurl = "https://example.com/hook"\n'
        'hmac_secret = "${file:/dev/zero}"\n',
    )
    # Started from a small Python that reports its child's peak RSS: a child forked from this
    # test process would be charged this process's own peak at exec (the kernel keeps the
    # larger), which after hundreds of tests can exceed the bound by itself.
    reporter = (
        "import os, subprocess, sys\n"
        "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
        "_, status, usage = os.wait4(child.pid, 0)\n"
        "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss,"
        " usage.ru_utime + usage.ru_stime)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", reporter, *agent_command("--config", str(config), "--validate")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    code, maxrss, cpu = result.stdout.split()
    assert int(code) == 2, result.stderr
    assert "cannot read secret file /dev/zero: not a regular file" in result.stderr
    # Reading zeros costs the child CPU time; its own CPU time, unlike the wall clock, does
    # not grow when the host is busy, so the bound holds on a loaded machine.
    assert float(cpu) < 15
    assert int(maxrss) < 200 * 1024  # KiB: the interpreter, not gigabytes of zeros


def test_secret_file_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "token"
    os.mkfifo(fifo)
    config = write_config(
        tmp_path,
        '[alerting.webhook]\nenabled = true\nurl = "https://example.com/hook"\n'
        f'hmac_secret = "${{file:{fifo}}}"\n',
    )
    result = run_agent("--config", str(config), "--validate", timeout=20)
    assert result.returncode == 2
    assert f"cannot read secret file {fifo}: not a regular file" in result.stderr


def test_secret_file_behind_a_symlink_is_read_and_a_big_one_refused(tmp_path: Path) -> None:
    real = tmp_path / "..data" / "token"
    real.parent.mkdir()
    real.write_text("tok-behind-a-link\n")
    link = tmp_path / "token"
    link.symlink_to(real)  # how Kubernetes and Docker mount secrets
    big = tmp_path / "big"
    big.write_bytes(b"x" * (MAX_SECRET_FILE_BYTES + 1))
    ok = write_config(tmp_path, f'[nats]\ntoken = "${{file:{link}}}"\n', name="ok.toml")
    assert run_agent("--config", str(ok), "--validate").returncode == 0
    loaded = parse_config_text(f'[nats]\ntoken = "${{file:{link}}}"\n')
    assert loaded.settings.nats.token is not None
    assert loaded.settings.nats.token.reveal() == "tok-behind-a-link"
    bad = write_config(  # an enabled section: a disabled one leaves its secrets unresolved
        tmp_path, f'[nats]\nenabled = true\ntoken = "${{file:{big}}}"\n', name="bad.toml"
    )
    result = run_agent("--config", str(bad), "--validate")
    assert result.returncode == 2 and "larger than 64 KiB" in result.stderr


# --------------------------------------------------------------------------- 11

_HOSTILE = "a\nb\rc\x1b[2Jd\x07e\x00f\x9b31mg\u202eh\u2028i\u2029j\u2066k\x85l"
_RAW_UNSAFE = ["\n", "\r", "\x1b", "\x07", "\x00", "\x9b", "\u202e", "\u2028", "\u2029", "\u2066", "\x85"]  # fmt: skip


def _hostile_alert(**labels: str) -> Alert:
    return Alert(
        analyzer="log",
        metric="log_custom",
        labels=tuple(sorted(labels.items())),
        status=Status.FIRING,
        severity=Severity.WARN,
        value=1.0,
        threshold=None,
        message="disk " + _HOSTILE,
        timestamp=time.time(),
        hostname="web-01",
    )


def test_single_line_escapes_c0_c1_bidi_and_separators() -> None:
    out = single_line(_HOSTILE)
    assert not any(c in out for c in _RAW_UNSAFE)
    assert out == (
        "a\\x0ab\\x0dc\\x1b[2Jd\\x07e\\x00f\\x9b31mg\\u202eh\\u2028i\\u2029j\\u2066k\\x85l"
    )
    assert single_line("x" * 10 + "\x1b", limit=12) == "x" * 10 + "…"  # never half an escape


def test_console_shows_hostile_text_on_one_harmless_line() -> None:
    stream = io.StringIO()
    asyncio.run(ConsoleChannel(stream=stream).send([_hostile_alert()]))
    out = stream.getvalue()
    assert out.count("\n") == 1 and out.endswith("\n")
    assert not any(c in out[:-1] for c in _RAW_UNSAFE)


def _syslog_datagram(tmp_path: Path, alert: Alert) -> bytes:
    path = tmp_path / "log.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.settimeout(5)
    try:
        asyncio.run(SyslogChannel(address=str(path)).send([alert]))
        return receiver.recv(65536)
    finally:
        receiver.close()


def _parse_structured_data(text: str) -> tuple[dict[str, str], str]:
    """RFC 5424 SD-ELEMENT with escaped PARAM-VALUEs; returns (params, the rest: MSG)."""
    assert text.startswith("[alert@32473 ")
    i, params = len("[alert@32473 "), {}
    while text[i] != "]":
        eq = text.index("=", i)
        name = text[i:eq]
        assert text[eq + 1] == '"'
        i, value = eq + 2, []
        while text[i] != '"':
            if text[i] == "\\":
                assert text[i + 1] in '"\\]', "only these three may be escaped"
                i += 1
            else:
                assert text[i] not in '"]', "unescaped quote or bracket inside a value"
            value.append(text[i])
            i += 1
        params[name] = "".join(value)
        i += 1
        if text[i] == " ":
            i += 1
    assert text[i + 1] == " "
    return params, text[i + 2 :]


def test_syslog_labels_are_single_line_and_the_message_survives_a_10k_label(
    tmp_path: Path,
) -> None:
    datagram = _syslog_datagram(
        tmp_path, _hostile_alert(app=_HOSTILE, big='é"]\\' * 2500, zz="after")
    )
    text = datagram.decode("utf-8")  # strict: never cut inside a character
    assert len(datagram) <= 2048
    assert not any(c in text for c in _RAW_UNSAFE)
    header, _, rest = text.partition(" - ")
    assert header.startswith("<28>1 ")
    params, message = _parse_structured_data(rest)
    assert params["app"] == single_line(_HOSTILE)
    assert params["big"].startswith('é"]\\é') and params["big"].endswith("…")
    assert params["metric"] == "log_custom"
    assert message.startswith("WARN disk a\\x0ab")


@pytest.mark.e2e
def test_a_servers_error_body_cannot_forge_an_agent_log_line() -> None:
    forged = "bad\n2026-01-01 00:00:00,000 CRITICAL agent.runtime: FORGED LOG LINE\x1b[2J"

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = forged.encode()
            self.send_response(400)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A 0.02 s poll: shutdown() returns promptly instead of after serve_forever's 0.5 s default.
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(ScrubbingFormatter(TEXT_FORMAT))
    logger = logging.getLogger("alerting")
    logger.addHandler(handler)
    try:
        host, port = server.server_address[:2]
        channel = WebhookChannel(f"http://{host}:{port}/hook")

        async def scenario() -> None:
            worker = ChannelWorker(channel, backoff_base=0.01, group_wait=0.0)
            worker.start()
            worker.submit(_hostile_alert())
            assert await worker.drain(30.0)
            await worker.stop()

        asyncio.run(scenario())
    finally:
        logger.removeHandler(handler)
        server.shutdown()
        server.server_close()
    text = out.getvalue()
    assert "FORGED LOG LINE" in text  # it is logged, as data inside our line
    assert not any(line.startswith("2026-01-01") for line in text.splitlines())
    assert "\x1b" not in text


# --------------------------------------------------------------------------- 7

_RELOAD_BASE = """
[agent]
data_dir = "{data}"
[collector]
cpu_interval_secs = 0.1
disabled = ["memory", "disk", "network", "process", "numa", "edac", "pressure", "gpu", "fd"]
[log_analyzer]
enabled = false
[inventory]
enabled = false
"""
_NATS_TLS = """
[nats]
enabled = true
url = "tls://127.0.0.1:9"
tls_ca_file = "{ca}"
"""


def test_validate_names_a_missing_or_broken_ca_file(tmp_path: Path) -> None:
    missing = tmp_path / "nats-ca.pem"
    config = write_config(tmp_path, _NATS_TLS.format(ca=missing))
    result = run_agent("--config", str(config), "--validate")
    assert result.returncode == 2
    assert f"nats.tls_ca_file: {missing}: No such file or directory" in result.stderr
    missing.write_text("not a certificate\n")
    result = run_agent("--config", str(config), "--validate")
    assert result.returncode == 2
    assert f"nats.tls_ca_file: cannot load {missing}:" in result.stderr


@pytest.mark.parametrize("nkeys_installed", [True, False])
def test_a_creds_file_without_the_nkeys_package_is_refused_where_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nkeys_installed: bool
) -> None:
    """nats-py reads a .creds file with nkeys: without it the daemon logged a
    ModuleNotFoundError every 5 s and never connected, after `--validate` said valid."""
    import alerting.settings

    real = alerting.settings.installed
    monkeypatch.setattr(  # the one fact faked: whether the package is on this install
        alerting.settings, "installed", lambda m: nkeys_installed if m == "nkeys" else real(m)
    )
    creds = tmp_path / "agent.creds"
    creds.write_text("-----BEGIN NATS USER JWT-----\n")
    text = f'[nats]\nenabled = true\nurl = "nats://127.0.0.1:9"\ncredential_file = "{creds}"\n'
    if nkeys_installed:
        parse_config_text(text, "c.toml")
        return
    with pytest.raises(ConfigError) as refused:
        parse_config_text(text, "c.toml")
    assert "c.toml:4: nats.credential_file: a .creds file needs the nkeys package" in str(
        refused.value
    )


def test_a_channel_that_cannot_be_built_at_start_exits_2_naming_the_file(
    tmp_path: Path, certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(certificate[0].read_bytes())
    config = write_config(tmp_path, _RELOAD_BASE.format(data=tmp_path) + _NATS_TLS.format(ca=ca))
    loaded = load_config(config)  # valid now ...
    ca.unlink()  # ... and the file is gone when the daemon builds its channels
    with caplog.at_level(logging.CRITICAL):
        assert run_daemon(loaded, str(config)) == 2
    assert f"nats.tls_ca_file: {ca}: No such file or directory" in caplog.text
    assert "Traceback" not in caplog.text


def test_a_start_that_cannot_write_its_pid_file_or_make_its_data_dir_names_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ "cannot run: [Errno 2] No such file or directory" named no key.  (The pid file's
    directory is not checked up front: systemd makes /run/<name> when the service starts.)"""
    base = _RELOAD_BASE.format(data=tmp_path / "data")
    missing = tmp_path / "run" / "agent.pid"
    config = write_config(tmp_path, base.replace("[agent]\n", f'[agent]\npid_file = "{missing}"\n'))
    with caplog.at_level(logging.CRITICAL):
        assert run_daemon(load_config(config), str(config)) == 1
    assert f"agent.pid_file: {missing}: No such file or directory" in caplog.text
    caplog.clear()
    made_later = tmp_path / "made-later"  # a file where data_dir goes, made after --validate
    loaded = load_config(write_config(tmp_path, _RELOAD_BASE.format(data=made_later)))
    made_later.write_text("")
    with caplog.at_level(logging.CRITICAL):  # the configuration's own check, named again
        assert run_daemon(loaded, "agent.toml") == 2
    assert f"agent.data_dir: {made_later}: not a directory" in caplog.text
    caplog.clear()  # a procfs that is not there: every collector failed under "started"
    no_proc = write_config(
        tmp_path, base.replace("[agent]\n", f'[agent]\nprocfs = "{tmp_path}/no-proc"\n')
    )
    with caplog.at_level(logging.CRITICAL):
        assert run_daemon(load_config(no_proc), str(no_proc)) == 1
    assert f"agent.procfs: {tmp_path}/no-proc: not a directory" in caplog.text


@pytest.mark.e2e
def test_a_reload_that_cannot_build_keeps_the_old_runtime_and_its_collectors(
    tmp_path: Path,
    certificate: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = _RELOAD_BASE.format(data=tmp_path / "data")
    config = write_config(tmp_path, base)
    ca = tmp_path / "ca.pem"

    # The CA file vanishes between the configuration check and the channel build: the
    # narrowest boundary there is, and the failure itself is OpenSSL's own.
    real_build = agent_runtime.build_channels

    def build_after_the_file_went(settings: Settings, only: str | None = None) -> list[object]:
        ca.unlink(missing_ok=True)
        return real_build(settings, only)

    async def scenario() -> tuple[Agent, list[bool]]:
        agent = Agent(load_config(config), str(config))
        runner = asyncio.create_task(agent.run())
        results = []

        async def ticks_grow() -> None:
            start = agent.ticks["cpu"]
            deadline = time.monotonic() + 20
            while agent.ticks["cpu"] < start + 3:
                assert time.monotonic() < deadline, "the cpu collector stopped sampling"
                await asyncio.sleep(0.05)

        await ticks_grow()
        workers = list(agent.router.workers)
        # A missing CA file: refused by the configuration check, before anything stops.
        config.write_text(base + _NATS_TLS.format(ca=ca))
        results.append(await agent.reload())
        await ticks_grow()
        # The file passes the check, then the build fails: still nothing stops.
        ca.write_bytes(certificate[0].read_bytes())
        monkeypatch.setattr(agent_runtime, "build_channels", build_after_the_file_went)
        results.append(await agent.reload())
        await ticks_grow()
        assert agent.router.workers == workers and not agent.settings.nats.enabled
        agent.request_stop()
        await asyncio.wait_for(runner, 30)
        return agent, results

    with caplog.at_level(logging.INFO):
        _, results = asyncio.run(scenario())
    assert results == [False, False]
    text = caplog.text
    assert f"nats.tls_ca_file: {ca}: No such file or directory" in text
    assert "reload failed" in text and "still running on the previous configuration" in text
    assert "configuration reloaded" not in text


# --------------------------------------------------------------------------- 12


def _agent_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.e2e
def test_a_thousand_idle_connections_do_not_starve_the_agent(tmp_path: Path) -> None:
    clients = 1100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < clients + 200:  # this test's own sockets, bounded
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, clients + 200), hard))
    port = free_port()
    config = write_config(
        tmp_path,
        '[agent]\ndata_dir = "data"\n[collector]\ncpu_interval_secs = 0.5\n'
        'disabled = ["disk", "network", "process", "numa", "edac", "pressure", "gpu", "fd"]\n'
        "[log_analyzer]\nenabled = false\n"
        f'[prometheus]\nenabled = true\nbind = "127.0.0.1:{port}"\n',
    )
    err = (tmp_path / "err").open("w")
    agent = subprocess.Popen(
        agent_command("--config", str(config)),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=err,
        # The agent gets the common default of 1024 descriptors, as in the finding
        # (setrlimit only: nothing here takes a lock a thread could hold).
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)),  # noqa: PLW1509
    )
    url = f"http://127.0.0.1:{port}/metrics"

    def scrape() -> str:
        try:
            response = httpx.get(url, timeout=2)
        except httpx.TransportError:
            return ""
        return response.text if response.status_code == 200 else ""

    held: list[socket.socket] = []
    try:
        wait_until(lambda: "cpu_usage_percent" in scrape(), 30, "the first scrape")
        for _ in range(clients):
            with contextlib.suppress(OSError):  # a full backlog may refuse a few
                held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        assert len(held) > clients * 0.9
        peak = _agent_fds(agent.pid)
        assert peak < 300  # not one descriptor per idle peer
        before = time.monotonic()
        body = wait_until(scrape, 30, "a scrape while the idle connections are held")
        assert "cpu_usage_percent" in str(body)
        assert time.monotonic() - before < 20  # the idle ones time out; a scraper gets in
        assert agent.poll() is None
    finally:
        for sock in held:
            sock.close()
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0
        err.close()
    log = (tmp_path / "err").read_text()
    assert "Traceback" not in log and "Too many open files" not in log
    assert log.count("connections open, closing new ones at once") == 1
    assert "collector cpu failed" not in log


# --------------------------------------------------------------------------- 9

_NET_DEV_HEAD = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|"
    "bytes    packets errs drop fifo colls carrier compressed\n"
)


def _rename_interfaces(proc: Path, tick: int, renamed: int) -> None:
    """2 x `renamed` interfaces; each name lives two ticks, so that it gets its rates as a
    real interface does, then is gone: `renamed` new names every tick."""
    lines = [
        f"n{generation}x{i}: {tick * 1000} {tick} 0 0 0 0 0 0 {tick * 500} {tick} 0 0 0 0 0 0\n"
        for generation in (tick - 1, tick)
        for i in range(renamed)
    ]
    (proc / "net" / "dev").write_text(_NET_DEV_HEAD + "".join(lines))


def _churn(
    tmp_path: Path, renamed: int, ticks: int
) -> tuple[Agent, list[int], list[int], list[int]]:
    """Run the network collector over a generated /proc/net/dev through the agent's own
    store, analyzers and pressure retirement; (agent, sizes, store bytes, refused) per tick."""
    proc, sys_ = tmp_path / f"proc{renamed}", tmp_path / "sys"
    (proc / "net").mkdir(parents=True)
    sys_.mkdir(exist_ok=True)
    agent = Agent(  # the default caps: 20,000 series, 10,000 per collector
        parse_config_text(
            f'[agent]\ndata_dir = "{tmp_path / "data"}"\nprocfs = "{proc}"\nsysfs = "{sys_}"\n'
        )
    )
    store, collector = agent.store, NetworkCollector(proc, sys_)
    interval = agent.settings.collector.network_interval_secs
    sizes, nbytes, refused = [], [], []
    for tick in range(ticks):
        _rename_interfaces(proc, tick, renamed)
        samples = collector.collect()
        now = 1_000_000.0 + tick * interval
        before = store.dropped["network"]
        agent.pipeline.process(collector.name, now, samples)
        refused.append(store.dropped["network"] - before)
        sizes.append(len(store))  # the peak: just written, before retirement
        nbytes.append(store.nbytes)
        # What housekeeping does every few seconds, between two ticks.
        agent._retire_under_pressure(now + interval / 2)
    return agent, sizes, nbytes, refused


def test_interfaces_renamed_every_tick_stay_within_the_series_cap(tmp_path: Path) -> None:
    # The finding: 2,000 interfaces renamed every tick (18,000 new series a tick with
    # their rates). The store stays at its cap and its memory with it; the newest series
    # are refused and counted; the heartbeat and the self metrics say so.
    agent, sizes, nbytes, refused = _churn(tmp_path, 2000, 12)
    store = agent.store
    cap = agent.settings.storage.max_series_per_collector
    assert max(sizes) <= cap and sum(refused) > 0
    assert max(nbytes) <= 1.3 * nbytes[2]
    assert store.nbytes < 1.5 * cap * store.bytes_per_series()
    reasons, _ = agent.health()
    assert any(r.startswith("series cap reached") and "network" in r for r in reasons)

    async def collect_self() -> Samples:  # it counts asyncio tasks: needs a running loop
        return SelfCollector(agent).collect()

    self_samples = asyncio.run(collect_self())
    dropped = [
        v
        for k, v in zip(self_samples.keys, self_samples.values.tolist(), strict=True)
        if k.metric == "agent_series_dropped_total"
    ]
    assert dropped == [float(store.dropped["network"])]


def test_under_pressure_churn_is_retired_after_two_intervals(tmp_path: Path) -> None:
    # 250 renamed a tick (2,250 new series): retired only after 10 minutes the store would
    # fill in five ticks and then refuse every new interface for the rest of those minutes.
    # Above 80 % of the cap, series missing for two intervals go, and new ones find room.
    agent, sizes, _, refused = _churn(tmp_path, 250, 15)
    cap = agent.settings.storage.max_series_per_collector
    assert max(sizes) > 0.8 * cap  # pressure was reached
    assert refused[-8:] == [0] * 8 and max(sizes[-8:]) < cap


def test_the_store_refuses_the_newest_series_past_its_caps() -> None:
    store = Store(16, 4, 60.0, max_series=150, max_series_per_group=100)
    keys = [SeriesKey.of("m", i=str(i)) for i in range(120)]
    batch = store.write_samples(0.0, keys, np.arange(120.0), "a")
    assert len(batch) == 100 and len(store) == 100 and store.dropped["a"] == 20
    assert store.latest_of(keys[99]) == 99.0 and store.find(keys[100]) is None  # newest lost
    other = [SeriesKey.of("o", i=str(i)) for i in range(80)]
    assert len(store.write_samples(0.0, other, np.zeros(80), "b")) == 50  # the total cap
    assert store.under_pressure() == ["a", "b"]
    store.retire(store.stale_ids(100.0, 10.0, "a"))
    assert len(store) == 50 and store.under_pressure() == []


def test_keys_in_range_that_together_ask_for_millions_of_buckets_exit_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[storage]\nhistory_resolution_secs = 1\nhistory_hours = 744\n")
    result = run_agent("--config", str(config), "--validate")
    assert result.returncode == 2
    assert "storage.history_resolution_secs: 744 h (the longest of history_hours" in result.stderr
    assert "in 1 s buckets is 2,678,400 buckets per series" in result.stderr
