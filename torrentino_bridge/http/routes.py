"""The whole HTTP surface in one table (openapi.py documents exactly these routes)."""

from __future__ import annotations

from aiohttp import web

from .views import admin, callback, events, health, mend, pages, user
from .views.pages import STATIC_DIR

ROUTES: list[web.RouteDef] = [
    web.get("/healthz", health.healthz, allow_head=False),
    web.get("/readyz", health.readyz, allow_head=False),
    web.get("/metrics", health.metrics, allow_head=False),
    web.get("/openapi.json", pages.openapi, allow_head=False),
    web.get("/admin", pages.admin_page, allow_head=False),
    web.get("/v1/admin/downloads", admin.list_downloads, allow_head=False),
    web.get("/v1/admin/downloads/{ticket_id}", admin.get_download, allow_head=False),
    web.post("/v1/admin/downloads/{ticket_id}/approve", admin.approve),
    web.post("/v1/admin/downloads/{ticket_id}/reject", admin.reject),
    web.post("/v1/admin/downloads/{ticket_id}/retry", admin.retry),
    web.post("/v1/admin/downloads/{ticket_id}/cancel", admin.cancel),
    # Mending a download: search again with an admin's query, its match table, re-scan its folder.
    web.post("/v1/admin/downloads/{ticket_id}/search", mend.search),
    web.get("/v1/admin/downloads/{ticket_id}/matches", mend.matches, allow_head=False),
    web.post("/v1/admin/downloads/{ticket_id}/rescan", mend.rescan),
    web.get("/v1/admin/users", admin.list_users, allow_head=False),
    web.get("/v1/admin/users/{user_id}/limits", admin.get_limits, allow_head=False),
    web.put("/v1/admin/users/{user_id}/limits", admin.put_limits),
    web.post("/v1/user/request-download", user.request_download),
    web.get("/v1/user/download-requests", user.list_requests, allow_head=False),
    web.post("/v1/internal/torrentino-callback", callback.torrentino_callback),
    # -- users follow their requests; live events (issue 13 item 4) --
    web.get("/v1/user/download-requests/{request_id}", user.get_request, allow_head=False),
    web.delete("/v1/user/download-requests/{request_id}", user.cancel_request),
    web.get("/v1/user/events", events.user_events, allow_head=False),
    web.get("/v1/admin/events", events.admin_events, allow_head=False),
    web.post("/v1/admin/events/ticket", events.stream_ticket),
]

STATIC_PREFIX = "/admin/static"


def add_routes(app: web.Application) -> None:
    app.add_routes(ROUTES)
    app.router.add_static(STATIC_PREFIX, STATIC_DIR, show_index=False, follow_symlinks=False)
