"""The simulator's /api/v1 routes, with QT's answers and quirks.

Handler errors are `{"error": "..."}` JSON; a body the JSON extractor refuses gets
axum's plain-text 400/415/422, as the real server answers.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import states

if TYPE_CHECKING:
    from .server import QTSimulator

AUDIO_FORMATS = frozenset({"flac", "mp3", "aac", "ogg_vorbis", "opus", "wav", "alac"})
RETRYABLE_FROM = frozenset({"failed", "acquisition_failed", "rejected", "cancelled"})
TERMINAL = frozenset({"completed", "rejected", "failed", "cancelled"})
_DESERIALIZE = "Failed to deserialize the JSON body into the target type: "


class BodyError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text

    def response(self) -> web.Response:
        return web.Response(status=self.status, text=self.text)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def read_json(request: web.Request, *, optional: bool) -> Any:
    """The JSON body, or BodyError the way axum's Json extractor rejects one."""
    raw = await request.read()
    if optional and not raw.strip():
        return None
    if request.content_type != "application/json":
        raise BodyError(415, "Expected request with `Content-Type: application/json`")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise BodyError(400, f"Failed to parse the request body as JSON: {err}") from None


def _want(cond: bool, message: str) -> None:
    if not cond:
        raise BodyError(422, _DESERIALIZE + message)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_create(body: Any) -> dict[str, Any]:
    _want(isinstance(body, dict), "invalid type: expected struct CreateTicketRequest")
    for field in ("query_context", "dest_path"):
        _want(field in body, f"missing field `{field}`")
    _want(isinstance(body["dest_path"], str), "dest_path: invalid type: expected a string")
    priority = body.get("priority", 0)
    _want(_is_int(priority) and 0 <= priority <= 65535,
          "priority: invalid value: expected u16")
    ctx = body["query_context"]
    _want(isinstance(ctx, dict), "query_context: invalid type: expected struct QueryContext")
    _want("description" in ctx, "query_context: missing field `description`")
    _want(isinstance(ctx["description"], str), "query_context.description: expected a string")
    tags = ctx.get("tags", [])
    _want(isinstance(tags, list) and all(isinstance(t, str) for t in tags),
          "query_context.tags: expected a sequence of strings")
    if ctx.get("expected") is not None:
        _validate_expected(ctx["expected"])
    if body.get("output_constraints") is not None:
        _validate_output(body["output_constraints"])
    return body


def _validate_expected(expected: Any) -> None:
    _want(isinstance(expected, dict), "expected: invalid type: expected internally tagged enum")
    kind = expected.get("type")
    _want(kind in ("album", "track"),
          f"expected.type: unknown variant `{kind}`, expected `album` or `track`")
    if kind == "track":
        _want(isinstance(expected.get("title"), str), "expected: missing field `title`")
        return
    tracks = expected.get("tracks", [])
    _want(isinstance(tracks, list), "expected.tracks: expected a sequence")
    for i, track in enumerate(tracks):
        where = f"expected.tracks[{i}]"
        _want(isinstance(track, dict), f"{where}: expected struct ExpectedTrack")
        _want(_is_int(track.get("number")) and track["number"] >= 0,
              f"{where}: missing or invalid field `number`")
        _want(isinstance(track.get("title"), str), f"{where}: missing or invalid field `title`")
        for key in ("duration_secs", "duration_ms", "disc_number"):
            value = track.get(key)
            _want(value is None or (_is_int(value) and value >= 0),
                  f"{where}.{key}: invalid type: expected u32")


def _validate_output(constraints: Any) -> None:
    _want(isinstance(constraints, dict), "output_constraints: expected internally tagged enum")
    kind = constraints.get("type")
    _want(kind in ("audio", "video", "original"),
          f"output_constraints.type: unknown variant `{kind}`")
    if kind == "audio":
        fmt = constraints.get("format")
        _want(fmt in AUDIO_FORMATS, f"output_constraints.format: unknown variant `{fmt}`")


def _query_int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise BodyError(400, f"Failed to deserialize query string: {name}: invalid digit found in string")
    return int(raw)


