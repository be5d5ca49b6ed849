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
import { memberPicker } from "../pickers.js";
import { confirmScreen as confirmation, signAction } from "../sending.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, errorLine, fragmentFields, h, heading, main, money, myAccount, navLink, show,
  state } from "../ui.js";

export const needsDevice = true;

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

  const picker = memberPicker({ id: "pay-to", label: t("pay.to"), hint: t("pay.to.hint_across"),
    choose: (name) => t("pay.search.choose", { name }), none: t("pay.search.none"), change: t("pay.change"),
    resultsId: "pay-results", chosenId: "payee", title: payeeTitle,
    detail: (member) => (member.community ? h("span", { class: "id", text: `${member.id.slice(0, 14)}…` }) : null),
    lookUp: async (typed) => {
      const link = payLinkOf(typed);
      return link ? resolvePayee(link.to, link.node) : undefined;
    },
    lookUpNone: t("pay.across.none"),
    onChange: () => problem.replaceChildren() });
  if (payee) picker.choose(payee);

  const amount = h("input", { id: "pay-amount", type: "text", inputmode: "decimal", autocomplete: "off",
    required: true });
  const given = query.get("amount") ?? fragment.get("amount");
  if (given && !parseAmount(given, community.unit.decimals).error) amount.value = given;
  const memo = h("input", { id: "pay-memo", type: "text", autocomplete: "off",
    maxlength: String(intents.memoCharsMax) });
  memo.value = fragment.get("memo") ?? "";
  const form = h("form", { novalidate: true }, picker.element,
    h("div", { class: "field" }, h("label", { for: "pay-amount", text: t("pay.amount", { unit: community.unit.code }) }),
      amount),
    h("div", { class: "field" }, h("label", { for: "pay-memo", text: t("pay.memo") }), memo),
    problem, h("button", { type: "submit", class: "primary", text: t("pay.review") }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.replaceChildren();
    const chosen = picker.chosen();
    if (!chosen) return problem.append(alertLine(t("pay.choose_first")));
    const payee = { community: null, ...chosen };
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

// Signed, the payment is sent, or kept in the outbox while the node cannot be reached: {queued}
// then, else {answer}. An outbox already full while offline is refused before anything is signed.
async function sendPayment({ payee, minor, received, memo }) {
  const kept = await outbox.entries();
  if (kept.length >= outbox.outboxEntriesMax && (!navigator.onLine || state.offline)) {
    throw new outbox.OutboxFullError("outbox_full");
  }
  const action = payee.community
    ? intents.payAcross(idFromText("x", payee.federation), idFromText("n", payee.community),
      idFromText("m", payee.id), minor, memo)
    : intents.transfer(idFromText("m", payee.id), minor, memo);
  const { nonce, body } = await signAction(action);
  const entry = { nonce, body, kind: action[0], minor, received, toUnit: payee.unit ?? null,
    to: { id: payee.id, name: payee.name, community: payee.community, communityName: payee.communityName ?? null } };
  if (navigator.onLine === false) {
    await outbox.add(entry);
    return { queued: true };
  }
  try {
    return { answer: await api.postIntent(entry.body) };
  } catch (error) {
    if (!(error instanceof api.ApiError && error.code === "offline")) throw error;
    await outbox.add(entry, { attempted: true }); // the request may have reached the node
    return { queued: true };
  }
}

function confirmScreen({ payee, minor, received, memo, account, back }) {
  const { community } = state;
  const differs = payee.community && payee.unit && payee.unit.code !== community.unit.code;
  confirmation({
    title: t("pay.confirm.title"),
    shown: [h("dl", { class: "summary" }, h("dt", { text: t("pay.confirm.to") }),
      h("dd", { id: "confirm-payee", text: payeeTitle(payee) }),
      payee.community ? h("dt", { text: t("pay.across.community") }) : null,
      payee.community ? h("dd", { id: "confirm-community", text: payee.communityName }) : null,
      h("dt", { text: t("pay.confirm.amount") }), h("dd", { id: "confirm-amount", class: "big", text: money(minor) }),
      differs && received !== null ? h("dt", { text: t("pay.across.received") }) : null,
      differs && received !== null ? h("dd", { id: "confirm-received", text: formatAmount(received, payee.unit) }) : null,
      memo ? h("dt", { text: t("pay.confirm.memo") }) : null, memo ? h("dd", { text: memo }) : null)],
    sendId: "pay-send", sendText: t("pay.send"), sendingText: t("pay.sending"), backText: t("pay.back"), back,
    send: () => sendPayment({ payee, minor, received, memo }),
    refusal: (error) => (error instanceof outbox.OutboxFullError ? t("outbox.full", { count: outbox.outboxEntriesMax })
      : errorLine(error, { available: account ? money(availableOf(account)) : "" })),
    done: (sent) => (sent.queued ? queuedScreen(payee, minor) : receiptScreen({ payee, minor })),
  });
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
