"""`check`: will the daemon start and work with this configuration? Read-only.

Every check runs (one failure does not hide the next) and prints ok/FAIL with a reason.
Nothing is written: the bridge DB's pending migrations are tried on an in-memory copy,
so running `check` as root never leaves root-owned database files behind.
Secrets are never printed: only whether they are set.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiosqlite
import structlog

from ..config import Settings
from ..errors import EXIT_OK, CatalogSchemaError
from ..log import REDACTOR
from ..pezzottify.files import configured, describe
from ..qt.client import TorrentinoClient
from ..qt.errors import QTAuthError, QTError, QTUnavailable
from ..store.catalog import open_catalog
from ..store.db import MIGRATIONS_TABLE, connect, migrate, migration_files
from .lock import current_holder
from .report import emit

log = structlog.get_logger(__name__)

EXIT_FAILED = 1
# A check should answer quickly; the daemon's own request timeout may be long.
_QT_TIMEOUT_SECS = 10.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def mask_url(url: str) -> str:
    """The URL with any password in it replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def scrub_url(text: str, url: str) -> str:
    """`text` with the URL's password masked wherever it appears (client errors quote the URL)."""
    password = urlsplit(url).password
    text = text.replace(url, mask_url(url))
    return text.replace(password, "***") if password else text


def _secret_state(value: object | None) -> str:
    return "set" if value is not None else "not set"


def config_facts(settings: Settings, config_path: Path) -> str:
    qt = settings.torrentino
    if qt.auth_token is not None:
        token = "set"
    elif qt.auth_token_file is not None:
        token = f"from file {qt.auth_token_file}"
    else:
        token = "not set"
    facts = [
        f"file {config_path}",
        f"catalog.db={settings.catalog.db} (layout {settings.catalog.layout})",
        f"bridge.db={settings.bridge.db}",
        f"media.root={settings.media.root}",
        f"media.incoming={settings.media.incoming}",
    ]
    if settings.media.qt_incoming is not None:
        facts.append(f"media.qt_incoming={settings.media.qt_incoming}")
    facts += [
        f"torrentino.url={mask_url(qt.url)}" + ("" if qt.enabled else " (disabled)"),
        f"torrentino.auth_token {token}",
        f"http={settings.http.host}:{settings.http.port}" + ("" if settings.http.enabled else " (disabled)"),
        f"http.admin_token {_secret_state(settings.http.admin_token)}",
        f"http.service_token {_secret_state(settings.http.service_token)}",
    ]
    return "; ".join(facts)


def _writable(path: Path) -> str | None:
    """None when this process can write `path`, else why not."""
    if not os.access(path, os.W_OK):
        return f"{path} is not writable by uid {os.geteuid()}"
    return None


async def check_catalog(settings: Settings) -> CheckResult:
    cfg = settings.catalog
    try:
        catalog = await open_catalog(cfg.db, layout=cfg.layout, busy_timeout_ms=cfg.busy_timeout_ms,
                                     write_retries=cfg.write_retries)
    except CatalogSchemaError as err:
        return CheckResult("catalog", False, str(err))
    except sqlite3.DatabaseError as err:
        return CheckResult("catalog", False, f"{cfg.db}: {err}")
    try:
        async with catalog.conn.execute("SELECT COUNT(*) FROM tracks") as cur:
            row = await cur.fetchone()
        tracks = int(row[0]) if row else 0
    except sqlite3.DatabaseError as err:
        return CheckResult("catalog", False, f"{cfg.db}: {err}")
    finally:
        await catalog.close()
    # SQLite writes its journal/WAL next to the database: both file and folder must be writable.
    problem = _writable(cfg.db) or _writable(cfg.db.parent)
    if problem:
        return CheckResult("catalog", False, f"layout {catalog.layout}, but {problem}")
    return CheckResult("catalog", True, f"{cfg.db}: layout {catalog.layout}, {tracks} tracks")


async def _schema_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MIGRATIONS_TABLE,)
    ) as cur:
        if await cur.fetchone() is None:
            return 0
    async with conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {MIGRATIONS_TABLE}") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def check_bridge_db(settings: Settings) -> CheckResult:
    path = settings.bridge.db
    known = max((n for n, _ in migration_files()), default=0)
    holder = current_holder(path)
    running = f"; daemon running ({holder.describe()})" if holder else ""
    memory = await aiosqlite.connect(":memory:")
    try:
        if not path.exists():
            problem = _writable(path.parent)
            if problem:
                return CheckResult("bridge db", False, f"{path} does not exist and {problem}")
            with structlog.contextvars.bound_contextvars(check_copy_of=str(path)):
                await migrate(memory)
            return CheckResult("bridge db", True,
                               f"{path} not created yet; the daemon creates it (schema version {known})")
        problem = _writable(path) or _writable(path.parent)
        if problem:
            return CheckResult("bridge db", False, problem)
        try:
            source = await connect(path, wal=False)
        except sqlite3.DatabaseError as err:
            return CheckResult("bridge db", False, f"{path}: {err}")
        try:
            version = await _schema_version(source)
            await source.backup(memory)
        except sqlite3.DatabaseError as err:
            return CheckResult("bridge db", False, f"{path}: {err}")
        finally:
            await source.close()
        if version > known:
            return CheckResult("bridge db", False,
                               f"{path} has schema version {version}, newer than this bridge knows "
                               f"({known}): was a newer release run on it?")
        try:
            # On the copy: proves the pending migrations apply. The context keeps the
            # migration's log lines from reading as if the real file had changed.
            with structlog.contextvars.bound_contextvars(check_copy_of=str(path)):
                await migrate(memory)
        except sqlite3.DatabaseError as err:
            return CheckResult("bridge db", False, f"{path}: migration to {known} fails: {err}")
        pending = known - version
        state = "up to date" if pending == 0 else f"{pending} migration(s) pending, applied at start"
        return CheckResult("bridge db", True, f"{path}: schema version {version}, {state}{running}")
    finally:
        await memory.close()


