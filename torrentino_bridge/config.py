"""Configuration: bridge.toml plus TORRENTINO_BRIDGE_* environment overrides.

Everything is validated before any loop starts; `load_settings` raises ConfigError with
one line per bad key, which the CLI prints and turns into exit status 2.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .errors import ConfigError

ENV_PREFIX = "TORRENTINO_BRIDGE_"

# Values people copy from examples and forget to change. A daemon holding one of these
# is as good as unauthenticated, so refuse to start.
PLACEHOLDER_SECRETS = frozenset(
    {"shared-secret", "changeme", "change-me", "change_me", "secret", "token",
     "password", "xxx", "todo", "replace-me", "your-token-here"}
)

# Shorter tokens are guessable offline; 16 characters of a random token is about 96 bits.
MIN_SECRET_CHARS = 16
# Standard Webhooks: the signing key is `whsec_` + base64 of 24 to 64 random bytes.
WEBHOOK_SECRET_PREFIX = "whsec_"
WEBHOOK_KEY_BYTES = (24, 64)

AudioFormat = Literal["flac", "mp3", "aac", "ogg_vorbis", "opus", "wav", "alac"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_secret(value: SecretStr | None) -> SecretStr | None:
    if value is None:
        return None
    raw = value.get_secret_value().strip()
    if not raw:
        return None
    if raw.lower() in PLACEHOLDER_SECRETS or (raw.startswith("<") and raw.endswith(">")):
        raise ValueError("is a placeholder value; set a real secret")
    if len(raw) < MIN_SECRET_CHARS:
        raise ValueError(f"is shorter than {MIN_SECRET_CHARS} characters; use a long random value")
    return SecretStr(raw)


def _check_webhook_secret(value: SecretStr | None) -> SecretStr | None:
    """A Standard Webhooks signing key: whsec_ + base64 of 24..64 random bytes."""
    checked = _check_secret(value)
    if checked is None:
        return None
    raw = checked.get_secret_value()
    if not raw.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValueError(f"must be a Standard Webhooks key: {WEBHOOK_SECRET_PREFIX} followed by the base64 "
                         "of 24 to 64 random bytes")
    try:
        key = base64.b64decode(raw[len(WEBHOOK_SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"is not valid base64 after {WEBHOOK_SECRET_PREFIX}") from None
    low, high = WEBHOOK_KEY_BYTES
    if not low <= len(key) <= high:
        raise ValueError(f"must hold {low} to {high} bytes of key (base64), got {len(key)}")
    return checked


class CatalogSettings(_Section):
    db: Path
    # "auto" picks by the columns present; see store/catalog.py.
    layout: Literal["auto", "plan", "pezzottify"] = "auto"
    busy_timeout_ms: int = Field(5000, ge=0)
    write_retries: int = Field(8, ge=0)
    # The old downloader's queue (Pezzottify's download_queue.db); only
    # `migrate-from-old-downloader` reads it, so it is not checked at load.
    download_queue_db: Path | None = None


class BridgeDbSettings(_Section):
    db: Path
    # How often the intake checks PRAGMA data_version for rows written by others.
    poll_interval_secs: float = Field(0.25, gt=0, le=10)
    reconcile_interval_secs: float = Field(30.0, gt=0)
    reconcile_concurrency: int = Field(8, ge=1, le=64)
    # A ticket_update that keeps the same state fetches details at most this often.
    progress_refresh_secs: float = Field(5.0, ge=0)
    shutdown_grace_secs: float = Field(8.0, ge=0)
    # Ended tickets (failed, rejected, cancelled, or completed with tracks missing) that QT may
    # bring back (a retry in its own UI) are polled this long after they ended, this often.
    follow_ended_hours: float = Field(72.0, ge=0)
    follow_ended_interval_secs: float = Field(300.0, gt=0)
    # CPU cores the daemon may run on (0: all); the rest stay free for the catalog server.
    cpus: int = Field(1, ge=0, le=1024)


# Where imported files go when media.path_template is not set, by catalog layout. The
# Pezzottify server's own layout: audio/<id[0:2]>/<id[2:4]>/<track id>.<ext>, "00" for a
# shard an id is too short for (ingestion/file_handler.rs).
PLAN_TEMPLATE = "{album_id}/{disc_number}-{track_number:02d}.{ext}"
PEZZOTTIFY_TEMPLATE = "audio/{track_shard1}/{track_shard2}/{track_id}.{ext}"

# libvorbis' nominal bitrates (44.1 kHz stereo) for quality 0..10, to turn
# torrentino.ticket.output_bitrate_kbps into a Vorbis quality.
_VORBIS_KBPS = (64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 500)


def vorbis_quality_for(kbps: int | None) -> float:
    """Vorbis quality 0..1 (libvorbis q0..q10 / 10) whose nominal bitrate is `kbps`,
    interpolated between the table's points; 320 kbps (the default) is 0.9 (q9)."""
    if kbps is None:
        return 0.9
    if kbps <= _VORBIS_KBPS[0]:
        return 0.0
    for q, (low, high) in enumerate(itertools.pairwise(_VORBIS_KBPS)):
        if kbps <= high:
            return round((q + (kbps - low) / (high - low)) / 10, 3)
    return 1.0


