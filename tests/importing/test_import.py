"""import_tracks end to end on real files, real SQLite catalogs (both layouts) and a real
bridge database: placement, the one catalog transaction, idempotency, resuming a journal."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from tests.conftest import build_catalog
from torrentino_bridge.config import MediaSettings
from torrentino_bridge.domain.models import AlbumMeta, Availability, TrackChange, TrackMeta
from torrentino_bridge.importing import ImportJob, ImportOutcome, import_tracks, placement
from torrentino_bridge.importing.discovery import AudioFile, inspect_file
from torrentino_bridge.importing.errors import ImportSourceError, TemplateError
from torrentino_bridge.importing.verify import verify_file
from torrentino_bridge.sim.audio import write_audio
from torrentino_bridge.store.catalog import Catalog, open_catalog
from torrentino_bridge.store.db import open_bridge_db

from .conftest import media_settings
from .layouts import ALBUMS, CASES_BY_NAME, SINGLE, build_case


@dataclass
class Env:
    base: Path
    media: MediaSettings
    catalog: Catalog
    bridge_db: aiosqlite.Connection
    catalog_path: Path
    layout: str

    def case_dir(self, name: str) -> Path:
        """A fresh copy of a fixture layout inside this test's incoming directory."""
        target = self.media.incoming / name
        build_case(CASES_BY_NAME[name], target, self.base / "outside")
        return target

    async def job(self, name: str, *, key: str = "sub-1", tracks: list[str] | None = None,
                  source: Path | None = None) -> ImportJob:
        case = CASES_BY_NAME[name]
        album = await self.catalog.get_album(case.album.id)
        assert album is not None
        all_tracks = await self.catalog.get_album_tracks(case.album.id)
        wanted = set(tracks or case.track_ids())
        return ImportJob(key=key, album=album, tracks=[t for t in all_tracks if t.id in wanted],
                         source_dir=source or self.media.incoming / name)

    async def run(self, job: ImportJob, media: MediaSettings | None = None) -> ImportOutcome:
        return await import_tracks(job, bridge_db=self.bridge_db, catalog=self.catalog,
                                   media=media or self.media)

    async def tracks(self, album_id: str = "nd") -> dict[str, TrackMeta]:
        return {t.id: t for t in await self.catalog.get_album_tracks(album_id)}


@asynccontextmanager
async def make_env(base: Path, layout: str, **media: Any) -> AsyncIterator[Env]:
    """A catalog with the layout set's albums, media folders and a bridge database; the
    connections are closed afterwards."""
    catalog_path = build_catalog(base / "catalog.db", list(ALBUMS.values()), layout=layout)
    settings = media_settings(base, **media)
    catalog = await open_catalog(catalog_path, layout=layout)
    try:
        bridge_db = await open_bridge_db(base / "bridge.db")
        try:
            yield Env(base, settings, catalog, bridge_db, catalog_path, layout)
        finally:
            await bridge_db.close()
    finally:
        await catalog.close()


@asynccontextmanager
async def env_on_other_fs(base: Path) -> AsyncIterator[Env]:
    """make_env (plan layout) with the media root on another filesystem (tmpfs at
    /dev/shm), so placement copies, then renames; skips the test when there is none."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(base).st_dev:
        pytest.skip("no second filesystem at /dev/shm")
    root = Path(os.path.realpath(shm)) / f"tb-test-{os.getpid()}-{base.name}"
    root.mkdir()
    try:
        async with make_env(base, "plan", root=root) as made:
            yield made
    finally:
        shutil.rmtree(root)


@pytest.fixture(params=["plan", "pezzottify"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    async with make_env(tmp_path, request.param) as made:
        yield made


def library(root: Path) -> dict[str, int]:
    """Every entry under the media root (hidden ones included) -> inode."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            path = Path(dirpath) / name
            found[path.relative_to(root).as_posix()] = os.lstat(path).st_ino
    return found


def assert_library_sound(root: Path, outcome: ImportOutcome) -> None:
    entries = library(root)
    assert not [e for e in entries if any(p.startswith(".") for p in e.split("/"))], entries
    files = {e for e in entries if (root / e).is_file()}
    assert files == set(outcome.imported.values())
    for uri in outcome.imported.values():
        path = root / uri
        found = inspect_file(path, uri, path.stat().st_size)
        assert isinstance(found, AudioFile) and verify_file(found).ok, uri


