"""How maintenance commands print their result: text for people, one JSON document for scripts.

The result goes to stdout; logs and the progress bar go to stderr, so `--json` output
stays parseable whatever else happens.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any


def emit(data: dict[str, Any], lines: Iterable[str], *, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    else:
        sys.stdout.write("".join(f"{line}\n" for line in lines))
    sys.stdout.flush()


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"
