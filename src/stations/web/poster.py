"""A station's printable poster: its name, hours in words, what it offers and a QR code.

The poster hangs at the station's door. Its QR code opens the rider page centred on that
station with the report form open (``/?station=<id>``), so a rider who finds it locked during
its opening hours reports it on the spot. The code is drawn by ``segno`` as SVG and put in the
page as a ``data:`` image (the pages' CSP allows ``data:`` images), built from our own address
only. The hours are said in words from the same opening_hours parser the queries use
(`stations.hours.parse`): each weekday of the current week, consecutive days with the same
hours in one line; a note is added when other weeks of the coming year differ (holidays,
seasons), since a poster outlives the week it was printed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import segno
from opening_hours import State

from stations.hours import parse
from stations.models import AMENITY_LABELS, KIND_LABELS, Station, Status
from stations.web.admin import admin_page

#: One day's open intervals, as ("08:00", "18:00") pairs ("24:00" for the end of the day).
DayHours = tuple[tuple[str, str], ...]
DAY_NAMES = {
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
WEEKS_CHECKED = 53

TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "poster_title": "驿站海报",
        "print": "打印海报",
        "back_reports": "返回骑手反馈",
        "back_station": "返回驿站",
        "hours": "开放时间",
        "hours_unknown": "开放时间待调查",
        "daily": "每天",
        "all_day": "每天 24 小时开放",
        "closed_day": "休息",
        "range_sep": "至",
        "list_sep": "、",
        "hours_vary": "节假日等特殊日期以现场公告为准",
        "amenities": "设施",
        "amenities_unknown": "待调查",
        "phone": "电话",
        "address": "地址",
        "scan": "扫码报告问题",
        "scan_help": "开放时间锁门、没有水、设备损坏……扫一扫，告诉工会。",
        "status_closed": "此驿站已关闭",
        "status_planned": "此驿站尚在规划中",
        "url_unset": "未设置 STATIONS_PUBLIC_URL：二维码里的地址取自本次访问（{base}）。"
        "如果骑手用另一个地址访问本服务，请先设置 STATIONS_PUBLIC_URL 再打印。",
        "url_set": "二维码地址：",
        "no_position": "此驿站尚无位置：二维码打开它的信息卡和反馈表，但地图不会居中。",
    },
    "en": {
        "poster_title": "Station poster",
        "print": "Print the poster",
        "back_reports": "Back to riders' reports",
        "back_station": "Back to the station",
        "hours": "Hours",
        "hours_unknown": "Hours not yet surveyed",
        "daily": "Daily",
        "all_day": "Open 24 hours, every day",
        "closed_day": "closed",
        "range_sep": "–",
        "list_sep": ", ",
        "hours_vary": "Holidays and special days: see the notice on site",
        "amenities": "Offers",
        "amenities_unknown": "not yet surveyed",
        "phone": "Phone",
        "address": "Address",
        "scan": "Scan to report a problem",
        "scan_help": "Locked during opening hours, no water, something broken… tell the union.",
        "status_closed": "This station is closed",
        "status_planned": "This station is planned",
        "url_unset": "STATIONS_PUBLIC_URL is not set: the QR code's address comes from this "
        "visit ({base}). If riders reach the service at another address, set "
        "STATIONS_PUBLIC_URL before printing.",
        "url_set": "QR code address: ",
        "no_position": "This station has no position yet: the QR code opens its card and report "
        "form, but the map is not centred on it.",
    },
}


def rider_link(base: str, station_id: str) -> str:
    """The rider page centred on a station, with its report form open."""
    return f"{base.rstrip('/')}/?station={quote(station_id, safe='')}"


def qr_data_uri(url: str) -> str:
    """``url`` as a QR code (segno, error correction M), an SVG ``data:`` URI."""
    return segno.make(url, error="m", micro=False).svg_data_uri(scale=4, border=4)


def _week(oh: object, monday: datetime) -> tuple[tuple[DayHours, ...], bool]:
    """Each day's open intervals in the week from ``monday``; whether any time was unknown."""
    days: list[list[tuple[str, str]]] = [[] for _ in range(7)]
    end = monday + timedelta(days=7)
    unknown = False
    for start, stop, state, _ in oh.intervals(monday, end):  # type: ignore[attr-defined]
        unknown = unknown or state == State.UNKNOWN
        stop = end if stop is None or stop > end else stop
        while state == State.OPEN and start < stop:
            next_day = datetime.combine(start.date() + timedelta(days=1), time(), monday.tzinfo)
            piece_end = min(stop, next_day)
            shown_end = "24:00" if piece_end == next_day else f"{piece_end:%H:%M}"
            days[(start.date() - monday.date()).days].append((f"{start:%H:%M}", shown_end))
            start = piece_end
    return tuple(tuple(d) for d in days), unknown