async def test_import_with_corrupt_and_missing_tracks(env: Env) -> None:
    source = env.case_dir("corrupt_files")
    outcome = await env.run(await env.job("corrupt_files"))

    assert set(outcome.failed) == {"nd-104", "nd-109", "nd-111"}
    assert all(r.startswith("corrupt: ") for r in outcome.failed.values())
    assert outcome.summary == (
        "9 of 12 tracks imported; corrupt: 4 Paper Planes (Remastered 2011), 9 Glass Houses, "
        "11 The Long Goodbye"
    )
    assert outcome.imported["nd-101"] == "nd/1-01.flac"
    assert_library_sound(env.media.root, outcome)

    tracks = await env.tracks()
    for track_id, uri in outcome.imported.items():
        assert tracks[track_id].availability is Availability.AVAILABLE
        assert tracks[track_id].audio_uri == uri
    expected_failed = Availability.FETCH_ERROR if env.layout == "plan" else Availability.UNAVAILABLE
    for track_id in outcome.failed:
        assert tracks[track_id].availability is expected_failed
        assert tracks[track_id].audio_uri is None
    if env.layout == "pezzottify":
        with closing(sqlite3.connect(env.catalog_path)) as conn:
            assert conn.execute("SELECT album_availability FROM albums WHERE id = 'nd'").fetchone() == ("partial",)
            assert conn.execute("SELECT artist_available FROM artists WHERE id = 'art-nd'").fetchone() == (1,)
    # Failures keep the directory for a look; the matched files have moved out of it.
    assert sorted(p.name for p in source.iterdir()) == [
        "04 - Paper Planes.mp3", "09 - Glass Houses.flac", "11 - The Long Goodbye.flac"]


async def test_full_import_removes_leftovers_and_reruns_change_nothing(env: Env) -> None:
    source = env.case_dir("clutter_and_samples")
    job = await env.job("clutter_and_samples")
    outcome = await env.run(job)
    assert outcome.failed == {} and outcome.summary == ""
    assert len(outcome.imported) == 12
    assert not source.exists()
    assert_library_sound(env.media.root, outcome)
    before = library(env.media.root)

    again = await env.run(job)           # the source directory is gone: the journal answers
    assert again == outcome
    assert library(env.media.root) == before


async def test_keep_leftovers(env: Env) -> None:
    source = env.case_dir("clutter_and_samples")
    media = media_settings(env.base, keep_leftovers=True)
    outcome = await env.run(await env.job("clutter_and_samples"), media)
    assert len(outcome.imported) == 12
    assert (source / "cover.jpg").exists() and (source / "Sample").is_dir()


async def test_partial_request_imports_only_what_was_asked(env: Env) -> None:
    env.case_dir("flat_numbered_ogg")
    job = await env.job("flat_numbered_ogg", tracks=["nd-103", "nd-112"])
    outcome = await env.run(job)
    assert outcome.imported == {"nd-103": "nd/1-03.ogg", "nd-112": "nd/1-12.ogg"}
    tracks = await env.tracks()
    assert tracks["nd-101"].availability is not Availability.AVAILABLE


async def test_existing_different_file_is_replaced_whole(env: Env) -> None:
    env.case_dir("flat_numbered_ogg")
    old = env.media.root / "nd" / "1-01.ogg"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"an older, different file")
    source_inode = os.lstat(env.media.incoming / "flat_numbered_ogg" / "01 - Neon Lights.ogg").st_ino
    outcome = await env.run(await env.job("flat_numbered_ogg"))
    assert outcome.imported["nd-101"] == "nd/1-01.ogg"
    assert os.lstat(old).st_ino == source_inode          # renamed over it, not copied
    assert_library_sound(env.media.root, outcome)


