"""node/visible.py, the policy applied to the answers' shapes: pure, on states built by the domain's
own transitions, with the default policy and with others (a state with another `Visibility`, as a
SetVisibility decision would leave it). Hypothesis draws the policy and the reader."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tallystick.ledger.model import State, Visibility
from tallystick.ledger.visibility import Reader, kinds, reader_for_key, stranger
from tallystick.node.personal import DataKeys, Directory
from tallystick.node.visible import (
    NotVisibleError,
    Shown,
    decision_public_fields,
    hidden_line,
    name_for,
    payment_across_shown,
    require,
    resolve_member,
    sees,
    shape_decision,
)
from tallystick.protocol.errors import BadIdError
from tallystick.protocol.events import AdmitMember, RegisterEnterprise, ShareClass
from tallystick.protocol.ids import id_to_text

from helpers.ledger import Ledger, admin_key, key

alice, bob, outsider = key("alice"), key("bob"), key("outsider")

# The node's directory of opened texts: these states hold names in clear, so it has nothing to open.
directory = Directory(DataKeys(Path(":memory:"), None))


def community() -> State:
    ledger = Ledger()
    ledger.accept(admin_key, AdmitMember(member=alice.public, name="Alice"))
    ledger.accept(admin_key, AdmitMember(member=bob.public, name="Bob"))
    customer = ShareClass("Customer shares", "user", 1, 1, 100, True, False, 500, True)
    ledger.accept(alice, RegisterEnterprise("Bakery", (customer,)))
    return ledger.state


base = community()
audiences = st.sampled_from(["public", "members", "concerned", "admins"])
policies = st.builds(Visibility, names=audiences, balances=audiences, history=audiences, votes=audiences,
                     decisions=audiences, holdings=audiences, log=audiences)


def with_policy(policy: Visibility) -> State:
    return msgspec.structs.replace(base, visibility=policy)


def readers(state: State) -> dict[str, Reader]:
    return {"stranger": stranger, "outsider": Reader(key=outsider.public), "admin": reader_for_key(state, admin_key.public),
            "alice": reader_for_key(state, alice.public), "bob": reader_for_key(state, bob.public)}


def test_by_default_a_stranger_resolves_no_member_and_gets_the_unknown_name_error_word_for_word() -> None:
    with pytest.raises(BadIdError) as hidden:
        resolve_member(base, stranger, "Alice", directory)
    with pytest.raises(BadIdError) as unknown:
        resolve_member(base, stranger, "Nobody Here", directory)
    assert str(hidden.value).replace("'Alice'", "X") == str(unknown.value).replace("'Nobody Here'", "X")
    with pytest.raises(BadIdError) as by_id:
        resolve_member(base, stranger, id_to_text("m", alice.public), directory)
    assert "Alice" not in str(by_id.value)


def test_by_default_members_see_names_but_only_their_own_balance_and_the_admin_sees_every_one() -> None:
    who = readers(base)
    assert resolve_member(base, who["bob"], "Alice", directory) == alice.public
    assert not sees(base, who["bob"], "balances", alice.public)
    assert sees(base, who["alice"], "balances", alice.public)
    assert sees(base, who["admin"], "balances", alice.public) and sees(base, who["admin"], "history", bob.public)
    with pytest.raises(NotVisibleError, match="balances are visible to the member concerned and admins; give --key"):
        require(base, who["bob"], "balances", alice.public)
    with pytest.raises(NotVisibleError, match="the log of events is visible to admins"):
        require(base, who["alice"], "log")
    assert name_for(base, stranger, alice.public, directory) is None and name_for(base, who["bob"], alice.public, directory) == "Alice"


def test_a_public_names_policy_lets_a_stranger_resolve_a_member_but_not_see_their_balance() -> None:
    state = with_policy(Visibility(names="public"))
    assert resolve_member(state, stranger, "Alice", directory) == alice.public
    assert name_for(state, stranger, alice.public, directory) == "Alice"
    assert not sees(state, stranger, "balances", alice.public)


def test_names_for_admins_only_hide_one_member_from_another_but_never_from_themself() -> None:
    state = with_policy(Visibility(names="admins"))
    who = readers(state)
    with pytest.raises(BadIdError):
        resolve_member(state, who["bob"], "Alice", directory)
    assert resolve_member(state, who["alice"], "Alice", directory) == alice.public
    assert resolve_member(state, who["admin"], "Bob", directory) == bob.public


def test_balances_for_members_show_every_balance_to_a_member_but_none_to_a_removed_key() -> None:
    state = with_policy(Visibility(balances="members"))
    who = readers(state)
    assert sees(state, who["bob"], "balances", alice.public)
    assert not sees(state, who["outsider"], "balances", alice.public)


def test_the_communitys_own_accounts_are_public_whatever_the_policy() -> None:
    state = with_policy(Visibility(names="admins", balances="admins"))
    own = [member_id for member_id, member in state.members.items() if member.role not in ("member", "admin")]
    assert own, "the community has its own accounts (the Bakery's)"
    for member_id in own:
        assert sees(state, stranger, "balances", member_id)
        assert resolve_member(state, stranger, state.members[member_id].name, directory) == member_id


@given(policies, st.sampled_from(kinds), st.sampled_from(["stranger", "outsider", "admin", "alice", "bob"]))
def test_a_person_is_seen_only_with_their_name_and_always_by_themself_and_the_admin(
        policy: Visibility, kind: str, reader_name: str) -> None:
    state = with_policy(policy)
    reader = readers(state)[reader_name]
    seen = sees(state, reader, kind, alice.public)  # type: ignore[arg-type]
    if seen:
        assert sees(state, reader, "names", alice.public)
    if reader_name in ("alice", "admin"):
        assert seen
    if reader_name in ("stranger", "outsider") and seen:
        assert policy.names == "public" and getattr(policy, kind) == "public"


def _decision_document() -> dict:
    return {"id": 7, "type": "proposal", "title": "Paint the hall", "text": "Blue, we think", "proposer": "m_x",
            "opened_ms": 1, "deadline_ms": 2, "open": True, "time_left_ms": 1, "outcome": None, "closed_seq": None,
            "effect": None, "tally": {"electorate": 3}}


def test_a_stranger_sees_a_decisions_title_and_state_but_not_its_text_or_how_anyone_voted() -> None:
    shown = Shown()
    votes = [(alice.public, {"member": "a", "position": "agree"}), (bob.public, {"member": "b", "position": "object"})]
    document = shape_decision(base, stranger, _decision_document(), shown, votes)
    assert set(document) == decision_public_fields | {"votes"}
    assert document["votes"] == []
    assert shown.headers() == {"Tally-Hidden": "decisions,votes"}


def test_with_votes_for_admins_a_member_sees_their_own_vote_only() -> None:
    state = with_policy(Visibility(votes="admins"))
    votes = [(alice.public, {"position": "agree"}), (bob.public, {"position": "object"})]
    document = shape_decision(state, readers(state)["alice"], _decision_document(), Shown(), votes)
    assert document["votes"] == [{"position": "agree"}] and document["text"] == "Blue, we think"


def test_a_payment_across_is_shown_to_our_member_in_it_and_the_admin_not_to_the_other_members() -> None:
    own, other = "n_own", "n_other"
    row = {"from_community": own, "payer": id_to_text("m", alice.public), "to_community": other,
           "to_member": id_to_text("m", outsider.public), "memo": "apples"}
    who = readers(base)
    assert payment_across_shown(base, who["alice"], row, own, Shown())
    assert payment_across_shown(base, who["admin"], row, own, Shown())
    shown = Shown()
    assert not payment_across_shown(base, who["bob"], row, own, shown)
    assert not payment_across_shown(base, stranger, row, own, Shown())
    assert shown.headers() == {"Tally-Hidden": "history"}
    relayed = {**row, "from_community": "n_third"}
    assert not payment_across_shown(base, who["alice"], relayed, own, Shown())
    assert payment_across_shown(base, who["admin"], relayed, own, Shown())


@pytest.mark.parametrize("kind", kinds)
def test_every_kind_has_a_one_line_remedy(kind: str) -> None:
    line = hidden_line(kind, "admins")  # type: ignore[arg-type]
    assert "\n" not in line and "visible to admins" in line and "--key" in line
