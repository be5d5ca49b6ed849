"""Members told what concerns them, on a real `tally serve` with a real SMTP server (aiosmtpd) on
loopback (docs/notifications.md, api.md §14): a member who gives an address and is paid finds it in
their inbox and in a mail that says the amount in major units with the unit and carries no memo;
a mail server down at first gets the mail once when it comes up; a node SIGKILLed and started again
sends nothing twice and loses nothing; a kind turned off is neither noticed nor mailed. Only the
member concerned reads or changes their inbox and settings, and every bad input is a typed
refusal that changes nothing."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tallystick.protocol.ids import KeyPair, id_to_text

from helpers.browsing import wait_until
from helpers.mail import SmtpServer
from helpers.nodes import NodeProcess
from helpers.support import Answer, free_port

mail_deadline_seconds = 20
memo_words = "Secret-Memo-Of-The-Bakery-5521"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    yield server
    server.stop()


@pytest.fixture
def running_smtp(smtp: SmtpServer) -> SmtpServer:
    """The module's SMTP server, up (the first test starts it itself, after a mail waited for it)."""
    if smtp.controller is None:
        smtp.start()
    return smtp


@pytest.fixture(scope="module")
def mailing_node(make_node: Any, smtp: SmtpServer) -> NodeProcess:
    # The server is not up yet: the first test starts it once a mail waits.
    return make_node(config={"smtp": {"host": "127.0.0.1", "port": smtp.port, "from": "tally@riverside.example"},
                             "public_url": "https://riverside.example", "reminders_interval_ms": 200})


@pytest.fixture(scope="module")
def people(mailing_node: NodeProcess) -> dict[str, KeyPair]:
    return {"sam": mailing_node.admit("Sam Fenn"), "ada": mailing_node.admit("Ada Birch"),
            "admin": mailing_node.admin_key}


def path(key: KeyPair, tail: str) -> str:
    return f"/api/members/{id_to_text('m', key.public)}/{tail}"


def send(node: NodeProcess, key: KeyPair | None, method: str, target: str, document: Any = None) -> Answer:
    body = None if document is None else json.dumps(document).encode()
    content_type = "application/json" if body is not None else None
    if key is None:
        return node.http(method, target, body, content_type)
    return node.signed(key, method, target, body, content_type)


def notices(node: NodeProcess, key: KeyPair) -> list[dict[str, Any]]:
    answer = send(node, key, "GET", path(key, "inbox?limit=50"))
    assert answer.status == 200, answer.body
    return answer.json()["notices"]


def set_address(node: NodeProcess, key: KeyPair, address: str | None, **kinds: bool) -> dict[str, Any]:
    answer = send(node, key, "PUT", path(key, "notifications"), {"address": address, "kinds": kinds})
    assert answer.status == 200, answer.body
    return answer.json()


def outbox_rows(node: NodeProcess) -> list[tuple[str, int, str | None]]:
    """(state, attempts, last error) of every outbox row, oldest first."""
    with sqlite3.connect(f"file:{node.home / 'notifications.db'}?mode=ro", uri=True) as connection:
        return list(connection.execute("SELECT state, attempts, last_error FROM outbox ORDER BY id"))


def outbox_states(node: NodeProcess) -> list[str]:
    return [state for state, _, _ in outbox_rows(node)]


def folded_seq(node: NodeProcess) -> int:
    with sqlite3.connect(f"file:{node.home / 'notifications.db'}?mode=ro", uri=True) as connection:
        return connection.execute("SELECT seq FROM fold_cursor").fetchone()[0]


def refused(answer: Answer, status: int, code: str) -> None:
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    document = answer.json()
    assert (answer.status, document["error"]) == (status, code), answer.body
    assert document["message"] and "\n" not in document["message"]


