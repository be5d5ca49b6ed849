// Inbox (/wallet/inbox): what concerns the device's member, newest first, the unread ones marked,
// each a line a person reads and a link to what it is about (GET /api/members/{id}/inbox,
// docs/notifications.md); everything shown is marked read.
//
// How this works: the node keeps the notices (kinds, ids, amounts, never a memo) and names the
// other party as the member may see names; the line is written here from strings.js, so it is in
// the reader's language. Opening the inbox marks what it shows read (POST …/inbox/read), after it
// is drawn with the unread ones marked, so the member still sees which are new this time. A weekly
// digest lists under its line the titles it counts (`titles`: the new listings still on the market,
// the decisions open), as its mail names them; they are members' texts, drawn as text only.
import * as api from "../api.js";
import { formatAmount, formatTime } from "../format.js";
import { t } from "../strings.js";
import { drawTabs, h, heading, navLink, show, state } from "../ui.js";

export const needsDevice = true;

// A screenful of notices per page (the node gives at most 50).
const inboxPageNotices = 20;

// Where a notice leads: the screen of what it is about.
function linkOf(notice) {
  switch (notice.kind) {
    case "decision_opened":
    case "decision_closing":
      return `/wallet/decision?id=${encodeURIComponent(notice.ref)}`;
    case "delegated":
      return "/wallet/delegate";
    case "offer_closed":
    case "order_filled":
      return "/wallet/own";
    case "listing_expiring":
      return `/wallet/listing?id=${encodeURIComponent(notice.ref)}`;
    case "weekly_digest":
      return "/wallet/market";
    default:
      return "/wallet/history";
  }
}

// One notice as a line a person reads: "Sam Fenn paid you 5.00 HRS".
export function noticeLine(notice, unit) {
  const values = {
    who: notice.other?.name ?? t("inbox.someone"),
    amount: notice.amount === null ? "" : formatAmount(notice.amount, unit),
    units: notice.units ?? 0,
    decision: notice.ref,
    listings: notice.units ?? 0,
    decisions: notice.detail ?? "0",
  };
  let id = `inbox.${notice.kind}`;
  if (notice.kind === "payment_received") {
    id = notice.ref === "across" ? "inbox.payment_received.across" : notice.other?.name ? id : "inbox.payment_received.someone";
  } else if (notice.kind === "offer_closed") {
    id = notice.detail === "allotted" ? "inbox.offer_closed.allotted" : "inbox.offer_closed.refunded";
  } else if (notice.kind === "order_filled") {
    id = notice.detail === "bought" ? "inbox.order_filled.bought" : "inbox.order_filled.sold";
  }
  return t(id, values);
}

// A digest's titles: "New in the market: …" and "Decisions open: …", each a short list.
function digestTitles(titles) {
  if (!titles) return null;
  const part = (id, list) => list.length ? h("span", { class: "titles" }, h("span", { text: t(id) }),
    h("ul", {}, ...list.map((title) => h("li", { text: title })))) : null;
  return [part("inbox.digest.listings", titles.listings ?? []), part("inbox.digest.decisions", titles.decisions ?? [])];
}

function noticeRow(notice, unit) {
  return h("li", { class: `row notice${notice.read ? "" : " unread"}`, "data-kind": notice.kind },
    h("span", { class: "who" },
      navLink(linkOf(notice), noticeLine(notice, unit), { class: "name" }),
      ...(digestTitles(notice.titles) ?? []),
      notice.read ? null : h("span", { class: "state waiting", text: t("inbox.new") }),
      h("span", { class: "when", text: formatTime(notice.created_ms) })));
}

export async function draw(view) {
  drawTabs("/wallet");
  const member = state.device.member;
  const path = `/api/members/${member}/inbox?limit=${inboxPageNotices}`;
  const page = await api.get(path);
  if (!view.current()) return;
  const unit = page.unit;
  const list = h("ul", { class: "rows", id: "inbox" }, ...page.notices.map((notice) => noticeRow(notice, unit)));
  const more = h("button", { type: "button", text: t("inbox.more"), hidden: page.next === null });
  let next = page.next;
  more.addEventListener("click", async () => {
    more.disabled = true;
    const older = await api.get(`${path}&before=${next}`);
    if (!view.current()) return;
    list.append(...older.notices.map((notice) => noticeRow(notice, unit)));
    next = older.next;
    more.hidden = next === null;
    more.disabled = false;
    if (older.notices.some((notice) => !notice.read)) await api.post(`/api/members/${member}/inbox/read`, { all: true });
  });
  show(heading(t("inbox.title")),
    h("p", { class: "muted", id: "inbox-unread",
      text: page.unread ? t("inbox.unread", { count: page.unread }) : t("inbox.all_read") }),
    page.notices.length ? list : h("p", { class: "muted", id: "inbox-empty", text: t("inbox.none") }),
    h("p", { class: "actions" }, more),
    h("p", {}, navLink("/wallet/notifications", t("inbox.settings"), { id: "inbox-settings" })));
  if (page.unread) await api.post(`/api/members/${member}/inbox/read`, { all: true });
}
