"""Texts riders see, in Chinese (default) and English, and how each kind of station looks."""

from __future__ import annotations

from typing import Any

from stations.models import AMENITY_LABELS, KIND_LABELS, Kind
from stations.query import FAR_AWAY_M
from stations.storage.reports import CATEGORY_LABELS

LANGS = ("zh", "en")

#: Pin colour and glyph per kind (fixed here, never taken from data).
KIND_STYLE: dict[Kind, tuple[str, str]] = {
    Kind.UNION_STATION: ("#c62828", "工"),
    Kind.WARM_STATION: ("#ef6c00", "暖"),
    Kind.COLD_DRINK_FRIDGE: ("#0277bd", "冰"),
    Kind.WORKER_SERVICE_POINT: ("#2e7d32", "服"),
}

TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "工会驿站 · 找最近的驿站",
        "map_title": "南川 178 环线工会驿站地图",
        "find_nearest": "找最近的驿站",
        "search": "查找",
        "coords_label": "或输入坐标（经度, 纬度）",
        "coords_placeholder": "107.2618, 28.912",
        "tap_hint": "也可以在地图上点一下，查找那里附近的驿站。",
        "needs_https": "定位需要 HTTPS 连接；当前页面无法获取位置，请在地图上点选或输入坐标。",
        "locating": "正在定位…",
        "searching": "正在查找…",
        "geo_denied": "无法获取位置",
        "geo_fallback": "请在地图上点一下，或输入坐标。",
        "no_results": "附近没有找到开放的驿站。",
        "results_for": "离你最近的驿站",
        "bad_coords": "坐标格式应为：经度, 纬度（例如 107.2618, 28.912）",
        "lang_switch": "English",
        "kind": "类型",
        "status": "状态",
        "status_closed": "已关闭",
        "status_planned": "规划中",
        "address": "地址",
        "hours": "开放时间",
        "hours_not_surveyed": "未调查",
        "open_now": "现在开放",
        "closed_now": "现在关闭",
        "hours_unknown": "是否开放未知",
        "as_of": "截至",
        "amenities": "设施",
        "not_surveyed": "未调查",
        "awards": "荣誉",
        "phone": "电话",
        "loop_km": "环线里程",
        "position": "位置",
        "accuracy_approximate": "位置为近似值（乡镇驻地），待实地核实",
        "accuracy_unknown": "位置未知",
        "nav_amap": "高德导航",
        "nav_baidu": "百度导航",
        "unit_m": "米",
        "unit_km": "公里",
        "dir_N": "北",
        "dir_NE": "东北",
        "dir_E": "东",
        "dir_SE": "东南",
        "dir_S": "南",
        "dir_SW": "西南",
        "dir_W": "西",
        "dir_NW": "西北",
        "toward": "方向",
        "legend": "图例",
        "loop": "178 环线（示意）",
        "coverage": "{km} 公里内有驿站的路段",
        "approximate_note": "驿站位置多为近似值",
        "fullscreen": "全屏",
        "locate": "定位我的位置",
        "you_are_here": "你在这里",
        "locate_failed": "无法定位",
        "load_failed": "驿站数据加载失败",
        "stations_layer": "驿站",
        "km_marks": "里程标（每 10 公里）",
        "suggested": "建议新站点",
        "reports": "问题反馈",
        "open_reports": "{n} 条未处理",
        "report_problem": "报告问题",
        "report_category": "遇到了什么问题",
        "report_text": "补充说明（可选）",
        "report_send": "提交",
        "report_sent": "谢谢！已收到你的反馈。",
        "report_failed": "没有提交成功：",
        "network_error": "网络错误，请稍后再试",
        "swapped": "你是否把经度和纬度填反了？请先填经度，再填纬度（例如 107.2618, 28.912）。",
        "far_away": "附近 {km} 公里内没有驿站：最近的一个在 {dist}外。"
        "请检查坐标（先经度，后纬度）。",
        "bad_position": "坐标无效，请检查后再试（先经度，后纬度，例如 107.2618, 28.912）。",
        "query_failed": "查询失败，请稍后再试",
        "geo_permission": "无法获取位置：没有获得定位权限",
        "geo_unavailable": "无法获取位置：暂时没有定位信号",
        "geo_timeout": "无法获取位置：定位超时",
        "planning_summary": "建议新增 {n} 个站点：环线上离驿站最远的距离从 {before:.1f} 公里"
        "降到 {after:.1f} 公里",
        "app_short_name": "工会驿站",
        "app_description": "南川 178 环线工会驿站：没有信号也能找到最近的驿站",
        "offline_data": "离线数据，更新于 {when}",
        "offline_no_data": "没有网络，也还没有离线数据：有信号时打开一次本页即可保存。",
        "offline_outside": "离线数据只含 178 环线附近的驿站，这里可能不是最近的。",
        "report_queued": "已保存，有信号时自动提交。",
        "loop_here": "你在环线 km {km}",
        "card_km": "环线 km {km}",
        "crs_wgs84": "WGS84（GPS）",
        "crs_gcj02": "GCJ-02（高德/腾讯/微信）",
        "crs_bd09": "BD-09（百度）",
        "nearer_closed": "最近的 {name}（{dist}）现在关门，{when} 开门。",
        "nearer_closed_no_time": "最近的 {name}（{dist}）现在关门。",
        "nearer_unknown": "最近的 {name}（{dist}）开放时间未知，可能没开门。",
        "weekdays": "周日,周一,周二,周三,周四,周五,周六",
        "report_rate_limited": "这台设备一小时内已提交 {n} 条，请稍后再试。",
        "report_rate_limited_no_n": "这台设备一小时内提交得太多了，请稍后再试。",
        "report_not_found": "这个驿站已不在列表中，无法反馈。",
        "report_bad": "反馈内容有误，请检查后再试。",
        "report_too_large": "反馈内容太长，请缩短后再试。",
        "server_busy": "服务器暂时无法处理，请稍后再试。",
        "server_said": "服务器说明（英文）：",
    },
    "en": {
        "title": "Rest stations · find the nearest",
        "map_title": "Union rest stations on Nanchuan's 178 loop",
        "find_nearest": "Find the nearest station",
        "search": "Search",
        "coords_label": "or type coordinates (lon, lat)",
        "coords_placeholder": "107.2618, 28.912",
        "tap_hint": "Or tap the map to find stations near that spot.",
        "needs_https": "Location needs HTTPS; tap the map or type coordinates instead.",
        "locating": "Finding your position…",
        "searching": "Searching…",
        "geo_denied": "Could not get your position",
        "geo_fallback": "Tap the map or type coordinates.",
        "no_results": "No open station found nearby.",
        "results_for": "Nearest stations",
        "bad_coords": "Coordinates must be: longitude, latitude (e.g. 107.2618, 28.912)",
        "lang_switch": "中文",
        "kind": "Kind",
        "status": "Status",
        "status_closed": "closed",
        "status_planned": "planned",
        "address": "Address",
        "hours": "Hours",
        "hours_not_surveyed": "not surveyed",
        "open_now": "open now",
        "closed_now": "closed now",
        "hours_unknown": "open now: unknown",
        "as_of": "as of",
        "amenities": "Offers",
        "not_surveyed": "not surveyed",
        "awards": "Awards",
        "phone": "Phone",
        "loop_km": "Loop km",
        "position": "Position",
        "accuracy_approximate": "approximate (town seat), to be checked on site",
        "accuracy_unknown": "position unknown",
        "nav_amap": "Navigate (Amap)",
        "nav_baidu": "Navigate (Baidu)",
        "unit_m": "m",
        "unit_km": "km",
        "dir_N": "N",
        "dir_NE": "NE",
        "dir_E": "E",
        "dir_SE": "SE",
        "dir_S": "S",
        "dir_SW": "SW",
        "dir_W": "W",
        "dir_NW": "NW",
        "toward": "toward",
        "legend": "Legend",
        "loop": "178 loop (schematic)",
        "coverage": "loop within {km} km of a station",
        "approximate_note": "Most positions are approximate",
        "fullscreen": "Full screen",
        "locate": "Show my position",
        "you_are_here": "You are here",
        "locate_failed": "Could not find your position",
        "load_failed": "Could not load stations",
        "stations_layer": "Stations",
        "km_marks": "km marks (every 10 km)",
        "suggested": "Suggested site",
        "reports": "Reports",
        "open_reports": "{n} open",
        "report_problem": "Report a problem",
        "report_category": "What is wrong",
        "report_text": "Details (optional)",
        "report_send": "Send",
        "report_sent": "Thank you, your report was received.",
        "report_failed": "Could not send: ",
        "network_error": "network error, please try again",
        "swapped": "Did you swap longitude and latitude? Longitude comes first "
        "(e.g. 107.2618, 28.912).",
        "far_away": "No station within {km} km: the nearest is {dist} away. Check the "
        "coordinates (longitude first).",
        "bad_position": "These coordinates are not valid; check them (longitude first, e.g. "
        "107.2618, 28.912).",
        "query_failed": "The search failed; please try again",
        "geo_permission": "Could not get your position: permission was not given",
        "geo_unavailable": "Could not get your position: no location fix right now",
        "geo_timeout": "Could not get your position: it took too long",
        "planning_summary": "{n} suggested sites: the farthest loop point from a station goes "
        "from {before:.1f} km to {after:.1f} km",
        "app_short_name": "Rest stations",
        "app_description": "Union rest stations on Nanchuan's 178 loop: the nearest one, "
        "even with no signal",
        "offline_data": "Offline data, updated {when}",
        "offline_no_data": "No network and no offline data yet: open this page once with a "
        "signal to keep it.",
        "offline_outside": "The offline data holds the stations around the 178 loop only; "
        "this may not be the nearest.",
        "report_queued": "Saved; it will be sent when there is a signal.",
        "loop_here": "You are at km {km} of the loop",
        "card_km": "Loop km {km}",
        "crs_wgs84": "WGS84 (GPS)",
        "crs_gcj02": "GCJ-02 (Amap, Tencent, WeChat)",
        "crs_bd09": "BD-09 (Baidu)",
        "nearer_closed": "The nearest, {name} ({dist}), is closed now; it opens {when}.",
        "nearer_closed_no_time": "The nearest, {name} ({dist}), is closed now.",
        "nearer_unknown": "The nearest, {name} ({dist}), has unknown hours and may be closed.",
        "weekdays": "Sun,Mon,Tue,Wed,Thu,Fri,Sat",
        "report_rate_limited": "This device has sent {n} reports in the last hour; please "
        "try again later.",
        "report_rate_limited_no_n": "This device has sent too many reports in the last hour; "
        "please try again later.",
        "report_not_found": "This station is no longer listed; the report cannot be sent.",
        "report_bad": "Something in the report is not accepted; please check it.",
        "report_too_large": "The report is too long; please shorten it.",
        "server_busy": "The server cannot answer right now; please try again later.",
        "server_said": "Server: ",
    },
}


def check_lang(lang: str) -> str:
    """``lang`` if supported (zh, en); ValueError otherwise."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}; got {lang!r}")
    return lang


def text(lang: str, key: str) -> str:
    """One text in ``lang``."""
    return TEXTS[lang][key]


def kind_label(kind: Kind, lang: str) -> str:
    """A kind's label in ``lang``."""
    zh, en = KIND_LABELS[kind]
    return zh if lang == "zh" else en


def browser_config(lang: str) -> dict[str, Any]:
    """Texts and vocabularies the page scripts need (serialised into the page as JSON)."""
    return {
        "lang": lang,
        "i18n": TEXTS,
        "farAwayKm": round(FAR_AWAY_M / 1000),
        "kinds": {
            k.value: {
                "zh": KIND_LABELS[k][0],
                "en": KIND_LABELS[k][1],
                "color": KIND_STYLE[k][0],
                "glyph": KIND_STYLE[k][1],
            }
            for k in Kind
        },
        "amenities": {a.value: {"zh": zh, "en": en} for a, (zh, en) in AMENITY_LABELS.items()},
        "reportCategories": {
            c.value: {"zh": zh, "en": en} for c, (zh, en) in CATEGORY_LABELS.items()
        },
    }
