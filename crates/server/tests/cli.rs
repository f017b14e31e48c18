//! The operator's `onair user …` commands, against the SQLite file in a data directory and
//! against PostgreSQL.

mod common;

use std::process::Command;

use common::db::{BACKENDS, Backend, fresh_postgres};
use onair_server::db::Db;

struct Target {
    dir: tempfile::TempDir,
    url: Option<String>,
}

impl Target {
    fn run(&self, args: &[&str], password: Option<&str>) -> (bool, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_onair"));
        cmd.arg("user")
            .args(args)
            .arg("--data-dir")
            .arg(self.dir.path());
        if let Some(url) = &self.url {
            cmd.args(["--database-url", url]);
        }
        cmd.env_remove("ONAIR_USER_PASSWORD");
        if let Some(p) = password {
            cmd.env("ONAIR_USER_PASSWORD", p);
        }
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    async fn db(&self) -> Db {
        match &self.url {
            Some(u) => Db::connect(u).await.unwrap(),
            None => Db::open_sqlite(&self.dir.path().join("onair.db"))
                .await
                .unwrap(),
        }
    }
}

async fn user_commands(backend: Backend) {
    let t = Target {
        dir: tempfile::tempdir().unwrap(),
        url: match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(fresh_postgres().await),
        },
    };
    let (ok, out) = t.run(
        &["add", "ops@example.com", "--role", "admin"],
        Some("a long admin password"),
    );
    assert!(ok, "{out}");
    assert!(
        !out.contains("password:"),
        "a given password is not printed: {out}"
    );
    let (ok, out) = t.run(&["add", "cam@example.com"], None);
    assert!(ok, "{out}");
    let generated = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("a generated password is printed")
        .to_owned();
    assert!(generated.len() >= 16, "{out}");
    // Duplicate e-mail: a clean error.
    let (ok, out) = t.run(&["add", "CAM@example.com"], Some("another password!"));
    assert!(!ok, "duplicate accepted: {out}");
    assert!(!out.contains("panicked"), "{out}");

    let (ok, out) = t.run(&["list"], None);
    assert!(ok, "{out}");
    assert!(
        out.contains("ops@example.com") && out.contains("cam@example.com"),
        "{out}"
    );
    let (_, out) = t.run(&["list", "--role", "admin"], None);
    assert!(
        out.contains("ops@example.com") && !out.contains("cam@example.com"),
        "{out}"
    );

    let db = t.db().await;
    let cam = db.user_by_email("cam@example.com").await.unwrap().unwrap();
    assert_eq!(cam.role.as_str(), "broadcaster");
    assert!(
        onair_server::security::password::verify(&generated, Some(&cam.password_hash)).await,
        "the printed password is the stored one"
    );

    let (ok, out) = t.run(&["set-role", "cam@example.com", "viewer"], None);
    assert!(ok, "{out}");
    // The last admin cannot be demoted or disabled.
    let (ok, out) = t.run(&["set-role", "ops@example.com", "viewer"], None);
    assert!(!ok, "{out}");
    let (ok, out) = t.run(&["disable", "ops@example.com"], None);
    assert!(!ok, "{out}");
    let (ok, out) = t.run(&["disable", "cam@example.com"], None);
    assert!(ok, "{out}");
    let cam = db.user_by_email("cam@example.com").await.unwrap().unwrap();
    assert_eq!(
        (cam.role.as_str(), cam.status.as_str()),
        ("viewer", "disabled")
    );
    let (ok, out) = t.run(&["enable", "cam@example.com"], None);
    assert!(ok, "{out}");
    let (ok, out) = t.run(
        &["reset-password", "cam@example.com"],
        Some("a brand new password"),
    );
    assert!(ok, "{out}");
    let cam = db.user_by_email("cam@example.com").await.unwrap().unwrap();
    assert_eq!(cam.status.as_str(), "active");
    assert!(
        onair_server::security::password::verify("a brand new password", Some(&cam.password_hash))
            .await
    );
    let (ok, out) = t.run(&["set-role", "nobody@example.com", "viewer"], None);
    assert!(!ok, "{out}");
    let (ok, out) = t.run(&["set-role", "cam@example.com", "superuser"], None);
    assert!(!ok, "{out}");
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_commands_on_both_backends() {
    for backend in BACKENDS {
        user_commands(backend).await;
    }
}
