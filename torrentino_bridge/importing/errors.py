"""Errors of the import step, reported to the user (CLI) or the submission (engine)."""

from __future__ import annotations

from ..errors import BridgeError, ConfigError


class ImportSourceError(BridgeError):
    """The directory to import is missing, not a directory, or outside media.incoming."""


class PlacementError(BridgeError):
    """A file could not be put into the media root (disk full, permissions...).

    The journal stays open: the next attempt with the same key resumes where this stopped.
    """


class TemplateError(ConfigError):
    """media.path_template cannot render a safe, unique path for a track."""


class FilesNotReady(BridgeError):
    """The plan left required tracks without a good file, and the job asked to be held back
    rather than journalled then (its files may still be arriving): nothing was recorded or
    moved; plan again later."""
