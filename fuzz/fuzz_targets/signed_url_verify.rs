#![no_main]
//! OnAir signed playback URLs: `token` query values and request paths from clients. A token
//! signed by us and altered must never verify, and nothing may panic.
use libfuzzer_sys::fuzz_target;
use onair_auth::signed_url::{Grant, SigningKeys, covers, sign, verify};

fuzz_target!(|data: &[u8]| {
    let keys = SigningKeys::new(&[7u8; 32], Some(&[9u8; 32])).unwrap();
    let (split, rest) = data.split_first().map_or((0, data), |(s, r)| (*s as usize, r));
    let split = split.min(rest.len());
    let (token, path) = rest.split_at(split);
    let (Ok(token), Ok(path)) = (std::str::from_utf8(token), std::str::from_utf8(path)) else {
        return;
    };
    let ip = "127.0.0.1".parse().unwrap();
    let _ = verify(&keys, token, path, 1_000, ip);
    let _ = covers(token, path);
    // A grant built from the input signs and verifies for a covered path, and any change to
    // the token text breaks it.
    let grant = Grant { scope: "/live/a/".into(), expires: 2_000, user_id: path.chars().take(100).collect(), client_ip: None };
    if let Ok(t) = sign(&keys, &grant) {
        assert!(verify(&keys, &t, "/live/a/llhls.m3u8", 1_000, ip).is_ok());
        if !token.is_empty() && token != t {
            let altered = format!("{t}{token}");
            assert!(verify(&keys, &altered, "/live/a/llhls.m3u8", 1_000, ip).is_err());
        }
    }
});
