"""The previous boot: pstore records of each back end, the previous boot's journal, unclean reboots."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.config import load_config
from agent.logs.pstore import (
    MAX_FILE_BYTES,
    PreviousBoot,
    examine_record,
    find_parts,
    group_records,
    read_regular_file,
)
from agent.logs.watch import LogWatch
from alerting.alert import Alert, Severity
from analyzers.logpatterns import LogMatcher, build_patterns
from tests.conftest import HttpReceiver, make_host, spawn_agent, wait_until, write_config

FIXTURES = Path(__file__).parent / "fixtures" / "pstore"
HELPERS = Path(__file__).parent / "helpers"
MATCHER = LogMatcher(build_patterns(segfaults=True))
CRASH_TIME = 1_712_345_678.0  # 2024-04-05T19:34:38Z


class Host:
    """A host's file systems under tmp_path: sysfs with pstore, rootfs with the systemd archive, procfs."""

    def __init__(self, root: Path) -> None:
        self.sysfs, self.rootfs, self.procfs = root / "sys", root / "root", root / "proc"
        self.pstore = self.sysfs / "fs/pstore"
        self.archive = self.rootfs / "var/lib/systemd/pstore"
        self.data_dir = root / "data"
        for d in (self.pstore, self.archive, self.procfs / "sys/kernel/random", self.data_dir):
            d.mkdir(parents=True)
        self.boot("11111111-2222-3333-4444-555555555555")
        self.alerts: list[Alert] = []

    def boot(self, boot_id: str) -> None:
        (self.procfs / "sys/kernel/random/boot_id").write_text(boot_id + "\n")

    def add(self, backend: str, into: Path | None = None) -> None:
        source = FIXTURES / backend
        target = into or self.pstore
        for item in source.iterdir():
            if item.is_dir():
                shutil.copytree(item, target / item.name, dirs_exist_ok=True)
                for f in (target / item.name).iterdir():
                    os.utime(f, (CRASH_TIME, CRASH_TIME))
            else:
                shutil.copy(item, target / item.name)
                os.utime(target / item.name, (CRASH_TIME, CRASH_TIME))

    def previous_boot(self, **kw: object) -> PreviousBoot:
        return PreviousBoot(
            self.data_dir, self.alerts.append, sysfs=self.sysfs, rootfs=self.rootfs, procfs=self.procfs,
            **kw,  # type: ignore[arg-type]
        )  # fmt: skip

    def start(self, **kw: object) -> list[Alert]:
        """One agent start: the source runs once; the alerts it raised."""
        before = len(self.alerts)
        source = self.previous_boot(**kw)
        asyncio.run(source.run(lambda line: None))
        self.last = source
        return self.alerts[before:]


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


# -- parsing and grouping ----------------------------------------------------------------------------


def test_ramoops_parts_group_into_records_oldest_text_first(host: Host) -> None:
    host.add("ramoops")
    records = group_records(find_parts([host.pstore]))
    assert [sorted(p.path.name for p in r.parts) for r in records] == [
        ["dmesg-ramoops-0", "dmesg-ramoops-1"],  # Part1 and Part2 of one panic
        ["dmesg-ramoops-2"],  # Part1 again: another panic, left from an earlier boot
    ]
    lines = records[0].lines
    assert lines[0].text.startswith("ixgbe 0000:3b:00.0 eno1: NIC Link is Up")  # Part2 is older
    assert lines[-1].text.startswith("Kernel Offset:")
    assert all("ECC:" not in line.text for line in lines)  # ramoops' notice is not a log line
    assert lines[3].level == 0 and lines[0].level == 6 and lines[0].kernel


