"""Builders for tests of the pure domain: a community's feed written the way the sequencer writes it.

How this works: every intent is really signed by a member's `KeyPair` (seeds derived from a label, so
runs are reproducible) and decoded back with `verify_intent`; every event is really signed by the
node key with `sign_event` and decoded with `decode_event`. `Ledger` plays the sequencer: it appends
an `Act` only when `validate` returns None, and keeps the exact bytes of every event, so `refold`
can check them as a rebuild or a replica does (chain, signatures, `audit`).
"""

from __future__ import annotations

from typing import NamedTuple

from tallystick.ledger.digest import state_digest
from tallystick.ledger.errors import DomainError
from tallystick.ledger.model import State, initial_state
from tallystick.ledger.transition import apply, audit, validate
from tallystick.protocol.codec import decode_event, event_hash, sign_event, sign_intent, verify_intent
from tallystick.protocol.events import Act, Action, Body, Checkpoint, Event, Genesis, Intent
from tallystick.protocol.federation import PaymentOut
from tallystick.protocol.feed import start_feed, verify_next
from tallystick.protocol.ids import KeyPair, hash32

default_debit_limit_minor = 1000
default_credit_ceiling_minor = 1500
default_checkpoint_interval_events = 10


def key(label: str) -> KeyPair:
    """A member or node key, the same on every run for the same label."""
    return KeyPair(hash32(b"tallystick domain tests: " + label.encode()))


node_key = key("node")
recovery_key = key("recovery")
admin_key = key("admin")


class SignedIntent(NamedTuple):
    raw: bytes  # the exact signed bytes an Act carries
    intent: Intent


class Ledger:
    """One community's feed, written as the sequencer writes it."""

    def __init__(
        self,
        *,
        debit_limit_minor: int = default_debit_limit_minor,
        credit_ceiling_minor: int = default_credit_ceiling_minor,
        checkpoint_interval_events: int = default_checkpoint_interval_events,
        admin: KeyPair = admin_key,
        admin_name: str = "Ada",
    ) -> None:
        genesis = Genesis(
            name="Testbury",
            unit_code="TST",
            unit_decimals=2,
            debit_limit_minor=debit_limit_minor,
            credit_ceiling_minor=credit_ceiling_minor,
            signing_key=node_key.public,
            recovery_key_hash=hash32(recovery_key.public),
            admin_key=admin.public,
            admin_name=admin_name,
            checkpoint_interval_events=checkpoint_interval_events,
        )
        self.genesis_bytes = sign_event(node_key, feed=None, seq=1, prev=None, ts=0, body=genesis)
        decoded = decode_event(self.genesis_bytes)
        assert isinstance(decoded.body, Genesis)
        self.feed = event_hash(self.genesis_bytes)
        self.head = self.feed
        self.seq = 1
        self.events: list[bytes] = []  # every event after the genesis, exact signed bytes
        self.state: State = initial_state(self.feed, decoded.body)
        self._nonce_next = 0

    # ---- intents ---------------------------------------------------------------------------------

    def sign(self, signer: KeyPair, action: Action, *, nonce: int | None = None) -> SignedIntent:
        """An intent for this feed. Without a nonce, a fresh one (unique across the whole ledger,
        so a member who rebinds their key never collides with their own earlier nonces)."""
        if nonce is None:
            nonce, self._nonce_next = self._nonce_next, self._nonce_next + 1
        raw = sign_intent(signer, feed=self.feed, nonce=nonce, action=action)
        return SignedIntent(raw, verify_intent(raw, feed=self.feed))

    def submit(self, signed: SignedIntent) -> DomainError | None:
        """What the sequencer does: validate, and append only if valid."""
        error = validate_intent(self.state, signed)
        if error is None:
            self.append(Act(intent=signed.raw), signed.intent)
        return error

    def accept(self, signer: KeyPair, action: Action, *, nonce: int | None = None) -> Event:
        """Sign, check it is valid, append. For building the state a test starts from."""
        signed = self.sign(signer, action, nonce=nonce)
        error = validate_intent(self.state, signed)
        assert error is None, f"setup intent refused: {error!r}"
        return self.append(Act(intent=signed.raw), signed.intent)

    # ---- events ----------------------------------------------------------------------------------

    def next_event(self, body: Body) -> tuple[bytes, Event]:
        """The next event of the feed, signed and decoded, not yet appended."""
        raw = sign_event(node_key, feed=self.feed, seq=self.seq + 1, prev=self.head, ts=self.seq, body=body)
        return raw, decode_event(raw)

    def append(self, body: Body, intent: Intent | None = None) -> Event:
        raw, event = self.next_event(body)
        self.state = apply(self.state, event, intent)
        self.events.append(raw)
        self.seq, self.head = event.seq, event_hash(raw)
        return event

    def checkpoint(self) -> Event:
        """Append a checkpoint of the current state, through `audit` as a replica would."""
        raw, event = self.next_event(Checkpoint(state_hash=state_digest(self.state)))
        self.state = audit(self.state, event, None)
        self.events.append(raw)
        self.seq, self.head = event.seq, event_hash(raw)
        return event


def validate_intent(state: State, signed: SignedIntent) -> DomainError | None:
    return validate(state, signed.intent)


def refold(genesis_bytes: bytes, events: list[bytes]) -> tuple[State, dict[int, bytes]]:
    """Rebuild a state from a feed's bytes as a rebuild or a replica does: every link and signature
    checked, every event through `audit` (so a wrong checkpoint raises). Returns the state and the
    state digest the refold saw just before each checkpoint, by the checkpoint's seq."""
    head, genesis = start_feed(genesis_bytes)
    assert isinstance(genesis.body, Genesis)
    state = initial_state(head.feed, genesis.body)
    digests_at_checkpoints: dict[int, bytes] = {}
    for raw in events:
        head, event = verify_next(head, raw)
        carries_intent = isinstance(event.body, (Act, PaymentOut))
        intent = verify_intent(event.body.intent, feed=head.feed) if carries_intent else None
        if isinstance(event.body, Checkpoint):
            digests_at_checkpoints[event.seq] = state_digest(state)
        state = audit(state, event, intent)
    return state, digests_at_checkpoints


class ClockedLedger(Ledger):
    """A Ledger whose events carry a settable clock (`now_ms`), whose intents are validated at that
    clock as the sequencer does, and whose node bodies go through `audit` as a replica receives
    them. `head` is then the hash of the last event appended."""

    def __init__(self, *, now_ms: int = 1_000_000, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.now_ms = now_ms

    def next_event(self, body: Body) -> tuple[bytes, Event]:
        raw = sign_event(node_key, feed=self.feed, seq=self.seq + 1, prev=self.head, ts=self.now_ms, body=body)
        return raw, decode_event(raw)

    def submit(self, signed: SignedIntent) -> DomainError | None:
        error = validate(self.state, signed.intent, self.now_ms)
        if error is None:
            self.append(Act(intent=signed.raw), signed.intent)
        return error

    def audited(self, body: Body, intent: Intent | None = None) -> Event:
        """Append a node body (or an event carrying `intent`) through `audit`; raises if refused."""
        raw, event = self.next_event(body)
        self.state = audit(self.state, event, intent)
        self.events.append(raw)
        self.seq, self.head = event.seq, event_hash(raw)
        return event
