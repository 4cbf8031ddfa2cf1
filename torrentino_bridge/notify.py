"""Admin notifications: what happened, as outbox items (one per receiver URL).

The engine asks for the items of an event and hands them to the store call that records
the change causing it, so notification and change commit together (a crash loses neither
and sends nothing for a change that did not happen). engine/outbox.py delivers them with
retries and webhooks.py signs each delivery; the item id is the `webhook-id`, the same on
every attempt and across restarts.

Events and their `data` (the documented contract, docs/http-api.md):
- needs_approval  a ticket waits for an admin: candidates (at most [torrentino]
                  max_candidates), recommended_idx, confidence, candidate_count
- failed          a ticket failed in QT: error, qt_state, retryable
- import_failed   a completed download was not (wholly) imported: whole, error, imported,
                  failed_tracks [{track_id, reason}]
- completed       a request completed: request_id, user_id, tracks, downloaded
Ticket events also carry ticket_id, submission_id, album {id, name, artist} and the
requests [{request_id, user_id}] waiting on the ticket.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .store.bridge import BridgeStore, RequestRow, SubmissionRow
from .store.catalog import Catalog
from .store.outbox import NewItem

KIND = "webhook"                       # the outbox kind webhooks.py delivers
TICKET_EVENTS = frozenset({"needs_approval", "failed", "import_failed"})
EVENTS = TICKET_EVENTS | {"completed"}


def stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def summary(event: str, data: dict[str, Any]) -> str:
    """One line for a human (chat receivers show it as is)."""
    album = data.get("album") or {}
    what = " - ".join(x for x in (album.get("artist"), album.get("name")) if x) or data.get("album_id") or "?"
    match event:
        case "needs_approval":
            return f"{what}: needs approval ({data.get('candidate_count', 0)} candidates)"
        case "failed":
            return f"{what}: download failed: {data.get('error') or 'unknown error'}"
        case "import_failed":
            if data.get("whole"):
                return f"{what}: import failed: {data.get('error') or 'unknown error'}"
            return f"{what}: {data.get('error') or 'some tracks were not imported'}"
        case "completed":
            return f"request {data.get('request_id')} completed ({data.get('tracks')} tracks)"
    return f"{what}: {event}"


def body(event: str, message_id: str, data: dict[str, Any], at: str | None = None) -> str:
    """The JSON every receiver gets, as the exact text that is signed and sent."""
    return json.dumps({"type": event, "id": message_id, "timestamp": at or stamp(),
                       "text": summary(event, data), "data": data}, separators=(",", ":"))


class Notices:
    def __init__(self, urls: Sequence[str], store: BridgeStore, catalog: Catalog) -> None:
        self.urls = list(urls)
        self.store = store
        self.catalog = catalog

    def _items(self, event: str, data: dict[str, Any], ids: Sequence[str]) -> list[NewItem]:
        return [NewItem(message_id, KIND, {"url": url, "event": event, "body": body(event, message_id, data)})
                for url, message_id in zip(self.urls, ids, strict=True)]

    async def ticket_event(self, event: str, sub: SubmissionRow, data: dict[str, Any]) -> list[NewItem]:
        """needs_approval, failed or import_failed of one submission (fresh ids: the caller
        records the items with the change, once)."""
        if not self.urls:
            return []
        album = await self.catalog.get_album(sub.album_id)
        requests = []
        for request_id in await self.store.requests_of_submission(sub.id):
            request = await self.store.get_request(request_id)
            if request is not None:
                requests.append({"request_id": request.id, "user_id": request.user_id})
        full = {
            "ticket_id": sub.ticket_id, "submission_id": sub.id,
            "album": {"id": sub.album_id, "name": album.name if album else None,
                      "artist": album.artist if album else None},
            "requests": requests, **data,
        }
        return self._items(event, full, [f"msg_{uuid.uuid4().hex}" for _ in self.urls])

    def completed(self, request: RequestRow, *, tracks: int, downloaded: int) -> list[NewItem]:
        """A request reached `completed`. Ids are derived from the request: recording the
        event twice (two refreshes racing) still makes one message per receiver."""
        data = {"request_id": request.id, "user_id": request.user_id, "album_id": request.album_id,
                "tracks": tracks, "downloaded": downloaded}
        ids = [f"msg_completed_{_digest(request.id, url)}" for url in self.urls]
        return self._items("completed", data, ids)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]
