// Trade (/wallet/trade?e=e_…&class=N[&side=buy|sell]): an order on the community's exchange for one
// transferable share class: buy or sell, how many shares, the price a share in the unit; what the
// order holds back (a buy reserves its cost in escrow, a sell locks the shares); a confirmation; and
// a receipt of what traded at once and what rests in the book (docs/shares.md, "The exchange").
import * as api from "../api.js";
import { parseAmount } from "../format.js";
import { idFromText } from "../ids.js";
import * as intents from "../intents.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, h, heading, main, money, myAccount, navLink, show, state } from "../ui.js";
import { confirmShares, sendAction } from "../sending.js";
import { myHoldings, parseUnits, refusalLine, shareCount, sharesFitting, sharesOf } from "../shares.js";

export const needsDevice = true;

const classPattern = /^[0-7]$/;

function nothingToTrade(line) {
  show(heading(t("own.trade.title")), alertLine(line), h("p", {}, navLink("/wallet/own", t("own.back"))));
}

export async function draw(view) {
  drawTabs("/wallet/own");
  const query = new URLSearchParams(location.search);
  const reference = query.get("e") ?? "";
  const classText = query.get("class") ?? "";
  try {
    idFromText("e", reference);
  } catch {
    return nothingToTrade(t("own.trade.no_class"));
  }
  if (!classPattern.test(classText)) return nothingToTrade(t("own.trade.no_class"));
  const index = Number(classText);
  let enterprise;
  try {
    enterprise = await api.get(`/api/enterprises/${reference}?limit=1`);
  } catch (error) {
    if (error instanceof api.ApiError && error.code === "unknown_enterprise") return nothingToTrade(t("own.trade.no_class"));
    throw error;
  }
  const shareClass = enterprise.classes[index];
  if (!shareClass) return nothingToTrade(t("own.trade.no_class"));
  if (!shareClass.transferable) return nothingToTrade(t("error.not_transferable"));
  const [account, mine, book] = await Promise.all([myAccount(), myHoldings(),
    api.get(`/api/enterprises/${reference}/book/${index}?limit=1`)]);
  if (!view.current()) return;
  const held = mine.holdings.find((row) => row.enterprise === enterprise.id && row.class === index);
  const free = held ? held.units - held.locked : 0;
  const available = BigInt(account.balance) + BigInt(account.debit_limit);
  const { decimals, code } = state.community.unit;
  const title = t("own.trade.heading", { enterprise: enterprise.name, class: shareClass.name });

  const sideChosen = query.get("side") === "sell" ? "sell" : "buy";
  const radio = (side) => h("label", { class: "choice-line" },
    h("input", { type: "radio", name: "side", value: side, id: `trade-${side}`, checked: side === sideChosen }),
    h("span", { text: t(`own.trade.${side}`) }));
  const sideField = h("fieldset", { class: "sides" }, h("legend", { text: t("own.trade.side") }), radio("buy"), radio("sell"));
  const units = h("input", { id: "trade-units", type: "text", inputmode: "numeric", autocomplete: "off", required: true });
  const price = h("input", { id: "trade-price", type: "text", inputmode: "decimal", autocomplete: "off", required: true,
    "aria-describedby": "trade-hold" });
  const hold = h("p", { id: "trade-hold", class: "hint", "aria-live": "polite" });
  const side = () => sideField.querySelector("input:checked").value;
  const showHold = () => {
    const parsedUnits = parseUnits(units.value);
    const parsedPrice = parseAmount(price.value, decimals);
    if (side() === "sell") {
      hold.textContent = t("own.trade.hold.sell", { free: sharesOf(free, shareClass.name) });
    } else if (!parsedUnits.error && !parsedPrice.error) {
      hold.textContent = t("own.trade.hold.buy", { amount: money(parsedUnits.units * parsedPrice.minor) });
    } else {
      hold.textContent = t("own.trade.hold.buy.hint", { available: money(available > 0n ? available : 0n) });
    }
  };
  const problem = h("div", { class: "problem" });
  for (const input of [units, price, ...sideField.querySelectorAll("input")]) {
    input.addEventListener("input", () => {
      showHold();
      problem.replaceChildren(); // a refusal of what was typed before no longer applies
      input.removeAttribute("aria-invalid");
    });
  }
  showHold();
  const best = h("dl", { class: "summary", id: "trade-book" },
    h("dt", { text: t("own.book.best_ask") }),
    h("dd", { text: book.asks[0] ? t("own.book.level", { units: shareCount(book.asks[0].units), price: money(book.asks[0].price) })
      : t("own.book.empty_side") }),
    h("dt", { text: t("own.book.best_bid") }),
    h("dd", { text: book.bids[0] ? t("own.book.level", { units: shareCount(book.bids[0].units), price: money(book.bids[0].price) })
      : t("own.book.empty_side") }),
    h("dt", { text: t("own.trade.you_hold") }), h("dd", { text: held ? sharesOf(held.units, shareClass.name) : t("own.trade.none_held") }));
  const form = h("form", { novalidate: true }, sideField,
    h("div", { class: "field" }, h("label", { for: "trade-units", text: t("own.trade.units") }), units),
    h("div", { class: "field" }, h("label", { for: "trade-price", text: t("own.trade.price", { unit: code }) }), price, hold),
    problem, h("button", { type: "submit", class: "primary", text: t("own.review") }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    problem.replaceChildren();
    for (const input of [units, price]) input.removeAttribute("aria-invalid");
    const refuse = (input, line) => {
      input.setAttribute("aria-invalid", "true");
      problem.append(alertLine(line));
      input.focus();
    };
    const parsedUnits = parseUnits(units.value);
    if (parsedUnits.error) return refuse(units, t(parsedUnits.error));
    const parsedPrice = parseAmount(price.value, decimals);
    if (parsedPrice.error) return refuse(price, t(parsedPrice.error, { decimals }));
    const chosen = side();
    if (chosen === "sell" && parsedUnits.units > BigInt(free)) {
      return refuse(units, free ? t("own.trade.over_free", { count: shareCount(free) }) : t("own.trade.none_free"));
    }
    const total = parsedUnits.units * parsedPrice.minor;
    if (total > intents.amountMinorMax) return refuse(units, t("amount.large"));
    if (chosen === "buy" && total > available) {
      const fits = sharesFitting(available, parsedPrice.minor);
      return refuse(units, fits > 0n ? t("own.refused.debit_limit", { count: shareCount(fits), price: money(parsedPrice.minor) })
        : t("own.refused.no_credit"));
    }
    confirmScreen({ enterprise, index, shareClass, side: chosen, units: parsedUnits.units, priceMinor: parsedPrice.minor,
      available, back: () => { show(heading(title), best, form); units.focus(); } });
  });
  show(heading(title), best, form);
}

