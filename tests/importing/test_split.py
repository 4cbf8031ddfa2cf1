"""Cutting images (split.py) and planning with them (images.py) on real files: lengths to
the sample, bit-exact audio, resuming after a SIGKILL, bounded memory, hostile layouts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.faults.hostile import hostile_wav
from torrentino_bridge.importing import plan_import
from torrentino_bridge.importing.cue import FRAMES_PER_SECOND, parse
from torrentino_bridge.importing.discovery import discover
from torrentino_bridge.importing.images import prepare
from torrentino_bridge.importing.split import SPLIT_DIR, Span, split_image

from .conftest import media_settings
from .cue_images import Piece, cd_frames, sheet_text, write_image
from .layouts import SINGLE, album_meta, track_metas

PIECES = [Piece(1, "Neon Lights", 3.2, 101), Piece(2, "Café Noir", 5.2, 102, pregap=0.8),
          Piece(3, "Salt & Pepper", 2.2, 103, pregap=0.5)]


def image_with_sheet(directory: Path, *, subtype: str = "PCM_16", channels: int = 2, rate: int = 44_100,
                     lead_in: float = 0.6) -> tuple[Path, list[int]]:
    directory.mkdir(parents=True, exist_ok=True)
    image = directory / "Night Drive.flac"
    starts = write_image(image, PIECES, subtype=subtype, channels=channels, rate=rate, lead_in=lead_in)
    (directory / "Night Drive.cue").write_text(
        sheet_text(image.name, PIECES, starts, album="Night Drive", performer="The Examples"), encoding="utf-8")
    return image, starts


def plan_dir(directory: Path, base: Path) -> object:
    tracks = track_metas(SINGLE)
    return plan_import(directory, album_meta(SINGLE), tracks, media_settings(base), album_tracks=tracks)


@pytest.mark.parametrize(("subtype", "dtype", "rate"), [("PCM_16", "int16", 44_100), ("PCM_24", "int32", 44_100),
                                                        ("PCM_16", "int16", 48_000)])
def test_cuts_are_sample_exact_and_bit_exact(tmp_path: Path, subtype: str, dtype: str, rate: int) -> None:
    image, starts = image_with_sheet(tmp_path / "incoming" / "t", subtype=subtype, rate=rate)
    plan = plan_dir(image.parent, tmp_path)
    source, _ = soundfile.read(str(image), dtype=dtype, always_2d=True)
    bounds = [round(s * rate / FRAMES_PER_SECOND) for s in starts] + [len(source)]
    cuts = {plan.cuts[m.file.rel].number: m.file.path for m in plan.matches}
    assert sorted(cuts) == [1, 2, 3]
    for number, path in cuts.items():
        info = soundfile.info(str(path))
        assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", subtype, rate, 2)
        data, _ = soundfile.read(str(path), dtype=dtype, always_2d=True)
        first, end = bounds[number - 1], bounds[number]
        # Gaps appended: track 2's pregap ends track 1; the lead-in before track 1 is left out.
        assert len(data) == end - first
        assert abs(len(data) / rate - PIECES[number - 1].seconds) < 0.02     # the sheet's length
        assert np.array_equal(data, source[first:end])
    assert [m.track.id for m in plan.matches] == ["nd-101", "nd-102", "nd-103"]
    reasons = {r.file: r.reason for r in plan.rejected}
    assert reasons["Night Drive.flac"] == "CUE image: cut by Night Drive.cue"
    assert reasons["Night Drive.cue"] == "CUE sheet: cuts Night Drive.flac into 3 tracks"


def test_a_second_plan_reuses_the_cuts_and_a_damaged_cut_is_redone(tmp_path: Path) -> None:
    image, _ = image_with_sheet(tmp_path / "incoming" / "t")
    first = {m.track.id: m.file.path for m in plan_dir(image.parent, tmp_path).matches}
    inodes = {t: os.stat(p).st_ino for t, p in first.items()}
    # A cut left under its final name by anyone but the cutter, half as long: cut again.
    damaged = first["nd-102"]
    data, rate = soundfile.read(str(damaged), dtype="int16")
    damaged.unlink()
    soundfile.write(str(damaged), data[: len(data) // 2], rate, format="FLAC", subtype="PCM_16")
    (damaged.parent / ".02.flac.1-dead.part").write_bytes(b"left by a killed cutter")
    second = {m.track.id: m.file.path for m in plan_dir(image.parent, tmp_path).matches}
    assert second == first
    assert os.stat(second["nd-101"]).st_ino == inodes["nd-101"]           # kept, not cut again
    assert soundfile.info(str(second["nd-102"])).frames == len(data)
    assert not [p for p in damaged.parent.iterdir() if p.name.endswith(".part")]


_CUTTER = """
import sys
from pathlib import Path
from torrentino_bridge.importing.split import Span, split_image
root, image, key = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
spans = [Span(n, a, b) for n, a, b in eval(sys.argv[4])]
split_image(image, spans, root, key)
print("done")
"""


def test_a_cutter_killed_mid_file_leaves_nothing_taken_for_a_cut(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    image = root / "long.wav"
    rate, seconds = 44_100, 120
    with soundfile.SoundFile(str(image), "w", samplerate=rate, channels=2, subtype="PCM_16") as out:
        for i in range(seconds // 10):
            out.write((np.random.default_rng(i).standard_normal((10 * rate, 2)) * 3000).astype(np.int16))
    bounds = [0, 40 * rate, 80 * rate, seconds * rate]
    spans = [(n, bounds[n - 1], bounds[n]) for n in (1, 2, 3)]
    key_dir = root / SPLIT_DIR / "k"
    child = subprocess.Popen([sys.executable, "-c", _CUTTER, str(root), str(image), "k", repr(spans)],
                             stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (key_dir.is_dir() and any(p.name.startswith(".02.flac") for p in key_dir.iterdir())):
            assert child.poll() is None and time.monotonic() < deadline, "the cutter never reached track 2"
            time.sleep(0.005)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    names = {p.name for p in key_dir.iterdir()}
    assert "01.flac" in names and "02.flac" not in names and "03.flac" not in names, names
    paths = split_image(image, [Span(*s) for s in spans], root, "k")
    assert [soundfile.info(str(p)).frames for p in paths] == [40 * rate] * 3
    assert sorted(p.name for p in key_dir.iterdir()) == ["01.flac", "02.flac", "03.flac"]


_RSS_CUT = """
import json, sys
from pathlib import Path
from torrentino_bridge.importing.split import Span, split_image
root, image = Path(sys.argv[1]), Path(sys.argv[2])
spans = [Span(n, a, b) for n, a, b in json.loads(sys.argv[3])]
def kib(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = kib("VmRSS")
except OSError:
    before = kib("VmHWM")
split_image(image, spans, root, "k")
print(json.dumps({"rise_kib": kib("VmHWM") - before}))
"""


def test_cutting_a_long_image_holds_one_block_in_memory(tmp_path: Path) -> None:
    """A minute of 96 kHz stereo 24-bit (44 MiB of int32 samples): RSS rises < 30 MiB."""
    root = tmp_path / "t"
    root.mkdir()
    image = root / "hires.wav"
    rate, seconds = 96_000, 60
    with soundfile.SoundFile(str(image), "w", samplerate=rate, channels=2, subtype="PCM_24") as out:
        block = (np.sin(np.arange(10 * rate) / 30.0)[:, None].repeat(2, axis=1) * 0.2).astype(np.float32)
        for _ in range(seconds // 10):
            out.write(block)
    spans = [[1, 0, 30 * rate], [2, 30 * rate, seconds * rate]]
    done = subprocess.run([sys.executable, "-c", _RSS_CUT, str(root), str(image), json.dumps(spans)],
                          capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout)["rise_kib"] < 30 * 1024


def test_an_image_with_an_absurd_header_is_not_cut(tmp_path: Path) -> None:
    ticket = tmp_path / "incoming" / "t"
    ticket.mkdir(parents=True)
    hostile_wav(ticket / "Night Drive.wav", 8 << 20)
    (ticket / "Night Drive.cue").write_text(
        sheet_text("Night Drive.wav", PIECES, [0, 300, 700], album="Night Drive", performer=None))
    plan = plan_dir(ticket, tmp_path)
    assert plan.matches == ()
    assert {plan.failed[t] for t in ("nd-101", "nd-102", "nd-103")} == {
        "corrupt: the CUE image Night Drive.wav: absurd header (sample rate 2000000000 Hz)"}
    assert not (ticket / SPLIT_DIR).exists()


@pytest.mark.parametrize("planted", ["symlink", "file"])
def test_a_planted_split_directory_is_refused_not_followed(tmp_path: Path, planted: str) -> None:
    image, _ = image_with_sheet(tmp_path / "incoming" / "t")
    outside = tmp_path / "outside"
    outside.mkdir()
    if planted == "symlink":
        (image.parent / SPLIT_DIR).symlink_to(outside)
    else:
        (image.parent / SPLIT_DIR).write_bytes(b"not a directory")
    plan = plan_dir(image.parent, tmp_path)
    assert plan.matches == ()
    assert plan.failed["nd-101"].startswith("not imported: cannot cut Night Drive.flac: cannot keep the cut tracks")
    assert list(outside.iterdir()) == []


def test_two_sheets_for_one_image_cut_it_once(tmp_path: Path) -> None:
    image, starts = image_with_sheet(tmp_path / "incoming" / "t")
    (image.parent / "Night Drive (noncompliant).cue").write_text(
        sheet_text(image.name, PIECES, starts, album="Night Drive", performer=None))
    found = discover(image.parent, tmp_path / "incoming")
    prepared = prepare(found, image.parent.resolve(), ["Neon Lights", "Café Noir", "Salt & Pepper"])
    assert len(prepared.cuts) == 3
    reasons = {r.rel: r.reason for r in prepared.rejected}
    assert reasons["Night Drive (noncompliant).cue"] == "CUE sheet: Night Drive.flac is cut by Night Drive.cue"


def test_a_cp1251_sheet_is_read_in_the_code_page_that_fits_the_album(tmp_path: Path) -> None:
    ticket = tmp_path / "incoming" / "t"
    image = ticket / "Кино.flac"
    pieces = [Piece(1, "Группа крови", 3.2, 1), Piece(2, "Закрой за мной дверь", 4.2, 2)]
    starts = write_image(image, pieces)
    (ticket / "Кино.cue").write_bytes(sheet_text(image.name, pieces, starts, album="Группа крови",
                                                 performer="Кино").encode("cp1251"))
    found = discover(ticket, tmp_path / "incoming")
    prepared = prepare(found, ticket.resolve(), ["Группа крови", "Закрой за мной дверь"])
    assert sorted(c.title or "" for c in prepared.cuts.values()) == ["Группа крови", "Закрой за мной дверь"]


def test_sheet_frames_become_samples_exactly() -> None:
    sheet = parse('FILE "a.flac" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:00:00\nTRACK 02 AUDIO\nINDEX 01 00:02:01\n')
    assert sheet.tracks[1].start == 2 * 75 + 1 == cd_frames(2 + 1 / 75)


def test_one_sheet_with_two_images_cuts_both(tmp_path: Path) -> None:
    """Vinyl rips: one sheet, one FILE per side, each side numbered on from the last."""
    ticket = tmp_path / "incoming" / "t"
    side_a, side_b = PIECES[:2], [Piece(3, "Salt & Pepper", 2.2, 103)]
    starts_a = write_image(ticket / "Side A.flac", side_a)
    starts_b = write_image(ticket / "Side B.flac", [*side_b, Piece(4, "Paper Planes", 7.2, 104)])
    text_a = sheet_text("Side A.flac", side_a, starts_a, album="Night Drive", performer=None)
    text_b = sheet_text("Side B.flac", [*side_b, Piece(4, "Paper Planes", 7.2, 104)], starts_b, album=None,
                        performer=None)
    body_b = text_b[text_b.index('FILE "'):]
    (ticket / "Night Drive.cue").write_text(text_a + body_b, encoding="utf-8")
    plan = plan_dir(ticket, tmp_path)
    assert {m.track.id: plan.cuts[m.file.rel].label() for m in plan.matches} == {
        "nd-101": "Side A.flac [cue track 01]", "nd-102": "Side A.flac [cue track 02]",
        "nd-103": "Side B.flac [cue track 03]", "nd-104": "Side B.flac [cue track 04]"}
    reasons = {r.file: r.reason for r in plan.rejected}
    assert reasons["Night Drive.cue"] == "CUE sheet: cuts Side A.flac into 2 tracks; cuts Side B.flac into 2 tracks"


def test_a_sheet_of_single_track_files_leaves_them_to_ordinary_matching(tmp_path: Path) -> None:
    ticket = tmp_path / "incoming" / "t"
    for piece in PIECES:
        write_image(ticket / f"{piece.number:02d} - {piece.title}.flac", [piece])
    (ticket / "Night Drive.cue").write_text("".join(
        f'FILE "{p.number:02d} - {p.title}.flac" WAVE\n  TRACK {p.number:02d} AUDIO\n    INDEX 01 00:00:00\n'
        for p in PIECES), encoding="utf-8")
    plan = plan_dir(ticket, tmp_path)
    assert {m.track.id: m.file.rel for m in plan.matches} == {
        "nd-101": "01 - Neon Lights.flac", "nd-102": "02 - Café Noir.flac", "nd-103": "03 - Salt & Pepper.flac"}
    assert {r.file: r.reason for r in plan.rejected}["Night Drive.cue"] == (
        "CUE sheet: its files hold one track each (matched as they are)")
    assert not (ticket / SPLIT_DIR).exists()


def test_a_file_named_by_its_path_on_the_rippers_machine_is_found(tmp_path: Path) -> None:
    image, starts = image_with_sheet(tmp_path / "incoming" / "t")
    (image.parent / "Night Drive.cue").write_text(
        sheet_text("C:\\Rips\\Night Drive.wav", PIECES, starts, album="Night Drive", performer=None))
    (image.parent / "Night Drive.flac").rename(image.parent / "Other Name.flac")
    plan = plan_dir(image.parent, tmp_path)
    assert {plan.cuts[m.file.rel].image for m in plan.matches} == set()          # "Night Drive" is not there
    (image.parent / "Other Name.flac").rename(image.parent / "Night Drive.flac")
    plan = plan_dir(image.parent, tmp_path)
    assert {plan.cuts[m.file.rel].image for m in plan.matches} == {"Night Drive.flac"}


def _embed(path: Path, text: str) -> None:
    import mutagen.flac

    flac = mutagen.flac.FLAC(path)
    flac["CUESHEET"] = text
    flac.save()


def test_a_flac_image_carrying_its_own_sheet_is_cut(tmp_path: Path) -> None:
    """foobar2000 / CUETools images: the sheet is a CUESHEET comment inside the FLAC."""
    image, starts = image_with_sheet(tmp_path / "incoming" / "t")
    (image.parent / "Night Drive.cue").unlink()
    _embed(image, sheet_text("CDImage.wav", PIECES, starts, album="Night Drive", performer=None))
    plan = plan_dir(image.parent, tmp_path)
    assert [m.track.id for m in plan.matches] == ["nd-101", "nd-102", "nd-103"]
    assert {r.file: r.reason for r in plan.rejected} == {"Night Drive.flac": "CUE image: cut by its embedded CUE sheet"}


def test_a_track_file_carrying_its_whole_cds_sheet_is_left_alone(tmp_path: Path) -> None:
    ticket = tmp_path / "incoming" / "t"
    write_image(ticket / "01 - Neon Lights.flac", PIECES[:1])
    _embed(ticket / "01 - Neon Lights.flac", sheet_text("CD.wav", PIECES, [0, 300, 800], album=None, performer=None))
    plan = plan_dir(ticket, tmp_path)
    assert [(m.file.rel, m.track.id) for m in plan.matches] == [("01 - Neon Lights.flac", "nd-101")]
    assert not (ticket / SPLIT_DIR).exists()
