//! A cluster of real `onair` processes sharing one PostgreSQL database (issue #14, its first
//! part): nodes announce themselves and beat on the database's clock, a channel live on one
//! node is refused on another (one owner, claimed with an epoch), and when the owner is killed
//! (`kill -9`) another node takes the channel over once the owner's heartbeat is older than
//! the TTL, with the next epoch; a node stopped cleanly leaves (`gone`) and frees its claims.
//! Bans and kicks made through one node reach the publisher on another; sign-in limits hold
//! across nodes; a drained node hands its publishers on at once; a paused owner that lost its
//! channel stops by itself.

#[path = "common/mod.rs"]
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use onair_server::db::Db;
use onair_server::db::cluster::StreamOwner;

const SECRET: &str = "a cluster secret for tests";
const TTL_MS: i64 = 1_000;
const ADMIN: &str = "admin@example.com";

struct Node {
    child: Child,
    http: String,
    rtmp: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `onair serve` as cluster node `name` on `database_url`, open publishing, a 1 s TTL.
fn start_node(name: &str, database_url: &str) -> Node {
    start_node_args(name, database_url, &OPEN)
}

/// `onair serve` as cluster node `name` on `database_url`, with `extra` arguments.
fn start_node_args(name: &str, database_url: &str, extra: &[&str]) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let (rtmp_port, http_port) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_onair"))
        .arg("serve")
        .args(["--rtmp-listen", &format!("127.0.0.1:{rtmp_port}")])
        .args(["--http-listen", &format!("127.0.0.1:{http_port}")])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--database-url", database_url])
        .args(["--cluster-secret", SECRET, "--node-name", name])
        .args(extra)
        .args([
            "--admin-email",
            ADMIN,
            "--admin-password",
            common::api::PASSWORD,
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    Node {
        child,
        http: format!("http://127.0.0.1:{http_port}"),
        rtmp: format!("rtmp://127.0.0.1:{rtmp_port}/live"),
        _dir: dir,
    }
}

/// Open publishing and a 1 s TTL.
const OPEN: [&str; 4] = ["--node-ttl", "1", "--publish-auth", "open"];

/// A fresh shared database and nodes a and b on it (started one after the other), up.
async fn cluster_of_two(args: &[&str]) -> (String, Node, Node) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = db::fresh_postgres().await;
    let mut a = start_node_args("a", &url, args);
    wait_up(&mut a).await;
    let mut b = start_node_args("b", &url, args);
    wait_up(&mut b).await;
    (url, a, b)
}

/// SIGTERM to each node; waits for it to exit (at most 15 s).
async fn stop_all(nodes: impl IntoIterator<Item = Node>) {
    for node in nodes {
        let _ = Command::new("kill")
            .args(["-TERM", &node.child.id().to_string()])
            .status();
        wait_child_async(node.child, Duration::from_secs(15)).await;
    }
}

/// ffmpeg pushing the live fixture, looped, to `rtmp/name`.
fn publish(rtmp: &str, name: &str) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-stream_loop", "-1", "-i"])
        .arg(fixture(LIVE_FIXTURE))
        .args(["-c", "copy", "-f", "flv"])
        .arg(format!("{rtmp}/{name}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg")
}

/// Waits until `node` answers `/healthz` (its log in the failure message if it exits).
async fn wait_up(node: &mut Node) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = client()
            .get(format!("{}/healthz", node.http))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ok {
            return;
        }
        if let Ok(Some(status)) = node.child.try_wait() {
            let log = std::fs::read_to_string(node._dir.path().join("stderr.log"));
            panic!("the node exited ({status}): {}", log.unwrap_or_default());
        }
        assert!(Instant::now() < deadline, "the node did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn owner(db: &Db) -> Option<StreamOwner> {
    db.stream_owner("cam", "source", TTL_MS).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_owner_per_channel_and_takeover_after_a_kill() {
    // The test's own HTTP client (no node runs in this process to install it).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = db::fresh_postgres().await;
    let mut a = start_node("a", &url);
    let mut b = start_node("b", &url);
    wait_up(&mut a).await;
    wait_up(&mut b).await;
    let db = Db::connect(&url).await.unwrap();
    let nodes = db.nodes().await.unwrap();
    assert_eq!(
        nodes
            .iter()
            .map(|n| (n.name.as_str(), n.state.as_str()))
            .collect::<Vec<_>>(),
        [("a", "active"), ("b", "active")]
    );
    assert_eq!(
        nodes[0].internal_url, a.http,
        "default: the HTTP listen address"
    );
    assert!(
        nodes.iter().all(|n| n.heartbeat_age_ms < 2_500),
        "{nodes:?}"
    );

    // Live on a; the same channel is refused on b while a lives.
    let mut on_a = publish(&a.rtmp, "cam");
    wait_ok(
        &format!("{}/live/cam/llhls.m3u8", a.http),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        owner(&db).await,
        Some(StreamOwner {
            node: "a".into(),
            epoch: 1
        })
    );
    let refused = wait_child_async(publish(&b.rtmp, "cam"), Duration::from_secs(15)).await;
    assert!(!refused.status.success(), "b accepted a channel live on a");
    let (status, _) = get_text(&format!("{}/live/cam/llhls.m3u8", b.http)).await;
    assert_eq!(status, 404);
    assert_eq!(owner(&db).await.map(|o| o.epoch), Some(1), "no claim moved");

    // Any node lists the cluster's nodes to an admin, with their load.
    let admin = common::api::Api::login(&b.http, ADMIN, common::api::PASSWORD).await;
    let listed = eventually(
        Duration::from_secs(5),
        "a's heartbeat with its stream",
        async || {
            let (status, body) = admin.get("/api/v1/nodes").await;
            assert_eq!(status, 200, "{body}");
            let items = body["items"].as_array().unwrap().clone();
            (items.len() == 2 && items[0]["streams"] == 1).then_some(items)
        },
    )
    .await;
    assert_eq!(listed[0]["name"], "a");
    assert_eq!(listed[0]["rtmp_url"], a.rtmp.as_str());
    assert!(listed.iter().all(|n| n["alive"] == true), "{listed:?}");

    // a dies: once its heartbeat is older than the TTL, b takes the channel with epoch 2.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let _ = on_a.kill();
    let _ = on_a.wait();
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(20);
    let mut on_b = publish(&b.rtmp, "cam");
    loop {
        let (status, _) = get_text(&format!("{}/live/cam/llhls.m3u8", b.http)).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "b never took the channel over");
        // Refused while a's heartbeat was young: the encoder reconnects, like OBS does.
        if let Ok(Some(_)) = on_b.try_wait() {
            on_b = publish(&b.rtmp, "cam");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        owner(&db).await,
        Some(StreamOwner {
            node: "b".into(),
            epoch: 2
        })
    );
    let (_, body) = admin.get("/api/v1/nodes").await;
    assert_eq!(body["items"][0]["alive"], false, "a is dead: {body}");
    assert_eq!(body["items"][1]["alive"], true, "{body}");

    // b stops cleanly: it leaves the cluster and frees its claims at once.
    let _ = Command::new("kill")
        .args(["-TERM", &b.child.id().to_string()])
        .status();
    let out = wait_child_async(b.child, Duration::from_secs(15)).await;
    assert!(out.status.success(), "{:?}", out.status);
    let _ = on_b.kill();
    let _ = on_b.wait();
    let b_row = db
        .nodes()
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.name == "b");
    assert_eq!(b_row.map(|n| n.state), Some("gone".to_owned()));
    assert_eq!(owner(&db).await, None);
    db.close().await;
}

/// A ban or a kick made through node b disconnects the publisher on node a (announced over
/// PostgreSQL NOTIFY); a's caches forget the channel, so the banned key is refused on a too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bans_and_kicks_reach_the_owning_node() {
    let (url, a, b) = cluster_of_two(&["--node-ttl", "1", "--publish-auth", "stream-key"]).await;
    let admin = common::api::Api::login(&b.http, ADMIN, common::api::PASSWORD).await;
    let (channel_id, device_id, key) = common::api::channel_with_device(&admin, "studio").await;
    let playlist = format!("{}/live/studio/llhls.m3u8", a.http);

