// One listing (/wallet/listing?id=l_…, GET /api/listings/{id}): its picture, title, price, place,
// description, who listed it and until when. "Pay for this" opens Pay filled in:
// /wallet/pay?to=m_…#amount=…&memo=<the title>, the amount and memo in the fragment (no server
// sees them); a listing made for an enterprise pays the enterprise's account. Its member (for an
// enterprise, its manager) edits, renews and withdraws it here; an admin hides it with a reason.
// Another community's listing (?community=n_…, shared with the federations) names its community,
// and "Pay for this" pays across: /wallet/pay?to=m_…&node=n_…, the amount filled in only when its
// unit is this community's (else the member types it in their own unit).
import * as api from "../api.js";
import { plainAmount } from "../format.js";
import { expiresText, priceText, sameUnit } from "../listings.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, errorLine, h, heading, navLink, show, state } from "../ui.js";

export const needsDevice = true;

const listingIdPattern = /^l_[a-z2-7]{16}$/;
const communityIdPattern = /^n_[a-z2-7]{52}$/;

function payLink(listing) {
  const fragment = new URLSearchParams();
  if (listing.price !== null && sameUnit(listing)) {
    fragment.set("amount", plainAmount(listing.price, state.community.unit.decimals));
  }
  fragment.set("memo", listing.title);
  const across = listing.community ? `&node=${listing.community.id}` : "";
  return `/wallet/pay?to=${listing.payee}${across}#${fragment}`;
}

export async function draw(view, { notice = null } = {}) {
  drawTabs("/wallet/market");
  const id = new URLSearchParams(location.search).get("id") ?? "";
  const community = new URLSearchParams(location.search).get("community");
  if (!listingIdPattern.test(id) || (community !== null && !communityIdPattern.test(community))) {
    show(heading(t("listing.title")), alertLine(t("listing.bad_link")),
      h("p", {}, navLink("/wallet/market", t("listing.back"))));
    return;
  }
  const read = community ? `/api/listings/${id}?community=${community}` : `/api/listings/${id}`;
  const [listing, session] = await Promise.all([api.get(read), api.get("/api/session")]);
  if (!view.current()) return;
  const path = `/api/listings/${id}`;
  const status = h("div", { id: "listing-status", role: "status", tabindex: "-1" });
  if (notice) status.append(h("p", { class: "notice", text: notice }));
  const problem = h("div", { class: "problem" });
  const redrawWith = async (line) => {
    await draw(view, { notice: line });
    document.getElementById("listing-status")?.focus();
  };
  const act = async (button, work, line) => {
    button.disabled = true;
    problem.replaceChildren();
    try {
      await work();
    } catch (error) {
      button.disabled = false;
      problem.replaceChildren(alertLine(errorLine(error)));
      return;
    }
    await redrawWith(line);
  };

  const price = h("dl", { class: "summary listing-facts" },
    h("dt", { text: t("listing.price") }), h("dd", { id: "listing-price", class: "big", text: priceText(listing) }));
  const facts = h("dl", { class: "summary listing-facts" },
    listing.community ? h("dt", { text: t("listing.community") }) : null,
    listing.community ? h("dd", { id: "listing-community", text: listing.community.name }) : null,
    listing.place ? h("dt", { text: t("listing.place") }) : null,
    listing.place ? h("dd", { id: "listing-place", text: listing.place }) : null,
    h("dt", { text: t(listing.kind === "offer" ? "listing.offered_by" : "listing.wanted_by") }),
    h("dd", { id: "listing-author", text: listing.enterprise ? listing.enterprise.name ?? t("listing.someone")
      : listing.mine ? t("listing.you") : listing.author.name
        ?? (listing.community ? t("listing.member_of", { community: listing.community.name }) : t("listing.someone")) }),
    h("dt", { text: t(listing.status === "expired" ? "listing.expired_on" : "listing.until") }),
    h("dd", { id: "listing-expires", text: expiresText(listing) }));

  const parts = [];
  let pay = null;
  if (listing.status === "hidden") {
    parts.push(alertLine(t("listing.hidden", { reason: listing.hidden?.reason ?? "" })));
  } else if (listing.status === "expired") {
    parts.push(h("p", { class: "notice", text: t("listing.expired") }));
  }
  if (!listing.mine && listing.kind === "offer" && listing.status === "live") {
    pay = h("p", { class: "actions" }, navLink(payLink(listing), t("listing.pay"), { class: "button primary",
      id: "listing-pay" }));
  }
  if (listing.mine) {
    const renew = h("button", { type: "button", text: t("listing.renew") });
    renew.addEventListener("click", () => act(renew, () => api.post(`${path}/renew`, {}), t("listing.renewed")));
    const withdraw = h("button", { type: "button", text: t("listing.withdraw") });
    const confirmRow = h("div", { class: "actions", hidden: true },
      h("p", { text: t("listing.withdraw.confirm") }));
    const keep = h("button", { type: "button", text: t("listing.withdraw.keep"), onclick: () => {
      confirmRow.hidden = true;
      withdraw.focus();
    } });
    const sure = h("button", { type: "button", class: "danger", text: t("listing.withdraw.sure") });
    sure.addEventListener("click", async () => {
      sure.disabled = true;
      try {
        await api.remove(path);
      } catch (error) {
        sure.disabled = false;
        problem.replaceChildren(alertLine(errorLine(error)));
        return;
      }
      await view.go("/wallet/market?mine=1", { replace: true });
    });
    confirmRow.append(keep, sure);
    withdraw.addEventListener("click", () => {
      confirmRow.hidden = false;
      keep.focus();
    });
    parts.push(h("p", { class: "actions" },
      listing.status !== "hidden" ? navLink(`/wallet/list?id=${id}`, t("listing.edit"), { class: "button" }) : null,
      listing.status !== "hidden" ? renew : null, withdraw), confirmRow);
  } else if (session.admin && listing.status !== "hidden" && !listing.community) {
    const reason = h("input", { id: "listing-hide-reason", type: "text", autocomplete: "off", maxlength: "280",
      oninput: () => problem.replaceChildren() });
    const hide = h("button", { type: "submit", text: t("listing.hide") });
    const form = h("form", { class: "card listing-hide", novalidate: true },
      h("label", { for: "listing-hide-reason", text: t("listing.hide.reason") }), reason, hide);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!reason.value.trim()) {
        problem.replaceChildren(alertLine(t("listing.hide.empty")));
        return reason.focus();
      }
      act(hide, () => api.post(`${path}/hide`, { reason: reason.value.trim() }), t("listing.hidden.done"));
    });
    parts.push(form);
  }

  show(...[h("p", { class: "back" }, navLink("/wallet/market", t("listing.back"))),
    listing.picture ? h("img", { class: "listing-picture", src: listing.picture.url, alt: t("listing.picture.alt",
      { title: listing.title }), width: String(listing.picture.width), height: String(listing.picture.height) }) : null,
    h("p", { class: "muted kind-line", text: `${t(`market.kind.${listing.kind}`)} · ${t(`market.category.${listing.category}`)}` }),
    h("h1", { id: "listing-title", text: listing.title }), status, price, pay,
    listing.community ? h("p", { class: "muted", id: "listing-across", text: t("listing.across") }) : null, facts,
    listing.description ? h("p", { class: "listing-description", id: "listing-description", text: listing.description }) : null,
    problem, ...parts].filter(Boolean)); // show() takes no nulls
}
