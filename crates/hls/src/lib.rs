//! HLS (sans-IO).
#![forbid(unsafe_code)]
