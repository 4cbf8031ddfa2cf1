"""Applying Quentin Torrentino's truth about a ticket to its submission, tracks and requests.

Events only say *that* something changed; details come from GET /tickets/{id}, fetched
when the state type changes and, for progress, at most once per progress_refresh_secs.
Work for one ticket is coalesced: a burst of events for it runs one refresh. State changes
are refreshed at once; progress-only refreshes queue for a few workers.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import aiosqlite
import structlog

from ..config import Settings
from ..domain.availability import can_transition
from ..domain.models import Availability, TrackChange
from ..domain.status import LIVE_SUBMISSION_STATES, RELEASING_STATES, SubmissionState, submission_state_for
from ..importing import ImportJob, forget_import
from ..importing.batch import Result, import_batch
from ..importing.checks import FileChecks
from ..importing.errors import FilesNotReady
from ..importing.importer import Followups
from ..live.sink import LiveSink, NoLive
from ..metrics import Metrics
from ..qt.client import TorrentinoClient
from ..qt.errors import QTError, QTNotFound
from ..qt.events import (
    Event,
    Heartbeat,
    OrchestratorStatus,
    PipelineProgress,
    TicketDeleted,
    TicketUpdate,
    TorrentProgress,
)
from ..qt.types import Ticket
from ..store.bridge import BridgeStore, SubmissionRow
from ..store.catalog import Catalog
from ..store.db import is_busy
from ..store.mend import MendStore
from ..store.outbox import NewItem
from ..store.searches import given_up
from ..tasks import TaskSupervisor
from .albums import AlbumDownloads, LeftCatalog
from .approvals import approval_details, notice_of_approval
from .cancels import cancel_item
from .import_queue import ImportQueue
from .locks import KeyedLocks
from .prechecks import PlacementPrechecks
from .requests import RequestStatusUpdater
from .settle import FileSettler

log = structlog.get_logger(__name__)

# Called with (event, submission, data) when an admin should hear about a ticket; returns the
# outbox items (notify.py) to record with the change that causes them.
Notifier = Callable[[str, SubmissionRow, dict[str, Any]], Awaitable[list[NewItem]]]

_PROGRESS_STATES = frozenset({"downloading", "converting", "placing", "acquiring"})


@dataclass(slots=True)
class Known:
    """What the event path needs of a live submission, kept in memory: QT sends an event
    on every progress write, and a database read per event caps throughput."""

    submission_id: str
    qt_state: str | None
    state: SubmissionState


@dataclass(slots=True)
class Progress:
    phase: str | None
    percent: float | None
    written_at: float = 0.0


class TicketTracker:
    def __init__(
        self,
        settings: Settings,
        store: BridgeStore,
        catalog: Catalog,
        client: TorrentinoClient,
        statuses: RequestStatusUpdater,
        locks: KeyedLocks,
        tasks: TaskSupervisor,
        metrics: Metrics,
        *,
        import_db: aiosqlite.Connection,
        notifier: Notifier | None = None,
        checks: FileChecks | None = None,
        live: LiveSink | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.client = client
        self.statuses = statuses
        self.locks = locks
        self.tasks = tasks
        self.metrics = metrics
        self.import_db = import_db
        self.notifier = notifier
        self.checks = checks
        self.albums = AlbumDownloads(settings, store, catalog)
        self._settled: set[str] = set()     # submissions whose folder was waited for: import as is
        # Told when a submission was added outside the intake (a follow-up ticket).
        self.on_new_submission: Callable[[], None] = lambda: None
        self.live: LiveSink = live or NoLive()
        # With a memory of checked files, they are checked (and the import planned) while
        # QT places them: the import at `completed` then finds its plan made.
        self.prechecks = (PlacementPrechecks(store, catalog, settings.media, checks, tasks, self.jobs_for)
                          if checks is not None else None)
        self.settler = FileSettler(catalog, settings.media, checks, self.jobs_for, import_db)
        self._completed: set[str] = set()               # ticket ids an event said are completed
        # Completions seen whose refresh runs but has not reached the import queue yet.
        self.imports: ImportQueue[SubmissionRow] = ImportQueue(
            self._import_batch, tasks, key=lambda s: s.id,
            expected=lambda: sum(1 for t in self._completed if t in self._pending),
        )
        self.progress: dict[str, Progress] = {}        # submission id -> last known progress
        self._progress_due: dict[str, Progress] = {}    # submission id -> progress to write
        self._progress_writer: asyncio.Task[None] | None = None
        self._last_refresh: dict[str, float] = {}       # ticket id -> monotonic time
        self._pending: dict[str, bool] = {}             # ticket id -> another refresh wanted
        # Progress-only refreshes wait here for one of a few workers (oldest first): when every
        # ticket ticks at once, a task each would hold thousands of requests open together.
        self._queued: OrderedDict[str, None] = OrderedDict()
        self._refreshers = 0
        self._refresher_seq = 0
        self._known: dict[str, Known] = {}              # ticket id -> live submission, as last applied
        self.accepting = True
        self.orchestrator_running: bool | None = None
        # What a finished import owes other systems (the Pezzottify hand-over), set by the service.
        self.followups: Followups | None = None

    # -- events -----------------------------------------------------------------------------
    async def on_event(self, event: Event) -> None:
        """Called for every event; returns quickly, heavy work runs in per-ticket tasks.
        QT sends a ticket_update on every progress write of every active ticket: for a live
        submission that is a few dict reads, no database and no await."""
        # The two frequent kinds by exact type (a class pattern costs twice as much).
        kind = event.__class__
        if kind is TicketUpdate:
            ticket_id, state = event.ticket_id, event.state  # type: ignore[union-attr]
            sub = self._known.get(ticket_id) or await self._lookup(ticket_id)
            if sub is None:
                return  # not ours (QT serves other consumers too)
            if state == "placing" and self.prechecks is not None:
                self.prechecks.note(ticket_id)
            elif state == "completed":
                self._completed.add(ticket_id)
            # (A StrEnum compared with its value: an enum attribute lookup costs ~0.1 µs.)
            if state != sub.qt_state or sub.state == "intent":
                self.schedule(ticket_id)
            elif state in _PROGRESS_STATES:
                # Progress details: a refresh at most once per progress_refresh_secs.
                last = self._last_refresh.get(ticket_id)
                if last is None or time.monotonic() - last >= self.settings.bridge.progress_refresh_secs:
                    self.schedule_progress(ticket_id)
        elif kind is PipelineProgress:
            ticket_id, phase = event.ticket_id, event.phase  # type: ignore[union-attr]
            sub = self._known.get(ticket_id) or await self._lookup(ticket_id)
            if sub is None:
                return
            if phase == "placing" and self.prechecks is not None:
                self.prechecks.note(ticket_id)
            self._note_progress(sub, phase, event.percent)  # type: ignore[union-attr]
        else:
            match event:
                case TicketDeleted(ticket_id=ticket_id):
                    if await self._lookup(ticket_id) is not None:
                        self.schedule(ticket_id)
                case TorrentProgress(ticket_id=ticket_id, percent=percent):
                    sub = self._known.get(ticket_id) or await self._lookup(ticket_id)
                    if sub is not None:
                        self._note_progress(sub, "downloading", percent)
                case OrchestratorStatus(running=running):
                    self.orchestrator_running = running
                case Heartbeat():
                    pass

    async def _lookup(self, ticket_id: str) -> Known | None:
        # on_event reads self._known itself first (no coroutine for the common case).
        known = self._known.get(ticket_id)
        if known is not None:
            return known
        sub = await self.store.submission_by_ticket(ticket_id)
        return None if sub is None else self._remember(sub)

    def _remember(self, sub: SubmissionRow) -> Known:
        """Note what was just read or written; only live submissions stay in memory."""
        known = Known(sub.id, sub.qt_state, sub.state)
        if sub.ticket_id is not None:
            if sub.state in LIVE_SUBMISSION_STATES:
                self._known[sub.ticket_id] = known
            else:
                self._known.pop(sub.ticket_id, None)
                self._last_refresh.pop(sub.ticket_id, None)    # only live tickets need the clock
        return known

    def schedule(self, ticket_id: str) -> None:
        """Refresh a ticket now; a burst of calls for one ticket runs one refresh at a time.
        For state changes: they are unbounded, since a burst of completions is imported as one
        batch only if every one of them reaches the import queue together."""
        if not self.accepting:
            return
        if ticket_id in self._pending:
            self._pending[ticket_id] = True
            return
        self._queued.pop(ticket_id, None)   # a state change does not wait behind progress
        self._pending[ticket_id] = False
        self.tasks.start(f"ticket:{ticket_id}", self._refresh_loop(ticket_id), critical=False)

    def schedule_progress(self, ticket_id: str) -> None:
        """Refresh a ticket whose progress alone moved, through at most reconcile_concurrency
        workers: memory and requests in flight stay bounded however many tickets tick."""
        if not self.accepting or ticket_id in self._pending or ticket_id in self._queued:
            return
        self._queued[ticket_id] = None
        if self._refreshers < self.settings.bridge.reconcile_concurrency:
            self._refreshers += 1
            self._refresher_seq += 1
            self.tasks.start(f"ticket:progress-{self._refresher_seq}", self._refresh_queued(), critical=False)

    async def _refresh_queued(self) -> None:
        try:
            while self._queued and self.accepting:
                ticket_id, _ = self._queued.popitem(last=False)
                self._pending[ticket_id] = False
                try:
                    await self.refresh(ticket_id)
                except Exception as exc:   # recorded as a ticket task's crash; the queue goes on
                    self.tasks.crashed(f"ticket:{ticket_id}", exc)
                finally:
                    again = self._pending.pop(ticket_id, False)
                if again:
                    # Something changed meanwhile (a completion, say): its refresh gets a task of
                    # its own rather than holding this worker through an import.
                    self.schedule(ticket_id)
        finally:
            self._refreshers -= 1

    async def _refresh_loop(self, ticket_id: str) -> None:
        try:
            while True:
                await self.refresh(ticket_id)
                if not self._pending.get(ticket_id):
                    return
                self._pending[ticket_id] = False
        finally:
            self._pending.pop(ticket_id, None)

    def _note_progress(self, sub: Known, phase: str | None, percent: float | None) -> None:
        """Keep the latest progress in memory; write it at most once per progress_refresh_secs,
        in a task of its own so the event path never waits for the database."""
        self.live.progress(sub.submission_id, phase, percent)
        prog = self.progress.get(sub.submission_id)
        if prog is None:
            prog = self.progress[sub.submission_id] = Progress(phase, percent)
        else:
            if phase:
                prog.phase = phase
            if percent is not None:
                prog.percent = percent
        now = time.monotonic()
        if now - prog.written_at >= self.settings.bridge.progress_refresh_secs:
            prog.written_at = now
            # One writer task for all of them, many rows a transaction: a task per write
            # meant 10,000 tasks alive at once when 10,000 downloads ticked together.
            self._progress_due[sub.submission_id] = prog
            if self._progress_writer is None or self._progress_writer.done():
                self._progress_writer = self.tasks.start("progress-writer", self._write_progress(),
                                                         critical=False)

    async def _write_progress(self) -> None:
        while self._progress_due:
            due, self._progress_due = self._progress_due, {}
            await self.store.update_progress({sid: (p.percent, p.phase) for sid, p in due.items()})

    # -- refresh and apply ---------------------------------------------------------------------
    async def refresh(self, ticket_id: str) -> None:
        """Fetch the ticket and apply it. Every event, webhook or hint only says *look*: even a
        `completed` is confirmed by QT's own ticket before anything is imported (a draft event
        or a webhook may come while QT is still placing files)."""
        known = self._known.get(ticket_id)       # a live one: no read (apply reads under its lock)
        if known is None:
            sub = await self.store.submission_by_ticket(ticket_id)
            if sub is None:
                self._completed.discard(ticket_id)
                return
            known = self._remember(sub)
        self._last_refresh[ticket_id] = time.monotonic()
        try:
            ticket = await self.client.get_ticket(ticket_id)
        except QTNotFound:
            self._completed.discard(ticket_id)
            gone = await self.store.get_submission(known.submission_id)
            if gone is not None:
                await self.apply_gone(gone, "deleted in Quentin Torrentino")
            return
        except QTError as err:
            log.warning("ticket.refresh_failed", ticket_id=ticket_id, submission_id=known.submission_id,
                        error=err.message or type(err).__name__)
            return
        if ticket.state.type != "completed":
            self._completed.discard(ticket_id)      # a hint QT does not confirm
        await self._apply_or_defer(known.submission_id, ticket)

    async def _apply_or_defer(self, sub: SubmissionRow | str, ticket: Ticket) -> None:
        try:
            await self.apply(sub, ticket)
        except sqlite3.OperationalError as err:
            if not is_busy(err):
                raise
            # A locked catalog is transient: the reconciler applies QT's state again later.
            log.warning("ticket.apply_deferred", ticket_id=ticket.id,
                        submission_id=sub if isinstance(sub, str) else sub.id, error=str(err))

    async def apply_gone(self, sub: SubmissionRow, reason: str) -> None:
        async with self.locks.hold(sub.id):
            current = await self.store.get_submission(sub.id)
            if current is None:
                return
            if current.state not in (SubmissionState.ACTIVE, SubmissionState.NEEDS_APPROVAL):
                if current.state not in LIVE_SUBMISSION_STATES and current.qt_state != "deleted":
                    # An ended ticket that QT no longer has can never come back: stop following it.
                    await self.store.update_submission(sub.id, qt_state="deleted")
                return
            log.info("ticket.gone", ticket_id=sub.ticket_id, submission_id=sub.id, reason=reason)
            await self._end(current, SubmissionState.CANCELLED, "deleted", reason, None)
            await self._reread(sub.id)

    async def adopt(self, sub: SubmissionRow, ticket: Ticket) -> None:
        """A ticket just recorded: apply what the POST (or lookup) said, then fetch it once
        more, since events QT sent before its id was recorded were not recognised as ours."""
        await self.apply(sub, ticket)
        self.schedule(ticket.id)

    async def apply(self, sub: SubmissionRow | str, ticket: Ticket) -> None:
        """Bring one submission (a row, or its id) in line with QT's ticket. Idempotent."""
        sub_id = sub if isinstance(sub, str) else sub.id
        async with self.locks.hold(sub_id):
            current = await self.store.get_submission(sub_id)
            if current is None:
                return
            try:
                wrote = await self._apply_locked(current, ticket) is not False
            except BaseException:
                if current.ticket_id is not None:   # may be half-written: the next event reads the row
                    self._known.pop(current.ticket_id, None)
                raise
            after = await self.store.get_submission(sub_id) if wrote else current
            if after is not None:
                self._remember(after)
        # A request's status follows its submissions' state and error (and the catalog, which
        # only changes when they do); progress alone moves nothing, so a quiet pass is cheap.
        if after is None or (after.state, after.error) != (current.state, current.error):
            self.live.download_changed(sub_id)
            await self.statuses.refresh(await self.store.requests_of_submission(sub_id))

    async def _reread(self, submission_id: str) -> None:
        current = await self.store.get_submission(submission_id)
        if current is not None:
            self._remember(current)

    async def _apply_locked(self, sub: SubmissionRow, ticket: Ticket) -> bool | None:
        """Returns False when the submission already matched the ticket (nothing written)."""
        qt_state = ticket.state.type
        target = submission_state_for(qt_state)
        bound = log.bind(submission_id=sub.id, ticket_id=ticket.id, album_id=sub.album_id)
        if sub.state is SubmissionState.COMPLETED:
            if not await self._came_back(sub, ticket, target):
                return  # our import is done and QT agrees: its later life does not matter
            await self._reopen(sub, qt_state)
            sub = await self.store.get_submission(sub.id) or sub
        elif sub.state in (SubmissionState.FAILED, *RELEASING_STATES) and target in (
            SubmissionState.ACTIVE, SubmissionState.NEEDS_APPROVAL, SubmissionState.IMPORTING
        ) and not await given_up(self.store, sub.id):
            # Retried in QT (by us or through QT's own UI): the submission lives again. Not one a
            # force-search replaced: its old ticket runs on only until the outbox cancels it.
            await self._reopen(sub, qt_state)
            sub = await self.store.get_submission(sub.id) or sub
        elif sub.state is not SubmissionState.IMPORTING and sub.state in (
            SubmissionState.FAILED, *RELEASING_STATES
        ):
            if qt_state != sub.qt_state:
                await self.store.update_submission(sub.id, qt_state=qt_state)
            return

        if qt_state != sub.qt_state:
            bound.info("ticket.state", qt_state=qt_state, previous=sub.qt_state)

        match target:
            case SubmissionState.ACTIVE:
                percent = ticket.state.progress_pct
                self.progress[sub.id] = Progress(qt_state, percent, time.monotonic())
                self.live.progress(sub.id, qt_state, percent, ticket.state.get("speed_bps"),
                                   ticket.state.get("eta_secs"))
                error = ticket.state.error_text if qt_state == "pending_retry" else None
                if (sub.state, sub.qt_state, sub.progress, sub.phase, sub.error) == (
                    SubmissionState.ACTIVE, qt_state, percent, qt_state, error
                ):
                    return False   # as recorded: a reconcile pass over a quiet ticket writes nothing
                await self.store.update_submission(
                    sub.id, state=SubmissionState.ACTIVE, qt_state=qt_state, progress=percent,
                    phase=qt_state, error=error,
                )
            case SubmissionState.NEEDS_APPROVAL:
                details = approval_details(ticket)
                first_time = sub.state is not SubmissionState.NEEDS_APPROVAL
                if not first_time and (sub.qt_state, sub.phase) == (qt_state, qt_state) \
                        and sub.details_json == details:
                    return False   # unchanged: no rewrite of the candidates on every pass
                notices = await self._notices("needs_approval", sub, notice_of_approval(details)) \
                    if first_time else []
                await self.store.update_submission(
                    sub.id, state=SubmissionState.NEEDS_APPROVAL, qt_state=qt_state, details=details,
                    phase=qt_state, outbox=notices,
                )
                if first_time:
                    bound.info("ticket.needs_approval", candidates=details["candidate_count"])
            case SubmissionState.IMPORTING:
                await self._import(sub, ticket, bound)     # the batch marks it importing
            case SubmissionState.FAILED:
                reason = ticket.state.error_text or qt_state.replace("_", " ")
                error = f"Quentin Torrentino: {reason}"
                bound.warning("ticket.failed", qt_state=qt_state, error=reason)
                notices = await self._notices("failed", sub, {"error": reason, "qt_state": qt_state,
                                                              "retryable": ticket.state.retryable})
                await self._end(sub, SubmissionState.FAILED, qt_state, error,
                                {"error": reason, "retryable": ticket.state.retryable}, outbox=notices)
            case SubmissionState.REJECTED | SubmissionState.CANCELLED:
                reason = ticket.state.error_text or qt_state
                await self._end(sub, target, qt_state, f"{qt_state} in Quentin Torrentino: {reason}"
                                if reason != qt_state else f"{qt_state} in Quentin Torrentino", None)

    async def give_up(self, sub: SubmissionRow, reason: str) -> None:
        """No request wants this download any more (the request canceller, holding its lock):
        its tracks go back to unavailable and it ends `cancelled`, and its ticket's cancellation
        is recorded in the outbox in the same transaction (sent until QT confirms)."""
        current = await self.store.get_submission(sub.id)
        if current is None or current.state not in LIVE_SUBMISSION_STATES:
            return
        active = [t for t in await self.store.submission_tracks(sub.id) if t.active]
        metas = await self.catalog.get_tracks([t.track_id for t in active])
        await self._write_states([
            (self._effective(metas[t.track_id].availability, Availability.FETCHING),
             TrackChange(t.track_id, Availability.UNAVAILABLE))
            for t in active if t.track_id in metas
        ])
        await self.store.close_submission(
            sub.id, SubmissionState.CANCELLED, error=f"cancelled: {reason}",
            outcomes={t.track_id: ("released", None, None) for t in active},
            outbox=[cancel_item(sub.id, reason)],
        )
        self.progress.pop(sub.id, None)
        if current.ticket_id is not None:
            self._known.pop(current.ticket_id, None)
        log.info("submission.given_up", submission_id=sub.id, ticket_id=current.ticket_id, reason=reason)

    async def _came_back(self, sub: SubmissionRow, ticket: Ticket, target: SubmissionState) -> bool:
        """A completed submission whose import left tracks without a file, and whose ticket QT
        now shows running again (retried in QT's own UI) or completed anew (another completion
        time than the one imported): it was closed on information QT no longer holds."""
        if target not in (SubmissionState.ACTIVE, SubmissionState.NEEDS_APPROVAL, SubmissionState.IMPORTING):
            return False
        if await given_up(self.store, sub.id):
            return False      # replaced, or let go of: its old ticket's later life is not ours
        if target is SubmissionState.IMPORTING:
            imported_at = sub.details_json.get("qt_completed_at")
            if imported_at is None or imported_at == ticket.state.get("completed_at"):
                return False
        return any(t.outcome == "error" for t in await self.store.submission_tracks(sub.id))

    async def _reopen(self, sub: SubmissionRow, qt_state: str) -> None:
        tracks = await self.store.submission_tracks(sub.id)
        wanted = [t.track_id for t in tracks if t.outcome != "imported"]
        metas = await self.catalog.get_tracks(wanted)
        wanted = [t for t in wanted if t in metas and metas[t].availability is not Availability.AVAILABLE]
        # QT fills the same dest_path again: a journal of an earlier import attempt under
        # this key must not be resumed or its outcome returned for the new files.
        await forget_import(self.import_db, sub.id)
        reopened = await self.store.reopen_submission(sub.id, qt_state, wanted)
        was = Availability.UNAVAILABLE if sub.state in RELEASING_STATES else Availability.FETCH_ERROR
        await self._write_states([
            (self._effective(metas[t].availability, was), TrackChange(t, Availability.FETCHING))
            for t in reopened
        ])
        log.info("submission.reopened", submission_id=sub.id, ticket_id=sub.ticket_id,
                 qt_state=qt_state, tracks=len(reopened))

    async def _end(self, sub: SubmissionRow, state: SubmissionState, qt_state: str, error: str,
                   details: dict[str, Any] | None, *, outbox: Sequence[NewItem] = ()) -> None:
        """Failed, rejected, cancelled or deleted: catalog first, then our own rows, so a crash
        in between is repaired by applying the same state again."""
        active = [t for t in await self.store.submission_tracks(sub.id) if t.active]
        # Tracks that only waited on this download were never asked of QT: they get a ticket of
        # their own (stored in the same transaction that ends this one), not its failure.
        joined = [t.track_id for t in active if t.joined]
        tracks = [t for t in active if not t.joined]
        metas = await self.catalog.get_tracks([t.track_id for t in tracks])
        target = Availability.UNAVAILABLE if state in RELEASING_STATES else Availability.FETCH_ERROR
        await self._write_states([
            (self._effective(metas[t.track_id].availability, Availability.FETCHING),
             TrackChange(t.track_id, target))
            for t in tracks if t.track_id in metas
        ])
        outcome = "released" if state in RELEASING_STATES else "error"
        outcomes: dict[str, tuple[str, str | None, str | None]] = {
            t.track_id: (outcome, None, error if outcome == "error" else None) for t in tracks}
        await self._close(sub, state, outcomes, joined, qt_state=qt_state, error=error, details=details,
                          outbox=outbox)

    async def _close(self, sub: SubmissionRow, state: SubmissionState,
                     outcomes: dict[str, tuple[str, str | None, str | None]], waited: list[str], *,
                     qt_state: str, error: str | None, details: dict[str, Any] | None,
                     outbox: Sequence[NewItem] = ()) -> None:
        """Close a submission; `waited`: tracks that only waited on it and are still missing,
        which move to a ticket of their own (their requests follow them) in the same transaction."""
        follow_up = await self.albums.follow_up(sub, waited)
        moved = set(follow_up.track_ids) if follow_up is not None else set()
        for track_id in waited:
            outcomes[track_id] = ("released", None, "not in the album's download; asked for on its own"
                                  if track_id in moved else None)
        requests = await self.store.requests_of_submission(sub.id) if moved else []
        late = await self.store.close_submission(sub.id, state, qt_state=qt_state, error=error, details=details,
                                                 outcomes=outcomes, follow_up=follow_up, outbox=outbox)
        self.progress.pop(sub.id, None)
        if late:
            # Tracks that joined while this was being closed: a ticket of their own too.
            second = await self.albums.follow_up(sub, late)
            if second is not None:
                await self.store.add_submission(second)
                await self.store.relink_request_tracks(sub.id, second.id, second.track_ids)
                requests += await self.store.requests_of_submission(second.id)
                follow_up = follow_up or second
        if follow_up is not None:
            log.info("submission.follow_up", submission_id=follow_up.id, previous=sub.id,
                     tracks=len(moved) + len(late))
            self.on_new_submission()
            await self.statuses.refresh(requests)

    async def _import(self, sub: SubmissionRow, ticket: Ticket, bound: structlog.BoundLogger) -> None:
        started = time.monotonic()
        if sub.ticket_id is not None:
            self._completed.discard(sub.ticket_id)      # no longer on its way: here
        try:
            try:
                outcome = await self.imports.run(sub)
            except FilesNotReady:
                # QT said completed, but a requested track has no good file yet: wait for the
                # folder to settle (nothing was recorded or moved), then import what is there.
                await self.settler.wait(sub, bound)
                self._settled.add(sub.id)
                try:
                    outcome = await self.imports.run(sub)
                finally:
                    self._settled.discard(sub.id)
        except LeftCatalog as err:
            await self._end(sub, SubmissionState.FAILED, "completed", str(err), None,
                            outbox=await self._import_failed(sub, str(err)))
            return
        except Exception as err:
            if is_busy(err):
                # The catalog stayed locked past every retry. The journalled import resumes on
                # the next refresh; failing it now would strand the files it already moved.
                bound.warning("import.deferred", error=str(err))
                raise
            bound.error("import.failed", error=repr(err))
            await self._end(sub, SubmissionState.FAILED, "completed", f"import failed: {err}", None,
                            outbox=await self._import_failed(sub, f"import failed: {err}"))
            return
        self.metrics.catalog_write_seconds.observe(time.monotonic() - started)
        self.metrics.imports.labels("imported").inc(len(outcome.imported))
        self.metrics.imports.labels("failed").inc(len(outcome.failed))
        self.metrics.transitions.labels("fetching", "available").inc(len(outcome.imported))
        self.metrics.transitions.labels("fetching", "fetch_error").inc(len(outcome.failed))
        outcomes: dict[str, tuple[str, str | None, str | None]] = {
            t: ("imported", uri, None) for t, uri in outcome.imported.items()
        }
        outcomes.update({t: ("error", None, reason) for t, reason in outcome.failed.items()})
        own = {t.track_id: t for t in await self.store.submission_tracks(sub.id)}
        missed = [t for t, row in own.items() if row.active and row.joined and t not in outcome.imported]
        notices = await self._import_failed(sub, outcome.summary, imported=len(outcome.imported),
                                            failed=outcome.failed) if outcome.failed else []
        await self._close(sub, SubmissionState.COMPLETED, outcomes, missed, qt_state="completed",
                          error=outcome.summary or None,
                          # Which completion was imported: a later one (QT retried) is imported again.
                          details={"qt_completed_at": ticket.state.get("completed_at")}, outbox=notices)
        # Tracks of the album the download brought for others (fill_album): their requests hear of it.
        filled = [t for t in outcome.imported if t not in own]
        if filled:
            bound.info("import.album_filled", tracks=len(filled))
            await self.statuses.refresh(await MendStore(self.store).requests_waiting_for(filled))
        bound.info("import.finished", imported=len(outcome.imported), failed=len(outcome.failed),
                   summary=outcome.summary or None)

    async def _import_batch(self, subs: list[SubmissionRow]) -> dict[str, Result]:
        """The imports of submissions whose tickets completed, as one batch: marked importing
        and read from both databases together, then importing.batch."""
        await self.store.mark_importing([s.id for s in subs])
        jobs, results = await self.jobs_for(subs)
        for job in jobs:
            log.info("import.started", submission_id=job.key, album_id=job.album.id, tracks=len(job.tracks),
                     source_dir=str(job.source_dir))
        results.update(await import_batch(jobs, bridge_db=self.import_db, catalog=self.catalog,
                                          media=self.settings.media, checks=self.checks,
                                          followups=self.followups))
        if self.followups is not None and self.store.outbox_wake is not None:
            # The journal recorded the hand-over's outbox items on its own connection: deliver now.
            self.store.outbox_wake.set()
        return results

    async def jobs_for(self, subs: list[SubmissionRow]) -> tuple[list[ImportJob], dict[str, Result]]:
        """The import jobs of these submissions (see engine/albums.py), and the submissions
        that have nothing left to import."""
        jobs, gone = await self.albums.jobs_for(subs)
        # An import is held back once when files may still be arriving (see engine/settle.py).
        hold = self.settings.media.settle_secs > 0
        return [replace(j, hold_if_missing=hold and j.key not in self._settled) for j in jobs], gone

    def _effective(self, in_catalog: Availability, bridge_view: Availability) -> Availability:
        """A track's state: the catalog's, or ours where the catalog cannot store it."""
        if self.catalog.stores_transient_states or in_catalog is Availability.AVAILABLE:
            return in_catalog
        return bridge_view

    async def _write_states(self, changes: list[tuple[Availability, TrackChange]]) -> None:
        """Write availability changes the state machine allows, in one transaction."""
        allowed = []
        for current, change in changes:
            if current is change.state:
                continue
            if not can_transition(current, change.state):
                log.warning("availability.skipped", track_id=change.track_id,
                            current=current.value, target=change.state.value)
                continue
            allowed.append(change)
            self.metrics.transitions.labels(current.value, change.state.value).inc()
        started = time.monotonic()
        await self.catalog.apply(allowed)
        if allowed:
            self.metrics.catalog_write_seconds.observe(time.monotonic() - started)

    async def _notices(self, event: str, sub: SubmissionRow, data: dict[str, Any]) -> list[NewItem]:
        return await self.notifier(event, sub, data) if self.notifier is not None else []

    async def _import_failed(self, sub: SubmissionRow, error: str | None, *, imported: int = 0,
                             failed: dict[str, str] | None = None) -> list[NewItem]:
        """import_failed: some tracks were not imported (`failed`), or none (whole)."""
        return await self._notices("import_failed", sub, {
            "whole": failed is None, "error": error, "imported": imported,
            "failed_tracks": [{"track_id": t, "reason": r} for t, r in sorted((failed or {}).items())],
        })