function confirmScreen({ enterprise, index, shareClass, side, units, priceMinor, available, back }) {
  const total = units * priceMinor;
  confirmShares({
    title: t("own.trade.confirm"),
    shown: [h("dl", { class: "summary" },
      h("dt", { text: t("own.trade.side") }), h("dd", { id: "confirm-side", text: t(`own.trade.${side}`) }),
      h("dt", { text: t("own.trade.what") }),
      h("dd", { id: "confirm-shares", text: `${sharesOf(units, shareClass.name)} · ${enterprise.name}` }),
      h("dt", { text: t("own.trade.price.each") }), h("dd", { id: "confirm-price", text: money(priceMinor) }),
      h("dt", { text: t("own.trade.total") }), h("dd", { id: "confirm-total", class: "big", text: money(total) })),
    h("p", { id: "confirm-hold", text: side === "buy" ? t("own.trade.held.buy", { amount: money(total) })
      : t("own.trade.held.sell", { shares: sharesOf(units, shareClass.name) }) })],
    sendId: "trade-send", sendText: t(`own.trade.send.${side}`), back,
    send: () => sendAction(intents.placeOrder(idFromText("e", enterprise.id), index, side, units, priceMinor)),
    refusal: (error) => refusalLine(error, { action: side, priceMinor: side === "buy" ? priceMinor : null,
      availableMinor: available }),
    done: (answer) => receiptScreen({ enterprise, index, shareClass, side, priceMinor, seq: answer.seq }),
  });
}

// What the order did, read back: its fills are the book's trades carried by its event (the
// order's seq); what rests is the member's order of that id, if it still stands.
async function receiptScreen({ enterprise, index, shareClass, side, priceMinor, seq }) {
  const [book, mine, account] = await Promise.all([
    api.get(`/api/enterprises/${enterprise.id}/book/${index}?limit=1`), myHoldings(), myAccount()]);
  const fills = book.trades.filter((trade) => trade.seq === seq);
  const filledUnits = fills.reduce((sum, trade) => sum + BigInt(trade.units), 0n);
  const filledValue = fills.reduce((sum, trade) => sum + BigInt(trade.units) * BigInt(trade.price), 0n);
  const resting = mine.orders.find((order) => order.id === seq);
  const lines = [];
  if (filledUnits > 0n) {
    lines.push(t(`own.trade.filled.${side}`, { shares: sharesOf(filledUnits, shareClass.name), enterprise: enterprise.name,
      value: money(filledValue) }));
  } else {
    lines.push(t("own.trade.filled.none"));
  }
  lines.push(resting ? t("own.trade.rests", { shares: sharesOf(resting.units, shareClass.name), price: money(priceMinor) })
    : t("own.trade.rests.none"));
  show(h("h1", { id: "receipt", text: t("own.trade.done") }),
    ...lines.map((line, number) => h("p", { class: number === 0 ? "big" : null, id: number === 0 ? "receipt-fills" : "receipt-rests",
      text: line })),
    h("p", { id: "receipt-balance", text: t("pay.receipt.balance", { balance: money(account.balance) }) }),
    h("p", { class: "actions" }, navLink("/wallet/own", t("own.back"), { class: "button primary" }),
      navLink(`/wallet/enterprise?e=${enterprise.id}`, t("own.trade.to_enterprise", { enterprise: enterprise.name }),
        { class: "button" })));
  main.focus();
}
