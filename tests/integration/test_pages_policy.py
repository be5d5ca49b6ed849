"""The pages under policies other than the default (issue 15): what each reader sees follows the
community's `Visibility`, not a rule of the pages' own.

How this works: a home made by `tally init`, served in-process by aiohttp's test server; members
are admitted and pay through signed intents, and pages are read unsigned (a stranger) or signed
(`Authorization: Tally …`, protocol/requests.py). A policy other than the default can only come
from the decision effect that sets it (built in parallel), so each test puts a state with that
policy in the node's sequencer (`State(visibility=Visibility(...))`, as the ledger's unit tests
build states) before reading; the default policy is tested end to end with real processes in
tests/pages/test_pages_visibility.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer
from tallystick.ledger.model import Visibility
from tallystick.node.app import Node, create_app, node_key
from tallystick.node.home import Home
from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.events import Action, AdmitMember, Transfer
from tallystick.protocol.ids import KeyPair, id_to_text
from tallystick.protocol.requests import sign_request

from helpers.nodes import init_home
from helpers.support import key_from_file, next_nonce

memo = "the rent for March"


@dataclass
class Served:
    client: TestClient
    node: Node
    admin: KeyPair
    ada: KeyPair
    bruno: KeyPair

    async def act(self, key: KeyPair, action: Action) -> None:
        intent = sign_member_intent(key, feed=self.node.feed, nonce=next_nonce(), action=action)
        answer = await self.client.post("/api/intents", data=intent, headers={"Content-Type": "application/msgpack"})
        assert answer.status == 201, await answer.text()

    def with_policy(self, **audiences: str) -> None:
        state = self.node.sequencer.state
        self.node.sequencer.state = msgspec.structs.replace(state, visibility=Visibility(**audiences))  # type: ignore[arg-type]

    async def page(self, path: str, key: KeyPair | None = None) -> tuple[int, str]:
        headers = {} if key is None else {"Authorization": sign_request(
            key, node=self.node.feed, method="GET", target=path, ts_ms=time.time_ns() // 1_000_000)}
        answer = await self.client.get(path, headers=headers)
        return answer.status, await answer.text()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    init_home(tmp_path / "home")
    home = Home(tmp_path / "home")
    app = create_app(home, home.config())
    async with TestClient(TestServer(app)) as client:
        found = Served(client, app[node_key], key_from_file(tmp_path / "home" / "admin.key"),
                       KeyPair.generate(), KeyPair.generate())
        await found.act(found.admin, AdmitMember(member=found.ada.public, name="Ada"))
        await found.act(found.admin, AdmitMember(member=found.bruno.public, name="Bruno"))
        await found.act(found.ada, Transfer(to=found.bruno.public, amount_minor=1234, memo=memo))
        yield found


async def test_with_names_and_balances_public_a_stranger_sees_them(served: Served) -> None:
    served.with_policy(names="public", balances="public")
    status, community = await served.page("/")
    assert status == 200
    assert "Ada" in community and "-12.34 HRS" in community and "Sign in to see members' names" not in community
    status, member = await served.page(f"/members/{id_to_text('m', served.ada.public)}")
    assert status == 200 and "-12.34 HRS" in member
    assert memo not in member  # history stays the member's and the admins'


async def test_with_names_for_admins_a_member_gets_a_404_for_another_and_sees_their_own(served: Served) -> None:
    served.with_policy(names="admins")
    ada, bruno = id_to_text("m", served.ada.public), id_to_text("m", served.bruno.public)
    for reference in (bruno, "Bruno", "Nobody"):
        status, page = await served.page(f"/members/{reference}", served.ada)
        assert status == 404 and "is visible to you" in page
        assert "Bruno" not in page.replace("<code>Bruno</code>", "")
    status, own = await served.page(f"/members/{ada}", served.ada)
    assert status == 200 and "-12.34 HRS" in own and memo in own
    status, community = await served.page("/", served.ada)
    assert status == 200 and 'class="members"' not in community
    assert "does not show members' names to you" in community
    status, admin_view = await served.page(f"/members/{bruno}", served.admin)
    assert status == 200 and "+12.34 HRS" in admin_view


async def test_with_history_for_members_another_member_reads_the_memo(served: Served) -> None:
    bruno = id_to_text("m", served.bruno.public)
    _, before = await served.page(f"/members/{id_to_text('m', served.ada.public)}", served.bruno)
    assert memo not in before  # the default: the member concerned (Bruno is the payee: his own history)
    served.with_policy(history="members")
    stranger_key = KeyPair.generate()  # signs, but is no member: a stranger still
    _, outsider = await served.page(f"/members/{bruno}", stranger_key)
    assert memo not in outsider
    admitted = KeyPair.generate()
    await served.act(served.admin, AdmitMember(member=admitted.public, name="Chiara"))
    served.with_policy(history="members")
    _, member = await served.page(f"/members/{id_to_text('m', served.ada.public)}", admitted)
    assert memo in member


async def test_with_the_log_for_members_the_activity_is_whole_for_a_member(served: Served) -> None:
    admitted = KeyPair.generate()
    await served.act(served.admin, AdmitMember(member=admitted.public, name="Chiara"))
    _, by_default = await served.page("/", admitted)
    assert memo not in by_default  # the log: admins; Chiara is party to nothing
    served.with_policy(log="members")
    _, with_log = await served.page("/", admitted)
    assert memo in with_log
    _, stranger = await served.page("/")
    assert memo not in stranger
