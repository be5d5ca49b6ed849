"""The invitations vector (tests/vectors/invitations.json, docs/protocol.md §13.2.4 and §11.6): a
replica folding the Ivybridge feed from its bytes alone reaches the stated digest and balances,
checks its checkpoint whose ninth element holds the invitations, and refuses each refused join or
invite with its stated code. The join is signed by the invitation's one-time key, sent opened as
the wallet sends it, and the member it admits is the key made on the device."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from tallystick.ledger import transition
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import DomainError
from tallystick.ledger.model import State
from tallystick.protocol.codec import decode_event, verify_intent, verify_submitted_intent
from tallystick.protocol.events import ActSealed, Join
from tallystick.protocol.feed import verify_next
from tallystick.protocol.ids import KeyPair, hash32

from .test_protocol_vectors import files, folded, generator

vector = files["invitations.json"]
feed = bytes.fromhex(vector["feed_hex"])


def _states() -> tuple[list[State], list[Any]]:
    return folded(vector)


def test_the_invitations_feed_refolds_to_its_stated_digest_and_balances() -> None:
    states, _ = _states()
    final = states[-1]
    assert state_digest(final).hex() == vector["state_digest_hex"]
    assert {name: final.accounts[generator.key_for(name).public].balance_minor
            for name in vector["final_balances"]} == vector["final_balances"]
    assert sorted(key.hex() for key in final.invitations) == sorted(vector["invitations_hex"].values())


def test_the_join_is_signed_by_the_invitation_key_sent_opened_and_sealed_under_the_new_members_key() -> None:
    record = next(intent for intent in vector["intents"] if intent["decoded"]["action"]["kind"] == "join")
    invitation, dee = generator.key_for("invitation dee"), generator.key_for("dee")
    submitted = verify_submitted_intent(bytes.fromhex(record["sent_bytes_hex"]), feed=feed)
    assert submitted.intent.key == invitation.public and isinstance(submitted.intent.action, Join)
    assert submitted.intent.action.member == dee.public and [o.text for o in submitted.opened] == ["Dee"]
    assert submitted.intent_bytes.hex() == record["bytes_hex"]
    event = decode_event(bytes.fromhex(vector["events"][record["carried_by_seq"] - 1]["bytes_hex"]))
    assert isinstance(event.body, ActSealed) and event.body.subject == dee.public
    states, _ = _states()
    member = states[record["carried_by_seq"] - 1].members[dee.public]
    assert member.retired_keys == {invitation.public} and member.key == dee.public


def test_the_checkpoint_holds_the_invitations_as_the_ninth_element_with_nils_before_it() -> None:
    example = vector["digest"]
    elements = msgspec.msgpack.decode(bytes.fromhex(example["preimage_hex"]))
    assert hash32(bytes.fromhex(example["preimage_hex"])).hex() == example["state_hash_hex"]
    assert len(elements) == 9 and elements[4:8] == [None, None, None, None]
    assert sorted(entry[7] for entry in elements[8]) == [False, True]  # Eli's open, Fay's withdrawn
    checkpoint = next(event for event in vector["events"] if event["decoded"]["body"]["kind"] == "checkpoint")
    assert checkpoint["decoded"]["body"]["state_hash"] == example["state_hash_hex"]
    assert example["state_after_seq"] == checkpoint["seq"] - 1


@pytest.mark.parametrize("case", vector["refused"], ids=lambda case: case["name"])
def test_a_replica_refuses_each_refused_invitation_event_with_its_code(case: dict[str, Any]) -> None:
    states, heads = _states()
    _, event = verify_next(heads[case["after_seq"] - 1], bytes.fromhex(case["bytes_hex"]))
    intent = verify_intent(event.body.intent, feed=feed)
    with pytest.raises(DomainError) as raised:
        transition.audit(states[case["after_seq"] - 1], event, intent)
    assert raised.value.code == case["error"]


def test_every_invitation_key_of_the_vector_derives_from_its_seed() -> None:
    for text, key_hex in vector["invitations_hex"].items():
        assert text.startswith("k_")
        assert any(KeyPair(generator.seed_for(f"invitation {name}")).public.hex() == key_hex for name in ("fay", "gus"))
