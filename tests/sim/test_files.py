"""What a completed ticket leaves in dest_path: real, tagged audio with the expected
durations, named like a torrent, plus cover art and an .nfo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mutagen
import pytest
import soundfile

from torrentino_bridge.sim.placement import audio_kind_for, plan_files, safe_name
from torrentino_bridge.sim.server import QTSimulator

from .helpers import album_body, eventually

TRACKS = [
    {"number": 1, "title": "Airbag", "duration_secs": 2},
    {"number": 2, "title": "Paranoid Android", "duration_ms": 1500},
    {"number": 3, "title": "Exit Music (For a Film)", "duration_secs": 1},
]


def audio_files(dest: Path) -> list[str]:
    return sorted(str(p.relative_to(dest)) for p in dest.rglob("*")
                  if p.is_file() and p.suffix in (".ogg", ".flac", ".mp3"))


def tag(info: Any, key: str) -> str:
    value = info.tags[key]
    return str(value[0] if isinstance(value, list) else value)


async def complete(sim: QTSimulator, body: dict[str, Any]) -> str:
    ticket = sim.create(body)
    await eventually(lambda: sim.state_of(ticket["id"]) in ("completed", "failed"), what="the end")
    return str(ticket["id"])


@pytest.mark.parametrize(("fmt", "ext"), [("ogg_vorbis", "ogg"), ("flac", "flac"), ("mp3", "mp3"),
                                          ("original", "flac"), (None, "ogg"), ("opus", "ogg")])
async def test_single_disc_album(qtsim: QTSimulator, tmp_path: Path, fmt: str | None, ext: str) -> None:
    dest = tmp_path / "incoming" / "okc"
    ticket_id = await complete(qtsim, album_body(dest, tracks=TRACKS, fmt=fmt))
    assert qtsim.state_of(ticket_id) == "completed"
    assert audio_files(dest) == [f"01 - Airbag.{ext}", f"02 - Paranoid Android.{ext}",
                                 f"03 - Exit Music (For a Film).{ext}"]
    for track in TRACKS:
        path = next(dest.glob(f"{track['number']:02d} - *.{ext}"))
        info = mutagen.File(path, easy=True)
        expected = track.get("duration_secs") or track["duration_ms"] / 1000
        assert info.info.length == pytest.approx(expected, abs=0.1)
        assert tag(info, "title") == track["title"]
        assert tag(info, "artist") == "Radiohead" and tag(info, "album") == "OK Computer"
        assert tag(info, "tracknumber") == f"{track['number']}/3"
        assert tag(info, "discnumber") == "1"
    assert (dest / "cover.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    nfo = (dest / "Radiohead - OK Computer (1997).nfo").read_text()
    assert "02 - Paranoid Android" in nfo
    stats = qtsim.tickets[ticket_id]["state"]["stats"]
    assert stats["files_placed"] == 3 and stats["final_size_bytes"] > 0


async def test_multi_disc_album_gets_cd_folders(qtsim: QTSimulator, tmp_path: Path) -> None:
    tracks = [{"number": 1, "title": "Intro", "disc_number": 1, "duration_secs": 1},
              {"number": 2, "title": "Song/Two", "disc_number": 1, "duration_secs": 1},
              {"number": 1, "title": "Outro", "disc_number": 2, "duration_secs": 1}]
    dest = tmp_path / "double"
    await complete(qtsim, album_body(dest, tracks=tracks, fmt="flac"))
    assert audio_files(dest) == ["CD1/01 - Intro.flac", "CD1/02 - Song_Two.flac", "CD2/01 - Outro.flac"]
    outro = mutagen.File(dest / "CD2" / "01 - Outro.flac")
    assert (tag(outro, "discnumber"), tag(outro, "tracknumber")) == ("2", "1/1")


async def test_single_track_ticket(qtsim: QTSimulator, tmp_path: Path) -> None:
    body = album_body(tmp_path / "one", "Portishead - Roads", fmt="mp3")
    body["query_context"]["expected"] = {"type": "track", "artist": "Portishead", "title": "Roads",
                                         "duration_secs": 2}
    await complete(qtsim, body)
    assert audio_files(tmp_path / "one") == ["Portishead - Roads.mp3"]
    info = mutagen.File(tmp_path / "one" / "Portishead - Roads.mp3", easy=True)
    assert tag(info, "title") == "Roads" and info.info.length == pytest.approx(2, abs=0.1)


async def test_missing_duration_defaults_to_thirty_seconds(qtsim: QTSimulator, tmp_path: Path) -> None:
    await complete(qtsim, album_body(tmp_path / "d", tracks=[{"number": 1, "title": "Long"}], fmt="flac"))
    info = mutagen.File(tmp_path / "d" / "01 - Long.flac")
    assert info.info.length == pytest.approx(30.0, abs=0.1)


async def test_missing_tracks_leaves_out_the_last(qtsim: QTSimulator, tmp_path: Path) -> None:
    qtsim.set_outcome(None, "missing_tracks")
    ticket_id = await complete(qtsim, album_body(tmp_path / "m", tracks=TRACKS))
    assert qtsim.state_of(ticket_id) == "completed"
    assert audio_files(tmp_path / "m") == ["01 - Airbag.ogg", "02 - Paranoid Android.ogg"]


@pytest.mark.parametrize("fmt", ["ogg_vorbis", "flac", "mp3"])
async def test_corrupt_track_cannot_be_decoded_in_full(
    qtsim: QTSimulator, tmp_path: Path, fmt: str
) -> None:
    qtsim.set_outcome(None, "corrupt_track")
    dest = tmp_path / "c"
    await complete(qtsim, album_body(dest, tracks=TRACKS, fmt=fmt))
    assert len(audio_files(dest)) == 3
    good, bad = sorted(dest.glob("0[12] - *"))[0], next(dest.glob("03 - *"))
    data, rate = soundfile.read(good)
    assert len(data) / rate == pytest.approx(2, abs=0.1)
    try:
        data, rate = soundfile.read(bad)
    except (soundfile.LibsndfileError, RuntimeError):
        return
    assert len(data) / rate < 0.9     # the expected second of audio is not all there


async def test_unwritable_dest_fails_the_ticket(qtsim: QTSimulator, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    ticket_id = await complete(qtsim, album_body(blocker / "dest", tracks=TRACKS[:1]))
    state = qtsim.tickets[ticket_id]["state"]
    assert state["type"] == "failed" and state["error"].startswith("Placement failed")
    assert state["retryable"] is True


async def test_format_override(make_sim: Any, tmp_path: Path) -> None:
    sim: QTSimulator = await make_sim(audio_kind="mp3")
    await complete(sim, album_body(tmp_path / "o", tracks=TRACKS[:1], fmt="flac"))
    assert audio_files(tmp_path / "o") == ["01 - Airbag.mp3"]


@pytest.mark.parametrize(("constraints", "kind"), [
    (None, "ogg"), ({"type": "original"}, "flac"), ({"type": "audio", "format": "mp3"}, "mp3"),
    ({"type": "audio", "format": "flac"}, "flac"), ({"type": "audio", "format": "aac"}, "ogg"),
])
def test_audio_kind_for(constraints: dict[str, Any] | None, kind: str) -> None:
    assert audio_kind_for({"output_constraints": constraints}, None) == kind


def test_plan_without_expected_uses_the_reference_track_count() -> None:
    ticket = {"query_context": {"description": "Some - Thing", "catalog_reference": {"track_count": 2}}}
    assert [p.relpath for p in plan_files(ticket, "ogg")] == ["01 - Track 01.ogg", "02 - Track 02.ogg"]
    bare = {"query_context": {"description": "Some - Thing"}}
    assert [p.relpath for p in plan_files(bare, "flac")] == ["01 - Some - Thing.flac"]


@pytest.mark.parametrize(("text", "safe"), [
    ("AC/DC", "AC_DC"), ('What? "Why" <how>', "What_ _Why_ _how_"), ("...", "untitled"), ("", "untitled"),
])
def test_safe_name(text: str, safe: str) -> None:
    assert safe_name(text) == safe
