// Sending what the member signs, and the confirmation before it (docs/wallet.md, "Signing"): one
// way to sign an action with this device's key and post it, and one confirmation screen that every
// screen sending a signed action shows (pay, subscribe, trade, transfer, withdraw, devices).
//
// How this works: `sendAction` builds the intent with intents.js (the device's key, the community's
// feed, a fresh nonce), signs it and posts it to /api/intents; the node answers {seq, hash} once the
// event is committed. `confirmScreen` draws what is about to be signed, a send button and a button
// back; sending disables both (so one tap never sends twice), and a refusal puts them back with one
// line saying what to do, while what the send gave is handed to `done` (the receipt). Nothing is
// signed before the member presses send.
import * as api from "./api.js";
import { idFromText } from "./ids.js";
import * as intents from "./intents.js";
import { t } from "./strings.js";
import { alertLine, h, heading, show, state } from "./ui.js";

// An intent of this device's member, `intents.signMemberIntent` over this community's feed with the
// next nonce: its body for POST /api/intents, and that nonce.
export async function signAction(action) {
  const { community, device } = state;
  const nonce = await intents.nextNonce();
  const signed = await intents.signMemberIntent({ privateKey: device.pair.privateKey, key: device.publicKey,
    feed: idFromText("n", community.node), nonce, action });
  return { nonce, body: intents.intentJson(signed) };
}

// Sign `action` with this device's key and post it: {"seq", "hash"} once committed.
export async function sendAction(action) {
  return api.postIntent((await signAction(action)).body);
}

// The confirmation of one action, drawn now:
//   title      the heading;
//   shown      what is confirmed (elements; null ones are left out);
//   sendId, sendText, sendingText   the send button's id and texts (sendingText null: unchanged while sending);
//   sendClass  its class ("primary"; "primary danger" for a removal);
//   backText, back   the other button, and what it does;
//   send       async () => what was sent (an answer); throws to refuse;
//   refusal    (error) => the one line of a refusal;
//   done       async (sent) => the receipt;
//   focusBack  focus the back button first (where one Enter must not sign), else the send button.
export function confirmScreen({ title, shown, sendId, sendText, sendingText = null, sendClass = "primary", backText,
  back, send, refusal, done, focusBack = false }) {
  const problem = h("div", { class: "problem" });
  const sendButton = h("button", { type: "button", class: sendClass, id: sendId, text: sendText });
  const backButton = h("button", { type: "button", text: backText, onclick: back });
  const ready = (yes) => {
    sendButton.disabled = !yes;
    backButton.disabled = !yes;
    if (sendingText !== null) sendButton.textContent = yes ? sendText : sendingText;
  };
  sendButton.addEventListener("click", async () => {
    ready(false);
    problem.replaceChildren();
    let sent;
    try {
      sent = await send();
    } catch (error) {
      problem.replaceChildren(alertLine(refusal(error)));
      ready(true);
      return;
    }
    await done(sent); // committed (or kept to send): what follows is no longer the action's
  });
  show(heading(title), ...shown, problem, h("p", { class: "actions" }, sendButton, backButton));
  (focusBack ? backButton : sendButton).focus();
}

// The confirmation of an Own screen's action (subscribe, trade, transfer, withdraw): "Sending…"
// while it goes, "Change" to go back, and a refusal through `refusal`.
export function confirmShares(options) {
  confirmScreen({ sendingText: t("own.sending"), backText: t("own.change"), ...options });
}
