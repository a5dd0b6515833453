"""What a new user meets first (issue 15, items 7 and 8).

The documented install path validates with no environment set; the command
line takes its options on either side of a command, as people type them;
`replay` does what its help says about a missing configuration; the log
sources are the ones the host has; the start line names only the collectors
that run; and `scripts/run-embedded` installs once, then starts at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import cli
from agent.assembly import summarize
from agent.config import ConfigError, parse_config_text
from agent.logs.positions import Positions
from agent.logs.watch import build_sources
from tests.conftest import REPO, make_host, wait_until, write_config

# -- secrets are required only where they are used -----------------------------------------


def test_the_example_config_installed_as_documented_validates_with_no_environment(
    tmp_path: Path,
) -> None:
    # docs/DEPLOYMENT.md: install -o root -g sysops-agent -m 0640 config.example.toml ...
    config = tmp_path / "config.toml"
    shutil.copy(REPO / "config.example.toml", config)
    config.chmod(0o640)
    result = subprocess.run(
        [sys.executable, "-m", "agent", "--config", str(config), "--validate"],
        env={"PATH": os.environ["PATH"]},  # `env -i PATH=$PATH`
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout and "not set" not in result.stdout + result.stderr
    assert result.stderr == ""  # not even a warning


DISABLED = """
[nats]
enabled = false
token = "${NATS_TOKEN}"

[alerting.discord]
enabled = false
webhook_url = "${DISCORD_WEBHOOK_URL}"

[alerting.webhook]
url = "https://alerts.example.com/ingest"
hmac_secret = "${file:/nonexistent/sysops-secret}"

[alerting.webhook.headers]
Authorization = "Bearer ${WEBHOOK_TOKEN}"
"""


def test_unset_secrets_of_disabled_sections_are_not_errors() -> None:
    # [alerting.webhook] says nothing of `enabled`: its default, false, holds.
    loaded = parse_config_text(DISABLED, "c.toml", environ={})
    assert loaded.warnings == ()
    settings = loaded.settings
    # Unresolved and unused: nothing holds a value made of a missing variable.
    assert settings.nats.token is None and settings.alerting.discord.webhook_url is None
    assert settings.alerting.webhook.hmac_secret is None
    assert "Authorization" not in settings.alerting.webhook.headers


@pytest.mark.parametrize(
    ("section", "line", "expected"),
    [
        ("nats", 4, "nats.token: environment variable NATS_TOKEN is not set"),
        (
            "alerting.discord",
            8,
            "alerting.discord.webhook_url: environment variable DISCORD_WEBHOOK_URL is not set",
        ),
        (
            "alerting.webhook",
            12,
            "alerting.webhook.hmac_secret: cannot read secret file /nonexistent/sysops-secret",
        ),
        (
            "alerting.webhook",
            15,
            "alerting.webhook.headers.Authorization: environment variable WEBHOOK_TOKEN is not set",
        ),
    ],
)
def test_an_enabled_section_still_needs_its_secrets(section: str, line: int, expected: str) -> None:
    text = DISABLED.replace(f"[{section}]\nenabled = false", f"[{section}]\nenabled = true")
    if f"[{section}]\nenabled = true" not in text:
        text = text.replace(f"[{section}]\n", f"[{section}]\nenabled = true\n", 1)
        line += 1
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, "c.toml", environ={})
    problems = [str(p) for p in info.value.problems]
    assert any(p.startswith(f"c.toml:{line}: {expected}") for p in problems), problems


def test_a_section_without_an_enabled_key_always_needs_its_secrets() -> None:
    with pytest.raises(ConfigError, match=r"agent\.hostname: environment variable HOST is not set"):
        parse_config_text('[agent]\nhostname = "${HOST}"\n', "c.toml", environ={})


def test_validate_exits_2_naming_the_variable_and_key_of_an_enabled_section(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    quiet_logging: None,
) -> None:
    text = '[alerting.discord]\nenabled = true\nwebhook_url = "${DISCORD_WEBHOOK_URL}"\n'
    config = write_config(tmp_path, text)
    monkeypatch.delenv("DISCORD_WEBHOOK_URL", raising=False)
    assert cli.main(["--config", str(config), "--validate"]) == cli.EXIT_CONFIG
    assert (
        f"{config}:3: alerting.discord.webhook_url: environment variable DISCORD_WEBHOOK_URL is not set"
        in capsys.readouterr().err
    )


# -- options on either side of the command ---------------------------------------------------


@pytest.fixture
def quiet_logging() -> Iterator[None]:
    """cli.main() sets up the root logger for a process; give pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def history_config(tmp_path: Path) -> Path:
    """A config whose history database holds one minute of cpu_usage_percent."""
    import asyncio

    from agent.history import History
    from agent.store import Store
    from analyzers.base import SeriesKey

    db = tmp_path / "history.db"

    async def write() -> None:
        history = History(db, retention_days=1)
        await history.open()
        store = Store(4, history_capacity=4)
        history.follow(store)  # the agent's wiring: the store hands over closed buckets
        now = time.time()
        store.write_samples(now - 120, [SeriesKey("cpu_usage_percent", ())], [42.5])
        store.write_samples(now - 60, [SeriesKey("cpu_usage_percent", ())], [1.0])  # closes it
        await history.flush()
        await history.close()

    asyncio.run(write())
    return write_config(
        tmp_path,
        f'[agent]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[storage]\nsqlite_enabled = true\nsqlite_path = "{db}"\n'
        "[thresholds]\ncpu_percent = 30\n",
    )


