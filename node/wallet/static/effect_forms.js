// The fields of the community's effects that Propose offers beyond one member's limits, the default
// limits and a removal (screens/propose.js): the rules, the levy, a treasury payment, the floors,
// who sees what, and a recovery (docs/decisions.md; docs/privacy.md; docs/wallet.md "Decide").
//
// How this works: each form is { element, effect(refuse) }: `element` holds its labelled fields,
// and `effect` reads them into the effect's array (intents.js) or, on the first field that is
// wrong, calls `refuse(line, input)` (one line, the focus on that field) and returns null, so
// nothing is signed. The checks are the ledger's own, made before signing (ledger/decisions.py:
// `_check_levy`, `_check_floors`, `_check_visibility`, `_check_treasury_pay`, `_check_recover`);
// the node checks them again on the state it holds, and its refusal is one line too. Shares are
// typed as percentages and sent as basis points; amounts are typed in major units.
import * as api from "./api.js";
import { parseAmount } from "./format.js";
import { idFromText } from "./ids.js";
import * as intents from "./intents.js";
import { keyFromTyped } from "./linking.js";
import { t } from "./strings.js";
import { h, money, state } from "./ui.js";

const hourMs = 3600 * 1000;
const basisPointsMax = 10000;

// The floors of a community that never set its own (ledger/decisions.py `default_floors`):
// [quorum_bp, threshold_bp, period_ms] per class, in the order docs/decisions.md lists them.
export const defaultFloors = {
  general: [0, 0, 0],
  enterprise: [0, 0, 0],
  membership: [2500, 5000, 24 * hourMs],
  federation: [2500, 5000, 24 * hourMs],
  limits: [5000, 5000, 48 * hourMs],
  treasury: [5000, 5000, 48 * hourMs],
  key_recovery: [5000, 6667, 72 * hourMs],
  rules: [5000, 6667, 72 * hourMs],
};
const decisionClasses = Object.keys(defaultFloors);
const strictestClass = "rules";
// The quorum and threshold a community starts with (set_rules changes them).
const startingRules = { admission: "admin", quorumBp: 5000, thresholdBp: 6667 };

// The rules in force as GET /api/rules answers them (api.md §10.1), as the forms read them: the
// floors as defaultFloors holds them, and who admits with the default quorum and threshold. Without
// an answer (null), a community's starting rules.
export function rulesInForce(answer) {
  if (!answer) return { floors: defaultFloors, rules: startingRules };
  const floors = { ...defaultFloors };
  for (const floor of answer.floors) floors[floor.class] = [floor.quorum_bp, floor.threshold_bp, floor.period_ms];
  return { floors, rules: { admission: answer.admission, quorumBp: answer.quorum_bp, thresholdBp: answer.threshold_bp } };
}

// Who may see each kind; some kinds are a member's own data and never public (ledger/decisions.py
// `never_public`). Reach orders the audiences: "concerned" and "admins" reach the same readers.
export const audiences = ["public", "members", "concerned", "admins"];
const neverPublic = ["balances", "history", "votes", "holdings"];
const reach = { public: 3, members: 2, concerned: 1, admins: 1 };

export function field(id, label, input, hint) {
  if (hint) input.setAttribute("aria-describedby", `${id}-hint`);
  return h("div", { class: "field" }, h("label", { for: id, text: label }), input,
    hint ? h("p", { class: "hint", id: `${id}-hint`, text: hint }) : null);
}

export function select(id, entries, value) {
  return h("select", { id }, ...entries.map(([key, text]) => h("option", { value: key, text, selected: key === value })));
}

function textInput(id, inputmode = "decimal") {
  return h("input", { id, type: "text", inputmode, autocomplete: "off" });
}

// A share typed as a percentage ("66.67", "66,67 %", "50") as basis points, or {error: id}.
export function parsePercent(text) {
  const typed = text.trim().replace(/\s*%$/, "");
  const match = /^(\d{1,3})(?:[.,](\d{0,2}))?$/.exec(typed);
  if (!match) return { error: "effects.percent.bad" };
  const basisPoints = Number(match[1]) * 100 + Number((match[2] ?? "").padEnd(2, "0"));
  if (basisPoints > basisPointsMax) return { error: "effects.percent.bad" };
  return { basisPoints };
}

// Basis points as the field shows them to be typed again: 6667 is "66.67", 5000 is "50".
function percentText(basisPoints) {
  const whole = Math.floor(basisPoints / 100);
  const fraction = basisPoints % 100;
  return fraction ? `${whole}.${String(fraction).padStart(2, "0").replace(/0$/, "")}` : String(whole);
}

