"""Keeping the daemon on a few CPU cores, so the catalog server always has one of its own.

An import burst keeps the event loop busy while SQLite and audio decoding run in other
threads, so an unbound bridge can occupy every core of a small host at once; the catalog
server's queries then wait for a core (measured: its read p99 roughly doubled on 2 cores).
Niceness alone does not prevent that. Affinity is set for every thread that exists now;
threads started later inherit it.
"""

from __future__ import annotations

import os

import structlog

log = structlog.get_logger(__name__)


def limit_cpus(count: int) -> list[int] | None:
    """Restrict this process to `count` of the cores it may use (the last ones; 0: no limit).
    Returns the cores kept, or None when nothing was changed. Best effort: a refusal (a
    seccomp filter, a cpuset that moved) is logged and the daemon runs on every core."""
    if count <= 0 or not hasattr(os, "sched_setaffinity"):
        return None
    try:
        allowed = sorted(os.sched_getaffinity(0))
        if len(allowed) <= count:
            return None
        # The highest-numbered: many tools and services start on core 0 and upwards.
        kept = allowed[-count:]
        for tid in _threads():
            try:
                os.sched_setaffinity(tid, kept)
            except ProcessLookupError:   # a thread that just ended
                continue
        applied = sorted(os.sched_getaffinity(0))
    except OSError as err:
        log.warning("cpu.limit_failed", cpus=count, error=str(err),
                    hint="sched_setaffinity refused (a seccomp filter without it?); running on every core")
        return None
    if applied != kept:
        log.warning("cpu.limit_failed", cpus=count, error=f"still on cores {applied}")
        return None
    log.info("cpu.limited", cpus=kept, of=len(allowed))
    return kept


def _threads() -> list[int]:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return [0]
