"""Stations as a table: the spreadsheet a union office keeps, in and out (CSV and XLSX).

One row per station. Headers may be English or Chinese (either set, any order); values of ``kind``,
``status``, ``position_accuracy`` and ``amenities`` may be the codes or the Chinese labels. Lists
(``amenities``, ``awards``) are separated by ``;``, ``；``, ``、``, ``,`` or ``，``. Coordinates are
in the datum given on import (offices pick them from Amap: GCJ-02) and converted to WGS84.

Export then import gives back every value exactly (see `stations.storage.cells` for how cells
hold formulas, lists and encodings): free text (names, address, awards, source, notes, opening
hours) is read as written, padding and line breaks included; codes (id, kind, status,
position_accuracy, amenities, phone, lon, lat) are trimmed. An empty cell is no value, and so is
a cell of spaces except in notes, the one text column whose value may be blank.

| column | 中文 | notes |
|---|---|---|
| id | 编号 | slug, a-z 0-9 - |
| name | 名称 | required |
| name_en | 英文名称 | |
| kind | 类型 | union_station / 工会驿站, warm_station / 暖心小站, ... |
| town | 镇街 | |
| address | 地址 | |
| lon | 经度 | empty with lat for an unlocated station |
| lat | 纬度 | |
| amenities | 设施 | e.g. 饮用水、厕所 |
| opening_hours | 开放时间 | OpenStreetMap syntax, e.g. Mo-Su 08:00-20:00 |
| phone | 电话 | |
| awards | 荣誉 | |
| status | 状态 | open / 开放, closed / 关闭, planned / 规划 |
| position_accuracy | 位置精度 | surveyed / 实测, approximate / 近似, unknown / 未知 |
| accuracy_m | 实测精度（米） | a surveyed position's accuracy, metres (0-1000] |
| surveyed_at | 实测时间 | ISO 8601 UTC, e.g. 2026-05-01T08:30:00Z |
| surveyed_by | 实测人 | set by the store from the importer (``--actor``) when the survey changes |
| source | 来源 | required: where the station and its position come from |
| notes | 备注 | |
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stations.coords import CRS, from_wgs84, wgs84_position
from stations.errors import InvalidInput
from stations.models import AMENITY_LABELS, KIND_LABELS
from stations.storage.cells import (
    FORMULA_START,
    SAVE_AS_UTF8,
    decode_text,
    delimiter,
    join_items,
    neutralise,
    restore,
    split_items,
)
from stations.storage.files import atomic_write_bytes
from stations.storage.loading import check_written_feature

COLUMNS = [
    ("id", "编号"),
    ("name", "名称"),
    ("name_en", "英文名称"),
    ("kind", "类型"),
    ("town", "镇街"),
    ("address", "地址"),
    ("lon", "经度"),
    ("lat", "纬度"),
    ("amenities", "设施"),
    ("opening_hours", "开放时间"),
    ("phone", "电话"),
    ("awards", "荣誉"),
    ("status", "状态"),
    ("position_accuracy", "位置精度"),
    ("accuracy_m", "实测精度（米）"),
    ("surveyed_at", "实测时间"),
    ("surveyed_by", "实测人"),
    ("source", "来源"),
    ("notes", "备注"),
]
HEADER = {zh: en for en, zh in COLUMNS} | {en: en for en, _ in COLUMNS}
LISTS = ("amenities", "awards")
VALUES: dict[str, dict[str, str]] = {
    "kind": {zh: k.value for k, (zh, _) in KIND_LABELS.items()},
    "amenities": {zh: a.value for a, (zh, _) in AMENITY_LABELS.items()},
    "status": {"开放": "open", "关闭": "closed", "规划": "planned", "规划中": "planned"},
    "position_accuracy": {"实测": "surveyed", "近似": "approximate", "未知": "unknown"},
}
#: Columns of codes and numbers, whose cells are trimmed; other columns are text kept as written.
CODES = frozenset(
    {"id", "kind", "status", "position_accuracy", "amenities", "phone", "lon", "lat"}
    | {"accuracy_m", "surveyed_at", "surveyed_by"}
)
#: Columns holding numbers (read as JSON numbers when they are; else the check names the cell).
NUMBERS = frozenset({"accuracy_m"})
#: Text columns in which a blank value is a value.
BLANK_KEPT = frozenset({"notes"})
#: Characters an XLSX file cannot hold (XML 1.0 forbids them).
NOT_IN_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass
class RowProblems:
    """Every bad row: (row number as the spreadsheet shows it, message)."""

    problems: list[tuple[int, str]] = field(default_factory=list)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV (UTF-8, UTF-16 or GB18030) or XLSX file, keyed by canonical column."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    if suffix == ".csv":
        raw = _csv_cells(path)
    elif suffix == ".xlsx":
        raw = _xlsx_cells(path)
    else:
        raise InvalidInput(f"import .csv or .xlsx files; got {path.name!r}")
    if not raw:
        raise InvalidInput(f"{path}: empty file")
    header = [str(h).strip() for h in raw[0]]
    unknown = [h for h in header if h and h not in HEADER]
    if unknown:
        allowed = ", ".join(f"{en}/{zh}" for en, zh in COLUMNS)
        hint = f" (if they look garbled, {SAVE_AS_UTF8})" if suffix == ".csv" else ""
        raise InvalidInput(
            f"{path}: unknown column(s) {', '.join(unknown)}; allowed: {allowed}{hint}"
        )
    keys = [HEADER.get(h) for h in header]
    rows = []
    for values in raw[1:]:
        if all(str(v).strip() == "" for v in values):
            continue
        rows.append({k: v for k, v in zip(keys, values, strict=False) if k})
    return rows


def _csv_cells(path: Path) -> list[list[Any]]:
    """The cells of a CSV file in any encoding `decode_text` reads, formula quotes removed."""
    text = decode_text(path.read_bytes(), str(path))
    sep = delimiter(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        return [[restore(v) for v in row] for row in reader]
    except csv.Error as exc:
        raise InvalidInput(f"{path}: not a readable CSV file ({exc})") from None


def _xlsx_cells(path: Path) -> list[list[Any]]:
    """The cells of an XLSX file's first sheet, as typed (text, numbers)."""
    import openpyxl  # only for XLSX: costly to import, most runs never need it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a broken file
        raise InvalidInput(f"{path}: not a readable .xlsx file ({exc})") from None
    sheet = book.worksheets[0]
    return [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _cell(key: str, value: Any) -> str | None:
    """A cell's value for column ``key``: codes trimmed, text as written; None for no value."""
    if key in CODES:
        return _text(value)
    text = "" if value is None else str(value)
    if text == "" or (key not in BLANK_KEPT and not text.strip()):
        return None
    return text


def _number(value: str) -> float | int | str:
    """A numeric cell as a number (an integer when whole); as written if it is not one."""
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def row_to_feature(row: dict[str, Any], crs: CRS, label: str) -> dict[str, Any]:
    """One row as a station Feature (WGS84); InvalidInput names the field."""
    props: dict[str, Any] = {}
    for key, _ in COLUMNS:
        if key in ("lon", "lat"):
            continue
        value = _cell(key, row.get(key))
        if value is None:
            continue
        if key in LISTS:
            items = split_items(value)
            if key == "amenities":
                items = [VALUES["amenities"].get(i, i) for i in items]
            props[key] = items
        elif key in VALUES:
            props[key] = VALUES[key].get(value, value)
        elif key in NUMBERS:
            props[key] = _number(value)
        else:
            props[key] = value
    lon, lat = row.get("lon"), row.get("lat")
    geometry = None
    if _text(lon) is not None or _text(lat) is not None:
        try:
            wx, wy = wgs84_position(_text(lon), _text(lat), crs)
        except InvalidInput as exc:
            raise InvalidInput(f"{label}: lon/lat: {exc}") from None
        geometry = {"type": "Point", "coordinates": [round(wx, 7), round(wy, 7)]}
    return {"type": "Feature", "id": props.get("id"), "geometry": geometry, "properties": props}


def rows_to_features(
    rows: Iterable[dict[str, Any]], crs: CRS
) -> tuple[list[tuple[int, dict[str, Any]]], RowProblems]:
    """Features of good rows (with their row numbers) and the problems of bad ones."""
    good: list[tuple[int, dict[str, Any]]] = []
    bad = RowProblems()
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, start=2):  # row 1 is the header
        label = f"row {n}"
        try:
            feature = row_to_feature(row, crs, label)
            check_written_feature(feature, label)
        except InvalidInput as exc:
            bad.problems.append((n, str(exc)))
            continue
        sid = feature["properties"]["id"]
        if sid in seen:
            bad.problems.append((n, f"{label}: id {sid!r} repeats row {seen[sid]}"))
            continue
        seen[sid] = n
        good.append((n, feature))
    return good, bad