class MediaSettings(_Section):
    root: Path
    incoming: Path
    # The incoming directory as Quentin Torrentino sees it (a different mount point in
    # docker-compose); defaults to `incoming`.
    qt_incoming: Path | None = None
    # Unset: the layout's own (PLAN_TEMPLATE, or the Pezzottify server's PEZZOTTIFY_TEMPLATE).
    path_template: str | None = None
    # "auto": every file placed under the pezzottify layout becomes Ogg Vorbis (the server
    # serves every file as audio/ogg); nothing is converted under the plan layout.
    convert: Literal["auto", "ogg_vorbis", "none"] = "auto"
    # Vorbis quality 0..1 of converted files; unset: from torrentino.ticket.output_bitrate_kbps.
    vorbis_quality: float | None = Field(None, ge=0, le=1)
    keep_leftovers: bool = False
    duration_tolerance_secs: float = Field(10.0, ge=0)
    match_threshold: float = Field(0.6, ge=0, le=1)
    # After QT's `completed`, how long files that are missing or still growing are waited
    # for (re-scanned until the directory holds still) before their tracks count as missing.
    settle_secs: float = Field(30.0, ge=0, le=3600)
    # A completed download's good files for other tracks of its album that are not available
    # are imported too (a torrent almost always holds the whole album).
    fill_album: bool = True

    @property
    def qt_incoming_path(self) -> Path:
        return self.qt_incoming or self.incoming

    @property
    def template(self) -> str:
        return self.path_template or PLAN_TEMPLATE

    def for_layout(self, layout: str, output_bitrate_kbps: int | None = None) -> MediaSettings:
        """These settings with every layout-dependent default decided (the daemon and the
        import command call it once the catalog's layout is known)."""
        pezzottify = layout == "pezzottify"
        convert = self.convert if self.convert != "auto" else ("ogg_vorbis" if pezzottify else "none")
        return self.model_copy(update={
            "path_template": self.path_template or (PEZZOTTIFY_TEMPLATE if pezzottify else PLAN_TEMPLATE),
            "convert": convert,
            "vorbis_quality": self.vorbis_quality if self.vorbis_quality is not None
            else vorbis_quality_for(output_bitrate_kbps),
        })

    @field_validator("path_template")
    @classmethod
    def _template_is_relative(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.startswith("/") or ".." in Path(value).parts:
            raise ValueError("must be a relative path inside the media root")
        if "{ext}" not in value:
            raise ValueError("must contain {ext}")
        return value


class HttpSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8099, ge=0, le=65535)
    admin_token: SecretStr | None = None
    service_token: SecretStr | None = None
    callback_secret: SecretStr | None = None
    notify_urls: list[str] = Field(default_factory=list)
    # Signs every notification (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature).
    notify_secret: SecretStr | None = None
    # A connection must send a whole request header within this time (and an idle keep-alive
    # connection is closed after it): slow or silent clients cannot hold sockets.
    header_timeout_secs: float = Field(15.0, gt=0, le=3600)
    # Server-Sent Events (/v1/user/events, /v1/admin/events): heartbeat comment interval, the
    # ring of recent events a reconnecting client resumes from, and how many streams at once.
    events_heartbeat_secs: float = Field(15.0, gt=0, le=3600)
    events_buffer: int = Field(2048, ge=16, le=1_000_000)
    max_event_streams: int = Field(64, ge=1, le=10_000)

    @field_validator("admin_token", "service_token", "callback_secret")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        return _check_secret(value)

    @field_validator("notify_secret")
    @classmethod
    def _webhook_key(cls, value: SecretStr | None) -> SecretStr | None:
        return _check_webhook_secret(value)

    @field_validator("notify_urls")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url[:100]!r} is not an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _signed_notifications(self) -> HttpSettings:
        if self.notify_urls and self.notify_secret is None:
            raise ValueError("notify_urls needs notify_secret: every notification is signed")
        return self


