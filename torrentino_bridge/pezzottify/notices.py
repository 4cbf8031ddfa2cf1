"""Telling users and clients, the way the server's own ingestion does (opt-in: only with
[pezzottify] server_db / user_db set). Exact encodings: shared/reference/pezzottify-2026-07.md
section 3, and pezzottify-server/src/user/sqlite_notifications.rs, sqlite_user_store.rs,
notifications/service.rs and user/sync_events.rs.

- server.db, per imported album: a `catalog_events` row (album_updated, album, the album id,
  unix seconds, triggered_by 'ingestion') and `whatsnew_pending_albums` INSERT OR IGNORE.
- user.db, per requester of a completed queue row: a `user_notifications` row ("<album> is
  ready", "by <artist>") and its `notification_created` row in `user_events`, together.

Both are outbox deliveries, and a redelivered item changes nothing: the event row is looked
for first, and the notification's id is derived from the outbox item's id. What the server
does not do for rows another process writes: it broadcasts neither (no WebSocket
`catalog_invalidation`, no `sync` push); Android's catch-up (`GET /v1/sync/catalog`, the
user event log) sees them, the web client's live-only sync does not.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

import aiosqlite
import structlog

from ..engine.outbox import GiveUp, Retry
from ..store.catalog import Catalog
from ..store.db import is_busy, transaction
from ..store.outbox import NewItem, OutboxItem, enqueue

log = structlog.get_logger(__name__)

ALBUM_KIND = "pezzottify.album_event"
READY_KIND = "pezzottify.ready_notice"
# The server's random_string alphabet (A-Z, a-z, 0-9) and length.
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
KEEP_PER_USER = 100


def album_item(key: str, album_id: str, now: int | None = None) -> NewItem:
    return NewItem(f"{ALBUM_KIND}:{key}:{album_id}", ALBUM_KIND,
                   {"album_id": album_id, "timestamp": int(now if now is not None else time.time())})


async def enqueue_ready_notice(conn: aiosqlite.Connection, *, user_id: str, album_id: str, request_id: str,
                               album_name: str | None = None, artist_name: str | None = None,
                               image_id: str | None = None) -> bool:
    """Queue "<album> is ready" for the requester of a completed queue row, inside the
    caller's open bridge transaction. `user_id` is the queue's requested_by_user_id (a
    decimal string); anything else is skipped with a log line. Names left None are read from
    the catalog at delivery. Returns whether a notice was queued (False: skipped, or already)."""
    if not user_id.strip().isdigit():
        log.warning("pezzottify.notice_skipped", request_id=request_id, user_id=user_id,
                    reason="requested_by_user_id is not a user.db id (a decimal integer)")
        return False
    payload = {"user_id": int(user_id), "album_id": album_id, "request_id": request_id,
               "album_name": album_name, "artist_name": artist_name, "image_id": image_id,
               "created_at": int(time.time())}
    return bool(await enqueue(conn, [NewItem(f"{READY_KIND}:{request_id}:{int(user_id)}", READY_KIND, payload)]))


def notification_id(outbox_id: str) -> str:
    """'notif_' + 16 characters of the server's alphabet, the same for every delivery."""
    digest = hashlib.sha256(outbox_id.encode()).digest()
    return "notif_" + "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:16])


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class AlbumEvents:
    """catalog_events + whatsnew_pending_albums in server.db."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        # The outbox delivers several items at once; one connection holds one transaction.
        self._lock = asyncio.Lock()

    async def deliver(self, item: OutboxItem) -> None:
        album_id, stamp = item.payload.get("album_id"), item.payload.get("timestamp")
        if not isinstance(album_id, str) or not isinstance(stamp, int):
            raise GiveUp(f"malformed payload: {item.payload!r}")
        try:
            async with self._lock, transaction(self.conn):
                seen = await self.conn.execute_fetchall(
                    "SELECT 1 FROM catalog_events WHERE event_type = 'album_updated' AND content_type = 'album'"
                    " AND content_id = ? AND timestamp = ? AND triggered_by = 'ingestion'", (album_id, stamp))
                if not seen:
                    await self.conn.execute(
                        "INSERT INTO catalog_events (event_type, content_type, content_id, timestamp, triggered_by)"
                        " VALUES ('album_updated', 'album', ?, ?, 'ingestion')", (album_id, stamp))
                await self.conn.execute(
                    "INSERT OR IGNORE INTO whatsnew_pending_albums (album_id, added_at) VALUES (?, ?)",
                    (album_id, stamp))
        except Exception as err:
            if is_busy(err):
                raise Retry(f"server.db is locked: {err}") from None
            raise
        log.info("pezzottify.album_event", album_id=album_id, outbox_id=item.id, new=not seen)


class ReadyNotices:
    """user_notifications + user_events in user.db, in one transaction."""

    def __init__(self, conn: aiosqlite.Connection, catalog: Catalog) -> None:
        self.conn = conn
        self.catalog = catalog
        self._lock = asyncio.Lock()     # one transaction at a time on the connection

    async def deliver(self, item: OutboxItem) -> None:
        p = item.payload
        try:
            user_id, album_id, request_id = int(p["user_id"]), str(p["album_id"]), str(p["request_id"])
            created = int(p["created_at"])
        except (KeyError, TypeError, ValueError):
            raise GiveUp(f"malformed payload: {p!r}") from None
        album = await self.catalog.get_album(album_id)
        album_name = p.get("album_name") or (album.name if album else album_id)
        artist_name = p.get("artist_name") or (album.artist if album and album.artist else "")
        notif_id = notification_id(item.id)
        notification = {
            "id": notif_id, "notification_type": "download_completed", "title": f"{album_name} is ready",
            "body": f"by {artist_name}",
            "data": {"album_id": album_id, "album_name": album_name, "artist_name": artist_name,
                     "image_id": p.get("image_id"), "request_id": request_id},
            "read_at": None, "created_at": created,
        }
        try:
            written = await self._write(user_id, notification)
        except aiosqlite.IntegrityError as err:
            # No such user in user.db (deleted meanwhile): nothing to tell.
            raise GiveUp(f"user {user_id}: {err}") from None
        except Exception as err:
            if is_busy(err):
                raise Retry(f"user.db is locked: {err}") from None
            raise
        log.info("pezzottify.ready_notice", request_id=request_id, user_id=user_id, album_id=album_id,
                 notification_id=notif_id, new=written)

    async def _write(self, user_id: int, n: dict[str, Any]) -> bool:
        event = {"type": "notification_created", "payload": {"notification": n}}
        async with self._lock, transaction(self.conn):
            seen = await self.conn.execute_fetchall(
                "SELECT 1 FROM user_notifications WHERE id = ? UNION ALL SELECT 1 FROM user_events"
                " WHERE user_id = ? AND event_type = 'notification_created' AND instr(payload, ?) > 0 LIMIT 1",
                (n["id"], user_id, f'"id":"{n["id"]}"'))
            if seen:
                return False
            await self.conn.execute(
                "INSERT INTO user_notifications (id, user_id, notification_type, title, body, data, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (n["id"], user_id, _json(n["notification_type"]), n["title"], n["body"], _json(n["data"]),
                 n["created_at"]))
            # The server keeps the newest 100 per user (rowid breaks ties of one second).
            await self.conn.execute(
                "DELETE FROM user_notifications WHERE user_id = ?1 AND id NOT IN (SELECT id FROM"
                " user_notifications WHERE user_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2)",
                (user_id, KEEP_PER_USER))
            await self.conn.execute(
                "INSERT INTO user_events (user_id, event_type, payload) VALUES (?, 'notification_created', ?)",
                (user_id, _json(event)))
        return True
