"""QT ticket state objects with exactly the fields quentin-torrentino-v1.md lists per type,
and the realistic candidates a search would produce. Pure apart from the clock."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

State = dict[str, Any]


def now() -> str:
    """RFC 3339 UTC with a Z, the way QT's chrono timestamps look."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def pending() -> State:
    return {"type": "pending"}


def acquiring(started_at: str, queries: list[str], phase: dict[str, Any], found: int = 0) -> State:
    return {"type": "acquiring", "started_at": started_at, "queries_tried": list(queries),
            "candidates_found": found, "phase": phase}


def acquisition_failed(queries: list[str], seen: int, reason: str) -> State:
    return {"type": "acquisition_failed", "queries_tried": list(queries), "candidates_seen": seen,
            "reason": reason, "failed_at": now()}


def needs_approval(candidates: list[dict[str, Any]], recommended: int, confidence: float) -> State:
    return {"type": "needs_approval", "candidates": candidates, "recommended_idx": recommended,
            "confidence": confidence, "waiting_since": now()}


def auto_approved(candidates: list[dict[str, Any]], confidence: float) -> State:
    chosen = [selected(c) for c in candidates]
    return {"type": "auto_approved", "selected": chosen[0], "candidates": chosen,
            "confidence": confidence, "approved_at": now()}


def approved(candidates: list[dict[str, Any]], idx: int, by: str) -> State:
    chosen = [selected(c) for c in candidates]
    return {"type": "approved", "selected": chosen[idx], "candidates": chosen,
            "approved_by": by, "approved_at": now()}


def rejected(by: str, reason: str | None) -> State:
    return {"type": "rejected", "rejected_by": by, "reason": reason, "rejected_at": now()}


def downloading(
    candidate: dict[str, Any], idx: int, candidates: list[dict[str, Any]], *, pct: float,
    started_at: str, last_pct: float,
) -> State:
    remaining = (candidate["size_bytes"] or 0) * (100 - pct) / 100
    speed = 2_500_000
    return {"type": "downloading", "info_hash": candidate["info_hash"], "progress_pct": pct,
            "speed_bps": speed if pct < 100 else 0,
            "eta_secs": int(remaining / speed) if pct < 100 else None,
            "started_at": started_at, "candidate_idx": idx, "failover_round": 0,
            "last_progress_pct": last_pct, "last_progress_at": now(),
            "candidates": [selected(c) for c in candidates]}


def converting(idx: int, total: int, name: str, started_at: str) -> State:
    return {"type": "converting", "current_idx": idx, "total": total, "current_name": name,
            "started_at": started_at}


def placing(placed: int, total: int, started_at: str) -> State:
    return {"type": "placing", "files_placed": placed, "total_files": total, "started_at": started_at}


def completed(stats: dict[str, Any]) -> State:
    return {"type": "completed", "completed_at": now(), "stats": stats}


def pending_retry(error: str, attempt: int, after_secs: float, phase: str) -> State:
    return {"type": "pending_retry", "error": error, "retry_attempt": attempt,
            "retry_after": later(after_secs), "failed_phase": phase, "scheduled_at": now()}


def failed(error: str, retryable: bool, retry_count: int) -> State:
    return {"type": "failed", "error": error, "retryable": retryable, "retry_count": retry_count,
            "failed_at": now()}


def cancelled(by: str, reason: str | None) -> State:
    return {"type": "cancelled", "cancelled_by": by, "reason": reason, "cancelled_at": now()}


def selected(candidate: dict[str, Any]) -> dict[str, Any]:
    """A scored candidate in the shape approved states carry (magnet, no seeders)."""
    return {"title": candidate["title"], "info_hash": candidate["info_hash"],
            "magnet_uri": f"magnet:?xt=urn:btih:{candidate['info_hash']}",
            "size_bytes": candidate["size_bytes"], "score": candidate["score"]}


_RELEASES = (
    ("{name} [FLAC 16bit 44.1kHz]", 1.0, 184, 0.92, "exact album match, lossless, healthy swarm"),
    ("{name} [MP3 320]", 0.35, 57, 0.78, "exact album match, lossy source"),
    ("{name} (Deluxe Edition) [FLAC]", 1.6, 12, 0.55, "deluxe edition has extra tracks"),
)


def candidates_for(description: str, duration_secs: float) -> list[dict[str, Any]]:
    """Three search results for a description, deterministic per description."""
    name = description.strip() or "Unknown release"
    # About 10 MB per minute of lossless audio; at least a few MB.
    base = max(5_000_000, int(duration_secs * 170_000))
    out = []
    for i, (title, size_factor, seeders, score, reasoning) in enumerate(_RELEASES):
        digest = hashlib.sha1(f"{name}/{i}".encode()).hexdigest()
        out.append({"title": title.format(name=name), "info_hash": digest,
                    "size_bytes": int(base * size_factor), "seeders": seeders, "score": score,
                    "reasoning": reasoning})
    return out
