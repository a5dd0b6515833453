"""What a row of the channel table says: name, factory, optional dependency.

A channel is declared once, by its settings section (a `CHANNEL` class
attribute in agent/settings.py); the agent walks the settings schema to make
the table, so the section's place in the configuration is the channel's
section.  The factory is named as "module:function" and imported only when
that channel is enabled: importing every channel module to read a declaration
would load the HTTP and SMTP stacks that a console-only agent never uses (the
embedded default's memory budget is 40 MB, and tests/test_footprint.py checks it).  Everything else about a channel lives in
its module: the `build(section, context)` factory at its end reads its own
settings section.  The section is typed `Any` here because this package must
not import `agent` (imports run agent -> analyzers -> alerting); the agent
passes the section object found at `section`.

The keys every channel has, `min_severity` and `send_resolved`, are read once,
into `ChannelContext`, not by each factory.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alerting.alert import Severity
from alerting.channels.base import Channel


@dataclass(frozen=True)
class ChannelContext:
    """What every factory gets besides its section."""

    user_agent: str  # for HTTP channels: sysops-agent/<version>
    hostname: str  # settings.agent.hostname
    min_severity: Severity  # the section's min_severity (info if it has none)
    send_resolved: bool  # the section's send_resolved (true if it has none)


def installed(module: str) -> bool:
    """Whether an optional extra's module can be imported (looked up, not imported)."""
    return importlib.util.find_spec(module) is not None


@dataclass(frozen=True)
class ChannelPlugin:
    name: str
    # "module:function" of `build(section, context) -> Channel | None`; None
    # means the section lacks what the channel needs (the validator reports it).
    factory: str
    # Keys of the section that must all be true for the channel to run.
    enabled_keys: tuple[str, ...] = ("enabled",)
    # Top-level modules of an optional extra the channel needs to deliver.
    requires: tuple[str, ...] = ()
    # Dotted path of its settings section from the top of the configuration;
    # filled in by the agent from where the section that declares it sits.
    section: str = ""

    def is_enabled(self, section: Any) -> bool:
        return all(bool(getattr(section, key)) for key in self.enabled_keys)

    def available(self) -> bool:
        """Whether its optional dependency is installed (looked up, not imported)."""
        return all(installed(module) for module in self.requires)

    def build(self, section: Any, user_agent: str, hostname: str) -> Channel | None:
        module, function = self.factory.split(":")
        factory: Callable[[Any, ChannelContext], Channel | None] = getattr(
            importlib.import_module(module), function
        )
        # A section without these keys (nats) takes every alert, resolutions included.
        context = ChannelContext(
            user_agent,
            hostname,
            Severity.parse(getattr(section, "min_severity", "info")),
            bool(getattr(section, "send_resolved", True)),
        )
        return factory(section, context)
