"""Hypothesis strategies for hostile input, and a way to run a property against servers
that live on the test's event loop.

Hypothesis runs sync test functions; our servers are aiohttp apps on the running loop.
`run_property` runs the @given function in a worker thread, and `LoopCaller` sends each
example's coroutine back to the loop, so one server (or one running bridge) serves every
example: a property then also shows that one bad input does not affect the next.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.faults.conftest import current_scale

T = TypeVar("T")


def prop_settings(factor: float = 1.0) -> settings:
    """Modest example counts for CI, more under FAULTS_SCALE=full; no deadline (2 shared cores)."""
    return settings(
        max_examples=max(10, int(current_scale().examples * factor)), deadline=None, derandomize=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.function_scoped_fixture],
    )


class LoopCaller:
    """Run coroutines on the test's loop from the hypothesis worker thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float = 60.0) -> None:
        self.loop = loop
        self.timeout = timeout

    def __call__(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(self.timeout)


async def run_property(prop: Callable[[LoopCaller], None]) -> None:
    caller = LoopCaller(asyncio.get_running_loop())
    await asyncio.to_thread(prop, caller)


# --- values ---------------------------------------------------------------------------

# Text meant to hurt: control characters, bidi overrides, zero-width and combining marks,
# lone surrogates are excluded (they cannot cross a UTF-8 boundary at all).
nasty_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(
        ["\x00", "\n", "\r", "\t", "\u202e", "\u200b", "\ufeff", "\u0301", "e\u0301", "\u00e9", "../",
         "..", "/", "\\", "%2e%2e%2f", "'", '"', ";", "--", "💿", "\U0010fffd", " "]), max_size=30).map("".join),
    st.sampled_from(["", " ", "..", "../../etc/passwd", "NaN", "null", "true", "0", "-1", "1e999",
                     "' OR 1=1 --", "\u202egnp.exe", "A" * 5000]),
)

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), nasty_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)


def truncations(text: str) -> st.SearchStrategy[str]:
    """A valid message cut anywhere: what a broken proxy or a killed writer leaves."""
    return st.integers(min_value=0, max_value=max(0, len(text) - 1)).map(lambda n: text[:n])


def with_field(base: dict[str, Any], keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """`base` with one field replaced by a value of any JSON type (wrong types mostly)."""
    return st.tuples(st.sampled_from(keys), json_values).map(lambda kv: {**base, kv[0]: kv[1]})


def deep_nesting(depth: int) -> str:
    return "[" * depth + "]" * depth


def huge_json(size: int) -> str:
    return json.dumps({"type": "ticket_update", "ticket_id": "x" * size, "state": "downloading"})


class Blob:
    """Bytes with a short repr: hypothesis prints failing examples, some run to megabytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"Blob({self.data[:200]!r}, {len(self.data)} bytes)"


class BadUtf8(bytes):
    """Bytes stored as TEXT (CAST(? AS TEXT)): a TEXT value that is not valid UTF-8."""


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


bad_utf8 = st.binary(min_size=1, max_size=12).filter(_not_utf8).map(BadUtf8)


def insert_hostile(db: str, table: str, row: dict[str, Any]) -> int | None:
    """INSERT `row` into `table` as another writer's SQL would (BadUtf8 values are stored as
    TEXT that is not UTF-8). Returns the rowid, or None when the writer's own statement fails
    (a NOT NULL column, a duplicate id)."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        with conn:
            marks = ", ".join("CAST(? AS TEXT)" if isinstance(v, BadUtf8) else "?" for v in row.values())
            cur = conn.execute(
                f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})",
                tuple(bytes(v) if isinstance(v, BadUtf8) else v for v in row.values()),
            )
            return cur.lastrowid
    except sqlite3.IntegrityError:
        return None
    finally:
        conn.close()
# --- audio headers ----------------------------------------------------------------------

def hostile_wav(path: Path, body_bytes: int, *, rate: int = 2_000_000_000, channels: int = 1) -> Path:
    """A well-formed PCM WAV whose header states `rate` Hz, with `body_bytes` of samples.

    The body is a repeating ramp, written in 1 MiB pieces (no big buffer in the test)."""
    bits = 16
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits)
    piece = bytes(range(256)) * 4096
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + body_bytes) + b"WAVE")
        f.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
        f.write(b"data" + struct.pack("<I", body_bytes))
        left = body_bytes
        while left:
            n = min(left, len(piece))
            f.write(piece[:n])
            left -= n
    return path
