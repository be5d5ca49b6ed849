// The wallet's app: one shell, screens drawn here, routed with the History API (docs/wallet.md).
//
// How this works: `route()` reads location.pathname (/wallet, /wallet/join, /wallet/pay, …) and
// draws that screen into <main>; links marked `data-nav` change the URL with pushState instead of
// loading a page, and popstate draws the screen again. Every screen is built with DOM calls and
// textContent only (never markup from data: a name or memo is shown as text, never run), every
// text from strings.js. The device's member (keys.js) signs in once (api.js) and reads its own
// data from the JSON API; the home screen listens to GET /api/stream for its balance. Names and
// memos are personal data: nothing here logs them or puts them in a URL.
import * as api from "./api.js";
import { formatAmount, formatTime, parseAmount, plainAmount } from "./format.js";
import { fromBase32, idFromText } from "./ids.js";
import * as intents from "./intents.js";
import * as keys from "./keys.js";
import * as store from "./store.js";
import { qrSvg } from "./qr.js";
import { t } from "./strings.js";

const main = document.getElementById("screen");
const tabs = document.getElementById("tabs");
const statusLine = document.getElementById("status");
const communityLink = document.getElementById("community");

// Page sizes the wallet asks for: a glance at home, a screenful in history, a short list of names.
const homeRowsMax = 5;
const historyPageRows = 30;
const searchResultsMax = 8;
const searchDelayMs = 200;

let community = null; // GET /api/community
let device = null; // keys.loadDevice()
let stream = null; // the EventSource of the home screen
let drawing = 0; // which draw is current: a slow answer for a screen left behind draws nothing

// ---- the DOM, by calls only ----

function h(tag, attributes = {}, ...children) {
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

function navLink(path, text, attributes = {}) {
  return h("a", { href: path, "data-nav": true, text, ...attributes });
}

function show(...children) {
  main.replaceChildren(...children);
}

function errorLine(error, values = {}) {
  const code = error instanceof api.ApiError ? error.code : "default";
  const id = `error.${code}`;
  const text = t(id, { message: error.message || code, ...values });
  return text === id ? t("error.default", { message: error.message || code }) : text;
}

function alertLine(text) {
  return h("p", { class: "alert", role: "alert", text });
}

function heading(text) {
  return h("h1", { text });
}

// ---- what the wallet knows ----

// The community's public facts (name, unit, feed id): kept on the device too, so that the wallet
// opened offline still says whose wallet it is.
async function loadCommunity() {
  if (community === null) {
    try {
      community = await api.get("/api/community");
      await store.put("community", { name: community.name, unit: community.unit, node: community.node });
    } catch (error) {
      const kept = await store.get("community");
      if (kept) {
        communityLink.textContent = kept.name;
      }
      throw error;
    }
  }
  communityLink.textContent = community.name;
  document.title = `${community.name} · ${t("app.title")}`;
  return community;
}

function money(minor, options) {
  return formatAmount(minor, community.unit, options);
}

async function signedIn() {
  device = device ?? (await keys.loadDevice());
  if (!device) return false;
  api.useDevice(device);
  await api.ensureSession();
  return true;
}

function drawTabs(current) {
  const entries = [["/wallet", "nav.home"], ["/wallet/pay", "nav.pay"], ["/wallet/receive", "nav.receive"],
    ["/wallet/history", "nav.history"], ["/wallet/settings", "nav.settings"]];
  tabs.replaceChildren(...entries.map(([path, id]) =>
    navLink(path, t(id), { "aria-current": path === current ? "page" : false })));
  tabs.setAttribute("aria-label", t("nav.label"));
  tabs.hidden = false;
}

// ---- screens ----

function noDevice() {
  tabs.hidden = true;
  show(heading(t("device.none.title")), h("p", { text: t("device.none.text") }));
}

function unsupported() {
  tabs.hidden = true;
  show(heading(t("unsupported.title")), h("p", { text: t("unsupported.text") }));
}

function fragmentFields() {
  const fields = new URLSearchParams(location.hash.slice(1));
  return fields;
}

async function joinScreen() {
  tabs.hidden = true;
  await loadCommunity();
  const fields = fragmentFields();
  let seed = null;
  try {
    seed = fromBase32(fields.get("i") ?? "");
  } catch {
    seed = null;
  }
  const existing = await keys.loadDevice();
  if (existing && existing.joined) {
    show(heading(t("join.title", { community: community.name })), h("p", { text: t("join.already") }),
      h("p", {}, navLink("/wallet", t("join.open"), { class: "button" })));
    return;
  }
  if (!seed || seed.length !== keys.seedBytes) {
    show(heading(t("join.title", { community: community.name })), alertLine(t("join.bad_link")));
    return;
  }
  const name = h("input", { id: "join-name", name: "name", type: "text", autocomplete: "name", required: true,
    maxlength: String(intents.nameCharsMax), "aria-describedby": "join-name-hint" });
  name.value = fields.get("n") ?? "";
  const problem = h("div", { class: "problem" });
  const submit = h("button", { type: "submit", class: "primary", text: t("join.submit") });
  const form = h("form", { novalidate: true },
    h("label", { for: "join-name", text: t("join.name") }), name,
    h("p", { id: "join-name-hint", class: "hint", text: t("join.name.hint") }), problem, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const typed = name.value.trim();
    if (typed === "") return problem.replaceChildren(alertLine(t("join.name.empty")));
    if ([...typed].length > intents.nameCharsMax) {
      return problem.replaceChildren(alertLine(t("join.name.long", { count: intents.nameCharsMax })));
    }
    submit.disabled = true;
    submit.textContent = t("join.working");
    problem.replaceChildren();
    try {
      await join(seed, typed);
      seed = null; // the invitation's seed is used up: forget it
      history.replaceState(null, "", "/wallet"); // and the link's fragment with it
      await route();
    } catch (error) {
      problem.replaceChildren(alertLine(errorLine(error)));
      submit.disabled = false;
      submit.textContent = t("join.submit");
    }
  });
  show(heading(t("join.title", { community: community.name })),
    h("p", { text: t("join.intro", { community: community.name }) }), form);
}