def test_a_paid_member_is_told_in_the_inbox_and_by_one_mail_once_the_server_is_up(
    mailing_node: NodeProcess, smtp: SmtpServer, people: dict[str, KeyPair]
) -> None:
    sam, ada = people["sam"], people["ada"]
    smtp.stop()  # down, whichever test ran before this one
    set_address(mailing_node, sam, "sam@example.org")
    mailing_node.pay(ada, sam, 500, memo=memo_words)
    told = wait_until(lambda: [n for n in notices(mailing_node, sam) if n["kind"] == "payment_received"],
                      mail_deadline_seconds, "the payment in Sam's inbox")
    assert told[0]["amount"] == 500 and told[0]["other"] == {"id": id_to_text("m", ada.public), "name": "Ada Birch"}
    assert not told[0]["read"]
    # The server is down: the mail waits, tried again with a backoff.
    wait_until(lambda: outbox_states(mailing_node) == ["waiting"], 5, "the mail waiting in the outbox")
    smtp.start()
    arrived = wait_until(lambda: smtp.inbox.to("sam@example.org"), mail_deadline_seconds, "the mail to Sam")
    assert "Integration" in arrived[0] and "Ada Birch paid you 5.00 HRS" in arrived[0]
    assert "https://riverside.example/wallet/inbox" in arrived[0]
    assert memo_words not in arrived[0]
    wait_until(lambda: outbox_states(mailing_node) == ["sent"], 5, "the mail marked sent")
    assert len(smtp.inbox.to("sam@example.org")) == 1
    assert memo_words.encode() not in (mailing_node.home / "notifications.db").read_bytes()


def test_a_node_killed_and_started_again_sends_nothing_twice_and_loses_nothing(
    mailing_node: NodeProcess, running_smtp: SmtpServer, people: dict[str, KeyPair]
) -> None:
    sam, ada = people["sam"], people["ada"]
    set_address(mailing_node, sam, "sam@example.org")
    before = len(running_smtp.inbox.to("sam@example.org"))
    mailing_node.pay(ada, sam, 101)
    wait_until(lambda: len(running_smtp.inbox.to("sam@example.org")) == before + 1, mail_deadline_seconds, "the 1.01 mail")
    wait_until(lambda: outbox_states(mailing_node)[-1] == "sent", 5, "the 1.01 mail marked sent")
    mailing_node.pay(ada, sam, 202)  # and killed at once: its notice and mail may not be written yet
    assert mailing_node.kill() == -9
    mailing_node.start()
    wait_until(lambda: len(running_smtp.inbox.to("sam@example.org")) >= before + 2, mail_deadline_seconds, "the 2.02 mail")
    wait_until(lambda: outbox_states(mailing_node)[-1] == "sent", 5, "the 2.02 mail marked sent")
    mails = running_smtp.inbox.to("sam@example.org")
    assert sum("1.01 HRS" in mail for mail in mails) == 1 and sum("2.02 HRS" in mail for mail in mails) == 1
    amounts = [n["amount"] for n in notices(mailing_node, sam) if n["kind"] == "payment_received"]
    assert amounts.count(101) == 1 and amounts.count(202) == 1


def test_a_kind_turned_off_is_neither_noticed_nor_mailed(
    mailing_node: NodeProcess, running_smtp: SmtpServer, people: dict[str, KeyPair]
) -> None:
    sam, ada = people["sam"], people["ada"]
    settings = set_address(mailing_node, sam, "sam@example.org", payment_received=False)
    assert settings["kinds"]["payment_received"] is False and settings["kinds"]["delegated"] is True
    before = len(running_smtp.inbox.to("sam@example.org"))
    paid = mailing_node.pay(ada, sam, 303)
    # The fold tells each event as the settings are when it reads it: wait until it has read this one.
    wait_until(lambda: folded_seq(mailing_node) >= paid["seq"], 5, "the 3.03 payment folded")
    set_address(mailing_node, sam, "sam@example.org", payment_received=True)
    mailing_node.pay(ada, sam, 404)
    wait_until(lambda: len(running_smtp.inbox.to("sam@example.org")) == before + 1, mail_deadline_seconds, "the 4.04 mail")
    assert "4.04 HRS" in running_smtp.inbox.to("sam@example.org")[-1]
    amounts = [n["amount"] for n in notices(mailing_node, sam) if n["kind"] == "payment_received"]
    assert 303 not in amounts and 404 in amounts


