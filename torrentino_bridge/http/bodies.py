"""Request bodies: pydantic models with strict types, and one reader that turns every
way a body can be wrong into a 400 naming the field."""

from __future__ import annotations

import json
from typing import Annotated, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, ValidationError, model_validator

from ..domain.requests import MAX_ID_LENGTH, MAX_TRACKS_PER_REQUEST
from .errors import ApiError

M = TypeVar("M", bound=BaseModel)

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ID_LENGTH)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
MAX_LIMIT_VALUE = 100_000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmptyBody(_Body):
    """Actions that take no fields; a stray body is still checked."""


class ApproveBody(_Body):
    # None: Quentin Torrentino's own pick (its recommended candidate, index 0).
    candidate_idx: Annotated[StrictInt, Field(ge=0, le=10_000)] | None = None


class ReasonBody(_Body):
    reason: Reason | None = None


class LimitsBody(_Body):
    # null (or absent) means the configured default; both null removes the override.
    requests_per_day: Annotated[StrictInt, Field(ge=0, le=MAX_LIMIT_VALUE)] | None = None
    max_pending: Annotated[StrictInt, Field(ge=0, le=MAX_LIMIT_VALUE)] | None = None


class DownloadRequestBody(_Body):
    album_id: Id | None = None
    track_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_TRACKS_PER_REQUEST)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> DownloadRequestBody:
        if (self.album_id is None) == (self.track_ids is None):
            raise ValueError("send either album_id or track_ids (a non-empty list), not both and not neither")
        return self


def _describe(err: ValidationError) -> str:
    parts = []
    for item in err.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"])
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "is not a known field"
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


async def read_body(request: web.Request, model: type[M], *, optional: bool = False) -> M:
    """The body as `model`; an empty body is `{}` when optional. 400 otherwise."""
    raw = await request.read()
    if not raw.strip():
        if optional:
            return model()
        raise ApiError(400, "a JSON body is required")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise ApiError(400, f"the body is not valid JSON: {str(err)[:200]}") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"the body must be a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ApiError(400, f"invalid body: {_describe(err)}") from None
