"""Personal texts out of the log (protocol/personal.py, docs/protocol.md §19) against their golden
vector, tests/vectors/personal.json, and by property over random actions.

How this works: the vector's digests are recomputed with hashlib alone, its intents re-signed in
both forms (as a client sends them, opened; as the log holds them, committed), its boxes re-sealed
with NaCl from their data keys and nonces and opened with `unseal`, its feed refolded as a replica
would from the bytes alone, and each refusal it lists reproduced. The properties walk every field
a type allows a personal text in, found from the type annotations (not from `personal_fields`), so
a text field the walk of personal.py forgets fails here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import typing
from pathlib import Path
from typing import Any

import msgspec
import nacl.secret
import nacl.signing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tallystick.ledger import transition
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import DomainError
from tallystick.ledger.model import initial_state
from tallystick.protocol import events as events_module
from tallystick.protocol import limits
from tallystick.protocol.codec import (
    decode_event,
    decode_intent,
    encode,
    intent_namespace,
    sign_event,
    sign_intent,
    sign_member_intent,
    verify_intent,
    verify_submitted_intent,
)
from tallystick.protocol.errors import BadSignatureError, MalformedError, RemoteError
from tallystick.protocol.events import (
    Act,
    ActSealed,
    AdmitMember,
    EnterprisePay,
    FederationAct,
    Genesis,
    GenesisSealed,
    Intent,
    IntentUnsigned,
    PayAcross,
    Propose,
    ProposeWithPeriod,
    RebindKey,
    RegisterEnterprise,
    RemoveMember,
    SetLimits,
    ShareClass,
    Transfer,
    TreasuryPay,
    Vote,
)
from tallystick.protocol.federation import FederationProposal, PaymentOut, PaymentOutSealed, SetTradeLimits
from tallystick.protocol.feed import FeedHead, start_feed, verify_next
from tallystick.protocol.ids import KeyPair, hash32
from tallystick.protocol.personal import (
    Committed,
    Opened,
    Personal,
    UnsealError,
    clear_action,
    clear_texts,
    commit,
    committed_action,
    committed_texts,
    open_text,
    opened_action,
    openings,
    personal_fields,
    seal,
    text_digest,
    unseal,
)

vectors_dir = Path(__file__).resolve().parents[1] / "vectors"
vector = json.loads((vectors_dir / "personal.json").read_text(encoding="utf-8"))
seed_prefix = b"tallystick test vector seed: "
feed = bytes.fromhex(vector["feed_hex"])
events = vector["events"]
intents = vector["intents"]
boxes = {box["seq"]: box for box in vector["boxes"]}
personalisation = bytes.fromhex(vector["personalisation_hex"])


def key_for(name: str) -> KeyPair:
    return KeyPair(hash32(seed_prefix + name.encode("ascii")))


def _raw(seq: int) -> bytes:
    return bytes.fromhex(events[seq - 1]["bytes_hex"])


def _heads() -> list[FeedHead]:
    head, _ = start_feed(_raw(1))
    heads = [head]
    for record in events[1:]:
        head, _ = verify_next(head, bytes.fromhex(record["bytes_hex"]))
        heads.append(head)
    return heads


def _blake2b_keyed(salt: bytes, text: str) -> bytes:
    """The digest of §19.2 from hashlib's BLAKE2b alone: the salt is BLAKE2b's key, the
    personalisation is "tally/personal" padded with zero bytes to 16."""
    person = personalisation + bytes(16 - len(personalisation))
    return hashlib.blake2b(text.encode("utf-8"), digest_size=32, key=salt, person=person).digest()


# ---- the digests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("example", vector["digests"], ids=lambda example: example["name"])
def test_each_digest_is_keyed_blake2b_of_the_utf8_text_and_both_forms_encode_as_written(example: dict) -> None:
    salt, text = bytes.fromhex(example["salt_hex"]), example["text"]
    assert len(salt) == 16 and personalisation == b"tally/personal"
    assert text.encode("utf-8").hex() == example["text_utf8_hex"]
    digest = bytes.fromhex(example["digest_hex"])
    assert _blake2b_keyed(salt, text) == digest == text_digest(salt, text)
    # The salt is BLAKE2b's key, not its 16-byte salt parameter.
    assert hashlib.blake2b(text.encode(), digest_size=32, salt=salt, person=personalisation).digest() != digest
    assert encode(Opened(salt=salt, text=text)).hex() == example["opened_hex"]
    assert encode(Committed(digest=digest)).hex() == example["committed_hex"]
    decoded = msgspec.msgpack.decode(bytes.fromhex(example["opened_hex"]), type=Personal)
    assert decoded == Opened(salt=salt, text=text) and commit(decoded) == Committed(digest=digest)


def test_the_digests_tell_apart_salts_and_spellings_of_one_text() -> None:
    by_name = {example["name"]: example for example in vector["digests"]}
    assert by_name["ascii"]["text"] == by_name["ascii_other_salt"]["text"]
    assert by_name["ascii"]["digest_hex"] != by_name["ascii_other_salt"]["digest_hex"]
    assert by_name["non_ascii"]["salt_hex"] == by_name["decomposed"]["salt_hex"]
    assert by_name["non_ascii"]["digest_hex"] != by_name["decomposed"]["digest_hex"]
    assert len({example["digest_hex"] for example in vector["digests"]}) == len(vector["digests"])


# ---- the events and intents, byte for byte ----------------------------------------------------------


@pytest.mark.parametrize("record", events, ids=[f"seq{record['seq']}" for record in events])
def test_each_event_decodes_re_encodes_and_re_signs_to_its_bytes(record: dict[str, Any]) -> None:
    data = bytes.fromhex(record["bytes_hex"])
    event = decode_event(data)
    assert encode(event) == data
    resigned = sign_event(key_for(record["signed_by"]), feed=event.feed, seq=event.seq, prev=event.prev,
                          ts=event.ts, body=event.body)
    assert resigned == data
    assert hash32(data).hex() == record["hash_hex"]
    assert event.body.__struct_config__.tag == record["decoded"]["body"]["kind"]


sealed_intents = [record for record in intents if "sent_bytes_hex" in record]


@pytest.mark.parametrize("record", sealed_intents, ids=[f"intent{record['index']}" for record in sealed_intents])
def test_each_intent_as_sent_and_as_logged_and_its_one_signature_over_the_committed_form(record: dict) -> None:
    key = key_for(record["signed_by"])
    sent, logged = bytes.fromhex(record["sent_bytes_hex"]), bytes.fromhex(record["bytes_hex"])
    unsigned, signature = bytes.fromhex(record["unsigned_hex"]), bytes.fromhex(record["signature_hex"])
    as_sent = decode_intent(sent)
    assert encode(as_sent) == sent
    assert sign_intent(key, feed=feed, nonce=as_sent.nonce, action=as_sent.action) == sent
    # The log's form: every opened text replaced by its commitment, the same signature.
    committed = committed_action(as_sent.action)
    assert encode(IntentUnsigned(v=1, feed=feed, key=key.public, nonce=as_sent.nonce, action=committed)) == unsigned
    assert logged == b"\x96" + unsigned[1:] + b"\xc4\x40" + signature and sent[-64:] == signature
    assert sign_intent(key, feed=feed, nonce=as_sent.nonce, action=committed) == logged
    nacl.signing.VerifyKey(key.public).verify(intent_namespace + unsigned, signature)
    with pytest.raises(BadSignatureError):
        verify_intent(sent, feed=feed)  # the opened bytes are not what was signed
    submitted = verify_submitted_intent(sent, feed=feed)
    assert submitted.intent_bytes == logged and submitted.intent == verify_intent(logged, feed=feed)
    assert submitted.clear is not None and not clear_texts(submitted.intent.action)
    # The openings, in field order, are the vector's and commit to the logged digests.
    listed = record["openings"]
    assert [(o.salt.hex(), o.text) for o in submitted.opened] == [(o["salt_hex"], o["text"]) for o in listed]
    assert [c.digest.hex() for c in committed_texts(submitted.intent.action)] == [o["digest_hex"] for o in listed]
    assert all(_blake2b_keyed(bytes.fromhex(o["salt_hex"]), o["text"]).hex() == o["digest_hex"] for o in listed)
    assert [o["text"] for o in listed] == [text for text in _texts_of(submitted.clear.action)]


def _texts_of(action: Any) -> list[str]:
    return [value for _, value in _typed_personal_values(action) if isinstance(value, str) and value]


def test_an_intent_without_texts_is_sent_as_it_is_logged() -> None:
    plain = [record for record in intents if "sent_bytes_hex" not in record]
    assert plain, "the feed has intents with no text (an empty memo, a charter)"
    for record in plain:
        data = bytes.fromhex(record["bytes_hex"])
        submitted = verify_submitted_intent(data, feed=feed)
        assert submitted.intent_bytes == data and submitted.opened == () and submitted.clear is None


def test_the_worked_transfer_is_alice_paying_bob_for_bread() -> None:
    """docs/protocol.md §19.6 walks this one: the memo opened as sent, committed as logged."""
    record = next(record for record in intents if record["description"].startswith("Alice pays Bob 12.50"))
    sent = bytes.fromhex(record["sent_bytes_hex"])
    logged = bytes.fromhex(record["bytes_hex"])
    salt = bytes.fromhex(record["openings"][0]["salt_hex"])
    opened_memo = b"\x93\xa6opened\xc4\x10" + salt + b"\xa5bread"
    committed_memo = b"\x92\xa9committed\xc4\x20" + text_digest(salt, "bread")
    assert opened_memo in sent and committed_memo in logged
    assert sent.replace(opened_memo, committed_memo) == logged
    assert len(sent) == 216 and len(logged) == 229  # 32 bytes opened, 45 committed


# ---- the boxes --------------------------------------------------------------------------------------


def _subject_by_the_rule(state: Any, intent: Intent | None, genesis: Genesis | None) -> bytes:
    if genesis is not None:
        return genesis.admin_key
    assert intent is not None
    action = intent.action
    if isinstance(action, AdmitMember):
        return action.member
    if isinstance(action, Propose) and isinstance(action.effect, AdmitMember):
        return action.effect.member
    return state.keys[intent.key]


def test_every_sealed_box_is_secretbox_of_its_openings_under_its_subject_s_key_and_opens_with_no_other() -> None:
    data_keys = {name: bytes.fromhex(key) for name, key in vector["data_keys"].items()}
    head, genesis = start_feed(_raw(1))
    assert isinstance(genesis.body, GenesisSealed)
    state = initial_state(head.feed, genesis.body)
    seen = set()
    for record in events:
        event = decode_event(bytes.fromhex(record["bytes_hex"]))
        body = event.body
        intent = verify_intent(body.intent, feed=feed) if isinstance(body, Act | PaymentOut) else None
        if isinstance(body, ActSealed | GenesisSealed | PaymentOutSealed):
            box = boxes[event.seq]
            seen.add(event.seq)
            key = bytes.fromhex(box["data_key_hex"])
            assert data_keys[box["subject"]] == key and body.box.hex() == box["box_hex"]
            assert body.subject.hex() == box["subject_hex"] == key_for(box["subject"]).public.hex()
            assert body.subject == _subject_by_the_rule(state, intent, body if isinstance(body, Genesis) else None)
            nonce, plaintext = bytes.fromhex(box["nonce_hex"]), bytes.fromhex(box["plaintext_hex"])
            assert body.box == nonce + bytes.fromhex(box["mac_hex"]) + bytes.fromhex(box["ciphertext_hex"])
            assert bytes(nacl.secret.SecretBox(key).encrypt(plaintext, nonce)) == body.box
            assert bytes(nacl.secret.SecretBox(key).decrypt(body.box)) == plaintext
            listed = [(bytes.fromhex(o["salt_hex"]), o["text"]) for o in box["openings"]]
            assert plaintext == encode([list(pair) for pair in listed])
            assert [(o.salt, o.text) for o in unseal(key, body.box)] == listed
            assert seal(key, [Opened(salt, text) for salt, text in listed], nonce) == body.box
            committed = [body.admin_name] if intent is None else committed_texts(intent.action)
            assert committed == [Committed(text_digest(salt, text)) for salt, text in listed]
            for other, other_key in data_keys.items():
                if other != box["subject"]:
                    with pytest.raises(UnsealError):
                        unseal(other_key, body.box)
        if event.seq > 1:
            state = transition.audit(state, event, intent)
    assert seen == set(boxes) and {1, 2, 3, 4, 6, 7, 8, 13} == seen


@pytest.mark.parametrize("refusal", vector["boxes_refused"], ids=lambda refusal: refusal["name"])
def test_unseal_refuses_each_bad_box(refusal: dict[str, str]) -> None:
    with pytest.raises(UnsealError):
        unseal(bytes.fromhex(refusal["data_key_hex"]), bytes.fromhex(refusal["box_hex"]))


def test_a_box_opens_with_its_key_only() -> None:
    key, other = hash32(b"personal test: a key"), hash32(b"personal test: another key")
    texts = [open_text("Ada"), open_text("café ☕ 🍞"), open_text("")]
    box = seal(key, texts)
    assert [(o.salt, o.text) for o in unseal(key, box)] == [(t.salt, t.text) for t in texts]
    with pytest.raises(UnsealError):
        unseal(other, box)
    assert seal(key, texts) != box  # a fresh nonce each time


# ---- the feed, refolded from its bytes alone ---------------------------------------------------------


def test_the_feed_refolds_to_its_digest_and_balances_with_committed_names_only() -> None:
    head, genesis = start_feed(_raw(1))
    state = initial_state(head.feed, genesis.body)
    for record in events[1:]:
        head, event = verify_next(head, bytes.fromhex(record["bytes_hex"]))
        carried = event.body.intent if isinstance(event.body, Act | PaymentOut) else None
        intent = verify_intent(carried, feed=feed) if carried is not None else None
        if intent is not None:
            sealed = isinstance(event.body, ActSealed | PaymentOutSealed)
            assert sealed == bool(committed_texts(intent.action)) and not clear_texts(intent.action)
            assert not openings(intent.action)
        if event.seq == vector["checkpoint_seq"]:
            assert event.body.state_hash.hex() == vector["digest"]["state_hash_hex"] == state_digest(state).hex()
        state = transition.audit(state, event, intent)
    assert state_digest(state).hex() == vector["state_digest_hex"]
    for name, balance in vector["final_balances"].items():
        assert state.accounts[key_for(name).public].balance_minor == balance
    people = [member for member in state.members.values() if member.role in ("member", "admin")]
    assert len(people) == 3 and all(isinstance(member.name, Committed) for member in people)
    # The look-alike index holds only the names the log has in clear: the trade account's.
    assert {state.members[account].role for account in state.names.values()} == {"trade"}
    # Every byte of the log but the boxes: no text in clear.
    log = b"".join(bytes.fromhex(record["bytes_hex"]) for record in events)
    for box in vector["boxes"]:
        for opening in box["openings"]:
            assert opening["text"].encode() not in log.replace(bytes.fromhex(box["box_hex"]), b"")


def test_the_checkpoint_digest_holds_each_committed_name_as_its_tagged_array() -> None:
    preimage = bytes.fromhex(vector["digest"]["preimage_hex"])
    assert hash32(preimage).hex() == vector["digest"]["state_hash_hex"]
    for name in ("admin", "alice", "bob"):
        digest = next(bytes.fromhex(o["digest_hex"]) for box in vector["boxes"] for o in box["openings"]
                      if box["subject"] == name and o["field"] in ("name", "admin_name"))
        member = key_for(name).public
        entry = b"\xc4\x20" + member + b"\x92\xa9committed\xc4\x20" + digest + b"\xc4\x20" + member
        assert entry in preimage, name


@pytest.mark.parametrize("case", vector["refused"], ids=lambda case: case["name"])
def test_a_replica_refuses_a_box_without_commitments_and_commitments_without_a_box(case: dict[str, Any]) -> None:
    heads = _heads()
    states = []
    head, genesis = start_feed(_raw(1))
    state = initial_state(head.feed, genesis.body)
    states.append(state)
    for record in events[1:]:
        head, event = verify_next(head, bytes.fromhex(record["bytes_hex"]))
        carried = event.body.intent if isinstance(event.body, Act | PaymentOut) else None
        state = transition.audit(state, event, verify_intent(carried, feed=feed) if carried is not None else None)
        states.append(state)
    _, event = verify_next(heads[case["after_seq"] - 1], bytes.fromhex(case["bytes_hex"]))
    intent = verify_intent(event.body.intent, feed=feed)
    with pytest.raises(DomainError) as raised:
        transition.audit(states[case["after_seq"] - 1], event, intent)
    assert raised.value.code == case["error"] == "not_authorized"


# ---- no opened text in an event ----------------------------------------------------------------------


def test_decode_event_refuses_an_opened_text_wherever_a_body_holds_a_text() -> None:
    """A body's own texts (a genesis's admin_name, a payment_sent's memo) are a string or
    committed, never opened: the type refuses a salt in an event."""
    genesis = decode_event(_raw(1))
    payment = decode_event(_raw(13))
    node = key_for("node")
    opened = Opened(salt=bytes(16), text="Ada")
    for seq, prev, body in (
        (1, None, msgspec.structs.replace(genesis.body, admin_name=opened)),
        (1, None, Genesis(**{field: getattr(genesis.body, field) for field in Genesis.__struct_fields__
                             if field != "admin_name"}, admin_name=opened)),
        (13, payment.prev, msgspec.structs.replace(payment.body, memo=opened)),
        (13, payment.prev, PaymentOut(**{field: getattr(payment.body, field) for field in PaymentOut.__struct_fields__
                                         if field != "memo"}, memo=opened)),
    ):
        data = sign_event(node, feed=None if seq == 1 else feed, seq=seq, prev=prev, ts=genesis.ts, body=body)
        with pytest.raises(MalformedError):
            decode_event(data)
    names = {case["name"]: case for case in vector["invalid"]}
    assert names["opened_in_genesis_sealed"]["error"] == names["opened_in_payment_sent_sealed"]["error"] == "malformed"


def test_a_replica_refuses_an_act_whose_intent_carries_opened_texts() -> None:
    """protocol/personal.py says an Opened is never in an event. Inside an act it is only bytes, so
    decode_event cannot see it; the intent, signed over its opened form, verifies; the audit must
    refuse it."""
    head, genesis = start_feed(_raw(1))
    state = initial_state(head.feed, genesis.body)
    admin, carol = key_for("admin"), key_for("carol")
    action = AdmitMember(member=carol.public, name=Opened(salt=bytes(16), text="Carol"))
    unsigned = encode(IntentUnsigned(v=1, feed=feed, key=admin.public, nonce=99, action=action))
    raw = b"\x96" + unsigned[1:] + b"\xc4\x40" + admin.sign(intent_namespace + unsigned)
    intent = verify_intent(raw, feed=feed)  # signed over what it carries
    event = decode_event(sign_event(key_for("node"), feed=feed, seq=2, prev=feed, ts=genesis.ts, body=Act(raw)))
    with pytest.raises((DomainError, RemoteError)):
        transition.audit(state, event, intent)


def test_a_submitted_intent_must_open_every_text_it_commits_to() -> None:
    alice, bob = key_for("alice"), key_for("bob")
    sent = sign_intent(alice, feed=feed, nonce=99,
                       action=Transfer(to=bob.public, amount_minor=5, memo=commit(open_text("bread"))))
    with pytest.raises(RemoteError):
        submitted = verify_submitted_intent(sent, feed=feed)
        # What a node would need to hold to seal the event a replica will accept:
        assert len(submitted.opened) == len(committed_texts(submitted.intent.action)), "no opening for the memo"


# ---- by property: the three forms of an action -----------------------------------------------------


def _allows_personal(annotation: Any) -> bool:
    return any(arg in (Opened, Committed) or _allows_personal(arg) for arg in typing.get_args(annotation))


def _typed_personal_fields(kind: type) -> list[str]:
    hints = typing.get_type_hints(kind, include_extras=True)
    return [field for field in kind.__struct_fields__ if _allows_personal(hints[field])]


def _typed_personal_values(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every value in a field whose type admits a personal text, by path; the effect walked."""
    if not isinstance(value, msgspec.Struct):
        return []
    found: list[tuple[str, Any]] = []
    for field in _typed_personal_fields(type(value)):
        current = getattr(value, field)
        if isinstance(current, tuple):
            found += [(f"{prefix}{field}[{index}]", item) for index, item in enumerate(current)]
        else:
            found.append((prefix + field, current))
    if isinstance(value, Propose) and value.effect is not None:
        found += _typed_personal_values(value.effect, prefix + "effect.")
    return found


