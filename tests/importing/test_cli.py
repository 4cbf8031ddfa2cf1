"""`torrentino-bridge import`: the dry run's table and JSON, real runs, exit codes, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import build_catalog
from torrentino_bridge.cli import main
from torrentino_bridge.importing.cli import manual_key

from .layouts import ALBUMS, CASES_BY_NAME, build_case


def write_config(base: Path, incoming: Path, *, layout: str = "plan") -> Path:
    catalog = base / "catalog.db"
    if not catalog.exists():
        build_catalog(catalog, list(ALBUMS.values()), layout=layout)
    (base / "media").mkdir(exist_ok=True)
    config = base / "bridge.toml"
    config.write_text(
        f'[catalog]\ndb = "{catalog}"\n\n[bridge]\ndb = "{base / "bridge.db"}"\n\n'
        f'[media]\nroot = "{base / "media"}"\nincoming = "{incoming}"\n'
        # The move machinery as such: the album folders and no conversion, whatever the layout
        # (the pezzottify defaults are tested in test_transcode.py and test_import.py).
        'path_template = "{album_id}/{disc_number}-{track_number:02d}.{ext}"\nconvert = "none"\n'
        "duration_tolerance_secs = 1.5\n\n[http]\nenabled = false\n\n[torrentino]\nenabled = false\n",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def shared_config(tmp_path: Path, layout_root: Path) -> Path:
    """A config whose incoming directory is the (read-only) session layout set."""
    return write_config(tmp_path, layout_root / "incoming")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--log-format", "json", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_dry_run_prints_the_match_table_and_moves_nothing(
        shared_config: Path, layout_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = layout_root / "incoming" / "bonus_and_missing"
    before = sorted(p.name for p in source.iterdir())
    code, out, _ = run(capsys, "import", "--config", str(shared_config), "--dir", str(source),
                       "--album", "nd", "--dry-run")
    assert code == 1                                  # a requested track would be missing
    lines = out.splitlines()
    assert lines[0].split() == ["FILE", "TRACK", "SIGNALS", "CONFIDENCE"]
    first = lines[1]
    assert first.startswith("01 - Neon Lights.flac") and "1 Neon Lights" in first
    assert "tag #1 ok" in first and "title 1.00" in first
    # Columns are aligned: every match row has its TRACK column where the header has it.
    track_col = lines[0].index("TRACK")
    assert all(line[track_col - 2:track_col] == "  " for line in lines[1:12])
    assert any(line.split()[:5] == ["7", "Exit", "Wounds", "nd-107", "missing"] for line in lines)
    # Each file set aside says which signal decided: here its title (and how much it counted).
    bonus = next(line for line in lines if line.strip().startswith("13 - Hidden Jam (Bonus Track).flac"))
    assert bonus.endswith("title: 0.11 similar (-6.0)")
    assert lines[-1] == "Dry run: 11 of 12 tracks would be imported; nothing was moved."
    assert sorted(p.name for p in source.iterdir()) == before
    assert not (shared_config.parent / "bridge.db").exists()
    assert list((shared_config.parent / "media").iterdir()) == []


def test_dry_run_json(shared_config: Path, layout_root: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    source = layout_root / "incoming" / "multi_disc_cd_folders"
    code, out, _ = run(capsys, "import", "--config", str(shared_config), "--dir", str(source),
                       "--album", "dd", "--dry-run", "--json")
    assert code == 0
    data = json.loads(out)
    assert {"matches", "unmatched_tracks", "rejected_files"} <= set(data)
    assert {m["file"]: m["track_id"] for m in data["matches"]} == CASES_BY_NAME[
        "multi_disc_cd_folders"].expected
    assert all(isinstance(m["confidence"], float) and 0.6 <= m["confidence"] <= 1 for m in data["matches"])
    assert data["unmatched_tracks"] == [] and data["rejected_files"] == []


def test_dry_run_json_reports_unmatched_and_rejected(shared_config: Path, layout_root: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    source = layout_root / "incoming" / "corrupt_files"
    code, out, _ = run(capsys, "import", "--config", str(shared_config), "--dir", str(source),
                       "--album", "nd", "--track", "nd-101", "--track", "nd-111", "--dry-run", "--json")
    assert code == 1
    data = json.loads(out)
    assert [m["track_id"] for m in data["matches"]] == ["nd-101"]
    assert data["unmatched_tracks"] == ["nd-111"]
    rejected = {r["file"]: r["reason"] for r in data["rejected_files"]}
    assert rejected["11 - The Long Goodbye.flac"].startswith("corrupt: does not decode")
    assert rejected["02 - Café Noir.flac"] == "not requested: matches 2 Café Noir"


@pytest.mark.parametrize("layout", ["plan", "pezzottify"])
def test_real_import_then_rerun(tmp_path: Path, layout: str, capsys: pytest.CaptureFixture[str]) -> None:
    incoming = tmp_path / "incoming"
    source = build_case(CASES_BY_NAME["flat_numbered_ogg"], incoming / "drop", tmp_path / "outside")
    config = write_config(tmp_path, incoming, layout=layout)
    args = ("import", "--config", str(config), "--dir", str(source), "--album", "nd")
    code, out, _ = run(capsys, *args)
    assert code == 0
    assert out.splitlines()[-1] == "12 of 12 tracks imported."
    assert len(list((tmp_path / "media" / "nd").iterdir())) == 12
    assert not source.exists()

    code, again, _ = run(capsys, *args, "--json")      # the journal answers; nothing moves
    assert code == 0
    data = json.loads(again)
    assert data["imported"]["nd-101"] == "nd/1-01.ogg" and data["failed"] == {}
    assert len(data["matches"]) == 12


def test_reimport_starts_a_finished_key_afresh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    incoming = tmp_path / "incoming"
    case = CASES_BY_NAME["bonus_and_missing"]
    source = build_case(case, incoming / "drop", tmp_path / "outside")
    config = write_config(tmp_path, incoming)
    args = ("import", "--config", str(config), "--dir", str(source), "--album", "nd")
    code, out, _ = run(capsys, *args)
    assert code == 1
    assert out.splitlines()[-1] == "11 of 12 tracks imported; missing: 7 Exit Wounds"
    # The missing file turns up in the kept directory; a plain rerun repeats the old outcome.
    other = build_case(CASES_BY_NAME["flat_numbered_ogg"], tmp_path / "other", tmp_path / "outside")
    (other / "07 - Exit Wounds.ogg").rename(source / "07 - Exit Wounds.ogg")
    assert run(capsys, *args)[0] == 1
    code, out, _ = run(capsys, *args, "--reimport", "--track", "nd-107")
    assert code == 0, out
    assert (tmp_path / "media" / "nd" / "1-07.ogg").exists()


def test_manual_key_is_stable_per_album_and_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    assert manual_key("nd", tmp_path / "d") == manual_key("nd", tmp_path / "x" / ".." / "d")
    assert manual_key("nd", tmp_path / "d") != manual_key("dd", tmp_path / "d")
    assert manual_key("nd", tmp_path / "d").startswith("manual-")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--album", "nope"], "album 'nope' is not in the catalog"),
        (["--album", "nd", "--track", "dd-101"], "track(s) not on this album: dd-101"),
    ],
)
def test_bad_album_or_track_is_exit_2(shared_config: Path, layout_root: Path, extra: list[str],
                                      message: str, capsys: pytest.CaptureFixture[str]) -> None:
    source = layout_root / "incoming" / "flat_numbered_ogg"
    code, _, err = run(capsys, "import", "--config", str(shared_config), "--dir", str(source),
                       *extra, "--dry-run")
    assert code == 2
    assert message in err


def test_directory_outside_incoming_is_exit_2(shared_config: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "import", "--config", str(shared_config), "--dir", str(tmp_path),
                       "--album", "nd")
    assert code == 2
    assert "not a directory inside media.incoming" in err


async def _plan_requests(config: Path, requests: dict[str, dict[str, object]]) -> None:
    """The daemon's intake plans these requests (QT is disabled: their download stays an intent)."""
    from torrentino_bridge.config import load_settings
    from torrentino_bridge.service import BridgeService

    service = BridgeService(load_settings(config))
    async with service.components():
        for request_id, what in requests.items():
            await service.store.insert_request(request_id, "u1", **what)  # type: ignore[arg-type]
        await service.intake.run_once()


