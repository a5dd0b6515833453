"""SIGTERM must end the process: nothing a library leaves running may hold it.

Found under load: with NATS refusing the token, one stop in ~25 hung for
good, because cancelling nats.connect() can be swallowed by nats-py's retry
loop and both `asyncio.wait_for` and `asyncio.run` then wait for it without
a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from agent.cli import run_bounded
from alerting.channels.nats import NatsConnection, NatsUnreachable


async def _stubborn() -> None:
    """A task that swallows cancellation, as a library's retry loop may."""
    while True:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)


def test_run_bounded_returns_although_a_task_ignores_cancellation() -> None:
    async def main() -> int:
        asyncio.get_running_loop().create_task(_stubborn(), name="stubborn")
        await asyncio.sleep(0)
        return 7

    started = time.monotonic()
    assert run_bounded(main(), grace=0.3) == 7
    assert time.monotonic() - started < 5


def test_run_bounded_cleans_up_normally_when_nothing_is_stuck() -> None:
    finished: list[str] = []

    async def worker() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            finished.append("worker")

    async def main() -> int:
        asyncio.get_running_loop().create_task(worker())
        await asyncio.sleep(0)
        return 0

    assert run_bounded(main(), grace=2.0) == 0
    assert finished == ["worker"]  # cancelled and allowed to run its clean-up


def test_a_connect_attempt_that_hangs_is_bounded_and_its_caller_cancellable() -> None:
    async def scenario() -> tuple[float, float]:
        # A TCP listener that never speaks NATS (no INFO line): the attempt cannot finish.
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        connection = NatsConnection(
            [f"nats://127.0.0.1:{port}"], connect_timeout=0.3, reconnect_delay=0.1
        )
        started = time.monotonic()
        with pytest.raises(NatsUnreachable, match="no answer"):  # the bound, not a hang
            await connection.get()
        bounded = time.monotonic() - started
        # A caller cancelled mid-attempt (a worker stopped at SIGTERM) returns at once.
        caller = asyncio.ensure_future(connection.get())
        await asyncio.sleep(0.1)
        caller.cancel()
        started = time.monotonic()
        with contextlib.suppress(asyncio.CancelledError):
            await caller
        cancelled_after = time.monotonic() - started
        await connection.close()
        server.close()
        await server.wait_closed()
        return bounded, cancelled_after

    bounded, cancelled_after = asyncio.run(scenario())
    assert bounded < 3.0  # twice connect_timeout, with room for a busy machine
    assert cancelled_after < 1.0