// Make the device key, send the join signed by the invitation's key, keep the device, sign in.
async function join(seed, name) {
  const made = await keys.makeDeviceKey();
  const invitation = await keys.importSeed(seed);
  const feed = idFromText("n", community.node);
  const intent = await intents.signMemberIntent({ privateKey: invitation.privateKey, key: invitation.publicKey,
    feed, nonce: await intents.nextNonce(), action: intents.join(made.publicKey, name) });
  // Kept before it is sent: were the page to close after the node admitted it, the key survives.
  await keys.saveDevice(made, community.node, false);
  try {
    await api.postIntent(intents.intentJson(intent));
  } catch (error) {
    await keys.forgetDevice();
    throw error;
  }
  await keys.saveDevice(made, community.node, true);
  device = await keys.loadDevice();
  api.useDevice(device);
  await api.signIn();
}

async function myAccount() {
  const [balance] = await api.get(`/api/balances?account=${device.member}`);
  return balance;
}

function historyRow(row) {
  const title = row.counterparty_name ?? t(`description.${row.description}`);
  return h("li", { class: "row" },
    h("span", { class: "who" }, h("span", { class: "name", text: title }),
      row.memo ? h("span", { class: "memo", text: row.memo }) : null,
      h("span", { class: "when", text: formatTime(row.ts_ms) })),
    h("span", { class: `amount ${row.amount < 0 ? "out" : row.amount > 0 ? "in" : ""}`,
      text: money(row.amount, { signed: true }) }));
}

async function homeScreen(draw) {
  drawTabs("/wallet");
  const [account, me, statement] = await Promise.all([myAccount(), api.get(`/api/members/${device.member}`),
    api.get(`/api/members/${device.member}/history?limit=${homeRowsMax}`)]);
  if (draw !== drawing) return;
  const balance = h("p", { class: "balance", id: "balance", text: money(account.balance) });
  const rows = h("ul", { class: "rows", id: "latest" }, ...statement.rows.map(historyRow));
  show(h("h1", { class: "greeting", text: me.name }),
    h("section", { class: "card", "aria-labelledby": "balance-label" },
      h("h2", { id: "balance-label", class: "label", text: t("home.balance") }), balance,
      h("p", { class: "limits", id: "limits" },
        h("span", { text: t("home.debit_limit", { amount: money(-account.debit_limit) }) }),
        h("span", { text: t("home.credit_ceiling", { amount: money(account.credit_ceiling) }) }))),
    h("p", { class: "actions" }, navLink("/wallet/pay", t("home.pay"), { class: "button primary" }),
      navLink("/wallet/receive", t("home.receive"), { class: "button" })),
    h("h2", { text: t("home.latest") }),
    statement.rows.length ? rows : h("p", { class: "muted", text: t("home.none") }),
    statement.rows.length ? h("p", {}, navLink("/wallet/history", t("home.all"))) : null);
  listen(async (update) => {
    if (draw !== drawing) return;
    balance.textContent = money(update.balance);
    const fresh = await api.get(`/api/members/${device.member}/history?limit=${homeRowsMax}`);
    if (draw === drawing) rows.replaceChildren(...fresh.rows.map(historyRow));
  });
}

