// Admin (/wallet/admin): what the community's admins do from the wallet (docs/wallet.md "Admin"):
// invite someone, withdraw an open invitation, answer join requests, set a member's limits and
// role, set the default limits, and propose a change of the rules. Reached from More (settings.js)
// by a link shown to admins only; the node refuses every route and action here to anyone else.
//
// How this works: each change is an intent the admin's device key signs (intents.js) and posts
// to POST /api/intents, as every payment is. An invitation's seed is made here, on the admin's
// device (crypto.getRandomValues), its public key signed into the `invite`; the link carrying the
// seed in its fragment is shown once, with its QR code, and forgotten with the page. What the
// ledger lets an admin do directly (`invite`, `revoke_invitation`, `admit`, `set_limits`,
// `set_role`, `set_default_limits`) is done directly; what needs a decision is proposed instead
// (`propose_period` with the effect): the rules (`set_rules`) always, and an admission or an
// invitation where the community admits by decision, so the screen never pretends a change
// happened that the members must vote on. An invitation by decision is made the same way (the
// seed on this device, the link shown at once), its `invite` the proposal's effect; the link also
// names the decision (`d=` its seq), so the invitee's wallet can show it while the members vote.
// The community's rules come with the join requests (GET /api/join-requests).
import * as api from "../api.js";
import { periodDownloads } from "../downloads.js";
import { formatTime, parseAmount, plainAmount } from "../format.js";
import { base32, idFromText } from "../ids.js";
import * as intents from "../intents.js";
import * as keys from "../keys.js";
import { qrSvg } from "../qr.js";
import { sendAction } from "../sending.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, errorLine, h, heading, money, navLink, show, state } from "../ui.js";

export const needsDevice = true;

const dayMs = 24 * 60 * 60 * 1000;
const expiryChoicesDays = [1, 7, 30];
const expiryDefaultDays = 7;
// The protocol's invitation_expiry_max_ms is 30 days after the invite's event: a minute less, so
// this device's clock running a little ahead of the node's does not make it `bad_invitation`.
const clockMarginMs = 60 * 1000;
// A proposal stays open a week: above every default floor (24 h for membership, 72 h for rules).
const votingPeriodMs = 7 * dayMs;
const searchShownMax = 8;
const searchDelayMs = 250;

function said(box, text, { alert = false } = {}) {
  box.replaceChildren(alert ? alertLine(text) : h("p", { class: "done", role: "status", text }));
}

// A limit typed in major units: minor units (BigInt, 0 allowed), null when left empty, or {error}.
function limitOf(input, { optional = true } = {}) {
  const typed = input.value.trim();
  if (typed === "") return optional ? { minor: null } : { error: t("admin.limit.required") };
  if (/^0*(?:[.,]0*)?$/.test(typed)) return { minor: 0n };
  const parsed = parseAmount(typed, state.community.unit.decimals);
  return parsed.error ? { error: t(parsed.error, { decimals: state.community.unit.decimals }) } : parsed;
}

function field(id, label, input, hint) {
  input.id = id;
  if (hint) input.setAttribute("aria-describedby", `${id}-hint`);
  return [h("label", { for: id, text: label }), input, hint ? h("p", { id: `${id}-hint`, class: "hint", text: hint }) : null];
}

function amountInput() {
  return h("input", { type: "text", inputmode: "decimal", autocomplete: "off" });
}

function select(choices, chosen) {
  return h("select", {}, ...choices.map(([value, text]) =>
    h("option", { value, text, selected: value === chosen })));
}

