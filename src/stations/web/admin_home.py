"""The office app's home page (``/admin``): each section, what it is for and what is pending.

The page is a shell like the others: ``static/admin/home.js`` asks the API what is pending
(open riders' reports from ``/api/reports/counts``, stations not yet surveyed from
``/api/stations``, whether the loop is a driven track from ``/api/loop``) and writes it under
each section's link as text, so the clerk sees where the day's work is without opening each.
"""

from __future__ import annotations

#: The home page's texts; ``{n}`` and ``{km}`` are filled in by home.js.
TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "home_stations_what": "查找、修改、新建和关闭驿站；站在驿站门口用手机测定位置。",
        "home_loop_what": "开车时用手机记录环线，或上传 GPX 文件，预览后替换环线。",
        "home_reports_what": "骑手报告的问题（锁门、不干净……），处理后写上说明。",
        "home_pending_survey": "{n} 个驿站尚未实地测定位置",
        "home_all_surveyed": "所有驿站都已实地测定位置",
        "home_loop_schematic": "环线仍是示意线，尚未按实际行驶记录",
        "home_loop_driven": "环线已按实际行驶记录（{km} 公里）",
        "home_pending_reports": "{n} 条反馈待处理",
        "home_no_reports": "没有待处理的反馈",
        "home_pending_unknown": "暂时无法读取",
    },
    "en": {
        "home_stations_what": "Find, edit, add and close stations; survey a station's position "
        "with the phone at its door.",
        "home_loop_what": "Record the loop with the phone while driving, or upload a GPX file; "
        "preview, then replace the loop.",
        "home_reports_what": "Problems riders report (locked, dirty…); resolve each with a note.",
        "home_pending_survey": "Stations not yet surveyed on site: {n}",
        "home_all_surveyed": "Every station has been surveyed on site",
        "home_loop_schematic": "The loop is still a sketch, not a driven track",
        "home_loop_driven": "The loop is a driven track ({km} km)",
        "home_pending_reports": "Open reports: {n}",
        "home_no_reports": "No open reports",
        "home_pending_unknown": "Not available right now",
    },
}

#: Each section on the home page: (key of its name in the shared texts, path, key of its hint).
SECTIONS = [
    ("nav_stations", "/admin/stations", "home_stations_what", "stations"),
    ("nav_loop", "/admin/loop", "home_loop_what", "loop"),
    ("nav_reports", "/admin/reports", "home_reports_what", "reports"),
]
