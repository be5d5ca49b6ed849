"""The exports of a test community reconcile exactly with `tally balance`: a real `tally serve`, a
levy and a treasury payment decided, payments with memos, an enterprise paid and paying; each
export is downloaded with `tally export` and over HTTP, its rows summed per account, and its
opening and closing balances compared with `tally balance` for every account. Each route is called
by a stranger, a key that is no member's, another member, the member concerned and an admin, and a
bad period or format is a typed 400 that changes nothing (docs/api.md §16)."""

from __future__ import annotations

import csv
import datetime
import io
import re
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from tallystick.ledger.money import format_amount, parse_amount
from tallystick.ledger.shares import enterprise_id
from tallystick.node.home import write_key
from tallystick.protocol.events import (
    EnterprisePay,
    Propose,
    RegisterEnterprise,
    SetLevy,
    ShareClass,
    Transfer,
    TreasuryPay,
    Vote,
)
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text

from helpers.nodes import NodeProcess
from helpers.support import key_from_file, tally, tally_json

close_wait_seconds = 60.0


def wait_for_close(node: NodeProcess, decision: int) -> None:
    deadline = time.monotonic() + close_wait_seconds
    while time.monotonic() < deadline:
        if not node.get(f"/api/decisions/{decision}")["open"]:
            return
        time.sleep(0.1)
    raise AssertionError(f"decision {decision} was not closed within {close_wait_seconds} s")


class Community:
    def __init__(self, node: NodeProcess, keys: dict[str, Path], ids: dict[str, str], bakery: str) -> None:
        self.node, self.keys, self.ids, self.bakery = node, keys, ids, bakery

    def cli(self, who: str, *args: str | Path) -> Any:
        return tally("--node", self.node.url, "--key", self.keys[who], *args)

    def balances(self) -> dict[str, int]:
        rows = tally_json("--node", self.node.url, "--key", self.keys["admin"], "balance", "--json")
        return {row["account"]: row["balance"] for row in rows}


@pytest.fixture(scope="module")
def community(make_node: Any, tmp_path_factory: pytest.TempPathFactory) -> Community:
    """Signed intents over HTTP build the community (a `tally` process costs a second or two on a
    busy machine); the exports are read with `tally export`."""
    node = make_node(debit_limit="500", credit_ceiling="5000")
    folder = tmp_path_factory.mktemp("keys")
    keys: dict[str, Path] = {"admin": node.home / "admin.key"}
    ids = {"admin": node.created["admin"]}
    pairs = {"admin": node.admin_key, "outsider": KeyPair.generate()}
    for who in ("bea", "cal"):
        pairs[who] = node.admit(who.title())
    for who in ("bea", "cal", "outsider"):
        keys[who] = folder / f"{who}.key"
        write_key(keys[who], pairs[who])
        ids[who] = id_to_text("m", pairs[who].public)

    def decide(title: str, effect: Any) -> None:
        deadline_ms = time.time_ns() // 1_000_000 + 3 * 24 * 3600 * 1000
        decision = node.act(pairs["admin"], Propose(decision_type="consent", title=title, text="", deadline_ms=deadline_ms,
                                                    effect=effect))["seq"]
        for who in ("admin", "bea", "cal"):
            node.act(pairs[who], Vote(decision=decision, position="agree"))
        wait_for_close(node, decision)  # every member agreed: the node's timer closes it at once

    decide("A 1% levy", SetLevy(rate_bp=100, min_minor=2, max_minor=100))
    node.pay(pairs["bea"], pairs["admin"], 5000, 'bread, and a "loaf"')
    node.pay(pairs["admin"], pairs["bea"], 100)
    node.pay(pairs["cal"], pairs["bea"], 2000, "apples\nand pears")
    node.pay(pairs["cal"], pairs["bea"], 10, '=HYPERLINK("http://example.com")')
    customer = ShareClass("Customer shares", "user", 1, 0, 100, False, False, None, True)
    registered = node.act(pairs["bea"], RegisterEnterprise("Bakery", (customer,)))["seq"]
    bakery = enterprise_id(node.feed, registered)
    node.act(pairs["cal"], Transfer(to=bakery, amount_minor=725, memo="cake"))
    node.act(pairs["bea"], EnterprisePay(enterprise=bakery, to=pairs["cal"].public, amount_minor=200, memo="flour"))
    decide("Pay Bea for litter picking", TreasuryPay(to=pairs["bea"].public, amount_minor=40, memo="litter"))
    return Community(node, keys, ids, id_to_text("e", bakery))


def id_to_account(enterprise: str) -> str:
    return "m_" + enterprise.removeprefix("e_")


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def reconcile(rows: list[dict[str, str]]) -> tuple[dict[str, int], dict[str, int]]:
    """Per account, the opening and closing balances, after checking that the opening plus every
    posting's amount is the closing, and each posting's balance the running sum."""
    opening = {r["account"]: signed_minor(r["balance"]) for r in rows if r["row"] == "opening"}
    closing = {r["account"]: signed_minor(r["balance"]) for r in rows if r["row"] == "closing"}
    running = dict(opening)
    for row in rows:
        if row["row"] == "posting":
            running[row["account"]] += signed_minor(row["amount"])
            assert running[row["account"]] == signed_minor(row["balance"]), row
            assert row["unit"] == "HRS"
    assert running == closing
    return opening, closing


