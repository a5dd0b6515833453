"""Command line: argument parsing, exit codes, and the one-shot modes.

Exit codes:
  0  success (the daemon stopped cleanly on SIGTERM/SIGINT; a check passed)
  1  runtime failure (`--once`: a collector failed; the daemon hit a fatal error)
  2  bad configuration or bad command-line usage
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import fnmatch
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent import __version__
from agent.config import ConfigError, LoadedConfig, load_config, settings_to_toml
from agent.settings import Settings
from alerting import silence_cli
from common.config import print_problems
from common.logsetup import setup_logging
from common.runner import run_bounded
from common.text import label_pairs, single_line

DEFAULT_CONFIG = "/etc/sysops-agent/config.toml"
EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
# --once: how long to wait between the two reads that counter-based metrics need.
ONCE_SAMPLE_SECS = 1.0

log = logging.getLogger("agent")


def _help_formatter(prog: str) -> argparse.HelpFormatter:
    try:
        width = os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):
        width = 80
    return argparse.HelpFormatter(prog, width=max(width - 2, 40))


class _Parser(argparse.ArgumentParser):
    """argparse whose help formatter asks the terminal for its width itself.

    The default one asks shutil, which brings in bz2 and lzma: about 0.6 MB that
    would stay resident in the daemon for the sake of --help.  Sub-parsers are
    of the same class, so they inherit it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _help_formatter)
        super().__init__(*args, **kwargs)


def _common_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """--config, --log-level and --log-format, before the command or after it.

    Users type `sysops-agent history cpu_usage_percent --config X` as often as
    the other order, so every (sub)command accepts them.  Below the top level
    an option that is not given is left out of the result (SUPPRESS), so it
    never overwrites the same option given before the command.
    """
    unset: Any = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--config",
        default=unset,
        metavar="PATH",
        help=f"TOML configuration (default {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error", "critical"), default=unset,
        help="log verbosity (overrides agent.log_level)",
    )  # fmt: skip
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text" if top else unset,
        help="log line format on stderr",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sysops-agent",
        description="Push-only monitoring and alerting agent for Linux servers.",
        epilog="Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage.",
    )
    _common_options(parser, top=True)
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
    mode.add_argument(
        "--test-alert",
        action="store_true",
        help="send a marked test notification through every enabled channel (or --channel) and report each",
    )
    parser.add_argument("--channel", metavar="NAME", help="with --test-alert: only this channel")
    parser.add_argument("--version", action="version", version=f"sysops-agent {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    replay = commands.add_parser(
        "replay",
        help="feed a recorded timestamp,value CSV through the analyzers and print alert events as JSON lines",
        description="Replay a recorded series through the configured analyzers as if it were live. "
        f"Without --config: {DEFAULT_CONFIG} if it exists, else the defaults; "
        "an explicit --config that does not exist exits 2; "
        "an analyzer that fails during the replay exits 1, after the other events.",
    )
    replay.add_argument("file", type=Path, help="CSV with a timestamp,value header (NAB format)")
    replay.add_argument(
        "--metric",
        default="series_value",
        help="metric name the series is replayed as: its family's floor and direction apply "
        "(default series_value: no unit, 5 %% of its own scale (level or range covered), both directions)",
    )
    replay.add_argument(
        "--labels", default="",
        help="the series' labels as k=v,k2=v2; in a file with a labels column (history's "
        "CSV), also which series of it to replay",
    )  # fmt: skip
    history = commands.add_parser(
        "history",
        help="print a metric's 1-minute history from SQLite (storage.sqlite_enabled)",
        description="Mean, min and max per minute, oldest first. CSV output can be fed to "
        "`sysops-agent replay` (select one series with --labels). "
        f"Without --config: {DEFAULT_CONFIG} if it exists, else the defaults; "
        "an explicit --config that does not exist exits 2.",
    )
    history.add_argument("metric", help="a metric name, as docs/METRICS.md lists them")
    history.add_argument("--labels", default="", help="only series with these labels: k=v,k2=v2")
    history.add_argument("--since", default="6h", help="how far back: 30m, 6h, 7d (default 6h)")
    history.add_argument(
        "--format",
        choices=("csv", "json"),
        default="csv",
        help="csv (default; `replay` reads it as it is) or json, one object per line",
    )
    for sub in (replay, history):
        _common_options(sub, top=False)
    silence_cli.add_parser(commands, functools.partial(_common_options, top=False))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `sysops-agent --inventory-dump | head`: the reader is done, so are we
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


