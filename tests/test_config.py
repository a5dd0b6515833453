"""Configuration: the seed's files validate, every kind of mistake is named precisely."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import tomlkit
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config import (
    ConfigError,
    iter_secrets,
    load_config,
    masked_dict,
    parse_config_text,
    settings_to_toml,
)
from agent.settings import Settings
from common.config import KeyLines
from common.schema import schema_keys
from common.secret import Secret, scrub
from tests.conftest import REPO, write_config

SEED_MINIMAL = """\
[agent]
hostname = "web-server-01"

[thresholds]
cpu_percent = 90.0
memory_percent = 85.0
disk_percent = 90.0

[alerting.discord]
enabled = true
webhook_url = "https://discord.com/api/webhooks/YOUR/WEBHOOK"
"""


def test_seed_minimal_config_is_valid() -> None:
    loaded = parse_config_text(SEED_MINIMAL, "min.toml")
    s = loaded.settings
    assert s.agent.hostname == "web-server-01"
    assert s.thresholds.cpu_percent == 90.0
    assert s.alerting.discord.enabled
    assert isinstance(s.alerting.discord.webhook_url, Secret)
    assert s.alerting.discord.webhook_url.reveal().endswith("/YOUR/WEBHOOK")
    # Every key the file leaves out has its typed default.
    assert s.collector.disk_interval_secs == 60.0
    assert s.storage.ring_buffer_capacity == 360 and s.storage.history_hours == 24.0
    assert s.nats.max_reconnect_attempts == -1
    assert loaded.has_literal_secrets


def test_empty_file_gives_all_defaults() -> None:
    s = parse_config_text("", "empty.toml").settings
    defaults = Settings()
    assert s.thresholds == defaults.thresholds
    assert s.alerting.min_interval_secs == 14_400.0  # Alertmanager's repeat_interval
    assert s.analyzer.ema_alpha == 0.1


def test_full_example_uses_every_key_and_is_valid() -> None:
    """config.example.toml documents every key; it must stay valid and complete."""
    path = REPO / "config.example.toml"
    env = {"DISCORD_WEBHOOK": "1/abc", "SLACK_WEBHOOK_PATH": "T/B/x", "TELEGRAM_BOT_TOKEN": "123:abc",
           "SMTP_PASSWORD": "pw", "NATS_TOKEN": "tok", "WEBHOOK_TOKEN": "wt"}  # fmt: skip
    loaded = load_config(path, environ=env)
    written = _key_paths(tomlkit.parse(path.read_text()).unwrap())
    missing = [
        k.path
        for k in schema_keys(Settings)
        if not any(w == k.path or w.startswith(k.path + ".") for w in written)
    ]
    assert missing == []
    assert loaded.settings.log_analyzer.custom_patterns[0].severity == "critical"


def _key_paths(data: object, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(data, dict):
        for k, v in data.items():
            path = f"{prefix}.{k}" if prefix else k
            sub = _key_paths(v, path)
            out |= sub or {path}
    elif isinstance(data, list) and data and all(isinstance(i, dict) for i in data):
        for item in data:
            out |= _key_paths(item, prefix)
    return out


# Each case: TOML text, the expected line, and the expected "key: message" text.
BAD_CONFIGS = [
    ('[thresholds]\ncpu_percent = "ninety"\n', 2, 'thresholds.cpu_percent: expected a number, got "ninety"'),
    ("[thresholds]\n\nmemory_percent = 120\n", 3, "thresholds.memory_percent: must be >= 0 and <= 100, got 120"),
    ("[thresholds]\ndisk_percent = -1.5\n", 2, "thresholds.disk_percent: must be >= 0 and <= 100, got -1.5"),
    ("[collector]\ncpu_interval_secs = 0\n", 2, "collector.cpu_interval_secs: must be >= 0.1 and <= 86400, got 0"),
    ("[agent]\ncollect_interval_secs = -10\n", 2, "agent.collect_interval_secs: must be >= 0.1 and <= 86400, got -10"),
    ("[analyzer]\nema_alpha = 0\n", 2, "analyzer.ema_alpha: must be > 0 and <= 1, got 0"),
    ("[analyzer]\nema_alpha = 1.5\n", 2, "analyzer.ema_alpha: must be > 0 and <= 1, got 1.5"),
    ("[analyzer]\nzscore_window = 3.5\n", 2, "analyzer.zscore_window: expected an integer, got 3.5"),
    ("[analyzer]\nanomaly_recurring_runs = 1\n", 2, "analyzer.anomaly_recurring_runs: 0 (off) or at least 2: one run shows no period, got 1"),
    ('[inventory]\nenabled = "yes"\n', 2, 'inventory.enabled: expected true or false, got "yes"'),
    ("[thresholds]\ncpu_percnt = 80\n", 2, "thresholds.cpu_percnt: unknown key in [thresholds]; did you mean 'cpu_percent'?"),
    ("[alertng]\nmin_interval_secs = 5\n", 1, "alertng: unknown key at the top level; did you mean 'alerting'?"),
    ('[agent]\nlog_level = "loud"\n', 2, 'agent.log_level: expected one of debug, info, warning, error, critical; got "loud"'),

    ("[alerting.webhook]\nenabled = true\n", 1, "alerting.webhook.url: required when [alerting.webhook] is enabled"),
    ("[alerting.webhook]\nenabled = true\nurl = \"ftp://example.com/x\"\n", 3, "alerting.webhook.url: expected an http(s) URL with a host"),
    ('[alerting.webhook]\nenabled = true\nurl = "${SYSOPS_TEST_UNSET_VAR}"\n', 3,
     "alerting.webhook.url: environment variable SYSOPS_TEST_UNSET_VAR is not set"),
    ('[alerting.telegram]\nbot_token = "${not a name}"\n', 2,
     "alerting.telegram.bot_token: '${not a name}' is not a valid reference (use ${NAME} or ${file:/path})"),
    ("[alerting.webhook.headers]\nAuthorization = 5\n", 2, "alerting.webhook.headers.Authorization: expected a string, got a number"),
    ('[alerting.webhook]\nheaders = { "Bad Header" = "x" }\n', 2, "alerting.webhook.headers.Bad Header: not a valid HTTP header name"),
    ("[log_analyzer]\nenabled = true\n\n[[log_analyzer.custom_patterns]]\npattern = \"ok\"\n\n"
     "[[log_analyzer.custom_patterns]]\npattern = \"(unclosed\"\nseverity = \"warn\"\n", 8,
     "log_analyzer.custom_patterns[1].pattern: invalid regular expression: missing ), unterminated subpattern at position 0"),
    ("[[log_analyzer.custom_patterns]]\npattern = '(\\w+\\s?)+: failed'\n", 2,
     "log_analyzer.custom_patterns[0].pattern: '(\\\\w+\\\\s?)+: failed': a repeated group whose body can "
     "match the same text in more than one way"),
    ("[collector]\ndisk_exclude_mountpoints = '^/(x|xx)+/$'\n", 2,
     "collector.disk_exclude_mountpoints: '^/(x|xx)+/$': a repeated group"),
    ('[[log_analyzer.custom_patterns]]\npattern = "x"\nseverity = "fatal"\n', 3,
     'log_analyzer.custom_patterns[0].severity: expected one of info, warn, critical, emergency; got "fatal"'),
    ('[log_analyzer]\nsources = ["dmesg",\n  "eventlog"]\n', 2,
     'log_analyzer.sources[1]: expected one of dmesg, kmsg, journald, syslog, pstore; got "eventlog"'),
    ("[storage]\nring_buffer_capacity = true\n", 2, "storage.ring_buffer_capacity: expected an integer, got true"),
    ("thresholds = 5\n", 1, "thresholds: expected a table, got 5"),
    ('[nats]\nurls = "nats://a:4222"\n', 2, 'nats.urls: expected an array, got "nats://a:4222"'),
    ('[agent]\nhostname = "two words"\n', 2, "agent.hostname: must be 1-253 characters without spaces, '/' or control characters"),
    ("[thresholds]\ncpu_percent = nan\n", 2, "thresholds.cpu_percent: expected a finite number, got nan"),
    ('[prometheus]\nenabled = true\nbind = "127.0.0.1:9100"\n\n[thresholds]\ncpu_percent = 90\ncpu_percent = 80\n', 7,
     'TOML syntax error: Key "cpu_percent" already exists.'),
    ("[agent\nhostname = 'x'\n", 1, "TOML syntax error:"),
    # Each of these passed --validate and then failed at run time (a traceback, or every
    # alert of the channel lost): refused where it is written.
    ('[prometheus]\nbind = "0.0.0.0"\n', 2, "prometheus.bind: '0.0.0.0': write host:port"),
    ('[prometheus]\nbind = "127.0.0.1:99999"\n', 2, "prometheus.bind: '127.0.0.1:99999': write host:port, a port from 1 to 65535"),
    ('[prometheus]\nbind = "fe80::1"\n', 2, "prometheus.bind: 'fe80::1': an IPv6 address goes in brackets"),
    ('[alerting.syslog]\naddress = "tcp://fe80::1"\n', 2, "alerting.syslog.address: 'tcp://fe80::1': an IPv6 address goes in brackets"),
    ('[alerting.syslog]\naddress = "127.0.0.1"\n', 2, "alerting.syslog.address: '127.0.0.1' names no host and port"),
    ('[alerting.syslog]\naddress = "127.0.0.1:70000"\n', 2, "alerting.syslog.address: '127.0.0.1:70000' names no host and port"),
    ('[alerting.syslog]\naddress = "udp:127.0.0.1:514"\n', 2, "alerting.syslog.address: 'udp:127.0.0.1:514': write udp://127.0.0.1:514"),
    ('[alerting.syslog]\naddress = "http://127.0.0.1:514"\n', 2, "alerting.syslog.address: scheme 'http': write udp://host:port"),
    ('[alerting.email]\nfrom = "sysops agent"\n', 2, "alerting.email.from: 'sysops agent' is not an email address: write user@example.com"),
    ('[alerting.email]\nto = ["ops@example.com",\n  "oncall at example.com"]\n', 2, "alerting.email.to[1]: 'oncall at example.com' is not an email address"),
    ('[alerting.email]\nto = ["a@example.com,b@example.com"]\n', 2, "alerting.email.to[0]: 'a@example.com,b@example.com' is not an email address (one address per item of the list)"),
    ('[alerting.email]\nsmtp_host = "smtp://127.0.0.1:2525"\n', 2, "alerting.email.smtp_host: 'smtp://127.0.0.1:2525': write the server's name or address only"),
    ('[alerting.email]\nsmtp_host = "mail.example.com:587"\n', 2, "alerting.email.smtp_host: 'mail.example.com:587': write the server's name or address only"),
    # Where it is written: a dotted table header, a key of an inline table.
    ('\n[alerts.webhook]\nurl = "x"\n', 2, "alerts: unknown key at the top level; did you mean 'alerting'?"),
    ('[collector]\ncpu_interval_secs = 10\nnetwork_interface_families = { lxc = "^lxc", bad = "(" }\n', 3,
     "collector.network_interface_families.bad: invalid regular expression"),
    # What to write instead, said with the problem.
    ('[alerting.maintenance]\nweekdays = ["sat"]\n', 1, "alerting.maintenance: expected an array, got a table: write [[alerting.maintenance]], one such table per item"),
    ('[alerting.telegram]\nchat_id = -1001234567890\n', 2, "alerting.telegram.chat_id: expected a string, got -1001234567890: write it in quotes"),
    ('[agent]\ncollect_interval_secs = "5m"\n', 2, 'agent.collect_interval_secs: expected a number, got "5m": a number of seconds, without quotes (300 for five minutes)'),
    ('[analyzer]\nzscore_window = "360"\n', 2, 'analyzer.zscore_window: expected an integer, got "360": write it without quotes'),
    # A rule selecting no series: a pattern where one name is taken, a declared metric misspelt.
    ('[[thresholds.rules]]\nmetric = "memory_used_*"\nwarn = 1\n', 2, "thresholds.rules[0].metric: 'memory_used_*': a rule names one metric, not a pattern"),
    ('[[thresholds.rules]]\nmetric = "memory_used_percnt"\nwarn = 1\n', 2, "thresholds.rules[0].metric: no collector reports 'memory_used_percnt' (did you mean 'memory_used_percent'?)"),
    ('[analyzer]\nanomaly_metrics = ["cpu_usage_percent", "disk_used_precent"]\n', 2, "analyzer.anomaly_metrics[1]: no collector reports 'disk_used_precent' (did you mean 'disk_used_percent'?)"),
]  # fmt: skip


def test_a_rule_for_an_applications_metric_is_not_taken_for_a_typo() -> None:
    """A name no collector declares and like none may be meant for `replay`; so may a pattern."""
    text = """[[thresholds.rules]]
