"""The status report shared by `torrentino-bridge status`, the demo and the HTTP API."""

from __future__ import annotations

from typing import Any

from .config import Settings
from .domain.models import Availability
from .domain.requests import bad_text
from .domain.status import LIVE_SUBMISSION_STATES
from .store.bridge import BridgeStore, RequestRow
from .store.catalog import Catalog, open_catalog
from .store.db import open_bridge_db


def track_state(catalog: Catalog, meta_state: Availability, row: Any) -> str:
    """A requested track's availability as users should see it, whatever the layout."""
    if meta_state is Availability.AVAILABLE or catalog.stores_transient_states:
        return meta_state.value
    if row["active"] and row["submission_state"] in {s.value for s in LIVE_SUBMISSION_STATES}:
        return Availability.FETCHING.value
    if row["outcome"] == "error":
        return Availability.FETCH_ERROR.value
    return meta_state.value


async def request_report(store: BridgeStore, catalog: Catalog,
                         request: RequestRow | str) -> dict[str, Any] | None:
    """A request (a row, or its id) with its tracks. A row whose id is not usable text (another
    writer's blob or undecodable bytes; the intake failed it unplanned) is shown without tracks."""
    if isinstance(request, str):
        found = await store.get_request(request)
        if found is None:
            return None
        request = found
    usable = isinstance(request.id, str) and not bad_text(request.id)
    rows = await store.request_tracks(request.id) if usable else []
    metas = await catalog.get_tracks([r["track_id"] for r in rows])
    tracks = []
    for row in rows:
        meta = metas.get(row["track_id"])
        tracks.append({
            "track_id": row["track_id"],
            "album_id": row["album_id"],
            "title": meta.name if meta else None,
            "disc_number": meta.disc_number if meta else None,
            "track_number": meta.track_number if meta else None,
            "availability": track_state(catalog, meta.availability, row) if meta else "unknown",
            "audio_uri": meta.audio_uri if meta else None,
            "ticket_id": row["ticket_id"],
            "progress": row["progress"],
            "error": row["track_error"] if row["track_error"] else None,
        })
    tracks.sort(key=lambda t: (t["album_id"], t["disc_number"] or 0, t["track_number"] or 0))
    return {
        "request_id": _text(request.id), "user_id": _text(request.user_id), "album_id": _text(request.album_id),
        "status": request.status, "error": request.error, "priority": _text(request.priority),
        "created_at": request.created_at, "updated_at": request.updated_at,
        "finished_at": request.finished_at, "tracks": tracks,
    }


def _text(value: Any) -> Any:
    """Other writers can put blobs, or text that is not UTF-8, in the shared table's text
    columns (the intake fails such rows); show them as text instead of breaking every
    report that lists them."""
    if isinstance(value, bytes):
        return repr(value)
    if bad_text(value):
        return repr(value.encode("utf-8", "surrogateescape"))
    return value


async def collect_status(settings: Settings, *, limit: int = 50) -> dict[str, Any]:
    store = BridgeStore(await open_bridge_db(settings.bridge.db))
    catalog = await open_catalog(settings.catalog.db, layout=settings.catalog.layout)
    try:
        requests = []
        for request in await store.list_requests(limit=limit):
            report = await request_report(store, catalog, request)
            if report is not None:
                requests.append(report)
        tickets = [
            {"submission_id": s.id, "ticket_id": s.ticket_id, "album_id": s.album_id,
             "state": s.state.value, "qt_state": s.qt_state, "progress": s.progress,
             "error": s.error, "updated_at": s.updated_at}
            for s in await store.submissions(limit=limit)
        ]
        return {"requests": requests, "tickets": tickets}
    finally:
        await store.close()
        await catalog.close()


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}%"


def render_status(report: dict[str, Any]) -> str:
    req_rows = []
    for r in report["requests"]:
        done = sum(1 for t in r["tracks"] if t["availability"] == "available")
        what = f"album {r['album_id']}" if r["album_id"] else f"{len(r['tracks'])} tracks"
        req_rows.append([str(r["request_id"])[:12], str(r["user_id"]), what, r["status"],
                         f"{done}/{len(r['tracks'])}", (r["error"] or "")[:70]])
    ticket_rows = [
        [t["ticket_id"] or "(not yet)", t["album_id"], t["state"], t["qt_state"] or "",
         _pct(t["progress"]), (t["error"] or "")[:60]]
        for t in report["tickets"]
    ]
    return (
        "Requests\n" + table(["request", "user", "what", "status", "available", "error"], req_rows)
        + "\n\nTickets\n"
        + table(["ticket", "album", "state", "qt state", "progress", "error"], ticket_rows)
    )


def render_tracks(tracks: list[dict[str, Any]]) -> str:
    rows = [[t["album_id"], f"{t['disc_number']}-{t['track_number']:02d}", t["title"] or "",
             t["availability"], t["audio_uri"] or "", (t["error"] or "")[:50]] for t in tracks]
    return table(["album", "track", "title", "availability", "audio_uri", "error"], rows)