def test_history_takes_its_options_before_or_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], quiet_logging: None
) -> None:
    config = str(history_config(tmp_path))
    outputs = []
    for argv in (
        ["--config", config, "history", "cpu_usage_percent"],
        ["history", "cpu_usage_percent", "--config", config],
        ["history", "--config", config, "cpu_usage_percent", "--since", "1h"],
        ["--log-level", "error", "history", "cpu_usage_percent", "--config", config],
    ):
        assert cli.main(argv) == cli.EXIT_OK, argv
        outputs.append(capsys.readouterr().out)
    assert "42.5" in outputs[0] and all(out == outputs[0] for out in outputs)


def replay_csv(tmp_path: Path) -> Path:
    csv_file = tmp_path / "cpu.csv"
    rows = [f"2014-07-01 00:{m:02d}:00,50.0" for m in range(30)]
    csv_file.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    return csv_file


def test_replay_takes_its_options_before_or_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], quiet_logging: None
) -> None:
    config, csv_file = str(history_config(tmp_path)), str(replay_csv(tmp_path))
    for argv in (
        ["--config", config, "replay", csv_file, "--metric", "cpu_usage_percent"],
        ["replay", csv_file, "--metric", "cpu_usage_percent", "--config", config],
        ["replay", "--config", config, "--log-format", "json", csv_file, "--metric", "cpu_usage_percent"],
    ):  # fmt: skip
        assert cli.main(argv) == cli.EXIT_OK, argv
        # 50 % is above this config's 30 %, far below the default 90 %: the config was read.
        assert '"analyzer": "threshold"' in capsys.readouterr().out, argv


def test_silence_takes_its_options_before_or_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], quiet_logging: None
) -> None:
    config = str(write_config(tmp_path, f'[agent]\ndata_dir = "{tmp_path / "data"}"\n'))
    add = ["--match", "metric=disk_used_percent", "--for", "1h", "--comment", "move"]
    for argv in (
        ["--config", config, "silence", "add", *add],
        ["silence", "--config", config, "add", *add],
        ["silence", "add", *add, "--config", config],
    ):
        assert cli.main(argv) == cli.EXIT_OK, argv
    capsys.readouterr()
    listings = []
    for argv in (
        ["--config", config, "silence", "list"],
        ["silence", "list", "--config", config],
        ["silence", "list", "--config", config, "--log-level", "debug"],
    ):
        assert cli.main(argv) == cli.EXIT_OK, argv
        listings.append(capsys.readouterr().out)
    assert listings[0].count("metric=disk_used_percent") == 3
    assert all(listing == listings[0] for listing in listings)
    silence_id = listings[0].split()[0]
    assert cli.main(["silence", "expire", silence_id, "--config", config]) == cli.EXIT_OK
    assert cli.main(["silence", "list", "--config", config]) == cli.EXIT_OK
    assert capsys.readouterr().out.count("metric=disk_used_percent") == 2


