"""Force-search: an admin searches again for a download, with a query of their own.

QT has no force-search route, so the download is replaced: a new ticket for the same tracks
whose description is the admin's query, and the old ticket is cancelled if QT still runs it.
Exactly once, whatever crashes:
1. one bridge transaction (store/searches.py): the old submission's tracks stop being
   live, the new submission is stored as an `intent` with the query in its body, the
   requests follow it, and the old ticket's cancellation waits in the outbox;
2. the catalog marks the tracks `fetching` (repair does it after a crash in between);
3. the new intent goes through the submitter, whose attempts counter and dest_path lookup
   make sure QT gets one ticket however often the daemon dies around the POST;
4. the old ticket is cancelled, or left to the outbox, which retries until QT confirms.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import structlog

from ..config import Settings
from ..domain.models import Availability
from ..domain.searches import SearchQuery, with_search
from ..domain.status import LIVE_SUBMISSION_STATES, SubmissionState
from ..qt.types import TERMINAL_STATES
from ..store.bridge import BridgeStore, SubmissionRow
from ..store.catalog import Catalog
from ..store.searches import SearchRecord, SearchStore, StaleSwitch, Switch
from .actions import ActionError
from .cancels import TicketCancels, cancel_item
from .fetching import mark_fetching
from .intake import new_submission
from .locks import KeyedLocks
from .requests import RequestStatusUpdater

log = structlog.get_logger(__name__)

Submit = Callable[[SubmissionRow], Awaitable[bool]]


@dataclass(frozen=True)
class SearchResult:
    new: SubmissionRow
    old: SubmissionRow
    previous_ticket: str      # cancelled | cancel_pending | nothing_to_cancel
    repeated: bool = False    # the same search was asked for before: nothing new was made


class ForceSearch:
    def __init__(self, settings: Settings, store: BridgeStore, catalog: Catalog, statuses: RequestStatusUpdater,
                 locks: KeyedLocks, cancels: TicketCancels, *, submit: Submit,
                 wake_submitter: Callable[[], None]) -> None:
        self.settings = settings
        self.store = store
        self.searches = SearchStore(store)
        self.catalog = catalog
        self.statuses = statuses
        self.locks = locks
        self.cancels = cancels
        self.submit = submit
        self.wake_submitter = wake_submitter

    async def search(self, sub: SubmissionRow, query: SearchQuery) -> SearchResult:
        bound = log.bind(submission_id=sub.id, ticket_id=sub.ticket_id, album_id=sub.album_id)
        async with self.locks.hold(sub.id):
            old = await self.store.get_submission(sub.id)
            if old is None:
                raise ActionError(f"no download {sub.id}", status=404)
            earlier = await self.searches.replaced_by(old.id)
            if earlier is not None:
                return await self._repeated(old, earlier, query)
            switch = await self._plan(old, query)
            served = await self.store.requests_of_submission(old.id)   # before they follow the new one
            try:
                await self.searches.switch(switch)
            except (StaleSwitch, sqlite3.IntegrityError):
                # The download moved on under us (an event, another admin): nothing was written.
                raise ActionError("the download changed while searching again; look at it and try again") from None
        bound.info("download.searched_again", new_submission_id=switch.new.id, query=query.description,
                   tracks=len(switch.new.track_ids), closed_as=switch.close_old_as)
        await mark_fetching(self.catalog, list(switch.new.track_ids))
        await self.statuses.refresh(served)
        new = await self.store.get_submission(switch.new.id)
        assert new is not None
        if not await self.submit(new):
            self.wake_submitter()     # QT is away: the submitter's loop keeps trying
        previous = "nothing_to_cancel"
        if switch.cancel is not None:
            previous = "cancelled" if await self.cancels.deliver_now(switch.cancel) else "cancel_pending"
        return SearchResult(await self.store.get_submission(new.id) or new,
                            await self.store.get_submission(old.id) or old, previous)

    async def _plan(self, old: SubmissionRow, query: SearchQuery) -> Switch:
        if old.state is SubmissionState.IMPORTING:
            raise ActionError("the download is being imported; search again once the import has finished")
        live = old.state in LIVE_SUBMISSION_STATES
        tracks = await self.store.submission_tracks(old.id)
        # A live download hands over the tracks it is fetching; an ended one, those it did not import.
        candidates = [t.track_id for t in tracks if (t.active if live else t.outcome != "imported")]
        metas = await self.catalog.get_tracks(candidates)
        candidates = [t for t in candidates if t in metas and metas[t].availability is not Availability.AVAILABLE]
        elsewhere = {} if live else await self.store.live_tracks(candidates)
        wanted = [metas[t] for t in candidates if t not in elsewhere]
        if not wanted:
            raise ActionError("nothing to search for: every track of the download is available or being "
                              "fetched by another download")
        album = await self.catalog.get_album(old.album_id)
        if album is None:
            raise ActionError(f"album {old.album_id} is no longer in the catalog")
        new = new_submission(self.settings.media, self.settings.torrentino.ticket, album, wanted, old.priority)
        new = replace(new, body=json.dumps(with_search(json.loads(new.body), query)))
        note = f"searched again as {query.description!r} (download {new.id})"
        # A completed download keeps its state: what it imported stays its own.
        close = None if old.state is SubmissionState.COMPLETED else SubmissionState.CANCELLED
        return Switch(
            old_id=old.id, old_state=old.state, close_old_as=close, old_error=note, new=new,
            relink={**{t.id: new.id for t in wanted}, **elsewhere},
            query=query.description, artist=query.artist, title=query.title,
            cancel=cancel_item(old.id, "searched again by an admin") if _may_run_in_qt(old) else None,
        )

    async def _repeated(self, old: SubmissionRow, earlier: SearchRecord, query: SearchQuery) -> SearchResult:
        """A second call for a download already replaced: the same search is answered again
        (a client that lost the answer may ask twice); another one belongs on the new download."""
        new = await self.store.get_submission(earlier.submission_id)
        same = (earlier.query, earlier.artist, earlier.title) == (query.description, query.artist, query.title)
        if new is None or not same:
            shown = new.ticket_id or new.id if new is not None else earlier.submission_id
            raise ActionError(f"this download was already searched again as {earlier.query!r} "
                              f"(download {shown}); search again from that download")
        return SearchResult(new, old, "nothing_to_cancel", repeated=True)


def _may_run_in_qt(sub: SubmissionRow) -> bool:
    """Whether QT may still be working on the submission's ticket (cancelling costs nothing if not)."""
    if sub.ticket_id is None and sub.attempts == 0:
        return False    # never posted
    return sub.qt_state not in TERMINAL_STATES or sub.state in LIVE_SUBMISSION_STATES
