"""An admin's own search for a download (force-search), as a CreateTicket body (pure).

Quentin Torrentino has no force-search route: searching again means a new ticket whose
`query_context.description` is the admin's query (QT searches with the description), and
whose `expected.artist`/`title` may be corrected too (QT scores candidates against them).
"""

from __future__ import annotations

import copy
import unicodedata
from dataclasses import dataclass
from typing import Any

MAX_QUERY = 500
MAX_NAME = 300


@dataclass(frozen=True, slots=True)
class SearchQuery:
    description: str
    artist: str | None = None     # None: keep what the catalog said
    title: str | None = None


# Control characters and line breaks would make the search text something else than what
# the admin sees; other characters (accents, non-breaking spaces, emoji) are names' own.
_FORBIDDEN = frozenset({"Cc", "Zl", "Zp"})


def query_problem(text: str, what: str, maximum: int) -> str | None:
    """Why `text` cannot go into a ticket's query, or None."""
    if not text.strip():
        return f"{what} must not be empty"
    if len(text) > maximum:
        return f"{what} must be at most {maximum} characters"
    if any(unicodedata.category(c) in _FORBIDDEN for c in text):
        return f"{what} must be one line of text (no control characters)"
    return None


def with_search(body: dict[str, Any], search: SearchQuery) -> dict[str, Any]:
    """A copy of a CreateTicket body that searches for `search` instead."""
    out = copy.deepcopy(body)
    context = out.setdefault("query_context", {})
    context["description"] = search.description
    expected = context.get("expected")
    if isinstance(expected, dict):
        if search.artist is not None:
            expected["artist"] = search.artist
        if search.title is not None:
            expected["title"] = search.title
    return out


def search_of(body: dict[str, Any]) -> dict[str, str | None]:
    """What a ticket body searches for: description, expected artist and title."""
    context = body.get("query_context") if isinstance(body, dict) else None
    context = context if isinstance(context, dict) else {}
    expected = context.get("expected") if isinstance(context.get("expected"), dict) else {}

    def text(value: Any) -> str | None:
        return value if isinstance(value, str) else None

    return {"description": text(context.get("description")), "artist": text(expected.get("artist")),
            "title": text(expected.get("title"))}
