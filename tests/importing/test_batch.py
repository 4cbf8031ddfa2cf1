"""import_batch on real files, real SQLite catalogs (both layouts) and a real bridge
database: many jobs at once, jobs that fail alone, jobs that take the one-job path (a held
directory, a journal to resume, a key given twice), a catalog locked past every retry,
and SIGKILL at the batch's steps in a real subprocess (tests/importing/crash_child.py)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import aiosqlite
import pytest

from tests.conftest import build_catalog, wait_for
from torrentino_bridge.domain.models import Availability
from torrentino_bridge.importing import ImportJob, ImportOutcome, importer, journal
from torrentino_bridge.importing.batch import Result, import_batch
from torrentino_bridge.importing.checks import FileChecks
from torrentino_bridge.importing.errors import ImportSourceError
from torrentino_bridge.store.catalog import Catalog, open_catalog
from torrentino_bridge.store.db import is_busy

from .layouts import ALBUMS, CASES_BY_NAME, build_case
from .test_crash import OLD_CONTENT, OLD_FILE, assert_whole_files, drive_child, valid_audio
from .test_import import Env, env_on_other_fs, library, make_env

FIRST_HALF = [f"nd-1{n:02d}" for n in range(1, 7)]
SECOND_HALF = [f"nd-1{n:02d}" for n in range(7, 13)]


@pytest.fixture(params=["plan", "pezzottify"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    async with make_env(tmp_path, request.param) as made:
        yield made


async def run(env: Env, jobs: list[ImportJob], *, catalog: Catalog | None = None,
              checks: FileChecks | None = None) -> dict[str, Result]:
    return await import_batch(jobs, bridge_db=env.bridge_db, catalog=catalog or env.catalog, media=env.media,
                              checks=checks)


async def four_jobs(env: Env) -> list[ImportJob]:
    """Two torrents of one album (each half of it), a double album in CD folders and a
    vinyl rip: four directories, three albums."""
    env.case_dir("flat_numbered_ogg")
    env.case_dir("tags_only_flac")
    env.case_dir("multi_disc_cd_folders")
    env.case_dir("vinyl_sides")
    return [
        await env.job("flat_numbered_ogg", key="sub-a", tracks=FIRST_HALF),
        await env.job("tags_only_flac", key="sub-b", tracks=SECOND_HALF),
        await env.job("multi_disc_cd_folders", key="sub-c"),
        await env.job("vinyl_sides", key="sub-d"),
    ]


def source_inodes(jobs: list[ImportJob]) -> dict[int, str]:
    """inode -> file, for every file of the jobs' directories (before they move)."""
    return {os.lstat(p).st_ino: str(p) for job in jobs for p in job.source_dir.rglob("*") if p.is_file()}


async def available(env: Env) -> dict[str, str | None]:
    """track id -> audio_uri of every available track of the catalog."""
    found = {}
    for album_id in ALBUMS:
        for track in await env.catalog.get_album_tracks(album_id):
            if track.availability is Availability.AVAILABLE:
                found[track.id] = track.audio_uri
    return found


async def journal_rows(db: aiosqlite.Connection) -> tuple[dict[str, str], dict[str, int]]:
    """(job key -> state, move state -> count)."""
    jobs = {r[0]: r[1] for r in await db.execute_fetchall("SELECT key, state FROM import_jobs")}
    moves = {r[0]: r[1] for r in await db.execute_fetchall(
        "SELECT state, COUNT(*) FROM import_moves GROUP BY state")}
    return jobs, moves


def assert_library_holds_exactly(root: Path, uris: set[str]) -> None:
    entries = library(root)
    assert not [e for e in entries if any(p.startswith(".") for p in e.split("/"))], entries
    assert {e for e in entries if (root / e).is_file()} == uris
    for uri in uris:
        assert valid_audio(root / uri), uri


def outcomes(results: dict[str, Result]) -> dict[str, ImportOutcome]:
    bad = {k: r for k, r in results.items() if not isinstance(r, ImportOutcome)}
    assert not bad, bad
    return {k: r for k, r in results.items() if isinstance(r, ImportOutcome)}


