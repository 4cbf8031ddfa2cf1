"""Worker loops survive transient failures and pick the work up again."""

from __future__ import annotations

import sqlite3

from tests.conftest import album, build_catalog
from tests.engine.test_flow import catalog_rows, insert, until_status

ALBUM = album("alb-r", "Res", "Ilient", ["One", "Two"])


async def test_a_catalog_locked_past_every_retry_delays_the_request_but_loses_nothing(
    tmp_path, sim, settings_for, running_bridge
):
    catalog = build_catalog(tmp_path / "catalog.db", [ALBUM])
    settings = settings_for(catalog, sim.base_url)
    settings.catalog.busy_timeout_ms = 50
    settings.catalog.write_retries = 1
    service = await running_bridge(settings)

    blocker = sqlite3.connect(catalog, timeout=5)
    blocker.execute("BEGIN EXCLUSIVE")           # the catalog server in a long write
    try:
        await insert(settings, "r1", album_id="alb-r")

        async def intake_failed():
            return service.intake.guard.failures > 0

        from tests.conftest import wait_for

        await wait_for(intake_failed, what="the intake pass to fail on the locked catalog")
        assert (await service.store.get_request("r1")).planned_at is None
        assert service.tasks.alive()["intake"]
    finally:
        blocker.rollback()
        blocker.close()

    assert (await until_status(service, "r1", "completed", "failed"))[0] == "completed"
    assert {v[0] for v in catalog_rows(catalog, "plan").values()} == {"available"}
    assert sim.post_count == 1
