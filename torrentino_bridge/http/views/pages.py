"""The admin page (plain HTML/CSS/JS served from static/) and the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ..openapi import document

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# The page loads only its own files and talks only to this server.
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:;"
        " base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


async def admin_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "admin.html", headers={
        "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": _CSP,
        "Referrer-Policy": "no-referrer",
    })


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())
