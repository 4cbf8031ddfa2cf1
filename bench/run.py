"""`make bench` / `python -m bench.run [name ...]`: every benchmark in one run, each
against its baseline taken in the same run; a table on stdout, one JSON file per
figure in bench/results/, and bench/results/summary.json with the machine's load.

names: events, completion, intake, readers, scale, import (default: all, in this order)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from . import completion, events, import_album, intake, readers, scale
from .common import RESULTS, Result, busy_fraction, machine

BENCHES: dict[str, Callable[[], Awaitable[Result | list[Result]]]] = {
    "events": events.run,
    "completion": completion.run,
    "intake": intake.run,
    "readers": readers.run,
    "scale": scale.run,
    "import": import_album.run,
}


def _baseline(r: Result) -> str:
    if r.baseline is None:
        return "-"
    unit = r.unit.split()[0]
    return f"{r.baseline:g} {unit} ({r.baseline_label})"


def table(results: list[Result]) -> str:
    rows = [("figure", "baseline (same run)", "measured", "target", "met")]
    for r in results:
        extra = ""
        if "ratio" in r.detail:
            extra = f" ({r.detail['ratio']:g}x)" if r.name == "reader_under_burst" else f" ({r.detail['ratio']:.0%})"
        elif r.name == "completion_to_available":
            extra = f" (p50 {r.detail['p50_ms']:g} ms)"
        elif r.name == "insert_to_post":
            extra = f" (p50 {r.detail['steady_p50_ms']:g} ms)"
        elif r.name == "import_album":
            extra = (f" (image+CUE {r.detail['image_import_median']:g} s; cut "
                     f"{r.detail['split_over_decode']:g}x one decode)")
        rows.append((r.figure, _baseline(r), f"{r.value:g} {r.unit}{extra}", r.target, "yes" if r.met else "NO"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for n, row in enumerate(rows):
        lines.append(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


async def main(names: list[str]) -> int:
    from torrentino_bridge.log import configure_logging

    configure_logging("warning", "json")
    before = {"busy_fraction_3s": busy_fraction(), **machine()}
    print(f"machine before: {json.dumps(before)}", flush=True)
    results: list[Result] = []
    started = time.monotonic()
    for name in names:
        print(f"running {name} ...", flush=True)
        t0 = time.monotonic()
        outcome = await BENCHES[name]()
        for r in outcome if isinstance(outcome, list) else [outcome]:
            r.detail["bench_secs"] = round(time.monotonic() - t0, 1)
            path = r.write()
            results.append(r)
            print(f"  {r.figure}: {r.value:g} {r.unit} -> {path.relative_to(RESULTS.parent.parent)}", flush=True)
    after = machine()
    summary: dict[str, Any] = {
        "machine_before": before, "machine_after": after, "total_secs": round(time.monotonic() - started, 1),
        "results": {r.name: {"value": r.value, "unit": r.unit, "target": r.target, "met": r.met,
                             "baseline": r.baseline} for r in results},
    }
    if names == list(BENCHES):
        (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print()
    print(table(results))
    print(f"\nload average before {before['loadavg']}, after {after['loadavg']}; "
          f"machine {before['busy_fraction_3s']:.0%} busy before the run ({os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    chosen = sys.argv[1:] or list(BENCHES)
    unknown = [n for n in chosen if n not in BENCHES]
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; choose from {list(BENCHES)}")
    sys.exit(asyncio.run(main(chosen)))
