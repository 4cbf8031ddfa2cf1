"""The event hub (pure, no servers): ids, resuming within a run, snapshots otherwise, bounded queues."""

from __future__ import annotations

from torrentino_bridge.live.hub import LAGGED, EventHub, LiveEvent


def everything(event: LiveEvent) -> bool:
    return True


def test_ids_resume_within_a_run_and_not_across_runs() -> None:
    hub = EventHub(capacity=10)
    for n in range(3):
        hub.publish("status", {"n": n})
    assert hub.parse_id(hub.event_id(2)) == 2
    assert hub.parse_id(f"{'0' * 12}-2") is None                  # another run: a snapshot
    assert hub.parse_id(hub.event_id(99)) is None                 # the future: a snapshot
    for junk in (None, "", "x", f"{hub.run}-", f"{hub.run}--1", f"{hub.run}-1e3", f"{hub.run}-" + "9" * 40):
        assert hub.parse_id(junk) is None
    sub, replay = hub.subscribe(1, everything)
    assert replay is not None and [e.data["n"] for e in replay] == [1, 2]
    assert sub.start_seq == 3
    _, none = hub.subscribe(None, everything)
    assert none is None


def test_an_id_older_than_the_ring_gets_a_snapshot() -> None:
    hub = EventHub(capacity=3)
    for n in range(10):
        hub.publish("status", {"n": n})
    assert hub.subscribe(5, everything)[1] is None                # 6 fell out of the ring
    assert [e.seq for e in hub.subscribe(7, everything)[1] or []] == [8, 9, 10]


async def test_subscribers_get_only_what_they_accept_and_a_slow_one_is_caught_up() -> None:
    hub = EventHub(capacity=100, queue_size=4)
    mine, _ = hub.subscribe(None, lambda e: "ana" in e.users)
    for n in range(3):
        hub.publish("status", {"n": n}, {"ana" if n != 1 else "bob": ("r",)})
    got = [await mine.next(0.01) for _ in range(2)]
    assert [e.data["n"] for e in got if isinstance(e, LiveEvent)] == [0, 2]
    assert await mine.next(0.01) is None                         # nothing more (a timeout)
    for n in range(10):
        hub.publish("status", {"n": n}, {"ana": ("r",)})
    assert await mine.next(0.01) is LAGGED                        # fell behind: snapshot, then on
    hub.publish("status", {"n": "after"}, {"ana": ("r",)})
    after = await mine.next(0.01)
    assert isinstance(after, LiveEvent) and after.data["n"] == "after"


async def test_close_ends_every_subscription() -> None:
    hub = EventHub(capacity=10)
    sub, _ = hub.subscribe(None, everything)
    hub.close()
    assert await sub.next(5) is None and sub.closed
    hub.publish("status", {})                                     # ignored once closed
    assert hub.seq == 0
