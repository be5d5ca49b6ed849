"""The wallet's Decide builders (intents.js: propose, propose_period, vote, delegate, undelegate and
the effects) reproduce the protocol's vectors byte for byte, run in Chromium: decisions.json's
signed proposals and votes (texts in clear, as written before §19), personal.json's poll and
admission proposals (every text opened under the vector's salts as sent, and committed as logged,
with the same signature), and layouts.json's encodings of each action, effect and electorate the
builders make. Signatures use the vectors' seeds through the wallet's own PKCS8 import: Ed25519 is
deterministic, so every signature must match."""

from __future__ import annotations

from typing import Any

import pytest

from helpers.nodes import NodeProcess

from .test_codec import seed_hex, vector


@pytest.fixture
def page(phone: Any, wallet_node: NodeProcess) -> Any:
    """A page of the node's origin that runs no wallet code of its own (the 404 page)."""
    phone.page.goto(wallet_node.url + "/wallet/codec", wait_until="load")
    return phone.page

# In the page: a vector's decoded action rebuilt with the wallet's own builders. `text` takes a
# text in clear or opened (its text); the builders wrap it as a Personal, and `clear` puts the text
# back in clear for the vectors written before §19.
prelude = """
const [msgpack, intents, keys, bytes] = await Promise.all([
  import("/wallet/static/msgpack.js"), import("/wallet/static/intents.js"), import("/wallet/static/keys.js"),
  import("/wallet/static/bytes.js")]);
const hex = bytes.fromHex;
const text = (t) => (typeof t === "string" ? t : t.text);
const electorate = (e) => (e.kind === "members" ? intents.membersElectorate() : intents.holdersElectorate(hex(e.enterprise)));
const effect = (e) => {
  if (e === null) return null;
  switch (e.kind) {
    case "admit": return intents.admitEffect(hex(e.member), text(e.name), e.role);
    case "remove": return intents.removeEffect(hex(e.member));
    case "set_limits": return intents.setLimitsEffect(hex(e.account), e.debit_limit_minor, e.credit_ceiling_minor);
    case "set_default_limits": return intents.setDefaultLimitsEffect(e.debit_limit_minor, e.credit_ceiling_minor);
    case "recover_key": return intents.recoverKeyEffect(hex(e.member), hex(e.new_key));
    case "set_rules": return intents.setRulesEffect(e.admission, e.quorum_bp, e.threshold_bp);
    case "set_levy": return intents.setLevyEffect(e.rate_bp, e.min_minor, e.max_minor);
    case "treasury_pay": return intents.treasuryPayEffect(hex(e.to), e.amount_minor, text(e.memo));
    case "set_floors": return intents.setFloorsEffect(
      e.floors.map((f) => [f.decision_class, f.quorum_bp, f.threshold_bp, f.period_ms]));
    case "declare_dividend": return intents.declareDividendEffect(hex(e.enterprise), e.amount_minor);
    case "set_withdrawal_rule": return intents.setWithdrawalRuleEffect(hex(e.enterprise), e.notice_ms, e.yearly_cap_minor);
    case "set_visibility": return intents.setVisibilityEffect(e);
    case "invite": return intents.inviteEffect(hex(e.invitation), e.expires_ms, e.role, e.debit_limit_minor,
      e.credit_ceiling_minor);
    default: throw new Error(`no builder for the effect ${e.kind}`);
  }
};
const build = (a) => {
  switch (a.kind) {
    case "propose": case "propose_period": {
      const fields = { decisionType: a.decision_type, title: text(a.title), text: text(a.text), topic: a.topic,
        options: a.options.map(text), multiple: a.multiple, ranked: a.ranked, quorumBp: a.quorum_bp,
        thresholdBp: a.threshold_bp, electorate: electorate(a.electorate), effect: effect(a.effect),
        deadlineMs: a.deadline_ms, votingPeriodMs: a.voting_period_ms };
      return a.kind === "propose" ? intents.propose(fields) : intents.proposePeriod(fields);
    }
    case "vote": return intents.vote(a.decision, a.position, a.options);
    case "delegate": return intents.delegate(hex(a.to), a.topic);
    case "undelegate": return intents.undelegate(a.topic);
    default: return effect(a);
  }
};
const clear = (v) => (v instanceof intents.Personal ? v.text : Array.isArray(v) ? v.map(clear) : v);
// The salts of a sent action's opened texts, in the order of its fields (the order openAction draws them).
const salts = (v, out = []) => {
  if (v !== null && typeof v === "object") {
    if (v.kind === "opened") out.push(hex(v.salt));
    else Object.values(v).forEach((item) => salts(item, out));
  }
  return out;
};
const signWith = async (seedHex, feed, nonce, action) => {
  const pair = await keys.importSeed(hex(seedHex));
  return bytes.hex(await intents.signIntent({ privateKey: pair.privateKey, key: pair.publicKey, feed: hex(feed),
    nonce: BigInt(nonce), action }));
};
"""


