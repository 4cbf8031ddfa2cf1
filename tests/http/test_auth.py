"""Every protected route refuses a missing or wrong credential with 401 and a JSON error."""

from __future__ import annotations

import pytest

from torrentino_bridge.http.routes import ROUTES

from .conftest import ADMIN, CALLBACK, SERVICE, TOKENS

SAMPLE = {"ticket_id": "some-ticket", "user_id": "u1", "request_id": "some-request"}
AREAS = {"/v1/admin/": "admin", "/v1/user/": "service", "/v1/internal/": "callback"}


def protected() -> list[tuple[str, str, str]]:
    out = []
    for route in ROUTES:
        area = next((a for prefix, a in AREAS.items() if route.path.startswith(prefix)), None)
        if area is not None:
            out.append((route.method, route.path.format(**SAMPLE), area))
    return out


PROTECTED = protected()


def test_every_api_route_is_in_an_authenticated_area():
    open_routes = {r.path for r in ROUTES} - {p for r in ROUTES for p in [r.path] if p.startswith("/v1/")}
    assert open_routes == {"/healthz", "/readyz", "/metrics", "/openapi.json", "/admin"}
    assert len(PROTECTED) == len([r for r in ROUTES if r.path.startswith("/v1/")])


@pytest.mark.parametrize(("method", "path", "area"), PROTECTED)
async def test_missing_wrong_and_foreign_credentials_are_401(make_bridge, method, path, area):
    bridge = await make_bridge()
    # The other areas' tokens are as wrong as a made-up one.
    wrong = ["not-the-token", ADMIN[:-1], *(t for a, t in (("admin", ADMIN), ("service", SERVICE),
                                                           ("callback", CALLBACK)) if a != area)]
    for auth in (None, *wrong):
        reply = await bridge.call(method, path, auth=auth, user="u1", body={})
        assert reply.status == 401, (auth, reply.text)
        assert reply.body["error"]
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    missing = await bridge.call(method, path, user="u1", body={})
    assert "missing credentials" in missing.body["error"]
    if path.endswith("/events"):       # an endless stream: only its status line is read
        headers = {"Authorization": f"Bearer {TOKENS[area]}", "X-User-Id": "u1"}
        async with bridge.session.get(bridge.url + path, headers=headers) as resp:
            assert resp.status == 200 and resp.content_type == "text/event-stream"
        return
    right = await bridge.call(method, path, auth=area, user="u1", body={})
    assert right.status != 401, right.text


async def test_non_bearer_schemes_are_refused(make_bridge):
    bridge = await make_bridge()
    for header in (f"Basic {ADMIN}", ADMIN, "Bearer", "Bearer "):
        reply = await bridge.call("GET", "/v1/admin/downloads", headers={"Authorization": header})
        assert reply.status == 401, header


async def test_callback_secret_in_its_own_header(make_bridge):
    bridge = await make_bridge()
    body = {"event": "completed", "ticket_id": "not-ours"}
    reply = await bridge.call("POST", "/v1/internal/torrentino-callback", body=body,
                              headers={"X-Callback-Secret": CALLBACK})
    assert reply.status == 202
    reply = await bridge.call("POST", "/v1/internal/torrentino-callback", body=body,
                              headers={"X-Callback-Secret": "nope"})
    assert reply.status == 401


async def test_unconfigured_tokens_disable_their_area(make_bridge):
    bridge = await make_bridge(tokens={"admin_token": None, "service_token": None, "callback_secret": None})
    for method, path, area in (("GET", "/v1/admin/downloads", "admin"),
                               ("GET", "/v1/user/download-requests", "service"),
                               ("POST", "/v1/internal/torrentino-callback", "callback")):
        reply = await bridge.call(method, path, auth=area, user="u1")
        assert reply.status == 401
        assert "is not configured" in reply.body["error"], reply.body


async def test_user_routes_need_the_user_header(make_bridge):
    bridge = await make_bridge()
    for headers in ({}, {"X-User-Id": "   "}, {"X-User-Id": "x" * 201}):
        reply = await bridge.call("GET", "/v1/user/download-requests", auth="service", headers=headers)
        assert reply.status == 400
        assert "X-User-Id" in reply.body["error"]


async def test_open_routes_need_no_token(make_bridge):
    bridge = await make_bridge()
    for path in ("/healthz", "/metrics", "/openapi.json", "/admin", "/admin/static/admin.js"):
        reply = await bridge.call("GET", path)
        assert reply.status == 200, path
