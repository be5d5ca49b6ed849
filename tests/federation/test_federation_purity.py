"""The federation core (state, quorum certificates, payments) is pure like protocol/: no I/O, no
clock, no randomness, no coroutine. tests/test_purity.py checks protocol/ and ledger/transition.py; this
applies the same check, with the same forbidden list, to the federation core's files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers.purity import forbidden, imports_of, repository

federation_core = [repository / "federation" / name for name in ("state.py", "quorum.py", "payments.py")]


@pytest.mark.parametrize(
    "path", [path for path in federation_core if path.exists()], ids=lambda path: path.name
)
def test_federation_core_imports_no_io_clock_or_randomness(path: Path) -> None:
    offending = [
        f"{path.relative_to(repository)}:{line} imports {module}"
        for module, line in imports_of(path)
        if module.split(".")[0] in forbidden or module == "__import__"
    ]
    assert not offending, "the federation core must stay pure (STYLE.md 1): " + "; ".join(offending)


@pytest.mark.parametrize(
    "path", [path for path in federation_core if path.exists()], ids=lambda path: path.name
)
def test_federation_core_defines_no_coroutine(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.AsyncFunctionDef)]


def test_the_federation_core_imports_only_pure_tallystick_modules() -> None:
    allowed = ("tallystick.protocol", "tallystick.federation.state", "tallystick.federation.quorum")
    for path in federation_core:
        if not path.exists():
            continue
        for module, line in imports_of(path):
            if module.startswith("tallystick."):
                assert module.startswith(allowed), f"{path.name}:{line} imports {module}, outside the pure core"