def signed_minor(text: str) -> int:
    negative = text.startswith("-")
    minor = parse_amount(text.lstrip("-"), 2, allow_zero=True)
    return -minor if negative else minor


def test_every_export_reconciles_exactly_with_tally_balance(community: Community, tmp_path: Path) -> None:
    balances = community.balances()
    assert sum(balances.values()) == 0
    out = tmp_path / "journal.csv"
    assert community.cli("admin", "export", "journal", "--out", out).returncode == 0
    written = out.read_bytes()
    assert written.startswith(b"row,date,seq,account,account_name,kind,") and written.endswith(b"\r\n")  # RFC 4180
    journal = rows_of(written.decode("utf-8"))
    opening, closing = reconcile(journal)
    assert closing == balances and set(opening.values()) == {0}
    assert {r["kind"] for r in journal if r["row"] == "posting"} >= {"payment", "levy", "treasury payment"}
    memos = {r["memo"] for r in journal if r["row"] == "posting"}
    assert {"bread, and a \"loaf\"", "apples\nand pears", "cake", "flour", "litter"} <= memos
    # A memo a spreadsheet would run as a formula is written as text (OWASP's CSV injection).
    assert '\'=HYPERLINK("http://example.com")' in memos and '=HYPERLINK("http://example.com")' not in memos
    admin = reader_key(community, "admin")
    for who in ("admin", "bea", "cal"):
        exported = community.node.get_as(admin, f"/api/exports/statement/{community.ids[who]}")
        assert exported.status == 200 and exported.headers["content-type"] == "text/csv; charset=utf-8"
        rows = rows_of(exported.body.decode("utf-8"))
        _, statement_closing = reconcile(rows)
        assert statement_closing == {community.ids[who]: balances[community.ids[who]]}
        # The statement's rows are the journal's rows of that account, one for one.
        assert [r for r in rows if r["row"] == "posting"] == [
            r for r in journal if r["row"] == "posting" and r["account"] == community.ids[who]]
    treasury = rows_of(community.cli("admin", "export", "treasury").stdout)
    treasury_account = {r["account"] for r in treasury}.pop()
    assert reconcile(treasury)[1] == {treasury_account: balances[treasury_account]} and balances[treasury_account] > 0
    bakery = rows_of(community.cli("bea", "export", "enterprise", "Bakery").stdout)  # Bea manages it
    assert reconcile(bakery)[1] == {id_to_account(community.bakery): 725 - 200}
    assert balances[id_to_account(community.bakery)] == 725 - 200

    # A period after the last event opens where the ledger stands and holds no posting; one before
    # the first holds nothing at all.
    tomorrow = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)).date().isoformat()
    yesterday = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)).date().isoformat()
    later = rows_of(community.cli("admin", "export", "journal", "--from", tomorrow).stdout)
    assert reconcile(later) == (balances, balances) and not [r for r in later if r["row"] == "posting"]
    earlier = rows_of(community.cli("admin", "export", "journal", "--to", yesterday).stdout)
    assert [r["row"] for r in earlier] == []
    bea_later = rows_of(community.node.get_as(reader_key(community, "bea"), f"/api/exports/statement/Bea?from={tomorrow}"
                                              "&tz=Europe/Madrid").body.decode("utf-8"))
    assert reconcile(bea_later) == ({community.ids["bea"]: balances[community.ids["bea"]]},) * 2


def test_a_statement_as_ofx_holds_each_posting_and_balances_that_agree(community: Community) -> None:
    exported = community.cli("bea", "export", "statement", "Bea", "--ofx")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith('<?xml version="1.0"') and '<?OFX OFXHEADER="200" VERSION="211"' in exported.stdout
    root = ElementTree.fromstring(exported.stdout.encode("utf-8"))
    statement = root.find("BANKMSGSRSV1/STMTTRNRS/STMTRS")
    assert statement is not None and statement.findtext("CURDEF") == "HRS"
    assert statement.findtext("BANKACCTFROM/ACCTID") == community.ids["bea"]
    amounts = [signed_minor(item.findtext("TRNAMT") or "") for item in statement.iterfind("BANKTRANLIST/STMTTRN")]
    opening = signed_minor(statement.findtext("BALLIST/BAL/VALUE") or "")
    closing = signed_minor(statement.findtext("LEDGERBAL/BALAMT") or "")
    assert opening == 0 and opening + sum(amounts) == closing == community.balances()[community.ids["bea"]]
    fitids = [item.findtext("FITID") for item in statement.iterfind("BANKTRANLIST/STMTTRN")]
    assert len(set(fitids)) == len(fitids) == len(amounts) > 0


def reader_key(community: Community, who: str | None) -> KeyPair | None:
    return None if who is None else key_from_file(community.keys[who])


