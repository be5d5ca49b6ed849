"""The state digest of tests/vectors/pending.json: a checkpoint taken while payments across are
pending and federation acts wait in the outbox (docs/protocol.md §11.1, §11.5, §14.7).

Two claims. The code reproduces the vector: the generator writes the file byte for byte, and a
replica folding the feed from its bytes reaches the checkpoint's hash. And the specification is
enough to read it: the preimage is decoded here by its msgpack bytes alone, with a reader that
also insists on the shortest form (§3.3), and each element is checked against what §11 says it
holds, derived from the feed's events, not from ledger/digest.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

from tallystick.ledger import transition
from tallystick.ledger.digest import state_digest
from tallystick.ledger.model import State, initial_state
from tallystick.protocol.codec import verify_intent
from tallystick.protocol.events import Act, Genesis
from tallystick.protocol.federation import PaymentOut
from tallystick.protocol.feed import start_feed, verify_next

vectors_dir = Path(__file__).resolve().parents[1] / "vectors"
vector: dict[str, Any] = json.loads((vectors_dir / "pending.json").read_text(encoding="utf-8"))
digest = vector["digest"]
preimage = bytes.fromhex(digest["preimage_hex"])
events = vector["events"]


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("tallystick_vectors_generate_pending", vectors_dir / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def blake2b_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


# ---- the code reproduces the vector ---------------------------------------------------------------


def test_the_generator_writes_pending_json_byte_for_byte() -> None:
    generator = _load_generator()
    on_disk = (vectors_dir / "pending.json").read_text(encoding="utf-8")
    assert generator.render(generator.build_pending_file()) == on_disk, (
        "tests/vectors/pending.json differs from what the code produces: a changed byte in a golden vector is "
        "a protocol change (docs/protocol.md §15)")


def _replayed(up_to_seq: int) -> State:
    """The state after `up_to_seq`, as a replica derives it from the events' bytes alone."""
    raw = [bytes.fromhex(event["bytes_hex"]) for event in events[:up_to_seq]]
    head, genesis = start_feed(raw[0])
    assert isinstance(genesis.body, Genesis)
    state = initial_state(head.feed, genesis.body)
    for event_bytes in raw[1:]:
        head, event = verify_next(head, event_bytes)
        carried = event.body.intent if isinstance(event.body, (Act, PaymentOut)) else None
        intent = verify_intent(carried, feed=head.feed) if carried is not None else None
        state = transition.audit(state, event, intent)
    return state


def test_a_replica_folding_the_feed_reaches_the_checkpoint_hash_with_payments_pending_and_acts_waiting() -> None:
    checkpoint = events[vector["checkpoint_seq"] - 1]
    assert checkpoint["decoded"]["body"]["kind"] == "checkpoint"
    assert checkpoint["decoded"]["body"]["state_hash"] == digest["state_hash_hex"]
    state = _replayed(digest["state_after_seq"])
    assert len(state.payments.pending) == 2 and len(state.federation_outbox) == 2
    assert state_digest(state).hex() == digest["state_hash_hex"] == blake2b_256(preimage).hex()
    # the whole feed, the checkpoint included, passes a replica's audit (it checks the hash itself)
    assert _replayed(len(events)).seq == vector["checkpoint_seq"]


def test_the_preimage_is_its_named_elements_in_one_array_of_eight() -> None:
    parts = [bytes.fromhex(element["bytes_hex"]) for element in digest["elements"]]
    assert [element["element"] for element in digest["elements"]] == [
        "feed", "seq", "settings", "members", "decisions", "shares", "federation_outbox", "payments"]
    assert preimage == b"\x98" + b"".join(parts)


# ---- the specification is enough to read it -------------------------------------------------------