def feature_to_row(feature: dict[str, Any], crs: CRS = CRS.WGS84) -> dict[str, Any]:
    """A stored Feature as a row (English column names)."""
    props = feature["properties"]
    row: dict[str, Any] = {key: "" for key, _ in COLUMNS}
    for key, _ in COLUMNS:
        value = props.get(key)
        if value is None:
            continue
        row[key] = join_items(value) if isinstance(value, list) else value
    geom = feature.get("geometry")
    if geom:
        lon, lat = geom["coordinates"][:2]
        x, y = from_wgs84(lon, lat, crs)
        row["lon"], row["lat"] = round(float(x), 7), round(float(y), 7)
    return row


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """CSV (UTF-8 with BOM, which Excel needs for Chinese; CR LF rows) or XLSX, English headers.

    Text that could start a formula is neutralised: in CSV with a leading ``'`` (removed again on
    import), in XLSX by Excel's own quote-prefix style (the value itself is unchanged).
    """
    headers = [key for key, _ in COLUMNS]
    if path.suffix.lower() == ".csv":
        out = io.StringIO()
        # CR LF ends rows (RFC 4180); the writer then quotes every cell holding a CR or LF.
        writer = csv.DictWriter(out, fieldnames=headers, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows({k: neutralise(v) for k, v in row.items()} for row in rows)
        atomic_write_bytes(path, out.getvalue().encode("utf-8-sig"))
        return
    atomic_write_bytes(path, _xlsx(rows, headers))


def _xlsx(rows: list[dict[str, Any]], headers: list[str]) -> bytes:
    import openpyxl  # only for XLSX: costly to import, most runs never need it

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "stations"
    sheet.append(headers)
    for r, row in enumerate(rows, start=2):
        for c, h in enumerate(headers, start=1):
            value = row[h]
            if isinstance(value, str) and (bad := NOT_IN_XLSX.search(value)):
                raise InvalidInput(
                    f"station {row['id']!r}: {h} holds the control character "
                    f"U+{ord(bad.group()):04X}, which an XLSX file cannot hold; export to .csv "
                    "or remove it"
                )
            cell = sheet.cell(row=r, column=c, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # text stays text: a name starting with '=' is no formula
                if value[:1] in FORMULA_START:
                    cell.quotePrefix = True  # and stays text when edited in Excel
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
