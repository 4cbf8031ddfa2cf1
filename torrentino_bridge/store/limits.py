"""Per-user rate limit overrides and the usage counts rate limiting reads.

Lives beside BridgeStore (same connection and lock): the counts read the shared
download_requests table, one query for both ways in, so the API and the intake gate count
alike. A request failed by the rate limiter never uses up quota; under the fair policy
(`refund_unfulfilled`, the default) neither does one that failed, was rejected or
cancelled, or needed nothing (every track was already available: no request_tracks row
waits on a submission).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..domain.requests import bad_text
from .bridge import BridgeStore
from .db import utcnow

# Requests that count against a user, under the old policy: not failed by the rate limiter.
_COUNTED_ALL = "NOT (status = 'failed' AND COALESCE(error, '') LIKE 'rate_limited%')"
# ... and under the fair one: open, or completed by a download.
_COUNTED_FAIR = (
    "status NOT IN ('failed', 'rejected', 'cancelled') AND NOT (status = 'completed' AND NOT EXISTS"
    " (SELECT 1 FROM request_tracks rt WHERE rt.request_id = download_requests.id"
    " AND rt.submission_id IS NOT NULL))"
)
_OPEN = "status IN ('pending', 'in_progress', 'needs_approval')"
# Rows other writers inserted that the intake has not looked at yet.
_UNPLANNED = "(status = 'pending' AND planned_at IS NULL)"


@dataclass(frozen=True, slots=True)
class Override:
    user_id: str
    requests_per_day: int | None
    max_pending: int | None
    updated_at: str


@dataclass(frozen=True, slots=True)
class Usage:
    requests_in_window: int
    open_requests: int
    # created_at of the request whose expiry frees one slot (None: nothing to expire)
    frees_at: str | None


class LimitStore:
    def __init__(self, store: BridgeStore) -> None:
        self.store = store

    async def get(self, user_id: str) -> Override | None:
        row = await self.store._one("SELECT * FROM user_limits WHERE user_id = ?", (user_id,))
        return Override(row["user_id"], row["requests_per_day"], row["max_pending"], row["updated_at"]) if row else None

    async def all(self) -> list[Override]:
        rows = await self.store._all("SELECT * FROM user_limits ORDER BY user_id")
        return [Override(r["user_id"], r["requests_per_day"], r["max_pending"], r["updated_at"]) for r in rows]

    async def put(self, user_id: str, requests_per_day: int | None, max_pending: int | None) -> Override | None:
        """Set (or, with both None, remove) a user's override."""
        async with self.store.tx() as conn:
            if requests_per_day is None and max_pending is None:
                await conn.execute("DELETE FROM user_limits WHERE user_id = ?", (user_id,))
                return None
            now = utcnow()
            await conn.execute(
                "INSERT INTO user_limits (user_id, requests_per_day, max_pending, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
                " requests_per_day = excluded.requests_per_day, max_pending = excluded.max_pending,"
                " updated_at = excluded.updated_at",
                (user_id, requests_per_day, max_pending, now),
            )
            return Override(user_id, requests_per_day, max_pending, now)

    async def usage(self, user_id: str, *, since: str, per_day: int | None,
                    exclude_unplanned: bool, exclude_id: str | None = None, refund: bool = True) -> Usage:
        """Counts for one user. The intake gate passes exclude_unplanned=True: rows not yet
        planned are judged in their own turn. The HTTP API counts them, since each will be.
        `refund`: the fair policy (see the module's docstring)."""
        where = f"user_id = ? AND {_COUNTED_FAIR if refund else _COUNTED_ALL} AND id IS NOT ?"
        params: list[object] = [user_id, exclude_id]
        if exclude_unplanned:
            where += f" AND NOT {_UNPLANNED}"
        row = await self.store._one(
            f"SELECT SUM(created_at >= ?), SUM({_OPEN}) FROM download_requests WHERE {where}",
            (since, *params),
        )
        in_window = int(row[0] or 0) if row else 0
        open_now = int(row[1] or 0) if row else 0
        frees_at = None
        if per_day and in_window >= per_day:
            # One slot frees when the (in_window - per_day + 1)-th oldest request leaves the window.
            found = await self.store._one(
                f"SELECT created_at FROM download_requests WHERE {where} AND created_at >= ?"
                " ORDER BY created_at LIMIT 1 OFFSET ?",
                (*params, since, in_window - per_day),
            )
            frees_at = found[0] if found else None
        return Usage(in_window, open_now, frees_at)

    async def active_users(self, *, since: str, limit: int = 200) -> list[str]:
        """Users with an override, an open request or a request since `since`."""
        rows = await self.store._all(
            "SELECT user_id FROM user_limits UNION"   # a blob user_id is no user: the intake fails its rows
            f" SELECT user_id FROM download_requests WHERE (created_at >= ? OR {_OPEN}) AND typeof(user_id) = 'text'"
            " ORDER BY user_id LIMIT ?",
            (since, limit),
        )
        return [r[0] for r in rows if not bad_text(r[0])]   # undecodable ones: no user either
