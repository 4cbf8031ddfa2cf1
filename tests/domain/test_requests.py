import pytest

from torrentino_bridge.domain.requests import parse_request
from torrentino_bridge.errors import RequestRejected


@pytest.mark.parametrize(
    ("album_id", "track_ids", "message"),
    [
        ("alb-1", '["t1"]', "not both"),
        (None, None, "neither album_id nor track_ids"),
        ("  ", None, "neither album_id nor track_ids"),
        (None, "[", "not valid JSON"),
        (None, "{}", "must be a JSON array, got dict"),
        (None, '"t1"', "must be a JSON array, got str"),
        (None, "[]", "empty list"),
        (None, '["t1", 5]', "every track id must be a non-empty string"),
        (None, '["t1", ""]', "every track id must be a non-empty string"),
        (None, "[" + ",".join(['"x"'] * 1001) + "]", "at most 1000"),
    ],
)
def test_malformed_rows_are_rejected_with_a_clear_message(album_id, track_ids, message):
    with pytest.raises(RequestRejected, match=message):
        parse_request("r1", "u1", album_id, track_ids, 0)


@pytest.mark.parametrize("user_id", [None, "", 7])
def test_user_id_is_required(user_id):
    with pytest.raises(RequestRejected, match="user_id"):
        parse_request("r1", user_id, "alb-1", None, 0)


def test_priority_must_be_an_integer():
    with pytest.raises(RequestRejected, match="priority"):
        parse_request("r1", "u1", "alb-1", None, "soon")


def test_album_request():
    parsed = parse_request("r1", "u1", " alb-1 ", None, 5)
    assert (parsed.album_id, parsed.track_ids, parsed.priority, parsed.is_album) == ("alb-1", (), 5, True)


def test_track_request_keeps_order_and_drops_duplicates():
    parsed = parse_request("r1", "u1", None, '["b", "a", "b"]', None)
    assert parsed.track_ids == ("b", "a")
    assert parsed.priority == 0
    assert not parsed.is_album
