// Backups of a member's account: a recovery key whose 32-byte seed is written down as a 24-word
// phrase, or kept in a file encrypted with a passphrase (docs/wallet.md, "Backup and restore").
//
// How this works: the seed is 32 random bytes; its Ed25519 key is bound to the account with
// `add_key` like any device's (so it is listed and removable like one), and the seed is shown or
// downloaded once and never sent anywhere. The phrase is BIP39's encoding of 256 bits of entropy:
// the seed, then the first byte of its SHA-256 as a checksum, read as 24 numbers of 11 bits, each a
// word of BIP39's English list (vendor/scure_bip39/english.js). Unlike BIP39 wallets, the seed is
// the entropy itself (no PBKDF2 "mnemonic to seed" step): the phrase holds exactly the key. The file
// is JSON: the seed encrypted with AES-256-GCM under a key derived from the passphrase with PBKDF2-
// SHA-256 (`fileIterations`, a fresh 16-byte salt, a fresh 12-byte IV), its associated data binding
// the format, the community and the recovery key, so a file cannot be passed off for another.
// A refusal is a RecoveryError whose `code` is a strings.js id under `restore.`.
import { concat, equal, utf8 } from "./bytes.js";
import { base64, fromBase64, idFromText } from "./ids.js";
import { importSeed, seedBytes } from "./keys.js";
import { wordlist } from "./vendor/scure_bip39/english.js";

export const phraseWords = 24;
const bitsPerWord = 11;
// PBKDF2-HMAC-SHA256 at 600 000 iterations: OWASP's 2023 figure for it; under a second on a phone.
export const fileIterations = 600000;
export const fileFormat = "tallystick-recovery-key";
export const fileVersion = 1;
const fileSaltBytes = 16;
const fileIvBytes = 12;
// A recovery file is a few hundred bytes; anything much larger is not one.
export const fileBytesMax = 4096;
// A passphrase of fewer characters is refused before anything is made.
export const passphraseCharsMin = 10;
const fileNamespace = utf8("tallystick/recovery-file/v1\n");

export class RecoveryError extends Error {
  constructor(code, values = {}) {
    super(code);
    this.code = code;
    this.values = values;
  }
}

export function freshSeed() {
  return crypto.getRandomValues(new Uint8Array(seedBytes));
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

// The seed (32 bytes) as its 24 words.
export async function phraseOf(seed) {
  if (seed.length !== seedBytes) throw new Error("a seed is 32 bytes");
  const bits = [...seed, (await sha256(seed))[0]].map((byte) => byte.toString(2).padStart(8, "0")).join("");
  const words = [];
  for (let at = 0; at < phraseWords * bitsPerWord; at += bitsPerWord) {
    words.push(wordlist[parseInt(bits.slice(at, at + bitsPerWord), 2)]);
  }
  return words;
}

// The seed a typed phrase encodes: spaces, line breaks and case do not matter; anything else is
// a RecoveryError (restore.phrase_count, restore.phrase_word with the word's number, restore.phrase_checksum).
export async function seedOfPhrase(text) {
  const words = text.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length !== phraseWords) throw new RecoveryError("restore.phrase_count", { count: words.length });
  let bits = "";
  for (const [index, word] of words.entries()) {
    const value = wordlist.indexOf(word);
    if (value < 0) throw new RecoveryError("restore.phrase_word", { number: index + 1 });
    bits += value.toString(2).padStart(bitsPerWord, "0");
  }
  const bytes = new Uint8Array(seedBytes + 1);
  for (let index = 0; index < bytes.length; index += 1) bytes[index] = parseInt(bits.slice(index * 8, index * 8 + 8), 2);
  const seed = bytes.slice(0, seedBytes);
  if ((await sha256(seed))[0] !== bytes[seedBytes]) throw new RecoveryError("restore.phrase_checksum");
  return seed;
}

async function fileKey(passphrase, salt, iterations) {
  const material = await crypto.subtle.importKey("raw", utf8(passphrase.normalize("NFC")), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, material,
    { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

function associatedData(node, recoveryKey) {
  return concat(fileNamespace, idFromText("n", node), idFromText("k", recoveryKey));
}

// The recovery file's text: `seed` encrypted under `passphrase`, for the community `node` (n_…),
// its recovery key `recoveryKey` (k_…) in clear (a public id: the log holds it too).
export async function fileOf(seed, passphrase, node, recoveryKey) {
  const salt = crypto.getRandomValues(new Uint8Array(fileSaltBytes));
  const iv = crypto.getRandomValues(new Uint8Array(fileIvBytes));
  const key = await fileKey(passphrase, salt, fileIterations);
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv,
    additionalData: associatedData(node, recoveryKey) }, key, seed));
  return JSON.stringify({
    format: fileFormat, version: fileVersion, community: node, key: recoveryKey,
    kdf: { name: "PBKDF2", hash: "SHA-256", iterations: fileIterations, salt: base64(salt) },
    cipher: { name: "AES-GCM", iv: base64(iv), sealed: base64(sealed) },
  }, null, 1) + "\n";
}

function readFile(text) {
  let file;
  try {
    file = JSON.parse(text);
  } catch {
    throw new RecoveryError("restore.file_bad");
  }
  const ok = file && file.format === fileFormat && typeof file.community === "string" && typeof file.key === "string" &&
    file.kdf?.name === "PBKDF2" && file.kdf?.hash === "SHA-256" && Number.isSafeInteger(file.kdf?.iterations) &&
    file.kdf.iterations >= 100000 && file.kdf.iterations <= 10000000 && typeof file.kdf?.salt === "string" &&
    file.cipher?.name === "AES-GCM" && typeof file.cipher?.iv === "string" && typeof file.cipher?.sealed === "string";
  if (!ok) throw new RecoveryError("restore.file_bad");
  if (file.version !== fileVersion) throw new RecoveryError("restore.file_version");
  return file;
}

// The seed of a recovery file's text for the community `node`, opened with `passphrase`.
export async function seedOfFile(text, passphrase, node) {
  const file = readFile(text);
  if (file.community !== node) throw new RecoveryError("restore.file_community");
  let salt;
  let iv;
  let sealed;
  let data;
  try {
    [salt, iv, sealed] = [fromBase64(file.kdf.salt), fromBase64(file.cipher.iv), fromBase64(file.cipher.sealed)];
    data = associatedData(file.community, file.key);
  } catch {
    throw new RecoveryError("restore.file_bad");
  }
  let seed;
  try {
    const key = await fileKey(passphrase, salt, file.kdf.iterations);
    seed = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: data }, key, sealed));
  } catch {
    throw new RecoveryError("restore.passphrase_wrong");
  }
  if (seed.length !== seedBytes) throw new RecoveryError("restore.file_bad");
  const pair = await importSeed(seed);
  if (!equal(pair.publicKey, idFromText("k", file.key))) throw new RecoveryError("restore.file_bad");
  return seed;
}
