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
