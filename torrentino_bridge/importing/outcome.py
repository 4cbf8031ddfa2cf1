"""What an import did, and the one-line summary users read (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImportOutcome:
    imported: dict[str, str]  # track_id -> audio_uri (relative to media root)
    # track_id -> reason: "missing", "corrupt: <why>" (a short file: "corrupt: duration 12s,
    # expected 240s"), "duration 300s, expected 240s" (a longer, other version)
    failed: dict[str, str]
    summary: str              # "" when all imported, else "9 of 12 tracks imported; missing: 4 Title, ..."

    def to_json(self) -> dict[str, Any]:
        return {"imported": self.imported, "failed": self.failed, "summary": self.summary}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImportOutcome:
        return cls(dict(data.get("imported", {})), dict(data.get("failed", {})),
                   str(data.get("summary", "")))


_GROUP_ORDER = {"missing": 0, "corrupt": 1, "wrong duration": 2, "ambiguous": 3}


def reason_group(reason: str) -> str:
    """The heading a failure is listed under in a summary."""
    if reason.startswith("missing"):
        return "missing"
    if reason.startswith("corrupt"):
        return "corrupt"
    if reason.startswith("duration"):
        return "wrong duration"
    if reason.startswith("ambiguous"):
        return "ambiguous"
    return reason.split(":", 1)[0].strip() or "failed"


def summarise(labels: Mapping[str, str], imported: Mapping[str, str],
              failed: Mapping[str, str]) -> str:
    """"9 of 12 tracks imported; missing: 4 Title, 7 Title; corrupt: 11 Title", or ""."""
    if not failed:
        return ""
    groups: dict[str, list[str]] = {}
    for track_id in labels:
        if track_id in failed:
            groups.setdefault(reason_group(failed[track_id]), []).append(labels[track_id])
    total = len(labels)
    done = sum(1 for t in labels if t in imported)
    parts = [f"{done} of {total} tracks imported"]
    ranked = sorted(groups.items(), key=lambda g: _GROUP_ORDER.get(g[0], len(_GROUP_ORDER)))
    parts += [f"{group}: {', '.join(names)}" for group, names in ranked]
    return "; ".join(parts)
