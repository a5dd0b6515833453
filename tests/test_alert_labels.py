"""A matcher naming a label no alert carries is refused where it is written.

A label an alert lacks reads as "", so a typo'd key matched every alert (`sevrity!=critical`
silenced the host for the whole `--for`) or none (a maintenance window that paged through
the maintenance).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.alert_labels import alert_label_keys
from agent.assembly import BUILT_IN_INHIBITS
from agent.config import ConfigError, parse_config_text
from agent.settings import Settings
from alerting.silences import FIELDS, matcher_problem, parse_matcher
from fleet.config import FLEET_ALERT_LABELS
from fleet.config import load_config as load_fleet_config
from tests.conftest import REPO, run_agent, write_config


def _literal_label_keys(package: str) -> set[tuple[str, str]]:
    """(file, key) of every label key written literally in an `Alert(..., labels=((k, v), ...))`
    of a package: the labels of alerts about no series, which no MetricSpec declares."""
    found: set[tuple[str, str]] = set()
    for path in sorted((REPO / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Alert"):
                continue
            for keyword in node.keywords:
                if keyword.arg == "labels" and isinstance(keyword.value, ast.Tuple):
                    for pair in keyword.value.elts:
                        assert isinstance(pair, ast.Tuple), f"{path}: a label not as (key, value)"
                        key = pair.elts[0]
                        assert isinstance(key, ast.Constant), f"{path}: a label key computed"
                        found.add((path.name, str(key.value)))
    return found


def test_every_label_the_agents_own_alerts_carry_is_known() -> None:
    known = alert_label_keys(Settings())
    literal = set().union(*(_literal_label_keys(p) for p in ("agent", "analyzers", "alerting")))
    assert {key for _, key in literal} >= {"channel", "record", "flood"}  # the scan finds them
    assert not {(f, k) for f, k in literal if k not in known}
    fleet = _literal_label_keys("fleet")
    assert {key for _, key in fleet} == set(FLEET_ALERT_LABELS)


def test_the_built_in_inhibitions_name_known_labels() -> None:
    known = alert_label_keys(Settings())
    for rule in BUILT_IN_INHIBITS:
        for key, op, value in (*rule.source, *rule.target):
            assert matcher_problem(key, op, value, known) is None, (key, rule)
        assert set(rule.equal) <= known | set(FIELDS), rule


def test_a_typo_is_named_with_what_it_would_have_done() -> None:
    known = alert_label_keys(Settings())
    every = matcher_problem(*parse_matcher("sevrity!=critical"), known)
    assert every is not None and "did you mean 'severity'?" in every
    assert "would match every alert" in every
    none = matcher_problem(*parse_matcher("mountpiont=/data"), known)
    assert none is not None and "did you mean 'mountpoint'?" in none and "match no alert" in none
    regex = matcher_problem(*parse_matcher("mountpiont=~.*"), known)
    assert regex is not None and "match every alert" in regex
    for meant in ("severity=critical", "host=web1", "mountpoint=/data", "interface=~eth.*",
                  "gpu!=0", "pid=1", "channel=slack"):  # fmt: skip
        assert matcher_problem(*parse_matcher(meant), known) is None, meant


def test_a_custom_log_patterns_named_groups_are_labels() -> None:
    text = (
        '[[log_analyzer.custom_patterns]]\npattern = "app (?P<tenant>\\\\w+) failed"\n'
        '[[alerting.maintenance]]\nmatch = ["tenant=acme"]\nweekdays = ["sat"]\n'
    )
    settings = parse_config_text(text, "t.toml").settings
    assert "tenant" in alert_label_keys(settings)
    assert "tenant" not in alert_label_keys(Settings())


def _refusal(text: str) -> tuple[str, int]:
    """What the configuration check says of `text` (as t.toml), and how many problems."""
    with pytest.raises(ConfigError) as raised:
        parse_config_text(text, "t.toml")
    return str(raised.value), len(raised.value.problems)


def test_the_configuration_refuses_unknown_keys_with_their_place() -> None:
    text = (
        '[[alerting.maintenance]]\nmatch = ["metric=~disk_.*", "mountpiont=/backup"]\nweekdays = ["sat"]\n'
        '[[alerting.inhibit]]\nsource_match = ["metric=gpu_up"]\n'
        'target_match = ["metric=~gpu_.*"]\nequal = ["gpuu"]\n'
    )
    said, problems = _refusal(text)
    assert problems == 2
    assert (
        "t.toml:2: alerting.maintenance[0].match: no alert carries the label 'mountpiont'" in said
    )
    assert (
        "alerting.inhibit[0].equal: no alert carries the label 'gpuu' (did you mean 'gpu'?)" in said
    )
    # The example's rules, the same with the labels spelt right, are valid.
    parse_config_text(text.replace("mountpiont", "mountpoint").replace("gpuu", "gpu"), "t.toml")
    parse_config_text(
        (REPO / "config.example.toml").read_text(), "config.example.toml", secrets=False
    )


def test_the_fleet_watchers_configuration_knows_its_own_labels(tmp_path: Path) -> None:
    good = '[[alerting.maintenance]]\nmatch = ["host=~db.*", "change=disk"]\nweekdays = ["sat"]\n'
    load_fleet_config(write_config(tmp_path, good))
    with pytest.raises(ConfigError, match=r"alerting\.maintenance\[0\]\.match: no alert carries "
                       r"the label 'hots' \(did you mean 'host'\?\)"):  # fmt: skip
        load_fleet_config(write_config(tmp_path, good.replace("host=", "hots=")))
    # The agent's labels are not the watcher's.
    with pytest.raises(ConfigError, match=r"no alert carries the label 'mountpoint'"):
        load_fleet_config(write_config(tmp_path, good.replace("change=disk", "mountpoint=/")))


def test_silence_add_refuses_a_typo_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = write_config(tmp_path, f'[agent]\ndata_dir = "{data}"\n')
    refused = run_agent("--config", str(config), "silence", "add", "--match", "metric=~disk_.*",
                        "--match", "sevrity!=critical", "--for", "2h", "--comment", "resize")  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert "no alert carries the label 'sevrity' (did you mean 'severity'?)" in refused.stderr
    assert "would match every alert" in refused.stderr and "Traceback" not in refused.stderr
    assert refused.stdout == "" and not (data / "silences.json").exists()
    added = run_agent("--config", str(config), "silence", "add", "--match", "metric=~disk_.*",
                      "--match", "severity!=critical", "--for", "2h", "--comment", "resize")  # fmt: skip
    assert added.returncode == 0, added.stderr
    [written] = json.loads((data / "silences.json").read_text())
    assert written["matchers"] == [["metric", "=~", "disk_.*"], ["severity", "!=", "critical"]]


def test_sysops_fleet_silence_add_knows_the_watchers_labels(tmp_path: Path) -> None:
    """The watcher reads silences from its data_dir; its own command writes them, checked
    against its own alerts' labels (an inventory change's `change`, not a mountpoint), in a
    shell without the unit's NATS token (DEPLOYMENT.md puts it in the unit's environment)."""
    data = tmp_path / "fleet-data"
    config = write_config(
        tmp_path, f'[fleet]\ndata_dir = "{data}"\n[nats]\ntoken = "${{NATS_TOKEN}}"\n'
    )
    shell = {k: v for k, v in os.environ.items() if k != "NATS_TOKEN"}

    def fleet(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "fleet", "--config", str(config), "silence", *args]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=30, cwd=REPO, env=shell
        )

    for typo, said in (("hots=web1", "did you mean 'host'?"), ("mountpoint=/", "match no alert")):
        refused = fleet("add", "--match", typo, "--for", "1h", "--comment", "x")
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr
        assert not (data / "silences.json").exists()
    added = fleet("add", "--match", "change=disk", "--match", "host=~db.*", "--for", "1h",
                  "--comment", "disk swap")  # fmt: skip
    assert added.returncode == 0, added.stderr
    # It names the file; a data_dir that did not exist is one no running watcher reads.
    assert f"(in {data / 'silences.json'})" in added.stdout
    assert f"{data} did not exist, so no running daemon reads silences there" in added.stderr
    again = fleet("add", "--match", "change=disk", "--for", "1h", "--comment", "x")
    assert again.returncode == 0 and "did not exist" not in again.stderr
    listed = fleet("list")
    assert "change=disk host=~db.*  # disk swap" in listed.stdout, listed.stdout
    assert fleet("expire", added.stdout.split()[0]).returncode == 0
    assert fleet("expire", again.stdout.split()[0]).returncode == 0
    assert "no active silences" in fleet("list").stderr
    # The watcher itself needs the token: its --validate still refuses the file without it.
    validate = [sys.executable, "-m", "fleet", "--config", str(config), "--validate"]
    refused = subprocess.run(validate, capture_output=True, text=True, timeout=30, env=shell)
    assert refused.returncode == 2 and "NATS_TOKEN is not set" in refused.stderr


def test_a_rule_selecting_a_label_its_metric_does_not_carry_is_refused() -> None:
    """A threshold rule or a family rule whose `labels` name one the metric's series never
    have applied to nothing, silently; on an application's metric the labels are unknown."""
    text = (
        '[[thresholds.rules]]\nmetric = "disk_used_percent"\nlabels = { mountpiont = "/data" }\n'
        "warn = 80\n"
        '[[analyzer.families]]\nmetric = "network_receive_bytes_per_second"\n'
        'labels = { iface = "eth0" }\nfloor = 5\n'
        '[[analyzer.families]]\nmetric = "*_seconds"\nlabels = { job = "x" }\nfloor = 5\n'
        '[[thresholds.rules]]\nmetric = "app_latency_seconds"\nlabels = { route = "/x" }\n'
        "warn = 1\n"
    )
    said, problems = _refusal(text)
    assert (
        "t.toml:3: thresholds.rules[0].labels: disk_used_percent has no label 'mountpiont' "
        "(did you mean 'mountpoint'?), so the rule would apply to no series" in said
    )
    assert (
        "analyzer.families[0].labels: network_receive_bytes_per_second has no label 'iface'" in said
    )
    # An application's metric, or a pattern that may name one: their labels are not known.
    assert "app_latency_seconds" not in said and problems == 2
    fixed = text.replace("mountpiont", "mountpoint").replace("iface", "interface")
    parse_config_text(fixed, "t.toml")


def test_a_severity_that_is_no_severity_is_refused() -> None:
    """`severity!=crit` matched every alert (no alert's severity is "crit"), `severity=crit`
    none: a severity is one of four words."""
    for typo, effect in (("severity!=crit", "every alert"), ("severity=crit", "no alert"),
                         ("severity=~crit", "no alert"), ("severity=~.*", "every alert")):  # fmt: skip
        problem = matcher_problem(*parse_matcher(typo), ())
        assert problem is not None and f"would match {effect}" in problem, typo
        assert "info, warn, critical, emergency" in problem
    for meant in ("severity=critical", "severity!=info", "severity=~warn|critical"):
        assert matcher_problem(*parse_matcher(meant), ()) is None, meant
