/* reports.js: the office's inbox of riders' reports.
 *
 * Everything goes through the API's own routes: GET /api/reports (status, station, category,
 * limit, offset), GET /api/reports/counts and POST /api/reports/{id}/resolve, so the office
 * sees the same answers, validation and "first resolution kept" rule as any script. Every
 * value from data (report texts, station names, notes) reaches the page as text only.
 */
(function () {
  "use strict";
  var A = window.StationsAdmin;
  var t = A.t, el = A.el, cfg = A.config;
  var PAGE = cfg.pageSize || 20;
  var filters = cfg.filters || {};
  var view = {
    station: filters.station || "",
    category: filters.category || "",
    status: filters.status || "open",
    offset: 0,
  };
  var names = {}; // station id -> promise of its properties (or null)
  var $ = function (id) { return document.getElementById(id); };
  var langSuffix = cfg.lang === "en" ? "lang=en" : "";

  function label(entry) {
    return entry ? entry[cfg.lang] || entry.zh : "";
  }

  function format(text, values) {
    return String(text).replace(/\{(\w+)\}/g, function (_, key) { return String(values[key]); });
  }

  function when(iso) {
    if (!iso) return "";
    var date = new Date(iso);
    if (isNaN(date.getTime())) return String(iso);
    return date.toLocaleString(cfg.lang === "en" ? "en-GB" : "zh-CN", {
      timeZone: cfg.timezone || "Asia/Shanghai",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    });
  }

  function link(path, params) {
    var query = params ? [params] : [];
    if (langSuffix) query.push(langSuffix);
    return path + (query.length ? "?" + query.join("&") : "");
  }

  /** A station's properties, fetched once (the public item route; null when it is gone). */
  function station(id) {
    if (!names[id]) {
      names[id] = A.api("/api/stations/" + encodeURIComponent(id)).then(function (answer) {
        return answer.ok && answer.data ? answer.data.properties : null;
      }).catch(function () { return null; });
    }
    return names[id];
  }

  /** Put a station's name into ``node`` once it is known (its id until then). */
  function nameInto(node, id, suffix) {
    node.textContent = id + (suffix || "");
    station(id).then(function (p) {
      if (p && p.name) node.textContent = p.name + (suffix || "");
    });
  }

  /* ---- the URL keeps the filters, so a reload or a shared link opens the same view ---- */
  function remember() {
    var params = new URLSearchParams();
    if (view.station) params.set("station", view.station);
    if (view.category) params.set("category", view.category);
    if (view.status !== "open") params.set("status", view.status);
    if (cfg.lang === "en") params.set("lang", "en");
    var query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
  }

  /* ---- open reports per station: tap one to see only its reports ---- */
  function loadCounts() {
    return A.api("/api/reports/counts").then(function (answer) {
      var list = $("report-counts");
      if (!answer.ok) {
        list.replaceChildren();
        A.showError(list.appendChild(el("li", { className: "st-error" })), answer, t("load_failed"));
        return;
      }
      var counts = answer.data.counts || {};
      var ids = Object.keys(counts).sort(function (a, b) { return counts[b] - counts[a] || (a < b ? -1 : 1); });
      list.replaceChildren();
      if (!ids.length) list.append(el("li", { className: "st-hint", id: "none-open" }, t("none_open")));
      ids.slice(0, 200).forEach(function (id) {
        var button = el("button", { type: "button", "data-station": id, "aria-pressed": String(view.station === id) });
        var name = el("span", {});
        nameInto(name, id);
        button.append(name, el("span", { className: "st-count" }, String(counts[id])));
        button.addEventListener("click", function () {
          choose("station", view.station === id ? "" : id);
        });
        var entry = el("li", {});
        entry.append(button);
        list.append(entry);
      });
      fillStationFilter(ids);
    });
  }

  function fillStationFilter(ids) {
    var select = $("filter-station");
    var wanted = ids.slice(0, 200);
    if (view.station && wanted.indexOf(view.station) < 0) wanted.unshift(view.station);
    var first = select.options[0];
    select.replaceChildren(first);
    wanted.forEach(function (id) {
      var option = el("option", { value: id, selected: id === view.station });
      nameInto(option, id);
      select.append(option);
    });
    select.value = view.station;
  }


  /* ---- the list, a page at a time (one more asked for, to know whether a next page exists) ---- */
  function loadList() {
    var params = new URLSearchParams({ limit: String(PAGE + 1), offset: String(view.offset) });
    if (view.status !== "all") params.set("status", view.status);
    if (view.station) params.set("station", view.station);
    if (view.category) params.set("category", view.category);
    var list = $("report-list");
    list.setAttribute("aria-busy", "true");
    return A.api("/api/reports?" + params.toString()).then(function (answer) {
      list.removeAttribute("aria-busy");
      if (!answer.ok) {
        list.replaceChildren();
        A.showError(list.appendChild(el("li", { className: "st-error" })), answer, t("load_failed"));
        return;
      }
      var rows = answer.data.reports || [];
      list.replaceChildren();
      if (!rows.length) list.append(el("li", { className: "st-hint", id: "no-reports" }, t("no_reports")));
      rows.slice(0, PAGE).forEach(function (r) { list.append(item(r)); });
      $("page-prev").disabled = view.offset === 0;
      $("page-next").disabled = rows.length <= PAGE;
      $("page-number").textContent = format(t("page_n"), { n: view.offset / PAGE + 1 });
      document.body.dataset.reports = String(Math.min(rows.length, PAGE));
    });
  }

  function item(r) {
    var resolved = r.status === "resolved";
    var node = el("li", { className: "st-report-item" + (resolved ? " st-resolved" : ""), "data-report": r.id, "data-status": r.status });
    var title = el("h2", { className: "st-report-station" });
    nameInto(title, r.station_id);
    node.append(
      title,
      el("div", { className: "st-report-meta" }, format(t("report_n"), { id: r.id }) + " · " + t("reported_at") + " " + when(r.created_at)),
      el("span", { className: "st-report-cat", "data-category": r.category }, label(cfg.categories[r.category]) || r.category),
      el("p", { className: "st-report-text" + (r.text ? "" : " st-hint") }, r.text || t("no_text"))
    );
    if (r.lon !== null && r.lon !== undefined) {
      node.append(el("div", { className: "st-report-meta" }, t("rider_position") + ": " + Number(r.lon).toFixed(5) + ", " + Number(r.lat).toFixed(5)));
    }
    var links = el("div", { className: "st-report-links" });
    links.append(
      el("a", { href: link("/admin/stations", "station=" + encodeURIComponent(r.station_id)), className: "st-open-station" }, t("open_station")),
      el("a", { href: link("/admin/stations/" + encodeURIComponent(r.station_id) + "/poster"), className: "st-open-poster" }, t("open_poster"))
    );
    node.append(links);
    if (resolved) {
      node.append(el("div", { className: "st-report-meta st-resolution" },
        t("resolved_by") + ": " + (r.resolved_by || "") + " · " + t("resolved_at") + " " + when(r.resolved_at)));
      if (r.resolution) node.append(el("p", { className: "st-report-text st-resolution-note" }, r.resolution));
    } else {
      node.append(resolveForm(r));
    }
    return node;
  }

  /** Resolve with a note; the API's message (too long, already resolved by whom) shows under it. */
  function resolveForm(r) {
    var id = "note-" + r.id;
    var note = el("textarea", { id: id, name: "note", rows: "2", placeholder: t("resolve_hint") });
    var error = el("p", { className: "st-error st-field-error", role: "alert" });
    var send = el("button", { type: "submit", className: "st-primary" }, t("resolve_send"));
    var form = el("form", { className: "st-resolve-form st-field" });
    form.append(el("label", { for: id }, t("resolve_note")), note, error, send);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send.disabled = true;
      error.textContent = "";
      A.status(t("saving"));
      var text = note.value.trim();
      A.api("/api/reports/" + encodeURIComponent(r.id) + "/resolve", { method: "POST", json: { note: text || null } })
        .then(function (answer) {
          if (answer.ok) {
            A.status(format(t("resolved_ok"), { id: r.id }));
            return refresh();
          }
          send.disabled = false;
          A.status("");
          var e = A.showError(error, answer);
          var who = answer.status === 409 && /resolved by (.+) at (\S+);/.exec(e.detail);
          if (who) { // a colleague resolved it meanwhile: who and when, in the clerk's language
            error.firstChild.textContent = format(t("resolved_meanwhile"), { who: who[1], at: new Date(who[2]).toLocaleString(A.config.lang === "zh" ? "zh-CN" : "en-GB") });
          }
          if (answer.status === 409) send.disabled = true; // resolved meanwhile: nothing left to do
        })
        .catch(function () {
          send.disabled = false;
          A.status(t("error") + t("load_failed"), true);
        });
    });
    return form;
  }

  function refresh() {
    return Promise.all([loadList(), loadCounts()]);
  }

  function choose(name, value) {
    view[name] = value;
    view.offset = 0;
    if (name === "station") $("filter-station").value = value;
    remember();
    refresh();
  }

  $("filter-station").addEventListener("change", function (e) { choose("station", e.target.value); });
  $("filter-category").addEventListener("change", function (e) { choose("category", e.target.value); });
  $("filter-status").addEventListener("change", function (e) { choose("status", e.target.value); });
  $("report-filters").addEventListener("submit", function (e) { e.preventDefault(); refresh(); });
  $("page-prev").addEventListener("click", function () {
    view.offset = Math.max(0, view.offset - PAGE);
    loadList();
  });
  $("page-next").addEventListener("click", function () {
    view.offset += PAGE;
    loadList();
  });
  refresh();
})();
