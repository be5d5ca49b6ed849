// History (/wallet/history): the device member's statement, newest first, a page at a time, each
// row with the balance after it, so the rows add up to the balance (GET /api/members/{id}/history,
// api.md §10); a search of the notes and names (`q`); what is not sent yet (the outbox) and the
// payments across still in flight above it.
//
// How this works: the statement's rows carry the balance after each change, and the node's
// answer the balance now; the first row's balance is that balance, and each row's balance minus
// its amount is the next row's. A search asks the node (`q`, never put in the page's own URL: it
// is personal data) and pages back the same way. A payment across shows as in flight while the
// node still holds it (GET /api/members/{id}/held); a returned one has its own row. Under the rows,
// "Download statement": the same statement for a period as a file (CSV or OFX, downloads.js).
import * as api from "../api.js";
import { periodDownloads } from "../downloads.js";
import { formatTime } from "../format.js";
import * as outbox from "../outbox.js";
import { outboxSection } from "../pending.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, errorLine, h, heading, money, myAccount, show, state, unbroken } from "../ui.js";

export const needsDevice = true;

// A screenful of rows per page.
const historyPageRows = 30;
const searchDelayMs = 300;
// The most characters the node takes in a search (node/http/statement.py search_chars_max).
const searchCharsMax = 64;

// One line of a statement: who (or what), the memo, when, the amount signed; with
// `{balance: true}` the balance after it, with `{inFlight}` the seqs of payments across in flight.
export function historyRow(row, { balance = false, inFlight = null } = {}) {
  const title = row.counterparty_name ?? t(`description.${row.description}`);
  const flying = inFlight !== null && inFlight.has(row.seq);
  return h("li", { class: "row", "data-seq": String(row.seq) },
    h("span", { class: "who" }, h("span", { class: "name", text: title }),
      row.memo ? h("span", { class: "memo", text: row.memo }) : null,
      flying ? h("span", { class: "state sending", text: t("held.in_flight") }) : null,
      h("span", { class: "when", text: formatTime(row.ts_ms) })),
    h("span", { class: "end" },
      h("span", { class: `amount ${row.amount < 0 ? "out" : row.amount > 0 ? "in" : ""}`,
        text: money(row.amount, { signed: true }) }),
      balance ? h("span", { class: "after" }, ...unbroken("history.balance_after", { balance: money(row.balance) })) : null));
}

export async function draw(view) {
  drawTabs("/wallet/history");
  const member = state.device.member;
  let account = null;
  let inFlight = new Set();
  try {
    const [mine, held] = await Promise.all([myAccount(), api.get(`/api/members/${member}/held`)]);
    account = mine;
    inFlight = new Set(held.items.filter((item) => item.kind === "payment_across").map((item) => item.seq));
  } catch (error) {
    if (!outbox.isTransient(error)) throw error;
  }
  if (!view.current()) return;
  const list = h("ul", { class: "rows", id: "history-rows" });
  const empty = h("p", { class: "muted", id: "history-empty", hidden: true });
  const problem = h("div", { class: "problem" });
  const now = h("p", { class: "balance-now", id: "balance-now" });
  const more = h("button", { type: "button", text: t("history.more"), hidden: true });
  const search = h("input", { id: "history-search", type: "search", autocomplete: "off",
    maxlength: String(searchCharsMax), "aria-describedby": "history-search-hint", "aria-controls": "history-rows" });
  let before = null;
  let query = "";
  let loading = 0;
  const load = async (fresh) => {
    const mine = (loading += 1);
    const params = new URLSearchParams({ limit: String(historyPageRows) });
    if (!fresh && before !== null) params.set("before", String(before));
    if (query) params.set("q", query);
    const page = await api.get(`/api/members/${member}/history?${params}`);
    if (!view.current() || mine !== loading) return;
    if (fresh) list.replaceChildren();
    list.append(...page.rows.map((row) => historyRow(row, { balance: true, inFlight })));
    before = page.next;
    more.hidden = before === null;
    more.textContent = query ? t("history.search.more") : t("history.more");
    now.textContent = t("history.balance_now", { balance: money(page.balance) });
    empty.textContent = query ? t("history.search.none") : t("history.none");
    empty.hidden = list.children.length > 0 || (query !== "" && before !== null);
  };
  const failed = (error) => problem.replaceChildren(alertLine(errorLine(error)));
  more.addEventListener("click", () => {
    problem.replaceChildren();
    load(false).catch(failed);
  });
  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      query = search.value.trim().slice(0, searchCharsMax);
      before = null;
      problem.replaceChildren();
      load(true).catch(failed);
    }, searchDelayMs);
  });
  show(heading(t("history.title")), outboxSection(account, () => load(true).catch(failed)),
    h("form", { role: "search", class: "search", onsubmit: (event) => event.preventDefault() },
      h("label", { for: "history-search", text: t("history.search") }), search,
      h("p", { id: "history-search-hint", class: "hint", text: t("history.search.hint") })),
    now, problem, list, empty, more,
    h("section", { id: "statement-download", "aria-labelledby": "statement-download-title" },
      h("h2", { id: "statement-download-title", text: t("history.download") }),
      h("p", { class: "hint", text: t("history.download.intro") }),
      periodDownloads("statement", [
        { label: t("history.download.csv"), path: `/api/exports/statement/${member}`, format: "csv" },
        { label: t("history.download.ofx"), path: `/api/exports/statement/${member}`, format: "ofx" }])));
  try {
    await load(true);
  } catch (error) {
    if (!outbox.isTransient(error)) throw error;
    failed(error);
  }
}
