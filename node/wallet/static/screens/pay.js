// Pay (/wallet/pay[?to=m_…][#amount=…&memo=…]): choose the payee by name (or from a pay link),
// the amount and a note; confirm; a receipt. The transfer is signed on the device (intents.js).
import * as api from "../api.js";
import { parseAmount } from "../format.js";
import { idFromText } from "../ids.js";
import * as intents from "../intents.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, errorLine, fragmentFields, h, heading, main, money, myAccount, navLink, show,
  state } from "../ui.js";

export const needsDevice = true;

// A short list of names while typing, asked for after a pause in the typing.
const searchResultsMax = 8;
const searchDelayMs = 200;

export async function draw(view) {
  drawTabs("/wallet/pay");
  const { community, device } = state;
  const query = new URLSearchParams(location.search);
  const fragment = fragmentFields();
  const account = await myAccount();
  let payee = null; // {id, name}
  const linked = query.get("to");
  if (linked) {
    try {
      idFromText("m", linked);
      const member = await api.get(`/api/members/${linked}`);
      if (member.active && member.id !== device.member) payee = { id: member.id, name: member.name };
    } catch {
      payee = null;
    }
  }
  if (!view.current()) return;
  const problem = h("div", { class: "problem" });
  if (linked && !payee) problem.append(alertLine(t("pay.unknown_payee")));

  const search = h("input", { id: "pay-to", type: "search", autocomplete: "off", "aria-describedby": "pay-to-hint",
    "aria-controls": "pay-results" });
  const results = h("ul", { id: "pay-results", class: "choices" });
  const chosen = h("div", { class: "chosen" });
  const toField = h("div", { class: "field" });
  const choose = (member) => {
    payee = member;
    chosen.replaceChildren(h("span", { class: "name", id: "payee", text: member.name }),
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
        h("p", { id: "pay-to-hint", class: "hint", text: t("pay.search.hint") }), results);
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
      try {
        const found = await api.get(`/api/members?q=${encodeURIComponent(typed)}&limit=${searchResultsMax + 1}`);
        if (mine !== searchDraw) return;
        const people = found.filter((member) => member.active && member.id !== device.member &&
          (member.role === "member" || member.role === "admin")).slice(0, searchResultsMax);
        results.replaceChildren(...(people.length ? people.map((member) => h("li", {}, h("button", {
          type: "button", class: "choice", "aria-label": t("pay.search.choose", { name: member.name }),
          text: member.name, onclick: () => choose({ id: member.id, name: member.name }) })))
          : [h("li", { class: "muted", text: t("pay.search.none") })]));
      } catch (error) {
        results.replaceChildren(h("li", {}, alertLine(errorLine(error))));
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
  form.addEventListener("submit", (event) => {
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
    confirmScreen({ payee, minor: parsed.minor, memo: memo.value.trim(), account,
      back: () => { show(heading(t("pay.title")), form); amount.focus(); } });
  });
  show(heading(t("pay.title")), form);
}

function confirmScreen({ payee, minor, memo, account, back }) {
  const { community, device } = state;
  const problem = h("div", { class: "problem" });
  const send = h("button", { type: "button", class: "primary", id: "pay-send", text: t("pay.send") });
  const change = h("button", { type: "button", text: t("pay.back"), onclick: back });
  send.addEventListener("click", async () => {
    send.disabled = true;
    change.disabled = true;
    send.textContent = t("pay.sending");
    problem.replaceChildren();
    try {
      const intent = await intents.signMemberIntent({ privateKey: device.pair.privateKey, key: device.publicKey,
        feed: idFromText("n", community.node), nonce: await intents.nextNonce(),
        action: intents.transfer(idFromText("m", payee.id), minor, memo) });
      await api.postIntent(intents.intentJson(intent));
    } catch (error) {
      const available = BigInt(account.balance) + BigInt(account.debit_limit);
      problem.replaceChildren(alertLine(errorLine(error, { available: money(available > 0n ? available : 0n) })));
      send.disabled = false;
      change.disabled = false;
      send.textContent = t("pay.send");
      return;
    }
    await receiptScreen({ payee, minor }); // committed: what follows is no longer the payment's
  });
  show(heading(t("pay.confirm.title")),
    h("dl", { class: "summary" }, h("dt", { text: t("pay.confirm.to") }), h("dd", { id: "confirm-payee", text: payee.name }),
      h("dt", { text: t("pay.confirm.amount") }), h("dd", { id: "confirm-amount", class: "big", text: money(minor) }),
      memo ? h("dt", { text: t("pay.confirm.memo") }) : null, memo ? h("dd", { text: memo }) : null),
    problem, h("p", { class: "actions" }, send, change));
  send.focus();
}

async function receiptScreen({ payee, minor }) {
  const account = await myAccount();
  show(h("h1", { id: "receipt", text: t("pay.receipt.title") }),
    h("p", { class: "big", text: t("pay.receipt.text", { amount: money(minor), name: payee.name }) }),
    h("p", { id: "receipt-balance", text: t("pay.receipt.balance", { balance: money(account.balance) }) }),
    h("p", { class: "actions" }, navLink("/wallet", t("pay.home"), { class: "button primary" }),
      navLink("/wallet/pay", t("pay.again"), { class: "button" })));
  main.focus();
}
