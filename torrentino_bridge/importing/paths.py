"""Library paths from media.path_template (pure).

Catalog values end up in file names, so each is made safe on its own (no separators, no
leading dots, bounded length) before the template is filled; the result must stay a
relative path inside the media root whose components are not hidden (hidden names are
reserved for the importer's temporary files).
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from pathlib import PurePosixPath

from ..domain.models import AlbumMeta, TrackMeta
from .errors import TemplateError

TEMPLATE_FIELDS = frozenset(
    {"album_id", "album", "artist", "track_id", "title", "disc_number", "track_number", "ext",
     "track_shard1", "track_shard2"}
)
TEMP_PREFIX = ".tb-import-"
_UNSAFE = re.compile(r'[/\\\x00-\x1f\x7f<>:"|?*]')
_MAX_COMPONENT = 120


def check_template(template: str) -> None:
    """Raise TemplateError unless every field is a known plain name."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise TemplateError(f"media.path_template: {err}") from None
    for _, name, _, _ in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            raise TemplateError(
                f"media.path_template: unknown field {{{name}}}; known: "
                + ", ".join(sorted(TEMPLATE_FIELDS))
            )


# Filesystems limit a name to 255 bytes, not characters: 120 characters of CJK or emoji
# are 360 to 480 bytes. Values are cut in UTF-8 bytes (on a character boundary).
_MAX_NAME_BYTES = 255


def _cut_bytes(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def safe_component(value: str) -> str:
    text = unicodedata.normalize("NFC", value)
    text = _UNSAFE.sub("_", text).strip().strip(".").strip()
    text = _cut_bytes(text, _MAX_COMPONENT).strip()
    return text or "_"


def shards(track_id: str) -> tuple[str, str]:
    """The Pezzottify server's two shard directories of a track id: id[0:2] and id[2:4],
    each "00" when the id is too short for it (shorter than 2, and than 4 characters)."""
    return (track_id[0:2] if len(track_id) >= 2 else "00", track_id[2:4] if len(track_id) >= 4 else "00")
def _fit_name(part: str) -> str:
    """A rendered path component within the filesystem's limit, its extension kept."""
    if len(part.encode("utf-8")) <= _MAX_NAME_BYTES:
        return part
    stem, dot, ext = part.rpartition(".")
    if not dot or len(ext.encode("utf-8")) > 16:
        return _cut_bytes(part, _MAX_NAME_BYTES).strip() or "_"
    return _cut_bytes(stem, _MAX_NAME_BYTES - len(ext.encode("utf-8")) - 1).strip() + "." + ext


def render(template: str, album: AlbumMeta, track: TrackMeta, ext: str) -> str:
    """The audio_uri for a track: a relative POSIX path under the media root."""
    check_template(template)
    values = {
        "album_id": safe_component(album.id),
        "album": safe_component(album.name),
        "artist": safe_component(album.artist or track.artist or "Unknown Artist"),
        "track_id": safe_component(track.id),
        "title": safe_component(track.name),
        "disc_number": track.disc_number,
        "track_number": track.track_number,
        "ext": safe_component(ext.lower().lstrip(".")),
        # str.format cannot slice, so the server's shards are fields of their own.
        "track_shard1": safe_component(shards(track.id)[0]),
        "track_shard2": safe_component(shards(track.id)[1]),
    }
    try:
        rendered = template.format(**values)
    except (ValueError, TypeError) as err:
        raise TemplateError(f"media.path_template: {err}") from None
    rendered = "/".join(_fit_name(p) for p in rendered.split("/"))
    path = PurePosixPath(rendered)
    parts = rendered.split("/")
    if path.is_absolute() or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise TemplateError(f"media.path_template renders an unsafe path: {rendered!r}")
    return path.as_posix()


def temp_name(dst_name: str, key: str) -> str:
    """Hidden name, next to the destination, for a copy in progress; unique per import."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"{TEMP_PREFIX}{digest}-{_cut_bytes(dst_name, 150)}.part"
