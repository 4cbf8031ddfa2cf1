"""Long candidate lists: the bridge keeps [torrentino] max_candidates of them, shows its own
indices, approves with QT's index, and writes a waiting ticket's details only when they change."""

from __future__ import annotations

from typing import Any

from torrentino_bridge.sim import states


def many_candidates(description: str, duration_secs: float) -> list[dict[str, Any]]:
    """30 results: the first is QT's pick (recommended_idx 0) with a middling score."""
    return [{"title": f"{description} #{i}", "info_hash": f"{i:040x}", "size_bytes": 1000 + i, "seeders": i,
             "score": 0.5 if i == 0 else i / 100, "reasoning": "r"} for i in range(30)]


async def test_a_long_list_is_bounded_and_approve_sends_qts_index(make_bridge, sim, monkeypatch):
    monkeypatch.setattr(states, "candidates_for", many_candidates)
    sim.set_outcome("Harbour Lights", "needs_approval")
    bridge = await make_bridge()
    reply = await bridge.user("POST", "/v1/user/request-download", body={"album_id": "alb-ok"})
    await bridge.until_status(reply.body["request_id"], "needs_approval")
    ticket = await bridge.only_ticket()
    detail = (await bridge.admin("GET", f"/v1/admin/downloads/{ticket}")).body
    assert detail["candidate_count"] == 30 and len(detail["candidates"]) == 20
    assert [c["index"] for c in detail["candidates"]] == list(range(20))
    assert [c["qt_index"] for c in detail["candidates"]] == [0, *range(11, 30)]    # QT's pick + the best 19
    assert detail["recommended_idx"] == 0
    sub = await bridge.service.store.submission_by_ticket(ticket)
    stamp = sub.updated_at
    for _ in range(2):                          # reconcile passes see the same answer: nothing is written
        await bridge.service.reconciler.run_once()
    assert (await bridge.service.store.submission_by_ticket(ticket)).updated_at == stamp

    out_of_range = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/approve", body={"candidate_idx": 20})
    assert out_of_range.status == 400
    reply = await bridge.admin("POST", f"/v1/admin/downloads/{ticket}/approve", body={"candidate_idx": 5})
    assert reply.status == 200, reply.text
    approved = next(s for s in sim.history[ticket] if s["type"] == "approved")
    assert approved["selected"]["title"].endswith("#15")          # the bridge's 5 is QT's 15
    await bridge.until_status((await bridge.service.store.requests_of_submission(sub.id))[0], "completed")
