"""sd_notify against a real unix datagram socket, as systemd would listen."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from torrentino_bridge.ops import systemd


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    # A short directory: unix socket paths are capped near 108 bytes, pytest's tmp_path can be long.
    directory = tempfile.mkdtemp(prefix="tb-sd-", dir="/tmp")
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    try:
        yield sock
    finally:
        sock.close()
        shutil.rmtree(directory)


def _recv(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode("utf-8").split("\n")


def test_ready_status_stopping_reach_the_socket(listener: socket.socket) -> None:
    assert systemd.notify_ready("serving on 127.0.0.1:8099")
    assert _recv(listener) == ["READY=1", "STATUS=serving on 127.0.0.1:8099"]
    assert systemd.notify_status("importing\nalbum 3")
    assert _recv(listener) == ["STATUS=importing album 3"]
    assert systemd.notify_stopping()
    assert _recv(listener) == ["STOPPING=1"]


def test_abstract_socket_name(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"torrentino-bridge-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(10)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.notify_ready()
        assert _recv(sock) == ["READY=1"]


def test_without_systemd_everything_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert systemd.notify_ready() is False
    assert systemd.notify_watchdog() is False
    assert systemd.watchdog_interval() is None


def test_a_vanished_socket_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert systemd.notify_ready() is False


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        ("30000000", None, 30.0),
        ("30000000", "self", 30.0),
        ("30000000", "other", None),
        ("0", None, None),
        ("nonsense", None, None),
        (None, None, None),
    ],
)
def test_watchdog_interval(
    monkeypatch: pytest.MonkeyPatch, usec: str | None, pid: str | None, expected: float | None
) -> None:
    if usec is None:
        monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    else:
        monkeypatch.setenv("WATCHDOG_USEC", usec)
    if pid is None:
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
    else:
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() if pid == "self" else os.getpid() + 1))
    assert systemd.watchdog_interval() == expected


async def test_watchdog_loop_pings_until_stopped(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "20000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    listener.setblocking(False)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    task = asyncio.create_task(systemd.watchdog_loop(stop))
    pings = [await asyncio.wait_for(loop.sock_recv(listener, 4096), 10) for _ in range(3)]
    assert pings == [b"WATCHDOG=1"] * 3
    stop.set()
    await asyncio.wait_for(task, 10)
    assert task.done() and task.exception() is None


async def test_watchdog_loop_returns_at_once_without_a_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    await asyncio.wait_for(systemd.watchdog_loop(asyncio.Event()), 10)


def test_systemd_notify_tool_and_our_sender_agree(listener: socket.socket) -> None:
    """Cross-check the wire format against systemd's own systemd-notify, when installed."""
    tool = shutil.which("systemd-notify")
    if tool is None:
        pytest.skip("systemd-notify is not installed (apt-get install systemd)")
    env = {**os.environ}
    done = subprocess.run([tool, "--no-block", "--status=warming up"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"systemd-notify cannot send here: {done.stderr.strip()}")
    theirs = _recv(listener)
    systemd.notify_status("warming up")
    ours = _recv(listener)
    assert "STATUS=warming up" in theirs
    assert ours == ["STATUS=warming up"]


def test_child_process_inherits_no_watchdog_duty(listener: socket.socket, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    code = "from torrentino_bridge.ops.systemd import watchdog_interval as w; print(w())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "None"