// The balance as it changes: GET /api/stream by the session's cookie (EventSource reconnects).
function listen(onBalance) {
  closeStream();
  stream = new EventSource("/api/stream");
  let first = true;
  stream.addEventListener("balance", (event) => {
    const update = JSON.parse(event.data);
    if (first) { // the balance at once on connecting: already drawn, unless it moved meanwhile
      first = false;
    }
    onBalance(update);
  });
  stream.addEventListener("error", async () => {
    if (stream && stream.readyState === EventSource.CLOSED) { // refused (its session idled out): sign in again
      try {
        await api.signIn();
        listen(onBalance);
      } catch {
        // offline: the next screen drawn listens again
      }
    }
  });
}

function closeStream() {
  if (stream) stream.close();
  stream = null;
}

async function historyScreen(draw) {
  drawTabs("/wallet/history");
  const list = h("ul", { class: "rows" });
  const more = h("button", { type: "button", text: t("history.more") });
  let before = null;
  const load = async () => {
    const page = await api.get(`/api/members/${device.member}/history?limit=${historyPageRows}` +
      (before === null ? "" : `&before=${before}`));
    if (draw !== drawing) return;
    list.append(...page.rows.map(historyRow));
    before = page.next;
    more.hidden = before === null;
    if (!list.children.length) list.replaceWith(h("p", { class: "muted", text: t("history.none") }));
  };
  more.addEventListener("click", () => load().catch((error) => more.after(alertLine(errorLine(error)))));
  show(heading(t("history.title")), list, more);
  await load();
}

async function receiveScreen() {
  drawTabs("/wallet/receive");
  const link = `${location.origin}/wallet/pay?to=${device.member}`;
  const copied = h("span", { role: "status", class: "muted" });
  const copy = h("button", { type: "button", text: t("receive.copy"), onclick: async () => {
    await navigator.clipboard.writeText(link);
    copied.textContent = t("receive.copied");
  } });
  show(heading(t("receive.title")), h("p", { text: t("receive.text") }),
    h("div", { class: "qr-box" }, qrSvg(link, t("receive.qr"))),
    h("label", { for: "pay-link", text: t("receive.link") }),
    h("output", { id: "pay-link", class: "link", text: link }),
    h("p", { class: "actions" }, copy, copied));
}

async function settingsScreen(draw) {
  drawTabs("/wallet/settings");
  const [me, sessions] = await Promise.all([api.get(`/api/members/${device.member}`), api.get("/api/sessions")]);
  if (draw !== drawing) return;
  const list = h("ul", { class: "rows", id: "sessions" });
  const drawSessions = (entries) => list.replaceChildren(...entries.map((session) => h("li", { class: "row" },
    h("span", { class: "who" }, h("span", { class: "name", text: session.label }),
      h("span", { class: "when", text: t("settings.last_seen", { when: formatTime(session.last_seen_ms) }) })),
    session.current ? h("span", { class: "muted", text: t("settings.current") })
      : h("button", { type: "button", text: t("settings.end"), onclick: async () => {
        await api.remove(`/api/sessions/${encodeURIComponent(session.id)}`);
        drawSessions(await api.get("/api/sessions"));
      } }))));
  drawSessions(sessions);
  const signOut = h("button", { type: "button", text: t("settings.sign_out"), onclick: async () => {
    closeStream();
    await api.signOut();
    tabs.hidden = true;
    show(heading(t("settings.title")), h("p", { id: "signed-out", text: t("settings.signed_out") }),
      h("button", { type: "button", class: "primary", text: t("settings.sign_in"), onclick: () => route() }));
  } });
  show(heading(t("settings.title")),
    h("dl", {}, h("dt", { text: t("settings.name") }), h("dd", { text: me.name }),
      h("dt", { text: t("settings.member") }), h("dd", { class: "id", id: "member-id", text: device.member })),
    h("h2", { text: t("settings.sessions") }), list, h("p", { class: "actions" }, signOut));
}