async def test_a_track_that_already_plays_is_not_downgraded(env: Env) -> None:
    # An earlier import placed track 7; this torrent lacks it.
    env.case_dir("bonus_and_missing")
    write_audio(env.media.root / "nd" / "old-07.ogg", kind="ogg", duration_secs=8, seed=107)
    await env.catalog.apply([TrackChange("nd-107", Availability.AVAILABLE, audio_uri="nd/old-07.ogg")])
    outcome = await env.run(await env.job("bonus_and_missing"))
    assert outcome.failed == {"nd-107": "missing"}
    track = (await env.tracks())["nd-107"]
    assert track.availability is Availability.AVAILABLE and track.audio_uri == "nd/old-07.ogg"


async def test_sources_outside_incoming_are_refused_before_anything_is_recorded(env: Env) -> None:
    outside = env.base / "outside-dir"
    build_case(CASES_BY_NAME["flat_numbered_ogg"], outside, env.base / "outside")
    job = await env.job("flat_numbered_ogg", source=outside)
    with pytest.raises(ImportSourceError):
        await env.run(job)
    with pytest.raises(ImportSourceError):
        await env.run(await env.job("flat_numbered_ogg", source=env.media.incoming))
    async with env.bridge_db.execute("SELECT COUNT(*) FROM import_jobs") as cur:
        assert (await cur.fetchone())[0] == 0  # type: ignore[index]
    assert library(env.media.root) == {}
    assert len(list(outside.iterdir())) == 12


async def test_template_collision_is_a_config_error_and_moves_nothing(env: Env) -> None:
    source = env.case_dir("flat_numbered_ogg")
    media = media_settings(env.base, path_template="{album_id}/track.{ext}")
    with pytest.raises(TemplateError, match="same path"):
        await env.run(await env.job("flat_numbered_ogg"), media)
    assert len(list(source.iterdir())) == 12
    assert library(env.media.root) == {}


async def test_two_imports_of_one_directory_at_once_move_each_file_once(env: Env) -> None:
    env.case_dir("flat_numbered_ogg")
    job = await env.job("flat_numbered_ogg")
    first, second = await asyncio.gather(env.run(job), env.run(job), return_exceptions=True)
    assert isinstance(first, ImportOutcome) and first == second
    assert len(first.imported) == 12
    assert_library_sound(env.media.root, first)


