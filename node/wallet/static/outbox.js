// The outbox: payments signed while the node could not be reached, kept on the device and sent
// when it can be, each exactly once (docs/wallet.md, "Outbox").
//
// How this works: a payment confirmed offline is signed at once and kept as its signed bytes (the
// JSON body of POST /api/intents) in IndexedDB (store.js `changeOutbox`, one transaction per
// change), at most `outboxEntriesMax`. It is sent on the `online` event, whenever the wallet is
// opened (ui.js `signedIn`), and again after a failure with a backoff from 2 s to at most 60 s.
// Sending is one tab at a time (the Web Locks API, released by itself when a tab closes) and the
// oldest first; an entry is marked `sending` in the same transaction that picks it, so a cancel
// in another tab sees that it is on its way. The bytes are never signed again, so the node applies
// them at most once (the nonce: docs/api.md §3): a second send is answered `replayed_nonce`, which
// counts as sent only once the node says an intent of this member with that nonce is applied
// (GET /api/members/{id}/intents/{nonce}); a nonce too old for the node to tell is kept as
// refused, to be paid again by hand. A page closed mid-send leaves the entry `sending`: the next
// send of any tab sends the same bytes again, and the same rule settles it. A refusal (the balance
// moved: `debit_limit`) keeps the entry as `refused`, with the node's code, until dismissed.
import * as api from "./api.js";
import * as keys from "./keys.js";
import * as store from "./store.js";

// Payments kept at most: enough for a market day without a connection, few enough to check.
export const outboxEntriesMax = 10;
// How long an entry marked `sending` stays another tab's, where there are no Web Locks: longer
// than a send takes (a request, a sign-in, the check of a replay).
const claimMs = 30_000;
const retryDelayMsMin = 2_000;
const retryDelayMsMax = 60_000;
const lockName = "tallystick-outbox";
// What a send may meet that says nothing about the payment: try again later.
const transientCodes = new Set(["offline", "busy", "unavailable", "clock_ahead", "key_store", "too_many_connections",
  "request_timeout", "http_error"]);

export class OutboxFullError extends Error {}

const listeners = new Set();
const channel = "BroadcastChannel" in globalThis ? new BroadcastChannel(lockName) : null;
if (channel) channel.onmessage = () => tell();

function tell() {
  for (const listener of listeners) listener();
}

function changed() {
  tell();
  channel?.postMessage("changed");
}

// `listener()` after any change of the outbox, in this tab or another; returns the unsubscribe.
export function onChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function entries() {
  return store.outboxEntries();
}

export function isTransient(error) {
  return error instanceof api.ApiError && (transientCodes.has(error.code) || error.status >= 500);
}

// Keep a signed payment: `entry` is {nonce, body, kind, to: {id, name, community, communityName},
// minor, received, toUnit}; `attempted` says a send of it may have reached the node.
export async function add(entry, { attempted = false } = {}) {
  const kept = { ...entry, id: String(entry.nonce), nonce: String(entry.nonce), minor: String(entry.minor),
    received: entry.received === null || entry.received === undefined ? null : String(entry.received),
    createdMs: Date.now(), status: "waiting", attempted, claimUntilMs: 0, nextTryMs: 0, tries: 0, refusal: null };
  const added = await store.changeOutbox((list) => (list.length >= outboxEntriesMax
    ? { next: list, answer: false } : { next: [...list, kept], answer: true }));
  if (!added) throw new OutboxFullError("outbox_full");
  changed();
  drainSoon();
  return kept;
}

function replace(list, id, change) {
  return list.map((entry) => (entry.id === id ? change(entry) : entry));
}

function settle(id) {
  return store.changeOutbox((list) => ({ next: list.filter((entry) => entry.id !== id), answer: true }))
    .then(changed);
}

function refuse(id, code, message) {
  return store.changeOutbox((list) => ({ next: replace(list, id, (entry) => ({ ...entry, status: "refused",
    refusal: { code, message } })), answer: true })).then(changed);
}

function release(id) {
  return store.changeOutbox((list) => ({ next: replace(list, id, (entry) => {
    const tries = entry.tries + 1;
    const delay = Math.min(retryDelayMsMax, retryDelayMsMin * 2 ** Math.min(tries - 1, 10));
    return { ...entry, status: "waiting", tries, nextTryMs: Date.now() + delay, claimUntilMs: 0 };
  }), answer: true })).then(changed);
}

