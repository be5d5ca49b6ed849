// One decision (/wallet/decision?id=N): its title and text, kind, who decides, quorum and threshold,
// what it changes if it passes, where the tally stands (live while open) or its outcome, the
// member's own vote (or their delegate's), and, while it is open, a vote: a position on a proposal
// or consent, one option or several in a poll, or a ranking best first, which the buttons beside
// each option change (so the keyboard alone ranks). A later vote replaces the earlier one.
//
// How this works: GET /api/decisions/{id} gives the decision with its tally and the direct votes
// the reader may see (a member always sees their own); GET /api/members/{me}/delegations says who
// votes for the member when they do not. The vote is a `vote` intent signed on the device
// (intents.js); once the node committed it, the screen is drawn again from the node's answer.
import * as api from "../api.js";
import { formatTime } from "../format.js";
import * as intents from "../intents.js";
import { t } from "../strings.js";
import { alertLine, errorLine, h, main, money, navLink, show, state } from "../ui.js";
import { drawDecideTabs, duration, nameOf, outcomeText, percent } from "./decide.js";
import { sendAction } from "../sending.js";

export const needsDevice = true;

const decisionIdPattern = /^[1-9][0-9]{0,17}$/;

// What the next draw says once (the vote just counted), then forgets.
let counted = false;

export async function draw(view) {
  drawDecideTabs();
  const id = new URLSearchParams(location.search).get("id") ?? "";
  const back = h("p", {}, navLink("/wallet/decide", t("decision.all")));
  if (!decisionIdPattern.test(id)) return show(alertLine(t("decision.unknown")), back);
  const me = state.device.member;
  let decision;
  try {
    decision = await api.get(`/api/decisions/${id}`);
  } catch (error) {
    if (!view.current()) return;
    return show(alertLine(errorLine(error)), back);
  }
  const [delegations, effectLines, enterprise] = await Promise.all([
    api.get(`/api/members/${me}/delegations`), effectText(decision.effect), enterpriseName(decision.electorate)]);
  if (!view.current()) return;
  const parts = [back, h("h1", { id: "decision-title", text: decision.title })];
  if (counted) {
    parts.push(h("p", { class: "done", role: "status", id: "vote-counted", tabindex: "-1", text: t("decision.vote.counted") }));
    counted = false;
  }
  if (!decision.tally) return show(...parts, h("p", { class: "muted", text: t("decision.hidden") }));
  if (decision.text) parts.push(h("p", { class: "decision-text", id: "decision-text", text: decision.text }));
  if (decision.type !== "poll") {
    parts.push(h("p", { class: "effect", id: "decision-effect" }, h("strong", { text: `${t(decision.open ? "decision.effect" : "decision.effect.closed")}: ` }),
      effectLines));
  }
  parts.push(tallyView(decision), mineView(decision, delegations));
  if (decision.open && decision.time_left_ms > 0) parts.push(voteForm(view, decision));
  parts.push(details(decision, enterprise));
  show(...parts);
}

// Who decides and by what bars: after the vote, for whoever wants to know how it is counted.
function details(decision, enterprise) {
  const { tally } = decision;
  const rows = [
    [t("decision.kind"), `${t(`decide.type.${decision.type}`)}: ${t(`decide.type.${decision.type}.about`)}`],
    [t("decision.who"), decision.electorate?.kind === "holders"
      ? t("decision.who.holders", { enterprise, count: tally.electorate_people })
      : t("decision.who.members", { count: tally.electorate_people })],
    [t("decision.topic"), decision.topic || t("decision.topic.none")],
    [t("decision.quorum"), t("decision.quorum.value", { percent: percent(decision.quorum_bp) })],
  ];
  if (decision.type === "proposal") {
    rows.push([t("decision.threshold"), t("decision.threshold.value", { percent: percent(decision.threshold_bp) })]);
  }
  return h("section", { "aria-labelledby": "details-heading" },
    h("h2", { id: "details-heading", text: t("decision.details") }),
    h("dl", { class: "facts", id: "decision-facts" },
      ...rows.flatMap(([term, value]) => [h("dt", { text: term }), h("dd", { text: value })])));
}

