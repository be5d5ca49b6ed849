"""The `tally` command's interface contract (DESIGN.md), run as a user runs it, against a real node.

Every reading command with `--json` prints one JSON document on stdout; amounts are integers of
minor units; ids have one text form; a refused action exits non-zero with exactly one line on
stderr and changes nothing.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from support import key_from_file, tally, tally_json
from tallystick.protocol import limits
from tallystick.protocol.events import Transfer
from tallystick.protocol.ids import KeyPair, id_from_text

from .conftest import NodeProcess, init_home, member_id

balance_keys = {"account", "name", "balance", "debit_limit", "credit_ceiling"}


def as_member(node: NodeProcess, key_file: Path, *args: str) -> Any:
    return tally("--node", node.url, "--key", key_file, *args)


def assert_refused_in_one_line(done: Any) -> None:
    assert done.returncode != 0, done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), (
        f"stderr should be one line, got {len(lines)}:\n{done.stderr}"
    )
    assert done.stdout == ""


@pytest.fixture(scope="module")
def members(node: NodeProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two members admitted through the CLI: key files by name."""
    folder = tmp_path_factory.mktemp("keys")
    files = {}
    for name in ("ada", "grace"):
        key_file = folder / f"{name}.key"
        created = tally_json("key", "new", key_file, "--json")
        appended = tally_json(
            "--node",
            node.url,
            "--key",
            node.home / "admin.key",
            "member",
            "add",
            created["id"],
            "--name",
            name,
            "--json",
        )
        assert {"seq", "hash"} <= appended.keys()
        files[name] = key_file
    return files


def balances(node: NodeProcess) -> list[dict[str, Any]]:
    return tally_json("--node", node.url, "balance", "--json")


def test_init_json_prints_the_node_and_admin_ids(tmp_path: Path) -> None:
    created = init_home(tmp_path / "home")
    assert set(created) == {"node", "admin"}
    id_from_text("n", created["node"])  # raises unless it is a node id
    assert created["admin"] == member_id(key_from_file(tmp_path / "home" / "admin.key"))


def test_init_json_ids_are_the_ids_the_running_node_reports(node: NodeProcess) -> None:
    assert node.get("/api/status")["node"] == node.created["node"]
    admins = [row for row in node.get("/api/balances") if row["account"] == node.created["admin"]]
    assert [row["name"] for row in admins] == ["admin"]


