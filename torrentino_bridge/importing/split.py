"""Cutting an album image into one lossless file per track (blocking I/O; call from a thread).

The cut tracks are ordinary files the import matches, verifies and moves like any other,
so they must be complete on disk before the import is planned (and journalled):

- Where: `<ticket dir>/.tb-split/<key>/NN.flac`, where the key digests the image's
  identity (path, device, inode, size, mtime) and the spans and tags cut from it. A rerun
  after a crash finds the same directory; an image replaced since gets a new one.
- How: each track is decoded block by block (never more than pcm.MAX_BLOCK_BYTES of
  samples in memory, whatever the image's length or header), encoded to a temporary name
  opened with O_EXCL|O_NOFOLLOW, fsynced, then renamed to NN.flac. A name without the
  temporary suffix therefore only ever holds a whole cut; one whose frame count differs
  from its span is cut again. The directory is fsynced before returning.
- One cutter per directory at a time (flock on the key directory, across threads and
  processes); temporary files a killed cutter left are removed under that lock.
- Lossless stays lossless: 16-bit stays 16-bit and 8-bit 8-bit; 24-bit, 32-bit and float
  sources become 24-bit (FLAC's widest); a lossy image decodes to 16-bit.
Nothing here follows a symlink: the split directories are opened O_NOFOLLOW and every
file in them is created and renamed relative to the directory's descriptor.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile

from .pcm import MAX_BLOCK_BYTES, AbsurdHeader, open_checked

SPLIT_DIR = ".tb-split"
_PART = ".part"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
# Source subtype -> (FLAC subtype, sample type read and written); anything else: 24-bit.
_LOSSLESS = {"PCM_S8": ("PCM_S8", "int16"), "PCM_U8": ("PCM_S8", "int16"), "PCM_16": ("PCM_16", "int16")}
_WIDE = ("PCM_24", "int32")
_NARROW_LOSSY = ("PCM_16", "int16")
_LOSSLESS_WIDE = frozenset({"PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ALAC_20", "ALAC_24", "ALAC_32"})


class SplitError(Exception):
    """The image could not be cut as its sheet says; the message is the reason for users.
    `ours`: the fault is on this side (the directory cannot be written), not the image's."""

    def __init__(self, message: str, *, ours: bool = False) -> None:
        super().__init__(message)
        self.ours = ours


@dataclass(frozen=True, slots=True)
class Span:
    """One track of an image: samples [start, end) and the tags its file gets."""

    number: int
    start: int
    end: int
    title: str | None = None
    artist: str | None = None
    album: str | None = None


def cut_name(number: int) -> str:
    return f"{number:02d}.flac"


def split_key(image_rel: str, st: os.stat_result, spans: Sequence[Span]) -> str:
    """The directory name for this image version cut this way."""
    text = repr((image_rel, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, tuple(spans)))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def output_format(subtype: str, *, lossy: bool) -> tuple[str, str]:
    """(FLAC subtype, numpy sample type) for a source of this libsndfile subtype."""
    if subtype in _LOSSLESS:
        return _LOSSLESS[subtype]
    if lossy or subtype not in _LOSSLESS_WIDE:
        return _NARROW_LOSSY
    return _WIDE


def split_image(image: Path, spans: Sequence[Span], root: Path, key: str, *, lossy: bool = False,
                slack: int = 0) -> list[Path]:
    """Cut `image` into one FLAC per span under root/.tb-split/key (cuts already complete
    are kept); returns the files in span order. `slack`: how many frames the last span may
    come up short (the decoder's length of a lossy image is an estimate)."""
    last = max(spans, key=lambda s: s.end) if spans else None
    with _key_dir(root, key) as (fd, where):
        _remove_parts(fd)
        wanted = [(span, cut_name(span.number), slack if span is last else 0) for span in spans]
        missing = [w for w in wanted if not _complete(fd, w[1], w[0], w[2])]
        if missing:
            _cut(image, missing, fd, lossy=lossy)
            os.fsync(fd)
        return [where / name for _, name, _ in wanted]