def _structs_of(union: Any) -> set[type]:
    found = set()
    for member in typing.get_args(union):
        found.add(member)
        found |= set(member.__subclasses__())
    return found


def test_personal_fields_names_every_field_whose_type_admits_a_personal_text() -> None:
    """Every struct of the actions, effects and bodies: a field typed to hold an Opened or a
    Committed is walked by protocol/personal.py, and no other field is."""
    kinds = _structs_of(events_module.Action) | _structs_of(events_module.Effect)
    for kind in kinds:
        tag = kind.__struct_config__.tag
        walked = [field for field in personal_fields.get(tag, ()) if field != "effect"]
        assert walked == _typed_personal_fields(kind), tag
        if issubclass(kind, Propose):
            assert "effect" in personal_fields[tag]
    # The bodies hold committed texts only (no Opened): a genesis's admin_name and a payment's memo.
    for kind in _structs_of(events_module.Body):
        hints = typing.get_type_hints(kind, include_extras=True)
        for field in kind.__struct_fields__:
            assert Opened not in _flatten(hints[field]), (kind, field)
    assert {"admin_name"} == set(_typed_personal_fields(Genesis)) == set(_typed_personal_fields(GenesisSealed))
    assert {"memo"} == set(_typed_personal_fields(PaymentOutSealed))


