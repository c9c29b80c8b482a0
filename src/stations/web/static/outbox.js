/*
 * outbox.js: what the rider page keeps in IndexedDB, shared by the page and the service worker.
 *
 * - "snapshot": the offline data (/api/offline), one record, with the moment it was saved.
 * - "outbox": problem reports written with no signal, each with an idempotency key made when
 *   the rider pressed send. `flush` posts them with that key (header Idempotency-Key), and the
 *   server stores a key once, so a report sent by the page and by Background Sync at the same
 *   time, or sent again after an answer was lost, is still one report.
 */
(function (global) {
  "use strict";
  const DB = "stations-offline";
  const SNAPSHOTS = "snapshot";
  const OUTBOX = "outbox";
  const SYNC_TAG = "stations-reports";

  function open() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB, 1);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(SNAPSHOTS)) db.createObjectStore(SNAPSHOTS);
        if (!db.objectStoreNames.contains(OUTBOX)) db.createObjectStore(OUTBOX, { keyPath: "key" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  /** Run ``work(store)`` in one transaction; resolves with the last request's result. */
  async function transact(name, mode, work) {
    const db = await open();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(name, mode);
        let result;
        const request = work(tx.objectStore(name));
        if (request) request.onsuccess = () => (result = request.result);
        tx.oncomplete = () => resolve(result);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  }

  const readSnapshot = () => transact(SNAPSHOTS, "readonly", (s) => s.get("current"));
  const writeSnapshot = (record) => transact(SNAPSHOTS, "readwrite", (s) => s.put(record, "current"));
  const queued = () => transact(OUTBOX, "readonly", (s) => s.getAll());
  const enqueue = (report) => transact(OUTBOX, "readwrite", (s) => s.put(report));
  const remove = (key) => transact(OUTBOX, "readwrite", (s) => s.delete(key));

  /** A fresh idempotency key (random, 128 bits). */
  function newKey() {
    if (global.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** Post one report; resolves with the fetch Response (throws on a network failure). */
  function send(report) {
    return fetch("/api/stations/" + encodeURIComponent(report.station) + "/reports", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": report.key },
      body: JSON.stringify(report.body),
    });
  }

  let flushing = null;
  /** Send every queued report once; a report leaves the queue once the server answered it
   * (stored, or refused for good: a 4xx other than 429). Resolves with how many were sent. */
  function flush() {
    if (flushing) return flushing;
    flushing = (async () => {
      let sent = 0;
      for (const report of await queued()) {
        const response = await send(report); // a network failure stops here: retried later
        if (response.ok || (response.status >= 400 && response.status < 500 && response.status !== 429)) {
          await remove(report.key);
          sent += response.ok ? 1 : 0;
        }
      }
      return sent;
    })().finally(() => (flushing = null));
    return flushing;
  }

  global.StationsOutbox = {
    SYNC_TAG: SYNC_TAG,
    readSnapshot: readSnapshot,
    writeSnapshot: writeSnapshot,
    queued: queued,
    enqueue: enqueue,
    newKey: newKey,
    send: send,
    flush: flush,
  };
})(self);
