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

repository = Path(__file__).resolve().parent.parent
forbidden = frozenset(
    {"aiohttp", "aiosqlite", "sqlite3", "socket", "asyncio", "time", "random", "datetime", "os"}
)
# The interpreter itself loads os, time and datetime (msgspec does); these must never be loaded by the core.
forbidden_at_runtime = frozenset({"aiohttp", "aiosqlite", "sqlite3", "socket", "asyncio"})
package_folders = {
    "protocol": "protocol", "ledger": "ledger", "node": "node", "federation": "federation", "cli": "cli",
    "replication": "replication",
}
core_files = sorted(repository.glob("protocol/*.py")) + sorted(repository.glob("ledger/*.py")) + [
    repository / "federation" / name for name in ("state.py", "quorum.py", "payments.py")
]


def module_name(path: Path) -> str:
    relative = path.relative_to(repository)
    parts = ["tallystick", *relative.with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def path_of(module: str) -> Path | None:
    """The source file of a tallystick module, or None for anything outside the project."""
    parts = module.split(".")
    if parts[0] != "tallystick" or len(parts) < 2 or parts[1] not in package_folders:
        return None
    folder = repository / package_folders[parts[1]] / Path(*parts[2:]) if len(parts) > 2 else None
    if folder is None:
        return repository / package_folders[parts[1]] / "__init__.py"
    if folder.with_suffix(".py").exists():
        return folder.with_suffix(".py")
    if (folder / "__init__.py").exists():
        return folder / "__init__.py"
    return None


def imports_of(path: Path) -> list[tuple[str, int]]:
    """Every module `path` imports, absolute, with its line."""
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    return imports_in(path.read_text(encoding="utf-8"), package)


def imports_in(source: str, package: str) -> list[tuple[str, int]]:
    tree = ast.parse(source)
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # `from . import limits` names a module too
            found.extend((f"{target}.{alias.name}", node.lineno) for alias in node.names)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            found.append(("__import__", node.lineno))
    return found


def core_closure() -> list[Path]:
    """The core files and every project file they import, transitively."""
    seen: dict[Path, None] = {}
    pending = list(core_files)
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen[path] = None
        for module, _ in imports_of(path):
            source = path_of(module)
            if source is not None and source not in seen:
                pending.append(source)
    return sorted(seen)


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
