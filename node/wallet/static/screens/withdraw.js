// Withdraw (/wallet/withdraw?e=e_…&class=N): hand withdrawable shares back to the enterprise at
// par. It shows the par, the shares free to withdraw, the enterprise's withdrawal rule (the notice
// before a withdrawal is paid, and the yearly cap on what it pays out), the member's withdrawals
// still pending, and what the typed number pays; a confirmation; a receipt. Signed on the device as
// `withdraw_shares` (intents.js): the shares are locked at once and paid at par when the notice
// has run (the node's `withdrawal_due`), unless the enterprise cannot pay then or the year's cap
// would be passed, when they are unlocked and nothing is paid (docs/shares.md, "Withdrawals").
import { formatTime } from "../format.js";
import { idFromText } from "../ids.js";
import * as intents from "../intents.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, h, heading, main, money, show, state } from "../ui.js";
import { confirmShares, sendAction } from "../sending.js";
import { myHoldings, parseUnits, refusalLine, shareCount, sharesOf } from "../shares.js";
import { backToEnterprise, namedClass } from "../share_moves.js";
import { duration } from "./decide.js";

export const needsDevice = true;

export async function draw(view) {
  drawTabs("/wallet/own");
  const named = await namedClass(t("moves.withdraw.title"));
  if (!named || !view.current()) return;
  const { enterprise, shareClass, held } = named;
  const title = t("moves.withdraw.heading", { class: shareClass.name, enterprise: enterprise.name });
  if (!shareClass.withdrawable) {
    show(heading(title), alertLine(t("moves.withdraw.not_withdrawable")), h("p", {}, backToEnterprise(enterprise)));
    return;
  }
  const par = BigInt(shareClass.par);
  const { notice_ms: noticeMs, yearly_cap: yearlyCap } = enterprise.withdrawal_rule;
  const pending = (enterprise.withdrawals ?? []).filter((row) => row.holder === state.device.member &&
    row.class === shareClass.index && row.outcome === null);
  const facts = h("dl", { class: "summary", id: "withdraw-facts" },
    h("dt", { text: t("moves.withdraw.par") }), h("dd", { class: "big", text: money(par) }),
    h("dt", { text: t("moves.held") }), h("dd", { id: "withdraw-held", text: sharesOf(held.units, shareClass.name) }),
    h("dt", { text: t("moves.free") }), h("dd", { id: "withdraw-free", text: t("moves.free.value", {
      free: shareCount(held.free), locked: shareCount(held.locked) }) }),
    h("dt", { text: t("moves.withdraw.notice") }), h("dd", { id: "withdraw-notice", text: noticeMs
      ? t("moves.withdraw.notice.value", { time: duration(noticeMs) }) : t("moves.withdraw.notice.none") }),
    h("dt", { text: t("moves.withdraw.cap") }), h("dd", { id: "withdraw-cap", text: yearlyCap
      ? t("moves.withdraw.cap.value", { amount: money(yearlyCap) }) : t("moves.withdraw.cap.none") }));
  const pendingPart = pending.length ? h("section", { "aria-labelledby": "withdraw-pending-title" },
    h("h2", { id: "withdraw-pending-title", text: t("moves.withdraw.pending") }),
    h("ul", { class: "rows", id: "withdraw-pending" }, ...pending.map((row) => h("li", { class: "row" },
      h("span", { class: "who" }, h("span", { class: "name", text: sharesOf(row.units, shareClass.name) }),
        h("span", { class: "when", text: t("moves.withdraw.pending.due", { when: formatTime(row.due_ms) }) })),
      h("span", { class: "amount", text: money(par * BigInt(row.units)) }))))) : null;
  if (held.free <= 0n) {
    show(...[heading(title), facts, pendingPart, alertLine(t("moves.withdraw.none_free")),
      h("p", {}, backToEnterprise(enterprise))].filter(Boolean));
    return;
  }
  const units = h("input", { id: "withdraw-units", type: "text", inputmode: "numeric", autocomplete: "off",
    "aria-describedby": "withdraw-paid" });
  const paid = h("p", { id: "withdraw-paid", class: "hint", "aria-live": "polite" });
  const showPaid = () => {
    const parsed = parseUnits(units.value);
    paid.textContent = parsed.error ? t("moves.withdraw.paid.hint", { par: money(par) })
      : t("moves.withdraw.paid", { amount: money(par * parsed.units) });
  };
  const problem = h("div", { class: "problem" });
  units.addEventListener("input", () => {
    showPaid();
    problem.replaceChildren();
    units.removeAttribute("aria-invalid");
  });
  showPaid();
  const form = h("form", { novalidate: true },
    h("div", { class: "field" }, h("label", { for: "withdraw-units", text: t("moves.units") }), units, paid),
    problem, h("button", { type: "submit", class: "primary", text: t("own.review") }));
  const drawForm = () => show(...[heading(title), facts, pendingPart, form, h("p", {}, backToEnterprise(enterprise))]
    .filter(Boolean));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    problem.replaceChildren();
    const parsed = parseUnits(units.value);
    let line = parsed.error ? t(parsed.error)
      : parsed.units > held.free ? t("moves.over_free", { count: shareCount(held.free) }) : null;
    if (!line && yearlyCap && par * parsed.units > BigInt(yearlyCap)) {
      line = t("moves.withdraw.over_cap", { amount: money(yearlyCap) });
    }
    if (line) {
      units.setAttribute("aria-invalid", "true");
      problem.append(alertLine(line));
      return units.focus();
    }
    confirmScreen({ enterprise, shareClass, units: parsed.units, par, noticeMs, yearlyCap,
      back: () => { drawForm(); units.focus(); } });
  });
  drawForm();
}

