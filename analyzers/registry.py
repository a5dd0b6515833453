"""The table of analyzers, declared by the analyzer modules themselves.

Each analyzer module ends with ``PLUGIN = AnalyzerPlugin(...)``: its name (an
`analyzer.enabled` choice), its place in the evaluation order and a factory
from settings.  `plugins()` finds them by listing the package, so a new analyzer is one
new module; `analyzer.enabled`'s choices and default, and the assembly, are
derived from this table.  `history` names the metrics (shell-style patterns)
whose series the analyzer reads from the history tier: the store keeps that
tier for those series only.  The factory receives the agent's settings as `Any`:
this package must not import `agent` (imports run agent -> analyzers ->
alerting), and each factory reads only its own keys.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from analyzers.base import Analyzer

# Modules of this package that are not analyzers of the sample path: shared
# numeric code, and logpatterns, which the log watcher runs on log lines.
HELPERS = frozenset({"families", "base", "regression", "registry", "logpatterns"})


@dataclass(frozen=True)
class AnalyzerPlugin:
    name: str
    # Evaluation order (threshold first: its alerts are the most specific).
    order: int
    # (settings, watch_everything) -> the analyzer.  `watch_everything` (replay)
    # makes the anomaly analyzers watch every metric, not anomaly_metrics.
    build: Callable[[Any, bool], Analyzer]
    # (settings, watch_everything) -> patterns of the metrics whose history-tier
    # means it reads (history_ago / history_window); a series none names has no
    # history column, and reading it gives NaN / nothing.
    history: Callable[[Any, bool], tuple[str, ...]] = lambda _settings, _everything: ()
    # settings -> how long, after the agent restarts, this analyzer may take to raise again
    # an alert whose condition still holds (its learning time).  An alert it announced
    # before the restart and has not raised again by then (and a few collection intervals)
    # is resolved (alerting/router.py, `Router.resume`).  An alert a `Warmable` analyzer took
    # back with its stretch (`took_back`) gets no deadline: the series' next sample raises it
    # again or resolves it (agent/runtime.py, `_resume_episodes`).
    confirm_after_restart_secs: Callable[[Any], float] = lambda _settings: 0.0
    # It takes its levels back (`Resumable`) and applies them at a series' first closed
    # history bucket: the look for unreported series after a start (which drops the levels
    # not applied yet) waits for one when it has an alert taken back.
    judges_closed_buckets: bool = False


@functools.cache
def plugins() -> tuple[AnalyzerPlugin, ...]:
    """Every analyzer, in evaluation order (by `order`, then name)."""
    import analyzers

    found = []
    # The package's own files, listed directly (pkgutil costs resident memory for this).
    names = sorted(f[:-3] for f in os.listdir(analyzers.__path__[0]) if f.endswith(".py"))
    for name in names:
        if name in HELPERS or name.startswith("_"):
            continue
        module = importlib.import_module(f"analyzers.{name}")
        plugin = getattr(module, "PLUGIN", None)
        if not isinstance(plugin, AnalyzerPlugin):
            # A module that is not an analyzer belongs in HELPERS; a forgotten
            # declaration must not drop an analyzer silently.
            raise ImportError(f"{module.__name__} declares no PLUGIN = AnalyzerPlugin(...)")
        found.append(plugin)
    return tuple(sorted(found, key=lambda p: (p.order, p.name)))


def names() -> tuple[str, ...]:
    return tuple(p.name for p in plugins())


def history_patterns(settings: Any, watch_everything: bool = False) -> tuple[str, ...]:
    """Patterns of the metrics the enabled analyzers read history of (see `history`)."""
    enabled = set(settings.analyzer.enabled)
    found = (p.history(settings, watch_everything) for p in plugins() if p.name in enabled)
    return tuple(dict.fromkeys(pattern for patterns in found for pattern in patterns))


def confirm_after_restart_secs(settings: Any, analyzer: str) -> float:
    """The plug-in's `confirm_after_restart_secs`; 0 for an analyzer not enabled now."""
    for p in plugins():
        if p.name == analyzer and p.name in settings.analyzer.enabled:
            return float(p.confirm_after_restart_secs(settings))
    return 0.0


def judges_closed_buckets(analyzer: str) -> bool:
    """The plug-in's `judges_closed_buckets` (False for a name that is no analyzer's)."""
    return any(p.name == analyzer and p.judges_closed_buckets for p in plugins())


def build_analyzers(settings: Any, watch_everything: bool = False) -> list[Analyzer]:
    """The analyzers named in settings.analyzer.enabled, in evaluation order."""
    enabled = set(settings.analyzer.enabled)
    return [p.build(settings, watch_everything) for p in plugins() if p.name in enabled]
