"""The log redactor: configured secrets never reach a log line, whatever the format."""

from __future__ import annotations

import io

import structlog

from tests.conftest import album, build_catalog, write_config
from torrentino_bridge.config import load_settings
from torrentino_bridge.log import REDACTOR, configure_logging

SECRET = "tok-a7c3e9f1d2b4c6e8"


def _fail_with_a_token_in_a_local() -> None:
    token = SECRET   # noqa: F841 (the point: a local a traceback formatter could print)
    raise ValueError("upstream refused the request")


def test_a_console_traceback_prints_no_token(monkeypatch) -> None:
    monkeypatch.setattr(REDACTOR, "secrets", {SECRET})
    out = io.StringIO()
    configure_logging("info", "console", stream=out)
    log = structlog.get_logger("t")
    try:
        _fail_with_a_token_in_a_local()
    except ValueError:
        log.exception("call.failed")
    try:
        raise RuntimeError(f"bad header Authorization: Bearer {SECRET}")
    except RuntimeError:
        log.exception("call.failed_again")
    text = out.getvalue()
    assert "upstream refused the request" in text and "call.failed_again" in text
    assert SECRET not in text


def test_the_service_gives_the_redactor_every_configured_secret(tmp_path, monkeypatch) -> None:
    from torrentino_bridge.service import BridgeService

    monkeypatch.setattr(REDACTOR, "secrets", set())
    catalog = build_catalog(tmp_path / "catalog.db", [album("a", "b", "c", ["x"])])
    monkeypatch.setenv("TORRENTINO_BRIDGE_HTTP__ADMIN_TOKEN", "admin-" + SECRET)
    settings = load_settings(write_config(tmp_path, catalog, "http://127.0.0.1:9"))
    BridgeService(settings)
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    structlog.get_logger("t").warning("qt.call", url=f"http://x/?k=admin-{SECRET}",
                                      note=settings.torrentino.read_token())
    text = out.getvalue()
    assert SECRET not in text and settings.torrentino.read_token() not in text
    assert "***" in text
