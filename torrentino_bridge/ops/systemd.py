"""sd_notify without libsystemd: readiness, status, stopping and watchdog pings.

The protocol is one datagram of newline-separated KEY=VALUE lines sent to the unix
socket named by $NOTIFY_SOCKET (a leading '@' names an abstract socket). Outside
systemd the variable is unset and every call is a cheap no-op returning False.
"""

from __future__ import annotations

import asyncio
import os
import socket

import structlog

log = structlog.get_logger(__name__)


def _address() -> str | None:
    raw = os.environ.get("NOTIFY_SOCKET")
    if not raw:
        return None
    if raw.startswith("@"):
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    # vsock: and other transports are for VMs; we only ever run as a local service.
    log.warning("sd_notify.unsupported_socket", notify_socket=raw)
    return None


def notify(*fields: str) -> bool:
    """Send KEY=VALUE fields in one datagram. True when sent, False when not under systemd.

    A failed send is logged and swallowed: readiness reporting must never crash the daemon
    (systemd then times the start out or the watchdog fires, which is the right outcome).
    """
    address = _address()
    if address is None:
        return False
    message = "\n".join(fields).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message)
    except OSError as err:
        log.warning("sd_notify.failed", error=str(err), fields=[f.split("=", 1)[0] for f in fields])
        return False
    return True


def _status_field(text: str) -> str:
    # One datagram line per field: a newline in the text would start a bogus field.
    return "STATUS=" + " ".join(text.splitlines())


def notify_ready(status: str | None = None) -> bool:
    fields = ["READY=1"]
    if status:
        fields.append(_status_field(status))
    return notify(*fields)


def notify_stopping(status: str | None = None) -> bool:
    fields = ["STOPPING=1"]
    if status:
        fields.append(_status_field(status))
    return notify(*fields)


def notify_status(text: str) -> bool:
    return notify(_status_field(text))


def notify_watchdog() -> bool:
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """systemd's watchdog timeout in seconds, or None when no watchdog is meant for us.

    $WATCHDOG_PID, when set, names the process the watchdog is for; a child that
    inherited the environment must not ping on its parent's behalf.
    """
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("sd_notify.bad_watchdog_usec", watchdog_usec=usec)
        return None
    return value / 1_000_000 if value > 0 else None


async def watchdog_loop(stop: asyncio.Event, interval: float | None = None) -> None:
    """Ping WATCHDOG=1 every half interval until `stop` is set.

    It runs on the daemon's event loop on purpose: if the loop is blocked or wedged the
    pings stop and systemd restarts us, which is what the watchdog is for.
    """
    timeout = interval if interval is not None else watchdog_interval()
    if timeout is None:
        return
    period = timeout / 2
    log.info("sd_notify.watchdog_started", timeout_secs=timeout, ping_every_secs=period)
    while not stop.is_set():
        notify_watchdog()
        try:
            await asyncio.wait_for(stop.wait(), timeout=period)
        except TimeoutError:
            continue
