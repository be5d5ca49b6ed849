"""An account with several keys, one per device (ledger/membership.py, docs/protocol.md §13.2.1,
§13.2.4): `add_key` binds another device's key to the signer's account, `remove_key` retires one,
any current key signs, the member id never changes, and a rebind or a recovery replaces every key
by one. Everything refused has its own code and changes nothing; every feed is refolded from its
bytes as a replica does."""

from __future__ import annotations

import msgspec
import pytest
from tallystick.ledger import decisions
from tallystick.ledger.digest import state_digest, state_preimage
from tallystick.ledger.errors import (
    AccountClosedError,
    DomainError,
    KeyInUseError,
    KeyRetiredError,
    LastKeyError,
    ReplayedNonceError,
    TooManyKeysError,
    UnknownKeyError,
    UnknownMemberError,
)
from tallystick.ledger.visibility import reader_for_key
from tallystick.protocol import limits
from tallystick.protocol.events import (
    AddKey,
    AdmitMember,
    Invite,
    Join,
    Propose,
    RebindKey,
    RecoverKey,
    RemoveKey,
    RemoveMember,
    Transfer,
    Vote,
)
from tallystick.protocol.ids import KeyPair

from helpers.ledger import ClockedLedger, admin_key, key, refold

day_ms = 24 * 3600 * 1000
phone, laptop, tablet = key("bea's phone"), key("bea's laptop"), key("bea's tablet")
cal_key = key("cal")
bea, cal = phone.public, cal_key.public


def community() -> ClockedLedger:
    """Ada (admin), Bea (admitted with her phone's key) and Cal, at zero."""
    ledger = ClockedLedger(now_ms=10 * day_ms)
    ledger.accept(admin_key, AdmitMember(member=bea, name="Bea"))
    ledger.accept(admin_key, AdmitMember(member=cal, name="Cal"))
    return ledger


def refused(ledger: ClockedLedger, signer: KeyPair, action: object, kind: type[DomainError],
            *, nonce: int | None = None) -> DomainError:
    before, digest, events = ledger.state, state_digest(ledger.state), len(ledger.events)
    error = ledger.submit(ledger.sign(signer, action, nonce=nonce))  # type: ignore[arg-type]
    assert type(error) is kind, error
    assert error.message and "\n" not in error.message
    assert ledger.state is before and state_digest(ledger.state) == digest and len(ledger.events) == events
    return error


def assert_refolds(ledger: ClockedLedger) -> None:
    state, _ = refold(ledger.genesis_bytes, ledger.events)
    assert state_digest(state) == state_digest(ledger.state)


def test_a_key_added_from_the_phone_signs_for_the_same_account() -> None:
    ledger = community()
    ledger.accept(phone, AddKey(key=laptop.public))
    ledger.accept(laptop, Transfer(to=cal, amount_minor=250))
    member = ledger.state.members[bea]
    assert member.current_keys == (bea, laptop.public) and ledger.state.keys[laptop.public] == bea
    assert ledger.state.accounts[bea].balance_minor == -250 and ledger.state.accounts[cal].balance_minor == 250
    assert_refolds(ledger)


def test_removing_the_first_key_keeps_the_member_id_and_the_next_key_signs() -> None:
    ledger = community()
    ledger.accept(phone, AddKey(key=laptop.public))
    ledger.accept(phone, AddKey(key=tablet.public))
    ledger.accept(laptop, RemoveKey(key=bea))
    member = ledger.state.members[bea]
    assert member.key == laptop.public and member.devices == (tablet.public,)
    assert bea in member.retired_keys and ledger.state.keys[bea] == bea
    ledger.accept(tablet, Transfer(to=cal, amount_minor=100))
    assert ledger.state.accounts[bea].balance_minor == -100
    assert_refolds(ledger)


def test_a_removed_key_never_signs_again() -> None:
    ledger = community()
    ledger.accept(phone, AddKey(key=laptop.public))
    ledger.accept(phone, RemoveKey(key=laptop.public))
    refused(ledger, laptop, Transfer(to=cal, amount_minor=1), KeyRetiredError)


def test_a_member_may_remove_the_key_that_signs() -> None:
    ledger = community()
    ledger.accept(phone, AddKey(key=laptop.public))
    ledger.accept(laptop, RemoveKey(key=laptop.public))
    assert ledger.state.members[bea].current_keys == (bea,)
    refused(ledger, laptop, Transfer(to=cal, amount_minor=1), KeyRetiredError)


def test_a_removed_key_can_never_be_added_again_to_anyone() -> None:
    ledger = community()
    ledger.accept(phone, AddKey(key=laptop.public))
    ledger.accept(phone, RemoveKey(key=laptop.public))
    refused(ledger, phone, AddKey(key=laptop.public), KeyInUseError)
    refused(ledger, cal_key, AddKey(key=laptop.public), KeyInUseError)
    refused(ledger, cal_key, RebindKey(new_key=laptop.public), KeyInUseError)


