"""`check` against a real QT simulator, real catalogs and real folders; secrets never shown."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from torrentino_bridge.cli import main
from torrentino_bridge.ops.check import mask_url
from torrentino_bridge.sim.config import SimConfig
from torrentino_bridge.sim.server import QTSimulator
from torrentino_bridge.store.db import open_bridge_db

from .conftest import ADMIN_TOKEN, QT_TOKEN, Env, TrackSpec, run_json, run_subprocess

TRACKS = [TrackSpec("t1", "al1", 1, "al1/01.ogg"), TrackSpec("t2", "al1", 2, None, available=False)]


@pytest.fixture
async def qt_url() -> AsyncIterator[str]:
    sim = QTSimulator(SimConfig(api_key=QT_TOKEN))
    url = await sim.start()
    try:
        yield url
    finally:
        await sim.stop()


@pytest.fixture
def env(layout: str, make_env: Callable[[str, list[TrackSpec]], Env]) -> Env:
    return make_env(layout, TRACKS)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _check(capsys: pytest.CaptureFixture[str], env: Env, *extra: str) -> tuple[int, dict, str]:
    # main() runs its own event loop; the simulator lives on this one.
    code = await asyncio.to_thread(main, ["check", "--config", str(env.config), "--json", *extra])
    out, err = capsys.readouterr()
    return code, json.loads(out), out + err


def _results(report: dict) -> dict[str, tuple[bool, str]]:
    return {c["name"]: (c["ok"], c["detail"]) for c in report["checks"]}


async def test_all_ok_and_no_secret_in_the_output(
    env: Env, qt_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env.write_config(torrentino={"url": qt_url})
    code, report, everything = await _check(capsys, env)
    results = _results(report)
    assert code == 0, results
    assert report["ok"] is True
    assert set(results) == {"config", "catalog", "bridge db", "torrentino", "media root", "media incoming"}
    assert f"layout {env.layout}, 2 tracks" in results["catalog"][1]
    assert "torrentino.auth_token set" in results["config"][1]
    assert "http.admin_token set" in results["config"][1]
    assert "token accepted" in results["torrentino"][1]
    assert "not created yet" in results["bridge db"][1]
    assert QT_TOKEN not in everything and ADMIN_TOKEN not in everything
    # read-only: no bridge database, no lock file, no leftover probe files
    assert not env.bridge_db.exists()
    assert sorted(p.name for p in env.bridge_db.parent.iterdir()) == ["catalog.db"]
    assert list(env.media_root.iterdir()) == [] and list(env.incoming.iterdir()) == []


async def test_wrong_token_fails_without_printing_either_token(
    env: Env, qt_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "wrong-token-19af03cc"
    env.write_config(torrentino={"url": qt_url, "auth_token": wrong})
    code, report, everything = await _check(capsys, env)
    assert code == 1 and report["ok"] is False
    ok, detail = _results(report)["torrentino"]
    assert not ok and "token rejected (HTTP 401)" in detail
    assert wrong not in everything and QT_TOKEN not in everything


async def test_missing_token_against_a_server_that_needs_one(
    env: Env, qt_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env.write_config(torrentino={"url": qt_url, "auth_token": ""})
    code, report, _ = await _check(capsys, env)
    assert code == 1
    assert "needs a token" in _results(report)["torrentino"][1]


def test_every_failure_is_reported_at_once(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """QT unreachable, catalog of another shape, incoming missing: all three in one run."""
    with sqlite3.connect(env.catalog_db) as conn:
        conn.execute("ALTER TABLE tracks RENAME TO songs")
    env.incoming.rmdir()
    env.write_config(torrentino={"url": f"http://127.0.0.1:{_closed_port()}"})
    code = main(["check", "--config", str(env.config)])
    out, err = capsys.readouterr()
    assert code == 1
    lines = out.splitlines()

    def line(prefix: str) -> str:
        found = [x for x in lines if x.startswith(prefix)]
        assert len(found) == 1, (prefix, out)
        return found[0]

    assert "no known layout" in line("FAIL  catalog ")
    assert "unreachable" in line("FAIL  torrentino ")
    assert "does not exist" in line("FAIL  media incoming ")
    line("ok    media root ")
    line("ok    bridge db ")
    assert out.splitlines()[-1] == "3 ok, 3 failed"
    assert QT_TOKEN not in out + err and ADMIN_TOKEN not in out + err


def test_bridge_db_states(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.write_config(torrentino={"enabled": False})

    async def create() -> None:
        conn = await open_bridge_db(env.bridge_db)
        await conn.close()

    asyncio.run(create())
    capsys.readouterr()
    main(["check", "--config", str(env.config), "--json"])
    ok, detail = _results(json.loads(capsys.readouterr()[0]))["bridge db"]
    assert ok and "up to date" in detail

    with sqlite3.connect(env.bridge_db) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, '0999_future.sql', 'now')")
    code = main(["check", "--config", str(env.config), "--json"])
    ok, detail = _results(json.loads(capsys.readouterr()[0]))["bridge db"]
    assert code == 1 and not ok and "newer than this bridge knows" in detail

    env.bridge_db.write_bytes(b"this is not a database" * 100)
    code = main(["check", "--config", str(env.config), "--json"])
    ok, detail = _results(json.loads(capsys.readouterr()[0]))["bridge db"]
    assert code == 1 and not ok and "not a database" in detail


def test_as_a_subprocess_config_error_exits_2(env: Env) -> None:
    env.write_config(torrentino={"auth_token": "changeme"})
    done = run_subprocess("check", "--config", str(env.config))
    assert done.returncode == 2
    assert "torrentino.auth_token: is a placeholder value" in done.stderr


def test_as_a_subprocess_disabled_qt(env: Env) -> None:
    env.write_config(torrentino={"enabled": False})
    done = run_subprocess("check", "--config", str(env.config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok    torrentino" in done.stdout and "disabled" in done.stdout
    assert QT_TOKEN not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://qt:8080", "http://qt:8080"),
        ("http://user:s3cret@qt:8080/x", "http://user:***@qt:8080/x"),
        ("https://:s3cret@qt", "https://***@qt"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_a_password_in_the_url_is_refused_without_being_shown(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    # Credentials in torrentino.url are a config error (they would reach logs); the
    # message names the key and never repeats the password.
    env.write_config(torrentino={"url": f"http://bridge:pw-7781aa@127.0.0.1:{_closed_port()}"})
    code = main(["check", "--config", str(env.config)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "pw-7781aa" not in out + err
    assert "torrentino.url: must not contain a user or password" in err, (out, err)


def test_daemon_holding_the_lock_is_reported(env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from torrentino_bridge.ops.lock import InstanceLock

    env.write_config(torrentino={"enabled": False})
    asyncio.run(_create_bridge_db(env.bridge_db))
    with InstanceLock(env.bridge_db):
        capsys.readouterr()
        code = main(["check", "--config", str(env.config), "--json"])
    ok, detail = _results(json.loads(capsys.readouterr()[0]))["bridge db"]
    assert code == 0 and ok and "daemon running (pid " in detail


async def _create_bridge_db(path: Path) -> None:
    conn = await open_bridge_db(path)
    await conn.close()


def test_each_configured_pezzottify_file_is_reported(tmp_path: Path, make_env,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from tests.pezzottify import create_db, fingerprint

    env = make_env("pezzottify", TRACKS)
    files = {key: create_db(tmp_path / f"{kind}.db", kind)
             for key, kind in (("queue_db", "queue"), ("search_db", "search"), ("server_db", "server"))}
    bad = create_db(tmp_path / "user.db", "user")
    with sqlite3.connect(bad) as conn:
        conn.execute("ALTER TABLE user_notifications RENAME TO notes")
    before = {key: fingerprint(path) for key, path in files.items()}
    env.write_config(torrentino={"enabled": False},
                     pezzottify={**{k: str(v) for k, v in files.items()}, "user_db": str(bad)})
    code, data = run_json(capsys, "check", "--config", str(env.config))
    assert code == 1
    checks = {c["name"]: c for c in data["checks"]}
    queue = checks["pezzottify.queue_db"]
    assert queue["ok"] and "journal_mode wal" in queue["detail"] and "user_version 100001" in queue["detail"]
    assert checks["pezzottify.server_db"]["ok"] and "user_version 100005" in checks["pezzottify.server_db"]["detail"]
    assert checks["pezzottify.search_db"]["ok"]
    user = checks["pezzottify.user_db"]
    assert not user["ok"] and "table user_notifications" in user["detail"]
    assert {key: fingerprint(path) for key, path in files.items()} == before
