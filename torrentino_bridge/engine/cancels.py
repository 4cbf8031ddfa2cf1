"""Cancelling tickets the bridge no longer wants, through the durable outbox.

When a download is replaced by a force-search, or its tracks were all imported by hand,
its ticket must stop in Quentin Torrentino. The wish is recorded (an outbox item of kind
`qt.cancel`) in the transaction that gave the ticket up; the cancellation itself is sent
afterwards and again until QT confirms: it answers with the cancelled ticket, or says the
ticket already ended (409) or is gone (404). A crash in between is delivered on restart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from ..qt.client import TorrentinoClient
from ..qt.errors import QTBadRequest, QTConflict, QTError, QTNotFound
from ..qt.types import Ticket
from ..store.bridge import BridgeStore
from ..store.outbox import NewItem, OutboxItem, OutboxStore
from .outbox import GiveUp, Retry

log = structlog.get_logger(__name__)

KIND = "qt.cancel"

# Told what QT answered, so the submission records QT's last word (e.g. tracker.apply).
OnTicket = Callable[[str, Ticket], Awaitable[None]]


def cancel_item(submission_id: str, reason: str) -> NewItem:
    """The outbox item cancelling a submission's ticket; one per submission (stable id)."""
    return NewItem(id=f"{KIND}:{submission_id}", kind=KIND,
                   payload={"submission_id": submission_id, "reason": reason[:500]})


class TicketCancels:
    def __init__(self, store: BridgeStore, client: TorrentinoClient, *, on_ticket: OnTicket | None = None,
                 wake_outbox: Callable[[], None] | None = None) -> None:
        self.store = store
        self.outbox = OutboxStore(store)
        self.client = client
        self.on_ticket = on_ticket
        self.wake_outbox = wake_outbox or (lambda: None)

    async def deliver(self, item: OutboxItem) -> None:
        """The outbox handler: returns once QT confirmed the ticket is not running."""
        submission_id = str(item.payload.get("submission_id") or "")
        reason = item.payload.get("reason")
        sub = await self.store.get_submission(submission_id)
        if sub is None:
            return          # nothing of ours left to cancel
        bound = log.bind(submission_id=sub.id, ticket_id=sub.ticket_id)
        ticket_id = sub.ticket_id
        try:
            if ticket_id is None:
                if sub.attempts == 0:
                    return      # never posted: QT holds no ticket for it
                # Posted, but the answer was lost (a crash): QT may hold it under our dest_path.
                found = await self.client.find_by_dest_path(sub.dest_path)
                if found is None:
                    return
                ticket_id = found.id
            ticket = await self.client.cancel(ticket_id, reason if isinstance(reason, str) else None)
        except (QTConflict, QTNotFound) as err:
            bound.info("ticket.cancel_not_needed", ticket_id=ticket_id, said=err.message)
            return
        except QTBadRequest as err:
            raise GiveUp(f"Quentin Torrentino refused to cancel {ticket_id}: {err.message}") from err
        except QTError as err:
            raise Retry(f"cancelling {ticket_id}: {err.message or type(err).__name__}") from err
        bound.info("ticket.cancelled", ticket_id=ticket_id, reason=reason, qt_state=ticket.state.type)
        if self.on_ticket is not None:
            await self.on_ticket(sub.id, ticket)

    async def deliver_now(self, item: NewItem) -> bool:
        """Deliver an item just enqueued without waiting for the outbox worker; False when
        it must wait for a retry (the item stays pending and the worker, woken now, takes it
        over with its backoff instead of at its next idle pass)."""
        queued = OutboxItem(item.id, item.kind, item.payload, 0, "")
        try:
            await self.deliver(queued)
        except (Retry, GiveUp) as err:
            log.warning("ticket.cancel_deferred", outbox_id=item.id, error=str(err))
            self.wake_outbox()
            return False
        await self.outbox.done(item.id)
        return True
