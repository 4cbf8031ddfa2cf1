"""Hostile rows in the shared request table: any SQLite type in any writer column.

Other processes write download_requests with whatever their SQL allows: NULL ids (a TEXT
PRIMARY KEY accepts NULL), blobs, integers where text belongs, infinite priorities,
malformed or huge track lists. The intake must fail each bad row with a clear error,
plan each good one, and never stop or spin.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import album, build_catalog, wait_for, write_config
from tests.faults.hostile import (
    BadUtf8,
    LoopCaller,
    bad_utf8,
    insert_hostile,
    json_values,
    nasty_text,
    prop_settings,
    run_property,
    truncations,
)
from torrentino_bridge.config import load_settings
from torrentino_bridge.reporting import collect_status, render_status
from torrentino_bridge.service import BridgeService

pytestmark = pytest.mark.faults

OK = album("alb-ok", "Real", "Album", ["One", "Two"])
CONTROL = album("alb-ctl", "Control", "Album", ["Three"])
UNTOUCHED = album("alb-untouched", "Nobody", "Asked", ["Four"])
LIMITS = "\n[torrentino.rate_limits]\nrequests_per_user_per_day = 1000000\nmax_pending_per_user = 1000000\n"

int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


sql_values = st.one_of(
    st.none(), int64,
    st.floats(allow_nan=False), nasty_text, st.binary(max_size=20), bad_utf8,
)
valid_tracks = [OK.track_id(1, 1), OK.track_id(1, 2)]
track_lists = st.one_of(
    sql_values,
    json_values.map(json.dumps),
    st.lists(st.one_of(st.sampled_from(valid_tracks), nasty_text, json_values), max_size=6).map(json.dumps),
    st.just(json.dumps(valid_tracks)).flatmap(truncations),
    st.sampled_from([json.dumps(valid_tracks), json.dumps(["x"] * 1001), json.dumps([valid_tracks[0]] * 1000),
                     "[" * 10_000, json.dumps([[valid_tracks[0]]]), json.dumps([]), "[1e999]"]),
)
rows = st.fixed_dictionaries({
    "id": st.one_of(st.none(), int64, nasty_text, st.binary(max_size=8), bad_utf8, st.just("TEXT")),
    "user_id": st.one_of(sql_values, st.just("u1")),
    "album_id": st.one_of(sql_values, st.sampled_from([OK.id, f" {OK.id} ", "alb-missing"])),
    "track_ids": track_lists,
    "priority": st.one_of(sql_values, st.sampled_from([float("inf"), float("-inf"), 1e308, 2**63 - 1, "5"])),
})


@pytest.fixture
async def service(tmp_path):
    catalog = build_catalog(tmp_path / "catalog.db", [OK, CONTROL, UNTOUCHED])
    settings = load_settings(write_config(tmp_path, catalog, "http://127.0.0.1:9", extra=LIMITS))
    svc = BridgeService(settings)
    await svc.start(workers=False)   # the intake alone: nothing is sent to QT
    try:
        yield svc
    finally:
        await svc.stop()


def _insert(db: str, row: dict[str, Any]) -> int | None:
    names = ("id", "user_id", "album_id", "track_ids", "priority")
    return insert_hostile(db, "download_requests", {n: row[n] for n in names})


def _state(db: str, rowid: int) -> tuple[Any, ...]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT status, error, planned_at FROM download_requests WHERE rowid = ?",
                            (rowid,)).fetchone()
    finally:
        conn.close()


async def test_intake_fails_bad_rows_clearly_and_plans_good_ones(service: BridgeService) -> None:
    db = str(service.settings.bridge.db)
    counter = itertools.count()

    @prop_settings(1.5)
    @given(st.lists(rows, min_size=1, max_size=4))
    def prop(call: LoopCaller, batch: list[dict[str, Any]]) -> None:
        n = next(counter)
        if batch[0]["id"] == "TEXT":
            batch[0]["id"] = f"row-{n}"
        inserted = [r for r in (_insert(db, {**row, "id": f"row-{n}-{i}" if row["id"] == "TEXT" else row["id"]})
                                for i, row in enumerate(batch)) if r is not None]
        control = _insert(db, {"id": f"control-{n}", "user_id": "u1", "album_id": CONTROL.id,
                               "track_ids": None, "priority": 0})
        assert control is not None
        call(asyncio.wait_for(service.intake.run_once(), 10))   # a spinning intake fails here
        for rowid in inserted:
            status, error, planned_at = _state(db, rowid)
            assert planned_at is not None, f"row {rowid} left unhandled ({status}, {error!r})"
            if status == "failed":
                assert isinstance(error, str) and len(error.strip()) > 0 and len(error) <= 4000, error
            else:
                assert status in ("pending", "in_progress", "completed"), (status, error)
        status, error, planned_at = _state(db, control)
        assert planned_at is not None and error is None and status != "failed", (status, error)

    await run_property(lambda call: prop(call))
    # Whoever reads the table afterwards is not hurt by what sits in it: the status
    # command (text and JSON) and the admin listing of users.
    report = await collect_status(service.settings, limit=100_000)
    json.dumps(report)
    render_status(report)
    users = [await service.limiter.report(u) for u in await service.limiter.active_users(limit=100_000)]
    json.dumps(users)
    untouched = await service.catalog.get_album_tracks(UNTOUCHED.id)
    assert {t.availability.value for t in untouched} == {"unavailable"}
    control_tracks = await service.catalog.get_album_tracks(CONTROL.id)
    assert {t.availability.value for t in control_tracks} == {"fetching"}


@pytest.mark.parametrize("priority", [float("inf"), float("-inf")])
async def test_infinite_priority_fails_the_row_and_spares_the_intake(service: BridgeService, priority: float) -> None:
    """Regression: int(inf) raised OverflowError out of parse_request, which killed the
    intake task and with it the daemon, on every restart (a poison row)."""
    db = str(service.settings.bridge.db)
    bad = _insert(db, {"id": "inf", "user_id": "u1", "album_id": OK.id, "track_ids": None, "priority": priority})
    good = _insert(db, {"id": "good", "user_id": "u1", "album_id": CONTROL.id, "track_ids": None, "priority": 0})
    await asyncio.wait_for(service.intake.run_once(), 10)
    status, error, _ = _state(db, bad)
    assert status == "failed" and "priority" in error
    assert _state(db, good)[2] is not None and _state(db, good)[1] is None


async def test_null_id_row_fails_instead_of_spinning_the_intake(service: BridgeService) -> None:
    """Regression: a row with a NULL id (TEXT PRIMARY KEY allows it) could not be planned
    or closed by id, so run_once returned it forever and never finished."""
    db = str(service.settings.bridge.db)
    bad = _insert(db, {"id": None, "user_id": "u1", "album_id": OK.id, "track_ids": None, "priority": 0})
    good = _insert(db, {"id": "good", "user_id": "u1", "album_id": CONTROL.id, "track_ids": None, "priority": 0})
    await asyncio.wait_for(service.intake.run_once(), 10)
    status, error, _ = _state(db, bad)
    assert status == "failed" and "id" in error
    assert _state(db, good)[2] is not None and _state(db, good)[1] is None
    assert {t.availability.value for t in await service.catalog.get_album_tracks(OK.id)} == {"unavailable"}


async def test_blob_columns_do_not_break_the_readers_of_the_table(service: BridgeService) -> None:
    """Regression: a row whose id, user_id, album_id or priority is a blob was failed by the
    intake, but then `torrentino-bridge status` (text and --json), the user listing of the
    HTTP API and the admin users listing crashed on it, for every user."""
    db = str(service.settings.bridge.db)
    bad = _insert(db, {"id": b"\x01id", "user_id": b"\xffuser", "album_id": b"alb", "track_ids": None,
                       "priority": b"\x00"})
    good = _insert(db, {"id": "good", "user_id": "u1", "album_id": CONTROL.id, "track_ids": None, "priority": 0})
    await asyncio.wait_for(service.intake.run_once(), 10)
    assert _state(db, bad)[0] == "failed" and _state(db, good)[2] is not None
    report = await collect_status(service.settings)
    shown = {r["request_id"]: r for r in report["requests"]}
    assert shown[repr(b"\x01id")]["user_id"] == repr(b"\xffuser")
    json.dumps(report)
    assert "good" in render_status(report)
    assert await service.limiter.active_users() == ["u1"]


async def test_deeply_nested_track_ids_fail_the_row_not_the_intake(service: BridgeService) -> None:
    """Regression: json.loads raised RecursionError (not JSONDecodeError) on "[[[[...", which
    escaped the intake pass on every try: the row stayed pending and blocked the rows after it."""
    db = str(service.settings.bridge.db)
    bad = _insert(db, {"id": "deep", "user_id": "u1", "album_id": None, "track_ids": "[" * 100_000, "priority": 9})
    good = _insert(db, {"id": "good", "user_id": "u1", "album_id": CONTROL.id, "track_ids": None, "priority": 0})
    await asyncio.wait_for(service.intake.run_once(), 10)
    status, error, _ = _state(db, bad)
    assert status == "failed" and "track_ids" in error
    assert _state(db, good)[2] is not None and _state(db, good)[1] is None


async def test_poison_rows_first_in_line_fail_alone_and_every_good_row_completes(tmp_path, sim) -> None:
    """Each kind of row the intake cannot read or parse, ahead of good rows: a TEXT column
    that is not UTF-8 (the SELECT itself failed on it and the pass retried forever), a
    track list of a 5,000-digit number (a plain ValueError out of json.loads), a JSON object
    instead of a list. Every poison row fails with its reason; every good row completes."""
    catalog = build_catalog(tmp_path / "catalog.db", [OK, CONTROL, UNTOUCHED])
    settings = load_settings(write_config(tmp_path, catalog, sim.base_url, extra=LIMITS))
    service = BridgeService(settings)
    await service.start()
    try:
        db = str(settings.bridge.db)
        poison = {
            "utf8-user": {"id": "p1", "user_id": BadUtf8(b"u\xff1"), "album_id": OK.id, "track_ids": None},
            "utf8-album": {"id": "p2", "user_id": "u1", "album_id": BadUtf8(b"alb\xc3"), "track_ids": None},
            "utf8-tracks": {"id": "p3", "user_id": "u1", "album_id": None, "track_ids": BadUtf8(b'["\xfe"]')},
            "utf8-id": {"id": BadUtf8(b"\xff\xfe"), "user_id": "u1", "album_id": OK.id, "track_ids": None},
            "digits": {"id": "p4", "user_id": "u1", "album_id": None, "track_ids": "[" + "7" * 5000 + "]"},
            "object": {"id": "p5", "user_id": "u1", "album_id": None, "track_ids": json.dumps({"ids": valid_tracks})},
        }
        rowids = {name: _insert(db, {**row, "priority": 100}) for name, row in poison.items()}
        good = [_insert(db, {"id": f"good-{i}", "user_id": "u1", "album_id": a.id, "track_ids": None,
                             "priority": 0}) for i, a in enumerate((OK, CONTROL))]

        async def all_done() -> bool:
            return all(_state(db, r)[0] in ("completed", "failed") for r in [*rowids.values(), *good])

        await wait_for(all_done, timeout=60, what="every row to end")
        expected = {"utf8-user": "user_id is not valid UTF-8", "utf8-album": "album_id is not valid UTF-8",
                    "utf8-tracks": "track_ids is not valid UTF-8", "utf8-id": "id is not valid UTF-8",
                    "digits": "track_ids is not a list of track ids", "object": "track_ids must be a JSON array"}
        for name, rowid in rowids.items():
            status, error, _ = _state(db, rowid)
            assert status == "failed" and expected[name] in error, (name, status, error)
        assert [_state(db, r)[:2] for r in good] == [("completed", None), ("completed", None)]
        report = await collect_status(settings, limit=100)
        json.dumps(report)
        render_status(report).encode("utf-8")      # printable: nothing undecodable leaks out
    finally:
        await service.stop()
