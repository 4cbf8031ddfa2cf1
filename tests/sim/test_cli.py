"""The `sim` subcommand: argument parsing, and a real subprocess served until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from torrentino_bridge.qt.client import TorrentinoClient
from torrentino_bridge.qt.errors import QTAuthError
from torrentino_bridge.sim.cli import register, run

from .helpers import album_body, eventually


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub, lambda p: None)
    return parser.parse_args(["sim", *argv])


def test_defaults_and_options() -> None:
    args = parse()
    assert (args.host, args.port, args.api_key, args.audio_kind, args.drop_ws) == (
        "127.0.0.1", 8080, None, None, False)
    assert args.step_secs == 0.2 and args.handler is run
    args = parse("--port", "0", "--api-key", "k", "--step-secs", "0.01", "--format", "flac", "--drop-ws")
    assert (args.port, args.api_key, args.step_secs, args.audio_kind, args.drop_ws) == (
        0, "k", 0.01, "flac", True)


@pytest.mark.parametrize("argv", [["--format", "wma"], ["--step-secs", "-1"], ["--port", "x"]])
def test_bad_options(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse(*argv)


async def test_subprocess_serves_until_sigterm(tmp_path: Path) -> None:
    key = "cli-key-3f9a"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "torrentino_bridge.sim", "--log-format", "json", "--port", "0",
        "--api-key", key, "--step-secs", "0.01",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line.startswith("QT simulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1].strip()
        async with TorrentinoClient(url, token="wrong", max_attempts=1) as bad:
            with pytest.raises(QTAuthError):
                await bad.health()
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/sim/outcome", json={"match": None, "outcome": "complete"}) as r:
                assert r.status == 200
            async with TorrentinoClient(url, token=key) as client:
                ticket = await client.create_ticket(album_body(tmp_path / "cli", tracks=[
                    {"number": 1, "title": "One", "duration_secs": 1}]))

                async def completed() -> bool:
                    return (await client.get_ticket(ticket.id)).state.type == "completed"

                await eventually(completed, what="completion in the subprocess")
            async with http.get(f"{url}/sim/state") as r:
                state = await r.json()
        assert state["post_count"] == 1 and state["tickets"][ticket.id]["state"] == "completed"
        assert (tmp_path / "cli" / "01 - One.ogg").is_file()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert proc.stderr is not None
        logs = (await proc.stderr.read()).decode()
        assert "sim.stopped" in logs and key not in logs
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
