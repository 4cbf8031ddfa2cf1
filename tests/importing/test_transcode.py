"""Converting downloaded files to Ogg Vorbis for the pezzottify layout (real encoded audio)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
import soundfile

from torrentino_bridge.importing import transcode
from torrentino_bridge.importing.transcode import FFMPEG, SNDFILE, ConversionError
from torrentino_bridge.sim.audio import write_audio


def wav(path: Path, secs: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = int(secs * 8000)
    with soundfile.SoundFile(str(path), "w", samplerate=8000, channels=2, format="WAV") as out:
        out.write([[0.1, -0.1]] * frames)
    return path


@pytest.mark.parametrize("kind", ["flac", "mp3"])
def test_sources_libsndfile_decodes_become_verified_vorbis(tmp_path: Path, kind: str) -> None:
    src = write_audio(tmp_path / "in" / f"a.{kind}", kind=kind, duration_secs=3)  # type: ignore[arg-type]
    assert transcode.how_to_convert(src) == SNDFILE
    tmp = tmp_path / "lib" / ".tb-import-x-a.ogg.part"
    made = transcode.convert_to_temp(src, tmp, root=tmp_path / "lib", via=SNDFILE, quality=0.9)
    info = soundfile.info(str(tmp))
    assert (info.format, info.subtype) == ("OGG", "VORBIS")
    assert abs(info.duration - 3) < 0.2
    assert made.ino == os.stat(tmp).st_ino
    assert src.exists()          # the source stays for the leftovers clean-up


def test_wav_and_stereo(tmp_path: Path) -> None:
    src = wav(tmp_path / "in" / "b.wav", 2)
    tmp = tmp_path / "lib" / "b.part"
    transcode.convert_to_temp(src, tmp, root=tmp_path / "lib", via=SNDFILE, quality=0.5)
    assert soundfile.info(str(tmp)).channels == 2


def test_ogg_vorbis_is_moved_as_it_is(tmp_path: Path) -> None:
    src = write_audio(tmp_path / "c.ogg", kind="ogg", duration_secs=1)
    assert transcode.how_to_convert(src) is None


def test_what_libsndfile_cannot_read_needs_ffmpeg_and_fails_clearly_without_it(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "d.m4a"
    src.write_bytes(b"\x00\x00\x00\x20ftypM4A " + os.urandom(4000))
    assert transcode.how_to_convert(src) == FFMPEG
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    tmp = tmp_path / "lib" / "d.part"
    with pytest.raises(ConversionError, match=r"^cannot convert m4a to Ogg Vorbis: ffmpeg is not installed$"):
        transcode.convert_to_temp(src, tmp, root=tmp_path / "lib", via=FFMPEG, quality=0.9)
    assert not tmp.exists()


def test_ffmpeg_on_path_is_used_and_its_output_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in ffmpeg (this machine has none): it writes real Ogg Vorbis with libsndfile
    from the arguments ffmpeg gets, so the call, its arguments and the verification run."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "ffmpeg"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\nfrom pathlib import Path\nfrom torrentino_bridge.sim.audio import write_audio\n"
        "args = sys.argv[1:]\nassert args[args.index('-c:a') + 1] == 'libvorbis'\n"
        "assert args[args.index('-f') + 1] == 'ogg'\n"
        "write_audio(Path(args[-1]), kind='ogg', duration_secs=float(Path(args[args.index('-i') + 1]).read_text()))\n",
        encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    src = tmp_path / "e.m4a"
    src.write_text("2.0")      # the stand-in reads its duration from here; mutagen knows none
    tmp = tmp_path / "lib" / "e.part"
    transcode.convert_to_temp(src, tmp, root=tmp_path / "lib", via=FFMPEG, quality=0.9)
    assert soundfile.info(str(tmp)).format == "OGG"


def test_a_truncated_output_is_refused(tmp_path: Path) -> None:
    good = write_audio(tmp_path / "f.ogg", kind="ogg", duration_secs=3)
    cut = tmp_path / "g.ogg"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ConversionError):
        transcode.verify_vorbis(cut, 3.0)
    with pytest.raises(ConversionError, match="lasts"):
        transcode.verify_vorbis(good, 9.0)


_CONVERT_IN_A_CHILD = """
import sys
from pathlib import Path
from torrentino_bridge.importing import transcode
src, root = Path(sys.argv[1]), Path(sys.argv[2])
try:
    transcode.convert_to_temp(src, root / "audio" / "ab" / ".t.ogg.tmp", root=root,
                              via=transcode.how_to_convert(src) or "sndfile", quality=0.9)
    print("converted")
except transcode.ConversionError as err:
    print("refused:", err)
"""


def test_a_dxd_source_fails_its_track_and_never_kills_the_process(tmp_path: Path) -> None:
    """libsndfile's Vorbis encoder crashes the process (SIGSEGV) above about 200 kHz, and DXD
    rips (352.8 kHz) pass verification: the daemon died at every restart on such a file. It
    is refused as a failed track; run in a child, so a crash here shows as one."""
    import subprocess

    import numpy as np

    src = tmp_path / "01 Track.wav"
    soundfile.write(src, np.zeros((352_800, 2), dtype="float32"), 352_800, subtype="PCM_24")
    done = subprocess.run([sys.executable, "-c", _CONVERT_IN_A_CHILD, str(src), str(tmp_path / "root")],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert done.returncode == 0, f"the converting process died: {done.returncode} {done.stderr[-300:]}"
    assert "refused:" in done.stdout and "352800 Hz is above 192000 Hz" in done.stdout
