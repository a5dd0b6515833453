"""The plug-in tables, the settings and the generated docs must say the same thing.

Collectors, analyzers and channels each declare themselves once (issue 17);
everything else is derived.  These tests fail when a module is added without a
declaration, when a settings section has no channel (or a channel no section),
or when the committed docs no longer match the tables.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import pkgutil
import re
import sys
from dataclasses import fields, is_dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, get_type_hints

import pytest

import agent.collectors
import alerting.channels
from agent.assembly import build_analyzers, build_channels, channel_section, summarize
from agent.collectors import DOMAINS, HELPERS, build_collectors
from agent.config import ConfigError, parse_config_text
from agent.settings import CHANNELS, AnalyzerSettings, CollectorSettings
from alerting.settings import AlertingSettings
from analyzers import registry
from analyzers.families import DEFAULT_FAMILIES
from common.schema import choices_of
from tests.conftest import REPO

# Shared code in alerting/channels, not a channel.
CHANNEL_HELPERS = {"base", "http", "tls", "registry"}


def _metadata(cls: type[Any], name: str) -> Any:
    return next(f.metadata for f in fields(cls) if f.name == name)


def _gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", REPO / "tools/gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- collectors


def test_every_collector_module_declares_a_plugin_and_is_in_the_table() -> None:
    modules = {
        m.name for m in pkgutil.iter_modules(agent.collectors.__path__) if m.name not in HELPERS
    }
    declared = {}
    for name in modules:
        plugin = importlib.import_module(f"agent.collectors.{name}").PLUGIN
        declared[plugin.name] = plugin
    assert set(declared.values()) == set(DOMAINS)
    assert len({d.order for d in DOMAINS}) == len(DOMAINS), "two collectors share an order"
    assert [d.order for d in DOMAINS] == sorted(d.order for d in DOMAINS)


def test_collector_disabled_choices_are_the_collector_names() -> None:
    choices = choices_of(_metadata(CollectorSettings, "disabled"))
    assert choices == tuple(d.name for d in DOMAINS)


def test_every_interval_key_is_a_number_in_settings() -> None:
    settings = parse_config_text("").settings
    for domain in DOMAINS:
        assert domain.interval(settings) > 0, domain.name


def test_a_disabled_domain_is_not_built_and_an_unknown_one_is_refused() -> None:
    settings = parse_config_text('[collector]\ndisabled = ["gpu", "fd"]\n').settings
    built = {c.name for c, _ in build_collectors(settings)}
    assert "gpu" not in built and "fd" not in built and "cpu" in built
    with pytest.raises(ConfigError) as caught:
        parse_config_text('[collector]\ndisabled = ["cpuu"]\n', "c.toml")
    expected = "expected one of " + ", ".join(d.name for d in DOMAINS)
    assert expected in str(caught.value)


# --------------------------------------------------------------------------- analyzers


def test_analyzer_choices_and_default_are_the_analyzer_table() -> None:
    names = tuple(p.name for p in registry.plugins())
    assert names == ("threshold", "zscore", "season", "ema", "trend", "leak")  # evaluation order
    assert choices_of(_metadata(AnalyzerSettings, "enabled")) == names
    assert AnalyzerSettings().enabled == tuple(n for n in names if n != "ema")  # EMA is opt-in


def test_every_analyzer_module_but_the_helpers_declares_a_plugin() -> None:
    import analyzers

    modules = {m.name for m in pkgutil.iter_modules(analyzers.__path__)} - registry.HELPERS
    declared = {importlib.import_module(f"analyzers.{m}").PLUGIN for m in modules}
    assert declared == set(registry.plugins())


def test_each_analyzer_is_named_as_declared_and_built_in_order() -> None:
    settings = parse_config_text('[analyzer]\nenabled = ["leak", "threshold", "ema"]\n').settings
    assert [a.name for a in build_analyzers(settings)] == ["threshold", "ema", "leak"]
    defaults = parse_config_text("").settings
    assert [a.name for a in build_analyzers(defaults)] == [
        p.name for p in registry.plugins() if p.name != "ema"
    ]


# --------------------------------------------------------------------------- channels


def _channel_sections() -> set[str]:
    """Every section of [alerting] that is a table (not an array of tables)."""
    hints = get_type_hints(AlertingSettings)
    return {
        f"alerting.{f.name}"
        for f in fields(AlertingSettings)
        if isinstance(hints[f.name], type) and is_dataclass(hints[f.name])
    }


def test_every_channel_section_has_a_channel_and_every_channel_a_section() -> None:
    alerting_sections = {p.section for p in CHANNELS if p.section.startswith("alerting.")}
    assert alerting_sections == _channel_sections()
    settings = parse_config_text("").settings
    for plugin in CHANNELS:
        section = channel_section(settings, plugin)
        for key in plugin.enabled_keys:
            assert isinstance(getattr(section, key), bool), (plugin.name, key)
    assert len({p.name for p in CHANNELS}) == len(CHANNELS)


def test_every_channel_module_is_in_the_table_and_names_its_factory() -> None:
    modules = {m.name for m in pkgutil.iter_modules(alerting.channels.__path__)}
    factories = {p.factory.split(":")[0] for p in CHANNELS}
    assert factories == {f"alerting.channels.{m}" for m in modules - CHANNEL_HELPERS}
    for plugin in CHANNELS:
        module, function = plugin.factory.split(":")
        assert callable(getattr(importlib.import_module(module), function)), plugin.factory


EVERY_CHANNEL = """
[nats]
enabled = true
[alerting.console]
enabled = true
[alerting.webhook]
enabled = true
url = "http://127.0.0.1:9/hook"
[alerting.discord]
enabled = true
webhook_url = "http://127.0.0.1:9/discord"
[alerting.slack]
enabled = true
webhook_url = "http://127.0.0.1:9/slack"
[alerting.telegram]
enabled = true
bot_token = "123:abc"
chat_id = "42"
[alerting.email]
enabled = true
smtp_host = "127.0.0.1"
from = "agent@example.org"
to = ["ops@example.org"]
[alerting.syslog]
enabled = true
min_severity = "critical"
send_resolved = false
"""


def test_each_enabled_channel_is_built_under_its_name_with_the_common_keys() -> None:
    settings = parse_config_text(EVERY_CHANNEL).settings
    channels = build_channels(settings)
    assert [c.name for c in channels] == [p.name for p in CHANNELS]
    assert summarize(settings).channels == tuple(p.name for p in CHANNELS)
    syslog: Any = next(c for c in channels if c.name == "syslog")
    assert (syslog.min_severity.name, syslog.send_resolved) == ("CRITICAL", False)
    discord: Any = next(c for c in channels if c.name == "discord")
    assert (discord.min_severity.name, discord.send_resolved) == ("WARN", True)  # defaults
    assert [c.name for c in build_channels(settings, "slack")] == ["slack"]


def test_nats_alerts_follow_include_alerts() -> None:
    off = parse_config_text("[nats]\nenabled = true\ninclude_alerts = false\n").settings
    assert build_channels(off) == [] and summarize(off).channels == ()


def test_a_channel_whose_extra_is_missing_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = parse_config_text(
        '[alerting.email]\nenabled = true\nsmtp_host = "127.0.0.1"\n'
        'from = "a@example.org"\nto = ["b@example.org"]\n'
    ).settings
    assert summarize(settings).unavailable_channels == ()
    # None in sys.modules is how Python marks a module that cannot be imported.
    monkeypatch.setitem(sys.modules, "aiosmtplib", None)
    summary = summarize(settings)
    assert summary.channels == ("email",) and summary.unavailable_channels == ("email",)
    assert summary.missing_extras == (("channel email", "email"),)


def test_what_is_enabled_without_its_extra_is_said_once_with_the_command_that_mends_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A new user's findings: --validate said "valid" and named no missing library for
    Prometheus, "not available in this version" for a channel (a pip install away), and the
    daemon then tried NATS every 5 s without end and restarted the history task with a
    traceback every minute."""
    from agent import cli
    from agent.runtime import Agent

    loaded = parse_config_text(
        f'[agent]\ndata_dir = "{tmp_path}"\n[nats]\nenabled = true\n'
        "[storage]\nsqlite_enabled = true\n[prometheus]\nenabled = true\n",
        "c.toml",
    )
    for module in ("nats", "aiosqlite", "prometheus_client"):
        monkeypatch.setitem(sys.modules, module, None)
    assert cli.validate(loaded) == 0
    said = capsys.readouterr().out
    for what, extra in (("channel nats and NATS telemetry are enabled but their", "nats"),
                        ("SQLite history is enabled but its", "sqlite"),
                        ("the Prometheus endpoint is enabled but its", "prometheus")):  # fmt: skip
        assert f"# {what} library is not installed (pip install 'sysops-agent[{extra}]')" in said
    agent = Agent(loaded)
    with caplog.at_level(logging.ERROR, logger="agent.runtime"):
        asyncio.run(agent._describe_start())  # the start's own words, once each
    said_at_start = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert [line.split(" enabled")[0] for line in said_at_start] == [
        "channel nats and NATS telemetry are", "SQLite history is", "the Prometheus endpoint is"
    ], said_at_start  # fmt: skip
    agent._start_telemetry()
    agent._start_history()
    asyncio.run(agent._start_exporter())
    assert agent.telemetry is None and agent.history is None and agent.exporter is None


