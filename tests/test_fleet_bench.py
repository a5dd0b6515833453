"""benchmarks/fleet.py's parts that do not need the watcher: the simulated documents
match the agent's schemas, and the dry run drives a real nats-server. No timings are
asserted: the benchmark records figures, it does not judge them."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import jsonschema
import pytest

from tests.conftest import REPO


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fleet_bench", REPO / "benchmarks/fleet.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_simulated_hosts_publish_what_agents_publish() -> None:
    module = bench()
    fleet = module.Fleet(200, 6.0, 5, 0.01)
    now = time.time()
    schemas = {k: json.loads((REPO / f"docs/schemas/{k}.schema.json").read_text())
               for k in ("heartbeat", "inventory")}  # fmt: skip
    beat = fleet.heartbeat(7, now)
    jsonschema.validate(beat, schemas["heartbeat"])
    assert beat["heartbeat_interval_secs"] == 6.0 and beat["hostname"] == "bench-00007.example.com"
    assert fleet.heartbeat(0, now)["status"] == "degraded"  # 1 % degraded: hosts 0, 100
    inventory = fleet.inventory(7, now)
    jsonschema.validate(inventory, schemas["inventory"])
    assert inventory["hostname"] == inventory["os"]["hostname"] == "bench-00007.example.com"
    assert inventory["content_hash"] != fleet.inventory(8, now)["content_hash"]
    assert fleet.tokens[7] == "bench-00007_example_com"


def test_hosts_output_is_summarised_by_status() -> None:
    module = bench()
    rows = [{"hostname": "a", "status": "healthy"}, {"hostname": "b", "status": "silent"}]
    assert module.describe_hosts(json.dumps(rows)) == "2 hosts {'healthy': 1, 'silent': 1}"
    assert module.describe_hosts(json.dumps({"hosts": rows})).startswith("2 hosts")
    assert module.describe_hosts("oops").startswith("not JSON")


@pytest.mark.e2e
@pytest.mark.skipif(
    shutil.which("nats-server") is None and not Path("/usr/sbin/nats-server").exists(),
    reason="nats-server is not installed",
)
def test_dry_run_drives_a_real_nats_server() -> None:
    result = subprocess.run(
        [sys.executable, "benchmarks/fleet.py", "--dry-run", "--hosts", "40", "--speed", "30",
         "--secs", "3"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "simulator: " in result.stdout and "heartbeats/s" in result.stdout
    assert "SYSOPS_HEARTBEAT holds 40 messages" in result.stdout
