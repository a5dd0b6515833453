"""A matcher naming a label no alert carries is refused where it is written.

A label an alert lacks reads as "", so a typo'd key matched every alert (`sevrity!=critical`
silenced the host for the whole `--for`) or none (a maintenance window that paged through
the maintenance).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from agent.alert_labels import alert_label_keys
from agent.assembly import BUILT_IN_INHIBITS
from agent.config import ConfigError, parse_config_text
from agent.settings import Settings
from alerting.silences import FIELDS, matcher_key_problems, parse_matcher, unknown_key_problem
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
            assert unknown_key_problem(key, op, value, known) is None, (key, rule)
        assert set(rule.equal) <= known | set(FIELDS), rule


def test_a_typo_is_named_with_what_it_would_have_done() -> None:
    known = alert_label_keys(Settings())
    every = unknown_key_problem(*parse_matcher("sevrity!=critical"), known)
    assert every is not None and "did you mean 'severity'?" in every
    assert "would match every alert" in every
    none = unknown_key_problem(*parse_matcher("mountpiont=/data"), known)
    assert none is not None and "did you mean 'mountpoint'?" in none and "match no alert" in none
    regex = unknown_key_problem(*parse_matcher("mountpiont=~.*"), known)
    assert regex is not None and "match every alert" in regex
    for meant in ("severity=critical", "host=web1", "mountpoint=/data", "interface=~eth.*",
                  "gpu!=0", "pid=1", "channel=slack"):  # fmt: skip
        assert unknown_key_problem(*parse_matcher(meant), known) is None, meant


def test_a_custom_log_patterns_named_groups_are_labels() -> None:
    text = (
        '[[log_analyzer.custom_patterns]]\npattern = "app (?P<tenant>\\\\w+) failed"\n'
        '[[alerting.maintenance]]\nmatch = ["tenant=acme"]\n'
    )
    settings = parse_config_text(text, "t.toml").settings
    assert "tenant" in alert_label_keys(settings)
    assert "tenant" not in alert_label_keys(Settings())


def test_the_configuration_refuses_unknown_keys_with_their_place() -> None:
    text = (
        '[[alerting.maintenance]]\nmatch = ["metric=~disk_.*", "mountpiont=/backup"]\n'
        '[[alerting.inhibit]]\nsource_match = ["metric=gpu_up"]\n'
        'target_match = ["metric=~gpu_.*"]\nequal = ["gpuu"]\n'
    )
    with pytest.raises(ConfigError) as raised:
        parse_config_text(text, "t.toml")
    said = str(raised.value)
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
    good = '[[alerting.maintenance]]\nmatch = ["host=~db.*", "change=disk"]\n'
    load_fleet_config(write_config(tmp_path, good))
    with pytest.raises(ConfigError, match=r"alerting\.maintenance\[0\]\.match: no alert carries "
                       r"the label 'hots' \(did you mean 'host'\?\)"):  # fmt: skip
        load_fleet_config(write_config(tmp_path, good.replace("host=", "hots=")))
    # The agent's labels are not the watcher's.
    assert matcher_key_problems(
        load_fleet_config(write_config(tmp_path, good)).settings.alerting, ("host",)
    )


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
