"""The admin API's mends of one download: search again with an admin's query, the match
table of its import, and a re-scan of its folder. The engine does the work
(engine/force_search.py, engine/matches.py, engine/rescan.py); these views read the
body, find the download and shape the answer."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, field_validator

from ...domain.searches import MAX_NAME, MAX_QUERY, SearchQuery, query_problem
from ...engine.matches import match_report
from ..bodies import EmptyBody, read_body
from ..errors import ApiError
from ..keys import SERVICE
from ..lookups import describe_download, find_download


class SearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str
    artist: str | None = None
    title: str | None = None

    @field_validator("query", "artist", "title", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        return _checked(value, "the query", MAX_QUERY)

    @field_validator("artist", "title")
    @classmethod
    def _names(cls, value: str | None) -> str | None:
        return None if value is None else _checked(value, "the name", MAX_NAME)


def _checked(value: str, what: str, maximum: int) -> str:
    problem = query_problem(value, what, maximum)
    if problem is not None:
        raise ValueError(problem)
    return value


async def search(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    sub = await find_download(service, request.match_info["ticket_id"])
    body = await read_body(request, SearchBody)
    result = await service.searches.search(sub, SearchQuery(body.query, body.artist, body.title))
    old = result.old
    return web.json_response({
        "download": await describe_download(service, result.new, detailed=True),
        "replaced": {"ticket_id": old.ticket_id, "submission_id": old.id, "state": old.state.value},
        "previous_ticket": result.previous_ticket,
        "repeated": result.repeated,
    }, status=200 if result.new.ticket_id else 202)


async def matches(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    sub = await find_download(service, request.match_info["ticket_id"])
    report = await match_report(sub, store=service.store, catalog=service.catalog,
                                import_db=service.tracker.import_db, media=service.settings.media,
                                checks=service.tracker.checks)
    if report is None:
        raise ApiError(404, "no import was planned for this download yet, and its folder is not there "
                            f"({sub.local_dir})")
    return web.json_response({"ticket_id": sub.ticket_id, "submission_id": sub.id, "state": sub.state.value,
                              **report})


async def rescan(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    sub = await find_download(service, request.match_info["ticket_id"])
    await read_body(request, EmptyBody, optional=True)
    result = await service.rescans.rescan(sub)
    return web.json_response({
        "tracks": result.tracks,
        "outcome": result.outcome,
        "download": await describe_download(service, result.submission, detailed=True),
    })

