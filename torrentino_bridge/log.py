"""structlog setup: JSON lines off a terminal, colours on one; secrets are redacted."""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from .config import Settings

_SECRET_KEYS = re.compile(r"(token|secret|password|authorization|api[_-]?key)", re.I)


class SecretRedactor:
    """Drops known secret values anywhere in an event, and values of secret-named keys."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = {s for s in secrets if s and len(s) >= 4}

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 4:
            self.secrets.add(secret)

    def add_settings(self, settings: Settings) -> None:
        """Every secret the configuration holds: a token can reach a log line under a key
        that does not look secret (an error message, a URL, a repr)."""
        http = settings.http
        for value in (http.admin_token, http.service_token, http.callback_secret, http.notify_secret,
                      settings.torrentino.auth_token):
            if value is not None:
                self.add(value.get_secret_value())
        with contextlib.suppress(OSError):
            self.add(settings.torrentino.read_token())   # a token file's current value

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, "***")
            return value
        if isinstance(value, dict):
            return {k: ("***" if _SECRET_KEYS.search(str(k)) and v else self._scrub(v))
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._scrub(v) for v in value)
        return value

    def __call__(self, logger: Any, name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key in list(event.keys()):
            value = event[key]
            if _SECRET_KEYS.search(key) and value and key != "event":
                event[key] = "***"
            else:
                event[key] = self._scrub(value)
        return event


REDACTOR = SecretRedactor()


class _StreamLogger:
    """Writes each line to the stream current at call time: a stream captured once would
    outlive a swapped sys.stderr (test runners, daemonisers) and fail on a closed file."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream

    def msg(self, message: str) -> None:
        print(message, file=self._stream or sys.stderr, flush=True)

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg


def configure_logging(level: str = "info", fmt: str = "auto", stream: Any = None) -> None:
    """stream=None writes to sys.stderr as it is at each call."""
    target = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not target.isatty())
    numeric = logging.getLevelName(level.upper())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks become text before the redactor runs, in both formats: a console renderer
        # formatting them itself would print them unredacted, and its rich formatter prints
        # every frame's local variables (a token held in one, say).
        structlog.processors.format_exc_info,
        REDACTOR,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=target.isatty(), exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda *_: _StreamLogger(stream),
        cache_logger_on_first_use=False,
    )
    # aiohttp's access log and library warnings go through stdlib logging.
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=target, format="%(name)s %(message)s")
