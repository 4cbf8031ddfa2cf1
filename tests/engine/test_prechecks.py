"""PlacementPrechecks: the files of a live submission's ticket are checked while QT places
them, into the FileChecks the import then reads (real files, real bridge database)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import build_catalog
from tests.engine.test_flow import OK, TWO, assert_audio, catalog_rows, insert, until_status
from tests.importing.layouts import CASES_BY_NAME, SINGLE
from tests.importing.test_import import Env, assert_library_sound, make_env
from torrentino_bridge.domain.status import SubmissionState
from torrentino_bridge.engine.prechecks import PlacementPrechecks
from torrentino_bridge.importing import ImportJob, ImportOutcome, importer
from torrentino_bridge.importing.batch import import_batch
from torrentino_bridge.importing.checks import FileChecks
from torrentino_bridge.store.bridge import BridgeStore, NewSubmission, SubmissionRow
from torrentino_bridge.tasks import TaskSupervisor

CASE = "flat_numbered_ogg"
TICKET = "T-placing"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with make_env(tmp_path, "plan") as made:
        yield made


def prechecks_for(env: Env, checks: FileChecks, tasks: TaskSupervisor) -> PlacementPrechecks:
    """PlacementPrechecks over the env's bridge database and catalog. Its jobs are built the
    way the tracker builds them: the submission's tracks as the catalog has them now."""
    store = BridgeStore(env.bridge_db)          # shares the env's connection: closed by env

    async def jobs_for(subs: list[SubmissionRow]) -> tuple[list[ImportJob], dict[str, object]]:
        jobs = []
        for sub in subs:
            wanted = {t.track_id for t in await store.submission_tracks(sub.id) if t.active}
            album = await env.catalog.get_album(sub.album_id)
            assert album is not None
            tracks = [t for t in await env.catalog.get_album_tracks(sub.album_id) if t.id in wanted]
            jobs.append(ImportJob(key=sub.id, album=album, tracks=tracks, source_dir=Path(sub.local_dir)))
        return jobs, {}

    return PlacementPrechecks(store, env.catalog, env.media, checks, tasks, jobs_for, min_interval_secs=0)


async def live_submission(store: BridgeStore, local_dir: Path, *, ticket: str = TICKET,
                          sub_id: str = "sub-placing", tracks: list[str] | None = None) -> None:
    """A submission QT accepted (ticket `ticket`), whose files go to local_dir."""
    await store.add_submission(NewSubmission(
        id=sub_id, album_id=SINGLE.id, dest_path=f"/qt/incoming/{local_dir.name}", local_dir=str(local_dir),
        body="{}", priority=0, track_ids=tuple(tracks or CASES_BY_NAME[CASE].track_ids()),
    ))
    await store.mark_submitted(sub_id, ticket, "placing")


async def prechecked(prechecks: PlacementPrechecks, tasks: TaskSupervisor, ticket: str = TICKET) -> None:
    prechecks.note(ticket)
    await tasks.drain("precheck:", timeout=60)
    assert not tasks.failures


async def test_files_checked_while_placed_are_found_by_the_import(env: Env, tasks: TaskSupervisor) -> None:
    whole = env.case_dir(CASE)                  # the torrent's files, QT's side
    source = env.media.incoming / "ticket-dir"
    source.mkdir()
    checks = FileChecks()
    prechecks = prechecks_for(env, checks, tasks)
    await live_submission(prechecks.store, source)

    await prechecked(prechecks, tasks)          # 'placing', nothing placed yet
    assert len(checks) == 0
    files = sorted(whole.iterdir())
    for path in files[:6]:                      # QT placed half of them
        shutil.copyfile(path, source / path.name)
    await prechecked(prechecks, tasks)
    assert (len(checks), checks.hits, checks.misses) == (6, 0, 6)
    for path in files[6:]:                      # ... and the rest
        shutil.copyfile(path, source / path.name)
    await prechecked(prechecks, tasks)
    assert (len(checks), checks.hits, checks.misses) == (12, 6, 12)

    job = await env.job(CASE, key="sub-placing", source=source)
    results = await import_batch([job], bridge_db=env.bridge_db, catalog=env.catalog, media=env.media,
                                 checks=checks)
    outcome = results["sub-placing"]
    assert isinstance(outcome, ImportOutcome) and len(outcome.imported) == 12, outcome
    assert (checks.hits, checks.misses) == (18, 12)     # every file found, none read again
    assert_library_sound(env.media.root, outcome)
    assert not source.exists()


