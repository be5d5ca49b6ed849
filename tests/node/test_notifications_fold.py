"""The notifications fold on the bytes of real signed events (node/notifications.py): a payment
across told to its payer when it settles or comes back, by the payment's id (the hash of its
`payment_sent` event, as ledger/payments.py names it); a payment across received told to its
payee; and folding the same events again after a restart (the file opened anew) writes nothing
twice. The integration tests cover every other kind on a real node; a payment across needs a
federation of two, which these bytes stand for."""

from __future__ import annotations

from pathlib import Path

from tallystick.ledger.model import initial_state
from tallystick.ledger.payments import payment_id
from tallystick.node.notifications import NotificationStore, notices_of_event
from tallystick.protocol.codec import decode_event
from tallystick.protocol.federation import PaymentAccepted, PaymentOut, PaymentReturned, PaymentSettled
from tallystick.protocol.ids import hash32

from helpers.federation import Community

payer, payee = hash32(b"payer"), hash32(b"payee")


def sent(community: Community, amount_minor: int) -> bytes:
    return community.append(PaymentOut(federation=hash32(b"valley"), to_community=hash32(b"hill"), to_member=payee,
                                       payer=payer, amount_minor=amount_minor, expires_ms=community.ts + 60_000,
                                       memo="", intent=b"\x90"))


def test_a_payment_across_is_known_by_the_hash_of_its_bytes_and_its_answers_name_it() -> None:
    community = Community("River")
    state = initial_state(community.id, decode_event(community.events[0]).body)
    raw = sent(community, 700)
    drafts, across = notices_of_event(state, 2, raw)
    assert drafts == [] and across == (payment_id(decode_event(raw)), payer, 700)
    settled = community.append(PaymentSettled(payment=across[0], acceptance=hash32(b"acceptance")))
    (draft,), _ = notices_of_event(state, 3, settled)
    assert (draft.member, draft.kind, draft.ref) == (None, "payment_across_settled", across[0].hex())
    accepted = community.append(PaymentAccepted(payment=hash32(b"theirs"), from_community=hash32(b"hill"),
                                                amount_minor=300, federation=hash32(b"valley"), to_member=payee))
    (draft,), _ = notices_of_event(state, 4, accepted)
    assert (draft.member, draft.kind, draft.ref, draft.amount_minor) == (payee, "payment_received", "across", 300)


async def test_the_payer_is_told_once_even_when_the_same_events_are_folded_again_after_a_restart(tmp_path: Path) -> None:
    community = Community("River")
    state = initial_state(community.id, decode_event(community.events[0]).body)
    first, second = sent(community, 700), sent(community, 900)
    settled = community.append(PaymentSettled(payment=hash32(first), acceptance=hash32(b"a")))
    returned = community.append(PaymentReturned(payment=hash32(second), rejection=hash32(b"r")))
    events = [(2, first), (3, second), (4, settled), (5, returned)]
    path = tmp_path / "notifications.db"
    store = await NotificationStore.open(path)
    await store.start_cursor(community.id, 1)
    assert await store.fold(state, None, community.id, events, 1_000) == 2
    await store.close()
    store = await NotificationStore.open(path)  # a restart: the same events come again
    assert await store.cursor(community.id) == 5
    assert await store.fold(state, None, community.id, events, 2_000) == 0
    notices, _, unread = await store.inbox(payer, None, 10)
    await store.close()
    assert [(n.kind, n.amount_minor) for n in notices] == [("payment_across_returned", 900),
                                                           ("payment_across_settled", 700)]
    assert unread == 2
