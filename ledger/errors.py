"""Errors the community's rules raise: each has a stable code and says what to do.

How this works: the domain returns (from `validate`) or raises (from `audit`) one of these; the API
maps `http_status` and `to_json()` straight into its answer, and the CLI prints `message`.
"""

from tallystick.protocol.errors import LocalError


class DomainError(LocalError):
    code = "refused"
    http_status = 422


class UnknownMemberError(DomainError):
    code = "unknown_member"


class AccountClosedError(DomainError):
    code = "account_closed"


class NotAuthorizedError(DomainError):
    code = "not_authorized"
    http_status = 403


class ReplayedNonceError(DomainError):
    code = "replayed_nonce"
    http_status = 409


class SameAccountError(DomainError):
    code = "same_account"


class DebitLimitError(DomainError):
    code = "debit_limit"


class CreditCeilingError(DomainError):
    code = "credit_ceiling"


class KeyInUseError(DomainError):
    code = "key_in_use"
    http_status = 409


class KeyRetiredError(DomainError):
    code = "key_retired"
    http_status = 403


class NameTakenError(DomainError):
    code = "name_taken"
    http_status = 409


class BalanceNotZeroError(DomainError):
    code = "balance_not_zero"


class LastAdminError(DomainError):
    code = "last_admin"


class LimitBelowBalanceError(DomainError):
    code = "limit_below_balance"


class CheckpointMismatchError(DomainError):
    code = "checkpoint_mismatch"


class BadAmountError(DomainError):
    code = "bad_amount"


class UnknownDecisionError(DomainError):
    code = "unknown_decision"
    http_status = 404


class DecisionClosedError(DomainError):
    code = "decision_closed"
    http_status = 409


class DeadlinePassedError(DomainError):
    code = "deadline_passed"
    http_status = 409


class DecisionNotDueError(DomainError):
    code = "decision_not_due"


class OutcomeMismatchError(DomainError):
    code = "outcome_mismatch"


class BadDecisionError(DomainError):
    code = "bad_decision"


class BadVoteError(DomainError):
    code = "bad_vote"


class BadDelegationError(DomainError):
    code = "bad_delegation"


class TooManyDecisionsError(DomainError):
    code = "too_many_decisions"
    http_status = 409


class BelowFloorError(DomainError):
    """A decision asks for less than the community's floors for its effect: a smaller quorum or
    threshold, or a shorter time open (ledger/decisions.py, docs/decisions.md)."""

    code = "below_floor"


# ---- community shares and the exchange (ledger/shares.py, docs/shares.md) -------------------------


class UnknownEnterpriseError(DomainError):
    code = "unknown_enterprise"
    http_status = 404


class UnknownOfferError(DomainError):
    code = "unknown_offer"
    http_status = 404


class UnknownOrderError(DomainError):
    code = "unknown_order"
    http_status = 404


class OfferClosedError(DomainError):
    code = "offer_closed"
    http_status = 409


class NotManagerError(DomainError):
    code = "not_manager"
    http_status = 403


class SelfTradeError(DomainError):
    code = "self_trade"
    http_status = 409


class BadShareClassError(DomainError):
    code = "bad_share_class"


class BadOfferError(DomainError):
    code = "bad_offer"


class HoldingCapError(DomainError):
    code = "holding_cap"
    http_status = 409


class MemberCapError(DomainError):
    code = "member_cap"
    http_status = 409


class LocalOnlyError(DomainError):
    code = "local_only"
    http_status = 409


class NotTransferableError(DomainError):
    code = "not_transferable"
    http_status = 409


class NotWithdrawableError(DomainError):
    code = "not_withdrawable"
    http_status = 409


class WithdrawalsSuspendedError(DomainError):
    """The enterprise's holders suspended its withdrawals (docs/shares.md); the message names why."""

    code = "withdrawals_suspended"
    http_status = 409


class InterestCapError(DomainError):
    """Interest above the cap its holders set, or none set yet."""

    code = "interest_cap"
    http_status = 409


class BadInterestError(DomainError):
    """Interest for time not yet passed, or on a class that pays none."""

    code = "bad_interest"


class InsufficientSharesError(DomainError):
    code = "insufficient_shares"
    http_status = 409


class TooManyOffersError(DomainError):
    code = "too_many_offers"
    http_status = 409


class TooManyOrdersError(DomainError):
    code = "too_many_orders"
    http_status = 409


class SharesOutstandingError(DomainError):
    code = "shares_outstanding"
    http_status = 409


class NotDueError(DomainError):
    """A replica refuses an offer's close or a withdrawal's payment appended before it was due."""

    code = "not_due"


class UnknownPaymentError(DomainError):
    code = "unknown_payment"
    http_status = 404


class PaymentAnsweredError(DomainError):
    code = "payment_answered"
    http_status = 409


class NotInFederationError(DomainError):
    code = "not_in_federation"
    http_status = 409


class CapacityShareError(DomainError):
    code = "capacity_share"
    http_status = 409


# ---- invitations (ledger/membership.py) -----------------------------------------------------------


class InvitationUnknownError(DomainError):
    """No invitation of this community has that key (never made here, or expired and dropped)."""

    code = "invitation_unknown"
    http_status = 404


class InvitationExpiredError(DomainError):
    code = "invitation_expired"
    http_status = 409


class InvitationUsedError(DomainError):
    """The invitation was used to join already, or an admin withdrew it."""

    code = "invitation_used"
    http_status = 409


class BadInvitationError(DomainError):
    code = "bad_invitation"


class TooManyInvitationsError(DomainError):
    code = "too_many_invitations"
    http_status = 409


# ---- an account's keys, one per device (ledger/membership.py) -------------------------------------


class TooManyKeysError(DomainError):
    """The account holds `member_keys_max` current keys already."""

    code = "too_many_keys"
    http_status = 409


class LastKeyError(DomainError):
    """Removing the account's one current key would leave it with none that signs."""

    code = "last_key"
    http_status = 409


class UnknownKeyError(DomainError):
    """A `remove_key` names a key that is not one of the signer's account's keys."""

    code = "unknown_key"
    http_status = 404
