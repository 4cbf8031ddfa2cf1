"""A 12-track album of real-size files, imported start to finish; the same album as one FLAC
image + CUE sheet; and what cutting costs per minute of audio against decoding the image once.

The album: 12 tracks of 4 minutes, 44.1 kHz 16-bit stereo FLAC (a tone under noise, so the
files are CD-rip sized, ~30 MB each), tagless, named `NN - Song Number N.flac`; the image is
the same 48 minutes in one FLAC with its sheet. Each figure is the median of ROUNDS runs in
a fresh process (bench/import_worker.py), cold: no prechecks, nothing in memory.

files   import of the 12 files: plan (discovery, decoding checks, matching), journal,
        renames, the catalog transaction. BENCH_BASELINE_TREE=<checkout> measures the same
        import with that checkout's code in the same run (e.g. main before this change).
image   the same import from the image + sheet, the cut included.
split   the cut alone (decode, FLAC encode, fsync), per minute of audio,
decode  against reading the image once (the least any cut must do), per minute of audio.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from .common import ROOT, Result

ROUNDS = 3
TRACKS, TRACK_SECS, RATE = 12, 240, 44_100
WORKER = Path(__file__).with_name("import_worker.py")


def make_album(template: Path) -> None:
    from torrentino_bridge.importing.cue import frames_text

    files, image = template / "files", template / "image"
    files.mkdir(parents=True)
    image.mkdir()
    rng = np.random.default_rng(7)
    lines = ['PERFORMER "The Benchmarks"', 'TITLE "Real Size"', 'FILE "Real Size.flac" WAVE']
    whole_path = str(image / "Real Size.flac")
    with soundfile.SoundFile(whole_path, "w", samplerate=RATE, channels=2, subtype="PCM_16") as whole:
        for n in range(1, TRACKS + 1):
            lines += [f"  TRACK {n:02d} AUDIO", f'    TITLE "Song Number {n}"',
                      f"    INDEX 01 {frames_text((n - 1) * TRACK_SECS * 75)}"]
            with soundfile.SoundFile(str(files / f"{n:02d} - Song Number {n}.flac"), "w", samplerate=RATE,
                                     channels=2, subtype="PCM_16") as out:
                for second in range(0, TRACK_SECS, 10):
                    t = np.arange(second * RATE, (second + 10) * RATE) / RATE
                    tone = 0.3 * np.sin(2 * np.pi * (200 + 30 * n) * t)
                    block = (tone[:, None] + rng.normal(0, 0.02, (len(t), 2))).astype(np.float32)
                    out.write(block)
                    whole.write(block)
    (image / "Real Size.cue").write_text("\n".join(lines) + "\n", encoding="utf-8")


def measure(mode: str, template: Path, tree: Path | None = None) -> list[float]:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    done = subprocess.run([sys.executable, str(WORKER), mode, str(template), str(ROUNDS)], cwd=tree or ROOT,
                          env=env, capture_output=True, text=True, timeout=1800, check=True)
    return list(json.loads(done.stdout.strip().splitlines()[-1])["secs"])


async def run() -> Result:
    baseline_tree = os.environ.get("BENCH_BASELINE_TREE")
    with tempfile.TemporaryDirectory(prefix="bench-album-") as tmp:
        template = Path(tmp)
        await asyncio.to_thread(make_album, template)
        size_mb = sum(p.stat().st_size for p in (template / "files").iterdir()) / 1e6
        files = await asyncio.to_thread(measure, "files", template)
        before = await asyncio.to_thread(measure, "files", template, Path(baseline_tree)) if baseline_tree else None
        image = await asyncio.to_thread(measure, "image", template)
        split = await asyncio.to_thread(measure, "split", template)
        decode = await asyncio.to_thread(measure, "decode", template)
    minutes = TRACKS * TRACK_SECS / 60
    value = statistics.median(files)
    baseline = statistics.median(before) if before else None
    split_pm, decode_pm = statistics.median(split) / minutes, statistics.median(decode) / minutes
    return Result(
        name="import_album", figure="12-track album import (real-size FLAC)", value=round(value, 3), unit="s",
        target="<= 1.1x the baseline tree's", met=baseline is None or value <= 1.1 * baseline,
        baseline=round(baseline, 3) if baseline else None, baseline_label=baseline_tree and "baseline tree",
        detail={"rounds": ROUNDS, "album_mb": round(size_mb, 1), "files_secs": files,
                "baseline_tree": baseline_tree, "baseline_files_secs": before,
                "image_import_secs": image, "image_import_median": round(statistics.median(image), 3),
                "split_secs": split, "decode_secs": decode,
                "split_secs_per_audio_minute": round(split_pm, 4), "decode_secs_per_audio_minute": round(decode_pm, 4),
                "split_over_decode": round(split_pm / decode_pm, 2)},
    )
