"""Which signal decided (pure)."""

from __future__ import annotations

import pytest

from torrentino_bridge.importing.explain import decided_by, evidence_json, why_text
from torrentino_bridge.importing.matching import Evidence, PairScore, logistic

NUMBER = Evidence("number", "name #3 agrees", 4.0)
TITLE = Evidence("title", "0.41 similar", -8.8)
DURATION = Evidence("duration", "0.2s apart", 1.7)


def pair(logit: float, *evidence: Evidence, duration_ok: bool = True, contradicted: bool = False) -> PairScore:
    return PairScore(0, 0, logit, logistic(logit), (), duration_ok, contradicted, evidence)


@pytest.mark.parametrize(("p", "healthy", "field"), [
    (pair(-5.0, NUMBER, TITLE, DURATION), True, "title"),
    (pair(-5.0, NUMBER, TITLE, DURATION), False, "file"),
    (pair(-5.0, NUMBER, DURATION, contradicted=True), True, "conflict"),
    (pair(3.0, NUMBER, DURATION, duration_ok=False), True, "duration"),
    (pair(0.1, DURATION), True, "evidence"),
    (pair(3.0, NUMBER, DURATION), True, "assignment"),
])
def test_decided_by(p: PairScore, healthy: bool, field: str) -> None:
    assert decided_by(p, healthy=healthy, cut=0.4) == field


def test_why_text() -> None:
    entry = {"decided_by": "title", "evidence": evidence_json([NUMBER, TITLE, DURATION])}
    assert why_text(entry) == "title: 0.41 similar (-8.8)"
    weak = {"decided_by": "evidence", "evidence": evidence_json([DURATION])}
    assert why_text(weak) == "too little evidence (duration: 0.2s apart +1.7)"
    assert why_text({}) == ""
