"""Calling the trunkward Credit Commons node: relay, change state, read accounts, resolve a lost answer.

How this works: every call carries `cc-node` (this leaf's name, as the trunkward node knows it) and
`last-hash` (the chain's last hash, which the caller keeps: the client holds no state). A call ends in
one of four outcomes, and only `Accepted` moves the chain:

    Accepted      201: the trunkward node wrote the version; the chain's next hash is returned
    Refused       a 4xx with the API's error class: nothing was written there; the caller returns
    Diverged      401 HashMismatchFailure: the two chains differ (an answer lost earlier); resolve
    Unanswered    no answer, a 5xx, or a body that is not the API's: unknown; hold, then resolve

`resolve` finds out from the chain alone whether a version the trunkward node never answered was
written there: a read with the hash it would have made (`candidate`) succeeds only if it was, a read
with the old hash only if it was not. So a payment held while the other side is down is settled or
returned exactly once, whatever was lost on the wire, with no route beyond the API.
"""

from __future__ import annotations

import aiohttp

from . import chain, wire
from .outcomes import Accepted, Diverged, Outcome, Refused, Resolution, Unanswered

request_timeout_seconds = 10.0  # a trunkward node relays on to other nodes before it answers
answer_bytes_max = wire.body_bytes_max

__all__ = ["Accepted", "Diverged", "Outcome", "Refused", "Resolution", "Trunkward", "Unanswered"]


class Trunkward:
    """The community's account with its trunkward node, as an HTTP client."""

    def __init__(self, session: aiohttp.ClientSession, url: str, leaf_name: str) -> None:
        self.session, self.url, self.leaf_name = session, url.rstrip("/"), leaf_name

    async def _call(self, method: str, path: str, last_hash: str, body: bytes | None = None
                    ) -> tuple[int, bytes] | Unanswered:
        headers = {"cc-node": self.leaf_name, "last-hash": last_hash, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self.session.request(method, f"{self.url}/{path}", data=body, headers=headers,
                                            timeout=aiohttp.ClientTimeout(total=request_timeout_seconds),
                                            allow_redirects=False) as answer:
                raw = await answer.content.read(answer_bytes_max + 1)
                if len(raw) > answer_bytes_max:
                    return Unanswered(f"the trunkward node answered more than {answer_bytes_max} bytes")
                return answer.status, raw
        except (TimeoutError, aiohttp.ClientError) as error:
            return Unanswered(f"the trunkward node did not answer ({type(error).__name__})")

    @staticmethod
    def _failed(status: int, raw: bytes) -> Outcome:
        error_class, message = wire.error_of(raw)
        if error_class == "HashMismatchFailure":
            return Diverged(message or "the trunkward node's chain differs from ours")
        if 400 <= status < 500:
            return Refused(status, error_class, message or f"the trunkward node refused with {status}")
        return Unanswered(f"the trunkward node answered {status}")

    async def relay(self, last_hash: str, transaction: wire.Transaction) -> Outcome:
        """Relay a new transaction, created straight into `completed` (docs/creditcommons.md, "Workflow")."""
        answer = await self._call("POST", "transaction/relay", last_hash, wire.encode(transaction))
        if isinstance(answer, Unanswered):
            return answer
        status, raw = answer
        if status != 201:
            return self._failed(status, raw)
        try:
            relayed = wire.decode_relay_answer(raw)
        except wire.BodyError as error:
            return Unanswered(str(error))
        written = chain.next_hash(last_hash, transaction.uuid, "completed", wire.shared_entries(transaction), 1)
        return Accepted(written, relayed.data)

    async def change_state(self, last_hash: str, transaction: wire.Transaction, version: int, state: str) -> Outcome:
        """Ask the trunkward node to move a transaction it holds to `state`, as version `version`."""
        answer = await self._call("PATCH", f"transaction/{transaction.uuid}/{state}", last_hash)
        if isinstance(answer, Unanswered):
            return answer
        status, raw = answer
        if status not in (200, 201):
            return self._failed(status, raw)
        return Accepted(chain.next_hash(last_hash, transaction.uuid, state, wire.shared_entries(transaction), version))

    async def read(self, last_hash: str, path: str) -> tuple[int, bytes] | Unanswered:
        """A read (`handshake`, `account/summary?acc_path=...`, ...): the status and the body."""
        return await self._call("GET", path, last_hash)

    async def resolve(self, last_hash: str, candidate: str) -> Resolution:
        """Whether the version whose hash would be `candidate` was written on the trunkward node."""
        for hash_, found in ((candidate, "written"), (last_hash, "not_written")):
            answer = await self.read(hash_, "handshake")
            if isinstance(answer, Unanswered):
                return "unanswered"
            if answer[0] == 200:
                return found  # type: ignore[return-value]
        return "diverged"
