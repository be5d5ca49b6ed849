"""Every route of a real `tally serve`, read by each kind of reader, against the default visibility
policy: each sees exactly what the policy allows (docs/api.md, "Who sees what").

One community: an admin, Alice (pays Bob with a memo, votes in a poll, manages the Bakery and holds
its founder shares), Bob (the payee, subscribed to the Bakery's open offer) and Carol (a member in
none of it). Readers: a stranger (unsigned), a key that is no member's, Carol (a member), Alice
(the member concerned) and the admin. The walk is complete by construction: the routes described in
/openapi.json, the routes the node registers (the openapi test keeps those equal), must each be in
`checks` or in `elsewhere`, so a new route without a visibility check fails here. For every
stranger's answer the raw body is searched for the memo and the members' names.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
import pytest
from tallystick.ledger.shares import enterprise_id
from tallystick.protocol.events import (
    FounderIssue,
    OpenOffer,
    Propose,
    RegisterEnterprise,
    ShareClass,
    Subscribe,
    Transfer,
    Vote,
)
from tallystick.protocol.ids import KeyPair, id_to_text

from helpers.nodes import NodeProcess
from helpers.support import Answer, next_nonce, sign_intent

memo = "memo-zebra-4711"
names = {"alice": "Quillon Ashby", "bob": "Bexley Tarn", "carol": "Corvin Pell"}
week_ms = 7 * 24 * 3600 * 1000
reader_kinds = ("stranger", "outsider", "member", "concerned", "admin")


class World(msgspec.Struct):
    node: NodeProcess
    keys: dict[str, KeyPair]
    decision: int
    offer: int
    bakery: str

    def reader_key(self, reader: str) -> KeyPair | None:
        return {"stranger": None, "outsider": self.keys["outsider"], "member": self.keys["carol"],
                "concerned": self.keys["alice"], "admin": self.node.admin_key}[reader]

    def read(self, reader: str, path: str) -> Answer:
        return self.node.get_as(self.reader_key(reader), path)

    def id(self, who: str) -> str:
        return id_to_text("m", self.keys[who].public)


@pytest.fixture(scope="module")
def world(node: NodeProcess) -> World:
    keys = {who: node.admit(name) for who, name in names.items()}
    keys["outsider"] = KeyPair.generate()
    node.pay(keys["alice"], keys["bob"], 150, memo)
    deadline_ms = time.time_ns() // 1_000_000 + week_ms
    decision = node.act(keys["alice"], Propose(decision_type="poll", title="Where to meet", text="hall or park",
                                               deadline_ms=deadline_ms, options=("hall", "park")))["seq"]
    node.act(keys["alice"], Vote(decision=decision, options=(1,)))
    customer = ShareClass("Customer shares", "user", 1, 1, 100, True, False, 500, True)
    founder = ShareClass("Founder shares", "founder", 3, 0, 100, False, False, None, True)
    registered = node.act(keys["alice"], RegisterEnterprise("Bakery", (customer, founder), (FounderIssue(1, 10),)))["seq"]
    bakery = enterprise_id(node.feed, registered)
    offer = node.act(keys["alice"], OpenOffer(bakery, 0, 100, 100, 20, 50, deadline_ms))["seq"]
    node.act(keys["bob"], Subscribe(offer=offer, units=1))
    return World(node, keys, decision, offer, id_to_text("e", bakery))


def personal(body: bytes) -> list[str]:
    """The memo and the members' names, wherever they appear in a raw body."""
    return [text for text in (memo, *names.values()) if text.encode() in body]


def no_personal_data(world: World, reader: str, answer: Answer) -> None:
    """Nothing personal but the reader's own name (a page says who is signed in)."""
    own = names.get({"member": "carol", "concerned": "alice"}.get(reader, ""))
    found = [text for text in personal(answer.body) if text != own]
    assert found == [], (reader, answer.status, answer.body[:400])


def people_ids(world: World) -> set[str]:
    return {world.id(who) for who in names} | {id_to_text("m", world.node.admin_key.public)}


def is_refused(answer: Answer, status: int, code: str) -> None:
    assert (answer.status, answer.json()["error"]) == (status, code), answer.body[:300]


# ---- what each route shows each reader ------------------------------------------------------------


def community(world: World, reader: str, answer: Answer) -> None:
    document = answer.json()
    assert answer.status == 200 and document["members"] == 4 and document["visibility"]["balances"] == "concerned"
    no_personal_data(world, reader, answer)


