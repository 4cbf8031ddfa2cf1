"""A running bridge with its HTTP API on a free port, the QT simulator, and a small client."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import AlbumSpec, album, build_catalog, wait_for
from torrentino_bridge.store.bridge import BridgeStore
from torrentino_bridge.store.db import open_bridge_db

ADMIN = "admin-token-7d1e0c"
SERVICE = "service-token-93ab44"
CALLBACK = "callback-secret-51fc2e"
TOKENS = {"admin": ADMIN, "service": SERVICE, "callback": CALLBACK}
# The Standard Webhooks key notifications are signed with (base64 of 24 bytes).
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

OK = album("alb-ok", "The Lanterns", "Harbour Lights", ["Low Tide", "Signal Fires", "Breakwater"], year=2019)
TWO = album("alb-two", "Mira Sol", "Cartas de Verano", ["Canción", "Días Largos"], year=2021)
MORE = [album(f"alb-{i}", f"Artist {i}", f"Record {i}", ["One", "Two"]) for i in range(6)]


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]
    text: str


@dataclass
class Bridge:
    service: Any
    sim: Any
    settings: Any
    catalog: Path
    url: str
    session: aiohttp.ClientSession

    async def call(self, method: str, path: str, *, auth: str | None = None, user: str | None = None,
                   body: Any = None, raw: bytes | str | None = None,
                   headers: dict[str, str] | None = None) -> Reply:
        """auth: "admin" | "service" | "callback" (the right token), None, or a literal token."""
        sent = dict(headers or {})
        if auth is not None:
            sent["Authorization"] = f"Bearer {TOKENS.get(auth, auth)}"
        if user is not None:
            sent["X-User-Id"] = user
        kwargs: dict[str, Any] = {"headers": sent}
        if body is not None:
            kwargs["json"] = body
        elif raw is not None:
            kwargs["data"] = raw
            sent.setdefault("Content-Type", "application/json")
        async with self.session.request(method, self.url + path, **kwargs) as resp:
            text = await resp.text()
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            return Reply(resp.status, parsed, dict(resp.headers), text)

    async def admin(self, method: str, path: str, **kwargs: Any) -> Reply:
        return await self.call(method, path, auth="admin", **kwargs)

    async def user(self, method: str, path: str, user: str = "u1", **kwargs: Any) -> Reply:
        return await self.call(method, path, auth="service", user=user, **kwargs)

    async def request_status(self, request_id: str) -> tuple[str, str | None]:
        row = await self.service.store.get_request(request_id)
        return (row.status, row.error) if row else ("missing", None)

    async def until_status(self, request_id: str, *statuses: str) -> tuple[str, str | None]:
        async def check() -> tuple[str, str | None] | None:
            status = await self.request_status(request_id)
            return status if status[0] in statuses else None

        return await wait_for(check, what=f"{request_id} to be {'/'.join(statuses)}")

    async def only_ticket(self) -> str:
        async def check() -> str | None:
            subs = await self.service.store.submissions()
            return subs[0].ticket_id if subs and subs[0].ticket_id else None

        return await wait_for(check, what="a ticket")


BridgeFactory = Callable[..., Awaitable[Bridge]]


async def insert(settings: Any, request_id: str, user: str = "u1", **kwargs: Any) -> None:
    """Write a request row the way another process would: on its own connection."""
    store = BridgeStore(await open_bridge_db(settings.bridge.db))
    try:
        await store.insert_request(request_id, user, **kwargs)
    finally:
        await store.close()


@pytest.fixture
async def notify_receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]], list[int]]]:
    """A real HTTP receiver for admin notifications: (url, received bodies, statuses to answer)."""
    received: list[dict[str, Any]] = []
    script: list[int] = []   # statuses to answer, in order; 200 once empty

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({}, status=script.pop(0) if script else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/hook", received, script
    finally:
        await runner.cleanup()


@pytest.fixture
async def make_bridge(tmp_path, sim, settings_for, running_bridge, monkeypatch) -> AsyncIterator[BridgeFactory]:
    sessions: list[aiohttp.ClientSession] = []

    async def make(albums: list[AlbumSpec] | None = None, *, layout: str = "plan", per_day: int = 50,
                   max_pending: int = 20, notify_urls: list[str] | None = None,
                   tokens: dict[str, str | None] | None = None) -> Bridge:
        catalog = build_catalog(tmp_path / "catalog.db", albums if albums is not None else [OK, TWO, *MORE],
                                layout=layout)
        wanted = {"admin_token": ADMIN, "service_token": SERVICE, "callback_secret": CALLBACK,
                  **(tokens or {})}
        for key, value in wanted.items():
            if value is not None:
                monkeypatch.setenv(f"TORRENTINO_BRIDGE_HTTP__{key.upper()}", value)
        if notify_urls:
            monkeypatch.setenv("TORRENTINO_BRIDGE_HTTP__NOTIFY_URLS", json.dumps(notify_urls))
            monkeypatch.setenv("TORRENTINO_BRIDGE_HTTP__NOTIFY_SECRET", WEBHOOK_SECRET)
        extra = (f"\n[torrentino.rate_limits]\nrequests_per_user_per_day = {per_day}\n"
                 f"max_pending_per_user = {max_pending}\n")
        settings = settings_for(catalog, sim.base_url, http=True, extra=extra)
        service = await running_bridge(settings)
        assert service.http_port, "start_http must record the bound port"
        session = aiohttp.ClientSession()
        sessions.append(session)
        return Bridge(service, sim, settings, catalog, f"http://127.0.0.1:{service.http_port}", session)

    try:
        yield make
    finally:
        for session in sessions:
            await session.close()


@pytest.fixture
async def aiohttp_client_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def ok_availability(catalog: Path) -> dict[str, str]:
    """track id -> availability of the OK album's tracks (plan layout)."""
    conn = sqlite3.connect(catalog)
    try:
        return dict(conn.execute("SELECT id, availability FROM tracks WHERE album_id = 'alb-ok'").fetchall())
    finally:
        conn.close()
