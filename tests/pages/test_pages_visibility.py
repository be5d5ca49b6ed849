"""The visibility policy on the pages (issue 15), against the real cluster: every page route read as
a stranger, as a member, as the member concerned and as an admin, with the community's default
policy (names, votes, decisions and holdings to members; balances and history to the member
concerned and the admins; the log to admins). What may not be seen is searched for in the raw
HTML, so no chart, QR code, title or link carries it; what may be seen is there. A stranger's view
is read in the real browser too.

The community gets, for this module alone: two new members (Payer, who pays Payee with a memo),
a third (Onlooker) who is party to nothing, an enterprise founded by Payer (a holding) with an
open offer, and a proposal Payer voted on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from tallystick.ledger.shares import enterprise_id
from tallystick.node import pages
from tallystick.node.home import write_key
from tallystick.protocol.events import (
    AdmitMember,
    FounderIssue,
    OpenOffer,
    Propose,
    RegisterEnterprise,
    ShareClass,
    Transfer,
    Vote,
)
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text

from helpers.browsing import Browsing, Community, browsing_in, fits_the_screen, phone_width_px, sign_as
from helpers.support import http, key_from_file, signed_get

# Every page route a node serves, with the address this test reads for each (checked against the
# router, so a new page must be added here).
page_routes = ("/", "/members/{reference}", "/node", "/enterprises/{reference}", "/payments",
               "/federations/{reference}", "/report")


@dataclass
class Scene:
    community: Community
    payer: str  # member ids (m_…)
    payee: str
    payer_name: str
    payee_name: str
    onlooker_key: Path
    payer_key: Path
    memo: str
    payer_balance_text: str
    enterprise: str
    decision_title: str

    def addresses(self, federation: str) -> dict[str, str]:
        return {"/": "/", "/members/{reference}": f"/members/{self.payer}", "/node": "/node",
                "/enterprises/{reference}": f"/enterprises/{self.enterprise}", "/payments": "/payments",
                "/federations/{reference}": f"/federations/{federation}", "/report": "/report"}


@pytest.fixture(scope="module")
def scene(cluster: list[Community], tmp_path_factory: pytest.TempPathFactory) -> Scene:
    community = cluster[0]
    directory = tmp_path_factory.mktemp("visibility")
    tag = str(time.time_ns())[-6:]
    keys = {}
    for role in ("Payer", "Payee", "Onlooker"):
        key = KeyPair.generate()
        write_key(directory / f"{role}.key", key)
        community.act(community.admin_key, AdmitMember(member=key.public, name=f"{role}{tag}"))
        keys[role] = key
    memo = f"secret memo {tag}"
    community.act(directory / "Payer.key", Transfer(to=keys["Payee"].public, amount_minor=1337, memo=memo))
    shares = ShareClass("Vis shares", "founder", 1, 1, 100, False, False, None, False)
    registered = community.act(directory / "Payer.key",
                               RegisterEnterprise(f"Visible Works {tag}", (shares,), (FounderIssue(0, 7),)))
    works = enterprise_id(id_from_text("n", community.node), registered["seq"])
    community.act(directory / "Payer.key", OpenOffer(works, 0, 100, 20, 5, 10, int(time.time() * 1000) + 3600_000))
    title = f"Paint the hall {tag}"
    proposed = community.act(community.admin_key,
                             Propose("proposal", title, f"the text of {tag}", int(time.time() * 1000) + 3600_000))
    community.act(directory / "Payer.key", Vote(decision=proposed["seq"], position="block"))
    return Scene(community, id_to_text("m", keys["Payer"].public), id_to_text("m", keys["Payee"].public),
                 f"Payer{tag}", f"Payee{tag}", directory / "Onlooker.key", directory / "Payer.key", memo,
                 community.money(-1337), id_to_text("e", works), title)


def read(scene: Scene, reader: str, path: str) -> tuple[int, str]:
    """The page at `path` as `reader` (stranger, member, concerned, admin) gets it."""
    community = scene.community
    if reader == "stranger":
        answer = http("GET", community.url + path)
        return answer.status, answer.body.decode()
    key = {"member": scene.onlooker_key, "concerned": scene.payer_key, "admin": community.admin_key}[reader]
    return community.signed_page(key, path)


def test_the_list_of_page_routes_is_the_routers() -> None:
    app = web.Application()
    pages.add_routes(app)
    served = {resource.canonical for resource in app.router.resources()}
    assert served == set(page_routes)


@pytest.mark.parametrize("route", page_routes)
def test_a_stranger_sees_no_name_memo_balance_or_vote_on_any_page(scene: Scene, route: str) -> None:
    federation = scene.community.get("/api/federations")[0]["id"]
    status, html = read(scene, "stranger", scene.addresses(federation)[route])
    assert status in (200, 404), (route, status)
    for secret in (scene.memo, scene.payer_name, scene.payee_name, scene.payer_balance_text, 'class="position"',
                   f"the text of {scene.decision_title[-6:]}", "count-block"):
        assert secret not in html, (route, secret)


@pytest.mark.parametrize("reader", ["member", "concerned", "admin"])
@pytest.mark.parametrize("route", page_routes)
def test_every_page_answers_each_signed_reader(scene: Scene, route: str, reader: str) -> None:
    federation = scene.community.get("/api/federations")[0]["id"]
    status, html = read(scene, reader, scene.addresses(federation)[route])
    assert status == 200, (route, reader, status)
    assert "Sign in to see members' names" not in html


def test_a_stranger_sees_the_aggregates_and_one_line_to_sign_in(scene: Scene) -> None:
    status, html = read(scene, "stranger", "/")
    assert status == 200
    assert html.count("Sign in to see members' names") == 1
    assert 'class="active-members"' in html and 'id="circulation"' in html
    assert f"Visible Works {scene.memo[-6:]}" in html  # enterprises and their open offers are everyone's
    assert scene.decision_title in html  # a decision's title is everyone's; its text and tally are not
    assert "tally sign-in" in html and 'href="/sign-in"' in html
    assert 'data-member="' not in html.split('id="community-accounts"')[0]  # no person rows


def test_a_members_page_is_a_404_to_a_stranger_whether_or_not_they_exist(scene: Scene) -> None:
    hidden_status, hidden = read(scene, "stranger", f"/members/{scene.payer}")
    by_name_status, by_name = read(scene, "stranger", f"/members/{scene.payer_name}")
    unknown_status, unknown = read(scene, "stranger", f"/members/Nobody{scene.memo[-6:]}")
    assert hidden_status == by_name_status == unknown_status == 404
    assert "visible to you" in hidden and "visible to you" in unknown
    assert scene.payer_name not in by_name.replace(f"<code>{scene.payer_name}</code>", "")  # only what was typed


def test_a_member_sees_names_and_votes_but_not_anothers_balance_or_memo(scene: Scene) -> None:
    status, html = read(scene, "member", f"/members/{scene.payer}")
    assert status == 200
    assert scene.payer_name in html
    assert '<span class="position">block</span>' in html  # votes: members
    assert scene.memo not in html and scene.payer_balance_text not in html
    assert 'data-minor="' not in html.split('id="history"')[0].split('id="account"')[1]
    _, community_page = read(scene, "member", "/")
    assert scene.payer_name in community_page and scene.payee_name in community_page
    assert scene.memo not in community_page and scene.payer_balance_text not in community_page
    assert f"the text of {scene.decision_title[-6:]}" in community_page  # decisions: members


def test_the_member_concerned_and_an_admin_see_the_balance_and_the_memo(scene: Scene) -> None:
    for reader in ("concerned", "admin"):
        status, html = read(scene, reader, f"/members/{scene.payer}")
        assert status == 200
        assert scene.memo in html and scene.payer_balance_text in html, reader
        assert '<span class="position">block</span>' in html
    _, activity = read(scene, "admin", "/")
    assert scene.memo in activity and scene.payer_balance_text in activity  # the log: admins


def test_who_holds_what_is_for_members(scene: Scene) -> None:
    path = f"/enterprises/{scene.enterprise}"
    _, stranger = read(scene, "stranger", path)
    _, member = read(scene, "member", path)
    assert scene.payer_name not in stranger and scene.payer not in stranger.split('id="register"')[-1]
    assert scene.payer_name in member and f'data-holder="{scene.payer}"' in member


def test_downloads_are_linked_only_to_who_may_read_them_and_the_report_from_every_page(scene: Scene) -> None:
    statement = f'href="/api/exports/statement/{scene.payer}?from='
    for reader in ("concerned", "admin"):
        _, page = read(scene, reader, f"/members/{scene.payer}")
        assert statement in page, reader
    _, page = read(scene, "member", f"/members/{scene.payer}")
    assert "/api/exports/" not in page  # another member may not read the statement: no link
    # The enterprise's accounts: its manager (Payer) and an admin; neither another member nor a stranger.
    path = f"/enterprises/{scene.enterprise}"
    accounts = f'href="/api/exports/enterprises/{scene.enterprise}?from='
    for reader, linked in (("concerned", True), ("admin", True), ("member", False), ("stranger", False)):
        _, page = read(scene, reader, path)
        assert (accounts in page) == linked, reader
    _, page = read(scene, "concerned", path)
    link = page.split(accounts[6:], 1)[1].split('"', 1)[0].replace("&amp;", "&")
    url = f"{scene.community.url}/api/exports/enterprises/{scene.enterprise}?from={link}"
    manager = signed_get(url, key_from_file(scene.payer_key))
    assert manager.status == 200 and manager.headers["content-disposition"].startswith("attachment")
    assert signed_get(url, key_from_file(scene.onlooker_key)).json()["error"] == "not_visible"
    # The yearly report: in every page's navigation, and said in words on the community page.
    _, page = read(scene, "stranger", "/")
    assert '<a href="/report">Yearly report</a>' in page and '<a class="report-link" href="/report">' in page


def test_the_strangers_view_in_the_browser(scene: Scene, stranger_browsing: Browsing) -> None:
    community = scene.community
    assert stranger_browsing.open(community.url + "/").status == 200
    assert stranger_browsing.text(".names-hidden").endswith("Sign in to see members' names")
    assert stranger_browsing.page.locator("table.members").count() == 0
    assert stranger_browsing.open(f"{community.url}/members/{scene.payer}").status == 404
    assert "visible to you" in stranger_browsing.text(".not-found")
    stranger_browsing.page.set_viewport_size({"width": phone_width_px, "height": 800})
    federation = community.get("/api/federations")[0]["id"]
    for route, path in scene.addresses(federation).items():
        stranger_browsing.open(community.url + path)
        assert fits_the_screen(stranger_browsing.page), f"{route} is wider than a phone for a stranger"
    assert stranger_browsing.dialogs == [] and stranger_browsing.errors == []


def test_pages_read_as_a_member_through_a_signed_browser(scene: Scene, browser: Any) -> None:
    """A member's browser (each request signed, as a session will carry it) sees what the policy
    lets that member see: names and, on their own page, their balance."""
    for found in browsing_in(browser, javascript=True):
        sign_as(found, [scene.community], lambda community: scene.payer_key)
        assert found.open(f"{scene.community.url}/members/{scene.payer}").status == 200
        assert found.text("#account .balance") == scene.payer_balance_text
        assert scene.memo in found.text("#history")
