"""Detection quality judged by the Numenta Anomaly Benchmark's own scoring method.

    .venv/bin/python benchmarks/nab_score.py [--nab ../shared/fixtures/nab] [--config FILE] [--per-file]
        [--split tune|held-out]

Why a second scorer next to benchmarks/nab_eval.py: window F1 counts an alert
one minute before a window closes the same as one at its start, and a false
alert the same wherever it falls.  NAB's published numbers (and the goal in
issue #14) are in NAB's score, which rewards early detection and weighs false
positives by a profile, so we measure in that unit too.  The firing events are
the ones nab_eval scores: every series replayed through the default analyzers
exactly as `sysops-agent replay` does (`firing_events` below, with nab_eval's
metric naming: unit-less, see agent/replay.py), nothing tuned per file.

The method, rule by rule, with where each comes from.  [paper] is Lavin &
Ahmad, "Evaluating Real-time Anomaly Detection Algorithms - the Numenta
Anomaly Benchmark", IEEE ICMLA 2015 (arXiv:1510.03336), section "Scoring";
[sweeper], [runner] and [profiles] are nab/sweeper.py, nab/runner.py
(`normalize`) and config/profiles.json in github.com/numenta/NAB (v1.1):

* Anomaly windows are the labelled [start, end] timestamp pairs of
  labels/combined_windows.json; a row is in a window if start <= t <= end.
  [paper, sweeper `calcSweepScore`]
* Probationary period: the first min(floor(0.15 * rows), 0.15 * 5000) rows of
  each file are not scored at all (no false positive, and a window lying wholly
  inside it is neither hit nor missed).  [paper: "first 15 %"; the 750-row
  cap is sweeper `_getProbationaryLength`]
* The scaled sigmoid of a relative position y: sigma(y) = 2 / (1 + e^(5y)) - 1,
  and -1 for y >= 3.  [sweeper `scaledSigmoid`]
* A detection in a window at row i, for a window of `width` rows ending at row
  `end`: y = -(end - i + 1) / width (so -1 at the window's first row, towards 0
  at its end); it scores A_TP * sigma(y) / sigma(-1), which is exactly A_TP at
  the first row.  Only the best, i.e. the first, detection in a window counts;
  the later ones in it neither add nor cost.  [paper eq. 1; sweeper
  `calcSweepScore` and `calcScoreByThreshold` (max per window)]
* A window with no detection costs -A_FN.  [paper; sweeper
  `_prepareScoreByThresholdParts`]
* A detection outside every window is a false positive weighted by its
  distance after the end of the previous window, in that window's widths:
  y = (i - end_prev) / (width_prev - 1), scoring A_FP * sigma(y) (close after
  a window it costs almost nothing, far after it costs A_FP); before any
  window, y = 3, i.e. the full -A_FP.  [sweeper `calcSweepScore`]
* A detection is a row with at least one firing event (NAB scores rows, so two
  analyzers firing at the same instant are one detection).  Our analyzers emit
  yes/no events, not an anomaly score, so NAB's per-profile threshold search is
  moot: this is NAB's score at the one threshold our defaults have.
* Profiles: "standard" A_TP = 1, A_FP = 0.11, A_FN = 1 (A_TN = 1, unused);
  "reward_low_FP_rate" A_TP = 1, A_FP = 0.22, A_FN = 1.  [profiles; paper
  table 1]
* Normalisation, over a corpus (the sum of the files' raw scores):
  score = 100 * (raw - null) / (perfect - null), where null is the raw score
  of a detector that flags nothing (every scored window missed: -A_FN per
  window) and perfect = A_TP x the number of labelled windows.  A detector
  that flags nothing scores 0, one that hits every window at its first row
  and nothing else scores 100.  [runner `normalize`]  The per-file figures
  use the same formula on one file (undefined for a file without windows).
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.replay import Recording, parse_timestamp, read_csv, replay
from agent.settings import Settings
from alerting.alert import Status
from analyzers.base import SeriesKey
from benchmarks.nab_eval import SPLITS, f1, in_split, metric_for
from benchmarks.nab_eval import score as window_hits

REPO = Path(__file__).resolve().parent.parent
PROBATION_PERCENT = 0.15  # [paper], [sweeper]
PROBATION_MAX_ROWS = PROBATION_PERCENT * 5000  # [sweeper _getProbationaryLength]
ANALYZERS = ("threshold", "zscore", "ema", "season", "combined")


@dataclass(frozen=True)
class Profile:
    name: str
    tp: float
    fp: float
    fn: float


STANDARD = Profile("standard", tp=1.0, fp=0.11, fn=1.0)
REWARD_LOW_FP = Profile("reward_low_FP_rate", tp=1.0, fp=0.22, fn=1.0)
PROFILES = (STANDARD, REWARD_LOW_FP)


def scaled_sigmoid(position: float) -> float:
    """NAB's sigma(y): ~0.987 at y = -1 (a window's start), 0 at y = 0, -1 from y = 3 on."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probation_rows(rows: int) -> int:
    """Rows at the start of a file that are not scored."""
    return int(min(math.floor(PROBATION_PERCENT * rows), PROBATION_MAX_ROWS))


