"""The CMDB: the latest inventory of every host, and what changed, on NATS JetStream.

* key-value bucket `{bucket_prefix}_CMDB`: key = the host's subject token, value = its
  latest inventory (JSON, as the agent sent it); the bucket keeps
  `fleet.inventory_history` revisions per key.
* stream `{bucket_prefix}_CHANGES` over `{prefix}.fleet.changes.*`: one message per
  recorded change on `{prefix}.fleet.changes.{host}` (`Change.to_record()` plus where it
  came from, see `Cmdb.ingest`), the latest `fleet.changes_per_host` kept per host.
* stream `fleet.inventory_stream` (`SYSOPS_INVENTORY`) over `{prefix}.*.inventory`,
  created with the agent's own spec if missing, so the inventories are kept for the
  watcher's consumer whoever starts first.

`ingest` reads the previous inventory, compares (fleet/cmdb.py), records the changes,
then stores the new inventory with compare-and-set on the revision it read.  Recording
before storing makes a crash in between harmless: the inventory comes back (it was not
acknowledged), compares the same way, and the records it already made are recognised
(a per-transition `Nats-Msg-Id`, and the last record of the host names its transition),
so nothing is recorded twice.  The common case costs no round trip: per host, the
content_hash of the inventory last stored (or found stored) is remembered, when it is
the hash of that document's content (agent/inventory.py: everything but the collection
time), and an inventory with that hash is acknowledged as it is (the stored one keeps its
first `collected_at`).  It is remembered only after the store succeeded, so a crash or a
takeover in between still finds the inventory unstored and goes the long way; a
redelivery of the stored one is acknowledged.  The memory starts empty at a takeover,
is dropped when the lease is lost and every `HASHES_FOR_SECS`, and a write conflict
forgets the host's.  A document that is not an inventory is refused with a
logged reason; NATS errors (a timeout, no JetStream) propagate, so the caller leaves the
message unacknowledged and it comes back.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from alerting.alert import sha256_hex
from alerting.channels.nats import (
    STREAM_MAX_BYTES,
    StreamSpec,
    ensure_stream,
    inventory_stream,
    publish_stored,
    subject_token,
)
from common.text import single_line
from fleet.cmdb import Change, compare
from fleet.settings import FleetSection

log = logging.getLogger(__name__)

# Under NATS' default max_payload (1 MiB), headers included: a bigger document could not
# be stored anyway.  The largest real inventories (hundreds of disks) are ~100 KB.
MAX_DOCUMENT_BYTES = 1_000_000
MAX_HOSTNAME_CHARS = 253  # a DNS name
CHANGES_MAX_BYTES = 1 << 30  # the changes stream as a whole; per host: changes_per_host
CHANGES_DUPLICATE_WINDOW_SECS = 600.0
# An inventory stream made by the watcher: the agent's defaults (inventory_interval_secs).
AGENT_INVENTORY_INTERVAL_SECS = 300.0
READ_TIMEOUT_SECS = 10.0  # reading one host's changes, all of them
CAS_ATTEMPTS = 3
KV_MAX_HISTORY = 64  # what NATS allows a key-value bucket to keep per key
# The remembered content hashes are dropped this often, so that a bucket changed behind
# this instance's back (deleted, edited by hand) is read again within this time.
HASHES_FOR_SECS = 3600.0


class Cmdb:
    """The CMDB of one watcher (only the leader ingests; anyone may read)."""

    def __init__(self, js: Any, section: FleetSection, subject_prefix: str) -> None:
        self.js = js
        self.section = section
        self.prefix = subject_prefix
        self.bucket = f"{section.bucket_prefix}_CMDB"
        self.changes_spec = StreamSpec(
            f"{section.bucket_prefix}_CHANGES",
            (f"{subject_prefix}.fleet.changes.*",),
            0.0,
            CHANGES_MAX_BYTES,
            section.changes_per_host,
            CHANGES_DUPLICATE_WINDOW_SECS,
        )
        agents = inventory_stream(
            "SYSOPS", subject_prefix, STREAM_MAX_BYTES, AGENT_INVENTORY_INTERVAL_SECS
        )
        self.inventory_spec = dataclasses.replace(
            agents, name=section.inventory_stream, reads_only=True
        )
        self._kv: Any = None
        # Per host token, the content_hash of the inventory this instance last stored or
        # read back: a document with the same hash is acknowledged without a round trip.
        # Filled lazily (a takeover starts empty), forgotten when leadership is lost.
        self._hashes: dict[str, str] = {}
        self._hashes_since = time.monotonic()

    def forget(self) -> None:
        """Forget what was stored: another instance may write the bucket from now on."""
        self._hashes.clear()
        self._hashes_since = time.monotonic()

    def unchanged(self, key: str, document: Mapping[str, Any] | str | None) -> bool:
        """Whether `document` (or its content_hash) has the content_hash of the inventory
        stored for `key` (as this instance last stored or read it): nothing to compare or
        store."""
        if time.monotonic() - self._hashes_since >= HASHES_FOR_SECS:
            self.forget()
        given = document.get("content_hash") if isinstance(document, Mapping) else document
        return isinstance(given, str) and self._hashes.get(key) == given

    def subject(self, host: str) -> str:
        """Where the changes of `host` (a hostname or its token) are recorded."""
        return f"{self.prefix}.fleet.changes.{subject_token(host)}"

    async def ensure(self) -> None:
        """The CMDB bucket, the changes stream and the inventory stream exist.

        What exists is used as it is (an operator may have made it so); a bucket whose
        history differs from `inventory_history` is logged, as streams are.
        """
        await self._bucket()
        await ensure_stream(self.js, self.changes_spec)
        await ensure_stream(self.js, self.inventory_spec)

    async def _bucket(self) -> Any:
        if self._kv is not None:
            return self._kv
        from nats.js.errors import BadRequestError, BucketNotFoundError

        history = self.section.inventory_history
        try:
            kv = await self.js.key_value(self.bucket)
        except BucketNotFoundError:
            try:
                kv = await self.js.create_key_value(
                    bucket=self.bucket,
                    history=history,
                    description="sysops-fleet: the latest inventory of each host",
                )
                log.info("CMDB: key-value bucket %s created (history %d)", self.bucket, history)
            except BadRequestError:  # made meanwhile by another instance, or otherwise
                kv = await self.js.key_value(self.bucket)
        status = await kv.status()
        if status.history != history:
            log.warning(
                "CMDB: the key-value bucket %s keeps %d revisions per host, used as it is "
                "(fleet.inventory_history = %d applies to a new bucket)",
                self.bucket, status.history, history,
            )  # fmt: skip
        self._kv = kv
        return kv

    async def ingest(self, document: Mapping[str, Any]) -> list[Change]:
        """Store `document` as its host's latest inventory, compare it with the previous
        one and record the changes; returns them ([] for a first, unchanged or refused
        inventory, and for an earlier one coming again: a late redelivery)."""
        problem, body = _check(document)
        if problem is not None:
            log.warning("CMDB: an inventory refused: %s", problem)
            return []
        hostname = str(document["hostname"])
        key = subject_token(hostname)
        if self.unchanged(key, document):
            return []  # the content stored already (only collected_at differs)
        kv = await self._bucket()
        for _ in range(CAS_ATTEMPTS):
            previous, revision, stored = await self._read(kv, key)
            changes: list[Change] = []
            if previous is not None:
                if stored == body:
                    self._remember(key, document)
                    return []  # this very document again (redelivered): stored already
                if 0 < _collected(document) < _collected(previous) and await self._replayed(
                    key, body
                ):
                    log.info(
                        "CMDB: an earlier inventory of %s (collected at %s) came again: ignored",
                        single_line(hostname, 100),
                        single_line(str(document.get("collected_at")), 40),
                    )
                    return []
                changes = compare(previous, document)
                if changes:
                    await self._record(key, hostname, previous, document, changes)
            if await self._store(kv, key, body, revision):
                self._remember(key, document)
                if changes:
                    log.info(
                        "CMDB: %s: %d changes recorded", single_line(hostname, 100), len(changes)
                    )
                return changes
        log.warning(
            "CMDB: the inventory of %s was written by someone else %d times while it was "
            "compared: left as they wrote it",
            single_line(hostname, 100), CAS_ATTEMPTS,
        )  # fmt: skip
        return []

    async def _read(self, kv: Any, key: str) -> tuple[dict[str, Any] | None, int, bytes]:
        """The stored inventory, its revision and its bytes; None for the inventory if
        there is none or it cannot be read back (it is then replaced)."""
        from nats.js.errors import KeyNotFoundError

        try:
            entry = await kv.get(key)
        except KeyNotFoundError:
            return None, 0, b""
        raw = bytes(entry.value or b"")
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            log.warning("CMDB: the stored inventory of %s is not a JSON object: replaced", key)
            return None, int(entry.revision), raw
        return value, int(entry.revision), raw

    async def _replayed(self, key: str, body: bytes) -> bool:
        """Whether `body` is one of the host's earlier inventories, still in the bucket's
        history: a late redelivery, not a new collection.  (An earlier collection time
        alone is not enough: a host whose clock was reset, say by a new mainboard, sends
        new inventories from the past.)"""
        return body in await self._values(key)

    async def _store(self, kv: Any, key: str, body: bytes, revision: int) -> bool:
        """Compare-and-set on the revision read: False if another writer came in between."""
        from nats.errors import NoRespondersError
        from nats.js.errors import KeyWrongLastSequenceError, NoStreamResponseError

        try:
            if revision:
                await kv.update(key, body, last=revision)
            else:
                await kv.create(key, body)
        except KeyWrongLastSequenceError:
            self._hashes.pop(key, None)
            log.info("CMDB: the inventory of %s changed while it was compared: again", key)
            return False
        except (NoRespondersError, NoStreamResponseError):
            self._kv = None  # the bucket is gone (deleted, a server without its storage)
            self._hashes.clear()
            raise
        return True

    def _remember(self, key: str, document: Mapping[str, Any]) -> None:
        """Remember the stored document's content_hash, if it is the hash of its content
        (as agent/inventory.py computes it): a producer whose hash does not follow its
        content (an older agent, a hand-made document) is always compared in full."""
        given = document.get("content_hash")
        if isinstance(given, str) and len(given) == 64 and given == _computed_hash(document):
            self._hashes[key] = given
        else:
            self._hashes.pop(key, None)

    async def _record(
        self,
        key: str,
        hostname: str,
        previous: Mapping[str, Any],
        document: Mapping[str, Any],
        changes: list[Change],
    ) -> None:
        old_hash, new_hash = _content_hash(previous), _content_hash(document)
        old_at, new_at = (
            str(previous.get("collected_at", "")),
            str(document.get("collected_at", "")),
        )
        transition = sha256_hex("\x1f".join((key, old_hash, old_at, new_hash, new_at)).encode())[
            :32
        ]
        subject = self.subject(key)
        start = await self._recorded(subject, transition)
        when = _collected(document) or time.time()
        for index in range(start, len(changes)):
            record = changes[index].to_record(hostname=hostname, timestamp=when)
            record.update({
                "transition": transition, "index": index, "count": len(changes),
                "collected_at": new_at, "previous_collected_at": old_at,
                "content_hash": new_hash, "previous_content_hash": old_hash,
            })  # fmt: skip
            body = json.dumps(record, separators=(",", ":"), default=str).encode()
            headers = {"Nats-Msg-Id": f"{transition}-{index}"}
            await publish_stored(self.js, self.changes_spec, subject, body, headers)

    async def _recorded(self, subject: str, transition: str) -> int:
        """How many records of `transition` the host's last record says are there already."""
        from nats.js.errors import NotFoundError

        try:
            last = await self.js.get_last_msg(self.changes_spec.name, subject)
        except NotFoundError:
            return 0
        try:
            record = json.loads(last.data or b"")
            if record.get("transition") == transition:
                return int(record["index"]) + 1
        except (ValueError, TypeError, KeyError, AttributeError):
            pass
        return 0

    async def latest(self, host: str) -> dict[str, Any] | None:
        """The latest inventory of `host` (a hostname or its token), None if there is none."""
        value, _, _ = await self._read(await self._bucket(), subject_token(host))
        return value

    async def history(self, host: str) -> list[dict[str, Any]]:
        """The inventories the bucket still holds for `host`, oldest first."""
        await self._bucket()
        out = []
        for raw in await self._values(subject_token(host)):
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out

    async def _values(self, key: str) -> list[bytes]:
        """The values the bucket still holds for `key`, oldest first (delete markers left out).

        Read one message at a time (the next on the key's subject), not with nats-py's
        KeyValue.history: its watcher can say "no more" before it has handed over the
        messages already delivered to it, and on a busy host it returned nothing for a key
        with three values (a late redelivery would then be recorded as a new inventory).
        """
        from nats.js.errors import NotFoundError

        stream, subject = f"KV_{self.bucket}", f"$KV.{self.bucket}.{key}"
        values: list[bytes] = []
        sequence = 1
        for _ in range(KV_MAX_HISTORY):  # the server keeps no more per key
            try:
                msg = await self.js.get_msg(stream, seq=sequence, subject=subject, next=True)
            except NotFoundError:
                break
            if (msg.headers or {}).get("KV-Operation") is None:
                values.append(bytes(msg.data or b""))
            sequence = int(msg.seq) + 1
        return values

    async def changes(self, host: str, limit: int = 100) -> list[dict[str, Any]]:
        """The last `limit` change records of `host` (a hostname or its token), oldest first.

        Read with an ordered consumer over the host's subject: every record the stream
        keeps for the host passes (at most `changes_per_host`), the last `limit` are kept.
        """
        subject = self.subject(host)
        info = await self.js.stream_info(self.changes_spec.name, subjects_filter=subject)
        count = int((info.state.subjects or {}).get(subject, 0))
        if count == 0 or limit <= 0:
            return []
        import asyncio

        out: deque[dict[str, Any]] = deque(maxlen=limit)
        subscription = await self.js.subscribe(
            subject, stream=self.changes_spec.name, ordered_consumer=True
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READ_TIMEOUT_SECS
        try:
            seen = 0
            while seen < count:
                left = deadline - loop.time()
                if left <= 0:
                    raise TimeoutError(f"reading the changes of {subject} took too long")
                msg = await subscription.next_msg(timeout=left)
                seen += 1
                try:
                    record = json.loads(msg.data)
                except ValueError:
                    record = None
                if isinstance(record, dict):
                    out.append(record)
                if msg.metadata.num_pending == 0:
                    break
        finally:
            await subscription.unsubscribe()
        return list(out)


def _check(document: Any) -> tuple[str | None, bytes]:
    """(why `document` is not an inventory, or None; its JSON)."""
    if not isinstance(document, Mapping):
        return f"not a JSON object but {type(document).__name__}", b""
    hostname = document.get("hostname")
    if not isinstance(hostname, str) or not hostname.strip():
        return "no hostname", b""
    if len(hostname) > MAX_HOSTNAME_CHARS:
        return f"a hostname of {len(hostname)} characters", b""
    try:
        body = json.dumps(dict(document), separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        return f"{single_line(hostname, 100)}: not JSON ({type(exc).__name__})", b""
    if len(body) > MAX_DOCUMENT_BYTES:
        return (
            f"{single_line(hostname, 100)}: {len(body):,} bytes, more than {MAX_DOCUMENT_BYTES:,}",
            b"",
        )
    return None, body


def _collected(document: Mapping[str, Any]) -> float:
    """When the inventory was collected (epoch seconds; 0 if it does not say)."""
    text = document.get("collected_at")
    if not isinstance(text, str):
        return 0.0
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return when.timestamp() if when.tzinfo is not None else 0.0


def _content_hash(document: Mapping[str, Any]) -> str:
    """The agent's content_hash; computed the same way when it is missing or malformed."""
    given = document.get("content_hash")
    if isinstance(given, str) and len(given) == 64:
        return given
    return _computed_hash(document)


def _computed_hash(document: Mapping[str, Any]) -> str:
    """agent/inventory.py's content_hash: everything but the collection time."""
    stable = {k: v for k, v in document.items() if k not in ("collected_at", "content_hash")}
    return sha256_hex(json.dumps(stable, sort_keys=True, default=str).encode())
