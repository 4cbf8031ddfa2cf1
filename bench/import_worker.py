"""The measured part of bench/import_album.py, run as a script in its own process so the
same measurement can import whichever torrentino_bridge PYTHONPATH names (this tree, or
another checkout as the baseline). Only the standard library and torrentino_bridge here.

    python bench/import_worker.py MODE TEMPLATE ROUNDS   ->  one JSON line: {"secs": [...]}

files   import the 12 track files (plan + journal + renames + catalog), cold (no prechecks)
image   import the album image + CUE sheet the same way (the cut included)
split   cut the image into its tracks alone (split.split_image)
decode  read the image once, block by block, and nothing else
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ALBUM, TRACKS, TRACK_SECS = "ba", 12, 240


def _catalog(path: Path) -> Path:
    from torrentino_bridge.store.db import sql_dir

    conn = sqlite3.connect(path)
    with conn:
        conn.executescript((sql_dir() / "catalog.sql").read_text(encoding="utf-8"))
        conn.execute("INSERT INTO artists (id, name) VALUES ('bart', 'The Benchmarks')")
        conn.execute("INSERT INTO albums (id, name, artist_id, year) VALUES (?, 'Real Size', 'bart', 2020)", (ALBUM,))
        conn.executemany(
            "INSERT INTO tracks (id, album_id, name, disc_number, track_number, duration_ms, availability)"
            " VALUES (?, ?, ?, 1, ?, ?, 'fetching')",
            [(f"{ALBUM}-{n:02d}", ALBUM, f"Song Number {n}", n, TRACK_SECS * 1000) for n in range(1, TRACKS + 1)])
    conn.close()
    return path


def _link_tree(src: Path, dst: Path) -> None:
    """A copy made of hard links: the import renames them away, the template stays."""
    for path in src.rglob("*"):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)


async def _import_once(source: Path, work: Path) -> float:
    from torrentino_bridge.config import MediaSettings
    from torrentino_bridge.importing import ImportJob, import_tracks
    from torrentino_bridge.store.catalog import open_catalog
    from torrentino_bridge.store.db import open_bridge_db

    incoming, root = work / "incoming", work / "media"
    root.mkdir()
    ticket = incoming / "ticket"
    _link_tree(source, ticket)
    media = MediaSettings(root=root, incoming=incoming)
    catalog = await open_catalog(_catalog(work / "catalog.db"))
    bridge_db = await open_bridge_db(work / "bridge.db")
    try:
        album = await catalog.get_album(ALBUM)
        tracks = await catalog.get_album_tracks(ALBUM)
        started = time.perf_counter()
        outcome = await import_tracks(ImportJob("bench", album, tracks, ticket), bridge_db=bridge_db,  # type: ignore[arg-type]
                                      catalog=catalog, media=media)
        elapsed = time.perf_counter() - started
    finally:
        await bridge_db.close()
        await catalog.close()
    if len(outcome.imported) != TRACKS:
        raise SystemExit(f"import incomplete: {outcome.summary}")
    return elapsed


def _split_once(image_dir: Path, work: Path) -> float:
    from torrentino_bridge.importing.cue import parse, to_samples
    from torrentino_bridge.importing.split import Span, split_image

    sheet = parse((image_dir / "Real Size.cue").read_text(encoding="utf-8"))
    image = work / "Real Size.flac"
    os.link(image_dir / "Real Size.flac", image)
    import soundfile

    info = soundfile.info(str(image))
    starts = [to_samples(t.start, info.samplerate) for t in sheet.tracks]
    spans = [Span(t.number, s, e) for t, s, e in zip(sheet.tracks, starts, [*starts[1:], info.frames], strict=True)]
    started = time.perf_counter()
    split_image(image, spans, work, "bench")
    return time.perf_counter() - started


def _decode_once(image_dir: Path) -> float:
    import soundfile

    started = time.perf_counter()
    with soundfile.SoundFile(str(image_dir / "Real Size.flac")) as sf:
        while len(sf.read(65536, dtype="int16")):
            pass
    return time.perf_counter() - started


def main(mode: str, template: Path, rounds: int) -> None:
    secs = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
            work = Path(tmp)
            if mode in ("files", "image"):
                secs.append(asyncio.run(_import_once(template / mode, work)))
            elif mode == "split":
                secs.append(_split_once(template / "image", work))
            else:
                secs.append(_decode_once(template / "image"))
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"secs": secs}))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))
