"""Spreadsheet cells: formulas neutralised, any value back as it went out, Excel encodings read."""

import codecs
import csv
import io
import json
import shutil
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import BUNDLED_STATIONS, station
from stations.cli import app
from stations.coords import CRS
from stations.errors import InvalidInput
from stations.storage.cells import join_items, neutralise, restore, split_items
from stations.storage.tabular import feature_to_row, read_rows, row_to_feature, write_rows

runner = CliRunner()
TEXT_COLUMNS = ("name", "name_en", "town", "address", "opening_hours", "source", "notes")
# Any text a JSON store can hold, favouring what spreadsheets get wrong.
TRICKY = st.sampled_from(
    list("=+-@\t\r\n'\" ;；、,，\\") + ["\r\n", "1", " 2", "_x000D_", "驿站", "\u3000", "\xa0"]
)
CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
TEXT = st.lists(st.one_of(TRICKY, CHARS), min_size=1, max_size=12).map("".join)
XLSX_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="".join(map(chr, [*range(9), 11, 12, *range(14, 32)])),
)
XLSX_TEXT = st.lists(st.one_of(TRICKY, XLSX_CHARS), min_size=1, max_size=12).map("".join)


def round_trip(props: dict, suffix: str, tmp: Path) -> tuple[dict, dict]:
    """A station's properties, and the same exported to a spreadsheet file and imported again."""
    feature = station(props["id"], 107.2, 28.9, **props)
    path = tmp / f"t{suffix}"
    write_rows([feature_to_row(feature)], path)
    (row,) = read_rows(path)
    return feature["properties"], row_to_feature(row, CRS.WGS84, "row 2")["properties"]


def text_props(draw, text) -> dict:
    props = {"id": "s-1", "kind": "union_station", "status": "open"}
    props["position_accuracy"] = "approximate"
    props["amenities"] = ["drinking_water", "toilet"]
    for key in TEXT_COLUMNS:
        value = draw(text)
        if key == "notes" or value.strip():  # blank text elsewhere is no value (see tabular)
            props[key] = value
    props["awards"] = draw(st.lists(text, min_size=1, max_size=4))
    return props


@pytest.mark.parametrize(("suffix", "text"), [(".csv", TEXT), (".xlsx", XLSX_TEXT)])
def test_any_value_round_trips(tmp_path, suffix, text):
    """Export then import gives every value back: separators, quotes, padding, CR LF, formulas."""

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def check(data):
        sent, back = round_trip(text_props(data.draw, text), suffix, tmp_path)
        assert back == sent

    check()


@given(st.lists(TEXT, min_size=1, max_size=5))
def test_list_items_come_back_whole(items):
    cell = join_items(items)
    assert split_items(restore(neutralise(cell))) == items


@given(TEXT)
def test_formula_prefix_is_exactly_reversible(value):
    assert restore(neutralise(value)) == value


@pytest.mark.parametrize(
    "value",
    ["=1+1", "+1", "+ 1", "-5", "- 5", "-x", "@SUM(A1)", "\t=1", "\r=1", "'=1", "'quoted"],
)
def test_formula_cells_are_neutralised_in_csv(tmp_path, value):
    """OWASP: a text cell starting with = + - @ tab or CR (or a quote) gets a quote in front."""
    props = {"id": "s-1", "name": value, "notes": value, "awards": [value]}
    path = tmp_path / "f.csv"
    write_rows([feature_to_row(station("s-1", 107.2, 28.9, **props))], path)
    text = path.read_bytes().decode("utf-8-sig")
    (row,) = csv.DictReader(io.StringIO(text, newline=""))
    assert row["name"] == row["notes"] == "'" + value
    assert row["awards"][:1] not in set("=+-@\t\r")  # a quote, or a backslash escaping a tab
    _, back = round_trip(props, ".csv", tmp_path)
    assert (back["name"], back["notes"], back["awards"]) == (value, value, [value])


def test_formula_cells_stay_text_in_xlsx(tmp_path):
    path = tmp_path / "f.xlsx"
    feature = station("s-1", 107.2, 28.9, name="-5 km", notes="=1+1", address="plain")
    write_rows([feature_to_row(feature)], path)
    sheet = openpyxl.load_workbook(path).active
    cells = {c.value: c for c in sheet[2]}
    assert cells["-5 km"].data_type == "s" and cells["-5 km"].quotePrefix
    assert cells["=1+1"].data_type == "s" and cells["=1+1"].quotePrefix
    assert not cells["plain"].quotePrefix