@dataclass(frozen=True)
class FileScore:
    """One file under one profile: the raw score and what normalises it."""

    raw: float
    null: float  # the raw score of a detector that flags nothing
    perfect: float  # A_TP x labelled windows
    windows_hit: int
    windows_scored: int
    false_positives: int

    @property
    def normalised(self) -> float | None:
        return normalise(self.raw, self.null, self.perfect)


def normalise(raw: float, null: float, perfect: float) -> float | None:
    """100 * (raw - null) / (perfect - null); None when there is nothing to detect."""
    if perfect == null:
        return None
    return 100.0 * (raw - null) / (perfect - null)


def window_rows(
    times: Sequence[float], windows: Iterable[tuple[float, float]]
) -> list[tuple[int, int]]:
    """Each window as (first row, last row) of the rows with start <= t <= end; empty ones dropped."""
    rows = []
    for start, end in sorted(windows):
        first = bisect.bisect_left(times, start)
        last = bisect.bisect_right(times, end) - 1
        if first <= last:
            rows.append((first, last))
    return rows


def score_file(
    times: Sequence[float],
    detections: Iterable[float],
    windows: Sequence[tuple[float, float]],
    profile: Profile,
) -> FileScore:
    """NAB's score of one file: `times` are its rows (sorted), `detections` the
    timestamps of firing events, `windows` the labelled (start, end) pairs."""
    spans = window_rows(times, windows)
    probation = probation_rows(len(times))
    flagged = sorted({bisect.bisect_left(times, t) for t in detections})
    flagged = [i for i in flagged if probation <= i < len(times)]
    max_tp = scaled_sigmoid(-1.0)
    # Every window with a scored row starts as a miss, replaced by its best (first) detection.
    best: dict[int, float] = {
        w: -profile.fn for w, (_, last) in enumerate(spans) if last >= probation
    }
    fp_score, fp_count = 0.0, 0
    hit: set[int] = set()
    for i in flagged:
        inside = next((w for w, (a, b) in enumerate(spans) if a <= i <= b), None)
        if inside is not None:
            first, last = spans[inside]
            width = last - first + 1
            tp_score = scaled_sigmoid(-(last - i + 1) / width) * profile.tp / max_tp
            best[inside] = max(best[inside], tp_score) if inside in hit else tp_score
            hit.add(inside)
            continue
        previous = [(a, b) for a, b in spans if b < i]
        if previous:
            first, last = previous[-1]
            # A one-row window would divide by zero in NAB's formula; count it as two rows wide.
            position = (i - last) / max(last - first, 1)
        else:
            position = 3.0  # before any window: the full false-positive cost
        fp_score += scaled_sigmoid(position) * profile.fp
        fp_count += 1
    return FileScore(
        raw=sum(best.values()) + fp_score,
        null=-profile.fn * len(best),
        perfect=profile.tp * len(spans),
        windows_hit=len(hit),
        windows_scored=len(best),
        false_positives=fp_count,
    )


