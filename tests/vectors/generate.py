"""Golden test vectors of the Tallystick protocol, written deterministically.

How this works: every key comes from a fixed seed (BLAKE2b-256 of ``b"tallystick test vector seed: "``
followed by the key's name), every timestamp is a constant, and Ed25519 signatures are deterministic,
so this script writes the same bytes on every run and every machine. `build()` returns the files as
Python values; running the script writes them next to it as JSON:

    .venv/bin/python tests/vectors/generate.py

- keys.json         seeds, public keys and their text ids; good and bad id texts
- feed.json         a valid feed of 15 events (genesis, acts carrying every kind of member action,
                    a checkpoint, a key rotation, acts after it) with each event's bytes, hash and
                    signature, the feed's heads, and the checkpoint's state-digest preimage
- intents.json      every member intent of the feed, with its signed message and signature
- invalid.json      bytes that must be refused, each with the check that refuses it and the error code
- fork_proofs.json  a valid fork proof
- shares.json       a community's enterprise, offer, exchange and share transfer (docs/shares.md)
- payments.json     a community in a federation: charter, trade and capacity limits, payments across
- decisions.json    a community deciding under its floors: proposals with a voting period, a
                    unanimous early close, set_floors, a close at the deadline (docs/decisions.md)
- commons.json      a community filling every part of the state digest the others leave empty
                    (delegations, a levy and its treasury, withdrawals, open polls, holders' decisions)
- visibility.json   a community that changes who sees what by a decision (docs/privacy.md)
- digests.json      the state digest taken apart, element by element, for six states
- layouts.json      one canonical encoding of every action, effect, electorate, body and federation effect
- pending.json      a community checkpointed with payments across pending and federation acts in its outbox
- personal.json     names, memos and proposal texts committed in the log and sealed beside it (docs/protocol.md
                    §19): salted digests, intents as a client sends them and as the log holds them, sealed
                    boxes with their data keys, nonces and plaintexts, a feed of the sealed kinds, bytes refused
- invitations.json  an admin invites, the invitee joins with the invitation's one-time key, an invitation is
                    withdrawn and one expires (docs/protocol.md §13.2.4, §11.6): the feed, its digests with the
                    invitations element, the layouts of the three actions and the joins a replica refuses
- devices.json      a member binds a second and a third device's key to her account, pays with them, removes
                    the first (docs/protocol.md §13.2.1, §13.2.4, §11.2): the feed, its digest whose member
                    entries list the further keys, the layouts of add_key and remove_key and the events a
                    replica refuses (a removed key reused, the last key, a ninth key)
- coop_shares.json  a community benefit society: a members' class voting one member, one vote (three holders
                    of 1, 40 and 500 shares pass a dividend as three), interest under the cap its holders set,
                    withdrawals suspended with their reason and resumed (docs/shares.md, docs/protocol.md §20)

Files only ever gain entries: a case or an event appended keeps every existing byte.

tests/test_protocol_vectors.py rebuilds these in memory and fails if one byte differs: a change of a
byte here is a protocol change (bump limits.protocol_version and say so in docs/protocol.md).
The script checks its own output as it goes (every valid event verifies and passes the domain's
audit; every invalid case fails with its stated code), so it cannot write a vector the code rejects.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import nacl.secret
from tallystick.ledger import decisions, shares, transition
from tallystick.ledger.digest import state_digest
from tallystick.ledger.model import State, initial_state
from tallystick.protocol import limits
from tallystick.protocol.codec import (
    decode_event,
    decode_intent,
    encode,
    event_hash,
    event_namespace,
    intent_namespace,
    sign_event,
    sign_intent,
    verify_intent,
    verify_submitted_intent,
)
from tallystick.protocol.errors import PersonalInClearError, TallyError
from tallystick.protocol.events import (
    Act,
    Action,
    ActSealed,
    AddKey,
    AdmitMember,
    AllMembers,
    Body,
    CancelOrder,
    CapacityLimits,
    Checkpoint,
    DecisionClosed,
    DeclareDividend,
    Delegate,
    Effect,
    Electorate,
    EnterprisePay,
    EventUnsigned,
    FederationAct,
    Floor,
    ForkProof,
    FounderIssue,
    Genesis,
    GenesisSealed,
    GraftTree,
    Holders,
    IntentUnsigned,
    Invite,
    Join,
    KeyRotated,
    OfferClosed,
    OpenOffer,
    OpenOfferWithPeriod,
    PayAcross,
    PayInterest,
    PayTree,
    PlaceOrder,
    Propose,
    ProposeWithPeriod,
    RebindKey,
    RecoverKey,
    RegisterEnterprise,
    RegisterEnterpriseWithMemberVotes,
    RemoveKey,
    RemoveMember,
    ResumeWithdrawals,
    RevokeInvitation,
    SetDefaultLimits,
    SetFloors,
    SetInterestCap,
    SetLevy,
    SetLimits,
    SetRole,
    SetRules,
    SetVisibility,
    SetWithdrawalRule,
    ShareClass,
    Subscribe,
    SuspendWithdrawals,
    TradeLimits,
    Transfer,
    TransferShares,
    TreasuryPay,
    TreeReceived,
    TreeReturned,
    TreeSettled,
    Undelegate,
    Vote,
    WithdrawalDue,
    WithdrawShares,
)
from tallystick.protocol.federation import (
    AdmitFederationMember,
    AllocateCapacity,
    AmendCharter,
    CapacityShare,
    Charter,
    CharterMember,
    ExpelFederationMember,
    FederationEffect,
    FederationProposal,
    FederationVote,
    JoinFederation,
    PaymentAccepted,
    PaymentCancel,
    PaymentOut,
    PaymentOutSealed,
    PaymentRejected,
    PaymentReturned,
    PaymentSettled,
    SetExchangeRate,
    SetTradeLimits,
    VoteInParent,
    federation_id,
)
from tallystick.protocol.feed import FeedHead, start_feed, verify_batch, verify_fork_proof, verify_next
from tallystick.protocol.ids import KeyPair, hash32, id_from_text, id_to_text
from tallystick.protocol.personal import (
    Committed,
    Opened,
    Personal,
    UnsealError,
    box_nonce_bytes,
    clear_texts,
    commit,
    committed_action,
    committed_texts,
    opened_action,
    personal_fields,
    salt_bytes,
    seal,
    text_digest,
    unseal,
)

vectors_dir = Path(__file__).resolve().parent
file_names = ("keys.json", "feed.json", "intents.json", "invalid.json", "fork_proofs.json", "shares.json",
              "payments.json", "decisions.json", "commons.json", "digests.json", "layouts.json", "pending.json",
              "visibility.json", "personal.json", "invitations.json", "devices.json", "coop_shares.json")

seed_prefix = b"tallystick test vector seed: "
# 2023-11-14T22:13:20Z; each event is one second after the one before unless noted.
genesis_ts_ms = 1_700_000_000_000
key_names = (
    "node",  # the feed's first signing key
    "recovery",  # the recovery key committed by the genesis
    "node_rotated",  # the signing key after the key rotation
    "next_recovery",  # the recovery key committed by the rotation
    "admin",  # the community's first admin member
    "alice",
    "bob",
    "bob_rebound",  # the key bob moves his account to
    "carol",
    "stranger",  # a key no feed or community knows
)
member_names = ("admin", "alice", "bob", "carol")


def seed_for(name: str) -> bytes:
    return hash32(seed_prefix + name.encode("ascii"))


def key_for(name: str) -> KeyPair:
    return KeyPair(seed_for(name))


def plain(value: Any) -> Any:
    """A decoded Struct as JSON: field names as keys, the tag as "kind", bytes as lowercase hex."""
    if isinstance(value, msgspec.Struct):
        out: dict[str, Any] = {}
        tag = type(value).__struct_config__.tag
        if tag is not None:
            out["kind"] = tag
        for field in value.__struct_fields__:
            out[field] = plain(getattr(value, field))
        return out
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def sign_raw(key: KeyPair, namespace: bytes, unsigned: bytes) -> bytes:
    """Sign arbitrary (possibly invalid) unsigned bytes the way the protocol signs valid ones:
    the fixarray header grows by one and ``c4 40 <signature>`` is appended."""
    assert 0x90 <= unsigned[0] < 0x9F, "only fixarray envelopes are built here"
    signature = key.sign(namespace + unsigned)
    return bytes((unsigned[0] + 1,)) + unsigned[1:] + b"\xc4\x40" + signature


def unsigned_event(
    *, feed: bytes | None, seq: int, prev: bytes | None, ts: int, body: Body, v: int = limits.protocol_version
) -> bytes:
    return encode(EventUnsigned(v=v, feed=feed, seq=seq, prev=prev, ts=ts, body=body))


def state_digest_preimage(state: State) -> bytes:
    """The bytes whose BLAKE2b-256 is the checkpoint's state hash, built from the layout that
    docs/protocol.md describes (not by calling node.domain), so the test catches a drift."""
    community = state.community
    entries = []
    for member_id in sorted(state.members.keys()):
        member = state.members[member_id]
        account = state.accounts[member_id]
        entries.append(
            [
                member_id,
                member.name,
                member.key,
                member.role,
                member.active,
                account.balance_minor,
                account.debit_limit_minor,
                account.credit_ceiling_minor,
            ]
        )
    settings = [
        community.name,
        community.unit_code,
        community.unit_decimals,
        community.debit_limit_minor,
        community.credit_ceiling_minor,
        community.checkpoint_interval_events,
    ]
    return encode([state.feed, state.seq, settings, entries])


class _FeedBuilder:
    """Appends events as a sequencer would, and checks each one as a replica would."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.intents: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.heads: list[FeedHead] = []  # heads[i] is the head after seq i + 1
        self.states: list[State] = []  # states[i] is the state after seq i + 1
        self.nonces: dict[str, int] = {}

    @property
    def feed(self) -> bytes:
        return self.heads[0].feed

    def append(
        self, signer: str, ts: int, body: Body, description: str, intent: dict[str, Any] | None
    ) -> bytes:
        seq = len(self.raw) + 1
        feed = None if seq == 1 else self.feed
        prev = None if seq == 1 else event_hash(self.raw[-1])
        raw = sign_event(key_for(signer), feed=feed, seq=seq, prev=prev, ts=ts, body=body)
        unsigned = unsigned_event(feed=feed, seq=seq, prev=prev, ts=ts, body=body)
        if seq == 1:
            head, event = start_feed(raw)
            assert isinstance(event.body, Genesis)
            state = initial_state(head.feed, event.body)
        else:
            head, event = verify_next(self.heads[-1], raw)
            decoded_intent = (
                verify_intent(event.body.intent, feed=self.feed) if isinstance(event.body, (Act, PaymentOut)) else None
            )
            state = transition.audit(self.states[-1], event, decoded_intent)
        self.raw.append(raw)
        self.heads.append(head)
        self.states.append(state)
        record: dict[str, Any] = {
            "seq": seq,
            "description": description,
            "signed_by": signer,
            "decoded": plain(event),
            "unsigned_hex": unsigned.hex(),
            "signed_message_hex": (event_namespace + unsigned).hex(),
            "bytes_hex": raw.hex(),
            "signature_hex": raw[-64:].hex(),
            "hash_hex": event_hash(raw).hex(),
            "hash_text": id_to_text("h", event_hash(raw)),
        }
        if intent is not None:
            record["intent_index"] = intent["index"]
            intent["carried_by_seq"] = seq
        self.events.append(record)
        return raw

    def intent(
        self, signer: str, action: Action, description: str, nonce: int | None = None
    ) -> tuple[bytes, dict]:
        if nonce is None:
            nonce = self.nonces.get(signer, 0) + 1
        self.nonces[signer] = max(nonce, self.nonces.get(signer, 0))
        key = key_for(signer)
        raw = sign_intent(key, feed=self.feed, nonce=nonce, action=action)
        unsigned = encode(
            IntentUnsigned(
                v=limits.protocol_version, feed=self.feed, key=key.public, nonce=nonce, action=action
            )
        )
        record = {
            "index": len(self.intents),
            "description": description,
            "signed_by": signer,
            "decoded": plain(decode_intent(raw)),
            "unsigned_hex": unsigned.hex(),
            "signed_message_hex": (intent_namespace + unsigned).hex(),
            "bytes_hex": raw.hex(),
            "signature_hex": raw[-64:].hex(),
        }
        self.intents.append(record)
        return raw, record

    def act(self, signer: str, ts: int, action: Action, description: str, nonce: int | None = None) -> bytes:
        intent_bytes, record = self.intent(signer, action, description, nonce)
        return self.append(
            "node" if ts < rotation_ts_ms else "node_rotated",
            ts,
            Act(intent=intent_bytes),
            description,
            record,
        )


rotation_ts_ms = genesis_ts_ms + 12_000


def build_feed() -> _FeedBuilder:
    public = {name: key_for(name).public for name in key_names}
    builder = _FeedBuilder()
    t = genesis_ts_ms
    builder.append(
        "node",
        t,
        Genesis(
            name="Riverside",
            unit_code="RVC",
            unit_decimals=2,
            debit_limit_minor=10_000,
            credit_ceiling_minor=50_000,
            signing_key=public["node"],
            recovery_key_hash=hash32(public["recovery"]),
            admin_key=public["admin"],
            admin_name="Ada",
            checkpoint_interval_events=limits.checkpoint_interval_events_min,
        ),
        "genesis: the community Riverside, unit RVC with 2 decimals, admin Ada; its hash is the feed id",
        None,
    )
    builder.act("admin", t + 1000, AdmitMember(member=public["alice"], name="Alice"), "Ada admits Alice")
    builder.act(
        "admin", t + 2000, AdmitMember(member=public["bob"], name="Bob", role="member"), "Ada admits Bob"
    )
    builder.act(
        "alice",
        t + 3000,
        Transfer(to=public["bob"], amount_minor=1250, memo="bread"),
        "Alice pays Bob 12.50 RVC for bread",
    )
    builder.act(
        "bob",
        t + 3000,
        Transfer(to=public["alice"], amount_minor=300),
        "Bob pays Alice 3.00 RVC, no memo, at the same millisecond as the event before (allowed)",
    )
    builder.act(
        "admin",
        t + 4000,
        SetLimits(account=public["alice"], debit_limit_minor=20_000, credit_ceiling_minor=None),
        "Ada sets Alice's debit limit to 200.00; her credit ceiling stays the community default (nil)",
    )
    builder.act(
        "admin",
        t + 5000,
        AdmitMember(member=public["carol"], name="Carol", role="admin"),
        "Ada admits Carol as an admin",
    )
    builder.act("admin", t + 6000, SetRole(member=public["carol"], role="member"), "Ada makes Carol a member")
    builder.act("admin", t + 7000, RemoveMember(member=public["carol"]), "Ada removes Carol (balance zero)")
    builder.act(
        "admin",
        t + 8000,
        SetDefaultLimits(debit_limit_minor=15_000, credit_ceiling_minor=60_000),
        "Ada sets the community's default limits",
    )
    builder.act(
        "bob",
        t + 9000,
        RebindKey(new_key=public["bob_rebound"]),
        "Bob moves his account to a new key; nonce 1000 (uint16)",
        nonce=1000,
    )
    assert transition.checkpoint_due(builder.states[-1])
    builder.append(
        "node",
        t + 10_000,
        Checkpoint(state_hash=state_digest(builder.states[-1])),
        "checkpoint: the state digest after seq 11 (10 events since the genesis, the community's interval)",
        None,
    )
    builder.append(
        "recovery",
        rotation_ts_ms,
        KeyRotated(
            recovery_key=public["recovery"],
            signing_key=public["node_rotated"],
            next_recovery_key_hash=hash32(public["next_recovery"]),
        ),
        "key rotation, signed by the recovery key it reveals: node_rotated signs from now on",
        None,
    )
    builder.act(
        "alice",
        rotation_ts_ms + 1000,
        Transfer(to=public["bob"], amount_minor=99, memo="café ☕ 🍞"),
        "Alice pays Bob 0.99 RVC with a non-ASCII memo; the first event signed by node_rotated",
    )
    builder.act(
        "bob_rebound",
        rotation_ts_ms + 2000,
        Transfer(to=public["alice"], amount_minor=1),
        "Bob, signing with his rebound key, pays Alice 0.01 RVC",
        nonce=1001,
    )
    # the whole run verifies as one batch too
    final, _ = verify_batch(builder.heads[0], builder.raw[1:])
    assert final == builder.heads[-1]
    return builder


def _community_with_alice_and_bob(name: str, unit_code: str) -> _FeedBuilder:
    """A new feed: the community's genesis (Ada its admin), then Ada admits Alice and Bob."""
    public = {key: key_for(key).public for key in key_names}
    builder = _FeedBuilder()
    t = genesis_ts_ms
    builder.append("node", t, Genesis(
        name=name, unit_code=unit_code, unit_decimals=2, debit_limit_minor=100_000, credit_ceiling_minor=100_000,
        signing_key=public["node"], recovery_key_hash=hash32(public["recovery"]), admin_key=public["admin"],
        admin_name="Ada", checkpoint_interval_events=limits.checkpoint_interval_events_max,
    ), f"genesis: the community {name}, unit {unit_code}", None)
    builder.act("admin", t + 1, AdmitMember(member=public["alice"], name="Alice"), "Ada admits Alice")
    builder.act("admin", t + 2, AdmitMember(member=public["bob"], name="Bob"), "Ada admits Bob")
    return builder


