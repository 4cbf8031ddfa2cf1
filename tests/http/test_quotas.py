"""Fair quotas: a request that failed, found nothing, was rejected or cancelled, or needed
nothing gives its daily quota back, on both ways in (the API and a row written straight into
the shared table); `refund_unfulfilled = false` keeps the old policy (every request counts).
The shared table's gate, the API and the admin's usage report count the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tests.conftest import album, wait_for

from .conftest import Bridge, insert

FAILS = album("alb-q-fail", "Quota", "Breaks Down", ["A", "B"])
FINDS_NOTHING = album("alb-q-none", "Quota", "Nowhere To Be Found", ["A", "B"])
REJECTED = album("alb-q-rej", "Quota", "Turned Away", ["A", "B"])
CANCELLED = album("alb-q-can", "Quota", "Called Off", ["A", "B"])
WITHDRAWN = album("alb-q-wd", "Quota", "Taken Back", ["A", "B"])
HAVE = album("alb-q-have", "Quota", "Already Here", ["A", "B"], availability="available")
DOWNLOADED = album("alb-q-dl", "Quota", "Fetched Fine", ["A", "B"])
SPARE = album("alb-q-spare", "Quota", "Spare Shelf", ["A", "B"], availability="available")
ALBUMS = [FAILS, FINDS_NOTHING, REJECTED, CANCELLED, WITHDRAWN, HAVE, DOWNLOADED, SPARE]

# case -> (album, the request's final status)
CASES = {
    "failed": (FAILS, "failed"),
    "found_nothing": (FINDS_NOTHING, "failed"),
    "rejected": (REJECTED, "rejected"),
    "cancelled": (CANCELLED, "cancelled"),                 # an admin cancels the ticket
    "withdrawn": (WITHDRAWN, "cancelled"),                 # the user cancels the request (DELETE)
    "needed_nothing": (HAVE, "completed"),
    "downloaded": (DOWNLOADED, "completed"),
}
REFUNDED = {"failed", "found_nothing", "rejected", "cancelled", "withdrawn", "needed_nothing"}


async def request(bridge: Bridge, path: str, user: str, album_id: str, request_id: str) -> str | None:
    """A request for `user` through one way in; returns its id, or None when refused (429)."""
    if path == "api":
        reply = await bridge.user("POST", "/v1/user/request-download", user=user, body={"album_id": album_id})
        assert reply.status in (202, 429), reply.text
        return reply.body["request_id"] if reply.status == 202 else None
    await insert(bridge.settings, request_id, user, album_id=album_id)
    status, error = await bridge.until_status(request_id, "completed", "failed", "in_progress", "needs_approval")
    return None if status == "failed" and (error or "").startswith("rate_limited") else request_id


async def finish(bridge: Bridge, case: str, request_id: str) -> None:
    """Drive the request to its case's end: admins reject or cancel what waits for approval."""
    if case in ("rejected", "cancelled"):
        await bridge.until_status(request_id, "needs_approval")
        sub_id = (await bridge.service.store.submissions_of_request(request_id))[0]
        sub = await bridge.service.store.get_submission(sub_id)
        action = "reject" if case == "rejected" else "cancel"
        reply = await bridge.admin("POST", f"/v1/admin/downloads/{sub.ticket_id}/{action}", body={})
        assert reply.status == 200, reply.text
    if case == "withdrawn":
        await bridge.until_status(request_id, "needs_approval")
        user = (await bridge.service.store.get_request(request_id)).user_id
        reply = await bridge.user("DELETE", f"/v1/user/download-requests/{request_id}", user=user)
        assert reply.status == 200, reply.text
    status, _ = await bridge.until_status(request_id, "completed", "failed", "rejected", "cancelled")
    assert status == CASES[case][1], (case, status)


async def one_case(bridge: Bridge, path: str, case: str, refund: bool) -> None:
    user = f"{path}-{case}"
    first = await request(bridge, path, user, CASES[case][0].id, f"{user}-1")
    assert first is not None
    await finish(bridge, case, first)
    counted = not (refund and case in REFUNDED)
    usage = (await bridge.admin("GET", f"/v1/admin/users/{user}/limits")).body["usage"]
    assert usage == {"requests_last_24h": int(counted), "open_requests": 0}, (case, usage)
    second = await request(bridge, path, user, SPARE.id, f"{user}-2")
    assert (second is None) == counted, (path, case, refund)


@pytest.mark.parametrize("refund", [True, False], ids=["fair", "old-policy"])
@pytest.mark.parametrize("path", ["api", "table"])
async def test_quota_is_given_back_for_requests_that_came_to_nothing(make_bridge, sim, monkeypatch,
                                                                     path: str, refund: bool) -> None:
    monkeypatch.setenv("TORRENTINO_BRIDGE_TORRENTINO__RATE_LIMITS__REFUND_UNFULFILLED", str(refund).lower())
    sim.set_outcome(FAILS.name, "fail_always")
    sim.set_outcome(FINDS_NOTHING.name, "acquisition_failed")
    sim.set_outcome(REJECTED.name, "needs_approval")
    sim.set_outcome(CANCELLED.name, "needs_approval")
    sim.set_outcome(WITHDRAWN.name, "needs_approval")
    bridge = await make_bridge(ALBUMS, per_day=1, max_pending=5)
    assert bridge.service.settings.torrentino.rate_limits.refund_unfulfilled is refund
    runs: list[Callable[[], Awaitable[None]]] = [
        lambda c=case: one_case(bridge, path, c, refund) for case in CASES
    ]
    await asyncio.gather(*(run() for run in runs))

    async def nothing_open() -> bool:
        return not await bridge.service.store.open_requests()

    await wait_for(nothing_open, what="every request to end")
