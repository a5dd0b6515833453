"""The agent's configuration: its schema (`agent.settings.Settings`) read with the shared
conventions of `common.config`, plus the checks that only make sense for the agent.

See `common.config` for the file format rules (errors with file:line and key path,
``${NAME}``/``${file:/path}`` secrets, disabled sections left unresolved).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from agent.alert_labels import matcher_labels, metric_names, selector_labels
from agent.settings import Settings, history_tier_hours
from alerting.settings import nats_file_problems
from common.config import (
    MAX_SECRET_FILE_BYTES,
    ConfigError,
    PathPart,
    Problem,
    check_file_permissions,
    iter_secrets,
    masked_dict,
    parse_document,
    read_config_text,
    settings_to_toml,
)

# The shared conventions callers reach through the agent's module.
__all__ = [
    "MAX_HISTORY_BUCKETS",
    "MAX_SECRET_FILE_BYTES",
    "ConfigError",
    "LoadedConfig",
    "Problem",
    "iter_secrets",
    "load_config",
    "masked_dict",
    "parse_config_text",
    "runtime_file_problems",
    "settings_to_toml",
]

# 31 days of 60 s buckets, or a day of 1 s ones: at most 400 kB per series (4 bytes a bucket).
MAX_HISTORY_BUCKETS = 100_000

Report = Callable[[tuple[PathPart, ...], str], None]


@dataclass(frozen=True)
class LoadedConfig:
    settings: Settings
    warnings: tuple[str, ...]
    has_literal_secrets: bool


def load_config(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None, secrets: bool = True
) -> LoadedConfig:
    """Read, validate and convert the configuration file at `path`.  `secrets=False`: for a
    command that sends nothing, a section whose secrets are not set is off (parse_document)."""
    text = read_config_text(path, "the agent's user")
    loaded = parse_config_text(text, str(path), environ, secrets)
    perm_warnings = check_file_permissions(Path(path), loaded.has_literal_secrets)
    return LoadedConfig(
        loaded.settings, loaded.warnings + tuple(perm_warnings), loaded.has_literal_secrets
    )


def parse_config_text(
    text: str,
    source: str = "<config>",
    environ: Mapping[str, str] | None = None,
    secrets: bool = True,
) -> LoadedConfig:
    """Validate TOML `text`; `source` names it in messages."""
    checks = (
        (history_size, matcher_labels, selector_labels, metric_names, runtime_files)
        if secrets
        else (history_size, matcher_labels, selector_labels, metric_names)
    )
    parsed = parse_document(text, Settings, source, environ, checks, secrets)
    return LoadedConfig(parsed.settings, parsed.warnings, parsed.has_literal_secrets)


def runtime_file_problems(settings: Settings) -> list[str]:
    """`key: path: why` for each file the agent opens at start that cannot be used now."""
    problems: list[str] = []
    runtime_files(
        settings, lambda path, message: problems.append(f"{'.'.join(map(str, path))}: {message}")
    )
    return problems


def history_size(settings: Settings, report: Report) -> None:
    """Each key may be in range while together they ask for millions of buckets per series
    (1 s buckets over 31 days): bound the history tier itself."""
    st = settings.storage
    hours = history_tier_hours(settings)
    buckets = math.ceil(hours * 3600 / st.history_resolution_secs)
    if buckets > MAX_HISTORY_BUCKETS:
        report(
            ("storage", "history_resolution_secs"),
            f"{hours:g} h (the longest of history_hours, the trend and leak windows, and "
            "anomaly_record_hours with anomaly_season_tolerance_secs before it) in "
            f"{st.history_resolution_secs:g} s buckets is {buckets:,} buckets "
            f"per series, more than {MAX_HISTORY_BUCKETS:,}; use longer buckets",
        )


def runtime_files(settings: Settings, report: Report) -> None:
    """Files the agent opens when it starts and builds its channels: checked now, with the
    path named (each of these passed --validate, then stopped the start with an error that
    named no key, or let the agent say "started" while every collector failed)."""
    if settings.nats.enabled:
        for key, message in nats_file_problems(settings.nats):
            report(("nats", key), message)
    agent = settings.agent
    data_dir = Path(agent.data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        report(("agent", "data_dir"), f"{data_dir}: not a directory (the agent keeps its "
               "outbox, silences and history tier in it, and makes it if it is missing)")  # fmt: skip
    sqlite_path = settings.storage.sqlite_path
    if settings.storage.sqlite_enabled and sqlite_path and Path(sqlite_path).is_dir():
        report(("storage", "sqlite_path"), f"{sqlite_path}: a directory; the history is a "
               "file (history.db in it?)")  # fmt: skip
