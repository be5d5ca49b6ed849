// The intents the wallet signs (docs/protocol.md §4, §6, §19; docs/api.md §3).
//
// How this works: an action is an array, its tag first, then its fields in the order of §4.2. A
// personal field (a join's name, a transfer's memo) is built as `new Personal(text)`; before
// signing, `openAction` replaces each non-empty one by an `Opened` text under a fresh random
// 16-byte salt (an empty memo stays the string ""). The member signs the committed form: the same
// intent with every opened text replaced by `["committed", digest]` (§19.3), under the intent
// namespace (§6). What is sent is the opened form with that same signature: the node rebuilds the
// committed form, checks the signature over it, seals the texts and logs the committed form.
import { concat, utf8 } from "./bytes.js";
import { encode } from "./msgpack.js";
import { personalDigest, saltBytes } from "./hashing.js";
import { base64 } from "./ids.js";
import { sign } from "./keys.js";
import * as store from "./store.js";

export const protocolVersion = 1;
export const intentNamespace = utf8("tallystick/intent/v1\n");
export const intentBytesMax = 4096;
// The bounds of §4.1 the wallet checks before asking the node (the node checks them again).
export const nameCharsMax = 64;
export const memoCharsMax = 280;
export const amountMinorMax = 10n ** 15n;
const int64Max = 2n ** 63n - 1n;

// A personal text as typed, not yet opened: never encoded (opening it is required).
export class Personal {
  constructor(text) {
    this.text = text;
  }

  msgpack() {
    throw new Error("a personal text must be opened before it is encoded");
  }
}

export class Opened {
  constructor(salt, text) {
    if (salt.length !== saltBytes) throw new Error("a salt is 16 bytes");
    this.salt = salt;
    this.text = text;
  }

  msgpack() {
    return ["opened", this.salt, this.text];
  }

  committed() {
    return new Committed(personalDigest(this.salt, this.text));
  }
}

export class Committed {
  constructor(digest) {
    this.digest = digest;
  }

  msgpack() {
    return ["committed", this.digest];
  }
}

export function freshSalt() {
  return crypto.getRandomValues(new Uint8Array(saltBytes));
}

// ---- the actions of §4.2 the wallet uses ----

export function join(member, name) {
  return ["join", member, new Personal(name)];
}

export function transfer(to, amountMinor, memo = "") {
  return ["transfer", to, amountMinor, new Personal(memo)];
}

function mapDeep(value, change) {
  const changed = change(value);
  if (changed !== value) return changed;
  return Array.isArray(value) ? value.map((item) => mapDeep(item, change)) : value;
}

// Every non-empty personal text opened under its own fresh salt; an empty one stays "".
export function openAction(action, saltFor = freshSalt) {
  return mapDeep(action, (value) => {
    if (!(value instanceof Personal)) return value;
    return value.text === "" ? "" : new Opened(saltFor(), value.text);
  });
}

export function committedAction(action) {
  return mapDeep(action, (value) => (value instanceof Opened ? value.committed() : value));
}

// The signed intent's bytes as sent: `action` as given (opened texts stay opened), signed over its
// committed form. `key` is the signer's public key (32 bytes), `privateKey` its CryptoKey.
export async function signIntent({ privateKey, key, feed, nonce, action }) {
  const unsigned = [protocolVersion, feed, key, BigInt(nonce), committedAction(action)];
  const signature = await sign(privateKey, concat(intentNamespace, encode(unsigned)));
  const sent = encode([protocolVersion, feed, key, BigInt(nonce), action, signature]);
  if (sent.length > intentBytesMax) throw new Error("too_large");
  return sent;
}

// What a member's client sends: every personal text opened, then signed (sign_member_intent).
export function signMemberIntent({ privateKey, key, feed, nonce, action }) {
  return signIntent({ privateKey, key, feed, nonce, action: openAction(action) });
}

// The body of POST /api/intents (docs/api.md §3).
export function intentJson(bytes) {
  return JSON.stringify({ intent: base64(bytes) });
}

// A nonce as `tally` picks one: the clock in nanoseconds, and above the last one this device used
// (kept in IndexedDB), so two intents signed in the same millisecond, or after the clock stepped
// back, still differ. Read and written in one transaction, so two tabs never share one.
export async function nextNonce() {
  const clock = BigInt(Date.now()) * 1000000n;
  const next = await store.update("nonce", (last) => {
    const previous = last === undefined ? -1n : BigInt(last);
    return (clock > previous ? clock : previous + 1n).toString();
  });
  const nonce = BigInt(next);
  if (nonce > int64Max) throw new Error("the nonce ran past int64");
  return nonce;
}

