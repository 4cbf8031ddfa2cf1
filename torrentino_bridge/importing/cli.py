"""`torrentino-bridge import`: import a directory by hand, or show what an import would do.

    torrentino-bridge import --config bridge.toml --dir DIR --album ID [--track ID ...]
                             [--dry-run] [--json] [--reimport]

The dry run calls plan_import, the same planning the daemon's import uses, and moves
nothing (album images are cut, into DIR/.tb-split/, which the import then reuses). A real
run is journalled under a key derived from the album and the directory, so running the same
command again after a kill finishes the interrupted import. After a real run, the
bridge's records follow: downloads still fetching the imported tracks let go
of them (one left with nothing to fetch is closed, and the daemon cancels its ticket), and
the requests waiting for them (and so Pezzottify's queue rows) get their status again.
Exit status: 0 every requested track imported (or would be), 1 some not, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..domain.models import TrackMeta
from ..engine.hand_import import settle_hand_import
from ..engine.outbox import OutboxWorker
from ..engine.requests import RequestStatusUpdater
from ..errors import EXIT_CONFIG
from ..metrics import Metrics
from ..pezzottify.handover import Handover
from ..store.bridge import BridgeStore
from ..store.catalog import Catalog, open_catalog
from ..store.db import open_bridge_db
from ..store.outbox import OutboxStore
from . import journal
from .errors import ImportSourceError, PlacementError
from .importer import ImportJob, forget_import, import_tracks, journal_connection
from .plan import plan_import, track_label
from .report import render_table


def register(sub: Any, add_config_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the `import` subcommand to the CLI."""
    parser = sub.add_parser(
        "import", help="import (or dry-run) a directory of audio files for an album",
        description="Match the audio files of DIR to the album's tracks, verify them, place them "
                    "in the media root and update the catalog. DIR must be inside media.incoming; "
                    "once every requested track is imported, DIR is removed (unless "
                    "media.keep_leftovers). Rerun the same command to finish an interrupted import.",
    )
    add_config_arg(parser)
    parser.add_argument("--dir", required=True, type=Path, help="directory holding the files")
    parser.add_argument("--album", required=True, help="catalog album id")
    parser.add_argument("--track", action="append", dest="tracks", metavar="TRACK_ID",
                        help="import only this track (repeatable; default: every album track)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the match table and move nothing")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--reimport", action="store_true",
                        help="forget a finished import of this directory and album, import again")
    parser.set_defaults(handler=run_import)


def manual_key(album_id: str, source_dir: Path) -> str:
    """Same album + same real directory -> same journal key, so a rerun resumes."""
    name = f"{album_id}\n{source_dir.resolve()}"
    return f"manual-{uuid.uuid5(uuid.NAMESPACE_URL, name)}"


def _fail(message: str) -> int:
    print(f"torrentino-bridge import: {message}", file=sys.stderr)
    return EXIT_CONFIG


def _select(album_tracks: list[TrackMeta], wanted: list[str] | None) -> list[TrackMeta] | str:
    if not wanted:
        return album_tracks
    by_id = {t.id: t for t in album_tracks}
    unknown = [t for t in wanted if t not in by_id]
    if unknown:
        return f"track(s) not on this album: {', '.join(unknown)}"
    return [by_id[t] for t in dict.fromkeys(wanted)]


