#!/usr/bin/env bash
# Loopback ingest, side by side: the same N real-time ffmpeg publishers against OnAir and against
# nginx-rtmp (Debian nginx + libnginx-mod-rtmp with `hls on`), one after the other in one run.
# Reports server CPU seconds per GB ingested. Only 127.0.0.1 is used; every loop is bounded.
#
#   bash bench/ingest-vs-nginx.sh [PUBLISHERS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-8}
SECS=${2:-30}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
# A realistic contribution stream, made here (not committed): 720p30 H.264 at ~3 Mbit/s with a
# 2 s GOP and B-frames, AAC-LC 128 kbit/s stereo.
FIXTURE="$WORK/input.flv"
ffmpeg -hide_banner -loglevel error -nostdin -f lavfi -i testsrc2=size=1280x720:rate=30 \
  -f lavfi -i sine=frequency=440:sample_rate=48000 -t 10 -c:v libx264 -preset veryfast \
  -b:v 3M -maxrate 3M -bufsize 6M -g 60 -keyint_min 60 -sc_threshold 0 -c:a aac -b:a 128k -ac 2 \
  -f flv "$FIXTURE"

command -v nginx >/dev/null && [ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] || {
  echo "installing nginx + libnginx-mod-rtmp"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx libnginx-mod-rtmp >/dev/null; }
cargo build --release -q -p onair-server

cpu_seconds() { # utime+stime of a pid and its children that were waited for, in seconds
  awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15+$16+$17)/hz}' "/proc/$1/stat"
}

run_publishers() { # $1 = rtmp base url; prints bytes sent in total
  local pids=()
  for i in $(seq 1 "$N"); do
    ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 -i "$FIXTURE" -t "$SECS" \
      -c copy -f flv "$1/bench$i" &
    pids+=($!)
  done
  wait "${pids[@]}" || true
}

fixture_rate=$(ffprobe -v error -show_entries format=bit_rate -of csv=p=0 "$FIXTURE")
bytes=$(( fixture_rate / 8 * SECS * N ))

# --- OnAir ---
./target/release/onair serve --rtmp-listen 127.0.0.1:19350 --http-listen 127.0.0.1:18080 \
  --data-dir "$WORK/onair" >"$WORK/onair.log" 2>&1 &
ONAIR=$!
sleep 1
c0=$(cpu_seconds $ONAIR)
run_publishers rtmp://127.0.0.1:19350/live
c1=$(cpu_seconds $ONAIR)
kill $ONAIR; wait $ONAIR 2>/dev/null || true

# --- nginx-rtmp (hls on) ---
mkdir -p "$WORK/nginx/hls" "$WORK/nginx/logs"
cat >"$WORK/nginx/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
events { worker_connections 1024; }
rtmp { server { listen 127.0.0.1:19351; application live { live on; hls on; hls_path $WORK/nginx/hls; hls_fragment 2s; } } }
CONF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
NGINX=$!
sleep 1
WORKER=$(pgrep -P $NGINX | head -1)
n0=$(cpu_seconds "$WORKER")
run_publishers rtmp://127.0.0.1:19351/live
n1=$(cpu_seconds "$WORKER")
kill $NGINX; wait $NGINX 2>/dev/null || true

gb=$(awk -v b="$bytes" 'BEGIN{print b/1e9}')
awk -v o="$(echo "$c1 - $c0" | bc -l)" -v n="$(echo "$n1 - $n0" | bc -l)" -v gb="$gb" -v N="$N" -v S="$SECS" 'BEGIN{
  printf "publishers=%d seconds=%d ingested=%.3f GB\n", N, S, gb;
  printf "onair:       %.2f CPU s  -> %.1f CPU s/GB  (LL-HLS fMP4 + HLS TS + hub)\n", o, o/gb;
  printf "nginx-rtmp:  %.2f CPU s  -> %.1f CPU s/GB  (hls on)\n", n, n/gb;
}'
