"""Finding the audio files of a ticket's directory (I/O).

Audio is recognised by content (mutagen reads the header), so `track01` without an
extension counts and a `.flac` full of zeros does not parse. A file with an audio
extension that does not parse stays a candidate marked unreadable: matching can still
tie it to its track by name, and the track then fails as "corrupt" rather than "missing".
Symlinks are never followed, hidden entries and `sample` files are skipped, and nothing
outside the incoming directory is read. The importer's own directory of cut tracks
(split.SPLIT_DIR) is not listed: images.py adds the cut tracks it holds.
"""

from __future__ import annotations

import io
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mutagen

from .errors import ImportSourceError
from .split import SPLIT_DIR

if TYPE_CHECKING:
    from .checks import FileChecks

# Never audio, whatever they contain: not worth opening.
SKIP_EXTENSIONS = frozenset({
    ".nfo", ".cue", ".log", ".m3u", ".m3u8", ".pls", ".jpg", ".jpeg", ".png", ".gif", ".bmp",
    ".webp", ".tif", ".tiff", ".txt", ".md", ".pdf", ".sfv", ".md5", ".sha1", ".sha256", ".ffp",
    ".accurip", ".url", ".htm", ".html", ".db", ".ini", ".torrent", ".xml", ".json", ".rtf",
})
AUDIO_EXTENSIONS = frozenset({
    ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac", ".wav", ".aif", ".aiff",
    ".wv", ".ape", ".mpc", ".wma", ".alac", ".tta", ".dsf", ".spx",
})
# mutagen type -> file extension in the library. Types absent here (video, MIDI) are not
# accepted as audio.
CONTAINER_EXT = {
    "FLAC": "flac", "OggVorbis": "ogg", "OggOpus": "opus", "OggFLAC": "oga", "OggSpeex": "spx",
    "MP3": "mp3", "EasyMP3": "mp3", "MP4": "m4a", "EasyMP4": "m4a", "WAVE": "wav", "AIFF": "aiff",
    "WavPack": "wv", "MonkeysAudio": "ape", "Musepack": "mpc", "ASF": "wma", "TrueAudio": "tta",
    "DSF": "dsf", "AAC": "aac", "AC3": "ac3", "OptimFROG": "ofr",
}
# Scene-style sample clips: "sample.flac", "sample-x.mp3", "grp-album-sample.flac"; not a
# song called "Sample Song" or "Free Sample".
_SAMPLE = re.compile(r"^sample(?:[._-]|$)|[._-]sample$", re.I)
_LEADING_INT = re.compile(r"^\s*(\d{1,3})")
_TAG_KEYS = {
    "title": ("title",),
    "album": ("album",),
    "artist": ("artist", "albumartist"),
    "track": ("tracknumber", "track", "wm/tracknumber"),
    "disc": ("discnumber", "disc", "wm/partofset"),
}


@dataclass(frozen=True, slots=True)
class FileTags:
    title: str | None = None
    album: str | None = None
    artist: str | None = None
    track: int | None = None
    disc: int | None = None


@dataclass(frozen=True, slots=True)
class AudioFile:
    path: Path                  # absolute, inside the source directory
    rel: str                    # relative to the source directory, POSIX separators
    size: int
    container: str | None       # mutagen type name; None when it does not parse
    ext: str                    # extension to use in the library
    duration: float | None
    tags: FileTags = field(default_factory=FileTags)
    error: str | None = None    # why it does not parse (then container is None)
    sheet: bool = False         # carries a CUE sheet (FLAC CUESHEET block or comment)


@dataclass(frozen=True, slots=True)
class Rejected:
    rel: str
    reason: str


@dataclass(frozen=True)
class Discovery:
    audio: list[AudioFile]
    rejected: list[Rejected]
    # Every regular file's (path, device, inode, size, mtime, ctime): equal fingerprints,
    # equal directory contents (a plan made from one holds for the other).
    fingerprint: tuple[tuple[str, int, int, int, int, int], ...] = ()


def check_source_dir(source_dir: Path, incoming: Path) -> Path:
    """The real path of source_dir, which must be a directory strictly inside incoming."""
    real_incoming = incoming.resolve()
    real = source_dir.resolve()
    if real == real_incoming or not real.is_relative_to(real_incoming):
        raise ImportSourceError(
            f"{source_dir} is not a directory inside media.incoming ({incoming}); "
            "only ticket directories under it are imported"
        )
    if not real.exists():
        raise ImportSourceError(f"{source_dir} does not exist")
    if not real.is_dir():
        raise ImportSourceError(f"{source_dir} is not a directory")
    return real


def discover(source_dir: Path, incoming: Path, checks: FileChecks | None = None) -> Discovery:
    """Every file under source_dir, sniffed (or looked up in `checks` when unchanged)."""
    root = check_source_dir(source_dir, incoming)
    audio: list[AudioFile] = []
    rejected: list[Rejected] = []
    versions: list[tuple[str, int, int, int, int, int]] = []
    _walk(root, root, audio, rejected, checks, versions)
    audio.sort(key=lambda a: a.rel)
    rejected.sort(key=lambda r: r.rel)
    return Discovery(audio, rejected, tuple(sorted(versions)))