def test_validate_takes_its_options_in_any_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], quiet_logging: None
) -> None:
    config = str(write_config(tmp_path, '[agent]\nhostname = "order-test"\n'))
    for argv in (
        ["--config", config, "--validate"],
        ["--validate", "--config", config],
        ["--validate", "--log-level", "debug", "--config", config, "--log-format", "json"],
    ):
        assert cli.main(argv) == cli.EXIT_OK, argv
        out = capsys.readouterr().out
        assert f"# {config}: valid" in out and 'hostname = "order-test"' in out


def test_common_options_parse_the_same_on_either_side() -> None:
    parser = cli.build_parser()
    options = ["--config", "x.toml", "--log-level", "debug", "--log-format", "json"]
    for command in (["history", "m"], ["replay", "f.csv", "--metric", "m"], ["silence", "list"]):
        before, after = (
            parser.parse_args([*options, *command]),
            parser.parse_args([*command, *options]),
        )
        assert vars(before) == vars(after), command
        assert (after.config, after.log_level, after.log_format) == ("x.toml", "debug", "json")
    # Not given after the command, an option given before it stands.
    args = parser.parse_args(["--config", "x.toml", "--log-format", "json", "history", "m"])
    assert (args.config, args.log_format) == ("x.toml", "json")
    assert parser.parse_args(["history", "m"]).config is None  # "not given", not the default path


# -- replay and a missing configuration: what the help says is what happens ---------------------


def test_replay_help_and_behaviour_agree_on_a_missing_config(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    quiet_logging: None,
) -> None:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    help_text = " ".join(commands.choices["replay"].format_help().split())
    assert (
        "Without --config: /etc/sysops-agent/config.toml if it exists, else the defaults"
        in help_text
    )
    assert "an explicit --config that does not exist exits 2" in help_text
    monkeypatch.setattr(cli, "DEFAULT_CONFIG", str(tmp_path / "absent-default.toml"))
    csv_file = str(replay_csv(tmp_path))
    # No --config, no default file: the defaults (90 %), so 50 % fires no threshold alert.
    assert cli.main(["replay", csv_file, "--metric", "cpu_usage_percent"]) == cli.EXIT_OK
    assert '"analyzer": "threshold"' not in capsys.readouterr().out
    # An explicit --config that does not exist, on either side of the command: exit 2.
    missing = str(tmp_path / "missing.toml")
    for argv in (
        ["--config", missing, "replay", csv_file, "--metric", "cpu_usage_percent"],
        ["replay", csv_file, "--metric", "cpu_usage_percent", "--config", missing],
    ):
        assert cli.main(argv) == cli.EXIT_CONFIG
        assert f"{missing}: file not found" in capsys.readouterr().err
    # The default path, when it exists, is read like an explicit one.
    Path(cli.DEFAULT_CONFIG).write_text("[thresholds]\ncpu_percent = 30\n")
    assert cli.main(["replay", csv_file, "--metric", "cpu_usage_percent"]) == cli.EXIT_OK
    assert '"analyzer": "threshold"' in capsys.readouterr().out


# -- log sources: the ones this host has ------------------------------------------------------


def sources_on(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    body: str,
    *,
    syslog_file: bool,
    journalctl: bool,
    kmsg_readable: bool = True,
) -> list[str]:
    rootfs = tmp_path / "root"
    (rootfs / "var/log").mkdir(parents=True, exist_ok=True)
    if syslog_file:
        (rootfs / "var/log/syslog").write_text("")
    program = tmp_path / "journalctl"
    if journalctl:  # found on the PATH by name, as the real one is; never run here
        program.write_text("#!/bin/sh\nexit 0\n")
        program.chmod(0o755)
    settings = parse_config_text(
        f'[agent]\nrootfs = "{rootfs}"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[log_analyzer]\njournalctl_path = "{program}"\n{body}',
        "t.toml",
    ).settings
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="agent.logs"):
        kmsg = tmp_path / "kmsg"  # a stand-in for /dev/kmsg: readable or not, as asked
        if kmsg_readable:
            kmsg.write_text("")
        sources = build_sources(settings, Positions(tmp_path / "positions.json"), kmsg=kmsg)
    return [s.name for s in sources]


