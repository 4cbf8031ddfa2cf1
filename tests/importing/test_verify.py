"""Verification of real files: healthy ones pass, damaged ones say why."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.hostile import hostile_wav
from torrentino_bridge.importing.discovery import AudioFile, inspect_file
from torrentino_bridge.importing.verify import verify_file
from torrentino_bridge.sim.audio import AudioKind, write_audio


def audio_file(path: Path) -> AudioFile:
    found = inspect_file(path, path.name, path.stat().st_size)
    assert isinstance(found, AudioFile)
    return found


def make(tmp_path: Path, kind: AudioKind, *, secs: float = 6.0, rate: int = 8000) -> Path:
    return write_audio(tmp_path / f"a.{kind}", kind=kind, duration_secs=secs, sample_rate=rate, seed=3)


@pytest.mark.parametrize("kind", ["ogg", "flac", "mp3"])
def test_healthy_files_pass_with_a_decode(tmp_path: Path, kind: AudioKind) -> None:
    health = verify_file(audio_file(make(tmp_path, kind)))
    assert health.ok and health.decoded and health.problem is None


@pytest.mark.parametrize("kind", ["flac", "mp3"])
def test_truncated_file_whose_header_claims_full_length_fails(tmp_path: Path, kind: AudioKind) -> None:
    path = make(tmp_path, kind, rate=22050)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 7 // 10])
    found = audio_file(path)
    assert found.duration == pytest.approx(6.0, abs=0.1)       # the header still says 6 s
    health = verify_file(found)
    assert not health.ok
    assert health.problem is not None


@pytest.mark.parametrize("cut", [0.5, 0.7, 0.95])
def test_truncated_ogg_fails_even_when_it_decodes(tmp_path: Path, cut: float) -> None:
    path = make(tmp_path, "ogg", secs=8.0, rate=22050)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    health = verify_file(audio_file(path))
    assert not health.ok
    assert health.problem is not None and health.problem.startswith("truncated")


def test_ogg_cut_exactly_at_a_page_boundary_fails(tmp_path: Path) -> None:
    path = make(tmp_path, "ogg", secs=8.0, rate=22050)
    data = path.read_bytes()
    boundary = data.rindex(b"OggS", 0, len(data) * 2 // 3)
    path.write_bytes(data[:boundary])
    found = audio_file(path)
    assert found.duration is not None and found.duration < 7.0      # valid, only shorter
    assert verify_file(found).problem == "truncated (the stream has no end page)"


def test_ogg_with_garbage_inside_fails(tmp_path: Path) -> None:
    path = make(tmp_path, "ogg", secs=8.0, rate=22050)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 500] = random.Random(7).randbytes(500)
    path.write_bytes(bytes(data))
    health = verify_file(audio_file(path))
    assert not health.ok
    assert health.problem is not None and health.problem.startswith("damaged")


def test_flac_with_garbage_at_a_probe_point_fails(tmp_path: Path) -> None:
    path = make(tmp_path, "flac", secs=8.0, rate=22050)
    data = bytearray(path.read_bytes())
    quarter = len(data) // 4
    data[quarter:quarter + 800] = random.Random(8).randbytes(800)
    path.write_bytes(bytes(data))
    assert not verify_file(audio_file(path)).ok


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"", "empty file"), (random.Random(1).randbytes(4000), "unreadable header")],
)
def test_empty_and_unreadable_files_fail(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "x.flac"
    path.write_bytes(content)
    health = verify_file(audio_file(path))
    assert not health.ok and health.problem is not None and health.problem.startswith(problem)


# Run in a fresh interpreter: the peak resident size (VmHWM) is reset just before the
# check (clear_refs 5), so the rise is what verification alone needed.
_RSS_PROBE = """
import json, sys
from pathlib import Path
from torrentino_bridge.importing.discovery import inspect_file
from torrentino_bridge.importing.verify import verify_file

def kib(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))

path = Path(sys.argv[1])
found = inspect_file(path, path.name, path.stat().st_size)
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = kib("VmRSS")
except OSError:
    before = kib("VmHWM")
health = verify_file(found)
print(json.dumps({"rise_kib": kib("VmHWM") - before, "ok": health.ok, "problem": health.problem}))
"""


def _verify_in_child(path: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _RSS_PROBE, str(path)], capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize(("rate", "problem"), [
    (2_000_000_000, "absurd header (sample rate 2000000000 Hz)"),
    (768_000, None),       # a rate real files have: decoded, but in bounded reads
])
def test_a_hostile_header_cannot_make_verification_read_the_whole_file(
        tmp_path: Path, rate: int, problem: str | None) -> None:
    """Regression (issue 12): each "one second" probe read rate x 1 s frames, so a WAV
    claiming 2 GHz had its whole 64 MiB body decoded as floats, five times (RSS +256 MiB),
    and was then called healthy."""
    path = hostile_wav(tmp_path / "01 - Song.wav", 64 << 20, rate=rate)
    result = _verify_in_child(path)
    assert result["rise_kib"] < 30 * 1024, result
    if problem is not None:
        assert (result["ok"], result["problem"]) == (False, problem)
