#!/usr/bin/env bash
# The README's run command: builds the web player/console and the onair binary (release), then
# starts a single node on embedded defaults. Extra arguments go to `onair serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
  echo "==> installing Node.js and npm (for the web player)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi
npm --prefix web ci --no-audit --no-fund --loglevel=error
npm --prefix web run build
exec cargo run --release -p onair-server -- serve "$@"
