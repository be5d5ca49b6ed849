"""The visibility vector (tests/vectors/visibility.json): a replica folding the Thornbury feed from its
bytes alone reaches the stated digest, outcome and policy, and the policy is the fifth entry of the
digest's rules (docs/protocol.md §11.3); every other vector's digest has a rules entry of four."""

from __future__ import annotations

import msgspec
from tallystick.ledger.digest import state_digest
from tallystick.ledger.visibility import policy_json

from .test_protocol_vectors import files, replayed


def test_the_visibility_feed_refolds_to_its_stated_digest_outcome_and_policy() -> None:
    seeing = files["visibility.json"]
    state = replayed(seeing)
    assert state_digest(state).hex() == seeing["state_digest_hex"]
    assert list(seeing["outcomes"].values()) == ["passed"]
    assert policy_json(state.visibility) == seeing["visibility"]
    assert seeing["visibility"]["balances"] == "members" and seeing["visibility"]["holdings"] == "admins"
    proposal = next(intent for intent in seeing["intents"] if intent["decoded"]["action"]["kind"] == "propose_period")
    assert proposal["decoded"]["action"]["effect"]["kind"] == "set_visibility"


def test_only_a_policy_other_than_the_default_is_in_the_digests_rules() -> None:
    for example in files["digests.json"]["examples"]:
        elements = msgspec.msgpack.decode(bytes.fromhex(example["preimage_hex"]))
        if len(elements) < 5 or elements[4] is None:
            continue
        rules = elements[4][0]
        expected = 5 if example["name"] == "thornbury" else 4
        assert len(rules) == expected, example["name"]
    thornbury = next(example for example in files["digests.json"]["examples"] if example["name"] == "thornbury")
    rules = msgspec.msgpack.decode(bytes.fromhex(thornbury["preimage_hex"]))[4][0]
    assert rules[4] == list(files["visibility.json"]["visibility"].values())
