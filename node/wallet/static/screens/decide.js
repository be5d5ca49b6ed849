// Decide (/wallet/decide): the community's open decisions with where each stands and its time left,
// and the recently closed with their outcome; each opens to /wallet/decision?id=N (decision.js).
// Links to propose (propose.js) and to the member's delegations (delegate.js). The helpers below
// (time left, shares, outcomes, the decisions' tab) are the Decide screens' own, shared by them.
//
// How this works: GET /api/decisions (docs/decisions.md) answers each decision with its tally,
// live while it is open; `time_left_ms` is by the node's clock, so the phone's clock never makes a
// decision look open or closed. A decision's id is the seq of the event that proposed it, which is
// no personal data, so it may go in a URL; its title and text never do.
import * as api from "../api.js";
import { idFromText } from "../ids.js";
import * as intents from "../intents.js";
import { language, t } from "../strings.js";
import { alertLine, drawTabs, errorLine, h, heading, navLink, show, state } from "../ui.js";

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
      navLink("/wallet/delegate", t("decide.delegate"), { class: "button" })),
    h("h2", { text: t("decide.open") }), list(open, "open-decisions", t("decide.none_open")),
    h("h2", { text: t("decide.closed") }), list(closed, "closed-decisions", t("decide.none_closed")));
}

// Sign `action` with the device's key and send it (intents.js, api.js): {seq, hash} once committed.
export async function sendIntent(action) {
  const { community, device } = state;
  const intent = await intents.signMemberIntent({ privateKey: device.pair.privateKey, key: device.publicKey,
    feed: idFromText("n", community.node), nonce: await intents.nextNonce(), action });
  return api.postIntent(intents.intentJson(intent));
}

// A member's name as this reader may see it, by id (null: not one they may name).
export async function nameOf(memberId) {
  try {
    return (await api.get(`/api/members/${memberId}`)).name;
  } catch {
    return null;
  }
}

// A short list of names while typing, asked for after a pause in the typing (as Pay's search).
const searchResultsMax = 8;
const searchDelayMs = 200;

// A field that finds another member by name: { element, chosen() -> {id, name} or null, focus() }.
// `ids.choose` labels each found name's button ("Delegate to {name}"). Only people (members and
// admins), never the device's own member, never the community's own accounts.
export function memberPicker({ id, label, hint, choose, none, change }) {
  const field = h("div", { class: "field" });
  const search = h("input", { id, type: "search", autocomplete: "off", "aria-describedby": `${id}-hint`,
    "aria-controls": `${id}-results` });
  const results = h("ul", { id: `${id}-results`, class: "choices" });
  let chosen = null;
  let searchTimer = null;
  let searchDraw = 0;
  const drawField = () => {
    if (chosen) {
      const again = h("button", { type: "button", text: change, onclick: () => {
        chosen = null;
        drawField();
        search.focus();
      } });
      field.replaceChildren(h("span", { class: "label", text: label }),
        h("div", { class: "chosen" }, h("span", { class: "name", id: `${id}-chosen`, text: chosen.name }), again));
      again.focus();
    } else {
      results.replaceChildren();
      field.replaceChildren(h("label", { for: id, text: label }), search,
        h("p", { id: `${id}-hint`, class: "hint", text: hint }), results);
    }
  };
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(async () => {
      const typed = search.value.trim();
      const mine = (searchDraw += 1);
      if (!typed) return results.replaceChildren();
      try {
        const found = await api.get(`/api/members?q=${encodeURIComponent(typed)}&limit=${searchResultsMax + 1}`);
        if (mine !== searchDraw) return;
        const people = found.filter((member) => member.active && member.id !== state.device.member &&
          (member.role === "member" || member.role === "admin")).slice(0, searchResultsMax);
        results.replaceChildren(...(people.length ? people.map((member) => h("li", {}, h("button", {
          type: "button", class: "choice", "aria-label": choose(member.name), text: member.name,
          onclick: () => {
            chosen = { id: member.id, name: member.name, role: member.role };
            drawField();
          } })))
          : [h("li", { class: "muted", text: none })]));
      } catch (error) {
        results.replaceChildren(h("li", {}, alertLine(errorLine(error))));
      }
    }, searchDelayMs);
  });
  drawField();
  return { element: field, chosen: () => chosen, focus: () => (chosen ? field.querySelector("button") : search).focus() };
}
