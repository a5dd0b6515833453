"""Every channel against a real local server: formats, limits, escaping, 429s, dead endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import socket
import ssl
import time
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from alerting.alert import Alert, Severity, Status
from alerting.channels.base import Channel, DeliveryError
from alerting.channels.discord import DiscordChannel
from alerting.channels.email import EmailChannel
from alerting.channels.slack import MESSAGE_TEXT_BUDGET, SlackChannel, text_size
from alerting.channels.syslog import SyslogChannel
from alerting.channels.telegram import TelegramChannel
from alerting.channels.webhook import SIGNATURE_HEADER, WebhookChannel, signature
from alerting.delivery import ChannelWorker
from tests.conftest import HttpReceiver, until
from tests.helpers.chat_api import ChatApi, start_chat_api

# Every test here talks to a real server on loopback (HTTP, SMTP, a syslog socket).
pytestmark = pytest.mark.e2e

NASTY = "@everyone @here <!channel> <!here> <@&123> <@456> <b>x</b> </code> *_~`| & > <script>"


def alert(
    severity: Severity = Severity.WARN,
    message: str = "disk filling",
    status: Status = Status.FIRING,
    **labels: str,
) -> Alert:
    return Alert(analyzer="threshold", metric="disk_used_percent", labels=tuple(sorted(labels.items())) or (("mountpoint", "/var"),), status=status,
                 severity=severity, value=91.0, threshold=90.0, message=message, timestamp=time.time(), hostname="web-01")  # fmt: skip


INJECTION = Alert(
    analyzer="log", metric="log_custom", labels=(("app", NASTY), ("mountpoint", "/mnt/" + NASTY)), status=Status.FIRING, severity=Severity.WARN, value=1.0, threshold=None,
    message=NASTY + " " + "A" * 10_000, timestamp=time.time(), hostname="web-01 " + NASTY,
    context={"line": NASTY + " kernel: " + "B" * 10_000, "event": True},
)  # fmt: skip


@pytest.fixture
def api() -> Iterator[ChatApi]:
    server = start_chat_api()
    yield server
    server.server.shutdown()
    server.server.server_close()


def deliver(channel: Channel, alerts: list[Alert], **worker: Any) -> ChannelWorker:
    async def scenario() -> ChannelWorker:
        w = ChannelWorker(
            channel, backoff_base=0.01, group_wait=worker.pop("group_wait", 0.2), **worker
        )
        w.start()
        for a in alerts:
            w.submit(a)
        assert await w.drain(30.0)
        await w.stop()
        return w

    return asyncio.run(scenario())


def discord(api: ChatApi, **kw: Any) -> DiscordChannel:
    return DiscordChannel(f"{api.base}/api/webhooks/123/tok-en", min_severity=Severity.INFO, **kw)


def slack(api: ChatApi, **kw: Any) -> SlackChannel:
    return SlackChannel(f"{api.base}/services/T1/B1/xyz", min_severity=Severity.INFO, **kw)


def telegram(api: ChatApi, chat: str = "1234", **kw: Any) -> TelegramChannel:
    return TelegramChannel("123:ABC", chat, api_url=api.base, min_severity=Severity.INFO, **kw)


# -- injection and limits -------------------------------------------------------------------


def test_injection_on_discord(api: ChatApi) -> None:
    worker = deliver(discord(api), [INJECTION])
    assert api.problems == [] and worker.stats.sent == 1
    (body,) = api.received["discord"]
    assert body["allowed_mentions"] == {"parse": [], "roles": []}
    text = json.dumps(body, ensure_ascii=False)
    for raw in ("@everyone", "@here", "<@&123>", "<@456>", "<b>x</b>"):
        assert raw not in text, raw
    assert "@\u200beveryone" in text and "\\\\*\\\\_\\\\~" in text  # neutralised, not deleted


def test_injection_on_slack(api: ChatApi) -> None:
    deliver(slack(api), [INJECTION])
    assert api.problems == []
    (body,) = api.received["slack"]
    texts = [body["text"]] + [json.dumps(b, ensure_ascii=False) for b in body["blocks"]]
    for text in texts:
        for raw in ("<!channel>", "<!here>", "<@&123>", "<b>", "<script>"):
            assert raw not in text
    assert all(b["text"]["type"] == "plain_text" for b in body["blocks"] if "text" in b)


def test_injection_on_telegram(api: ChatApi) -> None:
    deliver(telegram(api), [INJECTION])
    assert api.problems == []  # the stand-in parsed the HTML the way Telegram does
    bodies = api.received["telegram"]
    assert bodies and all(len(b["text"]) <= 4096 for b in bodies)
    assert "<b>x</b>" not in bodies[0]["text"] and "&lt;b&gt;x&lt;/b&gt;" in bodies[0]["text"]
    assert bodies[0]["disable_notification"] is True  # warn arrives silently


# Untrusted text that tries to forge a line of the notification, turn text around, reach
# a terminal, or page a Telegram member: a journald message, a process name, a log line.
FORGED = Alert(
    analyzer="log", metric="log_custom", labels=(("comm", "x\u202ehs.nim"),), status=Status.FIRING,
    severity=Severity.WARN, value=1.0, threshold=None, timestamp=time.time(), hostname="web-01",
    message="login failed for @oncall_lead\n✅ [RESOLVED] web-01: all clear",
    context={"line": "app: \x1b]0;owned\x07 @oncall_lead", "top_processes": "sh\n✅ ok", "event": True},
)  # fmt: skip


def _forged_parts_absent(text: str) -> None:
    assert "\n✅ [RESOLVED]" not in text and "\n✅ ok" not in text  # no forged line
    assert "\u202e" not in text and "\x1b" not in text and "\x07" not in text
    assert "x0a✅" in text and "u202e" in text  # shown escaped, not dropped


def test_untrusted_text_forges_no_line_in_any_chat(api: ChatApi) -> None:
    deliver(discord(api), [FORGED])
    deliver(slack(api), [FORGED])
    deliver(telegram(api), [FORGED])
    assert api.problems == []
    (d,), (s,), (t,) = api.received["discord"], api.received["slack"], api.received["telegram"]
    embed = d["embeds"][0]
    _forged_parts_absent(embed["description"] + "".join(f["value"] for f in embed["fields"]))
    _forged_parts_absent(
        "".join(x["text"] for b in s["blocks"] for x in (b.get("text"), *b.get("fields", ())) if x)
    )
    _forged_parts_absent(t["text"])
    # Telegram makes "@name" a mention that notifies the member: broken, still readable.
    assert "@oncall_lead" not in t["text"] and "@\u200boncall_lead" in t["text"]
    assert (
        "@oncall_lead" not in d["embeds"][0]["description"] or d["allowed_mentions"]["parse"] == []
    )


def test_slack_splits_long_alerts_under_its_total_text_limit(api: ChatApi) -> None:
    """Ten ordinary long log alerts in one group were one message of 15,000 characters of
    text, which Slack refuses whole (`msg_blocks_too_long`, a 400: all ten lost)."""
    long = [
        Alert(analyzer="log", metric="log_custom", labels=(("pattern", "app_error"), ("unit", f"app{i}.service")),
              status=Status.FIRING, severity=Severity.CRITICAL, value=1.0, threshold=None,
              message="app error: " + "x" * 300, timestamp=time.time(), hostname="web-01",
              context={"line": "y" * 4000, "top_processes": "z" * 3000})
        for i in range(10)
    ]  # fmt: skip
    worker = deliver(slack(api), long)
    assert api.problems == [] and worker.stats.sent == 10
    bodies = api.received["slack"]
    assert len(bodies) >= 2
    assert all(text_size(body["blocks"]) <= MESSAGE_TEXT_BUDGET for body in bodies)  # as documented
    headers = [
        b["text"]["text"] for body in bodies for b in body["blocks"] if b["type"] == "header"
    ]
    assert sorted(h.rsplit("=", 1)[1] for h in headers) == sorted(
        f"app{i}.service" for i in range(10)
    )


def test_discord_mentions_only_configured_roles_and_only_for_critical(api: ChatApi) -> None:
    deliver(discord(api, mention_roles=["42", "not-an-id"]), [alert(Severity.CRITICAL)])
    deliver(discord(api, mention_roles=["42"]), [alert(Severity.WARN)])
    critical, warn = api.received["discord"]
    assert critical["content"] == "<@&42>" and critical["allowed_mentions"] == {
        "parse": [],
        "roles": ["42"],
    }
    assert critical["embeds"][0]["color"] == 0xE74C3C
    assert "content" not in warn and warn["allowed_mentions"]["roles"] == []


def test_grouping_splits_within_limits(api: ChatApi) -> None:
    many = [alert(mountpoint=f"/data{i}") for i in range(25)]
    worker = deliver(discord(api), many)
    assert [len(b["embeds"]) for b in api.received["discord"]] == [10, 10, 5]
    # One group, three messages, each sent on its own (paced, retried alone), each saying
    # what it holds.
    assert worker.stats.messages == 3 and worker.stats.sent == 25
    assert [b["content"] for b in api.received["discord"]] == [
        "10 alerts on web-01", "10 alerts on web-01", "5 alerts on web-01"
    ]  # fmt: skip
    deliver(slack(api), many)
    # As many alerts as 50 blocks hold (12 x 4): their text is far under Slack's total.
    assert [len(b["blocks"]) for b in api.received["slack"]] == [48, 48, 4]
    deliver(telegram(api), many)
    assert len(api.received["telegram"]) >= 2 and api.problems == []


# -- rate limits and dead endpoints -----------------------------------------------------------


@pytest.mark.parametrize("service", ["discord", "slack", "telegram"])
def test_429_pauses_then_delivers(api: ChatApi, service: str) -> None:
    api.script[service] = ["429", "503"]
    channel = {"discord": discord, "slack": slack, "telegram": telegram}[service](api)
    # Without the channel's own pacing (0.5-1 s) the elapsed time below can only come
    # from the 429's delay (0.3 s), so the assertion can fail if it is ignored.
    channel.pace_secs = 0.0
    started = time.monotonic()
    worker = deliver(channel, [alert()])
    assert api.attempts[service] == 3 and worker.stats.sent == 1 and worker.stats.retries == 2
    assert time.monotonic() - started >= 0.3  # the far side's delay was honoured


def test_a_429_that_ends_the_quick_retries_still_pauses_the_channel_for_its_delay(
    api: ChatApi,
) -> None:
    """The far side's delay holds past the quick retries: the backlog's next try (after
    `park_secs`, here far shorter) waits for it too, not only the next quick retry."""
    api.script["slack"] = ["429"]  # Retry-After 0.3
    channel = slack(api, retry_count=0)  # the 429 is the last quick attempt
    channel.pace_secs = 0.0
    deliver(channel, [alert()], park_secs=0.01)
    first, second = api.attempted_at["slack"]
    assert second - first >= 0.3 and len(api.received["slack"]) == 1


@pytest.mark.parametrize("service", ["discord", "slack", "telegram"])
def test_a_group_split_in_messages_sends_each_once_paced_and_retries_only_the_failed_one(
    api: ChatApi, service: str
) -> None:
    """A group longer than one message: each part is a send of its own, paced at the
    channel's rate, and a 429 on the second retries that one, not the first again."""
    many = [alert(mountpoint=f"/data{i}") for i in range(25)]
    if service == "telegram":  # 25 short alerts fit one Telegram message: make them long
        many = [dataclasses.replace(a, message="disk is full " + "x" * 900) for a in many]
    api.script[service] = ["", "429"]  # the second message is refused once (0.3 s)
    channel = {"discord": discord, "slack": slack, "telegram": telegram}[service](api)
    channel.pace_secs = 0.4
    started = time.monotonic()
    worker = deliver(channel, many)
    assert api.problems == [] and worker.stats.sent == 25 and worker.stats.retries == 1
    bodies = api.received[service]
    assert len(bodies) >= 2
    shown = {
        "discord": lambda b: [e["title"] for e in b["embeds"]],
        "slack": lambda b: [x["text"]["text"] for x in b["blocks"] if x["type"] == "header"],
        "telegram": lambda b: re.findall(r"disk_used_percent mountpoint=/data\d+", b["text"]),
    }[service]
    names = [name for body in bodies for name in shown(body)]
    assert len(names) == 25 and len(set(names)) == 25  # each alert once: none sent twice
    times = api.attempted_at[service]
    # Paced, every part: each send starts a pace after the one before (measured where the
    # requests arrive, so only as a sum: one request's way there can be slower than the next).
    assert times[-1] - started >= 0.4 * (len(times) - 1)
    # The refused one again only after the far side's delay (which began at its answer).
    assert times[2] - times[1] >= 0.3


