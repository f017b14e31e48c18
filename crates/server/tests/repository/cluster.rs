//! The cluster's shared state: node rows and heartbeats on the database's clock, and stream
//! claims with epochs — one winner per epoch however many nodes claim at once, stale releases
//! ignored, dead or departed owners replaced.

use std::collections::BTreeSet;
use std::time::Duration;

use onair_server::db::cluster::{ClaimOutcome, NodeInfo, NodeLoad, StreamOwner};

use super::*;

fn node(name: &str) -> NodeInfo<'_> {
    NodeInfo {
        name,
        internal_url: "http://127.0.0.1:1",
        rtmp_url: "rtmp://127.0.0.1:1935/live",
    }
}

const TTL_MS: i64 = 3_000;

async fn nodes_and_heartbeats(backend: Backend) {
    let (db, _dir) = open(backend).await;
    for n in ["b", "a"] {
        db.register_node(&node(n)).await.unwrap();
    }
    let load = NodeLoad {
        streams: 3,
        viewers: 40,
        cpu_milli: 250,
    };
    assert!(db.heartbeat("a", load).await.unwrap());
    assert!(!db.heartbeat("nobody", load).await.unwrap());
    let rows = db.nodes().await.unwrap();
    assert_eq!(
        rows.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(rows[0].load, load);
    assert_eq!(rows[0].state, "active");
    assert!((0..2_000).contains(&rows[0].heartbeat_age_ms), "{rows:?}");
    // The database's clock, not ours: Unix milliseconds of about now.
    assert!((rows[0].heartbeat_at - now_ms()).abs() < 60_000, "{rows:?}");
    assert!(db.set_node_state("b", "draining").await.unwrap());
    // A restart under the same name is active again, with no load.
    db.register_node(&node("b")).await.unwrap();
    let b = &db.nodes().await.unwrap()[1];
    assert_eq!((b.state.as_str(), b.load), ("active", NodeLoad::default()));
}

async fn claims_are_fenced_by_epoch(backend: Backend) {
    let (db, _dir) = open(backend).await;
    for n in ["a", "b"] {
        db.register_node(&node(n)).await.unwrap();
    }
    let claim = |n: &'static str| db.claim_stream("cam", "source", n, TTL_MS);
    assert_eq!(claim("a").await.unwrap(), ClaimOutcome::Granted(1));
    let held_by_a = |epoch| {
        ClaimOutcome::Held(StreamOwner {
            node: "a".into(),
            epoch,
        })
    };
    assert_eq!(claim("b").await.unwrap(), held_by_a(1));
    // The holder may claim again (its registry judges its own streams): a new epoch.
    assert_eq!(claim("a").await.unwrap(), ClaimOutcome::Granted(2));
    assert!(
        !db.release_stream("cam", "source", "a", 1).await.unwrap(),
        "stale"
    );
    assert!(
        !db.release_stream("cam", "source", "b", 2).await.unwrap(),
        "not b's"
    );
    assert_eq!(claim("b").await.unwrap(), held_by_a(2));
    assert_eq!(
        db.stream_owner("cam", "source", TTL_MS).await.unwrap(),
        Some(StreamOwner {
            node: "a".into(),
            epoch: 2
        })
    );
    assert!(db.release_stream("cam", "source", "a", 2).await.unwrap());
    assert_eq!(
        db.stream_owner("cam", "source", TTL_MS).await.unwrap(),
        None
    );
    assert_eq!(claim("b").await.unwrap(), ClaimOutcome::Granted(3));
    // Another rendition of the channel is claimed on its own.
    assert_eq!(
        db.claim_stream("cam", "480p", "a", TTL_MS).await.unwrap(),
        ClaimOutcome::Granted(1)
    );

    // An owner that left (`gone`) or stopped beating is replaced.
    db.set_node_state("b", "gone").await.unwrap();
    assert_eq!(
        db.stream_owner("cam", "source", TTL_MS).await.unwrap(),
        None
    );
    assert_eq!(claim("a").await.unwrap(), ClaimOutcome::Granted(4));
    db.register_node(&node("b")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    db.heartbeat("b", NodeLoad::default()).await.unwrap();
    // With a 200 ms TTL, a (silent for 300 ms) is dead, b (just beat) is alive.
    assert_eq!(
        db.claim_stream("cam", "source", "b", 200).await.unwrap(),
        ClaimOutcome::Granted(5)
    );
    assert_eq!(
        db.claim_stream("cam", "source", "a", 200).await.unwrap(),
        ClaimOutcome::Held(StreamOwner {
            node: "b".into(),
            epoch: 5
        })
    );
    // A claim by a node that never registered is granted only on a free key, and the key is
    // then free for anyone (no heartbeat makes it alive).
    assert_eq!(
        db.claim_stream("other", "source", "ghost", TTL_MS)
            .await
            .unwrap(),
        ClaimOutcome::Granted(1)
    );
    assert_eq!(
        db.claim_stream("other", "source", "a", TTL_MS)
            .await
            .unwrap(),
        ClaimOutcome::Granted(2)
    );
}

/// 1,000 claims of one channel from three nodes at once: every grant has an epoch of its own
/// (1, 2, … with no gap or repeat), and all grants go to one node — once it holds the channel,
/// the others are refused while it is alive.
async fn concurrent_claims_have_one_winner_per_epoch(backend: Backend) {
    let (db, _dir) = open(backend).await;
    let db = Arc::new(db);
    for n in ["a", "b", "c"] {
        db.register_node(&node(n)).await.unwrap();
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let db = db.clone();
        tasks.spawn(async move {
            let name = ["a", "b", "c"][i % 3];
            let outcome = db
                .claim_stream("race", "source", name, TTL_MS)
                .await
                .unwrap();
            (name, outcome)
        });
    }
    let mut granted = Vec::new();
    let mut refused = 0;
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            (name, ClaimOutcome::Granted(epoch)) => granted.push((epoch, name)),
            (_, ClaimOutcome::Held(_)) => refused += 1,
        }
    }
    granted.sort();
    let epochs: Vec<i64> = granted.iter().map(|(e, _)| *e).collect();
    let expected: Vec<i64> = (1..=granted.len() as i64).collect();
    assert_eq!(epochs, expected, "one winner per epoch");
    let winners: BTreeSet<&str> = granted.iter().map(|(_, n)| *n).collect();
    assert_eq!(winners.len(), 1, "{granted:?}");
    assert_eq!(granted.len() + refused, 1000);
    assert!(
        refused >= 600,
        "the other two nodes' claims are refused: {refused}"
    );
}