def test_a_prometheus_library_there_but_broken_does_not_stop_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A second reader's finding: found by name but failing to import (a version it cannot
    work with), it raised out of the start."""
    from agent.runtime import Agent

    loaded = parse_config_text(f'[agent]\ndata_dir = "{tmp_path}"\n[prometheus]\nenabled = true\n')
    monkeypatch.setitem(sys.modules, "agent.exporter", None)  # its import fails
    agent = Agent(loaded)
    asyncio.run(agent._start_exporter())
    assert agent.exporter is None
    assert any("the Prometheus endpoint cannot start" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- validate()


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            '[[alerting.inhibit]]\nsource_match = ["a=b"]\ntarget_match = ["c=d"]\n',
            ["c.toml:1: alerting.inhibit[0].equal: required: at least one label both alerts must share"],
        ),
        (
            '[[log_analyzer.custom_patterns]]\nname = "x"\n',
            ["c.toml:1: log_analyzer.custom_patterns[0].pattern: required: the regular expression to match"],
        ),
        (
            "[[thresholds.rules]]\nwarn = 5\n",
            ["c.toml:1: thresholds.rules[0].metric: required: the metric the rule applies to"],
        ),
        (
            # A bad value is reported once, not again as "required".
            "[[thresholds.rules]]\nmetric = 5\nwarn = 1\n",
            ["c.toml:2: thresholds.rules[0].metric: expected a string, got 5: write it in quotes"],
        ),
        (
            "[thresholds]\nmemory_percent = { warn = 120, critical = 80 }\n",
            [
                "c.toml:2: thresholds.memory_percent.warn: must be >= 0 and <= 100, got 120.0",
                "c.toml:2: thresholds.memory_percent.critical: must be >= warn (120)",
            ],
        ),
    ],
)  # fmt: skip
def test_sections_validate_themselves(text: str, problems: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config_text(text, "c.toml")
    assert [str(p) for p in caught.value.problems] == problems


# --------------------------------------------------------------------------- docs


def test_metrics_md_lists_exactly_the_metrics_of_the_collector_table() -> None:
    text, families = (REPO / "docs/METRICS.md").read_text().split("\n## Anomaly families\n")
    assert all(f"| `{f.pattern}` |" in families for f in DEFAULT_FAMILIES)
    listed = re.findall(r"^\| `([a-z0-9_]+)` \|", text, flags=re.MULTILINE)
    assert listed == [m.name for d in DOMAINS for m in d.metrics]
    headings = re.findall(r"^## (\S+)$", text, flags=re.MULTILINE)
    assert headings == [d.name for d in DOMAINS]


def test_configuration_md_is_current_and_lists_each_section_once() -> None:
    text = (REPO / "docs/CONFIGURATION.md").read_text()
    assert text == _gen_docs().configuration_md(), "run python tools/gen_docs.py"
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert len(headings) == len(set(headings)), "a section appears twice"
    for plugin in CHANNELS:
        assert f"`{plugin.name}` ([{plugin.section}]" in text
    for analyzer in registry.plugins():
        assert f"`{analyzer.name}`" in text


def test_the_metrics_doc_generator_agrees_with_the_file() -> None:
    assert (REPO / "docs/METRICS.md").read_text() == _gen_docs().metrics_md()


def test_settings_docstring_names_the_real_generator() -> None:
    import agent.settings

    doc = agent.settings.__doc__ or ""
    assert "tools/gen_docs.py" in doc and (REPO / "tools/gen_docs.py").exists()
    assert "gen_config_doc" not in Path(agent.settings.__file__).read_text()