class RateLimits(_Section):
    requests_per_user_per_day: int = Field(10, ge=0)
    max_pending_per_user: int = Field(5, ge=0)
    # true: a request that failed, was rejected or cancelled, or needed nothing (every track
    # was already available) gives its daily quota back; false: every request counts
    # (only requests the rate limiter itself failed do not).
    refund_unfulfilled: bool = True


class TicketDefaults(_Section):
    priority: int = Field(10, ge=0, le=65535)
    tags: list[str] = Field(default_factory=lambda: ["music", "album"])
    output_format: AudioFormat | Literal["original"] = "ogg_vorbis"
    output_bitrate_kbps: int | None = Field(320, ge=8, le=2000)
    preferred_formats: list[AudioFormat] = Field(default_factory=lambda: ["flac"])
    min_bitrate_kbps: int | None = Field(256, ge=8, le=2000)
    avoid_compilations: bool = True
    avoid_live: bool = True


class TorrentinoSettings(_Section):
    enabled: bool = True
    url: str = "http://127.0.0.1:8080"
    auth_token: SecretStr | None = None
    auth_token_file: Path | None = None
    websocket_reconnect_secs: float = Field(5.0, gt=0)
    websocket_max_backoff_secs: float = Field(60.0, gt=0)
    websocket_heartbeat_secs: float = Field(20.0, gt=0)
    request_timeout_secs: float = Field(30.0, gt=0)
    max_attempts: int = Field(4, ge=1, le=20)
    # Largest QT answer read; a bigger (or endless) body fails the call as malformed.
    max_response_bytes: int = Field(8 * 1024 * 1024, ge=64 * 1024, le=1024 * 1024 * 1024)
    # Tickets a dest_path lookup (before re-posting an unanswered submission) may scan;
    # past it the submission waits instead of risking a duplicate ticket.
    lookup_max_tickets: int = Field(50_000, ge=100)
    # Candidates kept of a QT answer (the recommended one and the best by QT's score): a
    # needs_approval answer may list hundreds of thousands.
    max_candidates: int = Field(20, ge=1, le=1000)
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    ticket: TicketDefaults = Field(default_factory=TicketDefaults)

    @field_validator("auth_token")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        return _check_secret(value)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.rstrip("/")
        if not value.startswith(("http://", "https://")) or "://" not in value[:8]:
            raise ValueError("must be an http:// or https:// URL")
        if "@" in value.split("://", 1)[1].split("/", 1)[0]:
            # Credentials in the URL would end up in logs and clash with the token header.
            raise ValueError("must not contain a user or password; use auth_token")
        if value.endswith("/api/v1"):
            value = value[: -len("/api/v1")]
        return value

    @model_validator(mode="after")
    def _one_token_source(self) -> TorrentinoSettings:
        if self.auth_token is not None and self.auth_token_file is not None:
            raise ValueError("set auth_token or auth_token_file, not both")
        return self

    def read_token(self) -> str | None:
        """The current token. A token file is read on every call so rotation needs no restart."""
        if self.auth_token is not None:
            return self.auth_token.get_secret_value()
        if self.auth_token_file is not None:
            token = self.auth_token_file.read_text(encoding="utf-8").strip()
            return token or None
        return None


