"""Putting files into the media root atomically (blocking I/O; call through a thread).

Within one filesystem a file is renamed into place (the inode travels, so a rename is
provable afterwards). Across filesystems (EXDEV, which bind mounts also raise) it is
copied to a hidden temporary name next to the destination, fsynced, then renamed over
the destination. Either way the destination only ever holds a complete file: an older
file there is replaced by the rename itself, after the new one is whole. Directories
are fsynced after every rename so the new entry survives a power cut.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import PlacementError

_COPY_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Identity:
    dev: int
    ino: int
    size: int


def identity(path: Path) -> Identity | None:
    """The file's identity, or None when it is absent or not a regular file (symlinks too)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return Identity(st.st_dev, st.st_ino, st.st_size)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(root: Path, directory: Path) -> None:
    """Create `directory` (inside `root`) one level at a time, fsyncing each parent, and
    refuse a directory that resolves outside the root (a symlink planted in the library)."""
    root.mkdir(parents=True, exist_ok=True)     # the configured root itself is trusted
    real_root = root.resolve()
    missing: list[Path] = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    # Checked before anything is made: through a planted symlink, mkdir would create the
    # directories outside the root first and the check after would come too late.
    if not probe.resolve().is_relative_to(real_root) or ".." in directory.relative_to(probe).parts:
        raise PlacementError(f"{directory} resolves outside the media root {root}")
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):   # another import made it meanwhile
            path.mkdir()
        fsync_dir(path.parent)
    if not directory.resolve().is_relative_to(real_root):
        raise PlacementError(f"{directory} resolves outside the media root {root}")


def check_source(src: Path, incoming: Path) -> None:
    """Never move a symlink or anything outside the incoming directory."""
    if os.path.islink(src):
        raise PlacementError(f"{src} is a symlink; refusing to move it")
    if not src.parent.resolve().is_relative_to(incoming.resolve()):
        raise PlacementError(f"{src} is outside media.incoming")


def rename_into_place(src: Path, dst: Path, *, root: Path, dirty: set[Path] | None = None) -> Identity | None:
    """Rename src over dst. Returns dst's identity, or None when the filesystems differ.
    With `dirty`, the two directories are added to it for the caller to fsync once for
    many renames, instead of here."""
    ensure_dir(root, dst.parent)
    fsync_file(src)      # the downloader's data is durable before the name points at it
    try:
        os.replace(src, dst)
    except OSError as err:
        if err.errno == errno.EXDEV:
            return None
        raise
    if dirty is not None:
        dirty.update((dst.parent, src.parent))
    else:
        fsync_dir(dst.parent)
        fsync_dir(src.parent)
    placed = identity(dst)
    if placed is None:
        raise PlacementError(f"{dst} vanished right after the rename")
    return placed


def copy_to_temp(src: Path, tmp: Path, *, root: Path) -> Identity:
    """Copy src to tmp and fsync it. A stale tmp from an earlier attempt is replaced."""
    ensure_dir(root, tmp.parent)
    tmp.unlink(missing_ok=True)
    with open(src, "rb") as reader, open(tmp, "xb") as writer:
        shutil.copyfileobj(reader, writer, _COPY_CHUNK)
        writer.flush()
        os.fsync(writer.fileno())
    copied = identity(tmp)
    expected = os.stat(src).st_size
    if copied is None or copied.size != expected:
        tmp.unlink(missing_ok=True)
        raise PlacementError(f"copy of {src} is incomplete")
    return copied


def commit_temp(tmp: Path, dst: Path) -> Identity:
    """Rename a complete, fsynced temporary copy over the destination."""
    os.replace(tmp, dst)
    fsync_dir(dst.parent)
    placed = identity(dst)
    if placed is None:
        raise PlacementError(f"{dst} vanished right after the rename")
    return placed


def remove_temp(tmp: Path) -> None:
    try:
        tmp.unlink()
    except FileNotFoundError:
        return
    fsync_dir(tmp.parent)


def remove_tree(path: Path, incoming: Path) -> None:
    """Remove an imported directory's leftovers. Symlinks inside are removed, never
    followed (shutil.rmtree does not follow them); nothing outside incoming is touched."""
    real = path.resolve()
    real_incoming = incoming.resolve()
    if real == real_incoming or not real.is_relative_to(real_incoming) or os.path.islink(path):
        raise PlacementError(f"refusing to remove {path}: not a directory inside media.incoming")
    if real.exists():
        shutil.rmtree(real)
        fsync_dir(real.parent)
