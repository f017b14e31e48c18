#![no_main]
//! Stored init segments repaired before serving (`esds` sizes written before the fix): any
//! bytes, never a panic; a repair keeps the length and is final (a second one finds nothing).
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use onair_media::fmp4::repair_init;

fuzz_target!(|data: &[u8]| {
    let init = Bytes::copy_from_slice(data);
    if let Some(fixed) = repair_init(&init) {
        assert_eq!(fixed.len(), init.len());
        assert!(repair_init(&fixed).is_none());
    }
});