metric = "http_requests_per_second"
warn = 100

[[thresholds.rules]]
metric = "myapp_latency_seconds"
warn = 1

[[thresholds.rules]]
metric = "memory_used_percent_p95"
warn = 90

[analyzer]
anomaly_metrics = ["cpu_*", "myapp_*", "queue_depth", "disk_reads_per_sec"]
"""
    parse_config_text(text, "c.toml")


def test_paths_the_agent_starts_with_are_checked_where_they_are_written(tmp_path: Path) -> None:
    """Each passed --validate, then stopped the start naming no key, or let the agent say
    "started" while every collector failed."""
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    text = f"""[agent]
data_dir = "{a_file}"

[storage]
sqlite_enabled = true
sqlite_path = "{tmp_path}"
"""
    with pytest.raises(ConfigError) as refused:
        parse_config_text(text, "c.toml")
    said = [str(p) for p in refused.value.problems]
    assert said == [
        f"c.toml:2: agent.data_dir: {a_file}: not a directory (the agent keeps its outbox, "
        "silences and history tier in it, and makes it if it is missing)",
        f"c.toml:6: storage.sqlite_path: {tmp_path}: a directory; the history is a file "
        "(history.db in it?)",
    ]
    # procfs is checked at start, not here: a container's configuration is validated where
    # its /host/proc is not (tests/test_hostile.py has the start).
    parse_config_text(f'[agent]\nprocfs = "{tmp_path / "no-proc"}"\n', "c.toml")
    # A data_dir not made yet is made at start; /run/<name> is made by systemd at start.
    fine = f'[agent]\ndata_dir = "{tmp_path / "new"}"\npid_file = "/run/sysops-none/agent.pid"\n'
    parse_config_text(fine, "c.toml")


def test_addresses_a_server_takes_are_accepted() -> None:
    """The forms the checks above must not refuse."""
    text = """[prometheus]