def _flatten(annotation: Any) -> set[Any]:
    found = {annotation}
    for arg in typing.get_args(annotation):
        found |= _flatten(arg)
    return found


ids = st.binary(min_size=32, max_size=32)
amounts = st.integers(min_value=1, max_value=limits.amount_minor_max)
characters = st.characters(blacklist_categories=("Cs",))
names = st.text(characters, min_size=1, max_size=12)
memos = st.text(characters, max_size=16)
titles = st.text(characters, min_size=1, max_size=16)
texts = st.text(characters, max_size=24)
deadline = st.integers(min_value=0, max_value=limits.int64_max)
admissions = st.builds(AdmitMember, ids, names, st.sampled_from(["member", "admin"]))
effects = st.one_of(
    st.none(),
    admissions,
    st.builds(TreasuryPay, ids, amounts, memos),
    st.builds(RemoveMember, ids),
    st.builds(SetLimits, ids, st.none(), st.none()),
    st.builds(lambda f, title, text: FederationAct(FederationProposal(f, 0, f, 1, title, text,
                                                                      SetTradeLimits(f, 1, 1))), ids, titles, texts),
)


@st.composite
def proposals(draw: st.DrawFn) -> Propose:
    poll = draw(st.booleans())
    fields = {
        "decision_type": "poll" if poll else "proposal", "title": draw(titles), "text": draw(texts),
        "deadline_ms": draw(deadline),
        "options": tuple(draw(st.lists(names, max_size=limits.poll_options_max))) if poll else (),
        "effect": None if poll else draw(effects),
    }
    if draw(st.booleans()):
        return ProposeWithPeriod(**{**fields, "deadline_ms": 0}, voting_period_ms=1000)
    return Propose(**fields)