def _rows(db: Path, sql: str) -> list[tuple]:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_real_import_brings_the_requests_and_downloads_waiting_for_it_up_to_date(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    incoming = tmp_path / "incoming"
    first = build_case(CASES_BY_NAME["flat_numbered_ogg"], incoming / "drop1", tmp_path / "outside")
    second = build_case(CASES_BY_NAME["flat_numbered_ogg"], incoming / "drop2", tmp_path / "outside2")
    config = write_config(tmp_path, incoming)
    asyncio.run(_plan_requests(config, {"r-album": {"album_id": "nd"}, "r-one": {"track_ids": ["nd-101"]}}))
    capsys.readouterr()    # the planning's own log lines
    bridge_db = tmp_path / "bridge.db"
    assert _rows(bridge_db, "SELECT state, COUNT(*) FROM submission_tracks st JOIN submissions s"
                            " ON s.id = st.submission_id WHERE st.active = 1 GROUP BY state") == [("intent", 12)]

    # One track by hand: its request completes, the album's download goes on for the rest.
    code, out, _ = run(capsys, "import", "--config", str(config), "--dir", str(first), "--album", "nd",
                       "--track", "nd-101", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data["requests_updated"]) == {"r-album", "r-one"}
    assert len(data["downloads_released"]) == 1 and data["downloads_closed"] == []
    assert dict(_rows(bridge_db, "SELECT id, status FROM download_requests")) == {
        "r-album": "pending", "r-one": "completed"}
    assert _rows(bridge_db, "SELECT COUNT(*) FROM submission_tracks WHERE active = 1") == [(11,)]

    # The rest by hand: nothing is left to fetch, the download closes, its ticket is to be cancelled.
    rest = [arg for n in range(2, 13) for arg in ("--track", f"nd-1{n:02d}")]
    code, out, _ = run(capsys, "import", "--config", str(config), "--dir", str(second), "--album", "nd", *rest)
    assert code == 0, out
    assert "1 request(s) updated." in out and "1 download(s) had nothing left to fetch" in out
    assert dict(_rows(bridge_db, "SELECT id, status FROM download_requests")) == {
        "r-album": "completed", "r-one": "completed"}
    [(state, error)] = _rows(bridge_db, "SELECT state, error FROM submissions")
    assert state == "completed" and "imported by hand" in error
    assert _rows(bridge_db, "SELECT outcome, COUNT(*) FROM submission_tracks GROUP BY outcome") == [("imported", 12)]
    assert _rows(bridge_db, "SELECT kind, state FROM outbox") == [("qt.cancel", "pending")]