bind = "{bind}"

[alerting.syslog]
address = "{syslog}"

[alerting.email]
smtp_host = "{smtp}"
from = "{sender}"
to = ["ops@example.com", "On call <oncall+db@mail.example.com>", "root",
      '"Ops, Team" <ops@example.com>', '"john doe"@example.com', "ops@bücher.example"]
"""
    for bind, syslog, smtp, sender in [
        ("127.0.0.1:19273", "/dev/log", "smtp.example.com", "agent@example.com"),
        ("[::1]:19273", "udp://[::1]:514", "[::1]", "Sysops agent <agent@example.com>"),
        (":19273", "tcp://logs.example.com:601", "::1", "agent@host"),
        ("0.0.0.0:9100", "127.0.0.1:514", "192.0.2.1", "agent@example.com"),
        # An IPv6 address without brackets, as older releases took it: the port is last.
        ("::1:19273", "::1:514", "localhost", "root"),
    ]:
        parse_config_text(text.format(bind=bind, syslog=syslog, smtp=smtp, sender=sender), "c.toml")


@pytest.mark.parametrize(("text", "line", "expected"), BAD_CONFIGS)
def test_bad_config_names_file_line_and_key(text: str, line: int, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, "/etc/sysops-agent/bad.toml", environ={})
    problems = [str(p) for p in info.value.problems]
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"/etc/sysops-agent/bad.toml:{line}: {expected}"), problems[0]


def test_a_pattern_that_backtracks_exponentially_is_refused_with_its_way_out() -> None:
    """Matched against lines anyone can send (`logger`), "(\\w+\\s?)+:" took over a minute on
    30 characters: the agent froze.  The error says how to write it; the atomic and the
    possessive forms, and repeats that cannot blow up, are taken."""

    def problems(pattern: str) -> list[str]:
        text = f"[[log_analyzer.custom_patterns]]\npattern = '{pattern}'\n"
        try:
            parse_config_text(text, "c.toml", environ={})
        except ConfigError as error:
            return [str(p) for p in error.problems]
        return []

    hostile = (r"(\w+\s?)+:", r"(a+)+b", r"(x|xx)+y", r"(.*,)+x", r"(?:GET|POST)* /",
               r"(a{1,100})+", r"(?=(a+)+)b", r"(\w+\s?){3}:", r"(\d+\.){3}\d+",
               # Bounded, and still a power of the length: 18 s on 28 characters, over a
               # minute on 26, 1.1 s on 26.
               r"(\w+\s?){1,64}:", r"(\d+|\w+){2,60}=", r"(?:a?){26}a{26}",
               # Nested: over 20 s on 40 to 200 characters.
               r"(\w{1,64}\s?){4}:", r"((\w{1,4}){4}){4}:", r"(((\w{1,2}){4}){4}){4}:",
               r"(?:(?:\w{1,3}|\d{1,3}){4}){4}:",
               # Flat, or within the limit once a line's 8,192 starts are counted: 1.45 s.
               r"\w{1,4}" * 16 + ":", r"(?:\w\w?){13}:", r"\w{0,64}\w{0,64}\w{0,64}:")  # fmt: skip
    for pattern in hostile:
        said = problems(pattern)
        assert len(said) == 1 and "(?>...)" in said[0] and "(...)++" in said[0], (pattern, said)
    for fine in (r"(?>\w+\s?)+:", r"(\w+\s?)++:", r"(?>\d+\.){3}\d+", r"(\d{1,3}\.){3}\d{1,3}",
                 r"error.*timeout", r"(?:GET|POST) /", r"(GET|POST){2} /", r"x(?:a|b){2,60}",
                 r"\w{1,64} \w{1,64}", r"\d{1,2}:\d{1,2}:\d{1,2}", r"Out of memory: Killed"):  # fmt: skip
        assert problems(fine) == [], fine


def test_a_pattern_nested_too_deeply_is_a_problem_not_a_crash() -> None:
    text = "[[log_analyzer.custom_patterns]]\npattern = '" + "(" * 1200 + "a" + ")" * 1200 + "'\n"
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, "c.toml", environ={})
    assert "nested too deeply" in str(info.value.problems[0])


def test_all_problems_are_reported_at_once() -> None:
    text = '[thresholds]\ncpu_percent = "x"\nmemory_percent = 500\n[collector]\ngpu_interval_secs = 0\n'
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, "c.toml")
    assert [p.key for p in info.value.problems] == [
        "thresholds.cpu_percent", "thresholds.memory_percent", "collector.gpu_interval_secs",
    ]  # fmt: skip
    assert [p.line for p in info.value.problems] == [2, 3, 5]


def test_secret_value_is_never_echoed_in_errors() -> None:
    text = '[alerting.discord]\nenabled = true\nwebhook_url = "ftp://hunter2-secret-token"\n'
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, "c.toml")
    assert "hunter2" not in str(info.value)
    env_text = '[thresholds]\ncpu_percent = 1\n[agent]\nlog_level = "${LEVEL}"\n'
    with pytest.raises(ConfigError) as info:
        parse_config_text(env_text, "c.toml", environ={"LEVEL": "s3cr3t-from-env"})
    assert "s3cr3t-from-env" not in str(info.value)
    assert "agent.log_level: expected one of" in str(info.value)
    # A check that quotes what it refuses does not quote what a reference gave it.
    mail = '[alerting.email]\nto = ["${TO}"]\n'
    with pytest.raises(ConfigError) as info:
        parse_config_text(mail, "c.toml", environ={"TO": "s3cr3t from env"})
    assert "s3cr3t" not in str(info.value)
    assert "alerting.email.to[0]: the value is not an email address" in str(info.value)
    # Nor the form to write instead, which holds most of it; nor a short value's letters.
    for value in ("udp:collector.internal:514", "e"):
        with pytest.raises(ConfigError) as info:
            parse_config_text(
                '[alerting.syslog]\naddress = "${A}"\n', "c.toml", environ={"A": value}
            )
        assert str(info.value.problems[0]) == (
            "c.toml:2: alerting.syslog.address: the value (not shown: a secret, or a "
            "reference's) is not valid here; see this key in docs/CONFIGURATION.md"
        )


def test_environment_and_file_references(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token-value\n")
    text = f"""
