"""Evidence scoring and the two-pass assignment (pure: FileFacts in, pairs out)."""

from __future__ import annotations

import pytest

from torrentino_bridge.importing.matching import (
    FileFacts,
    TrackFacts,
    duration_llr,
    logistic,
    match,
    title_llr,
)
from torrentino_bridge.importing.name_titles import known_forms, name_titles
from torrentino_bridge.importing.names import parse_name

TITLES = ["Neon Lights", "Café Noir", "Salt & Pepper", "Paper Planes", "Midnight Train",
          "Don't Look Back"]
SECONDS = [200.0, 245.0, 181.0, 302.0, 222.0, 263.0]


def album(discs: int = 1) -> list[TrackFacts]:
    tracks = []
    per_disc = len(TITLES) // discs
    for i, (title, secs) in enumerate(zip(TITLES, SECONDS, strict=True)):
        disc, number = divmod(i, per_disc)
        tracks.append(TrackFacts(f"t{i + 1}", title, disc + 1, number + 1, i + 1, secs))
    return tracks


def file(rel: str, *, seconds: float | None = None, healthy: bool = True, **tags: object) -> FileFacts:
    return FileFacts(rel=rel, name=parse_name(rel), duration=seconds, healthy=healthy,
                     problem=None if healthy else "damaged", **tags)  # type: ignore[arg-type]


def run(files: list[FileFacts], tracks: list[TrackFacts], **kw: float) -> dict[str, str]:
    result = match(files, tracks, album_name="Night Drive", tolerance=kw.get("tolerance", 10.0),
                   threshold=kw.get("threshold", 0.6))
    return {tracks[t].id: files[p.file].rel for t, p in result.matched.items()}


def test_numbered_titled_files_match_their_tracks() -> None:
    files = [file(f"{i:02d} - {t}.flac", seconds=s)
             for i, (t, s) in enumerate(zip(TITLES, SECONDS, strict=True), start=1)]
    assert run(files, album()) == {f"t{i}": files[i - 1].rel for i in range(1, 7)}


def test_title_outweighs_a_number_from_another_edition() -> None:
    files = [file("01 - Café Noir.flac", seconds=245.0), file("02 - Neon Lights.flac", seconds=200.0)]
    assert run(files, album()) == {"t2": "01 - Café Noir.flac", "t1": "02 - Neon Lights.flac"}


def test_nothing_but_a_close_duration_is_too_doubtful() -> None:
    assert run([file("audio.flac", seconds=200.0)], album()) == {}


def test_a_number_alone_with_its_duration_is_enough() -> None:
    assert run([file("03.flac", seconds=181.5)], album()) == {"t3": "03.flac"}


def test_a_number_whose_duration_is_far_off_is_not_taken() -> None:
    # Nothing but "03" and a length that fits no track 3: pass 2 explains the track instead.
    result = match([file("03.flac", seconds=30.0)], album(), album_name=None, tolerance=10.0,
                   threshold=0.6)
    assert result.matched == {}
    assert set(result.explained) == {2}


def test_wrong_title_under_the_right_number_is_refused() -> None:
    files = [file("01 - Harbour Lights Forever.flac", seconds=200.0, tag_title="Harbour Lights Forever",
                  tag_track=1, tag_album="Low Tide")]
    assert run(files, album()) == {}


def test_unhealthy_file_explains_its_track_but_is_never_matched() -> None:
    files = [file("02 - Café Noir.flac", seconds=245.0, healthy=False)]
    result = match(files, album(), album_name=None, tolerance=10.0, threshold=0.6)
    assert result.matched == {}
    assert list(result.explained) == [1]


def test_a_healthy_duplicate_wins_over_a_damaged_copy() -> None:
    files = [file("FLAC/02 - Café Noir.flac", seconds=245.0, healthy=False),
             file("MP3/02 - Café Noir.mp3", seconds=245.0)]
    assert run(files, album()) == {"t2": "MP3/02 - Café Noir.mp3"}


def test_one_file_per_track_and_one_track_per_file() -> None:
    files = [file("Café Noir.mp3", seconds=245.0), file("Cafe Noir (copy).mp3", seconds=245.0)]
    got = run(files, album())
    assert list(got) == ["t2"]


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("CD1/03.flac", "t3"), ("CD2/03.flac", "t6"), ("Disc 2/Track 01.flac", "t4"),
        ("2-02.flac", "t5"), ("102.flac", "t2"), ("201.flac", "t4"),
    ],
)
def test_disc_and_number_pick_the_disc(rel: str, expected: str) -> None:
    tracks = album(discs=2)
    seconds = next(t.duration for t in tracks if t.id == expected)
    assert run([file(rel, seconds=seconds)], tracks) == {expected: rel}


def test_continuous_numbering_across_discs() -> None:
    tracks = album(discs=2)
    assert run([file("05.flac", seconds=222.0)], tracks) == {"t5": "05.flac"}


