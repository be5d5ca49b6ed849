"""The rules of mutual credit in the pure domain, one behaviour per test.

Every refusal is checked the same way (`assert_refused`): `validate` returns the typed error with its
stable code, and the state is left exactly as it was (the same object, the same digest), so nothing
a refused intent carries can leak into the ledger.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec.structs import replace
from tallystick.ledger.accounts import credit_ceiling, debit_limit, find_member
from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import (
    AccountClosedError,
    BadAmountError,
    BalanceNotZeroError,
    CheckpointMismatchError,
    CreditCeilingError,
    DebitLimitError,
    DomainError,
    KeyInUseError,
    KeyRetiredError,
    LastAdminError,
    LimitBelowBalanceError,
    NameTakenError,
    NotAuthorizedError,
    ReplayedNonceError,
    SameAccountError,
    UnknownMemberError,
)
from tallystick.ledger.names import BadNameError
from tallystick.ledger.transition import audit, checkpoint_due, validate
from tallystick.protocol import limits
from tallystick.protocol.codec import sign_intent, verify_intent
from tallystick.protocol.errors import MalformedError
from tallystick.protocol.events import (
    Act,
    AdmitMember,
    Checkpoint,
    KeyRotated,
    RebindKey,
    RemoveMember,
    SetDefaultLimits,
    SetLimits,
    SetRole,
    Transfer,
)
from tallystick.protocol.ids import hash32
from tallystick.protocol.limits import nonce_window_size

from helpers.ledger import Ledger, SignedIntent, admin_key, key, refold, validate_intent

bea_key = key("bea")
cal_key = key("cal")
dee_key = key("dee")
stranger_key = key("stranger")
ada, bea, cal, dee = admin_key.public, bea_key.public, cal_key.public, dee_key.public

# The ledger's defaults (helpers.ledger): an account may go 1000 below zero and 1500 above it.
debit_default, ceiling_default = 1000, 1500


@pytest.fixture
def ledger() -> Ledger:
    """Ada (admin) and two members, Bea and Cal, all at zero."""
    ledger = Ledger()
    ledger.accept(admin_key, AdmitMember(member=bea, name="Bea"))
    ledger.accept(admin_key, AdmitMember(member=cal, name="Cal"))
    return ledger


def balance(ledger: Ledger, member: bytes) -> int:
    return ledger.state.accounts[member].balance_minor


def assert_refused(ledger: Ledger, signed: SignedIntent, error_class: type[DomainError]) -> DomainError:
    state_before, digest_before, events_before = ledger.state, state_digest(ledger.state), len(ledger.events)
    error = ledger.submit(signed)
    assert type(error) is error_class, f"expected {error_class.__name__}, got {error!r}"
    assert error.code == error_class.code and error.code != DomainError.code
    assert error.message and error.to_json()["error"] == error.code
    assert ledger.state is state_before
    assert state_digest(ledger.state) == digest_before
    assert len(ledger.events) == events_before  # nothing appended
    return error


# ---- the genesis --------------------------------------------------------------------------------


def test_genesis_makes_its_admin_the_only_member_at_zero() -> None:
    state = Ledger().state
    assert list(state.members) == [ada]
    assert state.members[ada].role == "admin" and state.members[ada].active
    assert state.accounts[ada].balance_minor == 0
    assert find_member(state, "ada") == ada


# ---- transfers ----------------------------------------------------------------------------------


def test_payment_within_limits_moves_credit_from_payer_to_payee(ledger: Ledger) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=250))
    assert balance(ledger, bea) == -250
    assert balance(ledger, cal) == 250
    assert sum(account.balance_minor for account in ledger.state.accounts.values()) == 0


def test_payment_signed_by_unknown_key_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    assert_refused(ledger, ledger.sign(stranger_key, Transfer(to=cal, amount_minor=1)), UnknownMemberError)


def test_payment_signed_by_departed_member_is_refused_as_account_closed_and_changes_nothing(
    ledger: Ledger,
) -> None:
    ledger.accept(admin_key, RemoveMember(member=bea))
    assert_refused(ledger, ledger.sign(bea_key, Transfer(to=cal, amount_minor=1)), AccountClosedError)


def test_payment_to_departed_member_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    ledger.accept(admin_key, RemoveMember(member=cal))
    assert_refused(ledger, ledger.sign(bea_key, Transfer(to=cal, amount_minor=1)), AccountClosedError)


def test_payment_to_someone_who_is_not_a_member_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    signed = ledger.sign(bea_key, Transfer(to=stranger_key.public, amount_minor=1))
    assert_refused(ledger, signed, UnknownMemberError)


@pytest.mark.parametrize("amount", [0, -5, limits.amount_minor_max + 1])
def test_payment_of_an_amount_out_of_range_is_refused_and_changes_nothing(
    ledger: Ledger, amount: int
) -> None:
    # The decoder refuses such an intent; validate refuses it too, for an Intent built in code.
    with pytest.raises(MalformedError):
        verify_intent(
            sign_intent(bea_key, feed=ledger.feed, nonce=1, action=Transfer(to=cal, amount_minor=amount)),
            feed=ledger.feed,
        )
    signed = ledger.sign(bea_key, Transfer(to=cal, amount_minor=1))
    built = SignedIntent(signed.raw, replace(signed.intent, action=Transfer(to=cal, amount_minor=amount)))
    assert_refused(ledger, built, BadAmountError)


def test_payment_to_oneself_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    assert_refused(ledger, ledger.sign(bea_key, Transfer(to=bea, amount_minor=1)), SameAccountError)


def test_payment_past_debit_limit_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    signed = ledger.sign(bea_key, Transfer(to=cal, amount_minor=debit_default + 1))
    assert_refused(ledger, signed, DebitLimitError)


def test_payment_down_to_exactly_the_debit_limit_is_accepted(ledger: Ledger) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=debit_default))
    assert balance(ledger, bea) == -debit_default


def test_payment_past_payee_credit_ceiling_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=1000))
    ledger.accept(admin_key, Transfer(to=cal, amount_minor=500))  # Cal is now exactly at the ceiling
    assert balance(ledger, cal) == ceiling_default
    assert_refused(ledger, ledger.sign(admin_key, Transfer(to=cal, amount_minor=1)), CreditCeilingError)


def test_payment_that_breaks_both_limits_reports_the_payers_debit_limit_first(ledger: Ledger) -> None:
    assert_refused(ledger, ledger.sign(bea_key, Transfer(to=cal, amount_minor=10**15)), DebitLimitError)


def test_a_refusal_at_the_debit_limit_says_the_limit_the_balance_and_the_most_that_can_be_paid(
    ledger: Ledger,
) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=600))
    error = assert_refused(ledger, ledger.sign(bea_key, Transfer(to=cal, amount_minor=512)), DebitLimitError)
    assert error.message == (
        "Bea would go below the debit limit of -10.00 TST (the balance would be -11.12 TST): pay at most 4.00 TST"
    )
    assert "minor" not in error.message and "\n" not in error.message


def test_a_refusal_at_the_debit_limit_with_no_room_left_says_what_frees_room(ledger: Ledger) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=debit_default))
    error = assert_refused(ledger, ledger.sign(bea_key, Transfer(to=cal, amount_minor=1)), DebitLimitError)
    assert error.message.startswith("Bea would go below the debit limit of -10.00 TST (the balance would be -10.01 TST)")
    assert error.message.endswith("nothing fits; it must receive credit first, or an admin may let it go further below zero")


def test_a_refusal_at_the_payees_ceiling_says_the_ceiling_and_the_most_they_can_be_paid(ledger: Ledger) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=1000))
    error = assert_refused(ledger, ledger.sign(admin_key, Transfer(to=cal, amount_minor=800)), CreditCeilingError)
    assert error.message == (
        "Cal would go above the credit ceiling of 15.00 TST (the balance would be 18.00 TST): pay them at most 5.00 TST"
    )


@settings(max_examples=200, deadline=None)
@given(
    spent=st.integers(0, 1000), amount=st.integers(1, 3000), payee_has=st.integers(0, 1000),
    debit_limit_minor=st.integers(0, 2000),
)
def test_the_most_a_limit_refusal_says_can_be_paid_can_be_paid_and_a_cent_more_cannot(
    spent: int, amount: int, payee_has: int, debit_limit_minor: int
) -> None:
    """Whatever the balances and limits: a refusal that says "pay at most M" is right about M."""
    ledger = Ledger()
    ledger.accept(admin_key, AdmitMember(member=bea, name="Bea"))
    ledger.accept(admin_key, AdmitMember(member=cal, name="Cal"))
    ledger.accept(admin_key, SetLimits(account=bea, debit_limit_minor=2000, credit_ceiling_minor=None))
    if spent:
        ledger.accept(bea_key, Transfer(to=ada, amount_minor=spent))
    if payee_has:
        ledger.accept(admin_key, Transfer(to=cal, amount_minor=payee_has))
    ledger.accept(admin_key, SetLimits(account=bea, debit_limit_minor=max(debit_limit_minor, spent),
                                       credit_ceiling_minor=None))
    error = validate_intent(ledger.state, ledger.sign(bea_key, Transfer(to=cal, amount_minor=amount)))
    if error is None:
        return
    assert isinstance(error, (DebitLimitError, CreditCeilingError)) and "minor" not in error.message
    said = error.message.rpartition("at most ")[2]
    if error.message.endswith("nothing fits; it must receive credit first, or an admin may let it go further below zero"):
        assert isinstance(validate_intent(ledger.state, ledger.sign(bea_key, Transfer(to=cal, amount_minor=1))),
                          DebitLimitError)
        return
    if error.message.endswith("it must pay out first, or an admin may raise the ceiling"):
        return  # the payee is at its ceiling: no payment to them fits
    assert said.endswith(" TST")
    most = round(float(said.removesuffix(" TST")) * 100)  # two decimals: exact as a float rounded
    assert 1 <= most < amount
    assert validate_intent(ledger.state, ledger.sign(bea_key, Transfer(to=cal, amount_minor=most))) is None
    too_much = validate_intent(ledger.state, ledger.sign(bea_key, Transfer(to=cal, amount_minor=most + 1)))
    assert isinstance(too_much, (DebitLimitError, CreditCeilingError))  # by either limit: M is the most


def test_account_limits_override_the_community_defaults_for_that_account(ledger: Ledger) -> None:
    ledger.accept(admin_key, SetLimits(account=bea, debit_limit_minor=5000, credit_ceiling_minor=None))
    ledger.accept(admin_key, SetLimits(account=cal, debit_limit_minor=None, credit_ceiling_minor=5000))
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=4000))
    assert balance(ledger, bea) == -4000
    assert debit_limit(ledger.state, ledger.state.accounts[cal]) == debit_default
    assert credit_ceiling(ledger.state, ledger.state.accounts[bea]) == ceiling_default


# ---- nonces -------------------------------------------------------------------------------------


def test_replayed_intent_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    signed = ledger.sign(bea_key, Transfer(to=cal, amount_minor=10))
    assert ledger.submit(signed) is None
    assert_refused(ledger, signed, ReplayedNonceError)
    assert balance(ledger, cal) == 10


def test_reused_nonce_with_a_different_action_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=10), nonce=7)
    assert_refused(
        ledger, ledger.sign(bea_key, Transfer(to=ada, amount_minor=3), nonce=7), ReplayedNonceError
    )


def test_refused_intent_does_not_use_up_its_nonce(ledger: Ledger) -> None:
    assert ledger.submit(ledger.sign(bea_key, Transfer(to=bea, amount_minor=1), nonce=5)) is not None
    assert ledger.submit(ledger.sign(bea_key, Transfer(to=cal, amount_minor=1), nonce=5)) is None


def test_nonces_are_per_member(ledger: Ledger) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=1), nonce=0)
    ledger.accept(cal_key, Transfer(to=bea, amount_minor=1), nonce=0)


def test_nonces_within_the_window_may_arrive_in_any_order(ledger: Ledger) -> None:
    for nonce in (5, 2, 9, 0, 7):
        ledger.accept(bea_key, Transfer(to=cal, amount_minor=1), nonce=nonce)
    assert balance(ledger, cal) == 5


def test_the_last_window_of_nonces_stays_refused_once_the_window_is_full(ledger: Ledger) -> None:
    used = range(100, 100 + nonce_window_size + 10)
    for nonce in used:
        ledger.accept(bea_key, Transfer(to=cal, amount_minor=1), nonce=nonce)
    for nonce in used:
        retry = ledger.sign(bea_key, Transfer(to=cal, amount_minor=1), nonce=nonce)
        assert type(validate_intent(ledger.state, retry)) is ReplayedNonceError


def test_nonce_below_the_window_is_refused_as_stale_even_if_never_used(ledger: Ledger) -> None:
    for nonce in range(100, 100 + nonce_window_size + 1):
        ledger.accept(bea_key, Transfer(to=cal, amount_minor=1), nonce=nonce)
    assert_refused(
        ledger, ledger.sign(bea_key, Transfer(to=cal, amount_minor=1), nonce=50), ReplayedNonceError
    )


def test_unused_nonce_above_the_window_floor_is_still_accepted(ledger: Ledger) -> None:
    for nonce in range(100, 100 + 2 * nonce_window_size, 2):  # even nonces only
        ledger.accept(bea_key, Transfer(to=cal, amount_minor=1), nonce=nonce)
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=1), nonce=101 + 2 * 4)


def test_window_memory_is_bounded(ledger: Ledger) -> None:
    for nonce in range(3 * nonce_window_size):
        ledger.accept(bea_key, Transfer(to=cal, amount_minor=1), nonce=nonce)
    assert len(ledger.state.members[bea].nonces) <= nonce_window_size


# ---- admitting members --------------------------------------------------------------------------


def test_admin_admits_a_member_with_an_open_account_at_zero(ledger: Ledger) -> None:
    ledger.accept(admin_key, AdmitMember(member=dee, name="Dee"))
    assert ledger.state.members[dee].active and ledger.state.members[dee].role == "member"
    assert balance(ledger, dee) == 0
    ledger.accept(dee_key, Transfer(to=bea, amount_minor=1))


def test_non_admin_admitting_a_member_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    signed = ledger.sign(bea_key, AdmitMember(member=dee, name="Dee"))
    error = assert_refused(ledger, signed, NotAuthorizedError)
    assert error.http_status == 403


def test_admitting_a_members_key_again_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    assert_refused(ledger, ledger.sign(admin_key, AdmitMember(member=bea, name="Other")), KeyInUseError)


def test_admitting_a_departed_members_key_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    ledger.accept(admin_key, RemoveMember(member=cal))
    assert_refused(ledger, ledger.sign(admin_key, AdmitMember(member=cal, name="Cal")), KeyInUseError)


def test_admitting_the_key_a_member_rebound_to_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    ledger.accept(bea_key, RebindKey(new_key=dee))
    assert_refused(ledger, ledger.sign(admin_key, AdmitMember(member=dee, name="Dee")), KeyInUseError)


def test_admitting_a_name_not_in_its_normal_form_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    assert_refused(ledger, ledger.sign(admin_key, AdmitMember(member=dee, name=" bEa ")), BadNameError)


@pytest.mark.parametrize("name", ["Bea", "bea", "BEA", "B\u0435a", "ada"])
def test_admitting_a_taken_name_is_refused_whatever_its_case_and_changes_nothing(
    ledger: Ledger, name: str
) -> None:
    assert_refused(ledger, ledger.sign(admin_key, AdmitMember(member=dee, name=name)), NameTakenError)


def test_a_departed_members_name_may_be_given_again(ledger: Ledger) -> None:
    ledger.accept(admin_key, RemoveMember(member=cal))
    ledger.accept(admin_key, AdmitMember(member=dee, name="CAL"))
    assert find_member(ledger.state, "cal") == dee


# ---- removing members ---------------------------------------------------------------------------


def test_removing_a_settled_member_closes_their_account(ledger: Ledger) -> None:
    ledger.accept(admin_key, RemoveMember(member=cal))
    assert not ledger.state.members[cal].active
    assert find_member(ledger.state, "Cal") is None


def test_non_admin_removing_a_member_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    assert_refused(ledger, ledger.sign(bea_key, RemoveMember(member=cal)), NotAuthorizedError)


@pytest.mark.parametrize("who", ["payer", "payee"])
def test_removing_a_member_with_a_nonzero_balance_is_refused_and_changes_nothing(
    ledger: Ledger, who: str
) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=30))
    target = bea if who == "payer" else cal
    assert_refused(ledger, ledger.sign(admin_key, RemoveMember(member=target)), BalanceNotZeroError)


def test_removing_a_departed_member_again_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    ledger.accept(admin_key, RemoveMember(member=cal))
    assert_refused(ledger, ledger.sign(admin_key, RemoveMember(member=cal)), AccountClosedError)


def test_removing_someone_who_was_never_a_member_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    assert_refused(ledger, ledger.sign(admin_key, RemoveMember(member=dee)), UnknownMemberError)


def test_removing_the_last_admin_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    assert_refused(ledger, ledger.sign(admin_key, RemoveMember(member=ada)), LastAdminError)


def test_an_admin_may_leave_once_another_admin_exists(ledger: Ledger) -> None:
    ledger.accept(admin_key, SetRole(member=bea, role="admin"))
    ledger.accept(admin_key, RemoveMember(member=ada))
    assert not ledger.state.members[ada].active
    ledger.accept(bea_key, AdmitMember(member=dee, name="Dee"))


# ---- roles --------------------------------------------------------------------------------------


def test_non_admin_setting_a_role_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    assert_refused(ledger, ledger.sign(bea_key, SetRole(member=bea, role="admin")), NotAuthorizedError)


def test_demoting_the_last_admin_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    assert_refused(ledger, ledger.sign(admin_key, SetRole(member=ada, role="member")), LastAdminError)


def test_a_demoted_admin_can_no_longer_admit(ledger: Ledger) -> None:
    ledger.accept(admin_key, SetRole(member=bea, role="admin"))
    ledger.accept(bea_key, SetRole(member=ada, role="member"))
    assert_refused(ledger, ledger.sign(admin_key, AdmitMember(member=dee, name="Dee")), NotAuthorizedError)


# ---- limits -------------------------------------------------------------------------------------


def test_non_admin_setting_account_limits_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    signed = ledger.sign(bea_key, SetLimits(account=bea, debit_limit_minor=10**6, credit_ceiling_minor=None))
    assert_refused(ledger, signed, NotAuthorizedError)


def test_non_admin_setting_default_limits_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    signed = ledger.sign(bea_key, SetDefaultLimits(debit_limit_minor=10**6, credit_ceiling_minor=10**6))
    assert_refused(ledger, signed, NotAuthorizedError)


def test_debit_limit_below_an_accounts_debt_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=600))
    signed = ledger.sign(admin_key, SetLimits(account=bea, debit_limit_minor=599, credit_ceiling_minor=None))
    assert_refused(ledger, signed, LimitBelowBalanceError)


def test_credit_ceiling_below_an_accounts_credit_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=600))
    signed = ledger.sign(admin_key, SetLimits(account=cal, debit_limit_minor=None, credit_ceiling_minor=599))
    assert_refused(ledger, signed, LimitBelowBalanceError)


def test_limits_exactly_at_the_balance_are_accepted(ledger: Ledger) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=600))
    ledger.accept(admin_key, SetLimits(account=bea, debit_limit_minor=600, credit_ceiling_minor=None))
    ledger.accept(admin_key, SetLimits(account=cal, debit_limit_minor=None, credit_ceiling_minor=600))
    assert_refused(ledger, ledger.sign(bea_key, Transfer(to=ada, amount_minor=1)), DebitLimitError)


def test_default_limits_below_some_accounts_balance_are_refused_and_changes_nothing(ledger: Ledger) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=600))
    signed = ledger.sign(
        admin_key, SetDefaultLimits(debit_limit_minor=500, credit_ceiling_minor=ceiling_default)
    )
    assert_refused(ledger, signed, LimitBelowBalanceError)


def test_default_limits_do_not_apply_to_an_account_with_its_own_limits(ledger: Ledger) -> None:
    ledger.accept(admin_key, SetLimits(account=bea, debit_limit_minor=5000, credit_ceiling_minor=None))
    ledger.accept(admin_key, SetLimits(account=cal, debit_limit_minor=None, credit_ceiling_minor=5000))
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=3000))
    ledger.accept(admin_key, SetDefaultLimits(debit_limit_minor=100, credit_ceiling_minor=100))
    assert ledger.state.community.debit_limit_minor == 100


def test_setting_limits_of_a_departed_account_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    ledger.accept(admin_key, RemoveMember(member=cal))
    signed = ledger.sign(admin_key, SetLimits(account=cal, debit_limit_minor=1, credit_ceiling_minor=1))
    assert_refused(ledger, signed, AccountClosedError)


# ---- rebinding a member's key -------------------------------------------------------------------


def test_after_a_rebind_the_old_key_can_no_longer_sign(ledger: Ledger) -> None:
    ledger.accept(bea_key, RebindKey(new_key=dee))
    assert_refused(ledger, ledger.sign(bea_key, Transfer(to=cal, amount_minor=1)), KeyRetiredError)


def test_after_a_rebind_the_new_key_signs_for_the_same_account(ledger: Ledger) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=40))
    ledger.accept(bea_key, RebindKey(new_key=dee))
    ledger.accept(dee_key, Transfer(to=cal, amount_minor=2))
    assert balance(ledger, bea) == -42
    assert dee not in ledger.state.accounts


def test_a_rebind_keeps_the_members_id_name_role_and_balance(ledger: Ledger) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=40))
    before = ledger.state.members[bea]
    ledger.accept(bea_key, RebindKey(new_key=dee))
    after = ledger.state.members[bea]
    assert (after.name, after.role, after.active, after.key) == (before.name, before.role, True, dee)
    assert balance(ledger, bea) == -40
    assert find_member(ledger.state, "Bea") == bea


def test_a_rebind_keeps_the_members_used_nonces(ledger: Ledger) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=1), nonce=3)
    ledger.accept(bea_key, RebindKey(new_key=dee), nonce=4)
    assert_refused(
        ledger, ledger.sign(dee_key, Transfer(to=cal, amount_minor=1), nonce=3), ReplayedNonceError
    )


@pytest.mark.parametrize("taken", ["own current key", "another members key", "a departed members id"])
def test_rebinding_to_a_key_in_use_is_refused_and_changes_nothing(ledger: Ledger, taken: str) -> None:
    if taken == "a departed members id":
        ledger.accept(admin_key, RemoveMember(member=cal))
    new_key = {"own current key": bea, "another members key": cal, "a departed members id": cal}[taken]
    assert_refused(ledger, ledger.sign(bea_key, RebindKey(new_key=new_key)), KeyInUseError)


def test_an_intent_signed_by_a_retired_key_cannot_be_replayed_against_another_account(ledger: Ledger) -> None:
    ledger.accept(bea_key, RebindKey(new_key=dee))
    old_payment = ledger.sign(dee_key, Transfer(to=cal, amount_minor=100))
    assert ledger.submit(old_payment) is None
    ledger.accept(dee_key, RebindKey(new_key=key("bea, third key").public))
    # Dee's public key is in the log for anyone to read; an admin tries to admit it as a new account.
    assert_refused(ledger, ledger.sign(admin_key, AdmitMember(member=dee, name="Not Bea")), KeyInUseError)
    assert_refused(ledger, old_payment, KeyRetiredError)


# ---- apply, audit and checkpoints ---------------------------------------------------------------


def test_apply_returns_a_new_state_and_leaves_the_old_one_as_it_was(ledger: Ledger) -> None:
    before, digest_before = ledger.state, state_digest(ledger.state)
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=5))
    assert ledger.state is not before
    assert before.accounts[bea].balance_minor == 0
    assert state_digest(before) == digest_before


def test_audit_refuses_an_act_that_validate_refuses(ledger: Ledger) -> None:
    signed = ledger.sign(bea_key, Transfer(to=cal, amount_minor=debit_default + 1))
    _, event = ledger.next_event(Act(intent=signed.raw))
    with pytest.raises(DebitLimitError):
        audit(ledger.state, event, signed.intent)


def test_audit_accepts_a_checkpoint_of_the_state_before_it(ledger: Ledger) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=5))
    ledger.checkpoint()
    assert ledger.state.events_since_checkpoint == 0


def test_audit_refuses_a_checkpoint_that_does_not_match_the_state(ledger: Ledger) -> None:
    _, event = ledger.next_event(Checkpoint(state_hash=hash32(b"not this state")))
    with pytest.raises(CheckpointMismatchError) as raised:
        audit(ledger.state, event, None)
    assert raised.value.code == "checkpoint_mismatch"


def test_a_checkpoint_is_due_every_interval_events_and_resets_after_one() -> None:
    ledger = Ledger(checkpoint_interval_events=10)
    for index in range(9):
        ledger.accept(admin_key, AdmitMember(member=key(f"member {index}").public, name=f"Member {index}"))
        assert not checkpoint_due(ledger.state)
    ledger.accept(admin_key, AdmitMember(member=key("member 9").public, name="Member 9"))
    assert checkpoint_due(ledger.state)
    ledger.checkpoint()
    assert not checkpoint_due(ledger.state)


def test_a_key_rotation_leaves_the_ledger_unchanged_but_its_seq(ledger: Ledger) -> None:
    members_before = {member_id: member for member_id, member in ledger.state.members.items()}
    ledger.append(
        KeyRotated(
            recovery_key=key("recovery").public,
            signing_key=key("node").public,
            next_recovery_key_hash=hash32(b"x"),
        )
    )
    assert dict(ledger.state.members) == members_before
    assert ledger.state.seq == len(ledger.events) + 1


def test_refolding_the_log_gives_the_live_state(ledger: Ledger) -> None:
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=5))
    ledger.checkpoint()
    ledger.accept(bea_key, RebindKey(new_key=dee))
    ledger.accept(admin_key, SetDefaultLimits(debit_limit_minor=2000, credit_ceiling_minor=2000))
    refolded, _ = refold(ledger.genesis_bytes, ledger.events)
    assert refolded == ledger.state
    assert state_digest(refolded) == state_digest(ledger.state)


def test_refolding_a_log_with_a_forged_checkpoint_fails() -> None:
    ledger = Ledger()
    ledger.append(Checkpoint(state_hash=hash32(b"forged")))  # appended without audit
    with pytest.raises(CheckpointMismatchError):
        refold(ledger.genesis_bytes, ledger.events)


# ---- the state digest ---------------------------------------------------------------------------


def test_state_digest_is_the_same_for_the_same_log_built_twice() -> None:
    def build() -> Ledger:
        built = Ledger()
        built.accept(admin_key, AdmitMember(member=bea, name="Bea"))
        built.accept(bea_key, Transfer(to=ada, amount_minor=17))
        return built

    first, second = build(), build()
    assert state_digest(first.state) == state_digest(first.state) == state_digest(second.state)


def test_state_digest_does_not_depend_on_the_order_members_were_inserted(ledger: Ledger) -> None:
    state = ledger.state
    persistent_map = type(state.members)  # whichever persistent map the domain uses
    reordered = replace(state, members=persistent_map(dict(reversed(list(state.members.items())))))
    assert state_digest(reordered) == state_digest(state)


@settings(max_examples=60, deadline=None)
@given(account_index=st.integers(0, 2), delta=st.integers(-(10**15), 10**15).filter(bool))
def test_state_digest_changes_when_any_balance_changes(account_index: int, delta: int) -> None:
    ledger = Ledger()
    ledger.accept(admin_key, AdmitMember(member=bea, name="Bea"))
    ledger.accept(admin_key, AdmitMember(member=cal, name="Cal"))
    ledger.accept(bea_key, Transfer(to=cal, amount_minor=7))
    state = ledger.state
    member = sorted(state.accounts)[account_index]
    account = state.accounts[member]
    changed = replace(
        state,
        accounts=state.accounts.set(member, replace(account, balance_minor=account.balance_minor + delta)),
    )
    assert state_digest(changed) != state_digest(state)


@pytest.mark.parametrize(
    "change",
    ["debit limit", "credit ceiling", "default limits", "role", "active", "key", "name"],
)
def test_state_digest_changes_when_an_account_or_member_changes(ledger: Ledger, change: str) -> None:
    state = ledger.state
    account, member = state.accounts[bea], state.members[bea]
    if change == "debit limit":
        changed = replace(state, accounts=state.accounts.set(bea, replace(account, debit_limit_minor=1)))
    elif change == "credit ceiling":
        changed = replace(state, accounts=state.accounts.set(bea, replace(account, credit_ceiling_minor=1)))
    elif change == "default limits":
        changed = replace(state, community=replace(state.community, debit_limit_minor=1))
    else:
        field_value = {"role": "admin", "active": False, "key": dee, "name": "Beatrix"}[change]
        changed = replace(state, members=state.members.set(bea, replace(member, **{change: field_value})))
    assert state_digest(changed) != state_digest(state)


def test_validate_is_pure_and_gives_the_same_answer_twice(ledger: Ledger) -> None:
    signed = ledger.sign(bea_key, Transfer(to=cal, amount_minor=debit_default + 1))
    first, second = validate(ledger.state, signed.intent), validate(ledger.state, signed.intent)
    assert type(first) is type(second) is DebitLimitError
    assert first.message == second.message
