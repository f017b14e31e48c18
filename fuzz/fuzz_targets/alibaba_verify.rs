#![no_main]
//! Alibaba Cloud CDN type A `auth_key` values and request URIs from clients.
use libfuzzer_sys::fuzz_target;
use onair_auth::alibaba::verify;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (uri, auth_key) = s.split_once('?').unwrap_or((s, s));
    let _ = verify(uri, auth_key, 1_700_000_000, 1800, &[b"primary-key", b"secondary-key"]);
});
