"""The Credit Commons kinds in plain words (docs/creditcommons.md): the graft, a payment into the
tree, its settling or return, and a payment from the tree, as the pages' activity and a member's
history say them (node/pages/describe.py) and as the wallet's history names them (node/history.py
`statement_line`, worded by strings.js), in English and in Spanish, never as their tags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tallystick.ledger import payments
from tallystick.node.history import statement_line, statement_words
from tallystick.node.pages.describe import describe_change, describe_event
from tallystick.node.pages.language import use_language
from tallystick.node.personal import DataKeys, Directory
from tallystick.protocol.events import (
    AdmitMember,
    GraftTree,
    PayTree,
    TreeReceived,
    TreeReturned,
    TreeSettled,
)

from helpers.ledger import ClockedLedger, admin_key, key

ben_key = key("ben of riverside")
tree_tags = ("graft_tree", "pay_tree", "tree_settled", "tree_returned", "tree_received", "graft tree", "pay tree")
uuid_one = "3d8ebb9f-6a29-42cb-9d39-9ee0a6bf7f1c"


@pytest.fixture(scope="module", autouse=True)
def chromium_is_here() -> None:
    """No browser here: these words are read from the ledger's events alone."""


def words(parts: list[tuple[str, Any]]) -> str:
    return "".join(value["name"] if kind in ("member", "enterprise") else value for kind, value in parts)


def tree_story() -> tuple[ClockedLedger, dict[str, int]]:
    """Ben of a grafted community pays trunk/bob twice (one settled, one returned) and is paid by it."""
    ledger = ClockedLedger(debit_limit_minor=1000, credit_ceiling_minor=1000)
    ledger.accept(admin_key, AdmitMember(member=ben_key.public, name="Ben"))
    seqs = {"graft": ledger.accept(admin_key, GraftTree("trunk/riverside", "riverside", "graft", 1, 1, 5000, 5000)).seq}
    for name in ("settled", "returned", "held"):
        assert ledger.submit(ledger.sign(ben_key, PayTree("trunk/bob", 300))) is None
        seqs[f"pay_{name}"] = ledger.seq
    seqs["settled"] = ledger.audited(TreeSettled(seqs["pay_settled"], "h1")).seq
    seqs["returned"] = ledger.audited(TreeReturned(seqs["pay_returned"], "MaxLimitViolation")).seq
    seqs["received"] = ledger.audited(TreeReceived(uuid_one, "trunk/bob", ben_key.public, 125, 125, "h2")).seq
    return ledger, seqs


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_tree_kinds_are_said_in_plain_words_on_the_pages_never_as_tags(language: str) -> None:
    ledger, seqs = tree_story()
    directory = Directory(DataKeys(Path(":memory:"), None))
    use_language(language)
    try:
        lines = {name: words(describe_event(ledger.state, directory, seq, 0, ledger.events[seq - 2])["parts"])
                 for name, seq in seqs.items()}
        changes = {name: words(describe_change(ledger.state, directory, ben_key.public, seqs[name],
                                               ledger.events[seqs[name] - 2], change)["parts"])
                   for name, change in (("pay_settled", -300), ("pay_held", -300), ("returned", 300),
                                        ("received", 125))}
        tree_account = payments.tree_account_id(ledger.feed)
        on_the_tree_account = words(describe_change(ledger.state, directory, tree_account, seqs["received"],
                                                    ledger.events[seqs["received"] - 2], -125)["parts"])
    finally:
        use_language("en")
    for text in [*lines.values(), *changes.values(), on_the_tree_account]:
        assert "Credit Commons" in text and not any(tag in text for tag in tree_tags), text
    if language == "en":
        assert lines["graft"] == "Ada joined the community to a Credit Commons tree, as trunk/riverside"
        assert lines["pay_settled"] == "Ben sent 3.00 TST to trunk/bob in the Credit Commons tree"
        assert lines["settled"] == (f"The payment of event #{seqs['pay_settled']} into the Credit Commons tree "
                                    "arrived there: settled")
        assert lines["received"] == "Ben received 1.25 TST from trunk/bob in the Credit Commons tree"
        assert changes["pay_held"] == "Paid trunk/bob in the Credit Commons tree (held until it answers)"
        assert changes["pay_settled"] == "Paid trunk/bob in the Credit Commons tree"
        assert changes["received"] == "From trunk/bob in the Credit Commons tree"
        assert on_the_tree_account == "A payment from the Credit Commons tree to Ben"
    else:
        assert lines["pay_settled"] == "Ben envió 3,00 TST a trunk/bob en el árbol de Credit Commons"
        assert changes["returned"] == (f"El pago del evento n.º {seqs['pay_returned']} al árbol de Credit Commons "
                                       "volvió: fue rechazado")


def test_the_wallets_history_names_each_tree_payment_with_a_word_of_its_own() -> None:
    ledger, seqs = tree_story()
    directory = Directory(DataKeys(Path(":memory:"), None))
    said = {name: statement_line(ledger.state, directory, ben_key.public, ledger.events[seqs[name] - 2], change)
            for name, change in (("pay_settled", -300), ("returned", 300), ("received", 125))}
    assert {name: line.description for name, line in said.items()} == {
        "pay_settled": "payment to the tree", "returned": "payment to the tree returned",
        "received": "payment from the tree"}
    assert all(line.description in statement_words for line in said.values())
    strings = (Path(__file__).resolve().parents[2] / "node/wallet/static/strings.js").read_text()
    for line in said.values():  # each worded for the wallet (and so in its catalogue)
        assert f'"description.{line.description}": ' in strings


def test_the_tree_account_is_said_to_be_the_trees_counterpart_not_a_federations() -> None:
    from tallystick.node.pages.community import _system_account_words

    ledger, _ = tree_story()
    tree_account = payments.tree_account_id(ledger.feed)
    assert ledger.state.members[tree_account].role == "trade"
    assert _system_account_words(ledger.state, tree_account, "trade") == (
        "the other side of every payment between this community and the Credit Commons tree it is grafted onto")
