/*
 * rider.js: the rider page. One tap asks the phone for its position, the API for the 3 nearest
 * open stations, and lists them with distance, direction, open now, amenities and navigation.
 * Falls back to a tap on the map or typed coordinates when location is denied or unavailable.
 *
 * Offline (no signal): the page comes from the service worker (sw.js), the stations from the
 * snapshot kept in IndexedDB on the last visit with a network (outbox.js), and the nearest are
 * computed in the browser with the server's answer (offline.js); reports wait in an outbox.
 */
(function () {
  "use strict";
  const S = window.Stations;
  const cfg = JSON.parse(document.getElementById("stations-config").textContent);
  const t = (key) => S.translator(cfg)(key);
  const $ = (id) => document.getElementById(id);
  const status = $("status");
  const say = (text) => (status.textContent = text || "");
  /** A sentence in the page's language, and the server's English detail as a second line. */
  const detailed = (node, text, detail) =>
    node.replaceChildren(text, detail ? S.el("span", { class: "st-detail", lang: "en" }, [t("server_said") + detail]) : "");
  const O = window.StationsOffline;
  const outbox = window.StationsOutbox;
  const QUERY_TIMEOUT_MS = 8000;

  /* ---- offline data: the snapshot in IndexedDB, refreshed on each visit with a network ---- */
  let kept = null; // { prepared, savedAt }
  function keep(record) {
    kept = { prepared: O.prepare(record.snapshot), savedAt: record.savedAt };
    if (kept.prepared.hasHours) loadHoursParser();
    return kept;
  }
  let hoursParser = null;
  /** The opening-hours parser, loaded once and only when some kept station has hours. */
  function loadHoursParser() {
    if (hoursParser) return hoursParser;
    // same-origin scripts, in order (SunCalc before opening_hours.js); CSP allows 'self'
    const load = (url) => new Promise((resolve) => {
      const script = document.createElement("script");
      script.src = url;
      script.onload = script.onerror = resolve; // without it, open now is unknown (null)
      document.head.append(script);
    });
    hoursParser = cfg.offline.hoursScripts.reduce((done, url) => done.then(() => load(url)), Promise.resolve());
    if ("serviceWorker" in navigator && window.isSecureContext) {
      // kept for offline use, also when loaded before the worker controlled the page
      navigator.serviceWorker.ready
        .then((registration) => registration.active.postMessage({ type: "keep", urls: cfg.offline.hoursScripts }))
        .catch(() => null);
    }
    return hoursParser;
  }
  async function storedSnapshot() {
    try {
      const record = await outbox.readSnapshot();
      return record && record.snapshot && record.snapshot.format === 1 ? keep(record) : null;
    } catch (err) {
      return null; // no IndexedDB (private mode): online only
    }
  }
  async function refreshSnapshot() {
    try {
      const response = await fetch(cfg.offline.snapshot, { cache: "no-cache" });
      if (!response.ok) return kept;
      const snapshot = await response.json();
      if (kept && kept.prepared.snapshot.version === snapshot.version) return kept; // unchanged
      const record = { snapshot: snapshot, savedAt: Date.now() };
      await outbox.writeSnapshot(record).catch(() => null);
      return keep(record);
    } catch (err) {
      return kept; // offline: the kept one
    }
  }
  const offlineReady = storedSnapshot()
    .then(refreshSnapshot)
    .then((data) => (data && data.prepared.hasHours ? loadHoursParser().then(() => data) : data));
  const toMap = (x, y) => S.toMapCrs(x, y, cfg.crs);
  cfg.offlineData = async () => {
    const data = kept || (await offlineReady);
    return data ? O.all(data.prepared, toMap) : null;
  };
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register(cfg.offline.serviceWorker).catch(() => null);
  }

  /* ---- map ---- */
  const map = L.map("map", { zoomControl: true, maxZoom: cfg.tiles.maxZoom || 19 }).setView([cfg.center[1], cfg.center[0]], cfg.zoom);
  const tiles = cfg.tiles;
  if (tiles.url) {
    L.tileLayer(tiles.url, { attribution: tiles.attribution, subdomains: tiles.subdomains || "abc", maxZoom: tiles.maxZoom }).addTo(map);
    if (tiles.overlay) L.tileLayer(tiles.overlay, { subdomains: tiles.subdomains, maxZoom: tiles.maxZoom }).addTo(map);
  }
  L.control.scale().addTo(map);
  // One cluster for every kind (stations at the same spot spread apart on a click).
  const cluster = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 50 }).addTo(map);
  const groups = {};
  for (const kind of cfg.legendKinds) groups[kind] = L.featureGroup.subGroup(cluster).addTo(map);
  const state = S.mount(map, cfg, groups, cluster);
  // The loop: from the API, or from the offline snapshot when there is no network.
  fetch("/api/loop")
    .then((r) => (r.ok ? r.json() : null))
    .then((loop) => (loop ? loop.geometry.coordinates : null))
    .catch(() => offlineReady.then((data) => (data && data.prepared.loop ? data.prepared.loop.coordinates : null)))
    .then((coordinates) => {
      if (!coordinates) return;
      const line = coordinates.map(([x, y]) => {
        const [mx, my] = S.toMapCrs(x, y, cfg.crs);
        return [my, mx];
      });
      L.polyline(line, { color: "#6a1b9a", weight: 4, opacity: 0.8, interactive: false }).addTo(map);
    });

  const highlight = L.layerGroup().addTo(map);
  let last = null; // the last query: re-rendered when the language changes

  /* ---- results ---- */
  function render(collection, here) {
    const list = $("results");
    list.replaceChildren();
    highlight.clearLayers();
    $("results-title").hidden = false;
    const features = collection.features.filter((f) => f.geometry);
    closedNote(collection.nearer_closed); // also when no open station is left to list
    if (!features.length) {
      say(t("no_results"));
      return;
    }
    const [wlon, wlat] = toWgs84(here[0], here[1]);
    say([farNote(collection), loopMark(wlon, wlat)].filter(Boolean).join(" "));
    const bounds = L.latLngBounds([L.latLng(here[1], here[0])]);
    features.forEach((f, i) => {
      const p = f.properties;
      const [x, y] = f.geometry.coordinates;
      bounds.extend([y, x]);
      L.marker([y, x], { icon: S.icon(cfg, p.kind, true, i + 1), title: p.name, zIndexOffset: 1000 })
        .bindPopup(() => S.popupContent(p, cfg), S.popupOptions(map))
        .addTo(highlight);
      const amenities = (p.amenities || []).map((a) => S.label(cfg.amenities[a], cfg.lang));
      const nav = p.navigation || {};
      const links = [];
      for (const [key, label] of [["amap_ride", "nav_amap"], ["baidu_ride", "nav_baidu"]]) {
        const href = S.safeUrl(nav[key]);
        if (href) links.push(S.el("a", { href: href, class: "st-nav", target: "_blank", rel: "noopener noreferrer" }, [t(label)]));
      }
      list.append(
        S.el("li", { "data-station": p.id }, [
          S.el("h2", {}, [String(i + 1) + ". " + p.name]),
          p.name_en ? S.el("div", { class: "st-name-en", lang: "en" }, [p.name_en]) : null,
          S.el("div", { class: "st-meta st-distance" }, [
            S.formatDistance(p.distance_m, t) + " · " + t("toward") + " " + S.compass(p.bearing_deg, t),
          ]),
          S.el("div", { class: "st-meta st-open" + (p.open_now === false ? " st-warn" : "") }, [S.openText(p.open_now, t)]),
          p.loop_km !== null && p.loop_km !== undefined
            ? S.el("div", { class: "st-meta st-km" }, [t("card_km").replace("{km}", Number(p.loop_km).toFixed(1))])
            : null,
          amenities.length ? S.el("div", { class: "st-meta" }, [t("amenities") + ": " + amenities.join(cfg.lang === "zh" ? "、" : ", ")]) : null,
          p.position_accuracy !== "surveyed" ? S.el("div", { class: "st-note" }, [t("accuracy_" + p.position_accuracy)]) : null,
          S.el("div", { class: "st-links" }, links),
          reportBox(p.id, here),
        ])
      );
    });
    L.circleMarker([here[1], here[0]], { radius: 7, color: "#fff", weight: 2, fillColor: "#1a73e8", fillOpacity: 1 })
      .bindTooltip(t("you_are_here")).addTo(highlight);
    map.fitBounds(bounds, { padding: [40, 40], maxZoom: 15 });
  }

  /** "Report a problem" under a station: category, optional text, the rider's position. */
  function reportBox(stationId, here) {
    const options = Object.entries(cfg.reportCategories).map(([value, names]) =>
      S.el("option", { value: value }, [S.label(names, cfg.lang)])
    );
    const category = S.el("select", { name: "category", required: "required" }, options);
    const text = S.el("textarea", { name: "text", maxlength: "500", rows: "2" }, []);
    const send = S.el("button", { type: "submit" }, [t("report_send")]);
    const result = S.el("div", { class: "st-report-result", role: "status" }, []);
    const form = S.el("form", { class: "st-report-form" }, [
      S.el("label", {}, [t("report_category"), category]),
      S.el("label", {}, [t("report_text"), text]),
      send,
      result,
    ]);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      send.disabled = true;
      const body = { category: category.value, text: text.value.trim() || null, lon: here ? here[0] : null, lat: here ? here[1] : null, crs: cfg.crs };
      // One key per press of "send": however often it is sent, the server stores it once.
      const report = { key: outbox.newKey(), station: stationId, body: body };
      let response;
      try {
        response = await outbox.send(report);
      } catch (err) {
        response = null; // no network: kept, and sent when the signal returns
      }
      if (response === null) {
        try {
          await outbox.enqueue(report);
          result.textContent = t("report_queued");
          form.dataset.queued = report.key;
          requestSync();
          return;
        } catch (err) {
          result.textContent = t("report_failed") + t("network_error");
          send.disabled = false;
          return;
        }
      }
      try {
        const answer = await response.json();
        if (response.ok) {
          result.textContent = t("report_sent");
          form.dataset.sent = answer.id;
          return;
        }
        detailed(result, reportTrouble(response.status, answer.detail), answer.detail);
      } catch (err) {
        result.textContent = t("report_failed") + t("network_error");
      }
      send.disabled = false;
    });
    return S.el("details", { class: "st-report" }, [S.el("summary", {}, [t("report_problem")]), form]);
  }

  /** Why a report was refused, in the page's language, by the answer's status. */
  function reportTrouble(code, detail) {
    if (code === 429) {
      const n = /at most (\d+)/.exec(detail || "");
      return n ? t("report_rate_limited").replace("{n}", n[1]) : t("report_rate_limited_no_n");
    }
    if (code === 404) return t("report_not_found");
    if (code === 413) return t("report_too_large");
    if (code >= 400 && code < 500) return t("report_bad");
    return t("server_busy");
  }

  /** One line above the list when the nearest station is closed now (`nearer_closed`). */
  function closedNote(closed) {
    const note = $("closed-note");
    note.hidden = !closed;
    if (!closed) return (note.textContent = "");
    const name = cfg.lang === "en" && closed.name_en ? closed.name_en : closed.name;
    const key = closed.open_now === null ? "nearer_unknown" : closed.opens_at ? "nearer_closed" : "nearer_closed_no_time";
    note.textContent = t(key)
      .replace("{name}", name)
      .replace("{dist}", S.formatDistance(closed.distance_m, t))
      .replace("{when}", closed.opens_at ? openingTime(closed.opens_at) : "");
  }

  /** "周一 08:00" / "Mon 08:00" from the local ISO time the answer gives ("2026-11-30T08:00:00+08:00"). */
  function openingTime(iso) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(iso);
    if (!m) return iso;
    const day = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))).getUTCDay();
    return t("weekdays").split(",")[day] + " " + m[4] + ":" + m[5];
  }

  /** Queued reports: Background Sync where the browser has it; the page sends them too, on
   * load and when the signal returns (the idempotency key makes a double send harmless). */
  function requestSync() {
    if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
    navigator.serviceWorker.ready
      .then((registration) => registration.sync && registration.sync.register(outbox.SYNC_TAG))
      .catch(() => null);
  }
  const flushOutbox = () => outbox.flush().catch(() => 0);
  window.addEventListener("online", flushOutbox);
  flushOutbox();

  /** No results on screen: a failed search must not leave the previous one standing. */
  function clearResults() {
    last = null;
    closedNote(null);
    $("results").replaceChildren();
    $("results-title").hidden = true;
    highlight.clearLayers();
    document.body.dataset.results = "0";
  }

  /** Why a search failed, in the page's language (a swapped position, a bad one, or a failure
   * to try again), with the API's own English message only as a second, smaller line. */
  function explain(code, detail) {
    if (/did you swap/.test(detail || "")) return say(t("swapped"));
    if (code === 400) return detailed(status, t("bad_position"), detail);
    return detailed(status, t(code === 429 || code >= 500 ? "server_busy" : "query_failed"), detail);
  }

  /** The page's note when even the nearest station is far (the API's `note`). */
  function farNote(body) {
    if (!body.note) return "";
    const nearestM = Math.min(...body.features.map((f) => f.properties.distance_m));
    const text = t("far_away").replace("{km}", String(cfg.farAwayKm)).replace("{dist}", S.formatDistance(nearestM, t));
    return /did you swap/.test(body.note) ? text + " " + t("swapped") : text;
  }

  /** A position in the map's datum as WGS84 (GCJ-02 inverted as stations.coords does). */
  function toWgs84(x, y) {
    return O.toWgs84(x, y, cfg.crs, (lon, lat) => S.toMapCrs(lon, lat, "gcj02"));
  }

  /** The offline answer for a WGS84 position, as /api/nearest gives it; null without data. */
  function offlineAnswer(wlon, wlat, k) {
    if (!kept) return null;
    const toGcj = (x, y) => S.toMapCrs(x, y, "gcj02");
    return O.nearest(kept.prepared, wlon, wlat, { k: k || 3, openNow: true, toGcj: toGcj, toMap: toMap });
  }

  /** "离线数据，更新于 11月30日 14:05" (and a warning outside the kept region); "" online. */
  function showOffline(on, wlon, wlat) {
    const note = $("offline-note");
    note.hidden = !on;
    if (!on || !kept) return;
    const when = new Intl.DateTimeFormat(cfg.lang === "zh" ? "zh-CN" : "en-GB", {
      month: cfg.lang === "zh" ? "long" : "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).format(new Date(kept.savedAt));
    let text = t("offline_data").replace("{when}", when);
    if (!O.covers(kept.prepared, wlon, wlat)) text += " " + t("offline_outside");
    note.textContent = text;
  }

  /** The rider's km mark on the loop (from the kept loop, online or not), or "". */
  function loopMark(wlon, wlat) {
    const at = kept ? O.snap(kept.prepared, wlon, wlat) : null;
    return at && at.onLoop ? t("loop_here").replace("{km}", at.km.toFixed(1)) : "";
  }

  /** With no network: the answer from the kept snapshot. */
  async function nearestOffline(lon, lat) {
    await offlineReady;
    const [wlon, wlat] = toWgs84(lon, lat);
    const body = offlineAnswer(wlon, wlat);
    if (!body) {
      clearResults();
      say(t("offline_no_data"));
      return;
    }
    last = { body: body, here: [lon, lat] };
    render(body, [lon, lat]);
    showOffline(true, wlon, wlat);
    document.body.dataset.offline = "1";
    document.body.dataset.results = String(body.features.length);
  }

  /** Nearest open stations to a point given in the map's datum. */
  async function nearest(lon, lat) {
    say(t("searching"));
    const params = new URLSearchParams({ lon: lon.toFixed(7), lat: lat.toFixed(7), k: "3", crs: cfg.crs, open_now: "true" });
    let response;
    try {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), QUERY_TIMEOUT_MS);
      response = await fetch("/api/nearest?" + params.toString(), { signal: abort.signal });
      clearTimeout(timer);
    } catch (err) {
      await nearestOffline(lon, lat); // no signal (or one bar too weak): answer from the snapshot
      return;
    }
    try {
      const body = await response.json();
      if (!response.ok) {
        clearResults();
        explain(response.status, body.detail);
        return;
      }
      last = { body: body, here: [lon, lat] };
      render(body, [lon, lat]);
      showOffline(false);
      document.body.dataset.offline = "0";
      document.body.dataset.results = String(body.features.length);
    } catch (err) {
      clearResults();
      say(t("load_failed"));
    }
  }

  /* ---- one tap: the phone's position (WGS84) shifted to the map's datum ---- */
  $("find").addEventListener("click", () => {
    if (!navigator.geolocation || !window.isSecureContext) {
      say(t(window.isSecureContext ? "geo_denied" : "needs_https") + " " + t("geo_fallback"));
      $("coords").focus();
      return;
    }
    say(t("locating"));
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        const [x, y] = S.toMapCrs(pos.coords.longitude, pos.coords.latitude, cfg.crs);
        nearest(x, y);
      },
      (err) => {
        // err.message is the browser's own text (English whatever the page): never shown.
        const why = { 1: "geo_permission", 2: "geo_unavailable", 3: "geo_timeout" }[err.code] || "geo_denied";
        say(t(why) + (cfg.lang === "zh" ? "。" : ". ") + t("geo_fallback"));
        $("coords").focus();
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 }
    );
  });

  map.on("click", (e) => nearest(e.latlng.lng, e.latlng.lat));
  map.on("stations:located", (e) => nearest(e.lon, e.lat));

  /* ---- typed coordinates, in any datum: converted by the API when it differs from the map's */
  $("manual").addEventListener("submit", async (e) => {
    e.preventDefault();
    const parts = $("coords").value.split(/[\s,，]+/).filter(Boolean).map(Number);
    if (parts.length !== 2 || parts.some((v) => !Number.isFinite(v))) {
      clearResults();
      say(t("bad_coords"));
      return;
    }
    let [lon, lat] = parts;
    if (S.looksSwapped(lon, lat)) {
      clearResults();
      say(t("swapped"));
      return;
    }
    const from = $("crs").value;
    if (from !== cfg.crs) {
      const params = new URLSearchParams({ lon: String(lon), lat: String(lat), crs: from, to: cfg.crs });
      let response;
      try {
        response = await fetch("/api/convert?" + params.toString());
      } catch (err) {
        // no network: the same conversion in the browser (stations.coords' formulas)
        const [wx, wy] = O.toWgs84(lon, lat, from, (x, y) => S.toMapCrs(x, y, "gcj02"));
        nearest(...toMap(wx, wy));
        return;
      }
      const body = await response.json();
      if (!response.ok) {
        clearResults();
        explain(response.status, body.detail);
        return;
      }
      [lon, lat] = [body.lon, body.lat];
    }
    nearest(lon, lat);
  });

  /* ---- language switch: texts swap in place; the URL keeps the choice ---- */
  function applyLanguage() {
    document.documentElement.lang = cfg.lang === "zh" ? "zh-CN" : "en";
    document.title = t("title");
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    const url = new URL(window.location.href);
    url.searchParams.set("lang", cfg.lang);
    window.history.replaceState(null, "", url.toString());
    state.relabel();
    if (last) render(last.body, last.here);
    else if (document.body.dataset.station) showStation(document.body.dataset.station);
  }
  $("lang-switch").addEventListener("click", () => {
    cfg.lang = cfg.lang === "zh" ? "en" : "zh";
    applyLanguage();
  });
  /** /?station=<id> (a station poster's QR code): centre on it and show its card with the
   * report form open, so a rider at its door reports in one tap (no position is sent). */
  async function showStation(id) {
    try {
      const response = await fetch("/api/stations/" + encodeURIComponent(id) + "?crs=" + cfg.crs);
      if (!response.ok) throw new Error(String(response.status));
      const feature = await response.json();
      const box = reportBox(feature.properties.id, null);
      box.open = true;
      highlight.clearLayers();
      $("results").replaceChildren(S.el("li", { "data-station": feature.id }, [S.popupContent(feature.properties, cfg), box]));
      if (feature.geometry) {
        const [x, y] = feature.geometry.coordinates;
        L.marker([y, x], { icon: S.icon(cfg, feature.properties.kind, true, 1), zIndexOffset: 1000 }).addTo(highlight);
        map.setView([y, x], 16);
      }
      document.body.dataset.station = feature.id;
    } catch (err) {
      say(t("load_failed"));
    }
  }
  const asked = new URLSearchParams(window.location.search).get("station");
  if (asked) showStation(asked);
  window.riderPage = {
    map: map,
    state: state,
    nearest: nearest,
    // for tests and benchmarks: the offline engine on the kept snapshot (WGS84 in)
    offline: {
      ready: offlineReady,
      nearest: (lon, lat, k) => offlineAnswer(lon, lat, k),
      snap: (lon, lat) => (kept ? O.snap(kept.prepared, lon, lat) : null),
      version: () => (kept ? kept.prepared.snapshot.version : null),
    },
  };
})();
