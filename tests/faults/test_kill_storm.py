"""Kill storm: requests over many albums while a driver SIGKILLs the daemon at random
moments and restarts it; then one clean run converges and the end state is checked
from the files alone.

Full size (FAULTS_SCALE=full, `make faults`): 220 requests over 110 albums, 34 kills.
The simulator runs in this process (it outlives every kill, as QT would); the daemon is
a real subprocess. Albums get scripted outcomes (complete, QT's own retry, approval
given in QT, permanent failure, a missing or a corrupt track), so every request has one
right final status.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import AlbumSpec, build_catalog, wait_for, write_config
from tests.faults.conftest import Scale, current_scale
from tests.faults.harness import (
    Daemon,
    Expect,
    bridge_ready,
    check_end_state,
    converged,
    insert_request,
    many_albums,
    report,
    sim_token,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300 if current_scale().name == "ci" else 1500)]

# Outcome classes and their share of the albums; the rest complete normally.
SPECIAL = [("auto_retry", 0.10), ("needs_approval", 0.10), ("fail_always", 0.08),
           ("missing_tracks", 0.07), ("corrupt_track", 0.07)]
OK_OUTCOMES = ("complete", "auto_retry", "needs_approval")
LIMITS = "\n[torrentino.rate_limits]\nrequests_per_user_per_day = 100000\nmax_pending_per_user = 100000\n"


@dataclass(frozen=True)
class Planned:
    request_id: str
    user: str
    album_id: str | None
    track_ids: list[str] | None
    expect: Expect


def assign_outcomes(albums: list[AlbumSpec], rng: random.Random) -> dict[str, str]:
    order = list(albums)
    rng.shuffle(order)
    outcomes: dict[str, str] = {}
    start = 0
    for outcome, share in SPECIAL:
        count = max(1, round(share * len(albums)))
        for spec in order[start:start + count]:
            outcomes[spec.id] = outcome
        start += count
    for spec in order[start:]:
        outcomes[spec.id] = "complete"
    return outcomes


def expect_for(spec: AlbumSpec, outcome: str) -> Expect:
    last = spec.tracks[-1]
    label = f"{last[1]} {last[2]}"          # "2 Song 007-2": how request summaries name a track
    match outcome:
        case "fail_always":
            return Expect("failed", ("Download stalled",))
        case "missing_tracks":
            return Expect("failed", (f"missing: {label}",))
        case "corrupt_track":
            return Expect("failed", (f"corrupt: {label}",))
    return Expect("completed")


def plan_requests(albums: list[AlbumSpec], outcomes: dict[str, str], count: int,
                  rng: random.Random) -> list[Planned]:
    """Album requests (repeats included, so requests join live tickets or find tracks done)
    and track-list requests over one or two albums that end well."""
    ok = [a for a in albums if outcomes[a.id] in OK_OUTCOMES]
    planned = []
    for n in range(count):
        user = f"user{rng.randrange(8)}"
        if rng.random() < 0.7:
            spec = rng.choice(albums)
            planned.append(Planned(f"req-{n:04d}", user, spec.id, None, expect_for(spec, outcomes[spec.id])))
        else:
            picks = rng.sample(ok, 2) if rng.random() < 0.4 else [rng.choice(ok)]
            tracks = [spec.track_id(d, t) for spec in picks for d, t, *_ in spec.tracks if rng.random() < 0.7]
            tracks = tracks or [picks[0].track_id(*picks[0].tracks[0][:2])]
            planned.append(Planned(f"req-{n:04d}", user, None, tracks, Expect("completed")))
    return planned


async def approver(sim, stop: asyncio.Event) -> None:
    """An admin approving in QT's own UI: whatever waits for approval gets candidate 0."""
    while not stop.is_set():
        for ticket_id in [t for t, v in sim.tickets.items() if v["state"]["type"] == "needs_approval"]:
            sim.approve(ticket_id, 0)
        await asyncio.sleep(0.1)


