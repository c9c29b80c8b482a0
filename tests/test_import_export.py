"""Bulk import from the office's spreadsheet, and export, through the CLI."""

import shutil

import openpyxl
import pytest
from typer.testing import CliRunner

from conftest import BUNDLED_STATIONS, stored_bytes
from stations.cli import app
from stations.coords import CRS, from_wgs84
from stations.storage.loading import load_stations

runner = CliRunner()


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, path)
    return path


def office_csv(tmp_path, rows: list[str]):
    path = tmp_path / "驿站.csv"
    header = "编号,名称,类型,经度,纬度,设施,开放时间,状态,位置精度,来源"
    path.write_text("\ufeff" + "\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_chinese_spreadsheet_in_gcj02(tmp_path, data):
    gx, gy = from_wgs84(107.3, 29.0, CRS.GCJ02)
    f = office_csv(
        tmp_path,
        [f"new-1,新驿站,工会驿站,{gx:.7f},{gy:.7f},饮用水、厕所,Mo-Su 08:00-20:00,开放,实测,台账"],
    )
    r = runner.invoke(app, ["import", str(f), "--crs", "gcj02", "--stations", str(data)])
    assert r.exit_code == 0, r.output
    new = {s.id: s for s in load_stations(data).stations}["new-1"]
    assert new.props.kind.value == "union_station"
    assert [a.value for a in new.props.amenities] == ["drinking_water", "toilet"]
    assert new.props.position_accuracy.value == "surveyed"
    assert new.lon == pytest.approx(107.3, abs=1e-6) and new.lat == pytest.approx(29.0, abs=1e-6)


def test_bad_rows_are_all_reported_and_nothing_is_written(tmp_path, data):
    before = stored_bytes(data)
    f = office_csv(
        tmp_path,
        [
            "ok-1,好驿站,工会驿站,107.2,28.9,,,开放,近似,台账",
            "bad-1,坏驿站,城堡,107.2,28.9,,,开放,近似,台账",
            "bad-2,坏驿站,工会驿站,107.2,95,,,开放,近似,台账",
            "bad-3,坏驿站,工会驿站,107.2,28.9,按摩椅,,开放,近似,台账",
            "bad-4,坏驿站,工会驿站,107.2,28.9,,sometimes,开放,近似,台账",
            "ok-1,重复,工会驿站,107.2,28.9,,,开放,近似,台账",
        ],
    )
    r = runner.invoke(app, ["import", str(f), "--stations", str(data)])
    assert r.exit_code == 1
    for needle in (
        "row 3",
        "kind",
        "row 4",
        "lat",
        "row 5",
        "amenities",
        "row 6",
        "opening_hours",
        "row 7",
        "repeats row 2",
    ):
        assert needle in r.output, needle
    assert "nothing was imported" in r.output
    assert stored_bytes(data) == before
    skip = runner.invoke(app, ["import", str(f), "--stations", str(data), "--skip-bad"])
    assert skip.exit_code == 0 and "1 created" in skip.output
    # the same rows again: nothing to do (a changed row without --update is refused: see
    # test_dry_run_predicts_a_refused_import)
    again = runner.invoke(app, ["import", str(f), "--stations", str(data), "--skip-bad"])
    assert again.exit_code == 0 and "0 created, 0 changed, 1 unchanged" in again.output
    upd = runner.invoke(app, ["import", str(f), "--stations", str(data), "--skip-bad", "--update"])
    assert upd.exit_code == 0 and "1 unchanged" in upd.output


def test_dry_run_and_unknown_columns(tmp_path, data):
    before = stored_bytes(data)
    f = office_csv(tmp_path, ["ok-1,好驿站,工会驿站,107.2,28.9,,,开放,近似,台账"])
    r = runner.invoke(app, ["import", str(f), "--stations", str(data), "--dry-run"])
    assert r.exit_code == 0 and "1 created" in r.output and stored_bytes(data) == before
    weird = tmp_path / "w.csv"
    weird.write_text("id,colour\nx,red\n", encoding="utf-8")
    r = runner.invoke(app, ["import", str(weird), "--stations", str(data)])
    assert r.exit_code == 1 and "colour" in r.output


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_import_round_trip(tmp_path, data, suffix):
    before = {s.id: (s.props, s.lon, s.lat) for s in load_stations(data).stations}
    out = tmp_path / f"export{suffix}"
    assert runner.invoke(app, ["export", str(out), "--stations", str(data)]).exit_code == 0
    r = runner.invoke(app, ["import", str(out), "--stations", str(data), "--update"])
    assert r.exit_code == 0, r.output
    after = {s.id: (s.props, s.lon, s.lat) for s in load_stations(data).stations}
    assert after == before


def test_export_keeps_text_as_text(tmp_path, data):
    f = office_csv(tmp_path, ['f-1,=HYPERLINK("x"),工会驿站,107.2,28.9,,,开放,近似,台账'])
    assert runner.invoke(app, ["import", str(f), "--stations", str(data)]).exit_code == 0
    xlsx = tmp_path / "e.xlsx"
    csv = tmp_path / "e.csv"
    assert runner.invoke(app, ["export", str(xlsx), "--stations", str(data)]).exit_code == 0
    assert runner.invoke(app, ["export", str(csv), "--stations", str(data)]).exit_code == 0
    sheet = openpyxl.load_workbook(xlsx).active
    names = [row[1].value for row in sheet.iter_rows(min_row=2)]
    cell = next(row[1] for row in sheet.iter_rows(min_row=2) if row[0].value == "f-1")
    assert cell.data_type == "s" and '=HYPERLINK("x")' in names
    assert "'=HYPERLINK" in csv.read_text(encoding="utf-8-sig")
    before = {s.id: s.props for s in load_stations(data).stations}
    assert (
        runner.invoke(app, ["import", str(csv), "--stations", str(data), "--update"]).exit_code == 0
    )
    assert {s.id: s.props for s in load_stations(data).stations} == before


def test_export_to_gis_formats(tmp_path, data):
    import pyogrio

    gpkg = tmp_path / "s.gpkg"
    assert runner.invoke(app, ["export", str(gpkg), "--stations", str(data)]).exit_code == 0
    assert len(pyogrio.read_dataframe(gpkg)) == 8  # the located ones
    bad = runner.invoke(app, ["export", str(tmp_path / "s.shp"), "--stations", str(data)])
    assert bad.exit_code == 1 and ".gpkg" in bad.output


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_unedited_export_imports_as_unchanged(tmp_path, data, suffix):
    """Export, then import with --update: every row unchanged, the file and audit untouched."""
    sheet = tmp_path / f"office.{suffix}"
    assert runner.invoke(app, ["export", str(sheet), "--stations", str(data)]).exit_code == 0
    before = stored_bytes(data)
    audit = data.with_name("audit.jsonl")
    audit_before = audit.read_bytes() if audit.exists() else b""
    dry = runner.invoke(
        app, ["import", str(sheet), "--stations", str(data), "--update", "--dry-run"]
    )
    real = runner.invoke(app, ["import", str(sheet), "--stations", str(data), "--update"])
    counts = "0 created, 0 changed, 10 unchanged, 0 refused"
    assert dry.exit_code == 0 and counts in dry.output, dry.output
    assert real.exit_code == 0 and counts in real.output, real.output
    assert stored_bytes(data) == before
    assert (audit.read_bytes() if audit.exists() else b"") == audit_before


def test_dry_run_predicts_a_refused_import(tmp_path, data):
    """Without --update, rows whose id exists are refused in the dry run as in the import."""
    sheet = tmp_path / "office.csv"
    assert runner.invoke(app, ["export", str(sheet), "--stations", str(data)]).exit_code == 0
    text = sheet.read_text(encoding="utf-8-sig").replace(
        "德隆银杏村工会驿站", "德隆银杏村工会驿站（新）"
    )
    sheet.write_text(text, encoding="utf-8-sig")
    dry = runner.invoke(app, ["import", str(sheet), "--stations", str(data), "--dry-run"])
    real = runner.invoke(app, ["import", str(sheet), "--stations", str(data)])
    for r in (dry, real):
        assert r.exit_code == 1
        assert "0 created, 0 changed, 9 unchanged, 1 refused" in r.output, r.output
        assert "delong-yinxing-union-station" in r.output
    upd = runner.invoke(app, ["import", str(sheet), "--stations", str(data), "--update"])
    assert "0 created, 1 changed, 9 unchanged, 0 refused" in upd.output, upd.output
