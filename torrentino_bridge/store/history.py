"""Pages of downloads for the admin API: newest first, with the total the page belongs to.

"Newest" is when a download last ended, or (still live) when it was made, so a page of
finished downloads is in the order they finished (index submissions_finished).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..domain.status import SubmissionState
from .bridge import BridgeStore, SubmissionRow, _submission
from .db import marks


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[SubmissionRow]
    total: int


async def page_submissions(store: BridgeStore, states: Sequence[SubmissionState] | None, *,
                           limit: int, offset: int) -> Page:
    where, params = "", [s.value for s in states or ()]
    if states is not None:
        where = f" WHERE state IN ({marks(len(params))})"
    count = await store._one(f"SELECT COUNT(*) FROM submissions{where}", params)
    rows = await store._all(
        f"SELECT * FROM submissions{where}"
        " ORDER BY COALESCE(finished_at, created_at) DESC, id DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return Page([_submission(r) for r in rows], int(count[0]) if count else 0)
