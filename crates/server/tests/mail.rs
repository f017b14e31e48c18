//! Mail over SMTP: a sign-up's verification message reaches a real SMTP conversation (a
//! minimal RFC 5321 sink on loopback), its token activates the account, and the outbox records
//! the message as sent. Without SMTP the outbox alone carries it (see tests/accounts/).

mod common;

use std::time::{Duration, Instant};

use common::api::Api;
use common::*;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Accepts SMTP sessions and sends each message's (envelope recipients, DATA) to `tx`.
async fn smtp_sink(listener: TcpListener, tx: mpsc::UnboundedSender<(Vec<String>, String)>) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let (r, mut w) = sock.into_split();
            let mut lines = BufReader::new(r).lines();
            w.write_all(b"220 sink.test ESMTP\r\n").await.ok();
            let mut rcpt = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                let upper = line.to_ascii_uppercase();
                let reply: &[u8] = if upper.starts_with("EHLO") {
                    b"250-sink.test\r\n250 8BITMIME\r\n"
                } else if upper.starts_with("HELO") || upper.starts_with("MAIL FROM") {
                    b"250 OK\r\n"
                } else if upper.starts_with("RCPT TO") {
                    rcpt.push(line[8..].trim().to_owned());
                    b"250 OK\r\n"
                } else if upper == "DATA" {
                    w.write_all(b"354 go ahead\r\n").await.ok();
                    let mut data = String::new();
                    while let Ok(Some(l)) = lines.next_line().await {
                        if l == "." {
                            break;
                        }
                        data.push_str(l.strip_prefix('.').unwrap_or(&l));
                        data.push('\n');
                    }
                    tx.send((std::mem::take(&mut rcpt), data)).ok();
                    b"250 queued\r\n"
                } else if upper == "QUIT" {
                    w.write_all(b"221 bye\r\n").await.ok();
                    return;
                } else {
                    b"250 OK\r\n"
                };
                w.write_all(reply).await.ok();
            }
        });
    }
}

/// Decodes a quoted-printable body (RFC 2045 §6.7): soft line breaks and `=XX` octets.
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_verification_mail_goes_out_over_smtp() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(smtp_sink(listener, tx));
    let node = TestNode::start_with(|s| {
        keyed(s);
        s.allow_signup = true;
        // Plain SMTP to a local relay (production: smtps:// or ?tls=required).
        s.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        s.mail_from = "OnAir <noreply@onair.test>".to_owned();
    })
    .await;
    let anon = Api::anonymous(&node.http);
    let (s, body) = anon
        .post(
            "/api/v1/auth/signup",
            json!({"email": "new@example.com", "password": "a long enough password", "display_name": "New"}),
        )
        .await;
    assert!(s == 200 || s == 202, "{s} {body}");
    let (rcpt, data) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no mail reached the SMTP server")
        .unwrap();
    assert_eq!(rcpt, vec!["<new@example.com>".to_owned()], "{data}");
    assert!(data.contains("From: OnAir <noreply@onair.test>"), "{data}");
    assert!(
        data.contains("Content-Transfer-Encoding: quoted-printable"),
        "{data}"
    );
    let body = quoted_printable(data.split_once("\n\n").expect("headers end").1);
    assert!(
        body.contains(&format!(
            "{}/console/verify?token=",
            node.http.replace("127.0.0.1", "localhost")
        )),
        "the link names this node: {body}"
    );
    let token = body
        .lines()
        .find_map(|l| l.split("token=").nth(1))
        .expect("the message carries the verification link")
        .trim()
        .to_owned();
    let (s, body) = anon
        .post("/api/v1/auth/verify", json!({"token": token}))
        .await;
    assert!((200..300).contains(&s), "{s} {body}");
    let api = Api::login(&node.http, "new@example.com", "a long enough password").await;
    assert_eq!(api.get("/api/v1/me").await.1["email"], "new@example.com");
    // The outbox records the delivery.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mail = node
            .sys()
            .db
            .list_mail(Some("new@example.com"), onair_server::db::Page::default())
            .await
            .unwrap();
        if mail.first().is_some_and(|m| m.sent_at.is_some()) {
            assert!(mail[0].error.is_none(), "{:?}", mail[0].error);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox never marked the mail sent: {mail:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.stop().await;
}
