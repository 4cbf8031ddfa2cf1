"""Security headers on every answer, and the admin page's Content-Security-Policy on every
file of the page (its HTML is served both at /admin and as a static file)."""

from __future__ import annotations

from aiohttp import web

from .errors import Handler

# The page loads only its own files and talks only to this server; no site may frame it.
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:;"
            " base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
PAGE_PREFIX = "/admin"


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.path == PAGE_PREFIX or request.path.startswith(PAGE_PREFIX + "/"):
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response
