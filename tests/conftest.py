"""Shared helpers: fixture trees, a real local HTTP receiver, and the agent as a subprocess."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
NODE_EXPORTER_PROC = FIXTURES / "node_exporter" / "proc"
PROCFS_PROC = FIXTURES / "procfs" / "proc"
REPO = Path(__file__).parent.parent


def wait_until(
    condition: Callable[[], object], timeout: float = 30.0, what: str = "the condition"
) -> object:
    """Poll `condition` until it returns something truthy; fail the test after `timeout`.

    Tests wait for what they need, never for a fixed time: on a busy machine a
    sleep is either too short (flaky) or too long (slow).
    """
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(delay)
        delay = min(0.2, delay * 1.5)


async def until(
    condition: Callable[[], object], timeout: float = 30.0, what: str = "the condition"
) -> object:
    """`wait_until` for a test inside an event loop; `condition` may return an awaitable."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.01
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() >= deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(0.2, delay * 1.5)


@pytest.fixture(autouse=True)
def history_tier_thread_left_idle() -> Iterator[None]:
    """The history tier's file thread is one per process (agent/tier_file.py): a test that
    leaves a save on it (a write it stalls on purpose, an abort still running) would make
    the next test's save "still being written".  Waited for here, so a leak fails the test
    that leaks it, never the one after."""
    yield
    tier_file = sys.modules.get("agent.tier_file")
    if tier_file is not None:
        thread = tier_file._FILE_THREAD
        wait_until(lambda: not thread.busy, 30.0, "the history tier's file thread to be idle")


# Fixtures that start a real server (a thread or a process): a test using one is e2e.
SERVER_FIXTURES = frozenset({"http_receiver", "nats_url"})


@pytest.fixture
def nats_url() -> Iterator[str]:
    """A plain nats-server (no JetStream) on a free loopback port."""
    from tests.test_nats_channel import accepting, free_port, nats_server_binary

    port = free_port()
    server = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: accepting(port), 30, f"nats-server on port {port}")
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


# A test whose own code calls one of these starts a process (the agent's CLI, a server).
PROCESS_CALLS = ("run_agent(", "agent_command(", "spawn_agent(", "subprocess.", "Popen(")


def _starts_a_process(item: pytest.Item) -> bool:
    import inspect

    try:
        source = inspect.getsource(getattr(item, "function", None))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return False
    return any(call in source for call in PROCESS_CALLS)


