"""How much of a NAB score is knowing the series' range in advance.

    .venv/bin/python benchmarks/nab_range.py [--nab ../shared/fixtures/nab] [--split tune|held-out]

Why: NAB hands every detector the minimum and maximum of the whole file before
the first row (`inputMin`/`inputMax` in nab/detectors/base.py), and the
detectors on its scoreboard that quantise their input (CAD OSE, HTM's encoder,
relative entropy) size their levels by it.  On a file with an anomaly, that
range *is* the anomaly's extreme: a level that the file's range makes the top
one is known, from the first row, to be rare.  A live agent knows only what it
has seen.  Issue #14's goal for the record is set against that scoreboard, so
this measures one detector both ways, on the same files and NAB's scorer
(benchmarks/nab_score.py), and the difference is what the foreknowledge is worth.

The detector is the simplest that quantises (a transition-novelty detector, a
first-order Markov model over coarse levels; Ye, "A Markov chain model of
temporal behavior for anomaly detection", IEEE IAW 2000): each value becomes
one of `LEVELS` equal levels of a range, and a row is flagged when the sequence
of the last `ORDER` + 1 levels was never seen before in that file; after a flag,
none for `REST` of the probationary rows (as NAB runs CAD OSE: a fifth of them).
Nothing is flagged inside NAB's probationary period, where it only learns.
Its range, the one thing that differs between the rows:

* "file's range": the file's minimum and maximum, as NAB gives them;
* "seen so far": the minimum and maximum of the rows before, widened by a row
  outside them (that row is then flagged as novel, which it is), with the
  sequences of the last `RECOUNT_ROWS` rows counted again at the new levels.

Levels, order and rest were chosen once on the tune half at the file's range;
the live row uses the same.  The agent's own analyzers (nab_score.py's
"combined") are not this detector and are not changed by it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.replay import parse_timestamp, read_csv
from benchmarks.nab_eval import SPLITS, in_split
from benchmarks.nab_eval import score as window_hits
from benchmarks.nab_score import (
    PROFILES,
    FileScore,
    probation_rows,
    score_file,
    summarise,
)

REPO = Path(__file__).resolve().parent.parent
LEVELS = 6
ORDER = 2
REST = 0.2  # of the probationary rows
RECOUNT_ROWS = 1000


def level(value: float, low: float, high: float) -> int:
    span = high - low
    if span <= 0.0:
        return 0
    return max(0, min(LEVELS - 1, math.floor((value - low) / span * (LEVELS - 1) + 1e-9)))


def novel_rows(values: Sequence[float], probation: int, foreknown: bool) -> list[int]:
    """Rows flagged by the transition-novelty detector (see the module's docstring)."""
    rest = int(probation * REST)
    low, high = (min(values), max(values)) if foreknown else (values[0], values[0])
    seen: set[tuple[int, ...]] = set()
    recent: list[int] = []
    flagged: list[int] = []
    last_novel = -(10**9)
    for row, value in enumerate(values):
        if not foreknown and not low <= value <= high:
            window = values[max(0, row - RECOUNT_ROWS) : row]
            low, high = min([*window, value]), max([*window, value])
            levels = [level(v, low, high) for v in window]
            seen = {tuple(levels[i - ORDER : i + 1]) for i in range(ORDER, len(levels))}
            recent = levels[-ORDER:]
        current = level(value, low, high)
        if len(recent) >= ORDER:
            sequence = (*recent[-ORDER:], current)
            if sequence not in seen and row >= probation:
                if row - last_novel > rest:
                    flagged.append(row)
                last_novel = row
            seen.add(sequence)
        recent = [*recent[-(ORDER - 1) :], current] if ORDER > 1 else [current]
    return flagged


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nab", type=Path, default=REPO.parent / "shared/fixtures/nab")
    parser.add_argument("--split", choices=SPLITS, help="only one half of the files (nab_eval.py)")
    args = parser.parse_args()
    if not args.nab.is_dir():
        print(f"no NAB data at {args.nab} (it lives in ../shared/fixtures/nab)", file=sys.stderr)
        return 2
    labels = json.loads((args.nab / "labels/combined_windows.json").read_text())
    print(f"{'range':<14}{'events':>7}{'std':>7}{'lowFP':>7}{'FP':>5}{'hit':>6}"
          f"{'precision':>11}{'recall':>8}{'F1':>6}")  # fmt: skip
    files = 0
    for label, foreknown in (("file's range", True), ("seen so far", False)):
        scores: list[list[FileScore]] = []
        counts = [0, 0, 0, 0]  # events, inside a window, windows hit, windows
        files = 0
        for name, raw_windows in sorted(labels.items()):
            if not in_split(name, args.split):
                continue
            files += 1
            windows = [(parse_timestamp(a), parse_timestamp(b)) for a, b in raw_windows]
            recording = read_csv(args.nab / "data" / name)
            times = recording.times.tolist()
            rows = novel_rows(recording.values.tolist(), probation_rows(len(times)), foreknown)
            events = [times[r] for r in rows]
            scores.append([score_file(times, events, windows, p) for p in PROFILES])
            inside, hit, total = window_hits(events, windows)
            for j, add in enumerate((len(events), inside, hit, total)):
                counts[j] += add
        # Summary.row's first 10 characters are its label column, too narrow for these.
        print(f"{label:<14}{summarise(scores, *counts).row('')[10:]}")
    print(f"NAB scores normalised over {files} files; the agent's own: benchmarks/nab_score.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
