"""Hostile rows in Pezzottify's download queue: whatever another writer's SQL allows in any
column the bridge reads. Each PENDING row of a served type is either taken (claimed, with its
mirrored request) or failed with a reason; rows of other types or statuses are never
touched; one bad row never holds up the next."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import album, write_config
from tests.faults.hostile import LoopCaller, bad_utf8, insert_hostile, nasty_text, prop_settings, run_property
from tests.faults.test_hostile_rows import int64
from tests.pezzottify import build_db_dir, request_album
from torrentino_bridge.config import load_settings
from torrentino_bridge.service import BridgeService

pytestmark = pytest.mark.faults

OK = album("alb-qok", "Real", "Queue", ["One", "Two"])
values = st.one_of(st.none(), int64, st.floats(allow_nan=False), nasty_text, st.binary(max_size=12), bad_utf8)
rows = st.fixed_dictionaries({
    "id": st.one_of(nasty_text, bad_utf8, st.binary(min_size=1, max_size=6), int64, st.just("ID")),
    "status": st.one_of(st.just("PENDING"), st.sampled_from(["pending", "IN_PROGRESS", "FAILED", "COMPLETED",
                                                             "RETRY_WAITING"]), values),
    "content_type": st.one_of(st.sampled_from(["ALBUM", "TRACK_AUDIO", "ARTIST_IMAGE", "album", ""]), values),
    "content_id": st.one_of(st.sampled_from([OK.id, OK.track_id(1, 1), "alb-missing"]), values),
    "requested_by_user_id": st.one_of(st.sampled_from(["7", "42"]), values),
    "priority": st.one_of(st.sampled_from([1, 2, 3, 4]), values),
})
COLUMNS = ("id", "status", "content_type", "content_id", "requested_by_user_id", "priority")


def _insert(path: str, row: dict[str, Any]) -> int | None:
    return insert_hostile(path, "download_queue",
                          {**{c: row[c] for c in COLUMNS}, "request_source": "USER", "created_at": 1})


def _state(path: str, rowid: int) -> tuple[Any, ...]:
    conn = sqlite3.connect(path)
    conn.text_factory = bytes
    try:
        return conn.execute("SELECT status, content_type, error_type, error_message, started_at FROM download_queue"
                            " WHERE rowid = ?", (rowid,)).fetchone()
    finally:
        conn.close()


@pytest.fixture
async def service(tmp_path):
    db = build_db_dir(tmp_path / "db", [OK])
    settings = load_settings(write_config(tmp_path, db.catalog, "http://127.0.0.1:9", extra=db.config(queue=True)))
    svc = BridgeService(settings)
    svc.db_dir = db  # type: ignore[attr-defined]
    await svc.start(workers=False)   # the intake alone: nothing is sent to QT
    try:
        yield svc
    finally:
        await svc.stop()


async def test_queue_rows_are_taken_or_failed_alone(service: BridgeService) -> None:
    queue = str(service.settings.pezzottify.queue_db)
    counter = itertools.count()

    @prop_settings(1.0)
    @given(st.lists(rows, min_size=1, max_size=4))
    def prop(call: LoopCaller, batch: list[dict[str, Any]]) -> None:
        n = next(counter)
        inserted = []
        for i, row in enumerate(batch):
            if row["id"] == "ID":
                row = {**row, "id": f"row-{n}-{i}"}
            before = row["status"], row["content_type"]
            rowid = _insert(queue, row)
            if rowid is not None:
                inserted.append((rowid, before))
        control = request_album(service.db_dir, OK.id, 1)  # type: ignore[attr-defined]
        call(asyncio.wait_for(service.intake.run_once(), 10))     # a spinning intake fails here
        for rowid, (status, kind) in inserted:
            now = _state(queue, rowid)
            if status == "PENDING" and kind in ("ALBUM", "TRACK_AUDIO"):
                assert now[0] in (b"IN_PROGRESS", b"FAILED", b"COMPLETED"), (rowid, now)
                if now[0] == b"FAILED":
                    assert now[2] in (b"parse", b"unknown", b"not_found") and now[3], now
            else:
                assert now[4] is None, f"row {rowid} of status {status!r}/{kind!r} was touched: {now}"
        conn = sqlite3.connect(queue)
        try:
            assert conn.execute("SELECT status FROM download_queue WHERE id = ?", (control,)).fetchone()[0] in (
                "IN_PROGRESS", "COMPLETED")
        finally:
            conn.close()

    await run_property(lambda call: prop(call))