// An amount in major units that may be zero or empty (empty is zero), as minor units.
function parseZeroOrAmount(text, decimals) {
  if (text.trim() === "" || /^\s*0*(?:[.,]0*)?\s*$/.test(text)) return { minor: 0n };
  return parseAmount(text, decimals);
}

// ---- the rules: who admits, and the default quorum and threshold --------------------------------

// Filled with the rules in force (`inForce`, rulesInForce's).
export function rulesForm(inForce = rulesInForce(null)) {
  const { rules } = inForce;
  const admission = select("propose-admission", [["admin", t("effects.rules.admission.admin")],
    ["decision", t("effects.rules.admission.decision")]], rules.admission);
  const quorum = textInput("propose-quorum");
  const threshold = textInput("propose-threshold");
  quorum.value = percentText(rules.quorumBp);
  threshold.value = percentText(rules.thresholdBp);
  const element = h("div", {},
    field("propose-admission", t("effects.rules.admission"), admission),
    field("propose-quorum", t("effects.rules.quorum"), quorum, t("effects.rules.quorum.hint")),
    field("propose-threshold", t("effects.rules.threshold"), threshold, t("effects.rules.threshold.hint")));
  const effect = (refuse) => {
    const quorumShare = parsePercent(quorum.value);
    if (quorumShare.error) return refuse(t(quorumShare.error), quorum);
    const thresholdShare = parsePercent(threshold.value);
    if (thresholdShare.error) return refuse(t(thresholdShare.error), threshold);
    return intents.setRulesEffect(admission.value, quorumShare.basisPoints, thresholdShare.basisPoints);
  };
  return { element, effect };
}

// ---- the levy on payments between members ----------------------------------------------------------

export function levyForm() {
  const { unit } = state.community;
  const rate = textInput("propose-levy-rate");
  const least = textInput("propose-levy-min");
  const most = textInput("propose-levy-max");
  const element = h("div", {},
    field("propose-levy-rate", t("effects.levy.rate"), rate, t("effects.levy.rate.hint")),
    field("propose-levy-min", t("effects.levy.min", { unit: unit.code }), least, t("effects.levy.min.hint")),
    field("propose-levy-max", t("effects.levy.max", { unit: unit.code }), most, t("effects.levy.max.hint")));
  const effect = (refuse) => {
    const share = parsePercent(rate.value);
    if (share.error) return refuse(t(share.error), rate);
    const minimum = parseZeroOrAmount(least.value, unit.decimals);
    if (minimum.error) return refuse(t(minimum.error, { decimals: unit.decimals }), least);
    const off = share.basisPoints === 0 && minimum.minor === 0n;
    if (off && most.value.trim() === "") return intents.setLevyEffect(0, 0n, 0n);
    if (most.value.trim() === "") return refuse(t("effects.levy.max.empty"), most);
    const maximum = parseZeroOrAmount(most.value, unit.decimals);
    if (maximum.error) return refuse(t(maximum.error, { decimals: unit.decimals }), most);
    if (minimum.minor > maximum.minor) return refuse(t("effects.levy.min.above"), least);
    return intents.setLevyEffect(share.basisPoints, minimum.minor, maximum.minor);
  };
  return { element, effect };
}

// ---- a payment from the treasury to a member -------------------------------------------------------

// The treasury's account ({id, balance}) or null when the community has none yet (a levy passed
// opens it). Its name is "Treasury", "Community treasury" or "Treasury N" (ledger/decisions.py
// `_apply_levy`), so a search for "treasury" finds it; its figures are everyone's (api.md §7).
export async function findTreasury() {
  const found = await api.get("/api/members?q=treasury&limit=20");
  const treasury = found.find((member) => member.role === "treasury" && member.active);
  if (!treasury) return null;
  const [account] = await api.get(`/api/balances?account=${treasury.id}`);
  return { id: treasury.id, balance: BigInt(account.balance) };
}

