"""Title normalisation and similarity (pure).

Torrent names and catalog names spell the same song differently: case, accents,
punctuation, `&` for `and`, a `feat.` part on one side only, a `(Remastered 2011)` or
`- 2011 Remaster` suffix that says which edition, not which song. These are removed
before comparing; words that name a different recording (live, remix, demo, acoustic)
are kept, because that file is not the catalog's track.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from functools import lru_cache

# Edition words: a bracketed group or a " - " tail made only of these is dropped.
_EDITION_WORD = (
    r"(?:re-?master(?:ed)?|digital(?:ly)?|deluxe|expanded|anniversary|edition|version|"
    r"bonus|track|album|lp|explicit|mono|stereo|mix|original|from|the|\d{1,4}(?:st|nd|rd|th)?|"
    r"(?:19|20)\d\d)"
)
# At least one of these must appear, so "(Live)" or "- Radio Edit" are never dropped.
_EDITION_KEY = r"(?:re-?master(?:ed)?|deluxe|bonus|album version|lp version|explicit)"

# Words that name another recording of a song than the album's: a file whose title has
# one the catalog's title lacks is a different track (kept by normalise_title as well).
_VERSION = re.compile(
    r"\b(live|remix(?:ed)?|rmx|demo|acoustic|unplugged|instrumental|karaoke|a ?cappella|rehearsal|"
    r"outtake|alternate|extended|edit|reprise|dub|cover|orchestral|stripped|bootleg|session)\b")
_BRACKETED = re.compile(r"[\(\[\{]([^\)\]\}]*)[\)\]\}]")
_DASH_TAIL = re.compile(r"\s[-–—]\s(.+)$")
_FEAT_BRACKETED = re.compile(r"[\(\[]\s*(?:feat|ft|featuring|with)\b\.?[^\)\]]*[\)\]]", re.I)
_FEAT_TAIL = re.compile(r"\s(?:feat|ft|featuring)\b\.?\s.*$", re.I)
_EDITION_ONLY = re.compile(rf"^\s*(?:{_EDITION_WORD}[\s.,:/-]*)+$", re.I)
_HAS_KEY = re.compile(_EDITION_KEY, re.I)
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def _is_edition(text: str) -> bool:
    return bool(_HAS_KEY.search(text)) and bool(_EDITION_ONLY.match(text))


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=8192)
def normalise_title(title: str) -> str:
    """A comparable form: lower case, no accents, no feat./edition parts, words only."""
    text = strip_accents(title).casefold()
    text = _FEAT_BRACKETED.sub(" ", text)
    text = _BRACKETED.sub(lambda m: " " if _is_edition(m.group(1)) else f" {m.group(1)} ", text)
    tail = _DASH_TAIL.search(text)
    if tail and _is_edition(tail.group(1)):
        text = text[: tail.start()]
    text = _FEAT_TAIL.sub(" ", text)
    text = text.replace("&", " and ").replace("+", " and ")
    return " ".join(_NON_WORD.sub(" ", text).split())


def title_similarity(a: str | None, b: str | None) -> float | None:
    """How close a file's title `a` is to the catalog's title `b`: 0..1, or None when
    either side has no comparable text."""
    if not a or not b:
        return None
    na, nb = normalise_title(a), normalise_title(b)
    if not na or not nb:
        return None
    if na == nb:
        return 1.0
    if na.replace(" ", "") == nb.replace(" ", ""):
        return 0.98
    best = SequenceMatcher(None, na, nb, autojunk=False).ratio()
    ta, tb = " ".join(sorted(na.split())), " ".join(sorted(nb.split()))
    if ta != na or tb != nb:
        best = max(best, SequenceMatcher(None, ta, tb, autojunk=False).ratio())
    # File "Exit Music" vs catalog "Exit Music (For a Film)": the file left the bracket out.
    # Only fair evidence, below an exact spelling, since "Run" vs "Run (Reprise)" looks the
    # same; and never when the file has a bracket of its own ("Run (Live)" is not "Run").
    plain = _unbracketed(a)
    if best < _BRACKETS_EQUAL and plain and plain == na and plain == _unbracketed(b):
        best = _BRACKETS_EQUAL
    return best


_BRACKETS_EQUAL = 0.8


@lru_cache(maxsize=8192)
def _unbracketed(title: str) -> str:
    return normalise_title(_BRACKETED.sub(" ", title))


def version_words(text: str) -> frozenset[str]:
    """The version words (live, remix, demo...) in a title, normalised."""
    return frozenset(m.group(1).replace(" ", "") for m in _VERSION.finditer(normalise_title(text)))