// ---- pay: choose, amount, confirm, receipt ----

async function payScreen(draw) {
  drawTabs("/wallet/pay");
  const query = new URLSearchParams(location.search);
  const fragment = fragmentFields();
  const account = await myAccount();
  let payee = null; // {id, name}
  const linked = query.get("to");
  if (linked) {
    try {
      idFromText("m", linked);
      const member = await api.get(`/api/members/${linked}`);
      if (member.active && member.id !== device.member) payee = { id: member.id, name: member.name };
    } catch {
      payee = null;
    }
  }
  if (draw !== drawing) return;
  const problem = h("div", { class: "problem" });
  if (linked && !payee) problem.append(alertLine(t("pay.unknown_payee")));

  const search = h("input", { id: "pay-to", type: "search", autocomplete: "off", "aria-describedby": "pay-to-hint",
    "aria-controls": "pay-results" });
  const results = h("ul", { id: "pay-results", class: "choices" });
  const chosen = h("div", { class: "chosen" });
  const toField = h("div", { class: "field" });
  const choose = (member) => {
    payee = member;
    chosen.replaceChildren(h("span", { class: "name", id: "payee", text: member.name }),
      h("button", { type: "button", text: t("pay.change"), onclick: () => {
        payee = null;
        drawTo();
        search.focus();
      } }));
    drawTo();
  };
  const drawTo = () => {
    if (payee) {
      toField.replaceChildren(h("span", { class: "label", text: t("pay.to") }), chosen);
    } else {
      results.replaceChildren();
      toField.replaceChildren(h("label", { for: "pay-to", text: t("pay.to") }), search,
        h("p", { id: "pay-to-hint", class: "hint", text: t("pay.search.hint") }), results);
    }
  };
  let searchTimer = null;
  let searchDraw = 0;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(async () => {
      const typed = search.value.trim();
      const mine = (searchDraw += 1);
      if (!typed) return results.replaceChildren();
      try {
        const found = await api.get(`/api/members?q=${encodeURIComponent(typed)}&limit=${searchResultsMax + 1}`);
        if (mine !== searchDraw) return;
        const people = found.filter((member) => member.active && member.id !== device.member &&
          (member.role === "member" || member.role === "admin")).slice(0, searchResultsMax);
        results.replaceChildren(...(people.length ? people.map((member) => h("li", {}, h("button", {
          type: "button", class: "choice", "aria-label": t("pay.search.choose", { name: member.name }),
          text: member.name, onclick: () => choose({ id: member.id, name: member.name }) })))
          : [h("li", { class: "muted", text: t("pay.search.none") })]));
      } catch (error) {
        results.replaceChildren(h("li", {}, alertLine(errorLine(error))));
      }
    }, searchDelayMs);
  });
  if (payee) choose(payee);
  else drawTo();

  const amount = h("input", { id: "pay-amount", type: "text", inputmode: "decimal", autocomplete: "off",
    required: true });
  const given = query.get("amount") ?? fragment.get("amount");
  if (given && !parseAmount(given, community.unit.decimals).error) amount.value = given;
  const memo = h("input", { id: "pay-memo", type: "text", autocomplete: "off",
    maxlength: String(intents.memoCharsMax) });
  memo.value = fragment.get("memo") ?? "";
  const form = h("form", { novalidate: true }, toField,
    h("div", { class: "field" }, h("label", { for: "pay-amount", text: t("pay.amount", { unit: community.unit.code }) }),
      amount),
    h("div", { class: "field" }, h("label", { for: "pay-memo", text: t("pay.memo") }), memo),
    problem, h("button", { type: "submit", class: "primary", text: t("pay.review") }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    problem.replaceChildren();
    if (!payee) return problem.append(alertLine(t("pay.choose_first")));
    const parsed = parseAmount(amount.value, community.unit.decimals);
    if (parsed.error) {
      amount.setAttribute("aria-invalid", "true");
      problem.append(alertLine(t(parsed.error, { decimals: community.unit.decimals })));
      return amount.focus();
    }
    amount.removeAttribute("aria-invalid");
    if ([...memo.value].length > intents.memoCharsMax) {
      return problem.append(alertLine(t("memo.long", { count: intents.memoCharsMax })));
    }
    confirmScreen({ payee, minor: parsed.minor, memo: memo.value.trim(), account,
      back: () => { show(heading(t("pay.title")), form); amount.focus(); } });
  });
  show(heading(t("pay.title")), form);
}

