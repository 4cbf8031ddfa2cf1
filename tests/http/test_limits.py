"""Over-long URLs and headers get the API's JSON error, not aiohttp's plain-text 400."""

from __future__ import annotations

import pytest

from torrentino_bridge.http.limits import MAX_HEADER_BYTES, MAX_URL_BYTES, PARSER_LIMIT_BYTES


@pytest.mark.parametrize(("path", "auth"), [
    ("/healthz?pad={}", None),
    ("/v1/admin/downloads/{}", "admin"),
    ("/v1/admin/downloads/{}", None),            # refused for its size before auth is looked at
])
async def test_a_url_over_the_limit_is_a_json_414(make_bridge, path: str, auth: str | None) -> None:
    bridge = await make_bridge()
    url = path.format("x" * (MAX_URL_BYTES + 100))
    reply = await bridge.call("GET", url, auth=auth)
    assert reply.status == 414, reply.text[:200]
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.body == {"error": f"the URL is {len(url)} bytes; at most {MAX_URL_BYTES} are accepted"}


async def test_a_url_at_the_limit_is_served(make_bridge) -> None:
    bridge = await make_bridge()
    path = "/healthz?pad="
    reply = await bridge.call("GET", path + "x" * (MAX_URL_BYTES - len(path)))
    assert reply.status == 200 and reply.body["status"] == "ok"


async def test_a_header_over_the_limit_is_a_json_431(make_bridge) -> None:
    bridge = await make_bridge()
    reply = await bridge.call("GET", "/v1/admin/downloads", auth="admin",
                              headers={"X-Trace": "t" * MAX_HEADER_BYTES})
    assert reply.status == 431, reply.text[:200]
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.body == {"error": f"header X-Trace is {MAX_HEADER_BYTES + 7} bytes; "
                                   f"at most {MAX_HEADER_BYTES} are accepted"}
    ok = await bridge.call("GET", "/v1/admin/downloads", auth="admin", headers={"X-Trace": "t" * 100})
    assert ok.status == 200


async def test_the_parser_limit_stays_bounded(make_bridge) -> None:
    """Past the parser's own bound aiohttp refuses the request before the app (its plain 400)."""
    bridge = await make_bridge()
    reply = await bridge.call("GET", "/healthz?pad=" + "x" * PARSER_LIMIT_BYTES)
    assert reply.status == 400
    assert (await bridge.call("GET", "/healthz")).status == 200   # and keeps serving
