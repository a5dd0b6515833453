"""Collector domains, one module each, and the table that builds them from settings.

The table is not written here: every module of this package but `base` ends with
``PLUGIN = CollectorPlugin(...)`` (agent/plugins.py), and the modules are found
by listing its files, so a new domain is one new module.  `DOMAINS` is ordered by each
plug-in's `order` (then name), which is the collection order and the order of
docs/METRICS.md, whatever order the file system lists the modules in.
"""

from __future__ import annotations

import importlib
import os

from agent.collectors.agent_self import AgentStats
from agent.collectors.base import Collector, MetricSpec
from agent.plugins import CollectorPlugin
from agent.settings import Settings

# Modules of this package that are shared code, not a domain.
HELPERS = frozenset({"base"})


def _discover() -> tuple[CollectorPlugin, ...]:
    plugins = []
    # The package's own files, listed directly: pkgutil costs ~0.3 MB resident for this.
    names = sorted(f[:-3] for f in os.listdir(__path__[0]) if f.endswith(".py"))
    for name in names:
        if name in HELPERS or name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{name}")
        plugin = getattr(module, "PLUGIN", None)
        if not isinstance(plugin, CollectorPlugin):
            # A module here that is not a domain must be listed in HELPERS: a
            # forgotten declaration would otherwise drop a domain silently.
            raise ImportError(f"{module.__name__} declares no PLUGIN = CollectorPlugin(...)")
        plugins.append(plugin)
    names = [p.name for p in plugins]
    if len(set(names)) != len(names):
        raise ImportError(f"two collector modules declare the same name: {sorted(names)}")
    return tuple(sorted(plugins, key=lambda p: (p.order, p.name)))


DOMAINS: tuple[CollectorPlugin, ...] = _discover()
NAMES: tuple[str, ...] = tuple(d.name for d in DOMAINS)
ALL_METRICS: tuple[MetricSpec, ...] = tuple(m for d in DOMAINS for m in d.metrics)


def interval_of(settings: Settings, domain: CollectorPlugin) -> float:
    return domain.interval(settings)


def build_collectors(
    settings: Settings, stats: AgentStats | None = None
) -> list[tuple[Collector, float]]:
    """Every enabled collector with its interval in seconds.

    `self` needs the runtime's statistics, so it is built only when `stats` is given.
    """
    built: list[tuple[Collector, float]] = []
    for domain in DOMAINS:
        if domain.name in settings.collector.disabled:
            continue
        collector = domain.build(settings, stats)
        if collector is not None:
            built.append((collector, domain.interval(settings)))
    return built
