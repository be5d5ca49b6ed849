// The text forms of docs/protocol.md §2 and docs/api.md: lowercase RFC 4648 base32 without
// padding (ids `m_…`, `k_…`, `n_…`, challenges, signatures, the invitation's seed), and RFC 4648
// base64 with padding (an intent in JSON).
//
// How this works: base32 packs 5 bits a digit, most significant first; the spare bits of the last
// digit must be zero, so a text has one spelling, and a reader refuses any other (an uppercase
// digit, padding, spare bits set, a wrong length), as `ids.id_from_text` does on the node.
const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
export const idBytes = 32;
export const idKinds = ["n", "m", "k", "x", "e", "h", "s"];

export class BadIdError extends Error {}

export function base32(bytes) {
  let text = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      text += alphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) text += alphabet[(buffer << (5 - bits)) & 31];
  return text;
}

export function fromBase32(text) {
  const bytes = new Uint8Array(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let index = 0;
  for (const digit of text) {
    const value = alphabet.indexOf(digit);
    if (value < 0) throw new BadIdError("not lowercase base32");
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      bytes[index] = (buffer >> (bits - 8)) & 0xff;
      index += 1;
      bits -= 8;
    }
    buffer &= (1 << bits) - 1;
  }
  if (base32(bytes) !== text) throw new BadIdError("not the canonical spelling");
  return bytes;
}

export function idToText(kind, bytes) {
  if (!idKinds.includes(kind) || bytes.length !== idBytes) throw new BadIdError("not an id");
  return `${kind}_${base32(bytes)}`;
}

export function idFromText(kind, text) {
  const trimmed = text.trim();
  if (!trimmed.startsWith(`${kind}_`) || trimmed.length !== 2 + 52) throw new BadIdError(`not a ${kind}_ id`);
  return fromBase32(trimmed.slice(2));
}

export function base64(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function fromBase64(text) {
  return Uint8Array.from(atob(text), (character) => character.charCodeAt(0));
}
