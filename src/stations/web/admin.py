"""The office app's pages (``/admin``): one layout, texts in Chinese and English, a fresh nonce.

Every page is rendered per request for one signed-in clerk (the routes check the session first):
it carries that session's CSRF token and so is never cached or shared. Pages extend
``templates/admin/base.html``; each page's script reads its settings and texts from the JSON in
``#admin-config`` and talks to the API through ``static/admin/admin.js``. Data reaches the DOM
only as text, set by those scripts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from stations.web import assets
from stations.web.pages import NONCE
from stations.web.tiles import TileSource

_TEMPLATES = Environment(
    loader=PackageLoader("stations.web", "templates"), autoescape=select_autoescape()
)

#: Texts every office page shows (a page adds its own in `admin_page`'s ``texts``).
TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "app": "驿站管理",
        "signin_title": "登录驿站管理",
        "signin_help": "请输入工会办公室发给你的管理令牌。令牌只用于本次登录，不会保存在页面里。",
        "token": "管理令牌",
        "signin": "登录",
        "signout": "退出",
        "signed_in_as": "已登录：",
        "lang_switch": "English",
        "nav_home": "首页",
        "nav_stations": "驿站",
        "nav_loop": "环线",
        "nav_reports": "骑手反馈",
        "home_intro": "在地图上管理驿站、到现场测定位置、开车记录环线、处理骑手的反馈。",
        "wrong_token": "令牌不正确。",
        "disabled": "此服务器未开启管理功能：请设置 STATIONS_ADMIN_TOKEN 后重启。",
        "cross_site": "登录请求来自其他网站，已拒绝。",
        "saving": "正在保存…",
        "saved": "已保存",
        "error": "出错了：",
        "session_ended": "登录已过期，请重新登录。",
        "is": "：",
        "and": "；",
        "why_required": "必填",
        "why_too_long": "太长",
        "why_taken": "已被使用",
        "why_out_of_range": "超出范围",
        "why_invalid": "格式不对",
        "http_0": "连不上服务器，请检查网络后再试",
        "http_400": "提交的内容不符合要求",
        "http_401": "登录已过期，请重新登录",
        "http_403": "没有权限做这件事",
        "http_404": "找不到（可能已被删除）",
        "http_409": "与已有的数据冲突",
        "http_412": "别人已先修改，请重新载入",
        "http_413": "内容太大",
        "http_415": "文件类型不对",
        "http_429": "操作太频繁，请稍后再试",
        "http_5xx": "服务器出错，请稍后再试",
        "http_other": "请求没有成功",
        "geo_1": "没有允许本页使用位置：请在浏览器设置里允许",
        "geo_2": "手机暂时无法定位：请到开阔处、打开 GPS 后再试",
        "geo_3": "定位超时：请到开阔处再试",
        "geo_other": "无法定位",
    },
    "en": {
        "app": "Station office",
        "signin_title": "Sign in to the station office",
        "signin_help": "Enter the admin token the union office gave you. It is used for this "
        "sign-in only and never kept in the page.",
        "token": "Admin token",
        "signin": "Sign in",
        "signout": "Sign out",
        "signed_in_as": "Signed in as ",
        "lang_switch": "中文",
        "nav_home": "Home",
        "nav_stations": "Stations",
        "nav_loop": "Loop",
        "nav_reports": "Riders' reports",
        "home_intro": "Manage stations on the map, survey them on site, record the loop while "
        "driving, and answer riders' reports.",
        "wrong_token": "That token is not valid.",
        "disabled": "The office app is disabled on this server: set STATIONS_ADMIN_TOKEN and "
        "restart.",
        "cross_site": "The sign-in came from another site and was refused.",
        "saving": "Saving…",
        "saved": "Saved",
        "error": "Error: ",
        "session_ended": "Your session has ended: please sign in again.",
        "is": ": ",
        "and": "; ",
        "why_required": "required",
        "why_too_long": "too long",
        "why_taken": "already taken",
        "why_out_of_range": "out of range",
        "why_invalid": "not in the right form",
        "http_0": "The server cannot be reached: check the network and try again",
        "http_400": "What was sent is not accepted",
        "http_401": "Your session has ended: please sign in again",
        "http_403": "Not allowed",
        "http_404": "Not found (it may have been removed)",
        "http_409": "It conflicts with the data already there",
        "http_412": "Someone changed it first: reload",
        "http_413": "Too large",
        "http_415": "Wrong kind of file",
        "http_429": "Too many tries: wait a little",
        "http_5xx": "Server error: try again later",
        "http_other": "The request did not succeed",
        "geo_1": "This page may not use your location: allow it in the browser's settings",
        "geo_2": "The phone cannot get a position now: go into the open, turn GPS on, try again",
        "geo_3": "No position in time: go into the open and try again",
        "geo_other": "No position",
    },
}
#: The sections of the app, in the navigation's order: (key in TEXTS, path).
NAV = [("nav_home", "/admin"), ("nav_stations", "/admin/stations"),
       ("nav_loop", "/admin/loop"), ("nav_reports", "/admin/reports")]  # fmt: skip
LEAFLET_JS = ["leaflet/leaflet.js"]
LEAFLET_CSS = ["leaflet/leaflet.css"]


def admin_page(
    template: str,
    lang: str,
    *,
    path: str,
    label: str | None = None,
    csrf: str | None = None,
    texts: Mapping[str, Mapping[str, str]] | None = None,
    config: Mapping[str, Any] | None = None,
    scripts: list[str] | None = None,
    styles: list[str] | None = None,
    tiles: TileSource | None = None,
    **context: Any,
) -> str:
    """An office page from ``templates/admin/<template>``, with `NONCE` where the nonce goes.

    ``path`` is the page's own path (for the navigation and the language switch); ``texts``
    add the page's own texts to `TEXTS`; ``config`` goes to the page's script as JSON together
    with the texts, the language, the CSRF token and the base map (when ``tiles`` is given);
    ``scripts``/``styles`` are asset names (``stations/admin/x.js``) loaded after the shared ones.
    """
    page_texts = {**TEXTS[lang], **(texts or {}).get(lang, {})}
    data: dict[str, Any] = {"lang": lang, "texts": page_texts, "csrf": csrf, "label": label}
    if tiles is not None:
        data["tiles"] = {
            "url": tiles.url,
            "attribution": tiles.safe_attribution(),
            "subdomains": tiles.subdomains,
            "maxZoom": tiles.max_zoom,
            "overlay": tiles.overlay_url,
            "crs": tiles.crs.value,
        }
    data.update(config or {})
    leaflet = tiles is not None
    js = [*(LEAFLET_JS if leaflet else []), "stations/admin/admin.js", *(scripts or [])]
    css = [*(LEAFLET_CSS if leaflet else []), "stations/admin/admin.css", *(styles or [])]
    other = "en" if lang == "zh" else "zh"
    return _TEMPLATES.get_template(f"admin/{template}").render(
        lang=lang,
        t=page_texts,
        path=path,
        label=label,
        csrf=csrf,
        nav=[(page_texts[key], href) for key, href in NAV],
        switch_url=f"{path}?lang={other}",
        css_urls=[assets.url(a) for a in css],
        js_urls=[assets.url(a) for a in js],
        config_json=assets.script_json(data),
        nonce=NONCE,
        **context,
    )
