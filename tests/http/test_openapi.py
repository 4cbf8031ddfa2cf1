"""The OpenAPI document is true: it documents exactly the routes the server has, and a
schemathesis run over it (valid and invalid inputs) meets no 500 and no answer that
contradicts it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import TEST_TOKEN, build_catalog, write_config
from torrentino_bridge.config import load_settings
from torrentino_bridge.http.openapi import document
from torrentino_bridge.http.routes import ROUTES

from .conftest import ADMIN, CALLBACK, MORE, OK, SERVICE, TWO

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install -e '.[dev]')")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

METHODS = {"get", "post", "put", "delete", "patch"}


def test_document_lists_exactly_the_routes():
    doc = document()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops if m in METHODS}
    served = {(r.method, r.path) for r in ROUTES}
    assert documented == served


def test_every_operation_documents_its_errors_and_auth():
    doc = document()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            responses = op["responses"]
            protected = path.startswith("/v1/")
            assert ("401" in responses) == protected, (method, path)
            required = bool(op.get("security")) and {} not in op["security"]   # [{}, ...]: optional
            assert required == protected, (method, path)
            if "requestBody" in op or "{" in path or any(p["in"] == "query" for p in op.get("parameters", [])):
                if path.startswith("/v1/admin/downloads/{ticket_id}") and method == "get":
                    continue   # a path id cannot be malformed, only unknown (404)
                assert "400" in responses, (method, path)


class ThreadedBridge:
    """The simulator and the daemon on their own event loop, for the synchronous schemathesis client."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bridge-under-test", daemon=True)

    def __enter__(self) -> ThreadedBridge:
        self._thread.start()
        self._ready.wait(timeout=60)
        if self._error is not None:
            raise self._error
        assert self.url, "the bridge did not start"
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:
            self._error = err
            self._ready.set()

    async def _main(self) -> None:
        from torrentino_bridge.service import BridgeService
        from torrentino_bridge.sim.server import QTSimulator, SimConfig

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        sim = QTSimulator(SimConfig(api_key=TEST_TOKEN, step_secs=0.01, progress_ticks=2))
        sim.set_outcome("Harbour Lights", "needs_approval")
        sim.set_outcome("Cartas de Verano", "fail")
        base = await sim.start("127.0.0.1", 0)
        catalog = build_catalog(self.directory / "catalog.db", [OK, TWO, *MORE])
        settings = load_settings(write_config(self.directory, catalog, base, http=True))
        service = BridgeService(settings)
        try:
            await service.start()
            self.url = f"http://127.0.0.1:{service.http_port}"
            self._ready.set()
            await self._stop.wait()
        finally:
            await service.stop()
            await sim.stop()


AUTH = {"/v1/admin/": ADMIN, "/v1/user/": SERVICE, "/v1/internal/": CALLBACK}


def auth_for(path: str) -> dict[str, str]:
    token = next((t for prefix, t in AUTH.items() if path.startswith(prefix)), None)
    return {"Authorization": f"Bearer {token}"} if token else {}


def seed(url: str) -> None:
    """Some state for the fuzzer to meet: a ticket waiting for approval, a failed one."""
    headers = {"Authorization": f"Bearer {SERVICE}", "X-User-Id": "seed"}
    for album_id in ("alb-ok", "alb-two", "alb-0"):
        reply = requests.post(f"{url}/v1/user/request-download", json={"album_id": album_id},
                              headers=headers, timeout=10)
        assert reply.status_code == 202, reply.text


POSITIVE_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
                   response_schema_conformance, response_headers_conformance]
NEGATIVE_CHECKS = [not_a_server_error, content_type_conformance]


def fuzz(strategy: Any, url: str, session: requests.Session, headers: dict[str, str], checks: list[Any]) -> None:
    @given(case=strategy)
    @settings(max_examples=30, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        case.call_and_validate(base_url=url, session=session, headers=headers, checks=checks)

    run()


@pytest.mark.timeout(600)
def test_schemathesis_finds_no_500_and_no_contradiction(tmp_path, monkeypatch):
    for key, value in (("ADMIN_TOKEN", ADMIN), ("SERVICE_TOKEN", SERVICE), ("CALLBACK_SECRET", CALLBACK)):
        monkeypatch.setenv(f"TORRENTINO_BRIDGE_HTTP__{key}", value)
    monkeypatch.setenv("TORRENTINO_BRIDGE_TORRENTINO__RATE_LIMITS__REQUESTS_PER_USER_PER_DAY", "1000")
    with ThreadedBridge(tmp_path) as bridge:
        seed(bridge.url)
        schema = schemathesis.openapi.from_url(f"{bridge.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        # schemathesis leaves out the document's own URL when it loads it from there.
        expected = {f"{r.method} {r.path}" for r in ROUTES if r.path != "/openapi.json"}
        assert {op.label for op in operations} == expected
        session = requests.Session()
        for operation in operations:
            headers = auth_for(operation.path)
            spec = document()["paths"][operation.path][operation.method.lower()]
            if "text/event-stream" in spec["responses"].get("200", {}).get("content", {}):
                continue   # an endless stream: tests/http/test_events.py checks those
            modes = [(GenerationMode.POSITIVE, POSITIVE_CHECKS)]
            if spec.get("parameters") or spec.get("requestBody"):   # something to get wrong
                modes.append((GenerationMode.NEGATIVE, NEGATIVE_CHECKS))
            for mode, checks in modes:
                fuzz(operation.as_strategy(generation_mode=mode), bridge.url, session, headers, checks)
        session.close()
