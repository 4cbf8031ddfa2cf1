import pytest

from torrentino_bridge.domain.availability import InvalidTransition, can_transition, check_transition
from torrentino_bridge.domain.models import Availability as A
from torrentino_bridge.domain.status import (
    RequestItem,
    RequestStatus,
    SubmissionState,
    request_status,
    submission_state_for,
)

S = SubmissionState


@pytest.mark.parametrize(
    ("qt_state", "expected"),
    [
        ("pending", S.ACTIVE), ("acquiring", S.ACTIVE), ("downloading", S.ACTIVE),
        ("pending_retry", S.ACTIVE), ("some_future_state", S.ACTIVE),
        ("needs_approval", S.NEEDS_APPROVAL), ("completed", S.IMPORTING),
        ("failed", S.FAILED), ("acquisition_failed", S.FAILED),
        ("rejected", S.REJECTED), ("cancelled", S.CANCELLED), ("deleted", S.CANCELLED),
    ],
)
def test_qt_state_mapping(qt_state, expected):
    assert submission_state_for(qt_state) is expected


@pytest.mark.parametrize(
    ("current", "target", "ok"),
    [
        (A.UNAVAILABLE, A.FETCHING, True), (A.FETCHING, A.AVAILABLE, True),
        (A.FETCHING, A.FETCH_ERROR, True), (A.FETCH_ERROR, A.FETCHING, True),
        (A.FETCHING, A.UNAVAILABLE, True), (A.UNAVAILABLE, A.AVAILABLE, False),
        (A.AVAILABLE, A.FETCHING, False), (A.FETCH_ERROR, A.AVAILABLE, False),
        (A.UNAVAILABLE, A.FETCH_ERROR, False), (A.FETCHING, A.FETCHING, True),
    ],
)
def test_availability_transitions(current, target, ok):
    assert can_transition(current, target) is ok
    if not ok:
        with pytest.raises(InvalidTransition):
            check_transition(current, target)


def item(n: int, available: bool, state: SubmissionState | None, error: str | None = None) -> RequestItem:
    return RequestItem(f"t{n}", f"{n} Title {n}", available, state, error)


@pytest.mark.parametrize(
    ("items", "status"),
    [
        ([item(1, True, None), item(2, True, S.COMPLETED)], RequestStatus.COMPLETED),
        ([item(1, False, S.INTENT)], RequestStatus.PENDING),
        ([item(1, False, S.INTENT), item(2, False, S.ACTIVE)], RequestStatus.IN_PROGRESS),
        ([item(1, False, S.ACTIVE), item(2, False, S.NEEDS_APPROVAL)], RequestStatus.NEEDS_APPROVAL),
        ([item(1, True, S.COMPLETED), item(2, False, S.IMPORTING)], RequestStatus.IN_PROGRESS),
        ([item(1, False, S.REJECTED, "rejected in QT")], RequestStatus.REJECTED),
        ([item(1, False, S.CANCELLED)], RequestStatus.CANCELLED),
        ([item(1, False, S.CANCELLED), item(2, False, S.FAILED, "boom")], RequestStatus.FAILED),
    ],
)
def test_request_status(items, status):
    assert request_status(items)[0] is status


def test_failed_summary_names_missing_and_corrupt_tracks():
    items = [item(1, True, S.COMPLETED), item(2, True, S.COMPLETED), item(4, False, S.COMPLETED, "missing"),
             item(7, False, S.COMPLETED, "missing"), item(11, False, S.COMPLETED, "corrupt: truncated")]
    status, error = request_status(items)
    assert status is RequestStatus.FAILED
    assert error == "2 of 5 tracks imported; missing: 4 Title 4, 7 Title 7; corrupt: 11 Title 11"


def test_a_ticket_failure_is_stated_once():
    items = [item(1, False, S.FAILED, "Quentin Torrentino: no peers"), item(2, False, S.FAILED,
             "Quentin Torrentino: no peers")]
    assert request_status(items) == (RequestStatus.FAILED, "0 of 2 tracks imported; Quentin Torrentino: no peers")
