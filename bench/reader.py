"""A catalog-server-like reader, run in its own process (`python -m bench.reader`):
album pages (an indexed join over tracks, albums, artists) one after another, each
timed; prints one JSON list of [monotonic start, seconds, which] when stdin closes.
With --control it alternates between the catalog and a copy of it nobody writes: the
copy shows what the machine's load alone does to the same query."""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import threading
import time
from pathlib import Path

QUERY = (
    "SELECT t.id, t.name, t.track_number, t.duration_ms, t.availability, t.audio_uri, al.name, ar.name"
    " FROM tracks t JOIN albums al ON al.id = t.album_id LEFT JOIN artists ar ON ar.id = al.artist_id"
    " WHERE t.album_id = ? ORDER BY t.disc_number, t.track_number"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--albums", type=int, required=True)
    parser.add_argument("--control", type=Path, default=None)
    parser.add_argument("--pause", type=float, default=0.002)
    args = parser.parse_args()
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    conns = [("catalog", sqlite3.connect(args.db, timeout=30))]
    if args.control is not None:
        conns.append(("control", sqlite3.connect(args.control, timeout=30)))
    rng = random.Random(1)
    samples = []
    while not stop.is_set():
        album = f"balb{rng.randrange(args.albums):06d}"
        for name, conn in conns:
            started = time.monotonic()
            conn.execute(QUERY, (album,)).fetchall()
            samples.append([started, time.monotonic() - started, name])
            time.sleep(args.pause)
    for _, conn in conns:
        conn.close()
    json.dump(samples, sys.stdout)


if __name__ == "__main__":
    main()
