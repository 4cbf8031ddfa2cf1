"""The OpenAPI 3.0 document of the bridge's HTTP API, served at /openapi.json.

Kept true by tests/http: every route in routes.py is documented here and nothing else,
and a schemathesis run checks live answers against these schemas.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ..domain.requests import MAX_ID_LENGTH, MAX_TRACKS_PER_REQUEST
from ..domain.searches import MAX_NAME, MAX_QUERY
from ..domain.status import RequestStatus, SubmissionState
from .auth import CALLBACK_HEADER, MAX_USER_ID, USER_HEADER
from .bodies import MAX_LIMIT_VALUE

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def _obj(props: dict[str, Schema], *, required: list[str] | None = None, extra: bool = True) -> Schema:
    schema: Schema = {"type": "object", "properties": props,
                      "required": list(props) if required is None else required}
    if not extra:
        schema["additionalProperties"] = False
    return schema


STR: Schema = {"type": "string"}
NSTR: Schema = _nullable(STR)
INT: Schema = {"type": "integer"}
NINT: Schema = _nullable(INT)
NUM: Schema = _nullable({"type": "number"})
BOOL: Schema = {"type": "boolean"}
TIME: Schema = _nullable({"type": "string", "description": "RFC 3339 UTC timestamp"})


def _json(schema: Schema) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, **_json(_ref("Error"))}


_AUTH_401 = {"401": _error("Missing or wrong credentials")}
_E400 = {"400": _error("Invalid body, parameter or header; `error` names what is wrong")}
_E404 = {"404": _error("Unknown id")}
_QT = {
    "409": _error("Quentin Torrentino (or the bridge) refuses the action in the ticket's current state"),
    "502": _error("Quentin Torrentino refused the bridge's token or answered unexpectedly"),
    "503": _error("Quentin Torrentino is unavailable, or the bridge is starting (startup repair waits "
                  "for a locked catalog); `Retry-After` says when to try again"),
}


def _some(schema: Schema) -> Schema:
    """An object whose only required field is `ok` (the rest is shown to admins only)."""
    return {**schema, "required": ["ok"]}


def _limits_obj() -> Schema:
    return _obj({"requests_per_day": INT, "max_pending": INT})


def _schemas() -> dict[str, Schema]:
    sub_states = [s.value for s in SubmissionState]
    track = _obj({
        "track_id": STR, "title": NSTR, "disc_number": NINT, "track_number": NINT,
        "availability": {"type": "string", "enum": ["available", "unavailable", "fetching", "fetch_error", "unknown"]},
        "outcome": _nullable({"type": "string", "enum": ["imported", "error", "released"]}),
        "error": NSTR,
    })
    download = _obj({
        "ticket_id": {**NSTR, "description": "QT's ticket id; null until QT accepted the ticket"},
        "submission_id": STR,
        "state": {"type": "string", "enum": sub_states,
                  "description": "The bridge's view: intent = stored, not yet accepted by QT"},
        "qt_state": NSTR, "phase": NSTR, "progress": {**NUM, "description": "0..100 when known"},
        "error": NSTR,
        "album": _obj({"id": STR, "name": NSTR, "artist": NSTR, "year": NINT}),
        "tracks": {"type": "array", "items": track},
        "requests": {"type": "array", "items": _obj({"request_id": STR, "user_id": STR, "status": STR})},
        "candidate_count": {**INT, "description": "How many candidates QT listed (at most "
                                                  "[torrentino] max_candidates are kept)"},
        "created_at": STR, "updated_at": STR, "finished_at": TIME,
        "query": _ref("SearchQuery"),
        "replaces": {**NSTR, "description": "The download this one searched again for (force-search)"},
        "replaced_by": {**NSTR, "description": "The download that searched again for this one"},
    })
    candidate = _obj({
        "index": {**INT, "description": "What approve's candidate_idx names"},
        "title": NSTR, "score": NUM, "seeders": NINT, "size_bytes": NINT,
        "reasoning": NSTR, "info_hash": NSTR,
        "qt_index": {**INT, "description": "The candidate's index in Quentin Torrentino's own list (the "
                                           "bridge keeps at most [torrentino] max_candidates of them)"},
    })
    detail = {
        "allOf": [download, _obj({
            "candidates": {"type": "array", "items": candidate},
            "recommended_idx": NINT, "confidence": NUM, "priority": INT, "dest_path": STR,
            "attempts": INT, "retryable": _nullable(BOOL),
        }, required=["candidates", "recommended_idx", "confidence", "priority", "dest_path", "attempts"])],
    }
    report_track = _obj({
        "track_id": STR, "album_id": STR, "title": NSTR, "disc_number": NINT, "track_number": NINT,
        "availability": STR, "audio_uri": NSTR, "ticket_id": NSTR, "progress": NUM, "error": NSTR,
    })
    request_report = _obj({
        "request_id": STR, "user_id": STR, "album_id": NSTR,
        "status": {"type": "string", "enum": [s.value for s in RequestStatus]},
        "error": NSTR, "priority": INT, "created_at": STR, "updated_at": TIME, "finished_at": TIME,
        "tracks": {"type": "array", "items": report_track},
    })
    limit_value = _nullable({"type": "integer", "minimum": 0, "maximum": MAX_LIMIT_VALUE})
    user_limits = _obj({
        "user_id": STR,
        "defaults": _limits_obj(),
        "override": _nullable(_obj({"requests_per_day": NINT, "max_pending": NINT, "updated_at": STR})),
        "effective": _limits_obj(),
        "usage": _obj({"requests_last_24h": INT, "open_requests": INT}),
    })
    check = _obj({"ok": BOOL, "error": NSTR, "checked_at": TIME, "last_ok_at": TIME})
    return {
        "Error": _obj({"error": {"type": "string", "description": "What went wrong, for a human"}},
                      required=["error"]),
        "RateLimited": {"allOf": [_ref("Error"), _obj({
            "limit": {"type": "string", "enum": ["requests_per_day", "max_pending"]},
            "retry_after": {"type": "integer", "minimum": 1},
        })]},
        "Download": download,
        "DownloadDetail": detail,
        "Candidate": candidate,
        "RequestReport": request_report,
        "UserLimits": user_limits,
        "LimitsBody": _obj({"requests_per_day": limit_value, "max_pending": limit_value},
                           required=[], extra=False),
        "ApproveBody": _obj({"candidate_idx": _nullable({"type": "integer", "minimum": 0, "maximum": 10000})},
                            required=[], extra=False),
        "ReasonBody": _obj({"reason": _nullable({"type": "string", "maxLength": 500})}, required=[], extra=False),
        "DownloadRequestBody": {
            "oneOf": [
                _obj({"album_id": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}},
                     extra=False),
                _obj({"track_ids": {"type": "array", "minItems": 1, "maxItems": MAX_TRACKS_PER_REQUEST,
                                    "items": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}}},
                     extra=False),
            ],
        },
        "CallbackEvent": {
            "type": "object",
            "description": "The draft contract's webhook body; the WebSocket's {\"type\": ...} messages "
                           "are accepted as well.",
            "properties": {
                "event": {"type": "string", "enum": ["completed", "failed", "needs_approval", "progress",
                                                     "state_change", "ticket_update", "ticket_deleted"]},
                "ticket_id": {"type": "string", "minLength": 1},
                "timestamp": STR,
                "details": _nullable({"type": "object"}),
            },
            "required": ["event", "ticket_id"],
        },
        **_mend_schemas(),
        "Check": check,
        "Liveness": _obj({
            "status": {"type": "string", "enum": ["ok", "failing"]},
            "workers": {"type": "object", "additionalProperties": BOOL},
            "failures": {"type": "object", "additionalProperties": STR},
            "started_at": TIME, "uptime_secs": NUM,
        }),
        "Readiness": _obj({
            "ready": BOOL,
            "components": {
                "type": "object", "required": ["catalog", "repair", "qt"],
                "description": "Without the admin token each component shows only `ok`.",
                "properties": {
                    "catalog": _some(check),
                    "repair": _some(_obj({"ok": BOOL, "error": NSTR})),
                    "qt": {"type": "object", "required": ["ok"], "properties": {"ok": BOOL, "error": NSTR}},
                    "events": _some(_obj({
                        "ok": BOOL, "socket_connected": BOOL, "connected_since": TIME, "last_message_at": TIME,
                        "socket_error": NSTR, "reconnects": INT, "last_reconcile_ok_at": TIME,
                        "reconcile_error": NSTR,
                    })),
                    "submitter": _some(_obj({"ok": BOOL, "blocked_reason": NSTR})),
                },
            },
        }),
    }


def _ticket_param() -> dict[str, Any]:
    return {"name": "ticket_id", "in": "path", "required": True, "schema": STR,
            "description": "QT's ticket id, or the bridge's submission id (before QT accepted it)"}


def _user_param() -> dict[str, Any]:
    return {"name": "user_id", "in": "path", "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_USER_ID}}


def _limit_param(default: int, maximum: int) -> dict[str, Any]:
    return {"name": "limit", "in": "query", "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": maximum, "default": default}}


def _action(summary: str, body: str | None, description: str) -> dict[str, Any]:
    op: dict[str, Any] = {
        "tags": ["admin"], "summary": summary, "description": description,
        "security": [{"admin": []}], "parameters": [_ticket_param()],
        "responses": {"200": {"description": "The download after the action", **_json(_ref("DownloadDetail"))},
                      **_E400, **_AUTH_401, **_E404, **_QT},
    }
    if body is not None:
        op["requestBody"] = {"required": False, **_json(_ref(body))}
    return op


def _paths() -> dict[str, Any]:
    return {
        "/healthz": {"get": {
            "tags": ["operations"], "summary": "Liveness",
            "description": "200 while the event loop answers and every worker task is alive.",
            "responses": {"200": {"description": "Alive", **_json(_ref("Liveness"))},
                          "503": {"description": "A worker died", **_json(_ref("Liveness"))}},
        }},
        "/readyz": {"get": {
            "tags": ["operations"], "summary": "Readiness",
            "description": "200 when startup repair is done, the catalog DB answers, Quentin Torrentino "
                           "answers /health with the "
                           "configured token, and events flow (socket connected, or a reconcile pass "
                           "succeeded recently). The checks run at most every few seconds, whoever "
                           "asks. With the admin token each component also reports its last error and "
                           "timestamps; without it, only whether it is ok.",
            "security": [{}, {"admin": []}],
            "responses": {"200": {"description": "Ready", **_json(_ref("Readiness"))},
                          "503": {"description": "Not ready", **_json(_ref("Readiness"))}},
        }},
        "/metrics": {"get": {
            "tags": ["operations"], "summary": "Prometheus metrics",
            "responses": {"200": {"description": "Prometheus text exposition format",
                                  "content": {"text/plain": {"schema": STR}}}},
        }},
        "/openapi.json": {"get": {
            "tags": ["operations"], "summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3.0", **_json({"type": "object"})}},
        }},
        "/admin": {"get": {
            "tags": ["admin"], "summary": "The admin page",
            "description": "Plain HTML; it asks for the admin token once and calls the admin API.",
            "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": STR}}}},
        }},
        "/v1/admin/downloads": {"get": {
            "tags": ["admin"], "summary": "List downloads (tickets)", "security": [{"admin": []}],
            "parameters": [
                {"name": "state", "in": "query", "required": False, "schema": STR,
                 "description": "Comma-separated bridge states, or `all`. Default: intent, active, "
                                "needs_approval, importing, failed."},
                _limit_param(100, 500),
                {"name": "offset", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0},
                 "description": "Downloads to skip, for the next page"},
            ],
            "responses": {"200": {"description": "Newest first: by when a download ended, or (still "
                                                 "live) when it was made; `total` counts every match",
                                  **_json(_obj({"downloads": {"type": "array", "items": _ref("Download")},
                                                "total": INT, "limit": INT, "offset": INT}))},
                **_E400, **_AUTH_401},
        }},
        "/v1/admin/downloads/{ticket_id}": {"get": {
            "tags": ["admin"], "summary": "One download with its candidates", "security": [{"admin": []}],
            "parameters": [_ticket_param()],
            "responses": {"200": {"description": "Details", **_json(_ref("DownloadDetail"))},
                          **_AUTH_401, **_E404},
        }},
        "/v1/admin/downloads/{ticket_id}/approve": {"post": _action(
            "Approve a candidate", "ApproveBody",
            "Only from needs_approval (409 otherwise). Without candidate_idx QT takes its own pick.")},
        "/v1/admin/downloads/{ticket_id}/reject": {"post": _action(
            "Reject the candidates", "ReasonBody", "Only from needs_approval (409 otherwise); the tracks go "
            "back to unavailable.")},
        "/v1/admin/downloads/{ticket_id}/cancel": {"post": _action(
            "Cancel a download", "ReasonBody", "Any live download that is not being imported.")},
        "/v1/admin/downloads/{ticket_id}/retry": {"post": {
            **_action("Retry the failed tracks", None,
                      "Retried in QT when QT allows it, otherwise a new ticket for the tracks still missing."),
            "responses": {"200": {"description": "What was retried", **_json(_obj({
                "retried_in_qt": {"type": "array", "items": STR},
                "resubmitted": {"type": "array", "items": STR},
                "download": _ref("DownloadDetail")}))},
                **_E400, **_AUTH_401, **_E404, **_QT},
        }},
        **_mend_paths(),
        "/v1/admin/users": {"get": {
            "tags": ["admin"], "summary": "Users with an override, an open request or a request in the last 24h",
            "security": [{"admin": []}], "parameters": [_limit_param(100, 500)],
            "responses": {"200": {"description": "Limits and usage", **_json(_obj(
                {"users": {"type": "array", "items": _ref("UserLimits")}}))}, **_E400, **_AUTH_401},
        }},
        "/v1/admin/users/{user_id}/limits": {
            "get": {
                "tags": ["admin"], "summary": "A user's rate limits and usage", "security": [{"admin": []}],
                "parameters": [_user_param()],
                "responses": {"200": {"description": "Limits", **_json(_ref("UserLimits"))},
                              **_E400, **_AUTH_401},
            },
            "put": {
                "tags": ["admin"], "summary": "Override a user's rate limits", "security": [{"admin": []}],
                "description": "null means the configured default; both null removes the override. "
                               "0 requests per day disables downloads for the user.",
                "parameters": [_user_param()],
                "requestBody": {"required": True, **_json(_ref("LimitsBody"))},
                "responses": {"200": {"description": "Limits", **_json(_ref("UserLimits"))},
                              **_E400, **_AUTH_401},
            },
        },
        "/v1/user/request-download": {"post": {
            "tags": ["user"], "summary": "Request an album or tracks",
            "description": "Writes a row into the shared request table and wakes the intake. Rate limited "
                           "per user ([torrentino.rate_limits], admin overrides).",
            "security": [{"service": []}], "parameters": [_user_header()],
            "requestBody": {"required": True, **_json(_ref("DownloadRequestBody"))},
            "responses": {
                "202": {"description": "Accepted", **_json(_obj({"request_id": STR, "status": STR}))},
                **_E400, **_AUTH_401,
                "404": _error("Unknown album id or track ids"),
                "429": {"description": "Over the user's limit", **_json(_ref("RateLimited")),
                        "headers": {"Retry-After": {"schema": INT, "description": "Seconds"}}},
            },
        }},
        "/v1/user/download-requests": {"get": {
            "tags": ["user"], "summary": "The user's requests with per-track availability and progress",
            "security": [{"service": []}],
            "parameters": [
                _user_header(),
                {"name": "status", "in": "query", "required": False, "schema": STR,
                 "description": "Comma-separated request statuses"},
                _limit_param(50, 200),
                {"name": "offset", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0},
                 "description": "Skip this many (newest first); with `limit` and `total` a client pages"},
            ],
            "responses": {"200": {"description": "Newest first", **_json(_obj({
                "user_id": STR, "requests": {"type": "array", "items": _ref("RequestReport")},
                "limit": INT, "offset": INT,
                "total": {**INT, "description": "How many of the user's requests match the filter"}}))},
                **_E400, **_AUTH_401},
        }},
        **_follow_paths(),
        "/v1/internal/torrentino-callback": {"post": {
            "tags": ["internal"], "summary": "Webhook delivery from Quentin Torrentino",
            "description": "Feeds the same handler as the WebSocket; an event seen on both paths takes "
                           "effect once. Unknown event names are acknowledged and ignored.",
            "security": [{"callback": []}, {"callback_header": []}],
            "requestBody": {"required": True, **_json(_ref("CallbackEvent"))},
            "responses": {
                "202": {"description": "Accepted (or ignored)", **_json(_obj(
                    {"accepted": BOOL, "event": STR, "ticket_id": NSTR, "ignored": STR}, required=["accepted"]))},
                **_E400, **_AUTH_401, "413": _error("Body too large"),
                "503": _error("The bridge is starting (startup repair waits for a locked catalog)"),
            },
        }},
    }


# -- users follow their requests, live events (issue 13 item 4) ------------------------------------

_EVENT_STREAM = {"text/event-stream": {"schema": {
    "type": "string",
    "description": "Server-Sent Events. Each event has an `id` (resume with Last-Event-ID), an `event` "
                   "type and JSON `data`: `snapshot` (sent first, and whenever resuming is not possible: "
                   "a new daemon run, or the client fell too far behind), `status` {request_id, user_id, "
                   "status, error, updated_at, finished_at}, `progress` {submission_id, ticket_id, album_id, "
                   "phase, percent, speed_bps, eta_secs, request_ids}, and for admins `download` "
                   "{submission_id, ticket_id, album_id, state, qt_state, error, request_ids}. Comment lines "
                   "(`: ping`) are heartbeats."}}}


def _stream_params() -> list[dict[str, Any]]:
    return [
        {"name": "Last-Event-ID", "in": "header", "required": False,
         "schema": {"type": "string", "maxLength": 100}, "description": "The id of the last event seen"},
        {"name": "last_event_id", "in": "query", "required": False,
         "schema": {"type": "string", "maxLength": 100},
         "description": "The same, for a client that opens a new EventSource (which cannot set headers)"},
    ]


def _stream_responses() -> dict[str, Any]:
    return {"200": {"description": "An endless event stream", "content": _EVENT_STREAM},
            **_E400, **_AUTH_401,
            "503": _error("Too many streams open ([http] max_event_streams), or the bridge is stopping; "
                          "`Retry-After` says when to try again")}


def _request_param() -> dict[str, Any]:
    return {"name": "request_id", "in": "path", "required": True, "schema": STR}


def _follow_paths() -> dict[str, Any]:
    return {
        "/v1/user/download-requests/{request_id}": {
            "get": {
                "tags": ["user"], "summary": "One of the user's requests", "security": [{"service": []}],
                "parameters": [_user_header(), _request_param()],
                "responses": {"200": {"description": "The request", **_json(_ref("RequestReport"))},
                              **_E400, **_AUTH_401,
                              "404": _error("Unknown, or another user's request")},
            },
            "delete": {
                "tags": ["user"], "summary": "Cancel one of the user's requests",
                "description": "Only while it is open (409 once finished). Tracks no other open request "
                               "waits for go back to unavailable; a ticket no other open request needs is "
                               "cancelled in Quentin Torrentino (through the durable outbox, until QT "
                               "confirms); a download being imported is left to finish. The request gives "
                               "its quota back.",
                "security": [{"service": []}], "parameters": [_user_header(), _request_param()],
                "requestBody": {"required": False, **_json(_ref("ReasonBody"))},
                "responses": {
                    "200": {"description": "The request, now cancelled", **_json({"allOf": [
                        _ref("RequestReport"),
                        _obj({"cancelled_tickets": INT, "released_tracks": INT})]})},
                    **_E400, **_AUTH_401, "404": _error("Unknown, or another user's request"),
                    "409": _error("The request is already finished"),
                    "503": _error("The bridge is starting (startup repair waits for a locked catalog); "
                                  "`Retry-After` says when to try again"),
                },
            },
        },
        "/v1/user/events": {"get": {
            "tags": ["user"], "summary": "Live events about the user's own requests (Server-Sent Events)",
            "description": "Status and progress of this user's requests only; resumable with Last-Event-ID.",
            "security": [{"service": []}], "parameters": [_user_header(), *_stream_params()],
            "responses": _stream_responses(),
        }},
        "/v1/admin/events": {"get": {
            "tags": ["admin"], "summary": "Live events about every request and download (Server-Sent Events)",
            "description": "The admin token as a Bearer header, or `?ticket=` from POST /v1/admin/events/ticket "
                           "(a browser's EventSource cannot send headers).",
            "security": [{"admin": []}, {"stream_ticket": []}],
            "parameters": [*_stream_params(),
                           {"name": "ticket", "in": "query", "required": False, "schema": STR,
                            "description": "A single-use stream ticket"}],
            "responses": _stream_responses(),
        }},
        "/v1/admin/events/ticket": {"post": {
            "tags": ["admin"], "summary": "A single-use ticket that opens the admin event stream",
            "description": "Valid for one GET /v1/admin/events?ticket=... within `expires_in` seconds.",
            "security": [{"admin": []}],
            "responses": {"201": {"description": "The ticket", **_json(_obj({
                "ticket": STR, "expires_in": {**INT, "description": "Seconds"}}))}, **_AUTH_401},
        }},
    }


# -- mending a download: force-search, match table, re-scan (views/mend.py) ----------------
def _mend_schemas() -> dict[str, Schema]:
    outcome = _obj({"imported": {"type": "object", "additionalProperties": STR,
                                 "description": "track id -> audio_uri"},
                    "failed": {"type": "object", "additionalProperties": STR,
                               "description": "track id -> why it was not imported"},
                    "summary": STR}, required=["imported", "failed"])
    extra_ok = {"type": "object", "description": "More explanation fields may appear"}
    return {
        "SearchQuery": _obj({"description": NSTR, "artist": NSTR, "title": NSTR}),
        "SearchBody": _obj({
            "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY,
                      "description": "query_context.description of the new ticket: what QT searches for"},
            "artist": _nullable({"type": "string", "minLength": 1, "maxLength": MAX_NAME,
                                 "description": "replaces query_context.expected.artist"}),
            "title": _nullable({"type": "string", "minLength": 1, "maxLength": MAX_NAME,
                                "description": "replaces query_context.expected.title"}),
        }, required=["query"], extra=False),
        "SearchResult": _obj({
            "download": _ref("DownloadDetail"),
            "replaced": _obj({"ticket_id": NSTR, "submission_id": STR,
                              "state": {"type": "string", "enum": [s.value for s in SubmissionState]}}),
            "previous_ticket": {"type": "string", "enum": ["cancelled", "cancel_pending", "nothing_to_cancel"],
                                "description": "cancel_pending: QT did not confirm yet; the bridge keeps "
                                               "cancelling until it does"},
            "repeated": {**BOOL, "description": "The same search was asked for before; nothing new was made"},
        }),
        "ImportOutcome": outcome,
        "MatchReport": {
            "type": "object", "required": ["matches", "rejected_files"],
            "description": "The plan's report (what `torrentino-bridge import --dry-run --json` prints); "
                           "entries may carry more explanation fields than listed",
            "properties": {
                "matches": {"type": "array", "items": {**extra_ok, "required": ["file", "track_id"], "properties": {
                    "file": STR, "track_id": STR, "track": STR, "confidence": {"type": "number"},
                    "signals": {"type": "array", "items": STR}}}},
                "unmatched_tracks": {"type": "array", "items": {},
                                     "description": "Requested tracks no file was matched to"},
                "rejected_files": {"type": "array", "items": {**extra_ok, "required": ["file", "reason"],
                                                               "properties": {
                    "file": STR, "reason": STR, "track_id": STR, "confidence": {"type": "number"}}}},
            },
        },
        "Matches": _obj({
            "ticket_id": NSTR, "submission_id": STR, "state": STR,
            "source": {"type": "string", "enum": ["import", "dry_run"],
                       "description": "import: the journalled plan of the import; dry_run: planned now from "
                                      "the folder, nothing moved"},
            "import_state": _nullable({"type": "string", "enum": ["moving", "done"]}),
            "source_dir": STR,
            "labels": {"type": "object", "additionalProperties": STR, "description": "track id -> \"4 Title\""},
            "failed": {"type": "object", "additionalProperties": STR},
            "report": _ref("MatchReport"),
            "outcome": _nullable(outcome),
            "finished_at": TIME,
        }),
        "RescanResult": _obj({"tracks": {"type": "array", "items": STR,
                                         "description": "The tracks looked for again"},
                              "outcome": _nullable(outcome), "download": _ref("DownloadDetail")}),
    }


def _mend_paths() -> dict[str, Any]:
    starting = {"503": _error("The bridge is starting (startup repair waits for a locked catalog), or the "
                              "catalog is locked; `Retry-After` when it is the start")}
    return {
        "/v1/admin/downloads/{ticket_id}/search": {"post": {
            "tags": ["admin"], "summary": "Search again with an admin's query (force-search)",
            "security": [{"admin": []}], "parameters": [_ticket_param()],
            "description": "Replaces the download by a new ticket for the same tracks (a live download's "
                           "tracks, or the ones an ended download did not import) whose description is "
                           "the query; the requests follow the new download and the old ticket is "
                           "cancelled in QT when QT may still run it. Exactly one new ticket, whatever "
                           "crashes. 409 while the download is being imported, when nothing is left to "
                           "fetch, or when it was already searched again with another query (the same "
                           "query again answers as the first time).",
            "requestBody": {"required": True, **_json(_ref("SearchBody"))},
            "responses": {
                "200": {"description": "QT accepted the new ticket", **_json(_ref("SearchResult"))},
                "202": {"description": "Stored; QT was not reached yet: the bridge submits it when it is",
                        **_json(_ref("SearchResult"))},
                **_E400, **_AUTH_401, **_E404,
                "409": _error("Being imported, nothing to search for, or already searched again"),
                **starting,
            },
        }},
        "/v1/admin/downloads/{ticket_id}/matches": {"get": {
            "tags": ["admin"], "summary": "How the download's files matched its tracks",
            "security": [{"admin": []}], "parameters": [_ticket_param()],
            "description": "The match table of the download's import (file, track, signals, confidence; "
                           "files set aside with the reason); before any import, a dry run of its folder.",
            "responses": {
                "200": {"description": "The report", **_json(_ref("Matches"))},
                **_AUTH_401,
                "404": _error("Unknown id, or no import planned and no folder to look at"),
                "409": _error("The folder cannot be read"),
            },
        }},
        "/v1/admin/downloads/{ticket_id}/rescan": {"post": {
            "tags": ["admin"], "summary": "Import again from the download's folder",
            "security": [{"admin": []}], "parameters": [_ticket_param()],
            "description": "For a download QT completed whose import left tracks out (or failed): after the "
                           "admin fixed or added files, the tracks still missing are planned and imported "
                           "again; the requests waiting for them are updated.",
            "responses": {
                "200": {"description": "The import's outcome", **_json(_ref("RescanResult"))},
                **_E400, **_AUTH_401, **_E404,
                "409": _error("Live, being imported, never completed by QT, or nothing left to import"),
                "410": _error("The download's folder is gone"),
                **starting,
            },
        }},
    }


def _user_header() -> dict[str, Any]:
    return {"name": USER_HEADER, "in": "header", "required": True,
            "description": "The catalog server's id of the user the call is made for",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_USER_ID}}


@cache
def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "torrentino-bridge",
            "version": "1",
            "description": (
                "The bridge between the Pezzottify catalog and Quentin Torrentino. Errors are always "
                "JSON `{\"error\": \"...\"}`, including 414 for a URL over 8 KiB and 431 for a "
                "header over 8 KiB. Admin routes take `Authorization: Bearer <http.admin_token>`; "
                "user routes are called by the catalog server with `Authorization: Bearer "
                f"<http.service_token>` and `{USER_HEADER}: <user id>`; the callback takes "
                f"`Authorization: Bearer <http.callback_secret>` (or `{CALLBACK_HEADER}`)."
            ),
        },
        "tags": [{"name": n} for n in ("operations", "admin", "user", "internal")],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "admin": {"type": "http", "scheme": "bearer", "description": "http.admin_token"},
                "service": {"type": "http", "scheme": "bearer", "description": "http.service_token"},
                "callback": {"type": "http", "scheme": "bearer", "description": "http.callback_secret"},
                "callback_header": {"type": "apiKey", "in": "header", "name": CALLBACK_HEADER,
                                    "description": "http.callback_secret"},
                "stream_ticket": {"type": "apiKey", "in": "query", "name": "ticket",
                                  "description": "A single-use ticket from POST /v1/admin/events/ticket"},
            },
        },
    }
