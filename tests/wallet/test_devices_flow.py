"""A member's devices and backups in the wallet, on a real node in real Chromium (docs/wallet.md,
"Devices", "Backup and restore"): a member joins on phone A; phone B (another browser context)
opens /wallet/link, which makes B's own key and shows its link and code; A opens that link (as its
camera would), sees whose account and which code it is about to add, and signs `add_key`; B, which
was waiting, signs in by itself and pays; B removes A, and A can no longer sign in (one line says
so). A recovery phrase made on one device restores the wallet on a fresh context, which pays; a
recovery file does too, after a wrong passphrase is refused in one line. The phrase and the file
are checked from outside the browser (the BIP39 words decoded here, the file opened here with
PBKDF2-SHA256 and AES-256-GCM): their recovery key is the one bound to the account. No request
from any device carries a seed, a phrase, a passphrase or a private key."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nacl.bindings
import pytest
from tallystick.protocol.ids import KeyPair, id_from_text, id_to_text

from helpers.browsing import fits_the_screen, wait_until
from helpers.nodes import NodeProcess

from .conftest import Phone, open_phone
from .test_wallet_flow import balance_of, device_of, invite, join_through

wordlist_path = Path(__file__).parents[2] / "node/wallet/static/vendor/scure_bip39/english.js"
removed_line = ("This device's key no longer signs for a member here (it may have been removed): "
                "use another of your devices, or restore from a backup.")


def bip39_words() -> list[str]:
    text = wordlist_path.read_text()
    return text[text.index("`") + 1:text.rindex("`")].split("\n")


def seed_of_words(words: list[str]) -> bytes:
    """BIP39's decoding of 24 words, written here independently of the wallet's."""
    wordlist = bip39_words()
    bits = "".join(format(wordlist.index(word), "011b") for word in words)
    entropy = int(bits[:256], 2).to_bytes(32, "big")
    assert int(bits[256:], 2) == hashlib.sha256(entropy).digest()[0], "the checksum"
    return entropy


def forms_of(secret: bytes) -> set[str]:
    b32 = base64.b32encode(secret).decode().rstrip("=")
    return {secret.hex(), b32.lower(), b32, base64.b64encode(secret).decode(),
            base64.urlsafe_b64encode(secret).decode().rstrip("=")}


def assert_never_sent(phones: list[Phone], secrets: set[str]) -> None:
    for phone in phones:
        assert phone.requests
        for request in phone.requests:
            sent = request["url"] + " " + " ".join(f"{k}: {v}" for k, v in request["headers"].items())
            for secret in secrets:
                assert secret not in sent and secret.encode() not in request["body"], (request["url"], secret[:6])


def assert_key_not_extractable(phone: Phone) -> None:
    exported = phone.page.evaluate("""async () => {
      const device = await (await import("/wallet/static/keys.js")).loadDevice();
      const refused = [];
      for (const format of ["pkcs8", "jwk", "raw"]) {
        try { await crypto.subtle.exportKey(format, device.pair.privateKey); refused.push(false); }
        catch (error) { refused.push(true); }
      }
      return { extractable: device.pair.privateKey.extractable, refused };
    }""")
    assert exported == {"extractable": False, "refused": [True, True, True]}


@pytest.fixture
def second_phone(browser: Any) -> Iterator[Phone]:
    """Another device of the same person: a browser context of its own, sharing nothing."""
    yield from open_phone(browser)


def shows(locator: Any, text: str) -> Callable[[], bool]:
    return lambda: bool(locator.count()) and locator.inner_text() == text


def keys_of(node: NodeProcess, member: str) -> list[str]:
    return node.get(f"/api/members/{member}")["keys"]


def pay_by_link(phone: Phone, node: NodeProcess, payee: KeyPair, amount: str) -> None:
    phone.page.goto(f"{node.url}/wallet/pay?to={id_to_text('m', payee.public)}", wait_until="load")
    wait_until(lambda: phone.page.locator("#payee").count(), what="the pay screen")
    phone.page.get_by_label("Amount in HRS").fill(amount)
    phone.page.get_by_role("button", name="Review").click()
    phone.page.get_by_role("button", name="Pay now").click()
    wait_until(lambda: phone.page.locator("#receipt").count(), what="the receipt")


def joined(phone: Phone, node: NodeProcess, name: str) -> str:
    """A member who joined on `phone` (at zero: they pay within their debit limit of 50.00)."""
    return join_through(phone, invite(node, "--name", name))


def test_a_new_device_is_added_from_the_old_one_pays_and_removes_the_old_one(
        phone: Phone, second_phone: Phone, wallet_node: NodeProcess) -> None:
    a, b = phone, second_phone
    payee = wallet_node.admit("Bram Payee")
    member = joined(a, wallet_node, "Dev Ina")
    b.page.goto(wallet_node.url + "/wallet/link", wait_until="load")
    code = b.page.locator("#link-code")
    wait_until(code.count, what="the new device's code")
    wait_until(lambda: b.page.locator("svg.qr").count(), what="the QR code")
    new_key = "k_" + code.inner_text().replace(" ", "")
    id_from_text("k", new_key)
    assert re.fullmatch(r"([a-z2-7]{4} ){12}[a-z2-7]{4}", code.inner_text())
    assert b.page.locator("#link-status").inner_text() == "Waiting for your other device to add this one…"
    assert fits_the_screen(b.page)
    b.shoot("devices-link")

    # A opens B's link, as its camera would: whose account, which code, then add_key.
    a.page.goto(f"{wallet_node.url}/wallet/devices#add={new_key}", wait_until="load")
    wait_until(lambda: a.page.locator("#device-add").count(), what="the confirmation on A")
    assert "#" not in a.page.url  # the key left the address bar once read
    assert a.page.locator("#device-account").inner_text() == member
    assert a.page.locator("#device-account-name").inner_text() == "Dev Ina"
    assert a.page.locator("#device-new-code").inner_text() == code.inner_text()
    # The safe choice first: a link opened from someone else's message must not add a key on Enter.
    assert a.page.evaluate("document.activeElement.textContent") == "Cancel"
    assert fits_the_screen(a.page)
    a.shoot("devices-confirm-add")
    assert keys_of(wallet_node, member) == [id_to_text("k", id_from_text("m", member))]  # nothing before
    a.page.locator("#device-add").focus()
    a.page.keyboard.press("Enter")
    wait_until(lambda: a.page.locator("#device-added").count(), what="the device added")
    assert a.page.evaluate("document.activeElement.id") == "device-added"  # the line saying so takes the focus
    assert keys_of(wallet_node, member)[1] == new_key
    wait_until(lambda: a.page.locator("#devices .row").count() == 2, what="two devices listed")
    assert "This device" in a.page.locator("#devices").inner_text()
    a.shoot("devices-list")

    # B was waiting: it signs in by itself, as the same member, and pays.
    wait_until(lambda: b.page.locator("#balance").count(), what="B's home after being added")
    assert device_of(b) == {"member": member, "joined": True}
    assert b.page.locator("#balance").inner_text() == "0.00 HRS"
    pay_by_link(b, wallet_node, payee, "4.50")
    assert balance_of(wallet_node, member) == -450

    # B removes A, after a confirmation; A's key no longer signs in.
    b.page.goto(wallet_node.url + "/wallet/devices", wait_until="load")
    wait_until(lambda: b.page.locator("#devices .row").count() == 2, what="B's list of devices")
    b.page.locator("#devices button", has_text="Remove").click()
    wait_until(lambda: b.page.locator("#device-remove").count(), what="the removal's confirmation")
    assert b.page.evaluate("document.activeElement.textContent") == "Keep it"  # the safe choice first
    b.shoot("devices-confirm-remove")
    b.page.locator("#device-remove").click()
    wait_until(lambda: b.page.locator("#device-removed").count(), what="the device removed")
    wait_until(lambda: b.page.locator("#devices .row").count() == 1, what="one device left")
    assert keys_of(wallet_node, member) == [new_key]
    b.shoot("devices-after-remove")

    a.page.goto(wallet_node.url + "/wallet", wait_until="load")
    alert = a.page.get_by_role("alert")
    wait_until(alert.count, what="A refused")
    assert alert.inner_text() == removed_line
    a.shoot("devices-removed")
    # The removed device may be added again as a new device (a new key), or restored.
    assert a.page.get_by_role("link", name="Restore from a backup").count() == 1
    a.page.get_by_role("link", name="Add this device to my wallet").click()
    wait_until(lambda: a.page.locator("#link-code").count(), what="A offering a new key")
    assert a.page.locator("#link-code").inner_text().replace(" ", "") not in {key[2:] for key in keys_of(wallet_node, member)}

    assert_key_not_extractable(b)
    assert b.errors == [] and a.errors == []


def test_a_recovery_phrase_restores_the_wallet_on_a_fresh_device_which_pays(
        phone: Phone, second_phone: Phone, wallet_node: NodeProcess) -> None:
    a, c = phone, second_phone
    payee = wallet_node.admit("Cora Payee")
    member = joined(a, wallet_node, "Phra Sing")
    a.page.goto(wallet_node.url + "/wallet/settings", wait_until="load")
    a.page.get_by_role("link", name="Back up your key").click()
    wait_until(lambda: a.page.locator("#backup-phrase").count(), what="the backup screen")
    assert fits_the_screen(a.page)
    a.shoot("devices-backup")
    a.page.locator("#backup-phrase").click()
    wait_until(lambda: a.page.locator("#phrase li").count() == 24, what="the 24 words")
    words = a.page.locator("#phrase li").all_inner_texts()
    a.shoot("devices-phrase")
    seed = seed_of_words(words)
    recovery_key = id_to_text("k", KeyPair(seed).public)
    assert keys_of(wallet_node, member)[-1] == recovery_key  # bound before it was shown
    a.page.locator("#backup-done").click()
    wait_until(lambda: a.page.locator("#backup-finished").count(), what="the backup made")
    assert a.page.locator("#phrase").count() == 0
    a.page.goto(wallet_node.url + "/wallet/devices", wait_until="load")
    wait_until(lambda: "Recovery phrase (made here)" in a.page.locator("main").inner_text(), what="the backup listed")

    c.page.goto(wallet_node.url + "/wallet/restore", wait_until="load")
    field = c.page.get_by_label("Your 24 words")
    wait_until(field.count, what="the restore screen")
    submit = c.page.locator("#restore-by-phrase")
    alert = c.page.locator("#restore-by-phrase").locator("xpath=..").get_by_role("alert")
    refusals = [
        (" ".join(words[:23]), "A recovery phrase has 24 words; this has 23: check you typed them all."),
        (" ".join([*words[:4], "wombatx", *words[5:]]), "Word 5 is not a word of recovery phrases: check its spelling."),
        (" ".join([words[1], words[0], *words[2:]]) if words[0] != words[1] else " ".join(["zoo"] * 24),
         "These words are not a recovery phrase as written: check each word and their order."),
        (" ".join(["abandon"] * 23 + ["art"]),  # a good phrase, of no one's key here
         "That backup holds no key of a member here (it was removed, or is another community's): try another backup."),
    ]
    for typed, line in refusals:
        field.fill(typed)
        submit.click()
        wait_until(shows(alert, line), what=line)
    c.shoot("devices-restore-refused")
    field.fill("  " + "\n".join(word.upper() for word in words) + " ")
    submit.click()
    wait_until(lambda: c.page.locator("#balance").count(), what="C's home after restoring")
    assert device_of(c)["member"] == member
    c_key = keys_of(wallet_node, member)[-1]
    assert c_key not in (recovery_key, id_to_text("k", id_from_text("m", member)))
    pay_by_link(c, wallet_node, payee, "2")
    assert balance_of(wallet_node, member) == -200
    assert_key_not_extractable(c)
    assert_never_sent([a, c], forms_of(seed) | {" ".join(words), words[0] + "%20" + words[1]})
    assert c.errors == [] and a.errors == []


@pytest.mark.skipif(not hasattr(nacl.bindings, "crypto_aead_aes256gcm_decrypt"), reason="libsodium without AES-GCM")
def test_a_recovery_file_refuses_a_wrong_passphrase_in_one_line_and_restores_with_the_right_one(
        phone: Phone, second_phone: Phone, wallet_node: NodeProcess, tmp_path: Path) -> None:
    a, c = phone, second_phone
    passphrase = "correct horse battery"
    member = joined(a, wallet_node, "Fyle Keeper")
    a.page.goto(wallet_node.url + "/wallet/backup", wait_until="load")
    wait_until(lambda: a.page.locator("#backup-file").count(), what="the backup screen")
    a.page.get_by_label("Passphrase", exact=True).fill("short")
    a.page.get_by_label("The passphrase again").fill("short")
    a.page.locator("#backup-file").click()
    assert a.page.get_by_role("alert").inner_text() == "Choose a passphrase of at least 10 characters."
    a.page.get_by_label("Passphrase", exact=True).fill(passphrase)
    a.page.get_by_label("The passphrase again").fill(passphrase + "!")
    a.page.locator("#backup-file").click()
    assert a.page.get_by_role("alert").inner_text() == "The two passphrases differ: type the same one twice."
    a.page.get_by_label("The passphrase again").fill(passphrase)
    a.page.locator("#backup-file").click()
    save = a.page.locator("#backup-save")
    wait_until(save.count, deadline_seconds=30, what="the file made")
    a.shoot("devices-file")
    with a.page.expect_download() as download:
        save.click()
    saved = tmp_path / "tallystick-recovery.json"
    download.value.save_as(saved)
    wait_until(lambda: a.page.locator("#backup-finished").count(), what="the file saved")

    # The file as docs/wallet.md describes it, opened here: its seed's key is bound to the account.
    file = json.loads(saved.read_text())
    assert file["format"] == "tallystick-recovery-key" and file["version"] == 1
    assert file["community"] == wallet_node.get("/api/community")["node"]
    assert file["kdf"]["iterations"] >= 600000
    key = hashlib.pbkdf2_hmac("sha256", passphrase.encode(), base64.b64decode(file["kdf"]["salt"]),
                              file["kdf"]["iterations"], 32)
    associated = (b"tallystick/recovery-file/v1\n" + id_from_text("n", file["community"])
                  + id_from_text("k", file["key"]))
    seed = nacl.bindings.crypto_aead_aes256gcm_decrypt(base64.b64decode(file["cipher"]["sealed"]), associated,
                                                      base64.b64decode(file["cipher"]["iv"]), key)
    assert id_to_text("k", KeyPair(seed).public) == file["key"] == keys_of(wallet_node, member)[-1]

    c.page.goto(wallet_node.url + "/wallet/restore", wait_until="load")
    wait_until(lambda: c.page.locator("#restore-file").count(), what="the restore screen")
    c.page.locator("#restore-file").set_input_files(str(saved))
    c.page.get_by_label("Its passphrase").fill("wrong horse battery")
    c.page.locator("#restore-by-file").click()
    alert = c.page.get_by_role("alert")
    wait_until(alert.count, deadline_seconds=30, what="the wrong passphrase refused")
    assert alert.inner_text() == "That passphrase does not open this file: check it and try again."
    assert fits_the_screen(c.page)
    c.shoot("devices-restore-file-refused")
    assert len(keys_of(wallet_node, member)) == 2  # nothing was bound
    c.page.get_by_label("Its passphrase").fill(passphrase)
    c.page.locator("#restore-by-file").click()
    wait_until(lambda: c.page.locator("#balance").count(), deadline_seconds=30, what="C's home after restoring")
    assert device_of(c)["member"] == member and len(keys_of(wallet_node, member)) == 3
    assert_key_not_extractable(c)
    assert_never_sent([a, c], forms_of(seed) | {passphrase, passphrase.replace(" ", "+"),
                                                file["cipher"]["sealed"]})
    assert c.errors == [] and a.errors == []


def test_the_phrase_is_bip39s_encoding_of_the_seed(phone: Phone, wallet_node: NodeProcess) -> None:
    """BIP39's published vectors for 256 bits of entropy, through the wallet's recovery.js."""
    phone.page.goto(wallet_node.url + "/wallet/restore", wait_until="load")
    phrases = phone.page.evaluate("""async () => {
      const recovery = await import("/wallet/static/recovery.js");
      const out = [];
      for (const byte of [0x00, 0x7f, 0x80, 0xff]) out.push((await recovery.phraseOf(new Uint8Array(32).fill(byte))).join(" "));
      return out;
    }""")
    assert phrases == [
        " ".join(["abandon"] * 23 + ["art"]),
        ("legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth useful "
         "legal winner thank year wave sausage worth title"),
        ("letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic "
         "avoid letter advice cage absurd amount doctor acoustic bless"),
        " ".join(["zoo"] * 23 + ["vote"]),
    ]
    for phrase in phrases:
        assert seed_of_words(phrase.split()).hex() in {"00" * 32, "7f" * 32, "80" * 32, "ff" * 32}


def test_a_code_that_is_no_key_or_a_key_already_bound_is_refused_in_one_line_and_nothing_is_signed(
        phone: Phone, wallet_node: NodeProcess) -> None:
    member = joined(phone, wallet_node, "Cody Typer")
    page = phone.page
    page.goto(wallet_node.url + "/wallet/settings", wait_until="load")
    page.get_by_role("link", name="Your devices").click()
    field = page.get_by_label("Code shown on the new device")
    wait_until(field.count, what="the devices screen")
    field.fill("abcd efgh")
    field.press("Enter")  # the keyboard alone
    assert page.get_by_role("alert").inner_text() == (
        "That is not a device's code: type the 52 characters the new device shows, or scan its QR code.")
    assert page.evaluate("document.activeElement.id") == "device-code"
    seq = wallet_node.get("/api/status")["seq"]
    own = id_to_text("k", id_from_text("m", member))
    field.fill(" ".join(own[2:][i:i + 4] for i in range(0, 52, 4)).upper())  # case and spaces do not matter
    field.press("Enter")
    wait_until(lambda: page.locator("#device-add").count(), what="the confirmation")
    page.locator("#device-add").click()
    alert = page.get_by_role("alert")
    wait_until(alert.count, what="the refusal")
    assert alert.inner_text() == ("That key is already bound to an account (perhaps added already): "
                                  "look at your list of devices.")
    assert wallet_node.get("/api/status")["seq"] == seq and keys_of(wallet_node, member) == [own]
    page.get_by_role("button", name="Cancel").click()
    wait_until(lambda: page.locator("#devices .row").count() == 1, what="the list again")
    assert phone.errors == []


@pytest.mark.parametrize("screen", ["devices", "link", "backup", "restore"])
def test_each_new_screen_is_the_wallets_shell(wallet_node: NodeProcess, screen: str) -> None:
    answer = wallet_node.http("GET", f"/wallet/{screen}")
    shell = wallet_node.http("GET", "/wallet")
    assert answer.status == 200 and answer.body == shell.body