// ---- community shares (docs/shares.md; protocol.md §4.2): the Own screens ----
// Ids are the 32 bytes of an `e_…` or `m_…` id; an offer and an order are the seq of the event that
// opened them; units and prices are integers (a Number or a BigInt; prices in minor units).
export const shareUnitsMax = 10n ** 12n;
export const sides = ["buy", "sell"];

export function subscribe(offer, units) {
  return ["subscribe", BigInt(offer), BigInt(units)];
}

export function placeOrder(enterprise, shareClass, side, units, priceMinor) {
  if (!sides.includes(side)) throw new Error("a side is buy or sell");
  return ["place_order", enterprise, shareClass, side, BigInt(units), BigInt(priceMinor)];
}

export function cancelOrder(order) {
  return ["cancel_order", BigInt(order)];
}

export function transferShares(enterprise, shareClass, to, units) {
  return ["transfer_shares", enterprise, shareClass, to, BigInt(units)];
}

export function withdrawShares(enterprise, shareClass, units) {
  return ["withdraw_shares", enterprise, shareClass, BigInt(units)];
}

// ---- the admins' actions and join requests (screens/admin.js, screens/ask.js) ----
// §4.2's fields in order, every one written (§3.2): a nil limit is the community's default.

export function invite(invitation, expiresMs, role = "member", debitLimitMinor = null, creditCeilingMinor = null) {
  return ["invite", invitation, BigInt(expiresMs), role, debitLimitMinor, creditCeilingMinor];
}

export function revokeInvitation(invitation) {
  return ["revoke_invitation", invitation];
}

export function admit(member, name, role = "member") {
  return ["admit", member, new Personal(name), role];
}

export function setLimits(account, debitLimitMinor, creditCeilingMinor) {
  return ["set_limits", account, debitLimitMinor, creditCeilingMinor];
}

export function setRole(member, role) {
  return ["set_role", member, role];
}

export function setDefaultLimits(debitLimitMinor, creditCeilingMinor) {
  return ["set_default_limits", debitLimitMinor, creditCeilingMinor];
}

export function setRules(admission, quorumBp, thresholdBp) {
  return ["set_rules", admission, quorumBp, thresholdBp];
}

// A proposal (§4.2 `propose_period`) whose effect (§4.3) a passed decision applies: it closes
// `votingPeriodMs` after its event, on the log's own clock; quorum and threshold are the
// community's, raised to the effect's floor (nil). Title and text are personal texts.
export function proposeEffect(title, text, effect, votingPeriodMs) {
  return ["propose_period", "proposal", new Personal(title), new Personal(text), 0n, "", [], false, false,
    null, null, ["members"], effect, BigInt(votingPeriodMs)];
}

// ---- an account's keys, one per device (§4.2; screens devices, link, backup, restore) ----

// Bind `key` (32 bytes: a new device's, or a backup's recovery key) to the signer's account.
export function addKey(key) {
  return ["add_key", key];
}

// Retire `key`, one of the signer's account's current keys, for good.
export function removeKey(key) {
  return ["remove_key", key];
}

// ---- Decide: proposals, votes and delegations (protocol.md §4.2, §4.3; docs/decisions.md) ----
//
// Each builder returns the action array in the field order of §4.2, every default written out, as
// the protocol's canonical encoding has it. A proposal's title, text and poll options are personal
// (an empty text stays ""), and so are an admitted member's name and a treasury payment's memo in
// its effect. Ids are 32-byte Uint8Arrays; quorum and threshold are basis points or null (the
// community's rules, raised to the floor of the effect's class).
export const titleCharsMax = 120;
export const textCharsMax = 600;
export const topicCharsMax = 32;
export const pollOptionsMax = 10;
export const decisionTypes = ["proposal", "consent", "poll"];
export const positions = ["agree", "abstain", "disagree", "block"];
// The longest a decision may stay open (decision_duration_max_ms: 366 days).
export const decisionDurationMaxMs = 366 * 24 * 3600 * 1000;

export function membersElectorate() {
  return ["members"];
}

