// Propose (/wallet/propose): open a decision: its kind (proposal, consent, poll), title, text,
// topic, a poll's options and how members choose, what it changes if it passes, and how long it
// stays open. Sent as `propose_period` (intents.js): it closes that long after the node logs it.
//
// What a member may propose: any member may propose any of the community's effects (the admin's
// actions are admins' alone, but a decision is the community's: docs/decisions.md); what differs
// is the class, whose floors (least quorum, threshold and time open) a proposal must meet. The
// wallet offers every effect of the community but an admission (it needs the invitee's key, which
// the admin's screen proposes from a join request) and federation acts: one member's limits, the
// default limits, removing a member, the rules, the levy, a treasury payment, the floors, who sees
// what, and a recovery (their fields are effect_forms.js). Holders' effects (an enterprise's
// dividend, its withdrawal rule) are proposed by its holders: `/wallet/propose?holders=e_…`, reached
// from the enterprise's screen, offers the withdrawal rule alone. A quorum and threshold are never named here: the node
// gives the community's defaults raised to the class's floor. The least time open shown is the
// class's floor in force (GET /api/rules), as are the rules and floors the forms start from; the
// node checks the floors again and refuses less in one line (`below_floor`: they may have risen
// meanwhile), which the member fixes by giving more time.
import * as api from "../api.js";
import { parseAmount } from "../format.js";
import * as intents from "../intents.js";
import { idFromText } from "../ids.js";
import { t } from "../strings.js";
import { alertLine, errorLine, h, heading, show, state } from "../ui.js";
import { field, floorsForm, levyForm, recoveryForm, rulesForm, rulesInForce, select, treasuryForm,
  visibilityForm, withdrawalRuleForm } from "../effect_forms.js";
import { decisionLink, drawDecideTabs, duration } from "./decide.js";
import { memberPicker } from "../pickers.js";
import { sendAction } from "../sending.js";

export const needsDevice = true;

const hourMs = 3600 * 1000;
const dayMs = 24 * hourMs;
const effectKinds = ["none", "set_limits", "set_default_limits", "remove", "set_rules", "set_levy", "treasury_pay",
  "set_floors", "set_visibility", "recover_key"];
// The effects about one member, chosen by name.
const memberEffects = ["set_limits", "remove", "treasury_pay", "recover_key"];
const defaultPeriodDays = 7;

// The class of a decision with this effect, as ledger/decisions.py `decision_class` has it: about
// an admin's account (limits, a removal, a recovery), it is the strictest.
function classOf(effectKind, member) {
  if (effectKind === "none") return "general";
  if (effectKind === "set_withdrawal_rule") return "enterprise";
  if (["set_rules", "set_floors", "set_visibility"].includes(effectKind)) return "rules";
  if (["set_levy", "treasury_pay"].includes(effectKind)) return "treasury";
  if (member?.role === "admin") return "rules";
  if (effectKind === "recover_key") return "key_recovery";
  return effectKind === "remove" ? "membership" : "limits";
}

// The enterprise whose holders decide (`?holders=e_…`, from the enterprise's screen): its JSON, null
// for a members' decision, or false after saying in one line that the link names none.
async function holdersEnterprise() {
  const reference = new URLSearchParams(location.search).get("holders");
  if (reference === null) return null;
  try {
    idFromText("e", reference);
    return await api.get(`/api/enterprises/${reference}?limit=1`);
  } catch (error) {
    if (error instanceof api.ApiError && error.code !== "unknown_enterprise") throw error;
    show(heading(t("propose.title")), alertLine(t("own.enterprise.unknown")));
    return false;
  }
}

// A limit typed in major units: null when empty (the community's default), 0 allowed.
function parseLimit(text, decimals) {
  if (text.trim() === "") return { minor: null };
  if (/^\s*0*(?:[.,]0*)?\s*$/.test(text) && /0/.test(text)) return { minor: 0n };
  return parseAmount(text, decimals);
}