def public_to_all(world: World, reader: str, answer: Answer) -> None:
    assert answer.status == 200, answer.body[:300]
    no_personal_data(world, reader, answer)


def balances(world: World, reader: str, answer: Answer) -> None:
    assert answer.status == 200
    persons = {row["account"]: row for row in answer.json() if row["account"] in people_ids(world)}
    expected = {"stranger": set(), "outsider": set(), "member": {world.id("carol")}, "concerned": {world.id("alice")},
                "admin": people_ids(world)}[reader]
    assert set(persons) == expected, (reader, persons)
    if reader in ("concerned", "admin"):
        assert persons[world.id("alice")]["balance"] == -150
    if reader in ("stranger", "outsider"):
        no_personal_data(world, reader, answer)
        assert answer.headers["tally-hidden"] == "names"
    if reader != "admin":
        assert "tally-hidden" in answer.headers


def one_balance(world: World, reader: str, answer: Answer) -> None:
    if reader in ("stranger", "outsider"):
        is_refused(answer, 400, "bad_id")  # as for a name no one has: no oracle of who is a member
        no_personal_data(world, reader, answer)
    elif reader == "member":
        is_refused(answer, 403, "not_visible")
        assert "balances are visible to the member concerned and admins" in answer.json()["message"]
    else:
        assert answer.status == 200 and [row["balance"] for row in answer.json()] == [-150]


def members(world: World, reader: str, answer: Answer) -> None:
    assert answer.status == 200
    shown = {row["id"] for row in answer.json()} & people_ids(world)
    if reader in ("stranger", "outsider"):
        assert shown == set()
        no_personal_data(world, reader, answer)
    else:
        assert shown == people_ids(world)  # names are the members'


def one_member(world: World, reader: str, answer: Answer) -> None:
    if reader in ("stranger", "outsider"):
        is_refused(answer, 400, "bad_id")
        no_personal_data(world, reader, answer)
    else:
        assert answer.status == 200 and answer.json()["name"] == names["alice"]


def log(world: World, reader: str, answer: Answer) -> None:
    if reader == "admin":
        assert answer.status == 200 and memo.encode() in answer.body
    else:
        is_refused(answer, 403, "not_visible")
        no_personal_data(world, reader, answer)


def decisions(world: World, reader: str, answer: Answer) -> None:
    assert answer.status == 200
    [found] = [row for row in answer.json() if row["id"] == world.decision]
    assert found["title"] == "Where to meet" and found["open"]
    if reader in ("stranger", "outsider"):
        assert "text" not in found and "tally" not in found and "proposer" not in found
        no_personal_data(world, reader, answer)
    else:
        assert found["text"] == "hall or park" and found["tally"]["participants"] == 1


def decision(world: World, reader: str, answer: Answer) -> None:
    decisions(world, reader, Answer(answer.status, answer.headers, b"[" + answer.body + b"]"))
    votes = answer.json()["votes"]
    if reader in ("stranger", "outsider"):
        assert votes == []
    else:  # how each member voted is the members'
        assert votes == [{"member": world.id("alice"), "position": None, "options": [1]}]


def intents(world: World, reader: str, answer: Answer) -> None:
    # Posting is the intent's signer's, not the request's: a key that is no member's is refused.
    is_refused(answer, 422, "unknown_member")


def enterprises(world: World, reader: str, answer: Answer) -> None:
    assert answer.status == 200
    [bakery] = [row for row in answer.json() if row["id"] == world.bakery]
    if reader in ("stranger", "outsider"):
        assert bakery["manager"] is None and bakery["manager_name"] is None
        no_personal_data(world, reader, answer)
    else:
        assert bakery["manager_name"] == names["alice"]


def enterprise(world: World, reader: str, answer: Answer) -> None:
    assert answer.status == 200
    holders = [row["holder"] for row in answer.json()["holders"]]
    if reader in ("stranger", "outsider"):
        assert holders == []
        no_personal_data(world, reader, answer)
    else:  # who holds what is the members'
        assert holders == [world.id("alice")]
    assert answer.json()["offers"][0]["subscribed_units"] == 1  # the amount raised is everyone's


def cap_table(world: World, reader: str, answer: Answer) -> None:
    assert answer.status == 200
    rows = answer.body.decode().strip().splitlines()
    if reader in ("stranger", "outsider"):
        assert len(rows) == 1  # the header alone
        no_personal_data(world, reader, answer)
    else:
        assert len(rows) == 2 and names["alice"] in rows[1]


