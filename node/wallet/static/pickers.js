// Finding another member by name as one types: the field Pay, Delegate, Propose and Transfer use
// to choose whom (docs/wallet.md, "Screens").
//
// How this works: after a pause in the typing (`searchDelayMs`) the node is asked for the members
// whose name holds what is typed (GET /api/members?q=, api.md §10); only an answer to the latest
// typing is drawn, so a slow answer never overwrites a newer one. Only people (members and admins)
// are offered, never the device's own member and never the community's own accounts. A screen may
// first read what is typed as something else (`lookUp`: Pay's pay link or member id); once one is
// chosen the field shows its name and a button to choose again.
import * as api from "./api.js";
import { alertLine, errorLine, h, state } from "./ui.js";

// A short list of names while typing, asked for after a pause in the typing.
export const searchResultsMax = 8;
const searchDelayMs = 200;

// A field that finds another member by name: { element, chosen() -> member or null, choose(member),
// focus() }. A member found by name is {id, name, role}.
//   id        the input's id (its hint is `${id}-hint`, its list of names `resultsId`, `${id}-results`
//             unless given);
//   label, hint, none, change   the field's label, its hint, "nobody found", the "choose again" button;
//   choose    (title) => the label of a found member's button ("Delegate to {name}");
//   chosenId  the id of the chosen member's name (`${id}-chosen` unless given);
//   title     (member) => the text naming a member (their name unless given);
//   detail    (member) => a further line under a chosen member's name, or null;
//   lookUp    async (typed) => undefined for a name to search, else the member the text names (or
//             null for no one: `lookUpNone` is said);
//   onChange  (member or null) => called whenever the choice changes.
export function memberPicker({ id, label, hint, choose, none, change, resultsId = `${id}-results`, chosenId = `${id}-chosen`,
  title = (member) => member.name, detail = () => null, lookUp = async () => undefined, lookUpNone = none,
  onChange = () => {} }) {
  const field = h("div", { class: "field" });
  const search = h("input", { id, type: "search", autocomplete: "off", "aria-describedby": `${id}-hint`,
    "aria-controls": resultsId });
  const results = h("ul", { id: resultsId, class: "choices" });
  let chosen = null;
  let searchTimer = null;
  let searchDraw = 0;
  const drawField = () => {
    if (chosen) {
      const again = h("button", { type: "button", text: change, onclick: () => {
        chosen = null;
        onChange(null);
        drawField();
        search.focus();
      } });
      field.replaceChildren(h("span", { class: "label", text: label }),
        h("div", { class: "chosen" }, h("span", { class: "who" },
          h("span", { class: "name", id: chosenId, text: title(chosen) }), detail(chosen)), again));
      return again;
    }
    results.replaceChildren();
    field.replaceChildren(h("label", { for: id, text: label }), search,
      h("p", { id: `${id}-hint`, class: "hint", text: hint }), results);
    return search;
  };
  const set = (member) => {
    chosen = member;
    onChange(member);
    return drawField();
  };
  const button = (member) => h("li", {}, h("button", { type: "button", class: "choice",
    "aria-label": choose(title(member)), text: title(member), onclick: () => set(member).focus() }));
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(async () => {
      const typed = search.value.trim();
      const mine = (searchDraw += 1);
      if (!typed) return results.replaceChildren();
      try {
        const named = await lookUp(typed);
        if (named !== undefined) {
          if (mine !== searchDraw) return;
          results.replaceChildren(named ? button(named) : h("li", { class: "muted", text: lookUpNone }));
          return;
        }
        const found = await api.get(`/api/members?q=${encodeURIComponent(typed)}&limit=${searchResultsMax + 1}`);
        if (mine !== searchDraw) return;
        const people = found.filter((member) => member.active && member.id !== state.device.member &&
          (member.role === "member" || member.role === "admin")).slice(0, searchResultsMax);
        results.replaceChildren(...(people.length
          ? people.map((member) => button({ id: member.id, name: member.name, role: member.role }))
          : [h("li", { class: "muted", text: none })]));
      } catch (error) {
        if (mine === searchDraw) results.replaceChildren(h("li", {}, alertLine(errorLine(error))));
      }
    }, searchDelayMs);
  });
  drawField();
  return { element: field, chosen: () => chosen, choose: set,
    focus: () => (chosen ? field.querySelector("button") : search).focus() };
}
