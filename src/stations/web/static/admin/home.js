/* home.js: the office app's home page (/admin). Under each section, what is pending there.
 *
 * Three reads of the API, each shown on its own as it comes (a failed one says so, the others
 * still show): open riders' reports (/api/reports/counts), stations open or planned that are
 * not surveyed on site (/api/stations, every page), and whether the loop is a driven track
 * (/api/loop). Text only, through StationsAdmin.el / textContent.
 */
(function () {
  "use strict";
  var A = window.StationsAdmin;
  var t = A.t;

  function fmt(key, values) {
    return t(key).replace(/\{(\w+)\}/g, function (m, k) { return values[k] !== undefined ? values[k] : m; });
  }

  function show(key, text, pending) {
    var line = document.getElementById("pending-" + key);
    if (!line) return;
    line.textContent = text;
    line.className = "st-home-pending" + (pending ? " st-home-todo" : " st-home-done");
    line.setAttribute("data-pending", pending ? "yes" : "no");
  }

  function unknown(key) { return function () { show(key, t("home_pending_unknown"), false); }; }

  A.api("/api/reports/counts", { cache: "no-cache" }).then(function (r) {
    if (!r.ok || !r.data || !r.data.counts) return unknown("reports")();
    var n = Object.keys(r.data.counts).reduce(function (sum, id) { return sum + r.data.counts[id]; }, 0);
    show("reports", n ? fmt("home_pending_reports", { n: n }) : t("home_no_reports"), n > 0);
  }, unknown("reports"));

  function unsurveyed(offset, n) {
    var url = "/api/stations?status=open&status=planned&limit=10000&offset=" + offset;
    return A.api(url, { cache: "no-cache" }).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      r.data.features.forEach(function (f) {
        if (f.properties.position_accuracy !== "surveyed") n += 1;
      });
      var seen = offset + r.data.features.length;
      return seen < r.data.numberMatched && r.data.features.length ? unsurveyed(seen, n) : n;
    });
  }
  unsurveyed(0, 0).then(function (n) {
    show("stations", n ? fmt("home_pending_survey", { n: n }) : t("home_all_surveyed"), n > 0);
  }, unknown("stations"));

  A.api("/api/loop", { cache: "no-cache" }).then(function (r) {
    if (!r.ok || !r.data) return unknown("loop")();
    var p = r.data.properties || {};
    if (p.accuracy === "gps_track") {
      var km = (Number(p.geometric_length_m) / 1000).toFixed(1);
      show("loop", fmt("home_loop_driven", { km: km }), false);
    } else {
      show("loop", t("home_loop_schematic"), true);
    }
  }, unknown("loop"));
})();