def _walk(root: Path, directory: Path, audio: list[AudioFile], rejected: list[Rejected],
          checks: FileChecks | None, versions: list[tuple[str, int, int, int, int, int]]) -> None:
    with os.scandir(directory) as entries:
        items = sorted(entries, key=lambda e: e.name)
    for entry in items:
        path = Path(entry.path)
        rel = path.relative_to(root).as_posix()
        if not _is_utf8(rel):
            # Such a name reaches neither libsndfile nor the journal intact: set it aside by
            # name instead of calling a good file corrupt (or failing the whole import).
            rejected.append(Rejected(_shown(rel), "file name is not valid UTF-8"))
            continue
        if entry.is_symlink():
            rejected.append(Rejected(rel, "symlink (not followed)"))
            continue
        if entry.name.startswith("."):
            if directory != root or entry.name != SPLIT_DIR:
                rejected.append(Rejected(rel, "hidden"))
            continue
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            if entry.name.lower() in ("sample", "samples"):
                rejected.append(Rejected(rel + "/", "sample directory"))
                continue
            try:
                _walk(root, path, audio, rejected, checks, versions)
            except OSError as err:
                rejected.append(Rejected(rel + "/", f"unreadable directory ({err.strerror or err})"))
            continue
        if not stat.S_ISREG(st.st_mode):
            rejected.append(Rejected(rel, "not a regular file"))
            continue
        versions.append((rel, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        found = checks.inspect(path, rel, st) if checks is not None else inspect_file(path, rel, st.st_size)
        if isinstance(found, Rejected):
            rejected.append(found)
        else:
            audio.append(found)


def _is_utf8(name: str) -> bool:
    """False for names holding undecodable bytes (surrogate escapes of os.fsdecode)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def inspect_file(path: Path, rel: str, size: int) -> AudioFile | Rejected:
    """Sniff one regular file: audio (with tags and duration), unreadable audio, or not audio."""
    suffix = path.suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,5}", path.suffix) else ""
    if suffix in SKIP_EXTENSIONS:
        return Rejected(rel, f"not audio ({suffix})")
    stem = path.name[: -len(suffix)] if suffix else path.name
    if _SAMPLE.search(stem):
        return Rejected(rel, "sample file")
    looks_audio = suffix in AUDIO_EXTENSIONS
    if size == 0:
        if looks_audio:
            return AudioFile(path, rel, 0, None, suffix.lstrip("."), None, error="empty file")
        return Rejected(rel, "empty file")
    parsed, error = _parse(path)
    if parsed is None and error is not None:
        if looks_audio:
            return AudioFile(path, rel, size, None, suffix.lstrip("."), None,
                             error=f"unreadable header ({error})")
        return Rejected(rel, "not audio")
    container = type(parsed).__name__ if parsed is not None else None
    if container not in CONTAINER_EXT:
        if looks_audio:
            what = "not recognised as audio" if container is None else f"unsupported {container}"
            return AudioFile(path, rel, size, None, suffix.lstrip("."), None, error=what)
        return Rejected(rel, "not audio" if container is None else f"not audio ({container})")
    length = getattr(getattr(parsed, "info", None), "length", None)
    duration = float(length) if length is not None else None
    return AudioFile(path, rel, size, container, CONTAINER_EXT[container], duration,
                     tags=read_tags(parsed), sheet=_carries_sheet(parsed))


def _carries_sheet(parsed: object) -> bool:
    if getattr(parsed, "cuesheet", None) is not None:
        return True
    tags = getattr(parsed, "tags", None)
    return _first(tags, "cuesheet") is not None if tags else False


class _Nameless(io.RawIOBase):
    """A file without a name: mutagen then picks the format by content alone."""

    def __init__(self, raw: io.BufferedReader) -> None:
        super().__init__()
        self._raw = raw

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._raw.readinto(buffer)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def _parse(path: Path) -> tuple[Any, str | None]:
    """mutagen's reading of the file; by content alone when the name misleads it (an MP3
    saved as .flac). Returns (parsed or None, the first error)."""
    error = None
    try:
        parsed = mutagen.File(path, easy=True)
        if parsed is not None:
            return parsed, None
    except Exception as err:  # mutagen raises many types for damaged headers
        error = f"{type(err).__name__}: {err}".strip()
    try:
        with open(path, "rb") as raw:
            return mutagen.File(_Nameless(raw), easy=True), error
    except Exception:
        return None, error


def read_tags(parsed: object) -> FileTags:
    tags = getattr(parsed, "tags", None)
    if not tags:
        return FileTags()
    values: dict[str, str | None] = {}
    for name, keys in _TAG_KEYS.items():
        values[name] = None
        for key in keys:
            text = _first(tags, key)
            if text:
                values[name] = text
                break
    return FileTags(
        title=values["title"], album=values["album"], artist=values["artist"],
        track=_int(values["track"]), disc=_int(values["disc"]),
    )


def _first(tags: object, key: str) -> str | None:
    try:
        value = tags[key]  # type: ignore[index]
    except (KeyError, ValueError, TypeError):
        return None
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(text: str | None) -> int | None:
    if not text:
        return None
    m = _LEADING_INT.match(text)
    return int(m.group(1)) if m and int(m.group(1)) > 0 else None