async def inserter(db: Path, planned: list[Planned], mean_gap: float, rng: random.Random) -> None:
    await wait_for(_now(lambda: bridge_ready(db)), what="the bridge database", timeout=60)
    for p in planned:
        await asyncio.sleep(rng.uniform(0, 2 * mean_gap))
        await asyncio.to_thread(insert_request, db, p.request_id, p.user, album_id=p.album_id,
                                track_ids=p.track_ids)


async def kill_driver(daemon: Daemon, sim, kills: int, rng: random.Random) -> None:
    """Start, wait a random while (startup, repair and every engine step are all fair
    game), SIGKILL; `kills` times. Now and then QT holds its answer to POSTs, so kills
    land between a ticket's creation and the bridge recording it."""
    for cycle in range(kills):
        hold = rng.random() < 0.25
        sim.set_faults(create_hold_secs=rng.uniform(0.5, 2.0) if hold else 0.0)
        await daemon.start()
        await asyncio.sleep(rng.uniform(0.2, 3.5))
        daemon.check_alive()
        await daemon.kill()
        print(f"[faults] kill {cycle + 1}/{kills} (QT holding POST answers: {hold})", flush=True)
    sim.set_faults(create_hold_secs=0.0)


def _now(check):
    async def run():
        return check()

    return run


async def test_kill_storm(tmp_path: Path, sim, seeded_rng: random.Random) -> None:
    scale: Scale = current_scale()
    rng = seeded_rng
    sim.config.step_secs = 0.03
    albums = many_albums(scale.storm_albums, tracks=2, seconds=1)
    outcomes = assign_outcomes(albums, rng)
    for spec in albums:
        if outcomes[spec.id] != "complete":
            sim.set_outcome(sim_token(spec), outcomes[spec.id])
    planned = plan_requests(albums, outcomes, scale.storm_requests, rng)

    catalog = build_catalog(tmp_path / "catalog.db", albums)
    config = write_config(tmp_path, catalog, sim.base_url, extra=LIMITS)
    bridge_db = tmp_path / "bridge.db"
    daemon = Daemon(config, tmp_path / "daemon.log")

    stop = asyncio.Event()
    approving = asyncio.create_task(approver(sim, stop))
    mean_gap = scale.storm_kills * 1.9 * 0.6 / len(planned)
    inserting = asyncio.create_task(inserter(bridge_db, planned, mean_gap, rng))
    try:
        await kill_driver(daemon, sim, scale.storm_kills, rng)
        await inserting      # every request is in before the clean run
        await daemon.start()
        await daemon.until_started()
        await wait_for(_now(lambda: converged(bridge_db)), what="convergence after the storm",
                       timeout=240, interval=0.5)
        daemon.check_alive()
        assert await daemon.stop() == 0
    finally:
        stop.set()
        inserting.cancel()
        await asyncio.gather(approving, inserting, return_exceptions=True)
        if daemon.proc is not None:
            await daemon.kill()

    problems = check_end_state(
        catalog=catalog, bridge_db=bridge_db, media_root=tmp_path / "media",
        incoming=tmp_path / "incoming", qt_tickets=sim.tickets,
        expected={p.request_id: p.expect for p in planned},
    )
    problems += [f"the daemon exited on its own with status {c}" for c in daemon.unexpected_exits]
    problems += [f"crash in the log: {line[:300]}" for line in daemon.log_lines('"task.crashed"')]
    statuses = {}
    for p in planned:
        statuses[p.expect.status] = statuses.get(p.expect.status, 0) + 1
    print(f"[faults] kill storm: {daemon.kills} SIGKILLs, {daemon.starts} starts, {len(planned)} requests "
          f"({json.dumps(statuses)}), {len(sim.tickets)} QT tickets, {sim.post_count} POSTs", flush=True)
    assert daemon.kills >= scale.storm_kills
    assert not problems, report(problems)