def test_a_recipient_the_server_refuses_for_good_is_given_up_at_once_and_recorded(
    mailing_node: NodeProcess, running_smtp: SmtpServer, people: dict[str, KeyPair]
) -> None:
    ada = people["ada"]
    refused_member = mailing_node.admit("Nell Oakes")
    set_address(mailing_node, refused_member, "nobody@example.org")
    mailing_node.pay(ada, refused_member, 150)
    wait_until(lambda: (rows := outbox_rows(mailing_node)) and rows[-1][0] == "failed", mail_deadline_seconds,
               "the mail given up")
    assert outbox_rows(mailing_node)[-1] == ("failed", 1, "recipient_refused")
    assert not running_smtp.inbox.to("nobody@example.org")
    assert [n["amount"] for n in notices(mailing_node, refused_member)] == [150]  # the inbox has it still


def test_the_inbox_pages_newest_first_and_marks_read(mailing_node: NodeProcess, people: dict[str, KeyPair]) -> None:
    sam, ada = people["sam"], people["ada"]
    for amount in (11, 12, 13):
        paid = mailing_node.pay(ada, sam, amount)
    wait_until(lambda: folded_seq(mailing_node) >= paid["seq"], 5, "the payments folded")
    first = send(mailing_node, sam, "GET", path(sam, "inbox?limit=2")).json()
    assert len(first["notices"]) == 2 and first["next"] is not None
    ids = [n["id"] for n in first["notices"]]
    assert ids == sorted(ids, reverse=True)
    second = send(mailing_node, sam, "GET", path(sam, f"inbox?limit=2&before={first['next']}")).json()
    assert all(n["id"] < ids[-1] for n in second["notices"])
    answer = send(mailing_node, sam, "POST", path(sam, "inbox/read"), {"ids": [ids[0]]})
    assert answer.status == 200 and answer.json()["unread"] == first["unread"] - 1
    assert send(mailing_node, sam, "POST", path(sam, "inbox/read"), {"all": True}).json() == {"unread": 0}
    assert all(n["read"] for n in notices(mailing_node, sam))


def test_a_delegation_and_a_decision_tell_whom_they_concern(mailing_node: NodeProcess, people: dict[str, KeyPair]) -> None:
    from tallystick.protocol.events import Delegate, ProposeWithPeriod

    sam, ada = people["sam"], people["ada"]
    mailing_node.act(ada, Delegate(to=sam.public))
    # Closing within the hour: both its opening and, at the timer's first pass, its closing soon.
    mailing_node.act(ada, ProposeWithPeriod(decision_type="poll", title="Market day", text="Which day?",
                                           deadline_ms=0, options=("Friday", "Saturday"), voting_period_ms=3_600_000))
    kinds = wait_until(lambda: {n["kind"] for n in notices(mailing_node, sam)} >= {"delegated", "decision_opened"} and
                       {n["kind"] for n in notices(mailing_node, sam)}, mail_deadline_seconds, "Sam told")
    assert {"delegated", "decision_opened"} <= kinds
    # Closing within a day: those who have not voted are reminded, once.
    wait_until(lambda: [n for n in notices(mailing_node, sam) if n["kind"] == "decision_closing"],
               mail_deadline_seconds, "the decision's closing reminder")
    delegated = next(n for n in notices(mailing_node, sam) if n["kind"] == "delegated")
    assert delegated["other"]["name"] == "Ada Birch"
    assert not any(n["kind"] == "decision_opened" for n in notices(mailing_node, ada))  # the proposer is not told


def test_each_route_is_the_member_concerneds_alone(mailing_node: NodeProcess, people: dict[str, KeyPair]) -> None:
    sam, ada, admin = people["sam"], people["ada"], people["admin"]
    set_address(mailing_node, sam, "sam@example.org")
    stranger = KeyPair.generate()
    routes = [("GET", path(sam, "inbox"), None), ("POST", path(sam, "inbox/read"), {"all": True}),
              ("GET", path(sam, "notifications"), None),
              ("PUT", path(sam, "notifications"), {"address": "mallory@example.org"})]
    for method, target, document in routes:
        refused(send(mailing_node, None, method, target, document), 401, "not_signed_in")
        refused(send(mailing_node, stranger, method, target, document), 401, "not_signed_in")
        refused(send(mailing_node, ada, method, target, document), 403, "not_concerned")
        refused(send(mailing_node, admin, method, target, document), 403, "not_concerned")
    assert send(mailing_node, sam, "GET", path(sam, "notifications")).json()["address"] == "sam@example.org"


