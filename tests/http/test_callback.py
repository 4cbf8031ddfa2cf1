"""The webhook callback: it feeds the same handler as the socket, and an event seen on both
paths takes effect once."""

from __future__ import annotations

import pytest

from tests.conftest import wait_for

from .conftest import OK

CALLBACK = "/v1/internal/torrentino-callback"


def event(name: str, ticket_id: str, **details) -> dict:
    return {"event": name, "ticket_id": ticket_id, "timestamp": "2025-03-01T12:00:00Z", "details": details}


async def settle(bridge) -> None:
    """Let every scheduled ticket refresh and notification finish."""
    await bridge.service.tasks.drain("ticket:", timeout=30)
    await bridge.service.tasks.drain("notify:", timeout=30)


def sample(bridge, name: str, **labels) -> float:
    return bridge.service.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_callback_alone_drives_a_ticket_to_completion(make_bridge, sim, monkeypatch):
    # No socket messages and no periodic reconcile: only the callback can tell the bridge.
    monkeypatch.setenv("TORRENTINO_BRIDGE_BRIDGE__RECONCILE_INTERVAL_SECS", "3600")
    sim.set_faults(drop_ws=True)
    sim.set_outcome(None, "needs_approval")
    bridge = await make_bridge()
    reply = await bridge.user("POST", "/v1/user/request-download", body={"album_id": "alb-ok"})
    request_id = reply.body["request_id"]
    ticket = await bridge.only_ticket()
    await wait_for(lambda: _sim_state(sim, ticket, "needs_approval"), what="QT to want approval")
    assert (await bridge.request_status(request_id))[0] != "needs_approval"

    reply = await bridge.call("POST", CALLBACK, auth="callback", body=event("needs_approval", ticket))
    assert reply.status == 202
    assert reply.body == {"accepted": True, "event": "needs_approval", "ticket_id": ticket}
    await bridge.until_status(request_id, "needs_approval")

    assert (await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/approve")).status == 200
    await wait_for(lambda: _sim_state(sim, ticket, "completed"), what="QT to complete")
    reply = await bridge.call("POST", CALLBACK, auth="callback", body=event("completed", ticket))
    assert reply.status == 202
    await bridge.until_status(request_id, "completed")
    assert sample(bridge, "bridge_callback_events_total", type="completed", outcome="accepted") == 1


async def test_an_event_on_both_paths_takes_effect_once(make_bridge, sim, notify_receiver):
    url, received, _ = notify_receiver
    sim.set_outcome(None, "needs_approval")
    bridge = await make_bridge(notify_urls=[url])
    reply = await bridge.user("POST", "/v1/user/request-download", body={"album_id": "alb-ok"})
    request_id = reply.body["request_id"]
    await bridge.until_status(request_id, "needs_approval")    # the socket said so
    ticket = await bridge.only_ticket()
    for _ in range(2):
        reply = await bridge.call("POST", CALLBACK, auth="callback", body=event("needs_approval", ticket))
        assert reply.status == 202
    await settle(bridge)
    assert [m["type"] for m in received] == ["needs_approval"]

    await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/approve")
    await bridge.until_status(request_id, "completed")          # the socket again
    for _ in range(2):
        await bridge.call("POST", CALLBACK, auth="callback", body=event("completed", ticket))
    await settle(bridge)
    assert sample(bridge, "bridge_import_tracks_total", outcome="imported") == len(OK.tracks)
    assert sample(bridge, "bridge_availability_transitions_total",
                  from_state="fetching", to_state="available") == len(OK.tracks)
    assert (await bridge.request_status(request_id))[0] == "completed"


async def test_failed_event_on_both_paths_notifies_once(make_bridge, sim, notify_receiver):
    url, received, _ = notify_receiver
    sim.set_outcome(None, "fail")
    bridge = await make_bridge(notify_urls=[url])
    reply = await bridge.user("POST", "/v1/user/request-download", body={"album_id": "alb-ok"})
    await bridge.until_status(reply.body["request_id"], "failed")
    ticket = await bridge.only_ticket()
    reply = await bridge.call("POST", CALLBACK, auth="callback",
                              body=event("failed", ticket, error="tracker down", retryable=True))
    assert reply.status == 202
    await settle(bridge)
    assert [m["type"] for m in received] == ["failed"]
    assert sample(bridge, "bridge_availability_transitions_total",
                  from_state="fetching", to_state="fetch_error") == len(OK.tracks)


async def _sim_state(sim, ticket: str, state: str) -> bool:
    return sim.state_of(ticket) == state


@pytest.mark.parametrize(("raw", "needle"), [
    ("nope", "not JSON"),
    ("[]", "expected a JSON object"),
    ('{"ticket_id": "t"}', "no 'type' (or 'event') field"),
    ('{"event": 5, "ticket_id": "t"}', "'event' must be a string"),
    ('{"event": "completed"}', "'ticket_id' must be a non-empty string"),
    ('{"event": "completed", "ticket_id": ""}', "'ticket_id' must be a non-empty string"),
    ('{"event": "completed", "ticket_id": "t", "details": []}', "'details' must be an object"),
    ('{"event": "failed", "ticket_id": "t", "details": {"retryable": "yes"}}', "'retryable' must be a boolean"),
])
async def test_malformed_events_are_400(make_bridge, raw, needle):
    bridge = await make_bridge()
    reply = await bridge.call("POST", CALLBACK, auth="callback", raw=raw)
    assert reply.status == 400, reply.text
    assert needle in reply.body["error"]


async def test_unknown_events_and_foreign_tickets_are_acknowledged(make_bridge):
    bridge = await make_bridge()
    reply = await bridge.call("POST", CALLBACK, auth="callback", body=event("shiny_new_thing", "t"))
    assert reply.status == 202 and reply.body["accepted"] is False
    assert "unknown event" in reply.body["ignored"]
    reply = await bridge.call("POST", CALLBACK, auth="callback", body=event("completed", "not-ours"))
    assert reply.status == 202 and reply.body["accepted"] is True
    # The socket's own vocabulary is accepted too.
    reply = await bridge.call("POST", CALLBACK, auth="callback",
                              body={"type": "ticket_update", "ticket_id": "not-ours", "state": "downloading"})
    assert reply.status == 202 and reply.body["event"] == "ticket_update"
