"""deploy/: the systemd unit verified by systemd itself, the compose file by compose, the
Dockerfile's facts, and the container healthcheck run for real against an HTTP server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

import pytest
from aiohttp import web

from torrentino_bridge.config import (
    BridgeDbSettings,
    CatalogSettings,
    HttpSettings,
    LogSettings,
    MediaSettings,
    PezzottifySettings,
    TorrentinoSettings,
)
from torrentino_bridge.errors import EXIT_CONFIG, EXIT_SCHEMA

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "torrentino-bridge.service"
COMPOSE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
EXEC = "/opt/torrentino-bridge/venv/bin/torrentino-bridge"
NEEDS_SYSTEMD = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (apt-get install systemd)",
)
SECTIONS = {
    "catalog": CatalogSettings, "bridge": BridgeDbSettings, "media": MediaSettings,
    "http": HttpSettings, "torrentino": TorrentinoSettings, "log": LogSettings,
}


# --- systemd ------------------------------------------------------------------------------

def unit_entries(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) in order; repeated keys stay separate, as systemd reads them."""
    entries, section = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(key: str, section: str = "Service") -> list[str]:
    return [v for s, k, v in unit_entries(UNIT.read_text()) if s == section and k == key]


def unit_for_verify(tmp_path: Path, text: str | None = None) -> Path:
    """The unit with ExecStart pointed at a binary that exists here; all else unchanged.

    verify refuses an ExecStart whose binary is missing, and /opt/... exists only on a host.
    """
    real = Path(sys.executable).with_name("torrentino-bridge")
    assert real.exists(), f"{real} missing: is the project installed in this venv?"
    text = (text if text is not None else UNIT.read_text()).replace(EXEC, str(real))
    path = tmp_path / UNIT.name
    path.write_text(text)
    return path


def verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)],
                          capture_output=True, text=True, timeout=60)


def complaints(done: subprocess.CompletedProcess[str]) -> list[str]:
    # Unknown keys and bad values are warnings with exit status 0: read them too.
    return [line for line in done.stderr.splitlines() if UNIT.name in line]


@NEEDS_SYSTEMD
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    done = verify(unit_for_verify(tmp_path))
    assert done.returncode == 0 and not complaints(done), done.stderr


@NEEDS_SYSTEMD
def test_verify_would_catch_a_misspelt_key(tmp_path: Path) -> None:
    broken = UNIT.read_text().replace("NoNewPrivileges=yes", "NoNewPrivilege=yes")
    done = verify(unit_for_verify(tmp_path, broken))
    assert any("NoNewPrivilege" in line for line in complaints(done)), done.stderr


@NEEDS_SYSTEMD
def test_verify_fails_on_a_missing_binary_hence_the_rewrite(tmp_path: Path) -> None:
    path = tmp_path / UNIT.name
    path.write_text(UNIT.read_text().replace(EXEC, str(tmp_path / "no-such-binary")))
    done = verify(path)
    assert done.returncode != 0 and "no-such-binary" in done.stderr


@NEEDS_SYSTEMD
def test_unit_hardening_exposure_stays_low(tmp_path: Path) -> None:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=20", str(unit_for_verify(tmp_path))],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr


def test_unit_key_facts() -> None:
    one = {k: unit_values(k)[-1] for k in (
        "Type", "Restart", "TimeoutStopSec", "KillSignal", "EnvironmentFile", "ExecStart", "User",
        "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "CapabilityBoundingSet",
        "RestrictAddressFamilies", "WatchdogSec", "NotifyAccess", "StateDirectory",
    )}
    assert one["Type"] == "notify" and one["NotifyAccess"] == "main"
    assert int(one["WatchdogSec"]) > 0
    assert one["Restart"] == "on-failure"
    assert unit_values("RestartPreventExitStatus")[-1].split() == [str(EXIT_CONFIG), str(EXIT_SCHEMA)]
    assert (one["TimeoutStopSec"], one["KillSignal"]) == ("15", "SIGTERM")
    assert one["EnvironmentFile"] == "/etc/torrentino-bridge/env"
    assert one["ExecStart"] == f"{EXEC} run --config /etc/torrentino-bridge/bridge.toml"
    assert one["User"] == "torrentino-bridge"
    assert (one["NoNewPrivileges"], one["ProtectSystem"], one["ProtectHome"], one["PrivateTmp"]) == (
        "yes", "strict", "yes", "yes")
    assert one["CapabilityBoundingSet"] == ""
    # AF_UNIX is needed for sd_notify and the journal.
    assert set(one["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert "@system-service" in unit_values("SystemCallFilter")
    for key in ("ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs"):
        assert unit_values(key) == ["yes"], key
    assert "TORRENTINO_BRIDGE_TORRENTINO__AUTH_TOKEN" not in " ".join(unit_values("Environment"))


@NEEDS_SYSTEMD
def test_the_unit_lets_the_daemon_keep_to_its_cores() -> None:
    """bridge.cpus needs sched_setaffinity, which the unit's deny list (@resources) covers:
    a later allow entry takes it back out, or pinning is refused with EPERM."""
    resources = subprocess.run(["systemd-analyze", "syscall-filter", "@resources"], capture_output=True,
                               text=True, check=True).stdout.split()
    assert "sched_setaffinity" in resources
    filters = unit_values("SystemCallFilter")
    deny = next(i for i, v in enumerate(filters) if v.startswith("~") and "@resources" in v)
    assert any("sched_setaffinity" in v.split() and not v.startswith("~") for v in filters[deny + 1:])


def _writable_roots() -> list[PurePosixPath]:
    roots = [PurePosixPath("/var/lib") / unit_values("StateDirectory")[-1]]
    for value in unit_values("ReadWritePaths"):
        roots += [PurePosixPath(p.lstrip("-")) for p in value.split()]
    return roots


def test_systemd_example_config_is_valid_and_writable_under_the_unit() -> None:
    data = tomllib.loads((DEPLOY / "bridge.systemd.toml").read_text())
    for name, model in SECTIONS.items():
        model.model_validate(data[name])
    written = [data["catalog"]["db"], data["bridge"]["db"], data["media"]["root"] + "/x",
               data["media"]["incoming"] + "/x", *data["pezzottify"].values()]
    PezzottifySettings.model_validate(data["pezzottify"])
    roots = _writable_roots()
    for path in written:
        folder = PurePosixPath(path).parent
        assert any(folder == r or r in folder.parents for r in roots), (path, roots)


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None,
                    reason="systemd-sysusers is not installed (apt-get install systemd)")
def test_sysusers_file_declares_the_service_user() -> None:
    done = subprocess.run(["systemd-sysusers", "--dry-run", str(DEPLOY / "torrentino-bridge.sysusers.conf")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    # Either it would create the user, or the user already exists on this machine.
    assert "torrentino-bridge" in out or "Would write" not in out


# --- Dockerfile ---------------------------------------------------------------------------

def dockerfile_instructions(stage: int = -1) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of one stage (default: the final one), continuations joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[tuple[str, str]]] = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            stages.append([])
        stages[-1].append((word.upper(), rest.strip()))
    return stages[stage]


def docker_healthcheck_cmd() -> list[str]:
    rest = dict(dockerfile_instructions())["HEALTHCHECK"]
    return json.loads(rest[rest.index("CMD") + 3:].strip())


def test_dockerfile_facts() -> None:
    steps = dockerfile_instructions()
    first = dict(steps)
    assert first["FROM"] == "python:3.11-slim"
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "/healthz" in first["HEALTHCHECK"]
    assert json.loads(first["ENTRYPOINT"]) == ["torrentino-bridge", "run", "--config", "/config/bridge.toml"]
    assert any(word == "RUN" and "pip install ." in args for word, args in dockerfile_instructions(0))
    assert ("COPY", "--from=build /opt/venv /opt/venv") in steps


def test_docker_config_is_valid_for_every_section() -> None:
    data = tomllib.loads((DEPLOY / "bridge.docker.toml").read_text())
    for name, model in SECTIONS.items():
        model.model_validate(data[name])
    PezzottifySettings.model_validate(data["pezzottify"])
    assert data["http"]["host"] == "0.0.0.0"  # reachable from the healthcheck and the network


@pytest.fixture
async def health_server() -> AsyncIterator[tuple[int, dict[str, int]]]:
    answer = {"status": 200}

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"alive": answer["status"] == 200}, status=answer["status"])

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield port, answer
    finally:
        await runner.cleanup()


async def _probe(cmd: list[str], port: int) -> int:
    if cmd[0] == "CMD":
        cmd = cmd[1:]
    assert cmd[0] == "python"
    argv = [sys.executable, *cmd[1:]]
    env = {**os.environ, "TORRENTINO_BRIDGE_HTTP__PORT": str(port)}
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    return await asyncio.wait_for(proc.wait(), 60)


def compose_healthcheck_cmd() -> list[str]:
    match = re.search(r"^\s*test:\s*(\[.*\])\s*$", COMPOSE.read_text(), re.M)
    assert match, "no one-line healthcheck test in docker-compose.yml"
    return json.loads(match.group(1))


