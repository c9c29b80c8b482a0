/* loop.js: the office's loop page. Record the loop while driving, or upload a GPX file; preview
 * what the new loop changes (POST /api/loop/preview), then accept (PUT /api/loop, If-Match) or
 * discard.
 *
 * Every fix kept is written to localStorage as it arrives (in chunks of CHUNK fixes, so a write
 * stays small however long the drive), so a reload, a crash or a lost signal loses nothing; a
 * page reloaded while recording goes on recording. Fixes worse than config.maxAccuracyM and
 * impossible jumps (faster than config.maxSpeedKmh from the last kept fix) are discarded. Data
 * from the server reaches the page only as text (StationsAdmin.el / textContent).
 */
(function () {
  "use strict";
  var A = window.StationsAdmin;
  var cfg = A.config;
  var t = A.t;
  var KEY = "stations.loop.v1";
  var CHUNK = 500;
  var EARTH_M = 6371008.8;
  var MIN_DT_S = 1; // fixes arriving faster than 1 Hz are judged as 1 s apart
  var RESET_AFTER = 5; // this many jumps in a row: the road really is there (after a tunnel)

  var $ = function (id) { return document.getElementById(id); };
  var state = { status: "idle", chunks: 0, skipped: 0, length: 0 };
  var fixes = [];
  var watchId = null;
  var jumps = 0;
  var wakeLock = null;
  var pending = null; // {body, type, version, recorded}

  // -- storage: meta under KEY, fixes under KEY.n (n = chunk) --------------------------------
  function save(meta) {
    try {
      if (meta) localStorage.setItem(KEY, JSON.stringify(state));
      var n = Math.max(0, Math.ceil(fixes.length / CHUNK) - 1);
      localStorage.setItem(KEY + "." + n, JSON.stringify(fixes.slice(n * CHUNK, (n + 1) * CHUNK)));
      if (n + 1 !== state.chunks) {
        state.chunks = n + 1;
        localStorage.setItem(KEY, JSON.stringify(state));
      }
    } catch (e) {
      A.status(String(e), true);
    }
  }

  function load() {
    try {
      var meta = JSON.parse(localStorage.getItem(KEY) || "null");
      if (!meta) return;
      state = meta;
      fixes = [];
      for (var n = 0; n < state.chunks; n++) {
        fixes = fixes.concat(JSON.parse(localStorage.getItem(KEY + "." + n) || "[]"));
      }
      state.length = 0;
      for (var i = 1; i < fixes.length; i++) state.length += metres(fixes[i - 1], fixes[i]);
    } catch (e) {
      A.status(String(e), true);
    }
  }

  function clearStored() {
    for (var n = 0; n < Math.max(state.chunks, 1); n++) localStorage.removeItem(KEY + "." + n);
    localStorage.removeItem(KEY);
    state = { status: "idle", chunks: 0, skipped: 0, length: 0 };
    fixes = [];
  }

  // -- geometry -------------------------------------------------------------------------------
  function metres(a, b) {
    var rad = Math.PI / 180;
    var dlat = (b[1] - a[1]) * rad, dlon = (b[0] - a[0]) * rad;
    var h = Math.sin(dlat / 2) * Math.sin(dlat / 2) +
      Math.cos(a[1] * rad) * Math.cos(b[1] * rad) * Math.sin(dlon / 2) * Math.sin(dlon / 2);
    return 2 * EARTH_M * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  function km(m) { return (m / 1000).toFixed(m < 10000 ? 2 : 1) + " " + t("km"); }

  // -- the map --------------------------------------------------------------------------------
  var map = null, trackLine = null, newLine = null;
  if (window.L && $("loop-map")) {
    map = L.map("loop-map", { zoomControl: true }).setView([29.03, 107.23], 10);
    A.baseLayer(map);
    trackLine = L.polyline([], { color: "#c5221f", weight: 4 }).addTo(map);
    A.api("/api/loop").then(function (r) {
      if (!r.ok || !r.data || !r.data.geometry) return;
      var old = L.geoJSON(r.data.geometry, { style: { color: "#5f6368", weight: 3, dashArray: "6 6" } }).addTo(map);
      if (!fixes.length) map.fitBounds(old.getBounds());
    });
  }

  function latlngs(list) { return list.map(function (f) { return [f[1], f[0]]; }); }

  // -- what the page shows ----------------------------------------------------------------------
  function closes() {
    if (fixes.length < 4) return false;
    return state.length >= cfg.minLoopM && metres(fixes[0], fixes[fixes.length - 1]) <= cfg.closeGapM;
  }

  function show() {
    var s = state.status;
    $("rec-length").textContent = km(state.length);
    $("rec-points").textContent = String(fixes.length);
    $("rec-gap").textContent = fixes.length ? km(metres(fixes[0], fixes[fixes.length - 1])) : "—";
    $("rec-state").textContent = t("state_" + s);
    $("rec-closes").hidden = !closes() || s === "idle";
    $("rec-skipped").hidden = !state.skipped;
    $("rec-skipped").textContent = t("skipped") + ": " + state.skipped;
    $("rec-start").hidden = s !== "idle";
    $("rec-pause").hidden = s !== "recording";
    $("rec-resume").hidden = s !== "paused" && s !== "finished";
    $("rec-finish").hidden = s === "idle" || s === "finished" || fixes.length < 4;
    $("rec-send").hidden = s !== "finished";
    $("rec-download").hidden = !fixes.length;
    $("rec-clear").hidden = s === "idle" && !fixes.length;
    $("rec-finish").className = closes() ? "st-primary" : "st-secondary";
    if (trackLine) trackLine.setLatLngs(latlngs(fixes));
  }

  // -- recording ----------------------------------------------------------------------------------
  function onFix(pos) {
    if (state.status !== "recording") return;
    var c = pos.coords;
    $("rec-accuracy").textContent = Math.round(c.accuracy) + " " + t("m");
    var fix = [+c.longitude.toFixed(7), +c.latitude.toFixed(7), pos.timestamp, Math.round(c.accuracy * 10) / 10];
    if (!(c.accuracy <= cfg.maxAccuracyM)) { return skip(); }
    var last = fixes[fixes.length - 1];
    if (last) {
      var d = metres(last, fix);
      if (d < 1) return; // standing still: nothing new
      var dt = Math.max(MIN_DT_S, (fix[2] - last[2]) / 1000);
      if (d / dt > cfg.maxSpeedKmh / 3.6 && ++jumps < RESET_AFTER) { return skip(); }
      state.length += d;
    }
    jumps = 0;
    if (geoFailed) { geoFailed = false; A.status(""); } // the signal is back
    fixes.push(fix);
    save(fixes.length === 1);
    show();
  }

  function skip() {
    state.skipped += 1;
    localStorage.setItem(KEY, JSON.stringify(state));
    show();
  }

  var geoFailed = false;
  function onError(err) {
    geoFailed = true;
    A.status(t("geo_error") + A.geoError(err), true, err && err.message);
  }

  function keepAwake() {
    if (!("wakeLock" in navigator) || wakeLock) return;
    navigator.wakeLock.request("screen").then(function (lock) {
      wakeLock = lock;
      $("rec-wake").hidden = false;
      lock.addEventListener("release", function () { wakeLock = null; $("rec-wake").hidden = true; });
    }).catch(function () { /* refused (battery saver, hidden tab): recording goes on */ });
  }

  function watch() {
    if (!navigator.geolocation) { A.status(t("no_geolocation"), true); return; }
    if (watchId === null) {
      watchId = navigator.geolocation.watchPosition(onFix, onError, { enableHighAccuracy: true, maximumAge: 0 });
    }
    keepAwake();
  }

  function unwatch() {
    if (watchId !== null) navigator.geolocation.clearWatch(watchId);
    watchId = null;
    if (wakeLock) wakeLock.release();
  }

  function setStatus(s) {
    state.status = s;
    localStorage.setItem(KEY, JSON.stringify(state));
    if (s === "recording") watch(); else unwatch();
    show();
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && state.status === "recording") keepAwake();
  });

  // -- GPX out ------------------------------------------------------------------------------------
  function gpx() {
    var pts = fixes.map(function (f) {
      return '<trkpt lat="' + f[1] + '" lon="' + f[0] + '"><time>' + new Date(f[2]).toISOString() +
        "</time><hdop>" + (f[3] / 5).toFixed(1) + "</hdop></trkpt>";
    });
    return '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="stations office" ' +
      'xmlns="http://www.topografix.com/GPX/1/1"><trk><name>loop</name><trkseg>' + pts.join("") +
      "</trkseg></trk></gpx>\n";
  }

  function download() {
    var blob = new Blob([gpx()], { type: "application/gpx+xml" });
    var link = A.el("a", { href: URL.createObjectURL(blob), download: "loop-" + new Date().toISOString().slice(0, 10) + ".gpx" });
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  }

  // -- preview, accept, discard --------------------------------------------------------------------
  function preview(body, type, recorded) {
    A.status(t("sending"));
    $("preview").hidden = false;
    $("preview-done").hidden = true;
    $("open-map").hidden = true;
    return A.api("/api/loop/preview", { method: "POST", body: body, headers: { "Content-Type": type } })
      .then(function (r) {
        A.status("");
        if (!r.ok) {
          $("preview-error").hidden = false;
          A.showError($("preview-error"), r, t("error"));
          $("preview-body").hidden = true;
          pending = null;
          return;
        }
        pending = { body: body, type: type, version: r.data.version, recorded: recorded };
        showPreview(r.data);
      });
  }

  function cell(text, numeric) { return A.el("td", numeric ? { className: "st-num" } : {}, text); }
  function mark(v) { return v === null || v === undefined ? "—" : v.toFixed(1); }

  function showPreview(p) {
    $("preview-error").hidden = true;
    $("preview-body").hidden = false;
    $("preview-old").textContent = p.old ? km(p.old.geometric_length_m) + " (" + p.old.vertices + " " + t("vertices") + ")" : "—";
    $("preview-new").textContent = km(p.new.geometric_length_m) + " (" + p.new.vertices + " " + t("vertices") + ", " +
      p.new.track_points + " " + t("track_points") + ")";
    $("preview-changed-label").textContent = t("changed_count").replace("{km}", p.flag_km.toFixed(1));
    $("preview-changed").textContent = String(p.changed); // the rows flagged below (s.change)
    var scaled = p.new.official_length_m && Math.abs(p.new.km_scale - 1) > 0.0005;
    $("preview-scale").hidden = !scaled;
    $("preview-scale").textContent = scaled ? t("scale_note")
      .replace("{official}", (p.new.official_length_m / 1000).toFixed(1).replace(/\.0$/, ""))
      .replace("{measured}", (p.new.geometric_length_m / 1000).toFixed(1))
      .replace("{factor}", p.new.km_scale.toFixed(3)) : "";
    var body = $("preview-table").tBodies[0];
    body.textContent = "";
    p.stations.forEach(function (s) {
      var row = A.el("tr", { "data-id": s.id, className: s.change ? "st-flagged" : "" });
      var name = A.el("td", {}, s.name);
      if (s.change) name.appendChild(A.el("span", { className: "st-flag" }, t("change_" + s.change)));
      row.appendChild(name);
      row.appendChild(cell(mark(s.old_km), true));
      row.appendChild(cell(mark(s.new_km), true));
      row.appendChild(cell(s.moved_km === null ? "—" : (s.moved_km > 0 ? "+" : "") + s.moved_km.toFixed(1), true));
      body.appendChild(row);
    });
    if (map) {
      if (newLine) newLine.remove();
      newLine = L.geoJSON(p.loop.geometry, { style: { color: "#1a73e8", weight: 4 } }).addTo(map);
      map.fitBounds(newLine.getBounds());
    }
    $("preview").scrollIntoView();
  }

  function accept() {
    if (!pending) return;
    A.status(t("saving"));
    A.api("/api/loop", { method: "PUT", body: pending.body, headers: { "Content-Type": pending.type }, ifMatch: pending.version })
      .then(function (r) {
        if (r.status === 412) {
          A.status(t("stale"), true);
          $("preview-body").hidden = true;
          return;
        }
        if (!r.ok) { var e = A.explain(r); A.status(t("error") + e.text, true, e.detail); return; }
        A.status(t("saved"));
        if (pending.recorded) { clearStored(); show(); }
        pending = null;
        $("preview-body").hidden = true;
        $("preview-done").hidden = false;
        $("preview-done").textContent = t("accepted");
        $("open-map").hidden = false;
      });
  }

  function discard() {
    pending = null;
    $("preview").hidden = true;
    if (newLine) { newLine.remove(); newLine = null; }
    A.status(t("discarded"));
  }

  // -- buttons ----------------------------------------------------------------------------------
  $("rec-start").addEventListener("click", function () {
    clearStored();
    $("preview").hidden = true;
    A.status("");
    setStatus("recording");
  });
  $("rec-pause").addEventListener("click", function () { setStatus("paused"); });
  $("rec-resume").addEventListener("click", function () { setStatus("recording"); });
  $("rec-finish").addEventListener("click", function () { setStatus("finished"); });
  $("rec-send").addEventListener("click", function () { preview(gpx(), "application/gpx+xml", true); });
  $("rec-download").addEventListener("click", download);
  $("rec-clear").addEventListener("click", function () {
    if (!window.confirm(t("confirm_discard"))) return;
    unwatch();
    clearStored();
    show();
  });
  $("gpx-file").addEventListener("change", function (ev) {
    var file = ev.target.files && ev.target.files[0];
    if (!file) return;
    file.text().then(function (text) { preview(text, "application/gpx+xml", false); });
  });
  $("preview-accept").addEventListener("click", accept);
  $("preview-discard").addEventListener("click", discard);

  load();
  if (state.status === "recording") watch(); // reloaded while driving: go on recording
  show();
  if (map && fixes.length) map.fitBounds(trackLine.getBounds());
  document.body.setAttribute("data-loop-ready", "");
})();