def test_a_panic_after_a_machine_check_is_one_emergency_with_the_machine_check_as_context(
    host: Host,
) -> None:
    host.add("ramoops")
    record = group_records(find_parts([host.pstore]))[0]
    finding = examine_record(record, MATCHER)
    assert finding is not None
    assert (finding.severity, finding.kind) == (Severity.EMERGENCY, "kernel panic")
    assert finding.headline == "Kernel panic - not syncing: Fatal machine check"
    assert finding.context[-1] == "mce: [Hardware Error]: Machine check: Processor context corrupt"
    assert any("Machine Check Exception" in line for line in finding.context)
    assert finding.when == CRASH_TIME
    assert (
        finding.cause
        == "mce: [Hardware Error]: CPU 5: Machine Check Exception: 5 Bank 7: be00000000800400"
    )


def test_efi_oops_in_two_parts(host: Host) -> None:
    host.add("efi")
    records = group_records(find_parts([host.pstore]))
    assert len(records) == 1 and len(records[0].parts) == 2
    finding = examine_record(records[0], MATCHER)
    assert finding is not None
    assert (finding.severity, finding.kind) == (Severity.CRITICAL, "kernel oops")
    assert finding.headline == "BUG: kernel NULL pointer dereference, address: 0000000000000008"
    assert "nvme nvme0: I/O 731 QID 3 timeout, aborting" in finding.context  # from Part2, before it


def test_erst_panic_on_a_fatal_hardware_error_with_caller_ids(host: Host) -> None:
    host.add("erst")
    (record,) = group_records(find_parts([host.pstore]))
    assert record.lines[0].text.startswith(
        "{1}[Hardware Error]: Hardware error from APEI"
    )  # "[  T512]" gone
    finding = examine_record(record, MATCHER)
    assert finding is not None and finding.severity == Severity.EMERGENCY
    assert finding.headline == "Kernel panic - not syncing: Fatal hardware error!"
    assert finding.cause.endswith("Hardware error from APEI Generic Hardware Error Source: 0")
    assert "{1}[Hardware Error]: event severity: fatal" in finding.context


def test_a_dump_at_shutdown_with_nothing_bad_is_no_finding(host: Host) -> None:
    (host.pstore / "dmesg-efi-171234567801002").write_text(
        "Shutdown#2 Part1\n<6>[ 9000.000001] reboot: Power down\n"
    )
    (record,) = group_records(find_parts([host.pstore]))
    assert examine_record(record, MATCHER) is None


