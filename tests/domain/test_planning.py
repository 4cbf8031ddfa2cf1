from torrentino_bridge.domain.models import Availability, TrackMeta
from torrentino_bridge.domain.planning import plan_request


def track(track_id: str, album: str, number: int, state: Availability, disc: int = 1) -> TrackMeta:
    return TrackMeta(track_id, album, f"Title {number}", disc, number, 1000, None, state)


A, U, F, E = Availability.AVAILABLE, Availability.UNAVAILABLE, Availability.FETCHING, Availability.FETCH_ERROR


def test_available_tracks_are_satisfied_without_a_ticket():
    plan = plan_request([track("t1", "a", 1, A), track("t2", "a", 2, A)], {})
    assert plan.satisfied == ["t1", "t2"]
    assert plan.nothing_to_fetch


def test_tracks_fetching_under_a_live_ticket_attach_to_it():
    plan = plan_request([track("t1", "a", 1, F), track("t2", "a", 2, U)], {"t1": "sub-1"})
    assert plan.attach == {"t1": "sub-1"}
    assert [t.id for t in plan.new_batches["a"]] == ["t2"]


def test_stale_fetching_and_fetch_error_tracks_get_a_new_ticket():
    plan = plan_request([track("t1", "a", 1, F), track("t2", "a", 2, E)], {})
    assert [t.id for t in plan.new_batches["a"]] == ["t1", "t2"]


def test_one_batch_per_album_sorted_by_disc_and_number():
    tracks = [track("b2", "b", 2, U), track("a3", "a", 1, U, disc=2), track("a1", "a", 2, U), track("b1", "b", 1, U)]
    plan = plan_request(tracks, {})
    assert {k: [t.id for t in v] for k, v in plan.new_batches.items()} == {"a": ["a1", "a3"], "b": ["b1", "b2"]}
