"""Community shares end to end with a real `tally serve` and the `tally` command line: a bakery
registers, offers customer shares, members subscribe, the node's timer allots the offer, members
trade investor shares, the holders declare a dividend, a member withdraws at par; the cap table
reads the same in JSON and CSV, every refusal is one line on stderr and changes nothing, and the
home verifies and rebuilds to the same balances."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from typing import Any

import click
from tallystick.cli.client import Client
from tallystick.cli.main import main as tally_command
from tallystick.cli.shares import dividend_refusal
from tallystick.protocol import limits
from tallystick.protocol.ids import id_to_text

from helpers.nodes import NodeProcess
from helpers.support import tally, tally_json

wait_seconds = 60.0


def new_key(directory: Path, name: str) -> tuple[Path, str]:
    path = directory / f"{name}.key"
    return path, tally_json("key", "new", path, "--json")["id"]


def wait_for(check: Any, what: str) -> Any:
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {wait_seconds} s")


def balances(node: NodeProcess) -> dict[str, int]:
    return {row["name"]: row["balance"] for row in tally_json("--node", node.url, "--key", node.home / "admin.key", "balance", "--json")}


def test_a_bakery_raises_capital_from_its_customers_who_trade_and_share_its_profit(
    make_node: Any, tmp_path: Path
) -> None:
    node = make_node(debit_limit="500", credit_ceiling="5000")
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    bea_path, bea_id = new_key(tmp_path, "bea")
    cal_path, cal_id = new_key(tmp_path, "cal")
    bea = ("--node", node.url, "--key", bea_path)
    cal = ("--node", node.url, "--key", cal_path)
    tally_json(*admin, "member", "add", bea_id, "--name", "Bea", "--json")
    tally_json(*admin, "member", "add", cal_id, "--name", "Cal", "--json")
    registered = tally_json(
        *admin, "enterprise", "register", "Bakery",
        "--class", "Customer shares:user:par=1.00:votes=1:dividend=0:withdrawable:cap=60:local",
        "--class", "Investor shares:investor:par=2.00:transferable:votes=1:dividend=2",
        "--notice", "2s", "--json",
    )
    assert registered["id"].startswith("e_")
    customers = tally_json(*admin, "enterprise", "offer", "Bakery", "--class", "0", "--price", "1.00",
                           "--units", "100", "--min", "20", "--member-cap", "50", "--closes-in", "12s", "--json")["id"]
    investors = tally_json(*admin, "enterprise", "offer", "Bakery", "--class", "1", "--price", "2.00",
                           "--units", "20", "--min", "1", "--closes-in", "12s", "--json")["id"]
    tally_json(*bea, "enterprise", "subscribe", str(customers), "40", "--json")
    tally_json(*cal, "enterprise", "subscribe", str(customers), "30", "--json")
    tally_json(*bea, "enterprise", "subscribe", str(investors), "12", "--json")
    tally_json(*cal, "enterprise", "subscribe", str(investors), "8", "--json")

    before = node.snapshot()
    over_cap = tally(*bea, "enterprise", "subscribe", str(customers), "11")
    assert over_cap.returncode == 1 and "member_cap" in over_cap.stderr
    assert len(over_cap.stderr.strip().splitlines()) == 1
    assert node.snapshot() == before
    live = tally_json("--node", node.url, "--key", node.home / "admin.key", "enterprise", "offers", str(customers), "--json")
    assert live["open"] and live["escrow"] == 7000 and live["subscribed_units"] == 70
    assert balances(node)["Escrow"] == 7000 + 4000

    wait_for(lambda: not node.get("/api/offers?open=1"), "the offers closing")
    shown = tally_json("--node", node.url, "--key", node.home / "admin.key", "enterprise", "show", "Bakery", "--json")
    assert [c["outstanding"] for c in shown["classes"]] == [70, 20]
    assert {o["id"]: o["outcome"] for o in shown["offers"]} == {customers: "allotted", investors: "allotted"}
    table = {(h["name"], h["class"]): h["units"] for h in shown["holders"]}
    assert table == {("Bea", 0): 40, ("Cal", 0): 30, ("Bea", 1): 12, ("Cal", 1): 8}
    exported = tally("--node", node.url, "--key", node.home / "admin.key", "enterprise", "show", "Bakery", "--csv")
    assert exported.returncode == 0
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert {(r["name"], int(r["class"])): int(r["units"]) for r in rows} == table
    assert balances(node)["Bakery"] == 7000 + 4000 and balances(node)["Escrow"] == 0

    tally_json(*bea, "enterprise", "sell", "Bakery", "1", "5", "2.50", "--json")
    bought = tally_json(*cal, "enterprise", "buy", "Bakery", "1", "3", "3.00", "--json")
    book = tally_json("--node", node.url, "--key", node.home / "admin.key", "enterprise", "book", "Bakery", "1", "--json")
    assert book["asks"] == [{"price": 250, "units": 2, "orders": 1}] and book["bids"] == []
    assert book["trades"][0] == {"seq": bought["seq"], "price": 250, "units": 3,
                                 "buyer": cal_id, "seller": bea_id}
    self_trade = tally(*bea, "enterprise", "buy", "Bakery", "1", "1", "3.00")
    assert self_trade.returncode == 1 and "self_trade" in self_trade.stderr
    not_traded = tally(*bea, "enterprise", "sell", "Bakery", "0", "1", "1.00")
    assert not_traded.returncode == 1 and "not_transferable" in not_traded.stderr

    # The holders declare a dividend: one vote per share of either class (Bea 40 + 9, Cal 30 + 11).
    dividend = tally_json(*admin, "propose", "First dividend", "--holders", "Bakery", "--dividend", "10.00",
                          "--closes-in", "8s", "--json")["id"]
    outsider = tally(*admin, "vote", str(dividend), "agree")
    assert outsider.returncode == 1 and "not_authorized" in outsider.stderr
    tally_json(*bea, "vote", str(dividend), "agree", "--json")
    tally_json(*cal, "vote", str(dividend), "agree", "--json")
    money_before = balances(node)
    wait_for(lambda: not node.get(f"/api/decisions/{dividend}")["open"], "the dividend")
    decided = tally_json("--node", node.url, "--key", node.home / "admin.key", "decisions", str(dividend), "--json")
    assert decided["outcome"] == "passed" and decided["tally"]["electorate"] == 90
    money = balances(node)
    # Only investor shares carry a dividend (weight 2): Bea 9, Cal 11 of 20 shares -> 4.50 and 5.50.
    assert money["Bea"] - money_before["Bea"] == 450 and money["Cal"] - money_before["Cal"] == 550
    assert money_before["Bakery"] - money["Bakery"] == 1000

    withdrawal = tally_json(*bea, "enterprise", "withdraw", "Bakery", "0", "10", "--json")["id"]
    wait_for(lambda: node.get(f"/api/enterprises/{registered['id']}")["classes"][0]["withdrawn"] == 10,
             f"withdrawal {withdrawal} being paid")
    after = balances(node)
    assert after["Bea"] - money["Bea"] == 1000 and money["Bakery"] - after["Bakery"] == 1000
    assert sum(after.values()) == 0
    held = tally_json("--node", node.url, "--key", node.home / "admin.key", "enterprise", "holdings", "Bea", "--json")
    assert {(h["class"], h["units"]) for h in held["holdings"]} == {(0, 30), (1, 9)}
    assert [o["units"] for o in held["orders"]] == [2]

    removal = tally(*admin, "member", "remove", "Cal")
    assert removal.returncode == 1 and "shares_outstanding" in removal.stderr

    holders_before = tally_json("--node", node.url, "--key", node.home / "admin.key", "enterprise", "show", "Bakery", "--json")["holders"]
    node.stop()
    assert tally("verify", node.home).returncode == 0
    assert tally("rebuild", node.home).returncode == 0
    node.start()
    assert balances(node) == after
    assert tally_json("--node", node.url, "--key", node.home / "admin.key", "enterprise", "show", "Bakery", "--json")["holders"] == holders_before
    book_after = tally_json("--node", node.url, "--key", node.home / "admin.key", "enterprise", "book", "Bakery", "1", "--json")
    assert book_after["asks"] == [{"price": 250, "units": 2, "orders": 1}]


def test_unknown_enterprises_offers_and_orders_are_refused_in_one_line(make_node: Any) -> None:
    node = make_node()
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    # Naming what is not there in a read is a mistake (exit 2); a signed intent the rules refuse, 1.
    for args, code, status in (
        (("enterprise", "show", "Nowhere"), "unknown_enterprise", 2),
        (("enterprise", "subscribe", "999", "1"), "unknown_offer", 1),
        (("enterprise", "cancel", "999"), "unknown_order", 1),
        (("enterprise", "offers", "999"), "unknown_offer", 2),
    ):
        refused = tally(*admin, *args)
        assert refused.returncode == status and code in refused.stderr, (args, refused.returncode, refused.stderr)
        assert len(refused.stderr.strip().splitlines()) == 1


def test_bad_references_to_the_shares_and_federation_routes_get_typed_errors_and_change_nothing(
    make_node: Any,
) -> None:
    node = make_node()
    tally_json("--node", node.url, "--key", node.home / "admin.key", "enterprise", "register", "Mill",
               "--class", "Stock:investor:transferable", "--json")
    before = node.snapshot()
    for path, status, code in (
        ("/api/offers/abc", 400, "malformed"),
        ("/api/offers/999", 404, "unknown_offer"),
        ("/api/enterprises/Nowhere", 404, "unknown_enterprise"),
        ("/api/enterprises/Mill/book/7", 400, "malformed"),
        ("/api/enterprises/Mill/book/x", 400, "malformed"),
        ("/api/enterprises/Mill?limit=0", 400, "malformed"),
        ("/api/members/Nobody/holdings", 400, "bad_id"),
        ("/api/federations/x_" + "a" * 52, 404, "unknown_federation"),
        ("/api/federations/Nowhere/report", 404, "unknown_federation"),
    ):
        answer = node.http("GET", path)
        assert (answer.status, answer.json()["error"]) == (status, code), (path, answer.body[:200])
    assert node.snapshot() == before


def said(*args: Any) -> str:
    """What a command that must succeed printed for a person, on one line."""
    done = tally(*args)
    assert done.returncode == 0, (args, done.stderr)
    return " ".join(done.stdout.split())


def order_number(text: str) -> int:
    found = re.search(r"\(order (\d+);", text)
    assert found, text
    return int(found.group(1))


def test_an_order_says_what_filled_at_what_price_and_what_rests(make_node: Any, tmp_path: Path) -> None:
    node = make_node(debit_limit="500", credit_ceiling="5000")
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    bea_path, bea_id = new_key(tmp_path, "bea")
    cal_path, cal_id = new_key(tmp_path, "cal")
    bea = ("--node", node.url, "--key", bea_path)
    cal = ("--node", node.url, "--key", cal_path)
    tally_json(*admin, "member", "add", bea_id, "--name", "Bea", "--json")
    tally_json(*admin, "member", "add", cal_id, "--name", "Cal", "--json")
    tally_json(*admin, "enterprise", "register", "Mill", "--class", "Stock shares:founder:par=5.00:transferable",
               "--founder", "0:10", "--json")

    asked = said(*admin, "enterprise", "sell", "Mill", "0", "3", "6.00")
    first = order_number(asked)
    assert asked == (f"nothing filled: no buyer bids 6.00 HRS or better; 3 rest on the exchange at 6.00 HRS "
                     f"(order {first}; `tally enterprise cancel {first}` takes them back)")
    before = balances(node)
    assert said(*bea, "enterprise", "buy", "Mill", "0", "2", "6.50") == (
        "bought 2 Stock shares of Mill at 6.00 HRS each (12.00 HRS); nothing rests")
    partly = tally_json(*cal, "enterprise", "buy", "Mill", "0", "2", "6.00", "--json")
    assert (partly["fills"], partly["filled_units"], partly["filled_value"], partly["resting_units"]) == (
        [{"price": 600, "units": 1}], 1, 600, 1)
    assert partly["id"] == partly["seq"] and partly["hash"].startswith("h_")
    sold = said(*admin, "enterprise", "sell", "Mill", "0", "3", "5.00")
    rest = order_number(sold)
    assert sold == (f"sold 1 Stock share of Mill at 6.00 HRS each (6.00 HRS); 2 rest on the exchange at 5.00 HRS "
                    f"(order {rest}; `tally enterprise cancel {rest}` takes them back)")
    said(*admin, "enterprise", "sell", "Mill", "0", "1", "6.50")
    assert said(*bea, "enterprise", "buy", "Mill", "0", "3", "7.00") == (
        "bought 3 Stock shares of Mill: 2 at 5.00 HRS, 1 at 6.50 HRS (16.50 HRS in all); nothing rests")

    after = balances(node)
    assert before["Bea"] - after["Bea"] == 1200 + 1650 and before["Cal"] - after["Cal"] == 2 * 600
    assert after["Escrow"] == 0 and sum(after.values()) == 0
    book = tally_json("--node", node.url, "--key", node.home / "admin.key", "enterprise", "book", "Mill", "0", "--json")
    assert book["bids"] == [] and book["asks"] == []


def test_share_commands_print_amounts_in_major_units_with_the_unit(make_node: Any, tmp_path: Path) -> None:
    node = make_node(debit_limit="500", credit_ceiling="5000")
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    bea_path, bea_id = new_key(tmp_path, "bea")
    bea = ("--node", node.url, "--key", bea_path)
    tally_json(*admin, "member", "add", bea_id, "--name", "Bea", "--json")
    tally_json(*admin, "enterprise", "register", "Dairy", "--class", "Milk shares:founder:par=2.50:transferable",
               "--founder", "0:4", "--json")
    opened = said(*admin, "enterprise", "offer", "Dairy", "--class", "0", "--price", "2.50", "--units", "10",
                  "--min", "5", "--closes-in", "1h")
    offer = int(opened.split()[1])
    assert opened == (f"offer {offer} is open for 1 h: 10 Milk shares of Dairy at 2.50 HRS each, allotted only if at "
                      f"least 5 are subscribed; members subscribe with `tally enterprise subscribe {offer} UNITS`")
    subscribed = said(*bea, "enterprise", "subscribe", str(offer), "2")
    assert re.fullmatch(
        rf"subscribed 2 Milk shares of Dairy at 2\.50 HRS each: 5\.00 HRS waits in escrow until offer {offer} closes "
        r"in \d+ min \d+ s; 2 of the 5 it needs are subscribed so far: if fewer are by then, everyone is refunded",
        subscribed), subscribed
    said(*admin, "enterprise", "sell", "Dairy", "0", "1", "3.25")
    short = tally_json(*admin, "enterprise", "offer", "Dairy", "--class", "0", "--price", "2.50", "--units", "3",
                       "--closes-in", "5s", "--json")["id"]
    said(*bea, "enterprise", "subscribe", str(short), "1")
    wait_for(lambda: not node.get(f"/api/offers/{short}")["open"],
             f"offer {short} closing")

    shown = said("--node", node.url, "--key", node.home / "admin.key", "enterprise", "show", "Dairy")
    assert f"offer {short}: 3 Milk shares at 2.50 HRS each, 1 subscribed, at least 3 needed " \
           "(refunded: 1 of the 3 needed were subscribed)" in shown, shown
    assert "2.50 HRS" in shown and f"offer {offer}: 10 Milk shares at 2.50 HRS each, 2 subscribed" in shown
    offers = said("--node", node.url, "--key", node.home / "admin.key", "enterprise", "offers")
    assert "2.50 HRS" in offers
    assert "3.25 HRS" in said("--node", node.url, "--key", node.home / "admin.key", "enterprise", "book", "Dairy", "0")
    held = said(*admin, "enterprise", "holdings")
    assert re.search(r"order \d+: sell 1 Milk share of Dairy at 3\.25 HRS each", held), held
    assert "0.00 HRS" in said("--node", node.url, "enterprise", "list")
    for text in (shown, offers):
        assert not re.search(r"\b(250|325|500)\b", text), text  # no minor units


def test_a_dividend_that_would_go_to_no_one_is_explained_before_it_is_proposed(make_node: Any) -> None:
    node = make_node()
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    tally_json(*admin, "enterprise", "register", "Kiln", "--class", "Pots shares:investor:transferable", "--json")
    tally_json(*admin, "enterprise", "register", "Oven", "--class", "Bread shares:founder:dividend=0", "--founder", "0:5",
               "--json")
    tally_json(*admin, "enterprise", "register", "Loom", "--class", "Cloth shares:founder:dividend=0",
               "--class", "Wool shares:investor:dividend=3", "--founder", "0:5", "--json")
    tally_json(*admin, "enterprise", "register", "Forge", "--class", "Iron shares:founder", "--founder", "0:5", "--json")
    client = Client(node.url)
    kiln = dividend_refusal(client, "Kiln")
    assert kiln is not None and kiln.startswith("Kiln has issued no shares yet, so a dividend has no one to go to")
    assert dividend_refusal(client, "Oven") == "no share of Oven that is held carries a dividend: no class of it carries one (dividend=0)"
    assert dividend_refusal(client, "Loom") == "no share of Loom that is held carries a dividend: only Wool shares carries one, and none is held"
    assert dividend_refusal(client, "Forge") is None


def test_every_enterprise_and_federation_command_has_an_example_in_its_help() -> None:
    for group_name in ("enterprise", "federation"):
        group = tally_command.commands[group_name]
        assert isinstance(group, click.Group)
        for name, command in [(group_name, group), *group.commands.items()]:
            with click.Context(command, info_name=name) as context:
                text = command.get_help(context)
            example = text.partition("Example:")[2]
            words = group_name if command is group else f"{group_name} {name}"
            assert words in example, f"`tally {words} --help` has no example of itself:\n{text}"
    # As a person sees it: the example kept on one line, as written.
    shown = tally("enterprise", "buy", "--help")
    assert shown.returncode == 0 and "  tally --key bob.key enterprise buy Bakery 1 2 6.50\n" in shown.stdout


def test_federation_show_and_report_read_limits_and_positions_in_major_units(make_node: Any) -> None:
    node = make_node()
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    own = id_to_text("n", node.feed)
    solo = tally_json(*admin, "federation", "found", "Solo", "--member", own, "--json")["id"]
    wait_for(lambda: node.http("GET", f"/api/federations/{solo}").json().get("founded"), "Solo being founded")
    largest = str(limits.amount_minor_max // 100)
    for epoch, (debit, ceiling) in enumerate((("0", largest), ("100", "250.50"))):
        proposal = tally_json(*admin, "federation", "propose", solo, f"Limits {epoch}", "--trade-limits", own,
                              "--debit-limit", debit, "--credit-ceiling", ceiling, "--json")["proposal"]
        tally_json(*admin, "federation", "vote", solo, proposal, "--json")
        wait_for(lambda epoch=epoch: node.http("GET", f"/api/federations/{solo}").json()["epoch"] == epoch + 1,
                 f"decision {epoch} passing")
        shown = said("--node", node.url, "federation", "show", solo)
        expected = "0.00 HRS to no ceiling" if epoch == 0 else "-100.00 HRS to 250.50 HRS"
        assert expected in shown and "-0.00" not in shown, shown
        assert f"Integration: {own}" in shown
    proposed = said(*admin, "federation", "propose", solo, "Capacity", "--allocate", f"{own}=40.00")
    assert re.fullmatch(rf"proposed h_\w+ in epoch 2 of Solo: capacity shares Integration 40\.00 HRS; it passes with "
                        rf"the yes of 1 of 1 members, each voting with `tally federation vote {solo} h_\w+`", proposed), proposed
    report = said("--node", node.url, "federation", "report", solo)
    assert "Trade and capacity (S3 control), in HRS" in report and "-100.00 HRS to 250.50 HRS" in report
    assert "Policy (S5)" in report and "Communities (S1 operations)" in report and "minor units" not in report
    assert "Trade between communities (S4 intelligence): no settled payments yet" in report
