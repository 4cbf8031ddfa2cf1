"""What happens to a simulated ticket: outcomes and the state sequence each one walks.

complete          pending -> acquiring -> auto_approved -> downloading (ticks) -> converting
                  -> placing -> completed
needs_approval    ... -> needs_approval; approve continues to completion, reject -> rejected
fail              fails while downloading (retryable); a retry then completes
fail_always       fails while downloading on every attempt (not retryable)
acquisition_failed  the search finds nothing; a retry then completes
auto_retry        the download stalls once, QT retries by itself (pending_retry), completes
missing_tracks    completes without the last track's file
corrupt_track     completes with the last track's file cut short
late_file         says completed while the last file is still being written: its first half
                  is there, the rest lands LATE_FILE_SECS later (a placer still flushing)
slow              ten times the download progress ticks
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

from . import states
from .config import SimConfig
from .placement import audio_kind_for, corrupt, plan_files, write_extras, write_planned

Outcome = Literal[
    "complete", "needs_approval", "fail", "fail_always", "acquisition_failed", "auto_retry",
    "missing_tracks", "corrupt_track", "late_file", "slow",
]
LATE_FILE_SECS = 1.0
OUTCOMES: tuple[str, ...] = get_args(Outcome)


def check_outcome(value: Any) -> Outcome:
    if value not in OUTCOMES:
        raise ValueError(f"unknown outcome {value!r} (one of: {', '.join(OUTCOMES)})")
    return value  # type: ignore[no-any-return]


class OutcomeTable:
    """Outcomes by description substring (case-insensitive); the latest rule set wins."""

    def __init__(self, default: Outcome = "complete") -> None:
        self.default: Outcome = default
        self.rules: dict[str, Outcome] = {}

    def set(self, match: str | None, outcome: str) -> None:
        checked = check_outcome(outcome)
        if match is None:
            self.default = checked
            return
        self.rules.pop(match, None)
        self.rules[match] = checked

    def resolve(self, description: str) -> Outcome:
        text = description.lower()
        for match, outcome in reversed(self.rules.items()):
            if match.lower() in text:
                return outcome
        return self.default


class Driver(Protocol):
    """What a running scenario needs from the simulator."""

    config: SimConfig

    def ticket(self, ticket_id: str) -> dict[str, Any]: ...
    def write_state(self, ticket_id: str, state: states.State) -> None: ...
    def pipeline_progress(self, ticket_id: str, phase: str, current: int, total: int,
                          name: str) -> None: ...
    def release_for(self, description: str) -> list[dict[str, Any]] | None: ...


class Run:
    """One ticket's scenario; `attempt` counts runs (1 + retries)."""

    def __init__(self, driver: Driver, ticket_id: str, outcome: Outcome, attempt: int) -> None:
        self.d = driver
        self.id = ticket_id
        self.outcome = outcome
        self.attempt = attempt
        ticket = driver.ticket(ticket_id)
        context = ticket.get("query_context") or {}
        self.description = str(context.get("description") or "")
        self.kind = audio_kind_for(ticket, driver.config.audio_kind)
        self.files = plan_files(ticket, self.kind, release=driver.release_for(self.description))
        self.candidates = states.candidates_for(
            self.description, sum(f.duration_secs for f in self.files)
        )
        self.download_secs = 0.0
        self.convert_secs = 0.0

    async def step(self) -> None:
        await asyncio.sleep(self.d.config.step_secs)

    def write(self, state: states.State) -> None:
        self.d.write_state(self.id, state)

    async def search(self) -> None:
        """From pending: search, then wait for approval or download on."""
        await self.step()
        started = states.now()
        self.write(states.acquiring(started, [], {"phase": "query_building"}))
        await self.step()
        queries = [self.description]
        self.write(states.acquiring(started, queries, {"phase": "searching", "query": queries[0]}))
        await self.step()
        if self.outcome == "acquisition_failed" and self.attempt == 1:
            self.write(states.acquisition_failed(
                queries, 0, f"No candidates matched {self.description!r} after {len(queries)} queries"
            ))
            return
        found = len(self.candidates)
        self.write(states.acquiring(
            started, queries, {"phase": "scoring", "candidates_count": found}, found
        ))
        await self.step()
        if self.outcome == "needs_approval":
            self.write(states.needs_approval(self.candidates, 0, 0.62))
            return
        self.write(states.auto_approved(self.candidates, 0.92))
        await self.step()
        await self.download(0)

    async def download(self, idx: int) -> None:
        candidate = self.candidates[idx]
        ticks = max(1, self.d.config.progress_ticks * (10 if self.outcome == "slow" else 1))
        self.download_started = time.monotonic()
        breaks_at = ticks // 2 + 1
        started, last = states.now(), 0.0
        self.write(states.downloading(candidate, idx, self.candidates, pct=0.0,
                                      started_at=started, last_pct=0.0))
        for tick in range(1, ticks + 1):
            await self.step()
            if tick == breaks_at and self._download_fails():
                self.write(states.failed(
                    f"Download stalled: no peers for {candidate['info_hash'][:8]} after 600s",
                    retryable=self.outcome != "fail_always", retry_count=self.attempt - 1,
                ))
                return
            if tick == breaks_at and self.outcome == "auto_retry" and self.attempt == 1:
                self.write(states.pending_retry("Tracker unreachable", 1, 30, "download"))
                await self.step()
            pct = round(100.0 * tick / ticks, 1)
            self.write(states.downloading(candidate, idx, self.candidates, pct=pct,
                                          started_at=started, last_pct=last))
            last = pct
        self.download_secs = time.monotonic() - self.download_started
        await self.convert()
        await self.place(candidate)

    def _download_fails(self) -> bool:
        return self.outcome == "fail_always" or (self.outcome == "fail" and self.attempt == 1)

    async def convert(self) -> None:
        ticket = self.d.ticket(self.id)
        if (ticket.get("output_constraints") or {}).get("type") == "original":
            return
        started, total, began = states.now(), len(self.files), time.monotonic()
        for i, planned in enumerate(self.files):
            name = Path(planned.relpath).name
            self.write(states.converting(i, total, name, started))
            self.d.pipeline_progress(self.id, "converting", i, total, name)
            await self.step()
        self.convert_secs = time.monotonic() - began

    async def place(self, candidate: dict[str, Any]) -> None:
        dest = Path(self.d.ticket(self.id)["dest_path"])
        files = self.files[:-1] if self.outcome == "missing_tracks" else self.files
        started, total, size = states.now(), len(files), 0
        self.write(states.placing(0, total, started))
        rest: tuple[Path, bytes] | None = None
        try:
            for placed, planned in enumerate(files, start=1):
                # Encoding is CPU work: keep the event loop (and the API) responsive.
                size += await asyncio.to_thread(
                    write_planned, dest, planned, self.kind, self.d.config.sample_rate
                )
                if self.outcome == "corrupt_track" and placed == total:
                    await asyncio.to_thread(corrupt, dest / planned.relpath)
                if self.outcome == "late_file" and placed == total:
                    rest = await asyncio.to_thread(_keep_first_half, dest / planned.relpath)
                self.write(states.placing(placed, total, started))
                self.d.pipeline_progress(self.id, "placing", placed, total,
                                         Path(planned.relpath).name)
                await self.step()
            await asyncio.to_thread(write_extras, dest, self.d.ticket(self.id), self.files)
        except OSError as err:
            self.write(states.failed(f"Placement failed: {err}", retryable=True,
                                     retry_count=self.attempt - 1))
            return
        self.write(states.completed({
            "total_download_bytes": candidate["size_bytes"],
            "download_duration_secs": round(self.download_secs),
            "conversion_duration_secs": round(self.convert_secs),
            "final_size_bytes": size,
            "files_placed": total,
        }))
        if rest is not None:
            await asyncio.sleep(LATE_FILE_SECS)
            await asyncio.to_thread(_append, *rest)


def _keep_first_half(path: Path) -> tuple[Path, bytes]:
    """Cut a written file to its first half; returns what the second write appends."""
    data = path.read_bytes()
    half = len(data) // 2
    path.write_bytes(data[:half])
    return path, data[half:]


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)