def offer(world: World, reader: str, answer: Answer) -> None:
    assert answer.status == 200 and answer.json()["subscribed_units"] == 1
    subscribers = [row["member"] for row in answer.json()["subscriptions"]]
    if reader in ("stranger", "outsider"):
        assert subscribers == []
        no_personal_data(world, reader, answer)
    else:
        assert subscribers == [world.id("bob")]


def holdings(world: World, reader: str, answer: Answer) -> None:
    if reader in ("stranger", "outsider"):
        is_refused(answer, 400, "bad_id")
        no_personal_data(world, reader, answer)
    else:
        assert answer.status == 200 and [row["units"] for row in answer.json()["holdings"]] == [10]


def not_found_for_all(world: World, reader: str, answer: Answer) -> None:
    assert answer.status == 404, answer.body[:300]
    no_personal_data(world, reader, answer)


def export(world: World, reader: str, answer: Answer) -> None:
    """Everything held about Alice (GDPR Art. 15 and 20): hers and the admins' alone."""
    if reader in ("stranger", "outsider"):
        is_refused(answer, 400, "bad_id")  # as for a name no one has
        no_personal_data(world, reader, answer)
    elif reader == "member":
        is_refused(answer, 403, "not_visible")
        assert memo.encode() not in answer.body
    else:
        assert answer.status == 200 and memo.encode() in answer.body, (reader, answer.body[:300])
        if answer.headers["content-type"].startswith("application/json"):
            assert answer.json()["member"]["name"] == names["alice"]


def history(world: World, reader: str, answer: Answer) -> None:
    """Alice's statement for the wallet: by default hers and the admins' (history: concerned)."""
    if reader in ("stranger", "outsider"):
        is_refused(answer, 400, "bad_id")  # as for a name no one has
        no_personal_data(world, reader, answer)
    elif reader == "member":
        is_refused(answer, 403, "not_visible")
        assert memo.encode() not in answer.body
    else:
        assert answer.status == 200, (reader, answer.body[:300])
        [paid] = [row for row in answer.json()["rows"] if row["memo"] == memo]
        assert (paid["amount"], paid["counterparty_name"]) == (-150, names["bob"])


def wallet_file(world: World, reader: str, answer: Answer) -> None:
    """The wallet's shell and files: the same for every reader, nothing personal in them."""
    assert answer.status == 200, (reader, answer.status, answer.body[:300])
    no_personal_data(world, reader, answer)
    assert "set-cookie" not in answer.headers


def wallet_screen_unknown(world: World, reader: str, answer: Answer) -> None:
    assert answer.status == 404, (reader, answer.status, answer.body[:300])
    no_personal_data(world, reader, answer)


def openapi(world: World, reader: str, answer: Answer) -> None:
    assert answer.status == 200
    for item in answer.json()["paths"].values():
        for operation in item.values():
            assert operation["x-visibility"], operation


def metrics(world: World, reader: str, answer: Answer) -> None:
    assert answer.status == 200 and b"tally_members" in answer.body
    no_personal_data(world, reader, answer)