[agent]
hostname = "${{HOST_NAME}}"
data_dir = "/var/lib/$${{literal}}"
[alerting.telegram]
enabled = true
bot_token = "${{file:{token_file}}}"
chat_id = "-100123"
[alerting.webhook]
enabled = true
url = "https://hooks.example.com/${{HOOK_PATH}}"
headers = {{ Authorization = "Bearer ${{WEBHOOK_TOKEN}}" }}
"""
    env = {"HOST_NAME": "db-01", "HOOK_PATH": "abc/def", "WEBHOOK_TOKEN": "tok-123456"}
    loaded = parse_config_text(text, "c.toml", environ=env)
    s = loaded.settings
    assert s.agent.hostname == "db-01"
    assert s.agent.data_dir == "/var/lib/${literal}"
    assert s.alerting.telegram.bot_token is not None
    assert s.alerting.telegram.bot_token.reveal() == "file-token-value"
    assert s.alerting.webhook.url is not None
    assert s.alerting.webhook.url.reveal() == "https://hooks.example.com/abc/def"
    assert s.alerting.webhook.headers["Authorization"].reveal() == "Bearer tok-123456"
    assert not loaded.has_literal_secrets  # all secrets came from outside the file


def test_missing_secret_file_is_named(tmp_path: Path) -> None:
    text = f'[nats]\nenabled = true\ntoken = "${{file:{tmp_path}/absent}}"\n'
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, "c.toml")
    assert f"c.toml:3: nats.token: cannot read secret file {tmp_path}/absent" in str(info.value)


def test_secrets_are_masked_everywhere() -> None:
    text = """
