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
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${need_pkgs[@]}"
fi

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
trap 'rm -f "$results"' EXIT
status=0
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$results" || status=$?
# One closing line for the whole suite (cargo prints one per test binary, the last of which is
# a doc-test run with nothing in it).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$results"
exit "$status"