def test_files_are_read_safely(host: Host, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("Panic#1 Part1\n<0>[ 1.0] Kernel panic - not syncing: from a link\n")
    (host.pstore / "dmesg-ramoops-7").symlink_to(secret)  # O_NOFOLLOW: not followed
    os.mkfifo(host.pstore / "dmesg-ramoops-8")  # O_NONBLOCK + fstat: not a regular file, no hang
    (host.pstore / "dmesg-efi-1.enc.z").write_bytes(
        b"x\x9c\x00"
    )  # compressed and undecodable: skipped
    assert find_parts([host.pstore]) == []
    big = host.pstore / "dmesg-ramoops-9"
    big.write_bytes(b"Panic#1 Part1\n" + b"<6>[ 1.000000] filler\n" * 100_000)
    data = read_regular_file(big)
    assert data is not None and len(data) == MAX_FILE_BYTES


# -- the source: alerts, remembering, the journal -------------------------------------------------------


def test_one_alert_per_crash_record_naming_the_boot_and_time(host: Host) -> None:
    host.add("ramoops")
    host.add("efi")
    host.add("erst")
    alerts = host.start()
    assert len(alerts) == 4  # ramoops x2, efi, erst
    by_headline = {a.context["line"]: a for a in alerts}
    mce = by_headline["Kernel panic - not syncing: Fatal machine check"]
    assert mce.severity == Severity.EMERGENCY and mce.metric == "log_previous_boot_crash"
    assert (
        "previous boot ended in a kernel panic: Kernel panic - not syncing: Fatal machine check"
        in mce.message
    )
    assert "written about 2024-04-05T19:34:38Z" in mce.message
    assert ", after: mce: [Hardware Error]: CPU 5: Machine Check Exception" in mce.message
    assert "seen in boot 11111111-2222-3333-4444-555555555555" in mce.message
    assert mce.context["event"] and mce.context["lines"][-1].endswith("Processor context corrupt")
    assert by_headline[
        "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b"
    ].severity == (Severity.EMERGENCY)
    assert len({a.fingerprint for a in alerts}) == 4


def test_an_oops_written_in_this_boot_is_not_called_the_end_of_the_previous_one(host: Host) -> None:
    host.add("efi")
    (host.procfs / "stat").write_text(
        f"cpu  1 2 3 4\nbtime {int(CRASH_TIME) - 3600}\nprocesses 100\n"
    )
    (alert,) = host.start()
    assert alert.message.startswith(
        "kernel recorded a kernel oops in this boot: BUG: kernel NULL pointer"
    )


def test_a_stop_before_the_source_ran_leaves_the_last_runs_marker_alone(host: Host) -> None:
    host.start()  # a run that will not stop cleanly
    host.boot("66666666-2222-3333-4444-555555555555")
    early = host.previous_boot()
    early.stopped_cleanly(CRASH_TIME)  # stopped before its run() read the marker
    (alert,) = host.start()
    assert alert.metric == "log_unclean_reboot"


def test_a_restart_does_not_repeat_and_an_archived_copy_is_the_same_record(host: Host) -> None:
    host.add("efi")
    assert len(host.start()) == 1
    assert host.start() == []  # restart in the same boot
    # systemd-pstore moved the record to its archive (and wrote dmesg.txt): still the same crash.
    for f in host.pstore.iterdir():
        f.unlink()
    host.add("systemd", into=host.archive)
    host.boot("99999999-2222-3333-4444-555555555555")
    assert [a.metric for a in host.start()] == ["log_unclean_reboot"]  # no crash alert again
    state = json.loads((host.data_dir / "previous-boot.json").read_text())
    assert len(state["reported"]) == 1
    host.add("erst")  # a new crash is reported
    assert len(host.start()) == 1


def test_the_time_of_an_archived_copy_is_called_what_it_is(host: Host) -> None:
    archived = host.archive / "dmesg-ramoops-0"
    shutil.copy(FIXTURES / "ramoops/dmesg-ramoops-2", archived)
    os.utime(
        archived, (CRASH_TIME + 86400, CRASH_TIME + 86400)
    )  # systemd-pstore copied it a day later
    (alert,) = host.start()
    assert "archived about 2024-04-06T19:34:38Z" in alert.message
    # EFI ids carry the time the record was written, wherever the file is now.
    host.add("systemd", into=host.archive)
    for copy in (host.archive / "171234567").iterdir():
        os.utime(copy, (CRASH_TIME + 86400, CRASH_TIME + 86400))
    (efi,) = host.start()
    assert "written about 2024-04-05T19:34:38Z" in efi.message


def test_the_archive_alone_is_read(host: Host) -> None:
    host.add("systemd", into=host.archive)
    (alert,) = host.start()
    assert alert.context["line"].startswith("BUG: kernel NULL pointer dereference")
    assert "dmesg-efi-171234567801001, dmesg-efi-171234567802001" in alert.context["origin"]


def _journal_entry(message: str, ts: float, priority: int = 3) -> str:
    return json.dumps(
        {"MESSAGE": message, "_TRANSPORT": "kernel", "PRIORITY": str(priority),
         "__REALTIME_TIMESTAMP": str(int(ts * 1e6)), "__CURSOR": f"s=1;i={int(ts)}"}
    )  # fmt: skip


def _previous_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *messages: str) -> None:
    path = tmp_path / "previous.jsonl"
    path.write_text(
        "".join(_journal_entry(m, CRASH_TIME + i) + "\n" for i, m in enumerate(messages))
    )
    monkeypatch.setenv("FAKE_JOURNAL_PREVIOUS", str(path))
    monkeypatch.setenv("FAKE_JOURNAL", str(tmp_path / "current.jsonl"))


