"""Email through aiosmtplib (the `email` extra, imported when the channel is used).

STARTTLS is required, not opportunistic: a server that does not offer it is
an error, never a plaintext login.  Port 465 (or smtp_tls = "tls") is implicit
TLS; "none" is accepted only for a loopback server.  The message is
multipart: plain text and HTML (every value escaped).  The whole send is
bounded in time, since aiosmtplib's timeout is per socket operation.

`Date:` carries the host's real UTC offset (RFC 5322 reads ``-0000`` as "zone
unknown"), and the Message-ID's right side is a real domain: the agent's
hostname when it is fully qualified, else the sender address's domain, so
that threading and spam filters see a well-formed identifier.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from alerting.alert import Alert, Severity
from alerting.channels.base import DeliveryError, OneMessage
from alerting.channels.registry import ChannelContext
from alerting.channels.tls import verified_context
from alerting.format import facts, html_text, log_line, message_text, plain, title
from common.config import is_loopback_host
from common.text import single_line

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def message_id_domain(hostname: str, sender: str) -> str:
    """The host's domain for the Message-ID: its FQDN, else the sender's domain."""
    name = hostname.rstrip(".")
    labels = name.split(".")
    # A dotted name of valid labels whose last label is not a number (an IPv4
    # address is not a domain).
    if len(labels) >= 2 and all(_LABEL.fullmatch(x) for x in labels) and not labels[-1].isdigit():
        return name.lower()
    _, address = parseaddr(sender)
    domain = address.rpartition("@")[2].strip("[]. ")
    return domain.lower() if address.count("@") == 1 and domain else "localhost.localdomain"


def build_message(
    alerts: Sequence[Alert],
    sender: str,
    recipients: Sequence[str],
    prefix: str,
    hostname: str = "",
) -> EmailMessage:
    message = EmailMessage()
    first = alerts[0]
    subject = title(first) if len(alerts) == 1 else f"{len(alerts)} alerts on {first.hostname}"
    message["Subject"] = single_line(f"{prefix} {subject}".strip())[:200]
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(datetime.now().astimezone())  # local time, real offset
    message["Message-ID"] = make_msgid(domain=message_id_domain(hostname or first.hostname, sender))
    message.set_content("\n\n---\n\n".join(plain(a) for a in alerts))
    parts = []
    for alert in alerts:
        rows = "".join(
            f"<tr><th align='left'>{html_text(n)}</th><td>{html_text(v)}</td></tr>"
            for n, v in facts(alert)
        )
        line = log_line(alert)
        pre = f"<pre>{html_text(line)}</pre>" if line else ""
        parts.append(
            f"<h3>{html_text(title(alert))}</h3><p>{html_text(message_text(alert))}</p><table>{rows}</table>{pre}"
        )
    message.add_alternative("<html><body>" + "<hr>".join(parts) + "</body></html>", subtype="html")
    return message


class EmailChannel(OneMessage):
    name = "email"
    groups = True
    pace_secs = 1.0

    def __init__(self, host: str, port: int, *, tls: str = "starttls", username: str | None = None,
                 password: str | None = None, sender: str, recipients: Sequence[str], subject_prefix: str = "[sysops]",
                 min_severity: Severity = Severity.CRITICAL, retry_count: int = 5, timeout_secs: float = 30.0,
                 tls_context: ssl.SSLContext | None = None, send_resolved: bool = True,
                 hostname: str = "") -> None:  # fmt: skip
        self.min_severity = min_severity
        self.retry_count = retry_count
        self.send_resolved = send_resolved
        self._host, self._port, self._tls = host, port, tls
        self._username, self._password = username, password
        self._sender, self._recipients, self._prefix = sender, list(recipients), subject_prefix
        self._timeout = timeout_secs
        self._tls_context = tls_context
        self._hostname = hostname

    async def send(self, alerts: Sequence[Alert]) -> None:
        if self._tls == "none" and not is_loopback_host(self._host):
            raise DeliveryError(
                f"refusing plaintext SMTP to {self._host}: smtp_tls = none is for a loopback relay only",
                retryable=False, dead=True,
            )  # fmt: skip
        try:
            import aiosmtplib
        except ImportError:
            raise DeliveryError(
                "aiosmtplib is not installed (pip install 'sysops-agent[email]')",
                retryable=False,
                dead=True,
            ) from None
        message = build_message(
            alerts, self._sender, self._recipients, self._prefix, self._hostname
        )
        implicit = self._tls == "tls" or (self._tls == "starttls" and self._port == 465)
        try:
            await asyncio.wait_for(
                aiosmtplib.send(
                    message, hostname=self._host.strip("[]"), port=self._port,  # "[::1]" as an URL writes it
                    username=self._username, password=self._password,
                    use_tls=implicit, start_tls=not (implicit or self._tls == "none"),
                    tls_context=self._tls_context or (None if self._tls == "none" else verified_context()),
                    timeout=self._timeout,
                ),
                self._timeout * 2,
            )  # fmt: skip
        except TimeoutError:
            raise DeliveryError(
                f"SMTP {self._host}:{self._port} timed out", retryable=True
            ) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"SMTP login refused: {exc.code}", retryable=False, dead=True
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP {self._host} answered {exc.code}",
                retryable=exc.code >= 400 and exc.code < 500,
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"SMTP {self._host}:{self._port}: {type(exc).__name__}: {exc}", retryable=True
            ) from None

    async def close(self) -> None:
        return None


def build(section: Any, context: ChannelContext) -> EmailChannel | None:
    """The channel from its settings section (alerting.channels.registry names this factory)."""
    if not section.smtp_host or not section.from_:
        return None
    return EmailChannel(
        section.smtp_host,
        section.smtp_port,
        tls=section.smtp_tls,
        username=section.username,
        password=section.password.reveal() if section.password else None,
        sender=section.from_,
        recipients=section.to,
        subject_prefix=section.subject_prefix,
        min_severity=context.min_severity,
        send_resolved=context.send_resolved,
        hostname=context.hostname,
    )
