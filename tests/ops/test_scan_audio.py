"""scan-audio on real catalogs (both layouts) with real, truncated, garbage and empty files."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from torrentino_bridge.domain.models import Availability
from torrentino_bridge.ops.audio_check import FileIdentity, Verdict, inspect_audio, resolve_audio_uri
from torrentino_bridge.ops.scan_audio import Finding, apply_fixes
from torrentino_bridge.store.catalog import open_catalog

from .conftest import (
    Env,
    TrackSpec,
    run_cli,
    run_json,
    run_subprocess,
    write_garbage,
    write_good,
    write_truncated,
)

TRACKS = [
    TrackSpec("t01-good-ogg", "al1", 1, "al1/01.ogg"),
    TrackSpec("t02-good-flac", "al1", 2, "al1/02.flac"),
    TrackSpec("t03-good-mp3", "al1", 3, "al1/03.mp3"),
    TrackSpec("t04-cut-flac", "al2", 1, "al2/01.flac"),
    TrackSpec("t05-cut-mp3", "al2", 2, "al2/02.mp3"),
    TrackSpec("t06-garbage", "al2", 3, "al2/03.ogg"),
    TrackSpec("t07-garbage-too", "al2", 4, "al2/03.ogg"),  # shares t06's file
    TrackSpec("t08-empty", "al2", 5, "al2/05.ogg"),
    TrackSpec("t09-missing", "al3", 1, "al3/01.ogg"),
    TrackSpec("t10-no-uri", "al3", 2, None),
    TrackSpec("t11-short-ogg", "al3", 3, "al3/03.ogg", duration_ms=30000),
    TrackSpec("t12-outside", "al3", 4, "../../etc/hostname"),
    TrackSpec("t13-unavailable", "al3", 5, "al3/05.ogg", available=False),
]
GOOD = ["t01-good-ogg", "t02-good-flac", "t03-good-mp3"]
CORRUPT = ["t04-cut-flac", "t05-cut-mp3", "t06-garbage", "t07-garbage-too"]
MISSING = ["t09-missing", "t10-no-uri"]
FIXED = [*CORRUPT, "t08-empty", *MISSING]
BAD_FILES = ["al2/01.flac", "al2/02.mp3", "al2/03.ogg", "al2/05.ogg"]


@pytest.fixture
def env(layout: str, make_env: Callable[[str, list[TrackSpec]], Env]) -> Env:
    env = make_env(layout, TRACKS)
    write_good(env, "al1/01.ogg", kind="ogg", secs=5, seed=1)
    write_good(env, "al1/02.flac", kind="flac", secs=5, seed=2)
    write_good(env, "al1/03.mp3", kind="mp3", secs=5, seed=3)
    write_truncated(env, "al2/01.flac", kind="flac", secs=5, keep=0.5)
    write_truncated(env, "al2/02.mp3", kind="mp3", secs=5, keep=0.4)
    write_garbage(env, "al2/03.ogg")
    (env.media_root / "al2" / "05.ogg").write_bytes(b"")
    # An OGG cut at a page boundary is valid audio, just far shorter than the catalog says.
    write_truncated(env, "al3/03.ogg", kind="ogg", secs=30, keep=0.4)
    write_good(env, "al3/05.ogg", kind="ogg", secs=5)  # its track is not available: not scanned
    return env


def _by_track(report: dict) -> dict[str, dict]:
    return {p["track_id"]: p for p in report["problems"]}


def test_dry_run_reports_and_changes_nothing(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    before = env.snapshot()
    files_before = sorted(p for p in env.media_root.rglob("*") if p.is_file())
    code, report = run_json(capsys, "scan-audio", "--config", str(env.config))
    assert code == 0
    assert report["dry_run"] is True
    assert report["catalog_layout"] == env.layout
    assert report["scanned_tracks"] == 12
    assert report["counts"] == {
        "ok": 3, "unverified": 0, "short": 1, "missing": 2, "empty": 1, "corrupt": 4, "outside_root": 1,
    }
    problems = _by_track(report)
    assert set(problems) == {*FIXED, "t11-short-ogg", "t12-outside"}
    assert {t: problems[t]["action"] for t in FIXED} == {
        **{t: "delete+mark" for t in CORRUPT}, "t08-empty": "delete+mark",
        **{t: "mark" for t in MISSING},
    }
    assert problems["t11-short-ogg"]["action"] == "none"
    assert problems["t12-outside"]["action"] == "none"
    assert "truncated" in problems["t05-cut-mp3"]["reason"]
    assert env.snapshot() == before
    assert sorted(p for p in env.media_root.rglob("*") if p.is_file()) == files_before


def test_apply_deletes_corrupt_files_marks_tracks_and_is_idempotent(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "scan-audio", "--config", str(env.config), "--apply")
    assert code == 0
    assert "deleted 4 files, marked 7 tracks unavailable in one transaction" in out

    for uri in BAD_FILES:
        assert not (env.media_root / uri).exists(), uri
    for uri in ("al1/01.ogg", "al1/02.flac", "al1/03.mp3", "al3/03.ogg", "al3/05.ogg"):
        assert (env.media_root / uri).exists(), uri
    for track in FIXED:
        assert env.track(track) == ("unavailable", None), track
    for track in GOOD:
        assert env.track(track)[0] == "available"
    assert env.track("t11-short-ogg") == ("available", "al3/03.ogg")
    assert env.track("t12-outside") == ("available", "../../etc/hostname")
    if env.layout == "pezzottify":
        assert env.album_availability("al2") == "missing"
        assert env.album_availability("al3") == "partial"

    snapshot = env.snapshot()
    code, report = run_json(capsys, "scan-audio", "--config", str(env.config), "--apply")
    assert code == 0
    assert report["deleted_files"] == [] and report["marked_tracks"] == 0
    assert report["scanned_tracks"] == 5
    assert set(_by_track(report)) == {"t11-short-ogg", "t12-outside"}
    assert env.snapshot() == snapshot


def test_mark_fetch_error(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, "scan-audio", "--config", str(env.config), "--apply",
                            "--mark", "fetch_error")
    assert code == 0
    if env.layout == "plan":
        assert report["mark"] == "fetch_error" and report["notes"] == []
        assert all(env.track(t) == ("fetch_error", None) for t in FIXED)
    else:
        assert report["mark"] == "unavailable"
        assert "no fetch_error state" in report["notes"][0]
        assert all(env.track(t) == ("unavailable", None) for t in FIXED)


def test_include_short_treats_short_files_as_corrupt(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, "scan-audio", "--config", str(env.config), "--apply",
                            "--include-short")
    assert code == 0
    assert _by_track(report)["t11-short-ogg"]["action"] == "delete+mark"
    assert not (env.media_root / "al3" / "03.ogg").exists()
    assert env.track("t11-short-ogg") == ("unavailable", None)


def test_a_file_replaced_after_inspection_is_not_deleted(
    layout: str, make_env: Callable[[str, list[TrackSpec]], Env]
) -> None:
    env = make_env(layout, [TrackSpec("t1", "al1", 1, "al1/01.ogg")])
    path = write_garbage(env, "al1/01.ogg")
    report = inspect_audio(path)
    assert report.verdict is Verdict.CORRUPT
    write_good(env, "al1/01.ogg", kind="ogg", secs=3)  # a fresh import lands meanwhile

    async def go() -> list[str]:
        catalog = await open_catalog(env.catalog_db)
        try:
            finding = Finding("t1", "al1/01.ogg", report.verdict, report.reason, path, report.identity,
                              action="delete+mark")
            applied = await apply_fixes(catalog, [finding], Availability.UNAVAILABLE)
        finally:
            await catalog.close()
        assert applied.deleted == [] and applied.marked == 0
        return applied.errors

    errors = asyncio.run(go())
    assert "changed since it was inspected" in errors[0]
    assert inspect_audio(path).verdict is Verdict.OK
    assert env.track("t1") == ("available", "al1/01.ogg")


def test_as_a_subprocess_with_text_report(env: Env) -> None:
    done = run_subprocess("scan-audio", "--config", str(env.config))
    assert done.returncode == 0, done.stderr
    assert "dry run: would delete 4 files and mark 7 tracks unavailable" in done.stdout
    assert "corrupt" in done.stdout and "t06-garbage" in done.stdout
    assert "\r" not in done.stderr  # no progress bar off a terminal
    done = run_subprocess("scan-audio", "--config", str(env.config), "--apply", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["marked_tracks"] == 7
    assert env.track("t06-garbage") == ("unavailable", None)


def test_progress_bar_on_a_terminal(layout: str, make_env: Callable[[str, list[TrackSpec]], Env]) -> None:
    tracks = [TrackSpec(f"t{i:02d}", "al1", i, f"al1/{i:02d}.ogg") for i in range(1, 5)]
    env = make_env(layout, tracks)
    for i in range(1, 5):
        write_good(env, f"al1/{i:02d}.ogg", kind="ogg", secs=1, seed=i)
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "torrentino_bridge", "scan-audio", "--config", str(env.config)],
            stdout=subprocess.PIPE, stderr=slave, text=True,
        )
        os.close(slave)
        slave = -1
        out, _ = proc.communicate(timeout=120)
        terminal = b""
        while select.select([master], [], [], 0)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO once the child side is closed
                break
            if not chunk:
                break
            terminal += chunk
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert proc.returncode == 0
    assert b"scanning audio [" in terminal and b"100% 4/4" in terminal
    assert "scanning audio" not in out  # stdout carries the report only


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("a/b.ogg", "a/b.ogg"),
        ("a/../b.ogg", "b.ogg"),
        ("../b.ogg", None),
        ("/etc/passwd", None),
        ("", None),
        (None, None),
        (".", None),
    ],
)
def test_resolve_audio_uri_stays_inside_the_root(uri: str | None, expected: str | None) -> None:
    root = Path("/media/library")
    resolved = resolve_audio_uri(root, uri)
    assert (str(resolved.relative_to(root)) if resolved else None) == expected


def test_identity_notices_a_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    first = FileIdentity.of(path.stat())
    path.unlink()
    path.write_bytes(b"abcd")
    assert FileIdentity.of(path.stat()) != first


@pytest.mark.parametrize("page_size", [1, 2, 5, 6])
def test_iter_available_tracks_pages_through_everything(
    layout: str, make_env: Callable[[str, list[TrackSpec]], Env], page_size: int
) -> None:
    tracks = [TrackSpec(f"t{i}", "al1", i, f"al1/{i}.ogg", available=i != 3) for i in range(1, 7)]
    env = make_env(layout, tracks)

    async def ids() -> list[str]:
        catalog = await open_catalog(env.catalog_db)
        try:
            return [t.id async for t in catalog.iter_available_tracks(page_size=page_size)]
        finally:
            await catalog.close()

    assert asyncio.run(ids()) == ["t1", "t2", "t4", "t5", "t6"]


def test_a_symlinked_library_file_still_decodes(tmp_path: Path) -> None:
    """The bounded decoder refuses symlinks inside a ticket's directory; a library may link
    its files (scan-audio follows them as before, or --apply would delete good files)."""
    from torrentino_bridge.sim.audio import write_audio

    real = write_audio(tmp_path / "real.ogg", duration_secs=2)
    (tmp_path / "link.ogg").symlink_to(real)
    assert inspect_audio(tmp_path / "link.ogg").verdict is Verdict.OK


def test_an_absurd_header_is_corrupt_without_decoding_its_body(tmp_path: Path) -> None:
    from tests.faults.hostile import hostile_wav

    report = inspect_audio(hostile_wav(tmp_path / "x.wav", 4 << 20))
    assert (report.verdict, report.reason) == (Verdict.CORRUPT, "absurd header (sample rate 2000000000 Hz)")