def build_shares_feed() -> _FeedBuilder:
    """A second community, Millbrook, whose bakery raises capital and whose members trade: every
    shares action and body of docs/shares.md, checked as a replica would."""
    public = {name: key_for(name).public for name in key_names}
    builder = _community_with_alice_and_bob("Millbrook", "MBK")
    t = genesis_ts_ms
    customer = ShareClass("Customer shares", "user", 1, 0, 100, True, False, 50, True)
    investor = ShareClass("Investor shares", "investor", 1, 2, 500, False, True, None, False)
    registered = builder.act("admin", t + 3, RegisterEnterprise(
        name="Bakery", classes=(customer, investor), founder_issue=(), notice_ms=1000, yearly_cap_minor=0,
    ), "Ada registers the Bakery with withdrawable customer shares and transferable investor shares")
    bakery = shares.enterprise_id(builder.feed, decode_event(registered).seq)
    offer = decode_event(builder.act("admin", t + 4, OpenOffer(bakery, 1, 500, 10, 2, 8, t + 100),
                                     "Ada offers 10 investor shares at 5.00, target 2, at most 8 each")).seq
    builder.act("alice", t + 5, Subscribe(offer, 8), "Alice subscribes 8: 40.00 into escrow")
    builder.act("bob", t + 6, Subscribe(offer, 5), "Bob subscribes 5: oversubscribed (13 for 10)")
    builder.append("node", t + 100, shares.offer_closing_body(builder.states[-1], offer),
                   "the offer closes at its deadline: pro rata, Alice 6 (6.15), Bob 4 (3.85, the largest remainder)",
                   None)
    builder.act("alice", t + 101, PlaceOrder(bakery, 1, "sell", 3, 600), "Alice offers 3 at 6.00")
    builder.act("bob", t + 102, PlaceOrder(bakery, 1, "buy", 2, 650),
                "Bob bids 2 at 6.50: fills 2 at 6.00 (the resting price), 1.00 back to Bob")
    builder.act("bob", t + 103, PlaceOrder(bakery, 1, "buy", 1, 550), "Bob bids 1 at 5.50: rests")
    builder.act("bob", t + 104, CancelOrder(decode_event(builder.raw[-1]).seq), "Bob cancels that bid")
    builder.act("alice", t + 105, TransferShares(bakery, 1, public["bob"], 1), "Alice gives Bob 1 investor share")
    final, _ = verify_batch(builder.heads[0], builder.raw[1:])
    assert final == builder.heads[-1]
    shares.audit_invariants(builder.states[-1])
    return builder


hour_ms = 3600 * 1000


def build_decisions_feed() -> _FeedBuilder:
    """A third community, Fairfield, deciding under its floors: Alice's limit by a proposal with a
    voting period that all three agree to (closed early, unanimous), stricter floors by the rules
    class (also unanimous), a consent with an absolute deadline that closes at it, no quorum, and a
    rules proposal that two of three pass at its deadline (two thirds reach 66.67 %)."""
    public = {name: key_for(name).public for name in key_names}
    builder = _community_with_alice_and_bob("Fairfield", "FFD")
    t = genesis_ts_ms
    limit = decode_event(builder.act("alice", t + 3, ProposeWithPeriod(
        "proposal", "A bigger limit for Alice", "", 0, voting_period_ms=48 * hour_ms,
        effect=SetLimits(public["alice"], 200_000, None),
    ), "Alice proposes her own debit limit of 2,000.00, open 48 h (the limits floor)")).seq
    for offset, voter in enumerate(("admin", "alice", "bob")):
        builder.act(voter, t + 4 + offset, Vote(decision=limit, position="agree"), f"{voter} agrees")
    builder.append("node", t + 7, DecisionClosed(decision=limit, outcome="passed"),
                   "everyone agreed: the node closes it before its deadline, passed", None)
    floors = decode_event(builder.act("admin", t + 8, ProposeWithPeriod(
        "proposal", "Stricter limits", "", 0, voting_period_ms=72 * hour_ms,
        effect=SetFloors((Floor("limits", 7500, 5000, 48 * hour_ms), Floor("rules", 7500, 6667, 72 * hour_ms))),
    ), "Ada proposes floors: limits and rules need three quarters of the members (the rules class, 72 h)")).seq
    for offset, voter in enumerate(("admin", "alice", "bob")):
        builder.act(voter, t + 9 + offset, Vote(decision=floors, position="agree"), f"{voter} agrees")
    builder.append("node", t + 12, DecisionClosed(decision=floors, outcome="passed"),
                   "everyone agreed: the floors pass", None)
    deadline = t + 13 + 48 * hour_ms
    defaults = decode_event(builder.act("bob", t + 13, Propose(
        "consent", "Higher default limits", "", deadline, effect=SetDefaultLimits(150_000, 150_000),
    ), "Bob proposes higher default limits by consent, deadline 48 h on (quorum: the new 75 % floor)")).seq
    builder.act("bob", t + 14, Vote(decision=defaults, position="agree"), "Bob agrees; no one else votes")
    builder.append("node", deadline, DecisionClosed(decision=defaults, outcome="no_quorum"),
                   "at its deadline: one of three took part, below the 75 % quorum", None)
    t = deadline

    def act(voter: str, ts: int, action: Action, description: str) -> bytes:  # after rotation_ts_ms, unrotated
        intent, record = builder.intent(voter, action, description)
        return builder.append("node", ts, Act(intent=intent), description, record)

    two_thirds = decode_event(act("admin", t + 1, ProposeWithPeriod(
        "proposal", "Admission by decision", "", 0, voting_period_ms=72 * hour_ms,
        effect=SetRules("decision", 5000, 6667),
    ), "Ada proposes that members are admitted by decision (the rules class: 66.67 %, 72 h)")).seq
    act("admin", t + 2, Vote(decision=two_thirds, position="agree"), "admin agrees")
    act("alice", t + 3, Vote(decision=two_thirds, position="agree"), "alice agrees")
    act("bob", t + 4, Vote(decision=two_thirds, position="disagree"), "bob disagrees")
    builder.append("node", t + 1 + 72 * hour_ms, DecisionClosed(decision=two_thirds, outcome="passed"),
                   "at its deadline: two of three agree, 66.67 % to the basis point, which reaches the "
                   "66.67 % threshold (docs/decisions.md, \"Reaching a bar\")", None)
    final, _ = verify_batch(builder.heads[0], builder.raw[1:])
    assert final == builder.heads[-1]
    return builder


def build_visibility_feed() -> _FeedBuilder:
    """A seventh community, Thornbury, that changes who sees what: Alice, a plain member, proposes that
    members see each other's balances and only the admins see who holds which shares (the rules
    class, open 72 h); all three agree and the node closes it at once."""
    builder = _community_with_alice_and_bob("Thornbury", "TBY")
    t = genesis_ts_ms
    change = decode_event(builder.act("alice", t + 3, ProposeWithPeriod(
        "proposal", "Open balances", "", 0, voting_period_ms=72 * hour_ms,
        effect=SetVisibility(balances="members", holdings="admins"),
    ), "Alice proposes that members see each other's balances and only admins the holdings (rules class, 72 h)")).seq
    for offset, voter in enumerate(("admin", "alice", "bob")):
        builder.act(voter, t + 4 + offset, Vote(decision=change, position="agree"), f"{voter} agrees")
    builder.append("node", t + 7, DecisionClosed(decision=change, outcome="passed"),
                   "everyone agreed: the node closes it before its deadline, passed; the policy changes", None)
    final, _ = verify_batch(builder.heads[0], builder.raw[1:])
    assert final == builder.heads[-1]
    return builder


def build_payments_feed() -> tuple[_FeedBuilder, dict[str, bytes]]:
    """A third community, Oakhaven, in federation Hills under the confederation Island: it adopts
    Hills' charter, its node applies Hills' trade limits and its share of Hills' capacity, Alice pays
    a member of a community of another federation through Island (settled), Bob receives a payment
    across, and a rejected payment is returned (docs/federation.md §15.7.1, docs/protocol.md)."""
    public = {name: key_for(name).public for name in key_names}
    builder = _community_with_alice_and_bob("Oakhaven", "OAK")
    t = genesis_ts_ms
    neighbour, elsewhere, payee = hash32(b"neighbour community"), hash32(b"community of Coast"), hash32(b"Cy")
    hills_charter = Charter("Hills", "HIL", 2, (CharterMember(builder.feed, "OAK", 1, 1),
                                                CharterMember(neighbour, "NBR", 2, 1)), 6000, t)
    hills = federation_id(hills_charter)
    island = hash32(b"the charter of Island, a confederation of Hills and Coast")
    builder.act("admin", t + 3, FederationAct(body=hills_charter), "Ada decides to adopt Hills' charter")
    builder.append("node", t + 4, hills_charter, "the node appends the charter: Oakhaven's trade account in Hills",
                   None)
    builder.append("node", t + 5, TradeLimits(hills, hills, 50_000, 50_000),
                   "the node applies Hills' trade limits: 500.00 either way", None)
    builder.append("node", t + 6, CapacityLimits(hills, hills, (island,), 20_000),
                   "the node applies Hills' allocation: Oakhaven's share of Hills' capacity in Island, 200.00", None)
    pay = PayAcross(federation=island, to_community=elsewhere, to_member=payee, amount_minor=12_000, memo="wool")
    intent, record = builder.intent("alice", pay, "Alice pays Cy, of a community in Coast, 120.00 through Island")
    builder.append("node", t + 7, transition.intent_body(builder.states[-1], decode_intent(intent), intent, t + 7),
                   "payment_sent: Alice debited, the trade account in Hills credited, 120.00 of the share used",
                   record)
    sent = event_hash(builder.raw[-1])
    builder.append("node", t + 8, PaymentSettled(sent, hash32(b"Coast's acceptance")),
                   "Cy's community accepted: settled", None)
    builder.append("node", t + 9, PaymentAccepted(hash32(b"a payment from Coast"), elsewhere, 3_000, island,
                                                  public["bob"]), "Oakhaven accepts 30.00 for Bob through Island",
                   None)
    pay = PayAcross(federation=island, to_community=elsewhere, to_member=payee, amount_minor=1_000, memo="")
    intent, record = builder.intent("alice", pay, "Alice pays Cy 10.00 through Island")
    builder.append("node", t + 10, transition.intent_body(builder.states[-1], decode_intent(intent), intent, t + 10),
                   "payment_sent", record)
    builder.append("node", t + 11, PaymentReturned(event_hash(builder.raw[-1]), hash32(b"Coast's rejection")),
                   "Cy's community rejected it: returned to Alice", None)
    return builder, {"hills": hills, "island": island}


def build_commons_feed() -> _FeedBuilder:
    """A fifth community, Kingsbridge, that fills every part of the state digest the other feeds
    leave empty: delegations (one taken back), a levy and its treasury, an enterprise with a founder
    class and a withdrawable class sold by an `open_offer_period`, a withdrawal paid when its notice
    ran, a poll with option votes and a holders' decision (both open at seq 24, which digests.json takes
    apart, and closed at their deadlines later: the dividend paid), and a treasury payment decided
    (docs/protocol.md §11)."""
    public = {name: key_for(name).public for name in key_names}
    builder = _community_with_alice_and_bob("Kingsbridge", "KBG")
    t = genesis_ts_ms
    builder.act("alice", t + 3, Delegate(to=public["bob"]), "Alice lets Bob vote for her on every topic")
    builder.act("alice", t + 4, Delegate(to=public["admin"], topic="roads"), "Alice lets Ada vote for her on roads")
    builder.act("bob", t + 5, Delegate(to=public["admin"], topic="roads"), "Bob lets Ada vote for him on roads")
    builder.act("bob", t + 6, Undelegate(topic="roads"), "Bob takes his roads delegation back")
    levy = decode_event(builder.act("admin", t + 7, ProposeWithPeriod(
        "proposal", "A levy for the commons", "1 % of every payment, 0.01 to 5.00", 0,
        voting_period_ms=48 * hour_ms, effect=SetLevy(100, 1, 500)),
        "Ada proposes a levy (the treasury class: open 48 h)")).seq
    for offset, voter in enumerate(("admin", "alice", "bob")):
        builder.act(voter, t + 8 + offset, Vote(decision=levy, position="agree"), f"{voter} agrees")
    builder.append("node", t + 11, DecisionClosed(decision=levy, outcome="passed"),
                   "everyone agreed directly: closed early, passed; the treasury account opens", None)
    builder.act("alice", t + 12, Transfer(to=public["bob"], amount_minor=10_000, memo="rent"),
                "Alice pays Bob 100.00, and 1.00 of levy to the treasury")
    registered = builder.act("admin", t + 13, RegisterEnterprise(
        name="Mill", classes=(ShareClass("Founder shares", "founder", 1, 1, 100, False, True, None, False),
                              ShareClass("Member shares", "user", 1, 1, 1000, True, False, 5, True)),
        founder_issue=(FounderIssue(0, 10),), notice_ms=1000, yearly_cap_minor=0),
        "Ada registers the Mill: 10 founder shares to her, withdrawable member shares at 10.00")
    mill = shares.enterprise_id(builder.feed, decode_event(registered).seq)
    builder.act("admin", t + 14, TransferShares(mill, 0, public["alice"], 4), "Ada gives Alice 4 founder shares")
    offer = decode_event(builder.act("admin", t + 15, OpenOfferWithPeriod(
        mill, 1, 1000, 5, 1, 5, 0, open_for_ms=1000),
        "Ada offers 5 member shares at 10.00, open 1 s (open_offer_period); the escrow account opens")).seq
    builder.act("alice", t + 16, Subscribe(offer, 3), "Alice subscribes 3: 30.00 into escrow")
    builder.append("node", t + 1015, shares.offer_closing_body(builder.states[-1], offer),
                   "the offer closes: Alice is allotted 3, the Mill receives 30.00", None)
    withdrawal = decode_event(builder.act("alice", t + 1016, WithdrawShares(mill, 1, 1),
                                          "Alice asks to withdraw 1 member share (notice 1 s)")).seq
    builder.append("node", t + 2016, shares.withdrawal_body(builder.states[-1], withdrawal),
                   "the notice has run: the Mill pays Alice 10.00 at par", None)
    t += 1000
    poll = decode_event(builder.act("admin", t + 1016, Propose(
        "poll", "Market day", "", t + 1016 + 24 * hour_ms, topic="roads", options=("Tuesday", "Saturday"),
        multiple=True), "Ada opens a poll on the roads topic: Tuesday or Saturday (several allowed)")).seq
    builder.act("admin", t + 1017, Vote(decision=poll, options=(1, 0)), "Ada votes Saturday, then Tuesday")
    holders = decode_event(builder.act("admin", t + 1018, Propose(
        "proposal", "A dividend", "", t + 1018 + 24 * hour_ms, electorate=Holders(mill),
        effect=DeclareDividend(mill, 300)), "Ada asks the Mill's holders to pay a 3.00 dividend")).seq
    builder.act("alice", t + 1019, Vote(decision=holders, position="agree"),
                "Alice agrees (6 votes: 4 founder and 2 member shares)")
    assert len(builder.raw) == commons_digest_seq  # digests.json takes this state apart
    builder.act("admin", t + 1020, Vote(decision=holders, position="agree"), "Ada agrees (6 founder shares)")
    builder.act("bob", t + 1021, Vote(decision=poll, options=(0,)), "Bob votes Tuesday")
    thanks = decode_event(builder.act("admin", t + 1022, ProposeWithPeriod(
        "proposal", "Thank Bob", "", 0, voting_period_ms=48 * hour_ms,
        effect=TreasuryPay(public["bob"], 50, "thanks")), "Ada proposes the treasury pays Bob 0.50")).seq
    for offset, voter in enumerate(("admin", "alice", "bob")):
        builder.act(voter, t + 1023 + offset, Vote(decision=thanks, position="agree"), f"{voter} agrees")
    builder.append("node", t + 1026, DecisionClosed(thanks, decisions.outcome(builder.states[-1], thanks)),
                   "everyone agreed directly: closed early, the treasury pays Bob 0.50", None)
    builder.append("node", t + 1016 + 24 * hour_ms, DecisionClosed(poll, decisions.outcome(builder.states[-1], poll)),
                   "the poll closes at its deadline: Ada's vote counts for Alice too (her roads delegation), "
                   "Bob's for himself", None)
    builder.append("node", t + 1018 + 24 * hour_ms,
                   DecisionClosed(holders, decisions.outcome(builder.states[-1], holders)),
                   "the holders' decision closes at its deadline: the Mill pays its 3.00 dividend by weight", None)
    final, _ = verify_batch(builder.heads[0], builder.raw[1:])
    assert final == builder.heads[-1]
    shares.audit_invariants(builder.states[-1])
    return builder


# The seq of commons.json after which digests.json takes its state apart (docs/protocol.md §14.6).
commons_digest_seq = 24


# ---- the state digest, built from its documented layout ------------------------------------------

digest_element_names = ("feed", "seq", "settings", "members", "decisions", "shares", "federation_outbox",
                        "payments", "invitations")


def documented_digest_elements(state: State) -> list[Any]:
    """The top-level elements of the state digest's array, built from docs/protocol.md §11 (not by
    calling node.domain), so the vector test catches a drift. Python sorts lists element by
    element, bytes bytewise and strings by code point (the same order as their UTF-8 bytes)."""
    community = state.community
    elements: list[Any] = [
        state.feed,
        state.seq,
        [community.name, community.unit_code, community.unit_decimals, community.debit_limit_minor,
         community.credit_ceiling_minor, community.checkpoint_interval_events],
        [[member_id, member.name, member.key, member.role, member.active,
          state.accounts[member_id].balance_minor, state.accounts[member_id].debit_limit_minor,
          state.accounts[member_id].credit_ceiling_minor,
          *([list(member.devices)] if member.devices else [])]  # §11.2: the further keys, only if any
         for member_id, member in sorted(state.members.items())],
    ]
    rules = state.rules
    decisions_used = bool(state.decisions) or bool(state.delegations) or (
        (rules.admission, rules.quorum_bp, rules.threshold_bp) != ("admin", 5000, 6667))
    if decisions_used:
        levy = None if state.levy is None else [state.levy.rate_bp, state.levy.min_minor, state.levy.max_minor]
        entries = []
        for seq in sorted(state.decisions.keys()):
            d = state.decisions[seq]
            votes = [[member, d.votes[member].position, list(d.votes[member].options)]
                     for member in sorted(d.votes.keys())]
            entry = [seq, d.proposer, d.decision_type, d.deadline_ms, d.quorum_bp, d.threshold_bp, d.outcome, votes]
            if isinstance(d.electorate, Holders):
                entry.append(d.electorate.enterprise)
            entries.append(entry)
        delegations = [[member, [[topic, state.delegations[member][topic]]
                                 for topic in sorted(state.delegations[member].keys())]]
                       for member in sorted(state.delegations.keys())]
        settings = [rules.admission, rules.quorum_bp, rules.threshold_bp, levy]
        policy = [state.visibility.names, state.visibility.balances, state.visibility.history, state.visibility.votes,
                  state.visibility.decisions, state.visibility.holdings, state.visibility.log]
        if policy != ["members", "concerned", "concerned", "members", "members", "members", "admins"]:
            settings.append(policy)  # only while the policy differs from the default
        elements.append([settings, entries, delegations])
    payments = state.payments
    if state.shares.enterprises or state.federation_outbox or payments.trade:
        if not decisions_used:
            elements.append(None)
        held = state.shares
        elements.append([
            sorted([eid, e.manager, list(e.issued), list(e.withdrawn), e.notice_ms, e.yearly_cap_minor,
                    e.withdrawn_in_year_minor, *_coop_digest(e)] for eid, e in held.enterprises.items()),
            sorted([enterprise, share_class, holder, h.units, h.locked]
                   for (enterprise, share_class, holder), h in held.holdings.items()),
            [[seq, held.offers[seq].subscribed_units, held.offers[seq].escrow_minor, held.offers[seq].outcome]
             for seq in sorted(held.offers.keys())],
            [[seq, o.owner, o.side, o.price_minor, o.units, o.reserved_minor]
             for seq, o in sorted(held.orders.items())],
            [[seq, w.units, w.due_ms, w.outcome] for seq, w in sorted(held.withdrawals.items())],
        ])
        if state.federation_outbox or payments.trade:
            elements.append([encode(body) for body in state.federation_outbox])
        if payments.trade:
            part = [
                [[federation, payments.trade[federation]] for federation in sorted(payments.trade.keys())],
                [[payment, p.seq, p.amount_minor, p.cancel_sent] for payment, p in sorted(payments.pending.items())],
                [[payment, payments.answered[payment]] for payment in sorted(payments.answered.keys())],
            ]
            if payments.capacity:
                part.append([[own, list(c.above), c.share_minor, list(c.used), list(c.held)]
                             for own, c in sorted(payments.capacity.items())])
            elements.append(part)
    if state.invitations:  # §11.6: each absent element before it nil
        elements += [None] * (8 - len(elements))
        elements.append([[key, i.invited_by, i.seq, i.expires_ms, i.role, i.debit_limit_minor, i.credit_ceiling_minor,
                          i.revoked] for key, i in sorted(state.invitations.items())])
    return elements


