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

cpu_ticks() { # "user system" clock ticks of a pid
  awk '{print $14, $15}' "/proc/$1/stat"
}
HZ=$(getconf CLK_TCK)

run_publishers() { # $1 = rtmp base url
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

measure() { # $1 = pid, $2 = rtmp url; prints "user_s sys_s"
  local a b
  a=$(cpu_ticks "$1")
  run_publishers "$2"
  b=$(cpu_ticks "$1")
  echo "$a $b" | awk -v hz="$HZ" '{printf "%.2f %.2f\n", ($3-$1)/hz, ($4-$2)/hz}'
}

onair_round() {
  ./target/release/onair serve --rtmp-listen 127.0.0.1:19350 --http-listen 127.0.0.1:18080 \
    --data-dir "$WORK/onair" >"$WORK/onair.log" 2>&1 &
  local pid=$!
  sleep 1
  measure $pid rtmp://127.0.0.1:19350/live
  kill $pid; wait $pid 2>/dev/null || true
}

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

nginx_round() {
  nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
  local master=$!
  sleep 1
  measure "$(pgrep -P $master | head -1)" rtmp://127.0.0.1:19351/live
  kill $master; wait $master 2>/dev/null || true
}

# Alternate the servers so drift on a shared machine hits both alike; report each round and
# the median of the totals.
ROUNDS=${ROUNDS:-3}
gb=$(awk -v b="$bytes" 'BEGIN{print b/1e9}')
echo "publishers=$N seconds=$SECS rounds=$ROUNDS ingested per run=$gb GB (estimated from the input bit rate)"
: >"$WORK/onair.txt"; : >"$WORK/nginx.txt"
for r in $(seq 1 "$ROUNDS"); do
  o=$(onair_round); n=$(nginx_round)
  echo "round $r: onair user/sys $o s   nginx-rtmp user/sys $n s"
  echo "$o" >>"$WORK/onair.txt"; echo "$n" >>"$WORK/nginx.txt"
done
median() { awk '{print $1+$2}' "$1" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
mo=$(median "$WORK/onair.txt"); mn=$(median "$WORK/nginx.txt")
awk -v o="$mo" -v n="$mn" -v gb="$gb" 'BEGIN{
  printf "median onair:      %.2f CPU s -> %.1f CPU s/GB (LL-HLS fMP4 + HLS TS + hub)\n", o, o/gb;
  printf "median nginx-rtmp: %.2f CPU s -> %.1f CPU s/GB (hls on)\n", n, n/gb;
  printf "ratio onair/nginx: %.2f\n", o/n;
}'
