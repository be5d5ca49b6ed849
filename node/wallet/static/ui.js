// What every screen of the wallet shares: the DOM by calls, one-line errors, the community and the
// device as this page knows them, the tabs, and what a screen leaves running (docs/wallet.md).
//
// How this works: a screen module (screens/<name>.js) exports `draw(view)`, where `view.current()`
// tells whether the screen is still the one on show (a slow answer for a screen left behind draws
// nothing). Every element is made with `h()` by DOM calls and textContent only: never markup from
// data, so a name or memo is shown as text and never runs. Every text comes from strings.js.
// `onLeave(fn)` registers what to stop when another screen is drawn (a stream, a timer).
import * as api from "./api.js";
import { formatAmount } from "./format.js";
import * as keys from "./keys.js";
import * as outbox from "./outbox.js";
import * as store from "./store.js";
import { t } from "./strings.js";

export const main = document.getElementById("screen");
export const tabs = document.getElementById("tabs");
export const statusLine = document.getElementById("status");
export const communityLink = document.getElementById("community");

// What the page knows: the community's public facts (GET /api/community) and this device's member.
export const state = { community: null, communityKept: false, device: null, offline: false };

const leaving = [];

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") element.textContent = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

export function navLink(path, text, attributes = {}) {
  return h("a", { href: path, "data-nav": true, text, ...attributes });
}

// Draw a screen: what is left out (null, false: a section a reader has no part in) draws nothing.
export function show(...children) {
  main.replaceChildren(...children.filter((child) => child !== null && child !== undefined && child !== false));
}

// A refusal as one line: the node's code's own text, else the node's message.
export function errorLine(error, values = {}) {
  const code = error instanceof api.ApiError ? error.code : "default";
  const id = `error.${code}`;
  const text = t(id, { message: error.message || code, ...values });
  return text === id ? t("error.default", { message: error.message || code }) : text;
}

// The text of message `id` with its {placeholders} filled, each value in a span that never breaks
// across lines (an amount and its unit, "1.000,00 HRS"): children for h(). Read as text, it is
// exactly t(id, values).
export function unbroken(id, values) {
  return t(id).split(/\{(\w+)\}/).map((part, index) => {
    if (index % 2 === 0) return part ? document.createTextNode(part) : null;
    return part in values ? h("span", { class: "unbroken", text: String(values[part]) }) : document.createTextNode(`{${part}}`);
  });
}

export function alertLine(text) {
  return h("p", { class: "alert", role: "alert", text });
}

export function heading(text) {
  return h("h1", { text });
}

// The fields of the URL's fragment (#a=1&b=2): what a link carries that no server ever sees.
export function fragmentFields() {
  return new URLSearchParams(location.hash.slice(1));
}

// The community's public facts (name, unit, feed id): kept on the device too, so that the wallet
// opened offline still says whose wallet it is.
export async function loadCommunity() {
  if (state.community === null || state.communityKept) {
    try {
      state.community = await api.get("/api/community");
      state.communityKept = false;
      const { name, unit, node } = state.community;
      await store.put("community", { name, unit, node });
    } catch (error) {
      const kept = await store.get("community");
      if (kept) communityLink.textContent = kept.name;
      // Offline, the kept facts let a screen show what is on the device (the outbox); asked again
      // on the next screen drawn.
      if (!(kept && error instanceof api.ApiError && error.code === "offline")) throw error;
      state.offline = true;
      state.community = kept;
      state.communityKept = true;
      communityLink.textContent = kept.name;
      return kept;
    }
  }
  state.offline = false;
  communityLink.textContent = state.community.name;
  document.title = `${state.community.name} · ${t("app.title")}`;
  return state.community;
}

export function money(minor, options) {
  return formatAmount(minor, state.community.unit, options);
}

// This device's member signed in (a session cookie), or false when the device holds no member.
export async function signedIn() {
  state.device = state.device ?? (await keys.loadDevice());
  if (!state.device) return false;
  api.useDevice(state.device);
  try {
    await api.ensureSession();
  } catch (error) {
    // Offline, a screen that needs the node says so itself; the outbox keeps what is signed.
    if (!(error instanceof api.ApiError && error.code === "offline")) throw error;
    state.offline = true;
    return true;
  }
  outbox.drainSoon(); // the wallet opened, or a screen drawn, with the node in reach
  return true;
}

// The device's own account: balance and limits (GET /api/balances).
export async function myAccount() {
  const [balance] = await api.get(`/api/balances?account=${state.device.member}`);
  return balance;
}

// The tabs, one per main screen (six fit a 360-px phone); `current` is the path of the screen on
// show. History and Receive are reached from home, the rest of what a member does from More.
const tabEntries = [
  ["/wallet", "nav.home"],
  ["/wallet/pay", "nav.pay"],
  ["/wallet/decide", "nav.decide"],
  ["/wallet/own", "nav.own"],
  ["/wallet/market", "nav.market"],
  ["/wallet/settings", "nav.settings"],
];

export function drawTabs(current) {
  tabs.replaceChildren(...tabEntries.map(([path, id]) =>
    navLink(path, t(id), { "aria-current": path === current ? "page" : false })));
  tabs.setAttribute("aria-label", t("nav.label"));
  tabs.hidden = false;
}

export function hideTabs() {
  tabs.hidden = true;
}

export function onLeave(stop) {
  leaving.push(stop);
}

// A timer that stops when another screen is drawn (a wait that polls the node):
// { later(fn, ms): run fn after ms (replacing what was waiting), cancel(), stopped() }.
export function screenTimer() {
  let timer = null;
  let stopped = false;
  onLeave(() => {
    stopped = true;
    clearTimeout(timer);
  });
  return {
    later: (fn, ms) => {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    },
    cancel: () => clearTimeout(timer),
    stopped: () => stopped,
  };
}

// Stop what the screen on show left running: called before another screen is drawn.
export function leave() {
  for (const stop of leaving.splice(0)) {
    try {
      stop();
    } catch {
      // a stop that fails leaves nothing worse than before
    }
  }
}