[nats]
token = "nats-token-AAAA"
password = "nats-password-BBBB"
[alerting.webhook]
url = "https://example.com/hook-CCCC"
headers = { "X-Api-Key" = "header-DDDD" }
[alerting.email]
password = "smtp-EEEE"
"""
    s = parse_config_text(text, "c.toml").settings
    rendered = " ".join([repr(s), str(s), settings_to_toml(s), str(masked_dict(s))])
    secrets = [sec.reveal() for sec in iter_secrets(s)]
    assert len(secrets) == 5
    for value in secrets:
        assert value not in rendered
    assert "***" in settings_to_toml(s)
    assert scrub("url was https://example.com/hook-CCCC!") == "url was ***!"


def test_plain_http_webhook_off_loopback_warns_but_loopback_does_not() -> None:
    warned = parse_config_text('[alerting.webhook]\nurl = "http://10.1.2.3/hook"\n', "c.toml")
    assert any("plain http" in w and "c.toml:2" in w for w in warned.warnings)
    quiet = parse_config_text('[alerting.webhook]\nurl = "http://127.0.0.1:8080/hook"\n', "c.toml")
    assert quiet.warnings == ()
    loopback_discord = '[alerting.discord]\nwebhook_url = "http://[::1]:9000/api/webhooks/1/x"\n'
    assert parse_config_text(loopback_discord, "c.toml").warnings == ()
    remote_discord = '[alerting.discord]\nwebhook_url = "http://discord.example/api/webhooks/1/x"\n'
    assert any("plain http" in w for w in parse_config_text(remote_discord, "c.toml").warnings)


def test_a_secret_written_as_a_shell_variable_is_warned_of_without_showing_it() -> None:
    """`bot_token = "$TELEGRAM_BOT_TOKEN"` was sent as written: a reference is ${NAME}.
    A secret may begin with $ (a password), so it is a warning, and it shows no value."""
    text = '[alerting.webhook]\nurl = "https://example.com/x"\nhmac_secret = "$WEBHOOK_SECRET"\n'
    warned = parse_config_text(text, "c.toml")
    (warning,) = warned.warnings
    assert warning.startswith("c.toml:3: alerting.webhook.hmac_secret: the value looks like a "
                              "shell variable ($NAME)")  # fmt: skip
    assert "WEBHOOK_SECRET" not in warning and "${NAME}" in warning
    for fine in ("${WEBHOOK_SECRET}", "$3cr3t-pass", "s3cr3t"):
        text = f'[alerting.webhook]\nurl = "https://example.com/x"\nhmac_secret = "{fine}"\n'
        assert parse_config_text(text, "c.toml", environ={"WEBHOOK_SECRET": "x"}).warnings == ()


def test_a_subject_prefix_of_several_tokens_is_said_to_be_taken_as_one() -> None:
    """`prod.sysops` became `prod_sysops` without a word: an account allowed to publish on
    `prod.sysops.>` was then refused, and a watcher on the dotted subjects heard nothing."""
    warned = parse_config_text('[nats]\nsubject_prefix = "prod.sysops"\n', "c.toml")
    assert warned.warnings == (
        "c.toml:2: nats.subject_prefix: 'prod.sysops' is used as 'prod_sysops': a subject "
        "token is letters, digits, '_' and '-'",
    )
    assert parse_config_text('[nats]\nsubject_prefix = "prod-sysops"\n', "c.toml").warnings == ()


def test_plaintext_smtp_to_a_remote_server_is_refused_where_it_is_written() -> None:
    # It passed --validate, and the channel then refused every mail at its first send.
    email = """[alerting.email]
