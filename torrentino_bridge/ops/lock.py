"""One daemon per bridge database: an advisory flock on `<bridge db>.lock`.

flock locks belong to the open file description, so the kernel drops the lock the
moment the holder dies, SIGKILL included: a crashed daemon never blocks its restart and
there is no stale-pid guessing. The file is opened O_CLOEXEC so a child process cannot
inherit (and so outlive us holding) the lock. The holder writes its pid and start time
into the file only so the refusal message can name it; the lock itself is the flock.
The file is never unlinked: removing it would let a second process lock a new inode
while the first still holds the old one.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import structlog

from ..errors import AlreadyRunningError

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LockHolder:
    """What the current holder wrote into the lock file (either field may be unknown)."""

    pid: int | None
    started_at: str | None

    def describe(self) -> str:
        pid = str(self.pid) if self.pid is not None else "unknown"
        started = self.started_at or "unknown"
        return f"pid {pid}, started {started}"


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def _parse_holder(raw: bytes) -> LockHolder:
    try:
        data = json.loads(raw.decode("utf-8"))
        pid = data.get("pid")
        started = data.get("started_at")
        return LockHolder(
            pid=int(pid) if isinstance(pid, int) else None,
            started_at=str(started) if isinstance(started, str) else None,
        )
    except (ValueError, AttributeError):  # empty (holder not written yet) or foreign content
        return LockHolder(pid=None, started_at=None)


def _read_holder(fd: int) -> LockHolder:
    return _parse_holder(os.pread(fd, 4096, 0))


class InstanceLock:
    """Non-blocking exclusive lock on `<db>.lock`; raises AlreadyRunningError when taken.

    Usable as a context manager. acquire() and release() are idempotent.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.path = lock_path_for(self.db_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)   # like the database
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise AlreadyRunningError(
                f"another torrentino-bridge ({holder.describe()}) is using {self.db_path}"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        record = json.dumps({"pid": os.getpid(), "started_at": started}).encode("utf-8") + b"\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
        self._fd = fd
        log.debug("instance_lock.acquired", lock=str(self.path), pid=os.getpid())

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        # Clear our record first so a reader never sees our pid on a free lock.
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def current_holder(db_path: Path) -> LockHolder | None:
    """Who holds the lock on `db_path` right now, or None when it is free (or never made).

    Probes with a shared non-blocking lock and lets go at once; it never creates the file.
    """
    path = lock_path_for(Path(db_path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
