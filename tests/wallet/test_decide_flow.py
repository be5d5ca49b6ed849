"""Deciding in the wallet, end to end, on a real node in a real Chromium at a phone's size: two
members who joined through the wallet (Wren and Moss) and two who act with their own keys as the
CLI would (the admin and Corin). Wren proposes; Moss delegates their vote to Wren for the topic and
Wren's vote counts for both; Moss takes it back and votes, then changes the vote; a limits change
proposed for too short a time is refused in one line and changes nothing; proposed again, everyone
agrees and it passes at once (unanimity), changing Moss's limit; a ranked poll is ranked with the
keyboard alone. Who may read a member's delegations (the route the Delegations screen reads) is
checked for every kind of reader. Every count is read from the node as well as from the screen."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tallystick.protocol.events import Delegate, Undelegate, Vote
from tallystick.protocol.ids import KeyPair, id_to_text

from helpers.browsing import fits_the_screen, wait_until
from helpers.nodes import NodeProcess, init_home

from .conftest import Phone, open_phone
from .test_wallet_flow import invite, join_through


@dataclass
class Community:
    node: NodeProcess
    wren: Phone  # joined through the wallet
    moss: Phone
    wren_id: str
    moss_id: str
    corin: KeyPair  # admitted by the admin, signs as the CLI does

    def people(self) -> int:
        return sum(1 for m in self.node.get("/api/members") if m["active"] and m["role"] in ("member", "admin"))

    def decision(self, seq: int) -> dict[str, Any]:
        return self.node.get(f"/api/decisions/{seq}")

    def every_key(self) -> list[KeyPair]:
        return [self.node.admin_key, self.corin]


@pytest.fixture(scope="module")
def community(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Community]:
    """A community of its own (so its electorate is exactly these four), with two phones joined."""
    directory = tmp_path_factory.mktemp("decide-node")
    home = directory / "home"
    created = init_home(home, debit_limit="50", credit_ceiling="1000")
    port = json.loads((home / "config.json").read_text())["listen_port"]
    node = NodeProcess(home=home, port=port, log_path=directory / "serve.log", created=created).start()
    phones = [open_phone(browser), open_phone(browser)]
    try:
        wren, moss = (next(phone) for phone in phones)
        wren_id = join_through(wren, invite(node, "--name", "Wren Alder"))
        moss_id = join_through(moss, invite(node, "--name", "Moss Birch"))
        yield Community(node, wren, moss, wren_id, moss_id, node.admit("Corin Vale"))
    finally:
        for phone in phones:
            next(phone, None)
        status = node.stop()
    assert status == 0, f"the node did not stop cleanly: {status}\n{node.output()}"


def open_screen(phone: Phone, community: Community, path: str, ready: str) -> Any:
    phone.page.goto(community.node.url + path, wait_until="load")
    wait_until(lambda: phone.page.locator(ready).count(), what=f"{path} drawn")
    return phone.page


def vote_in(phone: Phone, community: Community, seq: int, choice: str) -> None:
    page = open_screen(phone, community, f"/wallet/decision?id={seq}", "#vote-form")
    page.get_by_label(choice, exact=True).check()
    page.locator("#vote-send").click()
    wait_until(lambda: page.locator("#vote-counted").count(), what="the vote counted")


def took_part(page: Any) -> str:
    return page.locator("#took-part").inner_text()


def test_members_propose_delegate_vote_take_back_and_change_a_vote_and_see_the_tally_follow(
        community: Community) -> None:
    people = community.people()
    page = open_screen(community.wren, community, "/wallet/decide", "#open-decisions")
    assert page.get_by_role("navigation").get_by_role("link", name="Decide").get_attribute("aria-current") == "page"
    assert fits_the_screen(page)
    page.get_by_role("link", name="Propose").click()
    page.get_by_label("Title").fill("A bench by the pond")
    page.get_by_label("Text (optional)").fill("Oak, seats four, paid from the fair's takings.")
    page.get_by_label("Topic (optional)").fill("park")
    page.get_by_label("Open for").fill("3")
    assert fits_the_screen(page)
    community.wren.shoot("decide-propose")
    page.get_by_role("button", name="Propose it").click()
    wait_until(lambda: page.locator("#decision-title").count(), what="the new decision")
    seq = int(page.url.split("id=")[1])
    assert page.locator("#decision-title").inner_text() == "A bench by the pond"
    facts = page.locator("#decision-facts").inner_text()
    assert f"Every member: {people} people" in facts and "park" in facts and "50 %" in facts
    assert took_part(page) == f"0 of {people} took part"
    assert page.locator("#quorum").inner_text() == "Quorum of 50 % not reached yet."
    assert page.locator("#closes").inner_text().endswith(": 3 days left.")
    assert page.locator("#my-vote").inner_text() == "You have not voted."
    decision = community.decision(seq)
    assert (decision["type"], decision["topic"], decision["open"]) == ("proposal", "park", True)
    assert 3 * 24 * 3600 * 1000 - 60_000 < decision["time_left_ms"] <= 3 * 24 * 3600 * 1000

    # Moss lets Wren vote for them on the park.
    moss = open_screen(community.moss, community, "/wallet/delegate", "#given")
    assert moss.locator("#given").inner_text() == "You have not delegated your vote."
    moss.get_by_label("To", exact=True).fill("wren")
    moss.get_by_role("button", name="Delegate to Wren Alder").click()
    moss.get_by_label("Topic (optional)").fill("park")
    moss.get_by_role("button", name="Delegate", exact=True).click()
    wait_until(lambda: moss.locator("#delegate-done").count(), what="the delegation made")
    assert moss.locator("#delegate-done").inner_text() == "Delegated to Wren Alder."
    assert moss.locator("#given").inner_text().startswith("Wren Alder, for decisions on “park”")
    assert fits_the_screen(moss)
    community.moss.shoot("decide-delegate")
    received = open_screen(community.wren, community, "/wallet/delegate", "#received")
    assert received.locator("#received").inner_text() == "Moss Birch, for decisions on “park”"

    # Wren agrees: their vote counts for Moss too.
    vote_in(community.wren, community, seq, "Agree")
    page = community.wren.page
    assert took_part(page) == f"2 of {people} took part"
    assert page.locator("#quorum").inner_text() == "Quorum of 50 % reached."
    assert page.locator("#my-vote").inner_text() == "You voted: Agree."
    assert page.get_by_role("button", name="Change my vote").count() == 1
    community.wren.shoot("decide-decision")
    tally = community.decision(seq)["tally"]
    assert (tally["participants"], tally["direct"], tally["positions"]["agree"]) == (2, 1, 2)
    moss = open_screen(community.moss, community, f"/wallet/decision?id={seq}", "#my-vote")
    assert moss.locator("#my-vote").inner_text() == "You have not voted: Wren Alder, your delegate, votes for you."

    # Moss takes it back: only Wren's own vote is left.
    moss = open_screen(community.moss, community, "/wallet/delegate", "#given")
    moss.get_by_role("button", name="Take back your delegation for decisions on “park”").click()
    wait_until(lambda: moss.locator("#delegate-done").count(), what="the delegation taken back")
    assert moss.locator("#given").inner_text() == "You have not delegated your vote."
    assert community.decision(seq)["tally"]["participants"] == 1

    # Moss disagrees, then changes their mind: the later vote replaces the earlier.
    vote_in(community.moss, community, seq, "Disagree")
    assert community.moss.page.locator("#my-vote").inner_text() == "You voted: Disagree."
    assert community.decision(seq)["tally"]["positions"]["disagree"] == 1
    vote_in(community.moss, community, seq, "Agree")
    tally = community.decision(seq)["tally"]
    assert (tally["participants"], tally["positions"]["agree"], tally["positions"]["disagree"]) == (2, 2, 0)
    assert took_part(community.moss.page) == f"2 of {people} took part"
    votes = {vote["member"]: vote["position"] for vote in community.decision(seq)["votes"]}
    assert votes == {community.wren_id: "agree", community.moss_id: "agree"}

    listed = open_screen(community.wren, community, "/wallet/decide", "#open-decisions")
    row = listed.locator("#open-decisions li", has_text="A bench by the pond")
    assert f"2 of {people} took part" in row.inner_text() and "left" in row.inner_text()
    community.wren.shoot("decide-list")
    assert community.wren.errors == [] and community.moss.errors == []


def test_a_limits_change_too_short_is_refused_in_one_line_and_when_everyone_agrees_it_passes(
        community: Community) -> None:
    page = open_screen(community.wren, community, "/wallet/propose", "#propose-heading")
    page.get_by_label("Title").fill("A bigger limit for Moss")
    page.get_by_label("What it changes if it passes").select_option("set_limits")
    page.get_by_label("Which member").fill("moss")
    page.get_by_role("button", name="Choose Moss Birch").click()
    page.get_by_label("Debit limit, in HRS").fill("80")
    wait_until(lambda: "at least 2 days" in page.locator("#propose-period-hint").inner_text(), what="the least time")
    page.get_by_label("Open for").fill("1")
    page.get_by_label("Unit of time").select_option("hours")
    before = community.node.snapshot()
    page.get_by_role("button", name="Propose it").click()
    alert = page.get_by_role("alert")
    wait_until(alert.count, what="the refusal")
    assert alert.inner_text().startswith("The community's floors ask for more time")
    assert page.evaluate("document.activeElement.id") == "propose-period"
    assert community.node.snapshot() == before
    community.wren.shoot("decide-refused")

    page.get_by_label("Open for").fill("3")
    page.get_by_label("Unit of time").select_option("days")
    page.get_by_role("button", name="Propose it").click()
    wait_until(lambda: page.locator("#decision-title").count(), what="the new decision")
    seq = int(page.url.split("id=")[1])
    assert page.locator("#decision-effect").inner_text() == ("If it passes: Sets Moss Birch's limits: may go down to "
                                                             "-80.00 HRS, may hold up to the community's default.")
    assert community.decision(seq)["effect"]["debit_limit_minor"] == 8000

    vote_in(community.wren, community, seq, "Agree")
    vote_in(community.moss, community, seq, "Agree")
    assert community.decision(seq)["open"]
    for key in community.every_key():
        community.node.act(key, Vote(decision=seq, position="agree"))
    wait_until(lambda: community.decision(seq)["outcome"] == "passed", what="the close by unanimity")
    (account,) = community.node.get(f"/api/balances?account={community.moss_id}")
    assert account["debit_limit"] == 8000

    page = open_screen(community.wren, community, f"/wallet/decision?id={seq}", "#decision-facts")
    assert page.locator("#outcome").inner_text() == "Passed"
    assert page.locator("#decision-effect").inner_text().startswith("What it was to change: Sets Moss Birch's limits")
    assert page.locator("#vote-form").count() == 0
    assert fits_the_screen(page)
    community.wren.shoot("decide-passed")
    listed = open_screen(community.wren, community, "/wallet/decide", "#closed-decisions")
    assert "Passed" in listed.locator("#closed-decisions li", has_text="A bigger limit for Moss").inner_text()
    home = open_screen(community.moss, community, "/wallet", "#limits")
    assert "-80.00 HRS" in home.locator("#limits").inner_text()


def test_a_ranked_poll_is_proposed_and_then_ranked_and_voted_with_the_keyboard_alone(community: Community) -> None:
    page = open_screen(community.wren, community, "/wallet/propose", "#propose-heading")
    page.get_by_label("Kind").select_option("poll")
    assert page.locator("#effect-part").is_hidden() and page.locator("#poll-part").is_visible()
    page.get_by_label("Title").fill("Market day")
    page.get_by_label("Text (optional)").fill("Which day should the market stand?")
    page.get_by_label("Option 1", exact=True).fill("Tuesday")
    page.get_by_role("button", name="Propose it").click()
    assert page.get_by_role("alert").inner_text() == "A poll needs at least two options."
    assert page.evaluate("document.activeElement.id") == "propose-option-2"
    page.get_by_label("Option 2", exact=True).fill("Saturday")
    assert page.get_by_role("alert").count() == 0  # the line goes once the field it named is changed
    page.get_by_role("button", name="Add an option").click()
    assert page.evaluate("document.activeElement.id") == "propose-option-3"
    page.keyboard.type("Sunday")
    page.get_by_label("Members choose").select_option("ranked")
    page.get_by_label("Open for").fill("7")
    community.wren.shoot("decide-propose-poll")
    page.get_by_role("button", name="Propose it").click()
    wait_until(lambda: page.locator("#decision-title").count(), what="the new poll")
    seq = int(page.url.split("id=")[1])
    poll = community.decision(seq)
    assert (poll["type"], poll["options"], poll["ranked"], poll["multiple"]) == (
        "poll", ["Tuesday", "Saturday", "Sunday"], True, False)
    # The texts were committed in the log: the node opened them, the signed event holds digests.
    [event] = [e for e in community.node.log() if e["seq"] == seq]
    assert event["body"]["kind"] == "act_sealed"
    assert event["body"]["intent"]["action"]["title"]["kind"] == "committed"

    page = open_screen(community.moss, community, f"/wallet/decision?id={seq}", "#vote-form")

    def focused() -> str:
        return page.evaluate("document.activeElement.getAttribute('aria-label') || document.activeElement.id")

    def tab_to(label: str) -> None:
        for _ in range(60):
            page.keyboard.press("Tab")
            if focused() == label:
                return
        raise AssertionError(f"Tab never reached {label!r}")

    tab_to("Add Sunday")
    page.keyboard.press("Enter")
    assert focused() == "Move Sunday up" or focused().startswith("Take Sunday out")
    tab_to("Add Tuesday")
    page.keyboard.press("Enter")
    assert focused() == "Move Tuesday up"
    page.keyboard.press("Enter")  # Tuesday above Sunday; the focus stays on what moved
    assert page.locator("#rank-status").inner_text() == "Tuesday is number 1."
    assert page.locator("#ranking").inner_text().splitlines()[0].startswith("1. Tuesday")
    community.moss.shoot("decide-ranked")
    tab_to("vote-send")
    page.keyboard.press("Enter")
    wait_until(lambda: page.locator("#vote-counted").count(), what="the vote counted")
    assert page.evaluate("document.activeElement.id") == "vote-counted"
    assert page.locator("#my-vote").inner_text() == "You chose: Tuesday, Sunday."
    [vote] = community.decision(seq)["votes"]
    assert vote == {"member": community.moss_id, "position": None, "options": [0, 2]}
    assert community.decision(seq)["tally"]["option_counts"] == [3, 0, 2]  # Borda: first of 3 scores 3
    assert "Ahead: Tuesday" in page.locator("#tally").inner_text()


def test_a_members_delegations_are_read_by_that_member_and_admins_alone(community: Community) -> None:
    node = community.node
    corin = id_to_text("m", community.corin.public)
    admin = id_to_text("m", node.admin_key.public)
    node.act(community.corin, Delegate(to=node.admin_key.public, topic="roads"))
    try:
        path = f"/api/members/{corin}/delegations"
        mine = node.get_as(community.corin, path)
        assert mine.status == 200, mine.body[:300]
        assert mine.json() == {"member": corin, "given": [{"topic": "roads", "to": {"id": admin, "name": node.get(
            f"/api/members/{admin}")["name"]}}], "received": [], "received_total": 0}
        by_admin = node.get_as(node.admin_key, path)
        assert by_admin.status == 200 and by_admin.json() == mine.json()
        received = node.get_as(node.admin_key, f"/api/members/{admin}/delegations").json()
        assert received["received"] == [{"topic": "roads", "from": {"id": corin, "name": "Corin Vale"}}]
        # Another member may name Corin, but not read whom Corin follows.
        other = node.get_as(community.corin, f"/api/members/{community.wren_id}/delegations")
        assert (other.status, other.json()["error"]) == (403, "not_visible")
        # A stranger and a key that is no member's cannot even name Corin: as for no one.
        for reader in (None, KeyPair.generate()):
            refused = node.get_as(reader, path)
            assert (refused.status, refused.json()["error"]) == (400, "bad_id"), refused.body[:300]
            assert b"Corin" not in refused.body
        for bad in ("m_nobody", "No Such Person", "m_" + "a" * 52):
            refused = node.get_as(community.corin, f"/api/members/{bad.replace(' ', '%20')}/delegations")
            assert (refused.status, refused.json()["error"]) == (400, "bad_id"), (bad, refused.body[:300])
    finally:
        node.act(community.corin, Undelegate(topic="roads"))
    assert node.get_as(community.corin, f"/api/members/{corin}/delegations").json()["given"] == []
