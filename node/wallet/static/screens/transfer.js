// Transfer (/wallet/transfer?e=e_…&class=N): give shares of a transferable class to another member
// found by name, outside the exchange (a gift, or a sale paid for apart): the shares free to
// transfer (held less those an order or a withdrawal holds), the member, the number, a
// confirmation, and a receipt with what the member holds now. Signed on the device as
// `transfer_shares` (intents.js); the node refuses the rest in one line (a holding cap of the
// recipient's, shares locked meanwhile). docs/wallet.md, "Own"; docs/shares.md.
import { idFromText } from "../ids.js";
import * as intents from "../intents.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, h, heading, main, show } from "../ui.js";
import { memberPicker } from "../pickers.js";
import { confirmShares, sendAction } from "../sending.js";
import { myHoldings, parseUnits, refusalLine, shareCount, sharesOf } from "../shares.js";
import { backToEnterprise, namedClass } from "../share_moves.js";

export const needsDevice = true;

export async function draw(view) {
  drawTabs("/wallet/own");
  const named = await namedClass(t("moves.transfer.title"));
  if (!named || !view.current()) return;
  const { enterprise, shareClass, held } = named;
  const title = t("moves.transfer.heading", { class: shareClass.name, enterprise: enterprise.name });
  if (!shareClass.transferable) {
    show(heading(title), alertLine(t("moves.transfer.not_transferable")), h("p", {}, backToEnterprise(enterprise)));
    return;
  }
  const facts = h("dl", { class: "summary", id: "transfer-facts" },
    h("dt", { text: t("moves.held") }), h("dd", { class: "big", id: "transfer-held", text: sharesOf(held.units, shareClass.name) }),
    h("dt", { text: t("moves.free") }), h("dd", { id: "transfer-free", text: t("moves.free.value", {
      free: shareCount(held.free), locked: shareCount(held.locked) }) }));
  if (held.free <= 0n) {
    show(heading(title), facts, alertLine(t("moves.transfer.none_free")), h("p", {}, backToEnterprise(enterprise)));
    return;
  }
  const picker = memberPicker({ id: "transfer-to", label: t("moves.transfer.to"), hint: t("propose.member.hint"),
    choose: (name) => t("moves.transfer.choose", { name }), none: t("propose.member.none"),
    change: t("propose.member.change") });
  const units = h("input", { id: "transfer-units", type: "text", inputmode: "numeric", autocomplete: "off" });
  const problem = h("div", { class: "problem" });
  units.addEventListener("input", () => {
    problem.replaceChildren();
    units.removeAttribute("aria-invalid");
  });
  const form = h("form", { novalidate: true }, picker.element,
    h("div", { class: "field" }, h("label", { for: "transfer-units", text: t("moves.units") }), units),
    problem, h("button", { type: "submit", class: "primary", text: t("own.review") }));
  const drawForm = () => show(heading(title), facts, form, h("p", {}, backToEnterprise(enterprise)));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    problem.replaceChildren();
    const to = picker.chosen();
    if (!to) {
      problem.append(alertLine(t("moves.transfer.to.first")));
      return picker.focus();
    }
    const parsed = parseUnits(units.value);
    const line = parsed.error ? t(parsed.error)
      : parsed.units > held.free ? t("moves.over_free", { count: shareCount(held.free) }) : null;
    if (line) {
      units.setAttribute("aria-invalid", "true");
      problem.append(alertLine(line));
      return units.focus();
    }
    confirmScreen({ enterprise, shareClass, to, units: parsed.units, back: () => { drawForm(); units.focus(); } });
  });
  drawForm();
}

function confirmScreen({ enterprise, shareClass, to, units, back }) {
  confirmShares({
    title: t("moves.transfer.confirm"),
    shown: [h("dl", { class: "summary" },
      h("dt", { text: t("moves.what") }),
      h("dd", { id: "confirm-shares", class: "big", text: `${sharesOf(units, shareClass.name)} · ${enterprise.name}` }),
      h("dt", { text: t("moves.transfer.to") }), h("dd", { id: "confirm-to", text: to.name })),
    h("p", { text: t("moves.transfer.final") })],
    sendId: "transfer-send", sendText: t("moves.transfer.send"), back,
    send: () => sendAction(intents.transferShares(idFromText("e", enterprise.id), shareClass.index,
      idFromText("m", to.id), units)),
    refusal: (error) => refusalLine(error),
    done: () => receiptScreen({ enterprise, shareClass, to, units }),
  });
}

async function receiptScreen({ enterprise, shareClass, to, units }) {
  const mine = await myHoldings();
  const left = mine.holdings.find((row) => row.enterprise === enterprise.id && row.class === shareClass.index)?.units ?? 0;
  show(h("h1", { id: "receipt", tabindex: "-1", text: t("moves.transfer.done") }),
    h("p", { class: "big", text: t("moves.transfer.done.text", { shares: sharesOf(units, shareClass.name),
      enterprise: enterprise.name, name: to.name }) }),
    h("p", { id: "receipt-held", text: t("moves.held.now", { shares: sharesOf(left, shareClass.name) }) }),
    h("p", { class: "actions" }, backToEnterprise(enterprise)));
  main.focus();
}