def weekly_hours(expression: str, tz: str, today: date) -> tuple[tuple[DayHours, ...], bool]:
    """The open intervals of each day of ``today``'s week, and whether other weeks differ.

    Other weeks are the next `WEEKS_CHECKED` (a year): a public holiday, a season or a time
    the parser cannot tell (``unknown``) makes them differ.
    """
    oh = parse(expression, tz)
    zone = ZoneInfo(tz)
    monday = datetime.combine(today - timedelta(days=today.weekday()), time(), zone)
    first, unknown = _week(oh, monday)
    varies = unknown
    for n in range(1, WEEKS_CHECKED):
        if varies:
            break
        week, unknown = _week(oh, monday + timedelta(weeks=n))
        varies = unknown or week != first
    return first, varies


def _days(first: int, last: int, lang: str) -> str:
    names, t = DAY_NAMES[lang], TEXTS[lang]
    if first == last:
        return names[first]
    if last == first + 1:
        return names[first] + t["list_sep"] + names[last]
    return names[first] + t["range_sep"] + names[last]


def hours_lines(week: Sequence[DayHours], lang: str) -> list[str]:
    """A week's hours in words: one line per run of consecutive days with the same hours."""
    t = TEXTS[lang]
    if all(day == (("00:00", "24:00"),) for day in week):
        return [t["all_day"]]

    def said(day: DayHours) -> str:
        return t["list_sep"].join(f"{a}–{b}" for a, b in day) if day else t["closed_day"]

    if all(day == week[0] for day in week):
        return [f"{t['daily']} {said(week[0])}"]
    lines, start = [], 0
    for n in range(1, 8):
        if n == 7 or week[n] != week[start]:
            lines.append(f"{_days(start, n - 1, lang)} {said(week[start])}")
            start = n
    return lines


def poster_page(
    station: Station,
    lang: str,
    *,
    link: str,
    base_from_request: str | None,
    tz: str,
    today: date,
    label: str,
    csrf: str,
) -> str:
    """The poster of ``station`` as an office page (printable on A4; the office bar not printed).

    ``link`` is what the QR code opens; ``base_from_request`` is the address it was taken
    from when no public address is configured (the page then says so, on screen only).
    """
    p = station.props
    if p.opening_hours:
        week, varies = weekly_hours(p.opening_hours, tz, today)
        hours = {code: hours_lines(week, code) for code in ("zh", "en")}
    else:
        hours, varies = {}, False
    kind_zh, kind_en = KIND_LABELS[p.kind]
    notes = [] if station.lon is not None else [TEXTS[lang]["no_position"]]
    if base_from_request is not None:
        notes.insert(0, TEXTS[lang]["url_unset"].format(base=base_from_request))
    return admin_page(
        "poster.html",
        lang,
        path=f"/admin/stations/{p.id}/poster",
        label=label,
        csrf=csrf,
        scripts=["stations/admin/poster.js"],
        styles=["stations/admin/poster.css"],
        p=p,
        pt=TEXTS[lang],
        both=TEXTS,
        kind=(kind_zh, kind_en),
        amenities=[AMENITY_LABELS[a] for a in p.amenities],
        hours=hours,
        varies=varies,
        closed=p.status is not Status.OPEN,
        qr=qr_data_uri(link),
        link=link,
        notes=notes,
    )
