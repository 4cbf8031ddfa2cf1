"""One user's requests, a page at a time (the user API's list). Beside BridgeStore."""

from __future__ import annotations

from collections.abc import Sequence

from .bridge import BridgeStore, RequestRow, _request
from .db import marks


async def page_of_user(store: BridgeStore, user_id: str, *, statuses: Sequence[str] | None,
                       limit: int, offset: int) -> tuple[list[RequestRow], int]:
    """Newest first; returns the page and how many match in all."""
    where, params = "user_id = ?", [user_id]
    if statuses:
        where += f" AND status IN ({marks(len(statuses))})"
        params.extend(statuses)
    total = await store._one(f"SELECT COUNT(*) FROM download_requests WHERE {where}", params)
    rows = await store._all(
        f"SELECT * FROM download_requests WHERE {where} ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return [_request(r) for r in rows], int(total[0]) if total else 0
