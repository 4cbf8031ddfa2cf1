"""Admin notifications: recorded in the outbox with the change they report, signed per the
Standard Webhooks spec, retried with a stable webhook-id, delivered after a SIGKILL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.conftest import album, build_catalog, wait_for, write_config
from torrentino_bridge.notify import KIND, Notices, body
from torrentino_bridge.store.bridge import RequestRow

from .conftest import OK, TWO, WEBHOOK_SECRET

SECRET = WEBHOOK_SECRET


@dataclass
class Receiver:
    """A webhook receiver that verifies every delivery with the standardwebhooks library."""

    url: str = ""
    verified: list[dict[str, Any]] = field(default_factory=list)    # bodies that verified
    ids: list[str] = field(default_factory=list)                    # webhook-id of every attempt
    refused: list[str] = field(default_factory=list)                # why a delivery did not verify
    script: list[int] = field(default_factory=list)                 # statuses to answer first
    hold: asyncio.Event | None = None                               # hold answers until set

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [b for b in self.verified if b["type"] == kind]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()
    verifier = Webhook(SECRET)

    async def hook(request: web.Request) -> web.Response:
        raw = await request.read()
        got.ids.append(request.headers.get("webhook-id", ""))
        try:
            got.verified.append(verifier.verify(raw, dict(request.headers)))
        except WebhookVerificationError as err:
            got.refused.append(str(err))
            return web.json_response({"error": str(err)}, status=400)
        if got.hold is not None:
            await got.hold.wait()
        return web.json_response({}, status=got.script.pop(0) if got.script else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    got.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield got
    finally:
        await runner.cleanup()


@pytest.fixture
def signed(monkeypatch) -> None:
    monkeypatch.setenv("TORRENTINO_BRIDGE_HTTP__NOTIFY_SECRET", SECRET)


def test_the_body_is_the_documented_envelope() -> None:
    data = {"ticket_id": "t-1", "album": {"id": "a", "name": "Record", "artist": "Band"}, "error": "no seeders"}
    sent = json.loads(body("failed", "msg_1", data, at="2026-01-01T00:00:00.000Z"))
    assert sent == {"type": "failed", "id": "msg_1", "timestamp": "2026-01-01T00:00:00.000Z",
                    "text": "Band - Record: download failed: no seeders", "data": data}


def test_completed_ids_are_derived_from_the_request_one_per_receiver() -> None:
    notices = Notices(["http://a/hook", "http://b/hook"], store=None, catalog=None)   # type: ignore[arg-type]
    row = RequestRow("r1", "ana", "alb", None, 0, "in_progress", None, "x", "x", None, None)
    first, again = notices.completed(row, tracks=3, downloaded=2), notices.completed(row, tracks=3, downloaded=2)
    assert [i.id for i in first] == [i.id for i in again] and len({i.id for i in first}) == 2
    assert {i.kind for i in first} == {KIND} and [i.payload["url"] for i in first] == ["http://a/hook", "http://b/hook"]


async def test_every_event_arrives_signed_and_verifies(make_bridge, sim, receiver, signed):
    sim.set_outcome("Harbour Lights", "needs_approval")
    sim.set_outcome("Cartas de Verano", "fail_always")
    sim.set_outcome("Record 1", "missing_tracks")
    bridge = await make_bridge(notify_urls=[receiver.url])
    ids = {}
    for album_id in ("alb-ok", "alb-two", "alb-0", "alb-1"):
        reply = await bridge.user("POST", "/v1/user/request-download", user="ana", body={"album_id": album_id})
        ids[album_id] = reply.body["request_id"]

    async def all_kinds():
        return {b["type"] for b in receiver.verified} >= {"needs_approval", "failed", "completed", "import_failed"}

    await wait_for(all_kinds, what="the four kinds of notification", timeout=60)
    assert receiver.refused == []
    approval = receiver.events("needs_approval")[0]["data"]
    assert approval["album"] == {"id": "alb-ok", "name": "Harbour Lights", "artist": "The Lanterns"}
    assert len(approval["candidates"]) == approval["candidate_count"] == 3
    assert approval["requests"] == [{"request_id": ids["alb-ok"], "user_id": "ana"}]
    failed = receiver.events("failed")[0]["data"]
    assert failed["album"]["id"] == "alb-two" and failed["error"] and failed["ticket_id"]
    completed = receiver.events("completed")[0]["data"]
    assert completed == {"request_id": ids["alb-0"], "user_id": "ana", "album_id": "alb-0", "tracks": 2,
                         "downloaded": 2}
    partial = receiver.events("import_failed")[0]["data"]
    assert partial["whole"] is False and partial["imported"] == 1
    assert [t["track_id"] for t in partial["failed_tracks"]] == ["alb-1-102"]
    assert "missing" in partial["failed_tracks"][0]["reason"]
    for sent in receiver.verified:
        assert sent["id"].startswith("msg_") and sent["text"] and sent["timestamp"].endswith("Z")
    metrics = (await bridge.call("GET", "/metrics")).text
    assert 'bridge_webhook_attempts_total{event="completed",result="2xx"}' in metrics
    assert 'bridge_outbox_items{kind="webhook",state="done"}' in metrics


async def test_a_request_needing_nothing_completes_with_one_notification(make_bridge, receiver, signed):
    have = album("alb-have", "Kept", "On The Shelf", ["A", "B"], availability="available")
    bridge = await make_bridge([have], notify_urls=[receiver.url])
    reply = await bridge.user("POST", "/v1/user/request-download", body={"album_id": have.id})
    await bridge.until_status(reply.body["request_id"], "completed")
    await wait_for(lambda: _some(receiver.events("completed")), what="the notification")
    await bridge.service.statuses.refresh_one(reply.body["request_id"])     # a second look sends nothing more
    await bridge.service.outbox.run_once()
    assert [b["data"]["downloaded"] for b in receiver.verified] == [0]


async def _some(items: list[Any]) -> bool:
    return bool(items)


async def test_500_twice_then_200_is_one_id_three_times(make_bridge, sim, receiver, signed, monkeypatch):
    receiver.script.extend([500, 503])
    sim.set_outcome("Cartas de Verano", "fail_always")
    bridge = await make_bridge(notify_urls=[receiver.url])
    bridge.service.outbox.backoff_secs = 0.05
    await bridge.user("POST", "/v1/user/request-download", body={"album_id": TWO.id})

    async def delivered():
        return len(receiver.ids) >= 3

    await wait_for(delivered, what="three attempts", timeout=60)
    await asyncio.sleep(0.3)
    assert len(receiver.ids) == 3 and len(set(receiver.ids)) == 1
    row = await bridge.service.outbox.store.get(receiver.ids[0])
    assert row["state"] == "done" and row["attempts"] == 3
    metrics = (await bridge.call("GET", "/metrics")).text
    assert 'bridge_webhook_attempts_total{event="failed",result="5xx"} 2.0' in metrics
    assert 'bridge_outbox_deliveries_total{kind="webhook",outcome="retry"} 2.0' in metrics


async def test_a_receiver_refusing_for_good_is_given_up(make_bridge, sim, receiver, signed):
    receiver.script.append(410)
    sim.set_outcome("Cartas de Verano", "fail_always")
    bridge = await make_bridge(notify_urls=[receiver.url])
    await bridge.user("POST", "/v1/user/request-download", body={"album_id": TWO.id})
    await wait_for(lambda: _some(receiver.ids), what="one attempt")

    async def dead():
        row = await bridge.service.outbox.store.get(receiver.ids[0])
        return row and row["state"] == "dead"

    await wait_for(dead, what="the item to be given up")
    assert "410" in (await bridge.service.outbox.store.get(receiver.ids[0]))["last_error"]


async def test_sigkill_between_queueing_and_delivery_still_delivers(tmp_path: Path, sim, receiver) -> None:
    """The daemon records the notification, starts delivering it, and dies (SIGKILL) while the
    receiver holds the request; after a restart the receiver gets it, under the same id."""
    sim.set_outcome("Harbour Lights", "needs_approval")
    catalog = build_catalog(tmp_path / "catalog.db", [OK])
    config = write_config(tmp_path, catalog, sim.base_url)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TORRENTINO_BRIDGE_HTTP__NOTIFY_SECRET": SECRET,
           "TORRENTINO_BRIDGE_HTTP__NOTIFY_URLS": json.dumps([receiver.url])}
    receiver.hold = asyncio.Event()
    log = (tmp_path / "daemon.log").open("ab")

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "torrentino_bridge", "--log-format", "json", "run", "--config", str(config),
            stdout=asyncio.subprocess.DEVNULL, stderr=log, env=env)

    daemon = await start()
    try:
        await wait_for(lambda: _exists(tmp_path / "bridge.db"), what="the database")
        await wait_for(lambda: _migrated(tmp_path / "bridge.db"), what="migrations")
        _insert(tmp_path / "bridge.db")
        await wait_for(lambda: _some(receiver.ids), what="the delivery to start", timeout=60)
    finally:
        daemon.send_signal(signal.SIGKILL)
        await daemon.wait()
    first_id = receiver.ids[0]
    receiver.hold.set()
    receiver.hold = None
    assert receiver.verified[0]["type"] == "needs_approval"
    daemon = await start()
    try:
        async def delivered_again():
            return len(receiver.ids) >= 2

        await wait_for(delivered_again, what="the delivery after the restart", timeout=60)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(daemon.wait(), timeout=30) == 0
        log.close()
    assert set(receiver.ids) == {first_id} and receiver.refused == []
    assert [b["type"] for b in receiver.verified] == ["needs_approval", "needs_approval"]


async def _exists(path: Path) -> bool:
    return path.exists()


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    import sqlite3

    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def _migrated(db: Path) -> bool:
    return bool(_query(db, "SELECT 1 FROM sqlite_master WHERE name = 'outbox'"))


def _insert(db: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(db, timeout=30)
    with conn:
        conn.execute("INSERT INTO download_requests (id, user_id, album_id) VALUES ('r1', 'ana', 'alb-ok')")
    conn.close()
