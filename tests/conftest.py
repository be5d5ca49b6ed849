"""Hooks for the whole suite (fixtures live in each folder's conftest.py).

pytest rewrites the asserts of test modules and conftest files so that a failure shows the values
compared; tests/helpers/ holds checks that once sat in conftest files (a node's start, a page's
response), so its asserts are rewritten too. This must run before anything imports `helpers`.
"""

import pytest

pytest.register_assert_rewrite("helpers")

# The files that take longest (tens of seconds each, on two cores), run first. `make test` hands a
# whole file to a worker (`-n 2 --dist loadfile`) as each frees up, in collection order: a long file
# handed out last would keep one worker busy while the other sits idle. Every other file keeps its
# place after these.
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(slowest_first)}
    tests = __file__.rsplit("/", 1)[0] + "/"

    def place(item: pytest.Item) -> int:
        return rank.get(str(item.path).removeprefix(tests), len(rank))

    items.sort(key=place)  # stable: the rest stay in the order they were collected
