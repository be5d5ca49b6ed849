"""The wallet's builders of the shares actions (intents.js: subscribe, place_order, cancel_order,
transfer_shares, withdraw_shares) sign, in Chromium, to the exact bytes of every such intent of
shares.json and commons.json (protocol.md §4.2, §15). Signatures come from the vectors' seeds
through the wallet's own PKCS8 import: Ed25519 is deterministic, so a byte out of place anywhere in
the action fails the comparison."""

from __future__ import annotations

from typing import Any

import pytest

from .test_codec import in_page, page, seed_hex, vector  # noqa: F401  (page is a fixture)

share_kinds = {"subscribe", "place_order", "cancel_order", "transfer_shares", "withdraw_shares"}


def share_intents() -> list[dict[str, Any]]:
    return [{"seed": seed_hex(intent["signed_by"]), "decoded": intent["decoded"], "expected": intent["bytes_hex"],
             "what": intent["description"]}
            for name in ("shares", "commons") for intent in vector(name)["intents"]
            if intent["decoded"]["action"]["kind"] in share_kinds]


def test_every_shares_intent_of_the_vectors_is_built_and_signed_by_the_wallet_to_its_exact_bytes(page: Any) -> None:  # noqa: F811
    cases = share_intents()
    assert {case["decoded"]["action"]["kind"] for case in cases} == share_kinds
    results = in_page(page, """
      const out = [];
      for (const c of argument) {
        const a = c.decoded.action;
        const id = (hex) => bytes.fromHex(hex);
        const built = {
          subscribe: () => intents.subscribe(a.offer, a.units),
          place_order: () => intents.placeOrder(id(a.enterprise), a.share_class, a.side, a.units, a.price_minor),
          cancel_order: () => intents.cancelOrder(a.order),
          transfer_shares: () => intents.transferShares(id(a.enterprise), a.share_class, id(a.to), a.units),
          withdraw_shares: () => intents.withdrawShares(id(a.enterprise), a.share_class, a.units),
        }[a.kind]();
        const pair = await keys.importSeed(bytes.fromHex(c.seed));
        const sent = await intents.signMemberIntent({ privateKey: pair.privateKey, key: pair.publicKey,
          feed: bytes.fromHex(c.decoded.feed), nonce: BigInt(c.decoded.nonce), action: built });
        out.push(bytes.hex(sent));
      }
      return out;""", cases)
    for case, result in zip(cases, results, strict=True):
        assert result == case["expected"], case["what"]


@pytest.mark.parametrize("side", ["Buy", "bid", ""])
def test_an_order_on_a_side_the_protocol_has_not_is_refused_before_anything_is_encoded(page: Any, side: str) -> None:  # noqa: F811
    refused = in_page(page, """
      try { intents.placeOrder(new Uint8Array(32), 0, argument, 1, 100); return false; }
      catch (error) { return error.message; }""", side)
    assert refused == "a side is buy or sell"
