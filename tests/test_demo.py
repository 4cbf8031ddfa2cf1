"""The README's first command runs the demo: both flavours must end with every request done."""

from __future__ import annotations

import pytest

from torrentino_bridge.demo import run_demo
from torrentino_bridge.demo_pezzottify import run_pezzottify_demo


async def test_the_demo_completes(tmp_path, capsys):
    assert await run_demo(str(tmp_path / "demo")) == 0
    out = capsys.readouterr().out
    assert "11 of 11 tracks available" in out


@pytest.mark.timeout(180)
async def test_the_pezzottify_demo_completes(tmp_path, capsys):
    assert await run_pezzottify_demo(str(tmp_path / "demo")) == 0
    out = capsys.readouterr().out
    assert "every request completed" in out
    assert "audio/4a/aw/" in out and "OGG VORBIS" in out
    assert "user 1: Harbour Lights is ready" in out
