"""Fixtures for the import tests: the layout set (built once per session from real
encoded files) and media settings pointing at it."""

from __future__ import annotations

from pathlib import Path

import pytest

from torrentino_bridge.config import MediaSettings

from .layouts import CASES, build_case

# Test tracks last 2-8 s; a tolerance well under their spacing keeps duration meaningful.
TOLERANCE_SECS = 1.5


def media_settings(base: Path, **overrides: object) -> MediaSettings:
    (base / "media").mkdir(parents=True, exist_ok=True)
    (base / "incoming").mkdir(parents=True, exist_ok=True)
    values: dict[str, object] = {
        "root": base / "media", "incoming": base / "incoming",
        "duration_tolerance_secs": TOLERANCE_SECS,
    }
    values.update(overrides)
    return MediaSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def layout_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every case of layouts.CASES written under <root>/incoming/<case name>. Read-only:
    tests that move files copy a case first."""
    base = tmp_path_factory.mktemp("layouts")
    for case in CASES:
        build_case(case, base / "incoming" / case.name, base / "outside")
    return base


@pytest.fixture(scope="session")
def layout_media(layout_root: Path) -> MediaSettings:
    return media_settings(layout_root)