@dataclass
class Diagnosis:
    """Aggregates that say where a score goes (issue #14's held-out analysis): no per-file
    figure, so that nothing is tuned to one series."""

    windows: int = 0
    hit: int = 0
    position: float = 0.0  # sum over hit windows of the first detection's place (0 start, 1 end)
    repeats: int = 0  # detections in a window after its first (free, but a sign of re-firing)
    fp_before: int = 0  # before any window (full cost)
    fp_near: int = 0  # within one window width after a window (cheap)
    fp_far: int = 0  # later (nearly full cost)
    fp_cost: float = 0.0  # standard profile, in A_TP units

    def add(
        self,
        times: Sequence[float],
        detections: Iterable[float],
        windows: Sequence[tuple[float, float]],
    ) -> None:
        spans = window_rows(times, windows)
        probation = probation_rows(len(times))
        flagged = sorted({bisect.bisect_left(times, t) for t in detections})
        flagged = [i for i in flagged if probation <= i < len(times)]
        scored = [w for w, (_, b) in enumerate(spans) if b >= probation]
        self.windows += len(scored)
        seen: set[int] = set()
        for i in flagged:
            inside = next((w for w, (a, b) in enumerate(spans) if a <= i <= b), None)
            if inside is not None:
                if inside in seen:
                    self.repeats += 1
                    continue
                seen.add(inside)
                first, last = spans[inside]
                self.hit += 1
                self.position += (i - first) / max(last - first, 1)
                continue
            previous = [(a, b) for a, b in spans if b < i]
            if not previous:
                self.fp_before += 1
                self.fp_cost += STANDARD.fp
                continue
            first, last = previous[-1]
            position = (i - last) / max(last - first, 1)
            if position <= 1.0:
                self.fp_near += 1
            else:
                self.fp_far += 1
            self.fp_cost -= scaled_sigmoid(position) * STANDARD.fp

    def line(self) -> str:
        mean = self.position / self.hit if self.hit else float("nan")
        return (
            f"windows {self.hit}/{self.windows} hit, first detection at {mean:.2f} of the window "
            f"on average; {self.repeats} repeats inside; FP {self.fp_before} before any window, "
            f"{self.fp_near} within a width after one, {self.fp_far} later "
            f"(standard cost {self.fp_cost:.2f} windows' worth)"
        )


def corpus_score(scores: Iterable[FileScore]) -> float | None:
    """The normalised score of a corpus: raw, null and perfect summed over its files."""
    items = list(scores)
    return normalise(
        sum(s.raw for s in items), sum(s.null for s in items), sum(s.perfect for s in items)
    )


def firing_events(
    settings: Settings, recording: Recording, name: str, units: bool = False
) -> dict[str, list[float]]:
    """Timestamps of the firing events per analyzer, "combined" = z-score, EMA or season;
    the replay and metric naming of benchmarks/nab_eval.py (unit-less unless `units`)."""
    events: dict[str, list[float]] = {a: [] for a in ANALYZERS}
    key = SeriesKey(metric_for(name, units), (("series", Path(name).stem),))
    for alert in replay(settings, recording, key):
        if alert.status is Status.FIRING:
            events[alert.analyzer].append(alert.timestamp)
            if alert.analyzer in ("zscore", "ema", "season"):
                events["combined"].append(alert.timestamp)
    return events


def _fmt(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.1f}"


@dataclass(frozen=True)
class Summary:
    """One analyzer's figures over a corpus (or one file): NAB's two profiles (None where
    no window is scored), the false positives, and nab_eval's window counts."""

    events: int
    standard: float | None
    low_fp: float | None
    false_positives: int
    hit: int
    windows: int
    precision: float
    recall: float
    f1: float

    def row(self, label: str) -> str:
        return (
            f"{label:<10}{self.events:>7}{_fmt(self.standard, 7)}{_fmt(self.low_fp, 7)}"
            f"{self.false_positives:>5}{f'{self.hit}/{self.windows}':>6}"
            f"{self.precision:>11.2f}{self.recall:>8.2f}{self.f1:>6.2f}"
        )


def summarise(scores: Sequence[Sequence[FileScore]], events: int, inside: int, hit: int,
              windows: int) -> Summary:  # fmt: skip
    """`scores`: per file, one FileScore per profile (PROFILES order)."""
    precision = inside / events if events else 0.0
    recall = hit / windows if windows else 0.0
    return Summary(
        events, corpus_score(f[0] for f in scores), corpus_score(f[1] for f in scores),
        sum(f[0].false_positives for f in scores), hit, windows, precision, recall,
        f1(precision, recall),
    )  # fmt: skip


