"""Hostile catalog values in library paths: any text, any length, any script. Every rendered
name fits the filesystem's 255-byte limit, stays inside the media root, and can be created;
ensure_dir never creates anything outside the root."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.faults.hostile import nasty_text, prop_settings
from torrentino_bridge.domain.models import AlbumMeta, Availability, TrackMeta
from torrentino_bridge.importing.errors import PlacementError, TemplateError
from torrentino_bridge.importing.paths import render, temp_name
from torrentino_bridge.importing.placement import ensure_dir

pytestmark = pytest.mark.faults

ALBUM = AlbumMeta(id="alb", name="Album", artist="Artist", year=2001)
TRACK = TrackMeta(id="trk", album_id="alb", name="Title", disc_number=1, track_number=1, duration_ms=1000,
                  audio_uri=None, availability=Availability.FETCHING)
TEMPLATES = [
    "{album_id}/{disc_number}-{track_number:02d}.{ext}",
    "{artist}/{album}/{disc_number}-{track_number:02d} {title}.{ext}",
    "{artist} - {album} - {title} - {track_id}.{ext}",
]
values = st.one_of(nasty_text, st.text(min_size=100, max_size=400),
                   st.sampled_from(["𝄞" * 300, "音" * 300, "é" * 300, "a" * 1000, "." * 300]))


@prop_settings(2)
@given(st.sampled_from(TEMPLATES), values, values, values, values)
def test_every_rendered_name_fits_and_can_be_created(template: str, artist: str, album: str, title: str,
                                                     track_id: str) -> None:
    try:
        uri = render(template, replace(ALBUM, name=album, artist=artist), replace(TRACK, name=title, id=track_id),
                     "flac")
    except TemplateError:
        return                                      # refused by name: never an unsafe path
    parts = uri.split("/")
    assert all(0 < len(p.encode()) <= 255 and not p.startswith(".") and p not in ("..", ".") for p in parts), uri
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        target = root.joinpath(*parts)
        ensure_dir(root, target.parent)
        target.write_bytes(b"x")
        (target.parent / temp_name(target.name, "k")).write_bytes(b"x")
        assert target.resolve().is_relative_to(root.resolve())


def test_ensure_dir_through_planted_links_creates_nothing_outside(tmp_path: Path) -> None:
    root, outside = tmp_path / "media", tmp_path / "outside"
    (root / "real").mkdir(parents=True)
    outside.mkdir()
    (root / "out").symlink_to(outside)
    (root / "real" / "back").symlink_to(tmp_path)
    for target in (root / "out" / "a" / "b", root / "real" / "back" / "x", root / "real" / ".." / ".." / "y"):
        with pytest.raises(PlacementError):
            ensure_dir(root, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["media", "outside"]
    assert list(outside.iterdir()) == []