    // Kick through b: the publisher on a is disconnected (and may come back).
    let first = publish(&a.rtmp, &key);
    wait_ok(&playlist, Duration::from_secs(20)).await;
    let (status, body) = admin
        .post(
            &format!("/api/v1/channels/{channel_id}/kick"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let out = wait_child_async(first, Duration::from_secs(10)).await;
    assert!(out.status.code().is_some(), "ffmpeg on a was disconnected");

    // Device kick through b, likewise.
    let second = publish(&a.rtmp, &key);
    let owner_again = eventually(
        Duration::from_secs(20),
        "the publisher back on a",
        async || {
            let db = Db::connect(&url).await.unwrap();
            let o = db.stream_owner("studio", "source", TTL_MS).await.unwrap();
            db.close().await;
            o.filter(|o| o.node == "a")
        },
    )
    .await;
    assert!(owner_again.epoch >= 2);
    let device_url = format!("/api/v1/devices/{device_id}/kick");
    let kicked = eventually(Duration::from_secs(10), "the device live", async || {
        let (status, _) = admin.post(&device_url, serde_json::json!({})).await;
        (status == 204).then_some(())
    })
    .await;
    let () = kicked;
    let out = wait_child_async(second, Duration::from_secs(10)).await;
    assert!(out.status.code().is_some(), "ffmpeg on a was disconnected");

    // Ban through b: disconnected, and a refuses the key from then on. (The playlist of the
    // ended stream is still served: wait for the new claim instead.)
    let third = publish(&a.rtmp, &key);
    eventually(
        Duration::from_secs(20),
        "the third publish live on a",
        async || {
            let db = Db::connect(&url).await.unwrap();
            let o = db.stream_owner("studio", "source", TTL_MS).await.unwrap();
            db.close().await;
            o.filter(|o| o.node == "a" && o.epoch > owner_again.epoch)
        },
    )
    .await;
    let (status, body) = admin
        .post(
            &format!("/api/v1/channels/{channel_id}/ban"),
            serde_json::json!({"reason": "test"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let out = wait_child_async(third, Duration::from_secs(10)).await;
    assert!(out.status.code().is_some(), "ffmpeg on a was disconnected");
    let refused = wait_child_async(publish(&a.rtmp, &key), Duration::from_secs(15)).await;
    assert!(!refused.status.success(), "a accepted a banned channel");

    stop_all([a, b]).await;
}

/// Sign-in limits hold for the cluster, not per node: failed sign-ins to an address without an
/// account, alternating between two nodes, lock it after the threshold (5), and the per-address
/// budget (30 attempts) is spent across both nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_limits_hold_across_nodes() {
    let (_url, a, b) = cluster_of_two(&OPEN).await;
    let http = common::http::client();
    let attempt = async |i: usize, email: &str| {
        let node = if i.is_multiple_of(2) {
            &a.http
        } else {
            &b.http
        };
        let body = serde_json::json!({"email": email, "password": "not the password"});
        let url = format!("{node}/api/v1/auth/login");
        common::http::send(
            &http,
            reqwest::Method::POST,
            &url,
            common::http::Auth::None,
            Some(body),
        )
        .await
    };
    for i in 0..5 {
        let r = attempt(i, "nobody@example.com").await;
        assert_eq!(r.status, 401, "attempt {i}: {}", r.text);
    }
    let locked = attempt(5, "nobody@example.com").await;
    locked.problem(429);
    assert!(
        locked.body["type"]
            .as_str()
            .unwrap()
            .ends_with("/account-locked"),
        "{}",
        locked.text
    );
    // 6 attempts so far from this address; 24 more fit in the budget of 30, on either node.
    for i in 6..30 {
        let r = attempt(i, &format!("n{i}@example.com")).await;
        assert_eq!(r.status, 401, "attempt {i}: {}", r.text);
    }
    for i in 30..32 {
        let r = attempt(i, &format!("n{i}@example.com")).await;
        r.problem(429);
        assert!(
            !r.body["type"]
                .as_str()
                .unwrap_or("")
                .ends_with("/account-locked")
        );
    }
    stop_all([a, b]).await;
}

/// Drain for a rolling restart: `onair drain` (refused without the cluster secret) turns node a
/// `draining` — its readiness check fails, new publishers are refused — and disconnects its
/// publisher, whose reconnect to b is accepted at once: the claim was released, no waiting for
/// a's heartbeat to expire (the nodes run with a 10 s TTL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_moves_publishers_to_another_node() {
    let (url, a, b) = cluster_of_two(&["--node-ttl", "10", "--publish-auth", "open"]).await;
    let on_a = publish(&a.rtmp, "cam");
    wait_ok(
        &format!("{}/live/cam/llhls.m3u8", a.http),
        Duration::from_secs(20),
    )
    .await;

    let drain_url = format!("{}/internal/v1/drain", a.http);
    let http = common::http::client();
    for auth in [
        common::http::Auth::None,
        common::http::Auth::Bearer("wrong secret"),
    ] {
        let r = common::http::send(&http, reqwest::Method::POST, &drain_url, auth, None).await;
        r.problem(401);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_onair"))
        .args(["drain", "--node", &a.http, "--cluster-secret", SECRET])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let drained = Instant::now();

    let (status, _) = get_text(&format!("{}/healthz/ready", a.http)).await;
    assert_eq!(status, 503, "a draining node is not ready");
    let (status, _) = get_text(&format!("{}/healthz/ready", b.http)).await;
    assert_eq!(status, 200);
    let db = Db::connect(&url).await.unwrap();
    let a_row = db
        .nodes()
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.name == "a");
    assert_eq!(a_row.map(|n| n.state), Some("draining".to_owned()));
    let out = wait_child_async(on_a, Duration::from_secs(10)).await;
    assert!(
        out.status.code().is_some(),
        "the publisher on a was disconnected"
    );
    let refused = wait_child_async(publish(&a.rtmp, "other"), Duration::from_secs(15)).await;
    assert!(
        !refused.status.success(),
        "a draining node took a new publisher"
    );

    let _on_b = ChildGuard(publish(&b.rtmp, "cam"));
    wait_ok(
        &format!("{}/live/cam/llhls.m3u8", b.http),
        Duration::from_secs(20),
    )
    .await;
    assert!(
        drained.elapsed() < Duration::from_secs(9),
        "b took over only after a's TTL: {:?}",
        drained.elapsed()
    );
    assert_eq!(
        owner(&db).await.map(|o| (o.node, o.epoch)),
        Some(("b".into(), 2))
    );
    db.close().await;
    stop_all([a, b]).await;
}

/// Kills a child process when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Fencing: an owner paused past its TTL (SIGSTOP) loses its channel to another node; when it
/// resumes (SIGCONT) its next heartbeat finds the newer claim, and it ends the stream and drops
/// the publisher by itself. Its late release of the old epoch changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_owner_that_lost_its_channel_stops_by_itself() {
    let (url, a, b) = cluster_of_two(&OPEN).await;
    let on_a = publish(&a.rtmp, "cam");
    let a_playlist = format!("{}/live/cam/llhls.m3u8", a.http);
    wait_ok(&a_playlist, Duration::from_secs(20)).await;

    let signal = |sig: &str, pid: u32| {
        let ok = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    };
    let a_pid = a.child.id();
    signal("-STOP", a_pid);
    // Resumed however this test ends.
    struct Cont(u32);
    impl Drop for Cont {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-CONT", &self.0.to_string()])
                .status();
        }
    }
    let cont = Cont(a_pid);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let b_playlist = format!("{}/live/cam/llhls.m3u8", b.http);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut on_b = ChildGuard(publish(&b.rtmp, "cam"));
    loop {
        let (status, _) = get_text(&b_playlist).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "b never took the channel over");
        if let Ok(Some(_)) = on_b.0.try_wait() {
            on_b = ChildGuard(publish(&b.rtmp, "cam"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let db = Db::connect(&url).await.unwrap();
    assert_eq!(
        owner(&db).await.map(|o| (o.node, o.epoch)),
        Some(("b".into(), 2))
    );

    drop(cont);
    let out = wait_child_async(on_a, Duration::from_secs(10)).await;
    assert!(
        out.status.code().is_some(),
        "a dropped the publisher of the stream it lost"
    );
    let ended = eventually(Duration::from_secs(10), "a's playlist to end", async || {
        let (status, text) = get_text(&a_playlist).await;
        (status == 200 && text.contains("#EXT-X-ENDLIST")).then_some(())
    })
    .await;
    let () = ended;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        owner(&db).await.map(|o| (o.node, o.epoch)),
        Some(("b".into(), 2)),
        "a's late release of epoch 1 changed nothing"
    );
    db.close().await;
    drop(on_b);
    stop_all([a, b]).await;
}
