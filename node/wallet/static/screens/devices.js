// Devices (/wallet/devices[#add=k_…]): the account's current keys, this device's marked; "Add a
// device" (the new device's link scanned with this phone's camera opens this screen at
// #add=<its key>, or its code typed here); "Remove" on each other key. Both sign on this device
// (add_key, remove_key: intents.js), each after a confirmation (docs/wallet.md, "Devices").
import * as api from "../api.js";
import { formatTime } from "../format.js";
import { idFromText } from "../ids.js";
import * as intents from "../intents.js";
import * as linking from "../linking.js";
import { confirmScreen, sendAction } from "../sending.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, errorLine, fragmentFields, h, heading, show, state } from "../ui.js";

export const needsDevice = true;

export async function draw(view) {
  drawTabs("/wallet/settings");
  const asked = fragmentFields().get("add");
  if (asked !== null) {
    history.replaceState(null, "", "/wallet/devices"); // the key leaves the address bar once read
    const key = linking.keyFromTyped(asked);
    return key ? confirmAdd(view, key) : listScreen(view, alertLine(t("devices.add.bad_code")));
  }
  return listScreen(view);
}

function deviceName(entry, made) {
  if (entry.this_device) return t("devices.this");
  if (made[entry.key] === "phrase") return t("devices.backup_phrase");
  if (made[entry.key] === "file") return t("devices.backup_file");
  return entry.sessions.length ? entry.sessions[0].label : t("devices.other");
}

// A line saying what was just done, which takes the focus (so a screen reader reads it first).
function notice(id, text) {
  return h("p", { class: "notice", role: "status", id, tabindex: "-1", text });
}

async function listScreen(view, shown = null) {
  const member = state.device.member;
  const [me, made] = await Promise.all([api.get(`/api/members/${member}`), linking.madeHere()]);
  if (!view.current()) return;
  const entries = me.devices ?? [];
  const list = h("ul", { class: "rows", id: "devices" }, ...entries.map((entry, index) => h("li", { class: "row" },
    h("span", { class: "who" }, h("span", { class: "name", text: deviceName(entry, made) }),
      h("span", { class: "code id", text: t("devices.code", { code: linking.codeOf(entry.key).slice(0, 9) }) }),
      h("span", { class: "when", text: entry.sessions.length
        ? t("devices.last_seen", { when: formatTime(entry.sessions[0].last_seen_ms) })
        : t(index === 0 ? "devices.first" : "devices.no_session") })),
    entry.this_device ? null
      : h("button", { type: "button", text: t("devices.remove"),
        "aria-label": t("devices.remove_named", { name: deviceName(entry, made) }),
        onclick: () => confirmRemove(view, entry, deviceName(entry, made)) }))));
  const code = h("input", { id: "device-code", type: "text", autocomplete: "off", autocapitalize: "none",
    spellcheck: "false", "aria-describedby": "device-code-hint" });
  const problem = h("div", { class: "problem" });
  const form = h("form", { novalidate: true, class: "devices-add" },
    h("label", { for: "device-code", text: t("devices.add.code") }), code,
    h("p", { id: "device-code-hint", class: "hint", text: t("devices.add.hint") }), problem,
    h("button", { type: "submit", text: t("devices.add.continue") }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = linking.keyFromTyped(code.value);
    if (!key) {
      code.setAttribute("aria-invalid", "true");
      problem.replaceChildren(alertLine(t("devices.add.bad_code")));
      return code.focus();
    }
    confirmAdd(view, key);
  });
  show(heading(t("devices.title")), shown, h("p", { text: t("devices.intro") }), list,
    h("h2", { id: "add-device", text: t("devices.add.title") }),
    h("p", { text: t("devices.add.how", { link: `${location.origin}/wallet/link` }) }), form,
    h("h2", { text: t("devices.backup.title") }),
    h("p", {}, h("a", { href: "/wallet/backup", "data-nav": true, text: t("devices.backup.link") })));
  if (shown && shown.classList.contains("notice")) shown.focus();
}

async function confirmAdd(view, key) {
  const me = await api.get(`/api/members/${state.device.member}`);
  if (!view.current()) return;
  // The safe choice first (focusBack): a link to this screen may come from someone who wants their
  // own key on the account ("open this to set up your new phone"); one Enter must not bind it.
  confirmScreen({
    title: t("devices.add.confirm_title"),
    shown: [h("p", { text: t("devices.add.whose") }),
      h("dl", { class: "summary" }, h("dt", { text: t("devices.add.account") }),
        h("dd", {}, h("span", { class: "name", id: "device-account-name", text: me.name }),
          h("span", { class: "id", id: "device-account", text: state.device.member })),
        h("dt", { text: t("devices.add.compare") }), h("dd", { class: "code id", id: "device-new-code", text: linking.codeOf(key) })),
      h("p", { class: "hint", text: t("devices.add.warning") })],
    sendId: "device-add", sendText: t("devices.add.confirm"), backText: t("devices.cancel"),
    back: () => listScreen(view), focusBack: true,
    send: () => sendAction(intents.addKey(idFromText("k", key))),
    refusal: (error) => (error.code === "key_in_use" ? t("devices.add.in_use") : errorLine(error)),
    done: () => listScreen(view, notice("device-added", t("devices.added"))),
  });
}

function confirmRemove(view, entry, name) {
  confirmScreen({
    title: t("devices.remove.title", { name }),
    shown: [h("p", { text: t("devices.remove.text") }), h("p", { class: "code id", text: linking.codeOf(entry.key) })],
    sendId: "device-remove", sendText: t("devices.remove.confirm"), sendClass: "primary danger",
    backText: t("devices.remove.keep"), back: () => listScreen(view), focusBack: true,
    send: () => sendAction(intents.removeKey(idFromText("k", entry.key))),
    refusal: (error) => errorLine(error),
    done: () => listScreen(view, notice("device-removed", t("devices.removed", { name }))),
  });
}