export function treasuryForm(picker) {
  const { unit } = state.community;
  const amount = textInput("propose-treasury-amount");
  const memo = h("input", { id: "propose-treasury-memo", type: "text", autocomplete: "off",
    maxlength: String(intents.memoCharsMax) });
  const holds = h("p", { class: "hint", id: "propose-treasury-holds", "aria-live": "polite" });
  const element = h("div", {},
    field("propose-treasury-amount", t("effects.treasury.amount", { unit: unit.code }), amount),
    field("propose-treasury-memo", t("effects.treasury.memo"), memo, t("effects.treasury.memo.hint")), holds);
  // What the treasury holds, shown when the form is opened (asked again before signing).
  const shown = async () => {
    try {
      const treasury = await findTreasury();
      holds.textContent = treasury ? t("effects.treasury.holds", { amount: money(treasury.balance) })
        : t("effects.treasury.none");
    } catch {
      holds.textContent = "";
    }
  };
  const effect = async (refuse) => {
    const payee = picker.chosen();
    if (!payee) return refuse(t("propose.member.first"), null, picker);
    const parsed = parseAmount(amount.value, unit.decimals);
    if (parsed.error) return refuse(t(parsed.error, { decimals: unit.decimals }), amount);
    if ([...memo.value.trim()].length > intents.memoCharsMax) {
      return refuse(t("memo.long", { count: intents.memoCharsMax }), memo);
    }
    const treasury = await findTreasury();
    if (!treasury) return refuse(t("effects.treasury.none"), amount);
    if (parsed.minor > treasury.balance) {
      return refuse(t("effects.treasury.over", { amount: money(treasury.balance) }), amount);
    }
    return intents.treasuryPayEffect(idFromText("m", payee.id), parsed.minor, memo.value.trim());
  };
  return { element, effect, shown };
}

// ---- the floors: the least quorum, threshold and time open of each class -----------------------------

// Each row filled with its class's floor in force (`inForce`, rulesInForce's).
export function floorsForm(inForce = rulesInForce(null)) {
  const list = h("ol", { class: "floor-rows", id: "propose-floors" });
  const rows = [];
  const add = h("button", { type: "button", id: "propose-floor-add", text: t("effects.floors.add") });
  const fill = (row) => {
    const [quorumBp, thresholdBp, periodMs] = inForce.floors[row.decisionClass.value];
    row.quorum.value = percentText(quorumBp);
    row.threshold.value = percentText(thresholdBp);
    row.hours.value = String(periodMs / hourMs);
  };
  const newRow = (decisionClass) => {
    const row = { decisionClass: select("", decisionClasses.map((key) => [key, t(`effects.class.${key}`)]), decisionClass),
      quorum: textInput(""), threshold: textInput(""), hours: textInput("", "numeric") };
    row.decisionClass.addEventListener("change", () => fill(row));
    fill(row);
    return row;
  };
  const draw = () => {
    list.replaceChildren(...rows.map((row, index) => {
      const number = index + 1;
      const id = (name) => `propose-floor-${number}-${name}`;
      row.decisionClass.id = id("class");
      row.quorum.id = id("quorum");
      row.threshold.id = id("threshold");
      row.hours.id = id("hours");
      const remove = rows.length > 1 ? h("button", { type: "button", class: "small", text: t("effects.floors.remove.text"),
        "aria-label": t("effects.floors.remove", { number }), onclick: () => {
          rows.splice(index, 1);
          draw();
          rows[Math.min(index, rows.length - 1)].decisionClass.focus();
        } }) : null;
      return h("li", {},
        h("fieldset", {}, h("legend", { text: t("effects.floors.row", { number }) }),
          field(id("class"), t("effects.floors.class"), row.decisionClass),
          field(id("quorum"), t("effects.floors.quorum"), row.quorum),
          field(id("threshold"), t("effects.floors.threshold"), row.threshold),
          field(id("hours"), t("effects.floors.hours"), row.hours),
          remove));
    }));
    add.hidden = rows.length >= decisionClasses.length;
  };
  add.addEventListener("click", () => {
    const unused = decisionClasses.find((key) => !rows.some((row) => row.decisionClass.value === key));
    rows.push(newRow(unused));
    draw();
    rows.at(-1).decisionClass.focus();
  });
  rows.push(newRow(strictestClass));
  draw();
  const element = h("div", {}, h("p", { class: "hint", text: t("effects.floors.about") }), list, add);
  const effect = (refuse) => {
    const floors = [];
    for (const row of rows) {
      if (floors.some((floor) => floor[0] === row.decisionClass.value)) {
        return refuse(t("effects.floors.twice"), row.decisionClass);
      }
      const quorum = parsePercent(row.quorum.value);
      if (quorum.error) return refuse(t(quorum.error), row.quorum);
      const threshold = parsePercent(row.threshold.value);
      if (threshold.error) return refuse(t(threshold.error), row.threshold);
      const hours = /^\s*\d{1,4}\s*$/.test(row.hours.value) ? Number(row.hours.value) : -1;
      if (hours < 0 || hours * hourMs > intents.decisionDurationMaxMs) return refuse(t("effects.floors.hours.bad"), row.hours);
      floors.push([row.decisionClass.value, quorum.basisPoints, threshold.basisPoints, hours * hourMs]);
    }
    // The rules class stays at least as strict as every other it is named with (the node checks it
    // against the floors in force too).
    const strictest = floors.find((floor) => floor[0] === strictestClass);
    if (strictest) {
      const index = floors.findIndex((floor) => floor[1] > strictest[1] || floor[2] > strictest[2] || floor[3] > strictest[3]);
      if (index >= 0) return refuse(t("effects.floors.strictest", { class: t(`effects.class.${floors[index][0]}`) }), rows[index].quorum);
    }
    return intents.setFloorsEffect(floors);
  };
  return { element, effect };
}

