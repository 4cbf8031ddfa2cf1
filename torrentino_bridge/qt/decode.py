"""Decoding QT's answers without blocking the event loop.

A small answer is decoded in place. A large one (a needs_approval answer near
max_response_bytes) would hold the loop: one C-level JSON decode of 8 MiB takes 100-200 ms,
building half a million candidate objects triggers full garbage collections, and a thread
would not help (both hold the GIL). So it is decoded in a child process, which also bounds
the candidates (candidates.py) and hands back only the small result; the daemon never
holds the large document. The child is fresh per large answer (`max_tasks_per_child=1`),
so the memory it used goes back to the system. Children fork from a forkserver that has
this module imported, so each costs a fork, not an interpreter start.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from .candidates import trim_answer

LARGE_BODY_BYTES = 512 * 1024


class DecodeError(ValueError):
    """The body is not JSON (the message says why, briefly)."""


def decode_answer(body: bytes, keep: int) -> Any:
    """JSON, with every state's candidates bounded to `keep` (runs in the child for large bodies)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise DecodeError(str(err)[:120]) from None
    return trim_answer(data, keep)


class AnswerDecoder:
    def __init__(self, keep: int, *, large_bytes: int = LARGE_BODY_BYTES) -> None:
        self.keep = keep
        self.large_bytes = large_bytes
        self._pool: ProcessPoolExecutor | None = None

    async def decode(self, body: bytes) -> Any:
        if len(body) < self.large_bytes:
            return decode_answer(body, self.keep)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), decode_answer, body, self.keep)

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context, max_tasks_per_child=1)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
