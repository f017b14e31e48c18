#![no_main]
//! TOTP codes and base32 secrets as users type them.
use libfuzzer_sys::fuzz_target;
use onair_auth::totp::{parse_base32, verify};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_base32(s);
    let _ = verify(b"12345678901234567890", s, 59, 1, None);
    let _ = verify(b"12345678901234567890", s, u64::MAX, 255, Some(u64::MAX));
});