function section(id, title, ...children) {
  return h("section", { id, "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title`, tabindex: "-1", text: title }), ...children);
}

export async function draw(view) {
  drawTabs("/wallet/settings");
  const session = await api.get("/api/session");
  if (!view.current()) return;
  if (!session.admin) {
    show(heading(t("admin.title")), alertLine(t("admin.not_admin")),
      h("p", {}, navLink("/wallet/settings", t("admin.back"))));
    return;
  }
  const [asked, invitations] = await Promise.all([api.get("/api/join-requests"), api.get("/api/invitations")]);
  if (!view.current()) return;
  const rules = asked.rules;
  const jump = h("nav", { class: "jump", "aria-label": t("admin.jump") },
    ...[["admin-invite", "admin.invite.title"], ["admin-requests", "admin.requests.title"],
      ["admin-members", "admin.members.title"], ["admin-rules", "admin.rules.title"],
      ["admin-downloads", "admin.downloads.title"]].map(([id, text]) =>
      h("a", { href: `#${id}`, text: t(text), onclick: (event) => {
        event.preventDefault();
        document.getElementById(`${id}-title`).focus();
      } })));
  const invitationsList = h("ul", { class: "rows", id: "admin-invitations" });
  const invitationsBox = h("div");
  const refreshInvitations = async () => drawInvitations(invitationsList, invitationsBox,
    await api.get("/api/invitations"));
  drawInvitations(invitationsList, invitationsBox, invitations);
  const requestsList = h("ul", { class: "rows", id: "admin-requests-list" });
  const requestsBox = h("div");
  drawRequests(requestsList, requestsBox, asked);
  // Invitations made before the rule changed are still listed, to withdraw (none can join now).
  const listInvitations = rules.admission !== "decision" || invitations.length > 0;
  show(...[heading(t("admin.title")), jump,
    section("admin-invite", t("admin.invite.title"), ...(rules.admission === "decision"
      ? [h("p", { id: "admin-by-decision", text: t("admin.invite.by_decision.invite") }),
        inviteForm(refreshInvitations, true), askLink()]
      : [inviteForm(refreshInvitations, false)])),
    listInvitations ? section("admin-open", t("admin.invitations.title"), invitationsBox, invitationsList) : null,
    section("admin-requests", t("admin.requests.title"), requestsBox, requestsList),
    section("admin-members", t("admin.members.title"), ...membersPart()),
    section("admin-rules", t("admin.rules.title"), ...rulesPart(rules), ...defaultsPart()),
    section("admin-downloads", t("admin.downloads.title"), h("p", { class: "hint", text: t("admin.downloads.intro") }),
      periodDownloads("admin-export", [
        { label: t("admin.downloads.journal"), path: "/api/exports/journal", format: "csv" },
        { label: t("admin.downloads.treasury.csv"), path: "/api/exports/treasury", format: "csv" },
        { label: t("admin.downloads.treasury.ofx"), path: "/api/exports/treasury", format: "ofx" }]))].filter(Boolean));
}

// ---- invitations ----

function inviteForm(refresh, byDecision) {
  const community = state.community;
  const unit = community.unit.code;
  const name = h("input", { type: "text", autocomplete: "off", maxlength: String(intents.nameCharsMax) });
  const expires = select(expiryChoicesDays.map((days) =>
    [String(days), days === 1 ? t("admin.invite.day") : t("admin.invite.days", { count: days })]),
  String(expiryDefaultDays));
  const role = select([["member", t("admin.role.member")], ["admin", t("admin.role.admin")]], "member");
  const debit = amountInput();
  const ceiling = amountInput();
  const problem = h("div", { class: "problem" });
  const submitText = t(byDecision ? "admin.invite.propose" : "admin.invite.submit");
  const submit = h("button", { type: "submit", class: "primary", text: submitText });
  const form = h("form", { novalidate: true, id: "admin-invite-form" },
    ...field("admin-invite-name", t("admin.invite.name"), name, t("admin.invite.name.hint")),
    ...field("admin-invite-expires", t("admin.invite.expires"), expires),
    ...field("admin-invite-role", t("admin.invite.role"), role),
    ...field("admin-invite-debit", t("admin.limit.debit", { unit }), debit,
      t("admin.limit.debit.hint", { amount: money(-community.debit_limit) })),
    ...field("admin-invite-ceiling", t("admin.limit.ceiling", { unit }), ceiling,
      t("admin.limit.ceiling.hint", { amount: money(community.credit_ceiling) })),
    problem, submit);
  const box = h("div", {}, form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const typed = name.value.trim();
    if ([...typed].length > intents.nameCharsMax) {
      return problem.replaceChildren(alertLine(t("join.name.long", { count: intents.nameCharsMax })));
    }
    const debitLimit = limitOf(debit);
    const ceilingLimit = limitOf(ceiling);
    const wrong = debitLimit.error ? [debit, debitLimit.error] : ceilingLimit.error ? [ceiling, ceilingLimit.error] : null;
    if (wrong) {
      wrong[0].setAttribute("aria-invalid", "true");
      wrong[0].focus();
      return problem.replaceChildren(alertLine(wrong[1]));
    }
    submit.disabled = true;
    submit.textContent = t("admin.invite.working");
    problem.replaceChildren();
    try {
      const days = Number(expires.value);
      const now = Date.now();
      // By decision the link's time runs from the decision's deadline, within the 30 days an
      // invitation may stay open after the proposal's event.
      const expiresMs = Math.min(now + (byDecision ? votingPeriodMs : 0) + days * dayMs,
        now + 30 * dayMs - clockMarginMs);
      const seed = crypto.getRandomValues(new Uint8Array(keys.seedBytes));
      const invitation = await keys.importSeed(seed);
      const invite = intents.invite(invitation.publicKey, expiresMs, role.value, debitLimit.minor, ceilingLimit.minor);
      let decided = "";
      if (byDecision) {
        const title = t(role.value === "admin" ? "admin.propose.invite.admin" : "admin.propose.invite");
        const proposed = await sendAction(intents.proposeEffect(title, "", intents.inviteEffect(...invite.slice(1)),
          votingPeriodMs));
        decided = `&d=${proposed.seq}`;
      } else {
        await sendAction(invite);
      }
      const link = `${location.origin}/wallet/join#i=${base32(seed)}${decided}${typed ? `&n=${encodeURIComponent(typed)}` : ""}`;
      const text = byDecision ? t("admin.invite.proposed.text", { when: formatTime(now + votingPeriodMs),
        expires: formatTime(expiresMs) }) : t("admin.invite.made.text", { when: formatTime(expiresMs) });
      box.replaceChildren(made(link, text, () => {
        box.replaceChildren(inviteForm(refresh, byDecision));
        document.getElementById("admin-invite-title").focus();
      }));
      document.getElementById("admin-invite-made").focus();
      await refresh();
    } catch (error) {
      problem.replaceChildren(alertLine(errorLine(error)));
      submit.disabled = false;
      submit.textContent = submitText;
    }
  });
  return box;
}

// The link, once: as text and as a QR code, to copy or share; Done forgets it.
function made(link, text, done) {
  const copied = h("span", { role: "status", class: "muted" });
  const copy = h("button", { type: "button", text: t("admin.invite.copy"), onclick: async () => {
    await navigator.clipboard.writeText(link);
    copied.textContent = t("admin.invite.copied");
  } });
  const share = navigator.share ? h("button", { type: "button", text: t("admin.invite.share"), onclick: () =>
    navigator.share({ url: link }).catch(() => {}) }) : null;
  return h("div", { class: "made" },
    h("h3", { id: "admin-invite-made", tabindex: "-1", text: t("admin.invite.made") }),
    h("p", { text }),
    h("div", { class: "qr-box" }, qrSvg(link, t("admin.invite.qr"))),
    h("label", { for: "invite-link", text: t("admin.invite.link") }),
    h("output", { id: "invite-link", class: "link", text: link }),
    h("p", { class: "actions" }, copy, share, copied,
      h("button", { type: "button", class: "primary", text: t("admin.invite.done"), onclick: done })));
}

function askLink() {
  const link = `${location.origin}/wallet/ask`;
  const copied = h("span", { role: "status", class: "muted" });
  return h("div", {},
    h("label", { for: "ask-link", text: t("admin.ask.link") }),
    h("output", { id: "ask-link", class: "link", text: link }),
    h("p", { class: "actions" }, h("button", { type: "button", text: t("admin.invite.copy"), onclick: async () => {
      await navigator.clipboard.writeText(link);
      copied.textContent = t("admin.invite.copied");
    } }), copied));
}

function drawInvitations(list, box, invitations) {
  const refresh = async () => drawInvitations(list, box, await api.get("/api/invitations"));
  if (invitations.length === 0) {
    list.replaceChildren(h("li", { class: "muted", text: t("admin.invitations.none") }));
    return;
  }
  list.replaceChildren(...invitations.map((invitation) => {
    const when = formatTime(invitation.expires_ms);
    const withdraw = h("button", { type: "button", text: t("admin.invitations.withdraw"),
      "aria-label": t("admin.invitations.withdraw.label", { when }), onclick: async () => {
        withdraw.disabled = true;
        try {
          await sendAction(intents.revokeInvitation(idFromText("k", invitation.invitation)));
          said(box, t("admin.invitations.withdrawn"));
          await refresh();
        } catch (error) {
          said(box, errorLine(error), { alert: true });
          withdraw.disabled = false;
        }
      } });
    return h("li", { class: "row" },
      h("span", { class: "who" }, h("span", { class: "name", text: t("admin.invitations.expires", { when }) }),
        h("span", { class: "when", text: t("admin.invitations.terms", {
          role: t(`admin.role.${invitation.role}`), debit: invitation.debit_limit }) }),
        invitation.invited_by.name ? h("span", { class: "when",
          text: t("admin.invitations.by", { name: invitation.invited_by.name }) })
          : byCommunity(invitation) ? h("span", { class: "when", text: t("admin.invitations.by_decision") }) : null),
      withdraw);
  }));
}

// A decision's invitation is the community's own: made by no member, its `invited_by` the feed's id.
function byCommunity(invitation) {
  return invitation.invited_by.id.slice(2) === state.community.node.slice(2);
}

// ---- join requests ----

function drawRequests(list, box, asked) {
  const byDecision = asked.admission === "decision";
  if (asked.requests.length === 0) {
    list.replaceChildren(h("li", { class: "muted", text: t("admin.requests.none") }));
    return;
  }
  const refresh = async () => drawRequests(list, box, await api.get("/api/join-requests"));
  list.replaceChildren(...asked.requests.map((request) => {
    const values = { name: request.name };
    const key = idFromText("k", request.key);
    const answers = h("span", { class: "answers" });
    if (request.decision !== null) {
      answers.append(h("span", { class: "muted", text: t("admin.requests.in_decision") }));
    } else {
      const accept = h("button", { type: "button", class: "primary",
        text: t(byDecision ? "admin.requests.propose" : "admin.requests.accept"),
        "aria-label": t(byDecision ? "admin.requests.propose.label" : "admin.requests.accept.label", values),
        onclick: async () => {
          accept.disabled = true;
          try {
            const admission = intents.admit(key, request.name);
            if (byDecision) {
              await sendAction(intents.proposeEffect(t("admin.propose.admit", values), "", admission, votingPeriodMs));
              said(box, t("admin.requests.proposed", { ...values, when: formatTime(Date.now() + votingPeriodMs) }));
            } else {
              await sendAction(admission);
              said(box, t("admin.requests.accepted", values));
            }
            await refresh();
          } catch (error) {
            said(box, errorLine(error), { alert: true });
            accept.disabled = false;
          }
        } });
      const decline = h("button", { type: "button", text: t("admin.requests.decline"),
        "aria-label": t("admin.requests.decline.label", values), onclick: async () => {
          decline.disabled = true;
          try {
            await api.post(`/api/join-requests/${request.key}/decline`, {});
            said(box, t("admin.requests.declined", values));
            await refresh();
          } catch (error) {
            said(box, errorLine(error), { alert: true });
            decline.disabled = false;
          }
        } });
      answers.append(accept, decline);
    }
    return h("li", { class: "row request" },
      h("span", { class: "who" }, h("span", { class: "name", text: request.name }),
        request.note ? h("span", { class: "memo", text: request.note }) : null,
        request.name_taken ? h("span", { class: "memo taken", text: t("admin.requests.name_taken") }) : null,
        h("span", { class: "when", text: t("admin.requests.asked", { when: formatTime(request.created_ms) }) })),
      answers);
  }));
}

// ---- members: limits and role ----

function membersPart() {
  const search = h("input", { type: "search", autocomplete: "off" });
  const found = h("ul", { class: "choices", id: "admin-member-choices" });
  const panel = h("div", { id: "admin-member" });
  let timer = null;
  let asked = 0;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const text = search.value.trim();
      const mine = (asked += 1);
      if (text === "") return found.replaceChildren();
      let members;
      try {
        members = await api.get(`/api/members?q=${encodeURIComponent(text)}&limit=${searchShownMax}`);
      } catch (error) {
        if (mine === asked) found.replaceChildren(h("li", {}, alertLine(errorLine(error))));
        return;
      }
      if (mine !== asked) return;
      const people = members.filter((member) => member.active && (member.role === "member" || member.role === "admin"));
      found.replaceChildren(...(people.length === 0 ? [h("li", { class: "muted", text: t("admin.members.none") })]
        : people.map((member) => h("li", {}, h("button", { type: "button", class: "choice",
          text: t("admin.members.choose", { name: member.name }), onclick: () => {
            found.replaceChildren();
            search.value = "";
            manage(panel, member).catch((error) => panel.replaceChildren(alertLine(errorLine(error))));
          } })))));
    }, searchDelayMs);
  });
  return [...field("admin-member-search", t("admin.members.search"), search, t("admin.members.search.hint")),
    found, panel];
}

