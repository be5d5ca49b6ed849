// Decide (/wallet/decide): the community's open decisions with where each stands and its time left,
// and the recently closed with their outcome; each opens to /wallet/decision?id=N (decision.js).
// Links to propose (propose.js), to the member's delegations (delegate.js) and to the rules in force
// (rules.js). The helpers below (time left, shares, outcomes, the decisions' tab, a member's name)
// are the Decide screens' own, shared by them; finding a member is pickers.js, signing and sending
// sending.js.
//
// How this works: GET /api/decisions (docs/decisions.md) answers each decision with its tally,
// live while it is open; `time_left_ms` is by the node's clock, so the phone's clock never makes a
// decision look open or closed. A decision's id is the seq of the event that proposed it, which is
// no personal data, so it may go in a URL; its title and text never do.
import * as api from "../api.js";
import { language, t } from "../strings.js";
import { drawTabs, h, heading, navLink, show } from "../ui.js";

export const needsDevice = true;

// The newest decisions asked for: every open one a screen should list, and the latest closed.
const decisionsAskedMax = 100;
const closedShownMax = 5;

const minuteMs = 60 * 1000;
const hourMs = 60 * minuteMs;
const dayMs = 24 * hourMs;
const plurals = new Intl.PluralRules(language);

// Every Decide screen is under the Decide tab.
export function drawDecideTabs() {
  drawTabs("/wallet/decide");
}

function counted(unit, count) {
  return t(`time.${unit}.${plurals.select(count) === "one" ? "one" : "other"}`, { count });
}

// A duration as a person reads it, to the nearest minute: "2 days 3 hours", "5 hours", "12 minutes",
// "under a minute". (Days and hours only, past a day: the minutes of a three-day wait are noise.)
export function duration(exactMs) {
  const ms = Math.round(exactMs / minuteMs) * minuteMs;
  if (ms < minuteMs) return t("time.under_minute");
  const days = Math.floor(ms / dayMs);
  const hours = Math.floor((ms % dayMs) / hourMs);
  if (days) return hours ? `${counted("days", days)} ${counted("hours", hours)}` : counted("days", days);
  const minutes = Math.floor((ms % hourMs) / minuteMs);
  if (hours) return minutes ? `${counted("hours", hours)} ${counted("minutes", minutes)}` : counted("hours", hours);
  return counted("minutes", minutes);
}

// Basis points as a percentage: 6667 is "66.67 %".
export function percent(basisPoints) {
  return `${new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 }).format(basisPoints / 100)} %`;
}

export function outcomeText(decision, outcome) {
  if (decision.type === "poll" && outcome === "passed") return t("decide.outcome.poll");
  return t(`decide.outcome.${outcome}`);
}

export function decisionLink(decision) {
  return `/wallet/decision?id=${decision.id}`;
}

function decisionRow(decision) {
  const lines = [h("span", { class: "when", text: t(`decide.type.${decision.type}`) })];
  if (decision.tally) {
    lines.push(h("span", { class: "when", text: t("decide.took_part", {
      count: decision.tally.participants_people, total: decision.tally.electorate_people }) }));
  }
  const status = decision.open ? t("decide.left", { time: duration(decision.time_left_ms) })
    : outcomeText(decision, decision.outcome);
  return h("li", { class: "row" },
    h("span", { class: "who" }, navLink(decisionLink(decision), decision.title, { class: "name" }), ...lines),
    h("span", { class: `status-word ${decision.open ? "" : decision.outcome}`, text: status }));
}

export async function draw(view) {
  drawDecideTabs();
  const decisions = await api.get(`/api/decisions?limit=${decisionsAskedMax}`);
  if (!view.current()) return;
  const open = decisions.filter((decision) => decision.open)
    .sort((a, b) => a.time_left_ms - b.time_left_ms); // the next to close first
  const closed = decisions.filter((decision) => !decision.open).slice(0, closedShownMax);
  const list = (rows, id, none) => (rows.length ? h("ul", { class: "rows", id }, ...rows.map(decisionRow))
    : h("p", { class: "muted", id, text: none }));
  show(heading(t("decide.title")),
    h("p", { class: "actions" }, navLink("/wallet/propose", t("decide.propose"), { class: "button primary" }),
      navLink("/wallet/delegate", t("decide.delegate"), { class: "button" }),
      navLink("/wallet/rules", t("decide.rules"), { class: "button", id: "rules-link" })),
    h("h2", { text: t("decide.open") }), list(open, "open-decisions", t("decide.none_open")),
    h("h2", { text: t("decide.closed") }), list(closed, "closed-decisions", t("decide.none_closed")));
}

// A member's name as this reader may see it, by id (null: not one they may name).
export async function nameOf(memberId) {
  try {
    return (await api.get(`/api/members/${memberId}`)).name;
  } catch {
    return null;
  }
}
