// Own (/wallet/own): the member's community shares. What they hold (by enterprise and class, with
// its value at the last trade's price where there is one), their resting orders on the exchange
// (with what each holds back, and Cancel), their subscriptions to open offers, the open offers
// (price, what is left, when each closes), the enterprises, and the dividends among their latest
// statement rows (docs/wallet.md, "Own"; docs/shares.md).
import * as api from "../api.js";
import { formatTime } from "../format.js";
import { t } from "../strings.js";
import { drawTabs, h, heading, money, navLink, show, state } from "../ui.js";
import { cancelling, lastPrices, myHoldings, offersListedMax, orderRow, shareCount, sharesOf } from "../shares.js";

export const needsDevice = true;

// Dividends are found among this many of the member's latest statement rows (the most one page of
// GET /api/members/{id}/history gives); older ones are in History.
const dividendRowsScanned = 200;
const enterprisesListedMax = 50;

export async function draw(view, { notice = null } = {}) {
  drawTabs("/wallet/own");
  const member = state.device.member;
  const [mine, open, enterprises, statement] = await Promise.all([myHoldings(),
    api.get(`/api/offers?open=1&limit=${offersListedMax}`), api.get(`/api/enterprises?limit=${enterprisesListedMax}`),
    api.get(`/api/members/${member}/history?limit=${dividendRowsScanned}`)]);
  const [prices, offerDetails] = await Promise.all([lastPrices(mine.holdings),
    Promise.all(open.map((offer) => api.get(`/api/offers/${offer.id}`).catch(() => null)))]);
  if (!view.current()) return;

  const status = h("div", { id: "own-status", role: "status", tabindex: "-1" });
  if (notice) status.append(h("p", { class: "notice", text: notice }));
  const redrawWith = async (line) => {
    await draw(view, { notice: line });
    document.getElementById("own-status")?.focus();
  };
  const onCancel = cancelling(status, redrawWith);

  const holdings = mine.holdings.map((held) => {
    const price = prices.get(`${held.enterprise}/${held.class}`);
    return h("li", { class: "row" },
      h("span", { class: "who" },
        navLink(`/wallet/enterprise?e=${held.enterprise}`, sharesOf(held.units, held.class_name), { class: "name" }),
        h("span", { text: held.enterprise_name }),
        held.locked ? h("span", { class: "when", text: t("own.holding.locked", { count: shareCount(held.locked) }) }) : null),
      price === undefined ? h("span", { class: "figure muted", text: t("own.holding.no_price") })
        : h("span", { class: "figure" }, h("span", { class: "amount", text: money(BigInt(price) * BigInt(held.units)) }),
          h("span", { class: "when", text: t("own.holding.at", { price: money(price) }) })));
  });

  const subscriptions = [];
  offerDetails.forEach((offer) => {
    const mineHere = offer?.subscriptions?.find((row) => row.member === member);
    if (!offer || !mineHere) return;
    subscriptions.push(h("li", { class: "row" },
      h("span", { class: "who" }, h("span", { class: "name", text: sharesOf(mineHere.units, offer.class_name) }),
        h("span", { text: offer.enterprise_name }),
        h("span", { class: "when", text: t("own.subscription.closes", { when: formatTime(offer.deadline_ms) }) })),
      h("span", { class: "figure" }, h("span", { class: "amount", text: money(BigInt(offer.price) * BigInt(mineHere.units)) }),
        h("span", { class: "when", text: t("own.subscription.held") }))));
  });

  const offers = open.map((offer) => {
    const left = Math.max(0, offer.units - offer.subscribed_units);
    return h("li", { class: "row offer" },
      h("span", { class: "who" }, h("span", { class: "name", text: `${offer.enterprise_name} · ${offer.class_name}` }),
        h("span", { text: t("own.offer.terms", { price: money(offer.price), left: shareCount(left),
          units: shareCount(offer.units) }) }),
        h("span", { class: "when", text: t("own.offer.closes", { when: formatTime(offer.deadline_ms) }) })),
      navLink(`/wallet/subscribe?offer=${offer.id}`, t("own.offer.subscribe"), { class: "button small",
        "aria-label": t("own.offer.subscribe.label", { enterprise: offer.enterprise_name, class: offer.class_name }) }));
  });

  const dividends = statement.rows.filter((row) => row.description === "dividend").map((row) =>
    h("li", { class: "row" },
      h("span", { class: "who" }, h("span", { class: "name", text: row.counterparty_name ?? t("description.dividend") }),
        h("span", { class: "when", text: formatTime(row.ts_ms) })),
      h("span", { class: "amount in", text: money(row.amount, { signed: true }) })));

  const section = (id, title, rows, empty) => h("section", { "aria-labelledby": id },
    h("h2", { id, text: title }),
    rows.length ? h("ul", { class: "rows", id: `${id}-list` }, ...rows) : h("p", { class: "muted", text: empty }));

  show(...[heading(t("own.title")), status,
    section("own-holdings", t("own.holdings"), holdings, t("own.holdings.none")),
    section("own-orders", t("own.orders"), mine.orders.map((order) => orderRow(order, onCancel)), t("own.orders.none")),
    subscriptions.length ? section("own-subscriptions", t("own.subscriptions"), subscriptions, "") : null,
    section("own-offers", t("own.offers"), offers, t("own.offers.none")),
    section("own-enterprises", t("own.enterprises"), enterprises.map((enterprise) => h("li", { class: "row" },
      navLink(`/wallet/enterprise?e=${enterprise.id}`, enterprise.name, { class: "name" }),
      h("span", { class: "muted", text: t(enterprise.classes.length === 1 ? "own.enterprise.class" : "own.enterprise.classes",
        { count: enterprise.classes.length }) }))),
    t("own.enterprises.none")),
    section("own-dividends", t("own.dividends"), dividends, t("own.dividends.none"))].filter(Boolean));
}
