"""Folium maps of the stations and the loop: pure functions from a catalog to a `folium.Map`.

The map carries the loop with km marks, a coverage layer, one marker-cluster layer for every
kind (each kind a sub-group with its own switch in the layer control, so stations of different
kinds at the same spot cluster together and spread apart when clicked), a legend, locate-me and
fullscreen controls and a scale bar. Station markers and popups are drawn by ``stations.js``
from GeoJSON, the same code on every page, which puts every text from data into the page as
text, never as HTML. The data is either inlined (a standalone file) or asked of the API by
viewport (``/map`` at any scale: the page stays a few hundred kB with 186,000 stations).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Literal

import folium
from branca.element import Element, Figure, MacroElement
from folium.plugins import FeatureGroupSubGroup, MarkerCluster
from jinja2 import Template

from stations.catalog import Catalog
from stations.coords import CRS
from stations.features import QueryContext, station_feature
from stations.models import Kind, PositionAccuracy, Status
from stations.planning.places import ring_of
from stations.planning.ring import coverage
from stations.planning.sites import suggest
from stations.web import assets
from stations.web.attribution import data_attribution
from stations.web.i18n import browser_config, check_lang, kind_label, text
from stations.web.tiles import (
    VIEWPORT_API,
    TileSource,
    tile_source,
    to_map,
)

__all__ = ["VIEWPORT_API", "MapOptions", "build_map", "render_page", "to_map"]
KM_MARK_EVERY = 10


@dataclass(frozen=True)
class MapOptions:
    """How to draw a map.

    Parameters
    ----------
    lang
        ``zh`` (default) or ``en`` for the texts riders see; names show in both.
    tiles
        The base map; with GCJ-02 tiles (Amap) every overlay is shifted to GCJ-02.
    coverage_km
        Service distance of the coverage layer (km along the loop), or None for no layer.
    data
        ``inline``: stations written into the page; ``api``: fetched from the API by viewport.
    center, zoom
        Initial view (WGS84 lon, lat); default: fit the loop and stations.
    focus
        Id of a station to centre on and open.
    controls, legend
        Locate-me and fullscreen buttons; the legend (``/embed`` may drop both).
    as_of
        For inline data: when ``open_now`` was evaluated (shown in popups).
    planning_count
        The planning map: this many suggested sites (exact p-center), gaps in bold red.
    """

    lang: str = "zh"
    tiles: TileSource = field(default_factory=lambda: tile_source("osm"))
    coverage_km: float | None = 5.0
    data: Literal["inline", "api"] = "inline"
    center: tuple[float, float] | None = None
    zoom: int | None = None
    focus: str | None = None
    controls: bool = True
    legend: bool = True
    as_of: str | None = None
    api_url: str = VIEWPORT_API
    planning_count: int | None = None


class StationsLayer(MacroElement):
    """Hands the per-kind layers, their cluster and the configuration to ``Stations.mount``."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
