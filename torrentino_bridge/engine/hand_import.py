"""After `torrentino-bridge import`: the bridge's records catch up with tracks imported by hand.

The hand import wrote the catalog; here the downloads still fetching those tracks let go of
them (a download left with nothing to fetch is closed and its ticket cancelled through the
outbox, so QT does not work for nothing and nothing stays live forever), and every request
waiting for the tracks gets its status again (RequestStatusUpdater; Pezzottify's queue rows
follow their requests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from ..store.bridge import BridgeStore
from ..store.mend import MendStore
from .cancels import cancel_item
from .requests import RequestStatusUpdater

log = structlog.get_logger(__name__)

NOTE = "its tracks were imported by hand (torrentino-bridge import)"


@dataclass(frozen=True)
class HandImported:
    requests: list[str]          # requests whose status was brought up to date
    downloads: list[str]         # live downloads that let go of tracks
    closed: list[str]            # ... of which nothing was left: closed, their tickets cancelled


async def settle_hand_import(store: BridgeStore, statuses: RequestStatusUpdater,
                             imported: Mapping[str, str]) -> HandImported:
    """`imported`: track id -> audio_uri, as the import placed them."""
    mend = MendStore(store)
    settled = await mend.settle_hand_imported(
        imported, note=NOTE, cancel=lambda sub_id: cancel_item(sub_id, "imported by hand"))
    requests = await mend.requests_waiting_for(list(imported))
    await statuses.refresh(requests)
    if settled.submissions or requests:
        log.info("import.hand_settled", requests=len(requests), downloads=len(settled.submissions),
                 closed=len(settled.closed))
    return HandImported(requests, settled.submissions, settled.closed)