def _coop_digest(e: Any) -> list:
    """The five elements an enterprise entry gains once a co-operative rule is set (docs/protocol.md
    §11.4): its member vote classes, interest cap, interest clock, suspending decision and reason."""
    if not (e.member_vote_classes or e.interest_from_ms or e.suspended_by):
        return []
    return [list(e.member_vote_classes), e.interest_cap_bp, list(e.interest_from_ms), e.suspended_by,
            e.suspension_reason]


def check_documented_digest(builder: _FeedBuilder) -> None:
    """Every state of a vector feed hashes the same by the documented layout as by the node."""
    for state in builder.states:
        assert hash32(encode(documented_digest_elements(state))) == state_digest(state), state.seq


def digest_example(name: str, builder: _FeedBuilder, description: str, seq: int | None = None) -> dict[str, Any]:
    state = builder.states[-1 if seq is None else seq - 1]
    elements = documented_digest_elements(state)
    preimage = encode(elements)
    assert hash32(preimage) == state_digest(state)
    return {
        "name": name,
        "description": description,
        "feed_hex": builder.feed.hex(),
        "state_after_seq": state.seq,
        "preimage_hex": preimage.hex(),
        "state_hash_hex": hash32(preimage).hex(),
        "elements": [{"element": digest_element_names[index], "bytes_hex": encode(element).hex()}
                     for index, element in enumerate(elements)],
    }


# ---- one canonical encoding of every kind of structure --------------------------------------------


def _example_id(label: str) -> bytes:
    return hash32(b"tallystick layout example: " + label.encode("ascii"))


def build_layouts() -> dict[str, Any]:
    """One example of every action, effect, electorate, body and federation effect: its decoded
    fields (defaults included) and its canonical bytes, decoded back with the union it belongs to."""
    member, other, enterprise, federation = (_example_id(label) for label in ("member", "other", "enterprise",
                                                                                 "federation"))
    community, payment, answer = (_example_id(label) for label in ("community", "payment", "answer"))
    share_class = ShareClass("Founder shares", "founder", 1, 1, 100, False, True, None, False)
    charter_member = CharterMember(community, "RVC", 1, 1)
    fed_propose = FederationProposal(federation, 3, federation, genesis_ts_ms + 7 * 24 * hour_ms, "Trade limits",
                                     "", SetTradeLimits(community, 50_000, 50_000))
    actions: list[tuple[str, Any]] = [
        ("admit, with role at its default", AdmitMember(member, "Dee")),
        ("remove", RemoveMember(member)),
        ("set_role", SetRole(member, "admin")),
        ("transfer, with memo at its default", Transfer(member, 1250)),
        ("set_limits, nil ceiling (the community default)", SetLimits(member, 20_000, None)),
        ("set_default_limits", SetDefaultLimits(15_000, 60_000)),
        ("rebind_key", RebindKey(other)),
        ("propose with every field at its default", Propose("proposal", "A bench", "", genesis_ts_ms)),
        ("propose: a ranked poll with its own quorum and threshold",
         Propose("poll", "Colour", "Of the bench", genesis_ts_ms, "park", ("red", "green", "blue"), False, True,
                 2500, 5000)),
        ("propose: a holders' decision with an effect", Propose(
            "proposal", "Dividend", "", genesis_ts_ms, electorate=Holders(enterprise),
            effect=DeclareDividend(enterprise, 300))),
        ("propose_period", ProposeWithPeriod("consent", "Admit Dee", "", 0, effect=AdmitMember(member, "Dee"),
                                             voting_period_ms=24 * hour_ms)),
        ("vote on a proposal", Vote(1, "agree")),
        ("vote in a poll, options in order of preference", Vote(1, None, (2, 0))),
        ("vote with position and options at their defaults (an empty poll vote: an abstention)", Vote(1)),
        ("delegate, general topic", Delegate(member)),
        ("delegate on a topic", Delegate(member, "roads")),
        ("undelegate, general topic", Undelegate()),
        ("register_enterprise", RegisterEnterprise("Mill", (share_class,), (FounderIssue(0, 10),), 1000, 0)),
        ("register_enterprise with its defaults", RegisterEnterprise("Mill", (share_class,))),
        ("enterprise_pay", EnterprisePay(enterprise, member, 500)),
        ("open_offer", OpenOffer(enterprise, 1, 500, 10, 2, 8, genesis_ts_ms)),
        ("open_offer_period", OpenOfferWithPeriod(enterprise, 1, 500, 10, 2, 8, 0, open_for_ms=hour_ms)),
        ("subscribe", Subscribe(5, 8)),
        ("place_order", PlaceOrder(enterprise, 1, "sell", 3, 600)),
        ("cancel_order", CancelOrder(7)),
        ("transfer_shares", TransferShares(enterprise, 1, member, 1)),
        ("withdraw_shares", WithdrawShares(enterprise, 1, 1)),
        ("federation: a community's ballot in its federation",
         FederationAct(FederationVote(federation, 3, _example_id("proposal")))),
        ("pay_across, with memo at its default", PayAcross(federation, community, member, 12_000)),
    ]
    effects: list[tuple[str, Any]] = [
        ("admit", AdmitMember(member, "Dee", "admin")),
        ("remove", RemoveMember(member)),
        ("set_limits", SetLimits(member, None, None)),
        ("set_default_limits", SetDefaultLimits(15_000, 60_000)),
        ("recover_key", RecoverKey(member, other)),
        ("set_rules", SetRules("decision", 5000, 6667)),
        ("set_levy", SetLevy(100, 1, 500)),
        ("treasury_pay, with memo at its default", TreasuryPay(member, 2500)),
        ("declare_dividend", DeclareDividend(enterprise, 300)),
        ("set_withdrawal_rule", SetWithdrawalRule(enterprise, 30 * 24 * hour_ms, 100_000)),
        ("federation: propose in a federation", FederationAct(fed_propose)),
        ("set_floors", SetFloors((Floor("limits", 7500, 5000, 48 * hour_ms),))),
        ("set_visibility: balances to members, every other kind kept (nil)", SetVisibility(balances="members")),
    ]
    electorates: list[tuple[str, Any]] = [
        ("every active member, one vote each", AllMembers()),
        ("the holders of an enterprise's shares, by votes per share", Holders(enterprise)),
    ]
    bodies: list[tuple[str, Any]] = [
        ("decision_closed", DecisionClosed(1, "passed")),
        ("offer_closed", OfferClosed(5, "allotted")),
        ("withdrawal_due", WithdrawalDue(9, "paid")),
        ("trade_limits", TradeLimits(federation, _example_id("decision"), 50_000, 50_000)),
        ("capacity_limits", CapacityLimits(federation, _example_id("decision"), (_example_id("parent"),), 20_000)),
        ("charter", Charter("Hills", "HIL", 2, (charter_member,), 6000, genesis_ts_ms)),
        ("fed_propose", fed_propose),
        ("fed_vote: an abstention for the whole epoch", FederationVote(federation, 3, None)),
        ("payment_sent", PaymentOut(federation, community, member, other, 12_000, genesis_ts_ms + 24 * hour_ms,
                                    "wool", b"\x96 the exact signed intent")),
        ("payment_accepted", PaymentAccepted(payment, community, 3_000, federation, member)),
        ("payment_rejected", PaymentRejected(payment, community, "credit_ceiling")),
        ("payment_settled", PaymentSettled(payment, answer)),
        ("payment_returned", PaymentReturned(payment, answer)),
        ("payment_cancel", PaymentCancel(payment, community)),
    ]
    federation_effects: list[tuple[str, Any]] = [
        ("fed_admit", AdmitFederationMember(charter_member)),
        ("fed_expel", ExpelFederationMember(community)),
        ("fed_amend", AmendCharter("Hills", 7500)),
        ("fed_rate", SetExchangeRate(community, "RVC", 3, 2)),
        ("fed_allocate", AllocateCapacity((CapacityShare(community, 20_000),))),
        ("fed_trade_limits", SetTradeLimits(community, 50_000, 50_000)),
        ("fed_join", JoinFederation(_example_id("parent"))),
        ("fed_vote_in_parent", VoteInParent(_example_id("parent"), 0, None)),
    ]
    groups = {"action": (Action, actions), "effect": (Effect, effects), "electorate": (Electorate, electorates),
              "body": (Body, bodies), "federation_effect": (FederationEffect, federation_effects)}
    examples = []
    for group, (union, values) in groups.items():
        decoder = msgspec.msgpack.Decoder(union)
        for description, value in values:
            data = encode(value)
            assert decoder.decode(data) == value and encode(decoder.decode(data)) == data
            examples.append({"group": group, "kind": type(value).__struct_config__.tag, "description": description,
                             "decoded": plain(value), "bytes_hex": data.hex()})
    # Appended after every earlier example, so that their places in the file do not move: a Credit
    # Commons graft, a payment into the tree and the three bodies that end one or receive one
    # (docs/protocol.md §5.6, docs/creditcommons.md).
    tree_examples: list[tuple[str, str, Any]] = [
        ("action", "graft_tree", GraftTree("trunk/branch/riverside", "riverside", "graft", 1, 1, 50_000, 50_000)),
        ("action", "pay_tree, with memo at its default", PayTree("trunk/bob", 2_500)),
        ("body", "tree_settled", TreeSettled(7, "9ecdc6b3c6120420852b8db7c5daf352")),
        ("body", "tree_returned", TreeReturned(7, "MaxLimitViolation")),
        ("body", "tree_received", TreeReceived("3d8ebb9f-6a29-42cb-9d39-9ee0a6bf7f1c", "trunk/bob", member, 2_500,
                                               2_500, "196bf56fdf9c2b747a20b8604b7b1f61")),
    ]
    for group, description, value in tree_examples:
        decoder = msgspec.msgpack.Decoder(groups[group][0])
        data = encode(value)
        assert decoder.decode(data) == value and encode(decoder.decode(data)) == data
        examples.append({"group": group, "kind": type(value).__struct_config__.tag, "description": description,
                         "decoded": plain(value), "bytes_hex": data.hex()})
    return {
        "description": "One canonical encoding of every action, effect, electorate, node body and federation "
        "effect (docs/protocol.md §4, §5). group names the union that decodes bytes_hex: action (an intent's "
        "action), effect (a proposal's effect), electorate, body (an event's body), federation_effect (a "
        "fed_propose's effect). decoded lists every field by name, defaults included; the bytes are the "
        "tagged array of §3.2. Ids are BLAKE2b-256 of 'tallystick layout example: ' + a label; a payment_sent's "
        "intent here is placeholder bytes, not a signed intent.",
        "examples": examples,
    }


# ---- invalid cases ---------------------------------------------------------------------------------


def _expect(code: str, check: Callable[[], object]) -> None:
    try:
        check()
    except TallyError as error:
        assert error.code == code, f"expected {code}, got {error.code}: {error.message}"
        return
    raise AssertionError(f"expected {code}, nothing raised")


