"""CUE sheets as they come (pure): encodings, quoting, pregaps, several files, bad sheets."""

from __future__ import annotations

import codecs
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentino_bridge.importing.cue import (
    CueError,
    frames_text,
    parse,
    parse_time,
    readings,
    to_samples,
)

EAC = """REM GENRE Rock
REM DATE 2011
REM DISCID 8A0B2C0D
REM COMMENT "ExactAudioCopy v1.6"
PERFORMER "The Examples"
TITLE "Night Drive"
FILE "The Examples - Night Drive.flac" WAVE
  TRACK 01 AUDIO
    TITLE "Neon Lights"
    PERFORMER "The Examples"
    ISRC GBAAA1100001
    INDEX 01 00:00:00
  TRACK 02 AUDIO
    TITLE "Café Noir"
    PERFORMER "The Examples"
    FLAGS DCP
    INDEX 00 03:10:40
    INDEX 01 03:12:00
  TRACK 03 AUDIO
    TITLE "Salt & Pepper"
    INDEX 01 08:00:74
"""


def test_an_eac_sheet() -> None:
    sheet = parse(EAC)
    assert (sheet.title, sheet.performer, sheet.disc) == ("Night Drive", "The Examples", None)
    assert [f.name for f in sheet.files] == ["The Examples - Night Drive.flac"]
    assert [(t.number, t.title, t.start, t.pregap) for t in sheet.tracks] == [
        (1, "Neon Lights", 0, None),
        (2, "Café Noir", (3 * 60 + 12) * 75, (3 * 60 + 10) * 75 + 40),
        (3, "Salt & Pepper", 8 * 60 * 75 + 74, None),
    ]


@pytest.mark.parametrize("raw", [
    EAC.encode("utf-8"),
    codecs.BOM_UTF8 + EAC.encode("utf-8"),
    EAC.replace("\n", "\r\n").encode("utf-8"),
    EAC.replace("\n", "\r\n").encode("latin-1"),
    codecs.BOM_UTF8 + EAC.replace("\n", "\r\n").encode("utf-8"),
    EAC.encode("utf-16"),
    EAC.replace("\n", "\r").encode("cp1252"),                     # classic Mac line ends
])
def test_encodings_and_line_ends(raw: bytes) -> None:
    encoding, text = readings(raw)[0]
    sheet = parse(text, encoding=encoding)
    assert [t.title for t in sheet.tracks] == ["Neon Lights", "Café Noir", "Salt & Pepper"]


def test_a_code_page_sheet_offers_every_plausible_reading() -> None:
    raw = 'TITLE "Кино"\nFILE "a.flac" WAVE\n TRACK 01 AUDIO\n  TITLE "Группа крови"\n  INDEX 01 00:00:00\n'
    options = readings(raw.encode("cp1251"))
    assert len(options) > 1
    titles = {parse(text).tracks[0].title for _, text in options}
    assert "Группа крови" in titles


@pytest.mark.parametrize(("line", "name", "kind"), [
    ('FILE "Album.flac" WAVE', "Album.flac", "WAVE"),
    ("FILE Album.flac WAVE", "Album.flac", "WAVE"),
    ("FILE My Album.wav WAVE", "My Album.wav", "WAVE"),
    ('FILE "CD1\\Album.ape" WAVE', "CD1/Album.ape", "WAVE"),
    ('FILE "Album.mp3" MP3', "Album.mp3", "MP3"),
    ('FILE "Album.flac"', "Album.flac", None),
    ('file "odd quote.flac WAVE', "odd quote.flac WAVE", None),
])
def test_file_lines(line: str, name: str, kind: str | None) -> None:
    sheet = parse(f"{line}\nTRACK 01 AUDIO\nINDEX 01 00:00:00\n")
    assert (sheet.files[0].name, sheet.files[0].kind) == (name, kind)


