//! The CDN tier: Debian's nginx with `deploy/nginx-cdn.conf` in front of an in-process origin.
//! Many concurrent LL-HLS viewers (blocking playlist reloads, preload-hinted parts, parts,
//! segments) go through the edge; nginx's access log tells which requests reached the origin.
//! Checks request coalescing (about one origin fetch per object however many viewers wait),
//! that playback through the edge is intact, and that `private` answers are never shared.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::api::{Api, user};
use common::playlist::{self, MediaPlaylist};
use common::*;
use onair_server::db::users::Role;
use serde_json::json;

/// Concurrent LL-HLS viewers behind the edge.
const VIEWERS: usize = 50;
const LIMIT: Duration = Duration::from_secs(60);

/// nginx running `deploy/nginx-cdn.conf` rendered for loopback, in a temporary prefix.
struct Nginx {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`
    base: String,
}

impl Nginx {
    /// Renders the shipped config (its `__PORT__`, `__ORIGIN__`, `__CACHE_DIR__` and
    /// `__LOG_DIR__` markers, as the file's header tells operators to) and starts nginx in the
    /// foreground with a minimal main config that includes it.
    fn start(origin: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["cache", "logs", "tmp"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        // As root, nginx would run its workers as `nobody`, who cannot enter a 0700 temp dir.
        let as_root = std::fs::metadata(d).unwrap().uid() == 0;
        let template = std::fs::read_to_string(workspace().join("deploy/nginx-cdn.conf"))
            .expect("deploy/nginx-cdn.conf");
        for attempt in 0.. {
            let port = free_port();
            let conf = template
                .replace("__PORT__", &format!("127.0.0.1:{port}"))
                .replace("__ORIGIN__", origin)
                .replace("__CACHE_DIR__", &d.join("cache").display().to_string())
                .replace("__LOG_DIR__", &d.join("logs").display().to_string());
            assert!(!conf.contains("__"), "unrendered marker left:\n{conf}");
            std::fs::write(d.join("onair-cdn.conf"), conf).unwrap();
            let tmp = d.join("tmp");
            let main = format!(
                "{user}worker_processes 2;\n\
                 pid {pid};\n\
                 error_log {elog} info;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{\n\
                 \x20   client_body_temp_path {t}/body;\n\
                 \x20   proxy_temp_path {t}/proxy;\n\
                 \x20   fastcgi_temp_path {t}/fastcgi;\n\
                 \x20   uwsgi_temp_path {t}/uwsgi;\n\
                 \x20   scgi_temp_path {t}/scgi;\n\
                 \x20   include {snippet};\n\
                 }}\n",
                user = if as_root { "user root;\n" } else { "" },
                pid = d.join("nginx.pid").display(),
                elog = d.join("logs/error.log").display(),
                t = tmp.display(),
                snippet = d.join("onair-cdn.conf").display(),
            );
            std::fs::write(d.join("nginx.conf"), main).unwrap();
            // Debian's nginx is in /usr/sbin, which is not on every user's PATH.
            let bin = if std::path::Path::new("/usr/sbin/nginx").exists() {
                "/usr/sbin/nginx"
            } else {
                "nginx"
            };
            let mut child = Command::new(bin)
                .arg("-p")
                .arg(d)
                .arg("-e")
                .arg(d.join("logs/error.log"))
                .arg("-c")
                .arg(d.join("nginx.conf"))
                .args(["-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("nginx must be installed (scripts/test.sh installs it)");
            let start = Instant::now();
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    let out = child.wait_with_output().unwrap();
                    let err = String::from_utf8_lossy(&out.stderr).into_owned();
                    let log = std::fs::read_to_string(d.join("logs/error.log")).unwrap_or_default();
                    // Someone took the port between our probe and nginx's bind: try another.
                    if attempt < 3 && (err + &log).contains("Address already in use") {
                        break;
                    }
                    panic!("nginx exited: {}\n{log}", out.status);
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self {
                        child: Some(child),
                        dir,
                        base: format!("http://127.0.0.1:{port}"),
                    };
                }
                if start.elapsed() > Duration::from_secs(10) {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("nginx did not listen on {port} within 10 s");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        unreachable!()
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logs/error.log")).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn access_log(&self) -> Vec<LogLine> {
        let text = std::fs::read_to_string(self.dir.path().join("logs/onair-cdn.access.log"))
            .unwrap_or_default();
        text.lines().filter_map(LogLine::parse).collect()
    }

    /// SIGTERM to the master (it stops its workers), then SIGKILL if it is still there 5 s on.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One line of the `onair_cdn` log format.
#[derive(Debug, Clone)]
struct LogLine {
    status: u16,
    cache: String,
    /// The origin was contacted for this request.
    upstream: bool,
    upstream_status: String,
    uri: String,
}

impl LogLine {
    fn parse(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.split('\t').collect();
        let [_msec, status, cache, addr, ustatus, _time, uri] = f.as_slice() else {
            return None;
        };
        Some(Self {
            status: status.parse().ok()?,
            cache: cache.to_string(),
            upstream: *addr != "-",
            upstream_status: ustatus.to_string(),
            uri: uri.to_string(),
        })
    }
}

/// What one simulated player did.
#[derive(Default)]
struct ViewerStats {
    requests: u64,
    statuses: BTreeMap<u16, u64>,
    bytes: u64,
    parts: u64,
    segments: u64,
    /// Part URI → when a blocking reload first listed it (new parts only, not the backlog).
    seen: HashMap<String, Instant>,
}

impl ViewerStats {
    async fn get(&mut self, client: &reqwest::Client, url: &str) -> (u16, bytes::Bytes) {
        self.requests += 1;
        let (status, body) = match client.get(url).send().await {
            Ok(r) => {
                let s = r.status().as_u16();
                (s, r.bytes().await.unwrap_or_default())
            }
            // Counted as a failure of the edge (599: no HTTP answer at all).
            Err(_) => (599, bytes::Bytes::new()),
        };
        *self.statuses.entry(status).or_default() += 1;
        self.bytes += body.len() as u64;
        (status, body)
    }
}

/// The next part a blocking reload should wait for: the one after the last listed.
fn next_part(p: &MediaPlaylist) -> (u64, usize) {
    (p.next_msn(), p.trailing_parts.len())
}

fn part_uris(p: &MediaPlaylist) -> Vec<String> {
    p.segments
        .iter()
        .flat_map(|s| &s.parts)
        .chain(&p.trailing_parts)
        .map(|x| x.uri.clone())
        .collect()
}

/// A real LL-HLS client loop, as hls.js in low-latency mode does it: multivariant playlist,
/// media playlist, init section; then, until the stream ends or `deadline`: a blocking reload
/// for the next part while fetching the preload-hinted part, then every newly listed part
/// (and, when `segments`, every newly completed segment).
async fn viewer(base: String, deadline: Instant, segments: bool) -> ViewerStats {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut st = ViewerStats::default();
    let (s, body) = st.get(&client, &format!("{base}index.m3u8")).await;
    assert_eq!(s, 200, "multivariant playlist");
    let text = String::from_utf8_lossy(&body).into_owned();
    let variant = text
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .expect("a variant")
        .to_owned();
    let media = format!("{base}{variant}");
    let mut pl = loop {
        let (s, body) = st.get(&client, &media).await;
        if s == 200 {
            break playlist::parse(&String::from_utf8_lossy(&body));
        }
        assert!(Instant::now() < deadline, "media playlist: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (s, _) = st.get(&client, &format!("{base}{}", pl.map_uris[0])).await;
    assert_eq!(s, 200, "init section");
    // Start at the live edge: the backlog is known, not fetched.
    let mut fetched: HashSet<String> = part_uris(&pl).into_iter().collect();
    let mut segs_known: HashSet<String> = pl.segments.iter().map(|s| s.uri.clone()).collect();
    while Instant::now() < deadline && !pl.endlist {
        let (msn, part) = next_part(&pl);
        let reload = format!("{media}?_HLS_msn={msn}&_HLS_part={part}");
        let hint = pl
            .preload_hint
            .as_ref()
            .map(|h| h["URI"].clone())
            .filter(|u| !fetched.contains(u));
        // The hinted part and the blocking reload are in flight together, on two connections.
        let mut hint_stats = ViewerStats::default();
        let hint_fut = async {
            match &hint {
                Some(u) => Some(hint_stats.get(&client, &format!("{base}{u}")).await.0),
                None => None,
            }
        };
        let mut reload_stats = ViewerStats::default();
        let ((s, body), hint_status) = tokio::join!(reload_stats.get(&client, &reload), hint_fut);
        let answered = Instant::now();
        for x in [reload_stats, hint_stats] {
            st.requests += x.requests;
            st.bytes += x.bytes;
            for (k, v) in x.statuses {
                *st.statuses.entry(k).or_default() += v;
            }
        }
        if let (Some(u), Some(200)) = (&hint, hint_status) {
            fetched.insert(u.clone());
            st.parts += 1;
        }
        if s != 200 {
            // 503: the origin gave up waiting (or the stream is not ready); reload plainly.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let (s, body) = st.get(&client, &media).await;
            if s == 200 {
                pl = playlist::parse(&String::from_utf8_lossy(&body));
            }
            continue;
        }
        pl = playlist::parse(&String::from_utf8_lossy(&body));
        for uri in part_uris(&pl) {
            if fetched.contains(&uri) {
                continue;
            }
            st.seen.entry(uri.clone()).or_insert(answered);
            let (s, _) = st.get(&client, &format!("{base}{uri}")).await;
            if s == 200 {
                st.parts += 1;
            }
            fetched.insert(uri);
        }
        if let Some(u) = &hint {
            st.seen.entry(u.clone()).or_insert(answered);
        }
        for seg in pl.segments.clone() {
            if segs_known.insert(seg.uri.clone()) && segments {
                let (s, _) = st.get(&client, &format!("{base}{}", seg.uri)).await;
                if s == 200 {
                    st.segments += 1;
                }
            }
        }
    }
    st
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_edge_coalesces_llhls_viewers_and_never_shares_private_answers() {
    let node = TestNode::start().await;
    let origin = node.http.trim_start_matches("http://").to_owned();
    let mut edge = Nginx::start(&origin);

    // --- Private answers (cookie / bearer on an `authenticated` channel) are not shared -----
    let owner = user(&node, "owner@example.com", Role::Broadcaster).await;
    let (s, ch) = owner
        .post(
            "/api/v1/channels",
            json!({"slug": "members", "title": "members"}),
        )
        .await;
    assert_eq!(s, 201, "{ch}");
    let (s, b) = owner
        .patch(
            &format!("/api/v1/channels/{}", ch["id"].as_str().unwrap()),
            json!({"visibility": "authenticated"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let bearer = owner.with_token(&["read"]).await;
    let members = push_looped(&node, "members");
    let cookie_edge = Api {
        base: edge.base.clone(),
        ..owner.clone()
    };
    let bearer_edge = Api {
        base: edge.base.clone(),
        ..bearer.clone()
    };
    let anon_edge = Api::anonymous(&edge.base);
    let start = Instant::now();
    let text = loop {
        let res = cookie_edge
            .request(reqwest::Method::GET, "/live/members/llhls.m3u8")
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            break res.text().await.unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "members never live"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let init = format!("/live/members/{}", playlist::parse(&text).map_uris[0]);
    for path in ["/live/members/llhls.m3u8", init.as_str()] {
        for who in [&cookie_edge, &bearer_edge, &cookie_edge] {
            let res = who
                .request(reqwest::Method::GET, path)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{path}");
            let cc = res.headers()["cache-control"].to_str().unwrap().to_owned();
            assert!(cc.starts_with("private"), "{path}: {cc}");
            let xcs = res.headers()["x-cache-status"].to_str().unwrap().to_owned();
            assert_ne!(xcs, "HIT", "{path} with credentials came from the cache");
        }
        // Had the edge stored one of the answers above, this would be a HIT with 200.
        let res = anon_edge
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        let xcs = res.headers()["x-cache-status"].to_str().unwrap().to_owned();
        assert_eq!(
            res.status(),
            401,
            "{path} anonymously through the edge ({xcs})"
        );
        assert_ne!(xcs, "HIT");
    }
    let log = edge.access_log();
    let init_lines: Vec<&LogLine> = log.iter().filter(|l| l.uri == init).collect();
    assert_eq!(init_lines.len(), 4);
    assert!(
        init_lines.iter().all(|l| l.upstream),
        "every request for the private init went to the origin: {init_lines:?}"
    );
    wait_child_async(members, Duration::from_millis(1)).await;
    let private_lines = log.len();

    // --- Many LL-HLS viewers through the edge ------------------------------------------------
    let publisher = push(&node, "cdn", LIVE_FIXTURE);
    // The multivariant playlist answers once a segment is complete (and the codecs known).
    wait_ok(&node.url("/live/cdn/index.m3u8"), Duration::from_secs(15)).await;
    let flv_url = edge.url("/live/cdn.flv");
    let flv = tokio::task::spawn_blocking(move || ffprobe_live(&flv_url, LIMIT));
    let started = Instant::now();
    // Until the stream ends (~8 s of media), at most 12 s.
    let deadline = started + Duration::from_secs(12);
    let edge_base = edge.url("/live/cdn/");
    let mut tasks = Vec::new();
    for i in 0..VIEWERS {
        let base = edge_base.clone();
        tasks.push(tokio::spawn(async move {
            // Viewers join over half a second, like an audience does.
            tokio::time::sleep(Duration::from_millis((i as u64 * 10) % 500)).await;
            viewer(base, deadline, i % 2 == 1).await
        }));
    }
    // The reference: one player directly on the origin, for the latency the edge adds.
    let reference = tokio::spawn(viewer(node.url("/live/cdn/"), deadline, false));
    let mut viewers = Vec::new();
    for t in tasks {
        viewers.push(tokio::time::timeout(LIMIT, t).await.unwrap().unwrap());
    }
    let reference = reference.await.unwrap();
    let elapsed = started.elapsed();
    let probe = flv.await.unwrap();
    assert!(
        probe.stream("video").is_some() && probe.stream("audio").is_some(),
        "HTTP-FLV through the edge: {probe:?}"
    );

    let client_requests: u64 = viewers.iter().map(|v| v.requests).sum();
    // nginx writes a request's log line after its answer went out: the viewers may have read
    // the last answer a moment before its line is there (wait for it, at most 2 s).
    let count = |log: &[LogLine]| {
        log[private_lines..]
            .iter()
            .filter(|l| l.uri.starts_with("/live/cdn/"))
            .count() as u64
    };
    let mut log = edge.access_log();
    let logged_by = Instant::now() + Duration::from_secs(2);
    while count(&log) < client_requests && Instant::now() < logged_by {
        tokio::time::sleep(Duration::from_millis(50)).await;
        log = edge.access_log();
    }
    let live_log = &log[private_lines..];
    let hls: Vec<&LogLine> = live_log
        .iter()
        .filter(|l| l.uri.starts_with("/live/cdn/"))
        .collect();
    assert_eq!(
        hls.len() as u64,
        client_requests,
        "the access log has every viewer request"
    );
    let origin_requests = hls.iter().filter(|l| l.upstream).count() as u64;
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    for v in &viewers {
        for (k, n) in &v.statuses {
            *statuses.entry(*k).or_default() += n;
        }
    }
    let mut verdicts: BTreeMap<&str, u64> = BTreeMap::new();
    for l in &hls {
        *verdicts.entry(&l.cache).or_default() += 1;
    }
    let parts: u64 = viewers.iter().map(|v| v.parts).sum();
    let segments: u64 = viewers.iter().map(|v| v.segments).sum();
    let bytes: u64 = viewers.iter().map(|v| v.bytes).sum();

    // Origin fetches per object, by kind.
    let kind = |uri: &str| -> &'static str {
        if uri.contains("/part/") {
            "part"
        } else if uri.contains("/seg/") {
            "segment"
        } else if uri.contains("/init/") {
            "init"
        } else if uri.contains("_HLS_msn") {
            "blocking playlist"
        } else {
            "playlist"
        }
    };
    // kind → (client requests, origin requests, distinct objects)
    let mut by_kind: BTreeMap<&str, (u64, u64, HashSet<&str>)> = BTreeMap::new();
    let mut per_object: HashMap<&str, Vec<&LogLine>> = HashMap::new();
    for l in &hls {
        let e = by_kind.entry(kind(&l.uri)).or_default();
        e.0 += 1;
        e.2.insert(&l.uri);
        if l.upstream {
            e.1 += 1;
            per_object.entry(&l.uri).or_default().push(l);
        }
    }

    // Latency the edge adds: when a viewer first saw a new part vs when the reference did.
    let mut lag: Vec<f64> = viewers
        .iter()
        .flat_map(|v| &v.seen)
        .filter_map(|(uri, t)| {
            reference
                .seen
                .get(uri)
                .map(|r| t.saturating_duration_since(*r).as_secs_f64() * 1000.0)
        })
        .collect();
    lag.sort_by(|a, b| a.partial_cmp(b).unwrap());

    println!("CDN coalescing: {VIEWERS} LL-HLS viewers for {elapsed:.1?} through nginx");
    println!(
        "client requests {client_requests}, origin requests {origin_requests}, \
         ratio {:.1}x, hit ratio {:.1} %",
        client_requests as f64 / origin_requests.max(1) as f64,
        100.0 * (client_requests - origin_requests) as f64 / client_requests as f64
    );
    println!(
        "parts {parts}, segments {segments}, {:.1} MB to viewers, statuses {statuses:?}",
        bytes as f64 / 1e6
    );
    println!("X-Cache-Status {verdicts:?}");
    for (k, (c, o, objs)) in &by_kind {
        println!(
            "  {k:18} client {c:6}  origin {o:5}  objects {:5}",
            objs.len()
        );
    }
    println!(
        "edge-added delay to learn of a new part (ms, n={}): p50 {:.0}, p90 {:.0}, max {:.0}",
        lag.len(),
        percentile(&lag, 0.5),
        percentile(&lag, 0.9),
        percentile(&lag, 1.0)
    );

    // Every part, segment and init section reached the origin once.
    for (uri, lines) in &per_object {
        if matches!(kind(uri), "part" | "segment" | "init") {
            let ok = lines.iter().filter(|l| l.upstream_status == "200").count();
            assert!(
                ok <= 1 && lines.len() <= 2,
                "{uri} fetched from the origin {} times: {lines:?}",
                lines.len()
            );
        }
    }
    // Blocking reloads: one origin request per distinct (_HLS_msn, _HLS_part).
    let (_, blocking_origin, blocking_objects) = &by_kind["blocking playlist"];
    assert!(
        *blocking_origin <= blocking_objects.len() as u64 + 2,
        "blocking reloads were not coalesced: {blocking_origin} origin requests for {} keys",
        blocking_objects.len()
    );
    assert!(
        client_requests >= 10 * origin_requests,
        "{client_requests} client requests cost {origin_requests} origin requests"
    );
    assert!(parts >= VIEWERS as u64 * 20, "viewers got {parts} parts");
    // No 5xx of the edge's own; the origin's 503 (too slow / not ready) is the only one.
    for l in &hls {
        if l.status >= 500 {
            assert!(
                l.status == 503 && l.upstream_status.contains("503"),
                "a 5xx that is not the origin's 503: {l:?}"
            );
        }
    }
    assert!(
        !statuses.contains_key(&599),
        "transport errors: {statuses:?}"
    );
    // No waiter gave up on the cache lock (it would have gone to the origin, uncached).
    assert!(
        !edge.error_log().contains("cache lock timeout"),
        "{}",
        edge.error_log()
    );

    // --- After the end: the whole recording plays through the edge --------------------------
    let out = wait_child_async(publisher, LIMIT).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ended = wait_endlist(&edge.url("/live/cdn/llhls.m3u8"), Duration::from_secs(20)).await;
    assert!(!ended.segments.is_empty());
    let url = edge.url("/live/cdn/index.m3u8");
    let probe = tokio::task::spawn_blocking(move || ffprobe(&url, LIMIT))
        .await
        .unwrap();
    let v = probe.stream("video").expect("video through the edge");
    let a = probe.stream("audio").expect("audio through the edge");
    assert_eq!(v.codec_name, "h264", "{probe:?}");
    assert_eq!(a.codec_name, "aac", "{probe:?}");
    assert!(
        (v.packets - LIVE_FIXTURE_VIDEO_FRAMES).abs() <= LIVE_FIXTURE_GOP,
        "{} video frames through the edge, source has {LIVE_FIXTURE_VIDEO_FRAMES}",
        v.packets
    );
    // A crowd asking for a part that will never exist (the last preload hint of an ended
    // stream) costs the origin one request: its 404 is shared for a second, so the waiters
    // on the cache lock get it rather than being let through to the origin one by one.
    let last = ended
        .segments
        .last()
        .unwrap()
        .parts
        .last()
        .unwrap()
        .uri
        .clone();
    let (dir, file) = last.rsplit_once('/').unwrap();
    let seq: u64 = file.trim_end_matches(".m4s").parse().unwrap();
    let never = format!("/live/cdn/{dir}/{}.m4s", seq + 1);
    let crowd: Vec<_> = (0..VIEWERS)
        .map(|_| {
            let url = edge.url(&never);
            tokio::spawn(async move { get(&url).await.status().as_u16() })
        })
        .collect();
    for c in crowd {
        assert_eq!(c.await.unwrap(), 404, "{never}");
    }
    let fetched = edge
        .access_log()
        .iter()
        .filter(|l| l.uri == never && l.upstream)
        .count();
    println!("{VIEWERS} requests for a part that never comes: {fetched} origin request(s)");
    assert!(fetched <= 2, "{never}: {fetched} origin requests");
    // A cached part is byte for byte the origin's.
    let part = &ended.segments.last().unwrap().parts[0].uri;
    let via_edge = get(&edge.url(&format!("/live/cdn/{part}")))
        .await
        .bytes()
        .await
        .unwrap();
    let direct = get(&node.url(&format!("/live/cdn/{part}")))
        .await
        .bytes()
        .await
        .unwrap();
    assert!(!direct.is_empty());
    assert_eq!(via_edge, direct, "{part}");
    // Still at most one successful origin fetch per media object, ffprobe included.
    let mut ok: HashMap<String, usize> = HashMap::new();
    for l in edge.access_log() {
        if l.upstream && l.upstream_status == "200" && matches!(kind(&l.uri), "segment" | "part") {
            *ok.entry(l.uri).or_default() += 1;
        }
    }
    assert!(
        ok.values().all(|n| *n == 1),
        "{:?}",
        ok.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );

    edge.stop();
    node.stop().await;
}
