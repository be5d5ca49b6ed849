"""The wallet's browser code reproduces the protocol's vectors byte for byte, run in Chromium: the
canonical encoding (protocol.md §3), ids (§2), intents signed over their committed form and sent
opened (§6, §19), the personal digests (§19.2) and the sign-in message and signature (§18.1).
Signatures use the vectors' seeds through the wallet's own PKCS8 import (keys.js): Ed25519 is
deterministic, so every signature must match the vector's."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from helpers.nodes import NodeProcess

vectors = Path(__file__).resolve().parent.parent / "vectors"
seed_prefix = b"tallystick test vector seed: "


def vector(name: str) -> Any:
    return json.loads((vectors / f"{name}.json").read_text())


def seed_hex(name: str) -> str:
    """The seed of a vector's signer: keys.json's, or BLAKE2b-256 of the prefix and its name (generate.py)."""
    keys = vector("keys")["keys"]
    if name in keys:
        return keys[name]["seed_hex"]
    return hashlib.blake2b(seed_prefix + name.encode("ascii"), digest_size=32).hexdigest()


# In the page: the wallet's modules, and the vectors' decoded actions as the wallet's action arrays
# (fields in the order of protocol.md §4.2; ids hex; a personal text as its form).
prelude = """
const [msgpack, ids, intents, hashing, keys, api, bytes] = await Promise.all([
  import("/wallet/static/msgpack.js"), import("/wallet/static/ids.js"), import("/wallet/static/intents.js"),
  import("/wallet/static/hashing.js"), import("/wallet/static/keys.js"), import("/wallet/static/api.js"),
  import("/wallet/static/bytes.js")]);
const fields = {
  admit: ["member", "name", "role"], join: ["member", "name"], transfer: ["to", "amount_minor", "memo"],
  set_limits: ["account", "debit_limit_minor", "credit_ceiling_minor"], set_role: ["member", "role"],
  remove: ["member"], set_default_limits: ["debit_limit_minor", "credit_ceiling_minor"], rebind_key: ["new_key"],
  invite: ["invitation", "expires_ms", "role", "debit_limit_minor", "credit_ceiling_minor"],
  revoke_invitation: ["invitation"],
};
const idFields = new Set(["member", "to", "account", "new_key", "invitation"]);
const value = (name, field) => {
  if (idFields.has(name)) return bytes.fromHex(field);
  if (field !== null && typeof field === "object") {
    return field.kind === "opened" ? new intents.Opened(bytes.fromHex(field.salt), field.text)
      : new intents.Committed(bytes.fromHex(field.digest));
  }
  return field;
};
const action = (decoded) => [decoded.kind, ...fields[decoded.kind].map((name) => value(name, decoded[name]))];
const signed = async (seedHex, decoded, asSent) => {
  const pair = await keys.importSeed(bytes.fromHex(seedHex));
  const signedBytes = await intents.signIntent({ privateKey: pair.privateKey, key: pair.publicKey,
    feed: bytes.fromHex(decoded.feed), nonce: BigInt(decoded.nonce), action: action(asSent.action) });
  return { key: bytes.hex(pair.publicKey), bytes: bytes.hex(signedBytes) };
};
"""


def in_page(page: Any, body: str, argument: Any = None) -> Any:
    return page.evaluate(f"async (argument) => {{ {prelude} {body} }}", argument)


@pytest.fixture
def page(phone: Any, wallet_node: NodeProcess) -> Any:
    """A page of the node's origin that runs no wallet code of its own (the 404 page)."""
    phone.page.goto(wallet_node.url + "/wallet/codec", wait_until="load")
    return phone.page


def signable(name: str) -> list[dict[str, Any]]:
    supported = {"admit", "join", "transfer", "set_limits", "set_role", "remove", "set_default_limits",
                 "rebind_key", "invite", "revoke_invitation"}
    return [intent for intent in vector(name)["intents"] if intent["decoded"]["action"]["kind"] in supported]


@pytest.mark.parametrize("name", ["intents", "personal", "invitations"])
def test_every_intent_of_the_vectors_signs_to_its_exact_bytes_as_logged_and_as_sent(page: Any, name: str) -> None:
    cases = [{"seed": seed_hex(intent["signed_by"]), "decoded": intent["decoded"],
              "sent": intent.get("sent_decoded", intent["decoded"]), "logged": intent["bytes_hex"],
              "sent_hex": intent.get("sent_bytes_hex", intent["bytes_hex"]), "key": intent["decoded"]["key"]}
             for intent in signable(name)]
    assert len(cases) >= 5
    results = in_page(page, """
      const out = [];
      for (const c of argument) {
        const logged = await signed(c.seed, c.decoded, c.decoded);
        const sent = await signed(c.seed, c.decoded, c.sent);
        out.push({ key: logged.key, logged: logged.bytes, sent: sent.bytes,
                   reencoded: bytes.hex(msgpack.encode(msgpack.decode(bytes.fromHex(c.sent_hex)))) });
      }
      return out;""", cases)
    for case, result in zip(cases, results, strict=True):
        assert result["key"] == case["key"]
        assert result["logged"] == case["logged"]
        assert result["sent"] == case["sent_hex"]
        assert result["reencoded"] == case["sent_hex"]


