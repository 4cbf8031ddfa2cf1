"""Planning an import: discovery, verification and matching, without moving anything.

The dry run and the real import both start here, so what the dry run shows is what the
import does. Matching runs against the whole album when it is known (not only the
requested tracks): a torrent of the full album then gives each file to its own track,
and a file of a track nobody asked for is never taken for a requested one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import MediaSettings
from ..domain.models import AlbumMeta, TrackMeta
from .checks import FileChecks
from .discovery import AudioFile, discover
from .explain import decided_by, evidence_json
from .images import CutInfo, prepare
from .matching import Evidence, FileFacts, MatchResult, TrackFacts, logit, match
from .names import NameInfo, parse_name, side_positions
from .verify import Health, verify_file

MISSING = "missing"


@dataclass(frozen=True, slots=True)
class PlannedMatch:
    file: AudioFile
    track: TrackMeta
    confidence: float
    signals: tuple[str, ...]
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class RejectedFile:
    file: str                       # relative to the source directory
    reason: str
    track_id: str | None = None     # the track it was tied to, when there is one
    confidence: float | None = None
    signals: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()   # of its best pair
    decided_by: str | None = None         # explain.decided_by of that pair


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A requested track left without a file, and the pair that came closest."""

    track_id: str
    reason: str
    decided_by: str | None = None
    best_file: str | None = None
    confidence: float | None = None
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class ImportPlan:
    source_dir: Path                # real path
    album: AlbumMeta
    tracks: tuple[TrackMeta, ...]   # the requested tracks
    matches: tuple[PlannedMatch, ...]
    failed: dict[str, str]          # requested track id -> reason
    rejected: tuple[RejectedFile, ...]
    cuts: Mapping[str, CutInfo] = field(default_factory=dict)   # file rel -> the image it was cut from
    unmatched: tuple[Unmatched, ...] = ()                          # why each failed track has no file

    @property
    def unmatched_track_ids(self) -> list[str]:
        return [t.id for t in self.tracks if t.id in self.failed]

    def to_json(self) -> dict[str, Any]:
        """The dry run's JSON: paths relative to the imported directory."""
        return {
            "matches": [
                {"file": m.file.rel, "track_id": m.track.id, "confidence": round(m.confidence, 4),
                 "track": track_label(m.track), "signals": list(m.signals),
                 "evidence": evidence_json(m.evidence), **self._cut_json(m.file.rel)}
                for m in self.matches
            ],
            "unmatched_tracks": self.unmatched_track_ids,
            "unmatched_details": [
                {"track_id": u.track_id, "reason": u.reason,
                 **({"decided_by": u.decided_by} if u.decided_by else {}),
                 **({"best_file": u.best_file, **self._cut_json(u.best_file)} if u.best_file else {}),
                 **({"confidence": round(u.confidence, 4)} if u.confidence is not None else {}),
                 **({"evidence": evidence_json(u.evidence)} if u.evidence else {})}
                for u in self.unmatched
            ],
            "rejected_files": [
                {"file": r.file, "reason": r.reason,
                 **({"track_id": r.track_id} if r.track_id else {}),
                 **({"confidence": round(r.confidence, 4)} if r.confidence is not None else {}),
                 **({"decided_by": r.decided_by} if r.decided_by else {}),
                 **({"evidence": evidence_json(r.evidence)} if r.evidence else {}),
                 **self._cut_json(r.file)}
                for r in self.rejected
            ],
        }

    def _cut_json(self, rel: str) -> dict[str, Any]:
        cut = self.cuts.get(rel)
        return {"cut_from": cut.to_json()} if cut is not None else {}


def track_label(track: TrackMeta) -> str:
    """How summaries name a track: "4 Title" (the engine's request summaries agree)."""
    return f"{track.track_number} {track.name}"


def _sorted_tracks(tracks: Sequence[TrackMeta]) -> list[TrackMeta]:
    return sorted(tracks, key=lambda t: (t.disc_number, t.track_number, t.id))