function confirmScreen({ payee, minor, memo, account, back }) {
  const problem = h("div", { class: "problem" });
  const send = h("button", { type: "button", class: "primary", id: "pay-send", text: t("pay.send") });
  const change = h("button", { type: "button", text: t("pay.back"), onclick: back });
  send.addEventListener("click", async () => {
    send.disabled = true;
    change.disabled = true;
    send.textContent = t("pay.sending");
    problem.replaceChildren();
    try {
      const intent = await intents.signMemberIntent({ privateKey: device.pair.privateKey, key: device.publicKey,
        feed: idFromText("n", community.node), nonce: await intents.nextNonce(),
        action: intents.transfer(idFromText("m", payee.id), minor, memo) });
      await api.postIntent(intents.intentJson(intent));
      receiptScreen({ payee, minor });
    } catch (error) {
      const available = BigInt(account.balance) + BigInt(account.debit_limit);
      problem.replaceChildren(alertLine(errorLine(error, { available: money(available > 0n ? available : 0n) })));
      send.disabled = false;
      change.disabled = false;
      send.textContent = t("pay.send");
    }
  });
  show(heading(t("pay.confirm.title")),
    h("dl", { class: "summary" }, h("dt", { text: t("pay.confirm.to") }), h("dd", { id: "confirm-payee", text: payee.name }),
      h("dt", { text: t("pay.confirm.amount") }), h("dd", { id: "confirm-amount", class: "big", text: money(minor) }),
      memo ? h("dt", { text: t("pay.confirm.memo") }) : null, memo ? h("dd", { text: memo }) : null),
    problem, h("p", { class: "actions" }, send, change));
  send.focus();
}

async function receiptScreen({ payee, minor }) {
  const account = await myAccount();
  show(h("h1", { id: "receipt", text: t("pay.receipt.title") }),
    h("p", { class: "big", text: t("pay.receipt.text", { amount: money(minor), name: payee.name }) }),
    h("p", { id: "receipt-balance", text: t("pay.receipt.balance", { balance: money(account.balance) }) }),
    h("p", { class: "actions" }, navLink("/wallet", t("pay.home"), { class: "button primary" }),
      navLink("/wallet/pay", t("pay.again"), { class: "button" })));
  main.focus();
}

// ---- routing ----

const screens = { "/wallet": homeScreen, "/wallet/pay": payScreen, "/wallet/receive": receiveScreen,
  "/wallet/history": historyScreen, "/wallet/settings": settingsScreen };

async function route() {
  const draw = (drawing += 1);
  closeStream();
  const path = location.pathname.replace(/\/$/, "");
  show(h("p", { class: "muted", text: t("common.loading") }));
  try {
    if (!keys.isSupported()) return unsupported();
    if (path === "/wallet/join") return await joinScreen();
    await loadCommunity();
    if (!(await signedIn())) return noDevice();
    const screen = screens[path] ?? homeScreen;
    await screen(draw);
  } catch (error) {
    if (draw !== drawing) return;
    show(alertLine(errorLine(error)), h("button", { type: "button", text: t("common.retry"), onclick: () => route() }));
  }
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  history.pushState(null, "", link.getAttribute("href"));
  route().then(() => main.focus({ preventScroll: true }));
});
window.addEventListener("popstate", () => route());
window.addEventListener("offline", () => { statusLine.textContent = t("common.offline"); });
window.addEventListener("online", () => { statusLine.textContent = ""; });

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/wallet/sw.js", { scope: "/wallet", type: "classic" }).catch(() => {});
}
communityLink.setAttribute("aria-label", t("nav.home"));
route();
