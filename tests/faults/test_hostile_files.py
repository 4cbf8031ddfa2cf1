"""Hostile file names and entries in a ticket's dest_path: traversal-looking names,
symlinks (out of incoming, into the media root, loops, dangling), odd unicode, names
that are not UTF-8 at all, very long names, FIFOs, nesting.

Targets the real entry points: importing.plan_import (discovery, verification, matching)
and import_tracks (journal, placement, the catalog write, clean-up). A good file next to
the junk is always imported; nothing outside incoming is read, moved or removed.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, note
from hypothesis import strategies as st

from tests.conftest import album, build_catalog, write_config
from tests.faults.conftest import Scale
from tests.faults.harness import audio_problem
from tests.faults.hostile import LoopCaller, hostile_wav, prop_settings, run_property
from torrentino_bridge.config import load_settings
from torrentino_bridge.importing import ImportJob, import_tracks, plan_import
from torrentino_bridge.importing.discovery import discover
from torrentino_bridge.sim.audio import AudioTags, write_audio
from torrentino_bridge.store.catalog import open_catalog
from torrentino_bridge.store.db import open_bridge_db

pytestmark = pytest.mark.faults

SPEC = album("alb-h", "Hostile", "Names", ["First Song", "Second Song"], seconds=2)
T1, T2 = SPEC.track_id(1, 1), SPEC.track_id(1, 2)

_NAME_CHARS = st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",))
text_names = st.one_of(
    st.text(_NAME_CHARS, min_size=1, max_size=60),
    st.sampled_from(["..", "...", "-", "~", " ", "..\\..\\x.ogg", "%2e%2e%2fetc", "CON", "sample.ogg",
                     ".hidden.ogg", "01 - First Song.ogg", "02 - Second Song.ogg", "\u202egg0.ogg",
                     "e\u0301.ogg", "\ufeff01.ogg", "\n01\n.ogg", "x" * 251 + ".ogg", "\U0001f4bf" * 63]),
).filter(lambda n: n not in (".", "..") and 0 < len(n.encode("utf-8")) <= 255)
byte_names = st.binary(min_size=1, max_size=40).filter(
    lambda b: b"/" not in b and b"\x00" not in b and b not in (b".", b"..")
)
names = st.one_of(text_names.map(lambda n: n.encode("utf-8")), byte_names)
kinds = st.sampled_from(["junk", "empty", "audio_copy", "dir", "link_outside_file", "link_outside_dir",
                         "link_media_root", "link_parent", "link_loop", "link_dangling", "fifo", "deep"])
entries = st.lists(st.tuples(names, kinds), max_size=5)


class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.outside = root / "outside"
        self.outside.mkdir()
        self.templates = root / "templates"
        self.first = write_audio(self.templates / "first.ogg", duration_secs=2,
                                 tags=AudioTags(title="First Song", track_number=1))
        self.second = write_audio(self.templates / "second.ogg", duration_secs=2,
                                  tags=AudioTags(title="Second Song", track_number=2))
        self.outside_audio = shutil.copy(self.second, self.outside / "02 - Second Song.ogg")
        (self.outside / "keep" / "inner.txt").parent.mkdir()
        (self.outside / "keep" / "inner.txt").write_text("must survive")
        catalog = build_catalog(root / "catalog.db", [SPEC])
        self.settings = load_settings(write_config(root, catalog, "http://127.0.0.1:9"))
        self.settings.media.incoming.mkdir(parents=True)
        self.settings.media.root.mkdir(parents=True)

    def outside_intact(self) -> bool:
        kept = (self.outside / "keep" / "inner.txt").read_text() == "must survive"
        return kept and audio_problem(Path(self.outside_audio), "Second Song") is None


def make_entry(directory: Path, name: bytes, kind: str, world: World) -> None:
    path = os.fsencode(directory) + b"/" + name
    if os.path.lexists(path):
        return
    match kind:
        case "junk":
            with open(path, "wb") as f:
                f.write(os.urandom(300))
        case "empty":
            open(path, "wb").close()
        case "audio_copy":
            shutil.copyfile(world.second, path)
        case "dir":
            os.mkdir(path)
            shutil.copyfile(world.first, path + b"/" + name[:100] + b".ogg")
        case "deep":
            deep = path
            for level in range(30):
                deep += b"/" + (b"d%02d" % level) * 4
            os.makedirs(deep)
            shutil.copyfile(world.first, deep + b"/track.ogg")
        case "link_outside_file":
            os.symlink(os.fsencode(world.outside_audio), path)
        case "link_outside_dir":
            os.symlink(os.fsencode(world.outside / "keep"), path)
        case "link_media_root":
            os.symlink(os.fsencode(world.settings.media.root), path)
        case "link_parent":
            os.symlink(b"..", path)
        case "link_loop":
            os.symlink(name, path)
        case "link_dangling":
            os.symlink(b"/nonexistent/" + name, path)
        case "fifo":
            os.mkfifo(path)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


async def test_junk_next_to_good_files_never_breaks_an_import(world: World) -> None:
    media = world.settings.media
    catalog = await open_catalog(world.settings.catalog.db)
    bridge_db = await open_bridge_db(world.settings.bridge.db)
    album_meta = await catalog.get_album(SPEC.id)
    tracks = await catalog.get_album_tracks(SPEC.id)
    counter = itertools.count()

    @prop_settings()
    @given(entries, st.one_of(st.none(), names))
    # A copy of track 2 named as track 1, next to the real track 1 under a name that is not
    # UTF-8 (so it is set aside) or that carries another number: once imported as track 1.
    @example([(b"01 - First Song.ogg", "audio_copy")], b"\xff\xfe.ogg")
    @example([(b"01 - First Song.ogg", "audio_copy")], b"2 x.ogg")
    def prop(call: LoopCaller, junk: list[tuple[bytes, str]], first_name: bytes | None) -> None:
        n = next(counter)
        note(f"junk={junk!r} first_name={first_name!r}")
        ticket = media.incoming / f"tb-{n}"
        ticket.mkdir()
        shutil.copyfile(world.second, ticket / "02 - Second Song.ogg")
        first = os.fsencode(ticket) + b"/" + (first_name or b"01 - First Song.ogg")
        if first_name is None or not os.path.lexists(first):
            shutil.copyfile(world.first, first)
        for name, kind in junk:
            make_entry(ticket, name, kind, world)

        plan = plan_import(ticket, album_meta, tracks, media, album_tracks=tracks)
        matched = {m.track.id: m for m in plan.matches}
        assert T2 in matched, plan.to_json()
        for track_id, reason in plan.failed.items():
            assert track_id == T1 and reason.strip(), (track_id, reason)
        for rejected in plan.rejected:
            assert rejected.reason.strip()
        for m in plan.matches:      # nothing outside the ticket's directory is ever a candidate
            assert m.file.path.resolve().is_relative_to(ticket.resolve()) and not m.file.path.is_symlink()

        outcome = call(import_tracks(ImportJob(f"job-{n}", album_meta, tracks, ticket),
                                     bridge_db=bridge_db, catalog=catalog, media=media))
        assert T2 in outcome.imported, outcome
        assert set(outcome.imported) | set(outcome.failed) == {T1, T2}
        for track_id, uri in outcome.imported.items():
            title = "First Song" if track_id == T1 else "Second Song"
            placed = media.root / uri
            assert placed.resolve().is_relative_to(media.root.resolve())
            assert audio_problem(placed, title) is None
        assert world.outside_intact()

    try:
        await run_property(lambda call: prop(call))
    finally:
        await bridge_db.close()
        await catalog.close()
    leftovers = [p for p in media.root.rglob("*") if p.is_file()]
    assert sorted(p.relative_to(media.root).as_posix() for p in leftovers) == ["alb-h/1-01.ogg", "alb-h/1-02.ogg"]


@pytest.mark.parametrize("first_name", [None, b"zz garbage.ogg", b"2 x.ogg"])
async def test_a_copy_of_track_2_named_as_track_1_is_never_imported_as_track_1(
        world: World, first_name: bytes | None) -> None:
    """Regression: the title score took the better of tag and name title, so a copy of track
    2 named `01 - First Song.ogg` (tags: Second Song, #2; same length) was imported as track 1
    whenever the real track 1 was absent or under a name carrying another number."""
    media = world.settings.media
    ticket = media.incoming / "tb-mislabelled"
    ticket.mkdir()
    shutil.copyfile(world.second, ticket / "02 - Second Song.ogg")
    shutil.copyfile(world.second, ticket / "01 - First Song.ogg")
    if first_name is not None:
        shutil.copyfile(world.first, os.fsencode(ticket) + b"/" + first_name)
    catalog = await open_catalog(world.settings.catalog.db)
    bridge_db = await open_bridge_db(world.settings.bridge.db)
    try:
        album_meta = await catalog.get_album(SPEC.id)
        tracks: Any = await catalog.get_album_tracks(SPEC.id)
        plan = await asyncio.to_thread(plan_import, ticket, album_meta, tracks, media, album_tracks=tracks)
        reasons = {r.file: r.reason for r in plan.rejected}
        assert reasons["01 - First Song.ogg"] == "another file fits 2 Second Song better"
        outcome = await import_tracks(ImportJob("mislabelled", album_meta, tracks, ticket), bridge_db=bridge_db,
                                      catalog=catalog, media=media)
    finally:
        await bridge_db.close()
        await catalog.close()
    if first_name is None:
        assert set(outcome.imported) == {T2}
        assert outcome.failed == {T1: "missing"}
    else:                       # the real First Song: its tags and length say so, its name does not
        assert set(outcome.imported) == {T1, T2}
    for track_id, uri in outcome.imported.items():
        assert audio_problem(media.root / uri, "First Song" if track_id == T1 else "Second Song") is None


async def test_a_name_that_is_not_utf8_is_rejected_by_name(world: World) -> None:
    """Regression: a file whose name is not UTF-8 was verified through a str path that
    libsndfile cannot encode, so a good file was reported `corrupt: does not decode
    (UnicodeEncodeError ...)`. It is now set aside with a reason that names the problem."""
    media = world.settings.media
    ticket = media.incoming / "tb-latin1"
    ticket.mkdir()
    shutil.copyfile(world.first, os.fsencode(ticket) + b"/01 - Caf\xe9 First Song.ogg")
    shutil.copyfile(world.second, ticket / "02 - Second Song.ogg")
    found = await asyncio.to_thread(discover, ticket, media.incoming)
    assert [a.rel for a in found.audio] == ["02 - Second Song.ogg"]
    reasons = {r.rel: r.reason for r in found.rejected}
    assert reasons == {"01 - Caf\ufffd First Song.ogg": "file name is not valid UTF-8"}
    catalog = await open_catalog(world.settings.catalog.db)
    bridge_db = await open_bridge_db(world.settings.bridge.db)
    try:
        album_meta = await catalog.get_album(SPEC.id)
        tracks: Any = await catalog.get_album_tracks(SPEC.id)
        outcome = await import_tracks(ImportJob("latin1", album_meta, tracks, ticket), bridge_db=bridge_db,
                                      catalog=catalog, media=media)
    finally:
        await bridge_db.close()
        await catalog.close()
    assert set(outcome.imported) == {T2}
    assert outcome.failed == {T1: "missing"}


@pytest.mark.parametrize("rate", [2_000_000_000, 0, 96_000])
async def test_an_absurd_audio_header_is_corrupt_and_the_good_file_still_imports(
        world: World, scale: Scale, rate: int) -> None:
    """Issue 12: a WAV whose header claims a 2 GHz (or 0 Hz) sample rate is refused as corrupt
    without decoding its body; one with a real rate but the wrong length for its track is
    decoded in bounded reads and fails on its duration. 64 MiB bodies under `make faults`."""
    media = world.settings.media
    ticket = media.incoming / f"tb-absurd-{rate}"
    ticket.mkdir()
    body = (64 if scale.name == "full" else 8) << 20
    hostile_wav(ticket / "01 - First Song.wav", body, rate=rate)
    shutil.copyfile(world.second, ticket / "02 - Second Song.ogg")
    catalog = await open_catalog(world.settings.catalog.db)
    bridge_db = await open_bridge_db(world.settings.bridge.db)
    try:
        album_meta = await catalog.get_album(SPEC.id)
        tracks: Any = await catalog.get_album_tracks(SPEC.id)
        plan = await asyncio.to_thread(plan_import, ticket, album_meta, tracks, media, album_tracks=tracks)
        outcome = await import_tracks(ImportJob(f"absurd-{rate}", album_meta, tracks, ticket),
                                      bridge_db=bridge_db, catalog=catalog, media=media)
    finally:
        await bridge_db.close()
        await catalog.close()
    reason = {r.file: r.reason for r in plan.rejected}["01 - First Song.wav"]
    if rate == 2_000_000_000:
        assert reason.startswith("corrupt: absurd header (sample rate 2000000000 Hz)"), reason
    elif rate == 0:
        assert reason.startswith("corrupt: "), reason
    else:                   # 8-64 MiB at 96 kHz is a long file: another recording, not track 1
        assert reason.startswith("duration "), reason
    assert T1 in outcome.failed
    assert set(outcome.imported) == {T2}
    assert audio_problem(media.root / outcome.imported[T2], "Second Song") is None
