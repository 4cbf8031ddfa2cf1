"""TorrentinoClient against the simulator (and, for broken bodies, a tiny real server)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.sim.helpers import KEY, album_body, eventually
from torrentino_bridge.qt.client import TorrentinoClient
from torrentino_bridge.qt.errors import (
    QTAuthError,
    QTBadRequest,
    QTConflict,
    QTError,
    QTLookupIncomplete,
    QTNotFound,
    QTProtocolError,
    QTUnavailable,
)
from torrentino_bridge.sim.server import QTSimulator


def client_for(sim: QTSimulator, **kwargs: Any) -> TorrentinoClient:
    assert sim.base_url is not None
    kwargs.setdefault("token", KEY)
    kwargs.setdefault("backoff_secs", 0.001)
    kwargs.setdefault("max_backoff_secs", 0.01)
    return TorrentinoClient(sim.base_url, **kwargs)


def counting_session() -> tuple[aiohttp.ClientSession, list[str]]:
    """A real session whose trace hook records each request attempt."""
    attempts: list[str] = []

    async def on_start(session: Any, ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        attempts.append(f"{params.method} {params.url.path}")

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    return aiohttp.ClientSession(trace_configs=[trace]), attempts


async def test_health_and_auth(qtsim: QTSimulator) -> None:
    async with client_for(qtsim) as client:
        await client.health()
    for token in (None, "wrong-key"):
        async with client_for(qtsim, token=token) as client:
            with pytest.raises(QTAuthError) as info:
                await client.health()
        # QT answers a bad key with an empty body: the message still says what happened.
        assert info.value.status == 401
        assert "refused the API key" in info.value.message


async def test_token_callable_is_read_on_every_request(qtsim: QTSimulator) -> None:
    current = {"token": KEY}
    async with client_for(qtsim, token=lambda: current["token"]) as client:
        await client.health()
        qtsim.config.api_key = "rotated-key-91"
        with pytest.raises(QTAuthError):
            await client.health()
        current["token"] = "rotated-key-91"
        await client.health()


async def test_token_callable_failure_is_an_auth_error(qtsim: QTSimulator) -> None:
    def broken() -> str:
        raise OSError("token file missing")

    async with client_for(qtsim, token=broken) as client:
        with pytest.raises(QTAuthError, match="token file missing"):
            await client.health()


async def test_ticket_lifecycle_calls(qtsim: QTSimulator, tmp_path: Path) -> None:
    qtsim.set_outcome("Approve me", "needs_approval")
    calls: list[tuple[str, str]] = []
    async with client_for(qtsim, on_call=lambda op, secs, outcome: calls.append((op, outcome))) as client:
        created = await client.create_ticket(album_body(tmp_path / "a", "Approve me"))
        assert created.state.type == "pending"
        assert created.dest_path == str(tmp_path / "a")
        assert created.created_by == "api_key_user"
        waiting = await eventually(
            lambda: _state_is(client, created.id, "needs_approval"), what="needs_approval")
        assert len(waiting.state.candidates) == 3 and waiting.state.recommended_idx == 0
        approved = await client.approve(created.id, 1)
        assert approved.state.type == "approved"
        assert approved.state.get("selected")["info_hash"] == waiting.state.candidates[1].info_hash
        done = await eventually(lambda: _state_is(client, created.id, "completed"), what="completed")
        assert done.state.progress_pct == 100.0
        with pytest.raises(QTConflict) as conflict:
            await client.cancel(created.id, reason="too late")
        assert conflict.value.status == 409
        assert conflict.value.message == "Cannot cancel ticket: current state is completed"
        deleted = await client.delete(created.id)
        assert deleted.id == created.id
        with pytest.raises(QTNotFound) as missing:
            await client.get_ticket(created.id)
        assert missing.value.message == f"Ticket not found: {created.id}"
    assert ("create_ticket", "ok") in calls and ("get_ticket", "QTNotFound") in calls
    assert ("cancel", "QTConflict") in calls


async def _state_is(client: TorrentinoClient, ticket_id: str, state: str) -> Any:
    ticket = await client.get_ticket(ticket_id)
    return ticket if ticket.state.type == state else None


async def test_reject_cancel_retry(qtsim: QTSimulator, tmp_path: Path) -> None:
    qtsim.set_outcome(None, "needs_approval")
    async with client_for(qtsim) as client:
        first = await client.create_ticket(album_body(tmp_path / "r"))
        await eventually(lambda: _state_is(client, first.id, "needs_approval"), what="needs_approval")
        with pytest.raises(QTBadRequest) as bad_idx:
            await client.approve(first.id, 9)
        assert bad_idx.value.status == 400 and "candidate index 9" in bad_idx.value.message
        rejected = await client.reject(first.id, reason="wrong edition")
        assert rejected.state.type == "rejected" and rejected.state.error_text == "wrong edition"
        with pytest.raises(QTConflict, match="Cannot approve ticket: current state is rejected"):
            await client.approve(first.id)
        again = await client.retry(first.id)
        assert again.state.type == "pending"
        # (QT may already have moved the retried ticket on to acquiring.)
        with pytest.raises(QTConflict, match=r"Cannot retry ticket: current state is (pending|acquiring)"):
            await client.retry(first.id)
        cancelled = await client.cancel(first.id, reason="changed my mind")
        assert cancelled.state.type == "cancelled"
        assert cancelled.state.get("cancelled_by") == "api_key_user"
        assert cancelled.state.error_text == "changed my mind"


async def test_bad_request_is_not_retried(qtsim: QTSimulator, tmp_path: Path) -> None:
    body = album_body(tmp_path / "x")
    del body["dest_path"]
    session, attempts = counting_session()
    async with session, client_for(qtsim, session=session) as client:
        with pytest.raises(QTBadRequest) as info:
            await client.create_ticket(body)
    assert info.value.status == 422
    assert "missing field `dest_path`" in info.value.message
    assert qtsim.post_count == 1 and len(attempts) == 1


async def test_get_retries_500_then_succeeds(qtsim: QTSimulator, tmp_path: Path) -> None:
    async with client_for(qtsim) as client:
        ticket = await client.create_ticket(album_body(tmp_path / "a"))
        qtsim.set_faults(fail_requests=2)
        before = qtsim.api_requests
        fetched = await client.get_ticket(ticket.id)
    assert fetched.id == ticket.id
    assert qtsim.api_requests - before == 3


async def test_5xx_after_all_attempts_is_unavailable(qtsim: QTSimulator) -> None:
    outcomes: list[str] = []
    qtsim.set_faults(fail_requests=10)
    async with client_for(qtsim, max_attempts=3, on_call=lambda op, s, o: outcomes.append(o)) as client:
        with pytest.raises(QTUnavailable) as info:
            await client.list_tickets()
    assert info.value.status == 500 and info.value.ambiguous is False
    assert info.value.message == "Internal error: simulated failure"
    assert qtsim.api_requests == 3 and qtsim.config.fail_requests == 7
    assert outcomes == ["QTUnavailable"]


async def test_outage_plain_text_body(qtsim: QTSimulator) -> None:
    qtsim.set_faults(outage_status=503)
    async with client_for(qtsim, max_attempts=2) as client:
        with pytest.raises(QTUnavailable) as info:
            await client.health()
    assert info.value.status == 503 and info.value.message == "503 simulated outage"


async def test_create_does_not_retry_a_500(qtsim: QTSimulator, tmp_path: Path) -> None:
    qtsim.set_faults(create_errors=2)
    body = album_body(tmp_path / "dup")
    async with client_for(qtsim) as client:
        for expected_posts in (1, 2):
            with pytest.raises(QTUnavailable) as info:
                await client.create_ticket(body)
            assert info.value.ambiguous is True and info.value.status == 500
            assert qtsim.post_count == expected_posts
        created = await client.create_ticket(body)
    assert qtsim.post_count == 3
    assert list(qtsim.tickets) == [created.id]


async def test_create_retries_when_never_connected(unused_tcp_port: int) -> None:
    session, attempts = counting_session()
    client = TorrentinoClient(f"http://127.0.0.1:{unused_tcp_port}", session=session, max_attempts=3,
                              backoff_secs=0.001, max_backoff_secs=0.01)
    async with session:
        with pytest.raises(QTUnavailable) as info:
            await client.create_ticket({"query_context": {}, "dest_path": "/x"})
        await client.close()
        assert not session.closed   # borrowed sessions stay open
    assert info.value.ambiguous is False
    assert "cannot connect" in info.value.message
    assert attempts == ["POST /api/v1/tickets"] * 3


async def test_create_timeout_is_ambiguous_and_found_by_dest_path(
    make_sim: Any, tmp_path: Path
) -> None:
    sim: QTSimulator = await make_sim(create_hold_secs=1.5)
    dest = str(tmp_path / "held")
    async with client_for(sim, timeout=0.2) as client:
        with pytest.raises(QTUnavailable) as info:
            await client.create_ticket(album_body(dest))
        assert info.value.ambiguous is True and "timed out" in info.value.message
        assert sim.post_count == 1          # not posted again
        found = await client.find_by_dest_path(dest)
    assert found is not None and found.id in sim.tickets
    assert found.dest_path == dest


async def test_get_timeout_is_retried_and_not_ambiguous(make_sim: Any) -> None:
    sim: QTSimulator = await make_sim(latency_secs=0.5)
    async with client_for(sim, timeout=0.1, max_attempts=2) as client:
        with pytest.raises(QTUnavailable) as info:
            await client.list_tickets()
    assert info.value.ambiguous is False
    assert sim.api_requests == 2


async def test_list_paging_filters_and_find(make_sim: Any, tmp_path: Path) -> None:
    sim: QTSimulator = await make_sim(step_secs=60)   # tickets stay pending
    async with client_for(sim) as client:
        ids = [(await client.create_ticket(album_body(tmp_path / f"t{i}", f"Album {i}"))).id
               for i in range(7)]
        page = await client.list_tickets(limit=3)
        assert (page.total, page.limit, page.offset, len(page.tickets)) == (7, 3, 0, 3)
        assert [t.id for t in page.tickets] == ids[::-1][:3]      # newest first
        tail = await client.list_tickets(limit=3, offset=6)
        assert [t.id for t in tail.tickets] == [ids[0]]
        assert (await client.list_tickets(limit=0)).limit == 1
        assert (await client.list_tickets(limit=5000)).limit == 1000
        assert (await client.list_tickets()).limit == 100
        all_ids = [t.id async for t in client.iter_tickets(page_size=2)]
        assert sorted(all_ids) == sorted(ids)
        await client.cancel(ids[3])
        cancelled = await client.list_tickets(state="cancelled")
        assert [t.id for t in cancelled.tickets] == [ids[3]] and cancelled.total == 1
        assert (await client.list_tickets(created_by="someone_else")).total == 0
        assert (await client.list_tickets(created_by="api_key_user")).total == 7
        found = await client.find_by_dest_path(str(tmp_path / "t4"))
        assert found is not None and found.id == ids[4]
        assert await client.find_by_dest_path(str(tmp_path / "nope")) is None


async def test_owned_session_is_closed(qtsim: QTSimulator) -> None:
    client = client_for(qtsim)
    await client.health()
    session = client._session
    assert session is not None and not session.closed
    await client.close()
    assert session.closed


def _broken_app(body: bytes, status: int = 200) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, status=status, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/api/v1/{tail:.*}", handler)
    return app


@pytest.mark.parametrize(("body", "call"), [
    (b"<html>proxy page</html>", "get_ticket"),
    (b'{"id": "x"}', "get_ticket"),                                  # no state, no dest_path
    (b'{"id": "x", "dest_path": "/m", "state": {"type": "needs_approval", "candidates": [{}]}}',
     "get_ticket"),
    (b'{"tickets": "none", "total": 0, "limit": 1, "offset": 0}', "list_tickets"),
    (b"[]", "create_ticket"),
])
async def test_protocol_errors(aiohttp_server: Any, body: bytes, call: str) -> None:
    server = await aiohttp_server(_broken_app(body))
    async with TorrentinoClient(str(server.make_url("/")), token="t") as client:
        with pytest.raises(QTProtocolError):
            if call == "get_ticket":
                await client.get_ticket("x")
            elif call == "list_tickets":
                await client.list_tickets()
            else:
                await client.create_ticket({"dest_path": "/m"})


@pytest.mark.parametrize(("status", "body", "error", "message"), [
    (403, b"", QTAuthError, "Quentin Torrentino refused the API key"),
    (415, b"Expected request with `Content-Type: application/json`", QTBadRequest,
     "Expected request with `Content-Type: application/json`"),
    (422, b"Failed to deserialize", QTBadRequest, "Failed to deserialize"),
    (418, b'{"error": "teapot"}', QTError, "teapot"),
    (502, b"Bad Gateway", QTUnavailable, "Bad Gateway"),
])
async def test_status_mapping(aiohttp_server: Any, status: int, body: bytes, error: type,
                              message: str) -> None:
    server = await aiohttp_server(_broken_app(body, status))
    async with TorrentinoClient(str(server.make_url("/")), max_attempts=1) as client:
        with pytest.raises(error) as info:
            await client.get_ticket("x")
    assert type(info.value) is error
    assert info.value.status == status and info.value.message == message


async def test_paging_stops_when_the_server_ignores_offset(aiohttp_server: Any) -> None:
    page = {"tickets": [{"id": "same", "state": {"type": "pending"}, "dest_path": "/m/a"}],
            "total": 10**9, "limit": 1000, "offset": 0}
    server = await aiohttp_server(_broken_app(json.dumps(page).encode()))
    session, attempts = counting_session()
    seen: list[str] = []
    async with session, TorrentinoClient(str(server.make_url("/")), session=session) as client:
        with pytest.raises(QTLookupIncomplete, match="a page brought no new ticket"):
            async for ticket in client.iter_tickets():
                seen.append(ticket.id)
        # Not "absent": the walk never reached the end, so the caller must not post on it.
        with pytest.raises(QTLookupIncomplete, match="cannot tell whether a ticket for /m/b exists"):
            await client.find_by_dest_path("/m/b")
        # A match found before the walk broke off is the ticket (dest_paths are unique).
        assert (await client.find_by_dest_path("/m/a")).id == "same"
    assert seen == ["same"]
    assert len(attempts) == 6      # two pages per walk: the second holds only repeats


def _endless_list_app(requests: list[int]) -> web.Application:
    """A ticket list that never ends: every page holds new tickets and total is huge."""

    async def tickets(request: web.Request) -> web.Response:
        offset, limit = int(request.query["offset"]), int(request.query["limit"])
        requests.append(offset)
        page = [{"id": f"t{i}", "state": {"type": "pending"}, "dest_path": f"/m/{i}"}
                for i in range(offset, offset + limit)]
        return web.json_response({"tickets": page, "total": 10**9, "limit": limit, "offset": offset})

    app = web.Application()
    app.router.add_get("/api/v1/tickets", tickets)
    return app


async def test_find_by_dest_path_gives_up_after_the_ticket_limit(aiohttp_server: Any) -> None:
    requests: list[int] = []
    server = await aiohttp_server(_endless_list_app(requests))
    async with TorrentinoClient(str(server.make_url("/")), lookup_max_tickets=1000) as client:
        with pytest.raises(QTLookupIncomplete) as info:
            await asyncio.wait_for(client.find_by_dest_path("/m/nowhere"), 30)
        assert isinstance(info.value, QTError) and info.value.operation == "find_by_dest_path"
        assert "stopped after 1000 of 1000000000 tickets: the limit is 1000" in info.value.message
        assert requests == [0, 250, 500, 750]
        # The match on the second page is returned although the walk was cut short.
        requests.clear()
        assert (await client.find_by_dest_path("/m/300")).id == "t300"
        assert len(requests) == 4


# --- response size cap ---------------------------------------------------------------------

CAP = 64 * 1024


def _padded_ticket(size: int) -> bytes:
    """A valid ticket document padded with whitespace to `size` bytes."""
    doc = json.dumps({"id": "big", "state": {"type": "pending"}, "dest_path": "/m/big"}).encode()
    return doc + b" " * (size - len(doc))


async def test_a_body_over_the_cap_is_a_protocol_error_naming_path_and_limit(aiohttp_server: Any) -> None:
    server = await aiohttp_server(_broken_app(_padded_ticket(CAP + 1)))
    async with TorrentinoClient(str(server.make_url("/")), max_response_bytes=CAP) as client:
        with pytest.raises(QTProtocolError) as info:
            await client.get_ticket("big")
    assert info.value.operation == "get_ticket"
    assert "GET /api/v1/tickets/big" in info.value.message and str(CAP) in info.value.message


async def test_a_body_at_the_cap_is_read(aiohttp_server: Any) -> None:
    server = await aiohttp_server(_broken_app(_padded_ticket(CAP)))
    async with TorrentinoClient(str(server.make_url("/")), max_response_bytes=CAP) as client:
        assert (await client.get_ticket("big")).id == "big"


async def test_a_streamed_body_is_cut_off_not_buffered(aiohttp_server: Any) -> None:
    """Chunked, no Content-Length, 32 MB: the client stops reading at the cap and drops the
    connection, so the server never gets to the end (an endless body would not hang it)."""
    finished: list[bool] = [False]

    async def streaming(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        chunk = b'{"id": "x", "state": {"type": "pending"}, "dest_path": "/m/x"},' * 1000
        with contextlib.suppress(ConnectionError):
            await resp.write(b'{"tickets": [')
            for _ in range(32 * 1024 * 1024 // len(chunk)):
                await resp.write(chunk)
            finished[0] = True
        return resp

    app = web.Application()
    app.router.add_get("/api/v1/tickets", streaming)
    server = await aiohttp_server(app)
    session, attempts = counting_session()
    async with session, TorrentinoClient(str(server.make_url("/")), session=session,
                                         max_response_bytes=CAP) as client:
        with pytest.raises(QTProtocolError, match="larger than the limit"):
            await asyncio.wait_for(client.list_tickets(), 30)
    assert len(attempts) == 1      # a malformed answer is not retried
    assert not finished[0]


@pytest.mark.parametrize(("status", "error"), [(500, QTUnavailable), (409, QTConflict)])
async def test_an_error_body_over_the_cap_keeps_its_status_meaning(
    aiohttp_server: Any, status: int, error: type
) -> None:
    body = b"upstream says no; " + b"x" * (2 * CAP)
    server = await aiohttp_server(_broken_app(body, status))
    async with TorrentinoClient(str(server.make_url("/")), max_attempts=1, max_response_bytes=CAP) as client:
        with pytest.raises(error) as info:
            await client.cancel("x")
    assert type(info.value) is error and info.value.status == status
    assert info.value.message.startswith("upstream says no; ") and len(info.value.message) <= 500


@pytest.mark.parametrize("status", [404, 409, 500])
async def test_a_long_json_error_text_is_capped(aiohttp_server: Any, status: int) -> None:
    server = await aiohttp_server(_broken_app(json.dumps({"error": "x" * 2_000_000}).encode(), status))
    async with TorrentinoClient(str(server.make_url("/")), max_attempts=1) as client:
        with pytest.raises(QTError) as info:
            await client.get_ticket("x")
    assert info.value.message == "x" * 500


async def test_a_redirect_is_not_followed_and_no_error_shows_the_token(aiohttp_server: Any) -> None:
    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/elsewhere"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    server = await aiohttp_server(app)
    token = "secret-token-0123456789"
    async with TorrentinoClient(str(server.make_url("/")), token=token, max_attempts=1) as client:
        with pytest.raises(QTError) as info:
            await client.get_ticket("x")
    assert info.value.status == 302 and token not in str(info.value)
