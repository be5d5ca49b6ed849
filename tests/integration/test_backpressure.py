"""Past `pending_intents_max` the API answers 503 busy with Retry-After, and loses nothing it accepted.

The node runs with "pending_intents_max": 1 in its config.json; several members each post a stream
of signed payments, all at once: the flood must meet at least one 503, and every 201 must be in the log.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from tallystick.protocol import limits
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import Transfer

from helpers.nodes import NodeProcess
from helpers.support import next_nonce

payers = 8
# Per payer: at most the node's nonce window, so every intent is valid whatever order it arrives in.
intents_per_payer = 25


@dataclass
class Flood:
    accepted: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)
    busy: list[tuple[dict[str, Any], dict[str, str], bytes]] = field(default_factory=list)
    other: list[tuple[int, bytes]] = field(default_factory=list)


async def flood(node: NodeProcess, streams: list[list[bytes]]) -> Flood:
    """Every stream posts its intents one after another; all streams at once."""
    result = Flood()

    async def post(session: aiohttp.ClientSession, intent: bytes) -> None:
        async with session.post(
            node.url + "/api/intents", data=intent, headers={"Content-Type": "application/msgpack"}
        ) as response:
            body = await response.read()
            if response.status == 201:
                result.accepted.append((await response.json(), intent))
            elif response.status == 503:
                result.busy.append((await response.json(content_type=None), dict(response.headers), intent))
            else:
                result.other.append((response.status, body))

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:

        async def stream(intents: list[bytes]) -> None:
            for intent in intents:
                await post(session, intent)

        await asyncio.gather(*(stream(intents) for intents in streams))
    return result


@pytest.fixture(scope="module")
def flooded(make_node: Any) -> tuple[NodeProcess, Flood]:
    node = make_node(config={"pending_intents_max": 1})
    members = [node.admit(f"payer {index}") for index in range(payers)]
    payee = node.admit("payee", credit_ceiling_minor=10**9)
    streams = [
        [
            sign_member_intent(
                member, feed=node.feed, nonce=next_nonce(), action=Transfer(to=payee.public, amount_minor=1)
            )
            for _ in range(intents_per_payer)
        ]
        for member in members
    ]
    return node, asyncio.run(flood(node, streams))


def test_a_flood_past_the_pending_limit_meets_503_busy_with_retry_after(
    flooded: tuple[NodeProcess, Flood],
) -> None:
    _, result = flooded
    assert result.other == []
    assert result.busy, f"no 503 in {len(result.accepted)} answers"
    for document, headers, _ in result.busy:
        assert document["error"] == "busy" and document["message"], document
        assert headers.get("Retry-After") == str(limits.retry_after_seconds)


def test_every_intent_accepted_during_a_flood_is_in_the_log(flooded: tuple[NodeProcess, Flood]) -> None:
    node, result = flooded
    assert result.accepted
    by_seq = {event["seq"]: event for event in node.log()}
    for appended, intent in result.accepted:
        event = by_seq[appended["seq"]]
        assert event["hash"] == appended["hash"]
        assert event["body"]["intent"]["sig"] == intent[-64:].hex()


def test_intents_refused_as_busy_change_nothing(flooded: tuple[NodeProcess, Flood]) -> None:
    node, result = flooded
    payee = node.get("/api/balances?account=payee")[0]
    assert payee["balance"] == len(result.accepted)  # one minor unit per accepted payment, none per 503
    assert sum(row["balance"] for row in node.get("/api/balances")) == 0


def test_an_intent_refused_as_busy_is_accepted_when_sent_again_after_retry_after(
    flooded: tuple[NodeProcess, Flood],
) -> None:
    node, result = flooded
    _, headers, intent = result.busy[0]
    time.sleep(int(headers["Retry-After"]))
    answer = node.post_intent(
        intent
    )  # the very same signed bytes: a 503 consumed nothing, not even the nonce
    assert answer.status == 201, answer.body
    assert (
        node.get(f"/api/log?from={answer.json()['seq']}&limit=1")["events"][0]["body"]["intent"]["sig"]
        == intent[-64:].hex()
    )
