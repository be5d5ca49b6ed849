// Home (/wallet): the balance against the limits, the latest lines, and the balance live as it
// changes (GET /api/stream, api.md §10).
import * as api from "../api.js";
import { t } from "../strings.js";
import { drawTabs, h, money, myAccount, navLink, onLeave, show, state } from "../ui.js";
import { historyRow } from "./history.js";

export const needsDevice = true;

// A glance: the latest few lines.
const homeRowsMax = 5;

export async function draw(view) {
  drawTabs("/wallet");
  const member = state.device.member;
  const [account, me, statement] = await Promise.all([myAccount(), api.get(`/api/members/${member}`),
    api.get(`/api/members/${member}/history?limit=${homeRowsMax}`)]);
  if (!view.current()) return;
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
    if (!view.current()) return;
    balance.textContent = money(update.balance);
    const fresh = await api.get(`/api/members/${member}/history?limit=${homeRowsMax}`);
    if (view.current()) rows.replaceChildren(...fresh.rows.map(historyRow));
  });
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
