// List something (/wallet/list), or edit one's own listing (/wallet/list?id=l_…): an offer or a
// want, its title, description, category, price in the unit (empty: "ask"), place, how long it
// lasts, and a picture. Checked here before anything is sent, each refusal one line; the node
// checks again (POST /api/listings, PUT /api/listings/{id}) and makes the picture small, without
// its metadata (PUT /api/listings/{id}/picture, docs/market.md).
import * as api from "../api.js";
import { parseAmount, plainAmount } from "../format.js";
import { categoryIds } from "../listings.js";
import { t } from "../strings.js";
import { alertLine, drawTabs, errorLine, h, heading, show, state } from "../ui.js";

export const needsDevice = true;

const titleCharsMax = 80;
const descriptionCharsMax = 2000;
const placeCharsMax = 64;
const pictureBytesMax = 10 * 1024 * 1024; // node/pictures.py: picture_upload_bytes_max
const pictureTypes = ["image/jpeg", "image/png", "image/webp"];
const lastingDays = [7, 30, 90];
const listingIdPattern = /^l_[a-z2-7]{16}$/;

function field(id, label, control, hint) {
  return h("div", { class: "field" }, h("label", { for: id, text: label }), control,
    hint ? h("p", { id: `${id}-hint`, class: "hint", text: hint }) : null);
}

export async function draw(view) {
  drawTabs("/wallet/market");
  const { community } = state;
  const id = new URLSearchParams(location.search).get("id");
  const [editing, enterprises] = await Promise.all([
    id !== null && listingIdPattern.test(id) ? api.get(`/api/listings/${id}`) : null,
    id === null ? api.get("/api/enterprises") : []]);
  if (!view.current()) return;
  // An enterprise's manager may list for it: its account is then paid (docs/market.md).
  const managed = enterprises.filter((enterprise) => enterprise.manager === state.device.member);
  if (id !== null && (!editing || !editing.mine)) {
    show(heading(t("list.title.edit")), alertLine(t("list.not_yours")));
    return;
  }

  const kinds = h("fieldset", { class: "sides" }, h("legend", { text: t("list.kind") }),
    ...["offer", "want"].map((kind) => h("label", { class: "choice-line" },
      h("input", { type: "radio", name: "list-kind", value: kind, checked: (editing?.kind ?? "offer") === kind }),
      t(`list.kind.${kind}`))));
  const title = h("input", { id: "list-title", type: "text", autocomplete: "off", maxlength: String(titleCharsMax),
    required: true });
  const description = h("textarea", { id: "list-description", rows: "4", maxlength: String(descriptionCharsMax) });
  const category = h("select", { id: "list-category" },
    ...categoryIds.map((categoryId) => h("option", { value: categoryId, text: t(`market.category.${categoryId}`) })));
  const price = h("input", { id: "list-price", type: "text", inputmode: "decimal", autocomplete: "off",
    "aria-describedby": "list-price-hint" });
  const place = h("input", { id: "list-place", type: "text", autocomplete: "off", maxlength: String(placeCharsMax),
    "aria-describedby": "list-place-hint" });
  const listedFor = h("select", { id: "list-for" }, h("option", { value: "", text: t("list.for.me") }),
    ...managed.map((enterprise) => h("option", { value: enterprise.id, text: enterprise.name })));
  const lasting = h("select", { id: "list-lasts" },
    ...lastingDays.map((days) => h("option", { value: String(days), text: t("list.lasts.days", { days }),
      selected: days === 30 })));
  const picture = h("input", { id: "list-picture", type: "file", accept: pictureTypes.join(","),
    "aria-describedby": "list-picture-hint" });
  const dropPicture = h("input", { id: "list-picture-drop", type: "checkbox" });
  if (editing) {
    title.value = editing.title;
    description.value = editing.description;
    category.value = editing.category;
    price.value = editing.price === null ? "" : plainAmount(editing.price, community.unit.decimals);
    place.value = editing.place;
  }
  const problem = h("div", { class: "problem" });
  const submit = h("button", { type: "submit", class: "primary", text: t(editing ? "list.save" : "list.submit") });
  const form = h("form", { novalidate: true },
    managed.length ? field("list-for", t("list.field.for"), listedFor) : null, kinds,
    field("list-title", t("list.field.title"), title),
    field("list-description", t("list.field.description"), description),
    field("list-category", t("list.field.category"), category),
    field("list-price", t("list.field.price", { unit: community.unit.code }), price, t("list.field.price.hint")),
    field("list-place", t("list.field.place"), place, t("list.field.place.hint")),
    editing ? null : field("list-lasts", t("list.field.lasts"), lasting),
    field("list-picture", t(editing?.picture ? "list.field.picture.replace" : "list.field.picture"), picture,
      t("list.field.picture.hint")),
    editing?.picture ? h("div", { class: "option" }, dropPicture,
      h("label", { for: "list-picture-drop", text: t("list.field.picture.drop") })) : null,
    problem, submit);

  // What was refused is taken back as soon as it is changed.
  form.addEventListener("input", (event) => {
    event.target.removeAttribute?.("aria-invalid");
    problem.replaceChildren();
  });
  const refuse = (line, control) => {
    problem.replaceChildren(alertLine(line));
    control?.setAttribute("aria-invalid", "true");
    control?.focus();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.replaceChildren();
    for (const control of [title, price, picture]) control.removeAttribute("aria-invalid");
    const typedTitle = title.value.trim();
    if (!typedTitle) return refuse(t("list.title.empty"), title);
    if ([...typedTitle].length > titleCharsMax) return refuse(t("list.title.long", { count: titleCharsMax }), title);
    if ([...description.value].length > descriptionCharsMax) {
      return refuse(t("list.description.long", { count: descriptionCharsMax }), description);
    }
    let priceMinor = null;
    if (price.value.trim()) {
      const parsed = parseAmount(price.value, community.unit.decimals);
      if (parsed.error) return refuse(t(parsed.error, { decimals: community.unit.decimals }), price);
      priceMinor = Number(parsed.minor);
    }
    const file = picture.files[0] ?? null;
    if (file && !pictureTypes.includes(file.type)) return refuse(t("list.picture.type"), picture);
    if (file && file.size > pictureBytesMax) return refuse(t("list.picture.large"), picture);
    const body = { kind: form.querySelector("input[name=list-kind]:checked").value, title: typedTitle,
      description: description.value.trim(), category: category.value, price: priceMinor, place: place.value.trim() };
    submit.disabled = true;
    submit.textContent = t("list.sending");
    let saved;
    try {
      saved = editing ? await api.put(`/api/listings/${editing.id}`, body)
        : await api.post("/api/listings", { ...body, expires_in_days: Number(lasting.value),
          enterprise: listedFor.value || null });
    } catch (error) {
      submit.disabled = false;
      submit.textContent = t(editing ? "list.save" : "list.submit");
      return refuse(errorLine(error));
    }
    let notice = t(editing ? "list.saved" : "list.listed");
    try {
      if (file) await api.putBytes(`/api/listings/${saved.id}/picture`, file);
      else if (editing?.picture && dropPicture.checked) await api.remove(`/api/listings/${saved.id}/picture`);
    } catch (error) {
      notice = t("list.picture.refused", { reason: errorLine(error) });
    }
    const { draw: drawListing } = await import("./listing.js");
    history.replaceState(null, "", `/wallet/listing?id=${saved.id}`);
    await drawListing(view, { notice });
    document.getElementById("listing-status")?.focus();
  });
  show(heading(t(editing ? "list.title.edit" : "list.title.new")), form);
  title.focus();
}
