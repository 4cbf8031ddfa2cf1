"""What a file name says a track's title is, read against the album (pure).

names.py splits the text after the numbering at its dashes; here the parts that say
nothing about the title are cut from both ends: the artist's or the album's name (with or
without a leading "the"), years and formats (`2011`, `FLAC`, `WEB`, `320`), and, last, a
release group's tag (one short token). "01-the_examples-neon_lights-grp" reads "neon
lights"; "Neon Lights - The Examples" reads "Neon Lights". A part naming another version
(live, remix...) is never cut: that word is evidence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .names import NameInfo
from .titles import normalise_title, version_words

# Dash-separated parts of a name that say nothing about the title: years and formats.
_TAG_PART = re.compile(
    r"(?:19|20)\d\d|flac|mp3|ogg|aac|alac|web|webflac|cd|cdm|cdr|cds|vinyl|vls|lp|ep|320|256|v0|v2|"
    r"(?:16|24)bit|hi-?res|proper|repack|retail|promo|advance|int", re.I)
# A release group's tag ends scene names: one short token.
_GROUP_TAG = re.compile(r"[A-Za-z0-9]{2,12}")


def known_forms(names: Sequence[str]) -> frozenset[str]:
    """Normalised artist and album names, with and without a leading "the"."""
    found = set()
    for name in names:
        norm = normalise_title(name)
        if norm:
            found.add(norm)
            found.add(norm.removeprefix("the "))
    return frozenset(found)


def _explained(part: str, *, last: bool, known: frozenset[str]) -> bool:
    """Can this part of a name be left out of the title? (Never a word naming a version.)"""
    norm = normalise_title(part)
    if not norm or norm in known or norm.removeprefix("the ") in known:
        return True
    if version_words(part):
        return False
    return bool(_TAG_PART.fullmatch(part.strip())) or (last and bool(_GROUP_TAG.fullmatch(part.strip())))


def name_titles(info: NameInfo, known: frozenset[str]) -> tuple[str, ...]:
    """The parser's title candidates, plus the name's parts without the explained ones at
    either end (artist, album, year/format tags, a trailing group tag); never all of them."""
    parts = list(info.parts)
    if len(parts) < 2:
        return info.titles
    last = len(parts) - 1
    i, j = 0, len(parts)
    while j - i > 1 and _explained(parts[i], last=False, known=known):
        i += 1
    while j - i > 1 and _explained(parts[j - 1], last=j - 1 == last, known=known):
        j -= 1
    return tuple(dict.fromkeys([*info.titles, "-".join(parts[i:j])]))
