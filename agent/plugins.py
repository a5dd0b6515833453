"""How a collector module declares itself, so that adding one touches no central file.

Each module in `agent/collectors/` ends with ``PLUGIN = CollectorPlugin(...)``:
its name (the `collector.disabled` choice), the settings key of its interval,
its metrics (docs/METRICS.md and the exporter read them) and a factory from
settings.  `agent.collectors` finds the modules with pkgutil and orders them by
`order`, so the table, the settings' choices and the docs come from one place.
The class lives here, not in the package's `__init__`, so that a collector
module can import it while the package is still discovering its modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.collectors.agent_self import AgentStats
    from agent.collectors.base import Collector, MetricSpec
    from agent.settings import Settings


@dataclass(frozen=True)
class CollectorPlugin:
    name: str
    # Position in the table: collection order, docs order.  Gaps of 10 leave room.
    order: int
    # "section.key" of the interval in settings (agent.collect_interval_secs when
    # the domain has no key of its own).
    interval_key: str
    metrics: tuple[MetricSpec, ...]
    # Settings (and the runtime's statistics, None outside the daemon) -> the
    # collector, or None when settings turn it off by another key (numa_monitoring).
    build: Callable[[Settings, AgentStats | None], Collector | None]

    def interval(self, settings: Settings) -> float:
        section, key = self.interval_key.split(".")
        return float(getattr(getattr(settings, section), key))
