"""What the watcher accepts from the wire (fleet/store.py, fleet/hosts.py): bounded
payloads, a host speaking only for itself, sane intervals and lengths."""

from __future__ import annotations

import json
import logging
import math

import pytest
import zstandard

from alerting.channels.nats import subject_token
from fleet import store
from fleet.hosts import MAX_REASON_CHARS, MAX_REASONS, MAX_VERSION_CHARS, Judge
from fleet.settings import FleetSection

SECTION = FleetSection(instance="t", default_heartbeat_interval_secs=60.0)
ZSTD = {"Content-Encoding": "zstd"}


def test_a_zstd_bomb_is_refused_without_being_decompressed_whole() -> None:
    """12 KB of zstd that would decompress to 64 MB: refused at the limit."""
    big = b'{"hostname": "a", "x": "' + b"0" * (64 << 20) + b'"}'
    bomb = zstandard.ZstdCompressor(level=3).compress(big)
    assert len(bomb) < 64 * 1024
    document, problem = store.parse(bomb, ZSTD, store.MAX_HEARTBEAT_BYTES)
    assert document is None and problem is not None and "decompressed" in problem
    # ...while the same limit lets a real payload through, compressed or not.
    small = json.dumps({"hostname": "a", "status": "healthy"}).encode()
    assert store.parse(zstandard.ZstdCompressor().compress(small), ZSTD)[0] == json.loads(small)
    assert store.parse(small, None)[0] == json.loads(small)


def test_a_raw_payload_over_the_limit_is_refused() -> None:
    raw = json.dumps({"hostname": "a", "pad": "x" * store.MAX_HEARTBEAT_BYTES}).encode()
    document, problem = store.parse(raw, None, store.MAX_HEARTBEAT_BYTES)
    assert document is None and problem is not None and "more than" in problem
    assert store.parse(raw, None, store.MAX_INVENTORY_BYTES)[0] is not None


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("sysops.web-01.heartbeat", "web-01"),
        ("sysops.web-01.inventory", None),
        ("other.web-01.heartbeat", None),
        ("sysops.a.b.heartbeat", None),
        ("sysops..heartbeat", None),
    ],
)
def test_the_host_is_the_subjects(subject: str, expected: str | None) -> None:
    assert store.subject_host(subject, "sysops", "heartbeat") == expected


def test_a_host_cannot_speak_for_another() -> None:
    assert store.refusal({"hostname": "web-01"}, "web-01") is None
    token = subject_token("web.01")  # a dot is not a subject token
    assert token != "web.01" and store.refusal({"hostname": "web.01"}, token) is None
    problem = store.refusal({"hostname": "db-02"}, "web-01")
    assert problem is not None and "db-02" in problem
    assert store.refusal({"hostname": "web-01"}, None) is not None
    assert store.refusal({"hostname": "x" * 300}, "x" * 300) is not None
    assert store.refusal({"hostname": ""}, "web-01") is not None
    assert store.refusal({"hostname": 5}, "5") is not None


def test_throttled_counts_everything_and_logs_once_per_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    throttled = store.Throttled(60.0, lambda: now[0])
    logger = logging.getLogger("t")
    with caplog.at_level(logging.WARNING, "t"):
        for _ in range(5):
            throttled.warn(logger, "refused %s", "x")
        now[0] = 61.0
        throttled.warn(logger, "refused %s", "y")
    assert throttled.count == 6
    assert [r.getMessage() for r in caplog.records] == [
        "refused x",
        "refused y (4 more like it not logged)",
    ]


@pytest.mark.parametrize(
    "given", ["60", math.nan, math.inf, -5.0, 0.0, 0.001, 10.0**9, True, [1], None]
)
def test_a_bogus_interval_is_the_default(given: object) -> None:
    judge = Judge(SECTION, 0.0)
    host = judge.beat({"hostname": "a", "heartbeat_interval_secs": given}, 0.0, 0.0)
    assert host is not None and host.interval == 60.0


def test_sane_intervals_are_kept_and_a_bogus_one_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    judge = Judge(SECTION, 0.0)
    for interval in (0.1, 86400.0):
        host = judge.beat({"hostname": "a", "heartbeat_interval_secs": interval}, 0.0, 0.0)
        assert host is not None and host.interval == interval
    with caplog.at_level(logging.WARNING, "fleet.hosts"):
        for _ in range(3):
            judge.beat({"hostname": "b", "heartbeat_interval_secs": -1}, 0.0, 0.0)
    assert len(caplog.records) == 1 and "b:" in caplog.records[0].getMessage()


def test_reasons_and_the_version_are_cut() -> None:
    judge = Judge(SECTION, 0.0)
    doc = {"hostname": "a", "reasons": ["r" * 10_000] * 1000, "agent_version": "v" * 1000}
    host = judge.beat(doc, 0.0, 0.0)
    assert host is not None
    assert len(host.reasons) == MAX_REASONS
    assert all(len(r) == MAX_REASON_CHARS for r in host.reasons)
    assert len(host.agent_version) == MAX_VERSION_CHARS


def test_the_watchers_router_holds_no_resolve() -> None:
    """A host silent, back, silent, back within minutes: every resolve is sent when routed
    (a held one would be lost at a takeover, its record saying resolved already)."""
    from alerting.alert import Alert, Severity, Status
    from alerting.router import Router
    from fleet.watcher import FLEET_DEDUP_WINDOW_SECS

    router = Router("t", [], dedup_window_secs=FLEET_DEDUP_WINDOW_SECS)

    def alert(status: Status, at: float) -> Alert:
        return Alert(analyzer="fleet", metric="fleet_host_silent", labels=(("host", "a"),),
                     status=status, severity=Severity.CRITICAL, value=1.0, threshold=None,
                     message="m", timestamp=at, hostname="a")  # fmt: skip

    sent = [router.route(alert(s, t)) for t, s in enumerate([Status.FIRING, Status.RESOLVED] * 3)]
    assert all(a is not None for a in sent)


def test_the_content_hash_is_read_without_decoding_only_when_unambiguous() -> None:
    h, other = "a" * 64, "b" * 64
    assert store.content_hash_of(json.dumps({"x": 1, "content_hash": h}).encode()) == h
    compact = json.dumps({"content_hash": h}, separators=(",", ":")).encode()
    assert store.content_hash_of(compact) == h
    twice = b'{"content_hash": "' + h.encode() + b'", "content_hash": "' + other.encode() + b'"}'
    assert store.content_hash_of(twice) is None  # JSON keeps the last: not guessed
    nested = json.dumps({"x": {"content_hash": h}, "content_hash": other}).encode()
    assert store.content_hash_of(nested) is None
    in_a_string = json.dumps({"note": f'"content_hash": "{h}"'}).encode()
    assert store.content_hash_of(in_a_string) is None
    assert store.content_hash_of(b'{"content_hash": "short"}') is None
