"""node/ is the community's process and knows nothing of federations: no module of node/ imports
federation/ (or cli/), anywhere in its source. What node's pages say of other communities comes
through node/app.py's `Elsewhere`, which the federation layer provides."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_purity import imports_of, repository

above_node = ("tallystick.federation", "tallystick.cli")


@pytest.mark.parametrize("path", sorted((repository / "node").rglob("*.py")),
                         ids=lambda path: str(path.relative_to(repository)))
def test_node_module_imports_nothing_above_node(path: Path) -> None:
    offending = [f"{path.relative_to(repository)}:{line} imports {module}" for module, line in imports_of(path)
                 if module.startswith(above_node)]
    assert not offending, "; ".join(offending)
