"""InstanceLock against real processes: refusal while held, free again after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from torrentino_bridge.errors import EXIT_LOCKED, AlreadyRunningError
from torrentino_bridge.ops.lock import InstanceLock, current_holder, lock_path_for

HOLDER = """
import sys
from pathlib import Path
from torrentino_bridge.ops.lock import InstanceLock
lock = InstanceLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
sys.stdin.read()  # hold until killed or stdin closes
"""


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "bridge.db"


@pytest.fixture
def holder(db_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert _wait_for_line(proc, "locked")
        yield proc
    finally:
        _reap(proc)


def _wait_for_line(proc: subprocess.Popen[str], wanted: str) -> bool:
    # structlog's default logger may print to stdout before our marker.
    assert proc.stdout is not None
    return any(line.strip() == wanted for line in proc.stdout)


def _reap(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


def test_second_process_is_refused_with_holder_named(db_path: Path, holder: subprocess.Popen[str]) -> None:
    lock = InstanceLock(db_path)
    with pytest.raises(AlreadyRunningError) as info:
        lock.acquire()
    message = str(info.value)
    assert message.startswith(f"another torrentino-bridge (pid {holder.pid}, started ")
    assert message.endswith(f") is using {db_path}")
    assert not lock.held
    seen = current_holder(db_path)
    assert seen is not None and seen.pid == holder.pid and seen.started_at


def test_sigkilled_holder_does_not_block_the_next_start(
    db_path: Path, holder: subprocess.Popen[str]
) -> None:
    holder.send_signal(signal.SIGKILL)
    assert holder.wait() == -signal.SIGKILL
    # The lock file is still there with the dead pid in it; only the flock matters.
    assert lock_path_for(db_path).exists()
    assert current_holder(db_path) is None
    with InstanceLock(db_path) as lock:
        assert lock.held
        me = current_holder(db_path)
        assert me is not None and me.pid == os.getpid()
    assert not lock.held


def test_released_lock_can_be_taken_again_in_process(db_path: Path) -> None:
    first = InstanceLock(db_path)
    first.acquire()
    first.acquire()  # idempotent
    second = InstanceLock(db_path)
    with pytest.raises(AlreadyRunningError, match=f"pid {os.getpid()}"):
        second.acquire()
    first.release()
    first.release()  # idempotent
    second.acquire()
    second.release()


def test_lock_is_not_inherited_by_child_processes(db_path: Path) -> None:
    """A child spawned by the daemon must not keep the lock alive after the daemon exits."""
    child_code = "import sys; print('started', flush=True); sys.stdin.read()"
    with InstanceLock(db_path):
        child = subprocess.Popen([sys.executable, "-c", child_code], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True, close_fds=False)
        # Only exec closes O_CLOEXEC descriptors: wait until the child runs its own code.
        assert _wait_for_line(child, "started")
    try:
        assert current_holder(db_path) is None
        InstanceLock(db_path).acquire()
    finally:
        _reap(child)


def test_probe_of_a_never_locked_db_creates_nothing(db_path: Path) -> None:
    assert current_holder(db_path) is None
    assert not lock_path_for(db_path).exists()


def test_foreign_lock_file_content_still_gives_a_clear_message(db_path: Path) -> None:
    lock_path_for(db_path).write_text("garbage\n")
    proc = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR);"
         " fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()",
         str(lock_path_for(db_path))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert _wait_for_line(proc, "locked")
        with pytest.raises(AlreadyRunningError, match="pid unknown, started unknown"):
            InstanceLock(db_path).acquire()
    finally:
        _reap(proc)


def test_exit_code_for_locked_is_distinct() -> None:
    assert EXIT_LOCKED == 4