def test_unquoted_titles_keep_their_spaces_and_rem_discnumber_is_read() -> None:
    sheet = parse("REM DISCNUMBER 2\nTITLE Two Sides\nFILE x.wav WAVE\nTRACK 1 AUDIO\nTITLE Second Wind\n"
                  "INDEX 01 0:00:00\n")
    assert (sheet.title, sheet.disc, sheet.tracks[0].title) == ("Two Sides", 2, "Second Wind")


def test_several_files_and_a_pregap_at_the_end_of_the_previous_file() -> None:
    # EAC's "noncompliant" layout: track 2's pregap (INDEX 00) ends file 1, its INDEX 01
    # opens file 2. Gaps appended: the pregap is the end of track 1.
    sheet = parse('FILE "01.wav" WAVE\n TRACK 01 AUDIO\n  INDEX 01 00:00:00\n TRACK 02 AUDIO\n'
                  '  INDEX 00 04:10:20\nFILE "02.wav" WAVE\n  INDEX 01 00:00:00\n TRACK 03 AUDIO\n'
                  '  INDEX 01 03:00:00\n')
    assert [(t.number, t.file, t.start, t.pregap) for t in sheet.tracks] == [
        (1, 0, 0, None), (2, 1, 0, None), (3, 1, 3 * 60 * 75, None)]
    assert [t.number for t in sheet.tracks_in(1)] == [2, 3]


@pytest.mark.parametrize(("text", "message"), [
    ("", "no tracks"),
    ("TRACK 01 AUDIO\nINDEX 01 00:00:00\n", "TRACK before any FILE"),
    ('FILE "a.wav" WAVE\nTRACK 01 AUDIO\nTITLE x\n', "track 1 has no INDEX 01"),
    ('FILE "a.wav" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:61:00\n', "bad time"),
    ('FILE "a.wav" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:00:75\n', "bad time"),
    ('FILE "a.wav" WAVE\nTRACK xx AUDIO\nINDEX 01 00:00:00\n', "bad track number"),
    ('FILE "a.wav" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:10:00\nTRACK 01 AUDIO\nINDEX 01 00:20:00\n', "twice"),
    ('FILE "a.wav" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:10:00\nTRACK 02 AUDIO\nINDEX 01 00:05:00\n',
     "track 2 starts at 00:05:00, not after track 1 (00:10:00)"),
])
def test_bad_sheets_say_why(text: str, message: str) -> None:
    with pytest.raises(CueError, match=re.escape(message)):
        parse(text)


def test_times() -> None:
    assert parse_time("00:00:00") == 0
    assert parse_time("61:02:74") == (61 * 60 + 2) * 75 + 74
    assert parse_time("123:00:00") == 123 * 60 * 75
    assert frames_text(parse_time("04:12:33")) == "04:12:33"
    assert to_samples(1, 44100) == 588                 # one CD frame, exactly
    assert to_samples(75 * 60, 44100) == 44100 * 60
    assert to_samples(1, 48000) == 640
    assert to_samples(1, 22050) == 294
    assert to_samples(1, 8000) == 107                  # 106.67: nearest sample


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.sampled_from(['FILE "a.flac" WAVE', "FILE", "TRACK 01 AUDIO", "TRACK 2", "TRACK x", "INDEX 01 00:00:00",
                     "INDEX 00 00:01:00", "INDEX 01 99:59:74", "INDEX 01", "INDEX 1 1:2:3", 'TITLE "', "TITLE",
                     "PERFORMER x", "REM DISCNUMBER 2", "REM DISCNUMBER", "\ufeffFILE x"]),
    st.text(max_size=40)), max_size=30))
def test_any_text_parses_or_says_why(lines: list[str]) -> None:
    """Torrent-supplied sheets: whatever the text, a sheet or a CueError, nothing else."""
    try:
        sheet = parse("\n".join(lines))
    except CueError:
        return
    assert sheet.tracks and all(0 <= t.file < len(sheet.files) for t in sheet.tracks)
