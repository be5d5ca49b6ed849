// Join (/wallet/join#i=<seed>&n=<name>): make the device's key, send the join signed by the
// invitation's key, keep the device, sign in (docs/wallet.md "Keys").
//
// An invitation by decision (`&d=<seq>`, where the community admits by decision) admits no one
// until the members pass decision <seq>: until then the screen shows that decision as a stranger
// may read it (GET /api/decisions/<seq>: its title and time left, and its tally where the
// community shows decisions to everyone), checking again every `pollIntervalMs`, at most
// `pollsMax` times while on show (then a button checks again); once it passed, the join form.
import * as api from "../api.js";
import { fromBase32, idFromText } from "../ids.js";
import * as intents from "../intents.js";
import * as keys from "../keys.js";
import { keepAdmitted } from "../linking.js";
import { t } from "../strings.js";
import { formatTime } from "../format.js";
import { alertLine, errorLine, fragmentFields, h, heading, hideTabs, loadCommunity, navLink, screenTimer, show, state }
  from "../ui.js";

export const needsDevice = false;

const pollIntervalMs = 5000;
const pollsMax = 120; // ten minutes of a screen left open; then the invitee checks by hand

export async function draw(view) {
  hideTabs();
  const community = await loadCommunity();
  const fields = fragmentFields();
  let seed = null;
  try {
    seed = fromBase32(fields.get("i") ?? "");
  } catch {
    seed = null;
  }
  const existing = await keys.loadDevice();
  if (existing && existing.joined) {
    show(heading(t("join.title", { community: community.name })), h("p", { text: t("join.already") }),
      h("p", {}, navLink("/wallet", t("join.open"), { class: "button" })));
    return;
  }
  if (!seed || seed.length !== keys.seedBytes) {
    show(heading(t("join.title", { community: community.name })), alertLine(t("join.bad_link")));
    return;
  }
  const decision = /^[1-9][0-9]{0,15}$/.test(fields.get("d") ?? "") ? fields.get("d") : null;
  if (decision !== null && !(await decided(view, community, decision))) return;
  const name = h("input", { id: "join-name", name: "name", type: "text", autocomplete: "name", required: true,
    maxlength: String(intents.nameCharsMax), "aria-describedby": "join-name-hint" });
  name.value = fields.get("n") ?? "";
  const problem = h("div", { class: "problem" });
  const submit = h("button", { type: "submit", class: "primary", text: t("join.submit") });
  const form = h("form", { novalidate: true },
    h("label", { for: "join-name", text: t("join.name") }), name,
    h("p", { id: "join-name-hint", class: "hint", text: t("join.name.hint") }), problem, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const typed = name.value.trim();
    if (typed === "") return problem.replaceChildren(alertLine(t("join.name.empty")));
    if ([...typed].length > intents.nameCharsMax) {
      return problem.replaceChildren(alertLine(t("join.name.long", { count: intents.nameCharsMax })));
    }
    submit.disabled = true;
    submit.textContent = t("join.working");
    problem.replaceChildren();
    try {
      await join(community, seed, typed);
      seed = null; // the invitation's seed is used up: forget it
      view.go("/wallet", { replace: true }); // and the link's fragment with it
    } catch (error) {
      problem.replaceChildren(alertLine(errorLine(error)));
      submit.disabled = false;
      submit.textContent = t("join.submit");
    }
  });
  show(heading(t("join.title", { community: community.name })),
    decision !== null ? h("p", { id: "join-decided", class: "done", text: t("join.deciding.passed") }) : null,
    h("p", { text: t("join.intro", { community: community.name }) }), form);
}

// Shows decision `seq` until it closes; true once it passed (the join form follows), false if
// the screen was left or the decision closed otherwise (one line says what to do).
async function decided(view, community, seq) {
  const title = heading(t("join.title", { community: community.name }));
  const line = h("p", { id: "join-deciding", role: "status", "aria-live": "polite" });
  const more = h("p", { class: "hint" });
  const actions = h("p", { class: "actions" });
  show(title, line, more, actions);
  let polls = 0;
  const timer = screenTimer();
  return new Promise((resolve) => {
    const check = async () => {
      if (timer.stopped() || !view.current()) return resolve(false);
      polls += 1;
      let found;
      try {
        found = await api.get(`/api/decisions/${seq}`);
      } catch (error) {
        if (timer.stopped() || !view.current()) return resolve(false);
        line.replaceChildren(alertLine(errorLine(error)));
        return later();
      }
      if (timer.stopped() || !view.current()) return resolve(false);
      if (found.outcome === "passed") return resolve(true);
      if (!found.open) {
        line.replaceChildren(alertLine(t("join.deciding.refused")));
        more.textContent = "";
        actions.replaceChildren();
        return resolve(false);
      }
      line.textContent = t("join.deciding", { title: found.title });
      const tally = found.tally ? ` ${t("join.deciding.tally", { count: found.tally.participants_people,
        total: found.tally.electorate_people })}` : "";
      more.textContent = t("join.deciding.closes", { when: formatTime(found.deadline_ms) }) + tally;
      later();
    };
    const later = () => {
      if (polls < pollsMax) timer.later(check, pollIntervalMs);
      const button = h("button", { type: "button", id: "join-check", text: t("join.deciding.check"), onclick: () => {
        timer.cancel();
        polls = 0;
        button.disabled = true;
        button.textContent = t("join.deciding.checking");
        check();
      } });
      actions.replaceChildren(button);
    };
    check();
  });
}

async function join(community, seed, name) {
  const made = await keys.withNewDeviceKey(community.node, async (made) => {
    const invitation = await keys.importSeed(seed);
    const intent = await intents.signMemberIntent({ privateKey: invitation.privateKey, key: invitation.publicKey,
      feed: idFromText("n", community.node), nonce: await intents.nextNonce(), action: intents.join(made.publicKey, name) });
    await api.postIntent(intents.intentJson(intent));
  });
  state.device = await keepAdmitted(made, community.node);
}
