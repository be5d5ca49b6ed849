// Delegations (/wallet/delegate): whom the member lets vote for them, per topic, each taken back
// with one button; a new delegation to a member found by name, for one topic or for every decision
// without a delegation of its own topic; and who has delegated their vote to this member.
//
// How this works: GET /api/members/{me}/delegations (docs/api.md §10; the member concerned's
// alone) gives both lists; `delegate` and `undelegate` are intents signed on the device
// (intents.js). A delegation on a topic the member already delegates replaces it (the protocol
// keeps one delegate per topic). Topics are the decisions' own words (docs/decisions.md): a member
// types the one a decision shows.
import * as api from "../api.js";
import { idFromText } from "../ids.js";
import * as intents from "../intents.js";
import { t } from "../strings.js";
import { alertLine, errorLine, h, heading, main, show, state } from "../ui.js";
import { drawDecideTabs } from "./decide.js";
import { memberPicker } from "../pickers.js";
import { sendAction } from "../sending.js";

export const needsDevice = true;

// What the next draw says once (a delegation just made or taken back), then forgets.
let done = null;

function topicWords(topic) {
  return topic ? t("delegate.topic.one", { topic }) : t("delegate.topic.all");
}

export async function draw(view) {
  drawDecideTabs();
  const me = state.device.member;
  const delegations = await api.get(`/api/members/${me}/delegations`);
  if (!view.current()) return;
  const parts = [heading(t("delegate.title")), h("p", { text: t("delegate.intro") })];
  if (done) {
    parts.push(h("p", { class: "done", role: "status", id: "delegate-done", tabindex: "-1", text: done }));
    done = null;
  }
  const problem = h("div", { class: "problem", id: "given-problem" });
  const name = (person) => person.name ?? t("delegate.someone");
  const given = delegations.given.length
    ? h("ul", { class: "rows", id: "given" }, ...delegations.given.map((delegation) => h("li", { class: "row" },
      h("span", { class: "who", text: t("delegate.row", { name: name(delegation.to), topic: topicWords(delegation.topic) }) }),
      h("button", { type: "button", text: t("delegate.undo"),
        "aria-label": t("delegate.undo.label", { topic: topicWords(delegation.topic) }), onclick: async (event) => {
          event.target.disabled = true;
          problem.replaceChildren();
          try {
            await sendAction(intents.undelegate(delegation.topic));
          } catch (error) {
            event.target.disabled = false;
            return problem.append(alertLine(errorLine(error)));
          }
          done = t("delegate.undone");
          await finish(view);
        } }))))
    : h("p", { class: "muted", id: "given", text: t("delegate.given.none") });
  const received = delegations.received.length
    ? h("ul", { class: "rows", id: "received" }, ...delegations.received.map((delegation) => h("li", { class: "row" },
      h("span", { class: "who", text: t("delegate.row", { name: name(delegation.from), topic: topicWords(delegation.topic) }) }))))
    : h("p", { class: "muted", id: "received", text: t("delegate.received.none") });
  show(...parts, h("h2", { text: t("delegate.given") }), given, problem, newDelegation(view),
    h("h2", { text: t("delegate.received") }), received);
}

async function finish(view) {
  await view.redraw();
  main.querySelector("#delegate-done")?.focus();
}

function newDelegation(view) {
  const picker = memberPicker({ id: "delegate-to", label: t("delegate.to"), hint: t("delegate.to.hint"),
    choose: (name) => t("delegate.to.choose", { name }), none: t("propose.member.none"),
    change: t("propose.member.change") });
  const topic = h("input", { id: "delegate-topic", type: "text", autocomplete: "off",
    maxlength: String(intents.topicCharsMax), "aria-describedby": "delegate-topic-hint" });
  const problem = h("div", { class: "problem" });
  const submit = h("button", { type: "submit", class: "primary", id: "delegate-send", text: t("delegate.submit") });
  const form = h("form", { novalidate: true, "aria-labelledby": "delegate-heading" },
    h("h2", { id: "delegate-heading", text: t("delegate.new") }), picker.element,
    h("div", { class: "field" }, h("label", { for: "delegate-topic", text: t("delegate.topic") }), topic,
      h("p", { class: "hint", id: "delegate-topic-hint", text: t("delegate.topic.hint") })),
    problem, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.replaceChildren();
    const to = picker.chosen();
    if (!to) {
      problem.append(alertLine(t("delegate.choose_first")));
      return picker.focus();
    }
    const words = topic.value.trim();
    if ([...words].length > intents.topicCharsMax) {
      problem.append(alertLine(t("propose.topic.long", { count: intents.topicCharsMax })));
      return topic.focus();
    }
    submit.disabled = true;
    submit.textContent = t("delegate.sending");
    try {
      await sendAction(intents.delegate(idFromText("m", to.id), words));
    } catch (error) {
      problem.append(alertLine(errorLine(error)));
      submit.disabled = false;
      submit.textContent = t("delegate.submit");
      return;
    }
    done = t("delegate.done", { name: to.name });
    await finish(view);
  });
  return form;
}
