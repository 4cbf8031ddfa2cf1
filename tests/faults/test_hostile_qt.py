"""Hostile answers from Quentin Torrentino: truncated JSON, wrong types, huge payloads,
odd statuses and content types.

The QT client must return a valid typed answer or raise a QTError subclass, nothing
else; and a bridge behind a proxy that spoils a share of QT's answers still finishes
its request with exactly one ticket.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import album, build_catalog, forward
from tests.faults.harness import audio_problem
from tests.faults.hostile import (
    LoopCaller,
    deep_nesting,
    json_values,
    prop_settings,
    run_property,
    truncations,
    with_field,
)
from torrentino_bridge.qt.client import TorrentinoClient
from torrentino_bridge.qt.errors import QTError
from torrentino_bridge.qt.types import Ticket, TicketPage

pytestmark = pytest.mark.faults

STATE = {"type": "downloading", "info_hash": "ab" * 20, "progress_pct": 42.0, "speed_bps": 10, "eta_secs": 5,
         "started_at": "2026-01-01T00:00:00Z", "candidate_idx": 0, "failover_round": 0,
         "candidates": [{"title": "x", "info_hash": "ab", "size_bytes": 1, "seeders": 2, "score": 0.5}]}
TICKET = {"id": "t-1", "created_at": "2026-01-01T00:00:00Z", "created_by": "api_key_user", "state": STATE,
          "priority": 10, "query_context": {"description": "A - B"}, "dest_path": "/in/tb-1",
          "output_constraints": None, "updated_at": "2026-01-01T00:00:00Z"}
PAGE = {"tickets": [TICKET], "total": 1, "limit": 100, "offset": 0}


class Answer:
    """Not a dataclass: hypothesis would print a multi-megabyte body field by field."""

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body

    def __repr__(self) -> str:   # bodies run to megabytes; a failure report shows the start
        return f"Answer({self.status}, {self.content_type!r}, {self.body[:300]!r}, {len(self.body)} bytes)"


def _bodies() -> st.SearchStrategy[bytes]:
    tickets = st.one_of(
        with_field(TICKET, list(TICKET)),
        with_field(STATE, [*STATE, "type"]).map(lambda s: {**TICKET, "state": s}),
        st.sampled_from(["failed", "needs_approval", "completed", "", "x" * 300]).flatmap(
            lambda t: with_field({**STATE, "type": t}, ["candidates", "error", "progress_pct", "retryable"])
        ).map(lambda s: {**TICKET, "state": s}),
    )
    pages = st.one_of(
        with_field(PAGE, list(PAGE)),
        st.lists(tickets, max_size=3).map(lambda ts: {**PAGE, "tickets": ts, "total": len(ts)}),
    )
    documents = st.one_of(tickets, pages, json_values).map(lambda d: json.dumps(d).encode())
    return st.one_of(
        documents,
        st.sampled_from([json.dumps(TICKET), json.dumps(PAGE)]).flatmap(truncations).map(str.encode),
        st.binary(max_size=100),
        st.sampled_from([
            b"", b"null", b"NaN", b'{"error": 5}', b'{"error": "Ticket not found"}', b"\xff\xfe\x00",
            deep_nesting(50_000).encode(),
            json.dumps({**TICKET, "query_context": {"description": "d" * 3_000_000}}).encode(),
            json.dumps({**PAGE, "total": 10**30}).encode(),
            json.dumps({**TICKET, "state": {**STATE, "progress_pct": 1e308 * 10}}).encode(),
        ]),
    )


answers = st.builds(
    Answer,
    status=st.sampled_from([200, 201, 202, 204, 302, 400, 401, 403, 404, 409, 415, 418, 422, 429, 500, 502,
                            503, 504]),
    content_type=st.sampled_from(["application/json", "text/plain", "text/html", "application/octet-stream"]),
    body=_bodies(),
)


@pytest.fixture
async def hostile_qt() -> AsyncIterator[tuple[str, list[Answer]]]:
    current: list[Answer] = [Answer(200, "application/json", b"{}")]

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        a = current[0]
        headers = {"Content-Type": a.content_type}
        if a.status == 302:
            headers["Location"] = "/nowhere"
        return web.Response(status=a.status, body=a.body if a.status != 204 else None, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", current
    finally:
        await runner.cleanup()


OPERATIONS = ["health", "get_ticket", "create_ticket", "list_tickets", "find_by_dest_path", "approve",
              "reject", "retry", "cancel", "delete"]


async def _call(client: TorrentinoClient, operation: str) -> Any:
    match operation:
        case "health":
            return await client.health()
        case "get_ticket":
            return await client.get_ticket("t-1/../x")
        case "create_ticket":
            return await client.create_ticket({"dest_path": "/in/tb-1", "query_context": {"description": "d"}})
        case "list_tickets":
            return await client.list_tickets(limit=1000)
        case "find_by_dest_path":
            return await client.find_by_dest_path("/in/tb-1")
        case "approve":
            return await client.approve("t-1", 3)
        case "reject":
            return await client.reject("t-1", "no")
        case "retry":
            return await client.retry("t-1")
        case "cancel":
            return await client.cancel("t-1", "bye")
        case _:
            return await client.delete("t-1")


async def test_client_returns_typed_answers_or_qt_errors(hostile_qt: tuple[str, list[Answer]]) -> None:
    url, current = hostile_qt
    async with aiohttp.ClientSession() as session:
        client = TorrentinoClient(url, token="k", session=session, timeout=10, max_attempts=2, backoff_secs=0.001)

        @prop_settings(2)
        @given(answers, st.sampled_from(OPERATIONS))
        def prop(call: LoopCaller, answer: Answer, operation: str) -> None:
            current[0] = answer
            try:
                result = call(asyncio.wait_for(_call(client, operation), 30))
            except QTError as err:
                assert str(err)
                assert len(err.message) <= 600, len(err.message)   # QT's words are capped
                return
            expected = {"health": type(None), "list_tickets": TicketPage,
                        "find_by_dest_path": (Ticket, type(None))}.get(operation, Ticket)
            assert isinstance(result, expected), (operation, result)

        await run_property(lambda call: prop(call))


# --- a bridge behind a proxy that spoils QT's answers ------------------------------------

class SpoilingProxy:
    """Forwards /api/v1 HTTP calls to the simulator and spoils a share of the answers
    (after the simulator acted on the request, so a spoiled POST still made a ticket)."""

    def __init__(self, target: str, rng: random.Random, share: float) -> None:
        self.target = target
        self.rng = rng
        self.share = share
        self.spoiled = 0
        self.session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        assert self.session is not None
        status, payload = await forward(self.session, self.target, request)
        if self.rng.random() >= self.share:
            return web.Response(status=status, body=payload, content_type="application/json")
        self.spoiled += 1
        text = payload.decode("utf-8", "replace")
        spoil = self.rng.choice([
            lambda: web.Response(status=status, text=text[: self.rng.randrange(max(1, len(text)))],
                                 content_type="application/json"),
            lambda: web.json_response({"id": 5, "state": "completed", "dest_path": []}, status=status),
            lambda: web.json_response([text], status=status),
            lambda: web.Response(status=status, text="<html>gateway</html>", content_type="text/html"),
            lambda: web.json_response({"error": "x" * 2_000_000}, status=500),
            lambda: web.Response(status=502, text="bad gateway"),
        ])
        return spoil()


async def test_bridge_finishes_behind_a_spoiling_proxy(tmp_path, sim, settings_for, running_bridge,
                                                       seeded_rng: random.Random) -> None:
    proxy = SpoilingProxy(sim.base_url, seeded_rng, share=0.3)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    specs = [album(f"alb-sp{i}", f"Spoil{i}", f"Rot {i}", ["Alpha", "Beta"]) for i in range(4)]
    catalog = build_catalog(tmp_path / "catalog.db", specs)
    try:
        async with aiohttp.ClientSession() as session:
            proxy.session = session
            # The socket goes through the proxy too (it 404s the upgrade): polling alone must do.
            settings = settings_for(catalog, f"http://127.0.0.1:{runner.addresses[0][1]}")
            service = await running_bridge(settings)
            for i, spec in enumerate(specs):
                await service.store.insert_request(f"r{i}", "u1", album_id=spec.id)

            async def done() -> bool:
                rows = [await service.store.get_request(f"r{i}") for i in range(len(specs))]
                return all(r is not None and r.status in ("completed", "failed") for r in rows)

            deadline = asyncio.get_running_loop().time() + 90
            while not await done():
                assert asyncio.get_running_loop().time() < deadline, "requests never finished"
                await asyncio.sleep(0.1)
            statuses = [(await service.store.get_request(f"r{i}")) for i in range(len(specs))]
            assert [(r.status, r.error) for r in statuses if r] == [("completed", None)] * len(specs)
            assert not service.tasks.failed.is_set(), service.tasks.failures
    finally:
        await runner.cleanup()
    assert proxy.spoiled > 0
    dests = [t["dest_path"] for t in sim.tickets.values()]
    assert len(dests) == len(set(dests)) == len(specs), "one ticket per album, no duplicates"
    for spec in specs:
        for t in await service.catalog.get_album_tracks(spec.id):
            assert t.audio_uri is not None
            assert audio_problem(settings.media.root / t.audio_uri, t.name) is None


@pytest.mark.parametrize("status", [400, 404, 409, 500])
async def test_deeply_nested_error_body_is_a_qt_error(hostile_qt: tuple[str, list[Answer]], status: int) -> None:
    """Regression: the error text reader let RecursionError out of the client, which the
    submitter does not catch, so one such answer to a POST stopped the daemon."""
    url, current = hostile_qt
    current[0] = Answer(status, "application/json", deep_nesting(100_000).encode())
    async with aiohttp.ClientSession() as session:
        client = TorrentinoClient(url, token="k", session=session, max_attempts=1)
        with pytest.raises(QTError):
            await client.create_ticket({"dest_path": "/in/x", "query_context": {"description": "d"}})
