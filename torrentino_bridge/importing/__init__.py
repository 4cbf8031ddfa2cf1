"""Importing a completed ticket's directory into the media library.

Pure parts: names (path parsing), name_titles (names read against the album), titles
(normalisation), cue (CUE sheets), matching and assignment, explain (which signal
decided), paths (templates), outcome (summaries). I/O parts: discovery, pcm (bounded
decoding), verify, images and split (album images cut by their sheets), placement,
journal. plan_import and import_tracks put them together.
"""

from .importer import ImportJob, apply_outcome, forget_import, import_tracks
from .outcome import ImportOutcome
from .plan import ImportPlan, PlannedMatch, RejectedFile, plan_import

__all__ = [
    "ImportJob",
    "ImportOutcome",
    "ImportPlan",
    "PlannedMatch",
    "RejectedFile",
    "apply_outcome",
    "forget_import",
    "import_tracks",
    "plan_import",
]
