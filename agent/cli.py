"""Command line: argument parsing, exit codes, and the one-shot modes.

Exit codes:
  0  success (the daemon stopped cleanly on SIGTERM/SIGINT; a check passed)
  1  runtime failure (`--once`: a collector failed; the daemon hit a fatal error)
  2  bad configuration or bad command-line usage
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from agent import __version__
from agent.config import ConfigError, LoadedConfig, load_config, settings_to_toml
from agent.logsetup import setup_logging

DEFAULT_CONFIG = "/etc/sysops-agent/config.toml"
EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
# --once: how long to wait between the two reads that counter-based metrics need.
ONCE_SAMPLE_SECS = 1.0

log = logging.getLogger("agent")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sysops-agent",
        description="Push-only monitoring and alerting agent for Linux servers.",
        epilog="Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage.",
    )
    parser.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        metavar="PATH",
        help=f"TOML configuration (default {DEFAULT_CONFIG})",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--validate", action="store_true",
        help="check the configuration, print the effective settings (secrets masked) and exit",
    )  # fmt: skip
    mode.add_argument(
        "--inventory-dump",
        action="store_true",
        help="print the hardware/software inventory as JSON and exit",
    )
    mode.add_argument(
        "--once",
        action="store_true",
        help="collect every enabled domain once, analyze, and print the metrics and the alerts "
        "that would fire as JSON, then exit",
    )
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error", "critical"),
        help="log verbosity (overrides agent.log_level)",
    )  # fmt: skip
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log line format on stderr"
    )
    parser.add_argument("--version", action="version", version=f"sysops-agent {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level or "warning", args.log_format)
    try:
        loaded = load_config(args.config)
    except ConfigError as exc:
        print(
            f"sysops-agent: invalid configuration ({len(exc.problems)} problem(s)):",
            file=sys.stderr,
        )
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(args.log_level or loaded.settings.agent.log_level, args.log_format)
    if args.validate:
        return validate(loaded)
    if args.inventory_dump:
        return inventory_dump(loaded)
    if args.once:
        return run_once(loaded)
    return run_daemon(loaded, args.config, args.log_level)


def validate(loaded: LoadedConfig) -> int:
    from agent.assembly import summarize

    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    summary = summarize(loaded.settings)
    print(f"# {loaded.settings.source}: valid")
    print("# collectors: " + ", ".join(f"{n} (every {i:g} s)" for n, i in summary.collectors))
    print("# channels: " + (", ".join(summary.channels) or "none"))
    if summary.unavailable_channels:
        print(
            "# enabled but not available in this version (alerts to them are not sent): "
            + ", ".join(summary.unavailable_channels)
        )
    for note in summary.notes:
        print(f"# note: {note}")
    print("# effective settings (secrets shown as ***):")
    print(settings_to_toml(loaded.settings), end="")
    return EXIT_OK


def inventory_dump(loaded: LoadedConfig) -> int:
    from agent.inventory import collect_inventory

    json.dump(collect_inventory(loaded.settings), sys.stdout, indent=2)
    print()
    return EXIT_OK


def run_once(loaded: LoadedConfig) -> int:
    """One collection of every domain, analyzed but not sent: a host check for operators.

    Rates and percentages need two reads: every collector is read, then read
    again ONCE_SAMPLE_SECS later, and the second reading is reported.
    """
    import dataclasses

    from agent.assembly import threshold_rules
    from agent.collectors import build_collectors
    from agent.collectors.base import SourceMissing
    from agent.store import Store
    from analyzers.threshold import ThresholdAnalyzer

    settings = loaded.settings
    collectors = [c for c, _ in build_collectors(settings)]
    absent: dict[str, str] = {}
    for collector in collectors:  # the first read sets the baselines
        try:
            collector.collect()
        except SourceMissing as exc:
            absent[collector.name] = str(exc)
        except Exception:  # noqa: S110 - the second read reports it
            pass
    time.sleep(ONCE_SAMPLE_SECS)
    now = time.time()
    store = Store(16)
    analyzer = ThresholdAnalyzer(threshold_rules(settings))
    errors: dict[str, str] = {}
    metrics: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for collector in collectors:
        if collector.name in absent:
            continue
        try:
            samples = collector.collect()
        except SourceMissing as exc:
            absent[collector.name] = str(exc)
            continue
        except Exception as exc:
            errors[collector.name] = f"{type(exc).__name__}: {exc}"
            continue
        batch = store.write_samples(now, samples.keys, samples.values)
        for key, value in zip(samples.keys, samples.values.tolist(), strict=True):
            metrics.append({"name": key.metric, "value": value, "labels": dict(key.labels)})
        for alert in analyzer.observe(batch, store):
            alerts.append(dataclasses.replace(alert, hostname=settings.agent.hostname).to_dict())
    report = {
        "hostname": settings.agent.hostname,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "note": f"rates and percentages are over the {ONCE_SAMPLE_SECS:g} s between two reads",
        "metrics": metrics,
        "alerts": alerts,
        "absent": absent,
        "errors": errors,
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    return EXIT_FAILURE if errors else EXIT_OK


def run_daemon(loaded: LoadedConfig, config_path: str, log_level: str | None = None) -> int:
    from agent.runtime import Agent

    try:
        return asyncio.run(Agent(loaded, config_path, log_level).run())
    except OSError as exc:
        log.critical("cannot run: %s", exc)
        return EXIT_FAILURE
