"""The `tally` command's interface contract (DESIGN.md), run as a user runs it, against a real node.

Every reading command with `--json` prints one JSON document on stdout; amounts are integers of
minor units; ids have one text form; a refused action exits non-zero with exactly one line on
stderr and changes nothing. `--node`, `--key` and `--json` go before the command or after it; every
command of cli/main.py shows an example in its help; what people read has names and major units.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from tallystick.protocol import limits
from tallystick.protocol.events import Transfer
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text

from helpers.nodes import NodeProcess, init_home, member_id
from helpers.support import clean_environment, key_from_file, tally, tally_json

balance_keys = {"account", "name", "balance", "debit_limit", "credit_ceiling"}
# Wide enough that rich never wraps a table's row.
wide = clean_environment(COLUMNS="240")


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
    """Every balance, as the operator (the admin's key in TALLY_KEY) reads them."""
    return tally_json("--node", node.url, "balance", "--json", env=node.operator_environment())


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
    event = tally_json("--node", node.url, "log", "--from", str(appended["seq"]), "--limit", "1", "--json",
                       env=node.operator_environment())[0]
    assert (event["seq"], event["hash"]) == (appended["seq"], appended["hash"])
    action = event["body"]["intent"]["action"]
    grace = member_id(key_from_file(members["grace"]))
    # The log holds the memo's salted digest (docs/protocol.md §19); the node shows its text beside it.
    memo = action.pop("memo")
    assert action == {"kind": "transfer", "to": grace, "amount_minor": 1250}
    assert memo["kind"] == "committed" and memo["text"] == "bread" and len(bytes.fromhex(memo["digest"])) == 32


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
    rows = tally_json("--node", node.url, "balance", "grace", "--json", env=node.operator_environment())
    assert [row["name"] for row in rows] == ["grace"]


def test_log_json_lists_the_feeds_events_decoded(node: NodeProcess, members: dict[str, Path]) -> None:
    events = tally_json("--node", node.url, "log", "--json", env=node.operator_environment())
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert events[0]["body"]["kind"] == "genesis_sealed"  # the admin's name sealed (protocol.md §19)
    for event in events[1:]:
        id_from_text("h", event["hash"])
        id_from_text("h", event["prev"])
        if event["body"]["kind"] in ("act", "act_sealed"):
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


# ---- the global options, the version and the help ---------------------------------------------------


def test_node_key_and_json_are_taken_after_the_command_as_before_it(
    node: NodeProcess, members: dict[str, Path]
) -> None:
    operator = node.operator_environment()
    assert tally_json("balance", "--node", node.url, "--json", env=operator) == balances(node)
    assert tally_json("--json", "balance", "--node", node.url, env=operator) == balances(node)
    before = {row["name"]: row["balance"] for row in balances(node)}
    appended = tally_json("pay", "grace", "0.10", "--key", members["ada"], "--node", node.url, "--json")
    assert node.get("/api/status")["head"] == appended["hash"]
    after = {row["name"]: row["balance"] for row in balances(node)}
    assert after["ada"] == before["ada"] - 10 and after["grace"] == before["grace"] + 10


def test_a_key_after_the_command_wins_over_one_before_it(node: NodeProcess, members: dict[str, Path]) -> None:
    appended = tally_json("--node", node.url, "--key", members["grace"], "pay", "grace", "0.01",
                          "--key", members["ada"], "--json")
    event = node.get(f"/api/log?from={appended['seq']}&limit=1")["events"][0]
    assert event["body"]["intent"]["key"] == "k_" + member_id(key_from_file(members["ada"]))[2:]


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    done = tally("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"tally {version('tallystick')}"


def test_the_top_level_help_describes_json_and_the_environment() -> None:
    done = tally("--help")
    assert done.returncode == 0
    for needed in ("--json", "TALLY_NODE", "TALLY_KEY", "Example:", "Exit status 2"):
        assert needed in done.stdout, needed


def test_every_command_of_the_cli_core_has_an_example_in_its_help() -> None:
    import click
    from click.testing import CliRunner
    from tallystick.cli.main import main

    def leaves(group: click.Group, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], click.Command]]:
        found = []
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                found += leaves(command, (*path, name))
            else:
                found.append(((*path, name), command))
        return found

    core = [(path, command) for path, command in leaves(main, ())
            if command.callback is not None and command.callback.__module__.startswith("tallystick.cli.")]
    assert len(core) > 20
    runner = CliRunner()
    missing = []
    for path, _ in core:
        shown = runner.invoke(main, [*path, "--help"])
        assert shown.exit_code == 0, (path, shown.output)
        if "Example:" not in shown.output or "tally " not in shown.output.split("Example:")[1]:
            missing.append(" ".join(path))
    assert missing == []


# ---- roles and default limits -----------------------------------------------------------------------


def test_member_role_makes_a_member_admin_and_back(node: NodeProcess, members: dict[str, Path]) -> None:
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    appended = tally_json(*admin, "member", "role", "grace", "admin", "--json")
    assert {"seq", "hash"} <= appended.keys()
    assert node.get("/api/members/grace")["role"] == "admin"
    done = tally(*admin, "member", "role", "grace", "member")
    assert done.returncode == 0 and done.stdout.startswith("grace is now member"), done.stderr
    assert node.get("/api/members/grace")["role"] == "member"


