#!/usr/bin/env bash
# OnAir's whole test suite: installs what the tests need (idempotently), then runs every check.
# This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# --- System packages the tests use as real clients and oracles ---------------------------------
need_pkgs=()
command -v ffmpeg >/dev/null 2>&1 || need_pkgs+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need_pkgs+=(ffmpeg)
command -v gst-launch-1.0 >/dev/null 2>&1 || need_pkgs+=(gstreamer1.0-tools)
# rtmp2sink lives in plugins-bad; x264enc in plugins-ugly; flvmux in plugins-good.
gst-inspect-1.0 rtmp2sink >/dev/null 2>&1 || need_pkgs+=(gstreamer1.0-plugins-bad gstreamer1.0-plugins-good gstreamer1.0-plugins-base)
gst-inspect-1.0 x264enc >/dev/null 2>&1 || need_pkgs+=(gstreamer1.0-plugins-ugly)
# The web player is built with Node.js and tested in Debian's Chromium.
command -v node >/dev/null 2>&1 || need_pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || need_pkgs+=(npm)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
# avenc_aac (the GStreamer publisher's audio encoder) is in gstreamer1.0-libav.
gst-inspect-1.0 avenc_aac >/dev/null 2>&1 || need_pkgs+=(gstreamer1.0-libav)
# GStreamer as the strict player (playbin3): hlsdemux2, qtdemux and souphttpsrc (plugins-good,
# HTTP through libsoup 3), tsdemux (plugins-bad), libav decoders.
for e in hlsdemux2 qtdemux souphttpsrc; do
  gst-inspect-1.0 "$e" >/dev/null 2>&1 || need_pkgs+=(gstreamer1.0-plugins-good libsoup-3.0-0)
done
gst-inspect-1.0 tsdemux >/dev/null 2>&1 || need_pkgs+=(gstreamer1.0-plugins-bad)
gst-inspect-1.0 avdec_h265 >/dev/null 2>&1 || need_pkgs+=(gstreamer1.0-libav)
# nginx is the CDN edge of tests/cdn.rs (deploy/nginx-cdn.conf); the test runs its own nginx
# in a temporary directory on loopback. Debian's package would start nginx.service on port 80:
# on systemd hosts the unit is masked during the install (and unmasked after, left stopped).
mask_nginx=""
if ! command -v nginx >/dev/null 2>&1 && ! [ -x /usr/sbin/nginx ]; then
  need_pkgs+=(nginx)
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then mask_nginx=1; fi
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  if [ -n "$mask_nginx" ]; then $SUDO systemctl mask nginx.service >/dev/null; fi
  $SUDO apt-get install -y -q --no-install-recommends "${need_pkgs[@]}"
  if [ -n "$mask_nginx" ]; then $SUDO systemctl unmask nginx.service >/dev/null; fi
fi

# --- PostgreSQL: every metadata test also runs on it ---------------------------------------------
# Uses the server at ONAIR_TEST_POSTGRES_URL (default: 127.0.0.1:5432, database test); where none
# answers, starts a throwaway server in a temporary directory and stops it at exit.
cleanup=()
on_exit() { for c in "${cleanup[@]}"; do eval "$c" || true; done; }
trap on_exit EXIT
export ONAIR_TEST_POSTGRES_URL="${ONAIR_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if ! command -v psql >/dev/null 2>&1 || [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  log "installing postgresql"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends postgresql postgresql-client
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
if psql "$ONAIR_TEST_POSTGRES_URL" -Atqc 'SELECT 1' >/dev/null 2>&1; then
  log "PostgreSQL: using $ONAIR_TEST_POSTGRES_URL"
else
  pg_dir=$(mktemp -d /tmp/onair-pg.XXXXXX)
  pg_port=55432
  while (echo >/dev/tcp/127.0.0.1/$pg_port) 2>/dev/null; do pg_port=$((pg_port + 1)); done
  log "PostgreSQL: none answers at $ONAIR_TEST_POSTGRES_URL; starting a throwaway server on 127.0.0.1:$pg_port"
  # The server refuses to run as root: run it as the postgres user when we are root.
  as_pg=()
  if [ "$(id -u)" = 0 ]; then chown postgres "$pg_dir"; as_pg=(runuser -u postgres --); fi
  "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
    -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >/dev/null
  cleanup+=("${as_pg[*]} $pg_bin/pg_ctl -D $pg_dir/data -m fast -w stop >/dev/null; rm -rf $pg_dir")
  export ONAIR_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
fi

# --- Web player and console: built first, so the binary embeds them ---------------------------
log "web: npm ci && npm run build (typecheck + vite)"
npm --prefix web ci --no-audit --no-fund --loglevel=error
npm --prefix web run build

# --- Rust checks and tests ----------------------------------------------------------------------
export CARGO_TERM_COLOR=never
log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "fuzz targets build (cargo check; fuzzing itself: see fuzz/README.md)"
cargo check --manifest-path fuzz/Cargo.toml --locked --quiet

log "cargo test"
results=$(mktemp)
cleanup+=("rm -f $results")
status=0
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$results" || status=$?
# One closing line for the whole suite (cargo prints one per test binary, the last of which is
# a doc-test run with nothing in it).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$results"
exit "$status"

