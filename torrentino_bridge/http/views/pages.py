"""The admin page (plain HTML/CSS/JS served from static/) and the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ..headers import PAGE_CSP
from ..openapi import document

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


async def admin_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "admin.html", headers={
        "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": PAGE_CSP,
        "Referrer-Policy": "no-referrer",
    })


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())