async def test_several_jobs_import_together(env: Env) -> None:
    jobs = await four_jobs(env)
    inodes = source_inodes(jobs)
    checks = FileChecks()
    done = outcomes(await run(env, jobs, checks=checks))

    assert set(done) == {"sub-a", "sub-b", "sub-c", "sub-d"}
    assert all(o.failed == {} and o.summary == "" for o in done.values())
    assert done["sub-a"].imported == {t: f"nd/1-{t[-2:]}.ogg" for t in FIRST_HALF}
    assert done["sub-b"].imported == {t: f"nd/1-{t[-2:]}.flac" for t in SECOND_HALF}
    assert len(done["sub-c"].imported) == 11 and len(done["sub-d"].imported) == 8
    every = {t: uri for o in done.values() for t, uri in o.imported.items()}
    assert await available(env) == every              # each requested track, nothing else
    assert_library_holds_exactly(env.media.root, set(every.values()))
    # Renamed, not copied: every file in the library is one of the downloaded files.
    placed = {os.lstat(env.media.root / uri).st_ino for uri in every.values()}
    assert len(placed) == 31 and placed <= set(inodes)
    assert not any(job.source_dir.exists() for job in jobs)
    assert await journal_rows(env.bridge_db) == ({j.key: "done" for j in jobs}, {"placed": 31})
    assert checks.misses == len(inodes)               # the batch filled the checks as it went

    before = library(env.media.root)
    again = outcomes(await run(env, jobs))            # a rerun answers from the journal
    assert again == done
    assert library(env.media.root) == before


async def test_a_key_given_twice_is_imported_once(env: Env) -> None:
    env.case_dir("vinyl_sides")
    job = await env.job("vinyl_sides", key="sub-twice")
    inodes = source_inodes([job])
    results = await run(env, [job, job])
    assert list(results) == ["sub-twice"]
    outcome = outcomes(results)["sub-twice"]
    assert len(outcome.imported) == 8
    assert_library_holds_exactly(env.media.root, set(outcome.imported.values()))
    assert {os.lstat(env.media.root / u).st_ino for u in outcome.imported.values()} <= set(inodes)
    assert await journal_rows(env.bridge_db) == ({"sub-twice": "done"}, {"placed": 8})


async def test_a_job_with_a_bad_source_fails_alone(env: Env) -> None:
    outside = env.base / "outside-dir"
    build_case(CASES_BY_NAME["flat_numbered_ogg"], outside, env.base / "outside")
    env.case_dir("multi_disc_cd_folders")
    env.case_dir("vinyl_sides")
    jobs = [
        await env.job("multi_disc_cd_folders", key="sub-good-1"),
        await env.job("flat_numbered_ogg", key="sub-outside", source=outside),
        await env.job("flat_numbered_ogg", key="sub-gone", source=env.media.incoming / "never-placed"),
        await env.job("flat_numbered_ogg", key="sub-incoming", source=env.media.incoming),
        await env.job("vinyl_sides", key="sub-good-2"),
    ]
    results = await run(env, jobs)

    for key, message in [("sub-outside", "is not a directory inside media.incoming"),
                         ("sub-incoming", "is not a directory inside media.incoming"),
                         ("sub-gone", "never-placed does not exist")]:
        assert isinstance(results[key], ImportSourceError), results[key]
        assert message in str(results[key])
    good = {k: r for k, r in results.items() if k.startswith("sub-good")}
    assert [len(o.imported) for o in outcomes(good).values()] == [11, 8]
    assert len(await available(env)) == 19
    assert (await journal_rows(env.bridge_db))[0] == {"sub-good-1": "done", "sub-good-2": "done"}
    assert len(list(outside.iterdir())) == 12          # untouched


