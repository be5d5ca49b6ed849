// Restore (/wallet/restore), on a device with no wallet (or one whose key no longer signs for anyone): the member's recovery phrase, or their
// recovery file and its passphrase, gives the seed of the recovery key bound to their account; a
// new device key is made here and bound with `add_key` signed by that recovery key, and this device
// then signs in with its own key (recovery.js, linking.js; docs/wallet.md, "Backup and restore").
// The seed stays in this page's memory only while it signs, and is never sent.
import * as api from "../api.js";
import { idFromText } from "../ids.js";
import * as intents from "../intents.js";
import * as keys from "../keys.js";
import * as linking from "../linking.js";
import * as recovery from "../recovery.js";
import { t } from "../strings.js";
import { alertLine, errorLine, h, heading, hideTabs, loadCommunity, show, state } from "../ui.js";

export const needsDevice = false;

export async function draw(view) {
  hideTabs();
  const community = await loadCommunity();
  if (await linking.drawnIfMemberHere(community, t("restore.title"), "restore.already")) return;
  const phrase = h("textarea", { id: "restore-phrase", rows: "4", autocomplete: "off", autocapitalize: "none",
    spellcheck: "false", "aria-describedby": "restore-phrase-hint" });
  const phraseProblem = h("div", { class: "problem" });
  const phraseForm = h("form", { novalidate: true },
    h("label", { for: "restore-phrase", text: t("restore.phrase") }), phrase,
    h("p", { id: "restore-phrase-hint", class: "hint", text: t("restore.phrase.hint") }), phraseProblem,
    h("button", { type: "submit", class: "primary", id: "restore-by-phrase", text: t("restore.phrase.submit") }));
  const file = h("input", { id: "restore-file", type: "file", accept: "application/json,.json" });
  const passphrase = h("input", { id: "restore-passphrase", type: "password", autocomplete: "current-password" });
  const fileProblem = h("div", { class: "problem" });
  const fileForm = h("form", { novalidate: true },
    h("label", { for: "restore-file", text: t("restore.file") }), file,
    h("label", { for: "restore-passphrase", text: t("restore.passphrase") }), passphrase, fileProblem,
    h("button", { type: "submit", id: "restore-by-file", text: t("restore.file.submit") }));
  const attempt = async (form, problem, seedOf) => {
    const button = form.querySelector("button[type=submit]");
    const label = button.textContent;
    problem.replaceChildren();
    button.disabled = true;
    button.textContent = t("restore.working");
    try {
      await restore(community, await seedOf());
      view.go("/wallet", { replace: true });
    } catch (error) {
      const code = error instanceof recovery.RecoveryError ? error.code : null;
      problem.replaceChildren(alertLine(code ? t(code, error.values) : restoreErrorLine(error)));
      button.disabled = false;
      button.textContent = label;
    }
  };
  phraseForm.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(phraseForm, phraseProblem, () => recovery.seedOfPhrase(phrase.value));
  });
  fileForm.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(fileForm, fileProblem, async () => {
      const chosen = file.files[0];
      if (!chosen) throw new recovery.RecoveryError("restore.file_none");
      if (chosen.size > recovery.fileBytesMax) throw new recovery.RecoveryError("restore.file_bad");
      return recovery.seedOfFile(await chosen.text(), passphrase.value, community.node);
    });
  });
  show(heading(t("restore.title")), h("p", { text: t("restore.intro", { community: community.name }) }),
    h("section", { class: "card choice-card", "aria-labelledby": "restore-phrase-title" },
      h("h2", { id: "restore-phrase-title", text: t("restore.phrase.title") }), phraseForm),
    h("section", { class: "card choice-card", "aria-labelledby": "restore-file-title" },
      h("h2", { id: "restore-file-title", text: t("restore.file.title") }), fileForm));
}

// A key no account holds (a phrase for another community, a removed backup) is refused by the
// node as unknown_member or key_retired: one line saying so.
function restoreErrorLine(error) {
  if (error instanceof api.ApiError && ["unknown_member", "key_retired", "not_a_member"].includes(error.code)) {
    return t("restore.not_bound");
  }
  return errorLine(error);
}

async function restore(community, seed) {
  const recoveryKey = await keys.importSeed(seed);
  const made = await keys.makeDeviceKey();
  const intent = await intents.signMemberIntent({ privateKey: recoveryKey.privateKey, key: recoveryKey.publicKey,
    feed: idFromText("n", community.node), nonce: await intents.nextNonce(), action: intents.addKey(made.publicKey) });
  await api.postIntent(intents.intentJson(intent));
  state.device = await linking.adopt({ pair: made.pair, publicKey: made.publicKey, key: made.key }, community);
}