async function manage(panel, member) {
  const [account] = await api.get(`/api/balances?account=${member.id}`);
  const unit = state.community.unit;
  const debit = amountInput();
  debit.value = plainAmount(account.debit_limit, unit.decimals);
  const ceiling = amountInput();
  ceiling.value = plainAmount(account.credit_ceiling, unit.decimals);
  const role = select([["member", t("admin.role.member")], ["admin", t("admin.role.admin")]], member.role);
  const problem = h("div", { class: "problem", id: "admin-member-result" });
  const submit = h("button", { type: "submit", class: "primary", text: t("admin.members.save") });
  const form = h("form", { novalidate: true },
    ...field("admin-member-debit", t("admin.limit.debit", { unit: unit.code }), debit,
      t("admin.limit.debit.hint", { amount: money(-state.community.debit_limit) })),
    ...field("admin-member-ceiling", t("admin.limit.ceiling", { unit: unit.code }), ceiling,
      t("admin.limit.ceiling.hint", { amount: money(state.community.credit_ceiling) })),
    ...field("admin-member-role", t("admin.members.role"), role), problem, submit);
  const title = h("h3", { id: "admin-member-name", tabindex: "-1", text: member.name });
  const summary = h("p", { class: "muted", id: "admin-member-summary", text: t("admin.members.balance", {
    balance: money(account.balance), debit: money(-account.debit_limit), ceiling: money(account.credit_ceiling) }) });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const debitLimit = limitOf(debit);
    const ceilingLimit = limitOf(ceiling);
    const wrong = debitLimit.error ? [debit, debitLimit.error] : ceilingLimit.error ? [ceiling, ceilingLimit.error] : null;
    if (wrong) {
      wrong[0].focus();
      return said(problem, wrong[1], { alert: true });
    }
    const limitsChanged = debitLimit.minor !== BigInt(account.debit_limit)
      || ceilingLimit.minor !== BigInt(account.credit_ceiling);
    const roleChanged = role.value !== member.role;
    if (!limitsChanged && !roleChanged) return said(problem, t("admin.members.unchanged"));
    submit.disabled = true;
    try {
      const id = idFromText("m", member.id);
      if (limitsChanged) await sendAction(intents.setLimits(id, debitLimit.minor, ceilingLimit.minor));
      if (roleChanged) await sendAction(intents.setRole(id, role.value));
      await manage(panel, { ...member, role: role.value });
      said(document.getElementById("admin-member-result"), t("admin.members.saved"));
    } catch (error) {
      said(problem, errorLine(error), { alert: true });
      submit.disabled = false;
    }
  });
  panel.replaceChildren(h("div", { class: "card" }, title, summary, form));
  title.focus();
}