def test_revoked_discord_webhook_marks_the_channel_dead(api: ChatApi) -> None:
    api.script["discord"] = ["404"]
    worker = deliver(discord(api), [alert(), alert(mountpoint="/b")], group_wait=0)
    assert api.attempts["discord"] == 1  # no hammering a deleted webhook
    assert worker.dead is not None and "HTTP 404" in worker.dead and "tok-en" not in worker.dead
    assert worker.stats.failed == 2


def test_telegram_follows_a_group_migration(api: ChatApi) -> None:
    api.script["telegram"] = ["migrate:-1009999"]
    channel = telegram(api, chat="-100")
    deliver(channel, [alert()])
    assert channel.chat_id == "-1009999" and api.received["telegram"][0]["chat_id"] == "-1009999"


def test_budget_holds_back_and_says_so_and_emergency_bypasses(http_receiver: HttpReceiver) -> None:
    channel = WebhookChannel(http_receiver.url + "/hook")
    alerts = [alert(mountpoint=f"/m{i}") for i in range(5)] + [
        alert(Severity.EMERGENCY, mountpoint="/e")
    ]
    worker = deliver(channel, alerts, max_per_hour=2)
    bodies = [r.json() for r in http_receiver.requests]
    # One group (one metric) gets half the budget: 1 of the 5 goes, 4 are held back.
    assert len(bodies) == 3 and worker.stats.suppressed == 4
    assert bodies[1]["severity"] == "emergency" and bodies[1]["context"]["suppressed"] == 4
    assert bodies[2]["metric"] == "alerts_folded" and bodies[2]["context"]["folded"] == 4


