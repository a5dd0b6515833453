"""Running a service's main coroutine with a clean-up that cannot hang (both services use it)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


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
