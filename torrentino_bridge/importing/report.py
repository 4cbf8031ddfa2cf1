"""The match table people read when a match looks wrong (pure text rendering)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .explain import why_text

HEADERS = ("FILE", "TRACK", "SIGNALS", "CONFIDENCE")


def align(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> list[str]:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    widths = [max(len(str(r[i])) for r in (headers, *rows)) for i in range(len(headers))]
    lines = []
    for row in (headers, *rows):
        cells = [str(c).ljust(w) if i < len(row) - 1 else str(c)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return lines


def shown_file(entry: Mapping[str, Any]) -> str:
    """A file as people know it: a cut track by its image and sheet number."""
    cut = entry.get("cut_from")
    if isinstance(cut, Mapping):
        return f"{cut.get('image')} [cue track {int(cut.get('track') or 0):02d}]"
    return str(entry.get("file", ""))


def render_table(report: Mapping[str, Any], labels: Mapping[str, str],
                 failed: Mapping[str, str]) -> str:
    """Matches, then tracks left without a file (with why), then the files set aside."""
    rows = [
        (shown_file(m), labels.get(m["track_id"], m["track_id"]), ", ".join(m.get("signals", [])),
         f"{m['confidence']:.3f}")
        for m in report.get("matches", [])
    ]
    out = align(rows, HEADERS) if rows else ["No file matched any requested track."]
    missing = list(dict.fromkeys([*report.get("unmatched_tracks", []), *failed]))
    details = {d.get("track_id"): d for d in report.get("unmatched_details", []) if isinstance(d, Mapping)}
    if missing:
        out += ["", "Tracks not imported:"]
        out += ["  " + line for line in align(
            [(labels.get(t, t), t, failed.get(t, "missing"), _closest(details.get(t, {})))
             for t in missing],
            ("TRACK", "ID", "REASON", "CLOSEST FILE, AND WHAT DECIDED"))]
    rejected = report.get("rejected_files", [])
    if rejected:
        out += ["", "Files not imported:"]
        out += ["  " + line for line in align(
            [(shown_file(r), r["reason"],
              f"{r['confidence']:.3f}" if r.get("confidence") is not None else "", why_text(r))
             for r in rejected],
            ("FILE", "REASON", "BEST CONFIDENCE", "DECIDED BY"))]
    return "\n".join(out)


def _closest(detail: Mapping[str, Any]) -> str:
    if not detail.get("best_file"):
        return ""
    shown = shown_file({"file": detail["best_file"], **({"cut_from": detail["cut_from"]}
                                                        if "cut_from" in detail else {})})
    return f"{shown}: {why_text(detail)}"
