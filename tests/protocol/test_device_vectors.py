"""The devices vector (tests/vectors/devices.json, docs/protocol.md §13.2.1, §13.2.4 and §11.2): a
replica folding the Wrenfield feed from its bytes alone reaches the stated digest, balances and
keys, checks its checkpoint whose member entries list the further keys, and refuses each refused
event with its stated code. Alice's devices sign from her one nonce space; her member id stays the
key her phone made, after that key is removed."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from tallystick.ledger import transition
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import DomainError
from tallystick.ledger.model import State
from tallystick.protocol import limits
from tallystick.protocol.codec import verify_intent
from tallystick.protocol.events import AddKey, RemoveKey
from tallystick.protocol.feed import verify_next
from tallystick.protocol.ids import hash32

from .test_protocol_vectors import files, folded, generator

vector = files["devices.json"]
feed = bytes.fromhex(vector["feed_hex"])
alice, bob = generator.key_for("alice").public, generator.key_for("bob").public


def _states() -> tuple[list[State], list[Any]]:
    return folded(vector)


def test_the_devices_feed_refolds_to_its_stated_digest_balances_and_keys() -> None:
    states, _ = _states()
    final = states[-1]
    assert state_digest(final).hex() == vector["state_digest_hex"]
    assert {name: final.accounts[generator.key_for(name).public].balance_minor
            for name in vector["final_balances"]} == vector["final_balances"]
    for name, keys in vector["current_keys_hex"].items():
        assert [k.hex() for k in final.members[generator.key_for(name).public].current_keys] == keys
    assert len(vector["current_keys_hex"]["alice"]) == limits.member_keys_max


def test_alices_member_id_stays_her_phones_key_after_it_is_removed() -> None:
    states, _ = _states()
    final = states[-1]
    assert alice in final.members and final.keys[alice] == alice
    assert alice in final.members[alice].retired_keys and not final.members[alice].signs_with(alice)
    assert sorted(k.hex() for k in final.members[alice].retired_keys) == vector["retired_keys_hex"]["alice"]


def test_every_device_of_a_member_signs_from_one_nonce_space() -> None:
    nonces: dict[bytes, list[int]] = {}
    states, _ = _states()
    for record in vector["intents"]:
        intent = verify_intent(bytes.fromhex(record["bytes_hex"]), feed=feed)
        member = states[record["carried_by_seq"] - 2].keys[intent.key]
        nonces.setdefault(member, []).append(intent.nonce)
    signers = {record["signed_by"] for record in vector["intents"]}
    assert {"alice", "alice laptop", "alice tablet"} <= signers
    for used in nonces.values():
        assert len(used) == len(set(used))


def test_the_key_actions_of_the_feed_are_add_key_and_remove_key() -> None:
    kinds = [verify_intent(bytes.fromhex(r["bytes_hex"]), feed=feed).action for r in vector["intents"]]
    assert sum(isinstance(action, AddKey) for action in kinds) == 2 + 1 + (limits.member_keys_max - 2)
    assert [action.key for action in kinds if isinstance(action, RemoveKey)] == [
        alice, generator.key_for("bob laptop").public]


def test_the_checkpoint_lists_each_accounts_further_keys_as_a_ninth_entry_element() -> None:
    example = vector["digest"]
    elements = msgspec.msgpack.decode(bytes.fromhex(example["preimage_hex"]))
    assert hash32(bytes.fromhex(example["preimage_hex"])).hex() == example["state_hash_hex"]
    assert len(elements) == 4  # no decision, share, federation or invitation: the accounts carry the change
    entries = {entry[0]: entry for entry in elements[3]}
    laptop, tablet = generator.key_for("alice laptop").public, generator.key_for("alice tablet").public
    assert entries[alice][2] == laptop and entries[alice][8] == [tablet]
    assert entries[bob][2] == bob and entries[bob][8] == [generator.key_for("bob laptop").public]
    assert len(entries[generator.key_for("admin").public]) == 8  # one key: the entry as before
    checkpoint = next(event for event in vector["events"] if event["decoded"]["body"]["kind"] == "checkpoint")
    assert checkpoint["decoded"]["body"]["state_hash"] == example["state_hash_hex"]
    assert example["state_after_seq"] == checkpoint["seq"] - 1


@pytest.mark.parametrize("case", vector["refused"], ids=lambda case: case["name"])
def test_a_replica_refuses_each_refused_device_event_with_its_code(case: dict[str, Any]) -> None:
    states, heads = _states()
    _, event = verify_next(heads[case["after_seq"] - 1], bytes.fromhex(case["bytes_hex"]))
    intent = verify_intent(event.body.intent, feed=feed)
    before = state_digest(states[case["after_seq"] - 1])
    with pytest.raises(DomainError) as raised:
        transition.audit(states[case["after_seq"] - 1], event, intent)
    assert raised.value.code == case["error"]
    assert state_digest(states[case["after_seq"] - 1]) == before


def test_the_refused_cases_cover_each_new_code() -> None:
    assert {case["error"] for case in vector["refused"]} >= {"key_retired", "key_in_use", "last_key",
                                                             "too_many_keys", "unknown_key"}