def test_without_a_syslog_file_journald_is_read_when_it_adds_something(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The defaults (dmesg, syslog) on a Debian 12 host without rsyslog: kmsg has every
    # kernel line, so a journalctl process would only repeat them; said once, at info.
    names = sources_on(tmp_path, caplog, "", syslog_file=False, journalctl=True)
    assert names == ["dmesg"]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("the kernel log is read from" in r.getMessage() for r in caplog.records)
    # Custom patterns look at the system log: journald stands in for the missing file.
    custom = '[[log_analyzer.custom_patterns]]\nname = "app"\npattern = "boom"\n'
    names = sources_on(tmp_path / "c", caplog, custom, syslog_file=False, journalctl=True)
    assert names == ["dmesg", "journald"]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    chosen = [r.getMessage() for r in caplog.records if "log sources:" in r.getMessage()]
    assert chosen == [
        "log sources: dmesg, journald (no /var/log/syslog or /var/log/messages: "
        "the system log is read from journald)"
    ]
    # So it does when /dev/kmsg cannot be read: journald's kernel transport has those lines.
    names = sources_on(
        tmp_path / "k", caplog, "", syslog_file=False, journalctl=True, kmsg_readable=False
    )
    assert names == ["dmesg", "journald"]


def test_a_syslog_file_is_read_when_there_is_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert sources_on(tmp_path, caplog, "", syslog_file=True, journalctl=True) == [
        "dmesg",
        "syslog",
    ]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any(r.getMessage() == "log sources: dmesg, syslog" for r in caplog.records)


def test_journald_is_not_added_twice_and_only_a_host_with_neither_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    both = 'sources = ["syslog", "journald"]\n'
    assert sources_on(tmp_path, caplog, both, syslog_file=False, journalctl=True) == ["journald"]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    bare = sources_on(
        tmp_path / "bare", caplog, "", syslog_file=False, journalctl=False, kmsg_readable=False
    )
    assert bare == ["dmesg"]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "no syslog file" in warning and "journalctl" in warning


# -- the start line names the collectors that run ---------------------------------------------


def test_summarize_leaves_out_collectors_without_a_source() -> None:
    from agent.settings import Settings

    every = [name for name, _ in summarize(Settings()).collectors]
    assert {"edac", "gpu"} <= set(every)
    running = [name for name, _ in summarize(Settings(), absent={"edac", "gpu"}).collectors]
    assert running == [n for n in every if n not in ("edac", "gpu")]


@pytest.mark.e2e
def test_the_start_line_lists_only_collectors_that_run(tmp_path: Path) -> None:
    proc, _ = make_host(tmp_path)  # no /proc/driver/nvidia: no GPU
    sysfs = tmp_path / "sys"  # no /sys/devices/system/edac: no EDAC driver
    sysfs.mkdir()
    config = write_config(
        tmp_path,
        f'[agent]\nprocfs = "{proc}"\nsysfs = "{sysfs}"\ndata_dir = "{tmp_path / "data"}"\n'
        'log_level = "info"\n[log_analyzer]\nenabled = false\n',
    )
    err = tmp_path / "err"
    with err.open("w") as stderr:
        agent = subprocess.Popen(
            [sys.executable, "-m", "agent", "--config", str(config)],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr, text=True,
        )  # fmt: skip
        try:
            wait_until(lambda: "sysops-agent started" in err.read_text(), 30, "the start line")
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=20)
    lines = err.read_text().splitlines()
    disabled = {
        line.split("collector ", 1)[1].split(" ", 1)[0] for line in lines if " disabled: " in line
    }
    assert {"edac", "gpu"} <= disabled
    (start,) = [line for line in lines if "sysops-agent started" in line]
    collectors = start.split("collectors ", 1)[1].split(";", 1)[0]
    named = {part.split(" every ")[0] for part in collectors.split(", ")}
    assert named and not named & disabled, start
    assert {"cpu", "memory"} <= named


