// The rules in force (/wallet/rules, from Decide and from More): what the community has decided, in
// plain words, as its node applies it now: the default debit limit and credit ceiling, the levy, who
// admits new members, the quorum and threshold a proposal gets, the floors of each kind of decision
// (the least quorum, threshold and time open), and who sees what (docs/wallet.md, "The rules in force").
//
// How this works: one read, GET /api/rules (api.md §10), for members; amounts are minor units shown
// in major units with the unit, shares are basis points shown as percentages, times open are
// milliseconds shown as days and hours. Nothing here is signed or changed: a rule changes only by a
// decision (Propose).
import * as api from "../api.js";
import { t } from "../strings.js";
import { h, heading, money, navLink, show, state } from "../ui.js";
import { drawDecideTabs, duration, percent } from "./decide.js";

export const needsDevice = true;

// The kinds of data of the visibility policy, in its order (docs/privacy.md).
const visibilityKinds = ["names", "balances", "history", "votes", "decisions", "holdings", "log"];

// A share as a percentage that never breaks before its "%" at the end of a line.
function share(basisPoints) {
  return percent(basisPoints).replace(" %", "\u00a0%");
}

// A floor's facts: each one whole on a line ("quorum at least 60 %"), the "·" between them ending
// the line before where the line breaks.
function floorLine(floor) {
  if (!floor.quorum_bp && !floor.threshold_bp && !floor.period_ms) return [document.createTextNode(t("rules.floor.none"))];
  const parts = [floor.period_ms ? t("rules.floor.period", { time: duration(floor.period_ms) }) : t("rules.floor.period.none")];
  if (floor.quorum_bp) parts.push(t("rules.floor.quorum", { share: share(floor.quorum_bp) }));
  if (floor.threshold_bp) parts.push(t("rules.floor.threshold", { share: share(floor.threshold_bp) }));
  return parts.flatMap((part, index) => [index ? document.createTextNode(" ") : null,
    h("span", { class: "unbroken", text: index < parts.length - 1 ? `${part} ·` : part })]).filter(Boolean);
}

export async function draw(view) {
  drawDecideTabs();
  const rules = await api.get("/api/rules");
  if (!view.current()) return;
  const { levy } = rules;
  const entry = (id, term, text) => [h("dt", { text: term }), h("dd", { id, text })];
  // An amount, and under it in smaller words what it means.
  const amountEntry = (id, term, amount, about) => [h("dt", { text: term }),
    h("dd", { id }, h("span", { class: "amount", text: amount }), h("span", { class: "hint about", text: about }))];
  show(heading(t("rules.title")),
    h("p", { text: t("rules.intro", { community: state.community.name }) }),
    h("h2", { text: t("rules.credit") }),
    h("dl", { class: "summary", id: "rules-credit" },
      ...amountEntry("rules-debit", t("rules.debit_limit"), money(rules.debit_limit), t("rules.debit_limit.about")),
      ...amountEntry("rules-ceiling", t("rules.credit_ceiling"), money(rules.credit_ceiling), t("rules.credit_ceiling.about")),
      ...(levy ? amountEntry("rules-levy", t("rules.levy"), share(levy.rate_bp),
        t("rules.levy.value", { least: money(levy.min), most: money(levy.max) }))
        : entry("rules-levy", t("rules.levy"), t("rules.levy.none")))),
    h("h2", { text: t("rules.joining") }),
    h("p", { id: "rules-admission", text: t(`rules.admission.${rules.admission}`) }),
    h("h2", { text: t("rules.decisions") }),
    h("p", { id: "rules-defaults", text: t("rules.defaults", { quorum: share(rules.quorum_bp),
      threshold: share(rules.threshold_bp) }) }),
    h("h3", { text: t("rules.floors") }),
    h("ul", { class: "rows", id: "rules-floors" }, ...rules.floors.map((floor) => h("li", { class: "row", id: `floor-${floor.class}` },
      h("span", { class: "who" }, h("span", { class: "name", text: t(`effects.class.${floor.class}`) }),
        h("span", { class: "when" }, ...floorLine(floor)))))),
    h("h2", { text: t("rules.visibility") }),
    h("p", { class: "hint", text: t("rules.visibility.about") }),
    h("dl", { class: "summary pairs", id: "rules-visibility" }, ...visibilityKinds.flatMap((kind) =>
      entry(`rules-sees-${kind}`, t(`effects.kind.${kind}`), t(`effects.audience.${rules.visibility[kind]}`)))),
    h("p", {}, navLink("/wallet/decide", t("rules.back"))));
}
