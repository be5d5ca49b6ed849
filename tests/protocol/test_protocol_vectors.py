"""The golden vectors in tests/vectors/ are the protocol: the code must reproduce them byte for byte.

A failure here after a code change means the change alters bytes that other implementations, and
every feed already stored, depend on. If that is intended it is a protocol change: bump
limits.protocol_version, describe it in docs/protocol.md, and regenerate with
`.venv/bin/python tests/vectors/generate.py`.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from tallystick.ledger import decisions, transition
from tallystick.ledger.digest import state_digest
from tallystick.ledger.model import State, initial_state
from tallystick.protocol import errors, limits
from tallystick.protocol import events as events_module
from tallystick.protocol import federation as federation_module
from tallystick.protocol import personal as personal_module
from tallystick.protocol.codec import (
    decode_event,
    decode_fork_proof,
    decode_intent,
    encode,
    event_hash,
    event_namespace,
    intent_namespace,
    sign_event,
    sign_intent,
    signable_event,
    signable_intent,
    verify_event_signature,
    verify_intent,
    verify_submitted_intent,
)
from tallystick.protocol.events import Act, ActSealed, Checkpoint, Genesis
from tallystick.protocol.federation import PaymentOut
from tallystick.protocol.feed import FeedHead, start_feed, verify_batch, verify_fork_proof, verify_next
from tallystick.protocol.ids import KeyPair, hash32, id_from_text, id_to_text

vectors_dir = Path(__file__).resolve().parents[1] / "vectors"
protocol_change = (
    "A changed byte in a golden vector is a PROTOCOL CHANGE: other implementations and every stored feed "
    "depend on these bytes. If you meant it, bump limits.protocol_version, document the change in "
    "docs/protocol.md and rerun `.venv/bin/python tests/vectors/generate.py`; if not, the code is wrong."
)


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("tallystick_vectors_generate", vectors_dir / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = _load_generator()
files: dict[str, Any] = {
    name: json.loads((vectors_dir / name).read_text(encoding="utf-8")) for name in generator.file_names
}
keys = {name: KeyPair(bytes.fromhex(entry["seed_hex"])) for name, entry in files["keys.json"]["keys"].items()}
feed_vectors = files["feed.json"]
events = feed_vectors["events"]
intents = files["intents.json"]["intents"]
# personal.json (docs/protocol.md §19) has bytes refused of its own, and layouts of its new kinds;
# invitations.json the layouts of invite, join and revoke_invitation; devices.json of add_key and remove_key;
# coop_shares.json of the co-operative rules' actions and effects.
invalid_cases = files["invalid.json"]["cases"] + files["personal.json"]["invalid"]
layout_examples = (files["layouts.json"]["examples"] + files["personal.json"]["layouts"]
                   + files["invitations.json"]["layouts"] + files["devices.json"]["layouts"]
                   + files["coop_shares.json"]["layouts"])
error_classes: dict[str, type[errors.TallyError]] = {
    cls.code: cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.RemoteError) and cls is not errors.RemoteError
}


def folded(vector: dict[str, Any]) -> tuple[list[State], list[FeedHead]]:
    """A vector file's feed verified and audited event by event from its genesis: the state and
    the head after each event (what the vector tests of one protocol part compare with)."""
    feed = bytes.fromhex(vector["feed_hex"])
    raw = [bytes.fromhex(event["bytes_hex"]) for event in vector["events"]]
    head, genesis = start_feed(raw[0])
    state = initial_state(head.feed, genesis.body)
    states, heads = [state], [head]
    for event_bytes in raw[1:]:
        head, event = verify_next(head, event_bytes)
        carried = isinstance(event.body, Act | ActSealed)
        intent = verify_intent(event.body.intent, feed=feed) if carried else None
        state = transition.audit(state, event, intent)
        states.append(state)
        heads.append(head)
    return states, heads


def _first_difference(expected: Any, actual: Any, path: str = "") -> str | None:
    if type(expected) is not type(actual):
        return f"{path or '/'}: {type(expected).__name__} in the file, {type(actual).__name__} from the code"
    if isinstance(expected, dict):
        for key in list(expected) + [key for key in actual if key not in expected]:
            if key not in expected or key not in actual:
                return f"{path}/{key}: present on one side only"
            found = _first_difference(expected[key], actual[key], f"{path}/{key}")
            if found:
                return found
        return None
    if isinstance(expected, list):
        for index, (left, right) in enumerate(zip(expected, actual, strict=False)):
            found = _first_difference(left, right, f"{path}/{index}")
            if found:
                return found
        if len(expected) != len(actual):
            return f"{path}: {len(expected)} items in the file, {len(actual)} from the code"
        return None
    if expected != actual:
        return f"{path}: file has {str(expected)[:80]!r}, code gives {str(actual)[:80]!r}"
    return None


@pytest.fixture(scope="module")
def rebuilt() -> dict[str, Any]:
    return generator.build()


@pytest.mark.parametrize("name", generator.file_names)
def test_vector_file_is_exactly_what_the_code_produces(name: str, rebuilt: dict[str, Any]) -> None:
    on_disk = (vectors_dir / name).read_text(encoding="utf-8")
    if generator.render(rebuilt[name]) != on_disk:
        where = _first_difference(files[name], json.loads(generator.render(rebuilt[name])))
        pytest.fail(
            f"tests/vectors/{name} differs from what the code produces now, first at {where}. "
            + protocol_change
        )


def _event_bytes(seq: int) -> bytes:
    return bytes.fromhex(events[seq - 1]["bytes_hex"])


def _heads() -> list[FeedHead]:
    head, _ = start_feed(_event_bytes(1))
    heads = [head]
    for record in events[1:]:
        head, _ = verify_next(head, bytes.fromhex(record["bytes_hex"]))
        heads.append(head)
    return heads


@pytest.mark.parametrize("record", events, ids=[f"seq{record['seq']}" for record in events])
def test_sign_event_reproduces_each_event_byte_for_byte(record: dict[str, Any]) -> None:
    data = bytes.fromhex(record["bytes_hex"])
    event = decode_event(data)
    resigned = sign_event(
        keys[record["signed_by"]],
        feed=event.feed,
        seq=event.seq,
        prev=event.prev,
        ts=event.ts,
        body=event.body,
    )
    assert resigned == data, f"event {record['seq']} no longer signs to its golden bytes. " + protocol_change
    assert encode(event) == data, (
        f"event {record['seq']} no longer re-encodes to its golden bytes. " + protocol_change
    )


@pytest.mark.parametrize("record", intents, ids=[f"intent{record['index']}" for record in intents])
def test_sign_intent_reproduces_each_intent_byte_for_byte(record: dict[str, Any]) -> None:
    data = bytes.fromhex(record["bytes_hex"])
    intent = decode_intent(data)
    resigned = sign_intent(
        keys[record["signed_by"]], feed=intent.feed, nonce=intent.nonce, action=intent.action
    )
    assert resigned == data, (
        f"intent {record['index']} no longer signs to its golden bytes. " + protocol_change
    )
    assert encode(intent) == data


@pytest.mark.parametrize("record", events, ids=[f"seq{record['seq']}" for record in events])
def test_event_signature_is_ed25519_over_namespace_and_unsigned_encoding(record: dict[str, Any]) -> None:
    data = bytes.fromhex(record["bytes_hex"])
    unsigned = bytes.fromhex(record["unsigned_hex"])
    signature = bytes.fromhex(record["signature_hex"])
    assert unsigned[0] == 0x96 and data[0] == 0x97
    assert data == b"\x97" + unsigned[1:] + b"\xc4\x40" + signature
    assert bytes.fromhex(record["signed_message_hex"]) == event_namespace + unsigned == signable_event(data)
    # checked with PyNaCl directly, not through the protocol's helpers
    nacl.signing.VerifyKey(keys[record["signed_by"]].public).verify(event_namespace + unsigned, signature)


@pytest.mark.parametrize("record", intents, ids=[f"intent{record['index']}" for record in intents])
def test_intent_signature_is_ed25519_over_namespace_and_unsigned_encoding(record: dict[str, Any]) -> None:
    data = bytes.fromhex(record["bytes_hex"])
    unsigned = bytes.fromhex(record["unsigned_hex"])
    signature = bytes.fromhex(record["signature_hex"])
    assert unsigned[0] == 0x95 and data[0] == 0x96
    assert data == b"\x96" + unsigned[1:] + b"\xc4\x40" + signature
    assert bytes.fromhex(record["signed_message_hex"]) == intent_namespace + unsigned == signable_intent(data)
    nacl.signing.VerifyKey(keys[record["signed_by"]].public).verify(intent_namespace + unsigned, signature)


def test_event_hash_is_blake2b_256_of_the_signed_bytes_and_the_feed_id_is_the_genesis_hash() -> None:
    import hashlib

    for record in events:
        data = bytes.fromhex(record["bytes_hex"])
        assert (
            record["hash_hex"] == hashlib.blake2b(data, digest_size=32).hexdigest() == event_hash(data).hex()
        )
        assert record["hash_text"] == id_to_text("h", event_hash(data))
    assert feed_vectors["feed_hex"] == events[0]["hash_hex"]
    assert id_from_text("n", feed_vectors["feed_text"]).hex() == feed_vectors["feed_hex"]
    for record in events[1:]:
        assert record["decoded"]["feed"] == feed_vectors["feed_hex"]
        assert record["decoded"]["prev"] == events[record["seq"] - 2]["hash_hex"]


def test_the_feed_verifies_event_by_event_and_as_one_batch_with_the_stated_heads() -> None:
    heads = _heads()
    for head, expected in zip(heads, feed_vectors["heads"], strict=True):
        assert head.seq == expected["seq"]
        assert head.head.hex() == expected["head_hex"]
        assert head.ts == expected["ts"]
        assert head.signing_key.hex() == expected["signing_key_hex"]
        assert head.recovery_key_hash.hex() == expected["recovery_key_hash_hex"]
    final, decoded = verify_batch(heads[0], [bytes.fromhex(record["bytes_hex"]) for record in events[1:]])
    assert final == heads[-1]
    assert [event.seq for event in decoded] == list(range(2, len(events) + 1))


def test_every_act_carries_its_intent_verbatim_and_the_intent_verifies() -> None:
    feed = bytes.fromhex(feed_vectors["feed_hex"])
    for record in events:
        event = decode_event(bytes.fromhex(record["bytes_hex"]))
        if isinstance(event.body, Act):
            intent_record = intents[record["intent_index"]]
            assert event.body.intent.hex() == intent_record["bytes_hex"]
            assert intent_record["carried_by_seq"] == record["seq"]
            verify_intent(event.body.intent, feed=feed)


def test_the_checkpoint_is_the_state_digest_of_the_domain_fold_and_its_documented_preimage() -> None:
    feed = bytes.fromhex(feed_vectors["feed_hex"])
    genesis = decode_event(_event_bytes(1))
    assert isinstance(genesis.body, Genesis)
    state = initial_state(feed, genesis.body)
    checkpoint = feed_vectors["checkpoint"]
    for record in events[1:]:
        event = decode_event(bytes.fromhex(record["bytes_hex"]))
        if isinstance(event.body, Checkpoint):
            assert event.seq == checkpoint["seq"] and state.seq == checkpoint["state_after_seq"]
            assert event.body.state_hash == state_digest(state)
            assert event.body.state_hash.hex() == checkpoint["state_hash_hex"]
            assert (
                hash32(bytes.fromhex(checkpoint["state_preimage_hex"])).hex() == checkpoint["state_hash_hex"]
            ), (
                "ledger.digest.state_digest no longer hashes the layout docs/protocol.md describes. "
                + protocol_change
            )
        intent = verify_intent(event.body.intent, feed=feed) if isinstance(event.body, Act) else None
        state = transition.audit(state, event, intent)
    balances = {
        name: state.accounts[keys[name].public].balance_minor for name in feed_vectors["final_balances"]
    }
    assert balances == feed_vectors["final_balances"]
    assert sum(account.balance_minor for account in state.accounts.values()) == 0


def test_keys_derive_from_their_seeds_and_print_in_the_one_text_form() -> None:
    prefix = bytes.fromhex(files["keys.json"]["seed_prefix_hex"])
    for name, entry in files["keys.json"]["keys"].items():
        assert entry["seed_hex"] == hash32(prefix + name.encode()).hex()
        key = KeyPair.from_text(entry["seed_text"])
        assert key.public.hex() == entry["public_hex"]
        assert id_from_text("k", entry["key_text"]) == key.public
        if "member_text" in entry:
            assert id_from_text("m", entry["member_text"]) == key.public
    for good in files["keys.json"]["ids"]:
        assert id_to_text(good["kind"], bytes.fromhex(good["hex"])) == good["text"]
        assert id_from_text(good["kind"], good["text"]).hex() == good["hex"]


@pytest.mark.parametrize("bad", files["keys.json"]["bad_ids"], ids=lambda bad: bad["why"][:40])
def test_bad_id_vector_raises_bad_id_error(bad: dict[str, str]) -> None:
    with pytest.raises(errors.BadIdError):
        id_from_text(bad["kind"], bad["text"])


def test_the_valid_fork_proof_verifies() -> None:
    for vector in files["fork_proofs.json"]["valid"]:
        proof = decode_fork_proof(bytes.fromhex(vector["bytes_hex"]))
        assert proof.feed.hex() == vector["feed_hex"] and proof.seq == vector["seq"]
        first, second = verify_fork_proof(proof, bytes.fromhex(vector["signing_key_hex"]))
        assert first.seq == second.seq == vector["seq"] and first != second


def _run_check(case: dict[str, Any], heads: list[FeedHead]) -> None:
    data = bytes.fromhex(case["bytes_hex"])
    check = case["check"]
    if check == "decode_event":
        decode_event(data)
    elif check == "decode_intent":
        decode_intent(data)
    elif check == "start_feed":
        start_feed(data)
    elif check == "verify_next":
        verify_next(heads[case["after_seq"] - 1], data)
    elif check == "verify_intent":
        verify_intent(data, feed=bytes.fromhex(case["feed_hex"]))
    elif check == "verify_fork_proof":
        verify_fork_proof(decode_fork_proof(data), bytes.fromhex(case["signing_key_hex"]))
    elif check == "verify_submitted_intent":
        verify_submitted_intent(data, feed=bytes.fromhex(case["feed_hex"]))
    elif check == "submit":  # a node's first step with a new intent (docs/protocol.md §19.3)
        submitted = verify_submitted_intent(data, feed=bytes.fromhex(case["feed_hex"]))
        if personal_module.clear_texts(submitted.intent.action):
            raise errors.PersonalInClearError("a name, memo or text in clear")
    else:
        raise AssertionError(f"unknown check {check!r} in invalid.json")


@pytest.mark.parametrize("case", invalid_cases, ids=[case["name"] for case in invalid_cases])
def test_invalid_vector_raises_exactly_its_typed_error(case: dict[str, Any]) -> None:
    expected = error_classes[case["error"]]
    with pytest.raises(errors.RemoteError) as raised:
        _run_check(case, _heads())
    assert type(raised.value) is expected, (
        f"{case['name']} ({case['description']}) raised {type(raised.value).__name__} "
        f"({raised.value.code}: {raised.value.message}), the vector says {expected.__name__} ({case['error']}). "
        "The error code a peer gets for given bytes is part of the protocol."
    )


def test_invalid_vectors_cover_every_remote_error_code() -> None:
    codes = {case["error"] for case in invalid_cases} | {"bad_id"}
    assert codes == set(error_classes), f"no invalid vector for {sorted(set(error_classes) - codes)}"


def test_invalid_vectors_are_distinct_from_every_valid_event() -> None:
    valid = {record["bytes_hex"] for record in events}
    assert not valid & {case["bytes_hex"] for case in invalid_cases}


def test_protocol_version_of_the_vectors_is_the_code_s() -> None:
    assert feed_vectors["protocol_version"] == limits.protocol_version, protocol_change


def test_only_the_key_in_force_signs_each_event() -> None:
    heads = _heads()
    for record, head_before in zip(events[1:], heads[:-1], strict=True):
        data = bytes.fromhex(record["bytes_hex"])
        if record["signed_by"] == "recovery":
            continue
        verify_event_signature(data, head_before.signing_key)
        assert keys[record["signed_by"]].public == head_before.signing_key


def test_the_specification_names_every_limit_and_every_error_code() -> None:
    """docs/protocol.md is the spec another implementation follows: a new limit or error code that it
    does not mention is a gap in the spec."""
    specification = (vectors_dir.parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")
    limit_names = [
        name for name, value in vars(limits).items() if not name.startswith("_") and isinstance(value, int)
    ]
    missing = [f"limit {name}" for name in limit_names if f"`{name}`" not in specification]
    missing += [f"error code {code}" for code in error_classes if f"`{code}`" not in specification]
    assert not missing, f"docs/protocol.md does not mention {', '.join(missing)}: add them to its tables"


def replayed(vector: dict[str, Any]) -> State:
    """A vector feed's state, as a replica derives it from the bytes alone: every event verified
    in order and audited with the intent it carries (an act's, or a payment_sent's)."""
    raw = [bytes.fromhex(event["bytes_hex"]) for event in vector["events"]]
    head, genesis = start_feed(raw[0])
    assert isinstance(genesis.body, Genesis) and head.feed.hex() == vector["feed_hex"]
    state = initial_state(head.feed, genesis.body)
    for event_bytes in raw[1:]:
        head, event = verify_next(head, event_bytes)
        carried = event.body.intent if isinstance(event.body, (Act, PaymentOut)) else None
        intent = verify_intent(carried, feed=head.feed) if carried is not None else None
        state = transition.audit(state, event, intent)
    return state


def test_the_shares_feed_refolds_to_its_stated_state_digest_balances_and_holdings() -> None:
    """A replica re-running the shares feed (the allotment and the matching included) from its bytes
    alone reaches the digest, balances and holdings the vector states."""
    market = files["shares.json"]
    state = replayed(market)
    assert state_digest(state).hex() == market["state_digest_hex"]
    for name, balance in market["final_balances"].items():
        assert state.accounts[keys[name].public].balance_minor == balance
    units = {holder: held.units for (_, share_class, holder), held in state.shares.holdings.items() if share_class == 1}
    assert {name: units[keys[name].public] for name in market["final_holdings"]} == market["final_holdings"]
    assert any(event["decoded"]["body"].get("kind") == "offer_closed" for event in market["events"])


def test_the_payments_feed_refolds_to_its_stated_digest_balances_and_capacity() -> None:
    """A replica re-running the payments feed (each payment_sent with its member's intent) from its
    bytes alone reaches the digest, balances, trade account and capacity counts the vector states."""
    trading = files["payments.json"]
    state = replayed(trading)
    assert state_digest(state).hex() == trading["state_digest_hex"]
    for name, balance in trading["final_balances"].items():
        assert state.accounts[keys[name].public].balance_minor == balance
    hills = bytes.fromhex(trading["hills_hex"])
    assert state.accounts[state.payments.trade[hills]].balance_minor == trading["trade_account_balance"]
    capacity = state.payments.capacity[hills]
    assert [above.hex() for above in capacity.above] == trading["capacity"]["above_hex"] == [trading["island_hex"]]
    assert (capacity.share_minor, list(capacity.used), list(capacity.held)) == (
        trading["capacity"]["share_minor"], trading["capacity"]["used"], trading["capacity"]["held"])
    kinds = [event["decoded"]["body"]["kind"] for event in trading["events"]]
    assert {"charter", "trade_limits", "capacity_limits", "payment_sent", "payment_settled", "payment_accepted",
            "payment_returned"} <= set(kinds)


def test_the_decisions_feed_refolds_to_its_stated_digest_outcomes_and_floors() -> None:
    """A replica re-running the decisions feed (a unanimous close before its deadline, set_floors,
    a close at the deadline below the new quorum floor, two of three passing a 66.67 % threshold)
    from its bytes alone reaches what the vector states; a propose_period is the 14-element array of
    docs/protocol.md."""

    deciding = files["decisions.json"]
    state = replayed(deciding)
    assert state_digest(state).hex() == deciding["state_digest_hex"]
    assert {str(seq): d.outcome for seq, d in sorted(state.decisions.items())} == deciding["outcomes"]
    assert list(deciding["outcomes"].values()) == ["passed", "passed", "no_quorum", "passed"]
    two_thirds = state.decisions[max(state.decisions)]
    assert two_thirds.threshold_bp == 6667 and two_thirds.result is not None
    assert (two_thirds.result.positions["agree"], two_thirds.result.positions["disagree"]) == (2, 1)
    floors = {name: [f.quorum_bp, f.threshold_bp, f.period_ms] for name, f in decisions.floors_in_force(state).items()}
    assert floors == deciding["floors"] and floors["limits"][0] == 7500
    assert state.accounts[keys["alice"].public].debit_limit_minor == deciding["alice_debit_limit_minor"] == 200_000
    proposals = [intent for intent in deciding["intents"] if intent["decoded"]["action"]["kind"] == "propose_period"]
    assert len(proposals) == 3 and all(intent["decoded"]["action"]["deadline_ms"] == 0 for intent in proposals)


def test_the_commons_feed_refolds_to_its_stated_digest_balances_and_treasury() -> None:
    """A replica re-running the commons feed (delegations, a levy, a withdrawal, a poll counted through
    a delegation, a dividend, a treasury payment) from its bytes alone reaches the digest, balances,
    treasury balance and outcomes the vector states."""
    commons = files["commons.json"]
    state = replayed(commons)
    assert state_digest(state).hex() == commons["state_digest_hex"]
    for name, balance in commons["final_balances"].items():
        assert state.accounts[keys[name].public].balance_minor == balance
    assert state.treasury is not None and state.accounts[state.treasury].balance_minor == commons["treasury_balance"]
    assert sum(account.balance_minor for account in state.accounts.values()) == 0
    assert {str(seq): d.outcome for seq, d in sorted(state.decisions.items())} == commons["outcomes"]
    kinds = {intent["decoded"]["action"]["kind"] for intent in commons["intents"]}
    assert {"delegate", "undelegate", "propose", "propose_period", "vote", "register_enterprise",
            "open_offer_period", "subscribe", "withdraw_shares", "transfer_shares", "transfer"} <= kinds


def _msgpack_array_header(count: int) -> bytes:
    return bytes((0x90 + count,)) if count < 16 else b"\xdc" + count.to_bytes(2, "big")


@pytest.mark.parametrize("example", files["digests.json"]["examples"], ids=lambda example: example["name"])
def test_each_worked_digest_is_its_elements_in_one_array_and_the_state_of_its_feed(example: dict[str, Any]) -> None:
    """A worked example of the state digest: its preimage is the array of its elements' bytes, its
    hash is BLAKE2b-256 of the preimage, and a replica folding that feed up to that seq gets it."""
    preimage = bytes.fromhex(example["preimage_hex"])
    parts = [bytes.fromhex(element["bytes_hex"]) for element in example["elements"]]
    assert preimage == _msgpack_array_header(len(parts)) + b"".join(parts)
    assert hash32(preimage).hex() == example["state_hash_hex"]
    assert [element["element"] for element in example["elements"]] == list(
        generator.digest_element_names[: len(parts)])
    vector = next(files[name] for name in generator.file_names
                  if files[name].get("feed_hex") == example["feed_hex"] and "events" in files[name])
    cut = dict(vector, events=vector["events"][: example["state_after_seq"]])
    assert state_digest(replayed(cut)).hex() == example["state_hash_hex"]


def test_the_riverside_digest_example_is_the_checkpoint_preimage_of_feed_json() -> None:
    riverside = files["digests.json"]["examples"][0]
    assert riverside["preimage_hex"] == feed_vectors["checkpoint"]["state_preimage_hex"]


layout_unions = {"action": events_module.Action, "effect": events_module.Effect,
                 "electorate": events_module.Electorate, "body": events_module.Body,
                 "federation_effect": federation_module.FederationEffect,
                 "personal": personal_module.Personal}


@pytest.mark.parametrize("example", layout_examples,
                         ids=lambda example: f"{example['group']}-{example['kind']}-{example['description'][:30]}")
def test_each_layout_example_decodes_in_its_union_and_re_encodes_to_its_bytes(example: dict[str, Any]) -> None:
    import msgspec

    data = bytes.fromhex(example["bytes_hex"])
    value = msgspec.msgpack.decode(data, type=layout_unions[example["group"]])
    assert type(value).__struct_config__.tag == example["kind"]
    assert encode(value) == data, protocol_change
    assert generator.plain(value) == example["decoded"]


def test_the_layout_examples_cover_every_kind_of_every_union() -> None:
    """A second implementation has at least one encoding of each tag to check its encoder against
    (genesis, act, checkpoint and key_rotated are in feed.json; the sealed kinds and the two forms
    of a personal text are in personal.json)."""
    import typing

    covered: dict[str, set[str]] = {}
    for example in layout_examples:
        covered.setdefault(example["group"], set()).add(example["kind"])
    for group, union in layout_unions.items():
        tags = {member.__struct_config__.tag for member in typing.get_args(union)}
        if group == "body":
            tags -= {"genesis", "act", "checkpoint", "key_rotated"}
        assert tags <= covered.get(group, set()), f"{group}: no layout example of {sorted(tags - covered[group])}"
