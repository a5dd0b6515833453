"""Per-channel delivery workers: grouping, budget, pacing, retries, isolation.

Each channel has its own worker task, so a hung or dead endpoint only delays
its own alerts.  For channels people read, what becomes ready within the group
wait goes out as one message.  At most `max_per_hour` alerts per channel per
hour (Emergency bypasses it when allowed); what the budget holds back is
counted and said in the next message.  Sends are paced to the API's documented
rate; failures are retried with exponential backoff and full jitter, and a
far side's Retry-After pauses the whole channel.  Alerts older than `max_age`
are dropped rather than delivered days late.  A channel whose endpoint is gone
(401/403/404) is marked dead instead of being hammered.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections import deque
from dataclasses import dataclass

from alerting.alert import Alert, Severity
from alerting.channels.base import Channel, DeliveryError

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000
BACKOFF_BASE_SECS = 1.0
BACKOFF_MAX_SECS = 60.0
# A guard above the channel's own timeouts, so a channel bug cannot hang its worker.
ATTEMPT_TIMEOUT_SECS = 120.0
HOUR = 3600.0


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    retries: int = 0
    dropped: int = 0  # queue overflow
    expired: int = 0  # older than max_age when their turn came
    suppressed: int = 0  # held back by the hourly budget
    messages: int = 0


def backoff_delay(
    attempt: int, base: float = BACKOFF_BASE_SECS, cap: float = BACKOFF_MAX_SECS
) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * 2**attempt))


class ChannelWorker:
    def __init__(
        self,
        channel: Channel,
        *,
        queue_limit: int = QUEUE_LIMIT,
        backoff_base: float = BACKOFF_BASE_SECS,
        group_wait: float = 10.0,
        max_per_hour: int = 60,
        emergency_bypass: bool = True,
        max_age: float = HOUR,
    ) -> None:
        self.channel = channel
        self.backoff_base = backoff_base
        self.group_wait = group_wait if channel.groups else 0.0
        self.max_per_hour = max_per_hour
        self.emergency_bypass = emergency_bypass
        self.max_age = max_age
        self.stats = DeliveryStats()
        self.dead: str | None = None
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=queue_limit)
        self._task: asyncio.Task[None] | None = None
        self._busy = 0
        self._recent: deque[float] = deque()  # send times within the last hour, for the budget
        self._held_back = 0  # suppressed since the last delivered message
        self._last_send = 0.0

    @property
    def name(self) -> str:
        return self.channel.name

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"channel:{self.channel.name}"
            )

    def submit(self, alert: Alert) -> None:
        """Queue an alert; when the queue is full the oldest one is dropped and counted."""
        if self._queue.full():
            self._queue.get_nowait()
            self._queue.task_done()
            self.stats.dropped += 1
            log.warning("channel %s: queue full, dropped the oldest alert", self.channel.name)
        self._queue.put_nowait(alert)

    @property
    def pending(self) -> int:
        return self._queue.qsize() + self._busy

    async def drain(self, timeout: float) -> bool:
        """Wait until everything queued was delivered or given up; False on timeout."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.channel.close()

    # -- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            if self.group_wait > 0:
                deadline = loop.time() + self.group_wait
                while (remaining := deadline - loop.time()) > 0:
                    try:
                        batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                    except TimeoutError:
                        break
            self._busy = len(batch)
            try:
                await self._deliver(self._admit(batch))
            except Exception:  # a channel bug must not kill the worker
                self.stats.failed += len(batch)
                log.exception("channel %s: unexpected error while sending", self.channel.name)
            finally:
                self._busy = 0
                for _ in batch:
                    self._queue.task_done()

    def _admit(self, batch: list[Alert]) -> list[Alert]:
        """Drop what is too old, apply the hourly budget, and say what was held back."""
        now = time.time()
        while self._recent and self._recent[0] < now - HOUR:
            self._recent.popleft()
        admitted = []
        for alert in batch:
            if now - alert.timestamp > self.max_age:
                self.stats.expired += 1
                continue
            bypass = self.emergency_bypass and alert.severity is Severity.EMERGENCY
            if not bypass and len(self._recent) >= self.max_per_hour:
                self.stats.suppressed += 1
                self._held_back += 1
                continue
            self._recent.append(now)
            admitted.append(alert)
        if admitted and self._held_back:
            first = admitted[0]
            admitted[0] = dataclasses.replace(
                first, context={**first.context, "suppressed": self._held_back}
            )
            self._held_back = 0
        return admitted

    async def _deliver(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        name = self.channel.name
        if self.dead is not None:
            self.stats.failed += len(alerts)
            return
        attempts = 1 + max(0, self.channel.retry_count)
        for attempt in range(attempts):
            wait = self._last_send + self.channel.pace_secs - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_send = time.monotonic()
            try:
                await asyncio.wait_for(self.channel.send(alerts), ATTEMPT_TIMEOUT_SECS)
            except DeliveryError as exc:
                if exc.dead:
                    self.dead = str(exc)
                    self.stats.failed += len(alerts)
                    log.error(
                        "channel %s: %s; the endpoint is gone, channel disabled until reload",
                        name,
                        exc,
                    )
                    return
                if attempt + 1 >= attempts or not exc.retryable:
                    self.stats.failed += len(alerts)
                    log.error(
                        "channel %s: giving up on %d alert(s) after %d attempt(s): %s",
                        name,
                        len(alerts),
                        attempt + 1,
                        exc,
                    )
                    return
                delay = (
                    exc.retry_after
                    if exc.retry_after is not None
                    else backoff_delay(attempt, self.backoff_base)
                )
                self.stats.retries += 1
                log.warning("channel %s: %s; retrying in %.1f s", name, exc, delay)
                await asyncio.sleep(delay)
            except TimeoutError:
                self.stats.failed += len(alerts)
                log.error("channel %s: send did not finish in %.0f s", name, ATTEMPT_TIMEOUT_SECS)
                return
            else:
                self.stats.sent += len(alerts)
                self.stats.messages += 1
                return
