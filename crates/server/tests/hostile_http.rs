//! Hostile HTTP clients against a running node on loopback: IPv6 clients rotating addresses
//! within their /64.

mod common;

use std::time::Duration;

use common::*;
use onair_server::security::ratelimit::RateLimit;

/// Behind a trusted proxy, viewers are told apart by `X-Forwarded-For`: addresses of one IPv6
/// /64 share one login budget (an attacker holding a /64 cannot rotate through it), other /64s
/// do not, and an IPv4-mapped IPv6 address shares its IPv4 address's budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ipv6_64_shares_one_login_budget() {
    let node = TestNode::start_with(|s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.limits.login_per_ip = RateLimit {
            max: 2,
            per: Duration::from_secs(3600),
        };
    })
    .await;
    let c = client();
    let mut n = 0;
    let mut login = |from: &'static str| {
        n += 1;
        // A different unknown address each time: only the per-address budget says 429.
        c.post(node.url("/api/v1/auth/login"))
            .header("x-forwarded-for", from)
            .json(&serde_json::json!({
                "email": format!("nobody{n}@example.com"),
                "password": "not the password",
            }))
            .send()
    };
    assert_eq!(login("2001:db8:1:2::1").await.unwrap().status(), 401);
    assert_eq!(login("2001:db8:1:2:ffff::9").await.unwrap().status(), 401);
    assert_eq!(
        login("2001:db8:1:2::3").await.unwrap().status(),
        429,
        "same /64"
    );
    assert_eq!(
        login("2001:db8:1:2:abcd:1:2:3").await.unwrap().status(),
        429,
        "same /64"
    );
    assert_eq!(
        login("2001:db8:1:3::1").await.unwrap().status(),
        401,
        "another /64"
    );
    assert_eq!(login("::ffff:192.0.2.1").await.unwrap().status(), 401);
    assert_eq!(login("192.0.2.1").await.unwrap().status(), 401);
    assert_eq!(
        login("192.0.2.1").await.unwrap().status(),
        429,
        "mapped and plain IPv4 are one address"
    );
    assert_eq!(login("192.0.2.2").await.unwrap().status(), 401);
    node.stop().await;
}
