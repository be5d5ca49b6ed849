// The wallet's service worker: it keeps the shell and the static files so the wallet opens offline.
//
// How this works: the node writes in the version (a hash of every file) and the list of files when
// it serves this script, so a new version of the wallet is a new worker, which installs a new
// cache and drops the old one. Screens (/wallet, /wallet/<screen>) are fetched from the network
// first and fall back to the cached shell; static files come from the cache first. Nothing under
// /api/ is ever cached: it is the member's data, read live, and a stale balance would mislead.
const version = "{version}";
const files = ["{files}"];
const cacheName = `tallystick-wallet-${version}`;
const screens = ["{screens}"];
const isScreen = (path) => path === "/wallet" || (path.startsWith("/wallet/") && screens.includes(path.slice(8)));

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(cacheName).then((cache) => cache.addAll(files)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((name) => name.startsWith("tallystick-wallet-") && name !== cacheName)
        .map((name) => caches.delete(name))))
      .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (isScreen(url.pathname)) {
    event.respondWith(fetch(event.request).catch(() => caches.match("/wallet", { cacheName })));
  } else if (url.pathname.startsWith("/wallet/static/")) {
    event.respondWith(caches.match(event.request, { cacheName, ignoreSearch: true })
      .then((cached) => cached || fetch(event.request)));
  }
});
