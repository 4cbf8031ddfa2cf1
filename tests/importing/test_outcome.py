"""Summaries and the match table (pure)."""

from __future__ import annotations

import pytest

from torrentino_bridge.importing.outcome import ImportOutcome, reason_group, summarise
from torrentino_bridge.importing.report import align, render_table

LABELS = {f"t{i}": f"{i} Title {i}" for i in range(1, 13)}


def test_summary_lists_missing_then_corrupt() -> None:
    failed = {"t11": "corrupt: does not decode", "t4": "missing", "t7": "missing"}
    imported = {t: f"a/{t}.ogg" for t in LABELS if t not in failed}
    assert summarise(LABELS, imported, failed) == (
        "9 of 12 tracks imported; missing: 4 Title 4, 7 Title 7; corrupt: 11 Title 11"
    )


def test_summary_is_empty_when_everything_imported() -> None:
    assert summarise(LABELS, {t: "x" for t in LABELS}, {}) == ""


@pytest.mark.parametrize(
    ("reason", "group"),
    [("missing", "missing"), ("missing: the file vanished before import", "missing"),
     ("corrupt: empty file", "corrupt"), ("corrupt: duration 2s, expected 6s", "corrupt"),
     ("duration 300s, expected 240s", "wrong duration"), ("placement failed", "placement failed"),
     ("ambiguous: its file fits 3 Intro as well", "ambiguous")],
)
def test_reason_groups(reason: str, group: str) -> None:
    assert reason_group(reason) == group


def test_outcome_json_round_trip() -> None:
    outcome = ImportOutcome({"t1": "a/1-01.ogg"}, {"t2": "missing"}, "1 of 2 tracks imported; missing: 2 x")
    assert ImportOutcome.from_json(outcome.to_json()) == outcome


def test_align_pads_all_but_the_last_column() -> None:
    assert align([("a", "bb", "c")], ("AAA", "B", "C")) == ["AAA  B   C", "a    bb  c"]


def test_table_shows_matches_unmatched_and_rejected() -> None:
    report = {
        "matches": [{"file": "01 - A.ogg", "track_id": "t1", "confidence": 0.99,
                     "signals": ["name #1 ok", "title 1.00"]}],
        "unmatched_tracks": ["t2"],
        "rejected_files": [{"file": "cover.jpg", "reason": "not audio (.jpg)"},
                           {"file": "13 - Bonus.ogg", "reason": "no confident match", "confidence": 0.1}],
    }
    text = render_table(report, {"t1": "1 A", "t2": "2 B"}, {"t2": "missing"})
    lines = text.splitlines()
    assert lines[0].split() == ["FILE", "TRACK", "SIGNALS", "CONFIDENCE"]
    assert lines[1].startswith("01 - A.ogg") and lines[1].endswith("0.990")
    assert "name #1 ok, title 1.00" in lines[1]
    assert any(line.split()[:3] == ["2", "B", "t2"] and line.endswith("missing") for line in lines)
    assert any(line.strip().startswith("cover.jpg") for line in lines)
    assert any("13 - Bonus.ogg" in line and line.endswith("0.100") for line in lines)
