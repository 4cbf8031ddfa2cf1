"""A proxy in front of the QT simulator, run as its own process by test_large_answers.py (so
its work never shows in the measured event loop): every answer for a ticket in
needs_approval is swapped for one carrying a huge candidate list that fills `budget` bytes.

Usage: python big_answer_proxy.py SIM_URL BUDGET. Prints `ready PORT COUNT`, then `served SIZE`
for each swapped answer."""

from __future__ import annotations

import asyncio
import json
import sys

import aiohttp
from aiohttp import web


def huge_candidates(budget: int) -> tuple[bytes, int]:
    """A JSON array of small candidates filling `budget` bytes, and how many it holds."""
    parts, size, n = [], 2, 0
    while True:
        item = json.dumps({"title": f"r{n}", "score": (n * 7919 % 1000) / 1000}, separators=(",", ":"))
        if size + len(item) + 1 > budget:
            break
        parts.append(item)
        size += len(item) + 1
        n += 1
    return ("[" + ",".join(parts) + "]").encode(), n


async def main(target: str, budget: int) -> None:
    big, count = huge_candidates(budget)
    async with aiohttp.ClientSession() as session:
        async def handle(request: web.Request) -> web.Response:
            headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
            async with session.request(request.method, target + request.path_qs, data=await request.read() or None,
                                       headers=headers) as resp:
                status, payload = resp.status, await resp.read()
            if request.method == "GET" and request.path.startswith("/api/v1/tickets/") and status == 200:
                ticket = json.loads(payload)
                if ticket["state"]["type"] == "needs_approval":
                    ticket["state"]["candidates"] = "@@"
                    ticket["state"]["recommended_idx"] = count - 1
                    head, tail = json.dumps(ticket).encode().split(b'"@@"')
                    body = head + big + tail
                    print(f"served {len(body)}", flush=True)
                    return web.Response(body=body, content_type="application/json")
            return web.Response(status=status, body=payload, content_type="application/json")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        print(f"ready {runner.addresses[0][1]} {count}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
