// Pay (/wallet/pay[?to=m_…[&node=n_…]][#amount=…&memo=…]): choose the payee by name, or by a pay
// link (of this community or of another in its federations), the amount and a note; confirm; a
// receipt. The payment is signed on the device (intents.js): a `transfer` to a member here, a
// `pay_across` to a member of another community. Signed while the node cannot be reached, it is
// kept in the outbox and sent when it can be (outbox.js, docs/wallet.md "Outbox").
//
// How this works: a pay link's member id is looked up here first (GET /api/members/m_…), then
// across (GET /api/payees/m_…: the communities of this node's federations that hold an active
// member with that id); `node=n_…` picks among them. The link can be opened as this screen's own
// URL or pasted into the "To" field (a QR code of another node opens that node's site, where this
// device holds no wallet: the member pastes or opens the link here). For a payment across, the
// confirmation asks the node what the payee receives in their unit (the charters' rates).
import * as api from "../api.js";
import { formatAmount, parseAmount } from "../format.js";
import { idFromText } from "../ids.js";
import * as intents from "../intents.js";
import * as outbox from "../outbox.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, errorLine, fragmentFields, h, heading, main, money, myAccount, navLink, show,
  state } from "../ui.js";

export const needsDevice = true;

// A short list of names while typing, asked for after a pause in the typing.
const searchResultsMax = 8;
const searchDelayMs = 200;
const memberIdPattern = /^m_[a-z2-7]{52}$/;
const nodeIdPattern = /^n_[a-z2-7]{52}$/;

// A pasted pay link (any node's `/wallet/pay?to=m_…[&node=n_…]`) or a bare member id, as
// {to, node}; null for anything else (a name being typed).
export function payLinkOf(text) {
  const typed = text.trim();
  if (memberIdPattern.test(typed)) return { to: typed, node: null };
  let url;
  try {
    url = new URL(typed);
  } catch {
    return null;
  }
  const to = url.searchParams.get("to") ?? "";
  const node = url.searchParams.get("node");
  if (!/^https?:$/.test(url.protocol) || !url.pathname.replace(/\/$/, "").endsWith("/wallet/pay") ||
    !memberIdPattern.test(to)) return null;
  return { to, node: node && nodeIdPattern.test(node) ? node : null };
}

// The payee a member id names: {id, name} of a member here, or {id, community, communityName,
// federation, unit} of another community's (the first the node lists, or the one `node` names);
// null if none. Offline, throws (ApiError "offline").
async function resolvePayee(to, node) {
  if (to === state.device.member) return null;
  if (!node || node === state.community.node) {
    try {
      const member = await api.get(`/api/members/${to}`);
      if (member.active) return { id: member.id, name: member.name, community: null };
    } catch (error) {
      if (!(error instanceof api.ApiError) || error.code === "offline") throw error;
    }
  }
  let found;
  try {
    found = await api.get(`/api/payees/${to}`);
  } catch (error) {
    if (error instanceof api.ApiError && error.code === "not_found") return null; // a node without federations
    throw error;
  }
  const chosen = found.find((entry) => !node || entry.community === node);
  return chosen ? { id: chosen.member, name: null, community: chosen.community, communityName: chosen.community_name,
    federation: chosen.federation, unit: chosen.unit } : null;
}

function payeeTitle(payee) {
  return payee.community ? t("pay.across.member", { community: payee.communityName }) : payee.name;
}

