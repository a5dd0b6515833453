"""What the fleet keeps in JetStream, and how it is read back (by `run` and by the
one-shot commands alike).

* stream `{fleet.heartbeat_stream}` over `{prefix}.*.heartbeat`, one message per
  subject: the latest heartbeat of every host (the agents publish on core NATS; the
  stream captures them).  Messages older than `forget_after_days` expire.
* KV `{bucket_prefix}_HOSTS`: host token -> the host record (`host_record`), written by
  the leader when a host's judgment or alert changes, never per heartbeat; the key
  `fleet.mass_silence` holds the fleet-wide episode (host tokens never hold a dot).
* KV `{bucket_prefix}_LEADER`: the lease (fleet/leader.py).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerting.channels.nats import subject_token
from common.text import single_line
from fleet.hosts import Host
from fleet.settings import FleetSettings

log = logging.getLogger(__name__)

MASS_KEY = "fleet.mass_silence"
# What a payload may be, compressed or not (an agent's heartbeat is ~1 KB, its largest
# inventories ~100 KB): more is refused before or while it is decompressed, so a small
# zstd bomb cannot grow the process.
MAX_HEARTBEAT_BYTES = 256 * 1024
MAX_INVENTORY_BYTES = 1024 * 1024
MAX_HOSTNAME_CHARS = 253  # a DNS name
REFUSALS_LOG_SECS = 60.0


class Throttled:
    """Counted events, logged at most once per `every` seconds (with how many since)."""

    def __init__(self, every: float = REFUSALS_LOG_SECS,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.every, self.clock = every, clock
        self.count = 0
        self._since = 0
        self._last = -math.inf

    def warn(self, logger: logging.Logger, message: str, *args: Any) -> None:
        self.count += 1
        self._since += 1
        now = self.clock()
        if now - self._last < self.every:
            return
        more = f" ({self._since - 1} more like it not logged)" if self._since > 1 else ""
        logger.warning(message + more, *args)
        self._last, self._since = now, 0


@dataclass(frozen=True)
class Names:
    prefix: str  # the subjects' first token
    heartbeat_stream: str
    heartbeat_subjects: str
    inventory_stream: str
    inventory_subjects: str
    hosts_bucket: str
    leader_bucket: str
    cmdb_durable: str

    @classmethod
    def of(cls, settings: FleetSettings) -> Names:
        f = settings.fleet
        prefix = subject_token(settings.nats.subject_prefix)
        return cls(
            prefix,
            f.heartbeat_stream,
            f"{prefix}.*.heartbeat",
            f.inventory_stream,
            f"{prefix}.*.inventory",
            f"{f.bucket_prefix}_HOSTS",
            f"{f.bucket_prefix}_LEADER",
            f"{f.bucket_prefix}_cmdb",
        )


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def epoch_of(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def subject_host(subject: str, prefix: str, kind: str) -> str | None:
    """The host token of `{prefix}.{host}.{kind}`, None for another subject."""
    parts = subject.split(".")
    if len(parts) == 3 and parts[0] == prefix and parts[2] == kind and parts[1]:
        return parts[1]
    return None


def payload(
    data: bytes, headers: Mapping[str, str] | None, limit: int = MAX_HEARTBEAT_BYTES
) -> tuple[bytes | None, str | None]:
    """(a telemetry payload's bytes, decompressed if need be; why it cannot be read).

    At most `limit` bytes are read, compressed and decompressed: a bigger one is refused.
    """
    if len(data) > limit:
        return None, f"{len(data):,} bytes, more than {limit:,}"
    if headers and headers.get("Content-Encoding") == "zstd":
        try:
            import zstandard

            with zstandard.ZstdDecompressor().stream_reader(bytes(data)) as reader:
                data = reader.read(limit + 1)
        except Exception as exc:  # not zstd after all
            return None, f"not zstd ({type(exc).__name__})"
        if len(data) > limit:
            return None, f"more than {limit:,} bytes decompressed"
    return bytes(data), None


def parse(
    data: bytes, headers: Mapping[str, str] | None, limit: int = MAX_HEARTBEAT_BYTES
) -> tuple[dict[str, Any] | None, str | None]:
    """(a telemetry payload, JSON perhaps zstd-compressed, as a dict; why it is not one)."""
    raw, problem = payload(data, headers, limit)
    if raw is None:
        return None, problem
    return parse_json(raw)


def parse_json(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    try:
        document = json.loads(raw)
    except Exception as exc:  # a foreign or broken message on our subjects
        return None, f"not JSON ({type(exc).__name__})"
    if not isinstance(document, dict):
        return None, f"not a JSON object but {type(document).__name__}"
    return document, None


_CONTENT_HASH = re.compile(rb'"content_hash"\s*:\s*"([0-9a-f]{64})"')


def content_hash_of(raw: bytes) -> str | None:
    """The `content_hash` of an inventory's JSON without decoding it, if the text names
    exactly one (a key: in JSON text `"content_hash"` followed by a colon is a key, a
    quote inside a string being escaped); None if it does not, or more than once."""
    found = _CONTENT_HASH.findall(raw)
    if len(found) != 1 or raw.count(b'"content_hash"') != 1:
        return None
    return str(found[0].decode())


def decode(
    data: bytes, headers: Mapping[str, str] | None, limit: int = MAX_HEARTBEAT_BYTES
) -> dict[str, Any] | None:
    """A telemetry payload (JSON, perhaps zstd-compressed) as a dict; None if it is not one."""
    return parse(data, headers, limit)[0]


def refusal(document: Mapping[str, Any] | None, token: str | None) -> str | None:
    """Why a decoded payload published on the subject of host `token` is not accepted:
    no hostname, too long a one, or one of another host (a host speaks only for itself)."""
    if document is None:
        return "not a JSON object"
    hostname = document.get("hostname")
    if not isinstance(hostname, str) or not hostname.strip():
        return "no hostname"
    if len(hostname) > MAX_HOSTNAME_CHARS:
        return f"a hostname of {len(hostname)} characters"
    if token is None:
        return "not on a host's subject"
    if subject_token(hostname) != token:
        return f"hostname {single_line(hostname, 80)!r} is not the subject's host {token!r}"
    return None


def host_record(
    host: Host, alert: str | None, alert_since: float | None, muted: bool = False
) -> dict[str, Any]:
    """The record of a host as the leader writes it (the `pending` key is added on a claim).
    `muted`: its alert fires but was muted (a silence), so nobody has been told yet."""
    return {
        "hostname": host.hostname,
        "status": host.status,
        "since": iso(host.since_wall),
        "last_heartbeat": iso(host.seen_wall),
        "heartbeat_interval_secs": host.interval,
        "agent_version": host.agent_version,
        "uptime_secs": host.uptime,
        "reasons": list(host.reasons),
        "mass": host.mass,
        "silent_from": iso(host.silent_from_wall),
        "outage_secs": host.outage_secs,
        "rebooted": host.rebooted,
        "alerted": alert is not None,
        "alert": alert,
        "alert_since": alert_since,
        "muted": alert is not None and muted,
        "pending": None,
    }


async def ensure(js: Any, settings: FleetSettings) -> None:
    """The heartbeat stream and the two buckets, created if missing (existing ones used as
    they are)."""
    from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError

    names = Names.of(settings)
    forget = settings.fleet.forget_after_days * 86400.0
    try:
        await js.stream_info(names.heartbeat_stream)
    except NotFoundError:
        try:
            await js.add_stream(name=names.heartbeat_stream, subjects=[names.heartbeat_subjects],
                                max_msgs_per_subject=1, max_age=forget or None)  # fmt: skip
        except BadRequestError as exc:  # "subjects overlap": an older stream over `sysops.>`
            covering = await covering_stream(js, names.heartbeat_stream, names.heartbeat_subjects)
            log.warning(
                "JetStream stream %s cannot be created over %s (%s); %s",
                names.heartbeat_stream, names.heartbeat_subjects, describe_error(exc),
                f"the latest heartbeats are read from the stream {covering}, which covers them"
                if covering else "running without the heartbeats kept across restarts",
            )  # fmt: skip
        else:
            log.info("JetStream stream %s created over %s", names.heartbeat_stream,
                     names.heartbeat_subjects)  # fmt: skip
    for bucket, history in ((names.hosts_bucket, 1), (names.leader_bucket, 1)):
        try:
            await js.key_value(bucket)
        except BucketNotFoundError:
            await js.create_key_value(bucket=bucket, history=history)
            log.info("JetStream key-value bucket %s created", bucket)


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {single_line(str(exc), 200)}"


async def covering_stream(js: Any, name: str, subjects: str) -> str | None:
    """`name` if that stream exists, else the stream that holds `subjects` (one made over
    `sysops.>` before the watcher's), else None."""
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(name)
        return name
    except NotFoundError:
        pass
    try:
        return str(await js.find_stream_name_by_subject(subjects))
    except Exception:  # none, or not allowed to look
        return None


class IncompleteRead(TimeoutError):
    """JetStream delivered fewer of a stream's latest messages than it holds, in time."""


async def latest_messages(js: Any, stream: str, subjects: str, timeout: float) -> list[Any]:
    """The last message of every subject of `stream` matching `subjects` (an ordered
    consumer over the stream, read until nothing is pending).

    IncompleteRead if a delivery takes longer than `timeout` before every subject the
    stream held has come: a busy server's slow answer is an error, not a shorter list
    (`hosts` listed fewer hosts, exit 0; a takeover adopted fewer records)."""
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import DeliverPolicy
    from nats.js.errors import NotFoundError

    try:
        info = await js.stream_info(stream, subjects_filter=subjects)
    except NotFoundError:
        return []
    held = len(info.state.subjects or {})  # subjects with a message: one latest each
    if not held:  # (a covering stream may hold messages, none on these subjects)
        return []
    sub = await js.subscribe(subjects, stream=stream, ordered_consumer=True,
                             deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)  # fmt: skip
    out: list[Any] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=timeout)
            except NatsTimeout:
                if len({m.subject for m in out}) >= held:
                    break  # the rest was removed meanwhile (an age limit, a purge)
                raise IncompleteRead(
                    f"JetStream delivered {len(out)} of the {held} latest messages of "
                    f"{stream} and then nothing for {timeout:g} s"
                ) from None
            out.append(msg)
            if msg.metadata.num_pending == 0:
                break
    finally:
        await sub.unsubscribe()
    return out


async def heartbeats(
    js: Any, settings: FleetSettings, timeout: float = 5.0
) -> list[tuple[dict[str, Any], float]]:
    """(document, epoch stored) of the latest heartbeat of every host in the stream."""
    names = Names.of(settings)
    stream = await covering_stream(js, names.heartbeat_stream, names.heartbeat_subjects)
    if stream is None:
        return []
    out = []
    for msg in await latest_messages(js, stream, names.heartbeat_subjects, timeout):
        document = decode(msg.data, msg.headers)
        token = subject_host(msg.subject, names.prefix, "heartbeat")
        if document is not None and refusal(document, token) is None:
            out.append((document, msg.metadata.timestamp.timestamp()))
    return out


async def records(
    js: Any, bucket: str, timeout: float = 5.0
) -> dict[str, tuple[int, dict[str, Any]]]:
    """Every record of a key-value bucket: key -> (revision, the decoded value).

    Read as the latest message of each subject of the bucket's stream (not nats-py's
    watcher, whose end-of-values marker can come before the values).
    """
    prefix = f"$KV.{bucket}."
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for msg in await latest_messages(js, f"KV_{bucket}", prefix + ">", timeout):
        if (msg.headers or {}).get("KV-Operation") in ("DEL", "PURGE"):
            continue
        try:
            value = json.loads(msg.data)
        except ValueError:
            continue
        if isinstance(value, dict):
            out[msg.subject[len(prefix) :]] = (msg.metadata.sequence.stream, value)
    return out


def explain(exc: BaseException) -> str:
    """`describe(exc)`, with the likely cause when the server has no JetStream."""
    from alerting.channels.nats import describe

    text = describe(exc)
    if "no responders" in text.lower():
        text += " (is JetStream enabled on the server: nats-server -js?)"
    return text
