"""The admins' part of the wallet end to end, on a real node in a real Chromium: an admin invites from
the wallet (the seed made in the browser, the `invite` signed by the admin's device key) and the
invitee joins through the link; a stranger asks to join at /wallet/ask, the admin accepts, and the
stranger's wallet becomes a member's; another is declined and told so; the admin changes a
member's limit, withdraws an invitation and downloads the journal; a plain member sees no admin link, and the node
refuses them the admin's routes and actions.

The admin's device: `tally init` writes the admin's key to the home (admin.key) and admits the
admin with it. The browser makes a key of its own on the device (non-extractable, as a member's
wallet does), and the test binds it to the admin's account with an `add_key` signed by admin.key
from Python: the browser never holds the admin's home key, only one more current key of the
admin's account, as a second device would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tallystick.protocol.events import AddKey, Vote
from tallystick.protocol.ids import id_from_text, id_to_text

from helpers.admission import close_decision, home_admitting_by_decision
from helpers.browsing import fits_the_screen, wait_until
from helpers.nodes import NodeProcess
from helpers.support import signed_get, tally_json

from .conftest import Phone, open_phone


def bind_admin_device(phone: Phone, node: NodeProcess) -> str:
    """Make a device key in the page, keep it as the admin's device, and add it to the admin's account."""
    admin = id_to_text("m", node.admin_key.public)
    phone.page.goto(node.url + "/wallet/static/icon.svg")
    key = phone.page.evaluate("""async ([admin, node]) => {
      const keys = await import("/wallet/static/keys.js");
      const store = await import("/wallet/static/store.js");
      const made = await keys.makeDeviceKey();
      await store.put("device", { pair: made.pair, publicKey: made.publicKey, member: admin, key: made.key,
        node, joined: true });
      return made.key;
    }""", [admin, node.feed_text])
    node.act(node.admin_key, AddKey(key=id_from_text("k", key)))
    return key


def member_of(phone: Phone) -> dict[str, Any]:
    return phone.page.evaluate("""async () => {
      const keys = await import("/wallet/static/keys.js");
      const device = await keys.loadDevice();
      return device ? { member: device.member, joined: device.joined } : null;
    }""")


def account(node: NodeProcess, member: str) -> dict[str, Any]:
    (found,) = node.get(f"/api/balances?account={member}")
    return found


def open_admin(phone: Phone, node: NodeProcess) -> None:
    page = phone.page
    page.goto(node.url + "/wallet/settings")
    link = page.locator("#admin-link")
    wait_until(lambda: link.count(), what="the admin link in More")
    phone.shoot("admin-settings")
    link.click()
    wait_until(lambda: page.locator("#admin-requests-list").count(), what="the admin screen")


def ask(phone: Phone, node: NodeProcess, name: str, note: str) -> None:
    page = phone.page
    page.goto(node.url + "/wallet/ask")
    wait_until(lambda: page.get_by_label("Your name").count(), what="the ask form")
    assert page.evaluate("document.activeElement.id") == "ask-name"
    page.get_by_label("Your name").fill(name)
    page.get_by_label("A note for the admins (optional)").fill(note)
    phone.shoot("admin-ask")
    page.get_by_role("button", name="Ask to join").click()
    wait_until(lambda: page.locator("#ask-state").count(), what="the waiting screen")


def test_an_admin_invites_accepts_a_request_declines_one_and_changes_a_limit(
        browser: Any, wallet_node: NodeProcess) -> None:
    admin_phone = next(admin_phones := open_phone(browser))
    invitee_phone = next(invitee_phones := open_phone(browser))
    asker_phone = next(asker_phones := open_phone(browser))
    declined_phone = next(declined_phones := open_phone(browser))
    try:
        bind_admin_device(admin_phone, wallet_node)
        page = admin_phone.page
        open_admin(admin_phone, wallet_node)
        assert fits_the_screen(page)
        admin_phone.shoot("admin-screen")

        # Invite from the wallet: the seed is made here, the link shown once with its QR code.
        page.get_by_label("Their name (optional)").fill("Pia Lund")
        page.get_by_label("Debit limit in HRS (optional)").fill("20")
        page.get_by_role("button", name="Make the invitation").click()
        link_box = page.locator("#invite-link")
        wait_until(lambda: link_box.count(), what="the invitation link")
        assert page.evaluate("document.activeElement.id") == "admin-invite-made"
        link = link_box.inner_text()
        assert link.startswith(f"{wallet_node.url}/wallet/join#i=") and link.endswith("&n=Pia%20Lund")
        assert page.locator("svg.qr").count() == 1
        wait_until(lambda: "-20.00 HRS" in page.locator("#admin-invitations").inner_text(), what="the open invitation")
        assert fits_the_screen(page)
        admin_phone.shoot("admin-invite")
        seed = link.split("#i=", 1)[1].split("&", 1)[0]
        assert not any(seed in request["url"] or seed.encode() in request["body"] for request in admin_phone.requests)
        page.get_by_role("button", name="Done").click()
        assert page.get_by_label("Their name (optional)").input_value() == ""

        invitee = invitee_phone.page
        invitee.goto(link)
        wait_until(lambda: invitee.get_by_label("Your name").count(), what="the join form")
        assert invitee.get_by_label("Your name").input_value() == "Pia Lund"
        invitee.get_by_role("button", name="Join").click()
        wait_until(lambda: invitee.locator("#balance").count(), what="the invitee's home")
        joined = member_of(invitee_phone)["member"]
        assert account(wallet_node, joined)["debit_limit"] == 2000

        # A stranger asks to join; the admin accepts; the stranger's wallet becomes a member's.
        ask(asker_phone, wallet_node, "Quinn Ash", "I fix bicycles on Market Street")
        asker = asker_phone.page
        assert "with the admins" in asker.locator("#ask-state").inner_text()
        assert fits_the_screen(asker)
        asker_phone.shoot("admin-ask-waiting")
        ask(declined_phone, wallet_node, "Rhea Voss", "")
        page.reload()
        wait_until(lambda: "Quinn Ash" in page.locator("#admin-requests-list").inner_text(), what="the request listed")
        listed = page.locator("#admin-requests-list").inner_text()
        assert "I fix bicycles on Market Street" in listed and "Rhea Voss" in listed
        assert fits_the_screen(page)
        page.locator("#admin-requests-title").scroll_into_view_if_needed()
        admin_phone.shoot("admin-requests")
        page.get_by_role("button", name="Accept Quinn Ash").click()
        wait_until(lambda: "Quinn Ash is a member now." in page.locator("#admin-requests").inner_text(),
                   what="the acceptance")
        wait_until(lambda: asker.locator("#balance").count(), deadline_seconds=30, what="the asker's home")
        asked = member_of(asker_phone)
        assert asked["joined"] and asker.locator("h1").inner_text() == "Quinn Ash"
        assert wallet_node.get(f"/api/members/{asked['member']}")["name"] == "Quinn Ash"
        for phone, name in ((asker_phone, "Quinn"), (declined_phone, "Rhea")):
            assert not any(name in request["url"] for request in phone.requests)

        page.get_by_role("button", name="Decline Rhea Voss").click()
        wait_until(lambda: "request is gone" in page.locator("#admin-requests").inner_text(), what="the decline")
        declined = declined_phone.page
        wait_until(lambda: "declined" in declined.locator("#ask-state").inner_text(), deadline_seconds=30,
                   what="the declined asker told")
        declined_phone.shoot("admin-ask-declined")

        # A member's limit, from the wallet: found by name, changed, signed by the admin's device.
        page.get_by_label("Find a member by name").fill("Quinn")
        choice = page.get_by_role("button", name="Manage Quinn Ash")
        wait_until(lambda: choice.count(), what="the member found")
        choice.click()
        debit = page.get_by_label("Debit limit in HRS (optional)").last
        wait_until(lambda: debit.input_value() == "50.00", what="the member's limits")
        assert page.evaluate("document.activeElement.id") == "admin-member-name"
        debit.fill("75")
        page.get_by_role("button", name="Save the changes").click()
        wait_until(lambda: "Saved." in page.locator("#admin-member").inner_text(), what="the limit saved")
        assert account(wallet_node, asked["member"])["debit_limit"] == 7500
        assert "-75.00 HRS" in page.locator("#admin-member-summary").inner_text()
        assert fits_the_screen(page)
        admin_phone.shoot("admin-member")

        # Withdraw an open invitation from the list.
        page.get_by_label("Their name (optional)").fill("")
        page.get_by_role("button", name="Make the invitation").click()
        wait_until(lambda: page.locator("#invite-link").count(), what="a second invitation")
        before = {entry["invitation"] for entry in wallet_node.get("/api/invitations")}
        withdraw = page.locator("#admin-invitations button").last
        withdraw.click()
        wait_until(lambda: "Withdrawn" in page.locator("#admin-open").inner_text(), what="the withdrawal")
        after = {entry["invitation"] for entry in wallet_node.get("/api/invitations")}
        assert len(after) == len(before) - 1

        # The treasurer's downloads: the journal of this year, the bytes the node serves the admin.
        page.locator('nav.jump a[href="#admin-downloads"]').click()
        with page.expect_download() as got:
            page.get_by_role("button", name="Journal (CSV)").click()
        assert got.value.suggested_filename.startswith("journal-") and got.value.suggested_filename.endswith(".csv")
        asked = [r["url"] for r in admin_phone.requests if "/api/exports/journal" in r["url"]]
        assert len(asked) == 1 and "from=" in asked[0]
        journal = Path(got.value.path()).read_bytes()
        assert journal == signed_get(asked[0], wallet_node.admin_key).body
        assert journal.startswith(b"row,date,seq,account,account_name,kind,")
        with page.expect_download() as got:
            page.get_by_role("button", name="Treasury (CSV)").click()
        assert got.value.suggested_filename.startswith("treasury-")
        assert fits_the_screen(page)
        admin_phone.shoot("links-admin-downloads")
        assert not admin_phone.errors and not invitee_phone.errors and not asker_phone.errors
    finally:
        for phones in (admin_phones, invitee_phones, asker_phones, declined_phones):
            phones.close()


def test_a_plain_member_sees_no_admin_link_and_the_node_refuses_them(browser: Any, wallet_node: NodeProcess) -> None:
    phone = next(phones := open_phone(browser))
    try:
        page = phone.page
        link = tally_json("member", "invite", "--node", wallet_node.url, "--key", wallet_node.home / "admin.key",
                          "--json")["link"]
        page.goto(link)
        page.get_by_label("Your name").fill("Sol Tarrant")
        page.get_by_role("button", name="Join").click()
        wait_until(lambda: page.locator("#balance").count(), what="the member's home")
        page.get_by_role("navigation").get_by_role("link", name="More").click()
        wait_until(lambda: page.locator("#member-id").count(), what="the settings")
        assert page.locator("#admin-link").count() == 0
        page.goto(wallet_node.url + "/wallet/admin")
        alert = page.get_by_role("alert")
        wait_until(lambda: alert.count(), what="the refusal")
        assert alert.inner_text() == "Only the community's admins use this screen."
        phone.shoot("admin-not-admin")
        refused = page.evaluate("""async () => {
          const api = await import("/wallet/static/api.js");
          const keys = await import("/wallet/static/keys.js");
          const intents = await import("/wallet/static/intents.js");
          const ids = await import("/wallet/static/ids.js");
          const device = await keys.loadDevice();
          api.useDevice(device);
          await api.ensureSession();
          const codes = [];
          for (const attempt of [() => api.get("/api/join-requests"), () => api.get("/api/invitations"),
              () => api.post("/api/join-requests/k_aaaa/decline", {}), () => api.getFile("/api/exports/journal")]) {
            try { await attempt(); codes.push("none"); } catch (error) { codes.push(`${error.status} ${error.code}`); }
          }
          const community = await api.get("/api/community");
          const seed = crypto.getRandomValues(new Uint8Array(32));
          const invitation = await keys.importSeed(seed);
          const intent = await intents.signMemberIntent({ privateKey: device.pair.privateKey, key: device.publicKey,
            feed: ids.idFromText("n", community.node), nonce: await intents.nextNonce(),
            action: intents.invite(invitation.publicKey, Date.now() + 86400000) });
          try { await api.postIntent(intents.intentJson(intent)); codes.push("none"); }
          catch (error) { codes.push(`${error.status} ${error.code}`); }
          return codes;
        }""")
        assert refused == ["403 not_admin", "403 not_admin", "403 not_admin", "403 not_visible", "403 not_authorized"]
        assert not phone.errors
    finally:
        phones.close()



def test_where_admission_is_by_decision_the_admin_proposes_and_the_asker_and_the_invitee_join_when_it_passes(
        browser: Any, tmp_path: Path) -> None:
    deciding = home_admitting_by_decision(tmp_path)
    admin_phone = next(admin_phones := open_phone(browser))
    asker_phone = next(asker_phones := open_phone(browser))
    invitee_phone = next(invitee_phones := open_phone(browser))
    try:
        bind_admin_device(admin_phone, deciding)
        page = admin_phone.page
        ask(asker_phone, deciding, "Uma Reyes", "")
        open_admin(admin_phone, deciding)
        # The ask link, and an invitation that is proposed to the members, its link shown at once.
        assert page.locator("#ask-link").inner_text() == f"{deciding.url}/wallet/ask"
        page.get_by_label("Their name (optional)").fill("Vic Okafor")
        page.get_by_role("button", name="Propose the invitation").click()
        wait_until(lambda: page.locator("#admin-invite-made").count(), what="the proposed invitation's link")
        link = page.locator("#invite-link").inner_text()
        assert "&d=" in link and "The members decide by" in page.locator("#admin-invite").inner_text()
        invitation_decision = int(link.split("&d=")[1].split("&")[0])
        proposed = deciding.get(f"/api/decisions/{invitation_decision}")
        assert proposed["open"] and proposed["title"] == "Invite a new member"
        assert fits_the_screen(page)
        admin_phone.shoot("admin-invite-by-decision")
        # The invitee opens the link before the members decide: the decision, its time left.
        invitee = invitee_phone.page
        invitee.goto(link)
        wait_until(lambda: "deciding on your invitation" in invitee.locator("#join-deciding").inner_text(),
                   what="the open decision on the join screen")
        assert "Invite a new member" in invitee.locator("#join-deciding").inner_text()
        assert "Voting closes" in invitee.locator("main").inner_text()
        assert invitee.locator("#join-name").count() == 0 and fits_the_screen(invitee)
        invitee_phone.shoot("join-deciding")
        page.get_by_role("button", name="Done").click()
        page.get_by_role("button", name="Propose admitting Uma Reyes").click()
        wait_until(lambda: "the members decide on admitting Uma Reyes" in page.locator("#admin-requests").inner_text(),
                   what="the proposal")
        wait_until(lambda: "Proposed to the members" in page.locator("#admin-requests-list").inner_text(),
                   what="the request marked proposed")
        assert fits_the_screen(page)
        admin_phone.shoot("admin-by-decision")
        asker = asker_phone.page
        wait_until(lambda: "proposed your admission" in asker.locator("#ask-state").inner_text(),
                   deadline_seconds=30, what="the asker told of the proposal")
        asker_phone.shoot("admin-ask-proposed")
        # The members (the admin alone) agree to the invitation: unanimity closes it at once.
        deciding.act(deciding.admin_key, Vote(decision=invitation_decision, position="agree"))
        wait_until(lambda: deciding.get(f"/api/decisions/{invitation_decision}")["outcome"] == "passed",
                   deadline_seconds=30, what="the invitation's decision passed")
        invitee.get_by_role("button", name="Check again").click()
        wait_until(lambda: invitee.locator("#join-decided").count(), what="the join form once it passed")
        assert invitee.get_by_label("Your name").input_value() == "Vic Okafor"
        invitee_phone.shoot("join-decided")
        invitee.get_by_role("button", name="Join").click()
        wait_until(lambda: invitee.locator("#balance").count(), deadline_seconds=30, what="the invitee's home")
        assert invitee.locator("h1").inner_text() == "Vic Okafor"
        (decision,) = [entry["id"] for entry in deciding.get("/api/decisions") if entry["open"]]
        deciding.act(deciding.admin_key, Vote(decision=decision, position="agree"))
        close_decision(deciding, decision, deciding.get(f"/api/decisions/{decision}")["deadline_ms"])
        wait_until(lambda: asker.locator("#balance").count(), deadline_seconds=30, what="the asker's home")
        assert asker.locator("h1").inner_text() == "Uma Reyes"
        assert not admin_phone.errors and not asker_phone.errors and not invitee_phone.errors
    finally:
        for phones in (admin_phones, asker_phones, invitee_phones):
            phones.close()
        assert deciding.stop() == 0, deciding.output()
