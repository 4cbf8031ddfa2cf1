"""Hostile calls to the bridge's HTTP API and webhook: bodies of any shape and size,
odd path segments, headers and query strings. Every answer is a JSON 4xx naming the
problem (or a success); never a 5xx, and the bridge keeps serving real requests."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from tests.conftest import album, build_catalog, wait_for
from tests.faults.hostile import (
    Blob,
    LoopCaller,
    deep_nesting,
    json_values,
    nasty_text,
    prop_settings,
    run_property,
    truncations,
    with_field,
)
from torrentino_bridge.http.limits import PARSER_LIMIT_BYTES

pytestmark = pytest.mark.faults

ADMIN, SERVICE, CALLBACK = "admin-token-5c1d", "service-token-8e2f", "callback-secret-77aa"
OK = album("alb-api", "Api", "Calls", ["Get", "Post"])
SPARE = album("alb-spare", "Spare", "Record", ["Still", "Works"])

ENDPOINTS: list[tuple[str, str, str | None]] = [
    # method, path template ({} = a hostile path segment), credential
    ("POST", "/v1/user/request-download", "service"),
    ("GET", "/v1/user/download-requests", "service"),
    ("GET", "/v1/admin/downloads", "admin"),
    ("GET", "/v1/admin/downloads/{}", "admin"),
    ("POST", "/v1/admin/downloads/{}/approve", "admin"),
    ("POST", "/v1/admin/downloads/{}/reject", "admin"),
    ("POST", "/v1/admin/downloads/{}/retry", "admin"),
    ("POST", "/v1/admin/downloads/{}/cancel", "admin"),
    ("GET", "/v1/admin/users/{}/limits", "admin"),
    ("PUT", "/v1/admin/users/{}/limits", "admin"),
    ("POST", "/v1/internal/torrentino-callback", "callback"),
    ("GET", "/v1/user/download-requests/{}", "service"),
    ("DELETE", "/v1/user/download-requests/{}", "service"),
    ("POST", "/v1/admin/events/ticket", "admin"),
    ("GET", "/readyz", None),
    ("GET", "/healthz", None),
]
TOKENS = {"service": SERVICE, "admin": ADMIN, "callback": CALLBACK}

valid_bodies = [{"album_id": OK.id}, {"track_ids": [OK.track_id(1, 1)]}, {"candidate_idx": 0},
                {"reason": "no"}, {"requests_per_day": 5, "max_pending": 2},
                {"event": "completed", "ticket_id": "t-1", "details": {}},
                {"type": "ticket_update", "ticket_id": "t-1", "state": "downloading"}]
bodies = st.one_of(
    st.sampled_from(valid_bodies).flatmap(lambda b: with_field(b, [*b, "album_id", "track_ids", "extra"]))
    .map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(valid_bodies).map(json.dumps).flatmap(truncations).map(str.encode),
    st.binary(max_size=100),
    st.sampled_from([b"", b"   ", deep_nesting(100_000).encode(), b"\xff\xfe",
                     json.dumps({"album_id": "x" * 3_000_000}).encode(),
                     json.dumps({"track_ids": ["t"] * 5000}).encode(),
                     json.dumps({"track_ids": [OK.track_id(1, 1)] * 1000}).encode()]),
).map(Blob)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
                      max_size=300)
segments = st.one_of(nasty_text, st.sampled_from(["..", "%2e%2e", "a/b", "x" * 5000, "\x00", "t-1"]))
queries = st.dictionaries(st.sampled_from(["limit", "state", "status", "offset"]),
                          st.one_of(nasty_text, st.sampled_from(["0", "-1", "99999999999999999999", "all", "1e3"])),
                          max_size=3)


@pytest.fixture
async def bridge(tmp_path, sim, settings_for, running_bridge, monkeypatch):
    for key, value in (("ADMIN_TOKEN", ADMIN), ("SERVICE_TOKEN", SERVICE), ("CALLBACK_SECRET", CALLBACK)):
        monkeypatch.setenv(f"TORRENTINO_BRIDGE_HTTP__{key}", value)
    catalog = build_catalog(tmp_path / "catalog.db", [OK, SPARE])
    service = await running_bridge(settings_for(catalog, sim.base_url, http=True))
    async with aiohttp.ClientSession() as session:
        yield service, session, f"http://127.0.0.1:{service.http_port}"


async def _send(session: aiohttp.ClientSession, url: str, method: str, body: bytes,
                headers: dict[str, str], params: dict[str, str]) -> tuple[int, Any, str]:
    data = io.BytesIO(body) if len(body) > 1024 * 1024 else body or None   # aiohttp warns on big raw bytes
    async with session.request(method, url, data=data, headers=headers, params=params) as resp:
        text = await resp.text(errors="replace")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        return resp.status, parsed, text


async def test_hostile_api_calls_get_clear_4xx_and_nothing_else_breaks(bridge) -> None:
    service, session, base = bridge

    @prop_settings(2)
    @given(st.sampled_from(ENDPOINTS), segments, bodies, st.one_of(st.none(), header_text),
           st.sampled_from(["application/json", "text/plain", "", "multipart/form-data; boundary=x"]),
           queries, st.booleans())
    def prop(call: LoopCaller, endpoint: tuple[str, str, str | None], segment: str, blob: Blob,
             user: str | None, content_type: str, params: dict[str, str], right_token: bool) -> None:
        method, template, credential = endpoint
        path = template.replace("{}", quote(segment, safe="") or "%20")
        headers = {"Content-Type": content_type} if content_type else {}
        if credential is not None:
            headers["Authorization"] = f"Bearer {TOKENS[credential] if right_token else 'wrong-' + credential}"
        if user is not None:
            headers["X-User-Id"] = user
        status, parsed, text = call(_send(session, base + path, method, blob.data, headers, params))
        assert status < 500 or (template == "/readyz" and status == 503), (status, text[:500])
        if status >= 400 and template != "/readyz":
            # Over-long URLs too (414): the generated ones stay under aiohttp's parser bound.
            assert len(str(URL(base + path, encoded=True).update_query(params))) < PARSER_LIMIT_BYTES
            assert isinstance(parsed, dict) and isinstance(parsed.get("error"), str) and parsed["error"], text[:500]

    await run_property(lambda call: prop(call))

    # Nothing else was affected: the workers are up and a real request still completes.
    assert not service.tasks.failed.is_set(), service.tasks.failures
    headers = {"Authorization": f"Bearer {SERVICE}", "X-User-Id": "after-the-storm"}
    status, parsed, text = await _send(session, base + "/v1/user/request-download", "POST",
                                       json.dumps({"album_id": SPARE.id}).encode(),
                                       {**headers, "Content-Type": "application/json"}, {})
    assert status == 202, text
    request_id = parsed["request_id"]

    async def completed() -> bool:
        row = await service.store.get_request(request_id)
        return row is not None and row.status == "completed"

    await wait_for(completed, timeout=60, what="a real request after the hostile calls")
    status, parsed, _ = await _send(session, base + "/healthz", "GET", b"", {}, {})
    assert status == 200, parsed


async def test_concurrent_hostile_callbacks_do_not_disturb_the_engine(bridge) -> None:
    """A burst of well-formed webhook events for tickets nobody knows, in parallel."""
    service, session, base = bridge
    headers = {"Authorization": f"Bearer {CALLBACK}", "Content-Type": "application/json"}
    events = [{"event": e, "ticket_id": f"ghost-{i}", "details": {"error": "x", "retryable": True}}
              for i in range(200) for e in ("completed", "failed")]
    answers = await asyncio.gather(*(
        _send(session, base + "/v1/internal/torrentino-callback", "POST", json.dumps(e).encode(), headers, {})
        for e in events
    ))
    assert {a[0] for a in answers} == {202}
    assert not service.tasks.failed.is_set()
    assert await service.store.submissions() == []


STREAMS = [("/v1/user/events", "service"), ("/v1/admin/events", "admin")]


async def _open_stream(session: aiohttp.ClientSession, url: str, headers: dict[str, str],
                       params: dict[str, str]) -> tuple[int, str, Any]:
    """Open an event stream and read only its first event (or a whole error answer)."""
    async with session.get(url, headers=headers, params=params) as resp:
        if resp.status != 200:
            text = await resp.text(errors="replace")
            try:
                return resp.status, resp.content_type, json.loads(text)
            except ValueError:
                return resp.status, resp.content_type, text
        first = await asyncio.wait_for(resp.content.readuntil(b"\r\n\r\n"), 30)
        return resp.status, resp.content_type, first.decode("utf-8", "replace")


async def test_hostile_event_stream_requests_get_a_4xx_or_a_snapshot(bridge) -> None:
    """Garbage Last-Event-IDs, tickets, user ids and queries: a JSON 4xx, or a stream whose
    first event is a snapshot (nothing to resume from); never a 5xx, never a hang."""
    service, session, base = bridge
    ids = st.one_of(nasty_text, st.sampled_from(["", "-", "abc-1", "x" * 100, "x" * 101, "9" * 50 + "-1"]))

    @prop_settings(0.5)
    @given(st.sampled_from(STREAMS), st.one_of(st.none(), ids), st.one_of(st.none(), ids),
           st.one_of(st.none(), header_text), st.booleans(), st.one_of(st.none(), nasty_text))
    def prop(call: LoopCaller, stream: tuple[str, str], header_id: str | None, query_id: str | None,
             user: str | None, right_token: bool, ticket: str | None) -> None:
        path, credential = stream
        headers = {"Authorization": f"Bearer {TOKENS[credential] if right_token else 'nope-' + credential}"}
        if header_id is not None and header_id.isprintable() and header_id.isascii():
            headers["Last-Event-ID"] = header_id
        if user is not None:
            headers["X-User-Id"] = user
        params = {k: v for k, v in (("last_event_id", query_id), ("ticket", ticket)) if v is not None}
        status, content_type, first = call(_open_stream(session, base + path, headers, params))
        assert status < 500, (status, first)
        if status == 200:
            assert content_type == "text/event-stream" and "event: snapshot" in first, first
        else:
            assert isinstance(first, dict) and first.get("error"), first

    await run_property(lambda call: prop(call))

    async def streams_closed() -> bool:
        return service.live.streams == 0

    await wait_for(streams_closed, what="every stream to be closed after its client left")
    assert not service.tasks.failed.is_set(), service.tasks.failures


async def test_slow_clients_cannot_hold_sockets(tmp_path, sim, settings_for, running_bridge, monkeypatch) -> None:
    """Connections that never finish their request header are closed ([http]
    header_timeout_secs), and a normal client is served meanwhile."""
    monkeypatch.setenv("TORRENTINO_BRIDGE_HTTP__HEADER_TIMEOUT_SECS", "0.5")
    catalog = build_catalog(tmp_path / "catalog.db", [OK])
    service = await running_bridge(settings_for(catalog, sim.base_url, http=True))
    port = service.http_port
    slow = [await asyncio.open_connection("127.0.0.1", port) for _ in range(50)]
    try:
        for n, (_, writer) in enumerate(slow):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" if n % 2 else b"GE")   # and nothing more
            await writer.drain()
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert resp.status == 200
        closed = await asyncio.gather(*(asyncio.wait_for(reader.read(), 30) for reader, _ in slow))
        assert all(data == b"" for data in closed)
    finally:
        for _, writer in slow:
            writer.close()
