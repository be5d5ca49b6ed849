// Notifications (/wallet/notifications, reached from More): the e-mail address the member's notices
// are also mailed to (none: the inbox only) and a switch per kind of notice (GET and PUT
// /api/members/{id}/notifications, docs/notifications.md). A kind switched off is neither in the
// inbox nor mailed, from the next event on. The mails' language: English, Spanish, or the
// community's own (null: it follows the community's `default_language`).
//
// How this works: one form; saving sends the address (empty: null, no e-mail) and every switch as
// it stands, and the language chosen. The node answers the language the mails are in, not whether
// it is the member's own or the community's: one that is the community's shows as the community's.
// The node checks the address (one line if it is not one) and keeps it on this node
// only, never in the log.
import * as api from "../api.js";
import { communityLanguage, languageName, languages, t } from "../strings.js";
import { alertLine, drawTabs, errorLine, h, heading, navLink, show, state } from "../ui.js";

export const needsDevice = true;

// The kinds in the order the screen lists them (node/notifications.py `kinds`).
const kindOrder = ["payment_received", "payment_across_settled", "payment_across_returned", "decision_opened",
  "decision_closing", "delegated", "offer_closed", "order_filled", "dividend_paid", "listing_expiring", "weekly_digest"];
// RFC 5321's bound on an address, as the node takes it.
const addressCharsMax = 254;

export async function draw(view) {
  drawTabs("/wallet/settings");
  const path = `/api/members/${state.device.member}/notifications`;
  const settings = await api.get(path);
  if (!view.current()) return;
  const address = h("input", { id: "notify-address", type: "email", autocomplete: "email", inputmode: "email",
    maxlength: String(addressCharsMax), value: settings.address ?? "", "aria-describedby": "notify-address-hint" });
  const switches = kindOrder.filter((kind) => kind in settings.kinds).map((kind) => {
    const box = h("input", { type: "checkbox", id: `notify-${kind}`, name: kind });
    box.checked = settings.kinds[kind];
    return { kind, box, element: h("div", { class: "option" }, box,
      h("label", { for: `notify-${kind}`, text: t(`notifications.kind.${kind}`) })) };
  });
  const capitalised = (code) => {
    const name = languageName(code);
    return name.charAt(0).toLocaleUpperCase(code) + name.slice(1);
  };
  const language = h("select", { id: "notify-language", name: "language" },
    h("option", { value: "", text: t("notifications.language.community", { language: languageName(communityLanguage) }) }),
    ...languages.map((code) => h("option", { value: code, lang: code, text: capitalised(code) })));
  language.value = settings.language === communityLanguage || !languages.includes(settings.language) ? "" : settings.language;
  const problem = h("div", { class: "problem" });
  const status = h("p", { role: "status", id: "notify-status" });
  const submit = h("button", { type: "submit", class: "primary", id: "notify-save", text: t("notifications.save") });
  const form = h("form", { novalidate: true },
    h("div", { class: "field" }, h("label", { for: "notify-address", text: t("notifications.address") }), address,
      h("p", { class: "hint", id: "notify-address-hint", text: t("notifications.address.hint") })),
    h("div", { class: "field" }, h("label", { for: "notify-language", text: t("notifications.language") }), language),
    h("fieldset", {}, h("legend", { text: t("notifications.kinds") }), ...switches.map((each) => each.element)),
    problem, status, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.replaceChildren();
    status.textContent = "";
    submit.disabled = true;
    const kinds = Object.fromEntries(switches.map((each) => [each.kind, each.box.checked]));
    try {
      const saved = await api.put(path, { address: address.value.trim() || null, kinds, language: language.value || null });
      address.value = saved.address ?? "";
      status.className = "done";
      status.textContent = saved.address ? t("notifications.saved", { address: saved.address })
        : t("notifications.saved.no_address");
    } catch (error) {
      const bad = error instanceof api.ApiError && error.code === "malformed";
      problem.append(alertLine(bad ? t("notifications.address.bad") : errorLine(error)));
      address.focus();
    } finally {
      submit.disabled = false;
    }
  });
  show(heading(t("notifications.title")), h("p", { text: t("notifications.intro") }), form,
    h("p", {}, navLink("/wallet/inbox", t("notifications.inbox"))));
}