# Commands that send nothing and open no channel or connection.
SENDS_NOTHING = ("silence", "history", "replay")


def _main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command and (args.validate or args.inventory_dump or args.once or args.test_alert):
        parser.error(
            f"{args.command} cannot be combined with --validate, --inventory-dump or --once"
        )
    if args.channel is not None and not args.test_alert:
        parser.error("--channel goes with --test-alert (it names the channel to test)")
    setup_logging(args.log_level or "warning", args.log_format)
    if args.config is None:
        # replay and history work on a host without the agent installed; an
        # explicit --config that does not exist is an error like for every mode.
        if args.command in ("replay", "history") and not Path(DEFAULT_CONFIG).exists():
            defaults = LoadedConfig(Settings(), (), False)
            return (
                run_replay(defaults, args)
                if args.command == "replay"
                else run_history(defaults, args)
            )
        args.config = DEFAULT_CONFIG
    try:
        # silence, history and replay send nothing: a channel's secret that this shell does
        # not have (it lives in the unit's environment) must not stop them in an incident.
        loaded = load_config(args.config, secrets=args.command not in SENDS_NOTHING)
    except ConfigError as exc:
        print_problems("sysops-agent", exc)
        return EXIT_CONFIG
    setup_logging(args.log_level or loaded.settings.agent.log_level, args.log_format)
    if args.validate:
        return validate(loaded)
    if args.inventory_dump:
        return inventory_dump(loaded)
    if args.once:
        return run_once(loaded)
    if args.test_alert:
        return test_alert(loaded, args.channel)
    if args.command == "replay":
        return run_replay(loaded, args)
    if args.command == "silence":
        return run_silence(loaded, args)
    if args.command == "history":
        return run_history(loaded, args)
    return run_daemon(loaded, args.config, args.log_level)


def validate(loaded: LoadedConfig) -> int:
    from agent.assembly import summarize

    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    summary = summarize(loaded.settings)
    print(f"# {loaded.settings.source}: valid")
    print("# collectors: " + ", ".join(f"{n} (every {i:g} s)" for n, i in summary.collectors))
    print("# channels: " + (", ".join(summary.channels) or "none"))
    print("# log sources: " + (", ".join(summary.log_sources) or "none"))
    for line in summary.missing_extra_lines():
        print(f"# {line}")
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


