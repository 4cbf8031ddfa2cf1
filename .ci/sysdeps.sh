#!/usr/bin/env bash
# Installs the system tools the test suite drives, when missing and when we can.
set -euo pipefail
need=()
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# `docker compose config` validates deploy/docker-compose.yml (no engine needed); Debian
# packages the standalone docker-compose.
{ command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1; } || need+=(docker-compose)
[ ${#need[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing ${need[*]} (apt-get)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "note: ${need[*]} missing and cannot be installed here; the tests that need them will skip"
fi