def test_control_character_refused_for_xlsx_in_one_line(tmp_path):
    feature = station("s-1", 107.2, 28.9, notes="bell\x07")
    with pytest.raises(InvalidInput, match=r"'s-1': notes .*U\+0007.*\.csv"):
        write_rows([feature_to_row(feature)], tmp_path / "f.xlsx")


def test_office_typed_lists_still_split():
    assert split_items("饮用水、 厕所,热水；雨伞;; ") == ["饮用水", "厕所", "热水", "雨伞"]
    assert split_items(r"a\,b、C:\dir") == ["a,b", r"C:\dir"]


def test_unedited_export_imports_unchanged_through_the_cli(tmp_path):
    """The stored properties, byte for byte, after export and import --update (CSV and XLSX)."""
    data = tmp_path / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, data)
    tricky = {
        "name": "-5 km 驿站",
        "awards": ["最美驿站, 2023", "市级、区级", " 留白 ", "'引号"],
        "notes": "'第一行\r\n  第二行  ",
        "phone": "+86 23 7142 0000",
        "address": '@南川区 "东街" 1号',
    }
    doc = json.loads(data.read_text(encoding="utf-8"))
    doc["features"].append(station("tricky-1", 107.2, 28.9, **tricky))
    data.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    before = {f["id"]: _listed(f["properties"]) for f in doc["features"]}
    for suffix in (".csv", ".xlsx"):
        out = tmp_path / f"export{suffix}"
        assert runner.invoke(app, ["export", str(out), "--stations", str(data)]).exit_code == 0
        r = runner.invoke(app, ["import", str(out), "--stations", str(data), "--update"])
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["export", str(tmp_path / "after.geojson"), "--stations", str(data)])
        after = json.loads((tmp_path / "after.geojson").read_text(encoding="utf-8"))
        props = {f["id"]: _listed(f["properties"]) for f in after["features"]}
        assert props == before, suffix


def _listed(props: dict) -> dict:
    """Properties without empty values: an empty cell cannot tell [] or null from no value."""
    return {k: v for k, v in props.items() if v not in ([], None)}


HEADER = "编号,名称,类型,经度,纬度,设施,开放时间,状态,位置精度,来源,荣誉"
ROW = "gbk-1,南川区大观镇工会驿站,工会驿站,107.2,28.9,饮用水、厕所,,开放,近似,台账,最美驿站"


@pytest.mark.parametrize(
    ("encoding", "prefix", "sep"),
    [
        ("utf-8", b"", ","),
        ("utf-8", codecs.BOM_UTF8, ","),
        ("utf-16-le", codecs.BOM_UTF16_LE, "\t"),  # Excel's "Unicode text"
        ("utf-16-le", codecs.BOM_UTF16_LE, ","),
        ("utf-16-be", codecs.BOM_UTF16_BE, ","),
        ("utf-16-le", b"", ","),
        ("gbk", b"", ","),  # Excel's "CSV (comma delimited)" on a Chinese Windows
        ("gb18030", b"", ","),
    ],
)
def test_csv_in_every_excel_encoding(tmp_path, encoding, prefix, sep):
    data = tmp_path / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, data)
    text = "\r\n".join([HEADER, ROW]).replace(",", sep) + "\r\n"
    path = tmp_path / "驿站.csv"
    path.write_bytes(prefix + text.encode(encoding))
    (row,) = read_rows(path)
    assert row["name"] == "南川区大观镇工会驿站" and row["awards"] == "最美驿站"
    r = runner.invoke(app, ["import", str(path), "--stations", str(data)])
    assert r.exit_code == 0 and "1 created" in r.output, r.output


def test_unreadable_encoding_refused_in_one_line(tmp_path):
    data = tmp_path / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, data)
    path = tmp_path / "latin.csv"
    path.write_bytes("id,name\r\nx,café\r\n".encode("latin-1"))
    r = runner.invoke(app, ["import", str(path), "--stations", str(data)])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.count("\n") == 1
    assert "UTF-8, UTF-16 or GB18030" in r.output and "CSV UTF-8" in r.output
