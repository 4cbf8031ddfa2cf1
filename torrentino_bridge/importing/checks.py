"""What each file turned out to be (mutagen's reading and the decoding check), remembered
per file version, and the plans made from them, so the work can be done while QT is
still placing a ticket's files and the import at `completed` only looks the answers up.

A version is the path plus (device, inode, size, mtime, ctime): a file QT is still writing,
or one replaced or touched after its check, has another version and is checked again. The
import also re-proves (device, inode, size) just before each move. Blocking I/O; thread-safe.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generic, TypeVar

from .discovery import AudioFile, Rejected, inspect_file
from .verify import Health, verify_file

Version = tuple[str, int, int, int, int, int]
T = TypeVar("T")


class Memo(Generic[T]):
    """A bounded, thread-safe map (least recently used goes first)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable, *, count: bool = True) -> T | None:
        """The value (now the most recently used), counted in `hits` unless count=False."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
                self.hits += count
            return value

    def put(self, key: Hashable, value: T) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Checked:
    found: AudioFile | Rejected
    health: Health | None = None     # None until verified (and for files that are not audio)


def version_of(path: Path, st: os.stat_result) -> Version:
    return (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class FileChecks:
    """A bounded memory of checked file versions (least recently used goes first)."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self.plans: Memo[object] = Memo(capacity // 8)     # plan.plan_import's
        self._entries: Memo[Checked] = Memo(capacity)
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def hits(self) -> int:
        """Inspections answered from memory."""
        return self._entries.hits

    def inspect(self, path: Path, rel: str, st: os.stat_result) -> AudioFile | Rejected:
        version = version_of(path, st)
        entry = self._entries.get(version)
        if entry is not None:
            # The file's name relative to the directory asked about now, which may not be
            # the one it was checked under (a parent's check); matching reads that name.
            return entry.found if entry.found.rel == rel else replace(entry.found, rel=rel)
        self.misses += 1
        found = inspect_file(path, rel, st.st_size)
        self._entries.put(version, Checked(found))
        return found

    def verify(self, audio: AudioFile) -> Health:
        """verify_file, remembered for the file version it was inspected in; a file that
        changed meanwhile is decoded again and its answer not kept."""
        try:
            before = version_of(audio.path, os.lstat(audio.path))
        except OSError:
            return verify_file(audio)
        entry = self._entries.get(before, count=False)
        if entry is not None and entry.health is not None:
            return entry.health
        health = verify_file(audio)
        try:
            now = version_of(audio.path, os.lstat(audio.path))
        except OSError:
            return health
        if now == before and entry is not None and replace(audio, rel=entry.found.rel) == entry.found:
            self._entries.put(now, Checked(entry.found, health))
        return health


def verify_all(audio: list[AudioFile], checks: FileChecks | None) -> list[Health]:
    return [checks.verify(a) if checks is not None else verify_file(a) for a in audio]