function tallyView(decision) {
  const { tally } = decision;
  const rows = decision.type === "poll"
    ? decision.options.map((option, index) => [option, t(decision.ranked ? "decision.points" : "decision.count",
      { count: tally.option_counts[index] ?? 0 })])
    : intents.positions.map((position) => [t(`decision.position.${position}`), String(tally.positions[position] ?? 0)]);
  const quorum = t(decision.open ? (tally.quorum_met ? "decision.quorum.met" : "decision.quorum.unmet")
    : "decision.quorum.was", { percent: percent(decision.quorum_bp) });
  const section = h("section", { class: "card tally", id: "tally", "aria-labelledby": "tally-heading" },
    h("h2", { id: "tally-heading", class: "label", text: t(decision.open ? "decision.tally" : "decision.tally.final") }),
    decision.open
      ? h("p", { id: "closes", text: t("decision.closes.value", { when: formatTime(decision.deadline_ms),
        left: duration(decision.time_left_ms) }) })
      : h("p", { class: "big", id: "outcome", text: outcomeText(decision, decision.outcome) }),
    h("p", { id: "took-part", text: t("decide.took_part", {
      count: tally.participants_people, total: tally.electorate_people }) }),
    h("p", { class: "hint", id: "quorum", text: quorum }),
    h("ul", { class: "counts" }, ...rows.map(([name, count]) => h("li", {},
      h("span", { class: "name", text: name }), h("span", { class: "count", text: count })))));
  if (decision.type === "poll" && tally.winners.length) {
    section.append(h("p", { id: "winners", text: t(decision.open ? "decision.winners" : "decision.winners.final",
      { names: tally.winners.map((index) => decision.options[index]).join(", ") }) }));
  }
  if (decision.open) {
    section.append(h("p", { class: "leaning", id: "leaning", text: t("decision.leaning",
      { outcome: outcomeText(decision, tally.outcome) }) }));
  }
  return section;
}

function ballotText(decision, ballot) {
  if (decision.type !== "poll") return t("decision.mine.position", { position: t(`decision.position.${ballot.position}`) });
  if (!ballot.options.length) return t("decision.mine.abstained");
  return t("decision.mine.options", { options: ballot.options.map((index) => decision.options[index]).join(", ") });
}

function mineView(decision, delegations) {
  const mine = (decision.votes ?? []).find((vote) => vote.member === state.device.member);
  let text;
  if (mine) {
    text = ballotText(decision, mine);
  } else {
    const delegation = delegations.given.find((given) => given.topic === decision.topic && decision.topic)
      ?? delegations.given.find((given) => given.topic === "");
    text = delegation ? t("decision.mine.delegated", { name: delegation.to.name ?? t("delegate.someone") })
      : t("decision.mine.none");
  }
  return h("section", { "aria-labelledby": "mine-heading" }, h("h2", { id: "mine-heading", text: t("decision.mine") }),
    h("p", { id: "my-vote", text }));
}

// ---- the vote ----

function radio(name, value, label, checked, hint) {
  const id = `${name}-${value}`;
  return h("div", { class: "option" },
    h("input", { type: "radio", name, id, value, checked }),
    h("label", { for: id }, label, hint ? h("span", { class: "hint", text: ` (${hint})` }) : null));
}

function checkbox(name, value, label, checked) {
  const id = `${name}-${value}`;
  return h("div", { class: "option" }, h("input", { type: "checkbox", name, id, value, checked }),
    h("label", { for: id, text: label }));
}

