"""Listings on a real `tally serve` (docs/market.md, api.md §13): a member lists an offer or a want,
other members find it by text, category and place, newest first; only its member changes it, only
an admin hides it; a stranger reads nothing. Every bad input is a typed refusal that changes
nothing, never a 500. A picture is made small, re-encoded and stripped of its metadata (a JPEG
with EXIF GPS goes in, a WebP with no EXIF comes out); an expired listing vanishes from search; an
erased member's listings leave no byte in the node's listings file."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import time
from http.cookies import SimpleCookie
from typing import Any

import pytest
from PIL import Image
from tallystick.protocol.events import Transfer
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text
from tallystick.protocol.requests import sign_in_message, sign_request

from helpers.nodes import NodeProcess
from helpers.support import Answer, http, tally

gps_ifd = 0x8825
secret_words = "Marker-Of-The-Camera-7731"


def listing(**overrides: Any) -> dict[str, Any]:
    return {"kind": "offer", "title": "Sourdough loaves", "description": "Baked on Fridays.\nRye too.",
            "category": "food", "price": 450, "place": "Mill Lane", **overrides}


def send(node: NodeProcess, key: KeyPair | None, method: str, path: str, document: Any = None,
         content_type: str = "application/json") -> Answer:
    body = None if document is None else document if isinstance(document, bytes) else json.dumps(document).encode()
    if key is None:
        return node.http(method, path, body, content_type if body is not None else None)
    return node.signed(key, method, path, body, content_type if body is not None else None)


def made(node: NodeProcess, key: KeyPair, **overrides: Any) -> dict[str, Any]:
    answer = send(node, key, "POST", "/api/listings", listing(**overrides))
    assert answer.status == 201, answer.body
    return answer.json()


def found(node: NodeProcess, key: KeyPair, query: str = "") -> list[str]:
    answer = send(node, key, "GET", f"/api/listings{query}")
    assert answer.status == 200, answer.body
    return [entry["id"] for entry in answer.json()["listings"]]


def refused(answer: Answer, status: int, code: str) -> None:
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    document = answer.json()
    assert (answer.status, document["error"]) == (status, code), answer.body
    assert document["message"] and "\n" not in document["message"]


def jpeg_with_gps(width: int, height: int) -> bytes:
    picture = Image.new("RGB", (width, height), (180, 120, 60))
    for x in range(0, width, 50):
        picture.paste((20, 60, 140), (x, 0, x + 20, height))
    exif = Image.Exif()
    exif[0x010F] = secret_words  # Make
    exif[0x010E] = secret_words  # ImageDescription
    exif[0x0112] = 1  # Orientation
    exif[gps_ifd] = {1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.0)}
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


@pytest.fixture(scope="module")
def people(node: NodeProcess) -> dict[str, KeyPair]:
    return {"seller": node.admit("Rowan Ash"), "buyer": node.admit("Tamsin Reed"), "admin": node.admin_key}


def test_a_member_lists_an_offer_and_another_finds_it_by_text_category_and_place(
        node: NodeProcess, people: dict[str, KeyPair]) -> None:
    seller, buyer = people["seller"], people["buyer"]
    offer = made(node, seller, title="Bicycle tune-up", category="repairs", place="Harbour Street", price=1500)
    want = made(node, seller, kind="want", title="A ladder for a day", category="goods", price=None, place="Harbour")
    assert offer["status"] == "live" and offer["mine"] and offer["author"] == {"id": id_to_text("m", seller.public),
                                                                              "name": "Rowan Ash"}
    assert offer["price"] == 1500 and offer["unit"] == {"code": "HRS", "decimals": 2} and want["price"] is None
    assert offer["expires_ms"] - offer["listed_ms"] == 30 * 24 * 3600 * 1000
    assert found(node, buyer, "?q=TUNE-UP") == [offer["id"]]
    assert found(node, buyer, "?category=repairs") == [offer["id"]]
    assert found(node, buyer, "?place=harbour")[:2] == [want["id"], offer["id"]]  # newest first
    assert found(node, buyer, "?place=harbour&kind=want") == [want["id"]]
    read = send(node, buyer, "GET", f"/api/listings/{offer['id']}").json()
    assert read["title"] == "Bicycle tune-up" and not read["mine"] and read["hidden"] is None


def test_search_pages_are_bounded_and_follow_on_by_next(node: NodeProcess, people: dict[str, KeyPair]) -> None:
    seller = people["seller"]
    ids = [made(node, seller, title=f"Plant cutting {n}", category="garden")["id"] for n in range(5)]
    first = send(node, people["buyer"], "GET", "/api/listings?category=garden&limit=2").json()
    assert [entry["id"] for entry in first["listings"]] == ids[::-1][:2] and first["next"]
    second = send(node, people["buyer"], "GET", f"/api/listings?category=garden&limit=2&before={first['next']}").json()
    assert [entry["id"] for entry in second["listings"]] == ids[::-1][2:4]
    refused(send(node, people["buyer"], "GET", "/api/listings?limit=51"), 400, "malformed")


def test_each_route_has_its_owner(node: NodeProcess, people: dict[str, KeyPair]) -> None:
    seller, buyer, admin = people["seller"], people["buyer"], people["admin"]
    stranger = KeyPair.generate()
    entry = made(node, seller, title="Guitar lessons", category="lessons")
    path = f"/api/listings/{entry['id']}"
    # A stranger, unsigned or signing with a key that is no member's: reads nothing, writes nothing.
    for key in (None, stranger):
        refused(send(node, key, "GET", "/api/listings"), 403, "not_visible")
        refused(send(node, key, "GET", path), 403, "not_visible")
        refused(send(node, key, "GET", f"{path}/picture"), 403, "not_visible")
        refused(send(node, key, "POST", "/api/listings", listing()), 401, "not_signed_in")
        refused(send(node, key, "PUT", path, listing()), 401, "not_signed_in")
        refused(send(node, key, "DELETE", path), 401, "not_signed_in")
        refused(send(node, key, "POST", f"{path}/hide", {"reason": "spam"}), 401, "not_signed_in")
    assert send(node, None, "GET", "/api/listings/categories").status == 200
    # Another member reads it, but changes nothing of it.
    for method, suffix, document in (("PUT", "", listing()), ("DELETE", "", None), ("POST", "/renew", {}),
                                     ("PUT", "/picture", jpeg_with_gps(40, 30)), ("DELETE", "/picture", None)):
        refused(send(node, buyer, method, path + suffix, document), 403, "not_listing_author")
    refused(send(node, buyer, "POST", f"{path}/hide", {"reason": "spam"}), 403, "not_admin")
    refused(send(node, seller, "POST", f"{path}/hide", {"reason": "spam"}), 403, "not_admin")
    assert send(node, seller, "GET", path).json()["title"] == "Guitar lessons"
    # The member concerned edits and renews it.
    edited = send(node, seller, "PUT", path, listing(title="Guitar and ukulele lessons", category="lessons"))
    assert edited.status == 200 and edited.json()["title"] == "Guitar and ukulele lessons"
    renewed = send(node, seller, "POST", f"{path}/renew", {"expires_in_days": 90}).json()
    assert renewed["expires_ms"] - renewed["listed_ms"] == 90 * 24 * 3600 * 1000
    # An admin hides it with a reason: gone from search and from other members, kept for its member.
    hidden = send(node, admin, "POST", f"{path}/hide", {"reason": "Lessons are listed under the guild"})
    assert hidden.status == 200 and hidden.json()["status"] == "hidden"
    assert entry["id"] not in found(node, buyer, "?q=ukulele")
    refused(send(node, buyer, "GET", path), 404, "listing_unknown")
    mine = send(node, seller, "GET", path).json()
    assert mine["hidden"]["reason"] == "Lessons are listed under the guild"
    assert mine["hidden"]["by"] == id_to_text("m", admin.public)
    refused(send(node, seller, "POST", f"{path}/renew", {}), 409, "listing_hidden")
    refused(send(node, seller, "PUT", path, listing()), 409, "listing_hidden")
    # Its member withdraws it: gone for everyone.
    assert send(node, seller, "DELETE", path).json() == {"id": entry["id"], "withdrawn": True}
    refused(send(node, seller, "GET", path), 404, "listing_unknown")
    refused(send(node, admin, "GET", path), 404, "listing_unknown")


@pytest.mark.parametrize(("document", "words"), [
    (b"not json", "JSON"),
    (b"[]", "JSON"),
    ({**listing(), "colour": "red"}, "JSON"),
    (listing(kind="swap"), "offer"),
    (listing(title=""), "title"),
    (listing(title="   "), "title"),
    (listing(title="x" * 81), "80"),
    (listing(title="bell\u0007"), "control"),
    (listing(description="d" * 2001), "2000"),
    (listing(category="weapons"), "food"),
    (listing(category=None), "JSON"),
    (listing(price=0), "price"),
    (listing(price=-5), "price"),
    (listing(price=10**16), "price"),
    (listing(price=1.5), "JSON"),
    (listing(price="4.50"), "JSON"),
    (listing(place="p" * 65), "64"),
    (listing(expires_in_days=0), "days"),
    (listing(expires_in_days=91), "days"),
])
def test_a_bad_listing_is_refused_in_one_line_and_nothing_is_kept(
        node: NodeProcess, people: dict[str, KeyPair], document: Any, words: str) -> None:
    before = found(node, people["seller"], "?mine=1")
    answer = send(node, people["seller"], "POST", "/api/listings", document)
    refused(answer, 400, "malformed")
    assert words in answer.json()["message"]
    assert found(node, people["seller"], "?mine=1") == before


@pytest.mark.parametrize("query", ["?limit=0", "?limit=x", "?category=weapons", "?kind=swap", "?before=12",
                                   "?before=1.l_short", "?q=" + "q" * 65, "?q=%07", "?place=" + "p" * 65,
                                   "?mine=perhaps"])
def test_a_bad_search_is_refused_as_malformed(node: NodeProcess, people: dict[str, KeyPair], query: str) -> None:
    refused(send(node, people["buyer"], "GET", f"/api/listings{query}"), 400, "malformed")


def test_bad_ids_bodies_and_sizes_are_typed(node: NodeProcess, people: dict[str, KeyPair]) -> None:
    seller = people["seller"]
    for path in ("/api/listings/nope", "/api/listings/l_" + "A" * 16, "/api/listings/l_" + "a" * 17):
        refused(send(node, seller, "GET", path), 400, "malformed")
    refused(send(node, seller, "GET", "/api/listings/l_" + "a" * 16), 404, "listing_unknown")
    refused(send(node, seller, "DELETE", "/api/listings/l_" + "a" * 16), 404, "listing_unknown")
    refused(send(node, seller, "POST", "/api/listings", listing(description="d" * 17_000)), 413, "too_large")
    entry = made(node, seller, title="Eggs")
    path = f"/api/listings/{entry['id']}"
    refused(send(node, seller, "POST", f"{path}/renew", {"expires_in_days": 365}), 400, "malformed")
    refused(send(node, seller, "POST", f"{path}/renew", {"days": 3}), 400, "malformed")
    refused(send(node, seller, "PUT", path, listing(expires_in_days=3)), 400, "malformed")
    refused(send(node, people["admin"], "POST", f"{path}/hide", {"reason": ""}), 400, "malformed")
    refused(send(node, people["admin"], "POST", f"{path}/hide", {}), 400, "malformed")
    refused(send(node, seller, "GET", f"{path}/picture"), 404, "no_picture")
    assert send(node, seller, "GET", path).json()["title"] == "Eggs"


@pytest.mark.parametrize("document", [
    {"federations": "yes"}, {"federations": 1}, {}, {"federations": True, "also": 1}, [True], b"{not json", b"",
])
def test_a_bad_sharing_body_is_refused_in_one_line_and_changes_nothing(
    node: NodeProcess, people: dict[str, KeyPair], document: Any
) -> None:
    before = send(node, people["buyer"], "GET", "/api/listings/sharing").json()  # a member reads it
    refused(send(node, node.admin_key, "PUT", "/api/listings/sharing", document), 400, "malformed")
    assert send(node, node.admin_key, "GET", "/api/listings/sharing").json() == before


def test_a_picture_is_made_small_reencoded_and_keeps_no_exif(node: NodeProcess, people: dict[str, KeyPair]) -> None:
    seller, buyer = people["seller"], people["buyer"]
    original = jpeg_with_gps(3000, 2000)
    with Image.open(io.BytesIO(original)) as sent:
        assert sent.getexif().get_ifd(gps_ifd), "the test's JPEG carries a GPS position"
    assert secret_words.encode() in original
    entry = made(node, seller, title="Oak chair")
    path = f"/api/listings/{entry['id']}"
    answer = send(node, seller, "PUT", f"{path}/picture", original, "image/jpeg")
    assert answer.status == 200, answer.body
    picture = answer.json()["picture"]
    assert (picture["width"], picture["height"]) == (1024, 683)
    served = send(node, buyer, "GET", picture["url"])
    assert served.status == 200
    headers = served.headers
    assert headers["content-type"] == "image/webp" and headers["x-content-type-options"] == "nosniff"
    assert headers["etag"] == f'"{picture["etag"]}"' and "private" in headers["cache-control"]
    assert headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert headers["cross-origin-resource-policy"] == "same-origin"
    assert len(served.body) <= 200_000 and secret_words.encode() not in served.body
    assert b"Exif" not in served.body and b"EXIF" not in served.body
    with Image.open(io.BytesIO(served.body)) as kept:
        assert kept.format == "WEBP" and kept.size == (1024, 683)
        assert not kept.getexif() and not kept.getexif().get_ifd(gps_ifd)
        assert not {"exif", "icc_profile", "xmp"} & set(kept.info)
    again = node.signed(buyer, "GET", picture["url"])
    assert again.status == 200
    authorization = sign_request(buyer, node=node.feed, method="GET", target=picture["url"],
                                 ts_ms=time.time_ns() // 1_000_000, body=b"")
    cached = http("GET", node.url + picture["url"], headers={"Authorization": authorization,
                                                              "If-None-Match": headers["etag"]})
    assert cached.status == 304 and cached.body == b""
    # Removed, it is gone.
    assert send(node, seller, "DELETE", f"{path}/picture").json()["picture"] is None
    refused(send(node, buyer, "GET", f"{path}/picture"), 404, "no_picture")


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), 255).save(out, format="PNG", optimize=True)
    return out.getvalue()


def test_a_picture_that_is_not_one_or_too_big_is_refused_in_one_line(
        node: NodeProcess, people: dict[str, KeyPair]) -> None:
    seller = people["seller"]
    path = f"/api/listings/{made(node, seller, title='Teapot')['id']}/picture"
    gif = io.BytesIO()
    Image.new("RGB", (20, 20)).save(gif, format="GIF")
    many_pixels = png(8000, 8000)  # 64 megapixels, a few kilobytes: refused before it is decoded
    assert len(many_pixels) < 1_000_000
    for data in (b"", b"not a picture at all", gif.getvalue(), jpeg_with_gps(200, 100)[:500], many_pixels,
                 b"<svg xmlns='http://www.w3.org/2000/svg'/>"):
        answer = send(node, seller, "PUT", path, data, "image/jpeg")
        refused(answer, 422, "bad_picture")
        assert "JPEG, PNG or WebP" in answer.json()["message"]
    refused(send(node, seller, "PUT", path, b"\xff" * (10 * 1024 * 1024 + 1), "image/jpeg"), 413, "too_large")
    refused(send(node, seller, "GET", path), 404, "no_picture")
    # A PNG with transparency is accepted and flattened.
    clear = io.BytesIO()
    Image.new("RGBA", (300, 200), (0, 0, 0, 0)).save(clear, format="PNG")
    assert send(node, seller, "PUT", path, clear.getvalue(), "image/png").json()["picture"]["width"] == 300


def listings_file(node: NodeProcess) -> sqlite3.Connection:
    return sqlite3.connect(node.home / "listings.db", timeout=10)


def test_an_expired_listing_vanishes_from_search_and_its_member_renews_it(
        node: NodeProcess, people: dict[str, KeyPair]) -> None:
    seller, buyer = people["seller"], people["buyer"]
    entry = made(node, seller, title="Firewood by the bag", category="housing")
    assert found(node, buyer, "?q=firewood") == [entry["id"]]
    # Its expiry passes (the file written as a month's wait would leave it).
    with listings_file(node) as connection:
        connection.execute("UPDATE listings SET expires_ms = ? WHERE id = ?", (time.time_ns() // 10**6 - 1, entry["id"]))
    assert found(node, buyer, "?q=firewood") == []
    refused(send(node, buyer, "GET", f"/api/listings/{entry['id']}"), 404, "listing_unknown")
    mine = send(node, seller, "GET", "/api/listings?mine=1").json()["listings"]
    assert next(item for item in mine if item["id"] == entry["id"])["status"] == "expired"
    assert send(node, seller, "POST", f"/api/listings/{entry['id']}/renew", {}).json()["status"] == "live"
    assert found(node, buyer, "?q=firewood") == [entry["id"]]


def test_a_member_who_left_is_gone_from_the_market_and_erasure_leaves_no_byte_in_the_file(
        node: NodeProcess, people: dict[str, KeyPair]) -> None:
    leaver = node.admit("Quill Harrow")
    title = "Handmade-Quilts-By-Quill-4471"
    entry = made(node, leaver, title=title, description="Patchwork, any size", place="Otterbrook")
    picture = send(node, leaver, "PUT", f"/api/listings/{entry['id']}/picture", jpeg_with_gps(600, 400), "image/jpeg")
    assert picture.status == 200
    served = send(node, people["buyer"], "GET", picture.json()["picture"]["url"]).body
    export = node.signed(leaver, "GET", f"/api/members/{id_to_text('m', leaver.public)}/export").json()
    assert [item["title"] for item in export["listings"]] == [title]
    assert found(node, people["buyer"], "?q=quilts") == [entry["id"]]

    node.remove(leaver)
    assert found(node, people["buyer"], "?q=quilts") == []
    refused(send(node, people["buyer"], "GET", f"/api/listings/{entry['id']}"), 404, "listing_unknown")
    erased = tally("--node", node.url, "--key", node.home / "admin.key", "member", "erase", id_to_text("m", leaver.public))
    assert erased.returncode == 0, erased.stderr
    held = b"".join(path.read_bytes() for path in node.home.glob("listings.db*"))
    for trace in (title.encode(), b"Otterbrook", b"Patchwork", served[100:164]):
        assert trace not in held
    assert entry["id"].encode() not in held
    refused(send(node, node.admin_key, "GET", f"/api/listings/{entry['id']}"), 404, "listing_unknown")


def session_of(node: NodeProcess, key: KeyPair) -> tuple[str, str]:
    """Sign in as a browser does (api.md §6): the session cookie's token and its CSRF token."""
    issued = http("POST", node.url + "/api/sign-in/challenge").json()
    raw = base64.b32decode(issued["challenge"].upper() + "=" * (-len(issued["challenge"]) % 8))
    signature = key.sign(sign_in_message(node=node.feed, challenge=raw))
    body = json.dumps({"key": id_to_text("k", key.public), "challenge": issued["challenge"],
                       "signature": base64.b32encode(signature).decode().rstrip("=").lower()}).encode()
    answer = http("POST", node.url + "/api/sign-in", body, "application/json")
    assert answer.status == 200, answer.body
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(answer.headers["set-cookie"])
    return cookie["tally_session"].value, answer.json()["csrf_token"]


