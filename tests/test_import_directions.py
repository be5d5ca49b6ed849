"""Imports go one way: between the packages, and inside ledger/ from the state model up to the
transition. The graph of the project's modules has no circle.

How this works: every module of the packages is parsed with ast and every import it makes (at its
top or inside a function) is resolved to a project module; a package may import only the packages
`allowed` names for it, a ledger module only those before it in `ledger_order`, and a depth-first
search over the graph of top-level imports finds any circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

repository = Path(__file__).resolve().parent.parent
packages = ("protocol", "ledger", "node", "replication", "federation", "cli")
# What each package may import, besides itself. node/ is the community's process and knows nothing of
# peers or federations: replication/ and federation/ plug into it as extensions.
allowed: dict[str, frozenset[str]] = {
    "protocol": frozenset(),
    "ledger": frozenset({"protocol"}),
    "node": frozenset({"ledger", "protocol"}),
    "replication": frozenset({"node", "ledger", "protocol"}),
    "federation": frozenset({"replication", "node", "ledger", "protocol"}),
    "cli": frozenset({"federation", "replication", "node", "ledger", "protocol"}),
}
# Inside ledger/, a module imports only modules listed before it.
ledger_order = ("errors", "money", "names", "model", "accounts", "shares", "payments", "transfers", "membership",
                "decisions", "digest", "changes", "transition", "visibility")


def project_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((repository / package).rglob("*.py")):
            parts = ["tallystick", package, *path.relative_to(repository / package).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


modules = project_modules()


def imports_of(name: str, path: Path, *, top_level_only: bool = False) -> list[tuple[str, int]]:
    """The project modules `name` imports, with their lines."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: list[tuple[str, int]] = []
    for node in nodes:
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        found += [(target, node.lineno) for target in targets if target in modules]
    return found


def package_of(name: str) -> str:
    return name.split(".")[1]


def test_every_package_is_found() -> None:
    assert {package_of(name) for name in modules} >= {"protocol", "ledger", "node", "federation", "cli"}
    assert set(ledger_order) == {name.split(".")[2] for name in modules if package_of(name) == "ledger"
                                 and len(name.split(".")) > 2}


@pytest.mark.parametrize("name", sorted(modules), ids=lambda name: name.removeprefix("tallystick."))
def test_imports_go_one_way_between_packages(name: str) -> None:
    own = package_of(name)
    wrong = [f"line {line} imports {target}" for target, line in imports_of(name, modules[name])
             if package_of(target) != own and package_of(target) not in allowed[own]]
    assert not wrong, f"{name} may import only {sorted(allowed[own])} besides {own}/: " + "; ".join(wrong)


@pytest.mark.parametrize("name", [name for name in sorted(modules) if package_of(name) == "ledger"
                                  and len(name.split(".")) > 2])
def test_ledger_modules_import_only_those_below_them(name: str) -> None:
    rank = ledger_order.index(name.split(".")[2])
    wrong = [f"line {line} imports {target}" for target, line in imports_of(name, modules[name])
             if package_of(target) == "ledger" and len(target.split(".")) > 2
             and ledger_order.index(target.split(".")[2]) >= rank]
    assert not wrong, f"{name} may import only {ledger_order[:rank]} of ledger/: " + "; ".join(wrong)


def test_the_graph_of_imports_has_no_circle() -> None:
    graph = {name: {target for target, _ in imports_of(name, path, top_level_only=True) if target != name}
             for name, path in modules.items()}
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = "open"
        trail.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                return [*trail[trail.index(target):], target]
            if target not in state:
                circle = visit(target)
                if circle:
                    return circle
        trail.pop()
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state:
            circle = visit(name)
            assert circle is None, "a circle of imports: " + " -> ".join(circle)
