// Settings (/wallet/settings, the More tab): who this device's member is, links to the other
// screens of More and to the community's yearly report (/report, a page of the node), their
// signed-in sessions (each one ended from here), and signing out (api.md §6).
import * as api from "../api.js";
import { formatTime } from "../format.js";
import { languageSwitch } from "../language_switch.js";
import { t } from "../strings.js";
import { drawTabs, h, heading, hideTabs, leave, navLink, show, state } from "../ui.js";

export const needsDevice = true;

export async function draw(view) {
  drawTabs("/wallet/settings");
  const member = state.device.member;
  const [me, sessions, session] = await Promise.all([api.get(`/api/members/${member}`), api.get("/api/sessions"),
    api.get("/api/session")]);
  if (!view.current()) return;
  const list = h("ul", { class: "rows", id: "sessions" });
  const drawSessions = (entries) => list.replaceChildren(...entries.map((session) => h("li", { class: "row" },
    h("span", { class: "who" }, h("span", { class: "name", text: session.label }),
      h("span", { class: "when", text: t("settings.last_seen", { when: formatTime(session.last_seen_ms) }) })),
    session.current ? h("span", { class: "muted", text: t("settings.current") })
      : h("button", { type: "button", text: t("settings.end"), onclick: async () => {
        await api.remove(`/api/sessions/${encodeURIComponent(session.id)}`);
        drawSessions(await api.get("/api/sessions"));
      } }))));
  drawSessions(sessions);
  const signOut = h("button", { type: "button", text: t("settings.sign_out"), onclick: async () => {
    leave();
    await api.signOut();
    hideTabs();
    show(heading(t("settings.title")), h("p", { id: "signed-out", text: t("settings.signed_out") }),
      h("button", { type: "button", class: "primary", text: t("settings.sign_in"), onclick: () => view.redraw() }));
  } });
  show(heading(t("settings.title")),
    h("dl", {}, h("dt", { text: t("settings.name") }), h("dd", { text: me.name }),
      h("dt", { text: t("settings.member") }), h("dd", { class: "id", id: "member-id", text: member })),
    h("p", {}, navLink("/wallet/notifications", t("settings.notifications"), { id: "notifications-link" })),
    h("p", {}, navLink("/wallet/rules", t("settings.rules"), { id: "settings-rules-link" })),
    // The yearly report is one of the node's pages (docs/pages.md), not a wallet screen: a plain link.
    h("p", {}, h("a", { href: "/report", id: "settings-report-link", text: t("settings.report") })),
    h("p", { class: "actions" }, navLink("/wallet/devices", t("settings.devices"), { class: "button" }),
      navLink("/wallet/backup", t("settings.backup"), { class: "button" })),
    // The admins' screen (screens/admin.js): the link only for an admin; the node refuses the rest.
    session.admin ? h("p", {}, navLink("/wallet/admin", t("settings.admin"), { id: "admin-link" })) : null,
    languageSwitch(),
    h("h2", { text: t("settings.sessions") }), list, h("p", { class: "actions" }, signOut));
}
