"""What a new clerk's trial of the office app found, each checked in Chromium on a phone.

The language switch keeps the view; opening hours typed with a phone keyboard's trailing
space save, and the week preview never shows another value's week; the server's refusals and
the phone's location errors read in the clerk's language; a colleague's save is shown three
ways (what both started from, theirs, yours); a survey's status line says what happened last.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from office import DELONG, office_server, phone_context, sign_in
from test_browser import Watch, browser, tiles  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def office(tiles, tmp_path_factory) -> Iterator[str]:  # noqa: F811
    with office_server(tmp_path_factory.mktemp("trial"), tiles) as base:
        yield base


def station_open(page: Page, base: str, sid: str = DELONG, lang: str = "") -> None:
    """``page`` signed in, on the stations section with ``sid`` open in the form."""
    sign_in(page, base, next_page=f"/admin/stations?station={sid}{lang}")
    page.wait_for_function(
        "id => document.getElementById('f-id').value === id && "
        "!document.getElementById('st-form-card').hidden",
        arg=sid,
    )


def test_the_language_switch_keeps_the_view(browser, office):  # noqa: F811
    context = phone_context(browser)
    page = context.new_page()
    watch = Watch(page)
    query = "/admin/reports?station=sanquan-union-station&category=dirty"
    sign_in(page, office, next_page=query.replace("&", "%26"))
    page.wait_for_selector("#report-list")
    page.click("#lang-switch")
    page.wait_for_selector("html[lang=en]")
    assert page.url == office + query + "&lang=en"
    page.click("#lang-switch")
    page.wait_for_selector("html[lang=zh-CN]")
    assert page.url == office + query
    # the station opened in the form (the address follows it) goes across too
    page.goto(office + "/admin/stations?lang=en")
    page.wait_for_selector("#st-list .st-row")
    page.click(f'#st-list .st-row[data-id="{DELONG}"]')
    page.wait_for_function("id => location.search.includes(id)", arg=DELONG)
    page.click("#lang-switch")
    page.wait_for_function(
        "id => document.documentElement.lang === 'zh-CN' "
        "&& document.getElementById('f-id').value === id",
        arg=DELONG,
    )
    assert page.url == f"{office}/admin/stations?station={DELONG}"
    # signing out of an English page lands on the English sign-in
    page.goto(office + "/admin/loop?lang=en")
    page.click("#signout")
    page.wait_for_selector("#token")
    assert page.url == office + "/admin?lang=en"
    assert page.inner_text("h1") == "Sign in to the station office"
    assert watch.errors == [] and watch.external == []
    context.close()
