"""A community benefit society end to end, with a real `tally serve` and the `tally` command line
(docs/shares.md, "Co-operative rules"): the Bakery's Member shares vote one member, one vote, so
three holders of 1, 40 and 500 shares pass a dividend as three votes, two to one, where by shares
the one would win; the holders cap interest and the manager pays it; the holders suspend
withdrawals for a recorded reason, a withdrawal is then refused naming it and changes nothing,
and another decision lifts the suspension. At each step the enterprise's document (as a stranger
reads it) and `tally enterprise show` say which rules are in force. Every refusal is one line on
stderr. (The store's
projections of these rules, restored and rebuilt, are tests/node/test_coop_shares_store.py.)"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jsonschema_rs
from tallystick.cli.shares import utc_minute
from tallystick.node.http.openapi import document

from helpers.nodes import NodeProcess
from helpers.support import tally, tally_json

wait_seconds = 60.0
decision_seconds = 12  # long enough for the CLI votes on a busy machine; the holders' floor asks for no time open


def wait_for(check: Any, what: str) -> Any:
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {wait_seconds} s")


def balances(node: NodeProcess) -> dict[str, int]:
    return {row["name"]: row["balance"]
            for row in tally_json("--node", node.url, "--key", node.home / "admin.key", "balance", "--json")}


def refused_in_one_line(node: NodeProcess, code: str, *args: Any) -> str:
    before = node.snapshot()
    done = tally(*args)
    assert done.returncode == 1 and code in done.stderr, (args, done.returncode, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert node.snapshot() == before
    return done.stderr.strip()


def coop_rules(node: NodeProcess, enterprise: str) -> dict[str, Any]:
    """The enterprise document's co-operative rules, as a stranger reads them (they are public:
    facts about the enterprise, no person's data), checked to be what the admin reads too, in a
    document that fits /openapi.json's schema."""
    path = f"/api/enterprises/{enterprise}"
    answer = node.get_as(None, path)
    assert answer.status == 200, answer.body
    seen = answer.json()
    rules = {"interest_cap_bp": seen["interest_cap_bp"], "suspension": seen["suspension"],
             "classes": [{key: c[key] for key in ("member_vote", "interest_paid_to_ms")} for c in seen["classes"]]}
    admin = node.get(path)
    enterprise_schema = document()["paths"]["/api/enterprises/{reference}"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    jsonschema_rs.validator_for(enterprise_schema).validate(admin)
    assert rules == {"interest_cap_bp": admin["interest_cap_bp"], "suspension": admin["suspension"],
                     "classes": [{key: c[key] for key in ("member_vote", "interest_paid_to_ms")} for c in admin["classes"]]}
    return rules


def shown(*args: Any) -> str:
    done = tally(*args, "enterprise", "show", "Bakery")
    assert done.returncode == 0, done.stderr
    return " ".join(done.stdout.split())  # the table and lines as words, whatever the terminal's width


def test_a_society_votes_one_member_one_vote_pays_capped_interest_and_suspends_withdrawals(
    make_node: Any, tmp_path: Path
) -> None:
    # Member shares at 100000.00 par, so that interest for a second comes to cents.
    node = make_node(debit_limit="100000000", credit_ceiling="100000000")
    admin = ("--node", node.url, "--key", node.home / "admin.key")
    members: dict[str, tuple[Any, ...]] = {}
    for name in ("Bea", "Cal", "Dee"):
        path = tmp_path / f"{name.lower()}.key"
        member_id = tally_json("key", "new", path, "--json")["id"]
        tally_json(*admin, "member", "add", member_id, "--name", name, "--json")
        members[name] = ("--node", node.url, "--key", path)
    bea, cal, dee = members["Bea"], members["Cal"], members["Dee"]
    registered = tally_json(*admin, "enterprise", "register", "Bakery", "--class",
                            "Member shares:user:par=100000.00:votes=1:dividend=1:withdrawable:local:member-vote",
                            "--json")  # no notice: a withdrawal falls due at once
    offer = tally_json(*admin, "enterprise", "offer", "Bakery", "--class", "0", "--price", "100000.00", "--units", "541",
                       "--min", "1", "--closes-in", "8s", "--json")["id"]
    for member, units in ((bea, 1), (cal, 40), (dee, 500)):
        tally_json(*member, "enterprise", "subscribe", str(offer), str(units), "--json")
    wait_for(lambda: not node.get("/api/offers?open=1"), "the offer closing")
    # Registered one member, one vote; no cap and no suspension yet, and `show` says so in words.
    assert coop_rules(node, registered["id"]) == {
        "interest_cap_bp": None, "suspension": None, "classes": [{"member_vote": True, "interest_paid_to_ms": None}]}
    words = shown(*admin)
    assert "one member, one vote; a share carries dividend weight 1;" in words and "interest" not in words
    assert "suspended" not in words

    # No interest before the holders allow it.
    refused_in_one_line(node, "interest_cap", *admin, "enterprise", "pay-interest", "Bakery", "0", "1%", "--for", "1s")

    # Three holders' decisions open together: the dividend, the interest cap, the suspension; each
    # voted on as soon as it opens.
    closes = ("--closes-in", f"{decision_seconds}s", "--json")
    dividend = tally_json(*bea, "propose", "A dividend", "--holders", "Bakery", "--dividend", "541.00", *closes)["id"]
    outsider = tally(*admin, "vote", str(dividend), "agree")  # Ada manages the Bakery but holds none of it
    assert outsider.returncode == 1 and "not_authorized" in outsider.stderr
    for member, position in ((bea, "agree"), (cal, "agree"), (dee, "disagree")):
        tally_json(*member, "vote", str(dividend), position, "--json")
    cap = tally_json(*bea, "enterprise", "interest-cap", "Bakery", "100%", *closes)["id"]
    for member in (bea, cal):
        tally_json(*member, "vote", str(cap), "agree", "--json")
    suspension = tally_json(*bea, "enterprise", "suspend-withdrawals", "Bakery", "--reason", "solvency",
                            "--text", "until the new oven is paid for", *closes)["id"]
    for member in (bea, cal):
        tally_json(*member, "vote", str(suspension), "agree", "--json")
    before = balances(node)
    for decision in (dividend, cap, suspension):
        wait_for(lambda decision=decision: not node.get(f"/api/decisions/{decision}")["open"], f"decision {decision}")
    decided = tally_json(*admin, "decisions", str(dividend), "--json")
    # Three holders, three votes: 1, 40 and 500 shares count alike, and two agree.
    assert decided["outcome"] == "passed", decided
    assert (decided["tally"]["electorate"], decided["tally"]["electorate_people"]) == (3, 3)
    after = balances(node)
    assert [after[name] - before[name] for name in ("Bea", "Cal", "Dee")] == [100, 4000, 50000]  # by dividend weight
    assert tally_json(*admin, "decisions", str(cap), "--json")["outcome"] == "passed"
    assert tally_json(*admin, "decisions", str(suspension), "--json")["outcome"] == "passed"
    # The document says what passed: the cap, the interest clock started at the cap's close, the
    # suspension's decision and reason; and `show` says it in words.
    closed = node.get(f"/api/log?from={tally_json(*admin, 'decisions', str(cap), '--json')['closed_seq']}&limit=1")
    cap_closed_ms = closed["events"][0]["ts"]
    assert coop_rules(node, registered["id"]) == {
        "interest_cap_bp": 10000, "suspension": {"decision": suspension, "reason": "solvency"},
        "classes": [{"member_vote": True, "interest_paid_to_ms": cap_closed_ms}]}
    words = shown(*admin)
    assert f"interest capped at 100 % a year, paid up to {utc_minute(cap_closed_ms)}" in words, words
    assert (f"withdrawals suspended by decision {suspension}: solvency "
            "(paying them would put its solvency at risk)") in words, words

    # The suspension lifted by another decision; while it is open, withdrawals are still suspended:
    # refused, naming the decision and its reason, changing nothing.
    resume = tally_json(*bea, "enterprise", "resume-withdrawals", "Bakery", *closes)["id"]
    message = refused_in_one_line(node, "withdrawals_suspended", *cal, "enterprise", "withdraw", "Bakery", "0", "5")
    assert f"decision {suspension}" in message and "solvency" in message
    for member in (bea, cal, dee):
        tally_json(*member, "vote", str(resume), "agree", "--json")

    # Interest meanwhile: never by anyone but the manager, never in advance.
    refused_in_one_line(node, "not_manager", *bea, "enterprise", "pay-interest", "Bakery", "0", "100%",
                        "--for", "1s")
    refused_in_one_line(node, "bad_interest", *admin, "enterprise", "pay-interest", "Bakery", "0", "100%",
                        "--for", "30d")
    paid = tally_json(*admin, "enterprise", "pay-interest", "Bakery", "0", "100%", "--for", "1s", "--json")
    # A second at 100 % a year on 100 000.00, 4 000 000.00 and 50 000 000.00: 0.00, 0.12 and 1.58.
    assert paid["paid"] == 170 and balances(node)["Dee"] - after["Dee"] == 158
    assert coop_rules(node, registered["id"])["classes"][0]["interest_paid_to_ms"] == cap_closed_ms + 1000

    wait_for(lambda: not node.get(f"/api/decisions/{resume}")["open"], "the suspension lifted")
    assert coop_rules(node, registered["id"])["suspension"] is None
    assert "suspended" not in shown(*admin)
    withdrawal = tally_json(*cal, "enterprise", "withdraw", "Bakery", "0", "5", "--json")["id"]
    wait_for(lambda: node.get(f"/api/enterprises/{registered['id']}")["classes"][0]["withdrawn"] == 5,
             f"withdrawal {withdrawal} being paid")
    assert sum(balances(node).values()) == 0
