#![no_main]
//! `X-Forwarded-For` header lines from clients and proxies.
use libfuzzer_sys::fuzz_target;
use onair_auth::forwarded::client_address;
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    let trusted = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 10,
        IpAddr::V6(v6) => v6.is_loopback(),
    };
    let _ = client_address(IpAddr::from([10, 0, 0, 1]), &lines, trusted);
});