def _learning(settings: Any, metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """Series z-score, season and EMA would watch: one reading is no history, so all are
    learning."""
    an = settings.analyzer
    statistical = sorted({"zscore", "ema", "season"} & set(an.enabled))
    watched = [
        m for m in metrics if any(fnmatch.fnmatchcase(m["name"], p) for p in an.anomaly_metrics)
    ]
    return {
        "series": len(watched) if statistical else 0,
        "analyzers": statistical,
        "reason": f"no statistical verdict before {an.anomaly_learning_secs:g} s of history "
        "(analyzer.anomaly_learning_secs; season: two days, and three earlier days in the "
        "history tier); --once has one reading, so only thresholds apply",
    }


def run_once(loaded: LoadedConfig) -> int:
    """One collection of every domain, analyzed but not sent: a host check for operators.

    Rates and percentages need two reads: every collector is read, then read
    again ONCE_SAMPLE_SECS later, and the second reading is reported.
    """
    from agent.assembly import threshold_rules
    from agent.collectors import build_collectors
    from agent.collectors.base import SourceMissing
    from agent.pipeline import Pipeline
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
    # One reading: the raw tier needs a single column and no history tier at all;
    # only the threshold verdicts mean something without a past.
    pipeline = Pipeline(
        Store(1, history_capacity=0), [ThresholdAnalyzer(threshold_rules(settings))]
    )
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
        for key, value in zip(samples.keys, samples.values.tolist(), strict=True):
            metrics.append({"name": key.metric, "value": value, "labels": dict(key.labels)})
        for alert in pipeline.process(collector.name, now, samples):
            record = alert.to_record()  # the record webhooks and NATS carry
            record["hostname"] = settings.agent.hostname
            alerts.append(record)
    report = {
        "hostname": settings.agent.hostname,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "note": f"rates and percentages are over the {ONCE_SAMPLE_SECS:g} s between two reads",
        "metrics": metrics,
        "alerts": alerts,
        "learning": _learning(settings, metrics),
        "absent": absent,
        "errors": errors,
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    return EXIT_FAILURE if errors else EXIT_OK


def test_alert(loaded: LoadedConfig, only: str | None) -> int:
    """One clearly marked test alert per channel, sent directly; exit 0 only if all delivered."""
    from agent.assembly import build_channels
    from alerting.alert import Alert, Severity, Status
    from alerting.channels.base import DeliveryError

    settings = loaded.settings
    channels = build_channels(settings, only)
    if not channels:
        print(
            f"sysops-agent: no enabled channel{f' named {only}' if only else ''} to test",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    alert = Alert(
        analyzer="test", metric="sysops_agent_test", labels=(), status=Status.FIRING,
        severity=Severity.CRITICAL, value=0.0, threshold=None,
        message=f"Test notification from sysops-agent on {settings.agent.hostname}: if you can read this, the channel works.",
        timestamp=time.time(), hostname=settings.agent.hostname, context={"test": True},
    )  # fmt: skip

    async def send_all() -> list[tuple[str, str | None]]:
        results: list[tuple[str, str | None]] = []
        for channel in channels:
            try:
                await asyncio.wait_for(channel.send([alert]), 60)
                results.append((channel.name, None))
            except DeliveryError as exc:
                results.append((channel.name, str(exc)))
            except TimeoutError:
                results.append((channel.name, "no answer within 60 s"))
            finally:
                await channel.close()
        return results

    failed = 0
    for name, error in asyncio.run(send_all()):
        print(f"{name}: {'delivered' if error is None else 'FAILED: ' + error}")
        failed += error is not None
    return EXIT_OK if not failed else EXIT_FAILURE


def run_silence(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from agent.alert_labels import alert_label_keys
    from agent.assembly import silence_file

    known = alert_label_keys(loaded.settings) if args.action == "add" else ()
    return silence_cli.run(silence_file(loaded.settings), args, known, "sysops-agent")


def run_history(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    """Print a metric's 1-minute history from SQLite as CSV (replayable) or JSON lines."""
    import csv
    import sqlite3
    from datetime import UTC, datetime

    from agent.assembly import history_path
    from agent.history import query
    from alerting.silences import parse_duration

    try:
        labels = dict(label_pairs(args.labels))
        since = time.time() - parse_duration(args.since)
    except ValueError as exc:
        print(f"sysops-agent history: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        rows = query(history_path(loaded.settings), args.metric, labels, since)
    except (FileNotFoundError, sqlite3.Error) as exc:
        print(f"sysops-agent history: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if not rows:  # a misspelt metric must not look like a quiet one
        print(
            f"sysops-agent history: no row for {args.metric} since {args.since}"
            + (f" with {args.labels}" if args.labels else "")
            + " (metric names: docs/METRICS.md)",
            file=sys.stderr,
        )
    # A label is untrusted text (a process names itself, `comm`): no control or bidi character
    # of it reaches the terminal, in JSON (escaped as \uXXXX) or CSV (common.text.single_line).
    if args.format == "json":
        for row in rows:
            print(json.dumps({"metric": args.metric, **dataclasses.asdict(row)}))
        return EXIT_OK
    # CSV with `timestamp,value` first: `sysops-agent replay` reads it as it is.
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["timestamp", "value", "min", "max", "samples", "labels"])
    for row in rows:
        stamp = datetime.fromtimestamp(row.minute, UTC).strftime("%Y-%m-%d %H:%M:%S")
        labels_text = single_line(",".join(f"{k}={v}" for k, v in sorted(row.labels.items())))
        writer.writerow(
            [stamp, f"{row.mean:.6g}", f"{row.min:.6g}", f"{row.max:.6g}", row.samples, labels_text]
        )
    return EXIT_OK


def run_replay(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from agent.replay import AnalyzerFailed, SeveralSeries, event_json, read_csv, replay
    from analyzers.base import SeriesKey

    try:
        labels = label_pairs(args.labels)
    except ValueError as exc:
        print(f"sysops-agent replay: --labels: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        recording = read_csv(args.file, labels)
    except OSError as exc:
        print(f"sysops-agent replay: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_CONFIG
    except SeveralSeries as exc:
        print(f"sysops-agent replay: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    skipped = f" ({recording.skipped} unreadable line(s) skipped)" if recording.skipped else ""
    if not recording.times.size:  # a wrong file must not look like a quiet series
        print(
            f"sysops-agent replay: no sample in {args.file}{skipped}: expected lines "
            "'timestamp,value' (epoch seconds or ISO 8601, then a number)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    # The file's own labels (`history`'s CSV) name the series, --labels' among them.
    key = SeriesKey(args.metric, tuple(sorted(dict([*recording.labels, *labels]).items())))
    failed: AnalyzerFailed | None = None
    events = replay(loaded.settings, recording, key)
    told = 0
    try:
        try:
            for alert in events:
                print(event_json(alert), flush=False)
                told += 1
        except AnalyzerFailed as exc:  # the events printed are not the whole answer
            failed = exc
        sys.stdout.flush()
    except BrokenPipeError:  # `replay ... | head`: the reader is done, so are we
        told = -1  # the replay stopped early: no summary of a whole one
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        try:
            events.close()  # a failure already counted is still said
        except AnalyzerFailed as exc:
            failed = exc
    if failed is not None:  # said even when the reader left early
        print(f"sysops-agent replay: {failed}", file=sys.stderr)
        return EXIT_FAILURE
    if told < 0:
        return EXIT_OK
    span = (recording.times[-1] - recording.times[0]) / 3600
    print(
        f"sysops-agent replay: {recording.times.size:,} samples over {span:.1f} h{skipped}: "
        f"{told} event(s)",
        file=sys.stderr,
    )
    return EXIT_OK


def run_daemon(loaded: LoadedConfig, config_path: str, log_level: str | None = None) -> int:
    from agent.config import runtime_file_problems
    from agent.runtime import Agent

    try:
        agent = Agent(loaded, config_path, log_level)
    except OSError as exc:  # ssl.SSLError included
        problems = runtime_file_problems(loaded.settings)
        if problems:  # a file the configuration names, gone or broken since --validate
            log.critical("cannot start with %s: %s", config_path, "; ".join(problems))
            return EXIT_CONFIG
        log.critical("cannot run: %s", exc)  # data_dir, say
        return EXIT_FAILURE
    try:
        return run_bounded(agent.run(), grace=LEFTOVER_GRACE_SECS)
    except OSError as exc:
        log.critical("cannot run: %s", exc)
        return EXIT_FAILURE


# What is left running after the agent stopped (a library's task, a thread in the
# default executor) gets this long to end before the process exits anyway.
LEFTOVER_GRACE_SECS = 2.0
