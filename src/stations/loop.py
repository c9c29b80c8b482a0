"""The loop road as a ring: snapping to it, chainage (km marks) and along-loop distances."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stations.errors import DataError
from stations.geodesy import GEOD, FloatArray, inverse
from stations.storage.files import read_json
from stations.storage.loading import position_problem

#: Densify the stored line so no segment is longer than this (metres) before snapping.
DENSIFY_M = 100.0

CLOCKWISE = "clockwise"
COUNTERCLOCKWISE = "counterclockwise"


@dataclass(frozen=True, slots=True)
class Snap:
    """Where a point meets the loop: chainage from the start (m, geometric), off-route distance."""

    chainage_m: float
    offroute_m: float
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class Along:
    """Shortest way along the ring between two chainages."""

    distance_m: float
    direction: str


class Loop:
    """A closed line (ring) with geodesic chainage.

    Parameters
    ----------
    coords
        The ring's positions as (lon, lat) in WGS84, first equal to last.
    properties
        The feature's properties (``official_length_m`` is used for calibration).
    calibrate
        Scale along-loop figures to ``official_length_m`` when it is given.
    """

    def __init__(
        self, coords: list[tuple[float, float]], properties: dict[str, Any], calibrate: bool = True
    ) -> None:
        if len(coords) < 4 or tuple(coords[0]) != tuple(coords[-1]):
            raise ValueError("coords must be a closed ring of at least 4 positions")
        self.properties = properties
        self.stored = np.asarray(coords, dtype=float)
        lons, lats = self._densify(self.stored)
        self.lons, self.lats = lons, lats
        _, _, seg = GEOD.inv(lons[:-1], lats[:-1], lons[1:], lats[1:])
        self.seg_m: FloatArray = np.asarray(seg, dtype=float)
        self.cum_m: FloatArray = np.concatenate(([0.0], np.cumsum(self.seg_m)))
        self.length_m = float(self.cum_m[-1])
        official = properties.get("official_length_m")
        self.official_length_m = float(official) if official else None
        self.calibrated = bool(calibrate and self.official_length_m)
        self.scale = self.official_length_m / self.length_m if self.calibrated else 1.0  # type: ignore[operator]
        self.orientation = COUNTERCLOCKWISE if self._signed_area() > 0 else CLOCKWISE
        self.bbox = (float(lons.min()), float(lats.min()), float(lons.max()), float(lats.max()))
        self._calibration: dict[str, Any] | None = None

    @staticmethod
    def _densify(stored: FloatArray) -> tuple[FloatArray, FloatArray]:
        lons: list[float] = [float(stored[0, 0])]
        lats: list[float] = [float(stored[0, 1])]
        for (x1, y1), (x2, y2) in zip(stored[:-1], stored[1:], strict=True):
            _, _, d = GEOD.inv(x1, y1, x2, y2)
            n = int(d // DENSIFY_M)
            if n > 0:
                for x, y in GEOD.npts(x1, y1, x2, y2, n):
                    lons.append(x)
                    lats.append(y)
            lons.append(float(x2))
            lats.append(float(y2))
        return np.asarray(lons), np.asarray(lats)

    def _signed_area(self) -> float:
        lat0 = np.radians(self.lats.mean())
        x = self.lons * np.cos(lat0)
        y = self.lats
        return float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]) / 2.0)

    def snap(self, lon: float, lat: float) -> Snap:
        """Project a point onto the ring: closest point, chainage and off-route distance.

        The closest segment is found in a local equirectangular frame around the point (accurate
        to well under a metre at the densified 100 m spacing near the loop); the reported
        off-route distance is the ellipsoidal geodesic to the snapped point.
        """
        kx = np.cos(np.radians(lat))
        ax = (self.lons[:-1] - lon) * kx
        ay = self.lats[:-1] - lat
        bx = (self.lons[1:] - lon) * kx
        by = self.lats[1:] - lat
        dx, dy = bx - ax, by - ay
        denom = dx * dx + dy * dy
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(denom > 0, -(ax * dx + ay * dy) / denom, 0.0)
        t = np.clip(t, 0.0, 1.0)
        px, py = ax + t * dx, ay + t * dy
        i = int(np.argmin(px * px + py * py))
        slon = float(self.lons[i] + t[i] * (self.lons[i + 1] - self.lons[i]))
        slat = float(self.lats[i] + t[i] * (self.lats[i + 1] - self.lats[i]))
        dist, _ = inverse(lon, lat, slon, slat)
        chainage = float(self.cum_m[i] + t[i] * self.seg_m[i])
        return Snap(
            chainage_m=chainage % self.length_m, offroute_m=float(dist[0]), lon=slon, lat=slat
        )

    def along(self, from_m: float, to_m: float) -> Along:
        """Shortest distance along the ring (geometric metres) and its direction of travel."""
        forward = (to_m - from_m) % self.length_m
        backward = (from_m - to_m) % self.length_m
        fwd_dir = self.orientation
        back_dir = CLOCKWISE if fwd_dir == COUNTERCLOCKWISE else COUNTERCLOCKWISE
        if forward <= backward:
            return Along(forward, fwd_dir)
        return Along(backward, back_dir)

    def km_mark(self, chainage_m: float) -> float:
        """Chainage as a km mark, calibrated to the official length when enabled."""
        return chainage_m * self.scale / 1000.0

    def chainage_at_km(self, km: float) -> float:
        """The geometric chainage (m) of a km mark: the inverse of `km_mark`."""
        return (km * 1000.0 / self.scale) % self.length_m

    def point_at(self, chainage_m: float) -> tuple[float, float]:
        """The (lon, lat) at a chainage, wrapping around the ring.

        Linear between densified vertices (at most 100 m apart), which is within centimetres of
        the geodesic at that spacing.
        """
        c = chainage_m % self.length_m
        i = int(np.searchsorted(self.cum_m, c, side="right")) - 1
        i = min(max(i, 0), len(self.seg_m) - 1)
        t = (c - self.cum_m[i]) / self.seg_m[i] if self.seg_m[i] > 0 else 0.0
        lon = self.lons[i] + t * (self.lons[i + 1] - self.lons[i])
        lat = self.lats[i] + t * (self.lats[i + 1] - self.lats[i])
        return float(lon), float(lat)

    def slice(self, from_m: float, to_m: float) -> list[tuple[float, float]]:
        """The ring's positions going forward from ``from_m`` to ``to_m`` (wrapping past 0).

        ``to_m - from_m`` is the stretch's length; a stretch of the whole length or more is the
        whole ring.
        """
        length = min(max(to_m - from_m, 0.0), self.length_m)
        start = from_m % self.length_m
        end = start + length
        # Vertices strictly inside (start, end) on the ring unrolled twice.
        cum2 = np.concatenate((self.cum_m[:-1], self.cum_m[:-1] + self.length_m))
        lons2 = np.concatenate((self.lons[:-1], self.lons[:-1]))
        lats2 = np.concatenate((self.lats[:-1], self.lats[:-1]))
        inside = (cum2 > start) & (cum2 < end)
        points = [self.point_at(start)]
        points += list(zip(lons2[inside].tolist(), lats2[inside].tolist(), strict=True))
        points.append(self.point_at(end))
        return points

    def feature(self, properties: dict[str, Any], geometry_last: bool = False) -> dict[str, Any]:
        """The loop as a GeoJSON Feature with ``properties`` (its id: their ``id``, or "loop").

        ``geometry_last`` puts the members in the order OGC items have always been answered
        in (type, id, properties, geometry), so those answers stay byte for byte the same.
        """
        fid = properties.get("id", "loop")
        geometry = {"type": "LineString", "coordinates": self.stored.tolist()}
        if geometry_last:
            return {"type": "Feature", "id": fid, "properties": properties, "geometry": geometry}
        return {"type": "Feature", "id": fid, "geometry": geometry, "properties": properties}

    def calibration(self) -> dict[str, Any]:
        """How along-loop figures are computed, for every answer that uses them (a copy)."""
        if self._calibration is None:  # the loop never changes: rounded once
            self._calibration = {
                "basis": "official_length" if self.calibrated else "geometry",
                "geometric_length_m": round(self.length_m, 1),
                "official_length_m": self.official_length_m,
                "scale": round(self.scale, 6),
                "accuracy": self.properties.get("accuracy"),
                "orientation": self.orientation,
            }
        return dict(self._calibration)


def _loop_problems(doc: object) -> tuple[list[list[float]] | None, dict[str, Any], list[str]]:
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        feats = doc.get("features")
        if not isinstance(feats, list) or len(feats) != 1:
            n = len(feats) if isinstance(feats, list) else "no"
            return None, {}, [f"the loop must be exactly one Feature, found {n}"]
        doc = feats[0]
    if not isinstance(doc, dict) or doc.get("type") != "Feature":
        return None, {}, ["expected a GeoJSON Feature (or a FeatureCollection of one) for the loop"]
    props = doc.get("properties") or {}
    if not isinstance(props, dict):
        return None, {}, ["properties must be an object"]
    geom = doc.get("geometry")
    if not isinstance(geom, dict) or geom.get("type") != "LineString":
        got = geom.get("type") if isinstance(geom, dict) else geom
        return None, props, [f"the loop's geometry must be a LineString, got {got!r}"]
    coords = geom.get("coordinates")
    if not isinstance(coords, list) or len(coords) < 4:
        return None, props, ["the loop needs at least 4 positions (a closed ring)"]
    problems = []
    for i, pos in enumerate(coords):
        problem = position_problem(pos)
        if problem:
            problems.append(f"geometry position {i}: {problem}")
    if not problems and list(coords[0][:2]) != list(coords[-1][:2]):
        problems.append(f"the loop is not closed: first position {coords[0]} != last {coords[-1]}")
    official = props.get("official_length_m")
    if official is not None and (
        isinstance(official, bool) or not isinstance(official, int | float) or official <= 0
    ):
        problems.append(f"properties.official_length_m must be a positive number, got {official!r}")
    return (None if problems else coords), props, problems


def parse_loop(doc: object, source: str, calibrate: bool = True) -> Loop:
    """Validate a loop document and build the `Loop`; raise `DataError` naming every problem."""
    coords, props, problems = _loop_problems(doc)
    if problems or coords is None:
        raise DataError(source, problems)
    loop = Loop([(float(c[0]), float(c[1])) for c in coords], props, calibrate=calibrate)
    stored_len = props.get("geometric_length_m")
    if stored_len is not None and abs(float(stored_len) - loop.length_m) > 1.0:
        raise DataError(
            source,
            [
                f"properties.geometric_length_m is {stored_len} but the geometry measures "
                f"{loop.length_m:.1f} m; update it"
            ],
        )
    return loop


def load_loop(path: Path, calibrate: bool = True) -> Loop:
    """Read and validate the loop GeoJSON file."""
    return parse_loop(read_json(path), str(path), calibrate=calibrate)