/// Limits shared by the nodes: GCRA in one statement on the database's clock, and the lockout
/// of addresses without an account; stale rows are pruned.
async fn shared_limits(backend: Backend) {
    let (db, _dir) = open(backend).await;
    // 3 per minute: T = 20 s, τ = 40 s.
    let check = |scope: &'static str, key: &'static str| db.rate_check(scope, key, 20_000, 40_000);
    for _ in 0..3 {
        assert_eq!(check("login_ip", "192.0.2.1").await.unwrap(), None);
    }
    let retry = check("login_ip", "192.0.2.1").await.unwrap().unwrap();
    assert!((15_000..=20_000).contains(&retry), "retry after {retry} ms");
    assert_eq!(check("login_ip", "192.0.2.2").await.unwrap(), None);
    assert_eq!(check("mail_ip", "192.0.2.1").await.unwrap(), None);

    let email = "nobody@example.com";
    for _ in 0..2 {
        db.record_unknown_login_failure(email, 3, 300)
            .await
            .unwrap();
        assert!(!db.login_locked(email).await.unwrap());
    }
    db.record_unknown_login_failure(email, 3, 300)
        .await
        .unwrap();
    assert!(
        db.login_locked(email).await.unwrap(),
        "the third failure locks"
    );
    assert!(!db.login_locked("other@example.com").await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!db.login_locked(email).await.unwrap(), "the lock passed");
    // A failure after the lock passed counts from one again.
    db.record_unknown_login_failure(email, 3, 300)
        .await
        .unwrap();
    assert!(!db.login_locked(email).await.unwrap());

    // Rows idle for longer than the lockout go; GCRA rows wait until their time has come.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(db.prune_limits(100).await.unwrap(), 1);
    assert!(check("login_ip", "192.0.2.1").await.unwrap().is_some());
}

on_both!(
    nodes_and_heartbeats,
    claims_are_fenced_by_epoch,
    concurrent_claims_have_one_winner_per_epoch,
    shared_limits
);