Check = Callable[[World, str, Answer], None]
# Each route: the request made (the path with real values) and what each reader must get.
checks: dict[str, tuple[str, Callable[[World], str], Check]] = {
    "/api/community": ("get", lambda w: "/api/community", community),
    "/api/status": ("get", lambda w: "/api/status", public_to_all),
    "/api/balances": ("get", lambda w: "/api/balances", balances),
    "/api/members": ("get", lambda w: "/api/members", members),
    "/api/members/{reference}": ("get", lambda w: f"/api/members/{w.id('alice')}", one_member),
    "/api/log": ("get", lambda w: "/api/log", log),
    "/api/decisions": ("get", lambda w: "/api/decisions", decisions),
    "/api/decisions/{decision}": ("get", lambda w: f"/api/decisions/{w.decision}", decision),
    "/api/intents": ("post", lambda w: "/api/intents", intents),
    "/api/enterprises": ("get", lambda w: "/api/enterprises", enterprises),
    "/api/enterprises/{reference}": ("get", lambda w: "/api/enterprises/Bakery", enterprise),
    "/api/enterprises/{reference}/captable.csv": ("get", lambda w: "/api/enterprises/Bakery/captable.csv", cap_table),
    "/api/enterprises/{reference}/book/{share_class}": ("get", lambda w: "/api/enterprises/Bakery/book/0", public_to_all),
    "/api/offers": ("get", lambda w: "/api/offers", public_to_all),
    "/api/offers/{offer}": ("get", lambda w: f"/api/offers/{w.offer}", offer),
    "/api/members/{reference}/holdings": ("get", lambda w: f"/api/members/{w.id('alice')}/holdings", holdings),
    # This node is in no federation: federation documents are everyone's, and there are none.
    "/api/federations": ("get", lambda w: "/api/federations", public_to_all),
    "/api/federations/{federation}": ("get", lambda w: "/api/federations/Valley", not_found_for_all),
    "/api/federations/{federation}/report": ("get", lambda w: "/api/federations/Valley/report", not_found_for_all),
    "/api/federations/{federation}/decisions/{decision}/certificate": (
        "get", lambda w: "/api/federations/Valley/decisions/h_x/certificate", not_found_for_all),
    "/api/payments": ("get", lambda w: "/api/payments", public_to_all),
    "/openapi.json": ("get", lambda w: "/openapi.json", openapi),
    "/metrics": ("get", lambda w: "/metrics", metrics),
    "/node": ("get", lambda w: "/node", public_to_all),
    "/api/members/{reference}/export": ("get", lambda w: f"/api/members/{w.id('alice')}/export", export),
    "/api/members/{reference}/export.csv": ("get", lambda w: f"/api/members/{w.id('alice')}/export.csv", export),
    "/api/members/{reference}/history": ("get", lambda w: f"/api/members/{w.id('alice')}/history", history),
    # Served by the wallet package (tests/wallet/ checks the files).
    "/wallet": ("get", lambda w: "/wallet", wallet_file),
    "/wallet/{screen}": ("get", lambda w: "/wallet/pay", wallet_file),
    "/wallet/sw.js": ("get", lambda w: "/wallet/sw.js", wallet_file),
    "/wallet/manifest.webmanifest": ("get", lambda w: "/wallet/manifest.webmanifest", wallet_file),
}
# A wallet screen that is none of its five, read by every reader.
wallet_unknown_screen = "/wallet/no-such-screen"
# Routes whose visibility is checked elsewhere, and why.
elsewhere = {
    # Pages: tests/pages (real Chromium), which apply the same policy (docs/privacy.md).
    "/", "/members/{reference}", "/enterprises/{reference}", "/federations/{reference}", "/payments",
    # Node to node: signed events, msgpack, for peers (tests/replication). A feed's events carry
    # their memos in the signed bytes a replica needs: see docs/api.md, "Who sees what".
    "/replication/heads", "/replication/node", "/replication/feeds/{feed}", "/replication/push", "/replication/forks",
    # Signing in: each route's owner is tested in tests/integration/test_sign_in.py (a stranger asks
    # a challenge; only an active member's key opens a session; a member sees and ends only theirs).
    "/api/sign-in/challenge", "/api/sign-in", "/api/sign-in/link", "/sign-in", "/api/session", "/api/sessions",
    "/api/sessions/{id}", "/api/sign-out",
    # Erasure: an admin's alone, of a member who left; tests/replication/test_personal_data.py refuses
    # a member (not_admin) and an active member (member_active) and checks what it destroyed.
    "/api/members/{reference}/erase",
    # Invitations: an admin's alone; tests/integration/test_invitations.py refuses a member
    # (not_admin), a stranger and a key that is no member's (not_signed_in).
    "/api/invitations",
    # The wallet's static files: which exist is the wallet package's (its own tests fetch them); the
    # shell, the service worker and the manifest above are read by every reader here.
    "/wallet/static/{path}",
    # The balance stream: a member's own balance alone, open until it ends; tests/node/test_stream_api.py
    # refuses a stranger and a key that is no member's (not_signed_in) and reads a member's own.
    "/api/stream",
    # Join requests: a stranger creates one signed by its new key and reads only its own status;
    # the list and a decline are an admin's alone (tests/integration/test_join_requests.py walks a
    # stranger, a member, an admin, an unsigned request and a signature over another body).
    "/api/join-requests", "/api/join-requests/mine", "/api/join-requests/{key}/decline",
    # A member's delegations (the wallet's Decide screens): the member concerned and admins alone;
    # tests/wallet/test_decide_flow.py refuses a stranger and a key that is no member's (bad_id) and
    # another member (not_visible), and reads the member's own and an admin's.
    "/api/members/{reference}/delegations",
    # The wallet's payment reads: each walked as a stranger, a key that is no member's, a member, the
    # member concerned and an admin in tests/wallet/test_payment_reads.py.
    "/api/members/{reference}/intents/{nonce}", "/api/members/{reference}/held", "/api/payees/{member}",
    # The rules in force, for members alone: tests/wallet/test_rules.py walks a stranger, a key that is
    # no member's, a member and an admin.
    "/api/rules",
    # The market's listings: members read, a listing's member changes it, an admin hides it;
    # tests/integration/test_listings_api.py walks a stranger, a key that is no member's, a member,
    # the member concerned and an admin on every route.
    "/api/listings/categories", "/api/listings", "/api/listings/{listing}", "/api/listings/{listing}/renew",
    "/api/listings/{listing}/hide", "/api/listings/{listing}/picture",
    # The market across the federation: sharing is read by members and set by an admin alone, the
    # digest is for the federation's nodes alone; tests/wallet/test_market_across.py refuses a
    # stranger (not_signed_in, unsigned_request), a member (not_admin, unknown_peer) and lets an admin.
    "/api/listings/sharing", "/replication/listings",
    # A member's inbox and notification settings: the member concerned alone;
    # tests/integration/test_notifications.py refuses a stranger, a key that is no member's, another
    # member and an admin on every route.
    "/api/members/{reference}/inbox", "/api/members/{reference}/inbox/read", "/api/members/{reference}/notifications",
}


