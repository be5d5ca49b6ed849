// The intents the wallet signs (docs/protocol.md §4, §6, §19; docs/api.md §3).
//
// How this works: an action is an array, its tag first, then its fields in the order of §4.2. A
// personal field (a join's name, a transfer's memo) is built as `new Personal(text)`; before
// signing, `openAction` replaces each non-empty one by an `Opened` text under a fresh random
// 16-byte salt (an empty memo stays the string ""). The member signs the committed form: the same
// intent with every opened text replaced by `["committed", digest]` (§19.3), under the intent
// namespace (§6). What is sent is the opened form with that same signature: the node rebuilds the
// committed form, checks the signature over it, seals the texts and logs the committed form.
import { concat, utf8 } from "./bytes.js";
import { encode } from "./msgpack.js";
import { personalDigest, saltBytes } from "./hashing.js";
import { base64 } from "./ids.js";
import { sign } from "./keys.js";
import * as store from "./store.js";

export const protocolVersion = 1;
export const intentNamespace = utf8("tallystick/intent/v1\n");
export const intentBytesMax = 4096;
// The bounds of §4.1 the wallet checks before asking the node (the node checks them again).
export const nameCharsMax = 64;
export const memoCharsMax = 280;
export const amountMinorMax = 10n ** 15n;
const int64Max = 2n ** 63n - 1n;

// A personal text as typed, not yet opened: never encoded (opening it is required).
export class Personal {
  constructor(text) {
    this.text = text;
  }

  msgpack() {
    throw new Error("a personal text must be opened before it is encoded");
  }
}

export class Opened {
  constructor(salt, text) {
    if (salt.length !== saltBytes) throw new Error("a salt is 16 bytes");
    this.salt = salt;
    this.text = text;
  }

  msgpack() {
    return ["opened", this.salt, this.text];
  }

  committed() {
    return new Committed(personalDigest(this.salt, this.text));
  }
}

export class Committed {
  constructor(digest) {
    this.digest = digest;
  }

  msgpack() {
    return ["committed", this.digest];
  }
}

export function freshSalt() {
  return crypto.getRandomValues(new Uint8Array(saltBytes));
}

// ---- the actions of §4.2 the wallet uses ----

export function join(member, name) {
  return ["join", member, new Personal(name)];
}

export function transfer(to, amountMinor, memo = "") {
  return ["transfer", to, amountMinor, new Personal(memo)];
}

function mapDeep(value, change) {
  const changed = change(value);
  if (changed !== value) return changed;
  return Array.isArray(value) ? value.map((item) => mapDeep(item, change)) : value;
}

// Every non-empty personal text opened under its own fresh salt; an empty one stays "".
export function openAction(action, saltFor = freshSalt) {
  return mapDeep(action, (value) => {
    if (!(value instanceof Personal)) return value;
    return value.text === "" ? "" : new Opened(saltFor(), value.text);
  });
}

export function committedAction(action) {
  return mapDeep(action, (value) => (value instanceof Opened ? value.committed() : value));
}

// The signed intent's bytes as sent: `action` as given (opened texts stay opened), signed over its
// committed form. `key` is the signer's public key (32 bytes), `privateKey` its CryptoKey.
export async function signIntent({ privateKey, key, feed, nonce, action }) {
  const unsigned = [protocolVersion, feed, key, BigInt(nonce), committedAction(action)];
  const signature = await sign(privateKey, concat(intentNamespace, encode(unsigned)));
  const sent = encode([protocolVersion, feed, key, BigInt(nonce), action, signature]);
  if (sent.length > intentBytesMax) throw new Error("too_large");
  return sent;
}

// What a member's client sends: every personal text opened, then signed (sign_member_intent).
export function signMemberIntent({ privateKey, key, feed, nonce, action }) {
  return signIntent({ privateKey, key, feed, nonce, action: openAction(action) });
}

// The body of POST /api/intents (docs/api.md §3).
export function intentJson(bytes) {
  return JSON.stringify({ intent: base64(bytes) });
}

// A nonce as `tally` picks one: the clock in nanoseconds, and above the last one this device used
// (kept in IndexedDB), so two intents signed in the same millisecond, or after the clock stepped
// back, still differ. Read and written in one transaction, so two tabs never share one.
export async function nextNonce() {
  const clock = BigInt(Date.now()) * 1000000n;
  const next = await store.update("nonce", (last) => {
    const previous = last === undefined ? -1n : BigInt(last);
    return (clock > previous ? clock : previous + 1n).toString();
  });
  const nonce = BigInt(next);
  if (nonce > int64Max) throw new Error("the nonce ran past int64");
  return nonce;
}

// ---- paying across (screens/pay.js): a member of another community of the node's federations ----

// `["pay_across", federation, to_community, to_member, amount_minor, memo]` (protocol.md §4.2, §5.4):
// the node appends it in a `payment_sent`, held until the other community accepts or rejects it.
export function payAcross(federation, toCommunity, toMember, amountMinor, memo = "") {
  return ["pay_across", federation, toCommunity, toMember, amountMinor, new Personal(memo)];
}
