"""Docs generated from the code must be current, and the README's commands must exist."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_generated_docs_are_current() -> None:
    result = subprocess.run(
        [sys.executable, "tools/gen_docs.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_readme_commands_are_the_scripts() -> None:
    readme = (REPO / "README.md").read_text()
    assert "scripts/run-embedded" in readme and "scripts/test" in readme
    assert "scripts/test" in (REPO / ".ci/run").read_text()
    for script in ("scripts/run-embedded", "scripts/test", ".ci/run"):
        assert (REPO / script).stat().st_mode & 0o111
