from datetime import datetime
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest

from conftest import collection, station
from stations import query
from stations.catalog import Catalog
from stations.coords import from_wgs84, wgs84_to_gcj02
from stations.errors import InvalidInput
from stations.geodesy import inverse
from stations.loop import Loop
from stations.storage.loading import parse_stations

DELONG = (107.2618, 28.912)


def test_delong_is_nearest_on_bundled_data(bundled):
    result = query.nearest(bundled, *DELONG, k=3)
    first = result["features"][0]
    assert first["id"] == "delong-yinxing-union-station"
    ds = [f["properties"]["distance_m"] for f in result["features"]]
    assert ds == sorted(ds)
    lon, lat = first["geometry"]["coordinates"]
    ref, _ = inverse(*DELONG, lon, lat)
    assert abs(first["properties"]["distance_m"] - ref[0]) < 0.5
    assert result["loop_calibration"]["basis"] == "official_length"


def test_gcj02_query_gives_same_station_and_nearly_same_distance(bundled):
    wgs = query.nearest(bundled, *DELONG, k=1)["features"][0]
    glon, glat = wgs84_to_gcj02(*DELONG)
    gcj = query.nearest(bundled, glon, glat, k=1, crs="gcj02")["features"][0]
    assert gcj["id"] == wgs["id"]
    assert abs(gcj["properties"]["distance_m"] - wgs["properties"]["distance_m"]) < 2.0
    # The answer's geometry is in GCJ-02 too.
    slon, slat = wgs["geometry"]["coordinates"]
    assert gcj["geometry"]["coordinates"] == pytest.approx(
        list(wgs84_to_gcj02(slon, slat)), abs=1e-6
    )
    # Treating the GCJ-02 position as WGS84 would be ~500 m off: the conversion matters.
    naive = query.nearest(bundled, glon, glat, k=1)["features"][0]
    assert abs(naive["properties"]["distance_m"] - wgs["properties"]["distance_m"]) > 300


def test_bd09_query(bundled):
    blon, blat = from_wgs84(*DELONG, "bd09")
    bd = query.nearest(bundled, blon, blat, k=1, crs="bd09")["features"][0]
    assert bd["id"] == "delong-yinxing-union-station"
    assert abs(bd["properties"]["distance_m"] - 55.6) < 2


def test_unlocated_stations_never_answer(bundled):
    result = query.nearest(bundled, *DELONG, k=100)
    ids = {f["id"] for f in result["features"]}
    assert "loop178-union-station-7" not in ids
    assert len(ids) == len(bundled.located)


@pytest.fixture
def ring_catalog():
    # A square ring of ~11 km sides near the equator; stations on it at known chainages.
    loop = Loop([(0.0, 0.0), (0.1, 0.0), (0.1, 0.1), (0.0, 0.1), (0.0, 0.0)], {})
    parsed = parse_stations(
        collection(
            station("start", 0.0, 0.0, opening_hours="Mo-Fr 08:00-18:00", amenities=["toilet"]),
            station("east", 0.1, 0.05, amenities=["toilet", "wifi"]),
            station("north", 0.05, 0.1, kind="warm_station", opening_hours="24/7"),
            station("west", 0.0, 0.06, status="closed"),
            station("far", 3.0, 3.0),
        ),
        "ring",
    )
    return Catalog(parsed.stations, loop)


def test_by_loop_ranks_by_route_and_wraps_around_start(ring_catalog):
    loop = ring_catalog.loop
    # Rider on the west edge just north of the start: straight-line the 'start' station is near,
    # and along the loop the way to it runs forward across km 0 (the ring is counterclockwise).
    result = query.nearest(ring_catalog, -0.0005, 0.01, k=2, by="loop")
    first = result["features"][0]["properties"]
    assert first["id"] == "start"
    here = loop.snap(-0.0005, 0.01)
    assert first["loop_distance_m"] == pytest.approx(loop.length_m - here.chainage_m, abs=1)
    assert first["direction"] == "counterclockwise"
    assert first["offroute_m"] == pytest.approx(here.offroute_m, abs=0.2)
    assert first["route_distance_m"] == pytest.approx(
        first["offroute_m"] + first["loop_distance_m"] + first["station_offroute_m"], abs=0.5
    )
    assert "far" not in {f["id"] for f in result["features"]}  # not on the loop
    assert result["loop_calibration"]["basis"] == "geometry"


