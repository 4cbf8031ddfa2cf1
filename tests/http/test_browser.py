"""The admin page in headless Chromium against a running daemon and the simulator: a ticket
needing approval shows with its candidates, a click approves it, the tracks become available;
progress arrives by the admin event stream, without polling. Screenshots (desktop and phone
width) go to tests/http/artifacts/."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import wait_for

from .conftest import ADMIN

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="Python playwright is not installed (pip install -e '.[dev]')")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


async def request(bridge, album_id: str) -> str:
    reply = await bridge.user("POST", "/v1/user/request-download", user="ana", body={"album_id": album_id})
    assert reply.status == 202
    return reply.body["request_id"]


def availability(catalog: Path) -> set[str]:
    conn = sqlite3.connect(catalog)
    try:
        return {r[0] for r in conn.execute("SELECT availability FROM tracks WHERE album_id = 'alb-ok'")}
    finally:
        conn.close()


async def no_horizontal_overflow(page) -> bool:
    return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.timeout(180)
async def test_approve_from_the_admin_page(make_bridge, sim):
    sim.set_outcome("Harbour Lights", "needs_approval")
    sim.set_outcome("Cartas de Verano", "fail_always")
    sim.set_outcome("Record 1", "slow")
    bridge = await make_bridge()
    done = [await request(bridge, album_id) for album_id in ("alb-0", "alb-two")]
    await bridge.until_status(done[0], "completed")
    await bridge.until_status(done[1], "failed")
    sim.config.step_secs = 0.3      # slow QT down so the screenshot catches a download under way
    slow = await request(bridge, "alb-1")
    request_id = await request(bridge, "alb-ok")
    await bridge.until_status(request_id, "needs_approval")
    await bridge.admin("PUT", "/v1/admin/users/ana/limits", body={"requests_per_day": 25})
    ARTIFACTS.mkdir(exist_ok=True)

    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(f"{bridge.url}/admin")
            await page.fill("#token", ADMIN)
            await page.click("#login button[type=submit]")

            card = page.locator("#approval article[data-state=needs_approval]")
            await card.locator("[data-action=approve]").first.wait_for()
            assert await card.count() == 1
            candidates = card.locator(".candidate")
            assert await candidates.count() == 3
            assert "The Lanterns — Harbour Lights (2019)" in await card.inner_text()
            assert "seeders" in await candidates.first.inner_text()
            await page.locator("#failed article").first.wait_for()
            await page.locator("#users tbody tr").first.wait_for()
            # The bar follows the download (the event stream moves it).
            await page.wait_for_function(
                "() => Number(document.querySelector('#active .progress')?.getAttribute('aria-valuenow')) > 0")
            assert await page.is_hidden("#login")
            assert await no_horizontal_overflow(page)
            await page.screenshot(path=str(ARTIFACTS / "admin-desktop.png"), full_page=True)
            sim.config.step_secs = 0.01

            phone = await browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                           is_mobile=True, has_touch=True)
            await phone.goto(f"{bridge.url}/admin")
            await phone.fill("#token", ADMIN)
            await phone.click("#login button[type=submit]")
            await phone.locator("#approval [data-action=approve]").first.wait_for()
            assert await no_horizontal_overflow(phone)
            await phone.screenshot(path=str(ARTIFACTS / "admin-phone.png"), full_page=True)

            await candidates.first.locator("[data-action=approve]").click()
            await bridge.until_status(request_id, "completed")
            await bridge.until_status(slow, "completed")
            assert availability(bridge.catalog) == {"available"}
            ticket = next(s.ticket_id for s in await bridge.service.store.submissions() if s.album_id == "alb-ok")
            await page.locator(f"#done article[data-ticket='{ticket}']").wait_for()
            assert await page.locator("#approval article").count() == 0
            await page.screenshot(path=str(ARTIFACTS / "admin-desktop-after.png"), full_page=True)

            await phone.locator(f"#done article[data-ticket='{ticket}']").wait_for()   # streamed there too
            assert await no_horizontal_overflow(phone)
        finally:
            await browser.close()


async def test_the_page_asks_again_after_a_wrong_token(make_bridge):
    bridge = await make_bridge()
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{bridge.url}/admin")
            await page.fill("#token", "wrong-token")
            await page.click("#login button[type=submit]")

            async def refused():
                return "refused" in (await page.inner_text("#login-error"))

            await wait_for(refused, what="the page to say the token was refused")
            assert await page.is_visible("#login")
            assert await page.evaluate("sessionStorage.length") == 0
        finally:
            await browser.close()


async def test_progress_arrives_by_events_without_polling(make_bridge, sim):
    sim.set_outcome("Harbour Lights", "slow")
    bridge = await make_bridge()
    sim.config.step_secs = 0.3          # about six seconds of downloading
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            calls: list[str] = []
            page.on("request", lambda r: calls.append(r.url.split("?", 1)[0].removeprefix(bridge.url)))
            await page.goto(f"{bridge.url}/admin")
            await page.fill("#token", ADMIN)
            await page.click("#login button[type=submit]")
            await page.wait_for_function("() => document.querySelector('#updated').textContent !== ''")
            await request(bridge, "alb-ok")
            bar = "#active .progress"
            await page.wait_for_function(
                f"() => Number(document.querySelector('{bar}')?.getAttribute('aria-valuenow')) > 0")
            lists_before = calls.count("/v1/admin/downloads")
            seen: list[str] = []
            for _ in range(200):        # sample the bar while the download runs
                value = await page.get_attribute(bar, "aria-valuenow")
                if value is not None and (not seen or value != seen[-1]):
                    seen.append(value)
                if len(seen) >= 3:
                    break
                await asyncio.sleep(0.05)
            assert len(seen) >= 3, seen
            assert [float(v) for v in seen] == sorted(float(v) for v in seen)
            # The bar moved three times and the page fetched no list meanwhile: events, not polling.
            assert calls.count("/v1/admin/downloads") == lists_before, calls
            assert "/v1/admin/events" in calls and "/v1/admin/events/ticket" in calls
            label = await page.inner_text("#active .progress-label")
            assert "%" in label and "/s" in label, label          # speed from QT's downloading state
        finally:
            await browser.close()
