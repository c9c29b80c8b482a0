"""Service settings, read from ``STATIONS_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from stations.coords import CRS
from stations.errors import InvalidInput
from stations.setting_checks import (
    check_database_url,
    check_origin,
    check_public_url,
    check_timezone,
    parse_admin_tokens,
    proxy_networks,
)
from stations.web.tiles import tile_source

#: The folder of the bundled data: ``geodata/`` at the top of the repository.
DEFAULT_GEODATA = Path(__file__).resolve().parents[2] / "geodata"


class Settings(BaseSettings):
    """Everything the service and the CLI can be configured with."""

    model_config = SettingsConfigDict(env_prefix="STATIONS_", env_file=".env", extra="ignore")

    stations_path: Path = Field(
        default=DEFAULT_GEODATA / "stations.geojson", description="Stations GeoJSON file."
    )
    loop_path: Path = Field(
        default=DEFAULT_GEODATA / "loop178.geojson", description="Loop GeoJSON file."
    )
    timezone: str = Field(default="Asia/Shanghai", description="Zone for opening hours.")
    calibrate_loop: bool = Field(
        default=True,
        description="Scale along-loop distances to the loop's official length.",
    )
    max_k: int = Field(default=100, ge=1, le=10_000, description="Upper bound of k.")
    max_radius_m: float = Field(default=200_000.0, gt=0, description="Largest radius allowed.")
    loop_max_offroute_m: float = Field(
        default=5_000.0,
        gt=0,
        description="Stations farther than this from the loop get no km mark.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser (comma-separated).",
    )
    embed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed to frame /embed (comma-separated; empty: same origin).",
    )
    hot_path: bool = Field(
        default=True,
        description="Answer plain GET /api/nearest and /api/within in a lean ASGI layer before "
        "the framework's routing (same code and answers; see stations.api.hotpath).",
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Largest request body.")
    ogc_max_limit: int = Field(default=10_000, ge=1, description="Largest OGC items page.")
    cache_max_age_s: int = Field(default=60, ge=0, description="Cache-Control max-age of reads.")
    tiles: str = Field(
        default="osm",
        description="Base map: osm, amap (GCJ-02), tianditu (needs a key), none, or a URL "
        "template with {z}/{x}/{y}.",
    )
    tiles_attribution: str | None = Field(
        default=None, description="Attribution of a custom tile URL template."
    )
    tiles_crs: CRS = Field(
        default=CRS.WGS84, description="Datum of a custom tile URL template: wgs84 or gcj02."
    )
    tianditu_key: str | None = Field(default=None, description="Tianditu API key (tk).")
    map_max_markers: int = Field(
        default=500,
        ge=1,
        le=20_000,
        description="Above this many stations in view, the map gets clusters from the server.",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token(s) allowing writes: TOKEN, or label:TOKEN,label2:TOKEN2 "
        "(labels go to the audit log). Unset: writes are refused.",
    )
    compact_every: int = Field(
        default=10_000,
        ge=1,
        description="Fold the write journal into the stations file after this many writes.",
    )
    compact_idle_s: float = Field(
        default=5.0,
        gt=0,
        description="Fold the write journal into the stations file once writes pause this long.",
    )
    keep_backups: int = Field(default=20, ge=1, le=10_000, description="Backups kept.")
    reports_path: Path | None = Field(
        default=None,
        description="Riders' reports (SQLite); default reports.sqlite3 beside the stations file.",
    )
    report_rate_per_hour: int = Field(
        default=10, ge=1, le=10_000, description="Reports one device may send an hour."
    )

    def reports_file(self) -> Path:
        """Where riders' reports are kept."""
        return self.reports_path or self.stations_path.parent / "reports.sqlite3"

    coverage_km: float = Field(
        default=5.0, gt=0, le=200, description="Service distance of the map's coverage layer."
    )

    @field_validator("cors_origins", "embed_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # -- checked at start, not at first use: a page or query must never be the first to fail --
    @field_validator("cors_origins", "embed_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        """Each an origin as browsers send it: scheme://host[:port], nothing after."""
        return [check_origin(origin) for origin in value]

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        """An IANA zone name this machine knows (opening hours are read in it)."""
        return check_timezone(value)

    @field_validator("tiles_crs")
    @classmethod
    def _check_tiles_crs(cls, value: CRS) -> CRS:
        """Tiles are drawn in WGS84 or GCJ-02; the maps shift their overlays to no other."""
        if value not in (CRS.WGS84, CRS.GCJ02):
            raise ValueError(f"tiles_crs must be wgs84 or gcj02; got {value.value!r}")
        return value

    @model_validator(mode="after")
    def _check_tiles(self) -> Self:
        """The base map every page uses, as the pages will build it (tianditu: with a key)."""
        try:
            tile_source(
                self.tiles,
                tianditu_key=self.tianditu_key,
                attribution=self.tiles_attribution,
                crs=self.tiles_crs,
            )
        except InvalidInput as exc:
            raise ValueError(f"STATIONS_TILES: {exc}") from None
        return self

    # Limits the server sets itself (stations.api.server, stations.api.proxies, page builds).
    max_header_bytes: int = Field(
        default=32_768,
        ge=1024,
        le=1_048_576,
        description="Largest request head (request line and headers); past it: 431.",
    )
    max_headers: int = Field(
        default=100, ge=8, le=10_000, description="Most header fields in a request; past it: 431."
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="Seconds a client has to send a whole request head, from the connection or "
        "the previous answer (slow clients, slowloris); past it: 408 and the connection closed.",
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Seconds a client has to send a request body once its head is in; past it "
        "the connection is closed.",
    )
    keep_alive_s: int = Field(
        default=5, ge=1, le=600, description="Seconds an idle keep-alive connection stays open."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (comma-separated; empty: none, the peer is the client).",
    )
    page_builds: int = Field(
        default=1, ge=1, le=16, description="Pages a worker builds at once (in threads)."
    )
    page_builds_per_minute: int = Field(
        default=30,
        ge=1,
        le=100_000,
        description="Pages one client may have a worker build in a minute (cached pages are free).",
    )
    page_cache_entries: int = Field(
        default=256, ge=1, le=100_000, description="Built pages a worker keeps."
    )
    page_cache_bytes: int = Field(
        default=64 * 1_048_576, ge=1_048_576, description="Bytes of built pages a worker keeps."
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_networks(cls, value: object) -> object:
        return proxy_networks(value)

    # -- admin tokens (stream 15-D): labels and tokens checked once, when settings load --
    @field_validator("admin_token")
    @classmethod
    def _check_admin_tokens(cls, value: SecretStr | None) -> SecretStr | None:
        """Refuse a token list some entry of which could never be sent or never be named.

        A blank value counts as unset (writes disabled), as an empty ``.env`` line means.
        """
        if value is None or not value.get_secret_value().strip():
            return None
        parse_admin_tokens(value.get_secret_value())
        return value

    def admin_tokens(self) -> list[tuple[str, str]]:
        """(label, token) pairs of `admin_token`, in order; empty when writes are disabled."""
        if self.admin_token is None:
            return []
        return parse_admin_tokens(self.admin_token.get_secret_value())

    # -- the office's posters (stream 17-C): the address riders reach the service at --
    public_url: str | None = Field(
        default=None,
        max_length=200,
        description="The service's public address as riders reach it (https://host[:port][/path]); "
        "the QR codes on station posters link there. Unset: taken from each request.",
    )

    # -- lean replicas (issue 18): the column file and the records made from it --
    columns_min_stations: int = Field(
        default=10_000,
        ge=0,
        description="Files with at least this many stations get a column file beside them "
        "(stations.geojson.columns), so later starts skip parsing and validation.",
    )
    station_cache_entries: int = Field(
        default=20_000,
        ge=1,
        le=10_000_000,
        description="Stations (and their encoded features, per datum) a worker keeps made; "
        "the least recently used go first.",
    )

    # -- the offline rider app (issue 20) --
    offline_max_stations: int = Field(
        default=20_000,
        ge=1,
        le=1_000_000,
        description="Most stations one offline snapshot (/api/offline) may hold; past it the "
        "page must ask for a smaller bbox.",
    )

    # -- the office's loop (stream 17-B): driven tracks sent to /api/loop --
    max_track_bytes: int = Field(
        default=16 * 1_048_576,
        ge=1024,
        description="Largest track (GPX or JSON) /api/loop and /api/loop/preview take.",
    )
    max_track_points: int = Field(
        default=100_000, ge=4, le=1_000_000, description="Most positions a track may hold."
    )

    # -- PostgreSQL store (issue 19): unset, the GeoJSON files above --
    database_url: str | None = Field(
        default=None,
        description="postgresql://user:password@host:port/db: keep the stations (and rider "
        "reports) in PostgreSQL/PostGIS instead of the files; unset: the GeoJSON files.",
    )
    database_poll_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Seconds between a replica's catch-up reads of the change log (besides "
        "LISTEN, which wakes it at once).",
    )

    database_read_url: str | None = Field(
        default=None,
        description="postgresql://... of a streaming-replication standby to load and follow "
        "the stations from (by polling); writes still go to database_url.",
    )

    # -- the replica cache (issue 19): a PostgreSQL replica starts from a local column file --
    replica_cache_dir: Path | None = Field(
        default_factory=lambda: default_cache_dir(),
        description="Where a PostgreSQL-backed replica keeps the column file of what it loaded "
        "(per database), so that its next start maps it and catches up through the change log "
        "instead of reading the whole database. Blank: no cache. Only data of at least "
        "columns_min_stations stations is cached.",
    )

    database_keep_changes: int = Field(
        default=100_000,
        ge=0,
        le=100_000_000,
        description="Change-log rows a fold of the PostgreSQL store keeps at least: a replica "
        "whose cache is that few changes behind still starts from it.",
    )

    @field_validator("replica_cache_dir", mode="before")
    @classmethod
    def _blank_cache_dir(cls, value: object) -> object:
        """A blank value turns the cache off."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        """A blank value counts as unset; anything else must be a postgresql:// URL."""
        return check_database_url(value)

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        """An http(s) address with a host and nothing after the path; no trailing slash."""
        return check_public_url(value)

    # -- floods (issue 15): pages per client, and the penalty box (stations.api.flood) --
    page_requests_per_minute: int = Field(
        default=60,
        ge=1,
        le=100_000,
        description="Pages (/, /map, /embed), cached or not, one client address may ask a worker "
        "for in a minute; past it: 429, answered before the framework.",
    )
    penalty_strikes: int = Field(
        default=30,
        ge=1,
        le=100_000,
        description="Refusals (431 heads, 429 pages) of one address in a minute that put it in "
        "the penalty box.",
    )
    penalty_s: float = Field(
        default=60.0,
        ge=0,
        le=86_400,
        description="Seconds an address stays in the penalty box: requests other than "
        "/api/nearest and /api/within are held unanswered, then reset (0: no penalty box).",
    )


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/stations`` (``~/.cache/stations``): local, private to the user."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stations"