# -- scripts/run-embedded installs once -------------------------------------------------------


def run_embedded_copy(tmp_path: Path) -> tuple[Path, Path]:
    """The script in a copy of the checkout whose .venv records what it is asked to do.

    The venv's python and sysops-agent are stand-ins (the narrowest boundary:
    a real pip install needs the network and 10 s); bash, the script and
    bootstrap.sh are the real ones.
    """
    root = tmp_path / "checkout"
    (root / "common").mkdir(parents=True)
    shutil.copytree(REPO / "scripts", root / "scripts")
    shutil.copy(REPO / "pyproject.toml", root)
    shutil.copy(REPO / "common/__init__.py", root / "common")  # the version
    calls = tmp_path / "calls"
    bin_dir = root / ".venv/bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(
        f'#!/bin/sh\necho "python $*" >> {calls}\n'
        f"printf '#!/bin/sh\\necho \"sysops-agent $*\" >> {calls}\\n' > {bin_dir}/sysops-agent\n"
        f"chmod +x {bin_dir}/sysops-agent\n"
    )
    (bin_dir / "python").chmod(0o755)
    return root, calls


def test_run_embedded_runs_pip_only_when_the_install_is_missing_or_stale(tmp_path: Path) -> None:
    root, calls = run_embedded_copy(tmp_path)

    def start(*args: str) -> list[str]:
        calls.unlink(missing_ok=True)
        result = subprocess.run(
            [str(root / "scripts/run-embedded"), *args], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return calls.read_text().splitlines()

    pip = "python -m pip install -q --disable-pip-version-check -e ."
    # Each start brings the bytecode the unit's level runs from up to date (quick when it is).
    compiled = "python -m agent.bytecode"
    agent = "sysops-agent --config config/embedded.toml"
    assert start() == [pip, compiled, agent]  # first start installs
    assert start() == [compiled, agent]  # then starts at once
    assert start("--config", "x.toml") == [compiled, "sysops-agent --config x.toml"]
    with (root / "pyproject.toml").open("a") as f:  # a new dependency, say
        f.write("\n# changed\n")
    assert start() == [pip, compiled, agent]
    assert start() == [compiled, agent]
    version = root / "common/__init__.py"  # a new version: the role and the wheel say it
    version.write_text(version.read_text().replace("__version__ = ", "__version__ = '9' or "))
    assert start() == [pip, compiled, agent]
    assert start() == [compiled, agent]
    (root / ".venv/bin/sysops-agent").unlink()  # the install is gone
    assert start()[0] == pip


# -- the Prometheus endpoint's default port is nobody else's -----------------------------------

# Outside Prometheus' default port allocations (the wiki page
# Default-port-allocations): core components from 9090, the exporter range
# 9100-9999 (full) and its overflow above 10000, and the exporters it lists
# outside those ranges.
ALLOCATED = range(9090, 11000)
LISTED_OUTSIDE = {3903, 7300, 8080, 8082, 8088, 8089, 8292, 8404, 9042, 9087, 9095, 9097, 9099,
                  16995, 19091, 19999, 24231, 42004, 44322, 61091}  # fmt: skip


def test_the_default_prometheus_port_is_no_well_known_exporters() -> None:
    from agent.settings import PrometheusSettings

    host, _, port_text = PrometheusSettings().bind.rpartition(":")
    port = int(port_text)
    assert host == "127.0.0.1"  # loopback: a listening port stays a choice
    assert port not in ALLOCATED and port not in LISTED_OUTSIDE  # 9100 was node_exporter's
    assert 1024 < port < 32768  # unprivileged, and below Linux's ephemeral ports
    assert f'bind = "127.0.0.1:{port}"' in (REPO / "config.example.toml").read_text()
    assert f"127.0.0.1:{port}" in (REPO / "docs/DEPLOYMENT.md").read_text()
