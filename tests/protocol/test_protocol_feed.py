"""A feed's hash chain: verify_next, verify_batch, key rotation and fork proofs.

The feed under test is the golden one in tests/vectors/feed.json: 15 events, a checkpoint at 12, the
KeyRotated at 13 (signed by the recovery key; node_rotated signs from 14 on).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tallystick.protocol.codec import decode_event, encode, event_hash, event_namespace, sign_event
from tallystick.protocol.errors import BadSignatureError, ChainError, MalformedError, WrongFeedError
from tallystick.protocol.events import Checkpoint, EventUnsigned, ForkProof, KeyRotated
from tallystick.protocol.feed import FeedHead, start_feed, verify_batch, verify_fork_proof, verify_next
from tallystick.protocol.ids import KeyPair, hash32

vectors_dir = Path(__file__).resolve().parents[1] / "vectors"
feed_vectors = json.loads((vectors_dir / "feed.json").read_text(encoding="utf-8"))
key_vectors = json.loads((vectors_dir / "keys.json").read_text(encoding="utf-8"))["keys"]
raw = [bytes.fromhex(record["bytes_hex"]) for record in feed_vectors["events"]]
keys = {name: KeyPair(bytes.fromhex(entry["seed_hex"])) for name, entry in key_vectors.items()}
feed = event_hash(raw[0])
rotation_seq = 13
checkpoint_seq = 12


def heads() -> list[FeedHead]:
    """heads()[i] is the head after seq i + 1."""
    head, _ = start_feed(raw[0])
    result = [head]
    for data in raw[1:]:
        head, _ = verify_next(head, data)
        result.append(head)
    return result


def head_after(seq: int) -> FeedHead:
    return heads()[seq - 1]


def next_event(head: FeedHead, key: KeyPair, body: object, *, ts: int | None = None) -> bytes:
    return sign_event(
        key, feed=head.feed, seq=head.seq + 1, prev=head.head, ts=head.ts if ts is None else ts, body=body
    )  # type: ignore[arg-type]


def with_signature(data: bytes, key: KeyPair) -> bytes:
    """The same event re-signed by `key` (its unsigned part unchanged)."""
    unsigned = b"\x96" + data[1:-66]
    return b"\x97" + unsigned[1:] + b"\xc4\x40" + key.sign(event_namespace + unsigned)


def checkpoint_body() -> Checkpoint:
    return Checkpoint(state_hash=hash32(b"some state"))


# ---- one event at a time ------------------------------------------------------------------------------


def test_the_genesis_starts_the_feed_and_its_hash_is_the_feed_id() -> None:
    head, _ = start_feed(raw[0])
    assert head.feed == head.head == hash32(raw[0])
    assert head.seq == 1 and head.signing_key == keys["node"].public
    assert head.recovery_key_hash == hash32(keys["recovery"].public)


def test_start_feed_refuses_an_event_that_is_not_a_genesis() -> None:
    with pytest.raises(MalformedError):
        start_feed(raw[1])


def test_every_event_of_the_golden_feed_verifies_after_the_one_before() -> None:
    assert [head.seq for head in heads()] == list(range(1, len(raw) + 1))


def test_an_event_with_the_timestamp_of_the_one_before_is_accepted() -> None:
    head = head_after(2)
    verify_next(head, next_event(head, keys["node"], checkpoint_body(), ts=head.ts))


def test_an_event_before_the_one_before_is_a_chain_error() -> None:
    head = head_after(2)
    with pytest.raises(ChainError):
        verify_next(head, next_event(head, keys["node"], checkpoint_body(), ts=head.ts - 1))


def test_a_skipped_seq_is_a_chain_error() -> None:
    head = head_after(2)
    data = sign_event(keys["node"], feed=feed, seq=4, prev=head.head, ts=head.ts, body=checkpoint_body())
    with pytest.raises(ChainError):
        verify_next(head, data)


def test_a_prev_that_is_not_the_hash_of_the_event_before_is_a_chain_error() -> None:
    head = head_after(2)
    data = sign_event(
        keys["node"], feed=feed, seq=3, prev=hash32(b"elsewhere"), ts=head.ts, body=checkpoint_body()
    )
    with pytest.raises(ChainError):
        verify_next(head, data)


def test_an_event_of_another_feed_is_a_wrong_feed_error() -> None:
    head = head_after(2)
    data = sign_event(
        keys["node"], feed=hash32(b"other"), seq=3, prev=head.head, ts=head.ts, body=checkpoint_body()
    )
    with pytest.raises(WrongFeedError):
        verify_next(head, data)


def test_an_event_signed_by_another_key_is_a_bad_signature() -> None:
    head = head_after(2)
    with pytest.raises(BadSignatureError):
        verify_next(head, next_event(head, keys["stranger"], checkpoint_body()))


# ---- key rotation ------------------------------------------------------------------------------------


def test_after_key_rotated_the_new_key_signs_for_the_feed_and_the_old_key_no_longer_does() -> None:
    after_rotation = head_after(rotation_seq)
    assert after_rotation.signing_key == keys["node_rotated"].public
    assert after_rotation.recovery_key_hash == hash32(keys["next_recovery"].public)
    verify_next(after_rotation, next_event(after_rotation, keys["node_rotated"], checkpoint_body()))
    with pytest.raises(BadSignatureError):
        verify_next(after_rotation, next_event(after_rotation, keys["node"], checkpoint_body()))


def test_before_key_rotated_the_new_key_does_not_sign_for_the_feed() -> None:
    before = head_after(rotation_seq - 1)
    with pytest.raises(BadSignatureError):
        verify_next(before, next_event(before, keys["node_rotated"], checkpoint_body()))


def test_the_feed_id_is_unchanged_by_a_rotation() -> None:
    assert head_after(rotation_seq).feed == head_after(1).feed == feed


def rotation(recovery: KeyPair, new_signing: KeyPair, next_recovery: KeyPair) -> KeyRotated:
    return KeyRotated(
        recovery_key=recovery.public,
        signing_key=new_signing.public,
        next_recovery_key_hash=hash32(next_recovery.public),
    )


def test_a_key_rotated_by_an_uncommitted_recovery_key_is_refused() -> None:
    head = head_after(5)
    stranger = keys["stranger"]
    with pytest.raises(BadSignatureError):
        verify_next(head, next_event(head, stranger, rotation(stranger, stranger, stranger)))


def test_a_key_rotated_revealing_the_committed_key_but_signed_by_another_is_refused() -> None:
    head = head_after(5)
    body = rotation(keys["recovery"], keys["stranger"], keys["stranger"])
    for signer in (keys["stranger"], keys["node"]):
        with pytest.raises(BadSignatureError):
            verify_next(head, next_event(head, signer, body))


def test_pre_rotation_the_next_rotation_needs_the_next_recovery_key_not_the_revealed_one() -> None:
    head = head_after(len(raw))
    fresh = KeyPair(hash32(b"feed test: third signing key"))
    # the first recovery key is public since seq 13: it can never rotate again
    with pytest.raises(BadSignatureError):
        verify_next(head, next_event(head, keys["recovery"], rotation(keys["recovery"], fresh, fresh)))
    second, _ = verify_next(
        head, next_event(head, keys["next_recovery"], rotation(keys["next_recovery"], fresh, fresh))
    )
    assert second.signing_key == fresh.public and second.recovery_key_hash == hash32(fresh.public)
    verify_next(second, next_event(second, fresh, checkpoint_body()))


# ---- batches -----------------------------------------------------------------------------------------


def test_verify_batch_accepts_the_whole_feed_and_ends_at_the_same_head_as_event_by_event() -> None:
    all_heads = heads()
    final, events = verify_batch(all_heads[0], raw[1:])
    assert final == all_heads[-1]
    assert [event.seq for event in events] == list(range(2, len(raw) + 1))


@pytest.mark.parametrize(
    ("after", "until"), [(1, 5), (5, 12), (11, 13), (12, 13), (12, 15), (13, 15), (14, 15)]
)
def test_verify_batch_accepts_every_contiguous_run(after: int, until: int) -> None:
    final, events = verify_batch(head_after(after), raw[after:until])
    assert final == head_after(until)
    assert len(events) == until - after


def test_an_empty_batch_leaves_the_head_as_it_was() -> None:
    head = head_after(4)
    assert verify_batch(head, []) == (head, [])


def test_verify_batch_refuses_a_tampered_middle_event_whose_successors_were_relinked() -> None:
    """An attacker without the key rewrites event 6 and re-links 7..11 to it: the links check, but
    the author's signature on the last event (which covers its prev) no longer verifies."""
    head = head_after(5)
    forged = [
        with_signature(
            sign_event(keys["node"], feed=feed, seq=6, prev=head.head, ts=head.ts, body=checkpoint_body()),
            keys["stranger"],
        )
    ]
    for data in raw[6:11]:
        event = decode_event(data)
        unsigned = encode(
            EventUnsigned(
                v=event.v,
                feed=event.feed,
                seq=event.seq,
                prev=event_hash(forged[-1]),
                ts=event.ts,
                body=event.body,
            )
        )
        forged.append(
            b"\x97" + unsigned[1:] + b"\xc4\x40" + event.sig
        )  # the old signature, now over other bytes
    with pytest.raises(BadSignatureError):
        verify_batch(head, forged)


