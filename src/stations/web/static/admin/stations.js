/* stations.js: the office's stations section (/admin/stations).
 *
 * Every station on a map and in a list (closed ones too), searched by name, town, kind, status
 * and position accuracy, each with its count of open riders' reports. Tapping one opens its
 * record in a form; writes go through the API's own routes with If-Match (the ETag the form
 * was loaded with), so a colleague's change in between is shown field by field instead of
 * being overwritten. Data reaches the page only as text (textContent, input values).
 *
 * Positions are shown and written in the base map's datum (config.tiles.crs), so markers sit
 * on the tiles; the survey (navigator.geolocation, WGS84) is written with crs=wgs84. The
 * distance a dragged marker moved is computed here, by Vincenty's inverse formula on the WGS84
 * ellipsoid (sub-millimetre at these distances).
 */
(function () {
  "use strict";
  var A = window.StationsAdmin;
  var cfg = A.config, t = A.t, el = A.el;
  var li = cfg.lang === "zh" ? 0 : 1;
  var crs = (cfg.tiles && cfg.tiles.crs) || "wgs84";
  var GLYPH = { union_station: "工", warm_station: "暖", cold_drink_fridge: "冰", worker_service_point: "服" };
  var FIELDS = ["id", "name", "name_en", "kind", "status", "town", "address", "phone", "opening_hours",
    "amenities", "awards", "position", "position_accuracy", "accuracy_m", "surveyed_at", "surveyed_by",
    "source", "notes"];
  var TEXT_NULLABLE = ["name_en", "town", "address", "phone", "opening_hours", "notes"];

  var S = {
    stations: [],     // features in the map's datum
    counts: {},       // station id -> open reports
    markers: {},      // station id -> Leaflet marker
    base: null,       // the station as loaded into the form (null: a new one)
    etag: null,       // its ETag (If-Match of the next write)
    creating: false,
    survey: null,     // an accepted survey waiting for confirmation
  };

  function fmt(key, values) {
    return t(key).replace(/\{(\w+)\}/g, function (m, k) { return values[k] !== undefined ? values[k] : m; });
  }
  function $(id) { return document.getElementById(id); }
  function label(vocab, value) { var v = cfg[vocab][value]; return v ? v[li] : String(value); }
  function metres(d) {
    return d >= 1000 ? (d / 1000).toFixed(2) + " " + t("km") : Math.round(d) + " " + t("m");
  }

  // --- geodesy: Vincenty's inverse on WGS84 (metres) ----------------------------------------
  function distance(lon1, lat1, lon2, lat2) {
    var a = 6378137, f = 1 / 298.257223563, b = a * (1 - f), rad = Math.PI / 180;
    var L0 = (lon2 - lon1) * rad, U1 = Math.atan((1 - f) * Math.tan(lat1 * rad));
    var U2 = Math.atan((1 - f) * Math.tan(lat2 * rad));
    var sinU1 = Math.sin(U1), cosU1 = Math.cos(U1), sinU2 = Math.sin(U2), cosU2 = Math.cos(U2);
    var lambda = L0, prev, sinS, cosS, sigma, cos2a, cos2sm, i = 0;
    do {
      var sinL = Math.sin(lambda), cosL = Math.cos(lambda);
      sinS = Math.sqrt(Math.pow(cosU2 * sinL, 2) + Math.pow(cosU1 * sinU2 - sinU1 * cosU2 * cosL, 2));
      if (sinS === 0) return 0;
      cosS = sinU1 * sinU2 + cosU1 * cosU2 * cosL;
      sigma = Math.atan2(sinS, cosS);
      var sinA = cosU1 * cosU2 * sinL / sinS;
      cos2a = 1 - sinA * sinA;
      cos2sm = cos2a ? cosS - 2 * sinU1 * sinU2 / cos2a : 0;
      var C = f / 16 * cos2a * (4 + f * (4 - 3 * cos2a));
      prev = lambda;
      lambda = L0 + (1 - C) * f * sinA * (sigma + C * sinS * (cos2sm + C * cosS * (-1 + 2 * cos2sm * cos2sm)));
    } while (Math.abs(lambda - prev) > 1e-12 && ++i < 200);
    var u2 = cos2a * (a * a - b * b) / (b * b);
    var A1 = 1 + u2 / 16384 * (4096 + u2 * (-768 + u2 * (320 - 175 * u2)));
    var B1 = u2 / 1024 * (256 + u2 * (-128 + u2 * (74 - 47 * u2)));
    var dS = B1 * sinS * (cos2sm + B1 / 4 * (cosS * (-1 + 2 * cos2sm * cos2sm) -
      B1 / 6 * cos2sm * (-3 + 4 * sinS * sinS) * (-3 + 4 * cos2sm * cos2sm)));
    return b * A1 * (sigma - dS);
  }

  // --- the map and the list -----------------------------------------------------------------
  var map = L.map("st-map", { zoomControl: true }).setView([29.0, 107.2], 10);
  A.baseLayer(map);
  var pins = L.layerGroup().addTo(map);
  var draft = null; // the marker of a station being created

  function pinIcon(p, selected) {
    var closed = p.status === "closed";
    var box = el("span", { class: "st-pin st-pin-" + p.kind + (closed ? " st-pin-closed" : "") + (selected ? " st-pin-selected" : "") });
    box.appendChild(el("span", { class: "st-pin-glyph" }, closed ? "×" : GLYPH[p.kind] || "•"));
    var n = S.counts[p.id];
    if (n) box.appendChild(el("span", { class: "st-pin-count", title: fmt("open_reports", { n: n }) }, String(n)));
    return L.divIcon({ html: box, className: "st-pin-wrap", iconSize: [34, 34], iconAnchor: [17, 17] });
  }

  function matches(f) {
    var p = f.properties;
    var q = $("q").value.trim().toLowerCase();
    var text = [p.id, p.name, p.name_en, p.town, p.address].join(" ").toLowerCase();
    return (!q || text.indexOf(q) >= 0) &&
      (!$("q-kind").value || p.kind === $("q-kind").value) &&
      (!$("q-status").value || p.status === $("q-status").value) &&
      (!$("q-accuracy").value || p.position_accuracy === $("q-accuracy").value);
  }

  function render() {
    var list = $("st-list");
    list.textContent = "";
    pins.clearLayers();
    S.markers = {};
    var shown = S.stations.filter(matches);
    $("st-count").textContent = fmt("count", { n: shown.length });
    var selected = S.base && S.base.properties.id;
    shown.forEach(function (f) {
      var p = f.properties;
      var row = el("button", { type: "button", class: "st-row" + (p.status === "closed" ? " st-row-closed" : ""), "data-id": p.id });
      row.appendChild(el("span", { class: "st-row-name" }, p.name));
      var facts = [p.town, label("kinds", p.kind), label("statuses", p.status), label("accuracies", p.position_accuracy)];
      row.appendChild(el("span", { class: "st-row-facts" }, facts.filter(Boolean).join(" · ")));
      if (!f.geometry) row.appendChild(el("span", { class: "st-row-facts" }, t("no_position")));
      var n = S.counts[p.id];
      if (n) row.appendChild(el("span", { class: "st-badge", title: fmt("open_reports", { n: n }) }, String(n)));
      row.addEventListener("click", function () { openStation(p.id, true); });
      list.appendChild(el("li")).appendChild(row);
      if (f.geometry) {
        var c = f.geometry.coordinates;
        var m = L.marker([c[1], c[0]], { icon: pinIcon(p, p.id === selected), title: p.name, keyboard: true });
        m.on("click", function () { openStation(p.id, false); });
        m.addTo(pins);
        S.markers[p.id] = m;
      }
    });
    if (selected && S.markers[selected]) armDrag(S.markers[selected]);
  }

  function loadStations(offset, acc) {
    var url = "/api/stations?status=open&status=closed&status=planned&limit=10000&crs=" + crs + "&offset=" + offset;
    return A.api(url, { cache: "no-cache" }).then(function (r) {
      if (!r.ok) throw new Error(A.explain(r).detail);
      acc = acc.concat(r.data.features);
      if (acc.length < r.data.numberMatched && r.data.features.length) return loadStations(acc.length, acc);
      return acc;
    });
  }

  function loadCounts() {
    return A.api("/api/reports/counts", { cache: "no-cache" }).then(function (r) {
      S.counts = r.ok && r.data && r.data.counts ? r.data.counts : {};
    }, function () { S.counts = {}; });
  }

  function refresh() {
    return Promise.all([loadStations(0, []), loadCounts()]).then(function (out) {
      S.stations = out[0];
      render();
    }).catch(function (e) { A.status(t("error") + t("http_0"), true, e.message); });
  }

  $("q").addEventListener("input", render); // not "change": it fires on blur, mid-tap on a row
  ["q-kind", "q-status", "q-accuracy"].forEach(function (id) { $(id).addEventListener("change", render); });
  $("st-search").addEventListener("submit", function (e) { e.preventDefault(); render(); });

  // --- the form -------------------------------------------------------------------------------
  var form = $("st-form");
  function input(name) { return form.elements[name]; }

  function clearErrors() {
    FIELDS.concat(["form"]).forEach(function (name) { var e = $("e-" + name); if (e) e.textContent = ""; });
  }

  function fill(f) {
    var p = f.properties;
    ["id", "name", "name_en", "town", "address", "phone", "opening_hours", "source", "notes",
      "surveyed_at", "surveyed_by"].forEach(function (k) { input(k).value = p[k] == null ? "" : p[k]; });
    ["kind", "status", "position_accuracy"].forEach(function (k) { input(k).value = p[k]; });
    input("accuracy_m").value = p.accuracy_m == null ? "" : p.accuracy_m;
    input("awards").value = (p.awards || []).join("; ");
    form.querySelectorAll('input[name="amenities"]').forEach(function (box) {
      box.checked = (p.amenities || []).indexOf(box.value) >= 0;
    });
    setPosition(f.geometry ? f.geometry.coordinates : null);
    input("id").readOnly = !S.creating;
    $("st-close").hidden = S.creating || p.status === "closed";
    $("st-reopen").hidden = S.creating || p.status !== "closed";
    $("st-form-title").textContent = S.creating ? t("new_station_title") : p.name;
    links(S.creating ? null : p.id);
    $("st-moved").textContent = "";
    previewHours();
  }

  /* The station's reports in the inbox and its poster (hidden while creating: no id yet). */
  function links(id) {
    $("st-form-links").hidden = !id;
    if (!id) return;
    var lang = cfg.lang === "en" ? "&lang=en" : "", n = S.counts[id];
    $("st-reports-link").href = "/admin/reports?station=" + encodeURIComponent(id) + lang;
    $("st-reports-link").textContent = n ? fmt("station_reports_n", { n: n }) : t("station_reports");
    $("st-poster-link").href = "/admin/stations/" + encodeURIComponent(id) + "/poster" + (lang ? "?lang=en" : "");
  }

  function setPosition(c) {
    input("position").value = c ? Number(c[0]).toFixed(7) + ", " + Number(c[1]).toFixed(7) : "";
  }

  function readPosition() {
    var raw = input("position").value.trim();
    if (!raw) return null;
    var parts = raw.split(/[,，\s]+/).filter(Boolean).map(Number);
    return { type: "Point", coordinates: parts };
  }

  function textOrNull(name) {
    var v = input(name).value;
    return v.trim() === "" ? null : v;
  }

  function collect() {
    var props = {};
    ["id", "name", "kind", "status", "position_accuracy", "source"].forEach(function (k) { props[k] = input(k).value; });
    TEXT_NULLABLE.forEach(function (k) { props[k] = textOrNull(k); });
    props.amenities = Array.prototype.map.call(form.querySelectorAll('input[name="amenities"]:checked'), function (b) { return b.value; });
    props.awards = input("awards").value.split(/[;；]/).map(function (s) { return s.trim(); }).filter(Boolean);
    var acc = input("accuracy_m").value.trim();
    props.accuracy_m = acc === "" ? null : Number(acc);
    props.surveyed_at = textOrNull("surveyed_at");
    if (S.base && S.base.properties.surveyed_by) props.surveyed_by = S.base.properties.surveyed_by;
    return { type: "Feature", id: props.id, geometry: readPosition(), properties: props };
  }

  /* A refused write: each problem the API names ("properties.phone: ...", "geometry...") goes
   * next to its field, in the clerk's language with the server's words below it (whole: a
   * reason may hold a ";"); the rest above the buttons. Returns the summary (A.explain). */
  function showProblems(r) {
    clearErrors();
    var e = A.explain(r);
    var list = e.problems.length ? e.problems : [{ field: null, text: e.detail }];
    list.forEach(function (p) {
      var box = (p.field && $("e-" + p.field)) || $("e-form");
      var line = el("span", { class: "st-problem" }, p.field ? t("why_" + p.what) : e.text);
      line.appendChild(el("small", { class: "st-detail", lang: "en" }, p.text));
      box.appendChild(line);
    });
    var first = form.querySelector(".st-error:not(:empty)");
    if (first) first.scrollIntoView({ block: "center" });
    return e;
  }

  function getStation(id) {
    return A.api("/api/stations/" + encodeURIComponent(id) + "?crs=" + crs, { cache: "no-cache" });
  }

  function openStation(id, pan) {
    S.creating = false;
    if (draft) { map.removeLayer(draft); draft = null; }
    return getStation(id).then(function (r) {
      if (!r.ok) { var e = A.explain(r); A.status(t("error") + e.text, true, e.detail); return; }
      load(r.data, r.etag);
      render();
      $("st-form-card").hidden = false;
      if (pan && r.data.geometry) {
        var c = r.data.geometry.coordinates;
        map.setView([c[1], c[0]], Math.max(map.getZoom(), 14));
      }
      $("st-form-card").scrollIntoView({ block: "start" });
    });
  }

  function load(feature, etag) {
    S.base = feature;
    S.etag = etag;
    S.survey = null;
    $("st-conflict").hidden = true;
    $("st-survey-status").textContent = "";
    $("st-survey-confirm").hidden = true;
    clearErrors();
    fill(feature);
    if (cfg.station !== feature.properties.id) {
      history.replaceState(null, "", "/admin/stations?station=" + encodeURIComponent(feature.properties.id) + (cfg.lang === "en" ? "&lang=en" : ""));
      cfg.station = feature.properties.id;
    }
    resetHistory();
  }

  function armDrag(marker) {
    marker.dragging.enable();
    marker.on("dragend", function () {
      var ll = marker.getLatLng();
      setPosition([ll.lng, ll.lat]);
      showMoved();
    });
  }

  function showMoved() {
    var from = S.base && S.base.geometry && S.base.geometry.coordinates;
    var to = readPosition();
    if (!from || !to || to.coordinates.length < 2) { $("st-moved").textContent = ""; return; }
    var d = distance(from[0], from[1], to.coordinates[0], to.coordinates[1]);
    $("st-moved").textContent = fmt("moved", { d: metres(d) });
    $("st-moved").setAttribute("data-metres", d.toFixed(2));
  }
  input("position").addEventListener("change", showMoved);

  function afterWrite(r, doneText) {
    if (r.ok) {
      A.status(doneText || t("saved"));
      var id = r.data && r.data.properties ? r.data.properties.id : S.base.properties.id;
      return refresh().then(function () { return openStation(id, false); });
    }
    if (r.status === 412) return showConflict();
    if (r.status === 409 && r.data && typeof r.data.detail === "string") {
      r = Object.assign({}, r, { data: { detail: "properties.id: " + r.data.detail } }); // the id is taken
    }
    var e = showProblems(r);
    A.status(t("error") + e.text, true, e.detail);
  }

  function save(ifMatch, feature) {
    feature = feature || collect();
    A.status(t("saving"));
    if (S.creating) {
      return A.api("/api/stations?crs=" + crs, { method: "POST", json: feature }).then(function (r) {
        if (r.ok) { S.creating = false; if (draft) { map.removeLayer(draft); draft = null; } }
        return afterWrite(r);
      });
    }
    var id = S.base.properties.id;
    return A.api("/api/stations/" + encodeURIComponent(id) + "?crs=" + crs,
      { method: "PUT", json: feature, ifMatch: ifMatch || S.etag }).then(function (r) { return afterWrite(r); });
  }

  form.addEventListener("submit", function (e) { e.preventDefault(); save(); });

  $("st-close").addEventListener("click", function () {
    var id = S.base.properties.id;
    A.api("/api/stations/" + encodeURIComponent(id), { method: "DELETE", ifMatch: S.etag })
      .then(function (r) { return afterWrite(r, t("closed_done")); });
  });
  $("st-reopen").addEventListener("click", function () {
    var id = S.base.properties.id;
    A.api("/api/stations/" + encodeURIComponent(id), { method: "PATCH", json: { properties: { status: "open" } }, ifMatch: S.etag })
      .then(function (r) { return afterWrite(r, t("reopened_done")); });
  });
  $("st-cancel").addEventListener("click", function () {
    $("st-form-card").hidden = true;
    S.base = null;
    S.creating = false;
    if (draft) { map.removeLayer(draft); draft = null; }
    render();
  });

  // --- a colleague saved first: theirs and yours, field by field -------------------------------
  function shownValue(v) {
    if (v === null || v === undefined || v === "" || (Array.isArray(v) && !v.length)) return t("empty");
    return Array.isArray(v) ? v.join(", ") : String(v);
  }

  function comparable(f) {
    var out = Object.assign({}, f.properties);
    ["loop_km", "open_now", "navigation"].forEach(function (k) { delete out[k]; });
    out.position = f.geometry ? f.geometry.coordinates.slice(0, 2).map(function (x) { return Number(x).toFixed(7); }) : null;
    return out;
  }

  function same(a, b) { return JSON.stringify(a === undefined ? null : a) === JSON.stringify(b === undefined ? null : b); }

  /* Three ways: the station as this form loaded it (base), as the colleague saved it (theirs)
   * and this form (yours). A field either side changed is listed: changed by both, differently,
   * is a conflict; changed by one side only is kept by an overwrite (see merged). */
  function showConflict() {
    var mine = collect();
    return getStation(S.base.properties.id).then(function (r) {
      if (!r.ok) { var e = A.explain(r); A.status(t("error") + e.text, true, e.detail); return; }
      var base = comparable(S.base), theirs = comparable(r.data), yours = comparable(mine);
      var rows = $("st-conflict-rows");
      rows.textContent = "";
      Object.keys(Object.assign({}, base, theirs, yours)).forEach(function (k) {
        if (k === "surveyed_by") return;
        var they = !same(base[k], theirs[k]), you = !same(base[k], yours[k]);
        if (!they && !you || same(theirs[k], yours[k])) return;
        var who = they && you ? "both" : they ? "they" : "you";
        var tr = el("tr", { "data-field": k, "data-changed": who, class: "st-changed-" + who });
        var th = tr.appendChild(el("th", { scope: "row" }, t("f_" + k).replace(/\s*[（(].*$/, "")));
        th.appendChild(el("small", { class: "st-conflict-who" }, t("conflict_" + who)));
        tr.appendChild(el("td", { class: "st-base" }, shownValue(base[k])));
        tr.appendChild(el("td", { class: "st-theirs" }, shownValue(theirs[k])));
        tr.appendChild(el("td", { class: "st-yours" }, shownValue(yours[k])));
        rows.appendChild(tr);
      });
      S.theirs = { feature: r.data, etag: r.etag };
      $("st-conflict").hidden = false;
      $("st-conflict").scrollIntoView({ block: "start" });
      A.status(t("conflict_title"), true);
    });
  }

  /* What an overwrite writes: their station with the fields this form changed since it was
   * loaded, so what only they changed is kept. */
  function merged() {
    var mine = collect(), base = comparable(S.base), yours = comparable(mine), theirs = S.theirs.feature;
    var props = Object.assign({}, theirs.properties);
    ["loop_km", "open_now", "navigation"].forEach(function (k) { delete props[k]; });
    var out = { type: "Feature", id: props.id, geometry: theirs.geometry, properties: props };
    Object.keys(yours).forEach(function (k) {
      if (k === "surveyed_by" || same(base[k], yours[k])) return;
      if (k === "position") out.geometry = mine.geometry;
      else props[k] = mine.properties[k];
    });
    return out;
  }

  $("st-reload").addEventListener("click", function () {
    load(S.theirs.feature, S.theirs.etag);
    render();
  });
  $("st-overwrite").addEventListener("click", function () {
    $("st-conflict").hidden = true;
    save(S.theirs.etag, merged()); // still a checked write: against the version just shown
  });

  // --- creating by tapping the map ------------------------------------------------------------
  $("st-new").addEventListener("click", function () {
    S.creating = true;
    S.base = null;
    A.status(t("new_station_hint"));
    render();
  });
  map.on("click", function (e) {
    if (!S.creating) return;
    if (draft) map.removeLayer(draft);
    draft = L.marker(e.latlng, { draggable: true, icon: pinIcon({ kind: "union_station", status: "open" }, true) }).addTo(map);
    draft.on("dragend", function () { var ll = draft.getLatLng(); setPosition([ll.lng, ll.lat]); });
    var blank = { type: "Feature", geometry: { type: "Point", coordinates: [e.latlng.lng, e.latlng.lat] },
      properties: { id: "", name: "", kind: "union_station", status: "open", position_accuracy: "approximate",
        amenities: [], awards: [], source: "" } };
    S.base = null;
    S.etag = null;
    clearErrors();
    fill(blank);
    $("st-conflict").hidden = true;
    $("st-form-card").hidden = false;
    resetHistory();
    input("id").focus();
  });

  // --- survey on site ---------------------------------------------------------------------------
  /* Average the fixes weighted by 1/accuracy², leaving out fixes worse than outlierRatio × the
   * best; the result's accuracy is the best kept fix's (GPS errors are correlated over a few
   * seconds, so averaging does not make it better than that). */
  function average(fixes) {
    var best = Math.min.apply(null, fixes.map(function (f) { return f.acc; }));
    var kept = fixes.filter(function (f) { return f.acc <= best * cfg.survey.outlierRatio; });
    var w = 0, x = 0, y = 0;
    kept.forEach(function (f) { var k = 1 / (f.acc * f.acc); w += k; x += f.lon * k; y += f.lat * k; });
    return { lon: x / w, lat: y / w, acc: best, n: kept.length };
  }

  $("st-survey").addEventListener("click", function () {
    var line = $("st-survey-status");
    $("st-survey-confirm").hidden = true;
    S.survey = null;
    A.status(""); // what an earlier survey or save said no longer holds
    if (!window.isSecureContext || !navigator.geolocation) { line.textContent = t("survey_needs_https"); return; }
    var fixes = [], failed = false;
    line.textContent = fmt("survey_running", { a: "…", n: 0 });
    var watch = navigator.geolocation.watchPosition(function (pos) {
      fixes.push({ lon: pos.coords.longitude, lat: pos.coords.latitude, acc: Math.max(pos.coords.accuracy, 0.1) });
      line.textContent = fmt("survey_running", { a: Math.round(pos.coords.accuracy), n: fixes.length });
    }, function (err) {
      failed = true;
      navigator.geolocation.clearWatch(watch);
      line.textContent = fmt("survey_no_fix", { e: A.geoError(err) });
    }, { enableHighAccuracy: true, maximumAge: 0, timeout: cfg.survey.seconds * 4000 });
    setTimeout(function () {
      navigator.geolocation.clearWatch(watch);
      if (failed && !fixes.length) return; // the error is shown already
      if (!fixes.length) { line.textContent = fmt("survey_no_fix", { e: A.geoError({ code: 3 }) }); return; }
      var got = average(fixes);
      S.survey = got;
      if (got.acc > cfg.survey.confirmAboveM) {
        line.textContent = fmt("survey_too_rough", { a: Math.round(got.acc), max: cfg.survey.confirmAboveM });
        A.status(line.textContent, true);
        $("st-survey-confirm").hidden = got.acc > cfg.survey.maxAccuracyM;
        return;
      }
      line.textContent = fmt("survey_result", { a: Math.round(got.acc), n: got.n });
      saveSurvey(got);
    }, cfg.survey.seconds * 1000);
  });

  $("st-survey-confirm").addEventListener("click", function () {
    $("st-survey-confirm").hidden = true;
    if (S.survey) saveSurvey(S.survey);
  });

  /* The survey is saved at once, in WGS84 (what the phone measured); surveyed_by is set by the
   * server from the session. Other unsaved edits in the form stay in the form. */
  function saveSurvey(got) {
    if (S.creating || !S.base) { // a new station: the survey goes into the form, saved with it
      if (crs !== "wgs84") { $("st-survey-status").textContent = t("survey_save_first"); return; }
      setPosition([got.lon, got.lat]);
      if (draft) draft.setLatLng([got.lat, got.lon]);
      input("position_accuracy").value = "surveyed";
      input("accuracy_m").value = Math.round(got.acc * 10) / 10;
      input("surveyed_at").value = new Date().toISOString().replace(/\.\d+Z$/, "Z");
      return;
    }
    var id = S.base.properties.id;
    var body = {
      geometry: { type: "Point", coordinates: [Number(got.lon.toFixed(7)), Number(got.lat.toFixed(7))] },
      properties: { position_accuracy: "surveyed", accuracy_m: Math.round(got.acc * 10) / 10, surveyed_at: new Date().toISOString().replace(/\.\d+Z$/, "Z") },
    };
    A.api("/api/stations/" + encodeURIComponent(id) + "?crs=wgs84", { method: "PATCH", json: body, ifMatch: S.etag }).then(function (r) {
      if (r.status === 412) return showConflict();
      if (!r.ok) {
        var e = showProblems(r);
        $("st-survey-status").textContent = t("survey_not_saved");
        A.status(t("error") + e.text, true, e.detail);
        return;
      }
      return getStation(id).then(function (g) {
        S.base = g.data;
        S.etag = g.etag;
        var p = g.data.properties;
        setPosition(g.data.geometry.coordinates);
        input("position_accuracy").value = p.position_accuracy;
        input("accuracy_m").value = p.accuracy_m;
        input("surveyed_at").value = p.surveyed_at;
        input("surveyed_by").value = p.surveyed_by;
        $("st-moved").textContent = "";
        A.status(t("survey_saved"));
        $("st-survey-status").textContent = fmt("survey_result", { a: Math.round(got.acc), n: got.n }) + " · " + t("survey_saved");
        return refresh();
      });
    });
  }

  // --- opening hours preview (the server's parser) ---------------------------------------------
  /* The week shown is always the week of the value in the field: it is cleared as soon as the
   * value changes, an answer for an older value (answers may arrive out of order) is dropped,
   * and a refusal shows the whole reason instead of a week. The value is sent as typed: the
   * server strips it as a save does, so the preview and the save agree. */
  var hoursTimer = null, hoursAsked = 0;
  function previewHours() {
    clearTimeout(hoursTimer);
    var box = $("st-hours"), asked = ++hoursAsked, value = input("opening_hours").value;
    box.textContent = "";
    box.removeAttribute("data-for");
    $("e-opening_hours").textContent = "";
    if (!value.trim()) return;
    hoursTimer = setTimeout(function () {
      A.api("/api/hours/preview?opening_hours=" + encodeURIComponent(value)).then(function (r) {
        if (asked !== hoursAsked) return; // typed on since, or a later answer is due
        if (!r.ok) { A.showError($("e-opening_hours"), r); return; }
        showWeek(box, r.data.days);
        box.setAttribute("data-for", value);
      }, function () {
        if (asked === hoursAsked) $("e-opening_hours").textContent = t("http_0");
      });
    }, 300);
  }

  function showWeek(box, days) {
    var names = t("weekdays").split(",");
    box.appendChild(el("div", { class: "st-hint" }, t("hours_preview")));
    days.forEach(function (day) {
      var open = day.intervals.filter(function (i) { return i.state === "open"; });
      var unknown = day.intervals.some(function (i) { return i.state === "unknown"; });
      var text = open.length ? open.map(function (i) { return i.from + "–" + i.to; }).join(", ")
        : unknown ? t("hours_unknown") : t("hours_closed");
      var row = el("div", { class: "st-hours-day" + (open.length ? " st-hours-open" : "") });
      row.appendChild(el("b", {}, names[day.weekday] + " " + day.date.slice(5)));
      row.appendChild(el("span", {}, text));
      box.appendChild(row);
    });
  }
  input("opening_hours").addEventListener("input", previewHours);

  // --- history from the audit log ---------------------------------------------------------------
  /* A station (re)loaded into the form: its history closes, unless it is open on this same
   * station (reloaded after a write): then it is read again, so the write just made shows. */
  var historyOf = null;
  function resetHistory() {
    var box = $("st-history"), id = S.base && !S.creating ? S.base.properties.id : null;
    box.hidden = !id;
    if (box.open && id && id === historyOf) { loadHistory(); return; }
    historyOf = null;
    box.open = false;
    $("st-history-list").textContent = "";
  }

  $("st-history").addEventListener("toggle", function () {
    if ($("st-history").open && S.base && !S.creating) loadHistory();
  });

  function loadHistory() {
    var list = $("st-history-list"), id = S.base.properties.id;
    historyOf = id;
    A.api("/api/stations/" + encodeURIComponent(id) + "/history?limit=50", { cache: "no-store" }).then(function (r) {
      if (historyOf !== id || !$("st-history").open) return; // another station, or closed since
      list.textContent = "";
      if (!r.ok) { A.showError(list.appendChild(el("li", { class: "st-error" })), r); return; }
      if (!r.data.history.length) list.appendChild(el("li", { class: "st-hint" }, t("history_empty")));
      r.data.history.forEach(function (entry) {
        var item = el("li", { class: "st-history-entry" });
        var when = new Date(entry.at).toLocaleString(cfg.lang === "zh" ? "zh-CN" : "en-GB");
        item.appendChild(el("div", { class: "st-history-head" }, when + " · " + entry.actor + " · " + t("action_" + entry.action)));
        if (entry.changes.length) {
          var table = el("table", { class: "st-history-changes" });
          entry.changes.forEach(function (c) {
            var tr = el("tr", { "data-field": c.field });
            tr.appendChild(el("th", { scope: "row" }, t("f_" + c.field)));
            tr.appendChild(el("td", { class: "st-before", title: t("before") }, shownValue(c.before)));
            tr.appendChild(el("td", { class: "st-after", title: t("after") }, shownValue(c.after)));
            table.appendChild(tr);
          });
          item.appendChild(table);
        }
        list.appendChild(item);
      });
    });
  }

  // --- start ------------------------------------------------------------------------------------
  refresh().then(function () {
    var located = S.stations.filter(function (f) { return f.geometry; });
    if (located.length) {
      map.fitBounds(L.latLngBounds(located.map(function (f) { var c = f.geometry.coordinates; return [c[1], c[0]]; })), { padding: [20, 20] });
    }
    if (cfg.station) openStation(cfg.station, true);
  });
})();
