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


class BusyError(LocalError):
    """Too many intents are waiting; the client should retry after `retry_after_seconds`."""

    code = "busy"
    http_status = 503