def test_vinyl_side_positions() -> None:
    files = [FileFacts(rel="B1.flac", name=parse_name("B1.flac"), side_position=4, duration=302.0)]
    assert run(files, album()) == {"t4": "B1.flac"}


def test_assignment_is_global_not_first_come() -> None:
    # "Neon Lights (Live)" fits t1 a bit; the exact title on the second file fits it better.
    files = [file("Neon Lights Live.mp3", seconds=200.0), file("Neon Lights.mp3", seconds=200.0)]
    assert run(files, album()) == {"t1": "Neon Lights.mp3"}


def _twins(second_intro_secs: float) -> list[TrackFacts]:
    return [TrackFacts("a", "Intro", 1, 1, 1, 90.0), TrackFacts("b", "Intro", 2, 1, 2, second_intro_secs)]


def test_a_coin_flip_gives_neither_track_a_file() -> None:
    files = [file("x/Intro.mp3", seconds=90.0), file("y/Intro.mp3", seconds=90.0)]
    result = match(files, _twins(90.0), album_name=None, tolerance=10.0, threshold=0.6)
    assert result.matched == {}
    assert result.ambiguous == {0: 1, 1: 0}


def test_lengths_settle_what_titles_cannot() -> None:
    files = [file("x/Intro.mp3", seconds=90.0), file("y/Intro.mp3", seconds=130.0)]
    assert run(files, _twins(130.0), tolerance=30.0) == {"a": "x/Intro.mp3", "b": "y/Intro.mp3"}


def test_every_match_clears_the_threshold() -> None:
    files = [file(f"{i:02d}.flac") for i in range(1, 7)]
    tracks = album()
    result = match(files, tracks, album_name=None, tolerance=10.0, threshold=0.95)
    assert all(p.confidence >= 0.95 for p in result.matched.values())


@pytest.mark.parametrize(("similarity", "sign"), [(1.0, 1), (0.9, 1), (0.75, 0), (0.5, -1), (0.3, -1)])
def test_title_llr_sign(similarity: float, sign: int) -> None:
    value = title_llr(similarity)
    assert (value > 0.1) - (value < -0.1) == sign


def test_duration_llr_falls_with_distance() -> None:
    assert duration_llr(0.0, 10.0) > duration_llr(5.0, 10.0) > duration_llr(10.0, 10.0)
    assert duration_llr(30.0, 10.0) == -1.0


def test_logistic_is_bounded() -> None:
    assert logistic(1e9) == pytest.approx(1.0)
    assert logistic(-1e9) == pytest.approx(0.0)