def test_init_refuses_an_existing_home_and_leaves_it_untouched(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init_home(home)
    before = {path.name: path.read_bytes() for path in home.iterdir()}
    done = tally("init", home, "--name", "Again", "--unit", "HRS", "--decimals", "2", "--json")
    assert_refused_in_one_line(done)
    assert {path.name: path.read_bytes() for path in home.iterdir()} == before


def test_key_new_json_prints_the_member_id_of_a_private_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "member.key"
    created = tally_json("key", "new", key_file, "--json")
    assert set(created) == {"id"}
    assert created["id"] == member_id(key_from_file(key_file))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_key_new_refuses_to_overwrite_a_key_file(members: dict[str, Path]) -> None:
    key_file = members["ada"]
    before = key_file.read_bytes()
    assert_refused_in_one_line(tally("key", "new", key_file, "--json"))
    assert key_file.read_bytes() == before


def test_member_add_admits_the_key_under_its_name(node: NodeProcess, members: dict[str, Path]) -> None:
    rows = {row["name"]: row for row in node.get("/api/balances")}
    for name, key_file in members.items():
        assert rows[name]["account"] == member_id(key_from_file(key_file))
        assert rows[name]["balance"] == 0


def test_pay_by_name_prints_the_seq_and_hash_of_the_logged_event(
    node: NodeProcess, members: dict[str, Path]
) -> None:
    done = as_member(node, members["ada"], "pay", "grace", "12.50", "--memo", "bread", "--json")
    assert done.returncode == 0, done.stderr
    appended = json.loads(done.stdout)
    assert {"seq", "hash"} <= appended.keys()
    event = tally_json("--node", node.url, "log", "--from", str(appended["seq"]), "--limit", "1", "--json")[0]
    assert (event["seq"], event["hash"]) == (appended["seq"], appended["hash"])
    action = event["body"]["intent"]["action"]
    grace = member_id(key_from_file(members["grace"]))
    assert action == {"kind": "transfer", "to": grace, "amount_minor": 1250, "memo": "bread"}


def test_pay_by_id_prints_the_seq_and_hash_of_the_logged_event(
    node: NodeProcess, members: dict[str, Path]
) -> None:
    ada = member_id(key_from_file(members["ada"]))
    appended = json.loads(as_member(node, members["grace"], "pay", ada, "0.25", "--json").stdout)
    status = node.get("/api/status")
    assert (status["seq"], status["head"]) == (appended["seq"], appended["hash"])
    assert (
        node.get("/api/log?from={}&limit=1".format(appended["seq"]))["events"][0]["body"]["intent"]["action"][
            "amount_minor"
        ]
        == 25
    )


def test_balance_json_lists_accounts_in_integer_minor_units(
    node: NodeProcess, members: dict[str, Path]
) -> None:
    before = {row["name"]: row["balance"] for row in node.get("/api/balances")}
    node.act(
        key_from_file(members["ada"]), Transfer(to=key_from_file(members["grace"]).public, amount_minor=307)
    )
    rows = balances(node)
    assert isinstance(rows, list) and rows
    for row in rows:
        assert set(row) == balance_keys
        for key in ("balance", "debit_limit", "credit_ceiling"):
            assert type(row[key]) is int, row
        id_from_text("m", row["account"])
    after = {row["name"]: row["balance"] for row in rows}
    assert after["ada"] == before["ada"] - 307 and after["grace"] == before["grace"] + 307
    assert sum(after.values()) == 0
    # tally init --debit-limit 100 --credit-ceiling 200 in a unit of 2 decimals
    assert {(row["debit_limit"], row["credit_ceiling"]) for row in rows} == {(10000, 20000)}


def test_balance_of_one_account_by_name(node: NodeProcess, members: dict[str, Path]) -> None:
    rows = tally_json("--node", node.url, "balance", "grace", "--json")
    assert [row["name"] for row in rows] == ["grace"]


def test_log_json_lists_the_feeds_events_decoded(node: NodeProcess, members: dict[str, Path]) -> None:
    events = tally_json("--node", node.url, "log", "--json")
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert events[0]["body"]["kind"] == "genesis"
    for event in events[1:]:
        id_from_text("h", event["hash"])
        id_from_text("h", event["prev"])
        if event["body"]["kind"] == "act":
            intent = event["body"]["intent"]
            id_from_text("k", intent["key"])
            assert intent["action"]["kind"] in {"admit", "transfer", "remove", "set_limits", "set_role"}


def test_status_json_has_the_contract_keys(node: NodeProcess) -> None:
    status = tally_json("--node", node.url, "status", "--json")
    assert {"node", "seq", "head", "peers", "feeds", "forks", "alerts"} <= status.keys()
    assert status["feeds"][status["node"]] == {"seq": status["seq"], "head": status["head"]}
    assert (
        isinstance(status["peers"], list)
        and isinstance(status["forks"], list)
        and isinstance(status["alerts"], list)
    )


def test_pay_past_the_debit_limit_exits_nonzero_with_one_line_and_changes_nothing(
    node: NodeProcess, members: dict[str, Path]
) -> None:
    before = node.snapshot()
    done = as_member(node, members["ada"], "pay", "grace", "150", "--json")
    assert_refused_in_one_line(done)
    assert "debit_limit" in done.stderr
    assert node.snapshot() == before


def test_pay_amount_finer_than_the_unit_exits_nonzero_with_one_line_and_changes_nothing(
    node: NodeProcess, members: dict[str, Path]
) -> None:
    before = node.snapshot()
    done = as_member(node, members["ada"], "pay", "grace", "1.005", "--json")
    assert_refused_in_one_line(done)
    assert "bad_amount" in done.stderr
    assert node.snapshot() == before


def test_pay_amount_of_zero_exits_nonzero_with_one_line_and_changes_nothing(
    node: NodeProcess, members: dict[str, Path]
) -> None:
    before = node.snapshot()
    assert_refused_in_one_line(as_member(node, members["ada"], "pay", "grace", "0", "--json"))
    assert node.snapshot() == before


def test_pay_to_an_unknown_name_exits_nonzero_with_one_line_and_changes_nothing(
    node: NodeProcess, members: dict[str, Path]
) -> None:
    before = node.snapshot()
    assert_refused_in_one_line(as_member(node, members["ada"], "pay", "nobody", "1", "--json"))
    assert node.snapshot() == before


def test_pay_with_a_memo_past_its_limit_exits_nonzero_with_one_line_and_changes_nothing(
    node: NodeProcess, members: dict[str, Path]
) -> None:
    before = node.snapshot()
    memo = "m" * (limits.memo_chars_max + 1)
    assert_refused_in_one_line(as_member(node, members["ada"], "pay", "grace", "1", "--memo", memo, "--json"))
    assert node.snapshot() == before


def test_member_add_of_a_taken_name_exits_nonzero_with_one_line_and_changes_nothing(
    node: NodeProcess, members: dict[str, Path]
) -> None:
    before = node.snapshot()
    newcomer = member_id(KeyPair.generate())
    done = as_member(node, node.home / "admin.key", "member", "add", newcomer, "--name", "ADA", "--json")
    assert_refused_in_one_line(done)
    assert "name_taken" in done.stderr
    assert node.snapshot() == before