@pytest.mark.parametrize(("method", "tail", "document"), [
    ("PUT", "notifications", {"address": "not an address"}),
    ("PUT", "notifications", {"address": "sam@example.org\r\nBcc: all@example.org"}),
    ("PUT", "notifications", {"address": "a" * 250 + "@example.org"}),
    ("PUT", "notifications", {"kinds": {"weather": True}}),
    ("PUT", "notifications", {"kinds": {"payment_received": "yes"}}),
    ("PUT", "notifications", {"addres": "sam@example.org"}),
    ("PUT", "notifications", [1, 2]),
    ("PUT", "notifications", {"language": "fr"}),
    ("PUT", "notifications", {"language": "ES"}),
    ("PUT", "notifications", {"language": 7}),
    ("POST", "inbox/read", {}),
    ("POST", "inbox/read", {"ids": [1], "all": True}),
    ("POST", "inbox/read", {"ids": list(range(1, 200))}),
    ("POST", "inbox/read", {"ids": [-1]}),
    ("POST", "inbox/read", {"ids": [2**70]}),
    ("GET", "inbox?limit=0", None),
    ("GET", "inbox?limit=51", None),
    ("GET", "inbox?before=abc", None),
    ("GET", "inbox?before=99999999999999999999", None),
])
def test_a_bad_input_is_refused_in_one_line_and_changes_nothing(
    mailing_node: NodeProcess, people: dict[str, KeyPair], method: str, tail: str, document: Any
) -> None:
    sam = people["sam"]
    settings = send(mailing_node, sam, "GET", path(sam, "notifications")).json()
    inbox = send(mailing_node, sam, "GET", path(sam, "inbox")).json()
    refused(send(mailing_node, sam, method, path(sam, tail), document), 400, "malformed")
    assert send(mailing_node, sam, "GET", path(sam, "notifications")).json() == settings
    assert send(mailing_node, sam, "GET", path(sam, "inbox")).json() == inbox  # nothing marked read


def test_a_listing_about_to_expire_is_told_to_its_member_once_by_inbox_and_mail(
    mailing_node: NodeProcess, running_smtp: SmtpServer, people: dict[str, KeyPair]
) -> None:
    sam = people["sam"]
    set_address(mailing_node, sam, "sam@example.org")
    made = send(mailing_node, sam, "POST", "/api/listings", {
        "kind": "offer", "title": "Plum-Jam-Of-The-Orchard", "category": "food", "price": 300, "expires_in_days": 1})
    assert made.status == 201, made.body
    listing = made.json()["id"]
    told = wait_until(lambda: [n for n in notices(mailing_node, sam) if n["kind"] == "listing_expiring"],
                      mail_deadline_seconds, "the expiry reminder")
    assert told[0]["ref"] == listing
    mail = wait_until(lambda: [m for m in running_smtp.inbox.to("sam@example.org") if "expires within three days" in m],
                      mail_deadline_seconds, "the expiry mail")
    assert "Plum-Jam" not in mail[0]
    # Later passes of the timer remind no more.
    time.sleep(0.5)
    assert len([n for n in notices(mailing_node, sam) if n["kind"] == "listing_expiring"]) == 1
    assert len([m for m in running_smtp.inbox.to("sam@example.org") if "expires within three days" in m]) == 1


def test_an_erased_member_leaves_no_byte_of_their_address_or_notices_in_the_file(
    mailing_node: NodeProcess, people: dict[str, KeyPair]
) -> None:
    ada = people["ada"]
    leaver = mailing_node.admit("Lark Venn")
    address = "lark-venn-7392@example.org"
    set_address(mailing_node, leaver, address)
    assert send(mailing_node, leaver, "PUT", path(leaver, "notifications"), {"language": "es"}).status == 200
    mailing_node.pay(ada, leaver, 100)
    wait_until(lambda: notices(mailing_node, leaver), mail_deadline_seconds, "the leaver told")
    mailing_node.pay(leaver, ada, 100)
    export = send(mailing_node, leaver, "GET", path(leaver, "export")).json()
    assert export["notifications"] == {"address": address, "kinds_off": [], "language": "es"}
    mailing_node.remove(leaver)
    erased = send(mailing_node, mailing_node.admin_key, "POST", path(leaver, "erase"), {})
    assert erased.status == 200, erased.body
    files = [mailing_node.home / name for name in ("notifications.db", "notifications.db-wal")]
    held = b"".join(file.read_bytes() for file in files if file.exists())
    assert address.encode() not in held and leaver.public not in held