def test_verify_batch_refuses_a_tampered_middle_event_left_in_place() -> None:
    head = head_after(5)
    batch = list(raw[5:11])
    middle = bytearray(batch[2])
    middle[-70] ^= 0x01  # a byte inside the body
    batch[2] = bytes(middle)
    with pytest.raises(ChainError):
        verify_batch(head, batch)  # the next event's prev is the hash of the original


def test_verify_batch_refuses_a_middle_event_with_a_changed_signature() -> None:
    head = head_after(5)
    batch = list(raw[5:11])
    batch[2] = with_signature(batch[2], keys["stranger"])
    with pytest.raises(ChainError):
        verify_batch(head, batch)  # the next event's prev no longer matches


def test_verify_batch_refuses_a_bad_final_signature() -> None:
    head = head_after(5)
    batch = list(raw[5:11])
    batch[-1] = batch[-1][:-1] + bytes((batch[-1][-1] ^ 0x01,))
    with pytest.raises(BadSignatureError):
        verify_batch(head, batch)


def test_verify_batch_refuses_a_final_event_signed_by_the_rotated_out_key() -> None:
    head = head_after(12)
    batch = [raw[12], with_signature(raw[13], keys["node"])]
    with pytest.raises(BadSignatureError):
        verify_batch(head, batch)