async def check_torrentino(settings: Settings) -> CheckResult:
    qt = settings.torrentino
    url = mask_url(qt.url)
    if not qt.enabled:
        return CheckResult("torrentino", True, f"disabled in the configuration ({url})")
    try:
        token = qt.read_token()
    except OSError as err:
        return CheckResult("torrentino", False, f"cannot read torrentino.auth_token_file: {err.strerror}")
    client = TorrentinoClient(qt.url, token=token, timeout=min(qt.request_timeout_secs, _QT_TIMEOUT_SECS),
                              max_attempts=1)
    try:
        await client.health()
    except QTAuthError as err:
        hint = "token rejected" if token else "the server needs a token; set torrentino.auth_token"
        return CheckResult("torrentino", False, f"{url}: {hint} (HTTP {err.status})")
    except QTUnavailable as err:
        return CheckResult("torrentino", False, f"{url} unreachable: {scrub_url(err.message, qt.url)}")
    except QTError as err:
        return CheckResult("torrentino", False, f"{url}: unexpected answer: {scrub_url(str(err), qt.url)}")
    except ValueError as err:  # e.g. aiohttp refuses a token together with user:password in the URL
        return CheckResult("torrentino", False, f"{url}: request refused: {scrub_url(str(err), qt.url)}")
    finally:
        await client.close()
    auth = "token accepted" if token else "no token configured, none required"
    return CheckResult("torrentino", True, f"{url} healthy, {auth}")


def check_directory(name: str, path: Path) -> CheckResult:
    if not path.exists():
        return CheckResult(name, False, f"{path} does not exist")
    if not path.is_dir():
        return CheckResult(name, False, f"{path} is not a directory")
    try:
        # Creating and removing a real file is the only honest write test (ACLs, read-only
        # mounts and ProtectSystem= all fool os.access).
        with tempfile.NamedTemporaryFile(dir=path, prefix=".torrentino-bridge-check-"):
            pass
    except OSError as err:
        return CheckResult(name, False, f"{path} is not writable by uid {os.geteuid()}: {err.strerror}")
    return CheckResult(name, True, f"{path} writable")


def check_media(settings: Settings) -> list[CheckResult]:
    media = settings.media
    results = [check_directory("media root", media.root), check_directory("media incoming", media.incoming)]
    if all(r.ok for r in results) and media.root.stat().st_dev != media.incoming.stat().st_dev:
        # Not a failure: imports still work, but a move becomes a copy plus delete.
        results[1] = CheckResult("media incoming", True,
                                 f"{media.incoming} writable (on another filesystem than media.root)")
    return results


async def check_pezzottify(settings: Settings) -> list[CheckResult]:
    """Each configured file of the Pezzottify server: exists, schema, journal mode,
    user_version, writable (read-only: nothing is written to them)."""
    reports = [await describe(key, path) for key, path in configured(settings.pezzottify).items()]
    return [CheckResult(f"pezzottify.{r.key}", r.ok, r.detail) for r in reports]


async def run_checks(settings: Settings, config_path: Path) -> list[CheckResult]:
    results = [CheckResult("config", True, config_facts(settings, config_path))]
    steps: list[Callable[[Settings], Awaitable[CheckResult]]] = [
        check_catalog, check_bridge_db, check_torrentino,
    ]
    for step in steps:
        results.append(await step(settings))
    results.extend(await check_pezzottify(settings))
    results.extend(check_media(settings))
    return results


def render(results: list[CheckResult]) -> list[str]:
    width = max(len(r.name) for r in results)
    lines = [f"{'ok  ' if r.ok else 'FAIL'}  {r.name:<{width}}  {r.detail}" for r in results]
    failed = sum(not r.ok for r in results)
    lines.append(f"{len(results) - failed} ok, {failed} failed")
    return lines


async def handler(args: argparse.Namespace) -> int:
    from ..cli import settings_from  # cli imports this module to register it

    settings = settings_from(args)
    for secret in (settings.torrentino.read_token(), urlsplit(settings.torrentino.url).password, *(
        s.get_secret_value() if s is not None else None
        for s in (settings.http.admin_token, settings.http.service_token, settings.http.callback_secret)
    )):
        REDACTOR.add(secret)
    results = await run_checks(settings, args.config)
    failed = [r.name for r in results if not r.ok]
    log.info("check.done", failed=failed)
    emit({"ok": not failed, "checks": [asdict(r) for r in results]}, render(results), as_json=args.json)
    return EXIT_FAILED if failed else EXIT_OK


def register(sub: argparse._SubParsersAction, add_config_arg: Callable[[argparse.ArgumentParser], None]) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "check", help="check config, databases, Quentin Torrentino and media folders (read-only)",
        description="Check that the daemon can start and work: configuration, catalog schema, "
        "bridge database and migrations, Quentin Torrentino reachability and token, each "
        "configured Pezzottify file (schema, journal mode, user_version, writable), media "
        "folders writable. Writes nothing. Exit status 1 when a check fails.",
    )
    add_config_arg(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(handler=handler)