# A file whose tags and name point at different tracks (regression: the title score took the
# better of tag and name title, so a copy of track 3 *named* "01 - Neon Lights" was imported as
# track 1). A tolerance of 30 s lets track 3's 181 s fit track 1's 200 s too, as real album
# tracks often do: duration cannot settle it, so the tags must.
def copy_of_3_named_as_1(rel: str = "01 - Neon Lights.flac", **tags: object) -> FileFacts:
    values: dict[str, object] = {"seconds": 181.0, "tag_title": "Salt & Pepper", "tag_track": 3}
    values.update(tags)
    return file(rel, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("real_first", [None, "zz garbage.flac", "05 untitled.flac"])
def test_a_copy_named_as_another_track_is_never_taken_for_it(real_first: str | None) -> None:
    files = [copy_of_3_named_as_1(), file("03 - Salt & Pepper.flac", seconds=181.0,
                                          tag_title="Salt & Pepper", tag_track=3)]
    if real_first is not None:     # the real track 1 under a name that says nothing (or lies)
        files.append(file(real_first, seconds=200.0, tag_title="Neon Lights", tag_track=1))
    result = match(files, album(), album_name=None, tolerance=30.0, threshold=0.6)
    got = {album()[t].id: files[p.file].rel for t, p in result.matched.items()}
    assert got == {"t3": "03 - Salt & Pepper.flac", **({"t1": real_first} if real_first else {})}
    assert result.best_for_file[0].track == 2       # "another file fits 3 Salt & Pepper better"
    assert "tags say 3 Salt & Pepper, name says 1 Neon Lights" in result.best_for_file[0].signals


def test_tags_and_duration_outweigh_a_name_that_contradicts_them() -> None:
    # The copy alone: its tags and length say track 3, nothing else claims track 3.
    result = match([copy_of_3_named_as_1()], album(), album_name=None, tolerance=30.0, threshold=0.6)
    assert list(result.matched) == [2]
    consistent = match([file("03 - Salt & Pepper.flac", seconds=181.0, tag_title="Salt & Pepper",
                             tag_track=3)], album(), album_name=None, tolerance=30.0, threshold=0.6)
    # ...but with less confidence than a file whose name agrees: the contradiction counts.
    assert result.matched[2].logit < consistent.matched[2].logit - 2.0


def test_a_contradicted_file_whose_length_fits_only_its_name_goes_nowhere() -> None:
    # Tags say track 3, length fits only track 1: neither the tags nor the name is trusted.
    files = [copy_of_3_named_as_1(seconds=200.0)]
    assert run(files, album()) == {}


@pytest.mark.parametrize("rel", ["01 - Neon Lights.flac", "01.flac"])
def test_a_bare_tag_number_against_the_name_goes_nowhere(rel: str) -> None:
    # No tag title: a tag number alone does not outweigh the name, nor the name it.
    files = [copy_of_3_named_as_1(rel, tag_title=None)]
    result = match(files, album(), album_name=None, tolerance=30.0, threshold=0.6)
    assert result.matched == {}
    assert result.best_for_file[0].contradicted


def test_a_tag_title_outweighs_a_bare_name_number() -> None:
    files = [copy_of_3_named_as_1("01.flac", tag_track=None)]
    assert run(files, album(), tolerance=30.0) == {"t3": "01.flac"}


def test_wrong_tag_numbers_next_to_right_titles_are_no_conflict() -> None:
    # A rip whose tags all say track 1: the titles in tags and names agree, so it is no conflict.
    files = [file(f"{i:02d} - {t}.flac", seconds=s, tag_title=t, tag_track=1)
             for i, (t, s) in enumerate(zip(TITLES, SECONDS, strict=True), start=1)]
    result = match(files, album(), album_name=None, tolerance=10.0, threshold=0.6)
    assert {album()[t].id: files[p.file].rel for t, p in result.matched.items()} == {
        f"t{i}": files[i - 1].rel for i in range(1, 7)}
    assert not any("name says" in s for p in result.matched.values() for s in p.signals)


def test_another_editions_number_in_both_name_and_tags_is_no_conflict() -> None:
    # Another edition's running order, names without titles: "01.flac" tagged Café Noir #1.
    files = [file("01.flac", seconds=245.0, tag_title="Café Noir", tag_track=1),
             file("02.flac", seconds=200.0, tag_title="Neon Lights", tag_track=2)]
    assert run(files, album()) == {"t2": "01.flac", "t1": "02.flac"}


# Names as people write them, read against the album (regression: scene names like this
# matched their own tracks at 0.25-0.42, under the threshold, so nothing was imported).
@pytest.mark.parametrize(("rel", "title"), [
    ("01-the_examples-neon_lights-grp.mp3", "neon lights"),
    ("Neon Lights - The Examples.mp3", "Neon Lights"),
    ("The Examples - Night Drive - Neon Lights.mp3", "Neon Lights"),
    ("01-examples-neon_lights-2011-web-grp.mp3", "neon lights"),
])
def test_known_names_and_tags_are_dropped_from_name_titles(rel: str, title: str) -> None:
    known = known_forms(["The Examples", "Night Drive"])
    assert title in name_titles(parse_name(rel), known)


@pytest.mark.parametrize("rel", [
    "01-the_examples-neon_lights-live.mp3",          # "live" is never a group tag
    "01-someone_else-neon_lights-grp.mp3",           # an unknown artist is not dropped
])
def test_unexplained_parts_stay_in_the_title(rel: str) -> None:
    assert "neon lights" not in name_titles(parse_name(rel), known_forms(["The Examples", "Night Drive"]))


def test_scene_names_match_without_tags() -> None:
    files = [file(f"{i:02d}-the_examples-{t.lower().replace(' ', '_')}-grp.mp3", seconds=s)
             for i, (t, s) in enumerate(zip(TITLES, SECONDS, strict=True), start=1)]
    result = match(files, album(), album_name="Night Drive", tolerance=10.0, threshold=0.6,
                   known_names=["The Examples"])
    assert {album()[t].id: files[p.file].rel for t, p in result.matched.items()} == {
        f"t{i}": files[i - 1].rel for i in range(1, 7)}
    assert all(p.confidence > 0.99 for p in result.matched.values())


@pytest.mark.parametrize("rel", ["01 - Neon Lights (Live).mp3", "01 - Neon Lights (Remix).mp3",
                                 "01-the_examples-neon_lights_(demo)-grp.mp3"])
def test_another_version_is_not_the_track_whatever_else_agrees(rel: str) -> None:
    files = [file(rel, seconds=200.0, tag_track=1, tag_album="Night Drive")]
    result = match(files, album(), album_name="Night Drive", tolerance=10.0, threshold=0.6,
                   known_names=["The Examples"])
    assert result.matched == {}
    assert any(s.startswith("another version") for s in result.best_for_file[0].signals)


def test_a_version_word_in_the_catalog_title_is_no_objection() -> None:
    tracks = [TrackFacts("t1", "Neon Lights (Live)", 1, 1, 1, 200.0)]
    assert run([file("01 - Neon Lights (Live).mp3", seconds=200.0)], tracks) == {"t1": "01 - Neon Lights (Live).mp3"}
