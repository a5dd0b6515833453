"""Per-channel delivery workers: a bounded queue, retries with backoff, isolation.

Each channel has its own worker task, so a hung or dead endpoint only delays
its own alerts.  Retries use exponential backoff with full jitter, and a far
side's Retry-After wins.  Counters say what happened to every alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass

from alerting.alert import Alert
from alerting.channels.base import Channel, DeliveryError

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000
BACKOFF_BASE_SECS = 1.0
BACKOFF_MAX_SECS = 60.0
# A guard above the channel's own timeouts, so a channel bug cannot hang its worker.
ATTEMPT_TIMEOUT_SECS = 120.0


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    retries: int = 0
    dropped: int = 0


def backoff_delay(
    attempt: int, base: float = BACKOFF_BASE_SECS, cap: float = BACKOFF_MAX_SECS
) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * 2**attempt))


class ChannelWorker:
    def __init__(
        self,
        channel: Channel,
        queue_limit: int = QUEUE_LIMIT,
        backoff_base: float = BACKOFF_BASE_SECS,
    ) -> None:
        self.channel = channel
        self.backoff_base = backoff_base
        self.stats = DeliveryStats()
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=queue_limit)
        self._task: asyncio.Task[None] | None = None
        self._busy = False

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
        return self._queue.qsize() + (1 if self._busy else 0)

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

    async def _run(self) -> None:
        while True:
            alert = await self._queue.get()
            self._busy = True
            try:
                await self._deliver(alert)
            except Exception:  # a channel bug must not kill the worker
                self.stats.failed += 1
                log.exception("channel %s: unexpected error while sending", self.channel.name)
            finally:
                self._busy = False
                self._queue.task_done()

    async def _deliver(self, alert: Alert) -> None:
        name = self.channel.name
        attempts = 1 + max(0, self.channel.retry_count)
        for attempt in range(attempts):
            try:
                await asyncio.wait_for(self.channel.send(alert), ATTEMPT_TIMEOUT_SECS)
            except DeliveryError as exc:
                last_try = attempt + 1 >= attempts or not exc.retryable
                if last_try:
                    self.stats.failed += 1
                    log.error(
                        "channel %s: giving up on %s alert %s after %d attempt(s): %s",
                        name, alert.status.value, alert.metric, attempt + 1, exc,
                    )  # fmt: skip
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
                self.stats.failed += 1
                log.error("channel %s: send did not finish in %.0f s", name, ATTEMPT_TIMEOUT_SECS)
                return
            else:
                self.stats.sent += 1
                return
