"""Simulator fixtures shared by tests/sim and tests/qt: started QTSimulators with near-zero
steps, and an HTTP session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from torrentino_bridge.sim.server import QTSimulator, SimConfig

from .helpers import KEY


@pytest.fixture
async def make_sim() -> AsyncIterator[Callable[..., Any]]:
    """Start simulators with SimConfig overrides; all are stopped at teardown."""
    started: list[QTSimulator] = []

    async def make(**overrides: Any) -> QTSimulator:
        config = SimConfig(**{"api_key": KEY, "step_secs": 0.005, "progress_ticks": 3, **overrides})
        simulator = QTSimulator(config)
        await simulator.start()
        started.append(simulator)
        return simulator

    try:
        yield make
    finally:
        for simulator in started:
            await simulator.stop()


@pytest.fixture
async def qtsim(make_sim: Callable[..., Any]) -> QTSimulator:
    simulator: QTSimulator = await make_sim()
    return simulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