async def test_a_journal_left_mid_move_is_resumed(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """An import that dies after some renames (here: an error on the 4th) finishes on the
    next call with the same key: nothing is re-planned, nothing moved twice."""
    source = env.case_dir("flat_numbered_ogg")
    job = await env.job("flat_numbered_ogg")
    real = placement.rename_into_place
    calls = 0

    def failing(src: Path, dst: Path, *, root: Path, dirty: set[Path] | None = None) -> placement.Identity | None:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise OSError(5, "Input/output error")
        return real(src, dst, root=root, dirty=dirty)

    monkeypatch.setattr(placement, "rename_into_place", failing)
    with pytest.raises(Exception, match="Input/output error"):
        await env.run(job)
    assert len(list(source.iterdir())) == 9
    assert all(t.availability is not Availability.AVAILABLE for t in (await env.tracks()).values())

    monkeypatch.setattr(placement, "rename_into_place", real)
    outcome = await env.run(job)
    assert len(outcome.imported) == 12
    assert_library_sound(env.media.root, outcome)
    async with env.bridge_db.execute("SELECT state, COUNT(*) FROM import_moves GROUP BY state") as cur:
        assert [tuple(r) for r in await cur.fetchall()] == [("placed", 12)]


async def test_a_rename_done_before_a_crash_is_recognised(env: Env) -> None:
    """Crash right after os.replace, before the journal noted it: the inode proves it."""
    source = env.case_dir("numbers_only_no_tags")
    job = await env.job("numbers_only_no_tags", key="sub-crash")
    from torrentino_bridge.importing import importer, journal

    async with importer.journal_connection(env.bridge_db) as conn:
        row = await importer._plan_and_record(conn, job, env.catalog, env.media, importer.log)
        moves = await journal.get_moves(conn, row.key)
    first = moves[0]
    Path(first.dst).parent.mkdir(parents=True)
    os.replace(first.src, first.dst)                      # the move happened, unrecorded
    stale = Path(moves[1].tmp)                            # and a stale temp from a copy
    stale.write_bytes(b"half a file")
    outcome = await env.run(job)
    assert len(outcome.imported) == 12
    assert not stale.exists()
    assert_library_sound(env.media.root, outcome)
    assert not source.exists()


@pytest.fixture
async def shm_env(tmp_path: Path) -> AsyncIterator[Env]:
    async with env_on_other_fs(tmp_path) as made:
        yield made


async def test_across_filesystems_files_are_copied_then_renamed(shm_env: Env) -> None:
    source = shm_env.case_dir("tags_only_flac")
    outcome = await shm_env.run(await shm_env.job("tags_only_flac"))
    assert len(outcome.imported) == 12
    assert_library_sound(shm_env.media.root, outcome)
    assert not source.exists()
    async with shm_env.bridge_db.execute("SELECT COUNT(*) FROM import_moves WHERE tmp_ino IS NOT NULL") as cur:
        assert (await cur.fetchone())[0] == 12  # type: ignore[index]


async def test_a_finished_copy_waiting_for_its_rename_is_committed(shm_env: Env) -> None:
    shm_env.case_dir("tags_only_flac")
    job = await shm_env.job("tags_only_flac", key="sub-copy")
    from torrentino_bridge.importing import importer, journal

    async with importer.journal_connection(shm_env.bridge_db) as conn:
        row = await importer._plan_and_record(conn, job, shm_env.catalog, shm_env.media, importer.log)
        move = (await journal.get_moves(conn, row.key))[0]
        copy = placement.copy_to_temp(Path(move.src), Path(move.tmp), root=shm_env.media.root)
        await journal.set_move(conn, row.key, move.track_id, "copied", tmp_ino=copy.ino)
    outcome = await shm_env.run(job)
    assert len(outcome.imported) == 12
    assert os.lstat(shm_env.media.root / outcome.imported[move.track_id]).st_ino == copy.ino
    assert_library_sound(shm_env.media.root, outcome)


def _album(spec_id: str) -> AlbumMeta:
    spec = ALBUMS[spec_id]
    return AlbumMeta(spec.id, spec.name, spec.artist, spec.year)


async def test_an_empty_request_touches_nothing(env: Env) -> None:
    job = ImportJob(key="empty", album=_album(SINGLE.id), tracks=[], source_dir=env.base / "nowhere")
    assert await env.run(job) == ImportOutcome({}, {}, "")


async def test_forget_import_drops_the_journal_and_its_temp_files(env: Env) -> None:
    env.case_dir("flat_numbered_ogg")
    job = await env.job("flat_numbered_ogg", key="sub-forget")
    from torrentino_bridge.importing import forget_import, importer, journal

    async with importer.journal_connection(env.bridge_db) as conn:
        row = await importer._plan_and_record(conn, job, env.catalog, env.media, importer.log)
        tmp = Path((await journal.get_moves(conn, row.key))[0].tmp)
    tmp.parent.mkdir(parents=True)
    tmp.write_bytes(b"half a copy")
    assert not await forget_import(env.bridge_db, "sub-forget", only_done=True)   # unfinished: kept
    assert await forget_import(env.bridge_db, "sub-forget")
    assert not tmp.exists()
    async with env.bridge_db.execute("SELECT COUNT(*) FROM import_moves") as cur:
        assert (await cur.fetchone())[0] == 0  # type: ignore[index]
    outcome = await env.run(job)                   # plans afresh under the same key
    assert len(outcome.imported) == 12


async def test_a_conversion_killed_half_way_is_redone_and_never_shows_in_the_library(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pezzottify layout, FLAC sources: the first run dies in the middle of a conversion
    (a partial Ogg left in its hidden temporary file, as a SIGKILL leaves it); the library
    never shows a partial file, and the next run with the same key converts it again and
    finishes: every placed file Ogg Vorbis at the server's path."""
    import soundfile

    from tests.pezzottify import shard_uri
    from torrentino_bridge.importing import transcode

    async with make_env(tmp_path, "pezzottify") as env:
        media = env.media.for_layout("pezzottify", 320)
        source = env.case_dir("tags_only_flac")
        job = await env.job("tags_only_flac", source=source)
        real = transcode.convert_to_temp
        calls = []

        def dies_half_way(src: Path, tmp: Path, **kwargs: Any) -> Any:
            calls.append(src)
            if len(calls) == 3:
                real(src, tmp, **kwargs)
                tmp.write_bytes(tmp.read_bytes()[: tmp.stat().st_size // 2])
                raise SystemExit("killed")        # not an error the importer handles
            return real(src, tmp, **kwargs)

        monkeypatch.setattr(transcode, "convert_to_temp", dies_half_way)
        with pytest.raises(SystemExit):
            await env.run(job, media)
        partial = [p for p in library(env.media.root) if p.split("/")[-1].startswith(".tb-import-")]
        assert len(partial) == 1
        placed = [p for p in library(env.media.root) if p.endswith(".ogg") and (env.media.root / p).is_file()]
        assert len(placed) == 2       # the two converted before the death, whole; never the third
        for uri in placed:
            assert soundfile.info(str(env.media.root / uri)).subtype == "VORBIS"

        monkeypatch.setattr(transcode, "convert_to_temp", real)
        outcome = await env.run(job, media)
        assert not outcome.failed
        assert outcome.imported == {t.id: shard_uri(t.id) for t in job.tracks}
        assert_library_sound(env.media.root, outcome)
        for uri in outcome.imported.values():
            info = soundfile.info(str(env.media.root / uri))
            assert (info.format, info.subtype) == ("OGG", "VORBIS")
def _frames(path: Path) -> int:
    import soundfile

    return int(soundfile.info(str(path)).frames)


async def test_a_cue_image_is_cut_and_its_tracks_placed_whole(env: Env) -> None:
    """Single FLAC + CUE: every track placed at its sheet length, the image set aside, the
    ticket's directory (image, sheet and cut directory alike) removed once all is in."""
    source = env.case_dir("cue_single_flac")
    outcome = await env.run(await env.job("cue_single_flac"))
    assert outcome.failed == {} and len(outcome.imported) == 12
    assert outcome.imported["nd-103"] == "nd/1-03.flac"
    assert_library_sound(env.media.root, outcome)
    # Sheet lengths: catalog seconds + 0.2 s, whole CD frames at 44.1 kHz.
    seconds = {f"nd-1{n:02d}": s for _, n, _, s, _ in SINGLE.tracks}
    for track_id, uri in outcome.imported.items():
        assert _frames(env.media.root / uri) == round((seconds[track_id] + 0.2) * 75) * 588
    assert not source.exists()


async def test_a_cue_import_killed_after_planning_resumes_with_the_same_cuts(env: Env) -> None:
    """The plan journals moves of cut files: they exist, whole, before it is recorded, and
    the resumed import moves exactly those (no second cut)."""
    env.case_dir("cue_two_discs")
    job = await env.job("cue_two_discs", key="sub-cue")
    from torrentino_bridge.importing import importer, journal

    async with importer.journal_connection(env.bridge_db) as conn:
        row = await importer._plan_and_record(conn, job, env.catalog, env.media, importer.log)
        moves = await journal.get_moves(conn, row.key)
    assert len(moves) == 11 and all("/.tb-split/" in m.src for m in moves)
    inodes = {m.track_id: os.lstat(m.src).st_ino for m in moves}
    outcome = await env.run(job)
    assert len(outcome.imported) == 11
    for track_id, uri in outcome.imported.items():
        assert os.lstat(env.media.root / uri).st_ino == inodes[track_id]
    assert_library_sound(env.media.root, outcome)


async def test_a_cue_sheet_overrunning_its_image_places_nothing(env: Env) -> None:
    source = env.case_dir("cue_overrun")
    outcome = await env.run(await env.job("cue_overrun"))
    assert outcome.imported == {}
    assert set(outcome.failed) == {f"nd-1{n:02d}" for n in range(1, 13)}
    assert all("past the end of the image" in r for r in outcome.failed.values())
    assert outcome.summary.startswith("0 of 12 tracks imported; corrupt: 1 Neon Lights")
    assert library(env.media.root) == {}
    assert (source / "Night Drive.flac").exists()
