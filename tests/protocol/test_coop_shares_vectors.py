"""The co-operative shares vector (tests/vectors/coop_shares.json, docs/protocol.md §20 and §11.4):
a replica folding the Fenwick feed from its bytes alone reaches the stated digest and balances,
counts the dividend decision of three very different stakes as three votes, checks the checkpoint
whose enterprise entry carries the five co-operative elements, and refuses each refused event with
its stated code. And the kinds before them are untouched: every `register_enterprise` of the older
vectors decodes as it did, to a `register_enterprise` with nine-element classes, and re-encodes to
its exact bytes."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from tallystick.ledger import transition
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import DomainError
from tallystick.ledger.model import State
from tallystick.protocol.codec import decode_event, encode, verify_intent
from tallystick.protocol.events import Act, Intent, RegisterEnterprise, RegisterEnterpriseWithMemberVotes
from tallystick.protocol.feed import verify_next
from tallystick.protocol.ids import hash32

from .test_protocol_vectors import files, folded, generator

vector = files["coop_shares.json"]
feed = bytes.fromhex(vector["feed_hex"])


def _states() -> tuple[list[State], list[Any]]:
    return folded(vector)


def test_the_coop_feed_refolds_to_its_stated_digest_and_balances() -> None:
    states, _ = _states()
    final = states[-1]
    assert state_digest(final).hex() == vector["state_digest_hex"]
    assert {name: final.accounts[generator.key_for(name).public].balance_minor
            for name in vector["final_balances"]} == vector["final_balances"]


def test_three_holders_of_1_40_and_500_shares_pass_the_dividend_as_three_votes() -> None:
    states, _ = _states()
    assert vector["dividend_tally"] == {"electorate": 3, "agree": 2, "disagree": 1, "outcome": "passed"}
    dividend = next(d for d in states[-1].decisions.values() if d.effect is not None
                    and type(d.effect).__struct_config__.tag == "declare_dividend")
    assert (dividend.result.electorate, dividend.outcome) == (3, "passed")


def test_the_checkpoint_holds_the_enterprise_entry_with_its_five_co_operative_elements() -> None:
    example = vector["digest"]
    assert hash32(bytes.fromhex(example["preimage_hex"])).hex() == example["state_hash_hex"]
    elements = msgspec.msgpack.decode(bytes.fromhex(example["preimage_hex"]))
    (enterprise,) = elements[5][0]
    assert len(enterprise) == 12 and enterprise[7] == [0] and enterprise[8] == 300 and enterprise[10:] == [0, ""]
    checkpoint = vector["events"][-1]
    assert checkpoint["decoded"]["body"]["state_hash"] == example["state_hash_hex"]


@pytest.mark.parametrize("case", vector["refused"], ids=lambda case: case["name"])
def test_a_replica_refuses_each_refused_coop_event_with_its_code(case: dict[str, Any]) -> None:
    states, heads = _states()
    _, event = verify_next(heads[case["after_seq"] - 1], bytes.fromhex(case["bytes_hex"]))
    intent = verify_intent(event.body.intent, feed=bytes.fromhex(vector["feed_hex"])) if isinstance(
        event.body, Act) else None
    with pytest.raises(DomainError) as raised:
        transition.audit(states[case["after_seq"] - 1], event, intent)
    assert raised.value.code == case["error"]


def test_every_older_register_enterprise_decodes_as_before_and_re_encodes_to_its_bytes() -> None:
    found = 0
    for name in generator.file_names:
        if name == "coop_shares.json":
            continue
        for record in files[name].get("intents", []):
            if record["decoded"]["action"]["kind"] != "register_enterprise":
                continue
            data = bytes.fromhex(record["bytes_hex"])
            intent = msgspec.msgpack.decode(data, type=Intent)
            assert type(intent.action) is RegisterEnterprise
            assert not isinstance(intent.action, RegisterEnterpriseWithMemberVotes)
            assert encode(intent) == data
            assert all(len(msgspec.msgpack.decode(encode(c))) == 9 for c in intent.action.classes)
            found += 1
        for event in files[name].get("events", []):
            data = bytes.fromhex(event["bytes_hex"])
            assert encode(decode_event(data)) == data
    assert found >= 2
