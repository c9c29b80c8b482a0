"""Shared fixtures: the bundled data, and tiny GeoJSON files written per test."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stations.catalog import Catalog
from stations.settings import DEFAULT_GEODATA, Settings

BUNDLED_STATIONS = DEFAULT_GEODATA / "stations.geojson"
BUNDLED_LOOP = DEFAULT_GEODATA / "loop178.geojson"


def station(sid: str, lon: float | None, lat: float | None, **props: Any) -> dict[str, Any]:
    """A valid station Feature; keyword arguments override properties."""
    base: dict[str, Any] = {
        "id": sid,
        "name": f"站点 {sid}",
        "name_en": f"Station {sid}",
        "kind": "union_station",
        "amenities": [],
        "status": "open",
        "position_accuracy": "approximate",
        "source": "test fixture",
    }
    base.update(props)
    geometry = None if lon is None else {"type": "Point", "coordinates": [lon, lat]}
    return {"type": "Feature", "id": sid, "geometry": geometry, "properties": base}


def stored_bytes(path: Path) -> bytes:
    """Everything stored for a stations file: the snapshot and its write journal."""
    journal = path.with_name(path.name + ".journal")
    return path.read_bytes() + b"\0journal\0" + (journal.read_bytes() if journal.exists() else b"")


def stored_doc(path: Path) -> dict[str, Any]:
    """The stations document as readers see it (snapshot + journal)."""
    from stations.storage.snapshot import read_document

    doc, _ = read_document(path)
    return doc


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def settings_on_copy(folder: Path, **overrides: Any) -> Settings:
    """Settings for the bundled stations copied into ``folder`` (writes allowed), bundled loop."""
    data = folder / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, data)
    return Settings(_env_file=None, stations_path=data, loop_path=BUNDLED_LOOP, **overrides)


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def bundled() -> Catalog:
    return Catalog.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]


@pytest.fixture
def write_json(tmp_path: Path) -> Callable[[str, Any], Path]:
    def _write(name: str, data: Any) -> Path:
        path = tmp_path / name
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture(scope="session")
def client():
    from fastapi.testclient import TestClient

    from stations.api import create_app

    app = create_app(Settings(_env_file=None, cors_origins=["https://example.org"]))
    with TestClient(app) as test_client:
        yield test_client
