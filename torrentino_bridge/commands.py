"""Daemon and request commands: run, request, status, approve, reject, retry, cancel, demo."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from .errors import EXIT_OK

log = structlog.get_logger(__name__)


def register(sub: Any, add_config_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("run", help="run the daemon")
    add_config_arg(p)
    p.add_argument("--once", action="store_true",
                   help="do one intake, submit and reconcile pass, then exit")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("request", help="insert a download request into the shared table")
    add_config_arg(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--album", help="album id")
    what.add_argument("--track", action="append", dest="tracks", metavar="ID", help="track id (repeatable)")
    p.add_argument("--user", default="cli", help="user id recorded on the request (default: cli)")
    p.add_argument("--priority", type=int, default=0, help="higher = sooner")
    p.add_argument("--id", dest="request_id", help="request id (default: a new uuid)")
    p.set_defaults(handler=cmd_request)

    p = sub.add_parser("status", help="requests and tickets with state and progress")
    add_config_arg(p)
    p.add_argument("--json", action="store_true", help="one JSON object for scripts")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(handler=cmd_status)

    for name, helptext in (("approve", "approve a ticket waiting for approval"),
                           ("reject", "reject a ticket waiting for approval"),
                           ("cancel", "cancel a download")):
        p = sub.add_parser(name, help=helptext)
        add_config_arg(p)
        p.add_argument("ticket", help="QT ticket id (or the bridge's submission id)")
        if name == "approve":
            p.add_argument("--candidate", type=int, default=None, help="candidate index (default: QT's pick)")
        else:
            p.add_argument("--reason", default=None)
        p.set_defaults(handler=cmd_action, action=name)

    p = sub.add_parser("retry", help="retry the failed tracks of a request or a ticket")
    add_config_arg(p)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--request", dest="request_id")
    target.add_argument("--ticket")
    p.set_defaults(handler=cmd_action, action="retry")

    p = sub.add_parser("backup", help="online backup of the bridge database (safe while the daemon runs)")
    add_config_arg(p)
    p.add_argument("--to", required=True, type=Path, help="file to write (must not exist)")
    p.add_argument("--catalog", action="store_true",
                   help="back up the catalog database instead (it belongs to the catalog server)")
    p.set_defaults(handler=cmd_backup)

    p = sub.add_parser("demo", help="a self-contained demo: simulator, demo catalog, bridge")
    p.add_argument("--dir", default=None, help="work directory (default: a new temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--pezzottify", action="store_true",
                   help="the real Pezzottify layout: its db_dir, its download queue as the source, Ogg "
                        "Vorbis at its paths, search and notifications")
    p.set_defaults(handler=cmd_demo)


async def cmd_run(args: argparse.Namespace) -> int:
    from .cli import settings_from

    settings = settings_from(args)   # a bad config fails before anything heavy is imported
    from .ops.affinity import limit_cpus
    from .service import BridgeService, StartStopped

    limit_cpus(settings.bridge.cpus)
    service = BridgeService(settings)
    service.handle_signals()
    try:
        try:
            await service.start(workers=not args.once)
        except StartStopped:
            log.info("bridge.stopped", during="start")
            return EXIT_OK
        try:
            if args.once:
                await service.run_once()
            else:
                await service.serve()
        finally:
            await service.stop()
    finally:
        service.handle_signals(False)
    return EXIT_OK


async def cmd_request(args: argparse.Namespace) -> int:
    from .cli import settings_from
    from .store.bridge import BridgeStore
    from .store.db import open_bridge_db

    settings = settings_from(args)
    store = BridgeStore(await open_bridge_db(settings.bridge.db))
    request_id = args.request_id or uuid.uuid4().hex
    try:
        await store.insert_request(request_id, args.user, album_id=args.album, track_ids=args.tracks,
                                   priority=args.priority)
    finally:
        await store.close()
    print(request_id)
    return EXIT_OK


async def cmd_status(args: argparse.Namespace) -> int:
    from .cli import settings_from
    from .reporting import collect_status, render_status

    settings = settings_from(args)
    report = await collect_status(settings, limit=args.limit)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_status(report))
    return EXIT_OK


async def cmd_action(args: argparse.Namespace) -> int:
    from .cli import settings_from
    from .engine.actions import ActionError
    from .qt.errors import QTError
    from .service import BridgeService

    settings = settings_from(args)
    async with BridgeService(settings).components() as svc:
        try:
            if args.action == "approve":
                sub = await svc.actions.approve(args.ticket, args.candidate)
                print(f"{sub.ticket_id}: {sub.state.value}")
            elif args.action == "reject":
                sub = await svc.actions.reject(args.ticket, args.reason)
                print(f"{sub.ticket_id}: {sub.state.value}")
            elif args.action == "cancel":
                sub = await svc.actions.cancel(args.ticket, args.reason)
                print(f"{sub.ticket_id or sub.id}: {sub.state.value}")
            else:
                result = (await svc.actions.retry_request(args.request_id) if args.request_id
                          else await svc.actions.retry_ticket(args.ticket))
                print(f"retried in Quentin Torrentino: {len(result.qt_retried)}; "
                      f"new tickets: {len(result.resubmitted)}")
        except ActionError as err:
            print(f"torrentino-bridge {args.action}: {err.message}", file=sys.stderr)
            return 1
        except QTError as err:
            print(f"torrentino-bridge {args.action}: Quentin Torrentino said: {err.message} "
                  f"({err.status})", file=sys.stderr)
            return 1
    return EXIT_OK


async def cmd_backup(args: argparse.Namespace) -> int:
    from .cli import settings_from
    from .store.db import online_backup

    settings = settings_from(args)
    source = settings.catalog.db if args.catalog else settings.bridge.db
    if args.to.exists():
        print(f"torrentino-bridge backup: {args.to} exists; choose a new file", file=sys.stderr)
        return 1
    pages = await online_backup(source, args.to)
    print(f"backed up {source} to {args.to} ({pages} pages)")
    return EXIT_OK


async def cmd_demo(args: argparse.Namespace) -> int:
    if args.pezzottify:
        from .demo_pezzottify import run_pezzottify_demo

        return await run_pezzottify_demo(args.dir, keep=args.keep)
    from .demo import run_demo

    return await run_demo(args.dir, keep=args.keep)
