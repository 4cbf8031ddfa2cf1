"""`migrate-from-old-downloader`: the plan's switch-over from Pezzottify's own downloader.

1. Tracks the catalog flags available but that have no audio_uri become unavailable
   (plan layout: availability 'available' -> 'unavailable'; pezzottify: track_available
   1 -> 0), so users can request them through the bridge.
2. Items of the old download queue still waiting (PENDING, IN_PROGRESS, RETRY_WAITING)
   are closed as abandoned; users re-request what they still want. When the bridge serves
   that queue itself ([pezzottify] queue_db set), PENDING rows are its work (the rows users
   make now) and so are the IN_PROGRESS rows it claimed (linked in its database): those are
   left alone. IN_PROGRESS rows the old downloader left behind, and RETRY_WAITING (a state
   neither the server nor the bridge sets or serves) are abandoned. In the same
   transaction, user_request_stats.requests_in_queue goes to 0 for every user: nothing of
   theirs waits any more, and a stale count would hold them at the server's queue limit.
   requests_today is left alone (today's requests were made).

Dry run by default. --apply holds the bridge's instance lock, so it refuses to run next to
a live daemon (which could be fetching the very tracks being rewritten) and a daemon
cannot start half-way through. Both steps only touch rows still in the old state, so a
second run, or a run after a crash, changes nothing more. Catalog writes go in batches:
short transactions, because the catalog server keeps writing meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite
import structlog

from ..domain.models import Availability, TrackChange
from ..errors import EXIT_OK, ConfigError
from ..store.catalog import Catalog, open_catalog, table_columns
from ..store.db import connect, connect_foreign, transaction, with_busy_retry
from .lock import InstanceLock
from .report import emit, plural

log = structlog.get_logger(__name__)

QUEUE_TABLE = "download_queue"
WAITING = ("PENDING", "IN_PROGRESS", "RETRY_WAITING")
NOT_SERVED = ("RETRY_WAITING",)        # what is abandoned when the bridge serves the queue
QUEUE_COLUMNS = {"id", "status", "error_type", "error_message", "completed_at"}
STATS_TABLE = "user_request_stats"
STATS_COLUMNS = {"user_id", "requests_in_queue", "last_updated_at"}
ABANDONED_MESSAGE = "abandoned: migrated to Quentin Torrentino"
BATCH = 500


@dataclass(slots=True)
class QueueOutcome:
    path: Path | None
    state: str  # not_configured | no_table | ok
    detail: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    users_reset: int | None = None   # users whose requests_in_queue was (or would be) set to 0;
                                     # None: no user_request_stats table with those columns
    served: bool = False             # the bridge serves this queue: only NOT_SERVED abandoned

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def tracks_without_audio(catalog: Catalog) -> list[str]:
    return [t.id async for t in catalog.iter_available_tracks() if not (t.audio_uri or "").strip()]


async def mark_unavailable(catalog: Catalog, track_ids: list[str]) -> int:
    for start in range(0, len(track_ids), BATCH):
        batch = track_ids[start : start + BATCH]
        # clear_audio: the pezzottify adapter writes track_available only with it.
        await catalog.apply([TrackChange(t, Availability.UNAVAILABLE, clear_audio=True) for t in batch])
    return len(track_ids)


async def _waiting_counts(conn: aiosqlite.Connection, statuses: tuple[str, ...] = WAITING) -> dict[str, int]:
    marks = ",".join("?" * len(statuses))
    async with conn.execute(
        f"SELECT status, COUNT(*) FROM {QUEUE_TABLE} WHERE status IN ({marks}) GROUP BY status", statuses
    ) as cur:
        found = {row[0]: int(row[1]) for row in await cur.fetchall()}
    return {status: found.get(status, 0) for status in statuses}


async def _abandoned_ids(conn: aiosqlite.Connection, statuses: tuple[str, ...],
                         claimed: frozenset[str]) -> list[str]:
    """Rows in these statuses that the bridge did not claim (rowid order)."""
    marks = ",".join("?" * len(statuses))
    rows = await conn.execute_fetchall(
        f"SELECT id FROM {QUEUE_TABLE} WHERE status IN ({marks}) ORDER BY rowid", statuses)
    return [r[0] for r in rows if r[0] not in claimed]


async def process_queue(path: Path | None, *, apply: bool, busy_timeout_ms: int,
                        attempts: int, served: bool = False,
                        claimed: frozenset[str] = frozenset()) -> QueueOutcome:
    """`claimed`: ids of the IN_PROGRESS rows the bridge took (they are its work)."""
    if path is None:
        return QueueOutcome(None, "not_configured",
                            "no download queue given (--queue-db or catalog.download_queue_db); skipped")
    statuses = NOT_SERVED if served else WAITING
    # The server's file: its journal mode stays as it is (see connect_foreign).
    conn = await connect_foreign(path, busy_timeout_ms=busy_timeout_ms)
    try:
        tables = await table_columns(conn)
        columns = tables.get(QUEUE_TABLE)
        if columns is None:
            return QueueOutcome(path, "no_table", f"{path} has no {QUEUE_TABLE} table; skipped")
        missing = sorted(QUEUE_COLUMNS - columns)
        if missing:
            return QueueOutcome(path, "no_table",
                                f"{path}: {QUEUE_TABLE} lacks {', '.join(missing)}; skipped")
        stats = tables.get(STATS_TABLE, set()) >= STATS_COLUMNS
        if not apply:
            counts = await _waiting_counts(conn, statuses)
            if served:
                counts["IN_PROGRESS"] = len(await _abandoned_ids(conn, ("IN_PROGRESS",), claimed))
            return QueueOutcome(path, "ok", counts=counts,
                                users_reset=await _users_in_queue(conn) if stats else None, served=served)

        async def abandon() -> tuple[dict[str, int], int | None]:
            async with transaction(conn):
                counts = await _waiting_counts(conn, statuses)  # inside the transaction: exact numbers
                marks = ",".join("?" * len(statuses))
                now = int(time.time())
                await conn.execute(
                    f"UPDATE {QUEUE_TABLE} SET status = 'FAILED', error_type = 'unknown',"
                    f" error_message = ?, completed_at = ? WHERE status IN ({marks})",
                    (ABANDONED_MESSAGE, now, *statuses),
                )
                if served:
                    # The old downloader's own IN_PROGRESS rows: nobody will ever finish them.
                    orphans = await _abandoned_ids(conn, ("IN_PROGRESS",), claimed)
                    await conn.executemany(
                        f"UPDATE {QUEUE_TABLE} SET status = 'FAILED', error_type = 'unknown',"
                        " error_message = ?, completed_at = ? WHERE id = ? AND status = 'IN_PROGRESS'",
                        [(ABANDONED_MESSAGE, now, row_id) for row_id in orphans],
                    )
                    counts["IN_PROGRESS"] = len(orphans)
                users = None
                if stats:
                    users = await _users_in_queue(conn)
                    await conn.execute(f"UPDATE {STATS_TABLE} SET requests_in_queue = 0, last_updated_at = ?"
                                       " WHERE requests_in_queue != 0", (now,))
            return counts, users

        counts, users = await with_busy_retry(abandon, attempts=attempts, what="download_queue.abandon")
        return QueueOutcome(path, "ok", counts=counts, users_reset=users, served=served)
    finally:
        await conn.close()


async def claimed_rows(bridge_db: Path) -> frozenset[str]:
    """Queue row ids the bridge mirrored (source_links); none before its first start."""
    if not await asyncio.to_thread(bridge_db.exists):
        return frozenset()
    conn = await connect(bridge_db)
    try:
        tables = await table_columns(conn)
        if "source_links" not in tables:
            return frozenset()
        rows = await conn.execute_fetchall("SELECT source_id FROM source_links WHERE source = 'pezzottify'")
        return frozenset(r[0] for r in rows)
    finally:
        await conn.close()


async def _users_in_queue(conn: aiosqlite.Connection) -> int:
    async with conn.execute(f"SELECT COUNT(*) FROM {STATS_TABLE} WHERE requests_in_queue != 0") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


def queue_path(args: argparse.Namespace, served: Path | None, configured: Path | None) -> Path | None:
    """--queue-db, else the queue the bridge serves (pezzottify.queue_db), else the older
    catalog.download_queue_db setting."""
    path: Path | None = args.queue_db or served or configured
    if path is not None and not path.is_file():
        source = ("--queue-db" if args.queue_db else "pezzottify.queue_db" if served
                  else "catalog.download_queue_db")
        raise ConfigError(f"{source}: download queue database {path} does not exist")
    return path


def render(layout: str, tracks: int, queue: QueueOutcome, *, applied: bool) -> list[str]:
    verb = "marked" if applied else "would mark"
    lines = [f"catalog (layout {layout}): {verb} {plural(tracks, 'available track')} without "
             "audio_uri unavailable"]
    if queue.state == "ok":
        by_status = ", ".join(f"{status} {count}" for status, count in queue.counts.items())
        lines.append(f"download queue {queue.path}: {'abandoned' if applied else 'would abandon'} "
                     f"{plural(queue.total, 'waiting item')} ({by_status})")
        if queue.served:
            lines.append("download queue: PENDING rows and the IN_PROGRESS rows the bridge claimed are left:"
                         " it serves this queue (pezzottify.queue_db)")
        if queue.users_reset is None:
            lines.append(f"{STATS_TABLE}: not found in the queue database; skipped")
        else:
            lines.append(f"{STATS_TABLE}: {'set' if applied else 'would set'} requests_in_queue to 0 "
                         f"for {plural(queue.users_reset, 'user')}")
    else:
        lines.append(f"download queue: {queue.detail}")
    if not applied:
        lines.append("dry run: nothing changed; run again with --apply (stop the daemon and the old "
                     "downloader first)")
    return lines


async def handler(args: argparse.Namespace) -> int:
    from ..cli import settings_from  # cli imports this module to register it

    settings = settings_from(args)
    cfg = settings.catalog
    qpath = queue_path(args, settings.pezzottify.queue_db, cfg.download_queue_db)
    served = settings.pezzottify.queue_db is not None and qpath == settings.pezzottify.queue_db
    lock = InstanceLock(settings.bridge.db)
    if args.apply:
        lock.acquire()  # AlreadyRunningError -> exit 4 with the holder named
    try:
        catalog = await open_catalog(cfg.db, layout=cfg.layout, busy_timeout_ms=cfg.busy_timeout_ms,
                                     write_retries=cfg.write_retries)
        try:
            stale = await tracks_without_audio(catalog)
            if args.apply:
                await mark_unavailable(catalog, stale)
            layout = catalog.layout
        finally:
            await catalog.close()
        claimed = await claimed_rows(settings.bridge.db) if served else frozenset()
        queue = await process_queue(qpath, apply=args.apply, busy_timeout_ms=cfg.busy_timeout_ms,
                                    attempts=max(1, cfg.write_retries), served=served, claimed=claimed)
    finally:
        lock.release()

    log.info("migrate.done", applied=args.apply, tracks=len(stale), queue_items=queue.total)
    # The same keys either way; dry_run says whether the numbers were done or are to do.
    data: dict[str, Any] = {
        "dry_run": not args.apply,
        "catalog_layout": layout,
        "tracks_without_audio": len(stale),
        "track_ids": stale,
        "download_queue": {
            "path": str(queue.path) if queue.path else None,
            "state": queue.state,
            "detail": queue.detail,
            "waiting": queue.counts,
            "total": queue.total,
            "users_in_queue_reset": queue.users_reset,
            "served_by_bridge": queue.served,
        },
    }
    emit(data, render(layout, len(stale), queue, applied=args.apply), as_json=args.json)
    return EXIT_OK


def register(sub: argparse._SubParsersAction, add_config_arg: Callable[[argparse.ArgumentParser], None]) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "migrate-from-old-downloader",
        help="mark tracks without audio unavailable and abandon the old download queue (dry run)",
        description="The switch-over from Pezzottify's own downloader: available tracks without "
        "audio_uri become unavailable, and the old queue's waiting items (PENDING, IN_PROGRESS, "
        "RETRY_WAITING) are closed as FAILED 'abandoned'. Dry run by default; --apply refuses to "
        "run while a bridge daemon holds the bridge database.",
    )
    add_config_arg(parser)
    parser.add_argument("--apply", action="store_true", help="make the changes")
    parser.add_argument("--queue-db", type=Path, default=None,
                        help="the old downloader's download_queue.db (default: pezzottify.queue_db, "
                        "else catalog.download_queue_db)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(handler=handler)
