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
    label sets): their samples interleaved would be replayed as one jagged series."""


def read_csv(path: Path, select: Sequence[tuple[str, str]] = ()) -> Recording:
    """`timestamp,value` lines (a header and unreadable lines skipped, counted).  A file
    with a `labels` column in its header (`history`'s CSV) must hold one series, or one
    once `select`'s labels have picked the rows that carry them all: SeveralSeries if not."""
    times: list[float] = []
    values: list[float] = []
    skipped = 0
    column: int | None = None
    series: dict[str, None] = {}  # the label sets kept, in the file's order
    wanted = set(select)
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        for row in csv.reader(handle):
            if len(row) < 2:
                skipped += bool(row)
                continue
            try:
                t, v = parse_timestamp(row[0]), float(row[1])
            except ValueError:
                header = row[0].strip().lower() == "timestamp"
                if header and "labels" in row:
                    column = row.index("labels")
                skipped += not header  # the header is not an error
                continue
            if not (math.isfinite(t) and math.isfinite(v)):
                skipped += 1
                continue
            if column is not None:
                text = row[column] if column < len(row) else ""
                try:
                    if not wanted <= set(label_pairs(text)):
                        continue  # another series'
                except ValueError:
                    skipped += 1
                    continue
                series[text] = None
            times.append(t)
            values.append(v)
    if len(series) > 1:
        shown = "; ".join(list(series)[:3]) + ("; ..." if len(series) > 3 else "")
        raise SeveralSeries(
            f"{path} holds {len(series)} series ({shown}): replay one, picked with "
            "--labels k=v (or `history --labels`)"
        )
    order = np.argsort(np.array(times), kind="stable")
    labels = tuple(sorted(label_pairs(next(iter(series))))) if series else ()
    return Recording(np.array(times)[order], np.array(values)[order], skipped, labels)


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
