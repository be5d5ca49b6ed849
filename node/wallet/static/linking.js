// A member's devices: binding a new device's key to the account and adopting it on that device
// (docs/wallet.md, "Devices"; screens devices.js, link.js, backup.js, restore.js).
//
// How this works: a device never shows another its private key. The new device makes its own
// non-extractable key (kept as "pending_device" until bound, so a page closed while waiting keeps
// it) and shows the link `<origin>/wallet/devices#add=k_…` (QR code and text code); the old device,
// opening that link, signs `add_key` naming it. The key is in the fragment, which no browser sends
// to a server. Meanwhile the new device asks the node every `bindingPollMs`, for at most
// `bindingWaitMs`, whether its key is bound yet: a GET /api/sessions signed with that key (a
// member-signed request, protocol.md §18: one signature check on the node, nothing stored),
// answered 401 while the key is no member's and 200 once it is. Then it signs in, learns its
// member id from the session, and keeps itself as the device.
import * as api from "./api.js";
import { concat, utf8 } from "./bytes.js";
import { hash } from "./hashing.js";
import { base32, idFromText, idToText } from "./ids.js";
import * as keys from "./keys.js";
import * as store from "./store.js";
import { t } from "./strings.js";
import { h, heading, navLink, show } from "./ui.js";

const requestNamespace = utf8("tallystick/member-request/v1\n");
// Poll every 2 s: a person adding a device on the other phone takes some seconds; 300 polls at
// most (10 minutes), then the screen stops and offers to wait again.
export const bindingPollMs = 2000;
export const bindingWaitMs = 10 * 60 * 1000;
// The text code: the key's 52 base32 digits in groups of four, easy to read out and compare.
const codeGroupChars = 4;

export function linkOf(key) {
  return `${location.origin}/wallet/devices#add=${key}`;
}

export function codeOf(key) {
  const digits = key.slice(2);
  const groups = [];
  for (let at = 0; at < digits.length; at += codeGroupChars) groups.push(digits.slice(at, at + codeGroupChars));
  return groups.join(" ");
}

// What a member typed or scanned (the whole link, its fragment, the key, or the grouped code) as
// the key's text `k_…`, or null if it is none of them.
export function keyFromTyped(text) {
  let typed = text.trim();
  const fragment = typed.indexOf("#add=");
  if (fragment >= 0) typed = typed.slice(fragment + 5);
  typed = typed.toLowerCase().replace(/[\s-]/g, "");
  if (!typed.startsWith("k_")) typed = `k_${typed}`;
  try {
    idFromText("k", typed);
    return typed;
  } catch {
    return null;
  }
}

// The new device's key, kept until bound: the same one every time the link screen is opened.
export async function pendingKey() {
  const kept = await store.get("pending_device");
  if (kept) return kept;
  const made = await keys.makeDeviceKey();
  const pending = { pair: made.pair, publicKey: made.publicKey, key: made.key };
  await store.put("pending_device", pending);
  return pending;
}

// protocol.md §18: the Authorization header of a GET signed by `pending` (no body).
async function authorization(pending, node, target) {
  const tsMs = String(Date.now());
  const message = concat(requestNamespace, idFromText("n", node), utf8(`GET\n${target}\n${tsMs}\n`),
    hash(new Uint8Array(0)));
  const signature = await keys.sign(pending.pair.privateKey, message);
  return `Tally ${pending.key}.${tsMs}.${base32(signature)}`;
}

// Whether the key of `device` (a pending one, or this device's) signs for an active member now;
// an ApiError ("offline", "unavailable") when the node cannot say.
export async function signsHere(device, node) {
  const target = "/api/sessions";
  let response;
  try {
    response = await fetch(target, { headers: { Accept: "application/json",
      Authorization: await authorization(device, node, target) }, credentials: "omit", cache: "no-store" });
  } catch {
    throw new api.ApiError(0, "offline", "");
  }
  await response.text();
  if (response.status === 200) return true;
  if (response.status === 401 || response.status === 403) return false;
  throw new api.ApiError(response.status, response.status >= 500 ? "unavailable" : "http_error", "");
}

// On a screen for a device with no wallet (link, restore): true, with the screen drawn to say so
// (`already`, a message id) and a way into the wallet, when this device's key signs for a member
// here already, so that a wallet that works is never replaced.
export async function drawnIfMemberHere(community, title, already) {
  const existing = await keys.loadDevice();
  if (!(existing && existing.joined && await signsHere(existing, community.node))) return false;
  show(heading(title), h("p", { text: t(already) }), h("p", {}, navLink("/wallet", t("join.open"), { class: "button" })));
  return true;
}

// Poll until `pending` is bound (true), `stopped()` says to stop, or bindingWaitMs passed (false).
// Offline for a moment, a poll is only missed: the next one asks again.
export async function waitForBinding(pending, node, stopped) {
  const deadline = Date.now() + bindingWaitMs;
  while (Date.now() < deadline && !stopped()) {
    try {
      if (await signsHere(pending, node)) return true;
    } catch (error) {
      if (!(error instanceof api.ApiError && error.code === "offline")) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, bindingPollMs));
  }
  return false;
}

// `made` ({pair, publicKey, key}) is bound to an account: sign in with it, keep it as this
// device (its member id is the account's, from the session), and drop what was pending.
export async function adopt(made, community) {
  api.useDevice({ pair: made.pair, key: made.key });
  const session = await api.signIn();
  await keys.saveDevice({ pair: made.pair, publicKey: made.publicKey, member: session.member, key: made.key },
    community.node, true);
  await store.remove("pending_device");
  const device = await keys.loadDevice();
  api.useDevice(device);
  return device;
}

// `device` (keys.js, as made) was admitted to the community: keep it as this device's member,
// joined, and sign in with it (screens/join.js, ask.js). Answers the device as kept.
export async function keepAdmitted(device, node) {
  await keys.saveDevice(device, node, true);
  const kept = await keys.loadDevice();
  api.useDevice(kept);
  await api.signIn();
  return kept;
}

// What this device remembers making: which keys it bound as backups ("phrase" or "file"), so the
// devices screen can name them. The node knows no device's name.
export async function madeHere() {
  return (await store.get("backups_made")) ?? {};
}

export async function rememberBackup(key, kind) {
  await store.update("backups_made", (kept) => ({ ...(kept ?? {}), [key]: kind }));
}

export function keyText(publicKey) {
  return idToText("k", publicKey);
}