// The node's refusal of a proposal as one line: a key taken means the recovery's new key, and a
// bad_decision of the floors or who sees what says which rule it broke (the node's own message).
function refusalLine(error, effectKind) {
  if (error.code === "key_in_use" && effectKind === "recover_key") return t("effects.recovery.key.taken");
  if (error.code === "bad_decision" && ["set_floors", "set_visibility"].includes(effectKind) && error.message) {
    return t("effects.refused", { message: error.message });
  }
  return errorLine(error);
}

export async function draw(view) {
  drawDecideTabs();
  const { unit } = state.community;
  const [enterprise, answer] = await Promise.all([holdersEnterprise(), api.get("/api/rules")]);
  if (enterprise === false || !view.current()) return;
  const inForce = rulesInForce(answer);
  const kind = select("propose-kind", intents.decisionTypes.map((type) => [type, t(`decide.type.${type}`)]), "proposal");
  const kindAbout = h("p", { class: "hint", id: "propose-kind-hint" });
  kind.setAttribute("aria-describedby", "propose-kind-hint");
  const title = h("input", { id: "propose-heading", type: "text", autocomplete: "off",
    maxlength: String(intents.titleCharsMax), required: true });
  const text = h("textarea", { id: "propose-text", rows: "4", maxlength: String(intents.textCharsMax) });
  const topic = h("input", { id: "propose-topic", type: "text", autocomplete: "off", maxlength: String(intents.topicCharsMax) });

  // A poll's options and how members choose.
  const optionList = h("ol", { class: "option-inputs", id: "propose-options" });
  const optionInputs = [];
  const addOption = h("button", { type: "button", text: t("propose.option.add") });
  const drawOptions = () => {
    optionList.replaceChildren(...optionInputs.map((input, index) => {
      input.id = `propose-option-${index + 1}`;
      const remove = optionInputs.length > 2 ? h("button", { type: "button", class: "small",
        text: "×", "aria-label": t("propose.option.remove", { number: index + 1 }), onclick: () => {
          optionInputs.splice(index, 1);
          drawOptions();
          optionInputs[Math.min(index, optionInputs.length - 1)].focus();
        } }) : null;
      return h("li", {}, h("label", { for: input.id, text: t("propose.option", { number: index + 1 }) }),
        h("div", { class: "inline" }, input, remove));
    }));
    addOption.hidden = optionInputs.length >= intents.pollOptionsMax;
  };
  const newOption = () => h("input", { type: "text", autocomplete: "off", maxlength: String(intents.nameCharsMax) });
  optionInputs.push(newOption(), newOption());
  addOption.addEventListener("click", () => {
    optionInputs.push(newOption());
    drawOptions();
    optionInputs.at(-1).focus();
  });
  drawOptions();
  const choose = select("propose-choose", [["one", t("propose.choose.one")], ["several", t("propose.choose.several")],
    ["ranked", t("propose.choose.ranked")]], "one");
  const pollPart = h("fieldset", { class: "part", id: "poll-part" }, h("legend", { text: t("propose.options") }),
    optionList, addOption, field("propose-choose", t("propose.choose"), choose));

  // What it changes.
  // A holders' decision may change only what its holders decide (ledger/decisions.py `holders_effects`).
  const offered = enterprise ? ["none", "set_withdrawal_rule"] : effectKinds;
  const effect = select("propose-effect", offered.map((key) => [key, t(`propose.effect.${key}`)]), "none");
  const picker = memberPicker({ id: "propose-member", label: t("propose.member"), hint: t("propose.member.hint"),
    choose: (name) => t("propose.member.choose", { name }), none: t("propose.member.none"),
    change: t("propose.member.change") });
  const debit = h("input", { id: "propose-debit", type: "text", inputmode: "decimal", autocomplete: "off" });
  const ceiling = h("input", { id: "propose-ceiling", type: "text", inputmode: "decimal", autocomplete: "off" });
  const memberPart = h("div", {}, picker.element);
  const limitsPart = h("div", {},
    field("propose-debit", t("propose.debit", { unit: unit.code }), debit, t("propose.debit.hint")),
    field("propose-ceiling", t("propose.ceiling", { unit: unit.code }), ceiling, t("propose.ceiling.hint")));
  // The other effects' own fields, each drawn only while its effect is chosen.
  const forms = enterprise ? { set_withdrawal_rule: withdrawalRuleForm(enterprise) }
    : { set_rules: rulesForm(inForce), set_levy: levyForm(), treasury_pay: treasuryForm(picker), set_floors: floorsForm(inForce),
      set_visibility: visibilityForm(), recover_key: recoveryForm(picker) };
  const formParts = Object.entries(forms).map(([key, form]) => {
    form.part = h("div", { id: `effect-${key.replace("_", "-")}` }, form.element);
    return form.part;
  });
  const effectPart = h("div", { class: "part", id: "effect-part" },
    field("propose-effect", t("propose.effect"), effect), memberPart, limitsPart, ...formParts);

  // How long it stays open.
  const period = h("input", { id: "propose-period", type: "number", inputmode: "numeric", min: "1", step: "1",
    value: String(defaultPeriodDays) });
  const periodUnit = select("propose-period-unit", [["hours", t("propose.period.hours")], ["days", t("propose.period.days")]], "days");
  periodUnit.setAttribute("aria-label", t("propose.period.unit"));
  const least = h("p", { class: "hint", id: "propose-period-hint" });
  period.setAttribute("aria-describedby", "propose-period-hint");

  const update = () => {
    const poll = kind.value === "poll";
    kindAbout.textContent = t(`decide.type.${kind.value}.about`);
    pollPart.hidden = !poll;
    effectPart.hidden = poll;
    const effectKind = poll ? "none" : effect.value;
    memberPart.hidden = !memberEffects.includes(effectKind);
    limitsPart.hidden = !["set_limits", "set_default_limits"].includes(effectKind);
    for (const [key, form] of Object.entries(forms)) form.part.hidden = key !== effectKind;
    const [, , leastMs] = inForce.floors[classOf(effectKind, picker.chosen())];
    least.textContent = leastMs ? t("propose.period.least", { time: duration(leastMs) }) : "";
  };
  kind.addEventListener("change", update);
  effect.addEventListener("change", () => {
    update();
    forms[effect.value]?.shown?.();
  });
  memberPart.addEventListener("click", () => setTimeout(update)); // a member chosen (an admin is stricter)
  update();

  const problem = h("div", { class: "problem" });
  const submit = h("button", { type: "submit", class: "primary", id: "propose-send", text: t("propose.submit") });
  const form = h("form", { novalidate: true },
    field("propose-kind", t("propose.kind"), kind), kindAbout,
    field("propose-heading", t("propose.heading"), title),
    field("propose-text", t("propose.text"), text, t("propose.text.hint", { count: intents.textCharsMax })),
    field("propose-topic", t("propose.topic"), topic, t("propose.topic.hint")),
    pollPart, effectPart,
    h("div", { class: "field" }, h("label", { for: "propose-period", text: t("propose.period") }),
      h("div", { class: "inline" }, period, periodUnit), least),
    problem, submit);

  // A field marked wrong is no longer so once it is changed; its line goes with it.
  form.addEventListener("input", (event) => {
    if (event.target.getAttribute("aria-invalid") !== "true") return;
    event.target.removeAttribute("aria-invalid");
    problem.replaceChildren();
  });
  const refuse = (line, input, focusable = null) => {
    problem.replaceChildren(alertLine(line));
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
    focusable?.focus();
    return null;
  };
  const chars = (value) => [...value].length;
  // The proposal as the form says it, or null after saying, in one line, what to fix.
  const proposal = async () => {
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    const poll = kind.value === "poll";
    const fields = { decisionType: kind.value, title: title.value.trim(), text: text.value.trim(), topic: topic.value.trim() };
    if (enterprise) fields.electorate = intents.holdersElectorate(idFromText("e", enterprise.id));
    if (!fields.title) return refuse(t("propose.title.empty"), title);
    if (chars(fields.title) > intents.titleCharsMax) return refuse(t("propose.title.long", { count: intents.titleCharsMax }), title);
    if (chars(fields.text) > intents.textCharsMax) return refuse(t("propose.text.long", { count: intents.textCharsMax }), text);
    if (chars(fields.topic) > intents.topicCharsMax) return refuse(t("propose.topic.long", { count: intents.topicCharsMax }), topic);
    if (poll) {
      const filled = optionInputs.filter((input) => input.value.trim());
      if (filled.length < 2) return refuse(t("propose.options.few"), optionInputs.find((input) => !input.value.trim()));
      const long = filled.find((input) => chars(input.value.trim()) > intents.nameCharsMax);
      if (long) return refuse(t("propose.options.long", { count: intents.nameCharsMax }), long);
      fields.options = filled.map((input) => input.value.trim());
      fields.multiple = choose.value === "several";
      fields.ranked = choose.value === "ranked";
    } else if (forms[effect.value]) {
      fields.effect = await forms[effect.value].effect(refuse);
      if (!fields.effect) return null;
    } else if (effect.value !== "none") {
      const member = picker.chosen();
      if (["set_limits", "remove"].includes(effect.value) && !member) {
        problem.replaceChildren(alertLine(t("propose.member.first")));
        picker.focus();
        return null;
      }
      if (effect.value === "remove") {
        fields.effect = intents.removeEffect(idFromText("m", member.id));
      } else {
        const debitLimit = parseLimit(debit.value, unit.decimals);
        if (debitLimit.error) return refuse(t(debitLimit.error, { decimals: unit.decimals }), debit);
        const ceilingLimit = parseLimit(ceiling.value, unit.decimals);
        if (ceilingLimit.error) return refuse(t(ceilingLimit.error, { decimals: unit.decimals }), ceiling);
        if (effect.value === "set_limits") {
          fields.effect = intents.setLimitsEffect(idFromText("m", member.id), debitLimit.minor, ceilingLimit.minor);
        } else {
          if (debitLimit.minor === null) return refuse(t("propose.limit.required"), debit);
          if (ceilingLimit.minor === null) return refuse(t("propose.limit.required"), ceiling);
          fields.effect = intents.setDefaultLimitsEffect(debitLimit.minor, ceilingLimit.minor);
        }
      }
    }
    const count = /^\s*[1-9][0-9]{0,5}\s*$/.test(period.value) ? Number(period.value) : 0;
    fields.votingPeriodMs = count * (periodUnit.value === "days" ? dayMs : hourMs);
    if (!count || fields.votingPeriodMs > intents.decisionDurationMaxMs) return refuse(t("propose.period.bad"), period);
    return fields;
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.replaceChildren();
    submit.disabled = true;
    let fields;
    try {
      fields = await proposal();
    } catch (error) {
      fields = refuse(errorLine(error)); // the treasury could not be read
    }
    if (!fields) {
      submit.disabled = false;
      return;
    }
    submit.textContent = t("propose.sending");
    let answer;
    try {
      answer = await sendAction(intents.proposePeriod(fields));
    } catch (error) {
      problem.replaceChildren(alertLine(refusalLine(error, effect.value)));
      submit.disabled = false;
      submit.textContent = t("propose.submit");
      if (error.code === "below_floor") period.focus();
      return;
    }
    await view.go(decisionLink({ id: answer.seq }));
  });
  show(heading(enterprise ? t("propose.holders.title", { enterprise: enterprise.name }) : t("propose.title")),
    enterprise ? h("p", { class: "hint", text: t("propose.holders.about") }) : null, form);
}
