"""The daemon: one service object that starts the parts in order and stops them in reverse.

start(): lock, databases (migrations, schema check), QT client, startup repair, workers.
Repair must finish before the workers start (see engine/repair.py); a catalog locked past
every retry defers it: the daemon serves HTTP, reports not-ready and retries in the background.
stop(): stop taking work, let running imports and catalog writes finish within the grace
period, cancel the rest, close the socket, the HTTP session, the databases, the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiohttp
import aiosqlite
import structlog

from .config import Settings
from .engine.actions import ActionError, Actions
from .engine.cancel import RequestCanceller
from .engine.cancels import KIND as CANCEL_KIND
from .engine.cancels import TicketCancels
from .engine.force_search import ForceSearch
from .engine.intake import Gate, Intake
from .engine.locks import KeyedLocks
from .engine.outbox import OutboxWorker
from .engine.reconciler import Reconciler
from .engine.repair import repair
from .engine.requests import RequestStatusUpdater
from .engine.rescan import Rescans
from .engine.sources.pezzottify import PezzottifyQueueSource
from .engine.submitter import Submitter
from .engine.tracker import Notifier, TicketTracker
from .importing.checks import FileChecks
from .live.feed import LiveFeed
from .live.hub import EventHub
from .log import REDACTOR
from .metrics import Metrics
from .notify import KIND as WEBHOOK_KIND
from .notify import Notices
from .ops import systemd
from .ops.lock import InstanceLock
from .pezzottify.handover import Handover
from .pezzottify.notices import enqueue_ready_notice
from .qt.client import TorrentinoClient
from .qt.events import EventError
from .qt.websocket import EventStream
from .ratelimit import RateLimiter
from .store.bridge import BridgeStore
from .store.catalog import Catalog, open_catalog
from .store.db import connect, is_busy, open_bridge_db
from .store.links import Link
from .store.outbox import OutboxStore
from .store.queue import DownloadQueue
from .tasks import TaskSupervisor
from .webhooks import WebhookMetrics, WebhookSender

log = structlog.get_logger(__name__)
T = TypeVar("T")

REPAIR_RETRY_SECS = 0.5
REPAIR_MAX_BACKOFF_SECS = 30.0


class StartStopped(Exception):
    """SIGTERM/SIGINT arrived while the start was still waiting (for a locked catalog)."""


class BridgeService:
    def __init__(self, settings: Settings, *, gate: Gate | None = None,
                 notifier: Notifier | None = None) -> None:
        self.settings = settings
        REDACTOR.add_settings(settings)     # the log redactor knows every configured secret
        self.metrics = Metrics()
        self.tasks = TaskSupervisor()
        self.locks = KeyedLocks()
        self.stop_event = asyncio.Event()
        self.started_at: float | None = None
        # Why startup repair has not completed yet (None once it has): the workers wait for it.
        self.repair_pending: str | None = None
        self._gate = gate
        self._notifier = notifier
        self._lock: InstanceLock | None = None
        self._import_db: aiosqlite.Connection | None = None
        self.queue: DownloadQueue | None = None      # Pezzottify's download queue, when served
        self._session: aiohttp.ClientSession | None = None
        self.store: BridgeStore
        self.catalog: Catalog
        self.client: TorrentinoClient
        self.statuses: RequestStatusUpdater
        self.tracker: TicketTracker
        self.submitter: Submitter
        self.intake: Intake
        self.reconciler: Reconciler
        self.actions: Actions
        self.events: EventStream | None = None
        self.http_runner: Any = None
        self.http_port: int | None = None   # the bound port (http.port may be 0)
        self.limiter: RateLimiter
        self.notices: Notices
        self.outbox: OutboxWorker
        self.handover: Handover
        self.live: LiveFeed
        self.canceller: RequestCanceller
        self.cancels: TicketCancels
        self.searches: ForceSearch
        self.rescans: Rescans

    # -- lifecycle -------------------------------------------------------------------------------
    async def _open_catalog(self) -> Catalog:
        c = self.settings.catalog
        return await open_catalog(c.db, layout=c.layout, busy_timeout_ms=c.busy_timeout_ms,
                                  write_retries=c.write_retries)

    async def _open_catalog_waiting(self) -> Catalog:
        """The daemon waits out a catalog held locked at start (in rollback-journal mode an
        exclusive lock blocks even the schema read) instead of exiting; one-shot CLI
        commands fail at once. Not ready (no READY=1, no HTTP) until it opens."""
        try:
            return await self._open_catalog()
        except Exception as err:
            if not is_busy(err):
                raise
            log.error("catalog.locked_at_start", error=str(err), db=str(self.settings.catalog.db),
                      hint="another process holds the catalog locked; waiting for it before "
                           "starting (nothing is handled meanwhile)")
        # Under systemd (Type=notify) the start would time out and be retried from scratch;
        # waiting is the point, so the start timeout is pushed past each wait.
        opened = await self._retry_while_locked(self._open_catalog, "catalog", extend_start=True)
        if opened is None:
            raise StartStopped("stopped while waiting for the catalog")
        catalog, tries = opened
        log.info("catalog.unlocked", tries=tries + 1)
        return catalog

    async def _retry_while_locked(self, attempt: Callable[[], Awaitable[T]], what: str, *,
                                  extend_start: bool = False) -> tuple[T, int] | None:
        """Wait, then call `attempt`, until a locked database lets it through: waits double from
        REPAIR_RETRY_SECS to REPAIR_MAX_BACKOFF_SECS, each failure is `{what}.still_locked` at
        debug, any other error raises. Returns (result, tries), or None once a stop is requested."""
        delay, tries = REPAIR_RETRY_SECS, 0
        while True:
            if extend_start:
                systemd.notify(f"EXTEND_TIMEOUT_USEC={int((delay + 30) * 1_000_000)}",
                               f"STATUS=waiting for the {what}: the catalog database is locked")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), delay)
            if self.stop_event.is_set():
                return None
            tries += 1
            try:
                return await attempt(), tries
            except Exception as err:
                if not is_busy(err):
                    raise
                log.debug(f"{what}.still_locked", error=str(err), tries=tries)
            delay = min(delay * 2, REPAIR_MAX_BACKOFF_SECS)

    async def start(self, *, workers: bool = True) -> None:
        s = self.settings
        self._lock = InstanceLock(s.bridge.db)
        self._lock.acquire()
        try:
            await self._open(workers=workers)
        except BaseException:
            await self._close()
            raise

    @asynccontextmanager
    async def components(self) -> AsyncIterator[BridgeService]:
        """The parts without workers or lock, for one-shot CLI actions beside a running daemon."""
        try:
            await self._open_components()
            yield self
        finally:
            await self._close()

    async def _open(self, *, workers: bool) -> None:
        await self._open_components(wait_for_catalog=workers)
        repaired = await self._first_repair(defer=workers)
        if not workers:
            return
        if repaired:
            self._start_workers()
        else:
            self.tasks.start("repair", self._repair_until_done(), oneshot=True)
        s = self.settings
        if s.http.enabled:
            from .http.server import start_http

            self.http_runner = await start_http(self)
        watchdog = systemd.watchdog_interval()
        if watchdog:
            self.tasks.start("watchdog", systemd.watchdog_loop(self.stop_event))
        self.started_at = time.time()
        systemd.notify_ready()
        log.info("bridge.started", catalog_layout=self.catalog.layout, qt_url=s.torrentino.url,
                 http=f"{s.http.host}:{s.http.port}" if s.http.enabled else None,
                 repair_pending=self.repair_pending is not None)

    async def _first_repair(self, *, defer: bool) -> bool:
        """Repair once. A locked catalog is transient: with `defer`, note it and return False
        (the daemon retries in the background) instead of failing the start."""
        try:
            await repair(self.store, self.catalog, self.statuses)
        except Exception as err:
            if not (defer and is_busy(err)):
                raise
            self.repair_pending = f"startup repair is waiting for the catalog: {err}"
            log.error("repair.deferred", error=str(err), db=str(self.settings.catalog.db),
                      hint="the catalog stayed locked past every retry; no request is handled until "
                           "repair succeeds; retrying in the background")
            return False
        return True

    async def _repair_until_done(self) -> None:
        """Retry repair with backoff until the catalog lets it write, then start the workers.
        Only a locked catalog is retried; any other error ends the task and the daemon."""
        done = await self._retry_while_locked(
            lambda: repair(self.store, self.catalog, self.statuses), "repair")
        if done is None:
            return
        self.repair_pending = None
        log.info("repair.recovered", tries=done[1] + 1)
        self._start_workers()

    async def _open_components(self, *, wait_for_catalog: bool = False) -> None:
        s = self.settings
        s.media.root.mkdir(parents=True, exist_ok=True)
        s.media.incoming.mkdir(parents=True, exist_ok=True)
        self.catalog = await (self._open_catalog_waiting() if wait_for_catalog else self._open_catalog())
        # The layout decides where files go and whether they become Ogg Vorbis (unless set).
        s.media = s.media.for_layout(self.catalog.layout, s.torrentino.ticket.output_bitrate_kbps)
        self.store = BridgeStore(await open_bridge_db(s.bridge.db))
        self.limiter = RateLimiter(self.store, s.torrentino.rate_limits)
        # Deliveries to other systems, recorded with the change that causes them; handlers
        # for each kind are registered by the parts that enqueue them.
        self.outbox = OutboxWorker(OutboxStore(self.store), on_result=self.metrics.outbox_result)
        # The Pezzottify server's own files ([pezzottify]): checked here (exit 3 naming what
        # is missing), then written through the outbox after each import.
        self.handover = Handover(s.pezzottify, self.catalog, busy_timeout_ms=s.catalog.busy_timeout_ms)
        await self.handover.open()
        self.handover.register(self.outbox)
        self.store.outbox_wake = self.outbox.wake
        # The importer journals on its own connection so its transactions never interleave ours.
        self._import_db = await connect(s.bridge.db)
        self._session = aiohttp.ClientSession()
        # Admin notifications: built by the engine with the change they report, delivered
        # (signed) from the outbox.
        self.notices = Notices(s.http.notify_urls, self.store, self.catalog)
        if s.http.notify_secret is not None:
            self.outbox.register(WEBHOOK_KIND, WebhookSender(
                s.http.notify_secret.get_secret_value(), self._session, WebhookMetrics(self.metrics.registry)))
        t = s.torrentino
        self.client = TorrentinoClient(
            t.url, token=t.read_token, session=self._session, timeout=t.request_timeout_secs,
            max_attempts=t.max_attempts, on_call=self.metrics.qt_call,
            max_response_bytes=t.max_response_bytes, lookup_max_tickets=t.lookup_max_tickets,
            max_candidates=t.max_candidates,
        )
        # Live events for the users' and admins' streams (fed by the engine at a few points).
        self.live = LiveFeed(EventHub(s.http.events_buffer), self.store,
                             interval=min(0.5, s.bridge.progress_refresh_secs or 0.5))
        self.statuses = RequestStatusUpdater(self.store, self.catalog, self.metrics, notices=self.notices,
                                             live=self.live)
        # Files checked while QT places them; the import at `completed` looks them up.
        checks = FileChecks()
        self.tracker = TicketTracker(
            s, self.store, self.catalog, self.client, self.statuses, self.locks, self.tasks,
            self.metrics, import_db=self._import_db, notifier=self._notifier or self.notices.ticket_event,
            checks=checks, live=self.live,
        )
        self.tracker.followups = self.handover.followups
        self.submitter = Submitter(
            self.store, self.catalog, self.client, self.statuses, self.locks,
            on_ticket=self.tracker.adopt,
            on_submitted=lambda how: self.metrics.tickets_submitted.labels(how).inc(),
        )
        self.tracker.on_new_submission = self.submitter.wake.set
        sources: list[PezzottifyQueueSource] = []
        queue_conn = self.handover.connection("queue_db")
        if s.pezzottify.queue_db is not None and queue_conn is not None:
            # The handover opened and checked the file (and closes it).
            self.queue = DownloadQueue(queue_conn, s.pezzottify.queue_db, write_retries=s.catalog.write_retries)
            queue_source = PezzottifyQueueSource(
                self.queue, self.store, self.catalog, media_root=s.media.root,
                default_priority=s.torrentino.ticket.priority,
                on_completed=self._ready_notice if self.handover.ready_notices is not None else None,
            )
            self.statuses.listeners.append(queue_source.note_status)
            sources.append(queue_source)
        self.intake = Intake(s, self.store, self.catalog, self.statuses,
                             on_planned=self.submitter.wake.set, gate=self._gate or self.limiter.gate,
                             sources=sources)
        self.reconciler = Reconciler(
            self.store, self.tracker, self.submitter, self.metrics,
            interval_secs=s.bridge.reconcile_interval_secs, concurrency=s.bridge.reconcile_concurrency,
            follow_ended_hours=s.bridge.follow_ended_hours,
            follow_interval_secs=s.bridge.follow_ended_interval_secs,
        )
        self.actions = Actions(s, self.store, self.catalog, self.client, self.tracker,
                               self.statuses, self.locks)
        # Cancelling one request (the user API; request sources withdrawing a row).
        self.canceller = RequestCanceller(self.store, self.catalog, self.statuses, self.locks,
                                          self.intake.planning, give_up=self.tracker.give_up,
                                          wake_outbox=self.outbox.wake.set)
        for source in sources:
            source.release = self._withdrawn
        self._open_mending()

    async def _withdrawn(self, request_id: str, reason: str) -> None:
        """A source withdrew a request (its Pezzottify row was deleted): cancel it; what only it
        waited for is released. Already finished: nothing to do. QT unreachable: raises, and
        the source tries again on its next pass."""
        try:
            await self.canceller.cancel_request(request_id, by="source", reason=reason)
        except ActionError as err:
            log.info("request.withdraw_skipped", request_id=request_id, reason=err.message)

    async def _ready_notice(self, conn: aiosqlite.Connection, link: Link, user_id: str | None,
                            album_id: str) -> None:
        """A Pezzottify user's request completed: their "<album> is ready" (user.db, via the outbox)."""
        if user_id is not None and await enqueue_ready_notice(conn, user_id=user_id, album_id=album_id,
                                                              request_id=link.source_id):
            self.outbox.wake.set()

    def _open_mending(self) -> None:
        """An admin's mends of a download: force-search and re-scan. Tickets the bridge gives
        up are cancelled through the outbox, again and again until QT confirms."""
        self.cancels = TicketCancels(self.store, self.client, on_ticket=self.tracker.apply,
                                     wake_outbox=self.outbox.wake.set)
        self.outbox.register(CANCEL_KIND, self.cancels.deliver, retry_forever=True)
        self.searches = ForceSearch(self.settings, self.store, self.catalog, self.statuses, self.locks,
                                    self.cancels, submit=self.submitter.submit,
                                    wake_submitter=self.submitter.wake.set)
        self.rescans = Rescans(self.store, self.catalog, self.statuses, self.locks, self.tracker)

    def _start_workers(self) -> None:
        t = self.settings.torrentino
        # From here on a locked catalog is waited out, never a failure (the server's
        # availability job holds its write lock for minutes): see store/lockwait.py.
        self.catalog.patient = True
        self.tasks.start("intake", self.intake.run(self.stop_event))
        self.tasks.start("outbox", self.outbox.run(self.stop_event))
        self.tasks.start("live-feed", self.live.run(self.stop_event))
        if t.enabled:
            self.events = EventStream(
                t.url, token=t.read_token, session=self._session, on_event=self.tracker.on_event,
                on_connect=self._on_connect, on_malformed=self._on_malformed,
                reconnect_secs=t.websocket_reconnect_secs, max_backoff_secs=t.websocket_max_backoff_secs,
                heartbeat_secs=t.websocket_heartbeat_secs,
            )
            self.metrics.ws_messages.counts = self.events.messages
            self.tasks.start("submitter", self.submitter.run(self.stop_event))
            self.tasks.start("reconciler", self.reconciler.run(self.stop_event))
            self.tasks.start("events", self.events.run(self.stop_event))
        else:
            log.warning("torrentino.disabled", hint="requests are planned but no ticket is sent")

    async def _on_connect(self) -> None:
        self.metrics.ws_connected.set(1)
        self.reconciler.trigger.set()

    def _on_malformed(self, err: EventError, raw: str) -> None:
        self.metrics.ws_malformed.labels(err.kind).inc()

    async def run_once(self) -> None:
        """One intake pass, one submission pass, one reconcile pass (for --once and tests)."""
        await self.intake.run_once()
        if self.settings.torrentino.enabled:
            await self.submitter.submit_pending()
            await self.reconciler.run_once()
            await self.tasks.drain("ticket:", timeout=self.settings.bridge.shutdown_grace_secs)
        await self.outbox.run_once()

    def handle_signals(self, on: bool = True) -> None:
        """SIGTERM/SIGINT request a stop (from before `start`, which may wait for the catalog)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            if on:
                loop.add_signal_handler(sig, self.request_stop, sig.name)
            else:
                loop.remove_signal_handler(sig)

    async def serve(self) -> None:
        """Run until a stop is requested (handle_signals) or a worker dies."""
        failed = asyncio.ensure_future(self.tasks.failed.wait())
        stopped = asyncio.ensure_future(self.stop_event.wait())
        try:
            await asyncio.wait({failed, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            failed.cancel()
            stopped.cancel()
        if self.tasks.failed.is_set():
            raise RuntimeError(f"worker crashed: {self.tasks.failures}")

    def request_stop(self, why: str = "requested") -> None:
        if not self.stop_event.is_set():
            log.info("bridge.stopping", why=why)
            self.stop_event.set()

    async def stop(self) -> None:
        self.stop_event.set()
        systemd.notify_stopping()
        if hasattr(self, "tracker"):
            self.tracker.accepting = False
            # In-flight imports and catalog writes finish; they are journalled anyway.
            await self.tasks.drain("ticket:", timeout=self.settings.bridge.shutdown_grace_secs)
        await self.tasks.cancel_all(timeout=2.0)
        await self._close()
        log.info("bridge.stopped")

    async def _close(self) -> None:
        if "live" in self.__dict__:
            await self.live.close()     # event streams end cleanly before the server stops
        if self.http_runner is not None:
            await self.http_runner.cleanup()
            self.http_runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        handover = self.__dict__.pop("handover", None)
        if handover is not None:
            await handover.close()
        self.queue = None
        if "client" in self.__dict__:
            self.client.decoder.close()
        for name in ("store", "catalog"):
            closer = self.__dict__.pop(name, None)
            if closer is not None:
                await closer.close()
        if self._import_db is not None:
            await self._import_db.close()
            self._import_db = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