def test_old_notifications_are_dropped_not_delivered_late(http_receiver: HttpReceiver) -> None:
    stale = Alert(
        analyzer="threshold",
        metric="m",
        labels=(),
        status=Status.FIRING,
        severity=Severity.WARN,
        value=1.0,
        threshold=0.5,
        message="old",
        timestamp=time.time() - 7200,
        hostname="h",
    )
    worker = deliver(WebhookChannel(http_receiver.url + "/hook"), [stale, alert()], max_age=3600)
    assert worker.stats.expired == 1 and len(http_receiver.requests) == 1


def test_webhook_signature(http_receiver: HttpReceiver) -> None:
    deliver(WebhookChannel(http_receiver.url + "/hook", hmac_secret="s3cret"), [alert()])
    (request,) = http_receiver.requests
    assert request.headers[SIGNATURE_HEADER] == signature("s3cret", request.body)


# -- syslog -------------------------------------------------------------------------------


def test_syslog_rfc5424_to_a_unix_datagram_socket(tmp_path: Path) -> None:
    path = tmp_path / "log.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.settimeout(5)
    try:
        deliver(
            SyslogChannel(address=str(path), facility="local3", tag="sysops-agent"),
            [INJECTION, alert(Severity.CRITICAL)],
        )
        first, second = receiver.recv(65536).decode(), receiver.recv(65536).decode()
    finally:
        receiver.close()
    assert first.startswith(f"<{19 * 8 + 4}>1 ") and "\n" not in first  # local3, warning
    assert (
        '[alert@32473 fingerprint="' in first
        and 'app="@everyone @here <!channel> <!here> <@&123> <@456> <b>x<' in first
    )
    assert second.startswith(f"<{19 * 8 + 2}>1 ")  # critical


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_syslog_over_udp(host: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    receiver = socket.socket(family, socket.SOCK_DGRAM)
    receiver.bind((host, 0))
    receiver.settimeout(5)
    port = receiver.getsockname()[1]
    address = f"udp://[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        deliver(
            SyslogChannel(address=address), [alert(), alert(Severity.CRITICAL, mountpoint="/x")]
        )
        first, second = receiver.recv(65536), receiver.recv(65536)
    finally:
        receiver.close()
    assert first.startswith(b"<28>1 ") and second.startswith(b"<26>1 ")


