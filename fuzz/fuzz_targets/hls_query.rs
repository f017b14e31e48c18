#![no_main]
//! LL-HLS request query strings.
use libfuzzer_sys::fuzz_target;
use onair_hls::request::{LiveEdge, evaluate, parse_query};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(q) = parse_query(s)
    {
        let edge = LiveEdge { last_complete_msn: Some(5), last_complete_parts: 4, current_msn: 6, current_parts: 2 };
        let _ = evaluate(&q, &edge);
    }
});
