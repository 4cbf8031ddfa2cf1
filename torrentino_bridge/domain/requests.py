"""Validating a download request row (pure). Errors become the row's `error` text."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import RequestRejected

MAX_TRACKS_PER_REQUEST = 1000
MAX_ID_LENGTH = 200


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    request_id: str
    user_id: str
    album_id: str | None
    track_ids: tuple[str, ...]
    priority: int

    @property
    def is_album(self) -> bool:
        return self.album_id is not None


def bad_text(value: object) -> bool:
    """Text read leniently from a shared table (store.db.lenient_text) whose stored bytes
    were not UTF-8: they come back as lone surrogates, which nothing downstream can use."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _clean_id(value: object, what: str) -> str:
    if bad_text(value):
        raise RequestRejected(f"{what} is not valid UTF-8 text")
    if not isinstance(value, str) or not value.strip():
        raise RequestRejected(f"{what} must be a non-empty string, got {value!r}"[:300])
    if len(value) > MAX_ID_LENGTH:
        raise RequestRejected(f"{what} is longer than {MAX_ID_LENGTH} characters")
    return value.strip()


def parse_request(
    request_id: str,
    user_id: object,
    album_id: object,
    track_ids: object,
    priority: object,
) -> ParsedRequest:
    """Check one row's shape; catalog existence is checked later by the intake."""
    if not isinstance(request_id, str):
        # A TEXT PRIMARY KEY takes NULL and blobs; such a row cannot be reported by id.
        raise RequestRejected(f"id must be text, got {type(request_id).__name__ if request_id is not None else 'NULL'}")
    if bad_text(request_id):
        raise RequestRejected("id is not valid UTF-8 text")
    has_album = album_id is not None and not (isinstance(album_id, str) and not album_id.strip())
    has_tracks = track_ids is not None and not (isinstance(track_ids, str) and not track_ids.strip())
    if has_album and has_tracks:
        raise RequestRejected("set either album_id or track_ids, not both")
    if not has_album and not has_tracks:
        raise RequestRejected("neither album_id nor track_ids is set")
    user = _clean_id(user_id, "user_id")
    try:
        prio = int(priority) if priority is not None else 0  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):   # OverflowError: a REAL column holding inf
        raise RequestRejected(f"priority must be an integer, got {priority!r}"[:300]) from None

    if has_album:
        return ParsedRequest(request_id, user, _clean_id(album_id, "album_id"), (), prio)

    if not isinstance(track_ids, str):
        raise RequestRejected("track_ids must be JSON array text")
    if bad_text(track_ids):
        raise RequestRejected("track_ids is not valid UTF-8 text")
    try:
        decoded = json.loads(track_ids)
    except json.JSONDecodeError as err:
        raise RequestRejected(f"track_ids is not valid JSON: {err.msg} at position {err.pos}") from None
    except RecursionError:   # "[[[[..." escapes JSONDecodeError and would stop the intake on this row
        raise RequestRejected("track_ids is nested too deeply to be a list of track ids") from None
    except ValueError as err:   # e.g. an integer of 5,000 digits: Python's int conversion limit
        raise RequestRejected(f"track_ids is not a list of track ids: {str(err)[:120]}") from None
    if not isinstance(decoded, list):
        raise RequestRejected(f"track_ids must be a JSON array, got {type(decoded).__name__}")
    if not decoded:
        raise RequestRejected("track_ids is an empty list")
    if len(decoded) > MAX_TRACKS_PER_REQUEST:
        raise RequestRejected(f"track_ids has {len(decoded)} entries; at most {MAX_TRACKS_PER_REQUEST}")
    ids = tuple(dict.fromkeys(_clean_id(v, "every track id") for v in decoded))
    return ParsedRequest(request_id, user, None, ids, prio)
