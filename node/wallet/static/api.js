// The node's JSON API as the wallet uses it (docs/api.md): signing in with the device key, the
// session's CSRF token, and fetch wrappers.
//
// How this works: the wallet signs in once (POST /api/sign-in/challenge, sign the §18.1 message,
// POST /api/sign-in); the node answers with an HttpOnly session cookie no script can read, and
// the session's CSRF token, kept in memory and sent in X-CSRF-Token on every change. A session
// idles out after 30 minutes: a 401 `not_signed_in` is answered by signing in again, silently,
// once, and repeating the request. A refusal is thrown as an ApiError carrying the node's code and
// message, which the screens turn into one line (strings.js).
import { concat, utf8 } from "./bytes.js";
import { base32, fromBase32, idFromText } from "./ids.js";
import { sign } from "./keys.js";

const signInNamespace = utf8("tallystick/sign-in/v1\n");

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let csrfToken = null;
let device = null; // { pair, key, ... }: who signs in, set by useDevice

export function useDevice(loaded) {
  if (device && loaded && device.key === loaded.key) return;
  device = loaded;
  csrfToken = null;
}

// A node's answer: its JSON, or an ApiError with the node's code and message (signed.js too).
export async function answerOf(response) {
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const code = body && typeof body.error === "string" ? body.error : response.status >= 500 ? "unavailable" : "http_error";
    const message = body && typeof body.message === "string" ? body.message : "";
    throw new ApiError(response.status, code, message);
  }
  return body;
}

async function send(method, path, body, contentType = "application/json") {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = contentType;
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(path, { method, headers, body, credentials: "same-origin", cache: "no-store" });
  } catch {
    throw new ApiError(0, "offline", "");
  }
  return answerOf(response);
}

// The §18.1 message: namespace || node (32 bytes) || challenge (32 bytes).
export function signInMessage(node, challenge) {
  return concat(signInNamespace, node, challenge);
}

export async function signIn() {
  if (!device) throw new ApiError(401, "no_device", "");
  const issued = await send("POST", "/api/sign-in/challenge", JSON.stringify({}));
  const message = signInMessage(idFromText("n", issued.node), fromBase32(issued.challenge));
  const signature = await sign(device.pair.privateKey, message);
  const session = await send("POST", "/api/sign-in", JSON.stringify({
    key: device.key, challenge: issued.challenge, signature: base32(signature) }));
  csrfToken = session.csrf_token;
  return session;
}

// The session now, or a new one: GET /api/session gives the token of a cookie still alive.
export async function ensureSession() {
  try {
    const session = await send("GET", "/api/session");
    csrfToken = session.csrf_token;
    return session;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return signIn();
    throw error;
  }
}

async function request(method, path, body, contentType) {
  try {
    return await send(method, path, body, contentType);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status === 403 && error.code === "csrf_refused") {
      await ensureSession(); // a live cookie whose token this page has not read yet
    } else if (error.status === 401 && error.code === "not_signed_in" && device) {
      await signIn();
    } else {
      throw error;
    }
    return send(method, path, body, contentType);
  }
}

export function get(path) {
  return request("GET", path);
}

export function post(path, document) {
  return request("POST", path, JSON.stringify(document));
}

export function remove(path) {
  return request("DELETE", path);
}

// An intent's signed bytes (intents.js) to POST /api/intents: {"seq", "hash"} once committed.
// Sending the same bytes again is safe: a replay is refused (`replayed_nonce`), never applied twice.
export function postIntent(intentBody) {
  return request("POST", "/api/intents", intentBody);
}

export async function signOut() {
  try {
    await send("POST", "/api/sign-out", JSON.stringify({}));
  } finally {
    csrfToken = null;
  }
}

// The market's writes (screens/list.js, listing.js): a listing replaced, and a picture's bytes as
// the file holds them (the node makes it small and strips its metadata: docs/market.md).
export function put(path, document) {
  return request("PUT", path, JSON.stringify(document));
}

export function putBytes(path, blob) {
  return request("PUT", path, blob, blob.type || "application/octet-stream");
}

// A download (docs/api.md §16, screens through downloads.js): the file's bytes and the name the node
// gives it, by the session's cookie; an idle session is signed in again and the request repeated
// once, as for JSON. A refusal is an ApiError, as everywhere.
async function fetchFile(path) {
  let response;
  try {
    response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  } catch {
    throw new ApiError(0, "offline", "");
  }
  if (!response.ok) await answerOf(response); // throws the node's code and message
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const name = /filename="([^"/\\]+)"/.exec(disposition)?.[1] ?? "download";
  return { blob: await response.blob(), name };
}

export async function getFile(path) {
  try {
    return await fetchFile(path);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401 && error.code === "not_signed_in" && device)) throw error;
    await signIn();
    return fetchFile(path);
  }
}
