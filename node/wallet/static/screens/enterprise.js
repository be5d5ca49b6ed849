// Enterprise (/wallet/enterprise?e=e_…): one enterprise of the community: its share classes (kind,
// par, shares outstanding, whether they trade or can be withdrawn), its open offers, and for each
// class that trades its book (the best prices a side, the last trade) with a link to buy or sell;
// what the member holds of it, each holding with Transfer (a transferable class) or Withdraw (a
// withdrawable one), and their orders in it, each with Cancel (docs/wallet.md, "Own"). To its
// manager, its account's statement for a period as a file (downloads.js).
import * as api from "../api.js";
import { periodDownloads } from "../downloads.js";
import { formatTime } from "../format.js";
import { idFromText } from "../ids.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, h, heading, money, navLink, show, state } from "../ui.js";
import { bookDepth, cancelling, myHoldings, orderRow, shareCount, sharesOf, shareTotal } from "../shares.js";

export const needsDevice = true;

// Offers of one enterprise listed: its open ones come first among them (newest first by the node).
const offersListedMax = 20;

export async function draw(view, { notice = null } = {}) {
  drawTabs("/wallet/own");
  const reference = new URLSearchParams(location.search).get("e") ?? "";
  try {
    idFromText("e", reference);
  } catch {
    show(heading(t("own.enterprise.title")), alertLine(t("own.enterprise.unknown")),
      h("p", {}, navLink("/wallet/own", t("own.back"))));
    return;
  }
  let enterprise;
  try {
    enterprise = await api.get(`/api/enterprises/${reference}?limit=${offersListedMax}`);
  } catch (error) {
    if (!(error instanceof api.ApiError) || error.code !== "unknown_enterprise") throw error;
    show(heading(t("own.enterprise.title")), alertLine(t("own.enterprise.unknown")),
      h("p", {}, navLink("/wallet/own", t("own.back"))));
    return;
  }
  const trading = enterprise.classes.filter((shareClass) => shareClass.transferable);
  const [mine, ...books] = await Promise.all([myHoldings(),
    ...trading.map((shareClass) => api.get(`/api/enterprises/${enterprise.id}/book/${shareClass.index}?limit=${bookDepth}`))]);
  if (!view.current()) return;

  const status = h("div", { id: "enterprise-status", role: "status", tabindex: "-1" });
  if (notice) status.append(h("p", { class: "notice", text: notice }));
  const onCancel = cancelling(status, async (line) => {
    await draw(view, { notice: line });
    document.getElementById("enterprise-status")?.focus();
  });

  const classes = enterprise.classes.map((shareClass) => h("li", { class: "row" },
    h("span", { class: "who" }, h("span", { class: "name", text: shareClass.name }),
      h("span", { text: t("own.class.facts", { kind: t(`own.kind.${shareClass.kind}`), par: money(shareClass.par),
        outstanding: shareCount(shareClass.outstanding) }) }),
      h("span", { class: "when", text: t(shareClass.transferable ? "own.class.transferable"
        : shareClass.withdrawable ? "own.class.withdrawable" : "own.class.kept") }))));

  const offers = enterprise.offers.filter((offer) => offer.open).map((offer) => h("li", { class: "row offer" },
    h("span", { class: "who" }, h("span", { class: "name", text: offer.class_name }),
      h("span", { text: t("own.offer.terms", { price: money(offer.price),
        left: shareCount(Math.max(0, offer.units - offer.subscribed_units)), units: shareCount(offer.units) }) }),
      h("span", { class: "when", text: t("own.offer.closes", { when: formatTime(offer.deadline_ms) }) })),
    navLink(`/wallet/subscribe?offer=${offer.id}`, t("own.offer.subscribe"), { class: "button small",
      "aria-label": t("own.offer.subscribe.label", { enterprise: enterprise.name, class: offer.class_name }) })));

  const level = (entry) => h("li", { class: "level" },
    h("span", { class: "amount", text: money(entry.price) }), h("span", { text: shareTotal(entry.units) }));
  const bookSections = trading.map((shareClass, position) => {
    const book = books[position];
    const id = `book-${shareClass.index}`;
    const side = (label, levels, name) => h("div", { class: "book-side" }, h("h4", { text: label }),
      levels.length ? h("ol", { class: "levels", id: `${id}-${name}` }, ...levels.map(level))
        : h("p", { class: "muted", text: t("own.book.empty_side") }));
    const last = book.trades[0];
    return h("section", { class: "card book", "aria-labelledby": id },
      h("h3", { id, text: shareClass.name }),
      h("p", { class: "muted", text: last ? t("own.book.last", { price: money(last.price), units: shareCount(last.units) })
        : t("own.book.no_trade") }),
      h("div", { class: "book-sides" }, side(t("own.book.asks"), book.asks, "asks"), side(t("own.book.bids"), book.bids, "bids")),
      h("p", { class: "actions" },
        navLink(`/wallet/trade?e=${enterprise.id}&class=${shareClass.index}&side=buy`, t("own.book.buy"),
          { class: "button primary", "aria-label": t("own.book.buy.label", { class: shareClass.name }) }),
        navLink(`/wallet/trade?e=${enterprise.id}&class=${shareClass.index}&side=sell`, t("own.book.sell"),
          { class: "button", "aria-label": t("own.book.sell.label", { class: shareClass.name }) })));
  });

  // Each holding with what the member can do with it: transfer it to a member, or withdraw it at par.
  const heldHere = mine.holdings.filter((held) => held.enterprise === enterprise.id).map((held) => {
    const shareClass = enterprise.classes[held.class];
    const free = held.units - held.locked > 0;
    const move = (screen, text, label) => navLink(`/wallet/${screen}?e=${enterprise.id}&class=${held.class}`, text,
      { class: "button small", "aria-label": t(label, { class: held.class_name }) });
    return h("li", { class: "row" },
      h("span", { class: "who" }, h("span", { class: "name", text: sharesOf(held.units, held.class_name) }),
        held.locked ? h("span", { class: "when", text: t("own.holding.locked", { count: shareCount(held.locked) }) }) : null),
      free && shareClass?.transferable ? move("transfer", t("moves.transfer.link"), "moves.transfer.link.label") : null,
      shareClass?.withdrawable ? move("withdraw", t("moves.withdraw.link"), "moves.withdraw.link.label") : null);
  });
  // Its manager and the holders of shares with a vote may propose to its holders (its withdrawal rule).
  const votes = mine.holdings.some((held) => held.enterprise === enterprise.id && enterprise.classes[held.class]?.votes_per_share > 0);
  const proposeRule = (votes || enterprise.manager === state.device.member) && enterprise.classes.some((shareClass) => shareClass.withdrawable)
    ? h("p", {}, navLink(`/wallet/propose?holders=${enterprise.id}`, t("moves.rule.propose"), { class: "button" })) : null;
  const ordersHere = mine.orders.filter((order) => order.enterprise === enterprise.id).map((order) => orderRow(order, onCancel));

  show(...[heading(enterprise.name), status,
    enterprise.manager_name ? h("p", { class: "muted", text: t("own.enterprise.manager", { name: enterprise.manager_name }) }) : null,
    h("h2", { text: t("own.enterprise.classes.title") }), h("ul", { class: "rows", id: "enterprise-classes" }, ...classes),
    h("h2", { text: t("own.offers") }),
    offers.length ? h("ul", { class: "rows", id: "enterprise-offers" }, ...offers) : h("p", { class: "muted", text: t("own.offers.none") }),
    trading.length ? h("h2", { text: t("own.book.title") }) : null, ...bookSections,
    h("h2", { text: t("own.enterprise.yours") }),
    heldHere.length ? h("ul", { class: "rows", id: "enterprise-holdings" }, ...heldHere)
      : h("p", { class: "muted", text: t("own.holdings.none") }),
    ordersHere.length ? h("ul", { class: "rows", id: "enterprise-orders" }, ...ordersHere) : null,
    proposeRule,
    enterprise.manager === state.device.member ? h("section", { id: "enterprise-download",
      "aria-labelledby": "enterprise-download-title" },
    h("h2", { id: "enterprise-download-title", text: t("own.enterprise.download") }),
    h("p", { class: "hint", text: t("own.enterprise.download.intro", { name: enterprise.name }) }),
    periodDownloads("enterprise-export", [
      { label: t("own.enterprise.download.csv"), path: `/api/exports/enterprises/${enterprise.id}`, format: "csv" },
      { label: t("own.enterprise.download.ofx"), path: `/api/exports/enterprises/${enterprise.id}`, format: "ofx" }])) : null,
    h("p", {}, navLink("/wallet/own", t("own.back")))].filter(Boolean));
}