def build_invalid(builder: _FeedBuilder) -> list[dict[str, Any]]:
    feed = builder.feed
    raw = builder.raw
    events = [decode_event(item) for item in raw]
    node, stranger = key_for("node"), key_for("stranger")
    other_feed = hash32(b"another community's genesis")
    act_body = events[1].body  # Ada admits Alice
    ts2 = events[1].ts
    cases: list[dict[str, Any]] = []

    def event_case(
        name: str, description: str, error: str, data: bytes, *, after_seq: int | None = None
    ) -> None:
        """after_seq None: decode_event(data) alone refuses it; otherwise verify_next on the head after
        that seq of the valid feed (start_feed when after_seq is 0)."""
        if after_seq is None:
            check, context = "decode_event", {}
            _expect(error, lambda: decode_event(data))
        elif after_seq == 0:
            check, context = "start_feed", {}
            _expect(error, lambda: start_feed(data))
        else:
            check, context = "verify_next", {"after_seq": after_seq}
            _expect(error, lambda: verify_next(builder.heads[after_seq - 1], data))
            _expect(error, lambda: verify_batch(builder.heads[after_seq - 1], [data]))
        cases.append(
            {
                "name": name,
                "description": description,
                "check": check,
                **context,
                "error": error,
                "bytes_hex": data.hex(),
            }
        )

    def intent_case(name: str, description: str, error: str, data: bytes, *, verify: bool = False) -> None:
        if verify:
            check, context = "verify_intent", {"feed_hex": feed.hex()}
            _expect(error, lambda: verify_intent(data, feed=feed))
        else:
            check, context = "decode_intent", {}
            _expect(error, lambda: decode_intent(data))
        cases.append(
            {
                "name": name,
                "description": description,
                "check": check,
                **context,
                "error": error,
                "bytes_hex": data.hex(),
            }
        )

    def second(**changes: Any) -> bytes:
        """The unsigned bytes of event 2 with some fields changed."""
        fields = {"feed": feed, "seq": 2, "prev": event_hash(raw[0]), "ts": ts2, "body": act_body}
        fields.update(changes)
        return unsigned_event(**fields)

    # -- signatures
    flipped = raw[1][:-1] + bytes((raw[1][-1] ^ 0x01,))
    event_case(
        "bad_signature_flipped_bit",
        "event 2 with the last bit of its signature flipped",
        "bad_signature",
        flipped,
        after_seq=1,
    )
    event_case(
        "signed_by_another_key",
        "event 2 signed by a key that is not the feed's signing key",
        "bad_signature",
        sign_raw(stranger, event_namespace, second()),
        after_seq=1,
    )
    event_case(
        "signed_without_namespace",
        "event 2 signed over its unsigned bytes without the namespace",
        "bad_signature",
        b"\x97" + second()[1:] + b"\xc4\x40" + node.sign(second()),
        after_seq=1,
    )
    event_case(
        "genesis_signed_by_another_key",
        "a genesis not signed by the signing key it names",
        "bad_signature",
        sign_raw(
            stranger,
            event_namespace,
            unsigned_event(feed=None, seq=1, prev=None, ts=events[0].ts, body=events[0].body),
        ),
        after_seq=0,
    )
    rotation = events[12].body
    assert isinstance(rotation, KeyRotated)
    forged_rotation = KeyRotated(
        recovery_key=stranger.public,
        signing_key=stranger.public,
        next_recovery_key_hash=hash32(stranger.public),
    )
    rotation_fields = {"feed": feed, "seq": 13, "prev": event_hash(raw[11]), "ts": rotation_ts_ms}
    event_case(
        "key_rotated_uncommitted_recovery_key",
        "a KeyRotated revealing (and signed by) a recovery key whose hash the feed never committed to",
        "bad_signature",
        sign_raw(stranger, event_namespace, unsigned_event(**rotation_fields, body=forged_rotation)),
        after_seq=12,
    )
    event_case(
        "key_rotated_signed_by_signing_key",
        "the feed's KeyRotated, but signed by the current signing key instead of the recovery key",
        "bad_signature",
        sign_raw(node, event_namespace, unsigned_event(**rotation_fields, body=rotation)),
        after_seq=12,
    )
    event_case(
        "old_key_after_rotation",
        "event 14 signed by the signing key the KeyRotated at seq 13 retired",
        "bad_signature",
        sign_raw(
            node,
            event_namespace,
            unsigned_event(
                feed=feed, seq=14, prev=event_hash(raw[12]), ts=events[13].ts, body=events[13].body
            ),
        ),
        after_seq=13,
    )
    # -- canonical form
    canonical = second()
    seq_offset = 1 + 1 + 34  # header, v, feed (c4 20 + 32 bytes)
    assert canonical[seq_offset] == 0x02
    event_case(
        "non_minimal_integer",
        "event 2 with its seq written as uint8 (cc 02) instead of a positive fixint (02), signed",
        "non_canonical",
        sign_raw(node, event_namespace, canonical[:seq_offset] + b"\xcc\x02" + canonical[seq_offset + 1 :]),
    )
    event_case(
        "non_minimal_bin_header",
        "event 2 with its feed id written as bin16 (c5 00 20) instead of bin8 (c4 20), signed",
        "non_canonical",
        sign_raw(node, event_namespace, canonical[:2] + b"\xc5\x00\x20" + canonical[4:]),
    )
    event_case(
        "map_instead_of_array",
        "event 2's envelope as a map of field names",
        "malformed",
        encode(
            {
                "v": 1,
                "feed": feed,
                "seq": 2,
                "prev": event_hash(raw[0]),
                "ts": ts2,
                "body": act_body,
                "sig": raw[1][-64:],
            }
        ),
    )
    # -- kinds and versions
    event_case(
        "unknown_body_kind",
        "an event whose body kind 'payment_out' this version does not know",
        "unknown_kind",
        sign_raw(
            node,
            event_namespace,
            encode([1, feed, 2, event_hash(raw[0]), ts2, ["payment_out", key_for("alice").public, 500]]),
        ),
    )
    event_case(
        "stale_protocol_version",
        "event 2 with protocol version 0, otherwise valid and signed",
        "unsupported_version",
        sign_raw(
            node,
            event_namespace,
            unsigned_event(v=0, feed=feed, seq=2, prev=event_hash(raw[0]), ts=ts2, body=act_body),
        ),
    )
    event_case(
        "future_protocol_version_with_new_kind",
        "event 2 from protocol version 2 with a body kind this version does not know: the version "
        "is reported, not the kind",
        "unsupported_version",
        sign_raw(
            node,
            event_namespace,
            encode([2, feed, 2, event_hash(raw[0]), ts2, ["payment_out", key_for("alice").public, 500]]),
        ),
    )
    # -- chain
    event_case(
        "wrong_feed",
        "event 2 naming another feed",
        "wrong_feed",
        sign_raw(node, event_namespace, second(feed=other_feed)),
        after_seq=1,
    )
    event_case(
        "broken_chain_link",
        "event 3 whose prev is not the hash of event 2",
        "chain_broken",
        sign_raw(
            node,
            event_namespace,
            unsigned_event(
                feed=feed, seq=3, prev=hash32(b"not event 2"), ts=events[2].ts, body=events[2].body
            ),
        ),
        after_seq=2,
    )
    event_case(
        "seq_gap",
        "an event at seq 4 right after seq 2 (prev is event 2's hash)",
        "chain_broken",
        sign_raw(
            node,
            event_namespace,
            unsigned_event(feed=feed, seq=4, prev=event_hash(raw[1]), ts=events[2].ts, body=events[2].body),
        ),
        after_seq=2,
    )
    event_case(
        "seq_repeated",
        "a second event at seq 2 after seq 2",
        "chain_broken",
        sign_raw(node, event_namespace, second(ts=ts2 + 1)),
        after_seq=2,
    )
    event_case(
        "ts_backwards",
        "event 3 one millisecond before event 2",
        "chain_broken",
        sign_raw(
            node,
            event_namespace,
            unsigned_event(feed=feed, seq=3, prev=event_hash(raw[1]), ts=ts2 - 1, body=events[2].body),
        ),
        after_seq=2,
    )
    # -- shape
    event_case(
        "genesis_with_feed",
        "a seq 1 genesis that names a feed",
        "malformed",
        sign_raw(
            node,
            event_namespace,
            unsigned_event(feed=other_feed, seq=1, prev=None, ts=events[0].ts, body=events[0].body),
        ),
    )
    event_case(
        "act_at_seq_1",
        "seq 1 that is not a genesis",
        "malformed",
        sign_raw(node, event_namespace, unsigned_event(feed=None, seq=1, prev=None, ts=ts2, body=act_body)),
    )
    event_case(
        "genesis_at_seq_2",
        "a genesis body at seq 2",
        "malformed",
        sign_raw(node, event_namespace, second(body=events[0].body)),
    )
    event_case(
        "seq_zero",
        "an event at seq 0 (seq starts at 1)",
        "malformed",
        sign_raw(node, event_namespace, second(seq=0)),
    )
    event_case(
        "extra_trailing_field",
        "event 2 with an eighth element (0) after the signature",
        "malformed",
        b"\x98" + raw[1][1:] + b"\x00",
    )
    event_case(
        "body_extra_trailing_field",
        "event 2 whose act body has a second field",
        "malformed",
        sign_raw(
            node, event_namespace, encode([1, feed, 2, event_hash(raw[0]), ts2, ["act", act_body.intent, 0]])
        ),
    )
    event_case("truncated", "event 2 without its last 10 bytes", "malformed", raw[1][:-10])
    event_case(
        "trailing_bytes",
        "event 2 followed by one more byte (00) after the complete envelope",
        "malformed",
        raw[1] + b"\x00",
    )
    event_case("malformed_msgpack", "0xc1, the one byte msgpack never uses", "malformed", b"\xc1")
    event_case("empty", "zero bytes", "malformed", b"")
    event_case(
        "invalid_utf8",
        "a genesis whose community name is not UTF-8 (c3 28)",
        "malformed",
        sign_raw(
            node,
            event_namespace,
            unsigned_event(feed=None, seq=1, prev=None, ts=events[0].ts, body=events[0].body).replace(
                b"\xa9Riverside", b"\xa2\xc3\x28"
            ),
        ),
    )
    event_case(
        "deeply_nested",
        "an envelope whose first element is 3000 nested one-element arrays",
        "malformed",
        b"\x97" + b"\x91" * 3000 + b"\x01",
    )
    # The size check comes first: the act's intent field (8200 bytes, itself over intent_bytes_max)
    # is never looked at.
    oversize = sign_raw(
        node, event_namespace, encode([1, feed, 2, event_hash(raw[0]), ts2, ["act", b"\x00" * 8200]])
    )
    assert len(oversize) > limits.event_bytes_max
    event_case(
        "oversize_event",
        f"an event of {len(oversize)} bytes (event_bytes_max is {limits.event_bytes_max})",
        "too_large",
        oversize,
    )

    # -- intents
    alice = key_for("alice")
    transfer_fields = [1, feed, alice.public, 7]
    transfer_unsigned = encode([*transfer_fields, ["transfer", key_for("bob").public, 500, "bread"]])
    intent_case(
        "intent_unknown_action_kind",
        "an intent whose action kind 'mint' this version does not know",
        "unknown_kind",
        sign_raw(alice, intent_namespace, encode([*transfer_fields, ["mint", 1_000_000]])),
    )
    intent_case(
        "intent_missing_default_field",
        'a transfer intent that leaves out its memo (which defaults to ""): every field is always written',
        "non_canonical",
        sign_raw(
            alice, intent_namespace, encode([*transfer_fields, ["transfer", key_for("bob").public, 500]])
        ),
    )
    assert b"\xa5bread" in transfer_unsigned
    intent_case(
        "intent_non_minimal_str_header",
        "a transfer intent with its memo 'bread' written as str8 (d9 05) instead of fixstr (a5)",
        "non_canonical",
        sign_raw(alice, intent_namespace, transfer_unsigned.replace(b"\xa5bread", b"\xd9\x05bread")),
    )
    intent_case(
        "intent_zero_amount",
        "a transfer of 0 minor units (amounts are at least 1)",
        "malformed",
        sign_raw(
            alice, intent_namespace, encode([*transfer_fields, ["transfer", key_for("bob").public, 0, ""]])
        ),
    )
    intent_case(
        "intent_amount_over_max",
        f"a transfer of amount_minor_max + 1 ({limits.amount_minor_max + 1})",
        "malformed",
        sign_raw(
            alice,
            intent_namespace,
            encode([*transfer_fields, ["transfer", key_for("bob").public, limits.amount_minor_max + 1, ""]]),
        ),
    )
    intent_case(
        "intent_memo_too_long",
        f"a memo of {limits.memo_chars_max + 1} characters",
        "malformed",
        sign_raw(
            alice,
            intent_namespace,
            encode(
                [*transfer_fields, ["transfer", key_for("bob").public, 5, "x" * (limits.memo_chars_max + 1)]]
            ),
        ),
    )
    intent_case(
        "intent_stale_version",
        "a transfer intent of protocol version 0",
        "unsupported_version",
        sign_raw(
            alice,
            intent_namespace,
            encode([0, *transfer_fields[1:], ["transfer", key_for("bob").public, 500, "bread"]]),
        ),
    )
    intent_case(
        "intent_oversize",
        f"an intent of {limits.intent_bytes_max + 1} bytes",
        "too_large",
        b"\x96" + b"\x00" * limits.intent_bytes_max,
    )
    intent_case(
        "intent_bad_signature",
        "Alice's transfer of 12.50 (intent 2) with one signature bit flipped",
        "bad_signature",
        _flip_last_bit(bytes.fromhex(builder.intents[2]["bytes_hex"])),
        verify=True,
    )
    intent_case(
        "intent_for_another_feed",
        "a valid transfer intent signed for another community's feed",
        "wrong_feed",
        sign_intent(
            alice,
            feed=other_feed,
            nonce=7,
            action=Transfer(to=key_for("bob").public, amount_minor=500, memo="bread"),
        ),
        verify=True,
    )
    intent_case(
        "intent_signed_as_event",
        "a transfer intent signed under the event namespace instead of the intent namespace",
        "bad_signature",
        sign_raw(alice, event_namespace, transfer_unsigned),
        verify=True,
    )

    # -- fork proofs
    fork_a = sign_raw(
        node,
        event_namespace,
        unsigned_event(
            feed=feed, seq=3, prev=event_hash(raw[1]), ts=events[2].ts, body=Checkpoint(state_hash=bytes(32))
        ),
    )

    def fork_case(name: str, description: str, error: str, proof: ForkProof, signing_key: bytes) -> None:
        data = encode(proof)
        _expect(error, lambda: verify_fork_proof(proof, signing_key))
        cases.append(
            {
                "name": name,
                "description": description,
                "check": "verify_fork_proof",
                "signing_key_hex": signing_key.hex(),
                "error": error,
                "bytes_hex": data.hex(),
            }
        )

    fork_case(
        "fork_proof_forged_half",
        "a fork proof whose second event at seq 3 is signed by another key",
        "bad_signature",
        ForkProof(
            feed=feed,
            seq=3,
            first=raw[2],
            second=sign_raw(stranger, event_namespace, decode_event_unsigned(fork_a)),
        ),
        node.public,
    )
    fork_case(
        "fork_proof_same_event",
        "a fork proof holding the same event twice",
        "malformed",
        ForkProof(feed=feed, seq=3, first=raw[2], second=raw[2]),
        node.public,
    )
    fork_case(
        "fork_proof_other_seq",
        "a fork proof whose events are at seq 3 but which claims seq 4",
        "malformed",
        ForkProof(feed=feed, seq=4, first=raw[2], second=fork_a),
        node.public,
    )
    fork_case(
        "fork_proof_other_feed",
        "a fork proof naming a feed its events do not belong to",
        "wrong_feed",
        ForkProof(feed=other_feed, seq=3, first=raw[2], second=fork_a),
        node.public,
    )
    other_genesis = sign_raw(
        node,
        event_namespace,
        unsigned_event(feed=None, seq=1, prev=None, ts=events[0].ts + 1, body=events[0].body),
    )
    fork_case(
        "fork_proof_two_geneses",
        "two geneses signed by one key: two different feeds, not a fork of one",
        "malformed",
        ForkProof(feed=feed, seq=1, first=raw[0], second=other_genesis),
        node.public,
    )

    def nested_version_2(depth: int) -> bytes:
        """An event of version 2 whose body is `depth` arrays inside one another around a 0."""
        return bytes((0x97, 2, 0xC0, 1, 0xC0, 0)) + b"\x91" * depth + b"\x00" + b"\xc4\x40" + bytes(64)

    event_case(
        "nested_100_deep_of_version_2",
        "a version-2 event whose body is 100 arrays deep: shallow enough to classify, so unsupported_version",
        "unsupported_version",
        nested_version_2(100),
    )
    event_case(
        "nested_4000_deep_of_version_2",
        "a version-2 event whose body is 4000 arrays deep: past the nesting this implementation classifies "
        "(docs/protocol.md §7), so malformed whatever its version",
        "malformed",
        nested_version_2(4000),
    )
    return cases


def decode_event_unsigned(signed: bytes) -> bytes:
    """The unsigned bytes inside signed event bytes (the array one element shorter)."""
    return bytes((signed[0] - 1,)) + signed[1:-66]


def _flip_last_bit(data: bytes) -> bytes:
    return data[:-1] + bytes((data[-1] ^ 0x01,))


def build_fork_proofs(builder: _FeedBuilder) -> dict[str, Any]:
    node = key_for("node")
    raw = builder.raw
    event3 = decode_event(raw[2])
    other = sign_raw(
        node,
        event_namespace,
        unsigned_event(
            feed=builder.feed,
            seq=3,
            prev=event_hash(raw[1]),
            ts=event3.ts,
            body=Checkpoint(state_hash=bytes(32)),
        ),
    )
    proof = ForkProof(feed=builder.feed, seq=3, first=raw[2], second=other)
    verify_fork_proof(proof, node.public)
    return {
        "description": "Fork proofs: two different events of one feed at one seq, both signed by its key. "
        "ForkProof is [feed, seq, first, second]; first and second are the exact signed event bytes.",
        "valid": [
            {
                "name": "fork_at_seq_3",
                "description": "the feed's event 3 (Ada admits Bob) and a checkpoint the node also signed at seq 3",
                "signing_key_hex": node.public.hex(),
                "feed_hex": builder.feed.hex(),
                "seq": 3,
                "first_hex": raw[2].hex(),
                "second_hex": other.hex(),
                "bytes_hex": encode(proof).hex(),
            }
        ],
    }


def build_keys(builder: _FeedBuilder) -> dict[str, Any]:
    keys = {}
    for name in key_names:
        key = key_for(name)
        entry = {
            "seed_hex": key.seed.hex(),
            "seed_text": key.to_text(),
            "public_hex": key.public.hex(),
            "key_text": id_to_text("k", key.public),
        }
        if name in member_names:
            entry["member_text"] = id_to_text("m", key.public)
        if name in ("recovery", "next_recovery"):
            entry["hash_hex"] = hash32(key.public).hex()
        keys[name] = entry
    good_ids = [
        {"kind": "n", "hex": builder.feed.hex(), "text": id_to_text("n", builder.feed)},
        {"kind": "h", "hex": bytes(32).hex(), "text": id_to_text("h", bytes(32))},
        {"kind": "h", "hex": (b"\xff" * 32).hex(), "text": id_to_text("h", b"\xff" * 32)},
        {
            "kind": "x",
            "hex": hash32(b"a federation charter").hex(),
            "text": id_to_text("x", hash32(b"a federation charter")),
        },
        {
            "kind": "e",
            "hex": hash32(b"an enterprise").hex(),
            "text": id_to_text("e", hash32(b"an enterprise")),
        },
    ]
    alice_member = id_to_text("m", key_for("alice").public)
    body = alice_member[2:]
    assert body[-1] in "aq"  # 256 bits in 52 base32 digits: the last digit's 4 low bits are zero
    bad_ids = [
        {"kind": "n", "text": alice_member, "why": "a member id where a node id is expected"},
        {"kind": "m", "text": body, "why": "no prefix"},
        {"kind": "m", "text": "m_" + body[:-1], "why": "one digit short (31.875 bytes)"},
        {"kind": "m", "text": "m_" + body + "aaaaaaaa", "why": "five bytes too long"},
        {"kind": "m", "text": "m_" + body[:-1] + "1", "why": "1 is not a base32 digit"},
        {
            "kind": "m",
            "text": "m_" + body[:-1] + ("b" if body[-1] == "a" else "r"),
            "why": "the last digit sets bits past the 256th: a second spelling of the same bytes",
        },
        {"kind": "m", "text": "m_" + body + "====", "why": "padding is not part of the text form"},
        {"kind": "m", "text": "m_", "why": "empty"},
        {"kind": "m", "text": "m_" + body.upper(), "why": "uppercase digits: ids are written in lowercase only"},
    ]
    for good in good_ids:
        assert id_from_text(good["kind"], good["text"]).hex() == good["hex"]
    for bad in bad_ids:
        _expect("bad_id", lambda bad=bad: id_from_text(bad["kind"], bad["text"]))
    return {
        "description": "Keys from fixed seeds: seed = BLAKE2b-256(b'tallystick test vector seed: ' + name). "
        "Text forms are prefix_ + lowercase RFC 4648 base32 of the 32 bytes, without padding.",
        "seed_prefix_hex": seed_prefix.hex(),
        "keys": keys,
        "ids": good_ids,
        "bad_ids": bad_ids,
    }


