"""The settings of everything `alerting` does: the channels, the router's rules, and the
NATS connection.

`sysops-agent` and `sysops-fleet` read `[alerting]` (and the server part of
`[nats]`) with these same classes, so an operator writes a channel once, the
same way, for both.  A channel is declared by its section (`CHANNEL =
ChannelPlugin(name, "module:build")`): reading the declaration never imports
the channel's module or its library.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from types import MappingProxyType
from typing import Any, ClassVar, get_type_hints

from alerting.channels.registry import ChannelPlugin, installed
from common.config import is_loopback_host
from common.schema import SEVERITIES, SYSLOG_FACILITIES, Issue, opt, refused_by
from common.secret import Secret


def _empty_mapping() -> Mapping[str, Secret]:
    return MappingProxyType({})


NATS_SCHEMES = ("nats", "tls", "ws", "wss")


def _check_nats_url(value: str) -> str | None:
    """A URL nats-py can use, checked now: `http://...` was "DNS lookup failed" for a literal
    address at the first connection, and a bad port "invalid connect url option"."""
    from urllib.parse import urlsplit

    parsed = urlsplit(value if "://" in value else f"nats://{value}")
    if parsed.scheme not in NATS_SCHEMES:
        return f"scheme {parsed.scheme!r}: a NATS URL is nats://, tls://, ws:// or wss://host:port"
    try:
        parsed.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        return "the port is not a number from 0 to 65535 (nats://host:4222)"
    if not parsed.hostname:
        return "no host (nats://host:4222)"
    return None


def _advise_subject_token(value: str) -> str | None:
    """A prefix of several tokens (`prod.sysops`) is taken as one: said, not silently
    rewritten (an account's permissions on `prod.sysops.>` then matched nothing)."""
    from alerting.channels.nats import subject_token

    token = subject_token(value)
    if token == value:
        return None
    return f"{value!r} is used as {token!r}: a subject token is letters, digits, '_' and '-'"


@dataclass(frozen=True)
class NatsServerSettings:
    """How to reach the NATS servers: `[nats]` keys the agent and the fleet watcher share."""

    url: str = opt("nats://127.0.0.1:4222", "NATS server URL.", check=_check_nats_url)
    urls: tuple[str, ...] = opt(
        (), "Several server URLs (a cluster); overrides url.", check=_check_nats_url
    )
    credential_file: str | None = opt(None, "NATS .creds file (needs the nkeys package).")
    token: Secret | None = opt(None, "Token authentication.")
    user: str | None = opt(None, "User for user/password authentication.")
    password: Secret | None = opt(None, "Password for user/password authentication.")
    subject_prefix: str = opt(
        "sysops",
        "First token of every subject: letters, digits, _ and - (any other character is used as _).",
        advise=_advise_subject_token,
    )
    max_reconnect_attempts: int = opt(
        -1, "Reconnect attempts; -1 retries forever.", ge=-1, le=1_000_000
    )
    reconnect_delay_secs: float = opt(5.0, "Delay between reconnect attempts.", gt=0, le=3600)
    tls_ca_file: str | None = opt(
        None, "CA certificate(s) to verify the server with (TLS is on when any tls_ key is set)."
    )
    tls_cert_file: str | None = opt(
        None, "Client certificate, for servers that require one (mutual TLS)."
    )
    tls_key_file: str | None = opt(None, "Key of the client certificate.")
    tls_server_name: str | None = opt(
        None, "Name to verify in the server's certificate (when connecting by IP)."
    )


@dataclass(frozen=True)
class ConsoleChannelSettings:
    CHANNEL: ClassVar[ChannelPlugin] = ChannelPlugin("console", "alerting.channels.console:build")
    enabled: bool = opt(False, "Print alerts on standard output (the embedded default).")
    min_severity: str = opt("info", "Lowest severity printed.", choices=SEVERITIES)
    send_resolved: bool = opt(True, "Also print when an alert resolves.")


@dataclass(frozen=True)
class DiscordChannelSettings:
    CHANNEL: ClassVar[ChannelPlugin] = ChannelPlugin("discord", "alerting.channels.discord:build")
    enabled: bool = opt(False, "Send alerts to a Discord webhook.")
    webhook_url: Secret | None = opt(
        None,
        "Discord webhook URL (contains its token).",
        url="lenient",
        required_when_enabled=True,
    )
    username: str = opt("sysops-agent", "Name the webhook posts under.")
    mention_roles: tuple[str, ...] = opt((), "Role ids mentioned on critical and emergency alerts.")
    min_severity: str = opt("warn", "Lowest severity sent.", choices=SEVERITIES)
    send_resolved: bool = opt(True, "Also send when an alert resolves.")


@dataclass(frozen=True)
class SlackChannelSettings:
    CHANNEL: ClassVar[ChannelPlugin] = ChannelPlugin("slack", "alerting.channels.slack:build")
    enabled: bool = opt(False, "Send alerts to a Slack incoming webhook.")
    webhook_url: Secret | None = opt(
        None, "Slack incoming webhook URL.", url="lenient", required_when_enabled=True
    )
    channel: str | None = opt(None, "Channel override (legacy webhooks only).")
    mention_users: tuple[str, ...] = opt((), "User ids mentioned on critical and emergency alerts.")
    min_severity: str = opt("warn", "Lowest severity sent.", choices=SEVERITIES)
    send_resolved: bool = opt(True, "Also send when an alert resolves.")


@dataclass(frozen=True)
class TelegramChannelSettings:
    CHANNEL: ClassVar[ChannelPlugin] = ChannelPlugin("telegram", "alerting.channels.telegram:build")
    enabled: bool = opt(False, "Send alerts through a Telegram bot.")
    bot_token: Secret | None = opt(None, "Bot token from @BotFather.", required_when_enabled=True)
    chat_id: str | None = opt(None, "Chat id or @channelname.", required_when_enabled=True)
    parse_mode: str = opt(
        "HTML", "Message markup (HTML is what the agent writes).", choices=("HTML",)
    )
    api_url: str = opt(
        "https://api.telegram.org",
        "Bot API server (a self-hosted one, or a test server).",
        url="lenient",
    )
    min_severity: str = opt("warn", "Lowest severity sent.", choices=SEVERITIES)
    send_resolved: bool = opt(True, "Also send when an alert resolves.")


# local@domain as a mail header holds it (a quoted local part too), or a local mailbox
# alone (`root`, delivered by the relay on this host).
_MAILBOX = re.compile(r'(?:[^@\s<>,;"]+|"[^"\r\n]*")(?:@[^@\s<>,;"]+)?')
_NAMED = re.compile(r"[^<>\r\n]*<([^<>]*)>")  # Name <local@domain>


def _check_email_address(value: str) -> str | None:
    """An address an SMTP server takes: user@example.com, "Name <user@example.com>", or a
    local mailbox (root).
    Not checked, `from = "sysops agent"` passed --validate and every mail then failed."""
    named = _NAMED.fullmatch(value.strip())
    mailbox = named.group(1) if named else value.strip()
    if _MAILBOX.fullmatch(mailbox):
        return None
    several = " (one address per item of the list)" if re.search(r"[,;]", mailbox) else ""
    return (
        f"{value!r} is not an email address{several}: write user@example.com "
        'or "Name <user@example.com>"'
    )


def _check_smtp_host(value: str) -> str | None:
    """A host name or address: `smtp://host:25` was taken for a host name, and failed at
    the first send with "Name or service not known"."""
    bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    if (
        "://" in value
        or "/" in value
        or (":" in bare and "[" not in value and bare.count(":") == 1)
    ):
        return (
            f"{value!r}: write the server's name or address only (smtp.example.com); "
            "the port is smtp_port and TLS is smtp_tls"
        )
    if not bare or any(c.isspace() for c in bare):
        return f"{value!r} is not a host name or address (smtp.example.com)"
    return None


@dataclass(frozen=True)
class EmailChannelSettings:
    CHANNEL: ClassVar[ChannelPlugin] = ChannelPlugin(
        "email", "alerting.channels.email:build", requires=("aiosmtplib",)
    )
    enabled: bool = opt(False, "Send alerts by email (needs the `email` extra).")
    smtp_host: str | None = opt(
        None, "SMTP server (name or address).", required_when_enabled=True, check=_check_smtp_host
    )
    smtp_port: int = opt(587, "SMTP port (587 STARTTLS, 465 implicit TLS).", ge=1, le=65535)
    smtp_tls: str = opt(
        "starttls",
        "starttls (required), tls (implicit) or none (loopback only).",
        choices=("starttls", "tls", "none"),
    )
    username: str | None = opt(None, "SMTP login.")
    password: Secret | None = opt(None, "SMTP password.")
    from_: str | None = opt(
        None,
        "Sender address (user@example.com or Name <user@example.com>).",
        key="from",
        required_when_enabled=True,
        check=_check_email_address,
    )
    to: tuple[str, ...] = opt(
        (), "Recipient addresses.", required_when_enabled=True, check=_check_email_address
    )
    subject_prefix: str = opt("[sysops]", "Prefix of every subject line.")
    min_severity: str = opt("critical", "Lowest severity sent.", choices=SEVERITIES)
    send_resolved: bool = opt(True, "Also send when an alert resolves.")

    def validate(self) -> list[Issue]:
        # Refused here, not only at the first send: it passed --validate and then never
        # delivered a mail (the channel refuses plaintext to anything but a local relay).
        if (
            self.enabled
            and self.smtp_tls == "none"
            and self.smtp_host  # (unset: "required when enabled" says so)
            and not is_loopback_host(self.smtp_host)
        ):
            return [("smtp_tls", f'"none" (plaintext) is for a loopback relay only, and '
                     f"smtp_host is {self.smtp_host}: use starttls or tls")]  # fmt: skip
        return []


@dataclass(frozen=True)
class WebhookChannelSettings:
    CHANNEL: ClassVar[ChannelPlugin] = ChannelPlugin("webhook", "alerting.channels.webhook:build")
    enabled: bool = opt(False, "POST each alert as JSON to a URL.")
    url: Secret | None = opt(
        None,
        "Endpoint URL (https; plain http draws a warning off loopback).",
        url="lenient",
        required_when_enabled=True,
    )
    method: str = opt("POST", "HTTP method.", choices=("POST", "PUT", "PATCH"))
    headers: Mapping[str, Secret] = opt(
        factory=_empty_mapping,
        doc="Extra request headers (values are secrets).",
        default_doc="{}",
    )
    timeout_secs: float = opt(10.0, "Timeout of one request.", gt=0, le=300)
    retry_count: int = opt(3, "Retries after a failed attempt (5xx, 429, network).", ge=0, le=20)
    hmac_secret: Secret | None = opt(
        None, "Sign each body: X-Sysops-Signature: sha256=<HMAC-SHA256 hex>."
    )
    min_severity: str = opt("info", "Lowest severity sent.", choices=SEVERITIES)
    send_resolved: bool = opt(True, "Also send when an alert resolves.")


def _parse_syslog_address(value: str) -> object:
    from alerting.channels.syslog import parse_address  # the channel's own reading of it

    return parse_address(value)


@dataclass(frozen=True)
class SyslogChannelSettings:
    CHANNEL: ClassVar[ChannelPlugin] = ChannelPlugin("syslog", "alerting.channels.syslog:build")
    enabled: bool = opt(False, "Write alerts to the local syslog (/dev/log).")
    facility: str = opt("daemon", "Syslog facility.", choices=SYSLOG_FACILITIES)
    tag: str = opt("sysops-agent", "Syslog tag (APP-NAME).")
    address: str = opt(
        "/dev/log",
        "A Unix datagram socket path, host:port or udp://host:port (UDP), or tcp://host:port.",
        check=refused_by(_parse_syslog_address),
    )
    min_severity: str = opt("info", "Lowest severity sent.", choices=SEVERITIES)
    send_resolved: bool = opt(True, "Also send when an alert resolves.")


def _check_timezone(value: str) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)"
    return None


