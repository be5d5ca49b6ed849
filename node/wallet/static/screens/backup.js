// Backup (/wallet/backup): the member chooses a recovery phrase (24 words, shown once) or an
// encrypted file (downloaded once, opened by a passphrase). Either holds the seed of a new
// recovery key, bound to the account with `add_key` signed on this device before the phrase is
// shown or the file saved, so it is listed and removable like a device (recovery.js;
// docs/wallet.md, "Backup and restore"). The seed is never sent anywhere and is dropped from the
// page once shown.
import * as keys from "../keys.js";
import * as linking from "../linking.js";
import * as intents from "../intents.js";
import * as recovery from "../recovery.js";
import { sendAction } from "../sending.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, errorLine, h, heading, main, navLink, show, state } from "../ui.js";

export const needsDevice = true;

export async function draw(view) {
  drawTabs("/wallet/settings");
  const phraseButton = h("button", { type: "button", class: "primary", id: "backup-phrase", text: t("backup.phrase.make") });
  const problem = h("div", { class: "problem" });
  phraseButton.addEventListener("click", async () => {
    phraseButton.disabled = true;
    problem.replaceChildren();
    try {
      await makePhrase(view);
    } catch (error) {
      problem.replaceChildren(alertLine(errorLine(error)));
      phraseButton.disabled = false;
    }
  });
  const passphrase = h("input", { id: "backup-passphrase", type: "password", autocomplete: "new-password",
    "aria-describedby": "backup-passphrase-hint" });
  const repeated = h("input", { id: "backup-passphrase-again", type: "password", autocomplete: "new-password" });
  const fileProblem = h("div", { class: "problem" });
  const fileButton = h("button", { type: "submit", id: "backup-file", text: t("backup.file.make") });
  const fileForm = h("form", { novalidate: true },
    h("label", { for: "backup-passphrase", text: t("backup.file.passphrase") }), passphrase,
    h("p", { id: "backup-passphrase-hint", class: "hint", text: t("backup.file.hint", { count: recovery.passphraseCharsMin }) }),
    h("label", { for: "backup-passphrase-again", text: t("backup.file.again") }), repeated, fileProblem, fileButton);
  fileForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    fileProblem.replaceChildren();
    if ([...passphrase.value].length < recovery.passphraseCharsMin) {
      fileProblem.append(alertLine(t("backup.file.short", { count: recovery.passphraseCharsMin })));
      return passphrase.focus();
    }
    if (passphrase.value !== repeated.value) {
      fileProblem.append(alertLine(t("backup.file.differ")));
      return repeated.focus();
    }
    fileButton.disabled = true;
    fileButton.textContent = t("backup.file.working");
    try {
      await makeFile(view, passphrase.value);
    } catch (error) {
      fileProblem.replaceChildren(alertLine(errorLine(error)));
      fileButton.disabled = false;
      fileButton.textContent = t("backup.file.make");
    }
  });
  show(heading(t("backup.title")), h("p", { text: t("backup.intro") }),
    h("section", { class: "card choice-card", "aria-labelledby": "backup-phrase-title" },
      h("h2", { id: "backup-phrase-title", text: t("backup.phrase.title") }), h("p", { text: t("backup.phrase.text") }),
      problem, phraseButton),
    h("section", { class: "card choice-card", "aria-labelledby": "backup-file-title" },
      h("h2", { id: "backup-file-title", text: t("backup.file.title") }), h("p", { text: t("backup.file.text") }),
      fileForm),
    h("p", {}, navLink("/wallet/devices", t("backup.devices"))));
}

// A new recovery key from `seed`, bound to the account by this device's key: its k_ text.
async function bind(seed, kind) {
  const pair = await keys.importSeed(seed);
  await sendAction(intents.addKey(pair.publicKey));
  const key = linking.keyText(pair.publicKey);
  await linking.rememberBackup(key, kind);
  return key;
}

async function makePhrase(view) {
  let seed = recovery.freshSeed();
  const words = await recovery.phraseOf(seed);
  await bind(seed, "phrase");
  seed = null;
  if (!view.current()) return;
  const list = h("ol", { class: "phrase", id: "phrase" }, ...words.map((word) => h("li", { text: word })));
  const done = h("button", { type: "button", class: "primary", id: "backup-done", text: t("backup.phrase.done") });
  done.addEventListener("click", () => {
    list.replaceChildren(); // the words leave the page
    finished(t("backup.phrase.finished"));
  });
  show(heading(t("backup.phrase.shown_title")), h("p", { text: t("backup.phrase.shown") }), list,
    h("p", { class: "hint", text: t("backup.phrase.warning") }), done);
  main.focus();
}

async function makeFile(view, passphrase) {
  let seed = recovery.freshSeed();
  const pair = await keys.importSeed(seed);
  const key = linking.keyText(pair.publicKey);
  const text = await recovery.fileOf(seed, passphrase, state.community.node, key);
  await bind(seed, "file");
  seed = null;
  if (!view.current()) return;
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  const save = h("a", { href: url, download: "tallystick-recovery.json", class: "button primary", id: "backup-save",
    text: t("backup.file.save") });
  save.addEventListener("click", () => setTimeout(() => {
    URL.revokeObjectURL(url); // downloaded once: nothing of it stays in the page
    finished(t("backup.file.saved"));
  }, 1000));
  show(heading(t("backup.file.ready_title")), h("p", { text: t("backup.file.ready") }), h("p", { class: "actions" }, save));
  save.focus();
}

function finished(line) {
  show(heading(t("backup.finished_title")), h("p", { id: "backup-finished", text: line }),
    h("p", { class: "actions" }, navLink("/wallet/devices", t("backup.devices"), { class: "button" }),
      navLink("/wallet", t("pay.home"), { class: "button" })));
  main.focus();
}