@pytest.mark.parametrize(("route", "allowed"), [
    ("/api/exports/statement/{bea}", {"bea", "admin"}),
    ("/api/exports/statement/{bea}?format=ofx", {"bea", "admin"}),
    ("/api/exports/journal", {"admin"}),
    ("/api/exports/treasury", {"admin"}),
    ("/api/exports/enterprises/Bakery", {"bea", "admin"}),  # Bea manages it
])
def test_each_export_is_for_those_the_policy_allows_and_refused_to_anyone_else(
    community: Community, route: str, allowed: set[str]
) -> None:
    path = route.format(bea=community.ids["bea"])
    for who in (None, "outsider", "cal", "bea", "admin"):
        answer = community.node.get_as(reader_key(community, who), path)
        if who in allowed:
            assert answer.status == 200, (who, answer.body[:200])
            assert answer.headers["content-disposition"].startswith("attachment; filename=")
        elif who in (None, "outsider"):
            assert (answer.status, answer.json()["error"]) == (401, "not_signed_in"), who
        else:
            assert (answer.status, answer.json()["error"]) == (403, "not_visible"), who
            assert b"litter" not in answer.body and b"apples" not in answer.body


@pytest.mark.parametrize("query", [
    "from=2026-13-01", "from=yesterday", "to=2026-02-30", "from=2026-05-02&to=2026-05-01", "from=0001-01-01",
    "tz=Mars/Olympus", "tz=../../etc/passwd", "tz=" + "A" * 200, "from=%00", "format=pdf",
])
def test_a_bad_period_or_format_is_a_typed_400_for_any_reader_and_changes_nothing(community: Community, query: str) -> None:
    before = community.node.snapshot()
    for path in ("/api/exports/journal", f"/api/exports/statement/{community.ids['bea']}", "/api/exports/treasury",
                 "/api/exports/enterprises/Bakery"):
        for who in (None, "admin"):
            answer = community.node.get_as(reader_key(community, who), f"{path}?{query}")
            assert answer.status == 400, (path, query, answer.status, answer.body[:200])
            error = answer.json()
            assert error["error"] in ("bad_period", "malformed") and error["message"]
            assert "Olympus" not in error["message"] and "passwd" not in error["message"]
    assert community.node.snapshot() == before


def test_the_cli_says_a_bad_period_in_one_line_and_writes_nothing(community: Community, tmp_path: Path) -> None:
    out = tmp_path / "never.csv"
    refused = community.cli("admin", "export", "journal", "--from", "2026-05-02", "--to", "2026-05-01", "--out", out)
    assert refused.returncode == 2 and refused.stderr.startswith("tally: bad_period: ")
    assert len(refused.stderr.strip().splitlines()) == 1 and not out.exists()
    hidden = community.cli("cal", "export", "statement", "Bea")
    assert hidden.returncode == 2 and hidden.stderr.startswith("tally: not_visible: ") and hidden.stdout == ""


def test_unknown_members_and_enterprises_are_refused_as_elsewhere(community: Community) -> None:
    admin = reader_key(community, "admin")
    assert community.node.get_as(admin, "/api/exports/statement/Nobody").json()["error"] == "bad_id"
    answer = community.node.get_as(admin, "/api/exports/enterprises/Nowhere")
    assert (answer.status, answer.json()["error"]) == (404, "unknown_enterprise")
    assert id_from_text("e", community.bakery)


def test_the_yearly_reports_treasury_and_turnover_are_the_exports(community: Community) -> None:
    # The node keeps a year's figures and reads only what came since: read the report, pay (with
    # a levy), and the next report must agree with the exports exactly.
    assert community.node.http("GET", "/report").status == 200
    community.node.pay(key_from_file(community.keys["cal"]), key_from_file(community.keys["bea"]), 300, "late")
    balances = community.balances()
    journal = rows_of(community.node.get_as(reader_key(community, "admin"), "/api/exports/journal").body.decode("utf-8"))
    treasury = rows_of(community.node.get_as(reader_key(community, "admin"), "/api/exports/treasury").body.decode("utf-8"))
    account = treasury[0]["account"]
    page = community.node.http("GET", "/report").body.decode("utf-8")  # the same for every reader
    came_in = sum(signed_minor(r["amount"]) for r in treasury if r["row"] == "posting" and not r["amount"].startswith("-"))
    went_out = -sum(signed_minor(r["amount"]) for r in treasury if r["row"] == "posting" and r["amount"].startswith("-"))
    turnover = sum(max(0, signed_minor(r["amount"])) for r in journal if r["row"] == "posting")

    def shown(css_class: str) -> str:
        found = re.search(rf'class="[^"]*\b{css_class}\b[^"]*">([^<]*)<', page)
        assert found is not None, css_class
        return found.group(1)

    def money(minor: int) -> str:
        return f"{format_amount(minor, 2)} HRS"

    assert shown("closing") == money(balances[account]) and shown("opening") == money(0)
    assert (shown("came-in"), shown("went-out")) == (money(came_in), money(went_out)) and went_out == 40
    assert shown("turnover") == money(turnover)
    # Decisions' titles are everyone's ("Pay Bea for litter picking"); memos and names of the rows are not.
    assert "Cal" not in page and "apples" not in page and "bread" not in page and "flour" not in page