def test_a_digest_names_the_new_listings_and_the_open_decisions_once_a_window_in_each_members_language(
    make_node: Any, running_smtp: SmtpServer
) -> None:
    from tallystick.protocol.events import ProposeWithPeriod

    # A node of its own, whose digest window is two seconds rather than a week.
    node = make_node(config={"smtp": {"host": "127.0.0.1", "port": running_smtp.port, "from": "tally@hill.example"},
                             "reminders_interval_ms": 200, "digest_interval_ms": 2000})
    reader, seller = node.admit("Iris Dale"), node.admit("Tom Reed")
    assert set_address(node, reader, "iris@example.org")["language"] == "en"  # the community's default
    set_address(node, seller, "tom@example.org")
    answer = send(node, reader, "PUT", path(reader, "notifications"), {"language": "es"})
    assert answer.status == 200 and answer.json()["language"] == "es", answer.body
    node.act(seller, ProposeWithPeriod(decision_type="poll", title="Harvest-Fair-Day", text="Which day?", deadline_ms=0,
                                       options=("Friday", "Saturday"), voting_period_ms=7 * 24 * 3_600_000))
    made = send(node, seller, "POST", "/api/listings", {"kind": "offer", "title": "Apple-Cider-Of-The-Hill",
                                                        "category": "food", "price": 250})
    assert made.status == 201, made.body

    def digest_naming_both(address: str) -> list[str]:
        return [m for m in running_smtp.inbox.to(address) if "Apple-Cider-Of-The-Hill" in m and "Harvest-Fair-Day" in m]

    spanish = wait_until(lambda: digest_naming_both("iris@example.org"), mail_deadline_seconds, "Iris's digest")[0]
    assert spanish.startswith("Integration: Esta semana: 1 anuncio nuevo en el mercado, 1 decisión abierta\n")
    assert "Nuevo en el mercado:\n- Apple-Cider-Of-The-Hill" in spanish and "Decisiones abiertas:\n- Harvest-Fair-Day" in spanish
    english = wait_until(lambda: digest_naming_both("tom@example.org"), mail_deadline_seconds, "Tom's digest")[0]
    assert "This week: 1 new listing in the market, 1 decision open" in english
    assert "New in the market:\n- Apple-Cider-Of-The-Hill" in english and "Decisions open:\n- Harvest-Fair-Day" in english
    # In the inbox too, the titles as the mail names them; the notice keeps counts only (the titles
    # are read when it is shown or mailed, so a listing withdrawn since is not named).
    digest = next(n for n in notices(node, reader) if n["kind"] == "weekly_digest" and n["units"] == 1)
    assert digest["detail"] == "1"
    assert digest["titles"] == {"listings": ["Apple-Cider-Of-The-Hill"], "decisions": ["Harvest-Fair-Day"]}
    assert b"Apple-Cider" not in (node.home / "notifications.db").read_bytes()
    withdrawn = send(node, seller, "DELETE", f"/api/listings/{made.json()['id']}")
    assert withdrawn.status == 200, withdrawn.body
    digest = next(n for n in notices(node, reader) if n["id"] == digest["id"])
    assert digest["titles"] == {"listings": [], "decisions": ["Harvest-Fair-Day"]}


