// History (/wallet/history): the device member's statement, newest first, a page at a time
// (GET /api/members/{id}/history, api.md §10).
import * as api from "../api.js";
import { formatTime } from "../format.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, errorLine, h, heading, money, show, state } from "../ui.js";

export const needsDevice = true;

// A screenful of rows per page.
const historyPageRows = 30;

// One line of a statement: who (or what), the memo, when, and the amount signed.
export function historyRow(row) {
  const title = row.counterparty_name ?? t(`description.${row.description}`);
  return h("li", { class: "row" },
    h("span", { class: "who" }, h("span", { class: "name", text: title }),
      row.memo ? h("span", { class: "memo", text: row.memo }) : null,
      h("span", { class: "when", text: formatTime(row.ts_ms) })),
    h("span", { class: `amount ${row.amount < 0 ? "out" : row.amount > 0 ? "in" : ""}`,
      text: money(row.amount, { signed: true }) }));
}

export async function draw(view) {
  drawTabs("/wallet/history");
  const list = h("ul", { class: "rows" });
  const more = h("button", { type: "button", text: t("history.more") });
  let before = null;
  const load = async () => {
    const page = await api.get(`/api/members/${state.device.member}/history?limit=${historyPageRows}` +
      (before === null ? "" : `&before=${before}`));
    if (!view.current()) return;
    list.append(...page.rows.map(historyRow));
    before = page.next;
    more.hidden = before === null;
    if (!list.children.length) list.replaceWith(h("p", { class: "muted", text: t("history.none") }));
  };
  more.addEventListener("click", () => load().catch((error) => more.after(alertLine(errorLine(error)))));
  show(heading(t("history.title")), list, more);
  await load();
}
