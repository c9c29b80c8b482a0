/*
 * sw.js: the rider page's service worker, served at the root scope by the service (/sw.js,
 * no-cache, so the browser finds a new version on every visit).
 *
 * - Install: keeps the page, its scripts, styles and icons (PRECACHE) in a cache named by
 *   VERSION, a hash of every one of those files: any change to them is a new worker.
 * - Pages: network first (with a timeout for one bar of signal), the answer kept for next time;
 *   the kept page only when the network fails. So an online visit always gets the current page,
 *   and a stale worker can never serve an old page forever.
 * - Assets: from the cache of this version (ON_DEMAND ones kept on first use). A new worker
 *   takes over at once (skipWaiting), but a page already open keeps the scripts it runs: a new
 *   version takes effect on the next visit.
 * - The API (/api/...) is never cached here: the page keeps its offline data in IndexedDB.
 *   Map tiles (other origins) are never touched: the browser's own HTTP cache only.
 * - Background Sync: reports queued offline are sent by `StationsOutbox` (outbox.js).
 */
/* global StationsOutbox */
"use strict";
const VERSION = "__VERSION__";
const CACHE = "stations-" + VERSION;
const PAGE = "/";
const PRECACHE = [
  __PRECACHE__
];
// Kept once the page asks for them (the opening-hours parser: only where hours are known).
const ON_DEMAND = [__ON_DEMAND__];
const NAVIGATION_TIMEOUT_MS = 6000;

importScripts("/static/stations/outbox.js");

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) =>
      // cache: "reload" skips the HTTP cache: the files of this version, not older copies.
      Promise.all([PAGE, ...PRECACHE].map((url) =>
        fetch(new Request(url, { cache: "reload" })).then((response) => {
          if (!response.ok) throw new Error(url + ": " + response.status);
          return cache.put(url, response);
        })
      ))
    ).then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("stations-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim())
  );
});

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    promise.then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
  });
}

async function page(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await withTimeout(fetch(request), NAVIGATION_TIMEOUT_MS);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (err) {
    const kept = (await cache.match(request)) || (await cache.match(PAGE));
    if (kept) return kept;
    throw err;
  }
}

async function asset(request) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(request);
  if (kept) return kept;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return; // tiles and links: the browser's business
  if (request.mode === "navigate" && url.pathname === PAGE) {
    event.respondWith(page(request));
  } else if (PRECACHE.includes(url.pathname) || ON_DEMAND.includes(url.pathname)) {
    event.respondWith(asset(request));
  }
});

// The page asks to keep what it loaded before this worker controlled it (the first visit).
self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type !== "keep" || !Array.isArray(data.urls)) return;
  const urls = data.urls.filter((u) => ON_DEMAND.includes(u));
  event.waitUntil(
    caches.open(CACHE).then((cache) =>
      Promise.all(urls.map((u) => cache.match(u).then((hit) => hit || cache.add(u))))
    )
  );
});

self.addEventListener("sync", (event) => {
  if (event.tag === StationsOutbox.SYNC_TAG) event.waitUntil(StationsOutbox.flush());
});
