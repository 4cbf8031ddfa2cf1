"""A lean Quentin Torrentino stand-in for the benchmarks, run in its own process
(`python -m bench.fakeqt --port N`), so QT's own CPU use stays out of the bridge's
numbers and the bridge gets the whole event loop of its process.

It speaks the slice of QT's v1 API the bridge uses (health, create, get, list, the
WebSocket) with canned, pre-serialised answers, and has a /bench control API:
seed tickets in bulk, blast progress events, complete tickets, read counters (POST
arrival times, the most GETs ever in flight at once). The full simulator
(torrentino_bridge.sim) is for correctness; this is for load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

PREFIX = "/api/v1"
STAMP = "2026-01-01T00:00:00Z"


def downloading(pct: float) -> dict[str, Any]:
    return {"type": "downloading", "info_hash": "ab" * 20, "progress_pct": pct, "speed_bps": 1_000_000,
            "eta_secs": 60, "started_at": STAMP, "candidate_idx": 0, "failover_round": 0,
            "last_progress_pct": pct, "last_progress_at": STAMP, "candidates": []}


COMPLETED = {"type": "completed", "completed_at": STAMP,
             "stats": {"total_download_bytes": 1, "download_duration_secs": 1, "conversion_duration_secs": 1,
                       "final_size_bytes": 1, "files_placed": 2}}


def _frame(payload: bytes) -> bytes:
    """One final, unmasked WebSocket text frame (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 1 << 16:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


class FakeQT:
    def __init__(self, templates: Path | None, complete_after: float | None) -> None:
        self.templates = templates            # a directory copied into dest_path on completion
        self.complete_after = complete_after  # auto-complete created tickets after this delay
        self.tickets: dict[str, dict[str, Any]] = {}
        self.encoded: dict[str, bytes] = {}
        self.clients: dict[web.WebSocketResponse, asyncio.Transport] = {}
        self.posts: list[tuple[float, str]] = []          # (monotonic arrival, description)
        self.in_flight = 0
        self.max_in_flight = 0
        self.gets = 0
        self.blast_sent = 0
        self._blasts: dict[tuple[tuple[str, ...], int], tuple[int, bytes]] = {}   # the last blast's frames
        self.latency = 0.0                    # added to every GET /tickets/{id}
        self._tasks: set[asyncio.Task[None]] = set()

    # --- tickets ------------------------------------------------------------------------
    def put(self, ticket: dict[str, Any]) -> None:
        self.tickets[ticket["id"]] = ticket
        self.encoded[ticket["id"]] = json.dumps(ticket).encode()

    def new_ticket(self, ticket_id: str, dest_path: str, description: str, state: dict[str, Any]) -> dict[str, Any]:
        return {"id": ticket_id, "created_at": STAMP, "created_by": "api_key_user", "state": state,
                "priority": 10, "query_context": {"description": description}, "dest_path": dest_path,
                "output_constraints": {"type": "audio", "format": "ogg_vorbis"}, "updated_at": STAMP}

    async def broadcast(self, texts: list[str]) -> int:
        sent = 0
        for ws in list(self.clients):
            try:
                for text in texts:
                    await ws.send_str(text)
                    sent += 1
            except (ConnectionError, RuntimeError):
                self.clients.pop(ws, None)
        return sent

    async def complete(self, ticket_id: str) -> None:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            return
        if self.templates is not None:
            # QT's placing phase: the state write, then the files, one progress event each.
            files = sorted(self.templates.iterdir())
            await self.broadcast([json.dumps({"type": "ticket_update", "ticket_id": ticket_id, "state": "placing"})])
            dest = Path(ticket["dest_path"])
            await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
            for n, path in enumerate(files, start=1):
                await asyncio.to_thread(shutil.copy2, path, dest / path.name)
                await self.broadcast([json.dumps({
                    "type": "pipeline_progress", "ticket_id": ticket_id, "phase": "placing", "current": n,
                    "total": len(files), "current_name": path.name, "percent": 100.0 * n / len(files)})])
        self.put({**ticket, "state": COMPLETED})
        await self.broadcast([json.dumps({"type": "ticket_update", "ticket_id": ticket_id, "state": "completed"})])

    # --- the QT API ---------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def create(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        body = await request.json()
        context = body["query_context"]
        ticket_id = str(uuid.uuid4())
        self.put(self.new_ticket(ticket_id, body["dest_path"], context["description"], {"type": "pending"}))
        self.posts.append((arrived, context["description"]))
        if self.complete_after is not None:
            task = asyncio.create_task(self._complete_later(ticket_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return web.Response(body=self.encoded[ticket_id], status=201, content_type="application/json")

    async def _complete_later(self, ticket_id: str) -> None:
        assert self.complete_after is not None
        await asyncio.sleep(self.complete_after)
        await self.complete(ticket_id)

    async def get(self, request: web.Request) -> web.Response:
        self.gets += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency)   # 0: still lets concurrent requests overlap
            body = self.encoded.get(request.match_info["id"])
            if body is None:
                return web.json_response({"error": "Ticket not found"}, status=404)
            return web.Response(body=body, content_type="application/json")
        finally:
            self.in_flight -= 1

    async def list(self, request: web.Request) -> web.Response:
        limit = min(1000, max(1, int(request.query.get("limit", "100"))))
        offset = int(request.query.get("offset", "0"))
        ids = list(self.tickets)[offset:offset + limit]
        page = b",".join(self.encoded[i] for i in ids)
        return web.Response(
            body=b'{"tickets":[' + page + b'],"total":%d,"limit":%d,"offset":%d}' % (len(self.tickets), limit, offset),
            content_type="application/json",
        )

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, compress=False)
        await ws.prepare(request)
        assert request.transport is not None
        self.clients[ws] = request.transport
        try:
            async for msg in ws:
                if msg.type is WSMsgType.ERROR:
                    break
        finally:
            self.clients.pop(ws, None)
        return ws

    # --- /bench control ----------------------------------------------------------------
    async def seed(self, request: web.Request) -> web.Response:
        """{"tickets": [[id, dest_path, description], ...], "state": "downloading"|"completed",
        "pct": progress}"""
        body = await request.json()
        state = COMPLETED if body.get("state") == "completed" else downloading(float(body.get("pct", 12.5)))
        for ticket_id, dest, description in body["tickets"]:
            self.put(self.new_ticket(ticket_id, dest, description, state))
        return web.json_response({"tickets": len(self.tickets)})

    async def blast(self, request: web.Request) -> web.Response:
        """Send pre-encoded progress events for the given tickets to every client, as fast
        as the sockets take them: {"ticket_ids": [...], "rounds": n, "sentinel": id}; with
        "to": "oldest" or "newest", to that one client only (connections in order)."""
        body = await request.json()
        ids, rounds = body["ticket_ids"], int(body["rounds"])
        key = (tuple(ids), rounds)
        if key not in self._blasts:   # the same blast again: only its sentinel differs
            texts = []
            for r in range(rounds):
                for i, ticket_id in enumerate(ids):
                    if (i + r) % 4 == 3:   # QT's pipeline progress now and then; ticket_update mostly
                        texts.append(json.dumps({"type": "pipeline_progress", "ticket_id": ticket_id,
                                                 "phase": "converting", "current": r % 10, "total": 10,
                                                 "current_name": f"{r % 10:02d}.flac",
                                                 "percent": r % 10 * 10.0}))
                    else:
                        texts.append(json.dumps({"type": "ticket_update", "ticket_id": ticket_id,
                                                 "state": "downloading"}))
            self._blasts = {key: (len(texts), b"".join(_frame(t.encode()) for t in texts))}
        count, body_frames = self._blasts[key]
        sentinel = json.dumps({"type": "ticket_update", "ticket_id": body["sentinel"], "state": "pending"})
        # Pre-built unmasked text frames written straight to the socket: sending costs a
        # memcpy, so the receiver, not this process, sets the pace.
        frames = body_frames + _frame(sentinel.encode())
        started = time.monotonic()
        targets = list(self.clients.values())
        if body.get("to") == "oldest":
            targets = targets[:1]
        elif body.get("to") == "newest":
            targets = targets[-1:]
        for transport in targets:
            transport.write(frames)
        self.blast_sent += (count + 1) * len(targets)
        return web.json_response({"messages": count + 1, "bytes": len(frames),
                                  "send_secs": time.monotonic() - started})

    async def complete_many(self, request: web.Request) -> web.Response:
        body = await request.json()
        stamp = time.monotonic()
        for ticket_id in body["ticket_ids"]:
            ticket = self.tickets.get(ticket_id)
            if ticket is not None:
                self.put({**ticket, "state": COMPLETED})
        await self.broadcast([json.dumps({"type": "ticket_update", "ticket_id": t, "state": "completed"})
                              for t in body["ticket_ids"]])
        return web.json_response({"completed_at": stamp})

    async def place_many(self, request: web.Request) -> web.Response:
        """QT's placing phase for tickets whose files are already in their dest_path: the
        `placing` state write and one pipeline_progress event per file, as QT sends them."""
        body = await request.json()
        files = int(body.get("files", 2))
        texts = []
        for ticket_id in body["ticket_ids"]:
            ticket = self.tickets.get(ticket_id)
            if ticket is None:
                continue
            self.put({**ticket, "state": {"type": "placing", "files_placed": files, "total_files": files,
                                          "started_at": STAMP}})
            texts.append(json.dumps({"type": "ticket_update", "ticket_id": ticket_id, "state": "placing"}))
            texts += [json.dumps({"type": "pipeline_progress", "ticket_id": ticket_id, "phase": "placing",
                                  "current": n, "total": files, "current_name": f"{n:02d}.ogg",
                                  "percent": 100.0 * n / files}) for n in range(1, files + 1)]
        await self.broadcast(texts)
        return web.json_response({"events": len(texts)})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"posts": self.posts, "max_in_flight": self.max_in_flight, "gets": self.gets,
                                  "clients": len(self.clients), "tickets": len(self.tickets)})

    async def reset(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        self.max_in_flight, self.gets, self.posts = 0, 0, []
        self.latency = float(body.get("latency", 0.0))
        return web.json_response({})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.add_routes([
            web.get(f"{PREFIX}/health", self.health),
            web.post(f"{PREFIX}/tickets", self.create),
            web.get(f"{PREFIX}/tickets", self.list),
            web.get(f"{PREFIX}/tickets/{{id}}", self.get),
            web.get(f"{PREFIX}/ws", self.ws),
            web.post("/bench/seed", self.seed),
            web.post("/bench/blast", self.blast),
            web.post("/bench/complete", self.complete_many),
            web.post("/bench/place", self.place_many),
            web.get("/bench/stats", self.stats),
            web.post("/bench/reset", self.reset),
        ])
        return app


async def serve(port: int, templates: Path | None, complete_after: float | None) -> None:
    runner = web.AppRunner(FakeQT(templates, complete_after).app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"fakeqt listening on {port}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--templates", type=Path, default=None)
    parser.add_argument("--complete-after", type=float, default=None)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.templates, args.complete_after))


if __name__ == "__main__":
    main()
