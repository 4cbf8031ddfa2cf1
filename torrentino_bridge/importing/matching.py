"""Which file is which track (pure): evidence scoring and the global assignment.

Every (file, track) pair gets a score in log-odds: a prior from the album size, plus what
each signal says for or against (numbers from tags and from the path, title similarity,
duration, the album tag). A signal that is absent says nothing; one that disagrees
counts against. The confidence is the logistic of the score.

A file name's title text is read against the album (name_titles.py: the artist's and the
album's names, year and format tags, a release group's tag are cut off before titles are
compared, so "01-the_examples-neon_lights-grp" is "neon lights"). A word naming
another recording (live, remix, demo, acoustic...) in the file's title or album tag that
the catalog's title (and album name) lacks rules the pair out: that file is not the
catalog's track, whatever its number and length say.

A file whose tags and name point at different tracks of the album contradicts itself (a
renamed copy, or bad tags). Its name is then set aside and the contradiction counts
against it: it may only go to the track its tag title names, on the tags' and duration's
evidence; with no tag title it goes nowhere.

The assignment runs twice:
1. healthy files whose duration fits, pairs at or above the threshold, globally best;
   two pairs whose files could be swapped at almost no cost are a coin flip, and both
   tracks are left without a file;
2. for tracks still without a file, the files that failed a check (corrupt, wrong
   duration), scored without duration. A pair found here explains the failure
   ("corrupt: ...", "duration 3s, expected 240s") instead of a bare "missing"; such a
   file is never imported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from .assignment import max_weight_matching
from .name_titles import known_forms, name_titles
from .names import NameInfo
from .titles import normalise_title, title_similarity, version_words


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What matching knows about one file."""

    rel: str
    name: NameInfo
    tag_title: str | None = None
    tag_album: str | None = None
    tag_track: int | None = None
    tag_disc: int | None = None
    duration: float | None = None
    side_position: int | None = None      # album-wide position from a vinyl side name
    healthy: bool = True                  # decodes and is non-empty (verification)
    problem: str | None = None            # why it is not healthy