def test_the_previous_boots_journal_once_per_boot_when_pstore_has_nothing(
    host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _previous_journal(
        tmp_path, monkeypatch,
        "e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx",
        "{1}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 0",
        "{1}[Hardware Error]: event severity: fatal",
    )  # fmt: skip
    journalctl = str(HELPERS / "fake_journalctl.py")
    (alert,) = host.start(journalctl=journalctl)
    assert alert.severity == Severity.CRITICAL  # printed at err: the kernel level raises it
    assert "previous boot's last kernel messages report a hardware error" in alert.message
    assert alert.context["line"].endswith("Hardware Error Source: 0")
    assert host.start(journalctl=journalctl) == []  # once per boot
    state = json.loads((host.data_dir / "previous-boot.json").read_text())
    assert state["journal_checked_boot"] == "11111111-2222-3333-4444-555555555555"


def test_the_journal_is_not_asked_when_pstore_has_the_crash_or_the_last_run_stopped_cleanly(
    host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _previous_journal(tmp_path, monkeypatch, "Kernel panic - not syncing: Fatal exception")
    journalctl = str(HELPERS / "fake_journalctl.py")
    host.add("efi")
    assert [a.context["line"][:4] for a in host.start(journalctl=journalctl)] == [
        "BUG:"
    ]  # pstore's only
    host.last.stopped_cleanly(CRASH_TIME + 100)
    host.boot("22222222-2222-3333-4444-555555555555")
    assert host.start(journalctl=journalctl) == []  # after a clean stop the journal is not asked


def test_no_previous_boot_in_the_journal_is_quiet(
    host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAKE_JOURNAL_PREVIOUS", raising=False)
    assert host.start(journalctl=str(HELPERS / "fake_journalctl.py")) == []
    assert host.start(journalctl=str(tmp_path / "no-such-journalctl")) == []


# -- unclean reboots --------------------------------------------------------------------------------


def test_an_unclean_reboot_is_reported_once_with_the_pstore_finding(host: Host) -> None:
    assert host.start() == []  # first start: no earlier run
    host.last.stopped_cleanly(CRASH_TIME)
    host.boot("22222222-2222-3333-4444-555555555555")
    assert host.start() == []  # clean stop, then a reboot: nothing to say
    marker = json.loads((host.data_dir / "agent-run.json").read_text())["run"]
    assert marker["clean"] is False and marker["boot_id"].startswith("2222")
    # This run dies with the host; it was last alive at CRASH_TIME.
    run = dict(marker, alive=CRASH_TIME)
    (host.data_dir / "agent-run.json").write_text(json.dumps({"run": run}))
    host.add("ramoops")
    host.boot("33333333-2222-3333-4444-555555555555")
    alerts = host.start()
    unclean = [a for a in alerts if a.metric == "log_unclean_reboot"]
    assert len(unclean) == 1 and unclean[0].severity == Severity.WARN
    assert unclean[0].message.startswith(
        "host rebooted without a clean shutdown at about 2024-04-05T19:34:38Z"
    )
    assert (
        "the previous boot ended in a kernel panic: Kernel panic - not syncing:"
        in unclean[0].message
    )
    assert [a.metric for a in host.start()] == []  # once: a restart in this boot says nothing


def test_an_agent_crash_without_a_reboot_is_not_an_unclean_reboot(host: Host) -> None:
    host.start()
    assert host.start() == []  # no clean stop, same boot id
    host.boot("44444444-2222-3333-4444-555555555555")
    assert host.start(unclean_reboot_alert=False) == []  # configurable


def test_the_alive_time_is_refreshed_and_dates_the_reboot(host: Host) -> None:
    host.start()
    started = json.loads((host.data_dir / "agent-run.json").read_text())["run"]["started"]
    later = started + 3600.0
    host.last.alive(later)
    assert json.loads((host.data_dir / "agent-run.json").read_text())["run"]["alive"] == later
    host.last.alive(later + 1)  # within a minute of the last write: not written again
    assert json.loads((host.data_dir / "agent-run.json").read_text())["run"]["alive"] == later
    host.boot("55555555-2222-3333-4444-555555555555")
    (alert,) = host.start()
    stamp = datetime.fromtimestamp(later, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    assert f"at about {stamp}" in alert.message


# -- wiring -----------------------------------------------------------------------------------------


def test_pstore_is_a_default_source_and_close_marks_a_clean_stop(
    host: Host, tmp_path: Path
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[agent]\ndata_dir = "{host.data_dir}"\nsysfs = "{host.sysfs}"\nrootfs = "{host.rootfs}"\n'
        f'procfs = "{host.procfs}"\n'
    )
    settings = load_config(str(config)).settings
    assert "pstore" in settings.log_analyzer.sources and settings.log_analyzer.unclean_reboot_alert
    routed: list[Alert] = []
    watch = LogWatch(settings, routed.append)
    assert watch.previous_boot is not None and watch.previous_boot in watch.sources
    host.add("erst")
    asyncio.run(watch.previous_boot.run(watch.emit))
    assert [a.metric for a in routed] == ["log_previous_boot_crash"]
    watch.close()
    assert json.loads((host.data_dir / "agent-run.json").read_text())["run"]["clean"] is True


# -- the agent process ---------------------------------------------------------------------------------


def _agent_config(host: Host, procfs: Path, url: str) -> str:
    return f"""
[agent]
hostname = "crashed-host"
data_dir = "{host.data_dir}"
procfs = "{procfs}"
sysfs = "{host.sysfs}"
rootfs = "{host.rootfs}"

[log_analyzer]
sources = ["pstore"]

[alerting]
min_interval_secs = 3600

[alerting.webhook]
enabled = true
url = "{url}"
retry_count = 1
"""


@pytest.mark.e2e
def test_the_agent_reports_the_crash_once_and_an_unclean_reboot(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    host = Host(tmp_path / "host")
    procfs, _ = make_host(tmp_path)  # a writable captured /proc for the collectors
    (procfs / "sys/kernel/random").mkdir(parents=True, exist_ok=True)
    boot = procfs / "sys/kernel/random/boot_id"
    boot.write_text("aaaaaaaa-0000-0000-0000-000000000001\n")
    host.add("erst")
    config = write_config(tmp_path, _agent_config(host, procfs, http_receiver.url + "/alerts"))

    def metrics() -> list[str]:
        return [r.json()["metric"] for r in http_receiver.requests]  # type: ignore[index]

    def start() -> subprocess.Popen[str]:
        return spawn_agent(tmp_path, "--config", str(config), "--log-level", "info")

    def checked(process: subprocess.Popen[str]) -> str:
        assert process.stderr is not None
        seen = ""
        for line in process.stderr:  # the source logs once it has looked at the previous boot
            seen += line
            if "previous boot checked" in line:
                # Keep reading in the background, so a full pipe never blocks the agent.
                threading.Thread(target=process.stderr.read, daemon=True).start()
                return seen
        pytest.fail(f"the agent ended before checking the previous boot:\n{seen}")

    first = start()
    checked(first)
    wait_until(lambda: "log_previous_boot_crash" in metrics(), 30, "the crash alert")
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0
    assert json.loads((host.data_dir / "agent-run.json").read_text())["run"]["clean"] is True
    crash = next(
        r.json() for r in http_receiver.requests if r.json()["metric"] == "log_previous_boot_crash"
    )  # type: ignore[index]
    assert crash["severity"] == "emergency" and "Fatal hardware error!" in crash["message"]  # type: ignore[index]

    second = start()  # same boot: nothing again
    checked(second)
    second.kill()  # and it dies with the host: no clean stop
    second.wait(timeout=30)
    assert metrics().count("log_previous_boot_crash") == 1

    boot.write_text("bbbbbbbb-0000-0000-0000-000000000002\n")
    third = start()
    checked(third)
    wait_until(lambda: "log_unclean_reboot" in metrics(), 30, "the unclean reboot warning")
    third.send_signal(signal.SIGTERM)
    assert third.wait(timeout=30) == 0
    assert (
        metrics().count("log_previous_boot_crash") == 1
        and metrics().count("log_unclean_reboot") == 1
    )
