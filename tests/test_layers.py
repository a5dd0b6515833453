"""Imports run one way (docs/DESIGN.md): agent -> analyzers -> alerting -> common, and
fleet -> alerting -> common.  agent and fleet never import each other; what they share
is in common/ and alerting/.  Read from the source, so a lazy import inside a function
counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

# package -> the project packages it may import (besides itself)
ALLOWED = {
    "common": set(),
    "alerting": {"common"},
    "analyzers": {"alerting", "common"},
    "agent": {"analyzers", "alerting", "common"},
    "fleet": {"alerting", "common"},
}


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.partition(".")[0])
    return found & set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_run_one_way(package: str) -> None:
    wrong = {
        f"{path.relative_to(REPO)} imports {other}"
        for path in sorted((REPO / package).rglob("*.py"))
        for other in imported_packages(path) - ALLOWED[package] - {package}
    }
    assert not wrong, sorted(wrong)


def test_the_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from agent.settings import Settings\n    import fleet.cli\n")
    assert imported_packages(module) == {"agent", "fleet"}
