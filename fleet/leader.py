"""Leader election: one `run` instance at a time judges, records and alerts.

The lease is one key ("leader") in the `{bucket_prefix}_LEADER` bucket holding
`{"instance", "expires", "released"}`.  Every change of it goes through compare-and-set
on the key's revision (`kv.create`, `kv.update(last=revision)`), so of two instances
racing for it exactly one wins.

* The leader renews every `lease_secs / 3`.  It counts itself leader only until
  `lease_secs` after it *sent* its last successful renewal (by its own monotonic clock),
  and stops acting the moment a renewal is refused (someone else holds the key).
* A follower reads the key as often.  It does not trust `expires` (the leader's wall
  clock): it takes over when the revision it sees has not changed for `lease_secs` of
  its own monotonic clock, or when the leader released the lease on a clean stop.  Since
  it first saw that revision after the leader sent it, the old leader has stopped
  acting before the follower starts: no two leaders, whatever the clocks say.
* A renewal whose reply came too late (the caller gave up waiting) may still have been
  written: the next renewal then conflicts.  On a conflict the leader reads the key
  again, and if it holds the very value that renewal sent, the lease is still ours (at
  the revision read, valid from when that renewal was sent): no self-deposition.
* `confirm()` reads the key right before an irreversible act (a claim): a leader that
  paused longer than the lease finds another revision there and stops.
* Takeover after a leader dies: at most one read period to notice the last revision,
  `lease_secs` of waiting, one read period to act: 1.67 leases, within two.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

LEASE_KEY = "leader"


class Lease:
    def __init__(
        self,
        kv: Any,
        instance: str,
        lease_secs: float,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.kv = kv
        self.instance = instance
        self.lease_secs = lease_secs
        self._clock = clock
        self._wall = wall
        self.revision: int | None = None  # of our own lease while we hold it
        self.valid_until = -1.0  # our clock: we are leader until then
        self.holder: str | None = None  # whom the key names (us included)
        self._seen: tuple[int, float] | None = None  # (revision, our clock when first seen)
        self._sent: tuple[bytes, float] | None = None  # our last renewal: (value, when sent)
        self._found = ""  # what the last look at a changed key found, for the log

    @property
    def period(self) -> float:
        return self.lease_secs / 3

    def is_leader(self) -> bool:
        return self.revision is not None and self._clock() < self.valid_until

    def _value(self, released: bool = False) -> bytes:
        expires = 0.0 if released else self._wall() + self.lease_secs
        return json.dumps(
            {"instance": self.instance, "expires": round(expires, 3), "released": released}
        ).encode()

    async def step(self) -> bool:
        """Renew (leader) or look and perhaps take over (follower); whether we lead now."""
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

        sent = self._clock()
        if self.revision is not None:
            try:
                return await self._renew(sent)
            except KeyWrongLastSequenceError:
                if await self._late_renewal():
                    return await self._renew(self._clock())
                # Not always another instance: a NATS that lost the bucket's stream (a
                # server restarted without its store) moved the revision too.
                log.warning("leader lease: the key changed under us (%s): now a follower",
                            self._found)  # fmt: skip
                self._lose()
            # Any other error (NATS away) propagates: we stay leader until valid_until.
        try:
            entry = await self.kv.get(LEASE_KEY)
        except KeyNotFoundError:
            return await self._take(None, sent)
        self.holder, released = _holder(entry.value)
        if self._seen is None or self._seen[0] != entry.revision:
            self._seen = (entry.revision, sent)
        if released or sent - self._seen[1] >= self.lease_secs:
            return await self._take(entry.revision, sent)
        return False

    async def _renew(self, sent: float) -> bool:
        from nats.js.errors import KeyWrongLastSequenceError

        value, previous = self._value(), self._sent
        self._sent = (value, sent)  # if its reply is lost, this may be written all the same
        try:
            self.revision = await self.kv.update(LEASE_KEY, value, last=self.revision)
        except KeyWrongLastSequenceError:
            self._sent = previous  # this one was not written: the one before may have been
            raise
        self.valid_until = sent + self.lease_secs
        return self.is_leader()

    async def _late_renewal(self) -> bool:
        """Whether the key holds our last renewal (its reply lost or late): if so, its
        revision is ours, valid from when that renewal was sent.  (The key is read either
        way: what it holds now is what the log says.)"""
        from nats.js.errors import KeyNotFoundError

        self.holder = None
        try:
            entry = await self.kv.get(LEASE_KEY)
        except KeyNotFoundError:
            self._found = "the key is gone"
            return False
        except Exception as exc:
            self._found = f"unread: {type(exc).__name__}"
            return False
        self.holder = _holder(entry.value)[0]
        self._found = f"it names {self.holder}"
        if self._sent is None:
            return False
        value, sent = self._sent
        if bytes(entry.value or b"") != value:
            return False
        log.info("leader lease: a late renewal was written after all: still the leader")
        self.revision = int(entry.revision)
        self.valid_until = sent + self.lease_secs
        return self.is_leader()

    async def confirm(self) -> bool:
        """Read the key: whether it still holds our lease at the revision we wrote (a
        leader that paused longer than the lease finds another).  NATS errors propagate."""
        if not self.is_leader():
            return False
        from nats.js.errors import KeyNotFoundError

        try:
            entry = await self.kv.get(LEASE_KEY)
        except KeyNotFoundError:
            entry = None
        if entry is None or int(entry.revision) != self.revision:
            log.warning("leader lease: the key changed under us: now a follower")
            self._lose()
            return False
        return self.is_leader()

    async def _take(self, revision: int | None, sent: float) -> bool:
        from nats.js.errors import KeyWrongLastSequenceError

        try:
            if revision is None:
                new = await self.kv.create(LEASE_KEY, self._value())
            else:
                new = await self.kv.update(LEASE_KEY, self._value(), last=revision)
        except KeyWrongLastSequenceError:
            return False  # another instance was quicker
        self.revision, self.valid_until, self.holder = new, sent + self.lease_secs, self.instance
        self._seen, self._sent = None, None
        log.info("%s is the leader now", self.instance)
        return True

    def _lose(self) -> None:
        self.revision, self.valid_until, self._sent = None, -1.0, None

    async def release(self) -> None:
        """On a clean stop: hand the lease over at once (a follower takes it at its next read)."""
        if self.revision is None:
            return
        revision, self.revision = self.revision, None
        self.valid_until = -1.0
        try:
            await self.kv.update(LEASE_KEY, self._value(released=True), last=revision)
        except Exception as exc:  # the lease then expires on its own
            log.warning("could not release the leader lease: %s", exc)


def _holder(raw: bytes | None) -> tuple[str, bool]:
    """(the instance the lease's value names, whether it is released); an unreadable value
    is "?" and released: nobody holds it."""
    try:
        value = json.loads(raw or b"")
        return str(value.get("instance")), bool(value.get("released"))
    except (ValueError, AttributeError):
        return "?", True
