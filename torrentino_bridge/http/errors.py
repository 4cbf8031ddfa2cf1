"""JSON errors everywhere: one exception type for views, one middleware that renders
every failure (ours, aiohttp's, the engine's and QT's) as {"error": "...", ...}."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from ..engine.actions import ActionError
from ..qt.errors import (
    QTAuthError,
    QTBadRequest,
    QTConflict,
    QTError,
    QTNotFound,
    QTProtocolError,
    QTUnavailable,
)

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> web.Response:
        return error_response(self.status, self.message, headers=self.headers, **self.extra)


def error_response(status: int, message: str, *, headers: dict[str, str] | None = None,
                   **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status, headers=headers)


def qt_error(err: QTError) -> ApiError:
    """QT's refusal as an API error: its 400/404/409 keep their meaning, the rest is a 502/503."""
    said = err.message or type(err).__name__
    match err:
        case QTBadRequest():
            return ApiError(400, f"Quentin Torrentino refused the request: {said}", qt_status=err.status)
        case QTNotFound():
            return ApiError(404, f"Quentin Torrentino does not know the ticket: {said}", qt_status=err.status)
        case QTConflict():
            return ApiError(409, f"Quentin Torrentino refused in the ticket's current state: {said}",
                            qt_status=err.status)
        case QTAuthError():
            return ApiError(502, f"Quentin Torrentino refused the bridge's token: {said}", qt_status=err.status)
        case QTUnavailable():
            return ApiError(503, f"Quentin Torrentino is unavailable: {said}", qt_status=err.status,
                            headers={"Retry-After": "30"})
        case QTProtocolError():
            return ApiError(502, f"Quentin Torrentino answered unexpectedly: {said}")
    return ApiError(502, f"Quentin Torrentino: {said}", qt_status=err.status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as err:
        return err.response()
    except ActionError as err:
        return error_response(err.status, err.message)
    except QTError as err:
        log.warning("http.qt_error", path=request.path, error=str(err))
        return qt_error(err).response()
    except web.HTTPException as err:
        if err.status < 400:
            raise
        message = {404: f"no route {request.path}",
                   405: f"{request.method} is not allowed on {request.path}"}.get(err.status, err.reason)
        headers = {k: v for k, v in err.headers.items() if k.lower() in ("allow", "retry-after")}
        return error_response(err.status, message, headers=headers)
    except Exception:
        log.exception("http.internal_error", method=request.method, path=request.path)
        return error_response(500, "internal error; the bridge log has the details")
