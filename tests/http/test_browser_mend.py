"""Mending downloads from the admin page, in headless Chromium against a running daemon and
the simulator: a failed search is searched again from its pre-filled box (the draft survives
the page's polling), the match table of an import shows, a re-scan imports a fixed file,
and the history pages. Screenshots go to tests/http/artifacts/."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import album

from .conftest import ADMIN, OK, TWO
from .test_browser import ARGS, ARTIFACTS, CHROMIUM, no_horizontal_overflow
from .test_rescan import put_good_file

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="Python playwright is not installed (pip install -e '.[dev]')")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

FILLER = [album(f"alb-f{i}", f"Filler {i}", f"Tape {i}", ["A", "B"]) for i in range(10)]
QUERY = "Lanterns Harbour 2019 web rip"


async def request(bridge, album_id: str) -> str:
    reply = await bridge.user("POST", "/v1/user/request-download", user="ana", body={"album_id": album_id})
    assert reply.status == 202
    return reply.body["request_id"]


async def signed_in(browser, url: str, **page_args):
    page = await browser.new_page(**page_args)
    await page.goto(f"{url}/admin")
    await page.fill("#token", ADMIN)
    await page.click("#login button[type=submit]")
    return page


@pytest.mark.timeout(180)
async def test_search_again_match_table_rescan_and_history(make_bridge, sim):
    sim.set_outcome("Harbour Lights", "acquisition_failed")
    sim.set_outcome("Cartas de Verano", "missing_tracks")
    bridge = await make_bridge([OK, TWO, *FILLER])
    fillers = [await request(bridge, spec.id) for spec in FILLER]
    for request_id in fillers:
        await bridge.until_status(request_id, "completed")
    partial = await request(bridge, "alb-two")
    await bridge.until_status(partial, "failed")
    not_found = await request(bridge, "alb-ok")
    await bridge.until_status(not_found, "failed")
    subs = {s.album_id: s for s in await bridge.service.store.submissions()}
    ARTIFACTS.mkdir(exist_ok=True)

    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await signed_in(browser, bridge.url, viewport={"width": 1280, "height": 900})
            failed = page.locator(f"#failed article[data-ticket='{subs['alb-ok'].ticket_id}']")
            box = failed.locator("input[name=query]")
            await box.wait_for()
            assert await box.input_value() == "The Lanterns - Harbour Lights (2019)"

            # Typing survives the page's polling (every 2 s the lists are rebuilt).
            await box.fill(QUERY)
            await box.focus()
            await asyncio.sleep(2.5)
            assert await failed.locator("input[name=query]").input_value() == QUERY
            assert await page.evaluate("document.activeElement && document.activeElement.name") == "query"

            # The match table of the partial import, then a re-scan once the file is there.
            done = page.locator(f"#done article[data-ticket='{subs['alb-two'].ticket_id}']")
            await done.locator("details.match-table summary").click()
            matched = done.locator("table.matches").first
            await matched.wait_for()
            text = await done.locator(".match-body").inner_text()
            assert "01 - Canción.ogg" in text and "1 Canción" in text and "confidence" in text
            assert "Tracks not imported" in text and "2 Días Largos" in text and "missing" in text
            await page.screenshot(path=str(ARTIFACTS / "admin-mend-desktop.png"), full_page=True)

            await failed.locator("[data-action=search]").click()
            await bridge.until_status(not_found, "completed")
            assert [t["query_context"]["description"] for t in sim.tickets.values()].count(QUERY) == 1

            await put_good_file(sim, subs["alb-two"].ticket_id)
            await done.locator("[data-action=rescan]").click()
            await bridge.until_status(partial, "completed")
            await page.locator("#banner", has_text="Re-scanned").wait_for()

            # History: every finished download, ten a page.
            total = 13     # ten fillers, the partial one, the not-found one and its new search
            await page.locator("#history-page", has_text=f"1–10 of {total}").wait_for()
            assert await page.locator("#history article").count() == 10
            await page.click("#history-older")
            await page.locator("#history-page", has_text=f"11–{total} of {total}").wait_for()
            assert await page.locator("#history article").count() == total - 10
            await page.select_option("#history-filter", "cancelled")
            await page.locator("#history-page", has_text="1–1 of 1").wait_for()
            replaced = page.locator("#history article[data-state=cancelled]")
            assert "searched again" in await replaced.inner_text()
            assert await replaced.locator("input[name=query]").count() == 0   # already searched again

            phone = await signed_in(browser, bridge.url, viewport={"width": 390, "height": 844},
                                    device_scale_factor=2, is_mobile=True, has_touch=True)
            card = phone.locator(f"#done article[data-ticket='{subs['alb-two'].ticket_id}']")
            await card.locator("details.match-table summary").click()
            await card.locator("table.matches").first.wait_for()
            await phone.locator("#history article").first.wait_for()
            assert await no_horizontal_overflow(phone)
            await phone.screenshot(path=str(ARTIFACTS / "admin-mend-phone.png"), full_page=True)
        finally:
            await browser.close()