@contextlib.contextmanager
def _key_dir(root: Path, key: str) -> Iterator[tuple[int, Path]]:
    """root/.tb-split/key, created if needed, opened without following links and flocked."""
    try:
        parent = os.open(root, _DIR_FLAGS)
    except OSError as err:
        raise SplitError(f"cannot open the ticket's directory ({err.strerror or err})", ours=True) from None
    try:
        top = _subdir(parent, SPLIT_DIR)
    finally:
        os.close(parent)
    try:
        fd = _subdir(top, key)
    finally:
        os.close(top)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd, root / SPLIT_DIR / key
    finally:
        os.close(fd)


def _subdir(parent: int, name: str) -> int:
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=parent)
            os.fsync(parent)
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as err:      # read-only, or a file or a symlink planted under that name
        raise SplitError(f"cannot keep the cut tracks in {name} ({err.strerror or err})", ours=True) from None


def _remove_parts(fd: int) -> None:
    for name in os.listdir(fd):
        if name.endswith(_PART):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=fd)


def _complete(fd: int, name: str, span: Span, slack: int) -> bool:
    """A finished cut of this span: the final name (only ever renamed onto a whole file)
    holding the span's frame count."""
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return False
    try:
        reader = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
    except OSError:
        return False
    try:
        with soundfile.SoundFile(reader, closefd=False) as sf:
            frames = sf.frames
    except (soundfile.LibsndfileError, RuntimeError, ValueError):
        return False
    finally:
        os.close(reader)
    length = span.end - span.start
    return length - slack <= frames <= length


def _cut(image: Path, todo: Sequence[tuple[Span, str, int]], fd: int, *, lossy: bool) -> None:
    try:
        reader = os.open(image, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as err:
        raise SplitError(f"cannot read the image ({err.strerror or err})", ours=True) from None
    try:
        with open_checked(reader) as src:
            subtype, dtype = output_format(src.subtype, lossy=lossy)
            for span, name, slack in todo:
                _cut_one(src, span, name, fd, subtype=subtype, dtype=dtype, slack=slack)
    except AbsurdHeader as err:
        raise SplitError(f"the image has an {err}") from None
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as err:
        raise SplitError(f"the image does not decode ({type(err).__name__}: {err})") from None
    except OSError as err:
        raise SplitError(f"cannot write the cut tracks ({err.strerror or err})", ours=True) from None
    finally:
        os.close(reader)


def _cut_one(src: soundfile.SoundFile, span: Span, name: str, fd: int, *, subtype: str, dtype: str,
             slack: int) -> None:
    part = f".{name}.{os.getpid()}-{os.urandom(4).hex()}{_PART}"
    writer = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd)
    try:
        block = max(1, MAX_BLOCK_BYTES // (4 * src.channels))
        if src.tell() != span.start:     # contiguous tracks: decode on, no seek (MP3 seeks are lossy)
            src.seek(span.start)
        done = 0
        with soundfile.SoundFile(writer, "w", samplerate=src.samplerate, channels=src.channels,
                                 format="FLAC", subtype=subtype, closefd=False) as out:
            for field in ("title", "artist", "album"):
                value = getattr(span, field)
                if value:
                    setattr(out, field, value[:1000])
            out.tracknumber = str(span.number)
            length = span.end - span.start
            while done < length:
                data = src.read(min(block, length - done), dtype=dtype, always_2d=True)
                if len(data) == 0:
                    break
                out.write(data)
                done += len(data)
        if done < length - slack:
            seconds = (span.start + done) / src.samplerate
            raise SplitError(f"the image ends at {seconds:.1f}s, inside track {span.number}, "
                             f"which should run to {span.end / src.samplerate:.1f}s")
        os.fsync(writer)
    except BaseException:
        os.close(writer)
        with contextlib.suppress(OSError):
            os.unlink(part, dir_fd=fd)
        raise
    os.close(writer)
    os.rename(part, name, src_dir_fd=fd, dst_dir_fd=fd)
