// Join (/wallet/join#i=<seed>&n=<name>): make the device's key, send the join signed by the
// invitation's key, keep the device, sign in (docs/wallet.md "Keys").
import * as api from "../api.js";
import { fromBase32, idFromText } from "../ids.js";
import * as intents from "../intents.js";
import * as keys from "../keys.js";
import { t } from "../strings.js";
import { alertLine, errorLine, fragmentFields, h, heading, hideTabs, loadCommunity, navLink, show, state } from "../ui.js";

export const needsDevice = false;

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
    h("p", { text: t("join.intro", { community: community.name }) }), form);
}

async function join(community, seed, name) {
  const made = await keys.makeDeviceKey();
  const invitation = await keys.importSeed(seed);
  const feed = idFromText("n", community.node);
  const intent = await intents.signMemberIntent({ privateKey: invitation.privateKey, key: invitation.publicKey,
    feed, nonce: await intents.nextNonce(), action: intents.join(made.publicKey, name) });
  // Kept before it is sent: were the page to close after the node admitted it, the key survives.
  await keys.saveDevice(made, community.node, false);
  try {
    await api.postIntent(intents.intentJson(intent));
  } catch (error) {
    await keys.forgetDevice();
    throw error;
  }
  await keys.saveDevice(made, community.node, true);
  state.device = await keys.loadDevice();
  api.useDevice(state.device);
  await api.signIn();
}