Stations.mount({{ this._parent.get_name() }}, {{ this.config }}, {
{%- for kind, group in this.groups %}
  "{{ kind }}": {{ group.get_name() }},
{%- endfor %}
}, {{ this.cluster.get_name() }});
{% endmacro %}
"""
    )

    def __init__(
        self,
        config: dict[str, Any],
        groups: list[tuple[str, FeatureGroupSubGroup]],
        cluster: MarkerCluster,
    ) -> None:
        super().__init__()
        self._name = "StationsLayer"
        self.config = assets.script_json(config)
        self.groups = groups
        self.cluster = cluster


def _bounds(catalog: Catalog) -> tuple[float, float, float, float] | None:
    boxes = []
    extent = catalog.extent()
    if extent is not None:
        boxes.append(extent)
    if catalog.loop is not None:
        boxes.append(catalog.loop.bbox)
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _add_loop(m: folium.Map, catalog: Catalog, options: MapOptions) -> None:
    loop = catalog.loop
    assert loop is not None
    crs, lang = options.tiles.crs, options.lang
    line = folium.FeatureGroup(name=html.escape(text(lang, "loop")), show=True)
    folium.PolyLine(
        to_map(loop.lons, loop.lats, crs),
        color="#6a1b9a",
        weight=4,
        opacity=0.85,
        tooltip=html.escape(text(lang, "loop")),
    ).add_to(line)
    line.add_to(m)
    marks = folium.FeatureGroup(name=html.escape(text(lang, "km_marks")), show=True)
    total_km = loop.km_mark(loop.length_m)
    for km in range(0, int(total_km), KM_MARK_EVERY):
        lon, lat = loop.point_at(loop.chainage_at_km(km))
        ((y, x),) = to_map([lon], [lat], crs)
        folium.CircleMarker(
            [y, x],
            radius=3,
            color="#6a1b9a",
            fill=True,
            fill_opacity=1,
            tooltip=folium.Tooltip(f"{km} km", permanent=True, class_name="st-km-label"),
        ).add_to(marks)
    marks.add_to(m)
    if options.coverage_km:
        # the planners' coverage, in ring metres; geometry goes back through the scale
        cov = coverage(ring_of(catalog), options.coverage_km * 1000.0)
        name = text(lang, "coverage").replace("{km}", f"{options.coverage_km:g}")
        layer = folium.FeatureGroup(name=html.escape(name), show=True)
        for a, b in cov.covered:
            lons, lats = zip(*loop.slice(a / loop.scale, b / loop.scale), strict=True)
            folium.PolyLine(
                to_map(lons, lats, crs), color="#2e7d32", weight=10, opacity=0.45
            ).add_to(layer)
        plan = options.planning_count is not None
        for a, b in cov.gaps:
            lons, lats = zip(*loop.slice(a / loop.scale, b / loop.scale), strict=True)
            folium.PolyLine(
                to_map(lons, lats, crs),
                color="#d32f2f",
                weight=6 if plan else 3,
                opacity=0.9,
                dash_array=None if plan else "6 6",
            ).add_to(layer)
        layer.add_to(m)
    if options.planning_count is not None:
        _add_suggestions(m, catalog, options)


def _add_suggestions(m: folium.Map, catalog: Catalog, options: MapOptions) -> None:
    lang, crs = options.lang, options.tiles.crs
    radius = (options.coverage_km or 5.0) * 1000.0
    result = suggest(catalog, options.planning_count or 0, radius)
    after = result["objective"]["after"]
    name = text(lang, "suggested")
    layer = folium.FeatureGroup(name=html.escape(name), show=True)
    for f in result["features"]:
        p = f["properties"]
        ((y, x),) = to_map([p["lon"]], [p["lat"]], crs)
        town = p.get("nearest_town") or {}
        label = f"{name} #{p['rank']} · km {p['loop_km']:.1f}"
        if town:
            label += f" · {town.get('name', '')} {town['distance_m'] / 1000:.1f} km"
        folium.CircleMarker(
            [y, x],
            radius=10,
            color="#4a148c",
            weight=3,
            fill=True,
            fill_color="#ce93d8",
            fill_opacity=0.9,
            tooltip=folium.Tooltip(html.escape(label)),
            class_name="st-suggested",
        ).add_to(layer)
    summary = text(lang, "planning_summary").format(
        n=len(result["features"]),
        before=(result["objective"]["before"]["max_distance_m"] or 0) / 1000,
        after=(after["max_distance_m"] or 0) / 1000,
    )
    layer.add_to(m)
    root = m.get_root()
    assert isinstance(root, Figure)
    root.html.add_child(Element(f'<div class="st-planning-summary">{html.escape(summary)}</div>'))


#: What a popup shows; a standalone file carries only these (10,000 stations: 12 MB -> see README).
POPUP_FIELDS = (
    "id name name_en kind status town address opening_hours open_now amenities awards phone "
    "loop_km position_accuracy"
).split()
POPUP_LINKS = ("amap_ride", "baidu_ride")


def _inline_data(catalog: Catalog, crs: CRS, ctx: QueryContext) -> dict[str, Any]:
    features = []
    for s in catalog.located:
        if s.props.status is not Status.OPEN:
            continue
        feature = station_feature(catalog, s, crs, ctx)
        props = feature["properties"]
        slim = {k: props[k] for k in POPUP_FIELDS if props.get(k) not in (None, [], "")}
        slim["open_now"] = props["open_now"]
        slim["navigation"] = {k: props["navigation"][k] for k in POPUP_LINKS}
        features.append({**feature, "properties": slim})
    return {"type": "FeatureCollection", "features": features}


def _base_map(options: MapOptions, lang: str) -> folium.Map:
    """An empty map with our assets (no CDN), title and referrer policy."""
    tiles = options.tiles
    location = [29.0, 107.2]
    if options.center is not None:
        ((location),) = to_map([options.center[0]], [options.center[1]], tiles.crs)
    max_zoom = tiles.max_zoom if tiles.url else 19
    m = folium.Map(
        location=location,
        zoom_start=options.zoom or 10,
        tiles=None,
        control_scale=True,
        max_zoom=max_zoom,
    )
    m.options["max_zoom"] = max_zoom  # clusters need it, tiles or not
    m.default_js = [(a, assets.url(a)) for a in assets.JS]
    m.default_css = [(a, assets.url(a)) for a in assets.CSS]
    root = m.get_root()
    assert isinstance(root, Figure)
    root.title = html.escape(text(lang, "map_title"))
    referrer = '<meta name="referrer" content="strict-origin-when-cross-origin">'
    root.header.add_child(Element(referrer))
    root.header.add_child(Element('<link rel="icon" href="data:,">'))  # no /favicon.ico request
    return m


def _add_tiles(m: folium.Map, tiles: TileSource) -> None:
    """The base layer (and its label overlay), with its attribution, unless tiles are off."""
    if not tiles.url:
        return
    attribution = tiles.safe_attribution()
    folium.TileLayer(
        tiles=tiles.url,
        attr=attribution,
        name=tiles.name,
        subdomains=tiles.subdomains or "abc",
        max_zoom=tiles.max_zoom,
        control=False,
    ).add_to(m)
    if tiles.overlay_url:
        folium.TileLayer(
            tiles=tiles.overlay_url,
            attr=attribution,
            name=f"{tiles.name} labels",
            subdomains=tiles.subdomains,
            overlay=True,
            control=False,
        ).add_to(m)


def _kind_groups(
    m: folium.Map, catalog: Catalog, options: MapOptions, lang: str
) -> tuple[MarkerCluster, list[tuple[str, FeatureGroupSubGroup]]]:
    """One cluster for every station, and a sub-group with its own switch per kind shown.

    One cluster across kinds, not one per kind: clusters of different groups never meet, so
    a warm station and a fridge at the same spot would stay two pins, one hiding the other.
    In one cluster they group and spread apart ("spiderfy") when clicked, at any zoom.
    """
    present = {s.props.kind for s in catalog.located} if options.data == "inline" else set(Kind)
    cluster = MarkerCluster(
        control=False,
        options={"showCoverageOnHover": False, "chunkedLoading": True, "maxClusterRadius": 50},
    )
    cluster.default_js, cluster.default_css = [], []  # the map already carries the plugins
    cluster.add_to(m)
    groups: list[tuple[str, FeatureGroupSubGroup]] = []
    for kind in Kind:
        if kind not in present:
            continue
        group = FeatureGroupSubGroup(cluster, name=html.escape(kind_label(kind, lang)))
        group.default_js = []
        group.add_to(m)
        groups.append((kind.value, group))
    return cluster, groups


def _browser_config(
    catalog: Catalog, options: MapOptions, lang: str, kinds: list[str], ctx: QueryContext
) -> dict[str, Any]:
    """What ``stations.js`` needs: texts, datum, layers, and the data or where to ask for it."""
    has_loop = catalog.loop is not None
    config = browser_config(lang)
    config.update(
        crs=options.tiles.crs.value,
        legendKinds=kinds,
        showLoop=has_loop,
        coverageKm=options.coverage_km if has_loop else None,
        approximate=any(
            s.props.position_accuracy is not PositionAccuracy.SURVEYED for s in catalog.located
        ),
        focus=options.focus,
        suggested=has_loop and bool(options.planning_count),  # the planning map's new sites
        controls=options.controls,
        legend=options.legend,
        attribution=data_attribution(catalog),
    )
    if options.data == "inline":
        config["data"] = _inline_data(catalog, options.tiles.crs, ctx)
        config["asOf"] = options.as_of
    else:
        config["api"] = options.api_url
    return config


def build_map(
    catalog: Catalog, options: MapOptions | None = None, ctx: QueryContext | None = None
) -> folium.Map:
    """The map of ``catalog``: a `folium.Map` ready to save or serve."""
    options = options or MapOptions()
    lang = check_lang(options.lang)
    m = _base_map(options, lang)
    _add_tiles(m, options.tiles)
    if catalog.loop is not None:
        _add_loop(m, catalog, options)
    cluster, groups = _kind_groups(m, catalog, options, lang)
    config = _browser_config(catalog, options, lang, [k for k, _ in groups], ctx or QueryContext())
    m.add_child(StationsLayer(config, groups, cluster))
    folium.LayerControl(collapsed=True).add_to(m)
    if options.center is None or options.zoom is None:
        box = _bounds(catalog)
        if box is not None:
            (s, w), (n, e) = to_map([box[0], box[2]], [box[1], box[3]], options.tiles.crs)
            m.fit_bounds([[s, w], [n, e]], padding=(20, 20))
    return m


def render_page(m: folium.Map) -> str:
    """HTML for the service: assets referenced under ``/static/``."""
    return str(m.get_root().render())