function confirmScreen({ enterprise, shareClass, units, par, noticeMs, yearlyCap, back }) {
  confirmShares({
    title: t("moves.withdraw.confirm"),
    shown: [h("dl", { class: "summary" },
      h("dt", { text: t("moves.what") }),
      h("dd", { id: "confirm-shares", text: `${sharesOf(units, shareClass.name)} · ${enterprise.name}` }),
      h("dt", { text: t("moves.withdraw.paid.title") }), h("dd", { id: "confirm-paid", class: "big", text: money(par * units) })),
    h("p", { id: "confirm-when", text: noticeMs ? t("moves.withdraw.when", { time: duration(noticeMs) })
      : t("moves.withdraw.when.now") }),
    yearlyCap ? h("p", { text: t("moves.withdraw.cap.about", { amount: money(yearlyCap) }) }) : null],
    sendId: "withdraw-send", sendText: t("moves.withdraw.send"), back,
    send: () => sendAction(intents.withdrawShares(idFromText("e", enterprise.id), shareClass.index, units)),
    refusal: (error) => refusalLine(error),
    done: () => receiptScreen({ enterprise, shareClass, units, par, noticeMs }),
  });
}

async function receiptScreen({ enterprise, shareClass, units, par, noticeMs }) {
  const mine = await myHoldings();
  const left = mine.holdings.find((row) => row.enterprise === enterprise.id && row.class === shareClass.index);
  show(h("h1", { id: "receipt", tabindex: "-1", text: t("moves.withdraw.done") }),
    h("p", { class: "big", text: t("moves.withdraw.done.text", { shares: sharesOf(units, shareClass.name),
      enterprise: enterprise.name, amount: money(par * units) }) }),
    h("p", { id: "receipt-when", text: noticeMs ? t("moves.withdraw.when", { time: duration(noticeMs) })
      : t("moves.withdraw.when.now") }),
    h("p", { id: "receipt-held", text: left?.locked ? t("moves.withdraw.held.now", {
      shares: sharesOf(left.units, shareClass.name), locked: shareCount(left.locked) })
      : t("moves.held.now", { shares: sharesOf(left?.units ?? 0, shareClass.name) }) }),
    h("p", { class: "actions" }, backToEnterprise(enterprise)));
  main.focus();
}
