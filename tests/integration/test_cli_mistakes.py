"""A user's natural mistakes, sent to the real `tally` command: each ends in one line on stderr
saying what to type instead, exit status 2, and never a traceback.

How this works: one real `tally serve` node with two members made through the CLI; each test types
one mistake a new user makes (a URL without its scheme, a member of another community named
without its node's URL, a node that is down, a key file that is not there, an amount that is no
amount, a member that is not there, a folder that is no home, a misspelt option, ...), and checks
the answer: exit 2, stdout empty, exactly one line on stderr starting `tally: `, no "Traceback",
and the remedy it names. A refusal by the node of a signed action is not a mistake in what was
typed: it keeps exit status 1 (docs/operator.md, README), and the last test checks that too.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from helpers.nodes import NodeProcess, init_home
from helpers.support import clean_environment, free_port, tally, tally_json

exit_mistake = 2
exit_refused = 1


def one_line(done: subprocess.CompletedProcess[str], status: int = exit_mistake) -> str:
    """The one line of stderr of a command that failed with `status`; fails the test otherwise."""
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "", done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tally: "), done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def keys(node: NodeProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    files = {}
    for name in ("Alice", "Bob"):
        files[name] = folder / f"{name.lower()}.key"
        member = tally_json("key", "new", files[name], "--json")["id"]
        tally_json("--node", node.url, "--key", node.home / "admin.key", "member", "add", member, "--name", name, "--json")
    return files


def as_alice(node: NodeProcess, keys: dict[str, Path], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return tally("--node", node.url, "--key", keys["Alice"], *args)


def test_a_node_url_without_its_scheme_says_to_write_http(node: NodeProcess) -> None:
    address = node.url.removeprefix("http://")
    line = one_line(tally("--node", address, "balance"))
    assert f"--node http://{address}" in line


def test_a_node_url_without_its_scheme_in_tally_node_says_the_same(node: NodeProcess) -> None:
    address = node.url.removeprefix("http://")
    line = one_line(tally("balance", env=clean_environment(TALLY_NODE=address)))
    assert f"http://{address}" in line


def test_a_member_of_another_community_without_its_node_url_says_how_to_write_it(
    node: NodeProcess, keys: dict[str, Path]
) -> None:
    before = node.snapshot()
    line = one_line(as_alice(node, keys, "pay", "Carol@hilltop", "1.00"))
    assert "Carol@http://" in line and "m_ID@n_COMMUNITY" in line
    assert node.snapshot() == before


def test_a_node_that_is_down_says_to_start_it_or_fix_the_url() -> None:
    line = one_line(tally("--node", f"http://127.0.0.1:{free_port()}", "balance"))
    assert "no node answers" in line and "tally serve" in line and "--node" in line


def test_a_key_file_that_does_not_exist_says_how_to_make_one(node: NodeProcess, tmp_path: Path) -> None:
    missing = tmp_path / "nobody.key"
    line = one_line(tally("--node", node.url, "--key", missing, "pay", "Bob", "1.00"))
    assert f"tally key new {missing}" in line


def test_a_folder_given_as_key_names_the_key_file_inside_it(node: NodeProcess) -> None:
    line = one_line(tally("--node", node.url, "--key", node.home, "pay", "Bob", "1.00"))
    assert f"--key {node.home / 'admin.key'}" in line


def test_a_file_that_is_no_key_file_is_one_line(node: NodeProcess, tmp_path: Path) -> None:
    stray = tmp_path / "notes.txt"
    stray.write_text("shopping list\n")
    line = one_line(tally("--node", node.url, "--key", stray, "pay", "Bob", "1.00"))
    assert "not a key file" in line and "tally key new" in line


def test_an_amount_that_is_no_amount_says_how_to_write_one(node: NodeProcess, keys: dict[str, Path]) -> None:
    before = node.snapshot()
    line = one_line(as_alice(node, keys, "pay", "Bob", "12,50"))
    assert "bad_amount" in line and "12.50" in line
    assert node.snapshot() == before


def test_an_amount_finer_than_the_unit_is_a_mistake(node: NodeProcess, keys: dict[str, Path]) -> None:
    line = one_line(as_alice(node, keys, "pay", "Bob", "1.005"))
    assert "more than 2 decimals" in line


def test_an_unknown_member_says_how_to_list_them(node: NodeProcess, keys: dict[str, Path]) -> None:
    before = node.snapshot()
    line = one_line(as_alice(node, keys, "pay", "Nobody", "1.00"))
    assert "Nobody" in line and "tally balance" in line
    assert node.snapshot() == before


def test_an_unknown_account_in_balance_is_a_mistake(node: NodeProcess) -> None:
    one_line(tally("--node", node.url, "balance", "Nobody"))


def test_an_unknown_decision_is_a_mistake(node: NodeProcess) -> None:
    one_line(tally("--node", node.url, "decisions", "99999"))


def test_a_command_that_needs_a_node_without_one_says_which_option(keys: dict[str, Path]) -> None:
    line = one_line(tally("--key", keys["Alice"], "pay", "Bob", "1.00"))
    assert "--node http://HOST:PORT" in line and "TALLY_NODE" in line


def test_a_command_that_signs_without_a_key_says_which_option(node: NodeProcess) -> None:
    line = one_line(tally("--node", node.url, "pay", "Bob", "1.00"))
    assert "--key FILE" in line and "TALLY_KEY" in line


def test_a_misspelt_option_is_one_line_naming_the_help(node: NodeProcess, keys: dict[str, Path]) -> None:
    line = one_line(as_alice(node, keys, "pay", "Bob", "1.00", "--mem", "apples"))
    assert "--mem" in line and "tally pay --help" in line


def test_an_unknown_command_is_one_line(node: NodeProcess) -> None:
    line = one_line(tally("--node", node.url, "balances"))
    assert "balances" in line


def test_a_decision_that_is_no_number_is_one_line(node: NodeProcess, keys: dict[str, Path]) -> None:
    line = one_line(as_alice(node, keys, "vote", "first", "agree"))
    assert "DECISION" in line


def test_json_on_a_command_without_it_says_so(tmp_path: Path) -> None:
    line = one_line(tally("--json", "serve", tmp_path))
    assert "`tally serve` has no --json" in line


def test_limits_without_an_account_or_default_says_which(node: NodeProcess) -> None:
    line = one_line(tally("--node", node.url, "--key", node.home / "admin.key", "limits", "--debit-limit", "5"))
    assert "--default" in line and "ACCOUNT" in line


def test_verify_of_a_folder_that_is_no_home_says_what_a_home_holds_not_to_init(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    line = one_line(tally("verify", tmp_path / "photos"))
    assert "is no node home" in line and "config.json" in line and "tally.db" in line
    assert "tally init" not in line


def test_verify_of_a_folder_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    line = one_line(tally("verify", tmp_path / "riverside"))
    assert "does not exist" in line and "tally init" not in line


def test_rebuild_of_a_folder_that_is_no_home_is_one_line(tmp_path: Path) -> None:
    line = one_line(tally("rebuild", tmp_path))
    assert "is no node home" in line


def test_restore_from_a_peer_that_is_no_url_says_how_to_write_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init_home(home)
    line = one_line(tally("restore", home, "--from", "hilltop"))
    assert "--from http://hilltop" in line


def test_init_of_an_existing_home_is_one_line(node: NodeProcess) -> None:
    line = one_line(tally("init", node.home, "--name", "Again", "--unit", "HRS", "--decimals", "2"))
    assert "never overwritten" in line


def test_a_key_new_over_an_existing_file_is_one_line(keys: dict[str, Path]) -> None:
    before = keys["Alice"].read_bytes()
    one_line(tally("key", "new", keys["Alice"]))
    assert keys["Alice"].read_bytes() == before


def test_key_import_into_a_path_that_is_no_home_writes_nothing(tmp_path: Path, keys: dict[str, Path]) -> None:
    sealed = tmp_path / "alice.sealed"
    env = clean_environment(TALLY_PASSPHRASE="a passphrase")
    assert tally("key", "export", keys["Alice"], sealed, env=env).returncode == 0
    line = one_line(tally("key", "import", sealed, tmp_path / "riverside", env=env))
    assert "no home folder" in line and "riverside.key" in line
    assert sorted(path.name for path in tmp_path.iterdir()) == ["alice.sealed"]


def test_a_refusal_by_the_node_is_one_line_and_keeps_exit_status_1(
    node: NodeProcess, keys: dict[str, Path]
) -> None:
    before = node.snapshot()
    line = one_line(as_alice(node, keys, "pay", "Bob", "150"), status=exit_refused)
    assert line.startswith("tally: debit_limit: ")
    assert node.snapshot() == before


def test_no_mistake_above_left_a_trace_in_the_log(node: NodeProcess, keys: dict[str, Any]) -> None:
    # Only the genesis and the two admissions: nothing a mistake typed was ever signed and sent.
    assert [event["body"].get("intent", {}).get("action", {}).get("kind") for event in node.log()
            if event["body"]["kind"] in ("act", "act_sealed")] == ["admit", "admit"]
