"""Hooks for the whole suite (fixtures live in each folder's conftest.py).

pytest rewrites the asserts of test modules and conftest files so that a failure shows the values
compared; tests/helpers/ holds checks that once sat in conftest files (a node's start, a page's
response), so its asserts are rewritten too. This must run before anything imports `helpers`.
"""

import pytest

pytest.register_assert_rewrite("helpers")

# The order `make test` hands files out in (`-n 2 --dist loadfile --no-loadscope-reorder`: a whole
# file to a worker as each frees up, in collection order). The files that take longest (tens of
# seconds each, on two cores) go first, then the folders of real processes, and the many quick unit
# files last, so that the last file handed out is a short one and neither worker sits idle at the
# end. (xdist's own reorder would put the files with the most tests first: the node clusters, a
# test or two each, would come last.)
slowest_first = (
    "integration/test_shares_cli.py",
    "integration/test_readme_tour.py",
    "integration/test_decisions_cli.py",
    "replication/test_confederation_chaos.py",
    "replication/test_compose_cluster.py",
    "federation/test_federation_properties.py",
    "replication/test_payments_across.py",
    "integration/test_demo.py",
    "replication/test_frozen_community.py",
    "integration/test_durable_start.py",
    "replication/test_federation_cluster.py",
    "integration/test_cli_contract.py",
)
folders_first = ("replication", "integration", "pages", "federation", "ledger", "node", "protocol", "cli")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(slowest_first)}
    tests = __file__.rsplit("/", 1)[0] + "/"

    def place(item: pytest.Item) -> tuple[int, int]:
        name = str(item.path).removeprefix(tests)
        folder = name.split("/", 1)[0]
        return rank.get(name, len(rank)), folders_first.index(folder) if folder in folders_first else len(folders_first)

    items.sort(key=place)  # stable: within a folder, files keep the order they were collected in
