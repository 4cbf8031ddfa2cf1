"""The seam every request source sits behind."""

from __future__ import annotations

from typing import Protocol

from ...store.bridge import BridgeStore


class RequestSource(Protocol):
    """A place requests come from. The intake asks each source, on every pass:
    - `changed()`: is there anything new? (cheap: e.g. one PRAGMA data_version);
    - `pull()`: bring new requests into the ledger (download_requests) and note what left;
    - `push()`: tell the source how the requests it gave ended.
    Each step is idempotent, so a pass cut short by a crash is simply run again."""

    name: str

    async def changed(self) -> bool: ...

    async def pull(self) -> int: ...

    async def push(self) -> int: ...


class BridgeTableSource:
    """The bridge's own table: writers (the API, the CLI, scripts) insert rows straight into
    the ledger, so there is nothing to pull or to push; only other connections' commits
    need noticing (PRAGMA data_version changes when another connection commits)."""

    name = "bridge"

    def __init__(self, store: BridgeStore) -> None:
        self.store = store
        self._seen: int | None = None

    async def changed(self) -> bool:
        version = await self.store.data_version()
        changed, self._seen = version != self._seen, version
        return changed

    async def pull(self) -> int:
        return 0

    async def push(self) -> int:
        return 0