def build() -> dict[str, Any]:
    """Every vector file, by name, as JSON-ready values."""
    builder = build_feed()
    checkpoint_seq = 12
    state_before = builder.states[checkpoint_seq - 2]
    preimage = state_digest_preimage(state_before)
    assert hash32(preimage) == state_digest(state_before)
    feed = {
        "description": "A valid feed of the community Riverside. Each event's bytes_hex is its exact signed "
        "encoding; unsigned_hex is what the envelope encodes without sig; signed_message_hex is the "
        "namespace followed by unsigned_hex, the message Ed25519 signs; hash_hex is BLAKE2b-256 of bytes_hex.",
        "protocol_version": limits.protocol_version,
        "event_namespace_hex": event_namespace.hex(),
        "intent_namespace_hex": intent_namespace.hex(),
        "feed_hex": builder.feed.hex(),
        "feed_text": id_to_text("n", builder.feed),
        "events": builder.events,
        "heads": [
            {
                "seq": head.seq,
                "head_hex": head.head.hex(),
                "ts": head.ts,
                "signing_key_hex": head.signing_key.hex(),
                "recovery_key_hash_hex": head.recovery_key_hash.hex(),
            }
            for head in builder.heads
        ],
        "checkpoint": {
            "seq": checkpoint_seq,
            "state_after_seq": checkpoint_seq - 1,
            "state_preimage_hex": preimage.hex(),
            "state_hash_hex": hash32(preimage).hex(),
        },
        "final_balances": {
            name: builder.states[-1].accounts[key_for(name).public].balance_minor for name in member_names
        },
    }
    intents = {
        "description": "Every member intent carried by the feed. bytes_hex is the exact signed intent, "
        "carried verbatim as the act's intent field.",
        "intents": builder.intents,
    }
    invalid = {
        "description": "Bytes that must be refused. check names the function that refuses them: decode_event, "
        "decode_intent, start_feed, verify_next (on the head after valid event after_seq of feed.json), "
        "verify_intent (for the feed feed_hex), verify_fork_proof (ForkProof bytes, with signing_key_hex). "
        "error is the stable code of the error raised.",
        "cases": build_invalid(builder),
    }
    market = build_shares_feed()
    market_state = market.states[-1]
    shares_file = {
        "description": "A valid feed of the community Millbrook: an enterprise, an oversubscribed offer closed "
        "by the node, a fill at the resting price, a cancel and a direct transfer (docs/shares.md). Fields as in "
        "feed.json; state_digest_hex is the state digest after the last event (docs/protocol.md).",
        "feed_hex": market.feed.hex(),
        "events": market.events,
        "intents": market.intents,
        "state_digest_hex": state_digest(market_state).hex(),
        "final_balances": {name: market_state.accounts[key_for(name).public].balance_minor
                           for name in ("admin", "alice", "bob")},
        "final_holdings": {name: market_state.shares.holdings[(shares.enterprise_id(market.feed, 4), 1,
                                                                 key_for(name).public)].units
                           for name in ("alice", "bob")},
    }
    trading, ids = build_payments_feed()
    trading_state = trading.states[-1]
    capacity = trading_state.payments.capacity[ids["hills"]]
    payments_file = {
        "description": "A valid feed of the community Oakhaven, in federation Hills under the confederation "
        "Island: the charter adopted through the outbox, the trade_limits and capacity_limits node bodies, a "
        "payment across settled, one received, one returned (docs/federation.md 15.7.1). Fields as in feed.json; "
        "state_digest_hex is the state digest after the last event, with the capacity entry of the payments "
        "element (docs/protocol.md).",
        "feed_hex": trading.feed.hex(),
        "hills_hex": ids["hills"].hex(),
        "island_hex": ids["island"].hex(),
        "events": trading.events,
        "intents": trading.intents,
        "state_digest_hex": state_digest(trading_state).hex(),
        "final_balances": {name: trading_state.accounts[key_for(name).public].balance_minor
                           for name in ("admin", "alice", "bob")},
        "trade_account_balance": trading_state.accounts[trading_state.payments.trade[ids["hills"]]].balance_minor,
        "capacity": {"above_hex": [above.hex() for above in capacity.above], "share_minor": capacity.share_minor,
                     "used": list(capacity.used), "held": list(capacity.held)},
    }
    deciding = build_decisions_feed()
    deciding_state = deciding.states[-1]
    decisions_file = {
        "description": "A valid feed of the community Fairfield deciding under its floors (docs/decisions.md): "
        "propose_period, votes, a unanimous close before the deadline, set_floors, a consent closed at its "
        "deadline for want of the floor's quorum, a set_rules passed at its deadline by two agreeing of three "
        "(a share reaches a bar when, rounded to the nearest basis point, it is at least the bar). Fields as in feed.json; state_digest_hex is the state digest "
        "after the last event; floors are the floors in force then, by class, as [quorum_bp, threshold_bp, "
        "period_ms].",
        "feed_hex": deciding.feed.hex(),
        "events": deciding.events,
        "intents": deciding.intents,
        "state_digest_hex": state_digest(deciding_state).hex(),
        "outcomes": {str(seq): decision.outcome for seq, decision in sorted(deciding_state.decisions.items())},
        "floors": {name: [floor.quorum_bp, floor.threshold_bp, floor.period_ms]
                   for name, floor in decisions.floors_in_force(deciding_state).items()},
        "alice_debit_limit_minor": deciding_state.accounts[key_for("alice").public].debit_limit_minor,
    }
    commons = build_commons_feed()
    commons_state = commons.states[-1]
    commons_file = {
        "description": "A valid feed of the community Kingsbridge that fills every part of the state digest the "
        "other feeds leave empty: delegations, a levy and its treasury account, an enterprise with a founder "
        "class and a withdrawable class, an open_offer_period allotted, a withdrawal paid, a poll and a holders' "
        "decision (open at seq 24, closed at their deadlines later), a treasury payment decided. Fields as in "
        "feed.json; state_digest_hex is the state digest after the last "
        "event (digests.json takes it apart).",
        "feed_hex": commons.feed.hex(),
        "events": commons.events,
        "intents": commons.intents,
        "state_digest_hex": state_digest(commons_state).hex(),
        "final_balances": {name: commons_state.accounts[key_for(name).public].balance_minor
                           for name in ("admin", "alice", "bob")},
        "treasury_balance": commons_state.accounts[commons_state.treasury].balance_minor,
        "outcomes": {str(seq): decision.outcome for seq, decision in sorted(commons_state.decisions.items())},
    }
    seeing = build_visibility_feed()
    seeing_state = seeing.states[-1]
    visibility_file = {
        "description": "A valid feed of the community Thornbury that changes who sees what by a decision "
        "(docs/privacy.md): a plain member's set_visibility (balances to members, holdings to admins, the other "
        "kinds kept), everyone agreeing, closed by the node before its deadline. Fields as in feed.json; "
        "state_digest_hex is the state digest after the last event, whose rules entry carries the policy; "
        "visibility is the policy then, kind by kind.",
        "feed_hex": seeing.feed.hex(),
        "events": seeing.events,
        "intents": seeing.intents,
        "state_digest_hex": state_digest(seeing_state).hex(),
        "outcomes": {str(seq): decision.outcome for seq, decision in sorted(seeing_state.decisions.items())},
        "visibility": {kind: getattr(seeing_state.visibility, kind) for kind in seeing_state.visibility.__struct_fields__},
    }
    for built in (builder, market, trading, deciding, commons, seeing):
        check_documented_digest(built)
    digests_file = {
        "description": "Worked examples of the state digest (docs/protocol.md §11): preimage_hex is the canonical "
        "encoding of the digest's array, state_hash_hex its BLAKE2b-256 (a checkpoint's state_hash), elements "
        "the encoding of each top-level element in order. Each example is the state after state_after_seq of "
        "the named vector feed. Every state of every vector feed hashes the same by the documented layout as by "
        "the node (generate.py: documented_digest_elements).",
        "examples": [
            digest_example("riverside_checkpoint", builder, "feed.json before its checkpoint: members only",
                           seq=checkpoint_seq - 1),
            digest_example("millbrook", market, "shares.json: no decisions (a nil fifth element), an enterprise "
                           "account, the escrow account, a closed offer, holdings of one class by two holders"),
            digest_example("fairfield", deciding, "decisions.json: rules, closed decisions with votes, no shares"),
            digest_example("oakhaven", trading, "payments.json: a trade account, an empty outbox, the payments "
                           "element with its capacity entry"),
            digest_example("kingsbridge", commons, "commons.json after seq 24: the treasury and the levy, "
                           "delegations, an open poll and an open holders' decision (its enterprise appended), two "
                           "share classes, a withdrawal", seq=commons_digest_seq),
            digest_example("thornbury", seeing, "visibility.json: a visibility policy other than the default, the "
                           "fifth entry of the rules"),
        ],
    }
    return {
        "commons.json": commons_file,
        "digests.json": digests_file,
        "layouts.json": build_layouts(),
        "visibility.json": visibility_file,
        "decisions.json": decisions_file,
        "payments.json": payments_file,
        "shares.json": shares_file,
        "keys.json": build_keys(builder),
        "feed.json": feed,
        "intents.json": intents,
        "invalid.json": invalid,
        "fork_proofs.json": build_fork_proofs(builder),
        "pending.json": build_pending_file(),
        "personal.json": build_personal_file(),
        "invitations.json": build_invitations_file(),
        "devices.json": build_devices_file(),
        "coop_shares.json": build_coop_shares_file(),
    }


def render(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False) + "\n"


def main() -> None:
    for name, value in build().items():
        (vectors_dir / name).write_text(render(value), encoding="utf-8")
        print(f"wrote {vectors_dir / name}")


# ---- pending.json: payments across still pending, federation acts still waiting -------------------


def build_pending_feed() -> tuple[_FeedBuilder, dict[str, bytes]]:
    """A sixth community, Ashford, in federation Vale, checkpointed while two payments across wait for
    their answers (the first past its expiry, its cancel sent), one payment to it stands rejected, and
    two federation acts it decided (a proposal and its yes vote) wait in its outbox: the entries of
    the state digest's elements 7 and 8 that the other vectors leave empty (docs/protocol.md §11.1,
    §11.5). The sequencer appends a checkpoint right after the event that makes one due, before the
    node's timer appends what waits in the outbox; so the genesis asks for one every 11 events, and
    the second act is the eleventh."""
    public = {key: key_for(key).public for key in key_names}
    builder = _FeedBuilder()
    t = genesis_ts_ms
    builder.append("node", t, Genesis(
        name="Ashford", unit_code="ASH", unit_decimals=2, debit_limit_minor=100_000, credit_ceiling_minor=100_000,
        signing_key=public["node"], recovery_key_hash=hash32(public["recovery"]), admin_key=public["admin"],
        admin_name="Ada", checkpoint_interval_events=11,
    ), "genesis: the community Ashford, unit ASH, a checkpoint every 11 events", None)
    builder.act("admin", t + 1, AdmitMember(member=public["alice"], name="Alice"), "Ada admits Alice")
    builder.act("admin", t + 2, AdmitMember(member=public["bob"], name="Bob"), "Ada admits Bob")
    brookside, dee = hash32(b"the community of Brookside"), hash32(b"Dee of Brookside")
    vale_charter = Charter("Vale", "VAL", 2, (CharterMember(builder.feed, "ASH", 1, 1),
                                              CharterMember(brookside, "BRK", 1, 1)), 6000, t)
    vale = federation_id(vale_charter)
    builder.act("admin", t + 3, FederationAct(body=vale_charter), "Ada decides to adopt Vale's charter")
    builder.append("node", t + 4, vale_charter, "the node appends the charter: Ashford's trade account in Vale",
                   None)
    builder.append("node", t + 5, TradeLimits(vale, vale, 50_000, 50_000),
                   "the node applies Vale's trade limits: 500.00 either way", None)

    def pay(payer: str, ts: int, amount_minor: int, memo: str, description: str) -> bytes:
        action = PayAcross(federation=vale, to_community=brookside, to_member=dee, amount_minor=amount_minor,
                           memo=memo)
        intent, record = builder.intent(payer, action, description)
        body = transition.intent_body(builder.states[-1], decode_intent(intent), intent, ts)
        return event_hash(builder.append("node", ts, body, "payment_sent: " + description, record))

    apples = pay("alice", t + 6, 2_500, "apples", "Alice pays Dee, of Brookside, 25.00 through Vale")
    builder.append("node", t + 7, PaymentRejected(hash32(b"a payment from Brookside"), brookside, "unknown_member"),
                   "Ashford rejects a payment from Brookside to a member it does not have", None)
    expired = t + 6 + limits.payment_expiry_ms
    builder.append("node", expired, PaymentCancel(apples, brookside),
                   "Brookside has not answered in 24 hours: the node asks it to cancel Alice's payment", None)
    pay("bob", expired + 1, 750, "", "Bob pays Dee 7.50 through Vale")
    proposal = FederationProposal(vale, 0, vale, expired + 2 + 7 * 24 * hour_ms, "Brookside's trade limits", "",
                                  SetTradeLimits(brookside, 40_000, 40_000))

    def decide(ts: int, body: Body, description: str) -> None:  # after rotation_ts_ms, unrotated
        intent, record = builder.intent("admin", FederationAct(body=body), description)
        builder.append("node", ts, Act(intent=intent), description, record)

    decide(expired + 2, proposal, "Ada decides to propose in Vale that Brookside may trade 400.00 either way")
    decide(expired + 3, FederationVote(vale, 0, hash32(encode(proposal))), "Ada decides to vote yes on it")
    state = builder.states[-1]
    assert len(state.payments.pending) == 2 and len(state.federation_outbox) == 2
    assert transition.checkpoint_due(state) and not transition.checkpoint_due(builder.states[-2])
    builder.append("node", expired + 3, Checkpoint(state_hash=state_digest(state)),
                   "the checkpoint due after 11 events, in the same batch: both payments pending, both acts "
                   "waiting", None)
    final, _ = verify_batch(builder.heads[0], builder.raw[1:])
    assert final == builder.heads[-1]
    return builder, {"vale": vale, "brookside": brookside, "dee": dee}


def build_pending_file() -> dict[str, Any]:
    """pending.json: the Ashford feed and its checkpoint's state digest taken apart."""
    builder, ids = build_pending_feed()
    check_documented_digest(builder)
    checkpoint_seq = len(builder.raw)
    state = builder.states[checkpoint_seq - 2]
    return {
        "description": "A valid feed of the community Ashford, in federation Vale, whose last event is the "
        "checkpoint its interval of 11 events makes due, taken while two payments across are pending (sent, not yet answered; the first past its "
        "expiry, with its payment_cancel sent), one payment to it stands rejected, and two federation acts it "
        "decided (a fed_propose and a fed_vote for it) wait in its outbox. Fields as in feed.json; digest is "
        "that checkpoint's state digest taken apart as in digests.json; pending and outbox state what its "
        "elements 8 and 7 hold (docs/protocol.md §11.5, §14.7).",
        "feed_hex": builder.feed.hex(),
        "vale_hex": ids["vale"].hex(),
        "brookside_hex": ids["brookside"].hex(),
        "trade_account_hex": state.payments.trade[ids["vale"]].hex(),
        "events": builder.events,
        "intents": builder.intents,
        "checkpoint_seq": checkpoint_seq,
        "digest": digest_example("ashford", builder, "pending.json before its checkpoint: a nil fifth element, "
                                 "no enterprise, two federation acts in the outbox, two payments pending and "
                                 "one answered", seq=checkpoint_seq - 1),
        "pending": [{"payment_hex": payment.hex(), "seq": p.seq, "amount_minor": p.amount_minor,
                     "cancel_sent": p.cancel_sent} for payment, p in sorted(state.payments.pending.items())],
        "answered": {payment.hex(): answer for payment, answer in sorted(state.payments.answered.items())},
        "outbox": [plain(body) for body in state.federation_outbox],
        "final_balances": {name: state.accounts[key_for(name).public].balance_minor
                           for name in ("admin", "alice", "bob")},
        "trade_account_balance": state.accounts[state.payments.trade[ids["vale"]]].balance_minor,
    }


# ---- personal.json: names, memos and texts committed in the log, sealed beside it -----------------

# Data keys, salts and box nonces are random in a node; here each is BLAKE2b-256 of a prefix and a
# label (cut to 16 bytes for a salt, 24 for a nonce), so the file is the same on every run.
data_key_prefix = b"tallystick test vector data key: "
salt_prefix = b"tallystick test vector salt: "
box_nonce_prefix = b"tallystick test vector box nonce: "
personalisation = b"tally/personal"  # BLAKE2b's 16-byte personalisation, zero-padded


def data_key_for(name: str) -> bytes:
    return hash32(data_key_prefix + name.encode("ascii"))


def salt_for(label: str) -> bytes:
    return hash32(salt_prefix + label.encode("ascii"))[:salt_bytes]


def box_nonce_for(label: str) -> bytes:
    return hash32(box_nonce_prefix + label.encode("ascii"))[:box_nonce_bytes]


