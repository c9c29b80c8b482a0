/* admin.js: what every office page shares. Loaded before the page's own script.
 *
 * window.StationsAdmin = {
 *   config,            // the page's JSON from #admin-config (lang, texts, csrf, label, tiles, ...)
 *   t(key),            // a text in the page's language (the key itself if missing)
 *   el(tag, attrs, text), // a DOM element; text and attribute values are set as text, never HTML
 *   api(path, options) // fetch with the session cookie (+ CSRF on writes), JSON in and out
 *   status(message, isError, detail), // the page's live status line (detail: a second line)
 *   explain(r),        // an API refusal in the clerk's language: {text, detail, problems}
 *   showError(node, r, prefix), // explain(r) into node: the summary, the server's detail below
 *   geoError(err),     // a GeolocationPositionError in the clerk's language
 *   baseLayer(map),    // the configured tile layer added to a Leaflet map (when config.tiles)
 * }
 *
 * api() resolves to {ok, status, data, etag, response}; data is the parsed JSON body (or null).
 * options: {method, json, body, headers, ifMatch, cache} (cache: fetch's cache mode). A 401 means the session ended: the page
 * moves to the sign-in page, coming back here afterwards.
 */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("admin-config").textContent);
  var texts = config.texts || {};

  function has(key) { return Object.prototype.hasOwnProperty.call(texts, key); }
  function t(key) { return has(key) ? texts[key] : key; }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function signInAgain() {
    var here = location.pathname + location.search;
    location.assign("/admin?next=" + encodeURIComponent(here) + (config.lang === "en" ? "&lang=en" : ""));
  }

  function api(path, options) {
    options = options || {};
    var method = (options.method || "GET").toUpperCase();
    var headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    var body = options.body;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    }
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = config.csrf || "";
    if (options.ifMatch) headers["If-Match"] = options.ifMatch;
    return fetch(path, { method: method, headers: headers, body: body, credentials: "same-origin", cache: options.cache || "default" })
      .then(function (response) {
        if (response.status === 401) {
          signInAgain();
        }
        var type = response.headers.get("Content-Type") || "";
        var parse = /json/.test(type) ? response.json().catch(function () { return null; }) : Promise.resolve(null);
        return parse.then(function (data) {
          return {
            ok: response.ok,
            status: response.status,
            data: data,
            etag: response.headers.get("ETag"),
            response: response,
          };
        });
      });
  }

  /* The server's refusals in the clerk's language. An error body's detail is English: one or
   * more problems ("station (id 'x'): properties.source: String should have at least 1
   * character"), joined by "; " before each member. Each problem is summarised by its field's
   * label (the page's f_<field> text) and what is wrong (required, too long, invalid, ...); a
   * refusal naming no field by its status. The English detail stays, as a second line, for
   * whoever supports the clerk. */
  var NEXT_PROBLEM = /; (?=station \(id |properties\.|geometry|parameter ')/;
  function problems(detail) {
    if (!detail) return [];
    return String(detail).split(NEXT_PROBLEM).map(function (text) {
      var m = /properties\.(\w+)/.exec(text) || /^parameter '(\w+)/.exec(text) || /^(\w+): /.exec(text);
      var field = m ? m[1] : /geometry|coordinates/.test(text) ? "position" : null;
      if (!has("f_" + field)) field = null; // a member the page has no field for
      var what = /at least 1 character|Field required|missing/i.test(text) ? "required"
        : /at most \d+|too long|larger than|more than \d+/i.test(text) ? "too_long"
        : /already exists/i.test(text) ? "taken"
        : /greater than|less than|within \[|out of range/i.test(text) ? "out_of_range" : "invalid";
      return { field: field, what: what, text: text };
    });
  }
  function fieldLabel(field) {
    return t("f_" + field).replace(/\s*[（(].*$/, "");
  }
  function explain(r) {
    var detail = r && r.data && typeof r.data.detail === "string" ? r.data.detail : "";
    var code = r && r.status ? r.status : 0;
    var found = code === 400 || code === 409 ? problems(detail) : [];
    var named = found.filter(function (p) { return p.field; });
    var key = code >= 500 ? "http_5xx" : "http_" + code;
    var head = has(key) ? t(key) : t("http_other");
    var text = named.length ? named.map(function (p) { return fieldLabel(p.field) + t("is") + t("why_" + p.what); }).join(t("and"))
      : head;
    return { text: text, detail: detail || (code ? "HTTP " + code : ""), problems: found };
  }

  function withDetail(node, text, detail) {
    node.textContent = text || "";
    if (detail && detail !== text) node.appendChild(el("small", { className: "st-detail", lang: "en" }, detail));
  }
  function showError(node, r, prefix) {
    var e = explain(r);
    withDetail(node, (prefix || "") + e.text, e.detail);
    return e;
  }
  function geoError(err) {
    var key = "geo_" + (err && err.code);
    return has(key) ? t(key) : t("geo_other");
  }

  var statusLine = document.getElementById("admin-status");
  function status(message, isError, detail) {
    if (!statusLine) return;
    withDetail(statusLine, message, detail);
    statusLine.className = isError ? "st-error" : "";
  }

  function baseLayer(map) {
    var tiles = config.tiles;
    if (!tiles || !tiles.url) return null;
    var layer = L.tileLayer(tiles.url, {
      attribution: tiles.attribution,
      subdomains: tiles.subdomains || "abc",
      maxZoom: tiles.maxZoom || 18,
    }).addTo(map);
    if (tiles.overlay) L.tileLayer(tiles.overlay, { subdomains: tiles.subdomains || "abc" }).addTo(map);
    return layer;
  }

  /* The language switch keeps the page and every parameter of its address, read when tapped
   * (a page changes its address as the clerk works: the station open in the form, filters). */
  var switchLink = document.getElementById("lang-switch");
  function switchTarget() {
    var query = new URLSearchParams(location.search);
    if (config.lang === "en") query.delete("lang");
    else query.set("lang", "en");
    var rest = query.toString();
    return location.pathname + (rest ? "?" + rest : "") + location.hash;
  }
  if (switchLink) {
    switchLink.href = switchTarget();
    ["click", "focus", "mouseover", "touchstart"].forEach(function (name) {
      switchLink.addEventListener(name, function () { switchLink.href = switchTarget(); }, { passive: true });
    });
  }

  window.StationsAdmin = {
    config: config, t: t, el: el, api: api, status: status, baseLayer: baseLayer,
    explain: explain, showError: showError, geoError: geoError,
  };
})();