@pytest.mark.parametrize("taken", ["a member's id", "another device of hers", "a held invitation's key"])
def test_adding_a_key_already_bound_or_held_is_key_in_use(taken: str) -> None:
    ledger = community()
    ledger.accept(phone, AddKey(key=laptop.public))
    invitation = key("invitation")
    ledger.accept(admin_key, Invite(invitation=invitation.public, expires_ms=ledger.now_ms + day_ms))
    new_key = {"a member's id": cal, "another device of hers": laptop.public,
               "a held invitation's key": invitation.public}[taken]
    refused(ledger, phone, AddKey(key=new_key), KeyInUseError)


def test_an_account_holds_at_most_member_keys_max_keys() -> None:
    ledger = community()
    for index in range(limits.member_keys_max - 1):
        ledger.accept(phone, AddKey(key=key(f"device {index}").public))
    assert len(ledger.state.members[bea].current_keys) == limits.member_keys_max
    error = refused(ledger, phone, AddKey(key=key("one device too many").public), TooManyKeysError)
    assert error.http_status == 409 and "remove" in error.message


def test_a_removed_key_frees_room_for_another() -> None:
    ledger = community()
    for index in range(limits.member_keys_max - 1):
        ledger.accept(phone, AddKey(key=key(f"device {index}").public))
    ledger.accept(phone, RemoveKey(key=key("device 0").public))
    ledger.accept(phone, AddKey(key=key("a new device").public))
    assert len(ledger.state.members[bea].current_keys) == limits.member_keys_max


def test_removing_the_accounts_only_key_is_last_key() -> None:
    ledger = community()
    error = refused(ledger, phone, RemoveKey(key=bea), LastKeyError)
    assert error.http_status == 409


def test_removing_another_members_key_is_unknown_key() -> None:
    ledger = community()
    ledger.accept(cal_key, AddKey(key=laptop.public))
    refused(ledger, phone, RemoveKey(key=laptop.public), UnknownKeyError)
    refused(ledger, phone, RemoveKey(key=cal), UnknownKeyError)
    refused(ledger, phone, RemoveKey(key=key("bound to no one").public), UnknownKeyError)


def test_removing_a_key_retired_already_is_key_retired() -> None:
    ledger = community()
    ledger.accept(phone, AddKey(key=laptop.public))
    ledger.accept(phone, RemoveKey(key=laptop.public))
    ledger.accept(phone, AddKey(key=tablet.public))
    refused(ledger, phone, RemoveKey(key=laptop.public), KeyRetiredError)


def test_a_stranger_cannot_add_a_key() -> None:
    ledger = community()
    refused(ledger, key("stranger"), AddKey(key=laptop.public), UnknownMemberError)


def test_a_removed_member_cannot_add_a_key_and_its_devices_stop_reading() -> None:
    ledger = community()
    ledger.accept(cal_key, AddKey(key=laptop.public))
    ledger.accept(admin_key, RemoveMember(member=cal))
    assert not reader_for_key(ledger.state, laptop.public).is_member
    refused(ledger, laptop, AddKey(key=tablet.public), AccountClosedError)


def test_every_current_key_reads_as_the_member_and_a_removed_one_does_not() -> None:
    ledger = community()
    ledger.accept(phone, AddKey(key=laptop.public))
    assert reader_for_key(ledger.state, laptop.public).member == bea
    assert reader_for_key(ledger.state, bea).member == bea
    ledger.accept(laptop, RemoveKey(key=bea))
    assert not reader_for_key(ledger.state, bea).is_member
    assert reader_for_key(ledger.state, laptop.public).member == bea


def test_the_devices_share_one_nonce_space() -> None:
    ledger = community()
    ledger.accept(phone, AddKey(key=laptop.public), nonce=10)
    ledger.accept(phone, Transfer(to=cal, amount_minor=1), nonce=50)
    refused(ledger, laptop, Transfer(to=cal, amount_minor=1), ReplayedNonceError, nonce=50)


def test_two_devices_signing_with_nanosecond_clocks_concurrently_are_all_applied() -> None:
    """Each device takes its nonce from its own clock (the CLI's time.time_ns()); the two clocks
    disagree by a few milliseconds and their intents reach the node in any order: all of them
    apply, since the window remembers the 32 highest and only a nonce below those is too old."""
    ledger = community()
    ledger.accept(admin_key, Transfer(to=bea, amount_minor=1000))
    ledger.accept(phone, AddKey(key=laptop.public), nonce=1_700_000_000_000_000_000)
    start_ns, skew_ns = 1_700_000_001_000_000_000, 3_000_000  # the laptop's clock is 3 ms behind
    signed = []
    for index in range(40):
        at_ns = start_ns + index * 1_000_000  # one intent a millisecond from each device
        signed.append(ledger.sign(phone, Transfer(to=cal, amount_minor=1), nonce=at_ns))
        signed.append(ledger.sign(laptop, Transfer(to=cal, amount_minor=1), nonce=at_ns - skew_ns + 7))
    # delivered in pairs swapped, as two connections race: the laptop's, with the lower nonce, last
    arrival = [item for pair in zip(signed[1::2], signed[0::2], strict=True) for item in pair[::-1]]
    for item in arrival:
        assert ledger.submit(item) is None
    assert ledger.state.accounts[cal].balance_minor == 80
    assert_refolds(ledger)