def _check_matcher(value: str) -> str | None:
    from alerting.silences import parse_matcher

    try:
        parse_matcher(value)
    except ValueError as exc:
        return str(exc)
    except Exception as exc:  # re.error from a bad =~ expression
        return f"bad regular expression in {value!r}: {exc}"
    return None


_HHMM = (r"([01]\d|2[0-3]):[0-5]\d", "expected a time of day as HH:MM")


@dataclass(frozen=True)
class MaintenanceSettings:
    name: str = opt("", "What the window is for (shown in logs).")
    weekdays: tuple[str, ...] = opt(
        ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
        "Days the window opens.",
        choices=("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
    )
    start: str = opt("00:00", "Local time the window opens (HH:MM).", pattern=_HHMM)
    end: str = opt(
        "00:00",
        "Local time it closes (HH:MM); before start means the next day, and the same as start "
        "a whole day (the default: every listed day, all day).",
        pattern=_HHMM,
    )
    timezone: str = opt("UTC", "IANA time zone of start and end.", check=_check_timezone)
    match: tuple[str, ...] = opt(
        (),
        "Matchers (key=value, key!=value, key=~regex) an alert must meet; none matches every alert. "
        "A key is metric, analyzer, severity, host or a label some alert carries: another (a typo, "
        "which would match every alert or none) is refused, with the keys there are.",
        check=_check_matcher,
    )

    def validate(self) -> list[Issue]:
        # Every day, start = end: open all the time, muting what it matches for good (a
        # window with only a name, its times "to be decided", muted every alert).
        if self.start == self.end and len(set(self.weekdays)) == 7:
            return [("end", f"the window is open all the time (every day, {self.start} to "
                     f"{self.end}): give its start and end, or the days it opens")]  # fmt: skip
        return []


@dataclass(frozen=True)
class InhibitSettings:
    source_match: tuple[str, ...] = opt(
        (),
        "Matchers of the alert that mutes (key=value, key!=value, key=~regex); required.",
        check=_check_matcher,
    )
    target_match: tuple[str, ...] = opt(
        (), "Matchers of the alerts it mutes; required.", check=_check_matcher
    )
    equal: tuple[str, ...] = opt(
        (),
        "Labels that must have the same value on both (required, so a rule cannot mute a whole fleet; "
        "a label no alert carries is refused, as it would be empty on both).",
        required_when_enabled=False,
    )

    def validate(self) -> list[Issue]:
        issues: list[Issue] = []
        if not self.equal:
            issues.append(("equal", "required: at least one label both alerts must share"))
        # No matcher matches every alert: the first to fire on a host would mute every other
        # one there (an emergency too), by the rule's `equal` labels.
        for key, whose in (("source_match", "that mutes"), ("target_match", "it mutes")):
            if not getattr(self, key):
                issues.append((key, f"required: matchers of the alerts {whose} (none would "
                               "match every alert, and mute every other alert on the host)"))  # fmt: skip
        return issues


@dataclass(frozen=True)
class AlertingSettings:
    min_interval_secs: float = opt(
        14_400.0,
        "A still-firing alert is repeated no more often than this. Four hours, as "
        "Alertmanager's repeat_interval: a repeat is a reminder of a condition already "
        "announced, not news (escalations and resolves go out at once); every 5 minutes, a "
        "leak of a few hours is dozens of identical pages, and people mute the agent.",
        ge=0,
        le=7 * 86400,
    )
    max_alerts_per_hour: int = opt(
        60,
        "Notification budget per channel per hour; one alert group (analyzer and metric) gets at "
        "most half of it (docs/ALERTING.md).",
        ge=1,
        le=1_000_000,
    )
    dedup_window_secs: float = opt(
        600.0,
        "A fingerprint that fires again within this window after resolving is one alert.",
        ge=0,
        le=7 * 86400,
    )
    emergency_bypass_rate_limit: bool = opt(
        True, "Emergency alerts ignore the hourly budget, once per alert group per hour."
    )
    group_wait_secs: float = opt(
        10.0,
        "Alerts ready within this wait go out as one message on Discord, Slack, Telegram and email.",
        ge=0,
        le=300,
    )
    max_age_secs: float = opt(
        3600.0,
        "A notification older than this is dropped, not delivered late (counted, logged, and "
        "said in the next message that gets through).",
        gt=0,
        le=7 * 86400,
    )
    outbox_max_rows: int = opt(
        100_000,
        "Notifications kept waiting per channel; past it the oldest are dropped (counted, logged, "
        "and said in the next message that gets through).",
        ge=10,
        le=10_000_000,
    )
    maintenance: tuple[MaintenanceSettings, ...] = opt(
        (), "Recurring windows that silence matching alerts."
    )
    inhibit: tuple[InhibitSettings, ...] = opt(
        (),
        "While an alert matching source_match fires, alerts matching target_match with the same `equal` labels are muted.",
    )
    backlog_retry_secs: float = opt(
        30.0,
        "When a channel's quick retries failed, its backlog waits this long before the next try.",
        gt=0,
        le=3600,
    )
    console: ConsoleChannelSettings = opt(factory=ConsoleChannelSettings)
    discord: DiscordChannelSettings = opt(factory=DiscordChannelSettings)
    slack: SlackChannelSettings = opt(factory=SlackChannelSettings)
    telegram: TelegramChannelSettings = opt(factory=TelegramChannelSettings)
    email: EmailChannelSettings = opt(factory=EmailChannelSettings)
    webhook: WebhookChannelSettings = opt(factory=WebhookChannelSettings)
    syslog: SyslogChannelSettings = opt(factory=SyslogChannelSettings)


def channel_plugins(cls: type[Any], prefix: str = "") -> tuple[ChannelPlugin, ...]:
    """The channel table of a settings tree: every section that declares a CHANNEL, in
    schema order, with the section's dotted path filled in.  Adding a channel is its
    module, its section in alerting/settings.py (with its CHANNEL), its test and the
    regenerated docs."""
    table: list[ChannelPlugin] = []
    hints = get_type_hints(cls)
    for f in fields(cls):
        tp = hints[f.name]
        if not (isinstance(tp, type) and is_dataclass(tp)):
            continue
        path = f"{prefix}{f.name}"
        plugin = tp.__dict__.get("CHANNEL")
        if isinstance(plugin, ChannelPlugin):
            table.append(replace(plugin, section=path))
        table.extend(channel_plugins(tp, path + "."))
    return tuple(table)


def nats_file_problems(section: NatsServerSettings) -> list[tuple[str, str]]:
    """(key, why) for each file of `[nats]` that cannot be used now: checked at validation,
    with the path named.  Otherwise a missing CA file passes `--validate`, then fails the
    start (or a reload) with an OpenSSL message that names no file."""
    from common.config import check_readable_file

    n = section
    files = [("credential_file", n.credential_file), ("tls_ca_file", n.tls_ca_file),
             ("tls_cert_file", n.tls_cert_file), ("tls_key_file", n.tls_key_file)]  # fmt: skip
    problems: list[tuple[str, str]] = []
    for key, file_path in files:
        error = check_readable_file(file_path) if file_path else None
        if error:
            problems.append((key, f"{file_path}: {error}"))
    if n.credential_file and not installed("nkeys"):  # nats-py reads a .creds file with it
        problems.append(("credential_file", "a .creds file needs the nkeys package, not "
                         "installed here: pip install 'sysops-agent[nats]'"))  # fmt: skip
    if problems or not (n.tls_ca_file or n.tls_cert_file):
        return problems
    import ssl

    from alerting.channels.nats import tls_context

    try:
        tls_context(n.tls_ca_file, n.tls_cert_file, n.tls_key_file)
    except (ssl.SSLError, OSError) as exc:
        named = ", ".join(p for _, p in files[1:] if p)
        key = "tls_ca_file" if n.tls_ca_file else "tls_cert_file"
        problems.append((key, f"cannot load {named}: {getattr(exc, 'reason', None) or exc}"))
    return problems
