// Subscribe (/wallet/subscribe?offer=N): an offer's terms (price a share, what is left, the member's
// own cap, when it closes), a number of shares and what they cost in the unit, a confirmation, and
// a receipt. The `subscribe` is signed on the device (intents.js); its cost moves to escrow at once
// and the shares are allotted when the offer closes (docs/shares.md, "Offers").
import * as api from "../api.js";
import { formatTime } from "../format.js";
import * as intents from "../intents.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, h, heading, main, money, myAccount, navLink, show, state } from "../ui.js";
import { confirmShares, sendAction } from "../sending.js";
import { parseUnits, refusalLine, shareCount, sharesFitting, sharesOf } from "../shares.js";

export const needsDevice = true;

const offerPattern = /^[1-9]\d{0,18}$/;

export async function draw(view) {
  drawTabs("/wallet/own");
  const given = new URLSearchParams(location.search).get("offer") ?? "";
  if (!offerPattern.test(given)) {
    show(heading(t("own.subscribe.title")), alertLine(t("own.subscribe.no_offer")),
      h("p", {}, navLink("/wallet/own", t("own.back"))));
    return;
  }
  let offer;
  try {
    offer = await api.get(`/api/offers/${given}`);
  } catch (error) {
    if (!(error instanceof api.ApiError) || error.code !== "unknown_offer") throw error;
    show(heading(t("own.subscribe.title")), alertLine(t("own.subscribe.no_offer")),
      h("p", {}, navLink("/wallet/own", t("own.back"))));
    return;
  }
  const account = await myAccount();
  if (!view.current()) return;
  const member = state.device.member;
  const already = offer.subscriptions.find((row) => row.member === member)?.units ?? 0;
  const mayStill = Math.max(0, offer.member_cap - already);
  const left = Math.max(0, offer.units - offer.subscribed_units);
  const available = BigInt(account.balance) + BigInt(account.debit_limit);
  const title = t("own.subscribe.heading", { enterprise: offer.enterprise_name, class: offer.class_name });

  const terms = h("dl", { class: "summary", id: "offer-terms" },
    h("dt", { text: t("own.subscribe.price") }), h("dd", { class: "big", text: money(offer.price) }),
    h("dt", { text: t("own.subscribe.left") }),
    h("dd", { id: "offer-left", text: t("own.subscribe.left.value", { left: shareCount(left), units: shareCount(offer.units) }) }),
    h("dt", { text: t("own.subscribe.cap") }), h("dd", { text: t("own.subscribe.cap.value", {
      cap: shareCount(offer.member_cap), already: shareCount(already) }) }),
    h("dt", { text: t(offer.open ? "own.subscribe.closes" : "own.subscribe.closed") }),
    h("dd", { text: formatTime(offer.deadline_ms) }));
  if (!offer.open) {
    show(heading(title), terms, alertLine(t("error.offer_closed")), h("p", {}, navLink("/wallet/own", t("own.back"))));
    return;
  }

  const units = h("input", { id: "subscribe-units", type: "text", inputmode: "numeric", autocomplete: "off",
    required: true, "aria-describedby": "subscribe-cost" });
  const cost = h("p", { id: "subscribe-cost", class: "hint", "aria-live": "polite" });
  const showCost = () => {
    const parsed = parseUnits(units.value);
    cost.textContent = parsed.error ? t("own.subscribe.cost.hint", { price: money(offer.price) })
      : t("own.subscribe.cost", { cost: money(BigInt(offer.price) * parsed.units) });
  };
  const problem = h("div", { class: "problem" });
  units.addEventListener("input", () => {
    showCost();
    problem.replaceChildren(); // a refusal of what was typed before no longer applies
    units.removeAttribute("aria-invalid");
  });
  showCost();
  const form = h("form", { novalidate: true },
    h("div", { class: "field" }, h("label", { for: "subscribe-units", text: t("own.subscribe.units") }), units, cost),
    problem, h("button", { type: "submit", class: "primary", text: t("own.review") }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    problem.replaceChildren();
    const parsed = parseUnits(units.value);
    let line = parsed.error ? t(parsed.error) : null;
    if (!line && parsed.units > BigInt(mayStill)) {
      line = mayStill ? t("own.subscribe.over_cap", { count: shareCount(mayStill) }) : t("own.subscribe.cap_reached");
    }
    if (!line && BigInt(offer.price) * parsed.units > available) {
      const fits = sharesFitting(available, offer.price);
      line = fits > 0n ? t("own.refused.debit_limit", { count: shareCount(fits), price: money(offer.price) })
        : t("own.refused.no_credit");
    }
    if (line) {
      units.setAttribute("aria-invalid", "true");
      problem.append(alertLine(line));
      return units.focus();
    }
    units.removeAttribute("aria-invalid");
    confirmScreen({ offer, units: parsed.units, left, available, back: () => { show(heading(title), terms, form); units.focus(); } });
  });
  show(heading(title), terms, form);
}

function confirmScreen({ offer, units, left, available, back }) {
  const total = BigInt(offer.price) * units;
  confirmShares({
    title: t("own.subscribe.confirm"),
    shown: [h("dl", { class: "summary" },
      h("dt", { text: t("own.subscribe.what") }),
      h("dd", { id: "confirm-shares", text: `${sharesOf(units, offer.class_name)} · ${offer.enterprise_name}` }),
      h("dt", { text: t("own.subscribe.price") }), h("dd", { text: money(offer.price) }),
      h("dt", { text: t("own.subscribe.total") }), h("dd", { id: "confirm-cost", class: "big", text: money(total) })),
    h("p", { text: t("own.subscribe.escrow", { when: formatTime(offer.deadline_ms) }) }),
    units > BigInt(left) ? h("p", { class: "notice", id: "confirm-pro-rata", text: t("own.subscribe.pro_rata",
      { left: shareCount(left) }) }) : null],
    sendId: "subscribe-send", sendText: t("own.subscribe.send"), back,
    send: () => sendAction(intents.subscribe(offer.id, units)),
    refusal: (error) => refusalLine(error, { action: "subscribe", priceMinor: offer.price, availableMinor: available }),
    done: () => receiptScreen({ offer, units, total }),
  });
}

async function receiptScreen({ offer, units, total }) {
  const account = await myAccount();
  show(h("h1", { id: "receipt", text: t("own.subscribe.done") }),
    h("p", { class: "big", text: t("own.subscribe.done.text", { shares: sharesOf(units, offer.class_name),
      enterprise: offer.enterprise_name, cost: money(total) }) }),
    h("p", { text: t("own.subscribe.escrow", { when: formatTime(offer.deadline_ms) }) }),
    h("p", { id: "receipt-balance", text: t("pay.receipt.balance", { balance: money(account.balance) }) }),
    h("p", { class: "actions" }, navLink("/wallet/own", t("own.back"), { class: "button primary" })));
  main.focus();
}
