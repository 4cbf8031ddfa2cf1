import pytest

from torrentino_bridge.config import TicketDefaults
from torrentino_bridge.domain.models import AlbumMeta, Availability, TrackMeta
from torrentino_bridge.domain.tickets import build_ticket, clamp_priority, describe


def t(number: int, disc: int = 1, ms: int | None = 284_400) -> TrackMeta:
    return TrackMeta(f"t{disc}{number}", "alb", f"Song {number}", disc, number, ms, None, Availability.UNAVAILABLE)


@pytest.mark.parametrize(
    ("album", "expected"),
    [
        (AlbumMeta("a", "OK Computer", "Radiohead", 1997), "Radiohead - OK Computer (1997)"),
        (AlbumMeta("a", "Untitled", None, None), "Unknown Artist - Untitled"),
    ],
)
def test_description(album, expected):
    assert describe(album) == expected


@pytest.mark.parametrize(("value", "expected"), [(-5, 0), (10, 10), (70000, 65535)])
def test_priority_is_clamped_to_qt_range(value, expected):
    assert clamp_priority(value) == expected


def test_album_ticket_lists_requested_tracks_in_order():
    body = build_ticket(AlbumMeta("alb", "Album", "Artist", 2001), [t(2), t(1, disc=2), t(1, ms=None)],
                        TicketDefaults(), dest_path="/in/tb-x", priority=12)
    assert body["priority"] == 12
    assert body["dest_path"] == "/in/tb-x"
    ctx = body["query_context"]
    assert ctx["description"] == "Artist - Album (2001)"
    assert ctx["tags"] == ["music", "album"]
    assert ctx["expected"]["type"] == "album"
    assert ctx["expected"]["artist"] == "Artist"
    assert ctx["expected"]["tracks"] == [
        {"number": 1, "title": "Song 1", "disc_number": 1},
        {"number": 2, "title": "Song 2", "disc_number": 1, "duration_secs": 284},
        {"number": 1, "title": "Song 1", "disc_number": 2, "duration_secs": 284},
    ]
    assert ctx["search_constraints"]["audio"]["preferred_formats"] == ["flac"]
    assert body["output_constraints"] == {"type": "audio", "format": "ogg_vorbis", "bitrate_kbps": 320}


def test_lossless_and_original_output():
    album = AlbumMeta("alb", "Album", "Artist", 2001)
    flac = build_ticket(album, [t(1)], TicketDefaults(output_format="flac"), dest_path="/d", priority=1)
    assert flac["output_constraints"] == {"type": "audio", "format": "flac"}
    orig = build_ticket(album, [t(1)], TicketDefaults(output_format="original"), dest_path="/d", priority=1)
    assert orig["output_constraints"] == {"type": "original"}


def test_a_ticket_needs_tracks():
    with pytest.raises(ValueError):
        build_ticket(AlbumMeta("a", "b", "c", 1), [], TicketDefaults(), dest_path="/d", priority=1)
