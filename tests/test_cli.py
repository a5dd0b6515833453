"""The command line as a user runs it: real subprocesses, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agent import __version__
from tests.conftest import (
    FIXTURES,
    NODE_EXPORTER_PROC,
    REPO,
    make_host,
    run_agent,
    write_config,
)
from tests.test_config import SEED_MINIMAL


def test_version() -> None:
    result = run_agent("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"sysops-agent {__version__}"


def test_help_documents_exit_codes() -> None:
    result = run_agent("--help")
    assert result.returncode == 0
    assert "Exit codes: 0 success, 1 runtime failure, 2 bad configuration" in " ".join(
        result.stdout.split()
    )


def test_validate_seed_minimal_config(tmp_path: Path) -> None:
    config = write_config(tmp_path, SEED_MINIMAL)
    result = run_agent("--config", str(config), "--validate")
    assert result.returncode == 0, result.stderr
    assert f"# {config}: valid" in result.stdout
    assert "# collectors: cpu (every 10 s), memory (every 10 s)" in result.stdout
    assert "# channels: discord" in result.stdout
    assert "YOUR/WEBHOOK" not in result.stdout + result.stderr
    assert 'webhook_url = "***"' in result.stdout
    assert "Traceback" not in result.stderr


def test_bad_config_exits_2_naming_file_line_and_key(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, '[agent]\nhostname = "x"\n[thresholds]\ncpu_percent = "ninety"\n'
    )
    for mode in ("--validate", "--once", None):
        args = ["--config", str(config)] + ([mode] if mode else [])
        result = run_agent(*args)
        assert result.returncode == 2
        assert (
            f'{config}:4: thresholds.cpu_percent: expected a number, got "ninety"' in result.stderr
        )
        assert "Traceback" not in result.stderr
        assert result.stdout == ""


def test_syntax_error_and_missing_file_exit_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[agent\n")
    result = run_agent("--config", str(config), "--validate")
    assert result.returncode == 2 and f"{config}:1: TOML syntax error" in result.stderr
    result = run_agent("--config", str(tmp_path / "absent.toml"))
    assert result.returncode == 2 and "absent.toml: file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_usage_exits_2() -> None:
    result = run_agent("--no-such-option")
    assert result.returncode == 2 and "usage:" in result.stderr


def test_env_secret_never_printed_and_missing_one_is_named(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    proc, sys_tree = make_host(tmp_path)
    config = write_config(
        tmp_path,
        f"""
[agent]
procfs = "{proc}"
sysfs = "{sys_tree}"
data_dir = "{data_dir}"
[alerting.webhook]
enabled = true
url = "https://hooks.example.com/${{HOOK_SECRET}}"
headers = {{ Authorization = "Bearer ${{TOKEN_SECRET}}" }}
""",
    )
    env = {"HOOK_SECRET": "hook-path-SECRET-1", "TOKEN_SECRET": "token-SECRET-2"}
    for mode in ("--validate", "--once", "--inventory-dump"):
        result = run_agent("--config", str(config), mode, "--log-level", "debug", env=env)
        assert result.returncode == 0, result.stderr
        both = result.stdout + result.stderr
        assert "SECRET-1" not in both and "SECRET-2" not in both
    result = run_agent("--config", str(config), "--validate", env={"HOOK_SECRET": "x"})
    assert result.returncode == 2
    assert (
        f"{config}:9: alerting.webhook.headers.Authorization: environment variable TOKEN_SECRET is not set"
        in result.stderr
    )


def test_commands_that_send_nothing_run_without_the_channels_secrets(tmp_path: Path) -> None:
    """A new user's finding: in an incident, on-call adds a silence with the agent's own config
    from a shell that lacks the unit's environment: "environment variable ... is not set", exit 2.
    silence, history and replay send nothing: a section whose secret is unset is off for them.
    The daemon and --validate still refuse it."""
    config = write_config(
        tmp_path,
        f"""