@dataclass(frozen=True, slots=True)
class TrackFacts:
    id: str
    name: str
    disc: int
    number: int
    position: int                         # 1-based position in the whole album
    duration: float | None


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one signal said about a pair, and how much it counted (log-odds)."""

    field: str                            # number, title, duration, album, version, conflict
    detail: str                           # "name #3 agrees", "0.41 similar", "0.2s apart"
    weight: float


@dataclass(frozen=True, slots=True)
class PairScore:
    file: int
    track: int
    logit: float
    confidence: float
    signals: tuple[str, ...]
    duration_ok: bool
    contradicted: bool = False            # the file's own tags say it is another track
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class MatchResult:
    matched: dict[int, PairScore] = field(default_factory=dict)      # track index -> pair
    explained: dict[int, PairScore] = field(default_factory=dict)    # track index -> failed pair
    best_for_file: dict[int, PairScore] = field(default_factory=dict)
    best_for_track: dict[int, PairScore] = field(default_factory=dict)
    # Tracks whose file could as well be another matched track's (and the other way
    # round): a coin flip, so neither gets a file. track index -> the other track index.
    ambiguous: dict[int, int] = field(default_factory=dict)


# Log-likelihood contributions. Numbers and titles are strong; duration is supporting
# evidence (many tracks share a length); the album tag only nudges.
_NUMBER_AGREE = 4.0
_NUMBER_AGREE_AMBIGUOUS = 2.0
_NUMBER_DISAGREE = -3.0
_DURATION_MAX = 2.0
_ALBUM_AGREE = 0.5
_ALBUM_DISAGREE = -1.0
# A file whose tags and name disagree: whatever it is matched to, it is less certain.
_CONFLICT = -3.0
# A title this close names that track ("same song spelled differently", titles.py).
_CLAIM_SIMILARITY = 0.85
# The file's title names another recording of the song (live, remix...): outweighs an
# agreeing number, length, title and album together.
_OTHER_VERSION = -9.0



def logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def title_llr(similarity: float) -> float:
    """Same song spelled differently lands above 0.85; different songs sharing a word or
    two land around 0.4-0.65, and that must outweigh an agreeing track number."""
    if similarity >= 0.95:
        return 5.0
    return max(-6.0, min(4.2, 26.0 * (similarity - 0.75)))


def duration_llr(diff: float, tolerance: float) -> float:
    if tolerance <= 0:
        return _DURATION_MAX if diff <= 0.5 else -1.0
    return max(-1.0, _DURATION_MAX * (1.0 - diff / tolerance))


# A numbering hypothesis: alternatives (disc or None, number or None, album position or
# None); the hypothesis agrees with a track when any alternative does.
_Alt = tuple[int | None, int | None, int | None]


def _hypotheses(f: FileFacts, discs: dict[int, int], total: int) -> list[tuple[str, list[_Alt]]]:
    found: list[tuple[str, list[_Alt]]] = []
    if f.tag_track:
        found.append(("tag", [(f.tag_disc, f.tag_track, None)]))
    info = f.name
    if f.side_position is not None:
        found.append(("side", [(None, None, f.side_position)]))
    elif info.number is not None:
        if info.packed and info.disc is None:
            alts: list[_Alt] = []
            disc, number = divmod(info.number, 100)
            if disc in discs and 1 <= number <= discs[disc]:
                alts.append((disc, number, None))
            if info.number <= total:
                alts.append((None, info.number, None))
            if alts:
                found.append(("name", alts))
        else:
            found.append(("name", [(info.disc, info.number, None)]))
    return found


def _agrees(alts: list[_Alt], t: TrackFacts) -> bool:
    for disc, number, position in alts:
        if position is not None:
            if position == t.position:
                return True
            continue
        if disc is not None and disc != t.disc:
            continue
        if number == t.number or number == t.position:
            return True
    return False


@dataclass(frozen=True, slots=True)
class _Conflict:
    allowed: frozenset[int]               # tracks the tag title names; empty: none at all
    text: str


def _conflict(tag_title: set[int], tag_number: set[int], name_title: set[int], name_number: set[int],
              tracks: Sequence[TrackFacts]) -> _Conflict | None:
    """Do the file's tags and name point at different tracks? Titles are compared when both
    name a track (wrong tag numbers next to agreeing titles are no conflict); otherwise one
    track in common will do (another edition's "01" in both the name and the tag number)."""
    if tag_title and name_title:
        tags, name = tag_title, name_title
    else:
        tags, name = tag_title | tag_number, name_title | name_number
    if not tags or not name or tags & name:
        return None

    def label(ids: set[int]) -> str:
        return " or ".join(f"{tracks[i].number} {tracks[i].name}" for i in sorted(ids))

    # The tags travel with the audio, the name is whatever someone renamed it to: a tag title
    # outweighs the name. A bare tag number does not, and the name never outweighs the tags.
    return _Conflict(frozenset(tag_title), f"tags say {label(tags)}, name says {label(name)}")


def _describe(source: str, alts: list[_Alt]) -> str:
    disc, number, position = alts[0]
    if position is not None:
        return f"{source} pos {position}"
    return f"{source} {disc}-{number:02d}" if disc is not None else f"{source} #{number}"


class Scorer:
    """Scores pairs for one album; precomputes the album's shape and each file's numbering."""

    def __init__(self, files: Sequence[FileFacts], tracks: Sequence[TrackFacts], *,
                 album_name: str | None, tolerance: float, known_names: Sequence[str] = ()) -> None:
        self.files, self.tracks = files, tracks
        self.album_name = album_name
        self.tolerance = tolerance
        known = known_forms([*known_names, *([album_name] if album_name else [])])
        discs: dict[int, int] = {}
        for t in tracks:
            discs[t.disc] = max(discs.get(t.disc, 0), t.number)
        self.prior = -math.log(max(len(tracks) - 1, 1))
        self.hyps = [_hypotheses(f, discs, len(tracks)) for f in files]
        # How many tracks each hypothesis fits: one = decisive, several = ambiguous.
        self.fits = [[sum(_agrees(alts, t) for t in tracks) for _, alts in h] for h in self.hyps]
        self.tag_sims = [[title_similarity(f.tag_title, t.name) for t in tracks] for f in files]
        candidates = [name_titles(f.name, known) for f in files]
        self.name_sims = [[max((s for s in (title_similarity(c, t.name) for c in cands)
                                if s is not None), default=None) for t in tracks] for cands in candidates]
        # Version words of each file (its name's title text and tag title) and of each
        # catalog title; words the album's or artist's name holds are no evidence.
        context = version_words(" ".join(known))
        self.file_versions = [(version_words(" ".join(f.name.parts or f.name.titles[:1]))
                               | version_words(f.tag_title or "") | version_words(f.tag_album or "")) - context
                              for f in files]
        self.track_words = [set(normalise_title(t.name).split()) for t in tracks]
        self.conflicts = [self._find_conflict(fi) for fi in range(len(files))]

    def _find_conflict(self, fi: int) -> _Conflict | None:
        def titled(sims: list[float | None]) -> set[int]:
            return {ti for ti, s in enumerate(sims) if s is not None and s >= _CLAIM_SIMILARITY}

        def numbered(tag: bool) -> set[int]:
            return {ti for ti, t in enumerate(self.tracks)
                    if any(_agrees(alts, t) for source, alts in self.hyps[fi] if (source == "tag") == tag)}

        return _conflict(titled(self.tag_sims[fi]), numbered(True), titled(self.name_sims[fi]),
                         numbered(False), self.tracks)

    def score(self, fi: int, ti: int, *, use_duration: bool = True) -> PairScore:
        f, t = self.files[fi], self.tracks[ti]
        total = self.prior
        signals: list[str] = []
        evidence: list[Evidence] = []
        # A file contradicting itself is judged on its tags and duration alone (see _conflict).
        conflict = self.conflicts[fi]
        trust_name = conflict is None

        verdicts = []
        said = []
        for (source, alts), fits in zip(self.hyps[fi], self.fits[fi], strict=True):
            if source != "tag" and not trust_name:
                continue
            agrees = _agrees(alts, t)
            verdicts.append(("strong" if fits == 1 else "weak") if agrees else "no")
            signals.append(_describe(source, alts) + (" ok" if agrees else " no"))
            said.append(_describe(source, alts) + (" agrees" if agrees else " disagrees"))
        if verdicts:
            weight = 0.0
            if "no" not in verdicts:
                weight = _NUMBER_AGREE if "strong" in verdicts else _NUMBER_AGREE_AMBIGUOUS
            elif all(v == "no" for v in verdicts):
                weight = _NUMBER_DISAGREE
            total += weight
            evidence.append(Evidence("number", ", ".join(said), weight))

        sims = [s for s in (self.tag_sims[fi][ti], self.name_sims[fi][ti] if trust_name else None)
                if s is not None]
        if sims:
            best = max(sims)
            weight = title_llr(best)
            total += weight
            signals.append(f"title {best:.2f}")
            evidence.append(Evidence("title", f"{best:.2f} similar", weight))

        duration_ok = True
        if f.duration is not None and t.duration is not None:
            diff = abs(f.duration - t.duration)
            duration_ok = diff <= self.tolerance
            weight = duration_llr(diff, self.tolerance) if use_duration and duration_ok else 0.0
            total += weight
            signals.append(f"dur {'' if duration_ok else 'off '}{diff:.1f}s")
            evidence.append(Evidence("duration", f"{diff:.1f}s apart" + ("" if duration_ok else
                                     f", over the {self.tolerance:g}s tolerance"), weight))
        elif f.duration is not None and f.duration <= 0:
            duration_ok = False
            evidence.append(Evidence("duration", "no audio", 0.0))

        if f.tag_album and self.album_name:
            sim = title_similarity(f.tag_album, self.album_name)
            if sim is not None and sim >= 0.85:
                total += _ALBUM_AGREE
                evidence.append(Evidence("album", f"album tag {f.tag_album!r} agrees", _ALBUM_AGREE))
            elif sim is not None and sim < 0.5:
                total += _ALBUM_DISAGREE
                signals.append("album tag differs")
                evidence.append(Evidence("album", f"album tag {f.tag_album!r} differs", _ALBUM_DISAGREE))

        other = self.file_versions[fi] - self.track_words[ti]
        if other:
            total += _OTHER_VERSION
            signals.append(f"another version ({', '.join(sorted(other))})")
            evidence.append(Evidence("version", f"another version ({', '.join(sorted(other))})", _OTHER_VERSION))

        contradicted = False
        if conflict is not None:
            total += _CONFLICT
            contradicted = ti not in conflict.allowed
            signals.append(conflict.text)
            evidence.append(Evidence("conflict", conflict.text, _CONFLICT))
        return PairScore(fi, ti, total, logistic(total), tuple(signals), duration_ok, contradicted,
                         tuple(evidence))


def match(files: Sequence[FileFacts], tracks: Sequence[TrackFacts], *, album_name: str | None,
          tolerance: float, threshold: float, known_names: Sequence[str] = ()) -> MatchResult:
    """Assign files to tracks one-to-one; see the module docstring for the two passes.
    `known_names`: the album's and tracks' artists, whose names in a file name are no title."""
    if not files or not tracks:
        return MatchResult()
    scorer = Scorer(files, tracks, album_name=album_name, tolerance=tolerance, known_names=known_names)
    cut = logit(threshold)
    scores = [[scorer.score(fi, ti) for ti in range(len(tracks))] for fi in range(len(files))]

    def eligible(s: PairScore) -> bool:
        return files[s.file].healthy and s.duration_ok and not s.contradicted and s.logit >= cut

    # Weights are log-odds above the cut, so every chosen pair clears the threshold.
    weights = [[(s.logit - cut + 1e-6) if eligible(s) else None for s in row] for row in scores]
    first = max_weight_matching(_transpose(weights, len(tracks)))
    ambiguous = _coin_flips(first, weights)
    matched = {ti: scores[fi][ti] for ti, fi in first.items() if ti not in ambiguous}

    used_files = set(first.values())
    second_files = [fi for fi in range(len(files)) if fi not in used_files]
    second_tracks = [ti for ti in range(len(tracks)) if ti not in matched and ti not in ambiguous]
    explain_scores: dict[tuple[int, int], PairScore] = {}
    weights2: list[list[float | None]] = []
    for ti in second_tracks:
        row: list[float | None] = []
        for fi in second_files:
            s = scores[fi][ti]
            if files[fi].healthy and s.duration_ok:
                row.append(None)      # was eligible in pass 1 on its merits; not a failure
                continue
            s = scorer.score(fi, ti, use_duration=False)
            explain_scores[(fi, ti)] = s
            row.append(s.logit - cut + 1e-6 if s.logit >= cut and not s.contradicted else None)
        weights2.append(row)
    second = max_weight_matching(weights2)
    explained = {second_tracks[r]: explain_scores[(second_files[c], second_tracks[r])]
                 for r, c in second.items()}

    best_for_file = {}
    for fi, row in enumerate(scores):
        best_for_file[fi] = max(row, key=lambda s: (not s.contradicted, s.logit, -s.track))
    # The closest file of each track, among the files no track took when there are any.
    free = [fi for fi in range(len(files)) if fi not in set(first.values())] or list(range(len(files)))
    best_for_track = {ti: max((scores[fi][ti] for fi in free), key=lambda s: (not s.contradicted, s.logit, -s.file))
                      for ti in range(len(tracks))}
    return MatchResult(matched=matched, explained=explained, best_for_file=best_for_file,
                       best_for_track=best_for_track, ambiguous=ambiguous)


# Two matched pairs whose files could be swapped for less than this (in log-odds) are
# told apart by nothing solid: two "Intro" tracks and two "Intro" files of equal length.
AMBIGUITY_MARGIN = 1.0


def _coin_flips(assigned: dict[int, int], weights: list[list[float | None]]) -> dict[int, int]:
    pairs = sorted(assigned.items())
    flips: dict[int, int] = {}
    for a, (ta, fa) in enumerate(pairs):
        for tb, fb in pairs[a + 1:]:
            cross_a, cross_b = weights[fa][tb], weights[fb][ta]
            if cross_a is None or cross_b is None:
                continue
            kept = weights[fa][ta] + weights[fb][tb]  # type: ignore[operator]
            if kept - (cross_a + cross_b) < AMBIGUITY_MARGIN:
                flips.setdefault(ta, tb)
                flips.setdefault(tb, ta)
    return flips


def _transpose(weights: list[list[float | None]], width: int) -> list[list[float | None]]:
    return [[row[ti] for row in weights] for ti in range(width)]
