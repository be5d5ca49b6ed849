// Ask to join (/wallet/ask): no invitation needed. The wallet makes the device's key, sends the
// person's name and an optional note to the node signed by that key (POST /api/join-requests,
// docs/api.md §12), and then asks the node for its own request's state (GET
// /api/join-requests/mine, signed by the same key) until the admins answer: once the log admits
// the key, the device is a member's and signs in.
//
// How this works: the key is stored (not joined) before the request is sent, with a note in
// IndexedDB that this device asked ("ask"), so that a page closed and opened again picks up the
// wait; a refused request forgets both. The poll is every `pollIntervalMs`, at most `pollsMax`
// times while the screen is on show (then a button checks again), and stops when another screen is
// drawn. The name and note are never put in a URL or logged.
import * as api from "../api.js";
import { idFromText } from "../ids.js";
import * as intents from "../intents.js";
import * as keys from "../keys.js";
import { keepAdmitted } from "../linking.js";
import { signedRequest } from "../signed.js";
import * as store from "../store.js";
import { t } from "../strings.js";
import { alertLine, errorLine, h, heading, hideTabs, loadCommunity, navLink, screenTimer, show, state } from "../ui.js";

export const needsDevice = false;

const noteCharsMax = 280; // the node's join_request_note_chars_max
const pollIntervalMs = 5000;
const pollsMax = 120; // ten minutes of a screen left open; then the member checks by hand
const askMarker = "ask";

export async function draw(view) {
  hideTabs();
  const community = await loadCommunity();
  const device = await keys.loadDevice();
  if (device && device.joined) {
    show(heading(t("ask.title", { community: community.name })), h("p", { text: t("join.already") }),
      h("p", {}, navLink("/wallet", t("join.open"), { class: "button" })));
    return;
  }
  const asked = await store.get(askMarker);
  if (device && asked && asked.key === device.key) return waiting(view, community, device);
  drawForm(view, community);
}

function drawForm(view, community) {
  const name = h("input", { id: "ask-name", name: "name", type: "text", autocomplete: "name", required: true,
    maxlength: String(intents.nameCharsMax), "aria-describedby": "ask-name-hint" });
  const note = h("textarea", { id: "ask-note", name: "note", rows: "3", maxlength: String(noteCharsMax),
    "aria-describedby": "ask-note-hint" });
  const problem = h("div", { class: "problem" });
  const submit = h("button", { type: "submit", class: "primary", text: t("ask.submit") });
  const form = h("form", { novalidate: true },
    h("label", { for: "ask-name", text: t("ask.name") }), name,
    h("p", { id: "ask-name-hint", class: "hint", text: t("ask.name.hint") }),
    h("label", { for: "ask-note", text: t("ask.note") }), note,
    h("p", { id: "ask-note-hint", class: "hint", text: t("ask.note.hint", { count: noteCharsMax }) }),
    problem, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const typed = name.value.trim();
    const noted = note.value.trim();
    if (typed === "") return refuse(problem, name, t("join.name.empty"));
    if ([...typed].length > intents.nameCharsMax) {
      return refuse(problem, name, t("join.name.long", { count: intents.nameCharsMax }));
    }
    if ([...noted].length > noteCharsMax) return refuse(problem, note, t("ask.note.long", { count: noteCharsMax }));
    submit.disabled = true;
    submit.textContent = t("ask.working");
    problem.replaceChildren();
    try {
      const made = await ask(community, typed, noted);
      await waiting(view, community, made);
    } catch (error) {
      problem.replaceChildren(alertLine(errorLine(error)));
      submit.disabled = false;
      submit.textContent = t("ask.submit");
    }
  });
  show(heading(t("ask.title", { community: community.name })),
    h("p", { text: t("ask.intro", { community: community.name }) }), form);
  name.focus();
}

function refuse(problem, field, text) {
  problem.replaceChildren(alertLine(text));
  field.focus();
}

async function ask(community, name, note) {
  await keys.withNewDeviceKey(community.node, async (made) => {
    await store.put(askMarker, { key: made.key });
    await signedRequest(made, idFromText("n", community.node), "POST", "/api/join-requests",
      note ? { name, note } : { name });
  }, forget);
  return keys.loadDevice();
}

async function forget() {
  await keys.forgetDevice();
  await store.remove(askMarker);
}

async function waiting(view, community, device) {
  const line = h("p", { id: "ask-state", role: "status", "aria-live": "polite", text: t("ask.pending") });
  const actions = h("p", { class: "actions" });
  const title = heading(t("ask.waiting.title", { community: community.name }));
  title.setAttribute("tabindex", "-1");
  show(title, line, actions);
  title.focus();
  const feed = idFromText("n", community.node);
  let polls = 0;
  const timer = screenTimer();
  const again = () => h("button", { type: "button", text: t("ask.again"), onclick: async () => {
    await forget();
    view.redraw();
  } });
  const check = async () => {
    if (timer.stopped() || !view.current()) return;
    polls += 1;
    let answer;
    try {
      answer = await signedRequest(device, feed, "GET", "/api/join-requests/mine");
    } catch (error) {
      if (timer.stopped() || !view.current()) return;
      if (error instanceof api.ApiError && error.code === "join_request_unknown") {
        line.textContent = t("ask.lapsed");
        actions.replaceChildren(again());
        return;
      }
      line.replaceChildren(alertLine(errorLine(error)));
      return later();
    }
    if (timer.stopped() || !view.current()) return;
    if (answer.state === "admitted") return admitted(view, community, device);
    if (answer.state === "declined") {
      line.textContent = t("ask.declined");
      actions.replaceChildren(h("button", { type: "button", text: t("ask.forget"), onclick: async () => {
        await forget();
        view.redraw();
      } }));
      return;
    }
    line.textContent = t(answer.state === "proposed" ? "ask.proposed" : "ask.pending");
    later();
  };
  const later = () => {
    if (polls < pollsMax) {
      timer.later(check, pollIntervalMs);
      return;
    }
    const button = h("button", { type: "button", text: t("ask.check"), onclick: () => {
      polls = 0;
      actions.replaceChildren();
      check();
    } });
    actions.replaceChildren(button);
  };
  await check();
}

async function admitted(view, community, device) {
  state.device = await keepAdmitted(device, community.node);
  await store.remove(askMarker);
  view.go("/wallet", { replace: true });
}
