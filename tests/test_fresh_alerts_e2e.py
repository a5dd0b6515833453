"""Fresh repeats from the real daemon: the runtime wires the router's repeats to the pipeline.

The agent reads a captured host (memory only, 25 % used, a 0.5 % warn level), so
the alert fires at once; the test then changes the host's memory figure and
checks that the "still firing" repeat says the value of now, at the time of now,
with its own `id` and the episode's `alert_id`.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import HttpReceiver, hermetic_agent_keys, set_memory_used, wait_until
from tests.test_e2e import STARTUP_ALLOWANCE, start_agent, webhook_config

__all__ = ["start_agent"]  # the fixture, shared with test_e2e

REPEAT_WAIT = 20.0  # the runtime looks for due repeats every 5 s


def test_a_repeat_from_the_daemon_is_fresh(
    start_agent: object, http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    host = hermetic_agent_keys(tmp_path)
    config = webhook_config(http_receiver.url + "/alerts", host).replace(
        "min_interval_secs = 3600", "min_interval_secs = 1"
    )
    agent = start_agent(config, {"E2E_TOKEN": "t"})  # type: ignore[operator]
    assert agent.wait_for_log("sysops-agent started", STARTUP_ALLOWANCE), agent.stderr
    requests = http_receiver.wait_for(1, timeout=STARTUP_ALLOWANCE)
    assert requests, agent.stderr
    firing = requests[0].json()
    assert firing["status"] == "firing" and round(firing["value"], 1) == 25.0

    # The host changes: 40 % used now (below the derived critical level, 50.2 %).
    set_memory_used(tmp_path / "host-proc", 0.40)  # hermetic_agent_keys' copy of the host

    def repeat_with_the_new_value() -> dict[str, object] | None:
        for request in http_receiver.requests[1:]:
            body = request.json()
            if body.get("context", {}).get("still_firing") and round(body["value"], 1) == 40.0:
                return dict(body)
        return None

    repeat = wait_until(repeat_with_the_new_value, REPEAT_WAIT, "a repeat saying 40 %")
    assert isinstance(repeat, dict)
    assert repeat["id"] != firing["id"]  # a receiver deduplicating by id keeps it
    assert repeat["alert_id"] == firing["alert_id"]  # the same episode
    assert repeat["first_fired"] == firing["epoch"]
    assert float(str(repeat["epoch"])) > float(firing["epoch"])
    assert str(repeat["message"]).startswith("memory_used_percent is now 40%, still firing since")
    ids = [r.json()["id"] for r in http_receiver.requests]
    assert len(ids) == len(set(ids))  # every notification its own id
    code, _ = agent.stop()
    assert code == 0 and "Traceback" not in agent.stderr