[agent]
data_dir = "{tmp_path / "data"}"
[alerting.webhook]
enabled = true
url = "https://hooks.example.com/${{HOOK_SECRET}}"
hmac_secret = "${{HMAC_SECRET}}"
""",
    )
    added = run_agent("--config", str(config), "silence", "add", "--match", "metric=cpu_usage_percent",
                      "--for", "1h", "--comment", "incident 42", env={})  # fmt: skip
    assert added.returncode == 0, added.stderr
    listed = run_agent("--config", str(config), "silence", "list", env={})
    assert listed.returncode == 0 and "incident 42" in listed.stdout
    history = run_agent("--config", str(config), "history", "cpu_usage_percent", env={})
    assert "is not set" not in history.stderr
    refused = run_agent("--config", str(config), "--validate", env={})
    assert (
        refused.returncode == 2 and "environment variable HOOK_SECRET is not set" in refused.stderr
    )
    # What the command does need is still refused unset, not switched off (a second reader's
    # finding: [analyzer] enabled, a list of names, became False and replay crashed).
    config.write_text(config.read_text() + '[analyzer]\nanomaly_metrics = ["${APP_METRIC}"]\n')
    recording = tmp_path / "r.csv"
    recording.write_text("1767571200,1\n1767571210,2\n")
    needed = run_agent("--config", str(config), "replay", str(recording), env={})
    assert needed.returncode == 2 and "environment variable APP_METRIC is not set" in needed.stderr
    assert "Traceback" not in needed.stderr


def test_channel_without_test_alert_is_a_usage_error(tmp_path: Path) -> None:
    """It started the daemon in the foreground, the option ignored."""
    config = write_config(tmp_path, f'[agent]\ndata_dir = "{tmp_path / "data"}"\n')
    result = run_agent("--config", str(config), "--channel", "webhook")
    assert result.returncode == 2 and "--channel goes with --test-alert" in result.stderr


def test_world_readable_secret_config_warns(tmp_path: Path) -> None:
    config = write_config(tmp_path, SEED_MINIMAL, mode=0o644)
    result = run_agent("--config", str(config), "--validate")
    assert result.returncode == 0
    assert "world-readable" in result.stderr and f"chmod 640 {config}" in result.stderr


def test_inventory_dump_on_fixture_tree(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, f'[agent]\nhostname = "inv-host"\nprocfs = "{NODE_EXPORTER_PROC}"\n'
    )
    result = run_agent("--config", str(config), "--inventory-dump")
    assert result.returncode == 0, result.stderr
    inventory = json.loads(result.stdout)
    assert inventory["hostname"] == "inv-host"
    assert {"os", "cpu", "gpu", "disks", "network", "collected_at"} <= set(inventory)
    assert inventory["cpu"]["total_threads"] == 8
    assert inventory["cpu"]["model"] == "Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz"
    assert inventory["cpu"]["vendor"] == "GenuineIntel"
    assert inventory["os"]["kernel"]


def test_once_reports_metrics_and_would_be_alerts(tmp_path: Path) -> None:
    proc, sys_tree = make_host(tmp_path)
    config = write_config(tmp_path, f"""