@contextmanager
def flock_held_by_another_process(directory: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Another process holding the directory's flock (as a running import does) until the
    block ends or `release` is called."""
    code = ("import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "sys.stdin.readline()\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(directory)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline() == b"held\n"
        yield holder
    finally:
        release(holder)


def release(holder: subprocess.Popen[bytes]) -> None:
    if holder.poll() is None:
        assert holder.stdin is not None
        holder.stdin.write(b"\n")
        holder.stdin.close()
        holder.wait(timeout=10)
    if holder.stdout is not None:
        holder.stdout.close()


async def test_a_directory_held_by_another_import_waits_for_it(env: Env) -> None:
    jobs = await four_jobs(env)
    held = jobs[2]
    files_before = sorted(p.name for p in held.source_dir.rglob("*"))

    async def others_finished() -> bool:
        rows = await env.bridge_db.execute_fetchall(
            "SELECT COUNT(*) FROM import_jobs WHERE cleaned_at IS NOT NULL AND key != ?", (held.key,))
        return rows[0][0] == 3

    with flock_held_by_another_process(held.source_dir) as holder:
        task = asyncio.create_task(run(env, jobs))
        await wait_for(others_finished, what="the free jobs to finish while one directory is held")
        assert not task.done()
        assert sorted(p.name for p in held.source_dir.rglob("*")) == files_before
        assert held.key not in (await journal_rows(env.bridge_db))[0]
        assert not any(t.startswith("dd-") for t in await available(env))
        release(holder)
        done = outcomes(await asyncio.wait_for(task, 60))

    assert len(done[held.key].imported) == 11 and done[held.key].failed == {}
    every = {t: uri for o in done.values() for t, uri in o.imported.items()}
    assert await available(env) == every
    assert_library_holds_exactly(env.media.root, set(every.values()))
    assert not held.source_dir.exists()
    assert await journal_rows(env.bridge_db) == ({j.key: "done" for j in jobs}, {"placed": 31})


async def test_an_unfinished_journal_is_resumed_not_planned_again(env: Env) -> None:
    """A run that journalled its plan and renamed one file died. The batch resumes that
    journal: the renamed file is recognised (not moved again) and the plan stands even
    though the directory changed since (a re-plan would take the renamed source)."""
    source = env.case_dir("flat_numbered_ogg")
    env.case_dir("vinyl_sides")
    resumed = await env.job("flat_numbered_ogg", key="sub-resume")
    fresh = await env.job("vinyl_sides", key="sub-fresh")
    async with importer.journal_connection(env.bridge_db) as conn:
        row = await importer._plan_and_record(conn, resumed, env.catalog, env.media, importer.log)
        moves = await journal.get_moves(conn, row.key)
    first, fifth = moves[0], moves[4]
    first_inode = os.lstat(first.src).st_ino
    Path(first.dst).parent.mkdir(parents=True)
    os.replace(first.src, first.dst)                           # renamed, never journalled
    os.replace(fifth.src, source / "zz - renamed by hand.ogg")  # after the plan

    done = outcomes(await run(env, [resumed, fresh]))
    outcome = done["sub-resume"]
    assert outcome.failed == {fifth.track_id: "missing: the file vanished before import"}
    assert len(outcome.imported) == 11 and len(done["sub-fresh"].imported) == 8
    assert os.lstat(env.media.root / outcome.imported[first.track_id]).st_ino == first_inode
    every = {t: uri for o in done.values() for t, uri in o.imported.items()}
    assert_library_holds_exactly(env.media.root, set(every.values()))
    async with importer.journal_connection(env.bridge_db) as conn:
        assert (await journal.get_job(conn, "sub-resume")).report == row.report  # type: ignore[union-attr]
        assert [m.src for m in await journal.get_moves(conn, "sub-resume")] == [m.src for m in moves]
    assert (source / "zz - renamed by hand.ogg").exists()      # failed track: the directory stays


async def test_a_job_whose_destination_is_unsafe_fails_alone(env: Env) -> None:
    """A symlink planted in the library where one album's folder goes: that job's moves
    are refused (nothing leaves the library), the other jobs of the batch import."""
    jobs = await four_jobs(env)
    elsewhere = env.base / "elsewhere"
    elsewhere.mkdir()
    (env.media.root / "dd").symlink_to(elsewhere)
    results = await run(env, jobs)

    assert "resolves outside the media root" in str(results["sub-c"])
    assert list(elsewhere.iterdir()) == []
    assert len(list(jobs[2].source_dir.rglob("*.flac"))) == 11          # nothing moved
    done = outcomes({k: r for k, r in results.items() if k != "sub-c"})
    every = {t: uri for o in done.values() for t, uri in o.imported.items()}
    assert len(every) == 20
    assert await available(env) == every
    assert (await journal_rows(env.bridge_db))[0] == {"sub-a": "done", "sub-b": "done", "sub-c": "moving",
                                                      "sub-d": "done"}

    (env.media.root / "dd").unlink()                  # repaired: the journalled plan finishes
    again = outcomes(await run(env, jobs))
    assert len(again["sub-c"].imported) == 11 and again["sub-c"].failed == {}
    every.update(again["sub-c"].imported)
    assert await available(env) == every
    assert_library_holds_exactly(env.media.root, set(every.values()))


@pytest.fixture
async def shm_env(tmp_path: Path) -> AsyncIterator[Env]:
    async with env_on_other_fs(tmp_path) as made:
        yield made


async def test_across_filesystems_the_batch_copies_then_renames(shm_env: Env) -> None:
    jobs = await four_jobs(shm_env)
    done = outcomes(await run(shm_env, jobs))
    every = {t: uri for o in done.values() for t, uri in o.imported.items()}
    assert len(every) == 31
    assert await available(shm_env) == every
    assert_library_holds_exactly(shm_env.media.root, set(every.values()))
    assert not any(job.source_dir.exists() for job in jobs)
    rows = await shm_env.bridge_db.execute_fetchall(
        "SELECT COUNT(*) FROM import_moves WHERE state = 'placed' AND tmp_ino = dst_ino")
    assert rows[0][0] == 31                      # each one a journalled copy, renamed into place


CATALOG_HOLDER = (
    "import sqlite3, sys\n"
    "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "conn.execute('BEGIN IMMEDIATE')\n"
    "print('held', flush=True)\n"
    "sys.stdin.readline()\n"
    "conn.execute('ROLLBACK')\n"
)


async def test_a_catalog_locked_past_every_retry_fails_the_batch_then_resumes(env: Env) -> None:
    jobs = await four_jobs(env)
    impatient = await open_catalog(env.catalog_path, layout=env.layout, busy_timeout_ms=50, write_retries=2)
    holder = subprocess.Popen([sys.executable, "-c", CATALOG_HOLDER, str(env.catalog_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        results = await run(env, jobs, catalog=impatient)
    finally:
        release(holder)
        await impatient.close()

    assert set(results) == {j.key for j in jobs}
    for key, result in results.items():
        assert isinstance(result, sqlite3.OperationalError) and is_busy(result), (key, result)
    assert await available(env) == {}
    assert (await journal_rows(env.bridge_db))[0] == {j.key: "moving" for j in jobs}
    placed_first = library(env.media.root)                      # the renames happened
    assert len([e for e in placed_first if (env.media.root / e).is_file()]) == 31

    done = outcomes(await run(env, jobs))
    every = {t: uri for o in done.values() for t, uri in o.imported.items()}
    assert len(every) == 31
    assert await available(env) == every
    assert library(env.media.root) == placed_first              # nothing moved twice
    assert_library_holds_exactly(env.media.root, set(every.values()))
    assert not any(job.source_dir.exists() for job in jobs)
    assert await journal_rows(env.bridge_db) == ({j.key: "done" for j in jobs}, {"placed": 31})


# --------------------------------------------------------------------------- SIGKILL
CRASH_JOBS = [  # key, case, album
    ("sub-nd", "tags_only_flac", "nd"),
    ("sub-dd", "multi_disc_cd_folders", "dd"),
    ("sub-vy", "vinyl_sides", "vy"),
]


def crash_setup(base: Path, layout: str) -> tuple[Path, Path, dict[int, str]]:
    """Catalog, three ticket directories, an old file in the library; the spec file for
    crash_child's batch mode and the downloaded files' inodes."""
    root, incoming = base / "media", base / "incoming"
    catalog = build_catalog(base / "catalog.db", list(ALBUMS.values()), layout=layout)
    jobs = []
    for key, case, album_id in CRASH_JOBS:
        build_case(CASES_BY_NAME[case], incoming / case, base / "outside")
        jobs.append({"key": key, "album": album_id, "dir": str(incoming / case),
                     "tracks": CASES_BY_NAME[case].track_ids()})
    (root / "nd").mkdir(parents=True)
    (root / OLD_FILE).write_bytes(OLD_CONTENT)
    spec = base / "batch.json"
    spec.write_text(json.dumps({"catalog": str(catalog), "layout": layout, "bridge_db": str(base / "bridge.db"),
                                "root": str(root), "incoming": str(incoming), "jobs": jobs}), encoding="utf-8")
    inodes = {os.lstat(p).st_ino: str(p) for p in incoming.rglob("*") if p.is_file()}
    return spec, catalog, inodes


def catalog_available(catalog: Path, layout: str) -> dict[str, str | None]:
    with closing(sqlite3.connect(catalog)) as conn:
        if layout == "plan":
            rows = conn.execute("SELECT id, audio_uri FROM tracks WHERE availability = 'available'").fetchall()
        else:
            rows = conn.execute("SELECT id, audio_uri FROM tracks WHERE track_available = 1").fetchall()
    return dict(rows)


def check_any_moment(root: Path, catalog: Path, layout: str) -> None:
    """What must hold whenever the process dies (every album's tracks)."""
    assert_whole_files(root, catalog_available(catalog, layout))


def killed_state(base: Path, root: Path, catalog: Path, layout: str) -> tuple[str, str, int, int, bool]:
    """(job states, move states, files in the library, tracks available, directories left)."""
    with closing(sqlite3.connect(base / "bridge.db")) as conn:
        jobs = ",".join(sorted({r[0] for r in conn.execute("SELECT state FROM import_jobs")}))
        moves = ",".join(f"{state}:{n}" for state, n in conn.execute(
            "SELECT state, COUNT(*) FROM import_moves GROUP BY state ORDER BY state"))
    files = sum(1 for p in root.rglob("*") if p.is_file() and p.read_bytes() != OLD_CONTENT)
    left = all((base / "incoming" / case).exists() for _, case, _ in CRASH_JOBS)
    return jobs, moves, files, len(catalog_available(catalog, layout)), left


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("step", "occurrence", "layout", "state"), [
    # plans journalled, nothing moved
    ("batch-planned", 1, "plan", ("moving", "planned:31", 0, 0, True)),
    # amid the renames (the 14th of 31), none journalled yet
    ("renamed", 14, "pezzottify", ("moving", "planned:31", 14, 0, True)),
    # every rename done and fsynced, none journalled
    ("batch-placed", 1, "plan", ("moving", "planned:31", 31, 0, True)),
    ("batch-placed", 1, "pezzottify", ("moving", "planned:31", 31, 0, True)),
    # the one catalog write done, the journal not yet done
    ("batch-catalog-applied", 1, "plan", ("moving", "placed:31", 31, 31, True)),
    # the journal done, the leftovers not yet removed
    ("batch-finished", 1, "pezzottify", ("done", "placed:31", 31, 31, True)),
])
def test_sigkill_in_a_batch_then_rerun(tmp_path: Path, step: str, occurrence: int, layout: str,
                                       state: tuple[str, str, int, int, bool]) -> None:
    spec, catalog, inodes = crash_setup(tmp_path, layout)
    root = tmp_path / "media"
    killed, _, _ = drive_child(["batch", str(spec)], tmp_path / "child.log", kill_at=(step, occurrence))
    assert killed, f"the batch never reached {step}"
    assert killed_state(tmp_path, root, catalog, layout) == state     # killed where meant
    check_any_moment(root, catalog, layout)

    killed, code, printed = drive_child(["batch", str(spec)], tmp_path / "child.log")
    assert not killed and code == 0, "\n".join(printed) + (tmp_path / "child.log").read_text(errors="replace")
    results = {line.split(" ", 2)[1]: json.loads(line.split(" ", 2)[2]) for line in printed}
    assert set(results) == {key for key, _, _ in CRASH_JOBS}
    assert all(r["failed"] == {} for r in results.values()), results
    every = {t: uri for r in results.values() for t, uri in r["imported"].items()}
    assert len(every) == 31
    assert catalog_available(catalog, layout) == every
    check_any_moment(root, catalog, layout)
    assert_library_holds_exactly(root, set(every.values()))        # no temp, no duplicate
    placed = {os.lstat(root / uri).st_ino for uri in every.values()}
    assert len(placed) == 31 and placed <= set(inodes)             # each downloaded file, moved once
    assert not any((tmp_path / "incoming" / case).exists() for _, case, _ in CRASH_JOBS)
    with closing(sqlite3.connect(tmp_path / "bridge.db")) as conn:
        assert conn.execute("SELECT COUNT(*), MIN(state), MAX(state) FROM import_jobs").fetchone() == (
            3, "done", "done")
        assert conn.execute("SELECT COUNT(*) FROM import_jobs WHERE cleaned_at IS NULL").fetchone() == (0,)
        assert conn.execute("SELECT state, COUNT(*) FROM import_moves GROUP BY state").fetchall() == [
            ("placed", 31)]


async def test_a_batch_with_cue_images_imports_their_cut_tracks(env: Env) -> None:
    """The daemon's path: images are cut while the batch plans (in its thread), each cut
    track placed whole, the image and sheet gone with the directory afterwards."""
    from torrentino_bridge.importing.checks import FileChecks

    for name in ("cue_two_discs", "cue_vinyl_sides"):
        env.case_dir(name)
    jobs = [await env.job("cue_two_discs", key="sub-cue-a"), await env.job("cue_vinyl_sides", key="sub-cue-b")]
    results = await import_batch(jobs, bridge_db=env.bridge_db, catalog=env.catalog, media=env.media,
                                 checks=FileChecks())
    assert all(isinstance(r, ImportOutcome) and not r.failed for r in results.values()), results
    assert len(results["sub-cue-a"].imported) == 11 and len(results["sub-cue-b"].imported) == 8  # type: ignore[union-attr]
    assert not (env.media.incoming / "cue_two_discs").exists()
    assert not (env.media.incoming / "cue_vinyl_sides").exists()
    placed = {p.suffix for p in env.media.root.rglob("*") if p.is_file()}
    assert placed == {".flac"}