class _Reader:
    """A msgpack reader for the types §3.1 uses, refusing any encoding longer than the shortest (§3.3)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, count: int) -> bytes:
        assert self.at + count <= len(self.data), "truncated"
        chunk = self.data[self.at:self.at + count]
        self.at += count
        return chunk

    def number(self, count: int) -> int:
        return int.from_bytes(self.take(count), "big")

    def value(self) -> Any:
        lead = self.take(1)[0]
        if lead <= 0x7F:
            return lead
        if lead >= 0xE0:
            return lead - 0x100
        if 0x90 <= lead <= 0x9F:
            return [self.value() for _ in range(lead - 0x90)]
        if 0xA0 <= lead <= 0xBF:
            return self.take(lead - 0xA0).decode("utf-8")
        if lead == 0xC0:
            return None
        if lead in (0xC2, 0xC3):
            return lead == 0xC3
        if lead in (0xC4, 0xC5):
            size = self.number(1 if lead == 0xC4 else 2)
            assert lead == 0xC4 or size > 0xFF, "a bin16 that fits a bin8"
            return self.take(size)
        if lead == 0xD9:
            size = self.number(1)
            assert size > 31, "a str8 that fits a fixstr"
            return self.take(size).decode("utf-8")
        if lead == 0xDC:
            size = self.number(2)
            assert size > 15, "an array16 that fits a fixarray"
            return [self.value() for _ in range(size)]
        unsigned = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}
        if lead in unsigned:
            width = unsigned[lead]
            number = self.number(width)
            assert number >= (0x80 if width == 1 else 1 << (4 * width)), "an unsigned integer in a wider form"
            return number
        signed = {0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
        if lead in signed:
            width = signed[lead]
            number = int.from_bytes(self.take(width), "big", signed=True)
            assert number < -32 and (width == 1 or number < -(1 << (8 * width // 2 - 1))), (
                "a signed integer in a wider form")
            return number
        raise AssertionError(f"byte {lead:#04x} at {self.at - 1} is not one §3.1 uses")


def read_all(data: bytes) -> Any:
    reader = _Reader(data)
    value = reader.value()
    assert reader.at == len(data), "trailing bytes"
    return value


decoded: list[Any] = read_all(preimage)
feed = bytes.fromhex(vector["feed_hex"])
vale = bytes.fromhex(vector["vale_hex"])


def _events_of(kind: str) -> list[dict[str, Any]]:
    return [event for event in events if event["decoded"]["body"]["kind"] == kind]


def test_the_first_six_elements_read_as_section_11_1_says() -> None:
    assert len(decoded) == 8
    feed_id, seq, settings, accounts, decisions_element, shares_element = decoded[:6]
    assert feed_id == feed == blake2b_256(bytes.fromhex(events[0]["bytes_hex"]))  # the genesis hash (§6)
    assert seq == vector["checkpoint_seq"] - 1 == digest["state_after_seq"]
    genesis = events[0]["decoded"]["body"]
    assert settings == [genesis["name"], genesis["unit_code"], genesis["unit_decimals"], genesis["debit_limit_minor"],
                        genesis["credit_ceiling_minor"], genesis["checkpoint_interval_events"]]
    # the checkpoint a sequencer appends when due (§11): every event since the genesis counts
    assert seq - 1 == settings[5] and all(event["decoded"]["body"]["kind"] != "checkpoint" for event in events[:seq])
    assert [entry[0] for entry in accounts] == sorted(entry[0] for entry in accounts)
    assert sum(entry[5] for entry in accounts) == 0
    assert decisions_element is None  # no decision, delegation or rule changed, but element 6 is there
    assert shares_element == [[], [], [], [], []]  # no enterprise


def test_the_trade_account_is_the_one_section_11_2_derives_with_mirrored_limits() -> None:
    accounts = decoded[3]
    trade_id = blake2b_256(b"tallystick/trade\n" + feed + vale)
    [trade] = [entry for entry in accounts if entry[3] == "trade"]
    limits_body = _events_of("trade_limits")[0]["decoded"]["body"]
    assert trade[:5] == [trade_id, "Trade Vale", trade_id, "trade", True]
    assert trade[6:] == [limits_body["credit_ceiling_minor"], limits_body["debit_limit_minor"]]
    assert trade[5] == sum(event["decoded"]["body"]["amount_minor"] for event in _events_of("payment_sent"))


def test_the_outbox_element_holds_each_waiting_body_as_a_bin_of_its_canonical_bytes_oldest_first() -> None:
    outbox = decoded[6]
    assert all(isinstance(item, bytes) for item in outbox)
    proposal, vote = (read_all(item) for item in outbox)
    assert proposal[0] == "fed_propose" and vote[0] == "fed_vote"
    assert proposal == ["fed_propose", vale, 0, vale, proposal[4], "Brookside's trade limits", "",
                        ["fed_trade_limits", bytes.fromhex(vector["brookside_hex"]), 40_000, 40_000]]
    # a proposal's id is BLAKE2b-256 of its body's canonical bytes (§5.3): the vote names the first bin
    assert vote == ["fed_vote", vale, 0, blake2b_256(outbox[0])]
    # each is the body of a `federation` action the admin signed, in the order of the acts carrying them
    acts = [event for event in events if event["decoded"]["body"]["kind"] == "act"]
    carriers = [next(index for index, act in enumerate(acts) if item.hex() in act["decoded"]["body"]["intent"])
                for item in outbox]
    assert carriers == sorted(carriers) and len(set(carriers)) == 2
    assert [body["kind"] for body in vector["outbox"]] == ["fed_propose", "fed_vote"]
    # neither body has been appended as an event yet
    assert not _events_of("fed_propose") and not _events_of("fed_vote")


def test_the_payments_element_lists_the_pending_payments_by_id_with_their_cancel_flag() -> None:
    trade_entries, pending, answered, *capacity = decoded[7]
    assert capacity == []  # no capacity share: three entries
    assert trade_entries == [[vale, blake2b_256(b"tallystick/trade\n" + feed + vale)]]
    cancelled = {bytes.fromhex(event["decoded"]["body"]["payment"]) for event in _events_of("payment_cancel")}
    ended = {bytes.fromhex(event["decoded"]["body"]["payment"])
             for event in _events_of("payment_settled") + _events_of("payment_returned")}
    expected = sorted(
        [blake2b_256(bytes.fromhex(event["bytes_hex"])), event["seq"], event["decoded"]["body"]["amount_minor"],
         blake2b_256(bytes.fromhex(event["bytes_hex"])) in cancelled]
        for event in _events_of("payment_sent") if blake2b_256(bytes.fromhex(event["bytes_hex"])) not in ended)
    assert pending == expected
    assert [entry[3] for entry in pending] == [False, True]  # both values of cancel_sent
    assert [entry[1] for entry in pending] == [10, 7]  # by payment id, not by seq
    assert pending == [[bytes.fromhex(p["payment_hex"]), p["seq"], p["amount_minor"], p["cancel_sent"]]
                       for p in vector["pending"]]
    rejections = _events_of("payment_rejected")
    assert answered == [[bytes.fromhex(rejections[0]["decoded"]["body"]["payment"]), "rejected"]]