@contextlib.contextmanager
def a_collector_that_does_not_answer() -> Iterator[int]:
    """A loopback TCP port whose accept queue is full: the kernel drops the next SYN, so a
    connect to it waits, as to a collector that is down."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    queued = [socket.socket() for _ in range(3)]
    for sock in queued:
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sock.connect(listener.getsockname())
    try:
        yield listener.getsockname()[1]
    finally:
        for sock in (*queued, listener):
            sock.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_syslog_channel_closed_while_it_connects_leaves_no_connection() -> None:
    """A stop or a reload cancels a send waiting for its connect: nothing may connect and
    send after the close (a thread did, and the next worker sent that alert again).  Its
    socket is gone when the close returns: none is left to connect."""

    async def scenario(port: int) -> int:
        channel = SyslogChannel(address=f"tcp://127.0.0.1:{port}")
        before = open_fds()
        sending = asyncio.ensure_future(channel.send([alert()]))
        await until(lambda: open_fds() > before, 10, "the channel's socket, connecting")
        assert not sending.done()
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        await channel.close()
        return open_fds() - before

    with a_collector_that_does_not_answer() as port:
        assert asyncio.run(scenario(port)) == 0  # no socket left to send after the close


def test_syslog_without_a_socket_is_a_retryable_error(tmp_path: Path) -> None:
    channel = SyslogChannel(address=str(tmp_path / "missing.sock"))
    with pytest.raises(DeliveryError) as info:
        asyncio.run(channel.send([alert()]))
    assert info.value.retryable


# -- email through a real SMTP server with STARTTLS and AUTH ------------------------------------


def smtp_server(cert: Path, key: Path, starttls: bool) -> tuple[Any, list[Any], list[bytes]]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    received: list[Any] = []
    logins: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append((envelope, session.ssl is not None))
            return "250 OK"

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        logins.append(auth_data.login)
        return AuthResult(success=auth_data.login == b"alerts" and auth_data.password == b"pw")

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    kwargs: dict[str, Any] = {"authenticator": authenticator, "auth_required": True}
    if starttls:
        kwargs |= {"tls_context": context, "require_starttls": True}
    else:
        kwargs |= {"auth_require_tls": False}
    with socket.socket() as probe:  # a free port on loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller, received, logins


def email_channel(controller: Any, cert: Path) -> EmailChannel:
    return EmailChannel("127.0.0.1", controller.port, username="alerts", password="pw",
                        sender="agent@example.com", recipients=["oncall@example.com"], min_severity=Severity.INFO,
                        tls_context=ssl.create_default_context(cafile=str(cert)))  # fmt: skip


def test_email_over_starttls_with_escaped_html(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    controller, received, logins = smtp_server(cert, key, starttls=True)
    try:
        worker = deliver(email_channel(controller, cert), [INJECTION, alert(Severity.CRITICAL)])
    finally:
        controller.stop()
    assert worker.stats.sent == 2 and worker.stats.messages == 1  # grouped into one mail
    ((envelope, over_tls),) = received
    assert over_tls and logins == [b"alerts"] and envelope.rcpt_tos == ["oncall@example.com"]
    mail = message_from_bytes(envelope.content)
    assert mail["Subject"].startswith("[sysops] 2 alerts on web-01")
    html_part = (
        next(p for p in mail.walk() if p.get_content_type() == "text/html")
        .get_payload(decode=True)
        .decode()
    )
    assert (
        "<b>x</b>" not in html_part
        and "&lt;b&gt;x&lt;/b&gt;" in html_part
        and "<script>" not in html_part
    )


def test_email_text_and_html_parts_forge_no_line(certificate: tuple[Path, Path]) -> None:
    """The text part is what `mail(1)` shows in a terminal: no control character of a log
    line reaches it, and no line of an alert comes from its text."""
    cert, key = certificate
    controller, received, _ = smtp_server(cert, key, starttls=True)
    try:
        deliver(email_channel(controller, cert), [FORGED])
    finally:
        controller.stop()
    ((envelope, _),) = received
    mail = message_from_bytes(envelope.content)
    for part in mail.walk():
        if part.get_content_type() in ("text/plain", "text/html"):
            _forged_parts_absent(part.get_payload(decode=True).decode())


def test_email_to_a_bracketed_ipv6_loopback_relay_is_delivered() -> None:
    """`smtp_host = "[::1]"`, as a URL writes it, passed --validate and then failed every
    send ("Name or service not known"): the brackets are the URL's, not the host's."""
    from aiosmtpd.controller import Controller

    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
            port = probe.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    controller = Controller(Handler(), hostname="::1", port=port)
    controller.start()
    try:
        channel = EmailChannel("[::1]", port, tls="none", sender="agent@example.com",
                               recipients=["oncall@example.com"], min_severity=Severity.INFO)  # fmt: skip
        asyncio.run(channel.send([alert()]))
    finally:
        controller.stop()
    assert [envelope.rcpt_tos for envelope in received] == [["oncall@example.com"]]


@pytest.mark.filterwarnings(
    "ignore:Requiring AUTH while not requiring TLS"
)  # the bad server is the point
def test_email_refuses_a_server_without_starttls(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    controller, received, logins = smtp_server(cert, key, starttls=False)
    try:
        with pytest.raises(DeliveryError):
            asyncio.run(email_channel(controller, cert).send([alert()]))
    finally:
        controller.stop()
    assert logins == [] and received == []  # never a plaintext login


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_email_verifies_with_the_shared_context_and_plaintext_makes_none(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from alerting.channels.tls import verified_context

    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the operator's trust, as OpenSSL reads it
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    verified_context.cache_clear()
    try:
        for starttls in (True, False):
            controller, received, logins = smtp_server(cert, key, starttls=starttls)
            channel = EmailChannel("127.0.0.1", controller.port, tls="starttls" if starttls else "none",
                                   username="alerts", password="pw", sender="agent@example.com",
                                   recipients=["oncall@example.com"], min_severity=Severity.INFO)  # fmt: skip
            try:
                asyncio.run(channel.send([alert()]))
            finally:
                controller.stop()
            ((_, over_tls),) = received
            assert over_tls is starttls and logins == [b"alerts"]
            # STARTTLS made the one shared context; the loopback relay in plaintext made none.
            assert verified_context.cache_info().currsize == int(starttls)
            verified_context.cache_clear()
    finally:
        verified_context.cache_clear()


def test_test_alert_reports_each_channel(api: ChatApi, tmp_path: Path) -> None:
    from tests.conftest import run_agent, write_config

    config = write_config(tmp_path, f"""
