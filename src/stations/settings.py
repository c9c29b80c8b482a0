"""Service settings, read from ``STATIONS_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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