share_class = ShareClass("Founder shares", "founder", 1, 1, 100, False, True, None, False)
actions = st.one_of(
    admissions,
    st.builds(Transfer, ids, amounts, memos),
    st.builds(EnterprisePay, ids, ids, amounts, memos),
    st.builds(PayAcross, ids, ids, ids, amounts, memos),
    proposals(),
    st.builds(Vote, st.integers(min_value=1, max_value=1000), st.just("agree")),
    st.builds(RebindKey, ids),
    st.builds(lambda name: RegisterEnterprise(name, (share_class,)), names),  # an enterprise's name is no person's
)
by_property = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
member_key = KeyPair(hash32(b"personal test: a member"))


def _counter_salts() -> Any:
    counter = itertools.count()
    return lambda: next(counter).to_bytes(16, "big")


@by_property
@given(action=actions)
def test_opened_committed_and_clear_forms_reach_every_personal_field(action: Any) -> None:
    before = _typed_personal_values(action)
    typed_texts = [(path, value) for path, value in before if isinstance(value, str) and value]
    opened = opened_action(action, salt=_counter_salts())
    after = dict(_typed_personal_values(opened))
    # Every non-empty text opened, in field order, with the salts in that order; nothing else changed.
    assert [path for path, value in after.items() if isinstance(value, Opened)] == [path for path, _ in typed_texts]
    assert [o.text for o in openings(opened)] == [text for _, text in typed_texts]
    assert [o.salt for o in openings(opened)] == [index.to_bytes(16, "big") for index in range(len(typed_texts))]
    assert clear_action(opened) == action and not clear_texts(committed_action(opened))
    committed = committed_action(opened)
    logged = dict(_typed_personal_values(committed))
    for path, value in after.items():
        assert logged[path] == (commit(value) if isinstance(value, Opened) else value)
    assert committed_action(committed) == committed  # re-committing changes nothing
    assert clear_action(committed) == committed and opened_action(committed) == committed
    assert committed_texts(committed) == [commit(o) for o in openings(opened)]
    assert clear_texts(action) == [text for _, text in typed_texts]
    # Outside the personal fields, the three forms are the same action.
    if isinstance(action, RegisterEnterprise):
        assert opened == committed == action
    # The wire: each form encodes canonically and decodes back in its union.
    for form in (opened, committed):
        data = encode(form)
        assert msgspec.msgpack.decode(data, type=events_module.Action) == form


