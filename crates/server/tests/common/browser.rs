//! Headless Chromium (Debian's `chromium`) driven by playwright-core scripts in `web/tests/`.
//! Every script takes its arguments, then a screenshot path it writes when it fails, and prints
//! a JSON report as its last line.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::{wait_child, workspace};

/// Runs `web/tests/{script}` with `args` (a screenshot path is appended); returns its JSON
/// report.
pub async fn run_script(script: &str, args: Vec<String>, shot_name: String) -> Value {
    let root = workspace();
    let shots = root.join("target/browser-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join(format!("{shot_name}.png"));
    let script = root.join("web/tests").join(script);
    let out = tokio::task::spawn_blocking(move || {
        let child = Command::new("node")
            .arg(&script)
            .args(&args)
            .arg(&shot)
            .current_dir(root.join("web"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("node must be installed (the test command sets up web/)");
        wait_child(child, Duration::from_secs(90))
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("{}")).unwrap_or_else(|_| {
        panic!(
            "browser script: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Browser tests in one test binary take turns: two Chromiums, two ffmpegs and a node on a
/// 2-core machine would measure the machine, not the player's live latency.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}