export async function draw(view) {
  drawTabs("/wallet/pay");
  const { community } = state;
  const query = new URLSearchParams(location.search);
  const fragment = fragmentFields();
  let account = null;
  try {
    account = await myAccount();
  } catch (error) {
    if (!outbox.isTransient(error)) throw error; // offline: a payment is kept to send later
  }
  let payee = null;
  const problem = h("div", { class: "problem" });
  const linked = query.get("to");
  if (linked) {
    try {
      payee = memberIdPattern.test(linked) ? await resolvePayee(linked, query.get("node")) : null;
      if (!payee) problem.append(alertLine(t("pay.across.none")));
    } catch (error) {
      problem.append(alertLine(errorLine(error)));
    }
  }
  if (!view.current()) return;

  const search = h("input", { id: "pay-to", type: "search", autocomplete: "off", "aria-describedby": "pay-to-hint",
    "aria-controls": "pay-results" });
  const results = h("ul", { id: "pay-results", class: "choices" });
  const chosen = h("div", { class: "chosen" });
  const toField = h("div", { class: "field" });
  const choose = (member) => {
    payee = member;
    problem.replaceChildren();
    chosen.replaceChildren(h("span", { class: "who" }, h("span", { class: "name", id: "payee", text: payeeTitle(member) }),
      member.community ? h("span", { class: "id", text: `${member.id.slice(0, 14)}…` }) : null),
    h("button", { type: "button", text: t("pay.change"), onclick: () => {
      payee = null;
      drawTo();
      search.focus();
    } }));
    drawTo();
  };
  const drawTo = () => {
    if (payee) {
      toField.replaceChildren(h("span", { class: "label", text: t("pay.to") }), chosen);
    } else {
      results.replaceChildren();
      toField.replaceChildren(h("label", { for: "pay-to", text: t("pay.to") }), search,
        h("p", { id: "pay-to-hint", class: "hint", text: t("pay.to.hint_across") }), results);
    }
  };
  let searchTimer = null;
  let searchDraw = 0;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(async () => {
      const typed = search.value.trim();
      const mine = (searchDraw += 1);
      if (!typed) return results.replaceChildren();
      const link = payLinkOf(typed);
      try {
        if (link) {
          const found = await resolvePayee(link.to, link.node);
          if (mine !== searchDraw) return;
          results.replaceChildren(found ? h("li", {}, h("button", { type: "button", class: "choice",
            "aria-label": t("pay.search.choose", { name: payeeTitle(found) }), text: payeeTitle(found),
            onclick: () => choose(found) })) : h("li", { class: "muted", text: t("pay.across.none") }));
          return;
        }
        const found = await api.get(`/api/members?q=${encodeURIComponent(typed)}&limit=${searchResultsMax + 1}`);
        if (mine !== searchDraw) return;
        const people = found.filter((member) => member.active && member.id !== state.device.member &&
          (member.role === "member" || member.role === "admin")).slice(0, searchResultsMax);
        results.replaceChildren(...(people.length ? people.map((member) => h("li", {}, h("button", {
          type: "button", class: "choice", "aria-label": t("pay.search.choose", { name: member.name }),
          text: member.name, onclick: () => choose({ id: member.id, name: member.name, community: null }) })))
          : [h("li", { class: "muted", text: t("pay.search.none") })]));
      } catch (error) {
        if (mine === searchDraw) results.replaceChildren(h("li", {}, alertLine(errorLine(error))));
      }
    }, searchDelayMs);
  });
  if (payee) choose(payee);
  else drawTo();

  const amount = h("input", { id: "pay-amount", type: "text", inputmode: "decimal", autocomplete: "off",
    required: true });
  const given = query.get("amount") ?? fragment.get("amount");
  if (given && !parseAmount(given, community.unit.decimals).error) amount.value = given;
  const memo = h("input", { id: "pay-memo", type: "text", autocomplete: "off",
    maxlength: String(intents.memoCharsMax) });
  memo.value = fragment.get("memo") ?? "";
  const form = h("form", { novalidate: true }, toField,
    h("div", { class: "field" }, h("label", { for: "pay-amount", text: t("pay.amount", { unit: community.unit.code }) }),
      amount),
    h("div", { class: "field" }, h("label", { for: "pay-memo", text: t("pay.memo") }), memo),
    problem, h("button", { type: "submit", class: "primary", text: t("pay.review") }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.replaceChildren();
    if (!payee) return problem.append(alertLine(t("pay.choose_first")));
    const parsed = parseAmount(amount.value, community.unit.decimals);
    if (parsed.error) {
      amount.setAttribute("aria-invalid", "true");
      problem.append(alertLine(t(parsed.error, { decimals: community.unit.decimals })));
      return amount.focus();
    }
    amount.removeAttribute("aria-invalid");
    if ([...memo.value].length > intents.memoCharsMax) {
      return problem.append(alertLine(t("memo.long", { count: intents.memoCharsMax })));
    }
    let received = null;
    if (payee.community) {
      try {
        // What they receive, as the federation converts it; offline, the confirmation goes without.
        const [quote] = (await api.get(`/api/payees/${payee.id}?amount=${parsed.minor}`))
          .filter((entry) => entry.community === payee.community);
        received = quote ? quote.received : null;
        if (quote && received === null) return problem.append(alertLine(t("pay.across.too_small")));
      } catch (error) {
        if (!outbox.isTransient(error)) return problem.append(alertLine(errorLine(error)));
      }
    }
    confirmScreen({ payee, minor: parsed.minor, received, memo: memo.value.trim(), account,
      back: () => { show(heading(t("pay.title")), form); amount.focus(); } });
  });
  show(heading(t("pay.title")), form);
}