// A ranking the keyboard alone changes: each ranked option has Up, Down and Out buttons, each
// unranked one Add; after a move the focus stays on the button that moved it, and a live line says
// where it is now. `ranking` is option indexes, best first.
function rankingField(decision, ranking) {
  const announce = h("p", { class: "hint", role: "status", id: "rank-status" });
  const ranked = h("ol", { class: "ranking", id: "ranking" });
  const unranked = h("ul", { class: "ranking", id: "unranked" });
  const button = (text, label, action) => h("button", { type: "button", class: "small", text, "aria-label": label,
    "data-rank": action });
  const drawLists = (focusOption, focusAction) => {
    const name = (index) => decision.options[index];
    ranked.replaceChildren(...ranking.map((index, place) => h("li", { "data-option": String(index) },
      h("span", { class: "name", text: `${place + 1}. ${name(index)}` }),
      h("span", { class: "moves" },
        place > 0 ? button(t("decision.rank.up.text"), t("decision.rank.up", { name: name(index) }), "up") : null,
        place < ranking.length - 1 ? button(t("decision.rank.down.text"), t("decision.rank.down", { name: name(index) }), "down") : null,
        button(t("decision.rank.remove.text"), t("decision.rank.remove", { name: name(index) }), "out")))));
    if (!ranking.length) ranked.append(h("li", { class: "muted", text: t("decision.rank.none") }));
    const rest = decision.options.map((_, index) => index).filter((index) => !ranking.includes(index));
    unranked.replaceChildren(...rest.map((index) => h("li", { "data-option": String(index) },
      h("span", { class: "name", text: name(index) }),
      h("span", { class: "moves" }, button(t("decision.rank.add.text"), t("decision.rank.add", { name: name(index) }), "add")))));
    if (focusOption !== undefined) {
      const row = main.querySelector(`li[data-option="${focusOption}"]`);
      const target = row?.querySelector(`[data-rank="${focusAction}"]`) ?? row?.querySelector("[data-rank]");
      target?.focus();
    }
  };
  const move = (event) => {
    const target = event.target.closest("[data-rank]");
    if (!target) return;
    const option = Number(target.closest("li").dataset.option);
    const action = target.dataset.rank;
    const place = ranking.indexOf(option);
    if (action === "up") ranking.splice(place - 1, 0, ...ranking.splice(place, 1));
    if (action === "down") ranking.splice(place + 1, 0, ...ranking.splice(place, 1));
    if (action === "out") ranking.splice(place, 1);
    if (action === "add") ranking.push(option);
    const now = ranking.indexOf(option);
    announce.textContent = now < 0 ? t("decision.rank.removed", { name: decision.options[option] })
      : t("decision.rank.moved", { name: decision.options[option], place: now + 1 });
    // Keep the focus on what moved: the same button if it is still there, else its row's first.
    const next = action === "add" ? "up" : action === "out" ? "add" : action;
    drawLists(option, next);
  };
  ranked.addEventListener("click", move);
  unranked.addEventListener("click", move);
  drawLists();
  return h("fieldset", { class: "rank-field" }, h("legend", { text: t("decision.rank.legend") }),
    h("p", { class: "hint", text: t("decision.rank.hint") }), ranked,
    h("p", { class: "label", id: "unranked-label", text: t("decision.rank.unranked") }), unranked, announce);
}