def in_page(page: Any, body: str, argument: Any = None) -> Any:
    return page.evaluate(f"async (argument) => {{ {prelude} {body} }}", argument)


decide_kinds = {"propose", "propose_period", "vote", "delegate", "undelegate"}


def test_the_proposals_and_votes_of_decisions_json_sign_to_their_exact_bytes(page: Any) -> None:
    cases = [{"seed": seed_hex(intent["signed_by"]), "decoded": intent["decoded"], "expected": intent["bytes_hex"]}
             for intent in vector("decisions")["intents"] if intent["decoded"]["action"]["kind"] in decide_kinds]
    assert {case["decoded"]["action"]["kind"] for case in cases} == {"propose", "propose_period", "vote"}
    assert len(cases) == 14
    results = in_page(page, """
      const out = [];
      for (const c of argument) out.push(await signWith(c.seed, c.decoded.feed, c.decoded.nonce, clear(build(c.decoded.action))));
      return out;""", cases)
    assert results == [case["expected"] for case in cases]


def test_a_poll_and_an_admission_proposal_open_every_text_as_sent_and_sign_the_committed_form(page: Any) -> None:
    cases = [{"seed": seed_hex(intent["signed_by"]), "decoded": intent["decoded"], "sent": intent["sent_decoded"],
              "logged": intent["bytes_hex"], "sent_hex": intent["sent_bytes_hex"]}
             for intent in vector("personal")["intents"] if intent["decoded"]["action"]["kind"] in decide_kinds]
    assert [case["sent"]["action"]["decision_type"] for case in cases] == ["poll", "proposal"]
    results = in_page(page, """
      const out = [];
      for (const c of argument) {
        const drawn = salts(c.sent.action);
        const opened = intents.openAction(build(c.sent.action), () => drawn.shift());
        out.push({ sent: await signWith(c.seed, c.decoded.feed, c.decoded.nonce, opened),
                   logged: await signWith(c.seed, c.decoded.feed, c.decoded.nonce, intents.committedAction(opened)),
                   left: drawn.length });
      }
      return out;""", cases)
    for case, result in zip(cases, results, strict=True):
        assert result == {"sent": case["sent_hex"], "logged": case["logged"], "left": 0}


def test_each_action_effect_and_electorate_the_builders_make_encodes_as_layouts_json(page: Any) -> None:
    built = {"propose", "propose_period", "vote", "delegate", "undelegate", "admit", "remove", "set_limits",
             "set_default_limits", "recover_key", "set_rules", "set_levy", "treasury_pay", "set_floors",
             "declare_dividend", "set_withdrawal_rule", "set_visibility"}
    examples = [example for example in vector("layouts")["examples"]
                if (example["group"] == "action" and example["kind"] in decide_kinds)
                or (example["group"] in ("effect", "electorate") and example["kind"] in built | {"members", "holders"})]
    assert len(examples) == 10 + 12 + 2  # the actions, every effect but a federation act, both electorates
    results = in_page(page, """
      return argument.map((x) => {
        const value = x.group === "electorate" ? electorate(x.decoded) : clear(build(x.decoded));
        return bytes.hex(msgpack.encode(value));
      });""", examples)
    for example, result in zip(examples, results, strict=True):
        assert result == example["bytes_hex"], (example["group"], example["kind"], example["description"])


def test_an_invitation_by_decision_encodes_as_invitations_json_alone_and_in_its_proposal(page: Any) -> None:
    examples = [example for example in vector("invitations")["layouts"]
                if example["group"] == "effect" or example["kind"] == "propose_period"]
    assert [example["kind"] for example in examples] == ["invite", "propose_period"]
    results = in_page(page, """
      return argument.map((x) => bytes.hex(msgpack.encode(clear(build(x.decoded)))));""", examples)
    assert results == [example["bytes_hex"] for example in examples]


def test_an_empty_text_stays_a_string_and_every_other_text_of_a_proposal_is_opened_under_its_own_salt(page: Any) -> None:
    result = in_page(page, """
      const action = intents.openAction(intents.proposePeriod({ decisionType: "poll", title: "Market day", text: "",
        options: ["Tuesday", "Saturday"], votingPeriodMs: 3600000 }));
      const opened = [action[2], action[6][0], action[6][1]];
      return { text: action[3], kinds: opened.map((o) => o instanceof intents.Opened),
               distinct: new Set(opened.map((o) => bytes.hex(o.salt))).size, last: action[13], deadline: action[4] };""")
    assert result == {"text": "", "kinds": [True, True, True], "distinct": 3, "last": 3600000, "deadline": 0}
