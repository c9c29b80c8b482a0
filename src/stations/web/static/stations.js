/*
 * stations.js: station markers, popups, legend and map controls shared by every stations page
 * (the standalone map file, /map, /embed and the rider page).
 *
 * Every text that comes from data is put into the page as a DOM text node or attribute, never as
 * HTML, so a station named with markup (say "<b>x</b>") shows as those characters.
 */
(function (global) {
  "use strict";

  /** Build an element; children that are strings become text nodes (never parsed as HTML). */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, String(value));
    }
    for (const child of children || []) {
      if (child !== null && child !== undefined && child !== "") node.append(child);
    }
    return node;
  }

  /** Only links that open a web page or dial a phone: nothing else reaches an href. */
  function safeUrl(url) {
    return typeof url === "string" && /^(https?:|tel:)/i.test(url) ? url : null;
  }

  function translator(cfg) {
    return function (key) {
      const table = cfg.i18n[cfg.lang] || {};
      return key in table ? table[key] : key;
    };
  }

  function label(entry, lang) {
    return entry ? entry[lang] || entry.zh || "" : "";
  }

  /* ---- GCJ-02: phones report WGS84; Amap tiles are GCJ-02 (same formula as stations.coords) */
  const GCJ_A = 6378245.0;
  const GCJ_EE = 0.00669342162296594323;
  const CHINA = [72.004, 0.8293, 137.8347, 55.8271];

  function gcjOffset(lon, lat) {
    const x = lon - 105.0;
    const y = lat - 35.0;
    const pi = Math.PI;
    const common = ((20 * Math.sin(6 * x * pi) + 20 * Math.sin(2 * x * pi)) * 2) / 3;
    let dlat = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) +
      common + ((20 * Math.sin(y * pi) + 40 * Math.sin((y / 3) * pi)) * 2) / 3 +
      ((160 * Math.sin((y / 12) * pi) + 320 * Math.sin((y * pi) / 30)) * 2) / 3;
    let dlon = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) +
      common + ((20 * Math.sin(x * pi) + 40 * Math.sin((x / 3) * pi)) * 2) / 3 +
      ((150 * Math.sin((x / 12) * pi) + 300 * Math.sin((x / 30) * pi)) * 2) / 3;
    const rad = (lat / 180) * pi;
    const magic = 1 - GCJ_EE * Math.sin(rad) ** 2;
    const sqrtMagic = Math.sqrt(magic);
    dlat = (dlat * 180) / (((GCJ_A * (1 - GCJ_EE)) / (magic * sqrtMagic)) * pi);
    dlon = (dlon * 180) / ((GCJ_A / sqrtMagic) * Math.cos(rad) * pi);
    return [dlon, dlat];
  }

  function inChina(lon, lat) {
    return lon >= CHINA[0] && lon <= CHINA[2] && lat >= CHINA[1] && lat <= CHINA[3];
  }

  /** Typed latitude first? (lat, lon) lies in China and (lon, lat) does not (as the API asks). */
  function looksSwapped(lon, lat) {
    return inChina(lat, lon) && !inChina(lon, lat);
  }

  /** A WGS84 position (e.g. from the phone's GPS) in the map's datum. */
  function toMapCrs(lon, lat, crs) {
    if (crs !== "gcj02" || !inChina(lon, lat)) return [lon, lat];
    const [dx, dy] = gcjOffset(lon, lat);
    return [lon + dx, lat + dy];
  }

  /* ---- icons: an inline SVG pin per kind (no icon font, nothing fetched) ---- */
  function pinSvg(color, glyph, highlighted) {
    const stroke = highlighted ? "#111" : "#fff";
    const width = highlighted ? 3 : 1.5;
    return (
      '<svg xmlns="http://www.w3.org/2000/svg" width="30" height="40" viewBox="0 0 30 40" aria-hidden="true">' +
      '<path d="M15 39C15 39 2 23 2 14a13 13 0 0 1 26 0c0 9-13 25-13 25z" fill="' + color +
      '" stroke="' + stroke + '" stroke-width="' + width + '"/>' +
      '<text x="15" y="19" text-anchor="middle" font-size="13" font-weight="700" fill="#fff">' +
      glyph + "</text></svg>"
    );
  }

  function kindStyle(cfg, kind) {
    return cfg.kinds[kind] || { color: "#555", glyph: "?", zh: kind, en: kind };
  }

  function icon(cfg, kind, highlighted, rank, reported) {
    const style = kindStyle(cfg, kind);
    // color and glyph come from our own configuration (checked in Python), not from data.
    let html = pinSvg(style.color, style.glyph, highlighted);
    if (rank) html += '<span class="st-rank">' + Number(rank) + "</span>";
    return L.divIcon({
      className: "st-marker st-kind-" + kind + (highlighted ? " st-highlight" : "") + (reported ? " st-reported" : ""),
      html: html,
      iconSize: [30, 40],
      iconAnchor: [15, 39],
      popupAnchor: [0, -34],
      tooltipAnchor: [12, -24],
    });
  }

  /* ---- text helpers ---- */
  function formatDistance(m, t) {
    if (m === null || m === undefined) return "";
    return m < 1000 ? Math.round(m) + " " + t("unit_m") : (m / 1000).toFixed(1) + " " + t("unit_km");
  }

  function compass(bearing, t) {
    if (bearing === null || bearing === undefined) return "";
    const names = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];
    return t("dir_" + names[Math.round((((bearing % 360) + 360) % 360) / 45) % 8]);
  }

  function openText(value, t) {
    if (value === true) return t("open_now");
    if (value === false) return t("closed_now");
    return t("hours_unknown");
  }

  /* ---- the popup: every value from data goes in as text ---- */
  function popupContent(p, cfg) {
    const t = translator(cfg);
    const lang = cfg.lang;
    const rows = [];
    const row = (name, value, cls) => {
      if (value === null || value === undefined || value === "") return;
      rows.push(el("div", { class: "st-row " + (cls || "") }, [el("b", {}, [t(name) + ": "]), value]));
    };
    row("kind", label(kindStyle(cfg, p.kind), lang));
    if (p.status && p.status !== "open") row("status", t("status_" + p.status), "st-warn");
    if (p.open_reports) row("reports", t("open_reports").replace("{n}", String(Number(p.open_reports))), "st-warn");
    row("address", p.address || p.town);
    const hours = p.opening_hours || t("hours_not_surveyed");
    const open = openText(p.open_now, t) + (cfg.asOf ? " (" + t("as_of") + " " + cfg.asOf + ")" : "");
    row("hours", hours + " · " + open, p.open_now === false ? "st-warn" : "");
    const amenities = (p.amenities || []).map((a) => label(cfg.amenities[a], lang) || a);
    row("amenities", amenities.length ? amenities.join(lang === "zh" ? "、" : ", ") : t("not_surveyed"));
    if (p.awards && p.awards.length) row("awards", p.awards.join(lang === "zh" ? "；" : "; "));
    if (p.phone) {
      const tel = safeUrl("tel:" + String(p.phone).replace(/[^0-9+]/g, ""));
      row("phone", el("a", { href: tel }, [p.phone]));
    }
    if (p.loop_km !== null && p.loop_km !== undefined) row("loop_km", "km " + Number(p.loop_km).toFixed(1));
    if (p.position_accuracy && p.position_accuracy !== "surveyed") {
      row("position", t("accuracy_" + p.position_accuracy), "st-note");
    }
    const nav = p.navigation || {};
    const links = [];
    for (const [key, name] of [["amap_ride", "nav_amap"], ["baidu_ride", "nav_baidu"]]) {
      const href = safeUrl(nav[key]);
      if (href) links.push(el("a", { href: href, target: "_blank", rel: "noopener noreferrer", class: "st-nav" }, [t(name)]));
    }
    return el("div", { class: "st-popup", "data-station": p.id }, [
      el("h3", { class: "st-name", lang: "zh" }, [p.name]),
      p.name_en ? el("div", { class: "st-name-en", lang: "en" }, [p.name_en]) : null,
      ...rows,
      links.length ? el("div", { class: "st-links" }, links) : null,
    ]);
  }

  function latLng(feature) {
    const c = feature.geometry.coordinates;
    return L.latLng(c[1], c[0]);
  }

  /** Popup options that keep a popup clear of the map's left-hand buttons (zoom, full screen,
   * locate) and narrow enough to fit beside them on a phone. */
  function popupOptions(map) {
    const left = 60; // the buttons' column: 10 px margin, 34 px wide, and a gap
    const width = map ? map.getSize().x : 1000;
    return {
      maxWidth: Math.max(180, Math.min(300, width - left - 12 - 40)),
      minWidth: Math.min(200, Math.max(160, width - left - 12 - 40)),
      autoPanPaddingTopLeft: L.point(left, 12),
      autoPanPaddingBottomRight: L.point(12, 12),
    };
  }

  function stationMarker(feature, cfg, map) {
    const p = feature.properties;
    const marker = L.marker(latLng(feature), {
      icon: icon(cfg, p.kind, false, 0, p.open_reports > 0),
      title: p.name + (p.name_en ? " / " + p.name_en : ""),
      alt: p.name,
      riseOnHover: true,
    });
    marker.bindPopup(() => popupContent(p, cfg), popupOptions(map));
    marker.feature = feature;
    return marker;
  }

  function clusterMarker(feature, map) {
    const n = feature.properties.count;
    const size = n < 100 ? "small" : n < 10000 ? "medium" : "large";
    const marker = L.marker(latLng(feature), {
      icon: L.divIcon({
        className: "marker-cluster st-server-cluster marker-cluster-" + size,
        html: "<div><span>" + Number(n) + "</span></div>",
        iconSize: [40, 40],
      }),
      title: String(n),
    });
    marker.on("click", () => map.setView(marker.getLatLng(), Math.min(map.getZoom() + 2, map.getMaxZoom())));
    return marker;
  }

  /* ---- controls ---- */
  function notice(map) {
    const box = el("div", { class: "st-notice", role: "status", "aria-live": "polite" }, []);
    const control = L.control({ position: "topright" });
    control.onAdd = () => box;
    control.addTo(map);
    return (text, detail) => {
      box.replaceChildren(text || "", detail ? el("span", { class: "st-detail", lang: "en" }, [detail]) : "");
      box.style.display = text ? "block" : "none";
    };
  }

  const ICON_FULLSCREEN =
    '<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true"><path d="M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5" fill="none" stroke="#333" stroke-width="2"/></svg>';
  const ICON_LOCATE =
    '<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true"><circle cx="8" cy="8" r="5" fill="none" stroke="#333" stroke-width="2"/><circle cx="8" cy="8" r="2" fill="#333"/><path d="M8 0v3M8 13v3M0 8h3M13 8h3" stroke="#333" stroke-width="2"/></svg>';

  const ICON_SUGGESTED =
    '<svg viewBox="0 0 20 20" width="18" height="18" aria-hidden="true"><circle cx="10" cy="10" r="7" fill="#ce93d8" stroke="#4a148c" stroke-width="3"/></svg>';

  /** A one-button Leaflet control; ``svg`` is one of the fixed icons above. */
  function button(map, position, svg, title, onClick, key) {
    const control = L.control({ position: position });
    control.onAdd = () => {
      const bar = el("div", { class: "leaflet-bar st-button" }, []);
      const a = el("a", { href: "#", role: "button", title: title, "aria-label": title, "data-i18n-title": key }, []);
      a.innerHTML = svg;
      L.DomEvent.disableClickPropagation(bar);
      L.DomEvent.on(a, "click", (e) => {
        L.DomEvent.preventDefault(e);
        onClick(a);
      });
      bar.append(a);
      return bar;
    };
    control.addTo(map);
    return control;
  }

  function fullscreenControl(map, cfg) {
    const t = translator(cfg);
    const box = map.getContainer();
    button(map, "topleft", ICON_FULLSCREEN, t("fullscreen"), () => {
      if (document.fullscreenElement) document.exitFullscreen();
      else if (box.requestFullscreen) box.requestFullscreen().catch(() => box.classList.toggle("st-pseudo-fullscreen"));
      else box.classList.toggle("st-pseudo-fullscreen"); // iPhone Safari: no element fullscreen
      setTimeout(() => map.invalidateSize(), 200);
    }, "fullscreen");
  }

  function locateControl(map, cfg, say) {
    const t = translator(cfg);
    const layer = L.layerGroup().addTo(map);
    button(map, "topleft", ICON_LOCATE, t("locate"), () => {
      say(t("locating"));
      map.locate({ setView: false, enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
    }, "locate");
    map.on("locationfound", (e) => {
      say("");
      const [x, y] = toMapCrs(e.latlng.lng, e.latlng.lat, cfg.crs);
      const here = L.latLng(y, x);
      layer.clearLayers();
      L.circle(here, { radius: e.accuracy, weight: 1, color: "#1a73e8", fillOpacity: 0.1 }).addTo(layer);
      L.circleMarker(here, { radius: 7, color: "#fff", weight: 2, fillColor: "#1a73e8", fillOpacity: 1 })
        .bindTooltip(t("you_are_here")).addTo(layer);
      map.setView(here, Math.max(map.getZoom(), 14));
      map.fire("stations:located", { lon: x, lat: y });
    });
    // e.message is the browser's own English text: the page says it in its language instead.
    const why = { 1: "geo_permission", 2: "geo_unavailable", 3: "geo_timeout" };
    map.on("locationerror", (e) => say(t(why[e.code] || "locate_failed")));
  }

  function legend(map, cfg, folded) {
    const t = translator(cfg);
    const control = L.control({ position: "bottomright" });
    control.onAdd = () => {
      const title = el("button", { type: "button", class: "st-legend-title", "aria-expanded": "true" }, [t("legend")]);
      const box = el("div", { class: "st-legend" }, [title]);
      const toggle = (open) => {
        box.classList.toggle("st-collapsed", !open);
        title.setAttribute("aria-expanded", String(open));
      };
      title.addEventListener("click", () => toggle(box.classList.contains("st-collapsed")));
      if (folded === undefined ? map.getSize().x < 500 : folded) toggle(false); // phones: folded until asked
      for (const kind of cfg.legendKinds || Object.keys(cfg.kinds)) {
        const swatch = el("span", { class: "st-legend-icon" }, []);
        swatch.innerHTML = pinSvg(kindStyle(cfg, kind).color, kindStyle(cfg, kind).glyph, false);
        box.append(el("div", {}, [swatch, label(kindStyle(cfg, kind), cfg.lang)]));
      }
      if (cfg.showLoop) {
        box.append(el("div", {}, [el("span", { class: "st-legend-line st-loop-line" }, []), t("loop")]));
      }
      if (cfg.coverageKm) {
        box.append(el("div", {}, [el("span", { class: "st-legend-line st-coverage-line" }, []),
          t("coverage").replace("{km}", String(cfg.coverageKm))]));
      }
      if (cfg.suggested) {
        const dot = el("span", { class: "st-legend-icon st-legend-suggested" }, []);
        dot.innerHTML = ICON_SUGGESTED;
        box.append(el("div", {}, [dot, t("suggested")]));
      }
      if (cfg.approximate) box.append(el("div", { class: "st-note" }, [t("approximate_note")]));
      L.DomEvent.disableClickPropagation(box);
      return box;
    };
    control.addTo(map);
    return control;
  }

  /** Lift the bottom-left corner (the scale bar) above the attribution when the attribution
   * runs under it (two lines on a phone), so the scale is never hidden behind it. */
  function clearOfAttribution(map) {
    const corner = map.getContainer().querySelector(".leaflet-bottom.leaflet-left");
    const attribution = map.attributionControl && map.attributionControl.getContainer();
    if (!corner || !attribution) return;
    const fit = () => {
      corner.style.bottom = "";
      const a = attribution.getBoundingClientRect();
      const c = corner.getBoundingClientRect();
      const overlaps = a.height > 0 && a.left < c.right && a.top < c.bottom;
      if (overlaps) corner.style.bottom = Math.ceil(map.getContainer().getBoundingClientRect().bottom - a.top) + "px";
    };
    if (global.ResizeObserver) new ResizeObserver(fit).observe(attribution);
    map.on("resize", fit);
    fit();
  }

  /** The loop's km labels (/map): at each zoom, only those that overlap no label kept before
   * them and no pin, in km order, so labels never cover each other or the stations. */
  function thinKmLabels(map) {
    const box = map.getContainer();
    const labels = Array.from(box.querySelectorAll(".leaflet-tooltip.st-km-label"));
    if (!labels.length) return;
    for (const label of labels) label.style.visibility = "";
    const taken = Array.from(box.querySelectorAll(".st-marker, .marker-cluster")).map((n) => n.getBoundingClientRect());
    const apart = (a, b) => a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top;
    for (const label of labels) {
      const r = label.getBoundingClientRect();
      if (taken.every((o) => apart(r, o))) taken.push(r);
      else label.style.visibility = "hidden";
    }
  }

  /* ---- data: inline (standalone file) or from the API by viewport ----
   * ``groups``: kind -> a sub-group of ``cluster`` (Leaflet.FeatureGroup.SubGroup), so every
   * kind clusters in one cluster group: stations at the same spot group and spread apart on a
   * click whatever their kinds, and each kind keeps its own switch in the layer control. */
  function mount(map, cfg, groups, cluster) {
    const say = notice(map);
    const byId = {};
    const clusters = L.layerGroup().addTo(map);
    const fallback = L.layerGroup().addTo(map);
    const groupFor = (kind) => groups[kind] || fallback;
    let resolveReady;
    const ready = new Promise((resolve) => (resolveReady = resolve));
    const state = { map: map, byId: byId, ready: ready, config: cfg, shown: 0 };

    // Markers whose feature did not change are kept from one load to the next, not rebuilt: a
    // marker being zoomed to or spiderfied (the asked station in /embed, inside a cluster of its
    // kind) and an open popup survive the reload that the move itself triggers.
    let spread = false; // a cluster is spiderfied
    if (cluster) cluster.on("spiderfied", () => (spread = true)).on("unspiderfied", () => (spread = false));
    function show(collection) {
      clusters.clearLayers();
      const next = {};
      let count = 0;
      for (const feature of collection.features || []) {
        if (!feature.geometry) continue;
        if (feature.properties.cluster) {
          clusters.addLayer(clusterMarker(feature, map));
          count += feature.properties.count;
          continue;
        }
        const id = feature.properties.id;
        const key = JSON.stringify(feature);
        const old = byId[id];
        if (old && old.stationsKey === key) {
          next[id] = old;
        } else {
          const marker = stationMarker(feature, cfg, map);
          marker.stationsKey = key;
          groupFor(feature.properties.kind).addLayer(marker);
          next[id] = marker;
        }
        count += 1;
      }
      for (const id of Object.keys(byId)) {
        const old = byId[id];
        if (spread && !(id in next)) {
          // removing any marker folds a spread-apart cluster and closes its popup (a popup's
          // own pan clear of the buttons moves the view): stations that only left the view
          // stay until the cluster folds, then the next load drops them
          next[id] = old;
          continue;
        }
        if (next[id] !== old) groupFor(old.feature.properties.kind).removeLayer(old);
        delete byId[id];
      }
      Object.assign(byId, next);
      setTimeout(() => thinKmLabels(map), 0); // after the cluster has placed the pins
      state.shown = count;
      map.getContainer().dataset.stationsShown = String(count);
    }

    function focus() {
      const marker = cfg.focus && byId[cfg.focus];
      if (!marker) return;
      if (cluster && cluster.hasLayer(marker)) cluster.zoomToShowLayer(marker, () => marker.openPopup());
      else marker.openPopup();
    }

    function visibleKinds() {
      return Object.keys(groups).filter((kind) => map.hasLayer(groups[kind]));
    }

    let sequence = 0;
    let failed = false; // the notice shows a failed load (cleared by the next good one)
    async function refresh() {
      const mine = ++sequence;
      const b = map.getBounds();
      const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
      const bbox = [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90),
        clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)].map((v) => v.toFixed(6));
      const params = new URLSearchParams({ bbox: bbox.join(","), zoom: String(map.getZoom()), crs: cfg.crs });
      const kinds = visibleKinds();
      if (kinds.length === 0) {
        show({ features: [] });
        return;
      }
      if (kinds.length < Object.keys(groups).length) for (const k of kinds) params.append("kind", k);
      try {
        const response = await fetch(cfg.api + "?" + params.toString(), { headers: { Accept: "application/geo+json" } });
        const body = await response.json();
        if (mine !== sequence) return;
        if (!response.ok) {
          failed = true;
          say(translator(cfg)("load_failed"), body.detail || String(response.status));
          return;
        }
        if (failed) say(""); // clears its own message only, not a locate-me answer
        failed = false;
        show(body);
      } catch (err) {
        // no network: the rider page's offline snapshot, when it has one
        const kept = cfg.offlineData ? await cfg.offlineData() : null;
        if (kept && mine === sequence) show(kept);
        else if (mine === sequence) {
          failed = true;
          say(translator(cfg)("load_failed"));
        }
      }
    }

    if (cfg.data) {
      show(cfg.data);
      focus();
      resolveReady(state);
    } else {
      let timer = null;
      const later = () => {
        clearTimeout(timer);
        timer = setTimeout(refresh, 120);
      };
      map.on("moveend", later);
      map.on("overlayadd overlayremove", later);
      if (cluster) cluster.on("unspiderfied", later);
      // After the page's own scripts (folium's fitBounds runs after this one): one first request
      // for the final view, not one for the initial view and another for the fitted one.
      setTimeout(() => {
        clearTimeout(timer);
        refresh().then(() => {
          focus();
          resolveReady(state);
        });
      }, 0);
    }
    if (cfg.controls !== false) {
      fullscreenControl(map, cfg);
      locateControl(map, cfg, say);
    }
    let legendControl = cfg.legend !== false ? legend(map, cfg) : null;
    if (cfg.attribution && map.attributionControl) map.attributionControl.addAttribution(cfg.attribution);
    clearOfAttribution(map);
    map.on("zoomend", () => thinKmLabels(map));
    map.on("layeradd", (e) => e.layer instanceof L.Tooltip && setTimeout(() => thinKmLabels(map), 0));
    /** The page's language changed (cfg.lang): the legend and the buttons' titles follow. */
    state.relabel = () => {
      const t = translator(cfg);
      for (const a of map.getContainer().querySelectorAll("[data-i18n-title]")) {
        a.title = t(a.dataset.i18nTitle);
        a.setAttribute("aria-label", a.title);
      }
      if (legendControl) {
        const folded = legendControl.getContainer().classList.contains("st-collapsed");
        legendControl.remove();
        legendControl = legend(map, cfg, folded);
      }
    };
    ready.then(() => map.getContainer().setAttribute("data-stations-ready", "1"));
    global.stationsMap = state;
    return state;
  }

  global.Stations = {
    el: el,
    safeUrl: safeUrl,
    translator: translator,
    label: label,
    toMapCrs: toMapCrs,
    looksSwapped: looksSwapped,
    icon: icon,
    popupContent: popupContent,
    popupOptions: popupOptions,
    stationMarker: stationMarker,
    formatDistance: formatDistance,
    compass: compass,
    openText: openText,
    mount: mount,
  };
})(window);