def test_the_wallets_own_join_and_transfer_builders_open_their_texts_as_the_vectors_do(page: Any) -> None:
    join = vector("invitations")["intents"][6]
    transfer = vector("personal")["intents"][2]
    no_memo = vector("personal")["intents"][3]
    cases = [{"seed": seed_hex(intent["signed_by"]), "decoded": intent["decoded"],
              "sent": intent.get("sent_decoded", intent["decoded"]), "expected": intent.get("sent_bytes_hex", intent["bytes_hex"])}
             for intent in (join, transfer, no_memo)]
    results = in_page(page, """
      const out = [];
      for (const c of argument) {
        const pair = await keys.importSeed(bytes.fromHex(c.seed));
        const a = c.sent.action;
        const built = a.kind === "join" ? intents.join(bytes.fromHex(a.member), a.name.text)
          : intents.transfer(bytes.fromHex(a.to), a.amount_minor, typeof a.memo === "string" ? a.memo : a.memo.text);
        const salt = typeof (a.name || a.memo) === "object" ? bytes.fromHex((a.name || a.memo).salt) : null;
        const opened = intents.openAction(built, () => salt);
        const sent = await intents.signIntent({ privateKey: pair.privateKey, key: pair.publicKey,
          feed: bytes.fromHex(c.decoded.feed), nonce: BigInt(c.decoded.nonce), action: opened });
        out.push(bytes.hex(sent));
      }
      return out;""", cases)
    assert results == [case["expected"] for case in cases]


def test_a_fresh_salt_is_drawn_for_each_text_and_an_empty_memo_stays_a_string(page: Any) -> None:
    result = in_page(page, """
      const a = intents.openAction(intents.transfer(new Uint8Array(32), 5, "rent"));
      const b = intents.openAction(intents.transfer(new Uint8Array(32), 5, "rent"));
      const empty = intents.openAction(intents.transfer(new Uint8Array(32), 5, ""));
      return { different: bytes.hex(a[3].salt) !== bytes.hex(b[3].salt), saltLength: a[3].salt.length,
               empty: empty[3], encodedEmpty: bytes.hex(msgpack.encode(empty)) };""")
    assert result["different"] and result["saltLength"] == 16
    assert result["empty"] == "" and result["encodedEmpty"].endswith("05a0")


def test_personal_digests_and_their_opened_and_committed_forms_match_personal_json(page: Any) -> None:
    digests = vector("personal")["digests"]
    results = in_page(page, """
      return argument.map((d) => {
        const opened = new intents.Opened(bytes.fromHex(d.salt_hex), d.text);
        return { digest: bytes.hex(hashing.personalDigest(bytes.fromHex(d.salt_hex), d.text)),
                 opened: bytes.hex(msgpack.encode(opened)), committed: bytes.hex(msgpack.encode(opened.committed())) };
      });""", digests)
    for digest, result in zip(digests, results, strict=True):
        assert result == {"digest": digest["digest_hex"], "opened": digest["opened_hex"], "committed": digest["committed_hex"]}


def test_the_sign_in_message_and_signature_match_sign_in_json(page: Any) -> None:
    case = vector("sign_in")
    result = in_page(page, """
      const pair = await keys.importSeed(bytes.fromHex(argument.seed));
      const message = api.signInMessage(bytes.fromHex(argument.node_hex), bytes.fromHex(argument.challenge_hex));
      const signature = await keys.sign(pair.privateKey, message);
      return { key: ids.idToText("k", pair.publicKey), message: bytes.hex(message), signature: bytes.hex(signature),
               challenge: ids.base32(bytes.fromHex(argument.challenge_hex)), body_signature: ids.base32(signature) };""",
        {**case, "seed": seed_hex(case["member_seed_name"])})
    assert result["key"] == case["member_key_text"] == case["body"]["key"]
    assert result["message"] == case["message_hex"]
    assert result["signature"] == case["signature_hex"]
    assert (result["challenge"], result["body_signature"]) == (case["body"]["challenge"], case["body"]["signature"])


def test_ids_read_and_write_their_one_text_form_and_refuse_every_other(page: Any) -> None:
    keys = vector("keys")
    result = in_page(page, """
      const written = argument.ids.map((i) => ids.idToText(i.kind, bytes.fromHex(i.hex)));
      const read = argument.ids.map((i) => bytes.hex(ids.idFromText(i.kind, i.text)));
      const refused = argument.bad_ids.map((b) => { try { ids.idFromText(b.kind, b.text); return false; }
                                                      catch (e) { return e instanceof ids.BadIdError; } });
      return { written, read, refused };""", keys)
    assert result["written"] == [entry["text"] for entry in keys["ids"]]
    assert result["read"] == [entry["hex"] for entry in keys["ids"]]
    assert all(result["refused"]), [b["why"] for b, ok in zip(keys["bad_ids"], result["refused"], strict=True) if not ok]


def test_integers_take_their_smallest_form_and_non_canonical_bytes_are_refused(page: Any) -> None:
    result = in_page(page, """
      const forms = [0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296n, -1, -32, -33, -128, -129,
                     -32768, -32769, -2147483648, -2147483649n, 2n ** 63n - 1n].map((n) => bytes.hex(msgpack.encode(n)));
      const refused = ["cc02", "d005", "d90568656c6c6f", "c50020" + "00".repeat(32), "80", "ca00000000", "c1"]
        .map((h) => { try { msgpack.decode(bytes.fromHex(h)); return false; } catch (e) { return true; } });
      const b64 = ids.base64(bytes.fromHex("00ff10"));
      return { forms, refused, b64, back: bytes.hex(ids.fromBase64(b64)) };""")
    assert result["forms"] == ["00", "7f", "cc80", "ccff", "cd0100", "cdffff", "ce00010000", "ceffffffff",
                               "cf0000000100000000", "ff", "e0", "d0df", "d080", "d1ff7f", "d18000", "d2ffff7fff",
                               "d280000000", "d3ffffffff7fffffff", "cf7fffffffffffffff"]
    assert all(result["refused"])
    assert (result["b64"], result["back"]) == ("AP8Q", "00ff10")