@by_property
@given(action=actions, nonce=st.integers(min_value=0, max_value=limits.int64_max))
def test_a_member_intent_verifies_as_submitted_and_its_committed_bytes_as_an_ordinary_intent(
        action: Any, nonce: int) -> None:
    sent = sign_member_intent(member_key, feed=feed, nonce=nonce, action=action)
    as_sent = decode_intent(sent)
    submitted = verify_submitted_intent(sent, feed=feed)
    assert submitted.intent == verify_intent(submitted.intent_bytes, feed=feed)
    assert submitted.intent.action == committed_action(as_sent.action)
    assert submitted.opened == tuple(openings(as_sent.action))
    assert not clear_texts(submitted.intent.action)
    if submitted.opened:
        assert submitted.clear is not None and submitted.clear.action == action
        with pytest.raises(BadSignatureError):
            verify_intent(sent, feed=feed)
    else:
        assert submitted.intent_bytes == sent and as_sent.action == action
    # The committed bytes are what sign_intent writes for the committed action: one signature.
    assert sign_intent(member_key, feed=feed, nonce=nonce, action=submitted.intent.action) == submitted.intent_bytes
    assert submitted.intent_bytes[-64:] == sent[-64:]
    unsigned = encode(IntentUnsigned(v=1, feed=feed, key=member_key.public, nonce=nonce,
                                     action=submitted.intent.action))
    nacl.signing.VerifyKey(member_key.public).verify(intent_namespace + unsigned, sent[-64:])
