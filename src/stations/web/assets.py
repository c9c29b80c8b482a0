"""Page assets: Leaflet and Leaflet.markercluster from their XStatic packages (PyPI), plus ours.

Nothing is fetched from a CDN (mainland riders often cannot reach jsdelivr, cdnjs or unpkg, which
folium uses by default). The service serves the files under ``/static/``; a standalone map file
gets them inlined, so it works opened from disk or copied to any web host.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
from pathlib import Path
from typing import Any

import xstatic.pkg.leaflet as xleaflet
import xstatic.pkg.leaflet_markercluster as xcluster

#: URL folder -> directory on disk.
MOUNTS: dict[str, Path] = {
    "leaflet": Path(xleaflet.BASE_DIR),
    "markercluster": Path(xcluster.BASE_DIR),
    "stations": Path(__file__).parent / "static",
}
VERSIONS = {"leaflet": xleaflet.VERSION, "markercluster": xcluster.VERSION}
STATIC = "/static/"

JS = [
    "leaflet/leaflet.js",
    "markercluster/leaflet.markercluster.js",
    # Leaflet.FeatureGroup.SubGroup 1.0.2 (npm, BSD-2-Clause), vendored: no PyPI package has it
    "stations/leaflet.featuregroup.subgroup.js",
    "stations/stations.js",
]
CSS = [
    "leaflet/leaflet.css",
    "markercluster/MarkerCluster.css",
    "markercluster/MarkerCluster.Default.css",
    "stations/stations.css",
]


def url(asset: str) -> str:
    """The URL the service serves ``asset`` at (``leaflet/leaflet.js`` -> ``/static/...``)."""
    return STATIC + asset


def path(asset: str) -> Path:
    """The file behind an asset name; KeyError for anything not in `MOUNTS`."""
    folder, _, name = asset.partition("/")
    base = MOUNTS[folder].resolve()
    target = (base / name).resolve()
    if base not in target.parents:
        raise KeyError(asset)
    return target


def script_json(value: Any) -> str:
    """JSON safe to place inside ``<script>``: ``<``, ``>`` and ``&`` escaped as JSON escapes."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _data_uri(file: Path) -> str:
    mime = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(file.read_bytes()).decode()}"


def _inline_css(asset: str) -> str:
    css = path(asset).read_text(encoding="utf-8")
    folder = path(asset).parent

    def embed(match: re.Match[str]) -> str:
        ref = match.group(2)
        if ref.startswith(("data:", "http:", "https:", "#")):
            return match.group(0)
        file = (folder / ref).resolve()
        return f"url({match.group(1)}{_data_uri(file)}{match.group(1)})" if file.is_file() else ""

    return re.sub(r"url\((['\"]?)([^'\")]+)\1\)", embed, css)


_TAG = re.compile(
    r'<script src="/static/([\w./-]+)"></script>'
    r'|<link rel="stylesheet" href="/static/([\w./-]+)"/?>'
)


def inline(html: str) -> str:
    """Replace every ``/static/`` script and stylesheet tag with the file's content.

    Images referenced from the stylesheets become data: URIs. ``</script`` inside a script is
    escaped so it cannot end the element early.
    """

    def replace(match: re.Match[str]) -> str:
        js, css = match.group(1), match.group(2)
        if js:
            code = path(js).read_text(encoding="utf-8").replace("</script", "<\\/script")
            return f"<script>/* {js} */\n{code}\n</script>"
        return f"<style>/* {css} */\n{_inline_css(css)}\n</style>"

    return _TAG.sub(replace, html)
