// Signed requests (docs/protocol.md §18, docs/api.md §6): a request that says who asks by a
// signature of the device's key rather than a session, for a key that is no member's yet (a join
// request: screens/ask.js).
//
// How this works: the key signs "tallystick/member-request/v1\n" || node || METHOD "\n" || the
// path with its query "\n" || the time in ms "\n" || BLAKE2b-256 of the body, and the request
// carries `Authorization: Tally k_<key>.<ts_ms>.<signature in lowercase base32>`. The node
// rebuilds the message from what it received, so the signature is worth nothing for another
// node, path, body or minute.
import { ApiError, answerOf } from "./api.js";
import { concat, utf8 } from "./bytes.js";
import { hash } from "./hashing.js";
import { base32 } from "./ids.js";
import { sign } from "./keys.js";

const requestNamespace = utf8("tallystick/member-request/v1\n");

export function requestMessage(node, method, target, tsMs, body) {
  return concat(requestNamespace, node, utf8(`${method.toUpperCase()}\n${target}\n${tsMs}\n`), hash(body));
}

// `device`: { pair, key } (keys.js); `node`: the feed id's 32 bytes. Answers the JSON, or throws
// an ApiError with the node's code.
export async function signedRequest(device, node, method, target, document) {
  const body = document === undefined ? new Uint8Array() : utf8(JSON.stringify(document));
  const tsMs = Date.now();
  const signature = await sign(device.pair.privateKey, requestMessage(node, method, target, tsMs, body));
  const headers = { Accept: "application/json", Authorization: `Tally ${device.key}.${tsMs}.${base32(signature)}` };
  if (document !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(target, { method, headers, body: document === undefined ? undefined : body,
      credentials: "omit", cache: "no-store" });
  } catch {
    throw new ApiError(0, "offline", "");
  }
  return answerOf(response);
}
