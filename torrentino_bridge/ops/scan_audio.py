"""`scan-audio`: find available tracks whose audio file is missing, empty or corrupt.

Dry run by default. With --apply the corrupt files are deleted (missing ones obviously
not) and their tracks marked unavailable (or fetch_error) in ONE catalog transaction.

Order on --apply: delete first, then mark. A crash in between leaves tracks that point at
a now-missing file, which the next run finds and marks; the other order could strand
corrupt files no track points at any more, which no run would find again. A file is
only deleted if it is still the very file inspected (device, inode, size, mtime), so an
import that replaced it meanwhile is never destroyed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from ..domain.models import Availability, TrackChange, TrackMeta
from ..errors import EXIT_OK
from ..store.catalog import Catalog, open_catalog
from .audio_check import AudioReport, FileIdentity, Verdict, inspect_audio, resolve_audio_uri
from .progress import Progress
from .report import emit, plural

log = structlog.get_logger(__name__)

EXIT_INCOMPLETE = 1


@dataclass(slots=True)
class Finding:
    track_id: str
    audio_uri: str | None
    verdict: Verdict
    reason: str
    path: Path | None = None
    identity: FileIdentity | None = None
    action: str = "none"

    def as_dict(self) -> dict[str, Any]:
        return {"track_id": self.track_id, "audio_uri": self.audio_uri, "verdict": self.verdict.value,
                "reason": self.reason, "action": self.action}


@dataclass(slots=True)
class ScanResult:
    layout: str
    media_root: Path
    scanned: int = 0
    files: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {v.value: 0 for v in Verdict})
    findings: list[Finding] = field(default_factory=list)


def _uri_finding(track: TrackMeta, media_root: Path) -> Finding | Path:
    """The file to inspect, or a finding when the uri names no file inside the root."""
    if not (track.audio_uri or "").strip():
        return Finding(track.id, track.audio_uri, Verdict.MISSING, "no audio_uri")
    path = resolve_audio_uri(media_root, track.audio_uri)
    if path is None:
        return Finding(track.id, track.audio_uri, Verdict.OUTSIDE,
                       "audio_uri is not a path inside media.root; left alone")
    return path


async def scan(catalog: Catalog, media_root: Path, *, tolerance_secs: float,
               progress_stream: Any = None) -> ScanResult:
    result = ScanResult(layout=catalog.layout, media_root=media_root)
    tracks = [t async for t in catalog.iter_available_tracks()]
    result.scanned = len(tracks)
    by_path: dict[Path, list[TrackMeta]] = {}
    for track in tracks:
        target = _uri_finding(track, media_root)
        if isinstance(target, Finding):
            result.findings.append(target)
            result.counts[target.verdict.value] += 1
        else:
            by_path.setdefault(target, []).append(track)
    result.files = len(by_path)

    with Progress(len(by_path), "scanning audio", stream=progress_stream) as progress:
        for path, sharing in by_path.items():
            # Several tracks may share one file; the longest expectation is the strictest.
            expected = max((t.duration_ms or 0) for t in sharing) / 1000 or None
            report: AudioReport = await asyncio.to_thread(
                inspect_audio, path, expected_secs=expected, tolerance_secs=tolerance_secs
            )
            for track in sharing:
                result.counts[report.verdict.value] += 1
                if report.verdict.is_problem:
                    result.findings.append(Finding(track.id, track.audio_uri, report.verdict,
                                                   report.reason, path, report.identity))
            progress.advance()
    return result


def _still_same(path: Path, identity: FileIdentity | None) -> bool:
    try:
        return identity is not None and FileIdentity.of(path.stat()) == identity
    except OSError:
        return False


@dataclass(slots=True)
class Applied:
    deleted: list[str] = field(default_factory=list)
    marked: int = 0
    errors: list[str] = field(default_factory=list)


async def apply_fixes(catalog: Catalog, findings: list[Finding], state: Availability) -> Applied:
    done = Applied()
    to_mark: list[Finding] = []
    handled: dict[Path, bool] = {}  # a shared file is deleted once; every track follows its fate
    for finding in findings:
        if finding.action == "none":
            continue
        if finding.action == "delete+mark" and finding.path is not None:
            if finding.path not in handled:
                handled[finding.path] = _delete(finding, done)
            if not handled[finding.path]:
                finding.action = "none"
                continue
        to_mark.append(finding)
    changes = [TrackChange(f.track_id, state, clear_audio=True) for f in to_mark]
    try:
        await catalog.apply(changes)
    except sqlite3.Error as err:
        for finding in to_mark:
            finding.action = "none"
        done.errors.append(
            f"catalog update failed ({err}); {plural(len(done.deleted), 'file')} already deleted: "
            "run scan-audio --apply again to mark their tracks"
        )
        return done
    done.marked = len(changes)
    return done


def _delete(finding: Finding, done: Applied) -> bool:
    assert finding.path is not None
    if not _still_same(finding.path, finding.identity):
        done.errors.append(f"{finding.path} changed since it was inspected; left alone, track not marked")
        return False
    try:
        os.unlink(finding.path)
    except FileNotFoundError:
        pass  # someone else removed it: the track is missing audio either way
    except OSError as err:
        done.errors.append(f"cannot delete {finding.path}: {err.strerror}; track not marked")
        return False
    done.deleted.append(str(finding.path))
    log.info("scan_audio.deleted", path=str(finding.path), track_id=finding.track_id,
             verdict=finding.verdict.value)
    return True


def plan_actions(findings: list[Finding], *, include_short: bool) -> None:
    for finding in findings:
        acts = finding.verdict.is_fixable or (include_short and finding.verdict is Verdict.SHORT)
        if not acts:
            finding.action = "none"
        elif finding.verdict.file_is_bad:
            finding.action = "delete+mark"
        else:
            finding.action = "mark"


def render(result: ScanResult, state: Availability, *, applied: Applied | None,
           include_short: bool, notes: list[str]) -> list[str]:
    c = result.counts
    lines = [
        f"scanned {plural(result.scanned, 'available track')} ({plural(result.files, 'file')}) under "
        f"{result.media_root} (catalog layout {result.layout})",
        f"  ok {c['ok']}, header-checked only {c['unverified']}, missing {c['missing']}, "
        f"empty {c['empty']}, corrupt {c['corrupt']}, short {c['short']}, "
        f"outside media root {c['outside_root']}",
    ]
    if result.findings:
        lines.append("problems:")
        for f in result.findings:
            lines.append(f"  {f.verdict.value:<12} {f.track_id}  {f.audio_uri or '-'}  {f.reason}"
                         f"  [{f.action}]")
    deletions = {f.path for f in result.findings if f.action == "delete+mark"}
    marks = sum(f.action != "none" for f in result.findings)
    if c["short"] and not include_short:
        lines.append("short files are left alone; --include-short treats them as corrupt")
    if applied is None:
        if marks:
            lines.append(f"dry run: would delete {plural(len(deletions), 'file')} and mark "
                         f"{plural(marks, 'track')} {state.value}; run again with --apply to do it")
        else:
            lines.append("dry run: nothing to do")
    else:
        lines.append(f"applied: deleted {plural(len(applied.deleted), 'file')}, marked "
                     f"{plural(applied.marked, 'track')} {state.value} in one transaction")
        lines.extend(f"error: {e}" for e in applied.errors)
    lines.extend(f"note: {n}" for n in notes)
    return lines


async def handler(args: argparse.Namespace) -> int:
    from ..cli import settings_from  # cli imports this module to register it

    settings = settings_from(args)
    cfg = settings.catalog
    catalog = await open_catalog(cfg.db, layout=cfg.layout, busy_timeout_ms=cfg.busy_timeout_ms,
                                 write_retries=cfg.write_retries)
    try:
        notes: list[str] = []
        state = Availability(args.mark)
        if state is Availability.FETCH_ERROR and not catalog.stores_transient_states:
            state = Availability.UNAVAILABLE
            notes.append(f"the {catalog.layout} catalog layout has no fetch_error state; "
                         "tracks are marked unavailable")
        result = await scan(catalog, settings.media.root,
                            tolerance_secs=settings.media.duration_tolerance_secs)
        plan_actions(result.findings, include_short=args.include_short)
        applied = await apply_fixes(catalog, result.findings, state) if args.apply else None
    finally:
        await catalog.close()

    log.info("scan_audio.done", scanned=result.scanned, problems=len(result.findings),
             applied=args.apply, deleted=len(applied.deleted) if applied else 0,
             marked=applied.marked if applied else 0)
    data = {
        "dry_run": not args.apply,
        "catalog_layout": result.layout,
        "media_root": str(result.media_root),
        "mark": state.value,
        "scanned_tracks": result.scanned,
        "files": result.files,
        "counts": result.counts,
        "problems": [f.as_dict() for f in result.findings],
        "deleted_files": applied.deleted if applied else [],
        "marked_tracks": applied.marked if applied else 0,
        "errors": applied.errors if applied else [],
        "notes": notes,
    }
    emit(data, render(result, state, applied=applied, include_short=args.include_short, notes=notes),
         as_json=args.json)
    return EXIT_INCOMPLETE if applied and applied.errors else EXIT_OK


def register(sub: argparse._SubParsersAction, add_config_arg: Callable[[argparse.ArgumentParser], None]) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "scan-audio", help="find available tracks with missing, empty or corrupt audio (dry run)",
        description="Check the audio file of every available track: present, non-empty, parses "
        "and decodes. Dry run by default; --apply deletes the corrupt files and marks their tracks "
        "(and tracks whose file is missing) in one catalog transaction.",
    )
    add_config_arg(parser)
    parser.add_argument("--apply", action="store_true", help="delete corrupt files and mark tracks")
    parser.add_argument("--mark", choices=[Availability.UNAVAILABLE.value, Availability.FETCH_ERROR.value],
                        default=Availability.UNAVAILABLE.value,
                        help="state for the affected tracks (default: unavailable; the pezzottify "
                        "layout only has unavailable)")
    parser.add_argument("--include-short", action="store_true",
                        help="also treat files much shorter than the catalog's duration as corrupt")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(handler=handler)