// ---- who sees what ------------------------------------------------------------------------------------

export function visibilityForm() {
  const policy = state.community.visibility ?? {};
  const selects = intents.visibilityKinds.map((kind) => {
    const current = policy[kind];
    const entries = [["", current ? t("effects.visibility.keep", { audience: t(`effects.audience.${current}`) })
      : t("effects.visibility.keep.unknown")]];
    for (const audience of audiences) {
      if (audience === "public" && neverPublic.includes(kind)) continue;
      entries.push([audience, t(`effects.audience.${audience}`)]);
    }
    return [kind, select(`propose-visibility-${kind}`, entries, "")];
  });
  const element = h("div", {},
    h("p", { class: "hint", id: "propose-visibility-about", text: t("effects.visibility.about") }),
    ...selects.map(([kind, input]) => field(`propose-visibility-${kind}`, t(`effects.kind.${kind}`), input,
      t(`effects.kind.${kind}.hint`))));
  const effect = (refuse) => {
    const named = Object.fromEntries(selects.filter(([, input]) => input.value).map(([kind, input]) => [kind, input.value]));
    if (!Object.keys(named).length) return refuse(t("effects.visibility.none"), selects[0][1]);
    const after = { ...policy, ...named };
    const others = intents.visibilityKinds.filter((kind) => kind !== "log" && after[kind]);
    const widest = Math.min(...others.map((kind) => reach[after[kind]]));
    if (after.log && reach[after.log] > widest) {
      const least = others.find((kind) => reach[after[kind]] === widest);
      return refuse(t("effects.visibility.log", { kind: t(`effects.kind.${least}`),
        audience: t(`effects.audience.${after[least]}`) }), selects.find(([kind]) => kind === "log")[1]);
    }
    return intents.setVisibilityEffect(named);
  };
  return { element, effect };
}

// ---- a recovery: a member's account to a new key ------------------------------------------------------

export function recoveryForm(picker) {
  const code = h("textarea", { id: "propose-recovery-key", rows: "2", autocomplete: "off", spellcheck: "false",
    autocapitalize: "none" });
  const element = h("div", {},
    field("propose-recovery-key", t("effects.recovery.key"), code,
      t("effects.recovery.key.hint", { link: `${location.origin}/wallet/link` })),
    h("p", { class: "hint", text: t("effects.recovery.about") }));
  const effect = (refuse) => {
    const member = picker.chosen();
    if (!member) return refuse(t("propose.member.first"), null, picker);
    const key = keyFromTyped(code.value);
    if (!key) return refuse(t("effects.recovery.key.bad"), code);
    return intents.recoverKeyEffect(idFromText("m", member.id), idFromText("k", key));
  };
  return { element, effect };
}

// ---- an enterprise's withdrawal rule, decided by its holders ------------------------------------------

export function withdrawalRuleForm(enterprise) {
  const { unit } = state.community;
  const rule = enterprise.withdrawal_rule;
  const notice = textInput("propose-notice", "numeric");
  const cap = textInput("propose-yearly-cap");
  notice.value = String(Math.floor(rule.notice_ms / (24 * hourMs)));
  const element = h("div", {},
    h("p", { class: "hint", id: "propose-rule-now", text: t("effects.withdrawal.now", {
      notice: String(Math.floor(rule.notice_ms / (24 * hourMs))),
      cap: rule.yearly_cap ? money(rule.yearly_cap) : t("moves.withdraw.cap.none") }) }),
    field("propose-notice", t("effects.withdrawal.notice"), notice, t("effects.withdrawal.notice.hint")),
    field("propose-yearly-cap", t("effects.withdrawal.cap", { unit: unit.code }), cap, t("effects.withdrawal.cap.hint")));
  const effect = (refuse) => {
    const days = /^\s*\d{1,3}\s*$/.test(notice.value) ? Number(notice.value) : -1;
    const noticeMs = days * 24 * hourMs;
    if (days < 0 || noticeMs > intents.decisionDurationMaxMs) return refuse(t("effects.withdrawal.notice.bad"), notice);
    const yearly = parseZeroOrAmount(cap.value, unit.decimals);
    if (yearly.error) return refuse(t(yearly.error, { decimals: unit.decimals }), cap);
    return intents.setWithdrawalRuleEffect(idFromText("e", enterprise.id), noticeMs, yearly.minor);
  };
  return { element, effect };
}
