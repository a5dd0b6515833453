"""Running a service: its tasks restarted with backoff when they crash, and its main
coroutine with a clean-up that cannot hang (both services use it)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

RESTART_BASE_SECS = 1.0
RESTART_MAX_SECS = 60.0
# A task that ran this long before failing starts its backoff from scratch.
HEALTHY_RUN_SECS = 300.0
# How long a stop waits for the cancelled tasks.
STOP_SECS = 5.0


class Supervisor:
    """Runs named tasks and restarts the ones that crash, with backoff."""

    def __init__(
        self, base_delay: float = RESTART_BASE_SECS, max_delay: float = RESTART_MAX_SECS
    ) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.restarts: Counter[str] = Counter()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping: set[str] = set()

    def spawn(self, name: str, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._tasks[name] = asyncio.get_running_loop().create_task(
            self._supervise(name, factory), name=name
        )

    async def _supervise(self, name: str, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            started = loop.time()
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                if name in self._stopping:
                    # Cancelled, but a library turned the cancellation into its own
                    # error (nats-py's fetch into a timeout): stopped, not crashed.
                    return
                if loop.time() - started >= HEALTHY_RUN_SECS:
                    failures = 0
                delay = min(self.max_delay, self.base_delay * 2**failures)
                failures += 1
                self.restarts[name] += 1
                log.exception("task %s crashed; restarting in %.1f s", name, delay)
                await asyncio.sleep(delay)

    def names(self) -> list[str]:
        return list(self._tasks)

    async def stop(self, names: list[str] | None = None, timeout: float = STOP_SECS) -> None:
        """Cancel the tasks and wait for them, at most `timeout`: a task whose code
        swallows its cancellation (a library can) is left behind, said, and cannot hold
        up the service's stop."""
        chosen = list(self._tasks) if names is None else names
        self._stopping.update(chosen)
        tasks = [self._tasks.pop(n) for n in chosen if n in self._tasks]
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:  # its name stays in _stopping: it is not restarted either
            log.warning("task %s did not stop within %g s; left behind", task.get_name(), timeout)
        self._stopping.difference_update(task.get_name() for task in done)


def run_bounded(main: Coroutine[Any, Any, int], grace: float) -> int:
    """asyncio.run(main), except that the clean-up after it is bounded.

    asyncio.run cancels every task left and then waits for them without a limit,
    and joins the default executor's threads without one too: a task that
    swallows its cancellation (nats-py's connect loop can) or a thread stuck in
    a subprocess would turn a SIGTERM into a hang until systemd's SIGKILL.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            leftovers = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.wait(leftovers, timeout=grace))
            stuck = sorted(t.get_name() for t in leftovers if not t.done())
            if stuck:
                log.warning(
                    "exiting with %d task(s) that did not stop within %g s: %s",
                    len(stuck), grace, ", ".join(stuck),
                )  # fmt: skip
            else:
                loop.run_until_complete(asyncio.wait_for(loop.shutdown_asyncgens(), timeout=grace))
                loop.run_until_complete(
                    asyncio.wait_for(loop.shutdown_default_executor(), timeout=grace)
                )
                loop.close()
        except (TimeoutError, RuntimeError) as exc:
            log.warning("exiting before the clean-up after stop finished: %s", exc or "timeout")
        finally:
            asyncio.set_event_loop(None)
