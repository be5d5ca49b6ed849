// Home (/wallet): the balance against the limits, what is not sent yet (the outbox), what of the
// member's credit is held and why, the latest lines, and the balance live as it changes
// (GET /api/stream, api.md §10).
//
// How this works: the balance, the member, the latest rows and what is held (GET
// /api/members/{id}/held: open subscriptions, resting orders, payments across in flight) are read
// at once; each balance the stream announces, and each payment the outbox sends, reads the rows
// and what is held again. Offline, home shows the outbox alone (kept on the device) and draws
// itself again when the browser is back online.
import * as api from "../api.js";
import { formatTime } from "../format.js";
import * as outbox from "../outbox.js";
import { outboxSection } from "../pending.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, errorLine, h, money, myAccount, navLink, onLeave, show, state, unbroken } from "../ui.js";
import { historyRow } from "./history.js";

export const needsDevice = true;

// A glance: the latest few lines.
const homeRowsMax = 5;
// How often what is held is read again while a payment across is in flight.
const inFlightReadMs = 3_000;

function offlineHome(view, error) {
  const again = () => view.redraw();
  window.addEventListener("online", again);
  onLeave(() => window.removeEventListener("online", again));
  show(alertLine(errorLine(error)), outboxSection(null, null),
    h("p", { class: "actions" }, h("button", { type: "button", text: t("common.retry"), onclick: again })));
}

// One reason credit is held, in words, with its amount.
function heldRow(item) {
  let reason;
  if (item.kind === "payment_across") {
    reason = t("pending.to_across", { community: item.community_name ?? t("pending.other_community") });
  } else if (item.kind === "subscription") {
    reason = t("held.subscription", { enterprise: item.enterprise_name, units: item.units, class: item.class_name });
  } else {
    reason = t(item.side === "buy" ? "held.order.buy" : "held.order.sell", { units: item.units,
      class: item.class_name, enterprise: item.enterprise_name, price: money(item.price) });
  }
  const detail = item.kind === "payment_across" ? t("held.in_flight")
    : item.until_ms ? t("held.until", { when: formatTime(item.until_ms) }) : null;
  return h("li", { class: `row held ${item.kind}` },
    h("span", { class: "who" }, h("span", { class: "name", text: reason }),
      detail ? h("span", { class: "when", text: detail }) : null),
    h("span", { class: "amount", text: money(item.amount) }));
}

function drawHeld(section, held) {
  const some = held.items.length > 0;
  section.replaceChildren(h("h2", { id: "held-title", text: t("held.title") }),
    h("p", { class: "muted", text: some ? t("held.intro") : t("held.none") }),
    ...(some ? [h("ul", { class: "rows", id: "held-items" }, ...held.items.map(heldRow)),
      h("p", { id: "held-total", class: "total", text: t("held.total", { amount: money(held.total) }) })] : []));
}

export async function draw(view) {
  drawTabs("/wallet");
  const member = state.device.member;
  const latestPath = `/api/members/${member}/history?limit=${homeRowsMax}`;
  const heldPath = `/api/members/${member}/held`;
  let account;
  let me;
  let statement;
  let held;
  try {
    [account, me, statement, held] = await Promise.all([myAccount(), api.get(`/api/members/${member}`),
      api.get(latestPath), api.get(heldPath)]);
  } catch (error) {
    if (!outbox.isTransient(error)) throw error;
    if (view.current()) offlineHome(view, error);
    return;
  }
  if (!view.current()) return;
  const balance = h("p", { class: "balance", id: "balance", text: money(account.balance) });
  const rows = h("ul", { class: "rows", id: "latest" }, ...statement.rows.map(historyRow));
  const latest = h("div", {}, statement.rows.length ? rows : h("p", { class: "muted", text: t("home.none") }));
  const heldSection = h("section", { class: "held", id: "held", "aria-labelledby": "held-title" });
  drawHeld(heldSection, held);
  // While a payment across is in flight, what is held is read again now and then: its settling
  // (or return) changes no balance here, so the stream does not announce it.
  let watching = null;
  const watchInFlight = (items) => {
    clearTimeout(watching);
    if (items.some((item) => item.kind === "payment_across")) watching = setTimeout(refresh, inFlightReadMs);
  };
  onLeave(() => clearTimeout(watching));
  let reading = 0;
  const refresh = async () => {
    const mine = (reading += 1);
    try {
      const [fresh, nowHeld, nowAccount] = await Promise.all([api.get(latestPath), api.get(heldPath), myAccount()]);
      if (!view.current() || mine !== reading) return;
      balance.textContent = money(nowAccount.balance);
      rows.replaceChildren(...fresh.rows.map(historyRow));
      latest.replaceChildren(fresh.rows.length ? rows : h("p", { class: "muted", text: t("home.none") }));
      drawHeld(heldSection, nowHeld);
      watchInFlight(nowHeld.items);
    } catch (error) {
      if (!outbox.isTransient(error)) throw error;
      if (view.current()) watching = setTimeout(refresh, inFlightReadMs); // offline again: read again later
    }
  };
  show(h("h1", { class: "greeting", text: me.name }),
    h("section", { class: "card", "aria-labelledby": "balance-label" },
      h("h2", { id: "balance-label", class: "label", text: t("home.balance") }), balance,
      h("p", { class: "limits", id: "limits" },
        h("span", {}, ...unbroken("home.debit_limit", { amount: money(-account.debit_limit) })),
        h("span", {}, ...unbroken("home.credit_ceiling", { amount: money(account.credit_ceiling) })))),
    h("p", { class: "actions" }, navLink("/wallet/pay", t("home.pay"), { class: "button primary" }),
      navLink("/wallet/receive", t("home.receive"), { class: "button" }), inboxLink(member)),
    outboxSection(account, refresh),
    heldSection,
    h("h2", { text: t("home.latest") }), latest,
    h("p", {}, navLink("/wallet/history", t("home.all"))));
  watchInFlight(held.items);
  listen(async (update) => {
    if (!view.current()) return;
    balance.textContent = money(update.balance);
    await refresh();
  });
}

// The inbox, its name carrying how many notices are new (screens/inbox.js, docs/notifications.md);
// read after home is drawn, so a slow inbox never holds the balance back.
function inboxLink(member) {
  const link = navLink("/wallet/inbox", t("home.inbox"), { id: "inbox-link", class: "button" });
  api.get(`/api/members/${member}/inbox?limit=1`).then((page) => {
    if (page.unread) link.textContent = t("home.inbox.unread", { count: page.unread });
  }).catch(() => {}); // offline or refused: the plain link still leads there
  return link;
}

// The balance as it changes: GET /api/stream by the session's cookie (EventSource reconnects by
// itself; a stream refused because its session idled out is opened again after signing in).
function listen(onBalance) {
  let stream = new EventSource("/api/stream");
  onLeave(() => {
    stream?.close();
    stream = null;
  });
  stream.addEventListener("balance", (event) => onBalance(JSON.parse(event.data)));
  stream.addEventListener("error", async () => {
    if (stream && stream.readyState === EventSource.CLOSED) {
      stream = null;
      try {
        await api.signIn();
        listen(onBalance);
      } catch {
        // offline: the next screen drawn listens again
      }
    }
  });
}