def test_a_device_whose_clock_lags_past_the_window_is_told_its_nonce_is_too_old() -> None:
    """The one limit of a shared window: once another device used 32 nonces above it, a nonce is
    below the floor. The refusal says why; the device's next intent, with its clock right, applies."""
    ledger = community()
    ledger.accept(admin_key, Transfer(to=bea, amount_minor=1000))
    ledger.accept(phone, AddKey(key=laptop.public), nonce=1_000)
    for index in range(limits.nonce_window_size + 1):
        ledger.accept(phone, Transfer(to=cal, amount_minor=1), nonce=2_000 + index)
    error = refused(ledger, laptop, Transfer(to=cal, amount_minor=1), ReplayedNonceError, nonce=1_500)
    assert "too old" in error.message
    assert ledger.submit(ledger.sign(laptop, Transfer(to=cal, amount_minor=1), nonce=3_000)) is None


def test_a_rebind_replaces_every_key_by_the_new_one() -> None:
    ledger = community()
    ledger.accept(phone, AddKey(key=laptop.public))
    new_key = key("bea's new key")
    ledger.accept(laptop, RebindKey(new_key=new_key.public))
    member = ledger.state.members[bea]
    assert member.current_keys == (new_key.public,) and {bea, laptop.public} <= member.retired_keys
    refused(ledger, phone, Transfer(to=cal, amount_minor=1), KeyRetiredError)
    refused(ledger, laptop, Transfer(to=cal, amount_minor=1), KeyRetiredError)
    ledger.accept(new_key, Transfer(to=cal, amount_minor=1))
    assert_refolds(ledger)


def test_a_recovery_by_decision_retires_every_device_of_the_account() -> None:
    ledger = community()
    ledger.accept(phone, AddKey(key=laptop.public))
    new_key = key("bea's recovered key")
    deadline = ledger.now_ms + 4 * day_ms
    seq = ledger.accept(cal_key, Propose(decision_type="proposal", title="Recover Bea", text="", deadline_ms=deadline,
                                         effect=RecoverKey(member=bea, new_key=new_key.public))).seq
    for signer in (admin_key, cal_key, phone):
        ledger.accept(signer, Vote(decision=seq, position="agree"))
    ledger.now_ms = deadline
    ledger.audited(decisions.closing_body(ledger.state, seq))
    assert ledger.state.decisions[seq].outcome == "passed"
    assert ledger.state.members[bea].current_keys == (new_key.public,)
    refused(ledger, laptop, Transfer(to=cal, amount_minor=1), KeyRetiredError)
    assert_refolds(ledger)


def test_a_used_invitations_key_added_nowhere_and_a_join_by_it_is_still_used() -> None:
    ledger = community()
    invitation, newcomer = key("invitation"), key("newcomer")
    ledger.accept(admin_key, Invite(invitation=invitation.public, expires_ms=ledger.now_ms + day_ms))
    assert ledger.submit(ledger.sign(invitation, Join(member=newcomer.public, name="Dee"))) is None
    ledger.accept(newcomer, AddKey(key=laptop.public))
    error = ledger.submit(ledger.sign(invitation, Join(member=key("another").public, name="Eve")))
    assert error is not None and error.code == "invitation_used"


def test_the_digest_entry_lists_the_further_keys_only_while_the_account_has_some() -> None:
    ledger = community()
    one_key = entry_of(ledger, bea)
    ledger.accept(phone, AddKey(key=laptop.public))
    assert entry_of(ledger, bea) == [*one_key, [laptop.public]]
    ledger.accept(phone, RemoveKey(key=laptop.public))
    assert entry_of(ledger, bea) == one_key


def test_the_digest_entry_after_removing_the_first_key_names_the_next_as_key() -> None:
    ledger = community()
    ledger.accept(phone, AddKey(key=laptop.public))
    ledger.accept(phone, AddKey(key=tablet.public))
    ledger.accept(tablet, RemoveKey(key=bea))
    entry = entry_of(ledger, bea)
    assert entry[0] == bea and entry[2] == laptop.public and entry[8] == [tablet.public]


def entry_of(ledger: ClockedLedger, member: bytes) -> list:
    """`member`'s entry of the digest's accounts element, decoded from the preimage's bytes."""
    entries = msgspec.msgpack.decode(state_preimage(ledger.state))[3]
    return next(entry for entry in entries if entry[0] == member)