def personal_paths(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every personal field of an action (protocol/personal.py `personal_fields`) in field order, by
    its path: "name", "memo", "title", "text", "options[1]", "effect.name"."""
    tag = type(value).__struct_config__.tag if isinstance(value, msgspec.Struct) else None
    found: list[tuple[str, Any]] = []
    for field in personal_fields.get(tag or "", ()):
        current = getattr(value, field)
        if field == "effect":
            if current is not None:
                found += personal_paths(current, prefix + "effect.")
        elif field == "options":
            found += [(f"{prefix}options[{index}]", option) for index, option in enumerate(current)]
        else:
            found.append((prefix + field, current))
    return found


def opened_with_fixed_salts(action: Any, label: str) -> Any:
    """`opened_action` with the salt of each text its vector's: salt_for(label + ": " + path)."""
    paths = [path for path, value in personal_paths(action) if isinstance(value, str) and value]
    salts = iter([salt_for(f"{label}: {path}") for path in paths])
    opened = opened_action(action, salt=lambda: next(salts))
    assert next(salts, None) is None
    return opened


def subject_rule(state: State, signer: bytes, action: Any) -> bytes:
    """Whom an intent's texts are about (docs/protocol.md §19.3), built from the section, not by
    calling node/personal.py: the admitted member of an admission, direct or a proposal's effect;
    else the signer's member id."""
    if isinstance(action, AdmitMember | Join):  # a join: the member it admits, not the invitation's key
        return action.member
    if isinstance(action, Propose) and isinstance(action.effect, AdmitMember):
        return action.effect.member
    return state.keys.get(signer, signer)


def opening_records(action: Any) -> list[dict[str, Any]]:
    return [{"field": path, "salt_hex": value.salt.hex(), "text": value.text,
             "digest_hex": text_digest(value.salt, value.text).hex()}
            for path, value in personal_paths(action) if isinstance(value, Opened)]


def box_record(seq: int, kind: str, subject: str, openings: list[Opened], nonce: bytes, box: bytes,
               fields: list[dict[str, Any]]) -> dict[str, Any]:
    """A sealed box taken apart, checked against NaCl's secretbox and `unseal`."""
    key = data_key_for(subject)
    plaintext = encode([[opened.salt, opened.text] for opened in openings])
    assert bytes(nacl.secret.SecretBox(key).decrypt(box)) == plaintext and box[:box_nonce_bytes] == nonce
    assert [(o.salt, o.text) for o in unseal(key, box)] == [(o.salt, o.text) for o in openings]
    return {
        "seq": seq,
        "kind": kind,
        "subject": subject,
        "subject_hex": key_for(subject).public.hex(),
        "data_key_hex": key.hex(),
        "nonce_hex": nonce.hex(),
        "openings": fields,
        "plaintext_hex": plaintext.hex(),
        "mac_hex": box[box_nonce_bytes:box_nonce_bytes + 16].hex(),
        "ciphertext_hex": box[box_nonce_bytes + 16:].hex(),
        "box_hex": box.hex(),
    }


class _PersonalFeedBuilder(_FeedBuilder):
    """A `_FeedBuilder` whose members send their texts opened, as a client does: each such intent
    is recorded as sent (opened) and as the log holds it (committed), and its event carries its
    sealed box."""

    def __init__(self) -> None:
        super().__init__()
        self.boxes: list[dict[str, Any]] = []

    def opened_intent(self, signer: str, action: Action, label: str, description: str) -> tuple[bytes, Any, dict]:
        nonce = self.nonces.get(signer, 0) + 1
        self.nonces[signer] = nonce
        key = key_for(signer)
        opened = opened_with_fixed_salts(action, label)
        sent = sign_intent(key, feed=self.feed, nonce=nonce, action=opened)
        submitted = verify_submitted_intent(sent, feed=self.feed)
        assert not clear_texts(submitted.intent.action), "a node takes it (no text in clear)"
        unsigned = encode(IntentUnsigned(v=limits.protocol_version, feed=self.feed, key=key.public, nonce=nonce,
                                         action=committed_action(opened)))
        raw = submitted.intent_bytes
        assert raw == b"\x96" + unsigned[1:] + b"\xc4\x40" + sent[-64:]
        assert verify_intent(raw, feed=self.feed) == submitted.intent
        assert [commit(o) for o in submitted.opened] == committed_texts(submitted.intent.action)
        record = {
            "index": len(self.intents),
            "description": description,
            "signed_by": signer,
            "decoded": plain(submitted.intent),
            "unsigned_hex": unsigned.hex(),
            "signed_message_hex": (intent_namespace + unsigned).hex(),
            "bytes_hex": raw.hex(),
            "signature_hex": raw[-64:].hex(),
            "sent_decoded": plain(decode_intent(sent)),
            "sent_bytes_hex": sent.hex(),
            "openings": opening_records(opened),
        }
        self.intents.append(record)
        return raw, submitted, record

    def sealed(self, signer: str, ts: int, action: Action, label: str, description: str, subject: str) -> bytes:
        raw, submitted, record = self.opened_intent(signer, action, label, description)
        state = self.states[-1]
        subject_id = key_for(subject).public
        assert subject_rule(state, submitted.intent.key, submitted.intent.action) == subject_id
        nonce = box_nonce_for(label)
        box = seal(data_key_for(subject), list(submitted.opened), nonce)
        body = transition.intent_body(state, submitted.intent, raw, ts, (subject_id, box))
        event = self.append("node", ts, body, description, record)
        self.boxes.append(box_record(len(self.raw), body.__struct_config__.tag, subject, list(submitted.opened),
                                     nonce, box, record["openings"]))
        return event


def build_personal_feed() -> tuple[_PersonalFeedBuilder, dict[str, bytes]]:
    """An eighth community, Elmstead, whose every name, memo and text is committed in the log and
    sealed beside it: a genesis_sealed (the admin's name), admissions, transfers with memos (one in
    ASCII, one not) and one without, a poll, a proposal to admit a member, and a payment across with
    a memo (payment_sent_sealed); a checkpoint whose digest holds committed names."""
    public = {name: key_for(name).public for name in key_names}
    builder = _PersonalFeedBuilder()
    t = genesis_ts_ms
    admin_name = Opened(salt=salt_for("genesis: admin_name"), text="Ada")
    genesis_nonce = box_nonce_for("genesis")
    genesis_box = seal(data_key_for("admin"), [admin_name], genesis_nonce)
    builder.append("node", t, GenesisSealed(
        name="Elmstead", unit_code="ELM", unit_decimals=2, debit_limit_minor=100_000, credit_ceiling_minor=100_000,
        signing_key=public["node"], recovery_key_hash=hash32(public["recovery"]), admin_key=public["admin"],
        admin_name=commit(admin_name), checkpoint_interval_events=limits.checkpoint_interval_events_min,
        subject=public["admin"], box=genesis_box,
    ), "genesis_sealed: the community Elmstead, unit ELM; its admin's name committed, sealed under the admin's "
       "data key", None)
    builder.boxes.append(box_record(1, "genesis_sealed", "admin", [admin_name], genesis_nonce, genesis_box, [
        {"field": "admin_name", "salt_hex": admin_name.salt.hex(), "text": admin_name.text,
         "digest_hex": text_digest(admin_name.salt, admin_name.text).hex()}]))
    builder.sealed("admin", t + 1000, AdmitMember(member=public["alice"], name="Alice"), "admit alice",
                   "Ada admits Alice: the name committed, sealed under Alice's data key", "alice")
    builder.sealed("admin", t + 2000, AdmitMember(member=public["bob"], name="Bob"), "admit bob",
                   "Ada admits Bob", "bob")
    builder.sealed("alice", t + 3000, Transfer(to=public["bob"], amount_minor=1250, memo="bread"), "alice pays bob",
                   "Alice pays Bob 12.50 ELM for bread: the memo committed, sealed under Alice's data key", "alice")
    builder.act("bob", t + 4000, Transfer(to=public["alice"], amount_minor=300),
                "Bob pays Alice 3.00 ELM with no memo: no text, so a plain act (an empty memo is not opened)")
    builder.sealed("alice", t + 5000, Transfer(to=public["bob"], amount_minor=99, memo="café ☕ 🍞"),
                   "alice pays bob again", "Alice pays Bob 0.99 ELM with a non-ASCII memo", "alice")
    builder.sealed("alice", t + 6000, Propose(
        "poll", "Market day", "Which day should the market stand?", t + 6000 + 24 * hour_ms,
        options=("Tuesday", "Saturday")), "alice's poll",
        "Alice opens a poll: title, text and both options committed, four openings in one box", "alice")
    builder.sealed("admin", t + 7000, ProposeWithPeriod(
        "proposal", "Admit Carol", "", 0, effect=AdmitMember(member=public["carol"], name="Carol"),
        voting_period_ms=24 * hour_ms), "proposal to admit carol",
        "Ada proposes to admit Carol: the title and the effect's name committed (the empty text stays \"\"), "
        "sealed under Carol's data key, the member the texts are about", "carol")
    neighbour, payee = hash32(b"neighbour community"), hash32(b"Cy")
    hills_charter = Charter("Hills", "HIL", 2, (CharterMember(builder.feed, "ELM", 1, 1),
                                                CharterMember(neighbour, "NBR", 1, 1)), 6000, t)
    hills = federation_id(hills_charter)
    builder.act("admin", t + 8000, FederationAct(body=hills_charter), "Ada decides to adopt Hills' charter")
    builder.append("node", t + 9000, hills_charter, "the node appends the charter: Elmstead's trade account in Hills",
                   None)
    builder.append("node", t + 10_000, TradeLimits(hills, hills, 50_000, 50_000),
                   "the node applies Hills' trade limits: 500.00 either way", None)
    assert transition.checkpoint_due(builder.states[-1])
    builder.append("node", t + 11_000, Checkpoint(state_hash=state_digest(builder.states[-1])),
                   "checkpoint: the state digest after seq 11, whose member entries hold committed names", None)
    builder.sealed("alice", t + 12_000, PayAcross(federation=hills, to_community=neighbour, to_member=payee,
                                                   amount_minor=2000, memo="wool"), "alice pays cy",
                   "Alice pays Cy, of a neighbour community in Hills, 20.00 for wool: payment_sent_sealed", "alice")
    final, _ = verify_batch(builder.heads[0], builder.raw[1:])
    assert final == builder.heads[-1]
    return builder, {"hills": hills, "neighbour": neighbour}


def digest_record(name: str, salt: bytes, text: str, description: str) -> dict[str, Any]:
    import hashlib

    digest = text_digest(salt, text)
    padded = personalisation + bytes(16 - len(personalisation))
    assert digest == hashlib.blake2b(text.encode("utf-8"), digest_size=32, key=salt, person=padded).digest()
    return {"name": name, "description": description, "salt_hex": salt.hex(), "text": text,
            "text_utf8_hex": text.encode("utf-8").hex(), "digest_hex": digest.hex(),
            "opened_hex": encode(Opened(salt=salt, text=text)).hex(),
            "committed_hex": encode(Committed(digest=digest)).hex()}


def _expect_unseal_refused(key: bytes, box: bytes) -> None:
    try:
        unseal(key, box)
    except UnsealError:
        return
    raise AssertionError("the box opened")


def submit_check(data: bytes, feed: bytes) -> None:
    """What a community's node does first with an intent a client sends it (docs/protocol.md §19.3):
    `verify_submitted_intent`, then `personal_in_clear` if the committed action still carries a
    non-empty name, memo or text in clear."""
    submitted = verify_submitted_intent(data, feed=feed)
    if clear_texts(submitted.intent.action):
        raise PersonalInClearError("this intent carries a name, memo or text in clear")


def build_personal_file() -> dict[str, Any]:
    builder, ids = build_personal_feed()
    check_documented_digest(builder)
    feed = builder.feed
    public = {name: key_for(name).public for name in key_names}
    node, alice = key_for("node"), key_for("alice")
    state = builder.states[-1]
    checkpoint_seq = 12

    digests = [
        digest_record("ascii", salt_for("digest: ascii"), "Alice", "a name in ASCII"),
        digest_record("ascii_other_salt", salt_for("digest: ascii, other salt"), "Alice",
                      "the same text under another salt: another digest, so equal texts cannot be told equal"),
        digest_record("non_ascii", salt_for("digest: non-ASCII"), "Zoë Ødegård",
                      "a name with non-ASCII letters, in NFC (ë is U+00EB): UTF-8 bytes, 2 per letter here"),
        digest_record("decomposed", salt_for("digest: non-ASCII"), "Zoe\u0308 \u00d8degård",
                      "the same name with ë decomposed (e, U+0308), under the same salt: other bytes, another "
                      "digest. The digest does not normalise; the node's rule of normal form (§13.2.2) refuses "
                      "this spelling of a name"),
        digest_record("astral", salt_for("digest: astral"), "café ☕ 🍞",
                      "a memo with characters outside the BMP (🍞 is 4 bytes of UTF-8)"),
        digest_record("empty", salt_for("digest: empty"), "",
                      "the empty text: a client opens no empty text (an empty memo stays \"\"), but the digest "
                      "is defined"),
    ]

    cases: list[dict[str, Any]] = []

    def case(name: str, description: str, check: str, error: str, data: bytes, **context: Any) -> None:
        if check == "decode_event":
            _expect(error, lambda: decode_event(data))
        elif check == "decode_intent":
            _expect(error, lambda: decode_intent(data))
        elif check == "verify_submitted_intent":
            _expect(error, lambda: verify_submitted_intent(data, feed=feed))
            context = {"feed_hex": feed.hex(), **context}
        elif check == "submit":
            _expect(error, lambda: submit_check(data, feed))
            context = {"feed_hex": feed.hex(), **context}
        else:
            raise AssertionError(check)
        cases.append({"name": name, "description": description, "check": check, **context, "error": error,
                      "bytes_hex": data.hex()})

    alice_fields = [limits.protocol_version, feed, alice.public, 7]
    for name, salt, why in (("opened_salt_empty", b"", "an empty salt (0 bytes)"),
                            ("opened_salt_15_bytes", bytes(15), "a salt of 15 bytes"),
                            ("opened_salt_17_bytes", bytes(17), "a salt of 17 bytes")):
        opened = ["opened", salt, "bread"]
        case(name, f"a transfer intent whose memo is opened with {why}: a salt is exactly 16 bytes", "decode_intent",
             "malformed", sign_raw(alice, intent_namespace,
                                   encode([*alice_fields, ["transfer", public["bob"], 1250, opened]])))
    case("committed_digest_31_bytes", "a transfer intent whose memo is committed to a digest of 31 bytes (32 exactly)",
         "decode_intent", "malformed", sign_raw(alice, intent_namespace, encode(
             [*alice_fields, ["transfer", public["bob"], 1250, ["committed", bytes(31)]]])))
    case("opened_text_601_characters",
         f"a transfer intent whose memo is opened with {limits.decision_text_chars_max + 1} characters (an opened "
         "text of any field is at most decision_text_chars_max)", "decode_intent", "malformed",
         sign_raw(alice, intent_namespace, encode(
             [*alice_fields, ["transfer", public["bob"], 1250,
                              ["opened", salt_for("long"), "x" * (limits.decision_text_chars_max + 1)]]])))
    case("personal_unknown_tag", "a transfer intent whose memo is tagged 'sealed', which is no form of a text",
         "decode_intent", "malformed", sign_raw(alice, intent_namespace, encode(
             [*alice_fields, ["transfer", public["bob"], 1250, ["sealed", bytes(32)]]])))
    genesis = decode_event(builder.raw[0])
    assert isinstance(genesis.body, GenesisSealed)
    opened_genesis = msgspec.structs.replace(genesis.body, admin_name=Opened(salt_for("genesis: admin_name"), "Ada"))
    case("opened_in_genesis_sealed", "a genesis_sealed whose admin_name is opened: a genesis's name is a Name or "
         "committed, never opened, so no event holds a salt", "decode_event", "malformed",
         sign_raw(node, event_namespace, unsigned_event(feed=None, seq=1, prev=None, ts=genesis.ts,
                                                        body=opened_genesis)))
    payment_seq = len(builder.raw)
    payment = decode_event(builder.raw[payment_seq - 1])
    assert isinstance(payment.body, PaymentOutSealed)
    opened_payment = msgspec.structs.replace(payment.body, memo=Opened(salt_for("alice pays cy: memo"), "wool"))
    case("opened_in_payment_sent_sealed", "the payment_sent_sealed of the feed with its memo opened", "decode_event",
         "malformed", sign_raw(node, event_namespace, unsigned_event(
             feed=feed, seq=payment_seq, prev=event_hash(builder.raw[payment_seq - 2]), ts=payment.ts,
             body=opened_payment)))
    transfer = decode_event(builder.raw[3])
    assert isinstance(transfer.body, ActSealed)
    case("sealed_box_over_limit", f"event 4 with a box of {limits.sealed_box_bytes_max + 1} bytes "
         f"(sealed_box_bytes_max is {limits.sealed_box_bytes_max})", "decode_event", "malformed",
         sign_raw(node, event_namespace, unsigned_event(
             feed=feed, seq=4, prev=event_hash(builder.raw[2]), ts=transfer.ts,
             body=ActSealed(intent=transfer.body.intent, subject=transfer.body.subject,
                            box=bytes(limits.sealed_box_bytes_max + 1)))))
    case("submitted_in_clear", "Alice's transfer for bread with its memo in clear (the form written before §19), "
         "validly signed: a node refuses it as a new intent; a replica still folds such an act", "submit",
         "personal_in_clear", sign_intent(alice, feed=feed, nonce=7,
                                          action=Transfer(to=public["bob"], amount_minor=1250, memo="bread")))
    sent_transfer = opened_with_fixed_salts(Transfer(to=public["bob"], amount_minor=1250, memo="bread"),
                                            "alice pays bob")
    case("submitted_signed_over_the_opened_form", "Alice's opened transfer signed over its opened bytes instead of "
         "its committed form", "verify_submitted_intent", "bad_signature",
         sign_raw(alice, intent_namespace, encode(IntentUnsigned(v=limits.protocol_version, feed=feed,
                                                                 key=alice.public, nonce=7, action=sent_transfer))))
    # An intent that fits intent_bytes_max as sent, whose committed form does not: each opened
    # one-character text (28 bytes) becomes a 45-byte commitment.
    fed = ids["hills"]
    grown = None
    for count in range(limits.federation_members_max, 0, -1):
        for topic in range(limits.topic_chars_max + 1):
            effect = FederationAct(FederationProposal(
                fed, 0, fed, genesis_ts_ms + 24 * hour_ms, "Capacity", "€" * limits.decision_text_chars_max,
                AllocateCapacity(tuple(CapacityShare(hash32(b"share %d" % index), 1) for index in range(count)))))
            action = opened_with_fixed_salts(Propose("proposal", "a", "b", genesis_ts_ms + 48 * hour_ms,
                                                     topic="t" * topic, effect=effect), "too large")
            sent = sign_intent(key_for("admin"), feed=feed, nonce=7, action=action)
            if len(sent) > limits.intent_bytes_max:
                break  # a longer topic only grows it
            as_sent = decode_intent(sent)
            committed = len(encode(msgspec.structs.replace(as_sent, action=committed_action(as_sent.action))))
            if len(sent) <= limits.intent_bytes_max < committed:
                grown = sent, committed
                break
        if grown is not None:
            break
    assert grown is not None
    case("committed_form_too_large", f"Ada's proposal of {len(grown[0])} bytes as sent (intent_bytes_max is "
         f"{limits.intent_bytes_max}) whose two one-character texts, committed, make it {grown[1]} bytes",
         "verify_submitted_intent", "too_large", grown[0])

    refused: list[dict[str, Any]] = []

    def refused_case(name: str, description: str, error: str, after_seq: int, body: Body) -> None:
        previous = decode_event(builder.raw[after_seq])
        data = sign_event(node, feed=feed, seq=after_seq + 1, prev=event_hash(builder.raw[after_seq - 1]),
                          ts=previous.ts, body=body)
        _, event = verify_next(builder.heads[after_seq - 1], data)
        intent = verify_intent(event.body.intent, feed=feed)
        _expect(error, lambda: transition.audit(builder.states[after_seq - 1], event, intent))
        refused.append({"name": name, "description": description, "check": "audit", "after_seq": after_seq,
                        "error": error, "bytes_hex": data.hex()})

    plain_transfer = decode_event(builder.raw[4])
    assert type(plain_transfer.body) is Act
    refused_case("act_sealed_without_commitments", "event 5 (Bob's transfer with no memo) as an act_sealed with a "
                 "box: a sealed body whose intent commits to no text", "not_authorized", 4,
                 ActSealed(intent=plain_transfer.body.intent, subject=public["bob"],
                           box=seal(data_key_for("bob"), [], box_nonce_for("refused: empty box"))))
    refused_case("act_without_its_box", "event 4 (Alice's transfer, its memo committed) as a plain act: an "
                 "intent that commits to a text without its sealed box", "not_authorized", 3,
                 Act(intent=transfer.body.intent))
    refused_case("payment_sent_without_its_box", "the feed's payment across as a plain payment_sent: its memo "
                 "committed, no box", "not_authorized", payment_seq - 1,
                 PaymentOut(**{field: getattr(payment.body, field) for field in PaymentOut.__struct_fields__}))

    key = data_key_for("alice")
    transfer_box = transfer.body.box
    flipped = transfer_box[:-1] + bytes((transfer_box[-1] ^ 0x01,))
    empty_salt = bytes(nacl.secret.SecretBox(key).encrypt(encode([[b"", "bread"]]),
                                                           box_nonce_for("refused: empty salt")))
    fourteen = seal(key, [Opened(salt_for(f"refused: opening {index}"), "x") for index in range(14)],
                    box_nonce_for("refused: fourteen"))
    not_a_list = bytes(nacl.secret.SecretBox(key).encrypt(encode({"salt": b"", "text": "bread"}),
                                                           box_nonce_for("refused: a map")))
    boxes_refused = [
        {"name": "another_key", "why": "event 4's box with Bob's data key", "data_key_hex": data_key_for("bob").hex(),
         "box_hex": transfer_box.hex()},
        {"name": "bit_flipped", "why": "event 4's box with the last bit of its ciphertext flipped: the tag fails",
         "data_key_hex": key.hex(), "box_hex": flipped.hex()},
        {"name": "shorter_than_nonce_and_tag", "why": "39 bytes, less than a nonce and a tag",
         "data_key_hex": key.hex(), "box_hex": transfer_box[:39].hex()},
        {"name": "empty_salt", "why": "a box that opens, whose one opening has an empty salt (16 bytes exactly)",
         "data_key_hex": key.hex(), "box_hex": empty_salt.hex()},
        {"name": "fourteen_openings", "why": f"a box that opens, holding 14 openings (personal_fields_max is "
         f"{limits.personal_fields_max})", "data_key_hex": key.hex(), "box_hex": fourteen.hex()},
        {"name": "not_a_list_of_openings", "why": "a box that opens, holding a map", "data_key_hex": key.hex(),
         "box_hex": not_a_list.hex()},
    ]
    for refusal in boxes_refused:
        _expect_unseal_refused(bytes.fromhex(refusal["data_key_hex"]), bytes.fromhex(refusal["box_hex"]))

    member, other, federation, community = (_example_id(label) for label in ("member", "other", "federation",
                                                                                 "community"))
    dee = Opened(salt=salt_for("layout: Dee"), text="Dee")
    box = b"<a 24-byte nonce, a 16-byte tag, the ciphertext>"
    layout_values: list[tuple[str, str, Any]] = [
        ("personal", "committed: a text as the log holds it (the digest of 'Dee' under the salt below)", commit(dee)),
        ("personal", "opened: a text as a client sends its own node", dee),
        ("action", "admit, the name committed", AdmitMember(member, commit(dee))),
        ("action", "transfer, the memo committed",
         Transfer(member, 1250, commit(Opened(salt_for("layout: bread"), "bread")))),
        ("effect", "admit, the name committed", AdmitMember(member, commit(dee), "admin")),
        ("body", "act_sealed: an act with its box", ActSealed(b"\x96 the exact signed intent", member, box)),
        ("body", "genesis_sealed: the admin's name committed", GenesisSealed(
            "Elmstead", "ELM", 2, 100_000, 100_000, other, _example_id("recovery key hash"), member, commit(dee),
            10, member, box)),
        ("body", "payment_sent_sealed: the memo committed", PaymentOutSealed(
            federation, community, other, member, 12_000, genesis_ts_ms + 24 * hour_ms,
            commit(Opened(salt_for("layout: wool"), "wool")), b"\x96 the exact signed intent", member, box)),
    ]
    unions = {"personal": Personal, "action": Action, "effect": Effect, "body": Body}
    layouts = []
    for group, description, value in layout_values:
        data = encode(value)
        decoded = msgspec.msgpack.decode(data, type=unions[group])
        assert decoded == value and encode(decoded) == data
        layouts.append({"group": group, "kind": type(value).__struct_config__.tag, "description": description,
                        "decoded": plain(value), "bytes_hex": data.hex()})

    return {
        "description": "Personal texts out of the log (docs/protocol.md §19). digests: text_digest = BLAKE2b-256 of "
        "the text's UTF-8 bytes keyed by the 16-byte salt (BLAKE2b's key, not its salt parameter), personalised "
        "'tally/personal' zero-padded to 16 bytes; opened_hex and committed_hex are the two forms of that text. "
        "The feed of the community Elmstead: fields as in feed.json; each intent whose member typed a text "
        "also has sent_bytes_hex (the opened intent a client sends its node; its signature is over the "
        "committed form), sent_decoded and openings (field, salt, text, digest, in field order); bytes_hex is "
        "the committed intent the log carries. boxes: each sealed event's box taken apart: the subject and "
        "its data key, the nonce, the plaintext (msgpack [[salt, text], …]), the Poly1305 tag (mac) and the "
        "XSalsa20 ciphertext; box = nonce ‖ mac ‖ ciphertext (NaCl's secretbox). Data keys, salts and "
        "nonces are BLAKE2b-256 of their prefix and a label (16 bytes of it for a salt, 24 for a nonce). "
        "invalid: bytes refused as in invalid.json; check 'verify_submitted_intent' and 'submit' (the node's "
        "first step: then personal_in_clear for a text in clear) are for the feed feed_hex. refused: events "
        "refused by the rules (check 'audit': verify_next on the head after after_seq, verify_intent, then "
        "the audit on the state after after_seq). boxes_refused: boxes unseal must refuse. layouts: as in "
        "layouts.json; group 'personal' is the union committed | opened, and a box there is placeholder bytes.",
        "personalisation_hex": personalisation.hex(),
        "salt_prefix_hex": salt_prefix.hex(),
        "data_key_prefix_hex": data_key_prefix.hex(),
        "box_nonce_prefix_hex": box_nonce_prefix.hex(),
        "digests": digests,
        "feed_hex": feed.hex(),
        "hills_hex": ids["hills"].hex(),
        "data_keys": {name: data_key_for(name).hex() for name in ("admin", "alice", "bob", "carol")},
        "events": builder.events,
        "intents": builder.intents,
        "boxes": builder.boxes,
        "checkpoint_seq": checkpoint_seq,
        "digest": digest_example("elmstead", builder, "personal.json before its checkpoint: three members whose "
                                 "names are committed, a trade account, decisions", seq=checkpoint_seq - 1),
        "state_digest_hex": state_digest(state).hex(),
        "final_balances": {name: state.accounts[public[name]].balance_minor for name in ("admin", "alice", "bob")},
        "invalid": cases,
        "refused": refused,
        "boxes_refused": boxes_refused,
        "layouts": layouts,
    }




# ---- invitations.json: invite, join, withdraw, expire (docs/protocol.md §13.2.4, §11.6) -----------------


def build_invitations_feed() -> _PersonalFeedBuilder:
    """A ninth community, Ivybridge: Ada admits Alice and Bob, invites Dee (her own debit limit),
    Eli (an admin, for a day) and Fay (for the longest an invitation may stay open) and withdraws
    Fay's; Dee joins with her invitation's key, her name committed and sealed under her new key;
    she pays; a checkpoint holds Eli's open invitation and Fay's withdrawn one; two days on, Ada
    invites Gus, which drops Eli's expired invitation."""
    public = {name: key_for(name).public for name in key_names}
    builder = _PersonalFeedBuilder()
    t = genesis_ts_ms
    admin_name = Opened(salt=salt_for("ivybridge genesis: admin_name"), text="Ada")
    genesis_nonce = box_nonce_for("ivybridge genesis")
    builder.append("node", t, GenesisSealed(
        name="Ivybridge", unit_code="IVY", unit_decimals=2, debit_limit_minor=10_000, credit_ceiling_minor=50_000,
        signing_key=public["node"], recovery_key_hash=hash32(public["recovery"]), admin_key=public["admin"],
        admin_name=commit(admin_name), checkpoint_interval_events=limits.checkpoint_interval_events_min,
        subject=public["admin"], box=seal(data_key_for("admin"), [admin_name], genesis_nonce),
    ), "genesis_sealed: the community Ivybridge, unit IVY", None)
    builder.sealed("admin", t + 1000, AdmitMember(member=public["alice"], name="Alice"), "ivybridge admit alice",
                   "Ada admits Alice", "alice")
    builder.sealed("admin", t + 2000, AdmitMember(member=public["bob"], name="Bob"), "ivybridge admit bob",
                   "Ada admits Bob", "bob")
    invitation = {name: key_for(f"invitation {name}").public for name in ("dee", "eli", "fay", "gus")}
    builder.act("admin", t + 3000, Invite(invitation["dee"], t + 7 * day_ms, debit_limit_minor=5000),
                "Ada invites someone for a week, with a debit limit of 50.00 IVY of their own")
    builder.act("admin", t + 4000, Invite(invitation["eli"], t + day_ms, "admin"),
                "Ada invites someone as an admin, for a day")
    builder.act("admin", t + 5000, Invite(invitation["fay"], t + 5000 + limits.invitation_expiry_max_ms, "member",
                                          None, 20_000), "Ada invites someone for 30 days, a ceiling of 200.00 IVY")
    builder.act("admin", t + 6000, RevokeInvitation(invitation["fay"]), "Ada withdraws that invitation")
    builder.sealed("invitation dee", t + 7000, Join(member=key_for("dee").public, name="Dee"), "ivybridge dee joins",
                   "Dee joins with the key she made on her phone, signing with her invitation's key; her name "
                   "committed, sealed under her own data key", "dee")
    builder.act("dee", t + 8000, Transfer(to=public["alice"], amount_minor=1200), "Dee pays Alice 12.00 IVY")
    builder.act("alice", t + 9000, Transfer(to=public["bob"], amount_minor=100), "Alice pays Bob 1.00 IVY")
    builder.act("bob", t + 9500, Transfer(to=key_for("dee").public, amount_minor=200), "Bob pays Dee 2.00 IVY")
    assert transition.checkpoint_due(builder.states[-1])
    builder.append("node", t + 10_000, Checkpoint(state_hash=state_digest(builder.states[-1])),
                   "checkpoint after seq 11: the digest's ninth element holds Eli's open invitation and Fay's withdrawn one", None)
    description = "two days on, Ada invites someone for a day; Eli's invitation, expired, is dropped"
    intent, record = builder.intent("admin", Invite(invitation["gus"], t + 3 * day_ms), description)
    builder.append("node", t + 2 * day_ms, Act(intent=intent), description, record)  # this feed's key never rotates
    assert set(builder.states[-1].invitations) == {invitation["fay"], invitation["gus"]}
    final, _ = verify_batch(builder.heads[0], builder.raw[1:])
    assert final == builder.heads[-1]
    return builder


day_ms = 24 * hour_ms


def build_invitations_file() -> dict[str, Any]:
    builder = build_invitations_feed()
    check_documented_digest(builder)
    feed, state, node = builder.feed, builder.states[-1], key_for("node")
    checkpoint_seq = 12

    refused: list[dict[str, Any]] = []

    def refused_case(name: str, description: str, error: str, signer: str, action: Action, ts: int) -> None:
        intent = sign_intent(key_for(signer), feed=feed, nonce=1_000, action=action)
        decoded = verify_intent(intent, feed=feed)
        opened = Opened(salt=salt_for("refused join"), text="Zed")  # a join's committed name, with its box
        sealed = ((key_for("zed").public, seal(data_key_for("zed"), [opened], box_nonce_for("refused join")))
                  if committed_texts(action) else None)
        body = transition.intent_body(state, decoded, intent, ts, sealed)
        data = sign_event(node, feed=feed, seq=len(builder.raw) + 1, prev=event_hash(builder.raw[-1]), ts=ts, body=body)
        _, event = verify_next(builder.heads[-1], data)
        _expect(error, lambda: transition.audit(state, event, decoded))
        refused.append({"name": name, "description": description, "check": "audit", "after_seq": len(builder.raw),
                        "error": error, "bytes_hex": data.hex()})

    now = decode_event(builder.raw[-1]).ts
    committed = Committed(digest=text_digest(salt_for("refused join"), "Zed"))
    for name, description, error, signer, ts in (
        ("join_used", "a second join with Dee's invitation, used at seq 8", "invitation_used", "invitation dee", now),
        ("join_withdrawn", "a join with Fay's invitation, withdrawn at seq 7", "invitation_used", "invitation fay", now),
        ("join_unknown", "a join signed by a key no invitation has", "invitation_unknown", "stranger", now),
        ("join_dropped", "a join with Eli's invitation, expired and dropped at seq 13", "invitation_unknown",
         "invitation eli", now),
        ("join_expired", "a join with Gus's invitation one millisecond after its expiry", "invitation_expired",
         "invitation gus", genesis_ts_ms + 3 * day_ms + 1),
    ):
        refused_case(name, description, error, signer, Join(member=key_for("zed").public, name=committed), ts)
    refused_case("join_taking_a_members_key", "a join with Gus's invitation naming Alice's key as the new member's",
                 "key_in_use", "invitation gus", Join(member=key_for("alice").public, name=committed), now)
    refused_case("invite_by_a_member", "Alice, a plain member, invites", "not_authorized", "alice",
                 Invite(key_for("invitation zed").public, now + day_ms), now)
    refused_case("invite_too_long", "Ada invites for a millisecond longer than invitation_expiry_max_ms",
                 "bad_invitation", "admin", Invite(key_for("invitation zed").public,
                                                   now + limits.invitation_expiry_max_ms + 1), now)

    example = {label: _example_id(label) for label in ("invitation", "member")}
    salt = bytes.fromhex("33b737a34ee05b98bf87eea69e2adcb9")
    layouts = []
    for description, value in (
        ("invite, role and limits at their defaults", Invite(example["invitation"], genesis_ts_ms)),
        ("invite: an admin, with both limits", Invite(example["invitation"], genesis_ts_ms, "admin", 5000, 20_000)),
        ("join, the name committed, as the log holds it", Join(example["member"],
                                                               Committed(digest=text_digest(salt, "Dee")))),
        ("join, the name opened, as the wallet sends it", Join(example["member"], Opened(salt=salt, text="Dee"))),
        ("revoke_invitation", RevokeInvitation(example["invitation"])),
    ):
        data = encode(value)
        assert msgspec.msgpack.decode(data, type=Action) == value
        layouts.append({"group": "action", "kind": type(value).__struct_config__.tag, "description": description,
                        "decoded": plain(value), "bytes_hex": data.hex()})
    # Appended after the layouts above (whose bytes stay as they were): an invitation as a decision's
    # effect, where the community admits by decision (§4.3, §13.2.4), alone and in a proposal.
    decided_invite = Invite(example["invitation"], genesis_ts_ms + 8 * day_ms, "member", 5000, None)
    for group, union, description, value in (
        ("effect", Effect, "invite as a decision's effect: the community's invitation, a debit limit of its own",
         decided_invite),
        ("action", Action, "propose_period: a proposal to invite, open for a day (the membership floor)",
         ProposeWithPeriod(decision_type="proposal", title="Invite a new member", text="", deadline_ms=0,
                           effect=decided_invite, voting_period_ms=day_ms)),
    ):
        data = encode(value)
        assert msgspec.msgpack.decode(data, type=union) == value
        layouts.append({"group": group, "kind": type(value).__struct_config__.tag, "description": description,
                        "decoded": plain(value), "bytes_hex": data.hex()})
    return {
        "description": "A valid feed of the community Ivybridge (docs/protocol.md §13.2.4): invitations made, "
        "withdrawn, used by a join (signed by the invitation's one-time key, seed key_for('invitation dee'); the "
        "new member's key is key_for('dee')), and dropped once expired. Fields as in feed.json and personal.json; "
        "digest takes apart the state before the checkpoint at seq 12, whose ninth element holds the invitations "
        "(§11.6); state_digest_hex is the state digest after the last event; refused are events a replica "
        "refuses after it (check audit, on the state after after_seq); layouts are one encoding of each new "
        "action (group action; ids BLAKE2b-256 of 'tallystick layout example: ' + a label), then an invite as "
        "a decision's effect (group effect) and a propose_period carrying it (group action).",
        "feed_hex": feed.hex(),
        "events": builder.events,
        "intents": builder.intents,
        "boxes": builder.boxes,
        "digest": digest_example("ivybridge", builder, "invitations.json before its checkpoint: the invitations "
                                 "element, elements 5 to 8 nil", seq=checkpoint_seq - 1),
        "state_digest_hex": state_digest(state).hex(),
        "invitations_hex": {id_to_text("k", key): key.hex() for key in sorted(state.invitations)},
        "final_balances": {name: state.accounts[key_for(name).public].balance_minor
                           for name in ("admin", "alice", "bob", "dee")},
        "refused": refused,
        "layouts": layouts,
    }


# ---- devices.json: one account, a key per device (docs/protocol.md §13.2.1, §13.2.4, §11.2) --------


def build_devices_feed() -> _PersonalFeedBuilder:
    """A tenth community, Wrenfield: Ada admits Alice (her phone's key) and Bob; Alice adds her
    laptop's key from her phone, pays with the laptop, adds her tablet's from the laptop, and removes
    her phone's (lost) from the laptop; Bob adds his laptop's and pays with it; a checkpoint holds
    both accounts' further keys; Bob removes his laptop's key with that very key, and Alice's tablet
    adds keys until her account holds member_keys_max; her newest key pays. Every device of a
    member draws from the member's one nonce space."""
    public = {name: key_for(name).public for name in key_names}
    builder = _PersonalFeedBuilder()
    t = genesis_ts_ms
    admin_name = Opened(salt=salt_for("wrenfield genesis: admin_name"), text="Ada")
    builder.append("node", t, GenesisSealed(
        name="Wrenfield", unit_code="WRN", unit_decimals=2, debit_limit_minor=10_000, credit_ceiling_minor=50_000,
        signing_key=public["node"], recovery_key_hash=hash32(public["recovery"]), admin_key=public["admin"],
        admin_name=commit(admin_name), checkpoint_interval_events=limits.checkpoint_interval_events_min,
        subject=public["admin"], box=seal(data_key_for("admin"), [admin_name], box_nonce_for("wrenfield genesis")),
    ), "genesis_sealed: the community Wrenfield, unit WRN", None)
    builder.sealed("admin", t + 1000, AdmitMember(member=public["alice"], name="Alice"), "wrenfield admit alice",
                   "Ada admits Alice, under the key her phone made", "alice")
    builder.sealed("admin", t + 2000, AdmitMember(member=public["bob"], name="Bob"), "wrenfield admit bob",
                   "Ada admits Bob", "bob")

    def device(signer: str, member: str, ts: int, action: Action, description: str) -> None:
        nonce = builder.nonces.get(member, 0) + 1  # the member's one nonce space, whichever device signs
        builder.nonces[member] = nonce
        intent, record = builder.intent(signer, action, description, nonce)
        builder.append("node", ts, Act(intent=intent), description, record)  # this feed's key never rotates

    laptop, tablet = key_for("alice laptop").public, key_for("alice tablet").public
    device("alice", "alice", t + 3000, AddKey(key=laptop), "Alice's phone binds her laptop's key to her account")
    device("alice laptop", "alice", t + 4000, Transfer(to=public["bob"], amount_minor=1200),
           "Alice pays Bob 12.00 WRN from her laptop")
    device("alice laptop", "alice", t + 5000, AddKey(key=tablet), "Alice's laptop binds her tablet's key")
    device("alice laptop", "alice", t + 6000, RemoveKey(key=public["alice"]),
           "Alice lost her phone: her laptop removes its key, the account's first (her member id stays)")
    device("bob", "bob", t + 7000, Transfer(to=public["alice"], amount_minor=300), "Bob pays Alice 3.00 WRN")
    device("alice tablet", "alice", t + 8000, Transfer(to=public["bob"], amount_minor=100),
           "Alice pays Bob 1.00 WRN from her tablet")
    device("bob", "bob", t + 9000, AddKey(key=key_for("bob laptop").public), "Bob binds his laptop's key")
    device("bob laptop", "bob", t + 9500, Transfer(to=public["alice"], amount_minor=200),
           "Bob pays Alice 2.00 WRN from his laptop")
    assert transition.checkpoint_due(builder.states[-1])
    builder.append("node", t + 10_000, Checkpoint(state_hash=state_digest(builder.states[-1])),
                   "checkpoint after seq 11: Alice's member entry names her laptop as key and her tablet after it, "
                   "Bob's his laptop after his key", None)
    device("bob laptop", "bob", t + 11_000, RemoveKey(key=key_for("bob laptop").public),
           "Bob removes his laptop's key, signing with it: his account has one key again")
    for index in range(3, limits.member_keys_max + 1):
        device("alice tablet", "alice", t + 11_000 + index * 1000, AddKey(key=key_for(f"alice device {index}").public),
               f"Alice's tablet binds a key of another device of hers ({index} current keys)")
    newest = f"alice device {limits.member_keys_max}"
    device(newest, "alice", t + 20_000, Transfer(to=public["bob"], amount_minor=50),
           "Alice pays Bob 0.50 WRN with her newest key")
    final = builder.states[-1]
    assert len(final.members[public["alice"]].current_keys) == limits.member_keys_max
    assert final.members[public["bob"]].current_keys == (public["bob"],)
    head, _ = verify_batch(builder.heads[0], builder.raw[1:])
    assert head == builder.heads[-1]
    return builder


def build_devices_file() -> dict[str, Any]:
    builder = build_devices_feed()
    check_documented_digest(builder)
    feed, state, node = builder.feed, builder.states[-1], key_for("node")
    checkpoint_seq = 12
    now = decode_event(builder.raw[-1]).ts

    refused: list[dict[str, Any]] = []
    for name, description, error, signer, action in (
        ("removed_key_signs", "Alice's phone, removed at seq 7, signs a payment", "key_retired", "alice",
         Transfer(to=key_for("bob").public, amount_minor=100)),
        ("removed_key_added_again", "Bob binds Alice's removed phone key to his account", "key_in_use", "bob",
         AddKey(key=key_for("alice").public)),
        ("another_members_key_added", "Bob binds Alice's laptop's key, current on her account", "key_in_use", "bob",
         AddKey(key=key_for("alice laptop").public)),
        ("ninth_key", f"Alice binds a key past member_keys_max ({limits.member_keys_max})", "too_many_keys",
         "alice laptop", AddKey(key=key_for("alice device 9").public)),
        ("last_key", "Bob removes his account's only key", "last_key", "bob", RemoveKey(key=key_for("bob").public)),
        ("another_members_key_removed", "Bob removes Alice's laptop's key", "unknown_key", "bob",
         RemoveKey(key=key_for("alice laptop").public)),
        ("retired_key_removed", "Bob removes his laptop's key, removed at seq 13", "key_retired", "bob",
         RemoveKey(key=key_for("bob laptop").public)),
    ):
        intent = sign_intent(key_for(signer), feed=feed, nonce=1_000, action=action)
        decoded = verify_intent(intent, feed=feed)
        data = sign_event(node, feed=feed, seq=len(builder.raw) + 1, prev=event_hash(builder.raw[-1]), ts=now + 1000,
                          body=transition.intent_body(state, decoded, intent, now + 1000))
        _, event = verify_next(builder.heads[-1], data)
        _expect(error, lambda event=event, decoded=decoded: transition.audit(state, event, decoded))
        refused.append({"name": name, "description": description, "check": "audit", "after_seq": len(builder.raw),
                        "error": error, "bytes_hex": data.hex()})

    example = _example_id("key")
    layouts = []
    for description, value in (("add_key", AddKey(example)), ("remove_key", RemoveKey(example))):
        data = encode(value)
        assert msgspec.msgpack.decode(data, type=Action) == value
        layouts.append({"group": "action", "kind": type(value).__struct_config__.tag, "description": description,
                        "decoded": plain(value), "bytes_hex": data.hex()})
    alice = key_for("alice").public
    return {
        "description": "A valid feed of the community Wrenfield (docs/protocol.md §13.2.4): Alice's account gains "
        "her laptop's and her tablet's keys (seeds key_for('alice laptop'), key_for('alice tablet')), pays with "
        "them and loses her phone's key, its first (her member id stays it); Bob adds and removes a laptop's key. "
        "Fields as in feed.json and personal.json; every device of a member signs from the member's one nonce "
        "space; digest takes apart the state before the checkpoint at seq 12, whose member entries list the "
        "further keys (§11.2); state_digest_hex is the state digest after the last event; current_keys_hex are "
        "each member's current keys after it, oldest first; refused are events a replica refuses after it "
        "(check audit, on the state after after_seq); layouts are one encoding of each new action (group "
        "action; the id is BLAKE2b-256 of 'tallystick layout example: key').",
        "feed_hex": feed.hex(),
        "events": builder.events,
        "intents": builder.intents,
        "boxes": builder.boxes,
        "digest": digest_example("wrenfield", builder, "devices.json before its checkpoint: Alice's entry with her "
                                 "tablet's key as its ninth element, Bob's with his laptop's", seq=checkpoint_seq - 1),
        "state_digest_hex": state_digest(state).hex(),
        "current_keys_hex": {name: [k.hex() for k in state.members[key_for(name).public].current_keys]
                             for name in ("alice", "bob")},
        "retired_keys_hex": {"alice": sorted(k.hex() for k in state.members[alice].retired_keys),
                             "bob": sorted(k.hex() for k in state.members[key_for("bob").public].retired_keys)},
        "final_balances": {name: state.accounts[key_for(name).public].balance_minor
                           for name in ("admin", "alice", "bob")},
        "refused": refused,
        "layouts": layouts,
    }



# ---- coop_shares.json: one member, one vote; interest under a cap; withdrawals suspended -------------


def build_coop_shares_feed() -> _FeedBuilder:
    """An eleventh community, Fenwick: Ada registers the Fenwick Bakery, a community benefit society
    whose Member shares (withdrawable at par 1.00) vote one member, one vote; Alice, Bob and Carol
    buy 1, 40 and 500 of them in an offer; a dividend of 54.10 passes by two holders against one
    (by shares it would be 41 against 500); the holders cap interest at 3 % a year, and a year later
    Ada pays 2.5 % for it; Carol asks to withdraw 100; the holders suspend withdrawals (solvency)
    before her notice runs, and lift the suspension a month later; her withdrawal, due meanwhile,
    waited, and is then paid."""
    public = {key: key_for(key).public for key in key_names}
    builder = _FeedBuilder()
    t = genesis_ts_ms
    day_ms = 24 * hour_ms

    def act(signer: str, ts: int, action: Action, description: str) -> None:  # this feed's key never rotates
        intent, record = builder.intent(signer, action, description)
        builder.append("node", ts, Act(intent=intent), description, record)

    builder.append("node", t, Genesis(
        name="Fenwick", unit_code="FEN", unit_decimals=2, debit_limit_minor=100_000, credit_ceiling_minor=100_000,
        signing_key=public["node"], recovery_key_hash=hash32(public["recovery"]), admin_key=public["admin"],
        admin_name="Ada", checkpoint_interval_events=limits.checkpoint_interval_events_max,
    ), "genesis: the community Fenwick, unit FEN", None)
    for index, name in enumerate(("alice", "bob", "carol"), start=1):
        act("admin", t + index * 1000, AdmitMember(member=public[name], name=name.title()),
                    f"Ada admits {name.title()}")
    member_shares = ShareClass("Member shares", "user", 1, 1, 100, True, False, None, True)
    act("admin", t + 4000, RegisterEnterpriseWithMemberVotes(
        name="Fenwick Bakery", classes=(member_shares,), notice_ms=30 * day_ms, member_vote_classes=(0,)),
        "Ada registers the Fenwick Bakery: Member shares, withdrawable at par 1.00 on 30 days' notice, "
        "one member, one vote")
    bakery = shares.enterprise_id(builder.feed, 5)
    act("admin", t + 5000, OpenOfferWithPeriod(bakery, 0, 100, 541, 1, 500, 0, open_for_ms=day_ms),
                "Ada offers 541 Member shares at par for a day")
    for index, (name, units) in enumerate((("alice", 1), ("bob", 40), ("carol", 500)), start=1):
        act(name, t + 5000 + index * 1000, Subscribe(6, units), f"{name.title()} subscribes {units}")
    now = t + 5000 + day_ms
    builder.append("node", now, shares.offer_closing_body(builder.states[-1], 6),
                   "the offer closes: allotted, 541.00 FEN to the Bakery", None)

    def holders_decide(ts: int, effect: Effect, votes: tuple[tuple[str, str], ...], title: str) -> int:
        decision = len(builder.raw) + 1
        act("bob", ts, ProposeWithPeriod(decision_type="proposal", title=title, text="", deadline_ms=0,
                                                 electorate=Holders(bakery), effect=effect, voting_period_ms=hour_ms),
                    f"Bob proposes to the Bakery's holders: {title}")
        for index, (name, position) in enumerate(votes, start=1):
            act(name, ts + index * 1000, Vote(decision, position), f"{name.title()} votes {position}")  # type: ignore[arg-type]
        body = decisions.closing_body(builder.states[-1], decision)
        assert body is not None
        builder.append("node", ts + hour_ms, body, f"the decision closes: {body.outcome}", None)
        return decision

    dividend = holders_decide(now + 1000, DeclareDividend(bakery, 5410),
                              (("alice", "agree"), ("bob", "agree"), ("carol", "disagree")),
                              "A dividend of 54.10 FEN")
    assert builder.states[-1].decisions[dividend].outcome == "passed"
    now += 2 * hour_ms
    holders_decide(now, SetInterestCap(bakery, 300), (("alice", "agree"), ("bob", "agree")),
                   "Interest on Member shares at most 3 % a year")
    cap_ts = now + hour_ms
    now = cap_ts + limits.year_ms
    act("admin", now, PayInterest(bakery, 0, 250, limits.year_ms),
                "Ada pays 2.5 % for the year since the cap passed: 0.02, 1.00 and 12.50 FEN")
    act("carol", now + 1000, WithdrawShares(bakery, 0, 100), "Carol asks to withdraw 100 Member shares")
    withdrawal = len(builder.raw)
    holders_decide(now + 2000, SuspendWithdrawals(bakery, "solvency"), (("alice", "agree"), ("bob", "agree")),
                   "Suspend withdrawals while the oven is replaced")
    now += 2000 + hour_ms + 31 * day_ms  # Carol's notice runs out while withdrawals are suspended: hers waits
    assert shares.due_withdrawals(builder.states[-1], now) == []
    holders_decide(now + 1000, ResumeWithdrawals(bakery), (("alice", "agree"), ("bob", "agree"), ("carol", "agree")),
                   "Resume withdrawals")
    due = builder.states[-1].shares.withdrawals[withdrawal].due_ms
    assert due < now and shares.due_withdrawals(builder.states[-1], now + 2 * hour_ms) == [withdrawal]
    builder.append("node", now + 2 * hour_ms, shares.withdrawal_body(builder.states[-1], withdrawal),
                   "withdrawals resumed, Carol's, due since the suspension, is paid: 100.00 FEN", None)
    builder.append("node", now + 2 * hour_ms + 1000, Checkpoint(state_hash=state_digest(builder.states[-1])),
                   "checkpoint: the Bakery's digest entry with the co-operative rules' five elements", None)
    return builder


def build_coop_shares_file() -> dict[str, Any]:
    builder = build_coop_shares_feed()
    check_documented_digest(builder)
    feed, node = builder.feed, key_for("node")
    bakery = shares.enterprise_id(feed, 5)
    withdrawal = next(seq for seq, w in builder.states[-1].shares.withdrawals.items())
    suspended_at = next(i for i, state in enumerate(builder.states) if state.shares.enterprises.get(bakery)
                        and state.shares.enterprises[bakery].suspended_by)
    refused: list[dict[str, Any]] = []
    for name, description, error, after, signer, action in (
        ("withdrawal_while_suspended", "Alice asks to withdraw while the holders' suspension stands",
         "withdrawals_suspended", suspended_at + 1, "alice", WithdrawShares(bakery, 0, 1)),
        ("interest_above_the_cap", "Ada pays 3.01 % a year, above the holders' 3 %", "interest_cap",
         len(builder.raw), "admin", PayInterest(bakery, 0, 301, 1000)),
        ("interest_not_yet_due", "Ada pays interest for more time than has passed since the last payment",
         "bad_interest", len(builder.raw), "admin", PayInterest(bakery, 0, 250, limits.year_ms)),
        ("interest_by_a_holder", "Bob, not the manager, pays interest", "not_manager", len(builder.raw), "bob",
         PayInterest(bakery, 0, 250, 1000)),
    ):
        state = builder.states[after - 1]
        ts = decode_event(builder.raw[after - 1]).ts + 1
        intent = sign_intent(key_for(signer), feed=feed, nonce=1_000, action=action)
        decoded = verify_intent(intent, feed=feed)
        data = sign_event(node, feed=feed, seq=after + 1, prev=event_hash(builder.raw[after - 1]), ts=ts,
                          body=transition.intent_body(state, decoded, intent, ts))
        _, event = verify_next(builder.heads[after - 1], data)
        _expect(error, lambda event=event, decoded=decoded, state=state: transition.audit(state, event, decoded))
        refused.append({"name": name, "description": description, "check": "audit", "after_seq": after,
                        "error": error, "bytes_hex": data.hex()})
    # A withdrawal_due appended while suspended: a replica refuses it (the pending withdrawal waits).
    state = builder.states[suspended_at]
    ts = decode_event(builder.raw[suspended_at]).ts + 30 * 24 * hour_ms
    data = sign_event(node, feed=feed, seq=suspended_at + 2, prev=event_hash(builder.raw[suspended_at]), ts=ts,
                      body=WithdrawalDue(withdrawal, "paid"))
    _, event = verify_next(builder.heads[suspended_at], data)
    _expect("withdrawals_suspended", lambda: transition.audit(state, event, None))
    refused.append({"name": "withdrawal_due_while_suspended", "description": "the node pays Carol's withdrawal, "
                    "due, while withdrawals are suspended", "check": "audit", "after_seq": suspended_at + 1,
                    "error": "withdrawals_suspended", "bytes_hex": data.hex()})

    example = _example_id("enterprise")
    member_shares = ShareClass("Member shares", "user", 1, 1, 100, True, False, None, True)
    layouts = []
    for group, union, description, value in (
        ("action", Action, "register_enterprise_member_votes: a members' class voting one member, one vote",
         RegisterEnterpriseWithMemberVotes(name="Bakery", classes=(member_shares,), member_vote_classes=(0,))),
        ("action", Action, "pay_interest: 2.5 % a year for a year on class 0", PayInterest(example, 0, 250,
                                                                                           limits.year_ms)),
        ("effect", Effect, "set_interest_cap: at most 3 % a year", SetInterestCap(example, 300)),
        ("effect", Effect, "suspend_withdrawals, for the society's solvency", SuspendWithdrawals(example, "solvency")),
        ("effect", Effect, "resume_withdrawals", ResumeWithdrawals(example)),
        ("action", Action, "propose_period: a holders' proposal to suspend withdrawals, open an hour",
         ProposeWithPeriod(decision_type="proposal", title="Suspend withdrawals", text="", deadline_ms=0,
                           electorate=Holders(example), effect=SuspendWithdrawals(example, "liquidity"),
                           voting_period_ms=hour_ms)),
    ):
        data = encode(value)
        assert msgspec.msgpack.decode(data, type=union) == value
        layouts.append({"group": group, "kind": type(value).__struct_config__.tag, "description": description,
                        "decoded": plain(value), "bytes_hex": data.hex()})
    state = builder.states[-1]
    dividend = next(d for d in state.decisions.values() if isinstance(d.effect, DeclareDividend))
    return {
        "description": "A valid feed of the community Fenwick (docs/shares.md 'Co-operative rules', docs/protocol.md "
        "§20): the Fenwick Bakery's Member shares vote one member, one vote, so Alice (1 share), Bob (40) and "
        "Carol (500) count as three and a dividend passes two to one; the holders cap interest at 3 % a year and Ada "
        "pays 2.5 % a year later; Carol's withdrawal waits through a suspension (reason solvency) and is paid once a "
        "decision lifts it. Fields as in feed.json; dividend_tally is that decision's count; digest takes apart the "
        "checkpoint's state (the enterprise entry with twelve elements, §11.4); refused are events a replica refuses "
        "(check audit, on the state after after_seq); layouts are one encoding of each new action and effect (ids "
        "BLAKE2b-256 of 'tallystick layout example: enterprise').",
        "feed_hex": feed.hex(),
        "events": builder.events,
        "intents": builder.intents,
        "dividend_tally": {"electorate": dividend.result.electorate, "agree": dividend.result.positions["agree"],
                           "disagree": dividend.result.positions["disagree"], "outcome": dividend.outcome},
        "digest": digest_example("fenwick", builder, "coop_shares.json before its checkpoint: the Fenwick Bakery's "
                                 "entry with member vote classes, interest cap and clock, no suspension",
                                 seq=len(builder.raw) - 1),
        "state_digest_hex": state_digest(state).hex(),
        "final_balances": {name: state.accounts[key_for(name).public].balance_minor
                           for name in ("admin", "alice", "bob", "carol")},
        "bakery_balance": state.accounts[bakery].balance_minor,
        "refused": refused,
        "layouts": layouts,
    }


if __name__ == "__main__":
    main()
