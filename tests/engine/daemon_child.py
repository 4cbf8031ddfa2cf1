"""The real daemon (`torrentino-bridge run`), SIGKILLed by itself right before or after one
named function runs, so a test can check what a crash exactly there leaves behind.

    python -m tests.engine.daemon_child after module:Class.method -- run --config bridge.toml

`before` kills as the call starts, `after` once it returned. Nothing else is changed: the
function is the daemon's own, wrapped where it is defined.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import signal
import sys
from typing import Any

from torrentino_bridge.cli import main


def _die(where: str) -> None:
    sys.stderr.write(f"CRASH {where}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(when: str, target: str) -> None:
    module_name, _, attr = target.partition(":")
    owner: Any = importlib.import_module(module_name)
    *path, name = attr.split(".")
    for part in path:
        owner = getattr(owner, part)
    fn = getattr(owner, name)
    assert inspect.iscoroutinefunction(fn), f"{target} is not a coroutine function"

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if when == "before":
            _die(f"before {target}")
        result = await fn(*args, **kwargs)
        if when == "after" and result is not False:     # a no-op call (False) is not the step
            _die(f"after {target}")
        return result

    setattr(owner, name, wrapper)


if __name__ == "__main__":
    when, target, sep, *rest = sys.argv[1:]
    assert when in ("before", "after") and sep == "--", sys.argv
    install(when, target)
    sys.exit(main(rest))
