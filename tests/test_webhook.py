"""Webhook channel against a real local HTTP server: payload shape, retries, 429, 4xx."""

from __future__ import annotations

import asyncio
import logging

import pytest

from alerting.alert import Alert, Severity, Status
from alerting.channels.base import DeliveryError
from alerting.channels.webhook import WebhookChannel, parse_retry_after
from alerting.delivery import ChannelWorker
from tests.conftest import HttpReceiver

ALERT = Alert(
    analyzer="threshold", metric="memory_used_percent", labels=(("node", "0"),), status=Status.FIRING, severity=Severity.WARN,
    value=91.5, threshold=85.0, message="memory is high", timestamp=1_700_000_000.0, hostname="web-01",
)  # fmt: skip


def deliver(receiver: HttpReceiver, retry_count: int = 3, **kw: object) -> ChannelWorker:
    async def scenario() -> ChannelWorker:
        channel = WebhookChannel(receiver.url + "/hook/secret-token-123", retry_count=retry_count,
                                 timeout_secs=5, **kw)  # type: ignore[arg-type]  # fmt: skip
        worker = ChannelWorker(
            channel, backoff_base=0.01, max_age=float("inf")
        )  # ALERT is from 2023
        worker.start()
        worker.submit(ALERT)
        assert await worker.drain(10.0)
        await worker.stop()
        return worker

    return asyncio.run(scenario())


def test_payload_has_the_seed_fields(http_receiver: HttpReceiver) -> None:
    worker = deliver(
        http_receiver, headers={"Authorization": "Bearer abc"}, user_agent="sysops-agent/9"
    )
    (request,) = http_receiver.requests
    assert request.method == "POST" and request.path == "/hook/secret-token-123"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer abc"
    assert request.headers["User-Agent"] == "sysops-agent/9"
    body = request.json()
    assert isinstance(body, dict)
    assert body == {
        "hostname": "web-01",
        "timestamp": "2023-11-14T22:13:20Z",
        "epoch": 1_700_000_000.0,
        "status": "firing",
        "severity": "warn",
        "metric": "memory_used_percent",
        "value": 91.5,
        "threshold": 85.0,
        "message": "memory is high",
        "labels": {"node": "0"},
        "analyzer": "threshold",
        "fingerprint": ALERT.fingerprint,
        "alert_id": f"{ALERT.fingerprint}-1700000000000",  # the episode: fingerprint + first firing
        "first_fired": 1_700_000_000.0,
        "id": body["id"],
        "context": {},
    }
    assert len(body["id"]) == 36  # a UUID, stable for the same event
    assert worker.stats.sent == 1 and worker.stats.failed == 0


def test_server_errors_are_retried_then_delivered(http_receiver: HttpReceiver) -> None:
    http_receiver.script = [(500, {}), (503, {})]
    worker = deliver(http_receiver)
    assert len(http_receiver.requests) == 3
    assert worker.stats.sent == 1 and worker.stats.retries == 2


def test_429_retry_after_is_obeyed(http_receiver: HttpReceiver) -> None:
    http_receiver.script = [(429, {"Retry-After": "0.3"})]  # short: the pause is not timed here
    worker = deliver(http_receiver)
    assert len(http_receiver.requests) == 2
    assert worker.stats.sent == 1


def test_client_errors_are_not_retried_and_url_is_not_logged(
    http_receiver: HttpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    http_receiver.script = [(404, {})]
    with caplog.at_level(logging.WARNING):
        worker = deliver(http_receiver)
    assert len(http_receiver.requests) == 1
    assert worker.stats.failed == 1 and worker.stats.sent == 0
    assert "HTTP 404" in caplog.text
    assert "secret-token-123" not in caplog.text


def test_retries_are_bounded_then_the_backlog_waits_and_nothing_is_lost(
    http_receiver: HttpReceiver,
) -> None:
    http_receiver.script = [(500, {})] * 3  # three failures, then the endpoint is back

    async def scenario() -> ChannelWorker:
        channel = WebhookChannel(http_receiver.url + "/hook", retry_count=2, timeout_secs=5)
        worker = ChannelWorker(channel, backoff_base=0.01, max_age=float("inf"), park_secs=0.5)
        worker.start()
        worker.submit(ALERT)
        # Wait until the quick retries are spent and the backlog parks (for park_secs,
        # in this event loop: the state holds while we look at it).
        deadline = asyncio.get_running_loop().time() + 5
        while worker.stats.parked == 0:
            assert asyncio.get_running_loop().time() < deadline, "never parked"
            await asyncio.sleep(0.01)
        assert len(http_receiver.requests) == 3 and worker.pending == 1  # nothing lost
        assert await worker.drain(10.0)
        await worker.stop()
        return worker

    worker = asyncio.run(scenario())
    assert len(http_receiver.requests) == 4 and worker.stats.parked == 1 and worker.stats.sent == 1


def test_unreachable_endpoint_is_a_retryable_error() -> None:
    async def scenario() -> DeliveryError:
        # Port 9 on loopback: nothing listens (discard), so the connection is refused.
        channel = WebhookChannel("http://127.0.0.1:9/hook", timeout_secs=2)
        try:
            await channel.send([ALERT])
        except DeliveryError as exc:
            return exc
        finally:
            await channel.close()
        raise AssertionError("send to a closed port succeeded")

    exc = asyncio.run(scenario())
    assert exc.retryable and "127.0.0.1" in str(exc) and "/hook" not in str(exc)


def test_put_method(http_receiver: HttpReceiver) -> None:
    deliver(http_receiver, method="PUT")
    assert http_receiver.requests[0].method == "PUT"


@pytest.mark.parametrize(
    ("header", "expected"), [("3", 3.0), ("0.5", 0.5), (None, None), ("soon", None), ("-1", None)]
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected
