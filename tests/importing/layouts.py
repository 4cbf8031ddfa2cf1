"""Realistic torrent layouts built from real encoded files, with the assignment each must get.

Three catalog albums: a 12-track single disc with awkward titles (accents, `&`, a
remaster suffix, a feat. part), an 11-track double album whose discs share track numbers
and a near-duplicate title ("Run" / "Run (Reprise)"), and an 8-track vinyl rip.
Every case states exactly which file must land on which track, and which requested
tracks must stay without a file (and why).
"""

from __future__ import annotations

import os
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import AlbumSpec
from torrentino_bridge.domain.models import AlbumMeta, Availability, TrackMeta
from torrentino_bridge.sim.audio import AudioKind, AudioTags, write_audio, write_tags

from .cue_images import Piece, sheet_text, write_image

ARTIST = "The Examples"

SINGLE = AlbumSpec("nd", ARTIST, "Night Drive", 2011, [
    (1, 1, "Neon Lights", 3, "fetching"),
    (1, 2, "Café Noir", 5, "fetching"),
    (1, 3, "Salt & Pepper", 2, "fetching"),
    (1, 4, "Paper Planes (Remastered 2011)", 7, "fetching"),
    (1, 5, "Midnight Train", 4, "fetching"),
    (1, 6, "Don't Look Back", 6, "fetching"),
    (1, 7, "Exit Wounds", 8, "fetching"),
    (1, 8, "Stay (feat. Mira)", 3, "fetching"),
    (1, 9, "Glass Houses", 5, "fetching"),
    (1, 10, "Ocean Drive", 2, "fetching"),
    (1, 11, "The Long Goodbye", 6, "fetching"),
    (1, 12, "Señorita Blue", 4, "fetching"),
])
DOUBLE = AlbumSpec("dd", ARTIST, "Two Sides", 2014, [
    (1, 1, "Opening", 3, "fetching"),
    (1, 2, "Blue Hour", 5, "fetching"),
    (1, 3, "Run", 4, "fetching"),
    (1, 4, "Paper Moon", 6, "fetching"),
    (1, 5, "Static", 2, "fetching"),
    (1, 6, "Interlude", 7, "fetching"),
    (2, 1, "Second Wind", 5, "fetching"),
    (2, 2, "Run (Reprise)", 3, "fetching"),
    (2, 3, "Lanterns", 8, "fetching"),
    (2, 4, "Slow Burn", 4, "fetching"),
    (2, 5, "Coda", 6, "fetching"),
])
VINYL = AlbumSpec("vy", ARTIST, "Wax", 1979, [
    (1, n, title, secs, "fetching")
    for n, (title, secs) in enumerate([
        ("Needle Drop", 3), ("Groove", 5), ("Crackle", 4), ("Run-Out", 6),
        ("Flip Side", 2), ("Dust Jacket", 7), ("Gatefold", 5), ("Locked Groove", 3)], start=1)
])
TWINS = AlbumSpec("tw", ARTIST, "Twins", 2020, [
    (1, 1, "Intro", 3, "fetching"), (1, 2, "Theme", 5, "fetching"),
    (2, 1, "Intro", 3, "fetching"), (2, 2, "Theme (Reprise)", 4, "fetching"),
])
ALBUMS = {a.id: a for a in (SINGLE, DOUBLE, VINYL, TWINS)}


def album_meta(spec: AlbumSpec) -> AlbumMeta:
    return AlbumMeta(id=spec.id, name=spec.name, artist=spec.artist, year=spec.year)


def track_metas(spec: AlbumSpec) -> list[TrackMeta]:
    return [
        TrackMeta(id=spec.track_id(d, n), album_id=spec.id, name=title, disc_number=d,
                  track_number=n, duration_ms=secs * 1000, audio_uri=None,
                  availability=Availability.FETCHING, artist=spec.artist)
        for d, n, title, secs, _ in spec.tracks
    ]


@dataclass(frozen=True)
class FileSpec:
    rel: str
    track: tuple[int, int] | None          # (disc, number) whose audio this is; None: extra song
    kind: AudioKind = "ogg"
    tags: str = "full"                     # "full", "none", "no-disc", "edition"
    damage: str | None = None              # "truncate", "random", "empty", "mislabel-mp3"
    title: str | None = None               # a song not in the catalog (bonus)
    seconds: float | None = None
    number: int | None = None              # tag number, when it differs from the catalog's
    album: str | None = None               # album tag, when it is another record


@dataclass(frozen=True)
class Case:
    name: str
    album: AlbumSpec
    files: list[FileSpec]
    expected: dict[str, str]               # file rel -> track id
    failed: dict[str, str] = field(default_factory=dict)   # track id -> reason prefix
    requested: list[str] | None = None     # None: the whole album
    extras: Callable[[Path, Path], None] | None = None     # (case dir, outside dir)

    def track_ids(self) -> list[str]:
        return self.requested or [self.album.track_id(d, n) for d, n, *_ in self.album.tracks]


def _title(spec: AlbumSpec, disc: int, number: int) -> str:
    return next(t for d, n, t, _, _ in spec.tracks if (d, n) == (disc, number))


def _secs(spec: AlbumSpec, disc: int, number: int) -> int:
    return next(s for d, n, _, s, _ in spec.tracks if (d, n) == (disc, number))


_ENCODED: dict[tuple[str, float, int], bytes] = {}


def write_file(case_dir: Path, spec: AlbumSpec, f: FileSpec) -> None:
    path = case_dir / f.rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if f.damage == "empty":
        path.write_bytes(b"")
        return
    if f.damage == "random":
        path.write_bytes(random.Random(f.rel).randbytes(24_000))
        return
    disc, number = f.track or (1, 99)
    title = f.title or _title(spec, disc, number)
    seconds = f.seconds or (_secs(spec, disc, number) + 0.2)
    tags = None
    if f.tags != "none":
        tags = AudioTags(
            title=title, artist=spec.artist, album=f.album or spec.name,
            track_number=f.number or number,
            disc_number=disc if f.tags == "full" and len({d for d, *_ in spec.tracks}) > 1 else None,
            track_total=sum(1 for d, *_ in spec.tracks if d == disc),
        )
    kind: AudioKind = "mp3" if f.damage == "mislabel-mp3" else f.kind
    seed = disc * 100 + number
    # The encoder is told the format, so the file's name (or lack of extension) is free.
    # Many cases share a sound: each is encoded once per session, then copied and tagged.
    key = (kind, seconds, seed)
    if key not in _ENCODED:
        write_audio(path, kind=kind, duration_secs=seconds, seed=seed)
        _ENCODED[key] = path.read_bytes()
    else:
        path.write_bytes(_ENCODED[key])
    if tags is not None:
        write_tags(path, kind, tags)
    if f.damage == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 3 // 5])


def build_case(case: Case, case_dir: Path, outside: Path) -> Path:
    """Write the case's files into case_dir (a fresh directory) and return it."""
    if case_dir.exists():
        shutil.rmtree(case_dir)
    case_dir.mkdir(parents=True)
    for f in case.files:
        write_file(case_dir, case.album, f)
    if case.extras is not None:
        case.extras(case_dir, outside)
    return case_dir


def _ids(spec: AlbumSpec) -> dict[tuple[int, int], str]:
    return {(d, n): spec.track_id(d, n) for d, n, *_ in spec.tracks}


def _numbered(spec: AlbumSpec, fmt: Callable[[int, int, str], str], *, kind: AudioKind = "ogg",
              tags: str = "full", skip: tuple[tuple[int, int], ...] = ()) -> list[FileSpec]:
    return [FileSpec(fmt(d, n, t), (d, n), kind, tags)
            for d, n, t, *_ in spec.tracks if (d, n) not in skip]


def _expect(files: list[FileSpec], spec: AlbumSpec, *,
            leave_out: tuple[str, ...] = ()) -> dict[str, str]:
    ids = _ids(spec)
    return {f.rel: ids[f.track] for f in files
            if f.track in ids and f.damage is None and f.rel not in leave_out}


# --------------------------------------------------------------------------- the cases
def _flat_numbered() -> Case:
    files = _numbered(SINGLE, lambda d, n, t: f"{n:02d} - {t}.ogg")
    return Case("flat_numbered_ogg", SINGLE, files, _expect(files, SINGLE))


def _flat_no_tags_mp3() -> Case:
    files = _numbered(SINGLE, lambda d, n, t: f"{n:02d}. {t}.mp3", kind="mp3", tags="none")
    return Case("flat_numbered_no_tags_mp3", SINGLE, files, _expect(files, SINGLE))


def _tags_only() -> Case:
    files = _numbered(SINGLE, lambda d, n, t: f"track{n:02d}.flac", kind="flac")
    return Case("tags_only_flac", SINGLE, files, _expect(files, SINGLE))


def _numbers_only() -> Case:
    files = _numbered(SINGLE, lambda d, n, t: f"{n:02d}.ogg", tags="none")
    return Case("numbers_only_no_tags", SINGLE, files, _expect(files, SINGLE))


_VARIANT_NAMES = {
    1: "The Examples - NEON LIGHTS.mp3",
    2: "The Examples - Cafe Noir.mp3",                 # accent dropped
    3: "Salt and Pepper.mp3",                           # & spelled out
    4: "Paper Planes.mp3",                              # catalog has (Remastered 2011)
    5: "Midnight Train - 2011 Remaster.mp3",            # file has the suffix
    6: "Don’t Look Back.mp3",                           # curly apostrophe
    7: "exit_wounds.mp3",
    8: "Stay.mp3",                                      # catalog has (feat. Mira)
    9: "Glass Houses (Remastered).mp3",
    10: "The Examples - Ocean Drive [Bonus Track].mp3",
    11: "The Long Goodbye feat. Someone.mp3",
    12: "SENORITA BLUE.mp3",
}


def _title_variants() -> Case:
    files = [FileSpec(name, (1, n), "mp3", "none") for n, name in _VARIANT_NAMES.items()]
    return Case("title_variants_no_numbers", SINGLE, files, _expect(files, SINGLE))


def _bonus_and_missing() -> Case:
    files = _numbered(SINGLE, lambda d, n, t: f"{n:02d} - {t}.flac", kind="flac", skip=((1, 7),))
    files.append(FileSpec("13 - Hidden Jam (Bonus Track).flac", None, "flac", title="Hidden Jam",
                          number=13, seconds=5.2))
    return Case("bonus_and_missing", SINGLE, files, _expect(files, SINGLE),
                failed={"nd-107": "missing"})


def _corrupt() -> Case:
    files = _numbered(SINGLE, lambda d, n, t: f"{n:02d} - {t}.flac", kind="flac",
                      skip=((1, 4), (1, 9), (1, 11)))
    files += [
        FileSpec("04 - Paper Planes.mp3", (1, 4), "mp3", damage="random"),
        FileSpec("09 - Glass Houses.flac", (1, 9), "flac", damage="empty"),
        FileSpec("11 - The Long Goodbye.flac", (1, 11), "flac", damage="truncate"),
    ]
    return Case("corrupt_files", SINGLE, files, _expect(files, SINGLE),
                failed={"nd-104": "corrupt", "nd-109": "corrupt", "nd-111": "corrupt"})


def _truncated_ogg() -> Case:
    files = _numbered(SINGLE, lambda d, n, t: f"{n:02d} {t}.ogg", skip=((1, 7),))
    files.append(FileSpec("07 Exit Wounds.ogg", (1, 7), "ogg", damage="truncate"))
    return Case("truncated_ogg", SINGLE, files, _expect(files, SINGLE),
                failed={"nd-107": "corrupt"})


def _symlinks(case_dir: Path, outside: Path) -> None:
    outside.mkdir(parents=True, exist_ok=True)
    target = outside / "real.ogg"
    if not target.exists():
        write_audio(target, kind="ogg", duration_secs=4.2, seed=105,
                    tags=AudioTags(title="Midnight Train", album="Night Drive", track_number=5))
    os.symlink(target, case_dir / "05 - Midnight Train.ogg")
    extra = outside / "extra"
    extra.mkdir(exist_ok=True)
    if not (extra / "05.ogg").exists():
        shutil.copy(target, extra / "05.ogg")
    os.symlink(extra, case_dir / "Extras")


def _symlink_outside() -> Case:
    files = _numbered(SINGLE, lambda d, n, t: f"{n:02d} - {t}.ogg", skip=((1, 5),))
    return Case("symlink_outside", SINGLE, files, _expect(files, SINGLE),
                failed={"nd-105": "missing"}, extras=_symlinks)


def _clutter_files(case_dir: Path, outside: Path) -> None:
    (case_dir / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    (case_dir / "Scans").mkdir()
    (case_dir / "Scans" / "back.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (case_dir / "Night Drive.cue").write_text('FILE "01 - Neon Lights.mp3" MP3\n', encoding="utf-8")
    (case_dir / "rip.log").write_text("EAC extraction logfile\n", encoding="utf-8")
    (case_dir / "info.nfo").write_text("Night Drive\n", encoding="utf-8")
    (case_dir / "playlist.m3u").write_text("01 - Neon Lights.mp3\n", encoding="utf-8")
    (case_dir / "notes.txt").write_text("ripped with love\n", encoding="utf-8")
    (case_dir / ".DS_Store").write_bytes(bytes(64))
    # Real audio that must still be ignored: a hidden AppleDouble twin, sample clips.
    write_audio(case_dir / "._01 - Neon Lights.mp3", kind="mp3", duration_secs=3.2, seed=101,
                tags=AudioTags(title="Neon Lights", track_number=1))
    write_audio(case_dir / "sample.mp3", kind="mp3", duration_secs=3.0, seed=101,
                tags=AudioTags(title="Neon Lights", track_number=1))
    write_audio(case_dir / "Sample" / "01 - Neon Lights.mp3", kind="mp3", duration_secs=3.0,
                seed=101, tags=AudioTags(title="Neon Lights", track_number=1))


def _clutter() -> Case:
    files = _numbered(SINGLE, lambda d, n, t: f"{n:02d} - {t}.mp3", kind="mp3")
    return Case("clutter_and_samples", SINGLE, files, _expect(files, SINGLE), extras=_clutter_files)


def _content_sniffing() -> Case:
    files = _numbered(SINGLE, lambda d, n, t: f"{n:02d} - {t}", kind="flac", skip=((1, 2),))
    files.append(FileSpec("02 - Café Noir.flac", (1, 2), "flac", damage="mislabel-mp3"))
    expected = _expect(files, SINGLE)
    expected["02 - Café Noir.flac"] = "nd-102"     # an MP3 under a .flac name is still audio
    return Case("content_sniffing", SINGLE, files, expected)


_EDITION_ORDER = [2, 1, 3, 5, 4, 6, 7, 9, 8, 10, 12, 11]


def _reordered_edition() -> Case:
    """Another edition's running order: names and tags number the files differently; the
    titles (and durations) say which is which."""
    files = []
    for position, n in enumerate(_EDITION_ORDER, start=1):
        title = _title(SINGLE, 1, n)
        files.append(FileSpec(f"{position:02d} - {title}.flac", (1, n), "flac", number=position))
    return Case("reordered_edition", SINGLE, files, _expect(files, SINGLE))


def _partial_request() -> Case:
    files = _numbered(SINGLE, lambda d, n, t: f"{n:02d} - {t}.ogg")
    wanted = ["nd-103", "nd-107", "nd-112"]
    expected = {rel: tid for rel, tid in _expect(files, SINGLE).items() if tid in wanted}
    return Case("partial_request", SINGLE, files, expected, requested=wanted)


def _scene_style() -> Case:
    files = _numbered(
        SINGLE, lambda d, n, t: f"{n:02d}-the_examples-{t.lower().replace(' ', '_')}.mp3",
        kind="mp3", tags="none")
    return Case("scene_style_no_tags", SINGLE, files, _expect(files, SINGLE))


def _cd_folders() -> Case:
    files = _numbered(DOUBLE, lambda d, n, t: f"CD{d}/{n:02d}. {t}.flac", kind="flac", tags="no-disc")
    return Case("multi_disc_cd_folders", DOUBLE, files, _expect(files, DOUBLE))


def _disc_folders_no_tags() -> Case:
    files = _numbered(DOUBLE, lambda d, n, t: f"Two Sides (2014)/Disc {d}/Track {n:02d}.mp3",
                      kind="mp3", tags="none")
    return Case("multi_disc_disc_folders_no_tags", DOUBLE, files, _expect(files, DOUBLE))


def _disc_track_names() -> Case:
    files = _numbered(DOUBLE, lambda d, n, t: f"{d}-{n:02d} {t}.ogg", tags="none")
    return Case("disc_track_names", DOUBLE, files, _expect(files, DOUBLE))


def _packed_numbers() -> Case:
    files = _numbered(DOUBLE, lambda d, n, t: f"{d}{n:02d} {t}.mp3", kind="mp3", tags="none")
    return Case("packed_disc_numbers", DOUBLE, files, _expect(files, DOUBLE))


def _continuous_numbers() -> Case:
    files = []
    for position, (d, n, t, *_) in enumerate(DOUBLE.tracks, start=1):
        files.append(FileSpec(f"{position:02d} - {t}.flac", (d, n), "flac", "no-disc", number=position))
    return Case("continuous_numbering_two_discs", DOUBLE, files, _expect(files, DOUBLE))


def _double_missing_disc2_track() -> Case:
    """Disc 2 lacks its track 3; disc 1's track 3 must not fill the gap."""
    files = _numbered(DOUBLE, lambda d, n, t: f"CD{d}/{n:02d}.flac", kind="flac", tags="none",
                      skip=((2, 3),))
    return Case("multi_disc_missing_track", DOUBLE, files, _expect(files, DOUBLE),
                failed={"dd-203": "missing"})


_OTHER_TITLES = ["Harbour", "Lighthouse", "Tidal", "Gull Song", "Driftwood", "Low Water",
                 "Brine", "Shipwreck", "Keel", "Foghorn", "Pier", "Last Ferry"]


def _wrong_album() -> Case:
    """Another record by the same band, numbered 01-12 with the same lengths: every number
    and duration agrees, nothing else does. No file may be taken."""
    files = [FileSpec(f"{n:02d} - {title}.ogg", (1, n), "ogg", title=title, album="Low Tide")
             for n, title in enumerate(_OTHER_TITLES, start=1)]
    return Case("wrong_album", SINGLE, files, {},
                failed={SINGLE.track_id(1, n): "missing" for n in range(1, 13)})


def _double_titles_only() -> Case:
    """Titles only, on two discs with "Run" and "Run (Reprise)": no numbers to lean on."""
    files = [FileSpec(f"{t}.mp3", (d, n), "mp3", "none") for d, n, t, *_ in DOUBLE.tracks]
    return Case("multi_disc_titles_only", DOUBLE, files, _expect(files, DOUBLE))


def _twin_titles() -> Case:
    """Two "Intro" tracks of equal length, two files saying nothing about their disc: a coin
    flip, so neither Intro gets a file; the Themes are told apart by their titles."""
    files = [FileSpec("Intro.mp3", (1, 1), "mp3", "none"), FileSpec("Intro (2).mp3", (2, 1), "mp3", "none"),
             FileSpec("Theme.mp3", (1, 2), "mp3", "none"),
             FileSpec("Theme (Reprise).mp3", (2, 2), "mp3", "none")]
    return Case("twin_titles_ambiguous", TWINS, files,
                {"Theme.mp3": "tw-102", "Theme (Reprise).mp3": "tw-202"},
                failed={"tw-101": "ambiguous", "tw-201": "ambiguous"})


def _mislabelled_copy() -> Case:
    """Track 1 is missing; in its place, a copy of track 8 renamed "01 - Neon Lights" (its tags
    still say Stay, and both last 3 s). The copy must not become track 1."""
    files = _numbered(SINGLE, lambda d, n, t: f"{n:02d} - {t}.ogg", skip=((1, 1),))
    expected = _expect(files, SINGLE)
    files.append(FileSpec("01 - Neon Lights.ogg", (1, 8)))
    return Case("mislabelled_copy", SINGLE, files, expected, failed={"nd-101": "missing"})


def _vinyl_sides() -> Case:
    files = []
    for d, n, t, *_ in VINYL.tracks:
        side, pos = ("A", n) if n <= 4 else ("B", n - 4)
        files.append(FileSpec(f"{side}{pos} {t}.flac", (d, n), "flac", "none"))
    return Case("vinyl_sides", VINYL, files, _expect(files, VINYL))


# --------------------------------------------------------------------------- CUE images
def cut(image: str, number: int) -> str:
    """How a cut track is named in expectations (images.CutInfo.label)."""
    return f"{image} [cue track {number:02d}]"


def _pieces(spec: AlbumSpec, tracks: list[tuple[int, int]] | None = None, *, titles: bool = True,
            pregap: float = 0.0, titles_from: list[str] | None = None) -> list[Piece]:
    chosen = tracks or [(d, n) for d, n, *_ in spec.tracks]
    return [Piece(index, (titles_from[index - 1] if titles_from else _title(spec, d, n)) if titles else None,
                  _secs(spec, d, n) + 0.2, d * 100 + n, pregap=pregap if index > 1 else 0.0)
            for index, (d, n) in enumerate(chosen, start=1)]


def _image(folder: str, stem: str, pieces: list[Piece], spec: AlbumSpec, *, sheet_name: str | None = None,
           named: str | None = None, encoding: str = "utf-8", newline: str = "\n", disc: int | None = None,
           fmt: str = "FLAC", subtype: str = "PCM_16", ext: str = "flac", lead_in: float = 0.0,
           overrun: float = 0.0, album: str | None = None, embed: bool = False) -> Callable[[Path, Path], None]:
    """extras that write `folder/stem.ext` (the image) and its sheet. `named`: the file name
    the sheet gives (default: the image's); `overrun`: seconds the sheet's times run past
    the image (the image holds only the first pieces)."""
    def write(case_dir: Path, outside: Path) -> None:
        base = case_dir / folder if folder else case_dir
        image_name = f"{stem}.{ext}"
        audio = pieces
        if overrun:
            keep, total = [], 0.0
            for p in pieces:
                if total + p.seconds > sum(q.seconds for q in pieces) - overrun:
                    break
                keep.append(p)
                total += p.seconds
            audio = keep
        starts = write_image(base / image_name, audio, fmt=fmt, subtype=subtype, lead_in=lead_in)
        while len(starts) < len(pieces):           # the sheet goes on past the image's end
            before = pieces[len(starts) - 1]
            starts.append(starts[-1] + round(before.seconds * 75))
        text = sheet_text(named or image_name, pieces, starts, album=album or spec.name, performer=spec.artist,
                          disc=disc, newline=newline, file_kind="MP3" if ext == "mp3" else "WAVE")
        if embed:              # inside the FLAC, as foobar2000 and CUETools write it
            import mutagen.flac

            flac = mutagen.flac.FLAC(base / image_name)
            flac["CUESHEET"] = text
            flac.save()
        else:
            (base / (sheet_name or f"{stem}.cue")).write_bytes(text.encode(encoding))
    return write


def _cue_expect(spec: AlbumSpec, image: str, tracks: list[tuple[int, int]] | None = None) -> dict[str, str]:
    chosen = tracks or [(d, n) for d, n, *_ in spec.tracks]
    return {cut(image, i): spec.track_id(d, n) for i, (d, n) in enumerate(chosen, start=1)}


def _cue_single_flac() -> Case:
    stem = "The Examples - Night Drive"
    return Case("cue_single_flac", SINGLE, [], _cue_expect(SINGLE, f"{stem}.flac"),
                extras=_image("", stem, _pieces(SINGLE), SINGLE))


def _cue_embedded() -> Case:
    return Case("cue_embedded_sheet", DOUBLE, [], _cue_expect(DOUBLE, "Two Sides.flac"),
                extras=_image("", "Two Sides", _pieces(DOUBLE), DOUBLE, embed=True))


def _cue_latin1_crlf() -> Case:
    """EAC on Windows: a Latin-1 sheet with CRLF line ends, written for the WAV image that was
    compressed to FLAC afterwards (the sheet still says .wav)."""
    return Case("cue_latin1_crlf", SINGLE, [], _cue_expect(SINGLE, "Night Drive.flac"),
                extras=_image("", "Night Drive", _pieces(SINGLE), SINGLE, named="Night Drive.wav",
                              encoding="latin-1", newline="\r\n"))


def _cue_two_discs() -> Case:
    disc1 = [(1, n) for n in range(1, 7)]
    disc2 = [(2, n) for n in range(1, 6)]
    one = _image("CD1", "Two Sides CD1", _pieces(DOUBLE, disc1), DOUBLE)
    two = _image("CD2", "Two Sides CD2", _pieces(DOUBLE, disc2), DOUBLE)
    expected = {**_cue_expect(DOUBLE, "CD1/Two Sides CD1.flac", disc1),
                **_cue_expect(DOUBLE, "CD2/Two Sides CD2.flac", disc2)}
    return Case("cue_two_discs", DOUBLE, [], expected, extras=lambda d, o: (one(d, o), two(d, o)))


def _cue_pregaps_no_titles() -> Case:
    """Pregaps (INDEX 00), silence before track 1 and no TITLE lines: numbers and lengths."""
    return Case("cue_pregaps_no_titles", VINYL, [], _cue_expect(VINYL, "Wax.flac"),
                extras=_image("", "Wax", _pieces(VINYL, titles=False, pregap=1.0), VINYL, lead_in=1.5,
                              subtype="PCM_24"))


def _cue_vinyl_sides() -> Case:
    side_a, side_b = [(1, n) for n in range(1, 5)], [(1, n) for n in range(5, 9)]
    a = _image("", "Wax - Side A", _pieces(VINYL, side_a), VINYL)
    b = _image("", "Wax - Side B", _pieces(VINYL, side_b), VINYL)
    expected = {**_cue_expect(VINYL, "Wax - Side A.flac", side_a), **_cue_expect(VINYL, "Wax - Side B.flac", side_b)}
    return Case("cue_vinyl_sides", VINYL, [], expected, extras=lambda d, o: (a(d, o), b(d, o)))


def _cue_mp3_image() -> Case:
    return Case("cue_mp3_image", DOUBLE, [], _cue_expect(DOUBLE, "Two Sides.mp3"),
                extras=_image("", "Two Sides", _pieces(DOUBLE), DOUBLE, fmt="MP3", subtype="MPEG_LAYER_III",
                              ext="mp3"))


_ALL_SINGLE = {SINGLE.track_id(1, n): "corrupt" for n in range(1, 13)}


def _cue_overrun() -> Case:
    """The sheet's last tracks start past the end of the image: nothing of it is imported."""
    return Case("cue_overrun", SINGLE, [], {}, failed=_ALL_SINGLE,
                extras=_image("", "Night Drive", _pieces(SINGLE), SINGLE, overrun=9.0))


def _cue_missing_image() -> Case:
    def write(case_dir: Path, outside: Path) -> None:
        _image("", "Night Drive", _pieces(SINGLE), SINGLE)(case_dir, outside)
        (case_dir / "Night Drive.flac").unlink()
    return Case("cue_missing_image", SINGLE, [], {},
                failed={SINGLE.track_id(1, n): "missing" for n in range(1, 13)}, extras=write)


def _cue_damaged_image() -> Case:
    def write(case_dir: Path, outside: Path) -> None:
        _image("", "Night Drive", _pieces(SINGLE), SINGLE)(case_dir, outside)
        image = case_dir / "Night Drive.flac"
        data = image.read_bytes()
        image.write_bytes(data[: len(data) * 3 // 5])
    return Case("cue_damaged_image", SINGLE, [], {}, failed=_ALL_SINGLE, extras=write)


def _cue_other_album() -> Case:
    """Another record's image and sheet, with the same numbering and lengths: nothing fits."""
    return Case("cue_other_album", SINGLE, [], {},
                failed={SINGLE.track_id(1, n): "missing" for n in range(1, 13)},
                extras=_image("", "Low Tide", _pieces(SINGLE, titles_from=_OTHER_TITLES), SINGLE,
                              album="Low Tide"))


# --------------------------------------------------------------------------- names as people write them
def _scene(title: str) -> str:
    """A title as scene releases write it: ASCII, lower case, underscores, no quotes."""
    import unicodedata

    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    ascii_title = ascii_title.replace("&", "and").replace("'", "")
    return re.sub(r"[^a-z0-9()._]+", "_", ascii_title.lower()).strip("_")


def _tagless(spec: AlbumSpec, fmt: Callable[[int, int, str], str], kind: AudioKind = "mp3") -> list[FileSpec]:
    return _numbered(spec, fmt, kind=kind, tags="none")


def _names_case(name: str, spec: AlbumSpec, fmt: Callable[[int, int, str], str], kind: AudioKind = "mp3") -> Case:
    files = _tagless(spec, fmt, kind)
    return Case(name, spec, files, _expect(files, spec))


def _version_trap() -> Case:
    """Live, remix, demo and acoustic takes of the album's songs, numbered like it, as long as
    its tracks: another recording is not the catalog's track. Nothing may be taken."""
    words = ["Live", "Remix", "Demo", "Acoustic"]
    files = [FileSpec(f"{n:02d} - {t} ({words[n % 4]}).mp3", (d, n), "mp3", "none")
             for d, n, t, *_ in SINGLE.tracks]
    scene = [FileSpec(f"scene/{n:02d}-the_examples-{_scene(t)}_({words[n % 4].lower()})-grp.mp3", (d, n), "mp3",
                      "none") for d, n, t, *_ in SINGLE.tracks]
    return Case("version_trap", SINGLE, files + scene, {},
                failed={SINGLE.track_id(1, n): "missing" for n in range(1, 13)})


def _live_album() -> Case:
    """The live album: plain titles, right numbers, lengths within the tolerance; only the
    album tag says "Live". Not the studio album's tracks."""
    files = [FileSpec(f"{n:02d} - {t}.flac", (d, n), "flac", album="Night Drive (Live at the Roxy)")
             for d, n, t, *_ in SINGLE.tracks]
    return Case("live_album_tags", SINGLE, files, {},
                failed={SINGLE.track_id(1, n): "missing" for n in range(1, 13)})


def _wrong_album_tagless() -> Case:
    """Another record's files, scene-named, with this album's numbering and lengths."""
    files = [FileSpec(f"{n:02d}-the_examples-{_scene(title)}-grp.mp3", (1, n), "mp3", "none", title=title)
             for n, title in enumerate(_OTHER_TITLES, start=1)]
    return Case("wrong_album_scene_tagless", SINGLE, files, {},
                failed={SINGLE.track_id(1, n): "missing" for n in range(1, 13)})


def _side(n: int) -> str:
    return f"a{n}" if n <= 4 else f"b{n - 4}"


def _name_cases() -> list[Case]:
    return [
        _names_case("scene_group_suffix", SINGLE, lambda d, n, t: f"{n:02d}-the_examples-{_scene(t)}-grp.mp3"),
        _names_case("scene_album_folder", SINGLE,
                    lambda d, n, t: f"The_Examples-Night_Drive-WEB-2011-GRP/{n:02d}-the_examples-{_scene(t)}-grp.mp3"),
        _names_case("scene_packed_discs", DOUBLE, lambda d, n, t: f"{d}{n:02d}-the_examples-{_scene(t)}-grp.mp3"),
        _names_case("scene_vinyl_sides", VINYL, lambda d, n, t: f"{_side(n)}-the_examples-{_scene(t)}-grp.mp3"),
        _names_case("artist_dash_title", SINGLE, lambda d, n, t: f"The Examples - {t}.mp3"),
        _names_case("title_dash_artist", SINGLE, lambda d, n, t: f"{t} - The Examples.mp3"),
        _names_case("bracket_numbers", SINGLE, lambda d, n, t: f"[{n:02d}] {t}.ogg", kind="ogg"),
        _names_case("track_word_numbers", SINGLE, lambda d, n, t: f"Track {n:02d} - {t}.ogg", kind="ogg"),
        _names_case("artist_album_number_title", SINGLE,
                    lambda d, n, t: f"The Examples - Night Drive - {n:02d} - {t}.mp3"),
        _names_case("number_artist_title", SINGLE, lambda d, n, t: f"{n:02d}. The Examples - {t}.mp3"),
        _names_case("disk_letter_folders", DOUBLE, lambda d, n, t: f"Disk {'AB'[d - 1]}/Track {n:02d}.ogg", kind="ogg"),
        _names_case("disc_folders_numbered_on", DOUBLE,
                    lambda d, n, t: f"Disc {d}/{n + (6 if d == 2 else 0):02d} - {t}.ogg", kind="ogg"),
        _names_case("packed_numbers_only", DOUBLE, lambda d, n, t: f"{d}{n:02d}.ogg", kind="ogg"),
        _names_case("cd_word_in_name", DOUBLE, lambda d, n, t: f"CD{d} - {n:02d} - {t}.mp3"),
        _version_trap(),
        _live_album(),
        _wrong_album_tagless(),
    ]


CASES: list[Case] = [
    _flat_numbered(), _flat_no_tags_mp3(), _tags_only(), _numbers_only(), _title_variants(),
    _bonus_and_missing(), _corrupt(), _truncated_ogg(), _symlink_outside(), _clutter(),
    _content_sniffing(), _reordered_edition(), _partial_request(), _scene_style(),
    _cd_folders(), _disc_folders_no_tags(), _disc_track_names(), _packed_numbers(),
    _continuous_numbers(), _double_missing_disc2_track(), _vinyl_sides(), _wrong_album(),
    _double_titles_only(), _twin_titles(), _mislabelled_copy(),
    _cue_single_flac(), _cue_embedded(), _cue_latin1_crlf(), _cue_two_discs(), _cue_pregaps_no_titles(),
    _cue_vinyl_sides(),
    _cue_mp3_image(), _cue_overrun(), _cue_missing_image(), _cue_damaged_image(), _cue_other_album(),
    *_name_cases(),
]
CASES_BY_NAME = {c.name: c for c in CASES}
