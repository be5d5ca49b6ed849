// Every text of the wallet a person reads, in English, by message id, and the reader's language.
// `{name}` in a text is filled in by `t(id, {name: …})`. The node's error codes (docs/api.md §4,
// §9; protocol.md §13.2.7) each have a line saying what to do, under `error.<code>`; a code with
// none shows the node's own message (it says what to do too).
//
// How this works: the dictionary below is the English and the source of the translation catalogue
// (node/wallet/catalogue.py reads it, one `"id": "text",` entry a line; `make catalogue` carries a
// new or changed entry into each language's wallet.po, docs/wallet.md "Languages"). The node
// compiles each catalogue to locale/<language>.json and names the languages it ships and the
// community's default in the shell (<meta name="wallet-languages">, <html lang>). When this module
// is first imported it picks the language (the one chosen on this device in settings, else the
// first of the browser's languages the node ships, else the community's default, else English),
// loads its catalogue before any screen draws (a top-level await), and sets <html lang>. `t()`
// looks in that catalogue, then in the English, so a text not translated yet shows in English.

export const strings = {
  "app.title": "Wallet",
  "nav.label": "Wallet screens",
  "nav.home": "Home",
  "nav.pay": "Pay",
  "nav.receive": "Receive",
  "nav.history": "History",
  "nav.settings": "More",
  "common.loading": "Loading…",
  "common.offline": "You are offline: what you see may be out of date.",
  "common.retry": "Try again",
  "unsupported.title": "This browser cannot hold a wallet",
  "unsupported.text": "The wallet keeps your key on this device, which needs a browser with Ed25519 keys in WebCrypto, over HTTPS. Open the link in an up-to-date browser.",
  "device.none.title": "No wallet on this device yet",
  "device.none.text": "To join, open the invitation link you were given, on this device.",
  // Languages (wallet-i18n): the switch in settings, and the texts the node writes into the shell
  // and the 404 page in the community's default language (no script chooses there).
  "settings.language": "Language",
  "settings.language.browser": "As this browser asks ({language})",
  "settings.language.use": "Use this language",
  "settings.language.not_kept": "This browser keeps nothing for this site (a private window?), so the language cannot be changed here.",
  "shell.noscript": "This wallet needs JavaScript: turn it on for this site.",
  "not_found.title": "Not found",
  "not_found.text": "The wallet has no such page.",
  "not_found.open": "Open the wallet",
  "join.title": "Join {community}",
  "join.intro": "You are invited to {community}. Your key is made on this device and never leaves it.",
  "join.name": "Your name",
  "join.name.hint": "As the other members will see it.",
  "join.submit": "Join",
  "join.working": "Joining…",
  "join.bad_link": "This invitation link is incomplete: ask whoever invited you to send it again.",
  "join.already": "This device already holds a member's wallet.",
  "join.open": "Open the wallet",
  "join.name.empty": "Write your name.",
  "join.name.long": "A name is at most {count} characters.",
  "home.balance": "Balance",
  "home.debit_limit": "You may go down to {amount}",
  "home.credit_ceiling": "You may hold up to {amount}",
  "home.latest": "Latest",
  "home.all": "All history",
  "home.none": "Nothing yet.",
  "home.pay": "Pay",
  "home.receive": "Receive",
  "pay.title": "Pay",
  "pay.to": "To",
  "pay.search.hint": "Type part of their name.",
  "pay.search.none": "No member's name contains that.",
  "pay.search.choose": "Pay {name}",
  "pay.change": "Change",
  "pay.amount": "Amount in {unit}",
  "pay.memo": "Note (optional)",
  "pay.review": "Review",
  "pay.choose_first": "Choose whom to pay.",
  "pay.unknown_payee": "That pay link names no member this wallet can see.",
  "pay.confirm.title": "Confirm the payment",
  "pay.confirm.to": "To",
  "pay.confirm.amount": "Amount",
  "pay.confirm.memo": "Note",
  "pay.send": "Pay now",
  "pay.back": "Change it",
  "pay.sending": "Sending…",
  "pay.receipt.title": "Paid",
  "pay.receipt.text": "{amount} to {name}.",
  "pay.receipt.balance": "Your balance is now {balance}.",
  "pay.again": "Pay someone else",
  "pay.home": "Back home",
  "amount.empty": "Enter an amount.",
  "amount.bad": "Write the amount in digits, like 12.50.",
  "amount.zero": "The amount must be more than zero.",
  "amount.decimals": "At most {decimals} digits after the decimal point.",
  "amount.no_decimals": "Write a whole number: this unit has no decimals.",
  "amount.large": "That amount is too large.",
  "memo.long": "A note is at most {count} characters.",
  "receive.title": "Receive",
  "receive.text": "Show this code to whoever pays you, or send them the link.",
  "receive.qr": "QR code of your pay link",
  "receive.link": "Your pay link",
  "receive.copy": "Copy the link",
  "receive.copied": "Copied.",
  "history.title": "History",
  "history.more": "Show older",
  "history.none": "Nothing yet.",
  "history.balance_after": "Balance after: {balance}",
  "settings.title": "Settings",
  "settings.member": "Your member id",
  "settings.name": "Your name",
  "settings.sessions": "Signed-in sessions",
  "settings.sessions.none": "No session.",
  "settings.last_seen": "Last seen {when}",
  "settings.current": "this device",
  "settings.end": "End",
  "settings.sign_out": "Sign out",
  "settings.signed_out": "You are signed out. The key stays on this device.",
  "settings.sign_in": "Sign in again",
  "description.payment": "Payment",
  "description.levy": "Levy",
  "description.payment across": "Payment to another community",
  "description.payment across returned": "Payment returned",
  "description.dividend": "Dividend",
  "description.treasury payment": "From the treasury",
  "description.share subscription": "Shares bought",
  "description.share offer closed": "Share offer closed",
  "description.share order": "Shares traded",
  "description.order cancelled": "Order cancelled",
  "description.share withdrawal": "Shares withdrawn",
  "description.joined": "Joined",
  "description.other": "Other",
  "error.invitation_used": "This invitation was already used or withdrawn: ask whoever invited you for a new one.",
  "error.invitation_expired": "This invitation has expired: ask whoever invited you for a new one.",
  "error.invitation_unknown": "This node knows no such invitation (it may have expired): ask whoever invited you for a new one.",
  "error.name_taken": "A member already has that name, or one that looks the same: choose another.",
  "error.bad_name": "That name cannot be used: write it with letters and single spaces.",
  "error.key_in_use": "This device's new key is taken, which should not happen: try again.",
  "error.debit_limit": "That would take you past your debit limit: you can pay at most {available}.",
  "error.credit_ceiling": "The payee cannot receive that much now (their credit ceiling): pay less.",
  "error.not_authorized": "The node does not allow this: ask an admin of the community.",
  "error.not_a_member": "This device's key is not a member's key here: ask an admin.",
  "error.replayed_nonce": "This was already sent once, and counted once.",
  "error.account_closed": "This account is closed: ask an admin.",
  "error.unknown_member": "That member is not in this community.",
  "error.offline": "The node cannot be reached: check your connection and try again.",
  "error.busy": "The node is busy: try again in a moment.",
  "error.unavailable": "The node is not answering properly: try again later.",
  "error.too_many_streams": "Too many wallet windows are open: close one.",
  "error.default": "The node refused: {message}",
};