async def run_import(args: argparse.Namespace) -> int:
    from ..cli import settings_from  # here, not at the top: cli imports this module

    settings = settings_from(args)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")  # titles on a non-UTF-8 terminal
    catalog = await open_catalog(
        settings.catalog.db, layout=settings.catalog.layout,
        busy_timeout_ms=settings.catalog.busy_timeout_ms, write_retries=settings.catalog.write_retries,
    )
    settings.media = settings.media.for_layout(catalog.layout, settings.torrentino.ticket.output_bitrate_kbps)
    try:
        album = await catalog.get_album(args.album)
        if album is None:
            return _fail(f"album {args.album!r} is not in the catalog")
        album_tracks = await catalog.get_album_tracks(album.id)
        tracks = _select(album_tracks, args.tracks)
        if isinstance(tracks, str):
            return _fail(tracks)
        if not tracks:
            return _fail(f"album {album.id!r} has no tracks in the catalog")
        labels = {t.id: track_label(t) for t in tracks}
        try:
            if args.dry_run:
                plan = await asyncio.to_thread(plan_import, args.dir, album, tracks, settings.media,
                                               album_tracks=album_tracks)
                _print(args, plan.to_json(), labels, plan.failed, None)
                return 1 if plan.failed else 0
            return await _import(args, settings, catalog, album, tracks, labels)
        except ImportSourceError as err:
            return _fail(str(err))
        except PlacementError as err:
            print(f"torrentino-bridge import: {err}; run the same command again to resume",
                  file=sys.stderr)
            return 1
    finally:
        await catalog.close()


async def _import(args: argparse.Namespace, settings: Any, catalog: Catalog, album: Any,
                  tracks: list[TrackMeta], labels: dict[str, str]) -> int:
    key = manual_key(album.id, args.dir)
    bridge_db = await open_bridge_db(settings.bridge.db)
    # search.db (and the album's catalog event) follow through the daemon's outbox.
    handover = Handover(settings.pezzottify, catalog, busy_timeout_ms=settings.catalog.busy_timeout_ms)
    try:
        await handover.open()
        if args.reimport:      # a finished import only; an interrupted one is resumed
            await forget_import(bridge_db, key, only_done=True)
        job = ImportJob(key=key, album=album, tracks=tracks, source_dir=args.dir)
        outcome = await import_tracks(job, bridge_db=bridge_db, catalog=catalog,
                                      media=settings.media, followups=handover.followups)
        # Delivered now rather than at the daemon's next pass (a running daemon may deliver
        # them too: every handler is idempotent); what fails here waits for the daemon.
        worker = OutboxWorker(OutboxStore(BridgeStore(bridge_db)), max_attempts=1000)
        handover.register(worker)
        await worker.run_once(kinds=list(worker.handlers))   # the daemon's own kinds stay its
        async with journal_connection(bridge_db) as conn:
            row = await journal.get_job(conn, key)
        report = (row.report if row and row.report else
                  {"matches": [], "unmatched_tracks": list(outcome.failed), "rejected_files": []})
        if row is not None:
            labels = {**labels, **row.labels}
        caught_up = await _catch_up(bridge_db, catalog, outcome.imported)
        _print(args, report, labels, outcome.failed, {**outcome.to_json(), **caught_up})
        return 1 if outcome.failed else 0
    finally:
        await handover.close()
        await bridge_db.close()


async def _catch_up(bridge_db: Any, catalog: Catalog, imported: dict[str, str]) -> dict[str, list[str]]:
    """The bridge's downloads and requests follow the tracks just imported (engine/hand_import)."""
    store = BridgeStore(bridge_db)
    done = await settle_hand_import(store, RequestStatusUpdater(store, catalog, Metrics()), imported)
    return {"requests_updated": done.requests, "downloads_released": done.downloads,
            "downloads_closed": done.closed}


def _print(args: argparse.Namespace, report: dict[str, Any], labels: dict[str, str],
           failed: dict[str, str], outcome: dict[str, Any] | None) -> None:
    if args.json:
        print(json.dumps({**report, **(outcome or {})}, ensure_ascii=False))
        return
    print(render_table(report, labels, failed))
    print()
    total = len(labels)
    if outcome is None:
        would = total - len(failed)
        print(f"Dry run: {would} of {total} tracks would be imported; nothing was moved.")
    else:
        print(outcome["summary"] or f"{total} of {total} tracks imported.")
        if outcome.get("requests_updated"):
            print(f"{len(outcome['requests_updated'])} request(s) updated.")
        if outcome.get("downloads_closed"):
            print(f"{len(outcome['downloads_closed'])} download(s) had nothing left to fetch: closed; "
                  "the daemon cancels their tickets in Quentin Torrentino.")
