"""The standalone map file: every asset inlined, so it opens from disk or any web host.

The file carries a fingerprint of what it was made from (data, assets, tiles, language), so a
test can tell when the bundled map is stale.
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import folium

from stations import __version__
from stations.catalog import Catalog
from stations.features import QueryContext
from stations.storage.files import atomic_write_text
from stations.web import assets
from stations.web.maps import MapOptions, build_map, render_page


def render_standalone(m: folium.Map, fingerprint: str | None = None) -> str:
    """HTML for a file that works anywhere: every asset inlined, nothing fetched but tiles."""
    page = assets.inline(render_page(m))
    if fingerprint:
        meta = f'<meta name="stations-data" content="{html.escape(fingerprint)}">'
        page = page.replace("<head>", "<head>\n    " + meta, 1)
    return page


def fingerprint(catalog_files: list[Path], options: MapOptions) -> str:
    """What a standalone map was made from: data, the assets it inlines, tiles and lang."""
    digest = hashlib.blake2b(digest_size=12)
    for path in [*catalog_files, *(assets.path(a) for a in [*assets.JS, *assets.CSS])]:
        digest.update(path.read_bytes())
    digest.update(
        f"{__version__}|{options.tiles.name}|{options.lang}|{options.coverage_km}|"
        f"{options.planning_count}".encode()
    )
    return digest.hexdigest()


def read_fingerprint(page: str) -> str | None:
    """The fingerprint a map file was written with, if any."""
    match = re.search(r'<meta name="stations-data" content="([0-9a-f]+)">', page)
    return match.group(1) if match else None


def write_map(
    catalog: Catalog,
    out: Path,
    options: MapOptions,
    sources: list[Path],
    ctx: QueryContext | None = None,
) -> Path:
    """Write the standalone map file atomically (a temp file beside it, then rename)."""
    ctx = ctx or QueryContext()
    if options.as_of is None:
        stamp = datetime.now(ZoneInfo(ctx.tz)).strftime("%Y-%m-%d %H:%M")
        options = MapOptions(**{**options.__dict__, "as_of": stamp})
    page = render_standalone(build_map(catalog, options, ctx), fingerprint(sources, options))
    return atomic_write_text(out, page)
