import subprocess
import sys

import pytest

from tests.conftest import album, build_catalog, write_config
from torrentino_bridge.config import load_settings
from torrentino_bridge.errors import ConfigError


@pytest.fixture
def config(tmp_path):
    catalog = build_catalog(tmp_path / "catalog.db", [album("a", "b", "c", ["x"])])
    return write_config(tmp_path, catalog, "http://127.0.0.1:9")


def test_repo_example_config_is_valid(tmp_path, monkeypatch):
    # bridge.toml at the repo root must load once its catalog exists.
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "bridge.toml"
    text = example.read_text()
    catalog = build_catalog(tmp_path / "catalog.db", [album("a", "b", "c", ["x"])])
    monkeypatch.setenv("TORRENTINO_BRIDGE_CATALOG__DB", str(catalog))
    monkeypatch.setenv("TORRENTINO_BRIDGE_BRIDGE__DB", str(tmp_path / "bridge.db"))
    settings = load_settings(example)
    assert settings.catalog.db == catalog
    assert settings.torrentino.ticket.output_format == "ogg_vorbis"
    assert settings.torrentino.max_response_bytes == 8 * 1024 * 1024
    assert settings.torrentino.lookup_max_tickets == 50_000
    assert "[torrentino.rate_limits]" in text


def test_environment_overrides_file(config, monkeypatch):
    monkeypatch.setenv("TORRENTINO_BRIDGE_TORRENTINO__URL", "http://qt.internal:8080/api/v1")
    monkeypatch.setenv("TORRENTINO_BRIDGE_TORRENTINO__RATE_LIMITS__MAX_PENDING_PER_USER", "9")
    settings = load_settings(config)
    assert settings.torrentino.url == "http://qt.internal:8080"
    assert settings.torrentino.rate_limits.max_pending_per_user == 9


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[torrentino.rate_limits]\nrequests_per_user_per_day = -1\n",
         r"torrentino\.rate_limits\.requests_per_user_per_day"),
        ("[log]\nlevel = \"loud\"\n", "log.level"),
        ("[nonsense]\nx = 1\n", "nonsense: is not a known setting"),
        ("[torrentino.ticket]\npriority = 70000\n", r"torrentino\.ticket\.priority"),
        ("max_response_bytes = 1000\n", r"torrentino\.max_response_bytes"),   # under [torrentino]
        ("lookup_max_tickets = 5\n", r"torrentino\.lookup_max_tickets"),
    ],
)
def test_bad_values_name_the_key(tmp_path, extra, message):
    catalog = build_catalog(tmp_path / "catalog.db", [album("a", "b", "c", ["x"])])
    path = write_config(tmp_path, catalog, "http://127.0.0.1:9", extra=extra)
    with pytest.raises(ConfigError, match=message):
        load_settings(path)


@pytest.mark.parametrize("token", ["shared-secret", "changeme", "<your token>"])
def test_placeholder_tokens_are_refused(tmp_path, token):
    catalog = build_catalog(tmp_path / "catalog.db", [album("a", "b", "c", ["x"])])
    with pytest.raises(ConfigError, match=r"torrentino\.auth_token: is a placeholder"):
        load_settings(write_config(tmp_path, catalog, "http://127.0.0.1:9", token=token))


def test_token_file(tmp_path):
    catalog = build_catalog(tmp_path / "catalog.db", [album("a", "b", "c", ["x"])])
    token_file = tmp_path / "token"
    token_file.write_text("s3cr3t-value-0123\n")
    path = write_config(tmp_path, catalog, "http://127.0.0.1:9", token=None,
                        extra=f'auth_token_file = "{token_file}"\n')
    settings = load_settings(path)
    assert settings.torrentino.read_token() == "s3cr3t-value-0123"
    token_file.write_text("rotated-value")
    assert settings.torrentino.read_token() == "rotated-value"


