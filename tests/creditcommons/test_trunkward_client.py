"""Tallystick's client of the trunkward node, against the independent peer process: a relay is
accepted, refused or unanswered, and a lost answer is resolved from the chain alone, exactly once."""

from __future__ import annotations

import aiohttp
from tallystick.federation.creditcommons import rules, wire
from tallystick.federation.creditcommons.chain import next_hash
from tallystick.federation.creditcommons.client import Accepted, Diverged, Refused, Trunkward, Unanswered
from tallystick.federation.creditcommons.driver import drive

from helpers.support import http

from .conftest import PeerProcess


def transaction(uuid: str, quant: int, payee: str = "trunk/bob") -> wire.Transaction:
    return wire.Transaction(uuid=uuid, entries=(wire.Entry(payer="trunk/riverside/m_alice", payee=payee,
                                                           quant=quant, description="bread"),))


def peer_state(peer: PeerProcess) -> tuple[dict, str]:
    return http("GET", peer.url + "/admin/balances").json(), http("GET", peer.url + "/admin/chain").json()["last_hash"]


def uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


async def test_a_relay_is_answered_once_even_when_the_answer_or_the_peer_is_lost(peer: PeerProcess) -> None:
    async with aiohttp.ClientSession() as session:
        trunk = Trunkward(session, peer.url, "riverside")
        last = "graft"

        # Accepted: written there, and both chains agree on the next hash.
        outcome = await trunk.relay(last, transaction(uuid(1), 250))
        assert isinstance(outcome, Accepted) and outcome.additional == ()
        last = outcome.last_hash
        assert peer_state(peer) == ({"bob": 250, "carol": 0, "riverside": -250}, last)

        # Refused by the other side's rules: nothing written there, the chain unchanged.
        outcome = await trunk.relay(last, transaction(uuid(2), 400, payee="trunk/carol"))
        assert isinstance(outcome, Refused) and outcome.error_class == "MaxLimitViolation"
        assert peer_state(peer) == ({"bob": 250, "carol": 0, "riverside": -250}, last)

        # A stale hash: the chains differ, which is not a refusal (resolve before returning anything).
        assert isinstance(await trunk.relay("stale", transaction(uuid(3), 5)), Diverged)

        # The other side is down: unanswered, and after it comes back the chain says it wrote nothing,
        # so the same transaction is relayed again, once.
        peer.kill()
        held = transaction(uuid(4), 100)
        assert isinstance(await trunk.relay(last, held), Unanswered)
        peer.start()
        candidate = next_hash(last, held.uuid, "completed", wire.shared_entries(held), 1)
        assert await trunk.resolve(last, candidate) == "not_written"
        outcome = await trunk.relay(last, held)
        assert isinstance(outcome, Accepted) and outcome.last_hash == candidate
        last = outcome.last_hash
        assert peer_state(peer) == ({"bob": 350, "carol": 0, "riverside": -350}, last)

        # The answer is lost after the other side wrote it (the request went out; we never read the
        # answer): the chain says it was written, so it is settled, never relayed twice.
        lost = transaction(uuid(5), 50)
        answer = http("POST", peer.url + "/transaction/relay", wire.encode(lost), "application/json",
                      headers={"cc-node": "riverside", "last-hash": last})
        assert answer.status == 201
        candidate = next_hash(last, lost.uuid, "completed", wire.shared_entries(lost), 1)
        assert await trunk.resolve(last, candidate) == "written"
        last = candidate
        assert peer_state(peer) == ({"bob": 400, "carol": 0, "riverside": -400}, last)

        # A state change: the first transaction erased there, version 2 of it, and the chain follows.
        outcome = await trunk.change_state(last, transaction(uuid(1), 250), 2, "erased")
        assert isinstance(outcome, Accepted)
        last = outcome.last_hash
        assert peer_state(peer) == ({"bob": 150, "carol": 0, "riverside": -150}, last)

        # Reads with the chain: the summary of an account there.
        status, body = await trunk.read(last, "account/summary?acc_path=trunk/bob")
        assert status == 200 and b'"balance": 150' in body


async def test_a_held_payment_is_driven_to_settled_or_returned_once_across_the_peers_restart(peer: PeerProcess) -> None:
    async with aiohttp.ClientSession() as session:
        trunk = Trunkward(session, peer.url, "riverside")
        refused = await drive(trunk, "graft", transaction(uuid(1), 400, payee="trunk/carol"), unanswered_before=False)
        assert isinstance(refused, rules.Return) and refused.api_class == "MaxLimitViolation"
        peer.kill()
        held = transaction(uuid(2), 100)
        step = await drive(trunk, "graft", held, unanswered_before=False)
        assert isinstance(step, rules.Hold) and step.resolve
        assert isinstance(await drive(trunk, "graft", held, unanswered_before=True), rules.Hold)  # still down
        peer.start()
        settled = await drive(trunk, "graft", held, unanswered_before=True)
        assert isinstance(settled, rules.Settle)
        assert peer_state(peer) == ({"bob": 100, "carol": 0, "riverside": -100}, settled.last_hash)
        # The same pass again, as after a crash before the settlement was appended: the same settlement
        # (appended once, since the ledger holds the payment once), and nothing paid twice there.
        assert await drive(trunk, "graft", held, unanswered_before=True) == settled
        # A relay of it again, as if a pass forgot it went out: the tree's duplicate is no refusal.
        again = await drive(trunk, settled.last_hash, held, unanswered_before=False)
        assert isinstance(again, rules.Hold) and again.resolve
        assert peer_state(peer) == ({"bob": 100, "carol": 0, "riverside": -100}, settled.last_hash)
