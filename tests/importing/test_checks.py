"""FileChecks on real files: what is remembered per file version, what is read again, and
that an answer about a file QT was still writing never outlives that version."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from torrentino_bridge.config import MediaSettings
from torrentino_bridge.importing import ImportOutcome, ImportPlan
from torrentino_bridge.importing.batch import import_batch
from torrentino_bridge.importing.checks import FileChecks, verify_all
from torrentino_bridge.importing.discovery import AudioFile, discover
from torrentino_bridge.importing.plan import plan_import

from .conftest import media_settings
from .layouts import CASES_BY_NAME, SINGLE, album_meta, build_case, track_metas
from .test_import import Env, assert_library_sound, make_env

CASE = "flat_numbered_ogg"
TRACK_5 = "05 - Midnight Train.ogg"


def precheck(source_dir: Path, incoming: Path, checks: FileChecks) -> int:
    """What the daemon's placing prechecks do to the files (short of matching): inspect and
    verify every audio file of a directory into `checks`; returns how many there are."""
    found = discover(source_dir, incoming, checks)
    verify_all(found.audio, checks)
    return len(found.audio)


def bytes_read() -> int:
    """Bytes this process has read through read(2) and friends, from the kernel's count.
    A cached answer needs no read of the file; any file content read shows up here."""
    if not os.path.exists("/proc/self/io"):
        pytest.skip("no per-process I/O accounting (/proc/self/io) here")
    with open("/proc/self/io", encoding="ascii") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


@pytest.fixture
def ticket(tmp_path: Path) -> Path:
    media = media_settings(tmp_path)
    return build_case(CASES_BY_NAME[CASE], media.incoming / "ticket", tmp_path / "outside")


def plan(source: Path, checks: FileChecks | None, media: MediaSettings | None = None) -> ImportPlan:
    """The plan of the whole Night Drive album from `source` (in <base>/incoming/)."""
    media = media or media_settings(source.parents[1])
    return plan_import(source, album_meta(SINGLE), track_metas(SINGLE), media, checks=checks)


def test_a_second_plan_of_an_unchanged_directory_reads_no_file(ticket: Path) -> None:
    incoming = ticket.parent
    checks = FileChecks()
    smallest = min(p.stat().st_size for p in ticket.iterdir())
    total = sum(p.stat().st_size for p in ticket.iterdir())

    before = bytes_read()
    assert precheck(ticket, incoming, checks) == 12
    first = bytes_read() - before
    assert (checks.hits, checks.misses, len(checks)) == (0, 12, 12)
    assert first >= total                    # every file was read (and decoded) once

    before = bytes_read()
    planned = plan(ticket, checks)
    again = bytes_read() - before
    assert (checks.hits, checks.misses) == (12, 12)
    assert again < smallest, f"the cached plan read {again} bytes"
    # The answers are the ones a plan without the cache gives.
    assert planned.to_json() == plan(ticket, None).to_json()
    assert len(planned.matches) == 12


@pytest.mark.parametrize("change", ["shorter", "same size", "another song"])
def test_a_file_rewritten_in_place_is_checked_again(ticket: Path, change: str) -> None:
    """Same name and inode; new size or only a new mtime/ctime: a new version, a new answer."""
    checks = FileChecks()
    precheck(ticket, ticket.parent, checks)
    path = ticket / TRACK_5
    inode, size = path.stat().st_ino, path.stat().st_size
    if change == "shorter":
        with open(path, "r+b") as f:
            f.truncate(size * 3 // 5)
    elif change == "same size":
        with open(path, "r+b") as f:        # damage a page in the middle, size unchanged
            f.seek(size // 2)
            f.write(b"\xff" * 64)
    else:
        other = (ticket / "01 - Neon Lights.ogg").read_bytes()
        with open(path, "r+b") as f:         # track 1's audio and tags under track 5's name
            f.truncate(0)
            f.write(other)
    assert path.stat().st_ino == inode

    planned = plan(ticket, checks)
    assert (checks.hits, checks.misses) == (11, 13)        # only the rewritten file was read again
    fresh = plan(ticket, None)
    assert planned.to_json() == fresh.to_json()
    if change == "another song":
        found = next(a for a in discover(ticket, ticket.parent, checks).audio if a.rel == TRACK_5)
        assert found.tags.title == "Neon Lights" and found.tags.track == 1
        assert "nd-105" in planned.failed
    else:
        assert planned.failed["nd-105"].startswith("corrupt"), planned.failed
        assert len(planned.matches) == 11


def test_the_rel_of_a_remembered_file_is_relative_to_the_directory_asked_about(tmp_path: Path) -> None:
    """A file remembered from a check of its parent directory keeps the answer of the
    directory asked about now (the name is what matching reads)."""
    media = media_settings(tmp_path)
    album = build_case(CASES_BY_NAME["multi_disc_cd_folders"], media.incoming / "album", tmp_path / "out")
    checks = FileChecks()
    precheck(album, media.incoming, checks)
    found = discover(album / "CD2", media.incoming, checks)
    assert checks.hits == 5
    assert found == discover(album / "CD2", media.incoming)
    assert [a.rel for a in found.audio][:1] == ["01. Second Wind.flac"]


def test_a_verification_under_another_directory_is_remembered_too(tmp_path: Path) -> None:
    """Inspected in a check of the parent, verified in a check of the disc folder: the
    answer is kept for the file version all the same (the name it was asked under differs)."""
    media = media_settings(tmp_path)
    album = build_case(CASES_BY_NAME["multi_disc_cd_folders"], media.incoming / "album", tmp_path / "out")
    checks = FileChecks()
    discover(album, media.incoming, checks)                     # inspected, not verified
    found = discover(album / "CD2", media.incoming, checks)
    first = verify_all(found.audio, checks)
    before = bytes_read()
    assert verify_all(found.audio, checks) == first
    assert bytes_read() - before < 4096                         # answered from memory


def test_the_least_recently_used_version_goes_first(ticket: Path) -> None:
    files = sorted(ticket.iterdir())
    checks = FileChecks(capacity=3)

    def inspect(path: Path) -> AudioFile:
        found = checks.inspect(path, path.name, os.lstat(path))
        assert isinstance(found, AudioFile)
        return found

    c = [inspect(p) for p in files[:4]][2]              # the 4th pushes out the 1st
    assert len(checks) == 3 and (checks.hits, checks.misses) == (0, 4)
    inspect(files[1])                                   # b: a hit, and now the most recent
    assert (checks.hits, checks.misses) == (1, 4)
    inspect(files[0])                                   # a was evicted: read again; c goes
    assert (checks.hits, checks.misses) == (1, 5)
    inspect(files[1])
    inspect(files[3])
    assert (checks.hits, checks.misses) == (3, 5)
    inspect(files[2])                                   # c was evicted
    assert (checks.hits, checks.misses) == (3, 6) and len(checks) == 3

    # A verification is remembered with its version, and not for a version evicted meanwhile.
    health = checks.verify(c)
    before = bytes_read()
    assert checks.verify(c) == health and health.ok
    assert bytes_read() - before < c.size
    for path in files[4:7]:                             # c is pushed out by three others
        inspect(path)
    before = bytes_read()
    assert checks.verify(c) == health
    assert bytes_read() - before >= c.size // 2          # decoded again
    assert len(checks) == 3

    # A whole directory larger than the capacity: bounded, and still the right answers.
    small = FileChecks(capacity=5)
    assert precheck(ticket, ticket.parent, small) == 12
    assert len(small) == 5
    assert plan(ticket, small).to_json() == plan(ticket, None).to_json()
    assert len(small) == 5


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with make_env(tmp_path, "plan") as made:
        yield made


@pytest.mark.parametrize("writer", ["appending", "preallocated"])
async def test_a_file_checked_while_partly_written_is_judged_by_its_final_version(env: Env, writer: str) -> None:
    """QT still writing track 5 when the precheck runs: at import, the whole file counts."""
    source = env.case_dir(CASE)
    path = source / TRACK_5
    whole = path.read_bytes()
    cut = len(whole) * 3 // 5
    if writer == "appending":
        path.write_bytes(whole[:cut])
    else:                                    # full size at once, the tail still zeros
        path.write_bytes(whole[:cut] + bytes(len(whole) - cut))
    inode = path.stat().st_ino

    checks = FileChecks()
    assert precheck(source, env.media.incoming, checks) == 12
    early = plan(source, checks, env.media)
    assert early.failed["nd-105"].startswith("corrupt"), early.failed     # what the check saw

    with open(path, "r+b") as f:              # the writer finishes, in place
        f.seek(cut)
        f.write(whole[cut:])
    assert path.stat().st_ino == inode and path.read_bytes() == whole
    misses = checks.misses

    job = await env.job(CASE, key="sub-partial")
    results = await import_batch([job], bridge_db=env.bridge_db, catalog=env.catalog, media=env.media,
                                 checks=checks)
    outcome = results["sub-partial"]
    assert isinstance(outcome, ImportOutcome), outcome
    assert outcome.failed == {} and len(outcome.imported) == 12
    assert checks.misses == misses + 1        # the finished file, and only it, was read again
    assert_library_sound(env.media.root, outcome)
    assert os.lstat(env.media.root / outcome.imported["nd-105"]).st_ino == inode
