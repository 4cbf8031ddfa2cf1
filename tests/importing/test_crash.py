"""SIGKILL during a real import subprocess, at every kind of step, then rerun.

The child is the real CLI (`main`) with pauses at the importer's steps
(tests/importing/crash_child.py); the test kills it with SIGKILL at a chosen pause,
checks what must hold at any moment, lets the next run resume, and finally runs the
plain `python -m torrentino_bridge import` to completion. Afterwards every track is
available with an audio_uri pointing at a complete, valid file; the media root holds
no temporary file and no duplicate; the file that was at a destination before was
never missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import build_catalog
from torrentino_bridge.importing.discovery import AudioFile, inspect_file
from torrentino_bridge.importing.verify import verify_file

from .layouts import ALBUMS, CASES_BY_NAME, build_case

REPO = Path(__file__).resolve().parents[2]
CASE = "tags_only_flac"
TRACKS = [f"nd-1{n:02d}" for n in range(1, 13)]
OLD_FILE = "nd/1-05.flac"          # a different file already sits at one destination
OLD_CONTENT = b"older, different audio"

# (step, which occurrence) to kill at, one run each, in order; each run resumes the last.
SAME_FS_KILLS = [("planned", 1), ("renamed", 1), ("move-placed", 2), ("renamed", 4),
                 ("catalog-applied", 1), ("finished", 1), ("half-cleaned", 1)]
CROSS_FS_KILLS = [("half-copied", 1), ("copied", 1), ("move-copied", 1), ("committed", 1),
                  ("half-copied", 2), ("move-placed", 3), ("catalog-applied", 1), ("half-cleaned", 1)]


def valid_audio(path: Path) -> bool:
    found = inspect_file(path, path.name, path.stat().st_size)
    return isinstance(found, AudioFile) and verify_file(found).ok


def write_config(base: Path, catalog: Path, root: Path) -> Path:
    config = base / "bridge.toml"
    config.write_text(
        f'[catalog]\ndb = "{catalog}"\n\n[bridge]\ndb = "{base / "bridge.db"}"\n\n'
        f'[media]\nroot = "{root}"\nincoming = "{base / "incoming"}"\nduration_tolerance_secs = 1.5\n'
        # Renames as such, whatever the layout (conversion: test_import.py, test_transcode.py).
        'path_template = "{album_id}/{disc_number}-{track_number:02d}.{ext}"\nconvert = "none"\n\n'
        "[http]\nenabled = false\n\n[torrentino]\nenabled = false\n",
        encoding="utf-8",
    )
    return config


def catalog_tracks(catalog: Path, layout: str) -> dict[str, str | None]:
    """track id -> audio_uri for tracks the catalog says are available."""
    with closing(sqlite3.connect(catalog)) as conn:
        if layout == "plan":
            rows = conn.execute("SELECT id, audio_uri FROM tracks WHERE album_id = 'nd'"
                                " AND availability = 'available'").fetchall()
        else:
            rows = conn.execute("SELECT t.id, t.audio_uri FROM tracks t JOIN albums a"
                                " ON a.rowid = t.album_rowid WHERE a.id = 'nd'"
                                " AND t.track_available = 1").fetchall()
    return dict(rows)


def check_any_moment(root: Path, catalog: Path, layout: str) -> None:
    """What must hold whenever the process dies."""
    assert_whole_files(root, catalog_tracks(catalog, layout))


def assert_whole_files(root: Path, available: dict[str, str | None]) -> None:
    """Every available track points at a whole, valid file; the library holds no partial
    file (hidden temporary copies aside); the old file is there until replaced whole."""
    for track_id, uri in available.items():
        assert uri, track_id
        assert valid_audio(root / uri), f"{track_id} points at a missing or broken {uri}"
    old = root / OLD_FILE
    assert old.exists(), "the file that was at the destination is gone"
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if name.startswith("."):             # temporary copies are hidden
                continue
            if path == old and old.read_bytes() == OLD_CONTENT:
                continue                         # not replaced yet
            assert valid_audio(path), f"partial file {name} in the library"


def drive_child(args: list[str], log: Path, *,
                kill_at: tuple[str, int] | None = None) -> tuple[bool, int | None, list[str]]:
    """Run the pausing child (tests/importing/crash_child.py), answering every pause, and
    SIGKILL it at the `kill_at` pause (step, occurrence). Returns (killed, exit code, the
    RESULT lines it printed)."""
    with open(log, "ab") as err:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.importing.crash_child", *args], cwd=REPO,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
        )
    assert child.stdin is not None and child.stdout is not None
    seen, printed = 0, []
    try:
        for raw in child.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("RESULT "):
                printed.append(line)
            if not line.startswith("PAUSE "):
                continue
            if kill_at is not None and line[6:] == kill_at[0]:
                seen += 1
                if seen == kill_at[1]:
                    os.kill(child.pid, signal.SIGKILL)
                    child.wait()
                    assert child.returncode == -signal.SIGKILL
                    return True, None, printed
            child.stdin.write(b"\n")
            child.stdin.flush()
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdin.close()
        child.stdout.close()
    return False, child.returncode, printed


def prepare(base: Path, layout: str, root: Path, case: str = CASE) -> tuple[list[str], Path]:
    catalog = build_catalog(base / "catalog.db", list(ALBUMS.values()), layout=layout)
    build_case(CASES_BY_NAME[case], base / "incoming" / case, base / "outside")
    (root / "nd").mkdir(parents=True)
    (root / OLD_FILE).write_bytes(OLD_CONTENT)
    config = write_config(base, catalog, root)
    return ["import", "--config", str(config), "--dir", str(base / "incoming" / case),
            "--album", "nd"], catalog


def finish_and_check(args: list[str], base: Path, root: Path, catalog: Path, layout: str,
                     case: str = CASE) -> None:
    done = subprocess.run([sys.executable, "-m", "torrentino_bridge", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "12 of 12 tracks imported." in done.stdout

    available = catalog_tracks(catalog, layout)
    assert sorted(available) == TRACKS
    assert available == {t: f"nd/1-{t[-2:]}.flac" for t in TRACKS}
    entries = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
    assert entries == ["nd", *sorted(available.values())]          # no temp, no duplicate
    for uri in available.values():
        assert valid_audio(root / uri)
    assert not (base / "incoming" / case).exists()
    with closing(sqlite3.connect(base / "bridge.db")) as conn:
        assert conn.execute("SELECT COUNT(*), MIN(state) FROM import_jobs").fetchone() == (1, "done")
        assert conn.execute("SELECT state, COUNT(*) FROM import_moves GROUP BY state").fetchall() == [
            ("placed", 12)]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("layout", ["plan", "pezzottify"])
def test_sigkill_at_every_step_then_rerun(tmp_path: Path, layout: str) -> None:
    root = tmp_path / "media"
    args, catalog = prepare(tmp_path, layout, root)
    killed = []
    for step, occurrence in SAME_FS_KILLS:
        if drive_child(args, tmp_path / "child.log", kill_at=(step, occurrence))[0]:
            killed.append(step)
        check_any_moment(root, catalog, layout)
    assert killed == [step for step, _ in SAME_FS_KILLS]
    finish_and_check(args, tmp_path, root, catalog, layout)


@pytest.mark.timeout(300)
def test_sigkill_during_cross_filesystem_copies(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem at /dev/shm")
    root = Path(os.path.realpath(shm)) / f"tb-crash-{os.getpid()}-{tmp_path.name}"
    try:
        args, catalog = prepare(tmp_path, "plan", root)
        killed = []
        for step, occurrence in CROSS_FS_KILLS:
            if drive_child(args, tmp_path / "child.log", kill_at=(step, occurrence))[0]:
                killed.append(step)
            check_any_moment(root, catalog, "plan")
        assert killed == [step for step, _ in CROSS_FS_KILLS]
        finish_and_check(args, tmp_path, root, catalog, "plan")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", [CASE, "cue_single_flac"])
def test_sigkill_at_arbitrary_moments_of_the_plain_cli(tmp_path: Path, case: str) -> None:
    """No pauses: the unmodified CLI killed after growing delays until one run completes.
    With a CUE image, the kills land while its tracks are cut, too."""
    root = tmp_path / "media"
    args, catalog = prepare(tmp_path, "plan", root, case)
    command = [sys.executable, "-m", "torrentino_bridge", *args]
    delay = 0.3
    for _ in range(12):
        with open(tmp_path / "cli.log", "ab") as log:
            child = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=log)
        time.sleep(delay)
        if child.poll() is not None:
            break
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        check_any_moment(root, catalog, "plan")
        delay += 0.15
    finish_and_check(args, tmp_path, root, catalog, "plan", case)
