#!/usr/bin/env bash
# Install everything nodered-causal and its tests need, from this repo's own files.
#   scripts/setup.sh          Python venv (.venv) with the package and dev tools
#   scripts/setup.sh --system also the Debian packages the tests use (graphviz, docker-compose,
#                             chromium) and a local Mosquitto if none answers on 127.0.0.1:1883
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--system" ]; then
  need=()
  command -v dot >/dev/null 2>&1 || need+=(graphviz)
  command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v mosquitto >/dev/null 2>&1 || need+=(mosquitto)
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "setup: installing Debian packages: ${need[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null
      apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
      echo "setup: missing ${need[*]} (install with: sudo apt-get install ${need[*]})" >&2
    fi
  fi
  if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
    echo "setup: starting mosquitto on 127.0.0.1:1883"
    mosquitto -d -c /etc/mosquitto/mosquitto.conf 2>/dev/null || mosquitto -d -p 1883
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[dev]'
