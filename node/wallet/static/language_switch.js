// The language switch of settings: the languages the node ships, each named in itself, and "as this
// browser asks"; the choice is kept on this device (strings.js `chooseLanguage`) and shown from a
// reload, since every text is looked up when drawn.
//
// A select and a button, not a select alone: changing the language reloads the page, which a
// keyboard user moving through the options must not set off by an arrow key.
import { browserLanguage, chooseLanguage, chosenLanguage, languageName, languages, t } from "./strings.js";
import { alertLine, h } from "./ui.js";

function capitalised(name, code) {
  return name.charAt(0).toLocaleUpperCase(code) + name.slice(1);
}

export function languageSwitch() {
  const select = h("select", { id: "language", name: "language" },
    h("option", { value: "", text: t("settings.language.browser", { language: languageName(browserLanguage()) }) }),
    ...languages.map((code) => h("option", { value: code, lang: code, text: capitalised(languageName(code), code) })));
  select.value = chosenLanguage() ?? "";
  const form = h("form", { class: "language", id: "language-form" },
    h("label", { for: "language", text: t("settings.language") }),
    h("div", { class: "actions" }, select, h("button", { type: "submit", text: t("settings.language.use") })));
  const problem = h("div", { class: "problem" });
  form.append(problem);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (chooseLanguage(select.value || null)) location.reload();
    else problem.replaceChildren(alertLine(t("settings.language.not_kept")));
  });
  return form;
}