async def test_notes_while_a_check_runs_are_folded_into_one_more_run(env: Env, tasks: TaskSupervisor) -> None:
    source = env.case_dir(CASE)
    checks = FileChecks()
    prechecks = prechecks_for(env, checks, tasks)
    await live_submission(prechecks.store, source)
    for _ in range(5):                          # five progress events in a row
        prechecks.note(TICKET)
    await tasks.drain("precheck:", timeout=60)
    assert not tasks.failures
    # One run; the notes that came meanwhile find the directory as it was: no second plan.
    assert (checks.hits, checks.misses) == (0, 12)
    assert not prechecks._running and not prechecks._again


async def test_a_note_after_more_files_arrive_plans_again(env: Env, tasks: TaskSupervisor) -> None:
    """QT placed half the files, then the rest: the second note plans the directory again
    (the first plan no longer fits it), and each file is read once."""
    source = env.case_dir(CASE)
    held = sorted(source.iterdir())[6:]
    aside = env.base / "aside"
    aside.mkdir()
    for path in held:
        path.rename(aside / path.name)
    checks = FileChecks()
    prechecks = prechecks_for(env, checks, tasks)
    await live_submission(prechecks.store, source)
    prechecks.note(TICKET)
    await tasks.drain("precheck:", timeout=60)
    for path in held:
        (aside / path.name).rename(source / path.name)
    prechecks.note(TICKET)
    await tasks.drain("precheck:", timeout=60)
    assert not tasks.failures
    assert checks.misses == 12                  # every file read exactly once
    assert len(checks.plans) == 2               # half a directory, then the whole one


async def test_tickets_that_are_not_live_or_not_ours_or_not_there_are_skipped(
    env: Env, tasks: TaskSupervisor
) -> None:
    checks = FileChecks()
    prechecks = prechecks_for(env, checks, tasks)
    store = prechecks.store

    done = env.case_dir(CASE)
    await prechecked(prechecks, tasks, "T-unknown")            # another consumer's ticket
    await live_submission(store, done, ticket="T-done", sub_id="sub-done", tracks=["nd-101"])
    await store.update_submission("sub-done", state=SubmissionState.COMPLETED)
    await prechecked(prechecks, tasks, "T-done")               # finished: nothing to prepare
    await live_submission(store, env.media.incoming / "not-yet", ticket="T-early", sub_id="sub-early",
                          tracks=["nd-102"])
    await prechecked(prechecks, tasks, "T-early")              # directory not made yet
    outside = shutil.copytree(done, env.base / "outside-ticket")
    await live_submission(store, outside, ticket="T-out", sub_id="sub-out", tracks=["nd-103"])
    await prechecked(prechecks, tasks, "T-out")                # not under incoming: never read
    assert (len(checks), checks.hits, checks.misses) == (0, 0, 0)


async def test_the_running_service_imports_completions_through_its_file_checks(
    tmp_path: Path, sim: Any, settings_for: Any, running_bridge: Any
) -> None:
    """End to end (simulator, daemon): two albums complete; both import through the batch
    path with the daemon's one FileChecks (the one its placing prechecks fill)."""
    catalog = build_catalog(tmp_path / "catalog.db", [OK, TWO])
    settings = settings_for(catalog, sim.base_url)
    service = await running_bridge(settings)
    await insert(settings, "r1", album_id="alb-ok")
    await insert(settings, "r2", album_id="alb-two")
    for request in ("r1", "r2"):
        assert await until_status(service, request, "completed", "failed") == ("completed", None)

    rows = catalog_rows(catalog, "plan")
    assert {v[0] for v in rows.values()} == {"available"} and len(rows) == 5
    for spec in (OK, TWO):
        for disc, number, title, *_ in spec.tracks:
            assert_audio(settings, rows[spec.track_id(disc, number)][1], title)
    checks = service.tracker.checks
    assert checks is not None and checks.hits + checks.misses >= 5
    assert service.tracker.imports.batches >= 1
    async with importer.journal_connection(service.store.conn) as conn:
        jobs = await conn.execute_fetchall("SELECT state, cleaned_at IS NOT NULL FROM import_jobs")
    assert [tuple(r) for r in jobs] == [("done", 1), ("done", 1)]
