// Downloads for a period (docs/api.md §16): a member's statement on History, the journal and the
// treasury's account on the admins' screen, an enterprise's account for its manager, as the files
// the node writes (CSV, or OFX for one account, which bank and accounting programs import).
//
// How this works: one small form, the first and the last day (this year by default, both days
// included, read in this browser's time zone: `tz`) and a button per file. The file is fetched by
// the session's cookie (api.js getFile: an idle session signs in again first), then saved from a
// Blob under the node's own file name, which names ids and dates, never a person. A refusal is one
// line (role="alert"), a saved file one status line; a period whose first day is after its last
// is refused here, before asking. Nothing is signed: these are reads.
import * as api from "./api.js";
import { t } from "./strings.js";
import { alertLine, errorLine, h } from "./ui.js";

// How long a saved file's Blob URL stays alive after the click hands it to the browser.
const blobUrlKeptMs = 60_000;

const twoDigits = (number) => String(number).padStart(2, "0");

// A day as the node reads it (YYYY-MM-DD), in this browser's time zone.
export function dayText(date) {
  return `${date.getFullYear()}-${twoDigits(date.getMonth() + 1)}-${twoDigits(date.getDate())}`;
}

function timeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return "";
  }
}

function save({ blob, name }) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), blobUrlKeptMs);
}

// The form: `id` names its parts; `files` are [{label, path, format}] (format "csv" or "ofx").
export function periodDownloads(id, files) {
  const today = new Date();
  const from = h("input", { type: "date", id: `${id}-from`, value: `${today.getFullYear()}-01-01` });
  const to = h("input", { type: "date", id: `${id}-to`, value: dayText(today) });
  const problem = h("div", { class: "problem" });
  const status = h("p", { role: "status", id: `${id}-status` });
  const buttons = files.map((file) => {
    const button = h("button", { type: "button", text: file.label, "data-format": file.format });
    button.addEventListener("click", async () => {
      problem.replaceChildren();
      status.textContent = "";
      if (from.value && to.value && from.value > to.value) {
        problem.append(alertLine(t("downloads.bad_period")));
        from.focus();
        return;
      }
      const query = new URLSearchParams();
      if (from.value) query.set("from", from.value);
      if (to.value) query.set("to", to.value);
      const zone = timeZone();
      if (zone) query.set("tz", zone);
      if (file.format !== "csv") query.set("format", file.format);
      buttons.forEach((each) => { each.disabled = true; });
      status.className = "";
      status.textContent = t("downloads.working");
      try {
        const got = await api.getFile(`${file.path}?${query}`);
        save(got);
        status.className = "done";
        status.textContent = t("downloads.saved");
      } catch (error) {
        status.textContent = "";
        problem.append(alertLine(errorLine(error)));
      } finally {
        buttons.forEach((each) => { each.disabled = false; });
      }
    });
    return button;
  });
  return h("div", { class: "downloads", id },
    h("div", { class: "period" },
      h("div", { class: "field" }, h("label", { for: `${id}-from`, text: t("downloads.from") }), from),
      h("div", { class: "field" }, h("label", { for: `${id}-to`, text: t("downloads.to") }), to)),
    h("p", { class: "hint", text: t("downloads.hint") }),
    problem, h("p", { class: "actions" }, ...buttons), status);
}
