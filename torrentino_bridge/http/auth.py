"""Who may call what. Three credentials, each compared in constant time:

- /v1/admin/*     Authorization: Bearer <http.admin_token> (GET /v1/admin/events also takes
                  ?ticket=<a single-use stream ticket>, see stream_tickets.py)
- /v1/user/*      Authorization: Bearer <http.service_token> plus X-User-Id: <user id>
                  (the catalog server calling on behalf of one of its users)
- /v1/internal/*  Authorization: Bearer <http.callback_secret> (or X-Callback-Secret)
Everything else (health, metrics, the OpenAPI document, the admin page's files) is open.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from pydantic import SecretStr

from .errors import ApiError, Handler
from .keys import SERVICE, STREAM_TICKETS, USER_ID

USER_HEADER = "X-User-Id"
CALLBACK_HEADER = "X-Callback-Secret"
MAX_USER_ID = 200
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="torrentino-bridge"'}


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _matches(given: str | None, expected: SecretStr | None) -> bool:
    if given is None or expected is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.get_secret_value().encode("utf-8"))


def _refuse(given: str | None, expected: SecretStr | None, what: str, setting: str) -> ApiError:
    if expected is None:
        message = f"the {what} is disabled: {setting} is not configured"
    elif given is None:
        message = f"missing credentials: send 'Authorization: Bearer <{setting}>'"
    else:
        message = "wrong token"
    return ApiError(401, message, headers=_CHALLENGE)


def is_admin(request: web.Request) -> bool:
    """Whether the request carries the admin token (for open routes that show more to admins)."""
    return _matches(bearer(request), request.app[SERVICE].settings.http.admin_token)


ADMIN_EVENTS = "/v1/admin/events"


def _stream_ticket(request: web.Request, path: str, admin_token: SecretStr | None) -> bool:
    """The admin event stream also opens with a single-use ticket (?ticket=, see
    stream_tickets.py): a browser's EventSource cannot send the Bearer header."""
    if path != ADMIN_EVENTS or request.method != "GET" or admin_token is None:
        return False
    return request.app[STREAM_TICKETS].redeem(request.query.get("ticket"))


def check_user_id(value: str | None, what: str = f"the {USER_HEADER} header") -> str:
    user = (value or "").strip()
    if not user:
        raise ApiError(400, f"{what} is required: the user the request is made for")
    if len(user) > MAX_USER_ID or not user.isprintable():
        raise ApiError(400, f"{what} must be printable and at most {MAX_USER_ID} characters")
    return user


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    http = request.app[SERVICE].settings.http
    # The matched route's template, so no spelling of a URL can reach a route unchecked.
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else request.path
    if path.startswith("/v1/admin/"):
        given = bearer(request)
        if not _matches(given, http.admin_token) and not _stream_ticket(request, path, http.admin_token):
            raise _refuse(given, http.admin_token, "admin API", "http.admin_token")
    elif path.startswith("/v1/user/"):
        given = bearer(request)
        if not _matches(given, http.service_token):
            raise _refuse(given, http.service_token, "user API", "http.service_token")
        request[USER_ID] = check_user_id(request.headers.get(USER_HEADER))
    elif path.startswith("/v1/internal/"):
        given = request.headers.get(CALLBACK_HEADER) or bearer(request)
        if not _matches(given, http.callback_secret):
            raise _refuse(given, http.callback_secret, "callback endpoint", "http.callback_secret")
    return await handler(request)
