"""Why a file was not taken, or a track got none (pure): the signal that decided.

Matching scores each (file, track) pair from its evidence (matching.Evidence: number,
title, duration, album tag, version words, a name/tag conflict). For a pair that did not
become a match, the deciding field is the first of: the file is unusable ("file"); its
tags and name contradict each other ("conflict"); its length is beyond the tolerance
("duration"); its score stayed under the threshold: the evidence that counted most against
it, or "evidence" when nothing was against it but too little was for it; it cleared the
threshold, but the assignment gave the file or the track to a better pair ("assignment").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .matching import Evidence, PairScore

FIELDS = ("file", "conflict", "duration", "number", "title", "album", "version", "evidence", "assignment",
          "ambiguous")


def decided_by(pair: PairScore, *, healthy: bool, cut: float) -> str:
    """The field that kept `pair` from being a match (`cut`: the threshold in log-odds)."""
    if not healthy:
        return "file"
    if pair.contradicted:
        return "conflict"
    if not pair.duration_ok:
        return "duration"
    if pair.logit >= cut:
        return "assignment"
    against = [e for e in pair.evidence if e.weight < 0]
    return min(against, key=lambda e: e.weight).field if against else "evidence"


def evidence_json(evidence: Sequence[Evidence]) -> list[dict[str, Any]]:
    return [{"field": e.field, "detail": e.detail, "weight": round(e.weight, 2)} for e in evidence]


def why_text(entry: Mapping[str, Any]) -> str:
    """One line for the CLI: the deciding field and what it said, e.g.
    "title: 0.41 similar (-8.8)" or "too little evidence (number: name #3 agrees +4.0)"."""
    field = entry.get("decided_by")
    if not field:
        return ""
    evidence = [e for e in entry.get("evidence", []) if isinstance(e, Mapping)]
    if field == "evidence":
        said = "; ".join(f"{e['field']}: {e['detail']} {e['weight']:+.1f}" for e in evidence) or "nothing"
        return f"too little evidence ({said})"
    if field == "assignment":
        return "a better pair took the file or the track"
    if field == "file":
        return "the file is unusable"
    if field == "ambiguous":
        return "two files fit two tracks alike"
    for e in evidence:
        if e["field"] == field:
            return f"{field}: {e['detail']} ({e['weight']:+.1f})"
    return field