class TicketApi:
    def __init__(self, sim: QTSimulator) -> None:
        self.sim = sim

    def routes(self, prefix: str) -> list[web.RouteDef]:
        return [
            web.get(f"{prefix}/health", self.health),
            web.post(f"{prefix}/tickets", self.create),
            web.get(f"{prefix}/tickets", self.list),
            web.get(f"{prefix}/tickets/{{id}}", self.get),
            web.delete(f"{prefix}/tickets/{{id}}", self.cancel),
            web.post(f"{prefix}/tickets/{{id}}/delete", self.hard_delete),
            web.post(f"{prefix}/tickets/{{id}}/retry", self.retry),
            web.post(f"{prefix}/tickets/{{id}}/approve", self.approve),
            web.post(f"{prefix}/tickets/{{id}}/reject", self.reject),
            web.get(f"{prefix}/ws", self.sim.broadcaster.serve),
        ]

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def create(self, request: web.Request) -> web.Response:
        self.sim.post_count += 1
        if self.sim.config.create_errors > 0:
            self.sim.config.create_errors -= 1
            return _error(500, "Failed to create ticket: database is locked")
        try:
            body = validate_create(await read_json(request, optional=False))
        except BodyError as err:
            return err.response()
        ticket = copy.deepcopy(self.sim.create(body))
        if self.sim.config.create_hold_secs > 0:
            # The ticket exists; the answer is late (for crash-between-POST-and-bookkeeping tests).
            await asyncio.sleep(self.sim.config.create_hold_secs)
        return web.json_response(ticket, status=201)

    async def list(self, request: web.Request) -> web.Response:
        try:
            limit = min(1000, max(1, _query_int(request, "limit", 100)))
            offset = _query_int(request, "offset", 0)
        except BodyError as err:
            return err.response()
        state = request.query.get("state")
        created_by = request.query.get("created_by")
        # Newest first, as QT's listing is ordered.
        matching = [
            t for t in reversed(self.sim.tickets.values())
            if (state is None or t["state"]["type"] == state)
            and (created_by is None or t["created_by"] == created_by)
        ]
        return web.json_response({
            "tickets": copy.deepcopy(matching[offset:offset + limit]),
            "total": len(matching), "limit": limit, "offset": offset,
        })

    def _found(self, request: web.Request) -> str:
        ticket_id = request.match_info["id"]
        if ticket_id not in self.sim.tickets:
            raise web.HTTPNotFound(
                text=json.dumps({"error": f"Ticket not found: {ticket_id}"}),
                content_type="application/json",
            )
        return ticket_id

    def _ok(self, ticket_id: str) -> web.Response:
        return web.json_response(self.sim.snapshot(ticket_id))

    async def get(self, request: web.Request) -> web.Response:
        return self._ok(self._found(request))

    async def cancel(self, request: web.Request) -> web.Response:
        ticket_id = self._found(request)
        try:
            reason = _reason(await read_json(request, optional=True))
        except BodyError as err:
            return err.response()
        current = self.sim.state_of(ticket_id)
        if current in TERMINAL:
            return _error(409, f"Cannot cancel ticket: current state is {current}")
        self.sim.stop_run(ticket_id)
        self.sim.write_state(ticket_id, states.cancelled(self.sim.actor, reason))
        return self._ok(ticket_id)

    async def hard_delete(self, request: web.Request) -> web.Response:
        if request.query.get("confirm") != "true":
            return _error(400, "Hard delete requires confirm=true")
        ticket_id = self._found(request)
        return web.json_response(self.sim.hard_delete(ticket_id))

    async def retry(self, request: web.Request) -> web.Response:
        ticket_id = self._found(request)
        current = self.sim.state_of(ticket_id)
        if current not in RETRYABLE_FROM:
            return _error(409, f"Cannot retry ticket: current state is {current}")
        self.sim.retry(ticket_id)
        return self._ok(ticket_id)

    async def approve(self, request: web.Request) -> web.Response:
        ticket_id = self._found(request)
        try:
            idx = _candidate_idx(await read_json(request, optional=True))
        except BodyError as err:
            return err.response()
        state = self.sim.ticket(ticket_id)["state"]
        if state["type"] != "needs_approval":
            return _error(409, f"Cannot approve ticket: current state is {state['type']}")
        count = len(state["candidates"])
        if idx >= count:
            return _error(400, f"Invalid candidate index {idx}: ticket has {count} candidates")
        self.sim.approve(ticket_id, idx)
        return self._ok(ticket_id)

    async def reject(self, request: web.Request) -> web.Response:
        ticket_id = self._found(request)
        try:
            reason = _reason(await read_json(request, optional=True))
        except BodyError as err:
            return err.response()
        current = self.sim.state_of(ticket_id)
        if current != "needs_approval":
            return _error(409, f"Cannot reject ticket: current state is {current}")
        self.sim.stop_run(ticket_id)
        self.sim.write_state(ticket_id, states.rejected(self.sim.actor, reason))
        return self._ok(ticket_id)


def _candidate_idx(body: Any) -> int:
    if body is None:
        return 0
    _want(isinstance(body, dict), "invalid type: expected struct ApproveRequest")
    idx = body.get("candidate_idx")
    if idx is None:
        return 0
    _want(_is_int(idx) and idx >= 0, "candidate_idx: invalid type: expected usize")
    return int(idx)


def _reason(body: Any) -> str | None:
    if body is None:
        return None
    _want(isinstance(body, dict), "invalid type: expected a struct with `reason`")
    reason = body.get("reason")
    _want(reason is None or isinstance(reason, str), "reason: invalid type: expected a string")
    return reason
