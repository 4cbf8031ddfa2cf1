import sqlite3

import pytest

from tests.conftest import album, build_catalog
from torrentino_bridge.domain.models import Availability, TrackChange
from torrentino_bridge.errors import CatalogSchemaError
from torrentino_bridge.store.catalog import open_catalog


@pytest.fixture(params=["plan", "pezzottify"])
def layout(request):
    return request.param


async def test_layout_is_detected_and_metadata_read(tmp_path, layout):
    path = build_catalog(tmp_path / "c.db", [album("alb", "Sigur Rós", "Ágætis byrjun", ["Intro", "Svefn-g-englar"],
                                                   year=1999, discs=2)], layout=layout)
    catalog = await open_catalog(path)
    try:
        assert catalog.layout == layout
        meta = await catalog.get_album("alb")
        assert (meta.name, meta.artist, meta.year) == ("Ágætis byrjun", "Sigur Rós", 1999)
        tracks = await catalog.get_album_tracks("alb")
        assert [(t.id, t.disc_number, t.track_number, t.duration_ms) for t in tracks] == [
            ("alb-101", 1, 1, 2000), ("alb-201", 2, 1, 2000)]
        assert all(t.availability is Availability.UNAVAILABLE for t in tracks)
        assert tracks[0].artist == "Sigur Rós"
        assert await catalog.get_album("nope") is None
        assert set(await catalog.get_tracks(["alb-101", "nope"])) == {"alb-101"}
    finally:
        await catalog.close()


async def test_apply_writes_availability_in_one_transaction(tmp_path, layout):
    path = build_catalog(tmp_path / "c.db", [album("alb", "A", "B", ["x", "y"])], layout=layout)
    catalog = await open_catalog(path)
    try:
        await catalog.apply([TrackChange("alb-101", Availability.FETCHING),
                             TrackChange("alb-102", Availability.FETCHING)])
        await catalog.apply([TrackChange("alb-101", Availability.AVAILABLE, audio_uri="alb/1-01.ogg"),
                             TrackChange("alb-102", Availability.FETCH_ERROR)])
        tracks = await catalog.get_tracks(["alb-101", "alb-102"])
        assert tracks["alb-101"].availability is Availability.AVAILABLE
        assert tracks["alb-101"].audio_uri == "alb/1-01.ogg"
        expected_error = Availability.FETCH_ERROR if layout == "plan" else Availability.UNAVAILABLE
        assert tracks["alb-102"].availability is expected_error
    finally:
        await catalog.close()
    if layout == "pezzottify":
        conn = sqlite3.connect(path)
        assert conn.execute("SELECT album_availability FROM albums").fetchone() == ("partial",)
        assert conn.execute("SELECT artist_available FROM artists").fetchone() == (1,)
        conn.close()


async def test_a_missing_column_is_a_schema_error_and_nothing_is_altered(tmp_path):
    path = tmp_path / "c.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE artists (id TEXT PRIMARY KEY, name TEXT);"
        "CREATE TABLE albums (id TEXT PRIMARY KEY, name TEXT, artist_id TEXT, year INTEGER);"
        "CREATE TABLE tracks (id TEXT PRIMARY KEY, album_id TEXT, name TEXT, track_number INTEGER);"
    )
    before = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    conn.close()
    with pytest.raises(CatalogSchemaError, match=r"tracks\.availability"):
        await open_catalog(path, layout="plan")
    with pytest.raises(CatalogSchemaError, match="matches no known layout"):
        await open_catalog(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == before
    conn.close()


async def test_reads_do_not_wait_behind_a_write_that_waits_out_a_lock(tmp_path):
    """The server's availability job holds the catalog's write lock for minutes; a write of
    the bridge waits it out. Reads (the intake, the user API, /readyz's ping) used to queue on
    the same connection behind that write's busy wait, several seconds each."""
    import asyncio

    path = build_catalog(tmp_path / "c.db", [album("alb", "A", "B", ["One", "Two"])], layout="pezzottify")
    catalog = await open_catalog(path, busy_timeout_ms=3000)
    catalog.patient = True
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")              # the availability job's transaction
        write = asyncio.create_task(catalog.apply([TrackChange("alb-101", Availability.AVAILABLE,
                                                               audio_uri="audio/al/b-/alb-101.ogg")]))
        await asyncio.sleep(0.3)                        # the write is in its busy wait now
        tracks = await asyncio.wait_for(catalog.get_tracks(["alb-101", "alb-102"]), timeout=2)
        await asyncio.wait_for(catalog.ping(), timeout=2)
        assert set(tracks) == {"alb-101", "alb-102"} and not write.done()
        holder.execute("COMMIT")
        await asyncio.wait_for(write, timeout=30)
        assert (await catalog.get_tracks(["alb-101"]))["alb-101"].availability is Availability.AVAILABLE
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()
        await catalog.close()
