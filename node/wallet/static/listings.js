// What the market's screens share (screens/market.js, listing.js, list.js; docs/market.md): the
// categories' ids (the node's fixed list, node/listings.py), a price as a person reads it (in the
// listing's unit: another community's may differ), a listing as a row (another community's names
// it), and its expiry.
import { formatAmount, formatTime } from "./format.js";
import { t } from "./strings.js";
import { h, money, navLink, state } from "./ui.js";

export const categoryIds = ["food", "goods", "services", "repairs", "lessons", "care", "transport", "housing",
  "garden", "other"];

// A price in the listing's own unit: another community's may differ from this one's.
export function priceText(listing) {
  if (listing.price === null) return t("market.price.ask");
  return listing.community ? formatAmount(listing.price, listing.unit) : money(listing.price);
}

// Whether a listing's unit is this community's (a price then fills the pay screen's amount).
export function sameUnit(listing) {
  const own = state.community.unit;
  return listing.unit.code === own.code && listing.unit.decimals === own.decimals;
}

// Where a listing opens: another community's names it (GET /api/listings/{id}?community=n_…).
export function listingHref(listing) {
  return `/wallet/listing?id=${listing.id}${listing.community ? `&community=${listing.community.id}` : ""}`;
}

// One listing as a row of a list: its picture, title (a link), what and where, its price.
export function listingRow(listing) {
  const what = [t(`market.kind.${listing.kind}`), t(`market.category.${listing.category}`), listing.place]
    .filter(Boolean).join(" · ");
  return h("li", { class: "row listing-row" },
    listing.picture ? h("img", { class: "thumb", src: listing.picture.url, alt: "", width: "64", height: "64",
      loading: "lazy" }) : h("span", { class: "thumb none", "aria-hidden": "true", text: t(`market.kind.${listing.kind}`)[0] }),
    h("span", { class: "who" },
      navLink(listingHref(listing), listing.title, { class: "name" }),
      h("span", { class: "when", text: what }),
      listing.community ? h("span", { class: "when community-line", text: t("market.in_community",
        { community: listing.community.name }) }) : null,
      listing.status !== "live" ? h("span", { class: `status-word ${listing.status}`, text: t(`market.status.${listing.status}`) })
        : listing.enterprise?.name ? h("span", { class: "when", text: listing.enterprise.name })
          : listing.author.name && !listing.mine ? h("span", { class: "when", text: listing.author.name }) : null),
    h("span", { class: "amount", text: priceText(listing) }));
}

// When a listing expires (or expired), as a person reads it.
export function expiresText(listing) {
  return formatTime(listing.expires_ms);
}
