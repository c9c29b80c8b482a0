"""The office's inbox of riders' reports (``/admin/reports``): its texts and its page.

The page is a shell: ``static/admin/reports.js`` lists the reports through the API's own routes
(``GET /api/reports`` with the filters, ``GET /api/reports/counts``, ``POST
/api/reports/{id}/resolve``), so the office and a script see the same answers and the same
validation. The filters the page opens with come from its URL, so a link such as
``/admin/reports?station=<id>`` (from a station's form or poster) opens that station's reports.
"""

from __future__ import annotations

from stations.storage.reports import CATEGORY_LABELS
from stations.web.admin import admin_page

#: Reports shown per page of the inbox.
PAGE_SIZE = 20

TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "reports_title": "骑手反馈",
        "reports_intro": "骑手在驿站遇到的问题，最新的在前。"
        "处理后写一句说明，反馈就会离开未处理列表。",
        "filter_station": "驿站",
        "all_stations": "全部驿站",
        "filter_category": "问题类型",
        "all_categories": "全部类型",
        "filter_status": "状态",
        "status_open": "未处理",
        "status_resolved": "已处理",
        "status_all": "全部",
        "open_by_station": "各驿站未处理的反馈",
        "none_open": "没有未处理的反馈。",
        "no_reports": "没有符合条件的反馈。",
        "loading": "正在加载…",
        "report_n": "反馈 #{id}",
        "reported_at": "反馈时间",
        "no_text": "（骑手没有补充说明）",
        "rider_position": "骑手位置",
        "resolve_note": "处理说明",
        "resolve_hint": "例如：已联系管理员开门。",
        "resolve_send": "标记为已处理",
        "resolved_by": "处理人",
        "resolved_at": "处理时间",
        "resolved_ok": "反馈 #{id} 已标记为已处理。",
        "resolved_meanwhile": "同事 {who} 已在 {at} 处理了这条反馈，保留了他们的说明。",
        "open_station": "编辑驿站",
        "open_poster": "驿站海报",
        "prev": "上一页",
        "next": "下一页",
        "page_n": "第 {n} 页",
        "load_failed": "加载失败：",
    },
    "en": {
        "reports_title": "Riders' reports",
        "reports_intro": "Problems riders met at the stations, newest first. Resolve one with a "
        "short note and it leaves the open list.",
        "filter_station": "Station",
        "all_stations": "All stations",
        "filter_category": "Problem",
        "all_categories": "All problems",
        "filter_status": "Status",
        "status_open": "Open",
        "status_resolved": "Resolved",
        "status_all": "All",
        "open_by_station": "Open reports by station",
        "none_open": "No open reports.",
        "no_reports": "No reports match.",
        "loading": "Loading…",
        "report_n": "Report #{id}",
        "reported_at": "Reported",
        "no_text": "(the rider added no words)",
        "rider_position": "Rider's position",
        "resolve_note": "What was done",
        "resolve_hint": "e.g. called the keeper, who opened the door.",
        "resolve_send": "Mark resolved",
        "resolved_by": "Resolved by",
        "resolved_at": "Resolved",
        "resolved_ok": "Report #{id} is marked resolved.",
        "resolved_meanwhile": "{who} resolved this report at {at}; their note is kept.",
        "open_station": "Edit station",
        "open_poster": "Station poster",
        "prev": "Previous",
        "next": "Next",
        "page_n": "Page {n}",
        "load_failed": "Could not load: ",
    },
}


def reports_page(
    lang: str,
    *,
    label: str,
    csrf: str,
    station: str | None,
    category: str | None,
    status: str,
    timezone: str,
) -> str:
    """The inbox page, opening with these filters (the script loads the reports)."""
    return admin_page(
        "reports.html",
        lang,
        path="/admin/reports",
        label=label,
        csrf=csrf,
        texts=TEXTS,
        config={
            "filters": {"station": station, "category": category, "status": status},
            "categories": {
                c.value: {"zh": zh, "en": en} for c, (zh, en) in CATEGORY_LABELS.items()
            },
            "pageSize": PAGE_SIZE,
            "timezone": timezone,
        },
        scripts=["stations/admin/reports.js"],
        styles=["stations/admin/reports.css"],
        categories=[
            (c.value, zh if lang == "zh" else en) for c, (zh, en) in CATEGORY_LABELS.items()
        ],
        filters={"station": station or "", "category": category or "", "status": status},
    )
