"""The hot path (riders' routes answered before FastAPI) answers exactly as the framework does."""

import pytest
from fastapi.testclient import TestClient

from stations.api import create_app
from stations.settings import Settings

HEADERS = (
    "content-type",
    "cache-control",
    "x-content-type-options",
    "referrer-policy",
    "cross-origin-resource-policy",
    "www-authenticate",
    "access-control-allow-origin",
)

URLS = [
    "/api/nearest?lon=107.2618&lat=28.912&k=5",
    "/api/nearest?lon=107.2618&lat=28.912",
    "/api/nearest?lon=107.26&lat=28.91&k=3&by=loop",
    "/api/nearest?lon=107.27&lat=28.91&crs=gcj02&k=2",
    "/api/nearest?lon=107.27&lat=28.91&crs=bd09&kind=union_station&kind=warm_station",
    "/api/nearest?lon=107.27&lat=28.91&amenity=toilet&open_now=true",
    "/api/nearest?lon=107.27&lat=28.91&status=open&status=closed&max_distance_m=20000",
    "/api/nearest?lon=107.27&lat=28.91&k=1&k=4",  # the last value wins, as in Starlette
    "/api/nearest?lon=%31%30%37.2&lat=28.9",  # percent-encoded digits
    "/api/within?lon=107.2618&lat=28.912&radius_m=9000",
    "/api/within?lon=107.2618&lat=28.912&radius_m=50000&limit=2&crs=gcj02",
    # errors: every one a 4xx naming the parameter
    "/api/nearest?lon=200&lat=28.9",
    "/api/nearest?lon=north&lat=28.9",
    "/api/nearest?lon=nan&lat=28.9",
    "/api/nearest?lat=28.9",
    "/api/nearest?lon=107&lat=28.9&k=0",
    "/api/nearest?lon=107&lat=28.9&k=1000",
    "/api/nearest?lon=107&lat=28.9&crs=mars",
    "/api/nearest?lon=107&lat=28.9&kind=castle",
    "/api/nearest?lon=107&lat=28.9&bogus=1",
    "/api/nearest?lon=107&lat=28.9&by=air",
    "/api/within?lon=107&lat=28.9&radius_m=1e9",
    "/api/within?lon=107&lat=28.9",
    "/api/nearest?lon=107&lat=28.9&max_distance_m=-5",
]


@pytest.fixture(scope="module")
def clients():
    made = []
    for hot in (True, False):
        app = create_app(
            Settings(_env_file=None, hot_path=hot, cors_origins=["https://example.org"])
        )
        made.append(TestClient(app))
    with made[0] as hot_client, made[1] as framework_client:
        yield hot_client, framework_client


@pytest.mark.parametrize("url", URLS)
def test_hot_path_answers_as_the_framework(clients, url):
    hot, framework = clients
    a, b = hot.get(url), framework.get(url)
    assert a.status_code == b.status_code
    assert a.status_code in (200, 400)
    if a.status_code == 200:
        assert a.content == b.content  # byte for byte
    else:
        assert a.json() == b.json() and a.json()["detail"]
    for name in HEADERS:
        assert a.headers.get(name) == b.headers.get(name), name


def test_hot_path_leaves_cross_origin_and_other_methods_to_the_framework(clients):
    hot, framework = clients
    url = "/api/nearest?lon=107.2618&lat=28.912"
    cors = hot.get(url, headers={"Origin": "https://example.org"})
    assert cors.status_code == 200
    assert cors.headers["access-control-allow-origin"] == "https://example.org"
    assert cors.content == framework.get(url, headers={"Origin": "https://example.org"}).content
    post = hot.post(url)
    assert post.status_code == 405 and "GET" in post.headers["allow"]
    head = hot.head(url)
    assert head.status_code in (200, 405)  # whatever FastAPI answers, not the hot path
    assert head.content == b""


def test_hot_path_is_really_taken(clients, monkeypatch):
    """Plain GETs are answered by the hot path; with it off, by FastAPI's route."""
    hot, framework = clients
    from stations.api.routes import queries

    seen = []

    async def spy(state, pairs):
        seen.append(pairs)
        return await queries.nearest_answer(state, pairs)

    monkeypatch.setitem(queries.HOT_ROUTES, "/api/nearest", spy)
    assert hot.get("/api/nearest?lon=107.2618&lat=28.912").status_code == 200
    assert seen == [[("lon", "107.2618"), ("lat", "28.912")]]
    assert framework.get("/api/nearest?lon=107.2618&lat=28.912").status_code == 200
    assert len(seen) == 1  # STATIONS_HOT_PATH=false: the framework answered


def test_query_pairs_read_a_query_string_as_parse_qsl_does():
    import random
    from urllib.parse import parse_qsl

    from stations.api.hotpath import query_pairs

    rng = random.Random(5)
    pieces = ["lon", "lat", "=", "&", "k", "5", ".", "-", "", "==", "&&", ";", "%20", "+", "%"]
    for _ in range(5000):
        query = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert query_pairs(query) == parse_qsl(query, keep_blank_values=True), query