function voteForm(view, decision) {
  const mine = (decision.votes ?? []).find((vote) => vote.member === state.device.member);
  const problem = h("div", { class: "problem" });
  const ranking = decision.ranked && mine ? [...mine.options] : [];
  let choices;
  let ballot; // () => [position, options] or null when nothing is chosen
  if (decision.type !== "poll") {
    choices = h("fieldset", {}, h("legend", { text: t("decision.how") }),
      ...intents.positions.map((position) => radio("position", position, t(`decision.position.${position}`),
        mine?.position === position, position === "block" ? t("decision.position.block.hint") : null)));
    ballot = () => {
      const chosen = choices.querySelector("input:checked");
      return chosen ? [chosen.value, []] : null;
    };
  } else if (decision.ranked) {
    choices = rankingField(decision, ranking);
    ballot = () => (ranking.length ? [null, [...ranking]] : ["abstain", []]);
  } else if (decision.multiple) {
    choices = h("fieldset", {}, h("legend", { text: t("decision.poll.several") }),
      ...decision.options.map((option, index) => checkbox("option", index, option, Boolean(mine?.options.includes(index)))));
    ballot = () => {
      const chosen = [...choices.querySelectorAll("input:checked")].map((input) => Number(input.value));
      return chosen.length ? [null, chosen] : ["abstain", []];
    };
  } else {
    choices = h("fieldset", {}, h("legend", { text: t("decision.poll.one") }),
      ...decision.options.map((option, index) => radio("option", index, option, mine?.options[0] === index)),
      radio("option", "abstain", t("decision.poll.abstain"), Boolean(mine && !mine.options.length)));
    ballot = () => {
      const chosen = choices.querySelector("input:checked");
      if (!chosen) return null;
      return chosen.value === "abstain" ? ["abstain", []] : [null, [Number(chosen.value)]];
    };
  }
  const submit = h("button", { type: "submit", class: "primary", id: "vote-send",
    text: t(mine ? "decision.vote.change" : "decision.vote") });
  const form = h("form", { novalidate: true, id: "vote-form", "aria-labelledby": "vote-heading" },
    h("h2", { id: "vote-heading", text: t(mine ? "decision.vote.change" : "decision.vote") }),
    h("p", { class: "hint", text: t("decision.vote.hint") }), choices, problem, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.replaceChildren();
    const chosen = ballot();
    if (!chosen) {
      problem.append(alertLine(t("decision.vote.choose")));
      return choices.querySelector("input")?.focus();
    }
    submit.disabled = true;
    submit.textContent = t("decision.vote.sending");
    try {
      await sendAction(intents.vote(decision.id, chosen[0], chosen[1]));
    } catch (error) {
      problem.append(alertLine(errorLine(error)));
      submit.disabled = false;
      submit.textContent = t(mine ? "decision.vote.change" : "decision.vote");
      return;
    }
    counted = true;
    await view.redraw();
    main.querySelector("#vote-counted")?.focus();
  });
  return form;
}

// ---- what a decision changes ----

async function enterpriseName(electorate) {
  if (electorate?.kind !== "holders") return "";
  try {
    return (await api.get(`/api/enterprises/${electorate.enterprise}`)).name;
  } catch {
    return electorate.enterprise;
  }
}

const opened = (text) => (typeof text === "string" ? text : text?.text ?? "");

async function effectText(effect) {
  if (!effect) return t("decision.effect.none");
  const who = async (memberId) => (await nameOf(memberId)) ?? t("delegate.someone");
  const limit = (minor, negative) => (minor === null ? t("effect.default") : money(negative ? -minor : minor));
  switch (effect.kind) {
    case "admit":
      return t("effect.admit", { name: opened(effect.name), role: t(`effect.role.${effect.role}`) });
    case "remove":
    case "recover_key":
      return t(`effect.${effect.kind}`, { name: await who(effect.member) });
    case "set_limits":
      return t("effect.set_limits", { name: await who(effect.account), debit: limit(effect.debit_limit_minor, true),
        ceiling: limit(effect.credit_ceiling_minor, false) });
    case "set_default_limits":
      return t("effect.set_default_limits", { debit: limit(effect.debit_limit_minor, true),
        ceiling: limit(effect.credit_ceiling_minor, false) });
    case "set_rules":
      return t("effect.set_rules", { admission: t(`effect.set_rules.${effect.admission}`),
        quorum: percent(effect.quorum_bp), threshold: percent(effect.threshold_bp) });
    case "set_levy":
      return t("effect.set_levy", { rate: percent(effect.rate_bp), min: money(effect.min_minor), max: money(effect.max_minor) });
    case "treasury_pay":
      return t("effect.treasury_pay", { name: await who(effect.to), amount: money(effect.amount_minor) });
    case "declare_dividend":
      return t("effect.declare_dividend", { amount: money(effect.amount_minor) });
    default:
      return t(`effect.${effect.kind}`);
  }
}