def score_corpus(
    nab: Path,
    settings: Settings,
    split: str | None = None,
    units: bool = False,
    per_file: Callable[[str, str, Summary], None] | None = None,
) -> tuple[dict[str, Summary], dict[str, Diagnosis], int]:
    """Every labelled file of a NAB-format corpus replayed and scored: per analyzer its
    Summary and Diagnosis, and how many files were scored; with `per_file`, called as
    (file stem, analyzer, that file's Summary) as each is scored."""
    windows_by_file = {
        name: windows
        for name, windows in json.loads((nab / "labels/combined_windows.json").read_text()).items()
        if in_split(name, split)
    }
    scores: dict[str, list[list[FileScore]]] = {a: [] for a in ANALYZERS}
    # Per analyzer: events, events inside a window, windows hit, windows.
    counts: dict[str, list[int]] = {a: [0, 0, 0, 0] for a in ANALYZERS}
    diagnoses = {a: Diagnosis() for a in ANALYZERS}
    for name, raw_windows in sorted(windows_by_file.items()):
        windows = [(parse_timestamp(a), parse_timestamp(b)) for a, b in raw_windows]
        recording = read_csv(nab / "data" / name)
        times = recording.times.tolist()
        events = firing_events(settings, recording, name, units)
        for analyzer in ANALYZERS:
            per_profile = [score_file(times, events[analyzer], windows, p) for p in PROFILES]
            scores[analyzer].append(per_profile)
            diagnoses[analyzer].add(times, events[analyzer], windows)
            inside, hit, total = window_hits(events[analyzer], windows)
            c = counts[analyzer]
            for j, add in enumerate((len(events[analyzer]), inside, hit, total)):
                c[j] += add
            if per_file is not None:  # a file alone is a corpus of one (None without windows)
                one = summarise([per_profile], len(events[analyzer]), inside, hit, total)
                per_file(Path(name).stem, analyzer, one)
    summaries = {a: summarise(scores[a], *counts[a]) for a in ANALYZERS}
    return summaries, diagnoses, len(windows_by_file)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nab", type=Path, default=REPO.parent / "shared/fixtures/nab")
    parser.add_argument(
        "--config", type=Path, help="settings to evaluate (default: the built-in defaults)"
    )
    parser.add_argument("--per-file", action="store_true", help="a line per file per analyzer")
    parser.add_argument(
        "--units", action="store_true", help="replay under host metric names (families apply)"
    )
    parser.add_argument(
        "--diagnose", action="store_true", help="aggregates: latency in windows, kinds of FP"
    )
    parser.add_argument(
        "--split", choices=SPLITS, help="only one half of the files (benchmarks/nab_eval.py)"
    )
    args = parser.parse_args()
    if not args.nab.is_dir():
        print(f"no NAB data at {args.nab} (it lives in ../shared/fixtures/nab)", file=sys.stderr)
        return 2
    settings = load_settings(args.config)
    header = (
        f"{'analyzer':<10}{'events':>7}{'std':>7}{'lowFP':>7}{'FP':>5}"
        f"{'hit':>6}{'precision':>11}{'recall':>8}{'F1':>6}"
    )
    if args.per_file:
        print(f"{'file':<52}{header}")

    def file_line(stem: str, analyzer: str, summary: Summary) -> None:
        print(f"{stem:<52}{summary.row(analyzer)}")

    summaries, diagnoses, files = score_corpus(
        args.nab, settings, args.split, args.units, file_line if args.per_file else None
    )
    print(header)
    for analyzer in ANALYZERS:
        print(summaries[analyzer].row(analyzer))
    if args.diagnose:
        for analyzer in ANALYZERS:
            if diagnoses[analyzer].hit or diagnoses[analyzer].fp_cost:
                print(f"{analyzer}: {diagnoses[analyzer].line()}")
    print(
        f"NAB scores normalised over {files} files "
        "(0 = flags nothing, 100 = every window at its first row); "
        "FP = detections outside every window after the probationary 15 %"
    )
    return 0


def load_settings(config: Path | None) -> Settings:
    """The settings to evaluate: the built-in defaults, or a configuration file's."""
    if config is None:
        return Settings()
    from agent.config import load_config

    return load_config(config).settings


def bad_config(config: Path | None, program: str) -> bool:
    """Whether `config` cannot be used (its problems printed): checked once in the parent
    process, so that a bad file is said once, not by every worker."""
    from common.config import ConfigError, print_problems

    try:
        load_settings(config)
    except ConfigError as exc:
        print_problems(program, exc)
        return True
    return False


if __name__ == "__main__":
    sys.exit(main())
