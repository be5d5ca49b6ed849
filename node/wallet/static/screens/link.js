// Link (/wallet/link), opened on the NEW device (or one whose key was removed from its account): it makes its own key, shows the link
// `<origin>/wallet/devices#add=<its key>` as a QR code (for the old phone's camera) and as a text
// code (to type), and waits, asking the node every 2 s for at most 10 minutes, until the old
// device has bound the key; then it keeps itself as the member's device and signs in
// (linking.js; docs/wallet.md, "Devices").
import * as linking from "../linking.js";
import { qrSvg } from "../qr.js";
import { t } from "../strings.js";
import { alertLine, errorLine, h, heading, hideTabs, loadCommunity, onLeave, show, state } from "../ui.js";

export const needsDevice = false;

export async function draw(view) {
  hideTabs();
  const community = await loadCommunity();
  if (await linking.drawnIfMemberHere(community, t("link.title"), "link.already")) return;
  const pending = await linking.pendingKey();
  if (!view.current()) return;
  const link = linking.linkOf(pending.key);
  const waiting = h("p", { role: "status", id: "link-status", class: "muted", text: t("link.waiting") });
  show(heading(t("link.title")), h("p", { text: t("link.intro", { community: community.name }) }),
    h("div", { class: "qr-box" }, qrSvg(link, t("link.qr"))),
    h("p", { class: "label", id: "link-code-label", text: t("link.code") }),
    h("output", { id: "link-code", class: "link code", "aria-labelledby": "link-code-label", text: linking.codeOf(pending.key) }),
    h("p", { class: "hint", text: t("link.code.hint") }), waiting);
  let stopped = false;
  onLeave(() => { stopped = true; });
  const wait = async () => {
    let bound;
    try {
      bound = await linking.waitForBinding(pending, community.node, () => stopped || !view.current());
    } catch (error) {
      if (view.current()) waiting.replaceWith(alertLine(errorLine(error)));
      return;
    }
    if (!view.current()) return;
    if (!bound) {
      const again = h("button", { type: "button", text: t("link.wait_again"), onclick: () => {
        again.remove();
        waiting.textContent = t("link.waiting");
        wait();
      } });
      waiting.textContent = t("link.gave_up");
      waiting.after(again);
      return;
    }
    waiting.textContent = t("link.bound");
    try {
      state.device = await linking.adopt(pending, community);
    } catch (error) {
      waiting.replaceWith(alertLine(errorLine(error)));
      return;
    }
    view.go("/wallet", { replace: true });
  };
  wait();
}
