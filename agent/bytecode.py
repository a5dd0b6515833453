"""Compile the bytecode the daemon runs from: `python -m agent.bytecode`.

The daemon runs with docstrings and asserts stripped (`PYTHONOPTIMIZE=2`),
which takes 2.3 MB off the embedded agent's 41 MB resident set: the docstrings
of the standard library, numpy and the agent are most of what its modules
keep in memory as constants.  Python keeps that level's bytecode in files of
their own (`*.opt-2.pyc`), which neither pip nor Debian writes, so without
them every start compiles each module from source again: about a second of
CPU and a start-up peak above the memory it was meant to save.  And the
daemon cannot write them itself: its install is read-only to it (the unit's
`ProtectSystem=strict`), as code it runs should be.

So the install compiles them, as root, once: every module of the standard
library, of the install's site-packages and of the agent's own packages, into
the folder named by `PYTHONPYCACHEPREFIX` (a prefix rather than the usual
`__pycache__` folders, so that nothing is written into the distribution's
Python), for the optimisation level this interpreter runs at.  The unit sets
the same two variables, so the daemon finds them.  A module already compiled
from its current source is left alone: the Ansible role runs this on every
apply and reports a change only when something was compiled.  The daemon
checks at start that the modules it loaded came from there, and says so if not.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

# The agent's own top-level packages (pyproject.toml): with an editable install
# they live in the source tree, outside site-packages.
OWN_PACKAGES = ("agent", "alerting", "analyzers", "common", "fleet")

# Folders of the standard library that the daemon never imports and that hold
# files which are not valid Python on purpose (test data, lib2to3's fixtures).
SKIPPED_FOLDERS = frozenset(
    {"test", "tests", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip", "__pycache__"}
)

# A compiled file starts with the magic number, flags, then the source's mtime
# and size (PEP 552, timestamp-based): what the import system compares.
_HEADER = 16


def own_roots() -> list[Path]:
    """The folders of the agent's own packages."""
    found: list[Path] = []
    for package in OWN_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            found.extend(map(Path, spec.submodule_search_locations))
    return found


def roots() -> list[Path]:
    """Where the modules this interpreter can import for the daemon live."""
    import sysconfig

    paths = sysconfig.get_paths()
    found = [Path(paths[key]) for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    unique: list[Path] = []
    for path in [*found, *own_roots()]:
        if path.is_dir() and path not in unique:
            unique.append(path)
    return unique


def sources(root: Path, other_roots: list[Path]) -> Iterator[Path]:
    """The .py files under root, not descending into skipped folders or other roots.

    A base interpreter's own site-packages sits inside its standard library; it
    is another install's, and a venv's is a root of its own.
    """
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        subfolders[:] = sorted(
            name
            for name in subfolders
            if name not in SKIPPED_FOLDERS
            and name != "site-packages"
            and here / name not in other_roots
        )
        for name in sorted(files):
            if name.endswith(".py"):
                yield here / name


def is_current(source: Path, compiled: Path) -> bool:
    """Whether the compiled file was made from this source (same mtime and size)."""
    try:
        with compiled.open("rb") as handle:
            header = handle.read(_HEADER)
        stat = source.stat()
    except OSError:
        return False
    if len(header) < _HEADER or header[:4] != importlib.util.MAGIC_NUMBER:
        return False
    flags = int.from_bytes(header[4:8], "little")
    mtime = int.from_bytes(header[8:12], "little")
    size = int.from_bytes(header[12:16], "little")
    return (
        flags == 0
        and mtime == int(stat.st_mtime) & 0xFFFFFFFF
        and size == stat.st_size & 0xFFFFFFFF
    )


def compile_all(optimization: int) -> tuple[int, int, list[tuple[Path, str]]]:
    """(compiled, already current, failures with their reasons) over every root."""
    import py_compile
    import warnings

    level: int | str = optimization if optimization else ""
    compiled = current = 0
    failures: list[tuple[Path, str]] = []
    all_roots = roots()
    for root in all_roots:
        for source in sources(root, [other for other in all_roots if other != root]):
            target = Path(importlib.util.cache_from_source(str(source), optimization=level))
            if is_current(source, target):
                current += 1
                continue
            try:
                # A dependency's invalid escape is its SyntaxWarning at every compile: noise
                # in an install's output, not ours to mend.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    py_compile.compile(
                        str(source),
                        cfile=str(target),
                        doraise=True,
                        optimize=optimization,
                        invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
                    )
            except (py_compile.PyCompileError, OSError, ValueError) as error:
                failures.append((source, str(error).strip().splitlines()[-1]))
            else:
                compiled += 1
    return compiled, current, failures


def compiled_at_start() -> list[str]:
    """The loaded modules whose bytecode for this optimisation level is missing or stale.

    Each of them was compiled from source when it was imported (where the cache
    cannot be written: at every start).
    """
    level: int | str = sys.flags.optimize if sys.flags.optimize else ""
    found = []
    for name, module in list(sys.modules.items()):
        source = getattr(module, "__file__", None)
        if not source or not source.endswith(".py"):
            continue  # built-in, frozen or an extension module: nothing to compile
        try:
            cached = importlib.util.cache_from_source(source, optimization=level)
        except ValueError:
            continue
        if not is_current(Path(source), Path(cached)):
            found.append(name)
    return sorted(found)


def say_what_was_compiled_at_start() -> None:
    """A warning when the install's bytecode cache (PYTHONPYCACHEPREFIX) did not hold
    what this start imported: after an upgrade of Python or of the agent without
    `python -m agent.bytecode`, each start pays the compilation again."""
    if not sys.pycache_prefix:
        return  # not run from a compiled install (a checkout, a test)
    missing = compiled_at_start()
    if missing:
        logging.getLogger(__name__).warning(
            "%d module(s) were compiled from source at this start (%s%s): %s has no current "
            "bytecode for them at optimisation level %d; each start costs CPU and memory "
            "until the install's owner runs `%s -m agent.bytecode` with the unit's environment",
            len(missing),
            ", ".join(missing[:5]),
            ", ..." if len(missing) > 5 else "",
            sys.pycache_prefix,
            sys.flags.optimize,
            sys.executable,
        )


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m agent.bytecode",
        description="Compile the standard library, the install's site-packages and the agent "
        "for the optimisation level this interpreter runs at (PYTHONOPTIMIZE), into "
        "PYTHONPYCACHEPREFIX. Run it as the install's owner after every install or "
        "upgrade of the agent or of Python.",
    )
    parser.parse_args(argv)
    prefix = sys.pycache_prefix
    if not prefix:
        parser.error("PYTHONPYCACHEPREFIX is not set: name the folder the daemon's unit names")
    optimization = sys.flags.optimize
    compiled, current, failures = compile_all(optimization)
    print(
        f"{compiled} modules compiled, {current} already current, {len(failures)} failed "
        f"(optimisation level {optimization}, into {prefix})"
    )
    for source, reason in failures[:20]:
        print(f"  not compiled: {source}: {reason}", file=sys.stderr)
    # A module that cannot be compiled cannot be imported either, but the standard
    # library and the dependencies carry files the daemon never imports (other
    # Python versions' syntax, templates): those are named, not fatal.  Our own are.
    own = own_roots()
    return 1 if any(root in source.parents for source, _ in failures for root in own) else 0


if __name__ == "__main__":
    sys.exit(main())