def pytest_configure(config: pytest.Config) -> None:
    """The processes a test starts keep their bytecode beside the venv: the agent's, at
    the level its unit runs it (see `agent_command`), is compiled by the first child of
    a session that imports a module, then read by the others.  (This test process itself
    runs as it was started.)"""
    os.environ["PYTHONPYCACHEPREFIX"] = str(Path(sys.prefix) / "pycache")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `e2e` every test in a tests/*_e2e.py module, every test using a server fixture
    and every test that starts a process itself (the CLI's one-shot commands included).

    Marked here so that none is missed by hand; other e2e tests carry the mark themselves.
    The unit layer (`-m "not e2e"`) is then in-process code only.
    """
    for item in items:
        in_e2e_module = item.path.name.endswith("_e2e.py")
        if (
            in_e2e_module
            or SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))
            or _starts_a_process(item)
        ):
            item.add_marker(pytest.mark.e2e)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0  # what it was answered

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """A real HTTP server on 127.0.0.1 that records requests and answers from a script."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    # Status codes (and headers) to answer with, in order; then `status` forever.
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    status: int = 204
    delay: float = 0.0  # seconds each answer takes (a slow far side)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver: HttpReceiver

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length) if length else b""
            if receiver.delay:
                time.sleep(receiver.delay)  # the far side, slow (not a test's wait)
            with receiver.arrived:
                status, headers = (
                    receiver.script.pop(0) if receiver.script else (receiver.status, {})
                )
                receiver.requests.append(
                    Received(self.command, self.path, dict(self.headers.items()), body, status)
                )
                receiver.arrived.notify_all()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = do_PATCH = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = HttpReceiver(server)
    # shutdown() waits for serve_forever() to notice, which polls every poll_interval
    # (0.5 s by default): with 0.02 s a teardown is prompt.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def agent_command(*args: str) -> list[str]:
    """The agent as its unit runs it (deploy/systemd/sysops-agent.service): docstrings and
    asserts stripped, so the e2e tests are of the agent as deployed."""
    return [sys.executable, "-OO", "-m", "agent", *args]


def spawn_agent(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start the daemon in the background, stdout discarded, stderr captured as text."""
    return subprocess.Popen(
        agent_command(*args),
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_agent(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion in a subprocess (as a user would)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        agent_command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=REPO,
    )


def write_config(tmp_path: Path, text: str, name: str = "config.toml", mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def make_host(tmp_path: Path) -> tuple[Path, Path]:
    """A whole captured host: node_exporter's /proc plus the procfs network file and a mount table.

    Returns (procfs, sysfs); the sysfs tree is node_exporter's, read-only.
    """
    import shutil

    proc = tmp_path / "host-proc"
    shutil.copytree(NODE_EXPORTER_PROC, proc, symlinks=True)
    (proc / "net").mkdir()
    shutil.copy(PROCFS_PROC / "net/dev", proc / "net/dev")
    (proc / "1").mkdir(exist_ok=True)
    (proc / "1/mountinfo").write_text("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n")
    return proc, FIXTURES / "node_exporter" / "sys"


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost/127.0.0.1 (with a SAN, as TLS clients require)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def hermetic_agent_keys(tmp_path: Path) -> str:
    """`[agent]` keys that point the agent at a captured host instead of this machine.

    An e2e test's outcome must not depend on how loaded the test host is: on the
    fixture tree the figures are the same on every run.  Memory is set to exactly
    25 % used (below the critical level a warn level of 0.5 % derives, 50.2 %, so
    a 0.5 % threshold gives a warning); CPU usage is 0 % as the counters never move.
    """
    proc, sys_ = make_host(tmp_path)
    set_memory_used(proc, 0.25)
    (proc / "uptime").write_text("86400.00 600000.00\n")  # a day (heartbeats report it)
    return f'procfs = "{proc}"\nsysfs = "{sys_}"\n'


def set_memory_used(proc: Path, fraction: float) -> None:
    """Make the captured host's `proc/meminfo` say `fraction` of the memory is used
    (MemAvailable), as memory_used_percent reads it: written whole, as the agent may read
    it at any moment, and never into the fixture itself (a new file replaces the copy)."""
    meminfo = proc / "meminfo"
    lines = meminfo.read_text().splitlines(keepends=True)
    total = next(int(line.split()[1]) for line in lines if line.startswith("MemTotal:"))
    kept = [line for line in lines if not line.startswith("MemAvailable:")]
    changed = meminfo.with_name("meminfo.new")
    changed.write_text("".join(kept) + f"MemAvailable:   {round(total * (1 - fraction))} kB\n")
    changed.replace(meminfo)


def only_collectors(*keep: str) -> str:
    """A `[collector]` `disabled = [...]` line that leaves only `keep` running.

    Taken from the agent's own list, so a collector added later is off here too.
    """
    from agent.collectors import DOMAINS

    disabled = ", ".join(f'"{d.name}"' for d in DOMAINS if d.name not in keep)
    return f"disabled = [{disabled}]\n"


@pytest.fixture
def step_downs_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step down told as it happens (`alerting.router.STEP_DOWN_SETTLE_SECS` 0), for a
    test of what a step down says and to whom, not of the wait for it to settle."""
    import alerting.router

    monkeypatch.setattr(alerting.router, "STEP_DOWN_SETTLE_SECS", 0.0)
