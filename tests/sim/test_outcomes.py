"""Every outcome's walk through QT's states, seen over HTTP and over the WebSocket, with
state objects carrying exactly the fields quentin-torrentino-v1.md lists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from torrentino_bridge.qt.client import TorrentinoClient
from torrentino_bridge.qt.types import KNOWN_STATES, TERMINAL_STATES, Ticket, TicketState
from torrentino_bridge.sim.server import QTSimulator

from .helpers import KEY, WsRecorder, album_body, collapse, eventually

FIELDS: dict[str, set[str]] = {
    "pending": set(),
    "acquiring": {"started_at", "queries_tried", "candidates_found", "phase"},
    "acquisition_failed": {"queries_tried", "candidates_seen", "reason", "failed_at"},
    "needs_approval": {"candidates", "recommended_idx", "confidence", "waiting_since"},
    "auto_approved": {"selected", "candidates", "confidence", "approved_at"},
    "approved": {"selected", "candidates", "approved_by", "approved_at"},
    "rejected": {"rejected_by", "reason", "rejected_at"},
    "downloading": {"info_hash", "progress_pct", "speed_bps", "eta_secs", "started_at", "candidate_idx",
                    "failover_round", "last_progress_pct", "last_progress_at", "candidates"},
    "converting": {"current_idx", "total", "current_name", "started_at"},
    "placing": {"files_placed", "total_files", "started_at"},
    "completed": {"completed_at", "stats"},
    "pending_retry": {"error", "retry_attempt", "retry_after", "failed_phase", "scheduled_at"},
    "failed": {"error", "retryable", "retry_count", "failed_at"},
    "cancelled": {"cancelled_by", "reason", "cancelled_at"},
}
SCORED = {"title", "info_hash", "size_bytes", "seeders", "score", "reasoning"}
SELECTED = {"title", "info_hash", "magnet_uri", "size_bytes", "score"}
HAPPY_TAIL = ["auto_approved", "downloading", "converting", "placing", "completed"]
SEARCH = ["pending", "acquiring"]


def check_state_object(state: dict[str, Any]) -> None:
    kind = state["type"]
    assert set(state) - {"type"} == FIELDS[kind], kind
    for candidate in state.get("candidates", []):
        assert set(candidate) == (SCORED if kind == "needs_approval" else SELECTED), kind
    if "selected" in state:
        assert set(state["selected"]) == SELECTED
    if kind == "acquiring":
        assert state["phase"]["phase"] in ("query_building", "searching", "scoring")
    if kind == "completed":
        assert set(state["stats"]) == {"total_download_bytes", "download_duration_secs",
                                       "conversion_duration_secs", "final_size_bytes", "files_placed"}
    parsed = TicketState.model_validate(state)       # the client's model reads every one
    if kind in ("downloading", "converting", "placing", "completed"):
        assert parsed.progress_pct is not None and 0 <= parsed.progress_pct <= 100


class World:
    def __init__(self, sim: QTSimulator, client: TorrentinoClient, ws: WsRecorder, tmp: Path) -> None:
        self.sim, self.client, self.ws, self.tmp = sim, client, ws, tmp

    async def create(self, outcome: str) -> Ticket:
        description = f"Artist - {outcome} album"
        self.sim.set_outcome(description, outcome)
        return await self.client.create_ticket(album_body(self.tmp / outcome, description))

    async def reach(self, ticket_id: str, state: str) -> Ticket:
        async def check() -> Ticket | None:
            ticket = await self.client.get_ticket(ticket_id)
            return ticket if ticket.state.type == state else None
        ticket: Ticket = await eventually(check, what=f"{ticket_id} in {state}")
        # The socket saw that write too (possibly a moment later).
        await eventually(lambda: state in self.ws.states(ticket_id), what=f"ws {state}")
        return ticket

    def walk(self, ticket_id: str) -> list[str]:
        written = [s["type"] for s in self.sim.history[ticket_id]]
        assert self.ws.states(ticket_id) == written     # every write was broadcast, in order
        for state in self.sim.history[ticket_id]:
            check_state_object(state)
        return collapse(written)


@pytest.fixture
async def world(qtsim: QTSimulator, http: aiohttp.ClientSession, tmp_path: Path) -> AsyncIterator[World]:
    ws = WsRecorder()
    await ws.connect(http, str(qtsim.base_url), KEY)
    async with TorrentinoClient(str(qtsim.base_url), token=KEY) as client:
        yield World(qtsim, client, ws, tmp_path)
    await ws.close()


@pytest.mark.parametrize("outcome", ["complete", "missing_tracks", "corrupt_track", "slow"])
async def test_straight_to_completion(world: World, outcome: str) -> None:
    ticket = await world.create(outcome)
    done = await world.reach(ticket.id, "completed")
    assert world.walk(ticket.id) == [*SEARCH, *HAPPY_TAIL]
    placed = 2 if outcome == "missing_tracks" else 3
    assert done.state.get("stats")["files_placed"] == placed
    downloads = [s for s in world.sim.history[ticket.id] if s["type"] == "downloading"]
    ticks = world.sim.config.progress_ticks * (10 if outcome == "slow" else 1)
    assert len(downloads) == ticks + 1
    assert [d["progress_pct"] for d in downloads][-1] == 100.0
    pipeline = world.ws.of_type("pipeline_progress", ticket.id)
    assert [(m["phase"], m["current"], m["total"]) for m in pipeline] == (
        [("converting", i, 3) for i in range(3)] + [("placing", i, placed) for i in range(1, placed + 1)])
    placing = [s["files_placed"] for s in world.sim.history[ticket.id] if s["type"] == "placing"]
    assert placing == list(range(placed + 1))


async def test_needs_approval_then_approve(world: World) -> None:
    ticket = await world.create("needs_approval")
    waiting = await world.reach(ticket.id, "needs_approval")
    assert [c.seeders for c in waiting.state.candidates] == [184, 57, 12]
    assert all(c.reasoning and c.info_hash and c.size_bytes for c in waiting.state.candidates)
    assert waiting.state.recommended_idx == 0
    await world.client.approve(ticket.id, candidate_idx=2)
    done = await world.reach(ticket.id, "completed")
    assert world.walk(ticket.id) == [*SEARCH, "needs_approval", "approved", "downloading",
                                     "converting", "placing", "completed"]
    downloading = next(s for s in world.sim.history[ticket.id] if s["type"] == "downloading")
    assert downloading["candidate_idx"] == 2
    assert downloading["info_hash"] == waiting.state.candidates[2].info_hash
    assert done.state.get("stats")["total_download_bytes"] == waiting.state.candidates[2].size_bytes


async def test_needs_approval_then_reject_then_retry(world: World) -> None:
    ticket = await world.create("needs_approval")
    await world.reach(ticket.id, "needs_approval")
    rejected = await world.client.reject(ticket.id, reason="live album")
    assert rejected.state.type == "rejected" and rejected.state.error_text == "live album"
    await world.client.retry(ticket.id)
    await world.reach(ticket.id, "needs_approval")
    assert world.walk(ticket.id) == [*SEARCH, "needs_approval", "rejected", *SEARCH, "needs_approval"]


async def test_fail_then_retry_completes(world: World) -> None:
    ticket = await world.create("fail")
    failed = await world.reach(ticket.id, "failed")
    assert failed.state.retryable is True and "stalled" in (failed.state.error_text or "")
    assert failed.state.get("retry_count") == 0
    await world.client.retry(ticket.id)
    await world.reach(ticket.id, "completed")
    assert world.walk(ticket.id) == [*SEARCH, "auto_approved", "downloading", "failed",
                                     *SEARCH, *HAPPY_TAIL]


async def test_fail_always(world: World) -> None:
    ticket = await world.create("fail_always")
    first = await world.reach(ticket.id, "failed")
    assert first.state.retryable is False
    await world.client.retry(ticket.id)
    await eventually(lambda: [s["type"] for s in world.sim.history[ticket.id]].count("failed") == 2,
                     what="second failure")
    again = await world.client.get_ticket(ticket.id)
    assert again.state.type == "failed" and again.state.get("retry_count") == 1
    assert world.walk(ticket.id) == [*SEARCH, "auto_approved", "downloading", "failed",
                                     *SEARCH, "auto_approved", "downloading", "failed"]


async def test_acquisition_failed_then_retry_completes(world: World) -> None:
    ticket = await world.create("acquisition_failed")
    failed = await world.reach(ticket.id, "acquisition_failed")
    assert "No candidates matched" in (failed.state.error_text or "")
    assert failed.state.type not in TERMINAL_STATES
    await world.client.retry(ticket.id)
    await world.reach(ticket.id, "completed")
    assert world.walk(ticket.id) == [*SEARCH, "acquisition_failed", *SEARCH, *HAPPY_TAIL]


async def test_auto_retry_passes_through_pending_retry(world: World) -> None:
    ticket = await world.create("auto_retry")
    await world.reach(ticket.id, "completed")
    assert world.walk(ticket.id) == [*SEARCH, "auto_approved", "downloading", "pending_retry",
                                     "downloading", "converting", "placing", "completed"]
    retry = next(s for s in world.sim.history[ticket.id] if s["type"] == "pending_retry")
    assert retry["failed_phase"] == "download" and TicketState.model_validate(retry).retryable


async def test_cancel_then_hard_delete(world: World) -> None:
    ticket = await world.create("needs_approval")
    await world.reach(ticket.id, "needs_approval")
    cancelled = await world.client.cancel(ticket.id)
    assert cancelled.state.type == "cancelled" and cancelled.state.get("reason") is None
    await world.reach(ticket.id, "cancelled")
    assert world.walk(ticket.id) == [*SEARCH, "needs_approval", "cancelled"]
    await world.client.delete(ticket.id)
    await eventually(lambda: world.ws.of_type("ticket_deleted", ticket.id), what="ticket_deleted")
    assert ticket.id not in world.sim.tickets


async def test_cancel_mid_download_stops_the_scenario(world: World) -> None:
    world.sim.config.step_secs = 0.05
    world.sim.config.progress_ticks = 50
    ticket = await world.create("complete")
    await world.reach(ticket.id, "downloading")
    await world.client.cancel(ticket.id, reason="enough")
    writes = len(world.sim.history[ticket.id])
    # A second ticket walking several steps at the same pace gives a scenario that was not
    # stopped every chance to write again.
    other = await world.client.create_ticket(album_body(world.tmp / "other", "Other - Album"))
    await eventually(lambda: len(world.sim.history[other.id]) >= 6, what="other ticket progress")
    assert world.sim.state_of(ticket.id) == "cancelled"
    assert len(world.sim.history[ticket.id]) == writes
    assert not (world.tmp / "complete").exists()


def test_all_fourteen_states_are_covered() -> None:
    assert set(FIELDS) == KNOWN_STATES