def plan_import(source_dir: Path, album: AlbumMeta, tracks: list[TrackMeta], media: MediaSettings,
                *, album_tracks: Sequence[TrackMeta] | None = None,
                checks: FileChecks | None = None) -> ImportPlan:
    """Discover, verify and match; blocking I/O (run it in a thread from async code).
    With `checks`, files already checked in their current version are not read again, and
    a plan made earlier from the same files and the same tracks is returned as it is."""
    found = discover(source_dir, media.incoming, checks)
    real_dir = source_dir.resolve()
    requested = _sorted_tracks(list({t.id: t for t in tracks}.values()))
    context = {t.id: t for t in (album_tracks or ())}
    for t in requested:
        context.setdefault(t.id, t)
    album_order = _sorted_tracks(list(context.values()))
    # Images are cut before anything else: their tracks are files like the others.
    prepared = prepare(found, real_dir, [t.name for t in album_order], checks)
    memo_key = None
    if checks is not None:
        memo_key = (str(real_dir), found.fingerprint, prepared.versions, tuple(prepared.rejected),
                    _album_key(album), _tracks_key(requested), _tracks_key(album_order),
                    media.duration_tolerance_secs, media.match_threshold, str(media.incoming))
        earlier = checks.plans.get(memo_key)
        if isinstance(earlier, ImportPlan):
            return earlier

    audio = prepared.audio
    health = [prepared.health.get(a.rel) or (checks.verify(a) if checks is not None else verify_file(a))
              for a in audio]
    result = match(
        _file_facts(audio, health, prepared.cuts), _track_facts(album_order),
        album_name=album.name, tolerance=media.duration_tolerance_secs,
        threshold=media.match_threshold, known_names=_artists(album, album_order),
    )
    plan = _assemble(real_dir, album, requested, album_order, audio, health, result,
                     [RejectedFile(r.rel, r.reason) for r in prepared.rejected],
                     threshold=media.match_threshold, cuts=prepared.cuts)
    if checks is not None:
        checks.plans.put(memo_key, plan)
    return plan


def _artists(album: AlbumMeta, tracks: Sequence[TrackMeta]) -> list[str]:
    return list(dict.fromkeys(a for a in (album.artist, *(t.artist for t in tracks)) if a))


def _album_key(album: AlbumMeta) -> tuple[object, ...]:
    return (album.id, album.name, album.artist, album.year)


def _tracks_key(tracks: Sequence[TrackMeta]) -> tuple[tuple[object, ...], ...]:
    """What matching and the library path use of each track (not its availability)."""
    return tuple((t.id, t.name, t.disc_number, t.track_number, t.duration_ms, t.artist) for t in tracks)


def _file_facts(audio: Sequence[AudioFile], health: Sequence[Health],
                cuts: Mapping[str, CutInfo]) -> list[FileFacts]:
    names = [_cut_name(cuts[a.rel]) if a.rel in cuts else parse_name(a.rel) for a in audio]
    offsets = side_positions(names)
    facts = []
    for a, info, h in zip(audio, names, health, strict=True):
        side_pos = offsets[info.side] + info.number if info.side and info.number else None
        cut = cuts.get(a.rel)
        if cut is not None:
            # What the sheet says is the evidence (the cut's own tags were written from it).
            facts.append(FileFacts(rel=a.rel, name=info, tag_album=cut.album, duration=a.duration,
                                   side_position=side_pos, healthy=h.ok, problem=h.problem))
            continue
        facts.append(FileFacts(
            rel=a.rel, name=info, tag_title=a.tags.title, tag_album=a.tags.album,
            tag_track=a.tags.track, tag_disc=a.tags.disc, duration=a.duration,
            side_position=side_pos, healthy=h.ok, problem=h.problem,
        ))
    return facts


def _cut_name(cut: CutInfo) -> NameInfo:
    return NameInfo(disc=cut.disc, number=cut.number, side=cut.side,
                    titles=(cut.title,) if cut.title else (), disc_source="cue" if cut.disc else None)


def _track_facts(album_order: Sequence[TrackMeta]) -> list[TrackFacts]:
    return [
        TrackFacts(id=t.id, name=t.name, disc=t.disc_number, number=t.track_number,
                   position=index, duration=t.duration_ms / 1000 if t.duration_ms else None)
        for index, t in enumerate(album_order, start=1)
    ]


# Problems that already name their group (a CUE image that is not there is "missing").
_GROUPED = ("missing:", "corrupt:", "not imported:")


def _problem_reason(h: Health) -> str:
    problem = h.problem or "unreadable"
    return problem if problem.startswith(_GROUPED) else f"corrupt: {problem}"


