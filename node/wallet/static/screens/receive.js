// Receive (/wallet/receive): the device member's pay link, as a QR code and as text.
import { qrSvg } from "../qr.js";
import { t } from "../strings.js";
import { drawTabs, h, heading, show, state } from "../ui.js";

export const needsDevice = true;

export async function draw() {
  drawTabs("/wallet/receive");
  const link = `${location.origin}/wallet/pay?to=${state.device.member}`;
  const copied = h("span", { role: "status", class: "muted" });
  const copy = h("button", { type: "button", text: t("receive.copy"), onclick: async () => {
    await navigator.clipboard.writeText(link);
    copied.textContent = t("receive.copied");
  } });
  show(heading(t("receive.title")), h("p", { text: t("receive.text") }),
    h("div", { class: "qr-box" }, qrSvg(link, t("receive.qr"))),
    h("label", { for: "pay-link", text: t("receive.link") }),
    h("output", { id: "pay-link", class: "link", text: link }),
    h("p", { class: "actions" }, copy, copied));
}
