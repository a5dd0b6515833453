"""The Docker files, checked without a Docker engine (none runs on these machines).

hadolint lints them in CI (tools/check_dockerfiles.sh); this checks what a linter
cannot: the build matrix is the seed's, each test image runs the README's test
command, every COPY source exists, the runtime image drops root and its
configuration is valid and reads the host under /host.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from benchmarks.overhead import unit_environment
from tests.conftest import run_agent

REPO = Path(__file__).resolve().parent.parent
DOCKER = REPO / "docker"
MATRIX = {
    "Dockerfile.ubuntu2004": "ubuntu:20.04",
    "Dockerfile.ubuntu2204": "ubuntu:22.04",
    "Dockerfile.ubuntu2404": "ubuntu:24.04",
    "Dockerfile.rocky8": "docker.io/rockylinux/rockylinux:8",
    "Dockerfile.rocky9": "docker.io/rockylinux/rockylinux:9",
}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, f"{path.name}: dangling line continuation"
    return out


def readme_test_command() -> str:
    match = re.search(
        r"^(\S+)\s+# install the test dependencies", (REPO / "README.md").read_text(), re.M
    )
    assert match, "README.md no longer names its test command"
    return match.group(1)


def test_build_matrix_is_the_seeds_and_each_image_runs_the_readme_tests() -> None:
    found = sorted(p.name for p in DOCKER.glob("Dockerfile.*"))
    assert found == sorted(MATRIX)
    command = readme_test_command()
    for name, image in MATRIX.items():
        steps = instructions(DOCKER / name)
        assert steps[0] == ("FROM", image), name
        runs = [args for word, args in steps if word == "RUN"]
        # Last: the suite, so a failing test fails the build.
        assert runs[-1].split()[0] == command, f"{name}: last RUN is {runs[-1]!r}"
        assert ("COPY", ". .") in steps, f"{name}: the test image needs the whole repository"
        # Python 3.11+ explicitly: the distributions' defaults differ.
        assert any(re.search(r"python3(\.1[1-9])? -m venv", r) for r in runs), name


def test_copy_sources_exist_in_the_build_context() -> None:
    for path in DOCKER.glob("Dockerfile*"):
        for word, args in instructions(path):
            if word != "COPY" or args.startswith("--from"):
                continue
            *sources, _dest = [a for a in args.split() if not a.startswith("--")]
            for source in sources:
                assert source == "." or (REPO / source).exists(), f"{path.name}: COPY {source}"


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", ".cache", "sysops-data"} <= ignored


def test_runtime_image_runs_unprivileged_with_a_host_configuration() -> None:
    steps = instructions(DOCKER / "Dockerfile")
    final = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM") :]
    users = [args for word, args in final if word == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and int(users[-1].split(":")[0]) != 0
    entrypoint = [args for word, args in final if word == "ENTRYPOINT"]
    assert entrypoint, "no ENTRYPOINT"
    argv = json.loads(entrypoint[-1])  # the exec form is a JSON array
    assert (
        argv[0] == "sysops-agent"
        and argv[argv.index("--config") + 1] == "/etc/sysops-agent/config.toml"
    )
    assert ("COPY", "docker/host.toml /etc/sysops-agent/config.toml") in final
    # The final stage installs prebuilt wheels only: no compiler, no index.
    assert any("pip install --no-index" in args for word, args in final if word == "RUN")


def test_runtime_image_runs_the_agent_as_the_unit_does_from_bytecode_compiled_in_the_build() -> (
    None
):
    steps = instructions(DOCKER / "Dockerfile")
    final = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM") :]
    env: dict[str, str] = {}
    for word, args in final:
        for assignment in args.split() if word == "ENV" else []:
            name, _, value = assignment.partition("=")
            env[name] = value
    unit = unit_environment()
    for name in ("PYTHONOPTIMIZE", "PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE"):
        assert env.get(name) == unit[name], name
    runs = [i for i, (word, args) in enumerate(final) if word == "RUN"]
    install = next(i for i in runs if "pip install" in final[i][1])
    compile_step = next(i for i in runs if "python -m agent.bytecode" in final[i][1])
    last_env = max(i for i, (word, args) in enumerate(final) if "PYTHONPYCACHEPREFIX" in args)
    # After the packages it compiles are installed, with the level and the folder it runs at.
    assert install < compile_step and last_env < compile_step


def test_runtime_configuration_is_valid_and_reads_the_host_under_host() -> None:
    path = DOCKER / "host.toml"
    settings = tomllib.loads(path.read_text())["agent"]
    assert (settings["procfs"], settings["sysfs"], settings["rootfs"]) == (
        "/host/proc",
        "/host/sys",
        "/host",
    )
    result = run_agent("--validate", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "channels: console" in result.stdout


@pytest.mark.parametrize("doc", ["docker/Dockerfile", "docs/DEPLOYMENT.md"])
def test_documented_run_command_mounts_the_host_read_only(doc: str) -> None:
    text = (REPO / doc).read_text()
    assert "-v /:/host:ro,rslave" in text and "--pid host" in text and "--cap-drop ALL" in text


def _stage(path: Path, name: str) -> list[tuple[str, str]]:
    """The instructions of the stage `FROM ... AS name`, up to the next FROM."""
    steps = instructions(path)
    start = next(
        i for i, (w, a) in enumerate(steps) if w == "FROM" and a.lower().endswith(f" as {name}")
    )
    end = next((i for i in range(start + 1, len(steps)) if steps[i][0] == "FROM"), len(steps))
    return steps[start:end]


def test_build_stage_copies_every_package_the_wheel_declares() -> None:
    build = _stage(DOCKER / "Dockerfile", "build")
    copied = {args.split()[0] for word, args in build if word == "COPY"}
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert packages <= copied, f"the wheel would miss {packages - copied}"


def test_fleet_target_runs_the_watcher_unprivileged_with_a_valid_configuration() -> None:
    from common.config import parse_document
    from fleet.settings import FleetSettings

    fleet = _stage(DOCKER / "Dockerfile", "fleet")
    users = [args for word, args in fleet if word == "USER"]
    assert users and int(users[-1].split(":")[0]) not in (0, 10001)  # not root, not the agent
    argv = json.loads(next(args for word, args in fleet if word == "ENTRYPOINT"))
    assert argv[0] == "sysops-fleet"
    assert argv[argv.index("--config") + 1] == "/etc/sysops-fleet/config.toml"
    assert json.loads(next(args for word, args in fleet if word == "CMD")) == ["run"]
    assert ("COPY", "docker/fleet.toml /etc/sysops-fleet/config.toml") in fleet
    assert any("pip install --no-index" in args for word, args in fleet if word == "RUN")
    # The agent stays the default target: the last stage.
    assert instructions(DOCKER / "Dockerfile")[-1][1].startswith('["sysops-agent"')
    text = (DOCKER / "fleet.toml").read_text()
    env = {"NATS_URL": "nats://nats.example.com:4222"}
    settings = parse_document(text, FleetSettings, "fleet.toml", environ=env).settings
    assert settings.nats.url == env["NATS_URL"] and settings.alerting.console.enabled
    assert settings.fleet.data_dir == "/var/lib/sysops-fleet"
