// BLAKE2b as the protocol uses it (docs/protocol.md §1 and §19.2), from the vendored
// @noble/hashes (vendor/noble_hashes, its LICENSE beside it; docs/wallet.md gives the version).
import { blake2b } from "./vendor/noble_hashes/blake2.js";
import { utf8 } from "./bytes.js";

// §19.2: "tally/personal" padded with zero bytes to BLAKE2b's 16-byte personalisation.
const personalisation = (() => {
  const bytes = new Uint8Array(16);
  bytes.set(utf8("tally/personal"));
  return bytes;
})();
export const saltBytes = 16;

// The protocol's hash: BLAKE2b-256, no key, no salt, no personalisation.
export function hash(bytes) {
  return blake2b(bytes, { dkLen: 32 });
}

// A personal text's digest: keyed by its 16-byte salt (BLAKE2b's key, not its salt parameter).
export function personalDigest(salt, text) {
  if (salt.length !== saltBytes) throw new Error("a salt is 16 bytes");
  return blake2b(utf8(text), { dkLen: 32, key: salt, personalization: personalisation });
}