def test_member_role_by_a_member_who_is_no_admin_is_refused_by_the_node(
    node: NodeProcess, members: dict[str, Path]
) -> None:
    before = node.snapshot()
    done = as_member(node, members["ada"], "member", "role", "ada", "admin")
    assert_refused_in_one_line(done)
    assert done.returncode == 1 and "not_authorized" in done.stderr
    assert node.snapshot() == before


def test_limits_default_sets_the_communitys_default_limits(make_node: Any) -> None:
    fresh = make_node()
    admin = ("--node", fresh.url, "--key", fresh.home / "admin.key")
    appended = tally_json(*admin, "limits", "--default", "--debit-limit", "40", "--json")
    assert {"seq", "hash"} <= appended.keys()
    community = fresh.get("/api/community")
    assert (community["debit_limit"], community["credit_ceiling"]) == (4000, 20000)  # the ceiling kept
    assert {row["debit_limit"] for row in fresh.get("/api/balances")} == {4000}
    done = tally(*admin, "limits", "--default", "--credit-ceiling", "none")
    assert done.returncode == 0, done.stderr
    assert "credit ceiling no ceiling" in done.stdout and "-40.00 HRS" in done.stdout
    assert fresh.get("/api/community")["credit_ceiling"] == limits.amount_minor_max


def test_key_rebind_moves_the_account_to_a_new_key_and_retires_the_old(make_node: Any, tmp_path: Path) -> None:
    fresh = make_node()
    admin = ("--node", fresh.url, "--key", fresh.home / "admin.key")
    old, new = tmp_path / "ivy.key", tmp_path / "ivy-2.key"
    ivy = tally_json("key", "new", old, "--json")["id"]
    tally_json("key", "new", new, "--json")
    assert tally(*admin, "member", "add", ivy, "--name", "ivy").returncode == 0
    done = tally("key", "rebind", new, "--node", fresh.url, "--key", old)  # global options after the command
    assert done.returncode == 0 and "the old key is retired" in done.stdout, done.stderr
    assert fresh.get("/api/members/ivy")["key"] == id_to_text("k", key_from_file(new).public)
    before = fresh.snapshot()
    # The admin by id: a retired key reads as no member's, so names are not resolved for it.
    refused = as_member(fresh, old, "pay", id_to_text("m", fresh.admin_key.public), "1.00")
    assert_refused_in_one_line(refused)
    assert refused.returncode == 1 and ("key_retired" in refused.stderr or "not_a_member" in refused.stderr), refused.stderr
    assert fresh.snapshot() == before
    assert as_member(fresh, new, "pay", "admin", "1.00").returncode == 0


# ---- what people read -------------------------------------------------------------------------------


def test_log_shows_who_signed_each_event_and_what_it_did_in_plain_words(
    node: NodeProcess, members: dict[str, Path]
) -> None:
    appended = tally_json("--node", node.url, "--key", members["ada"], "pay", "grace", "3.25", "--memo", "jam", "--json")
    done = tally("--node", node.url, "log", "--from", str(appended["seq"]), "--limit", "1",
                 env=node.operator_environment(COLUMNS="240"))
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.strip("│ ").startswith(str(appended["seq"])))
    assert "ada" in row and 'paid grace 3.25 HRS "jam"' in row
    assert "{" not in done.stdout and "amount_minor" not in done.stdout


def test_balance_shows_major_units_with_the_unit_no_ceiling_and_an_unsigned_zero_limit(make_node: Any) -> None:
    fresh = make_node(debit_limit="0", credit_ceiling=str(limits.amount_minor_max // 100))
    done = tally("--node", fresh.url, "balance", env=fresh.operator_environment(COLUMNS="240"))
    assert done.returncode == 0, done.stderr
    admin_row = next(line for line in done.stdout.splitlines() if "admin" in line)
    assert "0.00 HRS" in admin_row and "no ceiling" in admin_row
    assert "-0.00" not in done.stdout and "10000000000000" not in done.stdout


def test_a_balance_and_its_limits_are_printed_with_the_unit(node: NodeProcess, members: dict[str, Path]) -> None:
    minor = next(row["balance"] for row in balances(node) if row["name"] == "grace")
    done = tally("--node", node.url, "balance", "grace", env=node.operator_environment(COLUMNS="240"))
    shown = f"{minor // 100}.{minor % 100:02d} HRS"
    assert done.returncode == 0 and shown in done.stdout and "-100.00 HRS" in done.stdout and "200.00 HRS" in done.stdout


def test_status_prints_an_alert_as_a_readable_line(make_node: Any) -> None:
    # A node allowed no clock skew at all: its clock is already past its genesis, so it refuses
    # to append, and its status carries that as a clock_ahead alert.
    skewed = make_node(config={"clock_skew_max_ms": 0})
    alerts = skewed.get("/api/status")["alerts"]
    assert [alert["kind"] for alert in alerts] == ["clock_ahead"]
    done = tally("--node", skewed.url, "status", env=wide)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if "alert" in line)
    assert line.strip().startswith("alert clock_ahead: this node's clock")
    assert "{" not in done.stdout and "'kind'" not in done.stdout
