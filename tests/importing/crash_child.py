"""The real `torrentino-bridge import` CLI, stopping at named steps of the import so a
test can SIGKILL it exactly there.

    python -m tests.importing.crash_child import --config ... --dir ... --album ...

Before or after each step it prints `PAUSE <step>` and waits for a line on stdin; the
parent either answers (go on) or kills the process. Nothing else is changed: the steps
run the importer's own functions.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torrentino_bridge.cli import main
from torrentino_bridge.importing import importer, journal, placement


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
    journal.create_job = after("planned", journal.create_job)  # type: ignore[assignment]
    journal.set_move = after("move", journal.set_move)  # type: ignore[assignment]
    journal.finish_job = after("finished", journal.finish_job)  # type: ignore[assignment]
    importer.apply_outcome = after("catalog-applied", importer.apply_outcome)  # type: ignore[assignment]
    placement.rename_into_place = after("renamed", placement.rename_into_place)  # type: ignore[assignment]
    placement.copy_to_temp = half_then_copy(placement.copy_to_temp)  # type: ignore[assignment]
    placement.commit_temp = after("committed", placement.commit_temp)  # type: ignore[assignment]
    placement.remove_tree = half_then_remove(placement.remove_tree)  # type: ignore[assignment]


if __name__ == "__main__":
    install()
    sys.exit(main(sys.argv[1:]))