[alerting.discord]
enabled = true
webhook_url = "{api.base}/api/webhooks/1/tok"
[alerting.slack]
enabled = true
webhook_url = "{api.base}/services/T/B/x"
[alerting.telegram]
enabled = true
bot_token = "1:ABC"
chat_id = "99"
api_url = "{api.base}"
""")  # fmt: skip
    api.script["slack"] = ["404"]
    result = run_agent("--config", str(config), "--test-alert")
    assert result.returncode == 1
    assert "discord: delivered" in result.stdout and "telegram: delivered" in result.stdout
    assert "slack: FAILED:" in result.stdout and "HTTP 404" in result.stdout
    assert api.received["discord"][0]["embeds"][0]["title"].startswith("\\[TEST\\]")
    only = run_agent("--config", str(config), "--test-alert", "--channel", "discord")
    assert only.returncode == 0 and only.stdout.strip() == "discord: delivered"


def test_syslog_over_tcp_with_octet_counting() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(5)
    port = listener.getsockname()[1]
    try:
        deliver(
            SyslogChannel(address=f"tcp://127.0.0.1:{port}"),
            [alert(), alert(Severity.CRITICAL, mountpoint="/x")],
        )
        conn, _ = listener.accept()
        conn.settimeout(5)
        data = b""
        while data.count(b"<") < 2:
            data += conn.recv(65536)
        conn.close()
    finally:
        listener.close()
    length, _, rest = data.partition(b" ")
    first = rest[: int(length)]
    assert first.startswith(b"<28>1 ") and rest[int(length) :].split(b" ", 1)[1].startswith(
        b"<26>1 "
    )


def test_a_syslog_collector_that_does_not_answer_holds_its_channel_not_the_agent() -> None:
    """A TCP connect that gets no answer (the SYN dropped) waits for the socket's 5 s: off
    the event loop, or every collector, analyzer and channel of the agent stood still for
    it at each retry."""

    async def scenario(port: int) -> tuple[bool, str]:
        channel = SyslogChannel(address=f"tcp://127.0.0.1:{port}")
        sending = asyncio.ensure_future(channel.send([alert()]))
        # Scheduled after the send's first step: it runs once that step gives the loop back
        # (at once if the connect waits off the loop, 5 s later if it blocks the loop).
        ran = asyncio.Event()
        asyncio.get_running_loop().call_soon(ran.set)
        await asyncio.wait_for(ran.wait(), 30)
        went_on = not sending.done()  # blocking it, the send had ended (5 s on) by now
        with pytest.raises(DeliveryError) as refused:
            await asyncio.wait_for(sending, 30)
        return went_on, str(refused.value)

    with a_collector_that_does_not_answer() as port:
        went_on, error = asyncio.run(scenario(port))
    assert "no answer within 5 s" in error
    assert went_on  # the loop went on (it stood still for the whole 5 s before)


def test_plaintext_smtp_only_to_loopback() -> None:
    channel = EmailChannel("smtp.example.com", 25, tls="none", sender="a@b", recipients=["c@d"])
    with pytest.raises(DeliveryError) as info:
        asyncio.run(channel.send([alert()]))
    assert info.value.dead and "loopback" in str(info.value)
