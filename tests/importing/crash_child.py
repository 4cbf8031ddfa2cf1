"""The real `torrentino-bridge import` CLI, stopping at named steps of the import so a
test can SIGKILL it exactly there.

    python -m tests.importing.crash_child import --config ... --dir ... --album ...

Before or after each step it prints `PAUSE <step>` and waits for a line on stdin; the
parent either answers (go on) or kills the process. Nothing else is changed: the steps
run the importer's own functions.

    python -m tests.importing.crash_child batch <spec.json>

runs importing.batch.import_batch over the jobs of a spec file (see run_batch) the way
the daemon does, pausing at the batch's steps, and prints `RESULT <key> <json>` per job.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torrentino_bridge.cli import main
from torrentino_bridge.config import MediaSettings
from torrentino_bridge.importing import ImportJob, ImportOutcome, batch, importer, journal, placement
from torrentino_bridge.importing.checks import FileChecks
from torrentino_bridge.store.catalog import open_catalog
from torrentino_bridge.store.db import open_bridge_db


def pause(step: str) -> None:
    sys.stdout.write(f"PAUSE {step}\n")
    sys.stdout.flush()
    if not sys.stdin.readline():      # the parent went away: stop here
        os._exit(3)


def after(step: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            result = await fn(*args, **kwargs)
            label = step if step != "move" else f"move-{args[3]}"
            pause(label)
            return result
        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        pause(step)
        return result
    return wrapper


def half_then_copy(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Leave half a temporary file behind before copying for real: a kill here is a kill
    in the middle of the copy."""
    @functools.wraps(fn)
    def wrapper(src: Path, tmp: Path, *, root: Path) -> Any:
        placement.ensure_dir(root, tmp.parent)
        data = Path(src).read_bytes()
        with open(tmp, "wb") as f:
            f.write(data[: len(data) // 2])
        pause("half-copied")
        result = fn(src, tmp, root=root)
        pause("copied")
        return result
    return wrapper


def half_then_remove(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(path: Path, incoming: Path) -> Any:
        files = sorted(p for p in Path(path).rglob("*") if p.is_file() and not p.is_symlink())
        for p in files[: len(files) // 2]:
            p.unlink()
        pause("half-cleaned")
        return fn(path, incoming)
    return wrapper


def install() -> None:
    journal.create_jobs = after("planned", journal.create_jobs)  # type: ignore[assignment]
    journal.set_move = after("move", journal.set_move)  # type: ignore[assignment]
    journal.finish_job = after("finished", journal.finish_job)  # type: ignore[assignment]
    importer.apply_outcome = after("catalog-applied", importer.apply_outcome)  # type: ignore[assignment]
    placement.rename_into_place = after("renamed", placement.rename_into_place)  # type: ignore[assignment]
    placement.copy_to_temp = half_then_copy(placement.copy_to_temp)  # type: ignore[assignment]
    placement.commit_temp = after("committed", placement.commit_temp)  # type: ignore[assignment]
    placement.remove_tree = half_then_remove(placement.remove_tree)  # type: ignore[assignment]


def install_batch() -> None:
    """Pauses at the batch's steps: after the plans are journalled, after each rename,
    after all the renames (before they are journalled), after the one catalog write,
    after the journal says done. The one-job path a rerun takes pauses at the same names."""
    journal.create_jobs = after("batch-planned", journal.create_jobs)  # type: ignore[assignment]
    placement.rename_into_place = after("renamed", placement.rename_into_place)  # type: ignore[assignment]
    batch.place_all = after("batch-placed", batch.place_all)  # type: ignore[assignment]
    batch.apply_outcomes = after("batch-catalog-applied", batch.apply_outcomes)  # type: ignore[assignment]
    journal.finish_jobs = after("batch-finished", journal.finish_jobs)  # type: ignore[assignment]


async def run_batch(spec: dict[str, Any]) -> int:
    """spec: catalog, layout, bridge_db, root, incoming, and jobs: [{key, album, tracks, dir}]."""
    media = MediaSettings(root=Path(spec["root"]), incoming=Path(spec["incoming"]), duration_tolerance_secs=1.5)
    catalog = await open_catalog(Path(spec["catalog"]), layout=spec["layout"])
    bridge_db = await open_bridge_db(Path(spec["bridge_db"]))
    try:
        jobs = []
        for job in spec["jobs"]:
            album = await catalog.get_album(job["album"])
            assert album is not None, job
            tracks = [t for t in await catalog.get_album_tracks(job["album"]) if t.id in job["tracks"]]
            jobs.append(ImportJob(key=job["key"], album=album, tracks=tracks, source_dir=Path(job["dir"])))
        results = await batch.import_batch(jobs, bridge_db=bridge_db, catalog=catalog, media=media,
                                           checks=FileChecks())
    finally:
        await catalog.close()
        await bridge_db.close()
    for key, result in sorted(results.items()):
        shown = result.to_json() if isinstance(result, ImportOutcome) else {"error": repr(result)}
        sys.stdout.write(f"RESULT {key} {json.dumps(shown)}\n")
    sys.stdout.flush()
    return 0 if all(isinstance(r, ImportOutcome) for r in results.values()) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["batch"]:
        install_batch()
        sys.exit(asyncio.run(run_batch(json.loads(Path(sys.argv[2]).read_text(encoding="utf-8")))))
    install()
    sys.exit(main(sys.argv[1:]))
