"""What the leaf decides about a transaction with the tree, before any ledger sees it. Pure.

How this works: `incoming` reads a transaction the trunkward node relays and says which local
account it pays and how much, or refuses it with one of the API's error classes (as Komunitin's
`ccToLocal` in credit-commons-controller.ts and cc-node's AddressResolver do: every entry between
one local account and the tree, never two local or two remote parties, a net gain for the local
account). `outgoing` builds the relay of a member's payment. `after_relay` and `after_resolution`
turn the client's outcome (client.py) into the one step the node takes with a held payment, so the
rule "answered once: settled or returned, never on a guess" lives in one place. `to_quant` converts
a community's minor units into the tree's quant at the graft's rate, rounding down as payments
across do (federation/payments.py `convert`); `from_quant` the other way, also down.
"""

from __future__ import annotations

from msgspec import Struct
from tallystick.protocol.errors import RemoteError

from . import paths, wire
from .outcomes import Accepted, Diverged, Outcome, Refused, Resolution, Unanswered


class TreeRefusal(RemoteError):
    """A transaction from the tree this leaf refuses: answered with its API error class."""

    code = "creditcommons_refused"

    def __init__(self, message: str, api_class: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.api_class, self.http_status = api_class, http_status

    def to_json(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message,
                "errors": [{"class": self.api_class, "message": self.message}]}


class Incoming(Struct, frozen=True):
    account: str  # the local account name in the path (a member's `paths.member_name`)
    quant: int  # the local account's net gain, in the tree's quant
    description: str  # the primary entry's, as the tree sent it: a personal text to seal


def incoming(node_path: str, transaction: wire.Transaction) -> Incoming:
    account: str | None = None
    gain = 0
    for entry in transaction.entries:
        try:
            payer = paths.local_account(node_path, entry.payer)
            payee = paths.local_account(node_path, entry.payee)
        except paths.PathError as error:
            raise TreeRefusal(str(error), "PathViolation") from None
        if payer is not None and payee is not None:
            raise TreeRefusal("an entry from the tree has its payer and its payee both on this node", "WrongAccountViolation")
        if payer is None and payee is None:
            raise TreeRefusal("an entry from the tree names no account of this node", "WrongAccountViolation")
        local = payer if payer is not None else payee
        if account is not None and local != account:
            raise TreeRefusal("every entry of a transaction from the tree moves the same account of this node",
                              "WrongAccountViolation")
        account = local
        gain += entry.quant if payee is not None else -entry.quant
    assert account is not None  # a transaction has at least one entry (wire.Transaction)
    if gain <= 0:
        raise TreeRefusal("a transaction from the tree pays an account of this node; it cannot bill one",
                          "WorkflowViolation")
    return Incoming(account, gain, transaction.entries[0].description)


def outgoing(node_path: str, uuid: str, member_id: bytes, payee_path: str, quant: int,
             description: str) -> wire.Transaction:
    """The relay of a member's payment into the tree, created straight into completed (`3rdparty`)."""
    if paths.local_account(node_path, payee_path) is not None:
        raise TreeRefusal("that account is on this node: pay the member here directly", "WrongAccountViolation")
    entry = wire.Entry(payer=paths.member_path(node_path, member_id), payee=payee_path, quant=quant,
                       description=description)
    return wire.Transaction(uuid=uuid, entries=(entry,))


# ---- a held payment's next step --------------------------------------------------------------------


class Settle(Struct, frozen=True):
    last_hash: str  # the chain's hash after the tree wrote it


class Return(Struct, frozen=True):
    api_class: str
    message: str


class Hold(Struct, frozen=True):
    """Keep it held; ask again later (`resolve` first if `resolve`)."""

    reason: str
    resolve: bool


class Relay(Struct, frozen=True):
    """Not written there: relay the same transaction again."""


class Alert(Struct, frozen=True):
    """The chains differ beyond this payment: keep it held; the operators compare the chains."""

    reason: str


Step = Settle | Return | Hold | Relay | Alert


def after_relay(outcome: Outcome) -> Step:
    if isinstance(outcome, Accepted):
        if outcome.additional:
            # Fees the other nodes would add: not shown to the member when they signed, so not theirs
            # to pay. The node erases the transaction there (a state change) and then returns it.
            return Return("WorkflowViolation", "the tree added entries (fees) the member did not agree to")
        return Settle(outcome.last_hash)
    if isinstance(outcome, Refused):
        if outcome.error_class == "DuplicateUuidViolation":
            # The tree holds this uuid: perhaps this very payment, relayed by a pass whose answer was
            # lost. Never a return on that guess: the chain decides.
            return Hold(outcome.message, resolve=True)
        return Return(outcome.error_class or "CCFailure", outcome.message)
    if isinstance(outcome, Diverged):
        return Hold(outcome.message, resolve=True)
    assert isinstance(outcome, Unanswered)
    return Hold(outcome.reason, resolve=True)


def after_resolution(resolution: Resolution, candidate: str) -> Step:
    steps: dict[Resolution, Step] = {
        "written": Settle(candidate),
        "not_written": Relay(),
        "unanswered": Hold("the trunkward node did not answer", resolve=True),
        "diverged": Alert("the trunkward node's chain is at neither the last hash nor this payment's"),
    }
    return steps[resolution]


# ---- units ----------------------------------------------------------------------------------------------

def to_quant(amount_minor: int, rate_num: int, rate_den: int) -> int:
    """`amount_minor` of the community's unit in the tree's quant: times rate_num / rate_den, down."""
    return amount_minor * rate_num // rate_den


def from_quant(quant: int, rate_num: int, rate_den: int) -> int:
    """`quant` of the tree in the community's minor units: the inverse, down."""
    return quant * rate_den // rate_num
