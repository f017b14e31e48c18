#!/usr/bin/env python3
"""LL-HLS latency on loopback.

Starts a release `onair`, publishes the fixture in real time with ffmpeg, and runs an LL-HLS
client that always asks for the next part with a blocking playlist request (_HLS_msn/_HLS_part)
and then fetches the preload-hinted part. Reports, from the server's own histograms:
  * onair_part_latency_seconds: a part's first frame arriving -> the part fetchable
  * onair_hls_blocking_reload_delay_seconds: the awaited part closing -> the playlist answer
and, client side, how long each blocking request and hinted-part fetch took.

  python3 bench/latency.py [SECONDS]      (run from the repository root after a release build)
Only 127.0.0.1 is used; the run is bounded by SECONDS.
"""
import re, subprocess, sys, tempfile, threading, time, urllib.request

SECS = int(sys.argv[1]) if len(sys.argv) > 1 else 30
HTTP, RTMP = "127.0.0.1:18090", "127.0.0.1:19360"
BASE = f"http://{HTTP}/live/lat/"


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def quantiles(metrics, name):
    buckets = []
    for m in re.finditer(rf'^{name}_bucket{{le="([^"]+)"}} (\d+)', metrics, re.M):
        le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
        buckets.append((le, int(m.group(2))))
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    out = {}
    for q in (0.5, 0.9, 0.99):
        out[q] = next(le for le, c in buckets if c >= q * total)
    return total, out


def main():
    data = tempfile.mkdtemp()
    server = subprocess.Popen(["target/release/onair", "serve", "--http-listen", HTTP, "--rtmp-listen", RTMP,
                               "--data-dir", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    pub = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1",
                            "-i", "testdata/live_h264_aac.flv", "-t", str(SECS + 5), "-c", "copy", "-f", "flv",
                            f"rtmp://{RTMP}/live/lat"])
    try:
        deadline = time.time() + 15
        while True:
            try:
                text = get(BASE + "llhls.m3u8").decode()
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        waits, fetches = [], []
        end = time.time() + SECS
        while time.time() < end:
            hint = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"', text)
            if not hint:
                break
            uri = hint.group(1)
            # The hinted part's (MSN, index) for the blocking request: after the last segment
            # listed, one past the trailing parts.
            seq0 = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))
            lines = text.splitlines()
            segs = sum(1 for l in lines if l.startswith("#EXTINF"))
            last_inf = max((i for i, l in enumerate(lines) if l.startswith("#EXTINF")), default=-1)
            trailing = sum(1 for l in lines[last_inf + 1:] if l.startswith("#EXT-X-PART:"))
            msn, part = seq0 + segs, trailing
            # As hls.js does: the blocking playlist request and the hinted part, in parallel.
            result = {}

            def fetch_part():
                t = time.perf_counter()
                result["body"] = get(BASE + uri)
                fetches.append(time.perf_counter() - t)

            th = threading.Thread(target=fetch_part)
            th.start()
            t0 = time.perf_counter()
            text = get(BASE + f"llhls.m3u8?_HLS_msn={msn}&_HLS_part={part}").decode()
            waits.append(time.perf_counter() - t0)
            th.join()
            assert result.get("body")
        metrics = get(f"http://{HTTP}/metrics").decode()
    finally:
        pub.kill()
        server.terminate()
        server.wait(10)

    def pct(xs, q):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000

    print(f"parts followed: {len(fetches)} in {SECS} s")
    print(f"client: hinted-part fetch (held until the part exists) p50 {pct(fetches, .5):.1f} ms, p99 {pct(fetches, .99):.1f} ms")
    print(f"client: blocking playlist request for the same part  p50 {pct(waits, .5):.1f} ms, p99 {pct(waits, .99):.1f} ms")
    for name in ("onair_part_latency_seconds", "onair_hls_blocking_reload_delay_seconds"):
        q = quantiles(metrics, name)
        if q:
            total, qs = q
            print(f"server: {name}: n={total}, p50 <= {qs[0.5]*1000:g} ms, p90 <= {qs[0.9]*1000:g} ms, p99 <= {qs[0.99]*1000:g} ms (bucket bounds)")
        else:
            print(f"server: {name}: no samples")


if __name__ == "__main__":
    main()