def test_a_member_who_chooses_spanish_is_mailed_in_spanish_and_null_brings_back_the_communitys_language(
    mailing_node: NodeProcess, running_smtp: SmtpServer, people: dict[str, KeyPair]
) -> None:
    ada = people["ada"]
    olga = mailing_node.admit("Olga Ríos")
    settings = set_address(mailing_node, olga, "olga@example.org")
    assert settings["language"] == "en"
    answer = send(mailing_node, olga, "PUT", path(olga, "notifications"), {"language": "es"})
    assert answer.status == 200 and answer.json()["language"] == "es", answer.body
    # Left out, the language stays as chosen (the wallet's screen sends only the address and kinds).
    assert set_address(mailing_node, olga, "olga@example.org")["language"] == "es"
    mailing_node.pay(ada, olga, 7525)
    mail = wait_until(lambda: running_smtp.inbox.to("olga@example.org"), mail_deadline_seconds, "Olga's mail")[0]
    assert "Integration: Ada Birch te pagó 75,25 HRS" in mail
    assert "https://riverside.example/wallet/inbox" in mail and "desactívalos en tu monedero: Más, Avisos" in mail
    answer = send(mailing_node, olga, "PUT", path(olga, "notifications"), {"language": None})
    assert answer.status == 200 and answer.json()["language"] == "en", answer.body
    mailing_node.pay(ada, olga, 250)
    mail = wait_until(lambda: [m for m in running_smtp.inbox.to("olga@example.org") if "2.50" in m],
                      mail_deadline_seconds, "Olga's mail in English")[0]
    assert "Ada Birch paid you 2.50 HRS" in mail


def test_shares_tell_subscribers_traders_and_holders(mailing_node: NodeProcess) -> None:
    from tallystick.ledger.shares import enterprise_id
    from tallystick.protocol.events import (
        DeclareDividend,
        FounderIssue,
        Holders,
        OpenOfferWithPeriod,
        PlaceOrder,
        ProposeWithPeriod,
        RegisterEnterprise,
        ShareClass,
        Subscribe,
        Vote,
    )

    finn, gus = mailing_node.admit("Finn Marsh"), mailing_node.admit("Gus Tarrant")
    customer = ShareClass("Mill shares", "user", 1, 1, 100, False, True, None, True)
    founder = ShareClass("Founder shares", "founder", 3, 0, 100, False, False, None, True)
    registered = mailing_node.act(finn, RegisterEnterprise("Mill", (customer, founder), (FounderIssue(1, 10),)))["seq"]
    mill = enterprise_id(mailing_node.feed, registered)
    offer = mailing_node.act(finn, OpenOfferWithPeriod(mill, 0, 100, 5, 1, 5, 0, open_for_ms=1500))["seq"]
    mailing_node.act(gus, Subscribe(offer, 2))
    allotted = wait_until(lambda: [n for n in notices(mailing_node, gus) if n["kind"] == "offer_closed"],
                          mail_deadline_seconds, "the offer's close told")
    assert (allotted[0]["detail"], allotted[0]["units"], allotted[0]["ref"]) == ("allotted", 2, str(offer))
    assert allotted[0]["other"] == {"id": id_to_text("e", mill), "name": "Mill"}

    mailing_node.act(gus, PlaceOrder(mill, 0, "sell", 1, 120))
    mailing_node.act(finn, PlaceOrder(mill, 0, "buy", 1, 120))
    for trader, side in ((gus, "sold"), (finn, "bought")):
        filled = wait_until(lambda t=trader: [n for n in notices(mailing_node, t) if n["kind"] == "order_filled"],
                            mail_deadline_seconds, f"the trade told to the one who {side}")
        assert (filled[0]["detail"], filled[0]["units"], filled[0]["amount"]) == (side, 1, 120)

    proposed = mailing_node.act(finn, ProposeWithPeriod(
        decision_type="proposal", title="A dividend", text="From the offer.", deadline_ms=0,
        electorate=Holders(mill), effect=DeclareDividend(mill, 100), voting_period_ms=1500))["seq"]
    for holder in (finn, gus):
        mailing_node.act(holder, Vote(decision=proposed, position="agree"))
    paid = {}
    for holder in (finn, gus):
        told = wait_until(lambda h=holder: [n for n in notices(mailing_node, h) if n["kind"] == "dividend_paid"],
                          mail_deadline_seconds, "the dividend told")
        paid[holder.public] = told[0]["amount"]
    assert sum(paid.values()) == 100 and all(amount > 0 for amount in paid.values())