// ---- the rules (by decision) and the default limits (an admin's) ----

function rulesPart(rules) {
  const admission = select([["admin", t("admin.rules.admission.admin")],
    ["decision", t("admin.rules.admission.decision")]], rules.admission);
  const problem = h("div", { class: "problem", id: "admin-rules-result" });
  const submit = h("button", { type: "submit", text: t("admin.rules.propose") });
  const form = h("form", { novalidate: true },
    ...field("admin-rules-admission", t("admin.rules.admission"), admission, t("admin.rules.admission.hint")),
    problem, h("p", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (admission.value === rules.admission) return said(problem, t("admin.rules.same"));
    submit.disabled = true;
    try {
      await sendAction(intents.proposeEffect(t(`admin.rules.title.${admission.value}`), "",
        intents.setRules(admission.value, rules.quorum_bp, rules.threshold_bp), votingPeriodMs));
      said(problem, t("admin.rules.proposed", { when: formatTime(Date.now() + votingPeriodMs) }));
    } catch (error) {
      said(problem, errorLine(error), { alert: true });
    }
    submit.disabled = false;
  });
  // Every other rule (the levy, the floors, who sees what) changes only by a decision too: Propose.
  return [form, h("p", {}, navLink("/wallet/rules", t("admin.rules.all"), { id: "admin-rules-all" }))];
}

