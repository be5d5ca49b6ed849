// What the market's screens share (screens/market.js, listing.js, list.js; docs/market.md): the
// categories' ids (the node's fixed list, node/listings.py), a price as a person reads it, a
// listing as a row, and its expiry.
import { formatTime } from "./format.js";
import { t } from "./strings.js";
import { h, money, navLink } from "./ui.js";

export const categoryIds = ["food", "goods", "services", "repairs", "lessons", "care", "transport", "housing",
  "garden", "other"];

export function priceText(listing) {
  return listing.price === null ? t("market.price.ask") : money(listing.price);
}

// One listing as a row of a list: its picture, title (a link), what and where, its price.
export function listingRow(listing) {
  const what = [t(`market.kind.${listing.kind}`), t(`market.category.${listing.category}`), listing.place]
    .filter(Boolean).join(" · ");
  return h("li", { class: "row listing-row" },
    listing.picture ? h("img", { class: "thumb", src: listing.picture.url, alt: "", width: "64", height: "64",
      loading: "lazy" }) : h("span", { class: "thumb none", "aria-hidden": "true", text: t(`market.kind.${listing.kind}`)[0] }),
    h("span", { class: "who" },
      navLink(`/wallet/listing?id=${listing.id}`, listing.title, { class: "name" }),
      h("span", { class: "when", text: what }),
      listing.status !== "live" ? h("span", { class: `status-word ${listing.status}`, text: t(`market.status.${listing.status}`) })
        : listing.enterprise?.name ? h("span", { class: "when", text: listing.enterprise.name })
          : listing.author.name && !listing.mine ? h("span", { class: "when", text: listing.author.name }) : null),
    h("span", { class: "amount", text: priceText(listing) }));
}

// When a listing expires (or expired), as a person reads it.
export function expiresText(listing) {
  return formatTime(listing.expires_ms);
}
