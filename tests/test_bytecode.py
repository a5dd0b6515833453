"""The bytecode the daemon runs from: compiled by the install, checked by the daemon at start."""

from __future__ import annotations

import os
import py_compile
import re
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from agent import bytecode
from benchmarks.overhead import unit_environment
from tests.conftest import REPO, agent_command, hermetic_agent_keys, only_collectors, wait_until

UNIT = REPO / "deploy/systemd/sysops-agent.service"


def test_the_unit_runs_the_daemon_optimised_from_a_cache_it_cannot_write() -> None:
    env = unit_environment()
    assert env["PYTHONOPTIMIZE"] == "2"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    # Inside the install, which ProtectSystem=strict makes read-only to the daemon.
    assert env["PYTHONPYCACHEPREFIX"].startswith("/opt/sysops-agent/")
    assert "ProtectSystem=strict" in UNIT.read_text()


def test_a_compiled_file_is_current_only_for_the_source_it_was_made_from(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text('"""A docstring."""\nVALUE = 1\n')
    compiled = tmp_path / "module.opt-2.pyc"
    assert not bytecode.is_current(source, compiled)  # missing
    py_compile.compile(str(source), cfile=str(compiled), optimize=2, doraise=True)
    assert bytecode.is_current(source, compiled)
    source.write_text('"""A docstring."""\nVALUE = 12\n')  # another size
    assert not bytecode.is_current(source, compiled)
    py_compile.compile(
        str(source),
        cfile=str(compiled),
        optimize=2,
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )
    assert not bytecode.is_current(source, compiled)  # hash-based: not what is checked here


def test_sources_skip_test_folders_other_roots_and_another_installs_site_packages(
    tmp_path: Path,
) -> None:
    stdlib = tmp_path / "lib"
    for relative in ("os.py", "email/parser.py", "test/bad.py", "lib2to3/tests/data/py2.py",
                     "site-packages/other.py", "venv/site-packages/mine.py", "notes.txt"):  # fmt: skip
        (stdlib / relative).parent.mkdir(parents=True, exist_ok=True)
        (stdlib / relative).write_text("")
    other_root = stdlib / "venv"
    found = {path.relative_to(stdlib).as_posix() for path in bytecode.sources(stdlib, [other_root])}
    assert found == {"os.py", "email/parser.py"}


def test_a_module_of_ours_that_does_not_compile_fails_the_install_others_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ours, theirs = tmp_path / "agent", tmp_path / "site-packages"
    for folder in (ours, theirs):
        folder.mkdir()
        (folder / "fine.py").write_text("VALUE = 1\n")
    (theirs / "py2_only.py").write_text("print 'hello'\n")
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path / "pycache"))
    monkeypatch.setattr(bytecode, "roots", lambda: [ours, theirs])
    monkeypatch.setattr(bytecode, "own_roots", lambda: [ours])
    assert bytecode.main([]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("2 modules compiled, 0 already current, 1 failed")
    assert f"not compiled: {theirs / 'py2_only.py'}" in err
    (ours / "broken.py").write_text("def f(:\n")
    assert bytecode.main([]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("0 modules compiled, 2 already current, 2 failed")
    assert f"not compiled: {ours / 'broken.py'}" in err


def test_without_a_cache_folder_the_tool_says_which_variable_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "pycache_prefix", None)
    with pytest.raises(SystemExit) as exited:
        bytecode.main([])
    assert exited.value.code == 2
    assert "PYTHONPYCACHEPREFIX is not set" in capsys.readouterr().err


def test_a_dependencys_syntax_warning_is_not_printed_at_every_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    theirs = tmp_path / "site-packages"
    theirs.mkdir()
    (theirs / "escapes.py").write_text('PATTERN = "\\d+"\n')  # an invalid escape
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path / "pycache"))
    monkeypatch.setattr(bytecode, "roots", lambda: [theirs])
    monkeypatch.setattr(bytecode, "own_roots", lambda: [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning that escaped would fail the compile
        assert bytecode.main([]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("1 modules compiled, 0 already current, 0 failed") and err == ""


@pytest.mark.e2e
def test_the_install_compiles_what_the_daemon_imports_and_the_daemon_says_what_it_missed(
    tmp_path: Path,
) -> None:
    """As the unit runs it: every module the daemon imports comes from the compiled cache,
    and a start that had to compile one says which and what to run."""
    prefix = tmp_path / "pycache"
    env = {**os.environ, **unit_environment(), "PYTHONPYCACHEPREFIX": str(prefix)}
    compile_command = [sys.executable, "-m", "agent.bytecode"]
    first = subprocess.run(compile_command, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    counted = re.match(r"(\d+) modules compiled, 0 already current, (\d+) failed", first.stdout)
    assert counted, first.stdout
    assert int(counted[1]) > 500  # the standard library, the dependencies and the agent
    again = subprocess.run(compile_command, env=env, capture_output=True, text=True, timeout=600)
    assert again.stdout.startswith(f"0 modules compiled, {counted[1]} already current"), (
        again.stdout
    )

    config = tmp_path / "config.toml"
    config.write_text(
        "[agent]\n" + hermetic_agent_keys(tmp_path) + f'data_dir = "{tmp_path / "data"}"\n'
        "[collector]\n" + only_collectors("memory") + "[alerting.console]\nenabled = true\n"
    )

    def start_and_stop() -> str:
        log = tmp_path / "stderr.log"
        with log.open("w") as err:
            agent = subprocess.Popen(
                agent_command("--config", str(config)),
                cwd=tmp_path,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            try:
                wait_until(lambda: "sysops-agent started on" in log.read_text(), 60, "the start")
            finally:
                agent.send_signal(signal.SIGTERM)
                assert agent.wait(timeout=30) == 0
        return log.read_text()

    assert "compiled from source" not in start_and_stop()
    # Where the import system looks under a prefix: the source's folder, then the file.
    tag = sys.implementation.cache_tag
    (prefix / str(REPO / "agent").lstrip("/") / f"store.{tag}.opt-2.pyc").unlink()
    said = start_and_stop()
    assert re.search(
        r"1 module\(s\) were compiled from source at this start \(agent\.store\)", said
    ), said
    assert "-m agent.bytecode" in said
