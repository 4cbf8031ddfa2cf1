"""Request size limits that answer in JSON like every other error.

aiohttp's parser refuses a request line or header over its limits (8190 bytes by default)
before any middleware runs, with a plain-text 400, and offers no hook to change that answer
(aio-libs/aiohttp#3287). So the parser gets bounded, roomier limits, and this middleware
holds requests to the API's own, smaller ones with a JSON 414/431. Only a request past the
parser's bound (or not HTTP at all) still gets aiohttp's plain 400.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .errors import ApiError, Handler

MAX_URL_BYTES = 8 * 1024        # path and query string
MAX_HEADER_BYTES = 8 * 1024     # one header, name and value
# Four times the API's limits; with aiohttp's 128-header cap a request's headers stay under 4 MiB.
PARSER_LIMIT_BYTES = 32 * 1024

# Keyword arguments for web.AppRunner, passed on to aiohttp's request parser.
PARSER_ARGS: dict[str, Any] = {"max_line_size": PARSER_LIMIT_BYTES, "max_field_size": PARSER_LIMIT_BYTES}


@web.middleware
async def request_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    url_bytes = len(request.raw_path.encode("utf-8", "surrogateescape"))
    if url_bytes > MAX_URL_BYTES:
        raise ApiError(414, f"the URL is {url_bytes} bytes; at most {MAX_URL_BYTES} are accepted")
    for name, value in request.raw_headers:
        if len(name) + len(value) > MAX_HEADER_BYTES:
            shown = name.decode("latin-1")[:64]
            raise ApiError(431, f"header {shown} is {len(name) + len(value)} bytes; "
                                f"at most {MAX_HEADER_BYTES} are accepted")
    return await handler(request)