// The oldest entry not refused, marked `sending` (and `attempted`) in the same transaction, if it
// is due; `locked`: this tab holds the outbox's lock, so a `sending` entry is a closed page's.
function claim(locked) {
  const now = Date.now();
  return store.changeOutbox((list) => {
    const oldest = list.find((entry) => entry.status !== "refused");
    const free = oldest && (oldest.status === "waiting" || locked || oldest.claimUntilMs < now);
    if (!free || oldest.nextTryMs > now) return { next: list, answer: null };
    const claimed = { ...oldest, status: "sending", attempted: true, claimUntilMs: now + claimMs };
    return { next: replace(list, oldest.id, () => claimed), answer: claimed };
  }).then((claimed) => {
    if (claimed) changed();
    return claimed;
  });
}

// Whether the node applied this member's intent with `nonce` (applied, not_applied or unknown).
function nodeSays(member, nonce) {
  return api.get(`/api/members/${member}/intents/${nonce}`);
}

async function sendOne(entry, device) {
  try {
    await api.postIntent(entry.body);
    await settle(entry.id);
    return "sent";
  } catch (error) {
    if (!(error instanceof api.ApiError)) throw error;
    if (error.code === "replayed_nonce") {
      let found;
      try {
        found = await nodeSays(device.member, entry.nonce);
      } catch (checking) {
        if (!isTransient(checking)) throw checking;
        await release(entry.id);
        return "later";
      }
      if (found.status === "applied") {
        await settle(entry.id);
        return "sent";
      }
      if (found.status === "unknown") {
        await refuse(entry.id, "outbox_too_old", "");
        return "refused";
      }
      await release(entry.id); // refused as a replay yet not applied: the node's view moved; again later
      return "later";
    }
    if (isTransient(error)) {
      await release(entry.id);
      return "later";
    }
    await refuse(entry.id, error.code, error.message);
    return "refused";
  }
}

let draining = null;
let retryTimer = null;

async function device() {
  const loaded = await keys.loadDevice();
  if (!loaded || !loaded.joined) return null;
  api.useDevice(loaded);
  return loaded;
}

function retryLater() {
  clearTimeout(retryTimer);
  store.outboxEntries().then((list) => {
    const due = list.filter((entry) => entry.status !== "refused").map((entry) => entry.nextTryMs);
    if (!due.length) return;
    const wait = Math.max(retryDelayMsMin, Math.min(retryDelayMsMax, Math.min(...due) - Date.now()));
    retryTimer = setTimeout(drainSoon, wait);
  });
}

async function sendAll(locked) {
  const signer = await device();
  if (!signer) return;
  // Each entry is sent, refused or left for later once a round: the loop ends.
  for (let round = 0; round < outboxEntriesMax; round += 1) {
    const entry = await claim(locked);
    if (!entry) break;
    if ((await sendOne(entry, signer)) === "later") break;
  }
  retryLater();
}

async function drain() {
  clearTimeout(retryTimer);
  if (navigator.onLine === false) return; // the `online` event sends
  if (!navigator.locks) return sendAll(false);
  await navigator.locks.request(lockName, { ifAvailable: true }, async (lock) => {
    if (lock) await sendAll(true);
    else retryLater(); // another tab is sending: look again after it
  });
}

// Send what waits, once at a time in this tab (a call while sending returns the same promise).
export function drainSoon() {
  if (!draining) {
    draining = drain().catch(() => retryLater()).finally(() => {
      draining = null;
    });
  }
  return draining;
}

// Forget a waiting payment's signed bytes. One that a send may have reached the node with is
// first asked about: applied, it is settled, not cancelled. Answers "cancelled", "sent",
// "sending" (another tab is sending it now) or "gone".
export async function cancel(id) {
  const entry = (await store.outboxEntries()).find((kept) => kept.id === id);
  if (!entry) return "gone";
  if (entry.status === "sending" && entry.claimUntilMs > Date.now()) return "sending";
  if (entry.attempted) {
    const signer = await device();
    const found = await nodeSays(signer.member, entry.nonce); // offline: throws, nothing forgotten
    if (found.status === "applied") {
      await settle(id);
      return "sent";
    }
  }
  const answer = await store.changeOutbox((list) => {
    const now = list.find((kept) => kept.id === id);
    if (!now) return { next: list, answer: "gone" };
    if (now.status === "sending" && now.claimUntilMs > Date.now()) return { next: list, answer: "sending" };
    if (now.attempted !== entry.attempted) return { next: list, answer: "sending" }; // claimed meanwhile
    return { next: list.filter((kept) => kept.id !== id), answer: "cancelled" };
  });
  changed();
  return answer;
}

// Forget a refused payment (its bytes were refused: they can never be applied).
export async function dismiss(id) {
  await store.changeOutbox((list) => ({ next: list.filter((kept) => !(kept.id === id && kept.status === "refused")),
    answer: true }));
  changed();
}

window.addEventListener("online", () => drainSoon());
