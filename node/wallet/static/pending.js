// What home and history show of payments not yet in the node's statement: the outbox's entries
// (waiting to send, sending, refused; outbox.js) and the payments across in flight (held by the
// node until the other community answers: GET /api/members/{id}/held).
//
// How this works: `outboxSection()` draws the outbox's entries as rows and draws them again on
// every change of the outbox, in this tab or another (outbox.js `onChange`), until the screen is
// left. Each row says what the payment is and where it stands in one line; a waiting one has a
// Cancel button, a refused one the refusal's line (strings.js `error.<code>`) and a Dismiss button.
// Amounts are major units with the unit; names are text, never markup.
import { ApiError } from "./api.js";
import * as outbox from "./outbox.js";
import { formatAmount } from "./format.js";
import { t } from "./strings.js";
import { alertLine, errorLine, h, main, money, onLeave, state } from "./ui.js";

// Who a payment is to, in words: a member here by name, one of another community by its name.
export function payeeWords(to) {
  if (to.community && to.name) return t("pending.to_across_named", { name: to.name, community: to.communityName });
  if (to.community) return t("pending.to_across", { community: to.communityName ?? t("pending.other_community") });
  return to.name;
}

function refusalLine(entry, available) {
  const { code, message } = entry.refusal;
  if (code === "outbox_too_old") return t("outbox.too_old");
  if (code === "debit_limit" && available === null) return t("error.default", { message });
  return errorLine(new ApiError(422, code, message), {
    available: available === null ? "" : money(available > 0n ? available : 0n) });
}

function entryRow(entry, available, problem) {
  const status = entry.status === "refused" ? t("outbox.refused")
    : entry.status === "sending" ? t("outbox.sending") : t("outbox.waiting");
  const amount = money(-BigInt(entry.minor), { signed: true });
  const across = entry.received !== null && entry.toUnit && entry.toUnit.code !== state.community.unit.code
    ? formatAmount(entry.received, entry.toUnit) : null;
  const act = async (button, work) => {
    // Not `disabled`: a disabled button drops the focus before its row is drawn again.
    if (button.getAttribute("aria-disabled") === "true") return;
    button.setAttribute("aria-disabled", "true");
    problem.replaceChildren();
    try {
      const answer = await work();
      if (answer === "sending") problem.append(alertLine(t("outbox.cancel.sending")));
      else if (answer === "sent") problem.append(alertLine(t("outbox.cancel.sent")));
    } catch (error) {
      problem.append(alertLine(t("outbox.cancel.offline", { reason: errorLine(error) })));
      button.removeAttribute("aria-disabled");
    }
  };
  const buttons = [];
  if (entry.status === "waiting") {
    const cancel = h("button", { type: "button", class: "small",
      "aria-label": t("outbox.cancel.label", { name: payeeWords(entry.to), amount: money(BigInt(entry.minor)) }),
      text: t("outbox.cancel") });
    cancel.addEventListener("click", () => act(cancel, () => outbox.cancel(entry.id)));
    buttons.push(cancel);
  } else if (entry.status === "refused") {
    const dismiss = h("button", { type: "button", class: "small",
      "aria-label": t("outbox.dismiss.label", { name: payeeWords(entry.to), amount: money(BigInt(entry.minor)) }),
      text: t("outbox.dismiss") });
    dismiss.addEventListener("click", () => act(dismiss, () => outbox.dismiss(entry.id)));
    buttons.push(dismiss);
  }
  return h("li", { class: `row pending ${entry.status}`, "data-outbox": entry.id },
    h("span", { class: "who" }, h("span", { class: "name", text: payeeWords(entry.to) }),
      h("span", { class: `state ${entry.status}`, text: status }),
      entry.status === "refused" ? h("span", { class: "refusal", text: refusalLine(entry, available) }) : null,
      across ? h("span", { class: "when", text: t("pending.received", { amount: across }) }) : null),
    h("span", { class: "end" }, h("span", { class: "amount out", text: amount }), ...buttons));
}

// A section listing the outbox (hidden while it is empty), kept up to date until the screen is
// left; `account` (balance and debit limit, or null) gives a refused payment its "at most" amount.
export function outboxSection(account, onSent) {
  const list = h("ul", { class: "rows", id: "outbox" });
  const problem = h("div", { class: "problem", "aria-live": "polite" });
  const section = h("section", { class: "outbox", "aria-labelledby": "outbox-title", hidden: true },
    h("h2", { id: "outbox-title", text: t("outbox.title") }), list, problem);
  const available = account ? BigInt(account.balance) + BigInt(account.debit_limit) : null;
  let shown = new Set();
  const draw = async () => {
    const entries = await outbox.entries();
    const now = new Set(entries.map((entry) => entry.id));
    const gone = [...shown].some((id) => !now.has(id));
    shown = now;
    const focused = list.contains(document.activeElement);
    list.replaceChildren(...entries.map((entry) => entryRow(entry, available, problem)));
    if (focused) main.focus({ preventScroll: true }); // the focused row is gone: the focus is not lost with it
    section.hidden = entries.length === 0 && problem.childElementCount === 0;
    if (gone && onSent) onSent();
  };
  onLeave(outbox.onChange(draw));
  draw();
  return section;
}

// The payments across in flight (GET /api/members/{id}/held's `payment_across` items), as rows.
export function inFlightRows(items) {
  return items.filter((item) => item.kind === "payment_across").map((item) => h("li", { class: "row pending" },
    h("span", { class: "who" },
      h("span", { class: "name", text: t("pending.to_across", {
        community: item.community_name ?? t("pending.other_community") }) }),
      h("span", { class: "state sending", text: t("held.in_flight") })),
    h("span", { class: "amount out", text: money(-BigInt(item.amount), { signed: true }) })));
}