function defaultsPart() {
  const community = state.community;
  const unit = community.unit;
  const debit = amountInput();
  debit.value = plainAmount(community.debit_limit, unit.decimals);
  const ceiling = amountInput();
  ceiling.value = plainAmount(community.credit_ceiling, unit.decimals);
  const problem = h("div", { class: "problem", id: "admin-defaults-result" });
  const submit = h("button", { type: "submit", text: t("admin.defaults.save") });
  const form = h("form", { novalidate: true },
    h("h3", { text: t("admin.defaults.title") }), h("p", { class: "hint", text: t("admin.defaults.hint") }),
    ...field("admin-defaults-debit", t("admin.defaults.debit", { unit: unit.code }), debit),
    ...field("admin-defaults-ceiling", t("admin.defaults.ceiling", { unit: unit.code }), ceiling),
    problem, h("p", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const debitLimit = limitOf(debit, { optional: false });
    const ceilingLimit = limitOf(ceiling, { optional: false });
    const wrong = debitLimit.error ? [debit, debitLimit.error] : ceilingLimit.error ? [ceiling, ceilingLimit.error] : null;
    if (wrong) {
      wrong[0].focus();
      return said(problem, wrong[1], { alert: true });
    }
    submit.disabled = true;
    try {
      await sendAction(intents.setDefaultLimits(debitLimit.minor, ceilingLimit.minor));
      state.community = { ...community, debit_limit: Number(debitLimit.minor), credit_ceiling: Number(ceilingLimit.minor) };
      said(problem, t("admin.members.saved"));
    } catch (error) {
      said(problem, errorLine(error), { alert: true });
    }
    submit.disabled = false;
  });
  // Every other rule (the levy, the floors, who sees what) changes only by a decision too: Propose.
  return [form, h("p", {}, navLink("/wallet/rules", t("admin.rules.all"), { id: "admin-rules-all" }))];
}
