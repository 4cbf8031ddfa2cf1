"""The hand-over to a Pezzottify server as deployed (July 2026), end to end: the simulator
on 127.0.0.1 delivers FLAC, the bridge imports it into a real db_dir (catalog, search,
server, user databases in the server's schemas) through its own request table.

After the import: files at the server's paths, Ogg Vorbis; audio_uri + track_available;
album and artist roll-ups by the server's reconcile rules (NULL roles and featured artists
included); item_availability in search.db; catalog_events and whatsnew rows; the ready
notice with the server's encodings; and every server file's schema, journal mode and
user_version byte for byte as before.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import soundfile

from tests.conftest import album, write_config
from tests.engine.test_flow import insert, until_status
from tests.pezzottify import DbDir, build_db_dir, fingerprints, shard_uri
from torrentino_bridge.config import load_settings
from torrentino_bridge.errors import CatalogSchemaError
from torrentino_bridge.pezzottify import notices
from torrentino_bridge.service import BridgeService

LP = album("4uLU6hMCjMI75M1A2tKUQC", "The Lanterns", "Harbour Lights", ["Low Tide", "Signal Fires", "Breakwater"],
           year=2019)
FLAC = '\n[torrentino.ticket]\noutput_format = "flac"\n'


def rows(path: Path, sql: str, *params: object) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.fixture
def db_dir(tmp_path: Path) -> DbDir:
    return build_db_dir(tmp_path / "db", [LP])


def settings_for(tmp_path: Path, db: DbDir, qt_url: str, extra: str = ""):
    config = write_config(tmp_path, db.catalog, qt_url, extra=FLAC + db.config() + extra)
    text = config.read_text().replace(f'root = "{tmp_path / "media"}"', f'root = "{db.media}"')
    config.write_text(text)
    return load_settings(config)


async def test_an_imported_album_is_handed_over_as_the_server_would(tmp_path, sim, running_bridge, db_dir):
    before = fingerprints(db_dir)
    settings = settings_for(tmp_path, db_dir, sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id=LP.id)
    assert (await until_status(service, "r1", "completed", "failed"))[0] == "completed"
    await service.outbox.run_once()

    tracks = rows(db_dir.catalog, "SELECT id, audio_uri, track_available FROM tracks ORDER BY id")
    assert [(t[1], t[2]) for t in tracks] == [(shard_uri(t[0]), 1) for t in tracks]
    for track_id, uri, _ in tracks:
        assert uri.startswith(f"audio/4u/LU/{track_id}")
        info = soundfile.info(str(db_dir.media / uri))        # the sim sent FLAC: converted
        assert (info.format, info.subtype) == ("OGG", "VORBIS")
    assert not list(db_dir.media.rglob(".tb-import-*"))
    assert rows(db_dir.catalog, "SELECT album_availability FROM albums") == [("complete",)]
    # The main artist (roles 0 and NULL) and the featured one (role 1) both have available tracks.
    assert dict(rows(db_dir.catalog, "SELECT id, artist_available FROM artists")) == {
        f"art-{LP.id}": 1, f"feat-{LP.id}": 1}

    search = set(rows(db_dir.path("search"), "SELECT item_type, item_id, is_available FROM item_availability"))
    assert search == {("track", t[0], 1) for t in tracks} | {
        ("album", LP.id, 1), ("artist", f"art-{LP.id}", 1), ("artist", f"feat-{LP.id}", 1)}

    events = rows(db_dir.path("server"),
                  "SELECT event_type, content_type, content_id, triggered_by FROM catalog_events")
    assert events == [("album_updated", "album", LP.id, "ingestion")]
    assert [r[0] for r in rows(db_dir.path("server"), "SELECT album_id FROM whatsnew_pending_albums")] == [LP.id]

    # A redelivered item (a crash after delivery, before `done`) adds nothing.
    conn = sqlite3.connect(settings.bridge.db)
    with conn:
        conn.execute("UPDATE outbox SET state = 'pending', next_attempt_at = 0")
    conn.close()
    assert await service.outbox.run_once() == 2
    assert len(rows(db_dir.path("server"), "SELECT * FROM catalog_events")) == 1
    assert rows(settings.bridge.db, "SELECT kind, state FROM outbox ORDER BY kind") == [
        ("pezzottify.album_event", "done"), ("pezzottify.search", "done")]

    await service.stop()
    assert fingerprints(db_dir) == before


async def test_ready_notice_has_the_servers_encodings_and_is_delivered_once(tmp_path, sim, running_bridge, db_dir):
    settings = settings_for(tmp_path, db_dir, sim.base_url)
    service = await running_bridge(settings)
    async with service.store.tx() as conn:
        assert await notices.enqueue_ready_notice(conn, user_id="2", album_id=LP.id, request_id="q-1")
        assert not await notices.enqueue_ready_notice(conn, user_id="2", album_id=LP.id, request_id="q-1")
        assert not await notices.enqueue_ready_notice(conn, user_id="bob", album_id=LP.id, request_id="q-2")
    await service.outbox.run_once()

    (n,) = rows(db_dir.path("user"), "SELECT id, user_id, notification_type, title, body, data, read_at, created_at"
                " FROM user_notifications")
    assert n[0].startswith("notif_") and len(n[0]) == 22 and n[0][6:].isalnum()
    assert n[1:5] == (2, '"download_completed"', "Harbour Lights is ready", "by The Lanterns")
    assert n[5] == json.dumps({"album_id": LP.id, "album_name": "Harbour Lights", "artist_name": "The Lanterns",
                               "image_id": None, "request_id": "q-1"}, separators=(",", ":"))
    assert n[6] is None
    (e,) = rows(db_dir.path("user"), "SELECT user_id, event_type, payload, server_timestamp FROM user_events")
    assert e[:2] == (2, "notification_created") and e[3] > 0
    assert json.loads(e[2]) == {"type": "notification_created", "payload": {"notification": {
        "id": n[0], "notification_type": "download_completed", "title": n[3], "body": n[4],
        "data": json.loads(n[5]), "read_at": None, "created_at": n[7]}}}

    conn = sqlite3.connect(settings.bridge.db)
    with conn:
        conn.execute("UPDATE outbox SET state = 'pending', next_attempt_at = 0")
    conn.close()
    await service.outbox.run_once()
    assert len(rows(db_dir.path("user"), "SELECT * FROM user_notifications")) == 1
    assert len(rows(db_dir.path("user"), "SELECT * FROM user_events")) == 1


async def test_the_newest_hundred_notifications_per_user_are_kept(tmp_path, sim, running_bridge, db_dir):
    conn = sqlite3.connect(db_dir.path("user"))
    with conn:
        conn.executemany("INSERT INTO user_notifications (id, user_id, notification_type, title, data, created_at)"
                         " VALUES (?, 1, '\"download_completed\"', 't', '{}', ?)",
                         [(f"notif_old{i:013d}", 1000 + i) for i in range(100)])
    conn.close()
    service = await running_bridge(settings_for(tmp_path, db_dir, sim.base_url))
    async with service.store.tx() as tx:
        await notices.enqueue_ready_notice(tx, user_id="1", album_id=LP.id, request_id="q-9")
    await service.outbox.run_once()
    kept = [r[0] for r in rows(db_dir.path("user"), "SELECT id FROM user_notifications WHERE user_id = 1")]
    assert len(kept) == 100 and "notif_old0000000000000" not in kept


async def test_a_server_file_missing_a_column_stops_the_start_naming_it(tmp_path, sim, db_dir):
    conn = sqlite3.connect(db_dir.path("user"))
    with conn:
        conn.execute("DROP TABLE user_events")
        conn.execute("CREATE TABLE user_events (seq INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, payload TEXT)")
    conn.close()
    service = BridgeService(settings_for(tmp_path, db_dir, sim.base_url))
    with pytest.raises(CatalogSchemaError, match=r"pezzottify\.user_db: .*user_events\.event_type"):
        await service.start()
    await service.stop()


async def test_a_re_scan_reaches_search_db_too(tmp_path, sim, running_bridge, db_dir):
    """An import again under the same key (a re-scan; also QT retrying a completed ticket, or
    `import --reimport`) enqueues its own search.db upsert: with the first import's ids the
    new item was dropped as a duplicate, and the newly imported track stayed hidden from
    searches that exclude unavailable items."""
    from tests.http.test_rescan import put_good_file

    sim.set_outcome(LP.name, "missing_tracks")
    settings = settings_for(tmp_path, db_dir, sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id=LP.id)
    assert (await until_status(service, "r1", "completed", "failed"))[0] == "failed"
    [sub] = await service.store.submissions()
    await put_good_file(sim, sub.ticket_id)
    await service.rescans.rescan(sub)
    await service.outbox.run_once()
    catalog = rows(db_dir.catalog, "SELECT id, track_available FROM tracks ORDER BY id")
    search = {r[0]: r[1] for r in rows(db_dir.path("search"),
                                       "SELECT item_id, is_available FROM item_availability WHERE item_type = 'track'")}
    assert all(available == 1 for _, available in catalog)
    assert {t: search.get(t) for t, _ in catalog} == {t: 1 for t, _ in catalog}
