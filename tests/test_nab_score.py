"""The NAB scorer (benchmarks/nab_score.py) on tiny label sets whose scores are known by hand.

The figures in DESIGN.md and the goals of issue #14 are in this scorer's unit,
so its rules are pinned here: normalisation (null 0, perfect 100), the weight
of an early and a late detection, the cost of a false positive by its
distance from the previous window, and the probationary period.  Synthetic
data only: a user's clone has no ../shared.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks.nab_score import (
    REWARD_LOW_FP,
    STANDARD,
    Profile,
    corpus_score,
    probation_rows,
    scaled_sigmoid,
    score_file,
)

# 1,000 rows, one every 5 minutes; probation is the first 150 rows.
TIMES = [1_400_000_000.0 + 300.0 * i for i in range(1000)]
WINDOW_A = (TIMES[300], TIMES[399])  # 100 rows
WINDOW_B = (TIMES[700], TIMES[749])  # 50 rows
WINDOWS = [WINDOW_A, WINDOW_B]


def test_the_scaled_sigmoid_has_the_published_shape() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.0) == -1.0


def test_probation_is_15_percent_capped_at_750_rows() -> None:
    assert probation_rows(1000) == 150
    assert probation_rows(4032) == 604
    assert probation_rows(100_000) == 750


@pytest.mark.parametrize("profile", [STANDARD, REWARD_LOW_FP])
def test_a_detector_that_flags_nothing_scores_0(profile: Profile) -> None:
    s = score_file(TIMES, [], WINDOWS, profile)
    assert s.raw == -2.0
    assert s.normalised == 0.0


@pytest.mark.parametrize("profile", [STANDARD, REWARD_LOW_FP])
def test_a_perfect_detector_scores_100(profile: Profile) -> None:
    s = score_file(TIMES, [WINDOW_A[0], WINDOW_B[0]], WINDOWS, profile)
    assert s.raw == pytest.approx(2.0)
    assert s.normalised == pytest.approx(100.0)


def test_a_detection_at_a_windows_start_is_worth_a_tp_and_at_its_end_almost_nothing() -> None:
    start = score_file(TIMES, [TIMES[300]], [WINDOW_A], STANDARD)
    assert start.raw == pytest.approx(STANDARD.tp)
    assert start.windows_hit == 1
    end = score_file(TIMES, [TIMES[399]], [WINDOW_A], STANDARD)
    # One row before the right edge: sigma(-1/100) / sigma(-1), barely above zero.
    assert end.raw == pytest.approx(scaled_sigmoid(-0.01) / scaled_sigmoid(-1.0))
    assert 0 < end.raw < 0.03
    middle = score_file(TIMES, [TIMES[350]], [WINDOW_A], STANDARD)
    assert end.raw < middle.raw < start.raw


def test_only_the_first_detection_in_a_window_counts() -> None:
    once = score_file(TIMES, [TIMES[320]], [WINDOW_A], STANDARD)
    many = score_file(TIMES, [TIMES[320], TIMES[321], TIMES[350], TIMES[399]], [WINDOW_A], STANDARD)
    assert many.raw == once.raw
    assert many.false_positives == 0
    # A late first detection is not rescued by the window's later ones either.
    late = score_file(TIMES, [TIMES[390], TIMES[395]], [WINDOW_A], STANDARD)
    assert late.raw < once.raw


def test_two_events_on_one_row_are_one_detection() -> None:
    once = score_file(TIMES, [TIMES[900]], WINDOWS, STANDARD)
    twice = score_file(TIMES, [TIMES[900], TIMES[900]], WINDOWS, STANDARD)
    assert twice.raw == once.raw
    assert twice.false_positives == 1


@pytest.mark.parametrize("profile", [STANDARD, REWARD_LOW_FP])
def test_a_false_positive_far_after_every_window_costs_a_fp(profile: Profile) -> None:
    missed = score_file(TIMES, [], WINDOWS, profile)
    far = score_file(TIMES, [TIMES[999]], WINDOWS, profile)
    # 250 rows after a 50-row window: five widths past it, beyond sigma's cut-off at 3.
    assert far.raw - missed.raw == pytest.approx(-profile.fp)
    assert far.false_positives == 1


def test_a_false_positive_before_any_window_costs_a_fp() -> None:
    s = score_file(TIMES, [TIMES[200]], WINDOWS, STANDARD)
    assert s.raw == pytest.approx(-2.0 - STANDARD.fp)


def test_a_false_positive_just_after_a_window_costs_little_and_more_with_distance() -> None:
    missed = score_file(TIMES, [], WINDOWS, STANDARD).raw
    costs = [missed - score_file(TIMES, [TIMES[i]], WINDOWS, STANDARD).raw for i in (401, 450, 550)]
    # y = distance / (width - 1) after WINDOW_A (width 100): 2/99, 51/99, 151/99.
    expected = [-STANDARD.fp * scaled_sigmoid(d / 99) for d in (2, 51, 151)]
    assert costs == pytest.approx(expected)
    assert 0 < costs[0] < costs[1] < costs[2] < STANDARD.fp


def test_the_low_fp_profile_charges_twice_as_much_for_the_same_false_positives() -> None:
    detections = [TIMES[300], TIMES[990], TIMES[995]]
    std = score_file(TIMES, detections, WINDOWS, STANDARD)
    low = score_file(TIMES, detections, WINDOWS, REWARD_LOW_FP)
    assert std.raw - low.raw == pytest.approx(2 * (0.22 - 0.11))
    assert low.normalised is not None and std.normalised is not None
    assert low.normalised < std.normalised


def test_detections_and_windows_in_the_probationary_period_are_not_scored() -> None:
    early_window = (TIMES[50], TIMES[80])
    s = score_file(TIMES, [TIMES[10], TIMES[60], TIMES[149]], [early_window, WINDOW_A], STANDARD)
    assert s.false_positives == 0
    assert s.windows_scored == 1
    assert s.raw == -1.0  # only WINDOW_A, missed
    # Right after probation the same detection counts (as a false positive).
    after = score_file(TIMES, [TIMES[150]], [early_window, WINDOW_A], STANDARD)
    assert after.false_positives == 1


def test_a_window_straddling_the_probation_end_counts_from_its_scored_rows() -> None:
    window = (TIMES[100], TIMES[199])
    hidden = score_file(TIMES, [TIMES[120]], [window], STANDARD)
    assert hidden.raw == -1.0  # the detection is in probation: the window is missed
    seen = score_file(TIMES, [TIMES[150]], [window], STANDARD)
    # Its position is still measured over the whole window.
    assert seen.raw == pytest.approx(scaled_sigmoid(-50 / 100) / scaled_sigmoid(-1.0))


def test_the_corpus_score_normalises_the_sums_not_the_mean_of_files() -> None:
    good = score_file(TIMES, [WINDOW_A[0], WINDOW_B[0]], WINDOWS, STANDARD)  # 2 of 2
    bad = score_file(TIMES, [], [WINDOW_A], STANDARD)  # 0 of 1
    empty = score_file(TIMES, [TIMES[900]], [], STANDARD)  # no windows, one false positive
    assert empty.normalised is None
    total = corpus_score([good, bad, empty])
    assert total is not None
    raw = 2.0 - 1.0 - STANDARD.fp
    assert total == pytest.approx(100 * (raw - (-3.0)) / (3.0 - (-3.0)))
    assert math.isclose(corpus_score([good]) or 0.0, 100.0)


def test_the_synthetic_corpus_is_reproducible_and_labelled_as_nab_labels(tmp_path: Any) -> None:
    """benchmarks/nab_synthetic.py (the generalization check beside NAB's AWS files): the
    same seed writes the same bytes, every file has NAB's windows (10 % of its rows
    shared by its anomalies, centred on each onset), and a detector that flags exactly
    the onsets hits every scored window with no false positive under the scorer."""
    from agent.replay import parse_timestamp, read_csv
    from benchmarks.nab_synthetic import generate, windows, write

    first, second = tmp_path / "a", tmp_path / "b"
    labels = write(generate(1), first)
    write(generate(1), second)
    for path in sorted(first.rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (second / path.relative_to(first)).read_bytes()
    corpus = generate(1)
    assert sum(1 for s in corpus if not s.anomalies) >= 5  # silence is scored too
    for series in corpus:
        spans = windows(series)
        if series.anomalies and len(spans) == len(series.anomalies):
            width = int(0.10 * len(series.values) / len(series.anomalies))
            for (a, b), onset in zip(spans, sorted(series.anomalies), strict=True):
                assert a <= onset <= b and b - a + 1 <= width + 1
        recording = read_csv(first / "data" / series.path)
        times = recording.times.tolist()
        assert len(times) == len(series.values) and recording.skipped == 0
        parsed = [(parse_timestamp(a), parse_timestamp(b)) for a, b in labels[series.path]]
        onsets = [times[i] for i in series.anomalies]
        result = score_file(times, onsets, parsed, STANDARD)
        scored = [w for w, (a, b) in enumerate(windows(series)) if b >= probation_rows(len(times))]
        assert result.windows_hit == len(scored) and result.false_positives == 0


def test_score_corpus_replays_and_scores_a_corpus(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`score_corpus` (what nab_score.py prints and benchmarks/nab_seeds.py sums over
    seeds) on a one-file corpus whose figures are known: a level shift z-score finds at its
    onset, nothing else; the per-file callback sees the same figures for that file."""
    import json
    import sys
    import time

    from agent.settings import Settings
    from benchmarks.nab_score import main, score_corpus

    times = [1_400_000_000 + 300 * i for i in range(1200)]
    values = [40.0 + (i % 7) * 0.1 + (30.0 if i >= 800 else 0.0) for i in range(1200)]
    (tmp_path / "data/x").mkdir(parents=True)
    (tmp_path / "data/x/shift.csv").write_text(
        "timestamp,value\n" + "".join(f"{t},{v}\n" for t, v in zip(times, values, strict=True))
    )
    stamp = "%Y-%m-%d %H:%M:%S.000000"  # NAB's label format
    window = [time.strftime(stamp, time.gmtime(times[i])) for i in (760, 839)]
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels/combined_windows.json").write_text(json.dumps({"x/shift.csv": [window]}))
    seen: dict[str, Any] = {}
    summaries, _, files = score_corpus(
        tmp_path, Settings(), per_file=lambda stem, analyzer, one: seen.setdefault(analyzer, one)
    )
    assert files == 1
    combined = summaries["combined"]
    assert (combined.windows, combined.hit, combined.false_positives) == (1, 1, 0)
    assert combined.events >= 1 and combined.f1 == 1.0
    assert combined.standard is not None and combined.standard > 80
    assert combined.low_fp is not None and combined.low_fp > 80
    assert seen["combined"] == combined  # one file: its own figures are the corpus'
    assert summaries["threshold"].events == 0 and summaries["threshold"].standard == 0.0
    # What nab_score.py prints is those figures, row for row.
    monkeypatch.setattr(sys, "argv", ["nab_score.py", "--nab", str(tmp_path), "--per-file"])
    assert main() == 0
    out = capsys.readouterr().out
    assert f"shift{' ' * 47}{combined.row('combined')}" in out.splitlines()
    assert combined.row("combined") in out.splitlines()
    assert "normalised over 1 files" in out