def test_by_loop_can_differ_from_straight(ring_catalog):
    # Inside the square near the east edge's middle, 'east' is nearest both ways; near the
    # north-east corner, 'north' and 'east' swap depending on measure only if geometry says so.
    straight = query.nearest(ring_catalog, 0.09, 0.05, k=1)["features"][0]["id"]
    loop = query.nearest(ring_catalog, 0.09, 0.05, k=1, by="loop")["features"][0]["id"]
    assert straight == loop == "east"


def test_filters(ring_catalog):
    def ids(**kw):
        return [f["id"] for f in query.nearest(ring_catalog, 0.0, 0.0, k=10, **kw)["features"]]

    assert "west" not in ids()  # closed stations are left out by default
    assert ids(filters=query.Filters(kinds=["warm_station"])) == ["north"]
    assert ids(filters=query.Filters(amenities=["toilet", "wifi"])) == ["east"]
    assert "west" in ids(filters=query.Filters(statuses=["open", "closed"]))
    sunday_night = datetime(2026, 11, 22, 23, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    ctx = query.QueryContext(now=sunday_night)
    open_ids = ids(filters=query.Filters(open_now=True), ctx=ctx)
    assert "start" not in open_ids and "north" in open_ids and "east" in open_ids
    props = {
        f["id"]: f["properties"]["open_now"]
        for f in query.nearest(ring_catalog, 0, 0, k=10, ctx=ctx)["features"]
    }
    assert props["start"] is False and props["north"] is True and props["east"] is None


def test_max_distance_and_within(ring_catalog):
    result = query.nearest(ring_catalog, 0.0, 0.0, k=10, max_distance_m=12_000)
    assert [f["id"] for f in result["features"]] == ["start", "east", "north"][
        : len(result["features"])
    ]
    assert all(f["properties"]["distance_m"] <= 12_000 for f in result["features"])
    inside = query.within(ring_catalog, 0.0, 0.0, 8_000)
    assert [f["id"] for f in inside["features"]] == ["start"]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"k": 0}, "k must be from 1 to 100"),
        ({"k": 101}, "k must be from 1 to 100"),
        ({"by": "air"}, "by must be 'straight' or 'loop'"),
        ({"crs": "epsg3857"}, "crs must be one of wgs84, gcj02, bd09"),
        ({"max_distance_m": -1}, "max_distance_m must be from 0"),
    ],
)
def test_bad_arguments(ring_catalog, kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        query.nearest(ring_catalog, 0, 0, **kwargs)


def test_bad_radius_and_coordinates(ring_catalog):
    with pytest.raises(InvalidInput, match="radius_m must be from 0 to 200000"):
        query.within(ring_catalog, 0, 0, 500_000)
    with pytest.raises(InvalidInput, match="lat must be within"):
        query.nearest(ring_catalog, 0, 95)


def test_navigation_links_use_each_providers_datum(bundled):
    feat = query.nearest(bundled, *DELONG, k=1)["features"][0]
    wlon, wlat = feat["geometry"]["coordinates"]
    nav = feat["properties"]["navigation"]
    amap = parse_qs(urlparse(nav["amap_ride"]).query)
    to = amap["to"][0].split(",")
    glon, glat = wgs84_to_gcj02(wlon, wlat)
    assert float(to[0]) == pytest.approx(glon, abs=1e-6) and float(to[1]) == pytest.approx(
        glat, abs=1e-6
    )
    assert to[2] == feat["properties"]["name"]
    assert amap["mode"] == ["ride"] and amap["coordinate"] == ["gaode"]
    assert parse_qs(urlparse(nav["amap_walk"]).query)["mode"] == ["walk"]
    baidu = parse_qs(urlparse(nav["baidu_ride"]).query)
    blon, blat = from_wgs84(wlon, wlat, "bd09")
    dest = baidu["destination"][0]
    lat_s, lon_s = dest.split("|")[0].removeprefix("latlng:").split(",")
    assert float(lat_s) == pytest.approx(blat, abs=1e-6) and float(lon_s) == pytest.approx(
        blon, abs=1e-6
    )
    assert baidu["coord_type"] == ["bd09ll"] and baidu["mode"] == ["riding"]
    assert parse_qs(urlparse(nav["baidu_walk"]).query)["mode"] == ["walking"]


def test_unknown_filter_values_are_rejected(ring_catalog):
    with pytest.raises(InvalidInput, match="kind 'spa' is unknown; allowed: union_station"):
        query.Filters(kinds=["spa"])
    with pytest.raises(InvalidInput, match="amenity 'sauna' is unknown"):
        query.Filters(amenities=["sauna"])
    with pytest.raises(InvalidInput, match="status 'gone' is unknown"):
        query.Filters(statuses=["gone"])


def test_loop_membership_margin_holds_at_high_latitude():
    # A loop near 53°N (Mohe): a station 4.95 km east of it is within the default 5 km and must
    # get a km mark, though 5 km is only ~0.075° of longitude there (a fixed 0.0725° misses it).
    from pyproj import Geod

    ring = [(122.0, 53.0), (122.2, 53.0), (122.2, 53.2), (122.0, 53.2), (122.0, 53.0)]
    lon, lat, _ = Geod(ellps="WGS84").fwd(122.2, 53.1, 90, 4950)
    parsed = parse_stations(collection(station("east", lon, lat)), "north")
    catalog = Catalog(parsed.stations, Loop(ring, {}))
    place = catalog.loop_places["east"]
    assert place.snap.offroute_m == pytest.approx(4950, abs=5)
    assert catalog.loop_members[0][0] == 0


def test_encoded_answers_are_the_geojson_answers_bytes(bundled):
    """`Answer.encode` (cached feature heads) gives exactly orjson's bytes of `Answer.geojson`."""
    import numpy as np
    import orjson

    parsed = parse_stations(
        collection(
            station("q", 107.1, 29.0, name='引号 "quoted" \\ back\\slash', address="<b>&amp;</b>"),
            station("plain", 107.12, 29.01, name="Plain", name_en=None, amenities=["wifi"]),
            station("closed", 107.13, 29.02, status="closed", opening_hours="Mo-Su 06:00-22:00"),
            station("nowhere", None, None, position_accuracy="unknown"),
        ),
        "odd",
    )
    catalogs = [bundled, Catalog(parsed.stations, bundled.loop)]
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(120):
        catalog = catalogs[int(rng.integers(2))]
        lon, lat = 107.0 + rng.random() * 0.5, 28.8 + rng.random() * 0.4
        crs = ("wgs84", "gcj02", "bd09")[int(rng.integers(3))]
        filters = query.Filters(
            statuses=(("open",), ("open", "closed"))[int(rng.integers(2))],
            open_now=bool(rng.integers(2)),
        )
        ctx = query.QueryContext(
            now=datetime(2026, 11, 24, int(rng.integers(24)), tzinfo=ZoneInfo("Asia/Shanghai"))
        )
        if rng.random() < 0.5:
            by = ("straight", "loop")[int(rng.integers(2))]
            k = int(rng.integers(1, 12))
            answer = query.find_nearest(
                catalog, lon, lat, k=k, by=by, crs=crs, filters=filters, ctx=ctx
            )
        else:
            radius = float(rng.random() * 30_000)
            answer = query.find_within(catalog, lon, lat, radius, crs=crs, filters=filters, ctx=ctx)
        assert answer.encode() == orjson.dumps(answer.geojson())
        checked += len(answer.rows)
    assert checked > 200  # the answers were not all empty


def test_straight_rounding_matches_round():
    import random

    from stations.index import Hit

    rng = random.Random(8)
    hits = [Hit(0, rng.uniform(0, 2e7), rng.uniform(0, 360)) for _ in range(100_000)]
    rows = query._straight(lambda i: None, hits)
    for hit, (_, fields) in zip(hits, rows, strict=True):
        assert fields == {
            "distance_m": round(hit.distance_m, 2),
            "bearing_deg": round(hit.bearing_deg, 1),
        }


def test_links_written_directly_are_orjsons_bytes_of_the_links():
    """`Links.json` (no dict, no serialiser) is exactly ``orjson.dumps(Links.to(place))``."""
    import random

    import orjson

    from stations.navigation import MY_LOCATION, Links, Place, navigation_links

    rng = random.Random(5)
    alphabet = 'ab "\\/<>&%+?#=\n\t\u2028工会驿站😀'
    for _ in range(300):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        dest = Place.from_wgs84(rng.uniform(73, 135), rng.uniform(18, 53), name)
        origin = rng.choice([None, Place.from_wgs84(107.26, 28.91, MY_LOCATION)])
        links = Links(origin)
        assert links.json(dest) == orjson.dumps(links.to(dest))
        amap = parse_qs(urlparse(navigation_links(dest, origin)["amap_ride"]).query)
        assert amap["to"][0].split(",", 2)[2] == name  # the name survives the quoting