class PezzottifySettings(_Section):
    """The Pezzottify server's own databases, beside its catalog (all in its `db_dir`).
    Each is the server's file: the bridge never creates, migrates or re-journals one."""

    # download_queue.db: the requests users make in the web and Android clients.
    queue_db: Path | None = None
    # search.db: item_availability, which searches that hide unavailable items read.
    search_db: Path | None = None
    # Optional: server.db (catalog_events, What's New) and user.db (notifications).
    server_db: Path | None = None
    user_db: Path | None = None


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
    )

    catalog: CatalogSettings
    bridge: BridgeDbSettings
    media: MediaSettings
    http: HttpSettings = Field(default_factory=HttpSettings)
    torrentino: TorrentinoSettings = Field(default_factory=TorrentinoSettings)
    pezzottify: PezzottifySettings = Field(default_factory=PezzottifySettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments, then environment, then the TOML file.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def _resolve(base: Path, value: Path | None) -> Path | None:
    if value is None:
        return None
    value = value.expanduser()
    return value if value.is_absolute() else (base / value)


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = []
    for item in err.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(root)"
        msg = item["msg"]
        if item["type"] == "missing":
            msg = "is required"
        elif item["type"] == "extra_forbidden":
            msg = "is not a known setting"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        lines.append(f"{key}: {msg}")
    return f"invalid configuration ({source}): " + "; ".join(lines)


def load_settings(path: Path | str | None, **overrides: Any) -> Settings:
    """Load and validate settings. Relative paths are resolved against the config file."""
    toml_path = Path(path) if path is not None else None
    if toml_path is not None and not toml_path.is_file():
        raise ConfigError(f"config file not found: {toml_path}")
    source = str(toml_path) if toml_path else "environment"
    loaded_cls = type(
        "LoadedSettings",
        (Settings,),
        {"model_config": {**Settings.model_config, "toml_file": toml_path}},
    )
    try:
        settings: Settings = loaded_cls(**overrides)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, source)) from None
    except (OSError, ValueError) as err:  # unreadable or malformed TOML
        raise ConfigError(f"cannot read configuration {source}: {err}") from None

    base = toml_path.resolve().parent if toml_path else Path.cwd()
    settings.catalog.db = _resolve(base, settings.catalog.db)  # type: ignore[assignment]
    settings.catalog.download_queue_db = _resolve(base, settings.catalog.download_queue_db)
    settings.bridge.db = _resolve(base, settings.bridge.db)  # type: ignore[assignment]
    settings.media.root = _resolve(base, settings.media.root)  # type: ignore[assignment]
    settings.media.incoming = _resolve(base, settings.media.incoming)  # type: ignore[assignment]
    settings.media.qt_incoming = _resolve(base, settings.media.qt_incoming)
    settings.torrentino.auth_token_file = _resolve(base, settings.torrentino.auth_token_file)
    pz = settings.pezzottify
    pz.queue_db, pz.search_db = _resolve(base, pz.queue_db), _resolve(base, pz.search_db)
    pz.server_db, pz.user_db = _resolve(base, pz.server_db), _resolve(base, pz.user_db)
    _check_paths(settings)
    return settings


def _check_distinct_secrets(settings: Settings, qt_token: str | None) -> None:
    """Each role has a secret of its own: one shared between two roles would let a holder of
    the lesser one (say, the catalog server's service token) act as the other (the admin)."""
    http = settings.http
    secrets = {
        "http.admin_token": http.admin_token, "http.service_token": http.service_token,
        "http.callback_secret": http.callback_secret, "http.notify_secret": http.notify_secret,
    }
    values = {k: v.get_secret_value() for k, v in secrets.items() if v is not None}
    if qt_token:
        values["torrentino.auth_token"] = qt_token
    seen: dict[str, str] = {}
    for key, value in values.items():
        if value in seen:
            raise ConfigError(f"{key}: must differ from {seen[value]}; each role needs its own secret")
        seen[value] = key


def _check_paths(settings: Settings) -> None:
    token_file = settings.torrentino.auth_token_file
    qt_token = settings.torrentino.auth_token.get_secret_value() if settings.torrentino.auth_token else None
    if token_file is not None:
        try:
            qt_token = token_file.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigError(f"torrentino.auth_token_file: cannot read {token_file}: {err.strerror}") from None
        try:
            _check_secret(SecretStr(qt_token))
        except ValueError as err:
            raise ConfigError(f"torrentino.auth_token_file: {token_file} {err}") from None
    _check_distinct_secrets(settings, qt_token)
    if not settings.catalog.db.exists():
        raise ConfigError(f"catalog.db: {settings.catalog.db} does not exist")
    for key in ("queue_db", "search_db", "server_db", "user_db"):
        path = getattr(settings.pezzottify, key)
        # The server creates these; one that is missing is a wrong path, not a file to make.
        if path is not None and not path.is_file():
            raise ConfigError(f"pezzottify.{key}: {path} does not exist (it is the Pezzottify server's file)")
    bridge_parent = settings.bridge.db.parent
    if not bridge_parent.is_dir():
        raise ConfigError(f"bridge.db: directory {bridge_parent} does not exist")
    for key, path in (("media.root", settings.media.root), ("media.incoming", settings.media.incoming)):
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{key}: {path} is not a directory")
    if os.path.commonpath([settings.media.root, settings.media.incoming]) == str(settings.media.incoming):
        raise ConfigError("media.root: must not be inside media.incoming")
