"""Discovery on real files: audio by content, skips with reasons, never outside incoming."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from torrentino_bridge.importing.discovery import FileTags, check_source_dir, discover
from torrentino_bridge.importing.errors import ImportSourceError
from torrentino_bridge.sim.audio import AudioTags, write_audio


@pytest.fixture
def incoming(tmp_path: Path) -> Path:
    path = tmp_path / "incoming"
    path.mkdir()
    return path


def test_source_must_be_a_directory_inside_incoming(tmp_path: Path, incoming: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (incoming / "ticket").mkdir()
    (incoming / "file.txt").write_text("x")
    os.symlink(outside, incoming / "link-out")
    assert check_source_dir(incoming / "ticket", incoming) == (incoming / "ticket").resolve()
    for bad, message in [
        (outside, "not a directory inside media.incoming"),
        (incoming, "not a directory inside media.incoming"),
        (incoming / "ticket" / ".." / ".." / "elsewhere", "not a directory inside media.incoming"),
        (incoming / "link-out", "not a directory inside media.incoming"),
        (incoming / "absent", "does not exist"),
        (incoming / "file.txt", "is not a directory"),
    ]:
        with pytest.raises(ImportSourceError, match=message):
            check_source_dir(bad, incoming)


def test_audio_is_recognised_by_content(incoming: Path) -> None:
    d = incoming / "t"
    write_audio(d / "01 - no extension", kind="flac", duration_secs=2, tags=AudioTags(title="A"))
    write_audio(d / "02 - mp3 named.flac", kind="mp3", duration_secs=2, tags=AudioTags(title="B"))
    write_audio(d / "03 - odd.dat", kind="ogg", duration_secs=2)
    (d / "04 - garbage.mp3").write_bytes(random.Random(4).randbytes(5000))
    (d / "05 - empty.flac").write_bytes(b"")
    (d / "random.bin").write_bytes(random.Random(6).randbytes(5000))
    (d / "empty.dat").write_bytes(b"")
    found = discover(d, incoming)
    audio = {a.rel: a for a in found.audio}
    assert (audio["01 - no extension"].container, audio["01 - no extension"].ext) == ("FLAC", "flac")
    assert audio["02 - mp3 named.flac"].ext == "mp3"
    assert audio["03 - odd.dat"].ext == "ogg"
    assert audio["04 - garbage.mp3"].container is None
    assert audio["04 - garbage.mp3"].error.startswith("unreadable header")  # type: ignore[union-attr]
    assert audio["05 - empty.flac"].error == "empty file"
    assert {r.rel: r.reason for r in found.rejected} == {
        "random.bin": "not audio", "empty.dat": "empty file",
    }
    assert [a.rel for a in found.audio] == sorted(audio)


def test_tags_and_duration_are_read(incoming: Path) -> None:
    d = incoming / "t"
    tags = AudioTags(title="Café", artist="X", album="Night Drive", track_number=2, disc_number=1,
                     track_total=9)
    for kind in ("ogg", "flac", "mp3"):
        write_audio(d / f"a.{kind}", kind=kind, duration_secs=3, tags=tags)
    for a in discover(d, incoming).audio:
        assert a.tags == FileTags(title="Café", album="Night Drive", artist="X", track=2, disc=1)
        assert a.duration == pytest.approx(3.0, abs=0.1)


def test_symlinks_hidden_samples_and_specials_are_skipped(tmp_path: Path, incoming: Path) -> None:
    outside = tmp_path / "outside"
    write_audio(outside / "song.flac", kind="flac", duration_secs=2)
    d = incoming / "t"
    write_audio(d / "01 - Real.flac", kind="flac", duration_secs=2)
    os.symlink(outside / "song.flac", d / "02 - Link.flac")
    os.symlink(outside, d / "linked-dir")
    os.symlink(d / "01 - Real.flac", d / "03 - Inside link.flac")
    write_audio(d / ".hidden.flac", kind="flac", duration_secs=2)
    write_audio(d / ".git" / "x.flac", kind="flac", duration_secs=2)
    write_audio(d / "grp-album-sample.flac", kind="flac", duration_secs=2)
    write_audio(d / "Samples" / "01.flac", kind="flac", duration_secs=2)
    write_audio(d / "05 - Sample Song.flac", kind="flac", duration_secs=2)
    os.mkfifo(d / "pipe")
    found = discover(d, incoming)
    assert [a.rel for a in found.audio] == ["01 - Real.flac", "05 - Sample Song.flac"]
    assert {r.rel: r.reason for r in found.rejected} == {
        "02 - Link.flac": "symlink (not followed)",
        "03 - Inside link.flac": "symlink (not followed)",
        "linked-dir": "symlink (not followed)",
        ".hidden.flac": "hidden",
        ".git": "hidden",
        "grp-album-sample.flac": "sample file",
        "Samples/": "sample directory",
        "pipe": "not a regular file",
    }


def test_nested_folders_are_walked(incoming: Path) -> None:
    d = incoming / "t"
    write_audio(d / "Artist - Album" / "CD1" / "01.ogg", kind="ogg", duration_secs=2)
    write_audio(d / "Artist - Album" / "CD2" / "01.ogg", kind="ogg", duration_secs=2)
    assert [a.rel for a in discover(d, incoming).audio] == [
        "Artist - Album/CD1/01.ogg", "Artist - Album/CD2/01.ogg"]
    shutil.rmtree(d)