def test_every_route_the_node_describes_has_a_visibility_check(world: World) -> None:
    described = set(world.node.get("/openapi.json")["paths"])
    assert described == set(checks) | elsewhere, (described - set(checks) - elsewhere, set(checks) - described)


def request(world: World, reader: str, method: str, path: str) -> Answer:
    if method == "post":
        # Each reader posts an intent signed by a key that is no member's, in its own request.
        intent = sign_intent(world.keys["outsider"], feed=world.node.feed, nonce=next_nonce(),
                             action=Transfer(to=world.keys["alice"].public, amount_minor=1, memo=""))
        key = world.reader_key(reader)
        if key is None:
            return world.node.http("POST", path, intent, "application/msgpack")
        return world.node.signed(key, "POST", path, intent, "application/msgpack")
    return world.read(reader, path)


@pytest.mark.parametrize("reader", reader_kinds)
@pytest.mark.parametrize("route", sorted(checks))
def test_each_reader_sees_exactly_what_the_policy_allows(world: World, route: str, reader: str) -> None:
    method, path_of, check = checks[route]
    check(world, reader, request(world, reader, method, path_of(world)))


@pytest.mark.parametrize("reader", reader_kinds)
def test_a_member_search_finds_only_names_the_reader_may_see(world: World, reader: str) -> None:
    answer = world.read(reader, "/api/members?q=ASHBY")
    assert answer.status == 200, answer.body[:300]
    found = [row["id"] for row in answer.json()]
    if reader in ("stranger", "outsider"):
        assert found == [] and answer.headers["tally-hidden"] == "names"
        no_personal_data(world, reader, answer)
    else:  # names are the members'
        assert found == [world.id("alice")] and answer.json()[0]["name"] == names["alice"]


@pytest.mark.parametrize("reader", reader_kinds)
def test_a_wallet_screen_that_is_none_of_its_own_is_not_found(world: World, reader: str) -> None:
    wallet_screen_unknown(world, reader, world.read(reader, wallet_unknown_screen))


def test_a_hidden_name_and_an_unknown_name_are_refused_alike(world: World) -> None:
    hidden = world.read("stranger", f"/api/members/{names['alice'].replace(' ', '%20')}").json()
    unknown = world.read("stranger", "/api/members/Nobody%20Here").json()
    assert hidden["error"] == unknown["error"] == "bad_id"
    assert hidden["message"].replace(names["alice"], "X") == unknown["message"].replace("Nobody Here", "X")


def test_a_member_reads_only_their_own_balance_by_name(world: World) -> None:
    own = world.node.get_as(world.keys["bob"], f"/api/balances?account={world.id('bob')}")
    assert own.status == 200 and own.json()[0]["balance"] == 150 - 100  # paid 1.50, 1.00 in the offer's escrow
    other = world.node.get_as(world.keys["bob"], f"/api/balances?account={world.id('alice')}")
    is_refused(other, 403, "not_visible")
    one_balance(world, "stranger", world.read("stranger", f"/api/balances?account={world.id('alice')}"))
    one_balance(world, "admin", world.read("admin", f"/api/balances?account={world.id('alice')}"))


def test_nothing_a_stranger_read_changed_the_feed(world: World) -> None:
    before = world.node.get("/api/status")["seq"]
    for route, (method, path_of, _) in checks.items():
        if method == "get" and not route.startswith("/wallet"):
            world.read("stranger", path_of(world))
    assert world.node.get("/api/status")["seq"] == before
