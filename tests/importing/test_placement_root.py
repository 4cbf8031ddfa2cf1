"""ensure_dir never creates anything outside the media root, even for a moment."""

from __future__ import annotations

from pathlib import Path

import pytest

from torrentino_bridge.importing.errors import PlacementError
from torrentino_bridge.importing.placement import ensure_dir


def test_a_planted_symlink_gets_nothing_created_behind_it(tmp_path: Path) -> None:
    root, outside = tmp_path / "media", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "artist").symlink_to(outside)
    with pytest.raises(PlacementError, match="outside the media root"):
        ensure_dir(root, root / "artist" / "album" / "disc")
    assert list(outside.iterdir()) == []


def test_dot_dot_cannot_climb_out(tmp_path: Path) -> None:
    root = tmp_path / "media"
    root.mkdir()
    with pytest.raises(PlacementError):
        ensure_dir(root, root / "a" / ".." / ".." / "escaped")
    assert not (tmp_path / "escaped").exists()
    ensure_dir(root, root / "fine" / "deeper")
    assert (root / "fine" / "deeper").is_dir()
