"""The market in the wallet, on a real node in a real Chromium at a phone's size (docs/market.md):
a member lists an offer with a picture (a JPEG carrying an EXIF GPS position), another member finds
it by search, opens it and pays for it from the listing, the payment's memo naming it; its member
withdraws it, and it is gone from the other's search. An admin lists for the enterprise they manage
(its account is the payee) and hides a member's listing with a reason, which its member reads.
Screenshots `market-*` at 360 and 1280 px."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tallystick.protocol.events import Transfer
from tallystick.protocol.ids import id_from_text

from helpers.browsing import fits_the_screen, wait_until
from helpers.nodes import NodeProcess, init_home
from helpers.support import signed_get, tally

from .conftest import Phone, open_phone
from .test_admin_flow import bind_admin_device
from .test_wallet_flow import invite, join_through

title = "Rye sourdough loaf"
# A phone of its own for each member, closed when its block ends.
phone_of = contextlib.contextmanager(open_phone)


def photo_with_gps(path: Path) -> Path:
    picture = Image.new("RGB", (2400, 1600), (196, 150, 96))
    for y in range(0, 1600, 80):
        picture.paste((120, 80, 40), (0, y, 2400, y + 30))
    exif = Image.Exif()
    exif[0x010F] = "Camera-Of-The-Seller"
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.0)}
    picture.save(path, format="JPEG", quality=85, exif=exif.tobytes())
    return path


def picture_loaded(phone: Phone, selector: str) -> bool:
    return phone.page.evaluate(f"""() => {{
      const image = document.querySelector({selector!r});
      return Boolean(image && image.complete && image.naturalWidth > 0);
    }}""")


def test_a_member_lists_an_offer_another_finds_it_and_pays_for_it_and_a_withdrawn_one_is_gone(
        browser: Any, wallet_node: NodeProcess, tmp_path: Path) -> None:
    seller_link = invite(wallet_node, "--name", "Hazel Moor", "--expires", "1d")
    buyer_link = invite(wallet_node, "--name", "Pip Larkin", "--expires", "1d")
    with phone_of(browser) as seller:
        seller_id = join_through(seller, seller_link)
        page = seller.page
        page.get_by_role("navigation").get_by_role("link", name="Market").click()
        wait_until(lambda: page.get_by_role("link", name="List something").count(), what="the market")
        assert fits_the_screen(page)
        page.get_by_role("link", name="List something").click()
        wait_until(lambda: page.get_by_label("Title").count(), what="the listing form")
        page.get_by_role("button", name="List it").click()
        assert page.get_by_role("alert").inner_text() == "Give it a title."
        page.get_by_label("Title").fill(title)
        page.get_by_label("Description (optional)").fill("Baked on Friday mornings.\nBring a bag.")
        page.get_by_label("Category").select_option("food")
        page.get_by_label("Price in HRS (optional)").fill("4,5x")
        page.get_by_role("button", name="List it").click()
        assert page.get_by_role("alert").inner_text() == "Write the amount in digits, like 12.50."
        page.get_by_label("Price in HRS (optional)").fill("4,50")
        page.get_by_label("Place (optional)").fill("Mill Lane")
        page.get_by_label("Picture (optional)").set_input_files(str(photo_with_gps(tmp_path / "loaf.jpg")))
        assert fits_the_screen(page)
        seller.shoot("market-list")
        page.get_by_role("button", name="List it").click()
        wait_until(lambda: page.locator("#listing-title").count(), what="the listing, listed")
        assert page.locator("#listing-title").inner_text() == title
        assert "Listed: members find it in the market." in page.locator("#listing-status").inner_text()
        assert page.locator("#listing-price").inner_text() == "4.50 HRS"
        assert page.locator("#listing-author").inner_text() == "You"
        assert page.get_by_role("link", name="Pay for this").count() == 0
        assert "null" not in page.locator("main").inner_text() and "undefined" not in page.locator("main").inner_text()
        wait_until(lambda: picture_loaded(seller, ".listing-picture"), what="the picture, made small")
        assert fits_the_screen(page)
        seller.shoot("market-listing-own")
        listing_id = page.url.split("id=", 1)[1]

        # Its member edits it: the form comes filled in, the expiry stays.
        expires = page.locator("#listing-expires").inner_text()
        page.get_by_role("link", name="Edit").click()
        wait_until(lambda: page.get_by_label("Title").count(), what="the edit form")
        assert page.get_by_label("Title").input_value() == title
        assert page.get_by_label("Price in HRS (optional)").input_value() == "4.50"
        page.get_by_label("Description (optional)").fill("Baked on Friday mornings.\nBring a bag, please.")
        page.get_by_role("button", name="Save").click()
        wait_until(lambda: "Saved." in page.locator("main").inner_text(), what="the edited listing")
        assert "Bring a bag, please." in page.locator("#listing-description").inner_text()
        assert page.locator("#listing-expires").inner_text() == expires

        # What the node keeps of the picture: small, WebP, no EXIF.
        listed = wallet_node.get(f"/api/listings/{listing_id}")
        assert listed["picture"]["width"] == 1024
        served = wallet_node.signed(wallet_node.admin_key, "GET", listed["picture"]["url"])
        assert served.headers["content-type"] == "image/webp"
        assert b"Camera-Of-The-Seller" not in served.body
        with Image.open(io.BytesIO(served.body)) as kept:
            assert not kept.getexif() and "exif" not in kept.info

        with phone_of(browser) as buyer:
            buyer_id = join_through(buyer, buyer_link)
            wallet_node.act(wallet_node.admin_key, Transfer(to=id_from_text("m", buyer_id), amount_minor=2000))
            other = buyer.page
            other.get_by_role("navigation").get_by_role("link", name="Market").click()
            search = other.get_by_label("Search", exact=True)
            wait_until(lambda: search.count(), what="the market's search")
            search.fill("SOURDOUGH")
            other.get_by_role("button", name="Search", exact=True).click()
            found = other.locator("#market-results").get_by_role("link", name=title)
            wait_until(lambda: found.count() == 1 and other.locator("#market-results li").count() == 1,
                       what="the listing found by search")
            assert "4.50 HRS" in other.locator("#market-results").inner_text()
            assert "Hazel Moor" in other.locator("#market-results").inner_text()
            wait_until(lambda: picture_loaded(buyer, "#market-results .thumb"), what="the thumbnail")
            assert fits_the_screen(other)
            buyer.shoot("market-search")
            other.get_by_label("Category").select_option("lessons")
            other.get_by_role("button", name="Search", exact=True).click()
            wait_until(lambda: "Nothing listed matches" in other.locator("#market-results").inner_text(),
                       what="no lesson matches")
            other.get_by_label("Category").select_option("food")
            other.get_by_label("Place").fill("mill")
            other.get_by_role("button", name="Search", exact=True).click()
            wait_until(lambda: found.count() == 1, what="found by category and place")
            found.click()
            wait_until(lambda: other.locator("#listing-title").count(), what="the listing")
            assert other.locator("#listing-author").inner_text() == "Hazel Moor"
            assert "Bring a bag, please." in other.locator("#listing-description").inner_text()
            assert "null" not in other.locator("main").inner_text()
            wait_until(lambda: picture_loaded(buyer, ".listing-picture"), what="the picture")
            assert fits_the_screen(other)
            buyer.shoot("market-listing")

            # Pay for this: the pay screen filled in, the memo the listing's title.
            other.get_by_role("link", name="Pay for this").click()
            wait_until(lambda: other.locator("#payee").count(), what="the payee from the listing")
            assert other.locator("#payee").inner_text() == "Hazel Moor"
            assert other.get_by_label("Amount in HRS").input_value() == "4.50"
            assert other.get_by_label("Note (optional)").input_value() == title
            buyer.shoot("market-pay")
            other.get_by_role("button", name="Review").click()
            other.get_by_role("button", name="Pay now").click()
            wait_until(lambda: other.locator("#receipt").count(), what="the receipt")
            assert "4.50 HRS to Hazel Moor" in other.locator("main").inner_text()
            statement = wallet_node.get(f"/api/members/{seller_id}/history?limit=1")
            assert statement["rows"][0]["memo"] == title and statement["rows"][0]["amount"] == 450
            assert statement["rows"][0]["counterparty"] == buyer_id

            # Its member withdraws it: gone from the other member's search.
            page.reload(wait_until="load")
            wait_until(lambda: page.get_by_role("button", name="Withdraw").count(), what="the own listing")
            page.get_by_role("button", name="Withdraw").click()
            assert page.get_by_role("button", name="Keep it").evaluate("b => b === document.activeElement")
            seller.shoot("market-withdraw")
            page.get_by_role("button", name="Withdraw it").click()
            wait_until(lambda: "You have listed nothing yet." in page.locator("main").inner_text(),
                       what="the own listings, empty")
            other.get_by_role("navigation").get_by_role("link", name="Market").click()
            wait_until(lambda: other.get_by_label("Search", exact=True).count(), what="the market again")
            other.get_by_label("Search", exact=True).fill("sourdough")
            other.get_by_role("button", name="Search", exact=True).click()
            wait_until(lambda: "Nothing listed matches" in other.locator("#market-results").inner_text(),
                       what="the withdrawn listing gone from search")
            buyer.shoot("market-none")
            other.goto(f"{wallet_node.url}/wallet/listing?id={listing_id}", wait_until="load")
            alert = other.get_by_role("alert")
            wait_until(alert.count, what="the gone listing's line")
            assert alert.inner_text() == "This listing is gone (withdrawn, expired or hidden): go back to the market."
            assert buyer.errors == [] and seller.errors == []
            for request in buyer.requests + seller.requests:
                assert "sourdough" not in request["url"].lower() or "/api/listings?" in request["url"]


@pytest.fixture(scope="module")
def market_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A community of its own, so the admin's wallet device added here is no other test's business."""
    directory = tmp_path_factory.mktemp("market-node")
    home = directory / "home"
    created = init_home(home, debit_limit="50", credit_ceiling="1000")
    port = json.loads((home / "config.json").read_text())["listen_port"]
    node = NodeProcess(home=home, port=port, log_path=directory / "serve.log", created=created).start()
    yield node
    assert node.stop() == 0, node.output()


