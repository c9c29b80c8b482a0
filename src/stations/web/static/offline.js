/*
 * offline.js: the nearest stations computed in the browser from the offline snapshot, with the
 * server's answer: the same stations in the same order, the same distances.
 *
 * - Distance and bearing: GeographicLib (geographiclib-geodesic, the library behind the
 *   server's pyproj), rounded as the server rounds (cm, 0.1°).
 * - Which stations: candidates in order of a lower bound of their distance (the chord between
 *   unit vectors on a sphere 1 % smaller than any geodesic allows, as stations.geodesy does),
 *   each measured exactly until the bound passes the k-th best; ties go by file order.
 * - Open now: opening_hours.js when the snapshot has hours (evaluated at the wall clock of
 *   the snapshot's zone), else null, as the server says for unknown hours.
 * - The rider's km mark: stations.loop.Loop.snap, line for line, on the loop the server
 *   densified.
 * - Navigation links: stations.navigation's Amap and Baidu links from the rider's position.
 */
(function (global) {
  "use strict";
  const SPHERE_R = 6371008.8;
  const SPHERE_LOWER_BOUND = 0.99;
  const FAR_AWAY_M = 200000;
  const SOURCE_APP = "stations.nanchuan";
  const X_PI = (Math.PI * 3000.0) / 180.0;

  function unit(lon, lat) {
    const lam = (lon * Math.PI) / 180;
    const phi = (lat * Math.PI) / 180;
    const c = Math.cos(phi);
    return [c * Math.cos(lam), c * Math.sin(lam), Math.sin(phi)];
  }

  /** The snapshot as rows of objects, with unit vectors for the candidate order. */
  function prepare(snapshot) {
    const fields = snapshot.fields;
    const n = snapshot.stations.length;
    const xyz = new Float64Array(3 * n);
    const stations = snapshot.stations.map((row, i) => {
      const s = {};
      fields.forEach((name, j) => (s[name] = row[j]));
      const [x, y, z] = unit(s.lon, s.lat);
      xyz[3 * i] = x;
      xyz[3 * i + 1] = y;
      xyz[3 * i + 2] = z;
      return s;
    });
    const hasHours = stations.some((s) => s.opening_hours);
    const loop = snapshot.loop ? densify(snapshot.loop) : null;
    return { snapshot: snapshot, stations: stations, xyz: xyz, loop: loop, hasHours: hasHours, parsers: new Map() };
  }

  /** The loop densified as stations.loop.Loop._densify does (pyproj's npts: points equally
   * spaced on each geodesic segment, none farther apart than densify_m), with chainages. */
  function densify(loop) {
    const geod = global.geodesic.Geodesic.WGS84;
    const c = loop.coordinates;
    const lons = [c[0][0]];
    const lats = [c[0][1]];
    for (let j = 0; j + 1 < c.length; j++) {
      const [x1, y1] = c[j];
      const [x2, y2] = c[j + 1];
      const line = geod.InverseLine(y1, x1, y2, x2);
      const n = Math.floor(line.s13 / loop.densify_m);
      for (let i = 1; i <= n; i++) {
        const p = line.Position((i * line.s13) / (n + 1));
        lons.push(p.lon2);
        lats.push(p.lat2);
      }
      lons.push(x2);
      lats.push(y2);
    }
    const cum = [0];
    for (let i = 0; i + 1 < lons.length; i++) cum.push(cum[i] + inverse(lons[i], lats[i], lons[i + 1], lats[i + 1])[0]);
    const length = cum[cum.length - 1];
    return { coordinates: c, lons: lons, lats: lats, cum_m: cum, length_m: length, scale: loop.scale, max_offroute_m: loop.max_offroute_m };
  }

  /* ---- open now ---- */
  /** ``date`` as a Date whose local fields are the wall clock in ``tz`` (what opening_hours.js reads). */
  function wallClock(date, tz) {
    const parts = {};
    const format = new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", second: "numeric",
    });
    for (const p of format.formatToParts(date)) parts[p.type] = Number(p.value);
    return new Date(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  }

  function openNow(prepared, station, wall) {
    if (!station.opening_hours) return null;
    if (typeof global.opening_hours !== "function") return null; // parser not loaded: unknown
    let parser = prepared.parsers.get(station.opening_hours);
    if (parser === undefined) {
      try {
        const where = { lat: station.lat, lon: station.lon, address: { country_code: "cn", state: "" } };
        parser = new global.opening_hours(station.opening_hours, where);
      } catch (err) {
        parser = null;
      }
      prepared.parsers.set(station.opening_hours, parser);
    }
    if (parser === null) return null;
    try {
      if (parser.getUnknown(wall)) return null;
      return Boolean(parser.getState(wall));
    } catch (err) {
      return null;
    }
  }

  /* ---- navigation links (stations.navigation) ---- */
  function quote(text) {
    return encodeURIComponent(text).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  }

  function gcjToBd(x, y) {
    const z = Math.sqrt(x * x + y * y) + 0.00002 * Math.sin(y * X_PI);
    const theta = Math.atan2(y, x) + 0.000003 * Math.cos(x * X_PI);
    return [z * Math.cos(theta) + 0.0065, z * Math.sin(theta) + 0.006];
  }

  function place(lon, lat, name, toGcj) {
    const [glon, glat] = toGcj(lon, lat);
    const [blon, blat] = gcjToBd(glon, glat);
    const label = quote(name);
    return { amap: glon.toFixed(6) + "%2C" + glat.toFixed(6) + "%2C" + label, baidu: blat.toFixed(6) + "%2C" + blon.toFixed(6), label: label };
  }

  function links(dest, origin) {
    const amap = "https://uri.amap.com/navigation?to=" + dest.amap + "&mode=";
    const tail = "&from=" + origin.amap + "&coordinate=gaode&callnative=1&src=" + SOURCE_APP;
    const baiduTail = "&coord_type=bd09ll&output=html&src=" + SOURCE_APP;
    const baidu = "https://api.map.baidu.com/direction?origin=latlng%3A" + origin.baidu + "%7Cname%3A" + origin.label +
      "&destination=latlng%3A" + dest.baidu + "%7Cname%3A" + dest.label + "&mode=";
    return {
      amap_ride: amap + "ride" + tail,
      amap_walk: amap + "walk" + tail,
      baidu_ride: baidu + "riding" + baiduTail,
      baidu_walk: baidu + "walking" + baiduTail,
    };
  }

  /* ---- nearest ---- */
  function inverse(lon1, lat1, lon2, lat2) {
    const r = global.geodesic.Geodesic.WGS84.Inverse(lat1, lon1, lat2, lon2);
    return [r.s12, r.azi1 < 0 ? r.azi1 + 360 : r.azi1];
  }

  /**
   * The ``k`` nearest stations to a WGS84 position, nearest first, as /api/nearest answers
   * them (``openNow``: leave out stations known to be closed now).
   *
   * options: k, openNow, now (a Date), toGcj (WGS84 -> GCJ-02, for links; none: no links),
   * toMap (WGS84 -> the answer's datum, for geometry; none: WGS84).
   */
  function nearest(prepared, lon, lat, options) {
    const opts = options || {};
    const k = opts.k || 3;
    const stations = prepared.stations;
    const xyz = prepared.xyz;
    const n = stations.length;
    const [qx, qy, qz] = unit(lon, lat);
    const chord = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const dx = xyz[3 * i] - qx;
      const dy = xyz[3 * i + 1] - qy;
      const dz = xyz[3 * i + 2] - qz;
      chord[i] = Math.sqrt(dx * dx + dy * dy + dz * dz);
    }
    const wall = opts.openNow || prepared.hasHours ? wallClock(opts.now || new Date(), prepared.snapshot.timezone) : null;
    const best = rank(prepared, lon, lat, chord, k, wall, Boolean(opts.openNow));
    const origin = opts.toGcj ? place(lon, lat, "我的位置", opts.toGcj) : null;
    const features = best.map(([d, b, i, open]) => feature(stations[i], d, b, open, origin, opts));
    const nearestM = best.length ? best[0][0] : 0;
    const answer = { type: "FeatureCollection", features: features, note: nearestM > FAR_AWAY_M ? "far" : null, offline: true };
    if (opts.openNow) answer.nearer_closed = nearerClosed(prepared, lon, lat, chord, wall, features);
    return answer;
  }

  /** The ``k`` nearest as [distance, bearing, index, open], sorted by (distance, index);
   * ``openOnly``: stations known to be closed at ``wall`` left out. */
  function rank(prepared, lon, lat, chord, k, wall, openOnly) {
    const stations = prepared.stations;
    const eligible = (i) => !(openOnly && openNow(prepared, stations[i], wall) === false);
    const order = candidates(prepared, lon, lat, chord, k, eligible);
    const best = [];
    for (const i of order) {
      const bound = 2 * Math.asin(Math.min(chord[i] / 2, 1)) * SPHERE_R * SPHERE_LOWER_BOUND;
      if (best.length === k && bound > best[k - 1][0]) break;
      const open = openNow(prepared, stations[i], wall);
      if (openOnly && open === false) continue;
      const [d, b] = inverse(lon, lat, stations[i].lon, stations[i].lat);
      if (best.length === k && (d > best[k - 1][0] || (d === best[k - 1][0] && i > best[k - 1][2]))) continue;
      best.push([d, b, i, open]);
      best.sort((x, y) => x[0] - y[0] || x[2] - y[2]);
      if (best.length > k) best.pop();
    }
    return best;
  }

  /** stations.notes.nearer_closed: the nearest station when it is not known to be open and
   * nearer than the first open answer (its name, distance, when it next opens); else null. */
  function nearerClosed(prepared, lon, lat, chord, wall, features) {
    const best = rank(prepared, lon, lat, chord, 1, wall, false);
    if (!best.length) return null;
    const [d, , i, open] = best[0];
    const distance = Math.floor(d * 100 + 0.5) / 100;
    if (open === true || (features.length && distance >= features[0].properties.distance_m)) return null;
    const s = prepared.stations[i];
    return {
      id: s.id, name: s.name, name_en: s.name_en === undefined ? null : s.name_en, distance_m: distance, open_now: open,
      opens_at: open === false ? nextOpening(prepared, s, wall) : null,
    };
  }

  /** When a station closed at ``wall`` next opens, ISO 8601 with the zone's offset (as the
   * server's datetime.isoformat()), or null when unknown or never. */
  function nextOpening(prepared, station, wall) {
    const parser = station.opening_hours ? prepared.parsers.get(station.opening_hours) : null;
    if (!parser) return null;
    let next;
    try {
      // Within 8 days, as the server (hours.OPENING_HORIZON).
      next = parser.getNextChange(wall, new Date(wall.getTime() + 8 * 86400000));
      if (!next || !parser.getState(next) || parser.getUnknown(next)) return null;
    } catch (err) {
      return null;
    }
    const pad = (v) => String(v).padStart(2, "0");
    const local = next.getFullYear() + "-" + pad(next.getMonth() + 1) + "-" + pad(next.getDate()) + "T" +
      pad(next.getHours()) + ":" + pad(next.getMinutes()) + ":" + pad(next.getSeconds());
    return local + zoneOffset(next, prepared.snapshot.timezone);
  }

  /** "+08:00": the offset of ``tz`` at the wall-clock moment ``wall`` (its local fields). */
  function zoneOffset(wall, tz) {
    const asUtc = Date.UTC(wall.getFullYear(), wall.getMonth(), wall.getDate(), wall.getHours(), wall.getMinutes(), wall.getSeconds());
    const name = new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "longOffset" })
      .formatToParts(new Date(asUtc)).find((p) => p.type === "timeZoneName").value;
    const match = /GMT([+-]\d{2}):?(\d{2})?/.exec(name);
    return match ? match[1] + ":" + (match[2] || "00") : "+00:00";
  }

  /**
   * The stations that may be among the ``k`` nearest, in order of their chord (ties: file
   * order). The ``k`` smallest chords among eligible stations give a distance every answer
   * is within; only stations whose lower bound is inside it are sorted, not the whole file.
   */
  function candidates(prepared, lon, lat, chord, k, eligible) {
    const n = chord.length;
    const first = []; // indices of the k smallest chords among eligible stations
    for (let i = 0; i < n; i++) {
      if (first.length === k && chord[i] >= chord[first[k - 1]]) continue;
      if (!eligible(i)) continue;
      let j = first.length;
      first.push(i);
      while (j > 0 && chord[first[j - 1]] > chord[i]) {
        first[j] = first[j - 1];
        j--;
      }
      first[j] = i;
      if (first.length > k) first.pop();
    }
    let limit = Infinity; // no k eligible stations: every station is a candidate
    if (first.length === k) {
      let far = 0;
      for (const i of first) far = Math.max(far, inverse(lon, lat, prepared.stations[i].lon, prepared.stations[i].lat)[0]);
      // the chord of a lower bound equal to `far`, with slack for rounding
      const theta = far / (SPHERE_R * SPHERE_LOWER_BOUND);
      limit = 2 * Math.sin(Math.min(theta, Math.PI) / 2) + 1e-9;
    }
    const order = [];
    for (let i = 0; i < n; i++) if (chord[i] <= limit) order.push(i);
    order.sort((a, b) => chord[a] - chord[b] || a - b);
    return order;
  }

  function feature(s, d, b, open, origin, opts) {
    const props = {};
    for (const name of prepared_fields(s)) props[name] = s[name];
    props.open_now = open;
    if (d !== null) {
      props.distance_m = Math.floor(d * 100 + 0.5) / 100;
      props.bearing_deg = Math.floor(b * 10 + 0.5) / 10;
    }
    if (origin) props.navigation = links(place(s.lon, s.lat, s.name, opts.toGcj), origin);
    const [x, y] = opts.toMap ? opts.toMap(s.lon, s.lat) : [s.lon, s.lat];
    const round7 = (v) => Math.round(v * 1e7) / 1e7;
    return { type: "Feature", id: s.id, geometry: { type: "Point", coordinates: [round7(x), round7(y)] }, properties: props };
  }

  function prepared_fields(s) {
    return Object.keys(s).filter((name) => name !== "lon" && name !== "lat");
  }

  /** Every station of the snapshot as features (the map's markers offline). */
  function all(prepared, toMap) {
    const wall = prepared.hasHours ? wallClock(new Date(), prepared.snapshot.timezone) : null;
    return {
      type: "FeatureCollection",
      features: prepared.stations.map((s) => feature(s, null, null, openNow(prepared, s, wall), null, { toMap: toMap })),
    };
  }

  /* ---- the loop (stations.loop.Loop.snap) ---- */
  /** Where a WGS84 position meets the loop: chainage (m), off-route distance (m), km mark. */
  function snap(prepared, lon, lat) {
    const loop = prepared.loop;
    if (!loop) return null;
    const lons = loop.lons;
    const lats = loop.lats;
    const kx = Math.cos((lat * Math.PI) / 180);
    let bestI = 0;
    let bestT = 0;
    let bestD = Infinity;
    for (let i = 0; i + 1 < lons.length; i++) {
      const ax = (lons[i] - lon) * kx;
      const ay = lats[i] - lat;
      const dx = (lons[i + 1] - lon) * kx - ax;
      const dy = lats[i + 1] - lat - ay;
      const denom = dx * dx + dy * dy;
      let t = denom > 0 ? -(ax * dx + ay * dy) / denom : 0;
      t = Math.min(Math.max(t, 0), 1);
      const px = ax + t * dx;
      const py = ay + t * dy;
      const d2 = px * px + py * py;
      if (d2 < bestD) {
        bestD = d2;
        bestI = i;
        bestT = t;
      }
    }
    const i = bestI;
    const t = bestT;
    const slon = lons[i] + t * (lons[i + 1] - lons[i]);
    const slat = lats[i] + t * (lats[i + 1] - lats[i]);
    const [off] = inverse(lon, lat, slon, slat);
    const seg = loop.cum_m[i + 1] - loop.cum_m[i];
    const chainage = (loop.cum_m[i] + t * seg) % loop.length_m;
    return { chainage_m: chainage, offroute_m: off, km: (chainage * loop.scale) / 1000, onLoop: off <= loop.max_offroute_m };
  }

  /** Fixed-point inverse of ``forward`` near (x, y), as stations.coords inverts its shifts. */
  function invert(x, y, forward, start) {
    let [ax, ay] = start;
    for (let i = 0; i < 30; i++) {
      const [fx, fy] = forward(ax, ay);
      const [ex, ey] = [fx - x, fy - y];
      [ax, ay] = [ax - ex, ay - ey];
      if (Math.abs(ex) < 1e-10 && Math.abs(ey) < 1e-10) break;
    }
    return [ax, ay];
  }

  /** A position typed in ``crs`` (wgs84, gcj02, bd09) as WGS84; ``toGcj``: WGS84 -> GCJ-02. */
  function toWgs84(x, y, crs, toGcj) {
    if (crs === "wgs84") return [x, y];
    const [gx, gy] = crs === "bd09" ? invert(x, y, gcjToBd, [x - 0.0065, y - 0.006]) : [x, y];
    return invert(gx, gy, toGcj, [gx, gy]);
  }

  /** Whether a WGS84 position lies inside the snapshot's region (everywhere without one). */
  function covers(prepared, lon, lat) {
    const b = prepared.snapshot.bbox;
    return !b || (lon >= b[0] && lon <= b[2] && lat >= b[1] && lat <= b[3]);
  }

  global.StationsOffline = {
    prepare: prepare, nearest: nearest, all: all, snap: snap, covers: covers, wallClock: wallClock, toWgs84: toWgs84,
  };
})(typeof window !== "undefined" ? window : globalThis);
