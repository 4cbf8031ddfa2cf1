"""Opening SQLite connections the same way everywhere, and applying migrations."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import aiosqlite
import structlog
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")


# SQLite caps host parameters (999 on old builds); IN lists are sent in chunks below that.
IN_CHUNK = 500


def chunked(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def marks(count: int) -> str:
    return ",".join("?" * count)


def utcnow() -> str:
    """Timestamps are stored as RFC 3339 UTC text with milliseconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def sql_dir() -> Path:
    """The sql/ directory: packaged inside the wheel, or at the top of a source checkout."""
    packaged = resources.files("torrentino_bridge") / "sql"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "sql"


async def connect(path: Path, *, busy_timeout_ms: int = 5000, wal: bool = True) -> aiosqlite.Connection:
    # isolation_level=None: we issue BEGIN ourselves, so transactions are explicit and short.
    conn = await aiosqlite.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        await conn.execute("PRAGMA foreign_keys = ON")
        if wal:
            try:
                await conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as err:  # another process holds it; it stays as it is
                log.warning("sqlite.wal_unavailable", db=str(path), error=str(err))
        await conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        await conn.close()   # e.g. not a database: its worker thread would outlive us
        raise
    return conn


async def connect_foreign(path: Path, *, busy_timeout_ms: int = 5000) -> aiosqlite.Connection:
    """A connection to a file another program owns (the Pezzottify server's catalog, queue,
    search, server and user databases). It is opened read-write but never created, and its
    journal mode, user_version and schema are never touched. wal_autocheckpoint=0, as the
    server's own connections have it: otherwise our commits would checkpoint its WAL into
    the database file behind its back (it checkpoints on its own schedule)."""
    uri = f"file:{quote(str(path))}?mode=rw"
    conn = await aiosqlite.connect(uri, uri=True, timeout=busy_timeout_ms / 1000, isolation_level=None)
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA wal_autocheckpoint = 0")
    except BaseException:
        await conn.close()
        raise
    return conn
# The bridge's database, its -wal/-shm (SQLite gives them the database's mode), backups and
# the instance lock are created owner-only, whatever the umask: the database holds every
# user's requests and the outbox's signed payloads, and no other account needs to read it
# (the catalog server is read by the bridge, not the other way round). A file that exists
# keeps the mode its owner gave it.
PRIVATE_MODE = 0o600


def create_private(path: Path) -> None:
    """Create `path` empty with PRIVATE_MODE unless it exists (umask or not)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, PRIVATE_MODE)   # the umask may have taken bits off; this is the mode meant
    finally:
        os.close(fd)


def is_busy(err: BaseException) -> bool:
    return isinstance(err, sqlite3.OperationalError) and (
        "locked" in str(err) or "busy" in str(err)
    )


@asynccontextmanager
async def transaction(conn: aiosqlite.Connection, *, immediate: bool = True) -> AsyncIterator[aiosqlite.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (cancellation included)."""
    await conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
    else:
        await conn.execute("COMMIT")


async def with_busy_retry(
    action: Callable[[], Awaitable[T]], *, attempts: int, what: str
) -> T:
    """Run a write that may meet 'database is locked' after busy_timeout; retry with jitter.

    Logs once when contention starts and once when it clears, not on every attempt.
    """
    failed = False
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_busy),
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_random_exponential(multiplier=0.05, max=2.0),
        reraise=True,
    ):
        with attempt:
            try:
                result = await action()
            except sqlite3.OperationalError as err:
                if is_busy(err) and not failed:
                    failed = True
                    log.warning("sqlite.busy", what=what, error=str(err))
                raise
    if failed:
        log.info("sqlite.busy_cleared", what=what)
    return result


MIGRATIONS_TABLE = "schema_migrations"


def migration_files() -> list[tuple[int, Path]]:
    files = []
    for path in sorted((sql_dir() / "bridge").glob("*.sql")):
        number = int(path.name.split("_", 1)[0])
        files.append((number, path))
    numbers = [n for n, _ in files]
    if len(set(numbers)) != len(numbers):
        raise RuntimeError(f"duplicate migration numbers in {sql_dir() / 'bridge'}")
    return files


async def migrate(conn: aiosqlite.Connection) -> int:
    """Apply pending numbered migrations, one transaction each. Returns the schema version."""
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    async with conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {MIGRATIONS_TABLE}") as cur:
        row = await cur.fetchone()
    current = int(row[0]) if row else 0
    for number, path in migration_files():
        if number <= current:
            continue
        statements = [s for s in _split_sql(path.read_text(encoding="utf-8")) if s.strip()]
        async with transaction(conn):
            for statement in statements:
                await conn.execute(statement)
            await conn.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} (version, name, applied_at) VALUES (?, ?, ?)",
                (number, path.name, utcnow()),
            )
        log.info("bridge_db.migrated", version=number, name=path.name)
        current = number
    return current


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit on its own)."""
    statements, buf = [], []
    for line in script.splitlines(keepends=True):
        buf.append(line)
        candidate = "".join(buf)
        if sqlite3.complete_statement(candidate):
            statements.append(candidate)
            buf = []
    if "".join(buf).strip():
        statements.append("".join(buf))
    return statements


def lenient_text(raw: bytes) -> str:
    """Text as stored, even when it is not valid UTF-8: other writers put such bytes in shared
    tables, and one such value must not make every SELECT of its row fail. Bad bytes become
    lone surrogates (domain.requests.bad_text), which the intake reports instead of using."""
    return raw.decode("utf-8", "surrogateescape")


async def open_bridge_db(path: Path) -> aiosqlite.Connection:
    create_private(path)
    conn = await connect(path)
    conn.text_factory = lenient_text
    try:
        await migrate(conn)
    except BaseException:
        await conn.close()
        raise
    return conn


async def online_backup(source: Path, target: Path) -> int:
    """SQLite's online backup: a consistent copy while other connections keep writing.
    Copies in steps so a busy writer is never blocked for long. Returns the page count."""

    def run() -> int:
        create_private(target)
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=256, sleep=0.005)
            return int(dst.execute("PRAGMA page_count").fetchone()[0])
        finally:
            dst.close()
            src.close()

    return await asyncio.to_thread(run)