def test_a_bad_config_is_said_once_by_the_benchmarks_parent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """nab_seeds.py and noise_alerts.py check the file before starting their workers."""
    from benchmarks.nab_score import bad_config

    bad = tmp_path / "bad.toml"
    bad.write_text("[analyzer]\nnope = 1\n")
    assert bad_config(bad, "nab_seeds.py")
    assert "nab_seeds.py: invalid configuration" in capsys.readouterr().err
    good = tmp_path / "good.toml"
    good.write_text("[analyzer]\nzscore_threshold = 4\n")
    assert not bad_config(good, "nab_seeds.py") and not bad_config(None, "nab_seeds.py")


def test_the_range_benchmark_shows_what_knowing_the_files_range_is_worth() -> None:
    """benchmarks/nab_range.py: one transition-novelty detector, given the file's range
    (NAB's inputMin/inputMax) or only the range seen so far.  On noise with one spike at
    its end, the file's range puts the noise on one or two of its levels (nothing new
    until the spike); the range seen so far spreads the same noise over every level, so
    sequences keep being new.  A level shift is flagged at its first row either way."""
    import random

    from benchmarks.nab_range import novel_rows

    rng = random.Random(5)
    noise = [10.0 + rng.gauss(0.0, 1.0) for _ in range(2000)]
    spiked = [*noise[:1900], 40.0, *noise[1901:]]
    probation = probation_rows(len(spiked))
    foreknown = novel_rows(spiked, probation, foreknown=True)
    seen_so_far = novel_rows(spiked, probation, foreknown=False)
    assert 1900 in foreknown and len(foreknown) <= 2
    assert 1900 in seen_so_far and len(seen_so_far) >= 4 * len(foreknown)
    shifted = [*noise[:1500], *(v + 30.0 for v in noise[1500:])]
    assert 1500 in novel_rows(shifted, probation, foreknown=True)
    assert 1500 in novel_rows(shifted, probation, foreknown=False)
