"""Syslog: RFC 5424 messages to /dev/log, or to a remote collector over UDP or TCP.

Addresses: a path (Unix datagram socket, /dev/log by default), `host:port` or
`udp://host:port` (datagrams), `tcp://host:port` (a stream, each message
framed by octet counting as RFC 6587 says: "LEN MSG").

Severity maps to syslog levels (info -> 6, warn -> 4, critical -> 2,
emergency -> 0); the facility is configurable.  Structured data carries the
fingerprint, metric and labels, each value one safe line (`single_line`), cut
on a character inside its quotes and with `"`, `\\` and `]` escaped; the message is
one safe line too, cut on a character boundary to fit the datagram.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerting.alert import Alert, Severity, Status
from alerting.channels.base import DeliveryError, OneMessage
from alerting.channels.registry import ChannelContext
from alerting.format import state_word, undelivered_note
from common.config import is_ipv6_address
from common.text import single_line

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7, "uucp": 8,
    "cron": 9, "authpriv": 10, "ftp": 11, **{f"local{i}": 16 + i for i in range(8)},
}  # fmt: skip
LEVELS = {Severity.INFO: 6, Severity.WARN: 4, Severity.CRITICAL: 2, Severity.EMERGENCY: 0}
MAX_DATAGRAM = 2048
CONNECT_SECS = 5.0  # a send, its connect or name lookup included
# Every message carries this SD-ID, the tag as APP-NAME and the agent's PID as PROCID:
# the agent's log sources recognise their own messages by them (agent/logs/own.py).
SD_ID = "alert@32473"


@dataclass(frozen=True)
class Target:
    """Where messages go: a Unix datagram socket (`path`), or `host`:`port` over UDP or TCP."""

    path: str = ""
    host: str = ""
    port: int = 0
    stream: bool = False


def parse_address(address: str) -> Target:
    """The target an `address` names; ValueError saying what to write if it names none."""
    if address.startswith("/"):
        return Target(path=address)
    scheme, sep, rest = address.partition("://")
    if not sep:
        for scheme in ("udp", "tcp"):
            if address.startswith(f"{scheme}:"):
                raise ValueError(f"{address!r}: write {scheme}://{address[len(scheme) + 1 :]}")
        scheme, rest = "udp", address
    if scheme not in ("udp", "tcp"):
        raise ValueError(f"scheme {scheme!r}: write udp://host:port, tcp://host:port, host:port "
                         "(UDP) or the path of a Unix socket (/dev/log)")  # fmt: skip
    host, colon, port = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} names no host and port: write {scheme}://host:port "
                         "(a port from 1 to 65535; [::1]:514 for an IPv6 address), or the path "
                         "of a Unix socket (/dev/log)")  # fmt: skip
    if ":" in host and not rest.startswith("[") and not is_ipv6_address(host):
        raise ValueError(f"{address!r}: an IPv6 address goes in brackets ([::1]:514)")
    if "/" in host:
        raise ValueError(f"{address!r}: a host name has no / (a Unix socket's path starts with /)")
    return Target(host=host, port=int(port), stream=scheme == "tcp")


def _sd_value(text: str, limit: int) -> str:
    """A PARAM-VALUE: one safe line, cut to `limit` characters, then `"`, `\\` and `]` escaped.

    Cut before escaping, so a cut never splits an escape and never lands between
    a value's last character and its closing quote.
    """
    text = single_line(text, limit)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _sd_name(text: str) -> str:
    cleaned = "".join(c for c in text if c.isascii() and c.isprintable() and c not in ' ="]')
    return cleaned[:32] or "x"


def app_name(tag: str) -> str:
    """The APP-NAME written for `tag` (what a syslog file shows as the line's tag)."""
    return _sd_name(tag)[:48]


def _hostname(text: str) -> str:
    """RFC 5424 HOSTNAME: 1*255 printable US-ASCII (a cloud FQDN often exceeds 32), else "-"."""
    return "".join(c for c in text if "!" <= c <= "~")[:255] or "-"


def _cut_utf8(text: str, size: int) -> str:
    """At most `size` bytes of `text` in UTF-8, cut on a character boundary."""
    return text.encode("utf-8")[: max(0, size)].decode("utf-8", "ignore")


# Room the message keeps however long the labels are: the datagram always says what happened.
_MIN_MESSAGE_BYTES = 256


def rfc5424(alert: Alert, facility: int, tag: str, hostname: str) -> bytes:
    level = 6 if alert.status is Status.RESOLVED else LEVELS[alert.severity]
    stamp = (
        datetime.fromtimestamp(alert.timestamp, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
    params = [("fingerprint", alert.fingerprint), ("metric", alert.metric), ("status", alert.status.value),
              *((_sd_name(k), v) for k, v in alert.labels)]  # fmt: skip
    host = _hostname(hostname)
    header = f"<{facility * 8 + level}>1 {stamp} {host} {app_name(tag)} {os.getpid()} - "
    # Structured data is whole or shorter, never cut: values shrink until it fits beside
    # the message; past that, the last parameters are left out.
    room = MAX_DATAGRAM - len(header.encode()) - _MIN_MESSAGE_BYTES
    for limit in (256, 64, 16):
        sd = f"[{SD_ID} " + " ".join(f'{k}="{_sd_value(v, limit)}"' for k, v in params) + "]"
        if len(sd.encode()) <= room:
            break
    while len(sd.encode()) > room and len(params) > 1:
        params.pop()
        sd = f"[{SD_ID} " + " ".join(f'{k}="{_sd_value(v, 16)}"' for k, v in params) + "]"
    text = f"{header}{sd} "
    message = single_line(f"{state_word(alert)} {alert.message}{undelivered_note(alert)}")
    return (text + _cut_utf8(message, MAX_DATAGRAM - len(text.encode()))).encode("utf-8")


class SyslogChannel(OneMessage):
    name = "syslog"
    groups = False
    pace_secs = 0.0
    retry_count = 2

    def __init__(self, *, facility: str = "daemon", tag: str = "sysops-agent", address: str = "/dev/log",
                 min_severity: Severity = Severity.INFO, send_resolved: bool = True) -> None:  # fmt: skip
        self.min_severity = min_severity
        self.send_resolved = send_resolved
        self._facility = FACILITIES[facility]
        self._tag = tag
        self._address = address
        self._target = parse_address(address)  # checked by the settings: a bad one is refused
        # Open while it works: a Unix datagram socket, a UDP endpoint or a TCP stream.
        self._local: socket.socket | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._stream: asyncio.StreamWriter | None = None

    async def _send(self, message: bytes) -> None:
        """One message; a connect, a name lookup and a full TCP window wait on the event loop,
        not in it (a collector that is down drops the SYN: the agent stood still for 5 s)."""
        target = self._target
        async with asyncio.timeout(CONNECT_SECS):
            if target.path:
                if self._local is None:
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    sock.setblocking(False)
                    try:
                        sock.connect(target.path)  # a local socket: at once, or refused
                    except OSError:
                        sock.close()
                        raise
                    self._local = sock
                self._local.send(message)
            elif not target.stream:
                if self._udp is None:
                    self._udp, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                        asyncio.DatagramProtocol, remote_addr=(target.host, target.port)
                    )
                self._udp.sendto(message)
            else:
                if self._stream is None or self._stream.is_closing():
                    _, self._stream = await asyncio.open_connection(target.host, target.port)
                # RFC 6587 octet counting: "LEN MSG"
                self._stream.write(str(len(message)).encode() + b" " + message)
                await self._stream.drain()

    async def send(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            message = rfc5424(alert, self._facility, self._tag, alert.hostname)
            try:
                await self._send(message)
            except OSError as exc:  # TimeoutError included
                self.close_socket()
                why = exc.strerror or str(exc) or f"no answer within {CONNECT_SECS:g} s"
                raise DeliveryError(f"syslog {self._address}: {why}", retryable=True) from None

    def close_socket(self) -> None:
        for opened in (self._local, self._udp, self._stream):
            if opened is not None:
                opened.close()
        self._local = self._udp = self._stream = None

    async def close(self) -> None:
        self.close_socket()


def build(section: Any, context: ChannelContext) -> SyslogChannel | None:
    """The channel from its settings section (alerting.channels.registry names this factory)."""
    return SyslogChannel(
        facility=section.facility,
        tag=section.tag,
        address=section.address,
        min_severity=context.min_severity,
        send_resolved=context.send_resolved,
    )
