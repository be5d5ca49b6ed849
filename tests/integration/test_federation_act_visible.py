"""A federation act is seen by the next command: `federation found` answers only once the node has
appended the charter from its outbox, so an `adopt` typed at once elsewhere (the README's tour)
finds the federation. (The node wakes its timer for the outbox, and the command waits for the body.)
"""

from __future__ import annotations

import urllib.request
from typing import Any

from helpers.support import tally, tally_json


def test_a_founded_federation_is_in_the_nodes_view_as_soon_as_found_answers(make_node: Any) -> None:
    node = make_node()
    own = tally_json("--node", node.url, "status", "--json")["node"]
    for name in ("Valley", "Ridge", "Dale"):
        done = tally("--node", node.url, "--key", node.home / "admin.key", "federation", "found", name, "--member", own)
        assert done.returncode == 0, done.stderr
        # At once, with no wait: the charter is in the log, and the federation in the node's view.
        with urllib.request.urlopen(f"{node.url}/api/federations/{name}", timeout=10) as response:
            assert response.status == 200
