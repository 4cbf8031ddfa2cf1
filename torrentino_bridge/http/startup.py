"""Until startup repair has run, the routes that drive the engine wait.

Admin actions and webhook events change submissions and catalog tracks; run before repair,
they could race it (repair reads the live submissions, then fixes the catalog from them).
Reading routes and new requests (rows the intake plans once it starts) are served as usual.
"""

from __future__ import annotations

from aiohttp import web

from .errors import ApiError, Handler
from .keys import SERVICE
from .views import admin, callback, mend, user

ENGINE_HANDLERS = frozenset({admin.approve, admin.reject, admin.retry, admin.cancel,
                             callback.torrentino_callback, user.cancel_request,
                             mend.search, mend.rescan})
RETRY_AFTER_SECS = 5


@web.middleware
async def until_repaired(request: web.Request, handler: Handler) -> web.StreamResponse:
    pending = request.app[SERVICE].repair_pending
    if pending is not None and request.match_info.handler in ENGINE_HANDLERS:
        raise ApiError(503, f"the bridge is starting: {pending}", headers={"Retry-After": str(RETRY_AFTER_SECS)})
    return await handler(request)
