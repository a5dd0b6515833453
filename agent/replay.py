"""Replay a recorded series through the configured analyzers, as if it were live.

Operators use it to tune thresholds on their own recordings before deploying;
we use it to measure detection quality (benchmarks/nab_eval.py).  The input is
a `timestamp,value` CSV (the NAB format): timestamps as ``2014-07-01 00:00:00``
(taken as UTC), ISO 8601 with a zone, or epoch seconds.  A line that cannot be
read is counted and skipped.  The z-score and EMA analyzers watch the replayed
metric whatever its name; threshold, trend and leak apply as configured.

The name decides the family (analyzers/families.py): replayed as
`cpu_usage_percent`, a series gets CPU's 20-point floor and alerts only when
it rises, as on a host.  A series without a unit (NAB's, an application's own
metric) is replayed under a name no family knows, by convention
`UNITLESS_METRIC` ("series_value", the default of `--metric`): its floor is
5 % of its own scale (the larger of its level and the range it has covered)
and it alerts in both directions, so what is measured is detection, not a
unit's floor.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agent.assembly import build_analyzers, build_store
from agent.collectors.base import Samples
from agent.pipeline import Pipeline
from agent.settings import Settings
from alerting.alert import Alert
from alerting.format import labels_text
from analyzers.base import SeriesKey
from common.text import label_pairs

UNITLESS_METRIC = "series_value"  # no family but the catch-all: own scale, both directions


@dataclass(frozen=True)
class Recording:
    times: np.ndarray
    values: np.ndarray
    skipped: int
    # The series' labels, when the file has a `labels` column (`history`'s CSV) and one
    # series is left in it: `k=v,k2=v2` as pairs.
    labels: tuple[tuple[str, str], ...] = ()


def parse_timestamp(text: str) -> float:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


class SeveralSeries(ValueError):
    """The file holds samples of several series (a `history` CSV of a metric with several
    label sets) and the labels given pick not exactly one: their samples interleaved
    would be replayed as one jagged series."""


HISTORY_COLUMNS = ("timestamp", "value", "min", "max", "samples", "labels")  # `history`'s CSV


def _series_text(text: str) -> str:
    return text or "(no labels)"


def read_csv(path: Path, select: Sequence[tuple[str, str]] = ()) -> Recording:
    """`timestamp,value` lines (a header and unreadable lines skipped, counted).

    A file with a labels column (a header naming `labels`, or `history`'s six columns
    without their header) holds series: the rows of the series whose labels agree with
    `select` (a label it does not have does not disagree) are read, and that must be one
    series (SeveralSeries if none or several), whose labels the Recording then carries."""
    times: list[float] = []
    values: list[float] = []
    skipped = 0
    column: int | None = None
    held: dict[str, None] = {}  # every series of the file, in its order
    kept: dict[str, None] = {}  # those `select` agrees with
    wanted = dict(select)
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        for row in csv.reader(handle):
            if len(row) < 2:
                skipped += bool(row)
                continue
            try:
                t, v = parse_timestamp(row[0]), float(row[1])
            except ValueError:
                names = [cell.strip().lower() for cell in row]
                header = names[0] == "timestamp"
                if header and "labels" in names:
                    column = names.index("labels")
                skipped += not header  # the header is not an error
                continue
            if not (math.isfinite(t) and math.isfinite(v)):
                skipped += 1
                continue
            where = column
            if where is None and len(row) == len(HISTORY_COLUMNS) and row[4].strip().isdigit():
                where = len(HISTORY_COLUMNS) - 1  # history's layout, its header cut off
            if where is not None:
                text = row[where] if where < len(row) else ""
                try:
                    labels = dict(label_pairs(text, exact=True))
                except ValueError:
                    skipped += 1
                    continue
                held[text] = None
                if any(labels.get(k, v) != v for k, v in wanted.items()):
                    continue  # another series'
                kept[text] = None
            times.append(t)
            values.append(v)
    if held and len(kept) != 1:
        shown = "; ".join(_series_text(t) for t in list(held)[:5])
        shown += "; ..." if len(held) > 5 else ""
        given = ",".join(f"{k}={v}" for k, v in select)
        raise SeveralSeries(
            f"{path} holds {len(held)} series ({shown})"
            + (f", and none with labels {given}" if not kept else "")
            + ": replay one, picked with --labels k=v (or `history --labels`)"
        )
    order = np.argsort(np.array(times), kind="stable")
    named = tuple(sorted(label_pairs(next(iter(kept)), exact=True))) if kept else ()
    return Recording(np.array(times)[order], np.array(values)[order], skipped, named)


class AnalyzerFailed(RuntimeError):
    """An analyzer raised during a replay: the events it gave are incomplete.

    The daemon counts such a failure and carries on (one broken analyzer must not silence
    the others); a replay is a measurement, so after the other analyzers' events it says
    so, and a figure computed from it (benchmarks/) is not quietly wrong."""

    def __init__(self, series: str, failures: dict[str, int], samples: int) -> None:
        self.series, self.failures, self.samples = series, failures, samples
        named = ", ".join(f"{name} on {n} of {samples} samples" for name, n in failures.items())
        super().__init__(
            f"analyzer failures during the replay of {series}: {named} (the first of each "
            "is logged above); the events printed are incomplete"
        )

    def __reduce__(self) -> tuple[type[AnalyzerFailed], tuple[str, dict[str, int], int]]:
        return type(self), (self.series, self.failures, self.samples)  # across processes


def replay(
    settings: Settings, recording: Recording, key: SeriesKey
) -> Generator[Alert, None, None]:
    """The recording's samples one by one through the daemon's path (`Pipeline.process`).

    Raises AnalyzerFailed, after every event the analyzers gave, if one of them failed; and
    from `close()`, if the consumer stops early after a failure already happened."""
    pipeline = Pipeline(
        build_store(settings, watch_everything=True),
        build_analyzers(settings, watch_everything=True),
    )
    keys = (key,)
    named = key.metric + labels_text(key.labels)  # as messages name it
    replayed = 0
    try:
        for t, v in zip(recording.times.tolist(), recording.values.tolist(), strict=True):
            replayed += 1
            yield from pipeline.process(None, t, Samples(keys, np.array([v])))
    except GeneratorExit:  # the consumer stopped early (`replay ... | head`): say what is known
        if pipeline.analyzer_errors:
            raise AnalyzerFailed(named, dict(pipeline.analyzer_errors), replayed) from None
        raise
    if pipeline.analyzer_errors:
        raise AnalyzerFailed(named, dict(pipeline.analyzer_errors), replayed)


def event_json(alert: Alert) -> str:
    record: dict[str, Any] = {
        "timestamp": alert.iso_timestamp,
        "status": alert.status.value,
        "analyzer": alert.analyzer,
        "severity": alert.severity.label,
        "metric": alert.metric,
        "labels": alert.labels_dict,
        "value": alert.value,
        "threshold": alert.threshold,
        "message": alert.message,
    }
    return json.dumps(record, ensure_ascii=False)