def test_an_admin_lists_for_their_enterprise_and_hides_a_members_listing_with_a_reason(
        browser: Any, market_node: NodeProcess) -> None:
    node = market_node
    registered = tally("--node", node.url, "--key", node.home / "admin.key", "enterprise", "register", "Weir Bakery",
                       "--class", "Member shares:user:par=1.00:votes=1:dividend=0:withdrawable:cap=60:local", "--json")
    assert registered.returncode == 0, registered.stderr
    enterprise = next(item for item in node.get("/api/enterprises") if item["name"] == "Weir Bakery")
    member = node.admit("Ossian Vale")
    spam = node.signed(member, "POST", "/api/listings", json.dumps({
        "kind": "offer", "title": "Miracle cure", "category": "care", "price": 9900}).encode(), "application/json")
    assert spam.status == 201, spam.body
    spam_id = spam.json()["id"]
    with phone_of(browser) as admin:
        bind_admin_device(admin, node)
        page = admin.page
        page.goto(node.url + "/wallet/list", wait_until="load")
        wait_until(lambda: page.get_by_label("List for").count(), what="the form, with List for")
        page.get_by_label("List for").select_option(enterprise["id"])
        page.get_by_label("Title").fill("Seeded batch loaves")
        page.get_by_label("Category").select_option("food")
        page.get_by_role("button", name="List it").click()
        wait_until(lambda: page.locator("#listing-title").count(), what="the enterprise's listing")
        assert page.locator("#listing-author").inner_text() == "Weir Bakery"
        assert page.locator("#listing-price").inner_text() == "Ask"
        made = node.get(f"/api/listings/{page.url.split('id=', 1)[1]}")
        assert made["payee"] == enterprise["account"] and made["enterprise"]["name"] == "Weir Bakery"
        admin.shoot("market-enterprise")

        # Its manager downloads the enterprise's accounts from its screen (the node's bytes for the period).
        page.goto(f"{node.url}/wallet/enterprise?e={enterprise['id']}", wait_until="load")
        wait_until(lambda: page.locator("#enterprise-download").count(), what="the manager's downloads")
        with page.expect_download() as got:
            page.get_by_role("button", name="Accounts (CSV)").click()
        assert got.value.suggested_filename.startswith(f"enterprise-{enterprise['id']}-")
        asked = [r["url"] for r in admin.requests if "/api/exports/enterprises/" in r["url"]]
        assert Path(got.value.path()).read_bytes() == signed_get(asked[-1], node.admin_key).body
        assert fits_the_screen(page)
        admin.shoot("links-enterprise-download")

        page.goto(f"{node.url}/wallet/listing?id={spam_id}", wait_until="load")
        reason = page.get_by_label("Why hide it (its member reads this)")
        wait_until(reason.count, what="the admin's hide form")
        page.get_by_role("button", name="Hide it").click()
        assert page.get_by_role("alert").inner_text() == "Say why it is hidden."
        reason.fill("Health claims are not allowed here")
        admin.shoot("market-hide")
        page.get_by_role("button", name="Hide it").click()
        wait_until(lambda: "Hidden: it is gone from the market." in page.locator("main").inner_text(),
                   what="the listing hidden")
        assert "Health claims are not allowed here" in page.get_by_role("alert").inner_text()
        assert admin.errors == []
    seen = node.signed(member, "GET", f"/api/listings/{spam_id}").json()
    assert seen["status"] == "hidden" and seen["hidden"]["reason"] == "Health claims are not allowed here"
    assert node.signed(member, "GET", "/api/listings?q=miracle").json()["listings"] == []
