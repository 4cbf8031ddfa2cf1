"""Fault-injection tests: the `faults` marker and the size knobs.

`make faults` runs this directory with FAULTS_SCALE=full (the sizes the issue asks for:
200+ requests, 30+ SIGKILLs, a one-minute QT outage, a 2-minute catalog lock). The normal `pytest` run uses the
reduced sizes below so CI finishes this directory in a few minutes. No test here asserts
how long anything took; the sizes only bound how much work is done.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import pytest
import structlog


@dataclass(frozen=True)
class Scale:
    name: str
    storm_requests: int        # requests inserted during the kill storm
    storm_albums: int
    storm_kills: int
    outage_secs: float         # QT unreachable (connection refused)
    outage_500_secs: float     # then every call answered with a 500
    outage_slow_secs: float    # then slow answers and sporadic 500s
    contention_albums: int
    examples: int              # hypothesis examples per property
    long_lock_secs: float      # the server's availability job holding the catalog's write lock


SCALES = {
    "ci": Scale("ci", storm_requests=40, storm_albums=24, storm_kills=8, outage_secs=4.0,
                outage_500_secs=2.0, outage_slow_secs=3.0, contention_albums=10, examples=40,
                long_lock_secs=4.0),
    "full": Scale("full", storm_requests=220, storm_albums=110, storm_kills=34, outage_secs=60.0,
                  outage_500_secs=15.0, outage_slow_secs=20.0, contention_albums=40, examples=300,
                  long_lock_secs=120.0),
}


def current_scale() -> Scale:
    name = os.environ.get("FAULTS_SCALE", "ci")
    if name not in SCALES:
        raise pytest.UsageError(f"FAULTS_SCALE must be one of {', '.join(SCALES)}, got {name!r}")
    scale = SCALES[name]
    outage = os.environ.get("FAULTS_OUTAGE_SECS")
    if outage:
        from dataclasses import replace

        scale = replace(scale, outage_secs=float(outage))
    return scale


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: fault-injection test (FAULTS_SCALE=full for the full-size run, `make faults`)"
    )


@pytest.fixture
def scale() -> Scale:
    return current_scale()


@pytest.fixture
def seeded_rng(request: pytest.FixtureRequest) -> random.Random:
    """A seeded RNG; the seed is printed (and FAULTS_SEED replays a run)."""
    seed = int(os.environ.get("FAULTS_SEED") or random.SystemRandom().randrange(1, 2**31))
    print(f"\n[faults] {request.node.name}: seed {seed} (replay with FAULTS_SEED={seed})")
    return random.Random(seed)


@pytest.fixture(autouse=True)
def quiet_logs():
    """In-process parts (the simulator, in-process services) log errors only here:
    a full-size run would otherwise print every simulated state write."""
    import logging

    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    try:
        yield
    finally:
        structlog.configure(**saved)
