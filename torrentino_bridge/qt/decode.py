"""Decoding QT's answers without blocking the event loop.

A small answer is decoded in place. A large one (a needs_approval answer near
max_response_bytes) would hold the loop: one C-level JSON decode of 8 MiB takes 100-200 ms,
building half a million candidate objects triggers full garbage collections, and a thread
would not help (both hold the GIL). So it is decoded by a short-lived child process
(decode_child.py, standard library only), which also bounds the candidates (candidates.py)
and hands back only the small result as JSON: the daemon never holds the large document,
and the child's memory goes back to the system when it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from .candidates import trim_answer

LARGE_BODY_BYTES = 512 * 1024
CHILD = Path(__file__).with_name("decode_child.py")
CHILD_TIMEOUT_SECS = 120.0


class DecodeError(ValueError):
    """The body is not JSON (the message says why, briefly)."""


def decode_answer(body: bytes, keep: int) -> Any:
    """JSON, with every state's candidates bounded to `keep`."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise DecodeError(str(err)[:120]) from None
    return trim_answer(data, keep)


class AnswerDecoder:
    def __init__(self, keep: int, *, large_bytes: int = LARGE_BODY_BYTES) -> None:
        self.keep = keep
        self.large_bytes = large_bytes

    async def decode(self, body: bytes) -> Any:
        if len(body) < self.large_bytes:
            return decode_answer(body, self.keep)
        return await self._in_child(body)

    async def _in_child(self, body: bytes) -> Any:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", str(CHILD), str(self.keep),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(body), CHILD_TIMEOUT_SECS)
        except BaseException:           # a timeout or a cancelled call: the child goes too
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        if proc.returncode == 2:
            raise DecodeError(err.decode("utf-8", "replace")[:120])
        if proc.returncode != 0:
            raise DecodeError(f"the decoding child failed ({proc.returncode}): "
                              f"{err.decode('utf-8', 'replace')[-200:]}")
        return json.loads(out)

    def close(self) -> None:
        """Nothing is kept between answers (kept for the service's shutdown order)."""