@pytest.mark.parametrize("source", ["Dockerfile", "docker-compose.yml"])
async def test_healthcheck_probe_really_probes(
    source: str, health_server: tuple[int, dict[str, int]]
) -> None:
    cmd = docker_healthcheck_cmd() if source == "Dockerfile" else compose_healthcheck_cmd()
    port, answer = health_server
    assert await _probe(cmd, port) == 0
    answer["status"] = 503
    assert await _probe(cmd, port) == 1
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    assert await _probe(cmd, closed) == 1


# --- docker compose -----------------------------------------------------------------------

def compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


COMPOSE_ENV = {"QT_API_KEY": "k" * 32, "BRIDGE_ADMIN_TOKEN": "a" * 32}


def run_compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = compose_command()
    if cmd is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed (apt-get install docker-compose)")
    clean = {k: v for k, v in os.environ.items() if k not in COMPOSE_ENV}
    return subprocess.run([*cmd, "-f", str(COMPOSE), *args], capture_output=True, text=True,
                          env={**clean, **env}, timeout=120, cwd=DEPLOY)


def test_compose_file_is_valid() -> None:
    done = run_compose("config", "--quiet", env=COMPOSE_ENV)
    assert done.returncode == 0, done.stderr
    services = run_compose("config", "--services", env=COMPOSE_ENV)
    assert set(services.stdout.split()) == {"pezzottify", "quentin-torrentino", "volume-init",
                                            "torrentino-bridge"}


def test_compose_refuses_to_start_without_the_secrets() -> None:
    done = run_compose("config", "--quiet", env={})
    assert done.returncode != 0
    assert "QT_API_KEY" in done.stderr or "BRIDGE_ADMIN_TOKEN" in done.stderr


def test_compose_key_facts() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (pip install pyyaml)")
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    bridge, qt, catalog = services["torrentino-bridge"], services["quentin-torrentino"], services["pezzottify"]

    def mounts(service: dict) -> dict[str, str]:
        return {v.split(":")[0]: v.split(":")[1] for v in service["volumes"]}

    assert catalog["image"] == "ghcr.io/pezzottify/catalog-server:latest"
    assert qt["image"] == "ghcr.io/quentin-torrentino/server:latest"
    assert bridge["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    # A real Pezzottify deployment: db_dir /data/db, media_path /data/media, port 3001; the
    # bridge mounts both at the same places, QT the media volume (its incoming is inside).
    assert mounts(catalog) == {"pezzottify-db": "/data/db", "pezzottify-media": "/data/media"}
    assert catalog["ports"] == ["3001:3001"]
    assert mounts(bridge)["pezzottify-db"] == "/data/db"
    assert mounts(qt)["pezzottify-media"] == mounts(bridge)["pezzottify-media"] == "/data/media"
    assert set(doc["volumes"]) >= {"pezzottify-db", "pezzottify-media", "bridge-data"}
    for service in (bridge, qt, catalog):
        assert service["restart"] == "unless-stopped"
    assert set(bridge["depends_on"]) >= {"pezzottify", "quentin-torrentino"}
    assert "/healthz" in " ".join(bridge["healthcheck"]["test"])
    env = bridge["environment"]
    assert env["TORRENTINO_BRIDGE_TORRENTINO__AUTH_TOKEN"].startswith("${QT_API_KEY")
    assert env["TORRENTINO_BRIDGE_HTTP__ADMIN_TOKEN"].startswith("${BRIDGE_ADMIN_TOKEN")
    assert qt["environment"]["QT_AUTH_API_KEY"].startswith("${QT_API_KEY")

    # The container config's paths sit on the volumes mounted at those places, and every
    # Pezzottify file is the server's own under its db_dir.
    config = tomllib.loads((DEPLOY / "bridge.docker.toml").read_text())
    bridge_mounts = {PurePosixPath(target) for target in mounts(bridge).values()}
    pz = config["pezzottify"]
    for path in (config["catalog"]["db"], config["bridge"]["db"], config["media"]["root"] + "/x",
                 config["media"]["incoming"], *pz.values()):
        assert any(m in PurePosixPath(path).parents for m in bridge_mounts), path
    assert config["media"]["root"] == "/data/media" and config["catalog"]["layout"] == "pezzottify"
    assert {k: PurePosixPath(v) for k, v in pz.items()} == {
        "queue_db": PurePosixPath("/data/db/download_queue.db"), "search_db": PurePosixPath("/data/db/search.db"),
        "server_db": PurePosixPath("/data/db/server.db"), "user_db": PurePosixPath("/data/db/user.db")}
    assert mounts(bridge)["./bridge.docker.toml"] == "/config/bridge.toml"
