"""What a path says about its track (pure)."""

from __future__ import annotations

import pytest

from torrentino_bridge.importing.names import (
    NameInfo,
    folder_disc,
    parse_name,
    side_positions,
    strip_extension,
)


@pytest.mark.parametrize(
    ("rel", "disc", "number", "side", "packed", "title"),
    [
        ("01 - Airbag.flac", None, 1, None, False, "Airbag"),
        ("01. Airbag.mp3", None, 1, None, False, "Airbag"),
        ("01 Airbag.ogg", None, 1, None, False, "Airbag"),
        ("01_Airbag_Song.ogg", None, 1, None, False, "Airbag Song"),
        ("(03) Lucky.mp3", None, 3, None, False, "Lucky"),
        ("[04] Lucky.mp3", None, 4, None, False, "Lucky"),
        ("1-01 Airbag.ogg", 1, 1, None, False, "Airbag"),
        ("2-11 - Lucky.ogg", 2, 11, None, False, "Lucky"),
        ("1.03 Lucky.flac", 1, 3, None, False, "Lucky"),
        ("CD2-05 Song.flac", 2, 5, None, False, "Song"),
        ("CD2/03. Lucky.mp3", 2, 3, None, False, "Lucky"),
        ("cd 1/03 Lucky.mp3", 1, 3, None, False, "Lucky"),
        ("Disc 1/Track 05.flac", 1, 5, None, False, None),
        ("Album (2011) [FLAC]/Disc 2 - Bonus/01 - x.flac", 2, 1, None, False, "x"),
        ("Album/Disc One/01 y.flac", 1, 1, None, False, "y"),
        ("Album/[Disk 3]/02 y.flac", 3, 2, None, False, "y"),
        ("101 Airbag.flac", None, 101, None, True, "Airbag"),
        ("A1 Needle Drop.flac", None, 1, "A", False, "Needle Drop"),
        ("b4-Locked Groove.mp3", None, 4, "B", False, "Locked Groove"),
        ("track01.flac", None, 1, None, False, None),
        ("Track 07.mp3", None, 7, None, False, None),
        ("01.ogg", None, 1, None, False, None),
        ("Radiohead - 01 - Airbag.mp3", None, 1, None, False, "Airbag"),
        ("Radiohead - OK Computer - A1 - Airbag.mp3", None, 1, "A", False, "Airbag"),
        ("01-radiohead-airbag.mp3", None, 1, None, False, "radiohead-airbag"),
        ("radiohead-ok_computer-01-airbag.mp3", None, 1, None, False, "airbag"),
        ("Airbag.flac", None, None, None, False, "Airbag"),
        ("Radiohead - Airbag.flac", None, None, None, False, "Airbag"),
        ("01. Mr. Brightside", None, 1, None, False, "Mr. Brightside"),
    ],
)
def test_parse_name(rel: str, disc: int | None, number: int | None, side: str | None,
                    packed: bool, title: str | None) -> None:
    info = parse_name(rel)
    assert (info.disc, info.number, info.side, info.packed) == (disc, number, side, packed)
    assert (info.titles[0] if info.titles else None) == title


@pytest.mark.parametrize(
    ("rel", "candidates"),
    [
        # Digits that belong to the title stay available as a title.
        ("911 Is a Joke.mp3", {"Is a Joke", "911 Is a Joke"}),
        ("7 Seconds.mp3", {"Seconds", "7 Seconds"}),
        # "Artist - Title" after the number: the last part is a candidate too.
        ("01 - Radiohead - Airbag.flac", {"Radiohead - Airbag", "Airbag"}),
        ("01-radiohead-airbag.mp3", {"radiohead-airbag", "airbag"}),
        # Numbering alone is never a title.
        ("track01.flac", set()),
        ("Disc 1/Track 05.flac", set()),
    ],
)
def test_title_candidates(rel: str, candidates: set[str]) -> None:
    assert set(parse_name(rel).titles) == candidates


@pytest.mark.parametrize(
    ("folders", "disc"),
    [
        (["CD1"], 1), (["Album", "CD 2"], 2), (["Disc 1"], 1), (["disk02"], 2),
        (["Album (Disc 2)"], 2), (["Album", "Disc Three"], 3), (["Album"], None),
        (["CD2", "Scans"], 2), (["Discography"], None), ([], None),
    ],
)
def test_folder_disc(folders: list[str], disc: int | None) -> None:
    assert folder_disc(folders) == disc


@pytest.mark.parametrize(
    ("name", "stem"),
    [("01 - x.flac", "01 - x"), ("01. Mr. Brightside", "01. Mr. Brightside"), ("noext", "noext"),
     ("a.b.mp3", "a.b")],
)
def test_strip_extension(name: str, stem: str) -> None:
    assert strip_extension(name) == stem


def test_side_positions_follow_the_longest_number_on_each_side() -> None:
    infos = [NameInfo(side="A", number=n) for n in (1, 2, 3)] + [
        NameInfo(side="B", number=n) for n in (1, 3)] + [NameInfo(side="C", number=1)]
    # Side B lacks its track 2: side C still starts after B3.
    assert side_positions(infos) == {"A": 0, "B": 3, "C": 6}


@pytest.mark.parametrize(("rel", "parts"), [
    ("01-the_examples-neon_lights-grp.mp3", ("the examples", "neon lights", "grp")),
    ("Neon Lights - The Examples.mp3", ("Neon Lights", "The Examples")),
    ("01 - Run-Out.flac", ("Run", "Out")),
    ("the_examples-night_drive-01-neon_lights-grp.mp3", ("neon lights", "grp")),
    ("01 - Airbag.flac", ("Airbag",)),
    ("track01.flac", ()),
])
def test_title_text_is_split_into_parts(rel: str, parts: tuple[str, ...]) -> None:
    assert parse_name(rel).parts == parts


@pytest.mark.parametrize(("folders", "disc"), [
    (["Disk A"], 1), (["Disk B"], 2), (["CD-B"], 2), (["Disco Fever"], None), (["Disk Drive"], None),
])
def test_lettered_disc_folders(folders: list[str], disc: int | None) -> None:
    assert folder_disc(folders) == disc