enabled = true
smtp_host = "{host}"
smtp_tls = "none"
from = "a@example.com"
to = ["b@example.com"]
"""
    with pytest.raises(ConfigError) as refused:
        parse_config_text(email.format(host="smtp.example.com"), "c.toml")
    assert "c.toml:4: alerting.email.smtp_tls:" in str(refused.value)
    assert "loopback relay only" in str(refused.value) and "smtp.example.com" in str(refused.value)
    for loopback in ("127.0.0.1", "localhost", "::1", "[::1]", "localhost.", "::ffff:127.0.0.1"):
        parse_config_text(email.format(host=loopback), "c.toml")
    unset = email.replace('smtp_host = "{host}"\n', "")
    with pytest.raises(ConfigError) as missing:  # one problem: the host, not the plaintext too
        parse_config_text(unset, "c.toml")
    assert len(missing.value.problems) == 1 and "required when" in str(missing.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="file ownership checks need root to chown")
def test_permission_warnings(tmp_path: Path) -> None:
    secret_cfg = '[alerting.telegram]\nbot_token = "123:literal"\n'
    readable = write_config(tmp_path, secret_cfg, "r.toml", 0o644)
    warnings = load_config(readable).warnings
    assert len(warnings) == 1
    assert "world-readable" in warnings[0] and f"chmod 640 {readable}" in warnings[0]
    writable = write_config(tmp_path, "", "w.toml", 0o666)
    assert any("writable by group or others" in w for w in load_config(writable).warnings)
    fine = write_config(tmp_path, secret_cfg, "ok.toml", 0o640)
    assert load_config(fine).warnings == ()
    os.chown(fine, 1234, 0)
    assert any("owned and writable by uid 1234" in w for w in load_config(fine).warnings)
    from_env = write_config(tmp_path, '[alerting.telegram]\nbot_token = "${T}"\n', "e.toml", 0o644)
    assert load_config(from_env, environ={"T": "x"}).warnings == ()


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)
    latin1 = tmp_path / "latin1.toml"  # one key edited in another encoding: said where
    latin1.write_bytes(
        b'[agent]\nhostname = "web"\n\n[alerting.email]\nfrom = "Ren\xe9 <r@x.org>"\n'
    )
    with pytest.raises(ConfigError) as refused:
        load_config(latin1)
    assert str(refused.value.problems[0]).startswith(f"{latin1}:5: not UTF-8 text")
    bom = tmp_path / "bom.toml"  # a byte-order mark, as some editors write: not a key
    bom.write_bytes(b'\xef\xbb\xbf[agent]\nhostname = "web"\n')
    assert load_config(bom).settings.agent.hostname == "web"


def test_key_lines_follow_tables_arrays_and_multiline_values() -> None:
    text = '''# comment
[agent]
hostname = "a"   # trailing [not a table]
data_dir = """
[fake]
x = 1
"""
[log_analyzer]
sources = [
  "dmesg",
  "syslog",
]
[[log_analyzer.custom_patterns]]
pattern = 'a[b'
[[log_analyzer.custom_patterns]]
name = "second"
"quoted.key" = 1
'''
    lines = KeyLines(text)
    assert lines.line_for(("agent", "hostname")) == 3
    assert lines.line_for(("agent", "data_dir")) == 4
    assert lines.line_for(("fake",)) is None
    assert lines.line_for(("log_analyzer", "sources", 1)) == 9
    assert lines.line_for(("log_analyzer", "custom_patterns", 0, "pattern")) == 14
    assert lines.line_for(("log_analyzer", "custom_patterns", 1, "name")) == 16
    assert lines.line_for(("log_analyzer", "custom_patterns", 1, "quoted.key")) == 17


# -- property tests: whatever the input, the result is settings or ConfigError ---------

toml_scalars = st.one_of(
    st.integers(-(10**6), 10**6), st.floats(allow_nan=False, width=32), st.booleans(),
    st.text(max_size=20), st.lists(st.text(max_size=5), max_size=3),
)  # fmt: skip
known_sections = st.sampled_from(
    [
        "agent",
        "collector",
        "thresholds",
        "analyzer",
        "storage",
        "nats",
        "alerting",
        "cpu",
        "inventory",
    ]
)
known_keys = st.sampled_from(
    ["hostname", "cpu_percent", "ema_alpha", "enabled", "url", "min_interval_secs", "zscore_window",
     "ring_buffer_capacity", "batch_size", "log_level", "unknown_key"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        known_sections, st.dictionaries(known_keys, toml_scalars, max_size=4), max_size=4
    )
)
def test_any_structured_config_validates_or_fails_cleanly(
    doc: dict[str, dict[str, object]],
) -> None:
    text = tomlkit.dumps(doc)
    try:
        parse_config_text(text, "h.toml", environ={})
    except ConfigError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert str(problem).startswith("h.toml")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_validates_or_fails_cleanly(text: str) -> None:
    try:
        parse_config_text(text, "t.toml", environ={})
    except ConfigError as exc:
        assert exc.problems


THRESHOLD_ERRORS = [
    ("[thresholds]\nmemory_percent = { warn = 90, critical = 80 }\n", "thresholds.memory_percent.critical: must be >= warn (90)"),
    ("[thresholds]\nmemory_percent = { warn = 90, clear = 95 }\n", "thresholds.memory_percent.clear: must be <= 90 (the mildest level)"),
    ("[thresholds]\nmemory_percent = { warn = 150 }\n", "thresholds.memory_percent.warn: must be >= 0 and <= 100, got 150"),
    ("[thresholds]\nmemory_percent = { for_secs = 10 }\n", "thresholds.memory_percent: needs at least one of warn or critical"),
    ("[thresholds]\nmemory_percent = { warn = 90, hold = 5 }\n", "thresholds.memory_percent.hold: unknown key"),
    ('[[thresholds.rules]]\nwarn = 5\n', "thresholds.rules[0].metric: required"),
    ('[[thresholds.rules]]\nmetric = "disk_free_bytes"\ndirection = "below"\nwarn = 2\ncritical = 10\n', "thresholds.rules[0].critical: must be <= warn (2)"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), THRESHOLD_ERRORS)
def test_threshold_table_errors(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, "t.toml")
    assert any(expected in str(p) for p in info.value.problems), [
        str(p) for p in info.value.problems
    ]


def test_config_example_validates_from_the_cli_with_its_variables_set() -> None:
    """As an operator would check it: every ${NAME} set to any value, --validate."""
    from tests.conftest import run_agent

    path = REPO / "config.example.toml"
    names = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", path.read_text())) - {"NAME"}
    for value in ("x", "secret-value-123/with/slashes"):
        result = run_agent("--validate", "--config", str(path), env=dict.fromkeys(names, value))
        assert result.returncode == 0, result.stderr
    assert value not in result.stdout + result.stderr  # secrets are never printed