def _failure_reason(audio: AudioFile, h: Health, track: TrackMeta) -> str:
    if not h.ok:
        return _problem_reason(h)
    expected = (track.duration_ms or 0) / 1000
    found = audio.duration or 0.0
    text = f"duration {found:.0f}s, expected {expected:.0f}s"
    # Shorter than the track: an interrupted download or copy; the file is damaged. Longer:
    # another version of the song (live, extended), a sound file that is just not this track.
    return f"corrupt: {text}" if found < expected else text


def _assemble(real_dir: Path, album: AlbumMeta, requested: list[TrackMeta],
              album_order: list[TrackMeta], audio: list[AudioFile], health: list[Health],
              result: MatchResult, rejected: list[RejectedFile], *, threshold: float,
              cuts: Mapping[str, CutInfo]) -> ImportPlan:
    wanted = {t.id for t in requested}
    matches: list[PlannedMatch] = []
    failed: dict[str, str] = {}
    notes: dict[str, Unmatched] = {}
    file_fate: dict[int, RejectedFile] = {}
    cut = logit(threshold)
    for ti, track in enumerate(album_order):
        pair = result.matched.get(ti)
        if pair is not None:
            if track.id in wanted:
                matches.append(PlannedMatch(audio[pair.file], track, pair.confidence, pair.signals, pair.evidence))
            else:
                file_fate[pair.file] = RejectedFile(
                    audio[pair.file].rel, f"not requested: matches {track_label(track)}",
                    track.id, pair.confidence, pair.signals, pair.evidence)
            continue
        explained = result.explained.get(ti)
        closest = result.best_for_track.get(ti)
        reason = MISSING
        if ti in result.ambiguous:
            reason = f"ambiguous: its file fits {track_label(album_order[result.ambiguous[ti]])} as well"
            note = Unmatched(track.id, reason, "ambiguous")
        elif explained is not None:
            reason = _failure_reason(audio[explained.file], health[explained.file], track)
            field = "file" if not health[explained.file].ok else "duration"
            file_fate[explained.file] = RejectedFile(
                audio[explained.file].rel, f"{reason} (looks like {track_label(track)})",
                track.id, explained.confidence, explained.signals, explained.evidence, field)
            note = Unmatched(track.id, reason, field, audio[explained.file].rel, explained.confidence,
                             explained.evidence)
        elif closest is not None:
            note = Unmatched(track.id, reason, decided_by(closest, healthy=health[closest.file].ok, cut=cut),
                             audio[closest.file].rel, closest.confidence, closest.evidence)
        else:
            note = Unmatched(track.id, reason)
        if track.id in wanted:
            failed[track.id] = reason
            notes[track.id] = note

    taken = {m.file.rel for m in matches}
    for fi, a in enumerate(audio):
        if a.rel in taken:
            continue
        if fi not in file_fate:
            file_fate[fi] = _unassigned_reason(fi, a, health[fi], result, album_order, threshold)
        rejected.append(file_fate[fi])
    rejected.sort(key=lambda r: r.file)
    order = {t.id: i for i, t in enumerate(requested)}
    matches.sort(key=lambda m: order[m.track.id])
    failed = {t.id: failed[t.id] for t in requested if t.id in failed}
    unmatched = tuple(notes[t] for t in failed)
    return ImportPlan(real_dir, album, tuple(requested), tuple(matches), failed, tuple(rejected), dict(cuts),
                      unmatched)


def _unassigned_reason(fi: int, a: AudioFile, h: Health, result: MatchResult,
                       album_order: list[TrackMeta], threshold: float) -> RejectedFile:
    best = result.best_for_file.get(fi)
    if not h.ok:
        return RejectedFile(a.rel, _problem_reason(h), decided_by="file")
    if best is None:
        return RejectedFile(a.rel, "no track to match")
    label = track_label(album_order[best.track])
    field = decided_by(best, healthy=True, cut=logit(threshold))
    if best.track in result.ambiguous:
        other = track_label(album_order[result.ambiguous[best.track]])
        reason = f"ambiguous: fits {label} and {other} alike"
        field = "ambiguous"
    elif best.track in result.matched and best.confidence >= threshold and best.duration_ok:
        reason = f"another file fits {label} better"
    else:
        reason = f"no confident match (best: {label})"
    return RejectedFile(a.rel, reason, None, best.confidence, best.signals, best.evidence, field)
