"""Pezzottify's download queue as a request source, end to end: rows inserted exactly as the
server's request routes insert them, the simulator on 127.0.0.1, real audio, the real
download_queue.db schema. The queue rows must end as the server's own ingestion leaves them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import soundfile

from tests.conftest import album, wait_for
from tests.engine.test_flow import insert
from tests.pezzottify import (
    admin_retry,
    audit,
    build_db_dir,
    fingerprints,
    request_album,
    request_track,
    shard_uri,
)
from tests.pezzottify import queue_rows as rows

HARBOUR = album("alb-harbour", "The Lanterns", "Harbour Lights", ["Low Tide", "Signal Fires", "Breakwater"])
CARTAS = album("alb-cartas", "Mira Sol", "Cartas de Verano", ["Canción", "Días Largos"])
RIVERS = album("alb-rivers", "Northbound", "Two Rivers", ["Source", "Confluence", "Delta"])
PARTLY = album("alb-partly", "Half Moon", "Halfway There", ["Already Here", "Still Missing"])


@pytest.fixture
def pz(tmp_path, settings_for, sim):
    """A Pezzottify db_dir (one album partly available), and settings serving its queue."""
    partly = album(PARTLY.id, PARTLY.artist, PARTLY.name, [t[2] for t in PARTLY.tracks])
    partly.tracks[0] = (*partly.tracks[0][:4], "available")
    db = build_db_dir(tmp_path / "db", [HARBOUR, CARTAS, RIVERS, partly], users=(7, 8, 9, 11))
    settings = settings_for(db.catalog, sim.base_url, extra=db.config(queue=True))
    settings.media.root = db.media
    return settings, db.catalog, db


async def until_row(queue: Path, row_id: str, *statuses: str, timeout: float = 40.0) -> dict:
    async def check():
        row = rows(queue).get(row_id)
        return row if row is not None and row["status"] in statuses else None

    return await wait_for(check, timeout=timeout, what=f"queue row {row_id} to be {'/'.join(statuses)}")


def available(catalog: Path) -> set[str]:
    conn = sqlite3.connect(catalog)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM tracks WHERE track_available = 1 AND audio_uri IS NOT NULL")}
    finally:
        conn.close()


def sql(path: Path, query: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def events(queue: Path, row_id: str) -> list[str]:
    return [e for e, _ in audit(queue, row_id)]


async def test_rows_from_the_server_routes_end_completed(pz, sim, running_bridge):
    settings, catalog, db = pz
    queue = db.path("queue")
    before = fingerprints(db)
    settings.torrentino.ticket.output_format = "flac"      # QT delivers FLAC: it is converted
    service = await running_bridge(settings)
    whole = request_album(db, HARBOUR.id, 7)
    single = request_track(db, CARTAS.track_id(1, 2), 8)
    partly = request_album(db, PARTLY.id, 7)

    for row_id in (whole, single, partly):
        row = await until_row(queue, row_id, "COMPLETED", "FAILED")
        assert row["status"] == "COMPLETED", row
        assert row["error_type"] is None and row["error_message"] is None
        assert isinstance(row["completed_at"], int) and row["completed_at"] >= row["created_at"]
        assert isinstance(row["started_at"], int) and row["last_attempt_at"] == row["started_at"]
        assert row["bytes_downloaded"] > 0 and row["processing_duration_ms"] >= 0
        assert events(queue, row_id) == ["REQUEST_CREATED", "DOWNLOAD_STARTED", "DOWNLOAD_COMPLETED"]
        completed = audit(queue, row_id)[-1][1]
        assert completed == {"bytes_downloaded": row["bytes_downloaded"],
                             "duration_ms": row["processing_duration_ms"]}
    wanted = {HARBOUR.track_id(1, n) for n in (1, 2, 3)} | {CARTAS.track_id(1, 2)} | {
        PARTLY.track_id(1, 1), PARTLY.track_id(1, 2)}
    assert wanted <= available(catalog)
    assert CARTAS.track_id(1, 1) not in available(catalog)
    assert sim.post_count == 3       # one ticket per album; the partly available one for its missing track
    partly_ticket = [t for t in sim.tickets.values() if "Halfway" in t["query_context"]["description"]]
    assert [x["title"] for x in partly_ticket[0]["query_context"]["expected"]["tracks"]] == ["Still Missing"]

    # Played from the server's own paths, as Ogg Vorbis; roll-ups and search as the server's.
    for track_id, uri in sql(catalog, "SELECT id, audio_uri FROM tracks WHERE track_available = 1"):
        assert uri == shard_uri(track_id)
        if track_id != PARTLY.track_id(1, 1):      # (there before: the fixture has no file for it)
            assert soundfile.info(str(db.media / uri)).subtype == "VORBIS"
    assert dict(sql(catalog, "SELECT id, album_availability FROM albums")) == {
        HARBOUR.id: "complete", CARTAS.id: "partial", RIVERS.id: "missing", PARTLY.id: "complete"}
    assert dict(sql(catalog, "SELECT id, artist_available FROM artists")) == {
        f"art-{HARBOUR.id}": 1, f"feat-{HARBOUR.id}": 1, f"art-{CARTAS.id}": 1, f"feat-{CARTAS.id}": 0,
        f"art-{RIVERS.id}": 0, f"feat-{RIVERS.id}": 0, f"art-{PARTLY.id}": 1, f"feat-{PARTLY.id}": 1}
    # The row is COMPLETED a moment before its link records it (and queues the notice).
    async def told():
        reported = await service.store._all("SELECT reported FROM source_links")
        return all(r[0] == "completed" for r in reported) and len(reported) == 3

    await wait_for(told, what="every row recorded as told")
    await service.outbox.run_once()
    search = set(sql(db.path("search"), "SELECT item_type, item_id, is_available FROM item_availability"))
    assert {("track", t, 1) for t in wanted - {PARTLY.track_id(1, 1)}} <= search
    assert {("album", HARBOUR.id, 1), ("album", CARTAS.id, 1), ("album", PARTLY.id, 1)} <= search
    # Each requester hears "<album> is ready" in the clients (user.db).
    notes = sql(db.path("user"), "SELECT user_id, notification_type, title FROM user_notifications ORDER BY title")
    assert notes == [(8, '"download_completed"', "Cartas de Verano is ready"),
                     (7, '"download_completed"', "Halfway There is ready"),
                     (7, '"download_completed"', "Harbour Lights is ready")]
    assert fingerprints(db) == before      # schemas, journal_mode, user_version: as they were


async def test_two_album_rows_make_one_ticket_and_a_track_row_joins_it(pz, sim, running_bridge):
    settings, catalog, db = pz
    queue = db.path("queue")
    sim.set_outcome(None, "needs_approval")          # keep the first ticket live
    service = await running_bridge(settings)
    first = request_album(db, RIVERS.id, 7)
    second = request_album(db, RIVERS.id, 9)
    await until_row(queue, second, "IN_PROGRESS")
    track = request_track(db, RIVERS.track_id(1, 3), 11)
    await until_row(queue, track, "IN_PROGRESS")

    async def parked():
        subs = await service.store.submissions()
        return subs if subs and subs[0].ticket_id and subs[0].state.value == "needs_approval" else None

    sub = (await wait_for(parked, what="the ticket to need approval"))[0]
    assert sim.post_count == 1
    await service.actions.approve(sub.ticket_id)
    for row_id in (first, second, track):
        assert (await until_row(queue, row_id, "COMPLETED", "FAILED"))["status"] == "COMPLETED"
    assert sim.post_count == 1
    assert {RIVERS.track_id(1, n) for n in (1, 2, 3)} <= available(catalog)


@pytest.mark.parametrize(("outcome", "error_type", "message"), [
    ("fail_always", "timeout", "Quentin Torrentino: Download stalled"),
    ("acquisition_failed", "not_found", "Quentin Torrentino: "),
    ("missing_tracks", "not_found", "2 of 3 tracks imported; missing: 3 Breakwater"),
    ("corrupt_track", "corruption", "2 of 3 tracks imported; corrupt: 3 Breakwater"),
])
async def test_failures_end_failed_with_type_and_message(pz, sim, running_bridge, outcome, error_type, message):
    settings, _catalog, db = pz
    queue = db.path("queue")
    sim.set_outcome("Harbour", outcome)
    await running_bridge(settings)
    row_id = request_album(db, HARBOUR.id, 7)
    row = await until_row(queue, row_id, "COMPLETED", "FAILED")
    assert row["status"] == "FAILED"
    assert row["error_type"] == error_type
    assert message in row["error_message"], row["error_message"]
    assert isinstance(row["completed_at"], int)
    assert events(queue, row_id) == ["REQUEST_CREATED", "DOWNLOAD_STARTED", "DOWNLOAD_FAILED"]
    failed = audit(queue, row_id)[-1][1]
    assert failed == {"error_type": error_type, "error_message": row["error_message"], "retry_count": 0}


async def test_an_admin_retry_in_pezzottify_is_a_new_request(pz, sim, running_bridge):
    settings, _catalog, db = pz
    queue = db.path("queue")
    sim.set_outcome("Cartas", "fail_always")
    service = await running_bridge(settings)
    row_id = request_album(db, CARTAS.id, 7)
    assert (await until_row(queue, row_id, "COMPLETED", "FAILED"))["status"] == "FAILED"

    sim.set_outcome("Cartas", "complete")
    admin_retry(queue, row_id)
    row = await until_row(queue, row_id, "COMPLETED", "FAILED")
    assert row["status"] == "COMPLETED" and row["error_type"] is None
    assert (await service.store.get_request(f"pz-{row_id}")).status == "failed"
    assert (await service.store.get_request(f"pz-{row_id}~2")).status == "completed"
    assert events(queue, row_id) == ["REQUEST_CREATED", "DOWNLOAD_STARTED", "DOWNLOAD_FAILED", "ADMIN_RETRY",
                                     "DOWNLOAD_STARTED", "DOWNLOAD_COMPLETED"]
    assert sim.post_count == 2


async def test_rows_of_other_kinds_are_left_alone(pz, sim, running_bridge):
    settings, _catalog, db = pz
    queue = db.path("queue")
    service = await running_bridge(settings)
    conn = sqlite3.connect(queue)
    with conn:
        conn.execute("INSERT INTO download_queue (id, status, priority, content_type, content_id, request_source,"
                     " created_at) VALUES ('img-1', 'PENDING', 4, 'ARTIST_IMAGE', 'art-x', 'WATCHDOG', 1)")
        conn.execute("INSERT INTO download_queue (id, status, priority, content_type, content_id, request_source,"
                     " created_at) VALUES ('lower-1', 'pending', 2, 'ALBUM', ?, 'USER', 1)", (HARBOUR.id,))
        conn.execute("INSERT INTO download_queue (id, status, priority, content_type, content_id, request_source,"
                     " created_at) VALUES ('lower-2', 'PENDING', 2, 'album', ?, 'USER', 1)", (HARBOUR.id,))
    conn.close()
    row_id = request_album(db, CARTAS.id, 7)
    await until_row(queue, row_id, "COMPLETED")
    await service.run_once()
    found = rows(queue)
    assert {k: found[k]["status"] for k in ("img-1", "lower-1", "lower-2")} == {
        "img-1": "PENDING", "lower-1": "pending", "lower-2": "PENDING"}
    assert all(found[k]["started_at"] is None for k in ("img-1", "lower-1", "lower-2"))
    assert sim.post_count == 1


async def test_unreadable_rows_fail_alone_and_the_rest_go_on(pz, sim, running_bridge):
    settings, _catalog, db = pz
    queue = db.path("queue")
    conn = sqlite3.connect(queue)
    with conn:      # first in line: urgent priority, oldest
        conn.execute("INSERT INTO download_queue (id, status, priority, content_type, content_id, request_source,"
                     " requested_by_user_id, created_at) VALUES ('bad-utf8', 'PENDING', 1, 'ALBUM',"
                     " CAST(X'616CFF62' AS TEXT), 'USER', '7', 1)")
        conn.execute("INSERT INTO download_queue (id, status, priority, content_type, content_id, request_source,"
                     " requested_by_user_id, created_at) VALUES ('bad-blob', 'PENDING', 1, 'TRACK_AUDIO',"
                     " X'00FF', 'USER', '7', 1)")
        conn.execute("INSERT INTO download_queue (id, status, priority, content_type, content_id, request_source,"
                     " requested_by_user_id, created_at) VALUES (CAST(X'FFFE' AS TEXT), 'PENDING', 1, 'ALBUM',"
                     " ?, 'USER', '7', 1)", (HARBOUR.id,))
        conn.execute("INSERT INTO download_queue (id, status, priority, content_type, content_id, request_source,"
                     " requested_by_user_id, created_at) VALUES ('unknown', 'PENDING', 1, 'ALBUM',"
                     " 'alb-nowhere', 'USER', '7', 1)")
    conn.close()
    await running_bridge(settings)
    good = request_album(db, CARTAS.id, 7)
    assert (await until_row(queue, good, "COMPLETED", "FAILED"))["status"] == "COMPLETED"
    found = rows(queue)
    assert found["bad-utf8"]["status"] == "FAILED" and found["bad-utf8"]["error_type"] == "parse"
    assert "content_id is not valid UTF-8" in found["bad-utf8"]["error_message"]
    assert found["bad-blob"]["status"] == "FAILED" and "content_id must be text" in found["bad-blob"]["error_message"]
    conn = sqlite3.connect(queue)
    try:
        assert conn.execute("SELECT status, error_type FROM download_queue WHERE id = CAST(X'FFFE' AS TEXT)"
                            ).fetchall() == [("FAILED", "parse")]
    finally:
        conn.close()
    unknown = await until_row(queue, "unknown", "FAILED")
    assert unknown["error_message"] == "unknown album id: alb-nowhere"
    assert sim.post_count == 1


def delete_row(queue: Path, row_id: str) -> None:
    """DELETE /v1/download/admin/request/{id}."""
    conn = sqlite3.connect(queue)
    with conn:
        conn.execute("DELETE FROM download_queue WHERE id = ?", (row_id,))
    conn.close()


async def test_a_row_deleted_while_its_ticket_runs_releases_what_only_it_waited_for(pz, sim, running_bridge):
    settings, catalog, db = pz
    queue = db.path("queue")
    sim.set_outcome(None, "needs_approval")          # the tickets wait
    service = await running_bridge(settings)
    alone = request_album(db, HARBOUR.id, 7)
    shared = request_album(db, RIVERS.id, 7)
    other = request_track(db, RIVERS.track_id(1, 2), 9)
    for row_id in (alone, shared, other):
        await until_row(queue, row_id, "IN_PROGRESS")

    async def parked():
        subs = await service.store.submissions()
        return len(subs) == 2 and all(s.state.value == "needs_approval" for s in subs)

    await wait_for(parked, what="both tickets to wait for approval")
    delete_row(queue, alone)
    delete_row(queue, shared)

    async def withdrawn():
        statuses = [(await service.store.get_request(f"pz-{r}")).status for r in (alone, shared)]
        return statuses == ["cancelled", "cancelled"]

    await wait_for(withdrawn, what="the deleted rows' requests to be cancelled")
    by_album = {s.album_id: s for s in await service.store.submissions()}
    # Nobody else waits for Harbour Lights: its ticket is cancelled in QT.
    assert sim.state_of(by_album[HARBOUR.id].ticket_id) == "cancelled"
    # Two Rivers' ticket goes on for the track another user still wants.
    assert sim.state_of(by_album[RIVERS.id].ticket_id) == "needs_approval"
    assert (await service.store.get_request(f"pz-{other}")).status == "needs_approval"
    sim.set_outcome(None, "complete")
    await service.actions.approve(by_album[RIVERS.id].ticket_id)
    assert (await until_row(queue, other, "COMPLETED", "FAILED"))["status"] == "COMPLETED"
    assert RIVERS.track_id(1, 2) in available(catalog)
    assert not {HARBOUR.track_id(1, n) for n in (1, 2, 3)} & available(catalog)


async def test_a_taken_request_id_holds_up_nobody(pz, running_bridge):
    """A script wrote its own request `pz-early` into the bridge's table before the queue row
    `early` came: the mirror's id is taken. That row is still taken (under another id), and
    the rows behind it too (before, every pull failed on it: nobody's request was taken)."""
    settings, _catalog, db = pz
    queue = db.path("queue")
    await insert(settings, "pz-early", album_id=CARTAS.id)
    conn = sqlite3.connect(queue)
    with conn:
        conn.execute(
            "INSERT INTO download_queue (id, status, priority, content_type, content_id, request_source,"
            " requested_by_user_id, created_at) VALUES ('early', 'PENDING', 2, 'ALBUM', ?, 'USER', '7', 1)",
            (HARBOUR.id,))
    conn.close()
    service = await running_bridge(settings)
    good = request_album(db, RIVERS.id, 8)
    for row_id in ("early", good):
        assert (await until_row(queue, row_id, "COMPLETED", "FAILED"))["status"] == "COMPLETED"
    links = await service.store._all("SELECT request_id FROM source_links WHERE source_id = 'early'")
    assert len(links) == 1 and links[0][0].startswith("pz-early~")
