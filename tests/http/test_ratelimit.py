"""Rate limits on both ways in (HTTP 429, shared-table rows failed by the intake gate),
admin overrides, and the pure decision."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from torrentino_bridge.config import RateLimits
from torrentino_bridge.ratelimit import Limits, decide, effective_limits
from torrentino_bridge.store.limits import Override, Usage

from .conftest import insert

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


async def post(bridge, album_id: str, user: str = "u1"):
    return await bridge.user("POST", "/v1/user/request-download", user=user, body={"album_id": album_id})


async def test_http_per_day_limit_is_429_with_retry_after(make_bridge):
    bridge = await make_bridge(per_day=2)
    for album_id in ("alb-0", "alb-1"):
        reply = await post(bridge, album_id)
        assert reply.status == 202
        await bridge.until_status(reply.body["request_id"], "completed")
    reply = await post(bridge, "alb-2")
    assert reply.status == 429
    assert reply.body["limit"] == "requests_per_day"
    assert "2 requests in the last 24 hours; the limit is 2 per day" in reply.body["error"]
    retry_after = int(reply.headers["Retry-After"])
    assert 0 < retry_after <= 86400 and reply.body["retry_after"] == retry_after
    assert len(await bridge.service.store.list_requests()) == 2     # nothing written
    assert (await post(bridge, "alb-2", user="u2")).status == 202    # other users are not affected


async def test_http_pending_limit_is_429(make_bridge, sim):
    sim.set_outcome(None, "needs_approval")
    bridge = await make_bridge(max_pending=1)
    first = await post(bridge, "alb-0")
    await bridge.until_status(first.body["request_id"], "needs_approval")
    reply = await post(bridge, "alb-1")
    assert reply.status == 429
    assert reply.body["limit"] == "max_pending" and reply.headers["Retry-After"] == "60"
    assert "1 requests still open" in reply.body["error"]


async def test_concurrent_http_requests_cannot_slip_past_the_limit(make_bridge, sim):
    sim.set_outcome(None, "needs_approval")
    bridge = await make_bridge(max_pending=2)
    replies = await asyncio.gather(*(post(bridge, f"alb-{i}") for i in range(6)))
    assert sorted(r.status for r in replies) == [202, 202, 429, 429, 429, 429]
    for reply in replies:
        if reply.status == 202:
            await bridge.until_status(reply.body["request_id"], "needs_approval")


async def test_shared_table_rows_over_the_limit_fail_as_rate_limited(make_bridge):
    bridge = await make_bridge(per_day=1)
    await insert(bridge.settings, "r1", album_id="alb-0")
    await bridge.until_status("r1", "completed")
    await insert(bridge.settings, "r2", album_id="alb-1")
    status, error = await bridge.until_status("r2", "failed", "completed")
    assert status == "failed"
    assert error.startswith("rate_limited: 1 requests in the last 24 hours; the limit is 1 per day")
    assert bridge.sim.post_count == 1
    # A rate-limited row does not use up quota: the user still has one request in the window.
    limits = await bridge.admin("GET", "/v1/admin/users/u1/limits")
    assert limits.body["usage"] == {"requests_last_24h": 1, "open_requests": 0}


async def test_shared_table_pending_limit(make_bridge, sim):
    sim.set_outcome(None, "needs_approval")
    bridge = await make_bridge(max_pending=1)
    await insert(bridge.settings, "r1", album_id="alb-0")
    await bridge.until_status("r1", "needs_approval")
    await insert(bridge.settings, "r2", album_id="alb-1")
    _, error = await bridge.until_status("r2", "failed")
    assert error.startswith("rate_limited: 1 requests still open")


async def test_admin_override_raises_the_limit_on_both_paths(make_bridge):
    bridge = await make_bridge(per_day=1)
    first = await post(bridge, "alb-0")
    await bridge.until_status(first.body["request_id"], "completed")
    assert (await post(bridge, "alb-1")).status == 429

    reply = await bridge.admin("PUT", "/v1/admin/users/u1/limits", body={"requests_per_day": 3})
    assert reply.status == 200
    assert reply.body["override"]["requests_per_day"] == 3 and reply.body["override"]["max_pending"] is None
    assert reply.body["effective"] == {"requests_per_day": 3, "max_pending": 20}
    assert reply.body["defaults"] == {"requests_per_day": 1, "max_pending": 20}

    second = await post(bridge, "alb-1")
    assert second.status == 202
    await bridge.until_status(second.body["request_id"], "completed")
    await insert(bridge.settings, "r3", album_id="alb-2")
    assert (await bridge.until_status("r3", "completed", "failed"))[0] == "completed"
    assert (await post(bridge, "alb-3")).status == 429   # 3 used of 3


async def test_admin_override_lowers_the_limit_and_can_be_removed(make_bridge):
    bridge = await make_bridge()
    reply = await bridge.admin("PUT", "/v1/admin/users/u1/limits", body={"requests_per_day": 0})
    assert reply.body["effective"]["requests_per_day"] == 0
    refused = await post(bridge, "alb-0")
    assert refused.status == 429 and "disabled for this user" in refused.body["error"]
    await insert(bridge.settings, "r1", album_id="alb-0")
    _, error = await bridge.until_status("r1", "failed")
    assert error == "rate_limited: downloads are disabled for this user"
    assert (await post(bridge, "alb-0", user="u2")).status == 202

    cleared = await bridge.admin("PUT", "/v1/admin/users/u1/limits",
                                 body={"requests_per_day": None, "max_pending": None})
    assert cleared.status == 200 and cleared.body["override"] is None
    assert (await post(bridge, "alb-1")).status == 202


async def test_users_listing(make_bridge):
    bridge = await make_bridge()
    await bridge.admin("PUT", "/v1/admin/users/quiet/limits", body={"max_pending": 1})
    reply = await post(bridge, "alb-0", user="busy")
    await bridge.until_status(reply.body["request_id"], "completed")
    users = (await bridge.admin("GET", "/v1/admin/users")).body["users"]
    by_id = {u["user_id"]: u for u in users}
    assert set(by_id) == {"busy", "quiet"}
    assert by_id["busy"]["usage"]["requests_last_24h"] == 1
    assert by_id["quiet"]["effective"]["max_pending"] == 1
    assert (await bridge.admin("GET", "/v1/admin/users?limit=0")).status == 400


@pytest.mark.parametrize(("raw", "needle"), [
    ("", "a JSON body is required"),
    ("[]", "must be a JSON object"),
    ('{"requests_per_day": -1}', "requests_per_day"),
    ('{"requests_per_day": "5"}', "requests_per_day"),
    ('{"max_pending": 1.5}', "max_pending"),
    ('{"max_pending": 100001}', "max_pending"),
    ('{"per_day": 5}', "per_day: is not a known field"),
])
async def test_put_limits_bad_bodies_are_400(make_bridge, raw, needle):
    bridge = await make_bridge()
    reply = await bridge.admin("PUT", "/v1/admin/users/u1/limits", raw=raw)
    assert reply.status == 400, reply.text
    assert needle in reply.body["error"]
    assert (await bridge.admin("GET", "/v1/admin/users/u1/limits")).body["override"] is None


async def test_limits_user_id_is_checked(make_bridge):
    bridge = await make_bridge()
    reply = await bridge.admin("GET", "/v1/admin/users/" + "x" * 201 + "/limits")
    assert reply.status == 400 and "the user id" in reply.body["error"]


# --- the pure decision -------------------------------------------------------------------

@pytest.mark.parametrize(("limits", "usage", "allowed", "which", "retry_after"), [
    (Limits(10, 5), Usage(0, 0, None), True, None, None),
    (Limits(10, 5), Usage(9, 4, None), True, None, None),
    (Limits(10, 5), Usage(10, 0, "2025-03-01T00:00:00.000Z"), False, "requests_per_day", 12 * 3600),
    (Limits(10, 5), Usage(12, 0, "2025-02-28T12:00:01.000Z"), False, "requests_per_day", 1),
    (Limits(10, 5), Usage(3, 5, None), False, "max_pending", 60),
    (Limits(0, 5), Usage(0, 0, None), False, "requests_per_day", 86400),
    (Limits(10, 0), Usage(0, 0, None), False, "max_pending", 60),
])
def test_decide(limits, usage, allowed, which, retry_after):
    verdict = decide(limits, usage, NOW)
    assert verdict.allowed is allowed
    assert verdict.limit == which
    assert verdict.retry_after == retry_after


def test_effective_limits_take_each_override_separately():
    defaults = RateLimits(requests_per_user_per_day=10, max_pending_per_user=5)
    assert effective_limits(defaults, None) == Limits(10, 5)
    assert effective_limits(defaults, Override("u", 2, None, "t")) == Limits(2, 5)
    assert effective_limits(defaults, Override("u", None, 0, "t")) == Limits(10, 0)
