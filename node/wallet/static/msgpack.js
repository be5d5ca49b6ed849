// The canonical MessagePack of docs/protocol.md §3, the small subset the wallet signs and reads.
//
// How this works: values map one to one onto the protocol's types. A JS integer (a Number that is
// a safe integer, or a BigInt) is an integer; a string is a string (UTF-8); a Uint8Array is bin; an
// Array is an array; null is nil; true and false are booleans. An object with a `msgpack()` method
// (a personal text, intents.js) is encoded as what that method returns. Every value takes its
// smallest form (§3.1): a non-negative integer always unsigned, a negative one signed. Maps,
// floats and extensions never occur in the protocol, so they are refused here, not encoded. The
// decoder reads the same subset and refuses any input that does not re-encode to the same bytes
// (§3.3, the canonical rule), so what it returns has one encoding. Hand-written rather than a
// general library: the protocol needs ~100 lines of it, and a general encoder's choices (maps,
// floats for large numbers, the smallest-form rule as an option) are exactly what must not happen.
import { concat, equal, fromUtf8, utf8 } from "./bytes.js";

const int64Min = -(2n ** 63n);
const uint64Max = 2n ** 64n - 1n;

export class MsgpackError extends Error {}

function header(byte, length, bytes) {
  const out = new Uint8Array(1 + bytes);
  out[0] = byte;
  let value = BigInt(length);
  for (let index = bytes; index >= 1; index -= 1) {
    out[index] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}

function encodeInteger(value) {
  const big = BigInt(value);
  if (big >= 0n) {
    if (big > uint64Max) throw new MsgpackError("integer too large");
    if (big <= 0x7fn) return Uint8Array.of(Number(big));
    if (big <= 0xffn) return header(0xcc, big, 1);
    if (big <= 0xffffn) return header(0xcd, big, 2);
    if (big <= 0xffffffffn) return header(0xce, big, 4);
    return header(0xcf, big, 8);
  }
  if (big < int64Min) throw new MsgpackError("integer too small");
  if (big >= -32n) return Uint8Array.of(Number(big & 0xffn));
  const twos = (bytes) => (big + (1n << BigInt(bytes * 8))) ; // two's complement of a negative value
  if (big >= -128n) return header(0xd0, twos(1), 1);
  if (big >= -32768n) return header(0xd1, twos(2), 2);
  if (big >= -2147483648n) return header(0xd2, twos(4), 4);
  return header(0xd3, twos(8), 8);
}

function lengthHeader(length, fix, fixMax, [one, two, four]) {
  if (fix !== null && length <= fixMax) return Uint8Array.of(fix | length);
  if (one !== null && length <= 0xff) return header(one, length, 1);
  if (length <= 0xffff) return header(two, length, 2);
  if (length <= 0xffffffff) return header(four, length, 4);
  throw new MsgpackError("too long");
}

export function encode(value) {
  const parts = [];
  const walk = (item) => {
    if (item !== null && typeof item === "object" && typeof item.msgpack === "function") {
      walk(item.msgpack());
    } else if (item === null) {
      parts.push(Uint8Array.of(0xc0));
    } else if (item === false || item === true) {
      parts.push(Uint8Array.of(item ? 0xc3 : 0xc2));
    } else if (typeof item === "bigint" || (typeof item === "number" && Number.isSafeInteger(item))) {
      parts.push(encodeInteger(item));
    } else if (typeof item === "string") {
      const bytes = utf8(item);
      parts.push(lengthHeader(bytes.length, 0xa0, 31, [0xd9, 0xda, 0xdb]), bytes);
    } else if (item instanceof Uint8Array) {
      parts.push(lengthHeader(item.length, null, 0, [0xc4, 0xc5, 0xc6]), item);
    } else if (Array.isArray(item)) {
      parts.push(lengthHeader(item.length, 0x90, 15, [null, 0xdc, 0xdd]));
      item.forEach(walk);
    } else {
      throw new MsgpackError(`no protocol type for ${typeof item}`);
    }
  };
  walk(value);
  return concat(...parts);
}

// Integers decode to a Number when it is safe, else to a BigInt (a nonce in nanoseconds).
function integer(big) {
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

export function decode(bytes) {
  let offset = 0;
  const need = (count) => {
    if (offset + count > bytes.length) throw new MsgpackError("truncated");
    const slice = bytes.subarray(offset, offset + count);
    offset += count;
    return slice;
  };
  const unsigned = (count) => need(count).reduce((sum, byte) => (sum << 8n) | BigInt(byte), 0n);
  const signed = (count) => {
    const value = unsigned(count);
    const bits = BigInt(count * 8);
    return value >= 1n << (bits - 1n) ? value - (1n << bits) : value;
  };
  const read = (depth) => {
    if (depth > 32) throw new MsgpackError("nested too deep");
    const first = need(1)[0];
    const array = (length) => Array.from({ length }, () => read(depth + 1));
    if (first <= 0x7f) return first;
    if (first >= 0xe0) return first - 0x100;
    if (first >= 0xa0 && first <= 0xbf) return fromUtf8(need(first & 0x1f));
    if (first >= 0x90 && first <= 0x9f) return array(first & 0x0f);
    switch (first) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xcc: return integer(unsigned(1));
      case 0xcd: return integer(unsigned(2));
      case 0xce: return integer(unsigned(4));
      case 0xcf: return integer(unsigned(8));
      case 0xd0: return integer(signed(1));
      case 0xd1: return integer(signed(2));
      case 0xd2: return integer(signed(4));
      case 0xd3: return integer(signed(8));
      case 0xd9: return fromUtf8(need(Number(unsigned(1))));
      case 0xda: return fromUtf8(need(Number(unsigned(2))));
      case 0xdb: return fromUtf8(need(Number(unsigned(4))));
      case 0xc4: return need(Number(unsigned(1))).slice();
      case 0xc5: return need(Number(unsigned(2))).slice();
      case 0xc6: return need(Number(unsigned(4))).slice();
      case 0xdc: return array(Number(unsigned(2)));
      case 0xdd: return array(Number(unsigned(4)));
      default: throw new MsgpackError(`byte 0x${first.toString(16)} is not in the protocol's subset`);
    }
  };
  const value = read(0);
  if (offset !== bytes.length) throw new MsgpackError("bytes after the value");
  if (!equal(encode(value), bytes)) throw new MsgpackError("non_canonical");
  return value;
}
