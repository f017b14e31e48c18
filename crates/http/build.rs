//! Embeds the web player and console (`web/dist`, built by `npm --prefix web run build`) into
//! the binary: generates `$OUT_DIR/web_assets.rs` with one `include_bytes!` per file. Without
//! a build (no `web/dist/index.html`), the binary serves a page saying how to build it.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let dist = manifest.join("../../web/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut list = Vec::new();
    if dist.join("index.html").exists() {
        files(&dist, &mut list);
        list.sort();
    } else {
        println!(
            "cargo:warning=web/dist is missing: the player and console are not embedded (run `npm --prefix web ci && npm --prefix web run build`)"
        );
    }
    let mut code = String::from(
        "/// Embedded web assets: (URL path, bytes).\npub static WEB_ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for f in &list {
        let rel = f
            .strip_prefix(&dist)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let abs = f.canonicalize().unwrap();
        println!("cargo:rerun-if-changed={}", abs.display());
        code.push_str(&format!(
            "    (\"/{rel}\", include_bytes!({:?})),\n",
            abs.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("web_assets.rs");
    std::fs::write(out, code).unwrap();
}
