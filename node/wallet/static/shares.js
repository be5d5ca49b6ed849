// What the Own screens share (screens/own.js, enterprise.js, subscribe.js, trade.js): the member's
// holdings and orders, share counts typed and shown, and a refusal of a shares intent (signed and
// sent by sending.js) as the one line that says what to do (docs/wallet.md, "Own"; docs/shares.md).
//
// How this works: every read is the JSON API as the signed-in member (api.md §5: enterprises,
// offers, books, `GET /api/members/{id}/holdings`); every change is an intent built by intents.js,
// signed on the device and posted to /api/intents, whose answer's `seq` is the id of what it opened
// (an order). Units are whole shares; prices and costs are minor units, shown only through
// `money()` in the unit's major form. An enterprise is named in a URL by its public `e_…` id only.
import * as api from "./api.js";
import * as intents from "./intents.js";
import { sendAction } from "./sending.js";
import { t } from "./strings.js";
import { errorLine, h, money, state } from "./ui.js";

// The rows one screen asks for: a member's holdings and orders, and the open offers listed. More
// than this many would not fit a phone's screen usefully; the node pages at 1000.
export const holdingsRowsMax = 100;
export const offersListedMax = 20;
// Price levels of a book shown a side.
export const bookDepth = 5;

const unitFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

export function shareCount(units) {
  return unitFormat.format(BigInt(units));
}

// "1 share", "3 shares": a count of shares of no class named.
export function shareTotal(units) {
  return t(BigInt(units) === 1n ? "own.count.one" : "own.count.other", { count: shareCount(units) });
}

// "3 Customer shares": the count and the class's name.
export function sharesOf(units, className) {
  return t("own.shares", { count: shareCount(units), class: className });
}

// What a person typed as a number of shares: a whole number from 1 to share_units_max, or
// {error: message id}.
export function parseUnits(text) {
  const typed = text.trim();
  if (typed === "") return { error: "own.units.empty" };
  if (!/^\d+$/.test(typed)) return { error: "own.units.bad" };
  const units = BigInt(typed);
  if (units <= 0n) return { error: "own.units.zero" };
  if (units > intents.shareUnitsMax) return { error: "own.units.large" };
  return { units };
}

export function myHoldings() {
  return api.get(`/api/members/${state.device.member}/holdings?limit=${holdingsRowsMax}`);
}

// The whole number of shares at `priceMinor` that `availableMinor` of credit pays for.
export function sharesFitting(availableMinor, priceMinor) {
  const available = BigInt(availableMinor);
  return available > 0n ? available / BigInt(priceMinor) : 0n;
}

// A refusal of a shares intent as one line. A debit limit says how many shares fit at that price
// (`available` is the member's balance plus their debit limit). A credit ceiling is whoever would
// receive the credit: the enterprise for a subscription (its ceiling counts what its open offers
// hold), the member for a sell. Every other code has its own line under error.<code>, else the
// node's message.
export function refusalLine(error, { action = null, priceMinor = null, availableMinor = 0n, values = {} } = {}) {
  const code = error instanceof api.ApiError ? error.code : null;
  if (code === "debit_limit" && priceMinor !== null) {
    const count = sharesFitting(availableMinor, priceMinor);
    return count > 0n ? t("own.refused.debit_limit", { count: shareCount(count), price: money(priceMinor) })
      : t("own.refused.no_credit");
  }
  if (code === "credit_ceiling" && action === "subscribe") return t("own.refused.enterprise_ceiling");
  if (code === "credit_ceiling" && action === "sell") return t("own.refused.credit_ceiling");
  return errorLine(error, values);
}

// One of the member's resting orders: what it asks, what is held for it, and a Cancel button.
export function orderRow(order, onCancel) {
  const held = order.side === "buy" ? t("own.order.reserved", { amount: money(order.reserved) })
    : t("own.order.locked", { shares: sharesOf(order.units, order.class_name) });
  const what = t(`own.order.${order.side}`, { shares: sharesOf(order.units, order.class_name),
    enterprise: order.enterprise_name, price: money(order.price) });
  const cancel = h("button", { type: "button", class: "small", text: t("own.order.cancel"),
    "aria-label": t("own.order.cancel.label", { what }) });
  cancel.addEventListener("click", () => onCancel(order, cancel));
  return h("li", { class: "row", id: `order-${order.id}` },
    h("span", { class: "who" }, h("span", { class: "name", text: what }), h("span", { class: "when", text: held })),
    cancel);
}

// Cancel `order` (cancel_order): resolves to null once committed, or the refusal's line.
export async function cancelOrder(order) {
  try {
    await sendAction(intents.cancelOrder(order.id));
    return null;
  } catch (error) {
    return refusalLine(error);
  }
}

// The Cancel of an order row (orderRow's onCancel) on a screen with a `status` box: cancel_order,
// then `redraw(line)` with the line saying what was cancelled; refused, the line in `status`.
export function cancelling(status, redraw) {
  return async (order, button) => {
    button.disabled = true;
    const refused = await cancelOrder(order);
    if (refused) {
      button.disabled = false;
      status.replaceChildren(h("p", { class: "alert", role: "alert", text: refused }));
      return;
    }
    await redraw(t("own.order.cancelled", { what: t(`own.order.${order.side}`, {
      shares: sharesOf(order.units, order.class_name), enterprise: order.enterprise_name, price: money(order.price) }) }));
  };
}

// The last price each (enterprise, class) traded at, from their books: a Map "e_…/class" → minor
// units, for the classes in `pairs` (each {enterprise, class}) that have traded.
export async function lastPrices(pairs) {
  const distinct = [...new Map(pairs.map((pair) => [`${pair.enterprise}/${pair.class}`, pair])).values()]
    .slice(0, holdingsRowsMax);
  const books = await Promise.all(distinct.map((pair) =>
    api.get(`/api/enterprises/${pair.enterprise}/book/${pair.class}?limit=1`).catch(() => null)));
  const prices = new Map();
  distinct.forEach((pair, index) => {
    const trade = books[index]?.trades?.[0];
    if (trade) prices.set(`${pair.enterprise}/${pair.class}`, trade.price);
  });
  return prices;
}