[agent]
hostname = "once-host"
procfs = "{proc}"
sysfs = "{sys_tree}"
[thresholds]
memory_percent = 50
cpu_percent = 99
""")  # fmt: skip
    result = run_agent("--config", str(config), "--once")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    metrics = {m["name"]: m["value"] for m in report["metrics"] if not m["labels"]}
    used_kb = 3742148 - 225472 - 22040 - 930888
    assert metrics["memory_used_percent"] == 100 * used_kb / 3742148
    assert metrics["cpu_usage_percent"] == 0.0  # the fixture does not move
    (alert,) = report["alerts"]
    assert alert["metric"] == "memory_used_percent" and alert["hostname"] == "once-host"
    assert alert["status"] == "firing" and alert["threshold"] == 50.0
    assert report["errors"] == {}
    # One reading is no history: every series z-score, season and EMA watch is learning, and
    # says why.
    learning = report["learning"]
    assert learning["analyzers"] == ["season", "zscore"]  # EMA is off by default
    assert "season: two days" in learning["reason"]
    watched = {"cpu_usage_percent", "cpu_iowait_percent", "cpu_load1", "memory_used_percent"}
    assert learning["series"] >= len(watched & set(metrics))
    assert "anomaly_learning_secs" in learning["reason"]


def test_replay_without_a_metric_is_unit_less_and_alerts_both_ways(tmp_path: Path) -> None:
    """A recording with no unit (NAB's) replays as series_value: floor 5 % of its own
    level, both directions, so a fall is seen as well as a rise (agent/replay.py)."""
    import random

    rng = random.Random(3)
    lines = ["timestamp,value"]
    for i in range(600):  # 5-minute samples: 50 h
        level = 40.0 if i < 400 else 10.0  # a fall: good news for CPU, news for a unit-less series
        lines.append(f"{1_400_000_000 + 300 * i},{level + rng.uniform(-1, 1):.3f}")
    csv_file = tmp_path / "series.csv"
    csv_file.write_text("\n".join(lines) + "\n")
    config = write_config(tmp_path, "")
    result = run_agent("--config", str(config), "replay", str(csv_file))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    firing = [e for e in events if e["status"] == "firing"]
    assert [(e["analyzer"], e["metric"]) for e in firing] == [("zscore", "series_value")]
    assert "below its usual" in firing[0]["message"]
    as_cpu = run_agent(
        "--config", str(config), "replay", str(csv_file), "--metric", "cpu_usage_percent"
    )
    assert as_cpu.returncode == 0 and as_cpu.stdout == ""  # CPU falling is good news


def test_replay_with_a_failing_analyzer_prints_the_rest_then_exits_1(tmp_path: Path) -> None:
    """A replay is a measurement: an analyzer that raises (a bug, which the daemon counts
    and carries on past) must not leave an incomplete answer that exits 0.  The fault is
    injected at the narrowest boundary, one analyzer's observe, in a real CLI process."""
    import random

    rng = random.Random(3)
    lines = ["timestamp,value"]
    for i in range(600):  # the unit-less fall above: z-score fires once
        level = 40.0 if i < 400 else 10.0
        lines.append(f"{1_400_000_000 + 300 * i},{level + rng.uniform(-1, 1):.3f}")
    csv_file = tmp_path / "series.csv"
    csv_file.write_text("\n".join(lines) + "\n")
    config = write_config(tmp_path, "")
    script = (
        "import sys\n"
        "from analyzers.season import SeasonAnalyzer\n"
        "def broken(self, batch, history):\n"
        "    if batch.timestamp >= 1_400_000_000 + 300 * 500:\n"
        "        raise IndexError('injected fault')\n"
        "    return []\n"
        "SeasonAnalyzer.observe = broken\n"
        "from agent.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "--config", str(config), "replay", str(csv_file)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert result.returncode == 1, result.stderr
    # Every other analyzer's event is there, as without the fault (season gives none here).
    intact = run_agent("--config", str(config), "replay", str(csv_file))
    assert intact.returncode == 0, intact.stderr
    assert intact.stderr == "sysops-agent replay: 600 samples over 49.9 h: 2 event(s)\n"
    assert result.stdout == intact.stdout and '"zscore"' in result.stdout
    assert (
        "analyzer failures during the replay of series_value: season on 100 of 600 samples"
        in result.stderr
    )
    assert "the events printed are incomplete" in result.stderr
    assert result.stderr.count("IndexError: injected fault") == 1  # logged once, then counted
    # A reader that left (`replay ... | head`) does not swallow the failure, whether the pipe
    # breaks at the last flush (buffered output) or at the first event (unbuffered, the
    # fault from the first sample): the read end is closed before the process writes.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    early = script.replace("300 * 500", "0")
    for code, extra in ((script, {}), (early, {"PYTHONUNBUFFERED": "1"})):
        with subprocess.Popen(
            [sys.executable, "-c", code, "--config", str(config), "replay", str(csv_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
            env={**env, **extra},
        ) as reader_gone:  # fmt: skip
            assert reader_gone.stdout is not None
            reader_gone.stdout.close()
            _, stderr = reader_gone.communicate(timeout=30)
        assert reader_gone.returncode == 1, stderr
        assert "analyzer failures during the replay of series_value: season on" in stderr
        assert stderr.rstrip().endswith("the events printed are incomplete")  # after the log


def test_once_counts_a_broken_source_and_exits_1(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "stat").write_text((FIXTURES / "node_exporter/proc/stat").read_text())
    (proc / "loadavg").write_text("0.5 0.4 0.3 1/100 200\n")
    (proc / "meminfo").write_text("MemTotal: garbage\n")
    config = write_config(tmp_path, f'[agent]\nprocfs = "{proc}"\n')
    result = run_agent("--config", str(config), "--once")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert "memory" in report["errors"] and "ParseError" in report["errors"]["memory"]
    assert "cpu_usage_percent" in {m["name"] for m in report["metrics"]}
    assert "memory_used_percent" not in {m["name"] for m in report["metrics"]}


def test_python_dash_m_agent_and_console_script_agree() -> None:
    script = Path(sys.executable).parent / "sysops-agent"
    assert script.exists(), "the package must be installed with its console script"
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout == run_agent("--version").stdout


def test_once_on_this_machine_is_clean_and_broad(tmp_path: Path) -> None:
    """The real host: everything that exists is collected, missing hardware is absent, not an error."""
    config = write_config(tmp_path, '[agent]\nhostname = "real-host"\n')
    result = run_agent("--config", str(config), "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["errors"] == {}
    names = {m["name"] for m in report["metrics"]}
    assert len(names) >= 60, sorted(names)
    assert "two reads" in report["note"]
    assert set(report["absent"]) <= {"gpu", "edac", "numa", "pressure"}
    assert all(
        isinstance(m["value"], float) and m["value"] == m["value"] for m in report["metrics"]
    )  # no NaN


def test_replay_prints_one_json_event_per_line(tmp_path: Path) -> None:
    import random

    rng = random.Random(3)
    lines = ["timestamp,value"]
    for i in range(400):
        minute = i * 5
        stamp = f"2014-07-{1 + minute // 1440:02d} {minute % 1440 // 60:02d}:{minute % 60:02d}:00"
        value = (40.0 if i < 300 else 90.0) + rng.uniform(-1, 1)
        lines.append(f"{stamp},{value:.3f}")
    lines.insert(50, "garbage line")
    csv_file = tmp_path / "cpu.csv"
    csv_file.write_text("\n".join(lines) + "\n")
    config = write_config(
        tmp_path,
        '[thresholds]\ncpu_percent = 80\n[analyzer]\nenabled = ["threshold", "zscore", "ema"]\n',
    )
    result = run_agent(
        "--config",
        str(config),
        "replay",
        str(csv_file),
        "--metric",
        "cpu_usage_percent",
        "--labels",
        "host=db1",
    )
    assert result.returncode == 0, result.stderr
    assert "400 samples over 33.2 h (1 unreadable line(s) skipped): " in result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert {e["analyzer"] for e in events} >= {"threshold", "zscore", "ema"}
    for event in events:
        assert {
            "timestamp",
            "status",
            "analyzer",
            "severity",
            "metric",
            "labels",
            "value",
            "message",
        } <= set(event)
        assert event["labels"] == {"host": "db1"} and event["metric"] == "cpu_usage_percent"
    threshold = [e for e in events if e["analyzer"] == "threshold"]
    # Sample 300 is 300 x 5 min after 2014-07-01 00:00 UTC: 2014-07-02 01:00.
    assert (
        threshold[0]["timestamp"] == "2014-07-02T01:00:00Z" and threshold[0]["status"] == "firing"
    )


def test_a_replay_that_read_nothing_says_so_and_fails(tmp_path: Path) -> None:
    """A new user's finding: a file separated by ';', or an empty one, exited 0 with no event,
    as a quiet series does."""
    config = write_config(tmp_path, f'[agent]\ndata_dir = "{tmp_path / "data"}"\n')
    for name, text in (("semicolons.csv", "1767571200;40.5\n1767571210;40.7\n"), ("empty.csv", "")):
        csv_file = tmp_path / name
        csv_file.write_text(text)
        result = run_agent("--config", str(config), "replay", str(csv_file))
        assert result.returncode == 2 and result.stdout == "", result.stderr
        assert f"no sample in {csv_file}" in result.stderr and "'timestamp,value'" in result.stderr


def test_a_replay_whose_reader_left_early_gives_no_summary_of_a_whole_one(tmp_path: Path) -> None:
    """A second reader's finding: `replay ... | head -1` said "601 samples ...: 1 event(s)"."""
    # A CPU over its threshold every other sample: thousands of events, far more than a pipe
    # holds, so the replay is still writing when its reader leaves.
    lines = [f"{1767571200 + 10 * i},{95 if i % 2 else 50}" for i in range(4000)]
    csv_file = tmp_path / "flaps.csv"
    csv_file.write_text("\n".join(lines) + "\n")
    config = write_config(tmp_path, f'[agent]\ndata_dir = "{tmp_path / "data"}"\n')
    reader = subprocess.Popen(
        [sys.executable, "-m", "agent", "--config", str(config), "replay", str(csv_file),
         "--metric", "cpu_usage_percent"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    assert reader.stdout is not None and reader.stderr is not None
    assert reader.stdout.readline().startswith("{")
    reader.stdout.close()  # `| head -1`
    said = reader.stderr.read()
    assert reader.wait(60) == 0, said
    assert "samples over" not in said, said


def test_replay_usage_errors(tmp_path: Path) -> None:
    result = run_agent("replay", str(tmp_path / "missing.csv"), "--metric", "x")
    assert result.returncode == 2 and "cannot read" in result.stderr
    result = run_agent("--validate", "replay", "x.csv", "--metric", "x")
    assert result.returncode == 2 and "cannot be combined" in result.stderr
