"""Reading the fleet watcher's configuration: `fleet.settings.FleetSettings` with the
conventions of `common.config` (file:line errors, `${ENV}` secrets, permission checks),
plus the `[nats]` files checked now rather than at the first connection."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from alerting.settings import nats_file_problems
from alerting.silences import matcher_key_problems
from common.config import PathPart, check_file_permissions, parse_document, read_config_text
from fleet.settings import FleetSettings

DEFAULT_CONFIG = "/etc/sysops-fleet/config.toml"


@dataclass(frozen=True)
class LoadedConfig:
    settings: FleetSettings
    warnings: tuple[str, ...]


# The labels of the watcher's alerts: a host gone silent, back or stopped (watcher.py), an
# inventory change (cmdb.py), the watcher itself cut off from NATS (watcher.py); a mass
# silence has none.
FLEET_ALERT_LABELS = ("host", "change", "instance")


def alert_labels(
    settings: FleetSettings, report: Callable[[tuple[PathPart, ...], str], None]
) -> None:
    """Maintenance windows and inhibit rules name keys the watcher's alerts carry."""
    for path, problem in matcher_key_problems(settings.alerting, FLEET_ALERT_LABELS):
        report(("alerting", *path), problem)


def nats_files(
    settings: FleetSettings, report: Callable[[tuple[PathPart, ...], str], None]
) -> None:
    for key, message in nats_file_problems(settings.nats):
        report(("nats", key), message)


def load_config(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None, secrets: bool = True
) -> LoadedConfig:
    """Read, validate and convert the file at `path`; `common.config.ConfigError` if it is bad.
    `secrets=False`: for a command that sends nothing (`silence`), a section whose secrets
    are not set is off (common.config.parse_document)."""
    text = read_config_text(path, "the fleet watcher's user")
    checks = (alert_labels, nats_files) if secrets else (alert_labels,)
    parsed = parse_document(text, FleetSettings, str(path), environ, checks, secrets)
    warnings = check_file_permissions(Path(path), parsed.has_literal_secrets, "sysops-fleet")
    return LoadedConfig(parsed.settings, parsed.warnings + tuple(warnings))
