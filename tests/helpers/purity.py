"""The purity check's parts, shared by tests/test_purity.py, tests/federation/test_federation_purity.py
and tests/ledger/test_names_rules.py: what the sans-IO core may not import, where its files are, and
the imports of a file as ast finds them.

How this works: `imports_of` parses a file with ast and lists every module it imports, absolute,
with its line (at top level or inside a function, `from . import x` resolved against the file's own
package); `core_closure` follows the core's imports of project files, transitively.
"""

from __future__ import annotations

import ast
from pathlib import Path

repository = Path(__file__).resolve().parents[2]
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
