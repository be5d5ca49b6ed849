// The wallet's app: one shell, one screen module per path, routed with the History API
// (docs/wallet.md).
//
// How this works: `route()` reads location.pathname: `/wallet` is screens/home.js and
// `/wallet/<name>` is screens/<name>.js (the node serves the shell at exactly those paths, from
// the same list of files), imported when first shown. A screen module exports `draw(view)` and
// `needsDevice` (false for the screens a person without a wallet on this device opens: join,
// restore, link a device). Links marked `data-nav` change the URL with pushState instead of loading
// a page; popstate draws the screen again. The device's member (keys.js) signs in once (api.js) and
// reads its own data from the JSON API. Names and memos are personal data: nothing here logs them
// or puts them in a URL.
import * as keys from "./keys.js";
import { t } from "./strings.js";
import { alertLine, communityLink, errorLine, h, heading, hideTabs, leave, loadCommunity, main, navLink, show,
  signedIn, statusLine } from "./ui.js";

const screenName = /^\/wallet(?:\/([a-z][a-z0-9-]*))?$/;

let drawing = 0; // which draw is current

// Where a person with no working wallet here goes: add this device from another, or restore.
function otherWays() {
  return h("p", { class: "actions" }, navLink("/wallet/ask", t("device.ask"), { class: "button" }),
    navLink("/wallet/link", t("device.link"), { class: "button" }),
    navLink("/wallet/restore", t("device.restore"), { class: "button" }));
}

function noDevice() {
  hideTabs();
  // A pay link of this node opened on a phone whose wallet is another community's: say how to use it.
  const payLink = location.pathname.startsWith("/wallet/pay") && new URLSearchParams(location.search).has("to");
  show(heading(t("device.none.title")), h("p", { text: t("device.none.text") }),
    payLink ? h("p", { id: "pay-link-elsewhere", text: t("device.none.pay_link") }) : null, otherWays());
}

function unsupported() {
  hideTabs();
  show(heading(t("unsupported.title")), h("p", { text: t("unsupported.text") }));
}

// Show another screen: push its URL (or replace the current one) and draw it.
async function go(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  await route();
  main.focus({ preventScroll: true });
}

async function route() {
  const draw = (drawing += 1);
  leave();
  const view = { current: () => draw === drawing, go, redraw: route };
  show(h("p", { class: "muted", text: t("common.loading") }));
  try {
    if (!keys.isSupported()) return unsupported();
    const matched = screenName.exec(location.pathname.replace(/\/$/, ""));
    const screen = await import(`./screens/${matched?.[1] ?? "home"}.js`);
    if (!screen.needsDevice) return await screen.draw(view);
    await loadCommunity();
    if (!(await signedIn())) return noDevice();
    await screen.draw(view);
  } catch (error) {
    if (draw !== drawing) return;
    const removed = error.code === "not_a_member";
    show(heading(t(removed ? "device.removed.title" : "common.failed")), alertLine(errorLine(error)),
      h("p", { class: "actions" }, h("button", { type: "button", text: t("common.retry"), onclick: () => route() })),
      removed ? otherWays() : null);
  }
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  go(link.getAttribute("href"));
});
window.addEventListener("popstate", () => route());
window.addEventListener("offline", () => { statusLine.textContent = t("common.offline"); });
window.addEventListener("online", () => { statusLine.textContent = ""; });

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/wallet/sw.js", { scope: "/wallet", type: "classic" }).catch(() => {});
}
route();
