"""Catalog contention: another process holds the catalog's write lock in long
transactions (0.2-1.5 s, the first one 2.5 s) with short gaps (0.1-0.8 s), while the
bridge (a real subprocess) works through a batch of album requests and a reader
process takes snapshot after snapshot.

The bridge's catalog lock budget is set small (busy_timeout 150 ms, 3 attempts), so
many holds outlast it: the daemon must log the contention, wait it out, crash never,
lose no update (neither its own nor the holder's), and no reader may ever see an album
half imported or a track available before its file is in place.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import sys
from pathlib import Path

import pytest
import structlog

from tests.conftest import build_catalog, wait_for, write_config
from tests.faults.conftest import current_scale
from tests.faults.harness import (
    Daemon,
    Expect,
    bridge_ready,
    check_end_state,
    converged_or_died,
    insert_request,
    many_albums,
    query,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300 if current_scale().name == "ci" else 900)]

LIMITS = "\n[torrentino.rate_limits]\nrequests_per_user_per_day = 100000\nmax_pending_per_user = 100000\n"
TIGHT = {"TORRENTINO_BRIDGE_CATALOG__BUSY_TIMEOUT_MS": "150", "TORRENTINO_BRIDGE_CATALOG__WRITE_RETRIES": "3"}


async def actor(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.faults.catalog_actors", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=str(Path(__file__).resolve().parents[2]),
    )


async def finish(proc: asyncio.subprocess.Process) -> tuple[list[str], str]:
    assert proc.stdin is not None
    proc.stdin.close()
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return out.decode().splitlines(), err.decode()


@pytest.mark.parametrize("layout", ["plan", "pezzottify"])
async def test_catalog_write_lock_contention(tmp_path: Path, sim, seeded_rng: random.Random, layout: str) -> None:
    scale = current_scale()
    albums = many_albums(scale.contention_albums, tracks=2, seconds=1, prefix="con")
    catalog = build_catalog(tmp_path / "catalog.db", albums, layout=layout)
    conn = sqlite3.connect(catalog)
    with conn:   # the row the holder keeps rewriting (its own data, not the bridge's)
        extra = (", followers_total, popularity", ", 0, 0") if layout == "pezzottify" else ("", "")
        conn.execute(f"INSERT INTO artists (id, name{extra[0]}) VALUES ('art-holder', 'holder-0'{extra[1]})")
    conn.close()
    config = write_config(tmp_path, catalog, sim.base_url, extra=LIMITS)
    bridge_db = tmp_path / "bridge.db"
    daemon = Daemon(config, tmp_path / "daemon.log", env=TIGHT)
    expected = {f"r-{spec.id}": Expect("completed") for spec in albums}

    await daemon.start()
    await daemon.until_started()
    holder = await actor("holder", "--db", str(catalog), "--seed", str(seeded_rng.randrange(10**6)))
    reader = await actor("reader", "--db", str(catalog), "--media-root", str(tmp_path / "media"))
    try:
        await wait_for(_now(lambda: bridge_ready(bridge_db)), what="the bridge database")
        assert holder.stdout is not None
        assert (await asyncio.wait_for(holder.stdout.readline(), 30)).startswith(b"holding")
        for spec in albums:
            await asyncio.to_thread(insert_request, bridge_db, f"r-{spec.id}", "u1", album_id=spec.id)
            await asyncio.sleep(seeded_rng.uniform(0, 0.4))
            daemon.check_alive()
        await wait_for(_now(lambda: converged_or_died(bridge_db, daemon)), what="convergence under contention",
                       timeout=240 if scale.name == "ci" else 600, interval=0.5)
        daemon.check_alive()
    finally:
        holder_out, holder_err = await finish(holder)
        reader_out, reader_err = await finish(reader)
        if daemon.proc is not None and daemon.proc.returncode is None:
            assert await daemon.stop() == 0
        elif daemon.proc is not None:
            daemon.check_alive()

    assert holder.returncode == 0, holder_err
    assert reader.returncode == 0, reader_err
    assert not daemon.unexpected_exits, f"the daemon exited on its own: {daemon.unexpected_exits}"
    crashes = daemon.log_lines('"task.crashed"')
    assert not crashes, crashes[:3]
    # The holder's last committed write survived the bridge's writes.
    last = [line.split()[-1] for line in holder_out if line.startswith("committed ")]
    assert last, holder_out
    assert query(catalog, "SELECT name FROM artists WHERE id = 'art-holder'") == [(last[-1],)]
    # Readers never saw an import half applied, nor a track available before its file.
    violations = [line for line in reader_out if not line.startswith("snapshots ")]
    assert not violations, violations[:10]
    assert any(line.startswith("snapshots ") and int(line.split()[1]) > 10 for line in reader_out)
    # Contention was met and logged (once per episode), and the bridge's updates all landed.
    # Logged once per episode: every "locked" line has its "unlocked" (the last may still be open).
    locked, unlocked = daemon.log_lines('"catalog.locked"'), daemon.log_lines('"catalog.unlocked"')
    assert locked, "the contention was never logged"
    assert len(locked) - len(unlocked) in (0, 1), (len(locked), len(unlocked))
    problems = check_end_state(catalog=catalog, bridge_db=bridge_db, media_root=tmp_path / "media",
                               incoming=tmp_path / "incoming", qt_tickets=sim.tickets, expected=expected,
                               transient_in_catalog=layout == "plan")
    assert not problems, problems


def _now(check):
    async def run():
        return check()

    return run


async def test_import_locked_out_of_the_catalog_resumes_instead_of_failing(tmp_path: Path, sim, monkeypatch) -> None:
    """Regression: when the catalog stayed locked past every retry at the import's one
    catalog write, the tracker failed the submission ("import failed: database is
    locked"), although the journalled import had already moved the files: if the lock
    cleared before that failure was written, the tracks became fetch_error, the request
    failed and the media root kept files no track pointed at. Now the import is deferred:
    the submission stays importing and the next refresh finishes it from the journal.

    The lock is released at the worst moment: right when the tracker reports the failed
    catalog write (a log processor commits the holder's transaction)."""
    from torrentino_bridge.config import load_settings
    from torrentino_bridge.service import BridgeService

    for key, value in {**TIGHT, "TORRENTINO_BRIDGE_CATALOG__BUSY_TIMEOUT_MS": "50"}.items():
        monkeypatch.setenv(key, value)
    spec = many_albums(1, tracks=2, seconds=1, prefix="lock")[0]
    catalog = build_catalog(tmp_path / "catalog.db", [spec])
    settings = load_settings(write_config(tmp_path, catalog, sim.base_url))
    service = BridgeService(settings)
    await service.start(workers=False)
    holder = sqlite3.connect(catalog, isolation_level=None, timeout=0)
    try:
        await service.store.insert_request("r1", "u1", album_id=spec.id)
        await service.intake.run_once()
        await service.submitter.submit_pending()
        (sub,) = await service.store.submissions()
        assert sub.ticket_id is not None
        await wait_for(_now(lambda: sim.state_of(sub.ticket_id) == "completed"), what="QT to complete")

        holder.execute("BEGIN IMMEDIATE")
        released: list[str] = []

        def release_at_the_worst_moment(logger: object, name: str, event: dict) -> dict:
            if event.get("event") in ("import.failed", "import.deferred") and not released:
                holder.execute("COMMIT")
                released.append(event["event"])
            return event

        config = structlog.get_config()
        structlog.configure(processors=[release_at_the_worst_moment, *config["processors"]],
                            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
        await service.tracker.refresh(sub.ticket_id)
        assert released, "the import never met the locked catalog"

        after = await service.store.get_submission(sub.id)
        assert after is not None and after.state.value == "importing", (after.state, after.error)
        await service.tracker.refresh(sub.ticket_id)      # the catalog is free now
        row = await service.store.get_request("r1")
        assert row is not None and (row.status, row.error) == ("completed", None)
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()
        await service.stop()
    problems = check_end_state(catalog=catalog, bridge_db=tmp_path / "bridge.db", media_root=tmp_path / "media",
                               incoming=tmp_path / "incoming", qt_tickets=sim.tickets,
                               expected={"r1": Expect("completed")})
    assert not problems, problems