def test_verify_batch_refuses_a_forged_key_rotated_even_when_the_forger_signs_the_rest() -> None:
    """The forger puts a KeyRotated to their own key mid-batch and signs everything after it: the last
    signature verifies under the forged key, but the rotation itself does not."""
    stranger = keys["stranger"]
    head = head_after(5)
    batch = [next_event(head, stranger, rotation(stranger, stranger, stranger))]
    current = FeedHead(
        feed=feed,
        seq=6,
        head=event_hash(batch[0]),
        ts=head.ts,
        signing_key=stranger.public,
        recovery_key_hash=hash32(stranger.public),
    )
    for _ in range(3):
        batch.append(next_event(current, stranger, checkpoint_body()))
        current = FeedHead(
            feed=feed,
            seq=current.seq + 1,
            head=event_hash(batch[-1]),
            ts=current.ts,
            signing_key=stranger.public,
            recovery_key_hash=current.recovery_key_hash,
        )
    with pytest.raises(BadSignatureError):
        verify_batch(head, batch)


def test_verify_batch_refuses_a_forged_key_rotated_at_the_end() -> None:
    head = head_after(5)
    stranger = keys["stranger"]
    with pytest.raises(BadSignatureError):
        verify_batch(
            head,
            [
                raw[5],
                raw[6],
                next_event(head_after(7), stranger, rotation(keys["recovery"], stranger, stranger)),
            ],
        )


# ---- fork proofs -------------------------------------------------------------------------------------


def fork_at(seq: int, key: KeyPair) -> bytes:
    before = head_after(seq - 1)
    return next_event(before, key, checkpoint_body())


def test_a_fork_proof_of_two_events_at_one_seq_signed_by_the_feed_key_verifies() -> None:
    other = fork_at(4, keys["node"])
    first, second = verify_fork_proof(
        ForkProof(feed=feed, seq=4, first=raw[3], second=other), keys["node"].public
    )
    assert first.seq == second.seq == 4 and first != second


def test_a_fork_proof_after_rotation_verifies_with_the_new_key() -> None:
    other = fork_at(15, keys["node_rotated"])
    verify_fork_proof(ForkProof(feed=feed, seq=15, first=raw[14], second=other), keys["node_rotated"].public)


def test_a_fork_proof_with_a_half_signed_by_another_key_fails() -> None:
    forged = fork_at(4, keys["stranger"])
    with pytest.raises(BadSignatureError):
        verify_fork_proof(ForkProof(feed=feed, seq=4, first=raw[3], second=forged), keys["node"].public)


def test_a_fork_proof_checked_against_the_wrong_key_fails() -> None:
    other = fork_at(4, keys["node"])
    with pytest.raises(BadSignatureError):
        verify_fork_proof(ForkProof(feed=feed, seq=4, first=raw[3], second=other), keys["stranger"].public)


def test_a_fork_proof_of_one_event_twice_fails() -> None:
    with pytest.raises(MalformedError):
        verify_fork_proof(ForkProof(feed=feed, seq=4, first=raw[3], second=raw[3]), keys["node"].public)


def test_a_fork_proof_of_events_at_different_seqs_fails() -> None:
    with pytest.raises(MalformedError):
        verify_fork_proof(ForkProof(feed=feed, seq=4, first=raw[3], second=raw[4]), keys["node"].public)


def test_a_fork_proof_naming_another_feed_fails() -> None:
    other = fork_at(4, keys["node"])
    with pytest.raises(WrongFeedError):
        verify_fork_proof(
            ForkProof(feed=hash32(b"x"), seq=4, first=raw[3], second=other), keys["node"].public
        )


def test_two_geneses_signed_by_one_key_are_not_a_fork() -> None:
    genesis = decode_event(raw[0])
    other = sign_event(keys["node"], feed=None, seq=1, prev=None, ts=genesis.ts + 1, body=genesis.body)
    with pytest.raises(MalformedError):
        verify_fork_proof(ForkProof(feed=feed, seq=1, first=raw[0], second=other), keys["node"].public)
