"""The sans-IO core stays pure: protocol/ and ledger/ import no I/O, no clock, no randomness.

How this works: every module of protocol/ and ledger/ (and the pure federation core), and every tallystick module they import
in turn, is parsed with ast; an import of a forbidden module anywhere in its source (top level or
inside a function) fails the test, naming the file and line. Each module is also imported for real, in
a fresh interpreter, to check that no I/O library is loaded as a side effect of a third-party import.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.purity import (
    core_closure,
    core_files,
    forbidden,
    forbidden_at_runtime,
    imports_in,
    imports_of,
    module_name,
    repository,
)


def test_the_check_sees_imports_anywhere_in_a_module() -> None:
    source = (
        "from . import limits\n"
        "def now():\n"
        "    import time\n"
        "    from datetime import datetime\n"
        "    return time.time()\n"
        "from os.path import join\n"
    )
    found = {module for module, _ in imports_in(source, "tallystick.protocol")}
    assert {"tallystick.protocol.limits", "time", "datetime", "os.path"} <= found


def test_the_core_is_found() -> None:
    names = {path.name for path in core_files}
    assert {"limits.py", "errors.py", "ids.py", "events.py", "codec.py", "feed.py", "transition.py", "model.py"} <= names


@pytest.mark.parametrize("path", core_closure(), ids=lambda path: str(path.relative_to(repository)))
def test_core_module_imports_no_io_clock_or_randomness(path: Path) -> None:
    offending = [
        f"{path.relative_to(repository)}:{line} imports {module}"
        for module, line in imports_of(path)
        if module.split(".")[0] in forbidden or module == "__import__"
    ]
    assert not offending, (
        "the sans-IO core must stay pure (STYLE.md 1): "
        + "; ".join(offending)
        + ". Take the clock, randomness or I/O as an argument from the caller instead."
    )


@pytest.mark.parametrize("path", core_closure(), ids=lambda path: str(path.relative_to(repository)))
def test_core_module_defines_no_coroutine(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    coroutines = [node.name for node in ast.walk(tree) if isinstance(node, ast.AsyncFunctionDef)]
    assert not coroutines, f"{path.relative_to(repository)} defines async {coroutines}: the core does no I/O"


@pytest.mark.parametrize("path", core_files, ids=lambda path: str(path.relative_to(repository)))
def test_core_module_imports(path: Path) -> None:
    importlib.import_module(module_name(path))


def test_importing_the_core_loads_no_io_library() -> None:
    modules = [module_name(path) for path in core_files]
    program = (
        "import sys\n"
        + "".join(f"import {module}\n" for module in modules)
        + f"print(','.join(sorted(set(sys.modules) & set({sorted(forbidden_at_runtime)!r}))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "", f"importing the core loaded {result.stdout.strip()}"
