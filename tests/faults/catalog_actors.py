"""Other processes on the catalog database, run as `python -m tests.faults.catalog_actors`.

holder  the catalog server at its worst: long write transactions (BEGIN IMMEDIATE, an
        update, a pause, COMMIT) back to back; prints every value it committed.
reader  a catalog-server reader: one consistent snapshot after another, checking that
        no album is ever seen half imported; prints every violation.
Both run until stdin closes (the test closes it to stop them).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import threading
import time
from pathlib import Path


def _until_stdin_closes() -> threading.Event:
    closed = threading.Event()

    def watch() -> None:
        sys.stdin.read()
        closed.set()

    threading.Thread(target=watch, daemon=True).start()
    return closed


def holder(db: Path, seed: int, min_hold: float, max_hold: float, min_gap: float, max_gap: float,
           first_hold: float) -> None:
    rng = random.Random(seed)
    stop = _until_stdin_closes()
    conn = sqlite3.connect(db, timeout=60, isolation_level=None)
    n = 0
    while not stop.is_set():
        n += 1
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE artists SET name = ? WHERE id = 'art-holder'", (f"holder-{n}",))
        print(f"holding {n}", flush=True)
        # The first hold outlasts any retry budget, so contention is certain, not luck.
        time.sleep(first_hold if n == 1 else rng.uniform(min_hold, max_hold))
        conn.execute("COMMIT")
        print(f"committed holder-{n}", flush=True)
        time.sleep(rng.uniform(min_gap, max_gap))
    conn.close()


def reader(db: Path, media_root: Path) -> None:
    stop = _until_stdin_closes()
    conn = sqlite3.connect(db, timeout=60, isolation_level=None)
    cols = {r[1] for r in conn.execute("PRAGMA table_info(tracks)")}
    plan = "availability" in cols
    snapshots = 0
    while not stop.is_set():
        if plan:
            rows = conn.execute(
                "SELECT album_id, id, availability = 'available', audio_uri, NULL FROM tracks"
            ).fetchall()
        else:
            rows = conn.execute(
                "SELECT al.id, t.id, t.track_available, t.audio_uri, al.album_availability FROM tracks t"
                " JOIN albums al ON al.rowid = t.album_rowid"
            ).fetchall()
        snapshots += 1
        by_album: dict[str, list[tuple[str, int, str | None, str | None]]] = {}
        for album_id, track_id, available, uri, rollup in rows:
            by_album.setdefault(album_id, []).append((track_id, available, uri, rollup))
        for album_id, tracks in by_album.items():
            flags = {bool(t[1]) for t in tracks}
            if len(flags) > 1:
                print(f"half-imported {album_id}: {[(t[0], t[1]) for t in tracks]}", flush=True)
            rollup = tracks[0][3]
            if rollup is not None:
                want = "complete" if flags == {True} else "missing" if flags == {False} else "partial"
                if rollup != want:
                    print(f"roll-up {album_id}: {rollup}, tracks say {want}", flush=True)
            for track_id, available, uri, _ in tracks:
                if available and (not uri or not os.path.isfile(media_root / uri)):
                    print(f"available without its file {track_id}: {uri}", flush=True)
        time.sleep(0.005)
    conn.close()
    print(f"snapshots {snapshots}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["holder", "reader"])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--media-root", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-hold", type=float, default=0.2)
    parser.add_argument("--max-hold", type=float, default=1.5)
    parser.add_argument("--min-gap", type=float, default=0.1)
    parser.add_argument("--max-gap", type=float, default=0.8)
    parser.add_argument("--first-hold", type=float, default=2.5)
    args = parser.parse_args()
    if args.role == "holder":
        holder(args.db, args.seed, args.min_hold, args.max_hold, args.min_gap, args.max_gap, args.first_hold)
    else:
        reader(args.db, args.media_root)


if __name__ == "__main__":
    main()