function confirmScreen({ payee, minor, received, memo, account, back }) {
  const { community, device } = state;
  const problem = h("div", { class: "problem" });
  const send = h("button", { type: "button", class: "primary", id: "pay-send", text: t("pay.send") });
  const change = h("button", { type: "button", text: t("pay.back"), onclick: back });
  const differs = payee.community && payee.unit && payee.unit.code !== community.unit.code;
  send.addEventListener("click", async () => {
    send.disabled = true;
    change.disabled = true;
    send.textContent = t("pay.sending");
    problem.replaceChildren();
    const kept = await outbox.entries();
    if (kept.length >= outbox.outboxEntriesMax && (!navigator.onLine || state.offline)) {
      problem.replaceChildren(alertLine(t("outbox.full", { count: outbox.outboxEntriesMax })));
      send.disabled = false;
      change.disabled = false;
      send.textContent = t("pay.send");
      return;
    }
    let entry = null;
    let answer = null;
    try {
      const action = payee.community
        ? intents.payAcross(idFromText("x", payee.federation), idFromText("n", payee.community),
          idFromText("m", payee.id), minor, memo)
        : intents.transfer(idFromText("m", payee.id), minor, memo);
      const nonce = await intents.nextNonce();
      const signed = await intents.signMemberIntent({ privateKey: device.pair.privateKey, key: device.publicKey,
        feed: idFromText("n", community.node), nonce, action });
      entry = { nonce, body: intents.intentJson(signed), kind: action[0], minor, received,
        toUnit: payee.unit ?? null,
        to: { id: payee.id, name: payee.name, community: payee.community, communityName: payee.communityName ?? null } };
      if (navigator.onLine === false) {
        await outbox.add(entry);
        return queuedScreen(payee, minor);
      }
      answer = await api.postIntent(entry.body);
    } catch (error) {
      if (entry && error instanceof api.ApiError && error.code === "offline") {
        try {
          await outbox.add(entry, { attempted: true }); // the request may have reached the node
          return queuedScreen(payee, minor);
        } catch (full) {
          if (!(full instanceof outbox.OutboxFullError)) throw full;
          error = full;
        }
      }
      const line = error instanceof outbox.OutboxFullError ? t("outbox.full", { count: outbox.outboxEntriesMax })
        : errorLine(error, { available: account ? money(availableOf(account)) : "" });
      problem.replaceChildren(alertLine(line));
      send.disabled = false;
      change.disabled = false;
      send.textContent = t("pay.send");
      return;
    }
    await receiptScreen({ payee, minor, answer }); // committed: what follows is no longer the payment's
  });
  show(heading(t("pay.confirm.title")),
    h("dl", { class: "summary" }, h("dt", { text: t("pay.confirm.to") }),
      h("dd", { id: "confirm-payee", text: payeeTitle(payee) }),
      payee.community ? h("dt", { text: t("pay.across.community") }) : null,
      payee.community ? h("dd", { id: "confirm-community", text: payee.communityName }) : null,
      h("dt", { text: t("pay.confirm.amount") }), h("dd", { id: "confirm-amount", class: "big", text: money(minor) }),
      differs && received !== null ? h("dt", { text: t("pay.across.received") }) : null,
      differs && received !== null ? h("dd", { id: "confirm-received", text: formatAmount(received, payee.unit) }) : null,
      memo ? h("dt", { text: t("pay.confirm.memo") }) : null, memo ? h("dd", { text: memo }) : null),
    problem, h("p", { class: "actions" }, send, change));
  send.focus();
}

function availableOf(account) {
  const available = BigInt(account.balance) + BigInt(account.debit_limit);
  return available > 0n ? available : 0n;
}

function queuedScreen(payee, minor) {
  show(h("h1", { id: "queued", text: t("pay.queued.title") }),
    h("p", { class: "big", text: t("pay.queued.text", { amount: money(minor), name: payeeTitle(payee) }) }),
    h("p", { id: "queued-detail", text: t("pay.queued.detail") }),
    h("p", { class: "actions" }, navLink("/wallet", t("pay.home"), { class: "button primary" }),
      navLink("/wallet/pay", t("pay.again"), { class: "button" })));
  main.focus();
}

async function receiptScreen({ payee, minor }) {
  let account = null;
  try {
    account = await myAccount();
  } catch {
    account = null; // paid; the balance shows once the node answers again
  }
  const across = Boolean(payee.community);
  show(h("h1", { id: "receipt", text: across ? t("pay.across.receipt.title") : t("pay.receipt.title") }),
    h("p", { class: "big", text: across
      ? t("pay.across.receipt.text", { amount: money(minor), community: payee.communityName })
      : t("pay.receipt.text", { amount: money(minor), name: payee.name }) }),
    across ? h("p", { id: "receipt-detail", text: t("pay.across.receipt.detail", { community: payee.communityName }) })
      : null,
    account ? h("p", { id: "receipt-balance", text: t("pay.receipt.balance", { balance: money(account.balance) }) }) : null,
    h("p", { class: "actions" }, navLink("/wallet", t("pay.home"), { class: "button primary" }),
      navLink("/wallet/pay", t("pay.again"), { class: "button" })));
  main.focus();
}
