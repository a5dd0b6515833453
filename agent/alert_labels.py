"""The labels an alert of this agent can carry, so that a matcher naming another is refused;
and the metrics and labels a rule can select, so that a rule selecting nothing is.

A silence, a maintenance window or an inhibit rule compares a key with an alert's
label, and a label the alert does not have reads as "": a typo'd key matches every
alert or none (alerting.silences.matcher_problem). `silence add` and the
configuration check refuse it where it is written, naming the keys that exist.

The labels come from where the alerts come from: the labels of every metric a
collector declares (its MetricSpecs, which tests/test_collectors.py holds to what
it emits), those the kernel-log catalogue identifies an alert by, the named
groups of the configured custom log patterns, and the few of the agent's own
alerts (`AGENT_ALERT_LABELS`; tests/test_alert_labels.py finds every literal
one in the code).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from agent.settings import Settings
from alerting.silences import did_you_mean, matcher_key_problems
from common.text import edit_distance

# Labels of alerts about no series: a channel failing or its digest of what it held back
# (runtime.py, alerting/delivery.py), a crash record of the previous boot and an unclean
# reboot (logs/pstore.py), a log pattern's flood summary (analyzers/logpatterns.py).
AGENT_ALERT_LABELS = ("channel", "record", "boot_id", "flood")


def alert_label_keys(settings: Settings) -> frozenset[str]:
    """Every label an alert of this configuration can carry."""
    from agent.collectors import ALL_METRICS
    from analyzers.logpatterns import IDENTITY_LABELS  # the catalogue: only when asked

    keys = set(AGENT_ALERT_LABELS) | set(IDENTITY_LABELS)
    keys.update(label for spec in ALL_METRICS for label in spec.labels)
    for custom in settings.log_analyzer.custom_patterns:
        try:
            keys.update(re.compile(custom.pattern).groupindex)
        except re.error:  # the pattern's own check says so
            continue
    return frozenset(keys)


def selector_labels(
    settings: Settings, report: Callable[[tuple[str | int, ...], str], None]
) -> None:
    """The configuration's check of `[[thresholds.rules]]` and `[[analyzer.families]]`
    `labels`: a series without the label never matches, so on a metric a collector
    declares, a label it does not carry (`mountpiont`) made a rule that applied to nothing.
    Only a metric named exactly: a pattern (`*_seconds`) may be meant for an application's
    metric, replayed, whose labels the agent cannot know, and so is one no collector declares."""
    named = [(("thresholds", "rules", i), r.metric, r.labels)
             for i, r in enumerate(settings.thresholds.rules) if r.labels]  # fmt: skip
    named += [(("analyzer", "families", i), f.metric, f.labels)
              for i, f in enumerate(settings.analyzer.families) if f.labels]  # fmt: skip
    if not named:
        return
    from agent.collectors import ALL_METRICS

    declared = {spec.name: set(spec.labels) for spec in ALL_METRICS}
    for path, metric, labels in named:
        carried = declared.get(metric)
        if carried is None:
            continue
        for key in labels:
            if key not in carried:
                report(
                    (*path, "labels"),
                    f"{metric} has no label {key!r}{did_you_mean(key, carried)}, so the rule would apply to no series; "
                    f"its labels: {', '.join(sorted(carried)) or 'none'}",
                )


# A name this few letters from a declared metric's, and not one, is that metric misspelt
# (`memory_used_percnt`: 1, `disk_used_precent`: 2); an application's metric for `replay`
# is further (`memory_used_percent_p95`: 4, `disk_reads_per_sec`: 3,
# `http_requests_per_second` from `disk_reads_per_second`: 7) and is not refused.
MISSPELT = 2
_GLOB = re.compile(r"[*?\[]")


def metric_names(settings: Settings, report: Callable[[tuple[str | int, ...], str], None]) -> None:
    """The configuration's check of the metrics a rule names: `[[thresholds.rules]]` take one
    name (`memory_used_*` matched nothing), and a name or pattern in a rule or in
    `anomaly_metrics` that misspells a declared metric (`memory_used_percnt`) selected no
    series.  A name no collector declares and like none is left alone: it can be meant
    for `replay` of an application's metric."""
    rules = settings.thresholds.rules
    named: list[tuple[tuple[str | int, ...], str]] = [
        (("thresholds", "rules", i, "metric"), r.metric) for i, r in enumerate(rules)
    ]
    named += [(("analyzer", "anomaly_metrics", i), m)
              for i, m in enumerate(settings.analyzer.anomaly_metrics)]  # fmt: skip
    named += [(("analyzer", "families", i, "metric"), f.metric)
              for i, f in enumerate(settings.analyzer.families)]  # fmt: skip
    if not any(name for _, name in named):
        return
    from agent.collectors import ALL_METRICS

    declared = {spec.name for spec in ALL_METRICS}
    for path, name in named:
        if path[0] == "thresholds" and _GLOB.search(name):
            report(path, f"{name!r}: a rule names one metric, not a pattern (one rule per "
                   "metric; the metrics are in docs/METRICS.md)")  # fmt: skip
            continue
        if not name or name in declared or _GLOB.search(name):
            continue  # (a pattern may be meant for a replayed metric: no telling a typo)
        # (Names whose lengths differ by more cannot be that close: not compared.)
        near = [known for known in declared if abs(len(known) - len(name)) <= MISSPELT]
        distance, guess = min(((edit_distance(name, known), known) for known in near),
                              default=(MISSPELT + 1, ""))  # fmt: skip
        if distance <= MISSPELT:
            report(path, f"no collector reports {name!r} (did you mean {guess!r}?), so it "
                   "would select no series")  # fmt: skip


def matcher_labels(
    settings: Settings, report: Callable[[tuple[str | int, ...], str], None]
) -> None:
    """The configuration's check of the maintenance windows' and inhibit rules' keys."""
    al = settings.alerting
    if not al.maintenance and not al.inhibit:
        return  # the usual configuration: nothing to look up, no catalogue imported
    for path, problem in matcher_key_problems(al, alert_label_keys(settings)):
        report(("alerting", *path), problem)