// ---- the reader's language (wallet-i18n) ---------------------------------------------------------

// Where this device keeps the language chosen in settings (absent: the browser's choice).
const chosenKey = "tallystick-wallet-language";

function metaContent(name) {
  return document.querySelector(`meta[name="${name}"]`)?.getAttribute("content") ?? "";
}

// The languages the node ships (English always) and the community's default, as the shell names them.
export const languages = [...new Set(["en", ...metaContent("wallet-languages").split(" ").filter(Boolean)])];
export const communityLanguage = languages.includes(document.documentElement.lang) ? document.documentElement.lang : "en";

export function chosenLanguage() {
  try {
    const chosen = localStorage.getItem(chosenKey);
    return languages.includes(chosen) ? chosen : null;
  } catch {
    return null; // storage refused (a private window's settings): the browser's choice
  }
}

// Keep `code` (one of `languages`, or null for the browser's choice) on this device; the wallet
// shows it from the next page load. False when the browser keeps nothing for this site.
export function chooseLanguage(code) {
  try {
    if (code === null) localStorage.removeItem(chosenKey);
    else localStorage.setItem(chosenKey, code);
    return true;
  } catch {
    return false;
  }
}

const primary = (tag) => tag.toLowerCase().split("-")[0];

// The first of the browser's languages the node ships, else the community's default.
export function browserLanguage() {
  const asked = (navigator.languages?.length ? navigator.languages : [navigator.language ?? ""]).map(primary);
  return asked.find((code) => languages.includes(code)) ?? communityLanguage;
}

export const language = chosenLanguage() ?? browserLanguage();

// The locale numbers and dates are written in: the browser's own tag for that language when it asks
// for it (es-MX writes 1,234.50, es-ES 1.234,50), else the language itself.
export const locale = (navigator.languages ?? []).find((tag) => primary(tag) === language) ?? language;

// A language's name in itself ("español"), for the switch.
export function languageName(code) {
  try {
    return new Intl.DisplayNames([code], { type: "language" }).of(code) ?? code;
  } catch {
    return code;
  }
}

async function loadCatalogue(code) {
  if (code === "en") return {};
  try {
    const answer = await fetch(new URL(`./locale/${code}.json`, import.meta.url));
    return answer.ok ? await answer.json() : {};
  } catch {
    return {}; // offline with nothing cached: English rather than no wallet
  }
}

const catalogue = await loadCatalogue(language);
document.documentElement.lang = language;

export function t(id, values = {}) {
  const text = catalogue[id] ?? strings[id] ?? id;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

export function has(id) {
  return id in strings;
}
