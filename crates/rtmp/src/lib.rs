//! RTMP (sans-IO).
#![forbid(unsafe_code)]