def test_a_wallet_session_lists_with_its_csrf_token_and_is_refused_without_it(
        node: NodeProcess, people: dict[str, KeyPair]) -> None:
    token, csrf = session_of(node, people["seller"])
    body = json.dumps(listing(title="Knitted socks")).encode()

    def post(headers: dict[str, str]) -> Answer:
        return http("POST", node.url + "/api/listings", body, "application/json",
                    headers={"Cookie": f"tally_session={token}", **headers})
    for headers in ({"Origin": node.url}, {"Origin": node.url, "X-CSRF-Token": "forged"},
                    {"Origin": "https://evil.example", "X-CSRF-Token": csrf}):
        refused(post(headers), 403, "csrf_refused")
    assert found(node, people["buyer"], "?q=knitted") == []
    made_by_session = post({"Origin": node.url, "X-CSRF-Token": csrf})
    assert made_by_session.status == 201 and made_by_session.json()["mine"]
    assert found(node, people["buyer"], "?q=knitted") == [made_by_session.json()["id"]]
    read = http("GET", node.url + "/api/listings?q=knitted", headers={"Cookie": f"tally_session={token}"})
    assert read.status == 200 and read.json()["listings"][0]["mine"]


def test_an_enterprises_manager_lists_for_it_its_account_is_paid_and_only_its_manager_changes_it(
        node: NodeProcess, people: dict[str, KeyPair]) -> None:
    admin, seller, buyer = people["admin"], people["seller"], people["buyer"]
    registered = tally("--node", node.url, "--key", node.home / "admin.key", "enterprise", "register", "Mill Co-op",
                       "--class", "Member shares:user:par=1.00:votes=1:dividend=0:withdrawable:cap=60:local", "--json")
    assert registered.returncode == 0, registered.stderr
    enterprise = next(item for item in node.get("/api/enterprises") if item["name"] == "Mill Co-op")
    refused(send(node, seller, "POST", "/api/listings", listing(enterprise=enterprise["id"])), 403, "not_manager")
    refused(send(node, admin, "POST", "/api/listings", listing(enterprise="e_" + "a" * 52)), 404, "unknown_enterprise")
    refused(send(node, admin, "POST", "/api/listings", listing(enterprise="e_nope")), 400, "malformed")
    entry = made(node, admin, title="Stone-ground flour", enterprise=enterprise["id"])
    assert entry["enterprise"] == {"id": enterprise["id"], "name": "Mill Co-op"}
    assert entry["payee"] == enterprise["account"] and entry["mine"]
    seen = send(node, buyer, "GET", f"/api/listings/{entry['id']}").json()
    assert seen["payee"] == enterprise["account"] and not seen["mine"]
    refused(send(node, seller, "PUT", f"/api/listings/{entry['id']}", listing()), 403, "not_listing_author")
    refused(send(node, admin, "PUT", f"/api/listings/{entry['id']}", listing(enterprise=enterprise["id"])),
            400, "malformed")
    assert send(node, admin, "PUT", f"/api/listings/{entry['id']}",
                listing(title="Stone-ground rye flour")).json()["title"] == "Stone-ground rye flour"
    assert entry["id"] in found(node, admin, "?mine=1")
    # Paying for it pays the enterprise's account.
    node.act(buyer, Transfer(to=id_from_text("m", seen["payee"]), amount_minor=450, memo=seen["title"]))
    assert node.get(f"/api/balances?account={enterprise['account']}")[0]["balance"] == 450
