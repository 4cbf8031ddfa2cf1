"""The fixture set of realistic torrent layouts: each case's exact assignment, and the
summary over all of them (correct / unmatched / wrong; wrong must be 0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from torrentino_bridge.config import MediaSettings
from torrentino_bridge.importing import ImportPlan, plan_import

from .layouts import CASES, CASES_BY_NAME, Case, album_meta, track_metas


def plan_case(case: Case, root: Path, media: MediaSettings) -> ImportPlan:
    album_tracks = track_metas(case.album)
    wanted = set(case.track_ids())
    tracks = [t for t in album_tracks if t.id in wanted]
    return plan_import(root / "incoming" / case.name, album_meta(case.album), tracks, media,
                       album_tracks=album_tracks)


def shown(plan: ImportPlan, rel: str) -> str:
    """A file as the cases name it: cut tracks by their image and sheet number."""
    cut = plan.cuts.get(rel)
    return cut.label() if cut is not None else rel


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_layout_gets_the_exact_assignment(case: Case, layout_root: Path,
                                          layout_media: MediaSettings) -> None:
    plan = plan_case(case, layout_root, layout_media)
    assert {shown(plan, m.file.rel): m.track.id for m in plan.matches} == case.expected
    assert set(plan.failed) == set(case.failed)
    for track_id, prefix in case.failed.items():
        assert plan.failed[track_id].startswith(prefix), plan.failed[track_id]
    assert all(m.confidence >= layout_media.match_threshold for m in plan.matches)


def _reasons(plan: ImportPlan) -> dict[str, str]:
    return {r.file: r.reason for r in plan.rejected}


def test_symlinks_are_never_followed(layout_root: Path, layout_media: MediaSettings) -> None:
    reasons = _reasons(plan_case(CASES_BY_NAME["symlink_outside"], layout_root, layout_media))
    assert reasons["05 - Midnight Train.ogg"] == "symlink (not followed)"
    assert reasons["Extras"] == "symlink (not followed)"
    assert not any(f.startswith("Extras/") for f in reasons)


def test_clutter_and_samples_are_skipped_with_reasons(layout_root: Path,
                                                      layout_media: MediaSettings) -> None:
    reasons = _reasons(plan_case(CASES_BY_NAME["clutter_and_samples"], layout_root, layout_media))
    assert reasons == {
        ".DS_Store": "hidden",
        "._01 - Neon Lights.mp3": "hidden",
        "Night Drive.cue": "CUE sheet not used: no tracks",
        "Sample/": "sample directory",
        "Scans/back.png": "not audio (.png)",
        "cover.jpg": "not audio (.jpg)",
        "info.nfo": "not audio (.nfo)",
        "notes.txt": "not audio (.txt)",
        "playlist.m3u": "not audio (.m3u)",
        "rip.log": "not audio (.log)",
        "sample.mp3": "sample file",
    }


def test_bonus_track_is_rejected_not_forced_onto_the_gap(layout_root: Path,
                                                         layout_media: MediaSettings) -> None:
    plan = plan_case(CASES_BY_NAME["bonus_and_missing"], layout_root, layout_media)
    reasons = _reasons(plan)
    assert reasons["13 - Hidden Jam (Bonus Track).flac"].startswith("no confident match")
    assert plan.failed == {"nd-107": "missing"}


def test_partial_request_leaves_other_album_files_alone(layout_root: Path,
                                                        layout_media: MediaSettings) -> None:
    plan = plan_case(CASES_BY_NAME["partial_request"], layout_root, layout_media)
    reasons = _reasons(plan)
    assert reasons["01 - Neon Lights.ogg"] == "not requested: matches 1 Neon Lights"
    assert len([r for r in reasons.values() if r.startswith("not requested")]) == 9


def test_corrupt_files_fail_only_their_own_track(layout_root: Path,
                                                 layout_media: MediaSettings) -> None:
    plan = plan_case(CASES_BY_NAME["corrupt_files"], layout_root, layout_media)
    assert len(plan.matches) == 9
    assert plan.failed["nd-109"] == "corrupt: empty file"
    assert plan.failed["nd-111"].startswith("corrupt: does not decode")
    assert plan.failed["nd-104"].startswith("corrupt: unreadable header")
    reasons = _reasons(plan)
    assert reasons["11 - The Long Goodbye.flac"].endswith("(looks like 11 The Long Goodbye)")


def test_a_renamed_copy_of_another_track_is_not_taken_for_the_name(layout_root: Path,
                                                                   layout_media: MediaSettings) -> None:
    plan = plan_case(CASES_BY_NAME["mislabelled_copy"], layout_root, layout_media)
    assert plan.failed == {"nd-101": "missing"}
    assert _reasons(plan) == {"01 - Neon Lights.ogg": "another file fits 8 Stay (feat. Mira) better"}


@pytest.mark.serial     # prints the fixture-set line (xdist workers' output is not shown)
def test_summary_over_the_whole_fixture_set(layout_root: Path, layout_media: MediaSettings,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    correct = unmatched = wrong = expected_unmatched = 0
    for case in CASES:
        plan = plan_case(case, layout_root, layout_media)
        got = {m.track.id: shown(plan, m.file.rel) for m in plan.matches}
        want = {track_id: rel for rel, track_id in case.expected.items()}
        for track_id in case.track_ids():
            if track_id not in got:
                unmatched += 1
                expected_unmatched += track_id not in want
            elif want.get(track_id) == got[track_id]:
                correct += 1
            else:
                wrong += 1
    total = correct + unmatched + wrong
    with capsys.disabled():
        print(f"\nimport fixture set: {len(CASES)} layouts, {total} requested tracks: "
              f"correct {correct}, unmatched {unmatched} "
              f"({expected_unmatched} by design: missing, corrupt, symlinked, other album or version, "
              f"uncuttable image, ambiguous), "
              f"wrong {wrong}")
    assert wrong == 0
    assert unmatched == expected_unmatched           # no file that should match was left out
    assert correct == sum(len(c.expected) for c in CASES)


@pytest.mark.parametrize(("name", "decided"), [
    ("version_trap", {"version"}),                    # number, length and most of the title agree
    ("wrong_album", {"title"}),
    ("wrong_album_scene_tagless", {"title"}),
    ("cue_other_album", {"title"}),
    ("mislabelled_copy", {"assignment"}),
])
def test_every_rejected_file_says_which_signal_decided(layout_root: Path, layout_media: MediaSettings,
                                                        name: str, decided: set[str]) -> None:
    report = plan_case(CASES_BY_NAME[name], layout_root, layout_media).to_json()
    audio = [r for r in report["rejected_files"] if "confidence" in r]
    assert audio and {r["decided_by"] for r in audio} == decided
    for r in audio:
        fields = {e["field"] for e in r["evidence"]}
        assert r["decided_by"] in fields | {"assignment", "evidence"}
        assert {"number", "title", "duration"} & fields


def test_each_track_left_without_a_file_says_why(layout_root: Path, layout_media: MediaSettings) -> None:
    report = plan_case(CASES_BY_NAME["bonus_and_missing"], layout_root, layout_media).to_json()
    [detail] = report["unmatched_details"]
    assert detail["track_id"] == "nd-107" and detail["reason"] == "missing"
    assert detail["best_file"] == "13 - Hidden Jam (Bonus Track).flac"      # the only file no track took
    assert detail["decided_by"] == "duration"                               # 5.2 s against 8 s
    overrun = plan_case(CASES_BY_NAME["cue_overrun"], layout_root, layout_media).to_json()
    first = overrun["unmatched_details"][0]
    assert first["decided_by"] == "file" and first["reason"].startswith("corrupt: cannot cut Night Drive.flac")
    assert first["cut_from"] == {"image": "Night Drive.flac", "sheet": "Night Drive.cue", "track": 1,
                                 "start": "00:00:00", "end": "00:03:15"}


def test_cut_tracks_report_where_they_come_from(layout_root: Path, layout_media: MediaSettings) -> None:
    report = plan_case(CASES_BY_NAME["cue_two_discs"], layout_root, layout_media).to_json()
    cuts = {m["track_id"]: m["cut_from"] for m in report["matches"]}
    assert cuts["dd-201"]["image"] == "CD2/Two Sides CD2.flac" and cuts["dd-201"]["track"] == 1
    assert {r["file"]: r["reason"] for r in report["rejected_files"]} == {
        "CD1/Two Sides CD1.cue": "CUE sheet: cuts CD1/Two Sides CD1.flac into 6 tracks",
        "CD1/Two Sides CD1.flac": "CUE image: cut by CD1/Two Sides CD1.cue",
        "CD2/Two Sides CD2.cue": "CUE sheet: cuts CD2/Two Sides CD2.flac into 5 tracks",
        "CD2/Two Sides CD2.flac": "CUE image: cut by CD2/Two Sides CD2.cue",
    }