export function holdersElectorate(enterprise) {
  return ["holders", enterprise];
}

function proposeFields({ decisionType, title, text = "", topic = "", options = [], multiple = false, ranked = false,
  quorumBp = null, thresholdBp = null, electorate = membersElectorate(), effect = null }, deadlineMs) {
  return [decisionType, new Personal(title), new Personal(text), deadlineMs, topic,
    options.map((option) => new Personal(option)), multiple, ranked, quorumBp, thresholdBp, electorate, effect];
}

// A decision that closes at `deadlineMs` (the log's time).
export function propose(fields) {
  return ["propose", ...proposeFields(fields, fields.deadlineMs)];
}

// A decision that closes `votingPeriodMs` after the ts of the event that carries it: what the
// wallet sends, so neither the phone's clock nor the time it takes to send it shortens the period.
export function proposePeriod(fields) {
  return ["propose_period", ...proposeFields(fields, 0), fields.votingPeriodMs];
}

// A position on a proposal or consent (`options` empty), or poll options by index, best first in
// a ranked poll (`position` null; "abstain" with no options abstains).
export function vote(decision, position = null, options = []) {
  return ["vote", decision, position, options];
}

export function delegate(to, topic = "") {
  return ["delegate", to, topic];
}

export function undelegate(topic = "") {
  return ["undelegate", topic];
}

// Effects (§4.3): what a passed decision changes.
export function admitEffect(member, name, role = "member") {
  return ["admit", member, new Personal(name), role];
}

export function removeEffect(member) {
  return ["remove", member];
}

export function setLimitsEffect(account, debitLimitMinor, creditCeilingMinor) {
  return ["set_limits", account, debitLimitMinor, creditCeilingMinor];
}

export function setDefaultLimitsEffect(debitLimitMinor, creditCeilingMinor) {
  return ["set_default_limits", debitLimitMinor, creditCeilingMinor];
}

export function setRulesEffect(admission, quorumBp, thresholdBp) {
  return ["set_rules", admission, quorumBp, thresholdBp];
}

export function setLevyEffect(rateBp, minMinor, maxMinor) {
  return ["set_levy", rateBp, minMinor, maxMinor];
}

export function treasuryPayEffect(to, amountMinor, memo = "") {
  return ["treasury_pay", to, amountMinor, new Personal(memo)];
}

export function recoverKeyEffect(member, newKey) {
  return ["recover_key", member, newKey];
}

// `floors`: [[decisionClass, quorumBp, thresholdBp, periodMs], …]
export function setFloorsEffect(floors) {
  return ["set_floors", floors.map((floor) => [...floor])];
}

// A holders' decision (its electorate the enterprise's holders): a dividend, a withdrawal rule.
export function declareDividendEffect(enterprise, amountMinor) {
  return ["declare_dividend", enterprise, amountMinor];
}

export function setWithdrawalRuleEffect(enterprise, noticeMs, yearlyCapMinor) {
  return ["set_withdrawal_rule", enterprise, noticeMs, yearlyCapMinor];
}

// Who sees each kind of data: an audience per kind named, null keeps a kind's audience.
export const visibilityKinds = ["names", "balances", "history", "votes", "decisions", "holdings", "log"];

export function setVisibilityEffect(audiences) {
  return ["set_visibility", ...visibilityKinds.map((kind) => audiences[kind] ?? null)];
}

// ---- paying across (screens/pay.js): a member of another community of the node's federations ----

// `["pay_across", federation, to_community, to_member, amount_minor, memo]` (protocol.md §4.2, §5.4):
// the node appends it in a `payment_sent`, held until the other community accepts or rejects it.
export function payAcross(federation, toCommunity, toMember, amountMinor, memo = "") {
  return ["pay_across", federation, toCommunity, toMember, amountMinor, new Personal(memo)];
}

// ---- an invitation by decision (screens/admin.js) --------------------------------------------------

// `["invite", invitation, expires_ms, role, debit_limit_minor, credit_ceiling_minor]` as a proposal's
// effect (protocol.md §4.3, §13.2.4): where the community admits by decision, the decision's close
// makes the community's invitation; the same fields as an admin's `invite`.
export function inviteEffect(invitation, expiresMs, role = "member", debitLimitMinor = null, creditCeilingMinor = null) {
  return invite(invitation, expiresMs, role, debitLimitMinor, creditCeilingMinor);
}
