"""Writes that cannot poison the data: hostile features refused, bad stored data named in one line.

Whatever a writer sends, the store either refuses it (naming the member to fix) with nothing
stored, or stores what every reader, compaction and export can handle. Data made bad by hand
(a journal line edited, an older version's write) stops every command with the file and the
problem, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS, station, stored_bytes
from stations.cli import app
from stations.errors import DataError, InvalidInput
from stations.storage import journal
from stations.storage.geojson import GeoJSONStore
from stations.storage.loading import load_stations

KNOWN = "delong-yinxing-union-station"


def nested(depth: int) -> Any:
    """A list nested ``depth`` deep."""
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def with_coords(*coords: Any) -> dict[str, Any]:
    return {
        **station("s", 107.2, 28.95),
        "geometry": {"type": "Point", "coordinates": list(coords)},
    }


#: (feature, what the refusal must name)
HOSTILE: list[tuple[dict[str, Any], str]] = [
    ({**station("s", 107.2, 28.95), "foo": nested(252)}, "feature member 'foo' is not allowed"),
    ({**station("s", 107.2, 28.95), "bbox": [107, 28, 108, 29]}, "feature member 'bbox'"),
    ({**station("s", 107.2, 28.95), "x" * 100_000: 1}, "feature member 'xxxx"),
    (with_coords(107.2, 28.95, "high"), "geometry.coordinates[2] must be a finite number"),
    (with_coords(107.2, 28.95, float("nan")), "geometry.coordinates[2] must be a finite number"),
    (with_coords(107.2, 28.95, 10**400), "geometry.coordinates[2] must be within"),
    (with_coords(107.2, 28.95, 10**30), "geometry.coordinates[2] must be within"),
    (with_coords(107.2, 28.95, 1, 2), "coordinates must be [lon, lat]"),
    (with_coords(10**30, 28.95), "lon must be within [-180, 180]"),
    (with_coords(10**400, 28.95), "lon must be within [-180, 180]"),
    (
        {
            **station("s", 107.2, 28.95),
            "geometry": {"type": "Point", "coordinates": [1, 2], "z": 1},
        },
        "geometry member 'z' is not allowed",
    ),
    (station("s", 107.2, 28.95, name="x" * 200_000), "properties.name"),
    (station("s", 107.2, 28.95, notes="\ud800"), "properties.notes: contains a lone surrogate"),
    (station("s", 107.2, 28.95, awards=["a\udfff"]), "properties.awards.0: contains a lone"),
    (station("s", 107.2, 28.95, awards=[f"award {i}" for i in range(1000)]), "properties.awards"),
    (station("s", 107.2, 28.95, opening_hours="Mo-Su 08:00-18:00; " * 1000), "opening_hours"),
    (station("s", 107.2, 28.95, colour=nested(252)), "properties.colour: unknown property"),
    (station("s", 107.2, 28.95, awards=nested(252)), "properties.awards"),
    (station("s", 107.2, 28.95, kind="k" * 100_000), "properties.kind"),
    ({**station("s", 107.2, 28.95), "id": nested(252)}, "Feature id"),
    ({**station("s", 107.2, 28.95), "id": "other"}, "differs from properties.id"),
    ({**station("s", 107.2, 28.95), "type": nested(252)}, "not a GeoJSON Feature"),
]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, path)
    return path


@pytest.mark.parametrize(("feature", "needle"), HOSTILE)
def test_hostile_features_are_refused_naming_the_member(data, feature, needle):
    store = GeoJSONStore(data)
    before = stored_bytes(data)
    for write in (
        lambda: store.create(feature, "t"),
        lambda: store.import_features([feature], "t"),
    ):
        with pytest.raises(InvalidInput) as info:
            write()
        message = str(info.value)
        assert needle in message
        assert len(message) < 2000  # a 200 kB value is not echoed back
    assert stored_bytes(data) == before
    assert not journal.journal_path(data).exists()


def test_hostile_replacements_and_patches_are_refused(data):
    store = GeoJSONStore(data)
    current = store.snapshot()[0]["features"][2]
    assert current["id"] == KNOWN
    before = stored_bytes(data)
    with pytest.raises(InvalidInput, match="feature member 'foo'"):
        store.replace(KNOWN, {**current, "foo": nested(252)}, "t")
    with pytest.raises(InvalidInput, match=r"coordinates\[2\] must be a finite number"):
        store.patch(KNOWN, {"geometry": {"type": "Point", "coordinates": [107.2, 29, None]}}, "t")
    with pytest.raises(InvalidInput, match="properties.name: contains a lone surrogate"):
        store.patch(KNOWN, {"properties": {"name": "驿站\udc80"}}, "t")
    assert stored_bytes(data) == before


def test_an_elevation_is_kept_and_survives_compaction(data):
    store = GeoJSONStore(data)
    stored = store.create(with_coords(107.2, 28.95, 512.5), "t")
    assert stored["geometry"]["coordinates"] == [107.2, 28.95, 512.5]
    assert store.compact() == 1
    assert load_stations(data).stations[-1].id == "s"
    assert store.snapshot()[0]["features"][-1]["geometry"]["coordinates"][2] == 512.5


def test_a_failed_append_leaves_no_journal_behind(data, monkeypatch):
    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal.os, "write", full)
    with pytest.raises(OSError):
        GeoJSONStore(data).create(station("s", 107.2, 28.95), "t")
    assert not journal.journal_path(data).exists()
    # an entry that cannot be encoded fails before the journal is even opened
    monkeypatch.undo()
    # on an existing journal, what a failed append wrote is cut off again
    GeoJSONStore(data).create(station("s", 107.2, 28.95), "t")
    jpath = journal.journal_path(data)
    whole = jpath.read_bytes()

    def lost(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(journal.os, "fsync", lost)
    with pytest.raises(OSError):
        GeoJSONStore(data).import_features([station("t", 107.2, 28.95)], "t")
    monkeypatch.undo()
    assert jpath.read_bytes() == whole
    jpath.unlink()
    with pytest.raises(TypeError):
        journal.append(journal.journal_path(data), [journal.Entry("s", {"name": "\ud800"})])
    assert not journal.journal_path(data).exists()


def test_a_write_is_acknowledged_even_if_the_compaction_after_it_fails(data, caplog):
    """The write is durable in the journal; the fold waits until the bad line is fixed."""
    jpath = poison(data, "invalid")
    stored = GeoJSONStore(data, compact_every=2).create(station("c", 107.22, 28.95), "t")
    assert stored["id"] == "c"
    assert "cannot fold the journal" in caplog.text and "line 2 (id 'bad')" in caplog.text
    assert jpath.read_bytes().splitlines()[-1].startswith(b'{"op":"put","feature":{"type"')
    assert journal.read_entries(jpath)[0][-1].station_id == "c"


def test_stale_temp_files_are_cleaned_on_the_next_compaction(data):
    backups = data.parent / ".backups"
    backups.mkdir()
    old = time.time() - 3600
    ours = [
        backups / ".stations.20240101T000000.000000Z.geojson.k1ll3d.tmp",
        data.parent / ".stations.geojson.k1ll3d.tmp",
    ]
    theirs = [backups / ".notes.txt.abc.tmp", data.parent / "stations.tmp", backups / "x.tmp"]
    for path in ours + theirs:
        path.write_bytes(b"half a file")
        os.utime(path, (old, old))
    store = GeoJSONStore(data)
    assert store.compact() == 0  # nothing to fold (as at `stations serve` start): still cleaned
    assert not any(p.exists() for p in ours)
    assert all(p.exists() for p in theirs)
    ours[0].write_bytes(b"again")
    os.utime(ours[0], (old, old))
    store.create(station("s", 107.2, 28.95), "t")
    assert store.compact() == 1
    assert not ours[0].exists() and all(p.exists() for p in theirs)
    assert len(list(backups.glob("*.geojson"))) == 1


# -- bad stored data: every command names it in one line -------------------------------------

POISONS = {
    # an older version acknowledged this: it fails every compaction (RecursionError before)
    "deep": {"op": "put", "feature": {**station("deep", 107.2, 28.95), "foo": nested(252)}},
    "invalid": {"op": "put", "feature": station("bad", 107.2, 28.95, kind="castle")},
}


def poison(path: Path, kind: str) -> Path:
    """Append a bad line (written by hand, or by an older version) to the journal of ``path``."""
    GeoJSONStore(path).create(station("good", 107.21, 28.95), "t")
    jpath = journal.journal_path(path)
    with open(jpath, "ab") as handle:
        handle.write(json.dumps(POISONS[kind]).encode() + b"\n")  # orjson refuses it
    return jpath


def one_line_failure(result: Any, jpath: Path) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"{jpath}: line 2 (id " in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


COMMANDS = [
    ["validate", "{stations}"],
    ["compact", "--stations", "{stations}"],
    ["export", "{tmp}/out.geojson", "--stations", "{stations}"],
    ["export", "{tmp}/out.csv", "--stations", "{stations}"],
    ["nearest", "--lon", "107.2", "--lat", "28.9", "--stations", "{stations}"],
    ["info", "--stations", "{stations}"],
    ["map", "--output", "{tmp}/map.html", "--stations", "{stations}"],
    ["coverage", "--radius-km", "5", "--stations", "{stations}"],
    ["suggest", "--count", "1", "--stations", "{stations}"],
    ["serve", "--port", "1", "--stations", "{stations}"],
]


@pytest.mark.parametrize("kind", sorted(POISONS))
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_every_command_names_a_poisoned_journal_in_one_line(data, tmp_path, command, kind):
    jpath = poison(data, kind)
    args = [a.format(stations=data, tmp=tmp_path) for a in command]
    result = CliRunner().invoke(app, args)
    one_line_failure(result, jpath)
    assert journal.journal_path(data).exists()  # nothing folded, nothing lost


def test_validate_checks_every_journal_line_not_only_the_last_state(data):
    """A bad line later overwritten still shows that something wrote bad data."""
    jpath = poison(data, "invalid")
    GeoJSONStore(data)  # a fresh handle
    with open(jpath, "ab") as handle:  # the bad station put right afterwards
        handle.write(orjson.dumps({"op": "put", "feature": station("bad", 107.2, 28.95)}) + b"\n")
    with pytest.raises(DataError) as info:
        load_stations(data)
    assert info.value.path == str(jpath)
    assert "line 2 (id 'bad'): properties.kind: 'castle' is not allowed" in info.value.problems[0]
    result = CliRunner().invoke(app, ["validate", str(data)])
    one_line_failure(result, jpath)


def test_validate_counts_the_journal(data):
    GeoJSONStore(data).create(station("good", 107.21, 28.95), "t")
    result = CliRunner().invoke(app, ["validate", str(data)])
    assert result.exit_code == 0, result.output
    assert "11 stations OK" in result.output and "1 journal line" in result.output


def test_a_poisoned_journal_is_not_served(data):
    """`stations serve` with several workers checks the data in a child process first."""
    jpath = poison(data, "deep")
    result = CliRunner().invoke(
        app, ["serve", "--port", "1", "--workers", "2", "--stations", str(data)]
    )
    one_line_failure(result, jpath)


def test_the_bundled_files_pass_the_stricter_checks():
    """The bundled files stay valid under the stricter feature checks."""
    assert load_stations(BUNDLED_STATIONS).warnings == []
    result = CliRunner().invoke(app, ["validate", str(BUNDLED_STATIONS), str(BUNDLED_LOOP)])
    assert result.exit_code == 0, result.output
    assert json.loads(BUNDLED_STATIONS.read_text("utf-8"))["type"] == "FeatureCollection"


def test_loop_import_names_a_poisoned_journal_in_one_line(data, tmp_path, bundled):
    """Importing a driven loop loads the stations too (to snap them to the new loop)."""
    jpath = poison(data, "deep")
    loop = bundled.loop
    points = [loop.point_at(c) for c in range(0, int(loop.length_m), 200)]
    track = tmp_path / "drive.gpx"
    track.write_text(
        '<?xml version="1.0"?><gpx version="1.1" creator="test" '
        'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
        + "".join(f'<trkpt lat="{y:.7f}" lon="{x:.7f}"></trkpt>' for x, y in points)
        + "</trkseg></trk></gpx>",
        encoding="utf-8",
    )
    target = tmp_path / "loop.geojson"
    shutil.copy(BUNDLED_LOOP, target)
    args = ["loop", "import", str(track), "--loop", str(target), "--stations", str(data)]
    one_line_failure(CliRunner().invoke(app, [*args, "--dry-run"]), jpath)
    assert target.read_bytes() == BUNDLED_LOOP.read_bytes()
