"""Library paths from media.path_template (pure)."""

from __future__ import annotations

import pytest

from torrentino_bridge.config import PEZZOTTIFY_TEMPLATE, PLAN_TEMPLATE, MediaSettings, vorbis_quality_for
from torrentino_bridge.domain.models import AlbumMeta, Availability, TrackMeta
from torrentino_bridge.importing.errors import TemplateError
from torrentino_bridge.importing.paths import TEMP_PREFIX, render, safe_component, temp_name

ALBUM = AlbumMeta(id="alb-1", name="OK Computer", artist="Radiohead", year=1997)
TRACK = TrackMeta(id="trk-7", album_id="alb-1", name="Exit Music (For a Film)", disc_number=1,
                  track_number=4, duration_ms=264000, audio_uri=None,
                  availability=Availability.FETCHING)
DEFAULT = PLAN_TEMPLATE


@pytest.mark.parametrize(
    ("template", "ext", "uri"),
    [
        (DEFAULT, "flac", "alb-1/1-04.flac"),
        (DEFAULT, ".OGG", "alb-1/1-04.ogg"),
        ("{artist}/{album}/{disc_number}-{track_number:02d} {title}.{ext}", "mp3",
         "Radiohead/OK Computer/1-04 Exit Music (For a Film).mp3"),
        ("{album_id}/{track_id}.{ext}", "opus", "alb-1/trk-7.opus"),
        (PEZZOTTIFY_TEMPLATE, "ogg", "audio/tr/k-/trk-7.ogg"),
    ],
)
def test_render(template: str, ext: str, uri: str) -> None:
    assert render(template, ALBUM, TRACK, ext) == uri


@pytest.mark.parametrize(
    ("value", "safe"),
    [("AC/DC", "AC_DC"), ("../../etc", "_.._etc"), ("...", "_"), ("  .hidden ", "hidden"),
     ("a\x00b", "a_b"), ("What?: *Now*", "What__ _Now_"), ("", "_")],
)
def test_catalog_values_cannot_escape_or_hide(value: str, safe: str) -> None:
    assert safe_component(value) == safe


def test_hostile_album_id_stays_inside_the_root() -> None:
    album = AlbumMeta(id="../../../etc", name="x", artist=None, year=None)
    uri = render(DEFAULT, album, TRACK, "flac")
    assert uri == "_.._.._etc/1-04.flac"
    assert ".." not in uri.split("/")


@pytest.mark.parametrize(
    "template",
    ["{album_id}/{nope}.{ext}", "{album_id.__class__}/{ext}", "{album_id[0]}/{ext}",
     "{album_id}/{track_number:zz}.{ext}", "{album_id}/.{track_id}.{ext}", "./{ext}"],
)
def test_bad_templates_are_refused(template: str) -> None:
    with pytest.raises(TemplateError, match=r"media\.path_template"):
        render(template, ALBUM, TRACK, "flac")


def test_settings_refuse_templates_leaving_the_root() -> None:
    with pytest.raises(ValueError, match="relative path"):
        MediaSettings(root="/m", incoming="/i", path_template="../{album_id}.{ext}")  # type: ignore[arg-type]


def test_temp_names_are_hidden_and_per_import() -> None:
    a, b = temp_name("1-04.flac", "key-a"), temp_name("1-04.flac", "key-b")
    assert a.startswith(TEMP_PREFIX) and a.startswith(".") and a.endswith(".part")
    assert a != b


@pytest.mark.parametrize(("track_id", "uri"), [
    ("4uLU6hMCjMI75M1A2tKUQC", "audio/4u/LU/4uLU6hMCjMI75M1A2tKUQC.ogg"),
    ("abcd", "audio/ab/cd/abcd.ogg"),
    ("abc", "audio/ab/00/abc.ogg"),      # the server: id[2:4] only when the id has 4 characters
    ("a", "audio/00/00/a.ogg"),
])
def test_the_pezzottify_layout_shards_like_the_server(track_id: str, uri: str) -> None:
    track = TrackMeta(id=track_id, album_id="alb-1", name="T", disc_number=1, track_number=1,
                      duration_ms=1000, audio_uri=None, availability=Availability.FETCHING)
    assert render(PEZZOTTIFY_TEMPLATE, ALBUM, track, "ogg") == uri


def test_layout_defaults_and_an_explicit_template_wins() -> None:
    media = MediaSettings(root="/m", incoming="/i")  # type: ignore[arg-type]
    assert media.template == PLAN_TEMPLATE
    pz = media.for_layout("pezzottify", 320)
    assert (pz.path_template, pz.convert, pz.vorbis_quality) == (PEZZOTTIFY_TEMPLATE, "ogg_vorbis", 0.9)
    plan = media.for_layout("plan", 320)
    assert (plan.path_template, plan.convert) == (PLAN_TEMPLATE, "none")
    mine = MediaSettings(root="/m", incoming="/i", path_template="{track_id}.{ext}", convert="none")  # type: ignore[arg-type]
    assert (mine.for_layout("pezzottify").path_template, mine.for_layout("pezzottify").convert) == (
        "{track_id}.{ext}", "none")


@pytest.mark.parametrize(("kbps", "quality"), [(None, 0.9), (320, 0.9), (256, 0.8), (288, 0.85), (32, 0.0),
                                               (900, 1.0), (128, 0.4)])
def test_vorbis_quality_follows_the_ticket_bitrate(kbps: int | None, quality: float) -> None:
    assert vorbis_quality_for(kbps) == quality
@pytest.mark.parametrize("char", ["𝄞", "音", "é"])
def test_names_fit_the_255_byte_limit(tmp_path, char: str) -> None:
    """Lengths are bytes: 120 four-byte characters were a 480-byte name (ENAMETOOLONG)."""
    from dataclasses import replace

    long_track = replace(TRACK, name=char * 300)
    long_album = replace(ALBUM, name=char * 300, artist=char * 300)
    template = "{artist}/{album}/{disc_number}-{track_number:02d} {title} {album} {artist}.{ext}"
    uri = render(template, long_album, long_track, "flac")
    for part in uri.split("/"):
        assert len(part.encode()) <= 255, part
    assert uri.endswith(".flac")
    target = tmp_path.joinpath(*uri.split("/"))
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")                              # the filesystem takes it
    (target.parent / temp_name(target.name, "key")).write_bytes(b"x")
