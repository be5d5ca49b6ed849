// The member's keys, made and kept on the device (docs/wallet.md, "Keys").
//
// How this works: the device key is a WebCrypto Ed25519 key pair made with `extractable: false`
// and kept in IndexedDB (store.js): scripts can ask it to sign, never read it. Its public key is
// exported raw (32 bytes): the member id `m_…` it is admitted with. An invitation's one-time seed
// (32 bytes from the link's fragment) is imported as PKCS8, used to sign the `join` only, and then
// dropped with the page's memory; its public key is read from the JWK of that import (`x`), since
// WebCrypto has no way to derive a public key from a private one otherwise.
import * as store from "./store.js";
import { concat, fromHex } from "./bytes.js";
import { idToText } from "./ids.js";

const algorithm = { name: "Ed25519" };
// The DER prefix of a PKCS8 Ed25519 private key (RFC 8410), before the 32-byte seed.
const pkcs8Prefix = fromHex("302e020100300506032b657004220420");
export const seedBytes = 32;

export function isSupported() {
  return Boolean(globalThis.crypto && crypto.subtle && globalThis.indexedDB);
}

export async function sign(privateKey, message) {
  return new Uint8Array(await crypto.subtle.sign(algorithm, privateKey, message));
}

export async function rawPublicKey(publicKey) {
  return new Uint8Array(await crypto.subtle.exportKey("raw", publicKey));
}

function fromBase64Url(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (character) => character.charCodeAt(0));
}

// A seed's key pair: { privateKey, publicKey (32 bytes) }. Used for the invitation's key, and by the
// tests for the vectors' seeds (Ed25519 is deterministic, so signatures must match byte for byte).
export async function importSeed(seed) {
  if (seed.length !== seedBytes) throw new Error("a seed is 32 bytes");
  const extractable = await crypto.subtle.importKey("pkcs8", concat(pkcs8Prefix, seed), algorithm, true, ["sign"]);
  const publicKey = fromBase64Url((await crypto.subtle.exportKey("jwk", extractable)).x);
  const privateKey = await crypto.subtle.importKey("pkcs8", concat(pkcs8Prefix, seed), algorithm, false, ["sign"]);
  return { privateKey, publicKey };
}

// A new device key, not yet stored (it is stored once the node admitted it: see saveDevice).
export async function makeDeviceKey() {
  const pair = await crypto.subtle.generateKey(algorithm, false, ["sign", "verify"]);
  const publicKey = await rawPublicKey(pair.publicKey);
  return { pair, publicKey, member: idToText("m", publicKey), key: idToText("k", publicKey) };
}

// A new device key for a person joining (an invitation's join, a join request), kept (not joined)
// before `send(made)` sends what it signs: were the page to close once the node took it, the key
// survives. If `send` throws, `forget` drops what was kept (the key, by default) and the error goes on.
export async function withNewDeviceKey(node, send, forget = forgetDevice) {
  const made = await makeDeviceKey();
  await saveDevice(made, node, false);
  try {
    await send(made);
  } catch (error) {
    await forget();
    throw error;
  }
  return made;
}

// `joined` is false while its join is on its way: kept before it is sent, so that a page closed
// after the node admitted it still holds the key.
export async function saveDevice(device, node, joined) {
  await store.put("device", { pair: device.pair, publicKey: device.publicKey, member: device.member,
    key: device.key, node, joined });
}

// The device's member: { pair, publicKey, member, key, node, joined } or undefined before joining.
export function loadDevice() {
  return store.get("device");
}

export function forgetDevice() {
  return store.remove("device");
}