def test_missing_catalog_is_a_config_error(tmp_path):
    path = write_config(tmp_path, tmp_path / "nope.db", "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match=r"catalog\.db: .* does not exist"):
        load_settings(path)


def test_bad_config_exits_2_with_one_clear_line(tmp_path):
    catalog = build_catalog(tmp_path / "catalog.db", [album("a", "b", "c", ["x"])])
    path = write_config(tmp_path, catalog, "ftp://nowhere")
    proc = subprocess.run([sys.executable, "-m", "torrentino_bridge", "run", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "torrentino.url: must be an http:// or https:// URL" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_password_in_the_qt_url_is_refused(tmp_path):
    catalog = build_catalog(tmp_path / "catalog.db", [album("a", "b", "c", ["x"])])
    with pytest.raises(ConfigError, match="must not contain a user or password") as err:
        load_settings(write_config(tmp_path, catalog, "http://bridge:hunter2@qt:8080"))
    assert "hunter2" not in str(err.value)


def test_pezzottify_files_resolve_relative_and_must_exist(tmp_path):
    catalog = build_catalog(tmp_path / "catalog.db", [album("a", "b", "c", ["x"])])
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "download_queue.db").write_bytes(b"")
    path = write_config(tmp_path, catalog, "http://127.0.0.1:9",
                        extra='\n[pezzottify]\nqueue_db = "db/download_queue.db"\n')
    settings = load_settings(path)
    assert settings.pezzottify.queue_db == tmp_path / "db" / "download_queue.db"
    assert settings.pezzottify.search_db is None

    path.write_text(path.read_text() + 'search_db = "db/search.db"\n')
    with pytest.raises(ConfigError, match=r"pezzottify\.search_db: .*search\.db does not exist"):
        load_settings(path)


# -- secrets: long enough, one per role, webhook key in the Standard Webhooks form ------------

WEBHOOK_KEY = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"   # base64 of 24 bytes


@pytest.mark.parametrize("key", ["admin_token", "service_token", "callback_secret"])
def test_short_http_tokens_are_refused(tmp_path, monkeypatch, key):
    catalog = build_catalog(tmp_path / "catalog.db", [album("a", "b", "c", ["x"])])
    monkeypatch.setenv(f"TORRENTINO_BRIDGE_HTTP__{key.upper()}", "abc123def456xyz")   # 15 characters
    path = write_config(tmp_path, catalog, "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match=rf"http\.{key}: is shorter than 16 characters"):
        load_settings(path)


def test_short_qt_tokens_are_refused_inline_and_in_a_file(tmp_path):
    catalog = build_catalog(tmp_path / "catalog.db", [album("a", "b", "c", ["x"])])
    with pytest.raises(ConfigError, match=r"torrentino\.auth_token: is shorter than 16"):
        load_settings(write_config(tmp_path, catalog, "http://127.0.0.1:9", token="short-token"))
    token_file = tmp_path / "token"
    token_file.write_text("short-token\n")
    path = write_config(tmp_path, catalog, "http://127.0.0.1:9", token=None,
                        extra=f'auth_token_file = "{token_file}"\n')
    with pytest.raises(ConfigError, match=r"torrentino\.auth_token_file: .* is shorter than 16"):
        load_settings(path)


@pytest.mark.parametrize(("first", "second"), [
    ("admin_token", "service_token"), ("service_token", "callback_secret"), ("admin_token", "callback_secret"),
])
def test_one_secret_for_two_roles_is_refused(tmp_path, monkeypatch, first, second):
    catalog = build_catalog(tmp_path / "catalog.db", [album("a", "b", "c", ["x"])])
    monkeypatch.setenv(f"TORRENTINO_BRIDGE_HTTP__{first.upper()}", "the-very-same-secret-1")
    monkeypatch.setenv(f"TORRENTINO_BRIDGE_HTTP__{second.upper()}", "the-very-same-secret-1")
    with pytest.raises(ConfigError) as err:
        load_settings(write_config(tmp_path, catalog, "http://127.0.0.1:9"))
    assert f"http.{second}: must differ from http.{first}" in str(err.value)
    assert "the-very-same-secret-1" not in str(err.value)


def test_the_qt_token_may_not_double_as_a_bridge_token(tmp_path, monkeypatch):
    from tests.conftest import TEST_TOKEN

    catalog = build_catalog(tmp_path / "catalog.db", [album("a", "b", "c", ["x"])])
    monkeypatch.setenv("TORRENTINO_BRIDGE_HTTP__ADMIN_TOKEN", TEST_TOKEN)
    with pytest.raises(ConfigError, match=r"torrentino\.auth_token: must differ from http\.admin_token"):
        load_settings(write_config(tmp_path, catalog, "http://127.0.0.1:9"))


@pytest.mark.parametrize(("secret", "message"), [
    ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must be a Standard Webhooks key"),
    ("whsec_not*base64*at*all!!", "is not valid base64"),
    ("whsec_c2hvcnQta2V5LWJ5dGVz", "must hold 24 to 64 bytes"),
    ("changeme", "is a placeholder"),
])
def test_notify_secret_is_a_standard_webhooks_key(tmp_path, monkeypatch, secret, message):
    catalog = build_catalog(tmp_path / "catalog.db", [album("a", "b", "c", ["x"])])
    monkeypatch.setenv("TORRENTINO_BRIDGE_HTTP__NOTIFY_SECRET", secret)
    with pytest.raises(ConfigError, match=rf"http\.notify_secret: {message}"):
        load_settings(write_config(tmp_path, catalog, "http://127.0.0.1:9"))


def test_notify_urls_need_a_signing_key(tmp_path, monkeypatch):
    catalog = build_catalog(tmp_path / "catalog.db", [album("a", "b", "c", ["x"])])
    monkeypatch.setenv("TORRENTINO_BRIDGE_HTTP__NOTIFY_URLS", '["http://127.0.0.1:9/hook"]')
    with pytest.raises(ConfigError, match="notify_urls needs notify_secret"):
        load_settings(write_config(tmp_path, catalog, "http://127.0.0.1:9"))
    monkeypatch.setenv("TORRENTINO_BRIDGE_HTTP__NOTIFY_SECRET", WEBHOOK_KEY)
    settings = load_settings(write_config(tmp_path, catalog, "http://127.0.0.1:9"))
    assert settings.http.notify_secret is not None
