"""Detection quality on the Numenta Anomaly Benchmark's real AWS CloudWatch series.

    .venv/bin/python benchmarks/nab_eval.py [--nab ../shared/fixtures/nab] [--config FILE]
        [--split tune|held-out]

Replays every series through the analyzers with the default settings (nothing
tuned per file), exactly as `sysops-agent replay` does, and scores the firing
events against NAB's labelled anomaly windows:

* precision = firing events inside any window / all firing events
* recall    = windows with at least one firing event / all windows
* F1        = their harmonic mean

Only "firing" events count (not escalations or resolves).  "combined" is the
union of the anomaly analyzers (z-score, season, EMA); the static threshold
(CPU > 90 %) is scored on its own line: it is not an anomaly detector.  Each
series is replayed as `agent.replay.UNITLESS_METRIC` (no unit: a floor of 5 %
of its own scale, level or range covered, alerts in both directions), so NAB
measures detection, not a family's floor; with `--units`, under the agent's metric name for what it
measures (CPU % as cpu_usage_percent, bytes as *_bytes_per_second), so the
families' floors and directions and the default thresholds apply as on a host.

Held-out split (`--split`, here and in nab_score.py): the files fall into two
halves by the parity of the first byte of the SHA-256 of their name, a split
nobody chose: "tune" (10 files, 15 windows) is the half a change may be tried
on, "held-out" (7 files, 15 windows) the half it is reported on, looked at
only to measure.  Without `--split`, every file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.config import load_config
from agent.replay import UNITLESS_METRIC, parse_timestamp, read_csv, replay
from agent.settings import Settings
from alerting.alert import Status
from analyzers.base import SeriesKey

REPO = Path(__file__).resolve().parent.parent


def metric_for(name: str, units: bool = False) -> str:
    if not units:
        return UNITLESS_METRIC
    stem = Path(name).stem.lower()
    if "cpu" in stem or "grok_asg" in stem:
        return "cpu_usage_percent"
    if "disk_write_bytes" in stem:
        return "disk_write_bytes_per_second"
    if "network" in stem:
        return "network_receive_bytes_per_second"
    return "requests_per_interval"


SPLITS = ("tune", "held-out")


def split_of(name: str) -> str:
    """The half a file belongs to: by its name's SHA-256, never by its content."""
    return SPLITS[hashlib.sha256(name.encode()).digest()[0] % 2]


def in_split(name: str, split: str | None) -> bool:
    return split is None or split_of(name) == split


def score(events: list[float], windows: list[tuple[float, float]]) -> tuple[int, int, int]:
    """(events inside a window, windows hit, total windows)."""
    inside = sum(any(a <= t <= b for a, b in windows) for t in events)
    hit = sum(any(a <= t <= b for t in events) for a, b in windows)
    return inside, hit, len(windows)


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nab", type=Path, default=REPO.parent / "shared/fixtures/nab")
    parser.add_argument(
        "--config", type=Path, help="settings to evaluate (default: the built-in defaults)"
    )
    parser.add_argument("--per-file", action="store_true")
    parser.add_argument(
        "--units", action="store_true", help="replay under host metric names (families apply)"
    )
    parser.add_argument("--split", choices=SPLITS, help="only one half of the files (see above)")
    args = parser.parse_args()
    if not args.nab.is_dir():
        print(f"no NAB data at {args.nab} (it lives in ../shared/fixtures/nab)", file=sys.stderr)
        return 2
    settings = load_config(args.config).settings if args.config else Settings()
    windows_by_file = json.loads((args.nab / "labels/combined_windows.json").read_text())
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # events, inside, hit, windows
    for name, raw_windows in sorted(windows_by_file.items()):
        if not in_split(name, args.split):
            continue
        windows = [(parse_timestamp(a), parse_timestamp(b)) for a, b in raw_windows]
        recording = read_csv(args.nab / "data" / name)
        events: dict[str, list[float]] = defaultdict(list)
        key = SeriesKey(metric_for(name, args.units), (("series", Path(name).stem),))
        for alert in replay(settings, recording, key):
            if alert.status is Status.FIRING:
                events[alert.analyzer].append(alert.timestamp)
                if alert.analyzer in ("zscore", "ema", "season"):
                    events["combined"].append(alert.timestamp)
        for analyzer in ("threshold", "zscore", "ema", "season", "combined"):
            inside, hit, total = score(events[analyzer], windows)
            t = totals[analyzer]
            t[0] += len(events[analyzer])
            t[1] += inside
            t[2] += hit
            t[3] += total
            if args.per_file and analyzer == "combined":
                print(
                    f"  {name:<60} events {len(events[analyzer]):>3}  inside {inside:>3}  windows hit {hit}/{total}"
                )
    print(f"{'analyzer':<10}{'events':>8}{'inside':>8}{'precision':>11}{'recall':>8}{'F1':>7}")
    for analyzer in ("threshold", "zscore", "ema", "season", "combined"):
        events_n, inside, hit, total = totals[analyzer]
        precision = inside / events_n if events_n else 0.0
        recall = hit / total if total else 0.0
        print(
            f"{analyzer:<10}{events_n:>8}{inside:>8}{precision:>11.2f}{recall:>8.2f}{f1(precision, recall):>7.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
