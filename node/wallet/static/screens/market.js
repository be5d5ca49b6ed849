// Market (/wallet/market[?mine=1]): what members offer and want (docs/market.md). A search by
// words, category, place and kind (GET /api/listings), newest first, a page at a time; each
// listing opens /wallet/listing?id=l_…. With ?mine=1, the member's own listings in every state.
// "Search in" chooses this community or every community of its federations (`scope=federation`):
// another community's listings name it, and open /wallet/listing?id=l_…&community=n_….
// What is typed in the search stays on the page: the node logs no search, and no URL carries it.
import * as api from "../api.js";
import { categoryIds, listingRow } from "../listings.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, errorLine, h, heading, navLink, show } from "../ui.js";

export const needsDevice = true;

const pageSize = 20;

function select(id, label, options) {
  return h("div", { class: "field" }, h("label", { for: id, text: label }),
    h("select", { id }, ...options.map(([value, text]) => h("option", { value, text }))));
}

export async function draw(view) {
  drawTabs("/wallet/market");
  const mine = new URLSearchParams(location.search).get("mine") === "1";
  const actions = h("p", { class: "actions" },
    navLink("/wallet/list", t("market.new"), { class: "button primary" }),
    mine ? navLink("/wallet/market", t("market.all"), { class: "plain-link" })
      : navLink("/wallet/market?mine=1", t("market.mine"), { class: "plain-link" }));
  const results = h("ul", { class: "rows", id: "market-results", "aria-live": "polite" });
  const more = h("p", { class: "actions" });
  const problem = h("div", { class: "problem" });

  if (mine) {
    const page = await api.get("/api/listings?mine=1");
    if (!view.current()) return;
    results.replaceChildren(...page.listings.map(listingRow));
    show(heading(t("market.mine.title")), actions,
      page.listings.length ? results : h("p", { class: "muted", text: t("market.mine.none") }));
    return;
  }

  const words = h("input", { id: "market-q", type: "search", autocomplete: "off", maxlength: "64" });
  const place = h("input", { id: "market-place", type: "text", autocomplete: "off", maxlength: "64" });
  const category = select("market-category", t("market.category"),
    [["", t("market.category.any")], ...categoryIds.map((id) => [id, t(`market.category.${id}`)])]);
  const kind = select("market-kind", t("market.kind"),
    [["", t("market.kind.any")], ["offer", t("market.kind.offers")], ["want", t("market.kind.wants")]]);
  const scope = select("market-scope", t("market.scope"),
    [["community", t("market.scope.community")], ["federation", t("market.scope.federation")]]);
  const form = h("form", { role: "search", class: "market-search", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "market-q", text: t("market.q") }), words), scope,
    h("div", { class: "filters" }, category, kind,
      h("div", { class: "field" }, h("label", { for: "market-place", text: t("market.place") }), place)),
    h("button", { type: "submit", class: "primary", text: t("market.search") }));

  let next = null;
  let searching = 0;
  const load = async (append) => {
    const mineNow = (searching += 1);
    const query = new URLSearchParams({ limit: String(pageSize) });
    if (words.value.trim()) query.set("q", words.value.trim());
    if (place.value.trim()) query.set("place", place.value.trim());
    const chosenCategory = category.querySelector("select").value;
    const chosenKind = kind.querySelector("select").value;
    if (chosenCategory) query.set("category", chosenCategory);
    if (chosenKind) query.set("kind", chosenKind);
    if (scope.querySelector("select").value === "federation") query.set("scope", "federation");
    if (append && next) query.set("before", next);
    problem.replaceChildren();
    try {
      const page = await api.get(`/api/listings?${query}`);
      if (mineNow !== searching || !view.current()) return;
      next = page.next;
      const rows = page.listings.map(listingRow);
      if (append) results.append(...rows);
      else results.replaceChildren(...(rows.length ? rows : [h("li", { class: "muted", text: t("market.none") })]));
      more.replaceChildren(next ? h("button", { type: "button", text: t("market.more"), onclick: () => load(true) }) : "");
    } catch (error) {
      problem.replaceChildren(alertLine(errorLine(error)));
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load(false);
  });
  show(heading(t("market.title")), actions, form, problem,
    h("section", { "aria-labelledby": "market-found" }, h("h2", { id: "market-found", text: t("market.found") }),
      results, more));
  await load(false);
}
