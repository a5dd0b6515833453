"""The CMDB (fleet/inventory.py) against a real nats-server with JetStream on (`-js -sd`).

An inventory is stored, the next one with a DIMM fewer is compared with it: the
changes are recorded in the changes stream and read back, the bucket keeps the
history, a re-delivered inventory records nothing twice (also after a crash between
recording and storing), and the alert names the DIMM.  Every test has its own server
and its own names, and waits with deadlines only.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alerting.alert import Severity
from fleet.cmdb import HARDWARE_LOST, change_alert, compare
from fleet.inventory import MAX_DOCUMENT_BYTES, Cmdb
from fleet.settings import FleetSection
from tests.conftest import until
from tests.test_fleet_cmdb import SLOTS, captured, edited  # noqa: F401 - the fixture
from tests.test_nats_channel import free_port
from tests.test_telemetry_e2e import TOKEN, start_server

_names = itertools.count()
HOST = "gpu-server-01.example.com"
TOKEN_OF_HOST = "gpu-server-01_example_com"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    process = start_server(port, tmp_path / "js")
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def section(**options: Any) -> FleetSection:
    """Names of its own: JetStream streams are per server, but ensure_stream remembers
    names per process."""
    n = next(_names)
    return FleetSection(bucket_prefix=f"T{n}_FLEET", inventory_stream=f"T{n}_INVENTORY",
                        **options)  # fmt: skip


def run(port: int, body: Callable[[Any], Awaitable[Any]]) -> Any:
    """`body(js)` on a connection to the server, within a deadline."""

    async def main() -> Any:
        import nats

        client = await nats.connect(f"nats://127.0.0.1:{port}", token=TOKEN)
        try:
            return await asyncio.wait_for(body(client.jetstream()), timeout=60)
        finally:
            await client.close()

    return asyncio.run(main())


def one_dimm_fewer(document: dict[str, Any]) -> dict[str, Any]:
    new = edited(document)
    new["memory"]["dimms"] = [d for d in new["memory"]["dimms"] if d["slot"] != "P1-DIMMB1"]
    new["memory"]["dimm_count"] = 7
    new["memory"]["total_gb"] = 219.54
    return new


def test_a_dimm_fewer_is_recorded_read_back_and_announced(
    server: int,
    captured: dict[str, Any],  # noqa: F811
) -> None:
    first = copy.deepcopy(captured)
    first["hostname"] = HOST
    second = one_dimm_fewer(first)
    skewed = copy.deepcopy(second)  # a new mainboard, its clock reset to the past
    skewed.update(collected_at="2020-01-01T00:00:00Z", content_hash="e" * 64)
    skewed["bios"]["board_serial"] = ".NEWBOARD."
    fleet = section()

    async def body(js: Any) -> dict[str, Any]:
        cmdb = Cmdb(js, fleet, "sysops")
        await cmdb.ensure()
        out: dict[str, Any] = {"first": await cmdb.ingest(first)}
        out["second"] = await cmdb.ingest(second)
        out["records"] = await cmdb.changes(HOST)
        out["latest"] = await cmdb.latest(HOST)
        out["history"] = await cmdb.history(TOKEN_OF_HOST)
        out["again"] = await cmdb.ingest(second)  # re-delivered
        out["late"] = await cmdb.ingest(first)  # an earlier one, late
        out["skewed"] = await cmdb.ingest(skewed)
        out["records_after"] = await cmdb.changes(HOST)
        out["latest_after"] = await cmdb.latest(HOST)
        out["history_after"] = await cmdb.history(HOST)
        out["streams"] = {i.config.name: i.config for i in await js.streams_info()}
        out["kv_history"] = (
            await (await js.key_value(f"{fleet.bucket_prefix}_CMDB")).status()
        ).history
        return out

    out = run(server, body)
    assert out["first"] == []  # a first inventory: nothing to compare with
    changes = out["second"]
    assert [(c.path, c.kind, c.category) for c in changes] == [
        ("memory.total_gb", "changed", HARDWARE_LOST),
        ("memory.dimms[P1-DIMMB1]", "removed", HARDWARE_LOST),
    ]
    records = out["records"]
    assert [r["path"] for r in records] == ["memory.total_gb", "memory.dimms[P1-DIMMB1]"]
    assert records[1]["hostname"] == HOST and records[1]["category"] == HARDWARE_LOST
    assert records[1]["description"] == changes[1].describe()
    assert records[1]["old"]["serial"] == "4A3B2C1E" and records[1]["new"] is None
    assert records[1]["collected_at"] == second["collected_at"]
    assert records[1]["previous_collected_at"] == first["collected_at"]
    assert out["latest"] == second
    assert out["history"] == [first, second] and out["kv_history"] == fleet.inventory_history
    # Re-delivered, or late: nothing new recorded, the latest stays the latest.
    assert out["again"] == [] and out["late"] == []
    assert out["records_after"][:2] == records and out["latest_after"] == skewed
    assert len(out["records_after"]) == 3
    assert out["history_after"] == [first, second, skewed]  # nothing stored twice
    assert [(c.path, c.new) for c in out["skewed"]] == [("bios.board_serial", ".NEWBOARD.")]
    # The names and limits the watcher and the docs promise.
    changes_stream = out["streams"][f"{fleet.bucket_prefix}_CHANGES"]
    assert changes_stream.subjects == ["sysops.fleet.changes.*"]
    assert changes_stream.max_msgs_per_subject == fleet.changes_per_host
    assert out["streams"][fleet.inventory_stream].subjects == ["sysops.*.inventory"]
    assert out["streams"][f"KV_{fleet.bucket_prefix}_CMDB"].max_msgs_per_subject == 5

    alert = change_alert(HOST, changes, fleet, 1_900_000_000.0)
    assert alert is not None and alert.severity is Severity.WARN and alert.hostname == HOST
    assert "memory.dimms[P1-DIMMB1] removed: 32 GiB DDR4 Samsung M393A4K40DB3-CWE" in alert.message


async def forget_message_ids(js: Any, fleet: FleetSection) -> None:
    """Wait (with a deadline) until the changes stream's duplicate window has passed: a
    probe published twice with one Nats-Msg-Id is stored twice."""
    subject = "sysops.fleet.changes.probe"
    headers = {"Nats-Msg-Id": "probe"}
    await js.publish(subject, b"{}", headers=headers)

    async def stored_again() -> bool:
        return not (await js.publish(subject, b"{}", headers=headers)).duplicate

    await until(stored_again, 30, "the changes stream's duplicate window to end")


@pytest.mark.parametrize("window", ["within", "after"])
def test_a_crash_between_recording_and_storing_records_nothing_twice(
    server: int,
    captured: dict[str, Any],  # noqa: F811
    window: str,
) -> None:
    """The watcher recorded the changes and died before storing the inventory: the
    inventory comes back (never acknowledged) and is compared with the same previous one,
    soon (the stream's duplicate window drops the records) or much later (the host's
    last record names the transition)."""
    first = copy.deepcopy(captured)
    second = one_dimm_fewer(first)
    fleet = section()
    host = first["hostname"]

    async def body(js: Any) -> tuple[Any, ...]:
        cmdb = Cmdb(js, fleet, "sysops")
        if window == "after":  # made by an operator with a short duplicate window
            spec = cmdb.changes_spec
            await js.add_stream(name=spec.name, subjects=list(spec.subjects),
                                max_msgs_per_subject=spec.max_msgs_per_subject,
                                duplicate_window=0.5)  # fmt: skip
        await cmdb.ensure()
        await cmdb.ingest(first)
        recorded = await cmdb.ingest(second)
        # Back to the state of the crash: the changes are recorded, the bucket still
        # holds the first inventory.
        kv = await js.key_value(f"{fleet.bucket_prefix}_CMDB")
        await kv.put(cmdb.subject(host).rsplit(".", 1)[1], json.dumps(first).encode())
        if window == "after":
            await forget_message_ids(js, fleet)
        again = await cmdb.ingest(second)
        return recorded, again, await cmdb.changes(host), await cmdb.latest(host)

    recorded, again, records, latest = run(server, body)
    assert len(recorded) == 2 and again == recorded  # announced again: at least once
    assert [r["path"] for r in records] == [c.path for c in recorded]  # recorded once
    assert latest == second


def test_changes_per_host_and_the_limit(server: int, captured: dict[str, Any]) -> None:  # noqa: F811
    fleet = section(changes_per_host=3)
    kernels = [f"6.8.0-{n}-generic" for n in range(40, 46)]

    async def body(js: Any) -> tuple[Any, ...]:
        cmdb = Cmdb(js, fleet, "sysops")
        await cmdb.ensure()
        document = copy.deepcopy(captured)
        for minute, kernel in enumerate(kernels):
            document = copy.deepcopy(document)
            document["os"]["kernel"] = kernel
            document["collected_at"] = f"2030-01-01T00:{minute:02d}:00Z"
            await cmdb.ingest(document)
        other = copy.deepcopy(captured)
        other["hostname"] = "db-01"
        await cmdb.ingest(other)
        return (
            await cmdb.changes(captured["hostname"]),
            await cmdb.changes(captured["hostname"], limit=2),
            await cmdb.changes("db-01"),
        )

    kept, last_two, none = run(server, body)
    # Six kernels: five upgrades recorded, the newest three kept, oldest first.
    assert [(r["old"], r["new"]) for r in kept] == list(itertools.pairwise(kernels))[2:]
    assert last_two == kept[1:] and none == []


def test_two_instances_ensure_the_same_names(server: int) -> None:
    fleet = section()

    async def body(js: Any) -> list[str]:
        await asyncio.gather(Cmdb(js, fleet, "sysops").ensure(), Cmdb(js, fleet, "sysops").ensure())
        await Cmdb(js, fleet, "sysops").ensure()  # and once more, later
        return sorted(i.config.name for i in await js.streams_info())

    prefix = fleet.bucket_prefix
    assert run(server, body) == sorted(
        [f"{prefix}_CHANGES", f"KV_{prefix}_CMDB", fleet.inventory_stream]
    )


def test_what_is_not_an_inventory_is_refused_with_a_reason(
    server: int, caplog: pytest.LogCaptureFixture
) -> None:
    fleet = section()
    huge = {"hostname": "big-01", "blob": "x" * MAX_DOCUMENT_BYTES}

    async def body(js: Any) -> list[Any]:
        cmdb = Cmdb(js, fleet, "sysops")
        await cmdb.ensure()
        results = [await cmdb.ingest(bad) for bad in ([1, 2], {"cpu": {}}, {"hostname": " "}, huge)]
        results.append(await cmdb.latest("big-01"))
        return results

    size = len(json.dumps(huge, separators=(",", ":")))
    with caplog.at_level(logging.WARNING, logger="fleet.inventory"):
        assert run(server, body) == [[], [], [], [], None]
    reasons = [r.getMessage() for r in caplog.records if r.name == "fleet.inventory"]
    assert reasons == [
        "CMDB: an inventory refused: not a JSON object but list",
        "CMDB: an inventory refused: no hostname",
        "CMDB: an inventory refused: no hostname",
        f"CMDB: an inventory refused: big-01: {size:,} bytes, more than {MAX_DOCUMENT_BYTES:,}",
    ]


def test_two_collections_of_this_machine_are_no_change(server: int) -> None:
    """The agent's own inventory of the machine the tests run on, twice: whatever moved
    between the two (CPU clock, addresses, the time) is not a change."""
    from agent.config import parse_config_text
    from agent.inventory import collect_inventory

    settings = parse_config_text("[inventory]\ninclude_dimm_details = false\n", "t").settings
    first = collect_inventory(settings)
    second = collect_inventory(settings)
    second["collected_at"] = "2099-01-01T00:00:00Z"  # the next collection, later
    assert compare(first, second) == []
    fleet = section()

    async def body(js: Any) -> tuple[Any, Any]:
        cmdb = Cmdb(js, fleet, "sysops")
        await cmdb.ensure()
        return await cmdb.ingest(first), await cmdb.ingest(second)

    assert run(server, body) == ([], [])


def test_a_bucket_or_stream_deleted_is_made_again(server: int, captured: dict[str, Any]) -> None:  # noqa: F811
    """Deleted under the watcher (or a server restarted without its storage): the ingest
    that finds the bucket missing fails (the inventory is not acknowledged and comes back)
    and the next one makes it again; the changes stream is made again by the very publish
    that finds it missing."""
    from nats.errors import NoRespondersError
    from nats.js.errors import NoStreamResponseError

    fleet = section()
    first = copy.deepcopy(captured)
    second = one_dimm_fewer(first)

    async def body(js: Any) -> tuple[Any, ...]:
        cmdb = Cmdb(js, fleet, "sysops")
        await cmdb.ensure()
        failed = []
        await js.delete_key_value(f"{fleet.bucket_prefix}_CMDB")
        try:
            await cmdb.ingest(first)
        except (NoRespondersError, NoStreamResponseError) as exc:
            failed.append(type(exc).__name__)
        stored = await cmdb.ingest(first), await cmdb.latest(first["hostname"])
        await js.delete_stream(cmdb.changes_spec.name)
        return failed, stored, await cmdb.ingest(second), await cmdb.changes(first["hostname"])

    failed, (first_result, latest), changes, records = run(server, body)
    assert len(failed) == 1 and first_result == [] and latest == first
    assert len(changes) == 2 and [r["path"] for r in records] == [c.path for c in changes]


def test_a_host_deleted_or_purged_by_hand_reads_back_as_the_bucket_holds_it(
    server: int,
    captured: dict[str, Any],  # noqa: F811
) -> None:
    """An operator deletes a host's key, then purges it: the history read one message at a
    time leaves the delete marker out (the values before it are still held), and a purge
    leaves nothing; a late redelivery of an earlier inventory is still known as one."""
    first = copy.deepcopy(captured)
    first["hostname"] = HOST
    second = one_dimm_fewer(first)
    fleet = section()

    async def body(js: Any) -> dict[str, Any]:
        cmdb = Cmdb(js, fleet, "sysops")
        await cmdb.ensure()
        await cmdb.ingest(first)
        await cmdb.ingest(second)
        kv = await js.key_value(f"{fleet.bucket_prefix}_CMDB")
        out: dict[str, Any] = {"late": await cmdb.ingest(first)}  # an earlier one, late
        await kv.delete(TOKEN_OF_HOST)
        out["deleted"] = await cmdb.history(HOST)
        out["latest_deleted"] = await cmdb.latest(HOST)
        await kv.purge(TOKEN_OF_HOST)
        out["purged"] = await cmdb.history(HOST)
        out["unknown"] = await cmdb.history("never-seen.example.com")
        return out

    out = run(server, body)
    assert out["late"] == []
    assert out["deleted"] == [first, second] and out["latest_deleted"] is None
    assert out["purged"] == [] and out["unknown"] == []
