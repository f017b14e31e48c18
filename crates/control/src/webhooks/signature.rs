//! Webhook request signing (the scheme Stripe uses, under our own header names).
//!
//! Every delivery carries:
//!
//! | Header            | Value                                                       |
//! |-------------------|-------------------------------------------------------------|
//! | `OnAir-Signature` | `t={unix seconds},v1={hex(HMAC-SHA256(secret, "{t}.{body}"))}` |
//! | `OnAir-Event`     | the event type, e.g. `publish.started`                      |
//! | `OnAir-Delivery`  | the delivery id (a ULID; the same for every retry)          |
//!
//! The secret is the endpoint's secret string, used as the HMAC key byte for byte; `body` is
//! the raw request body exactly as received (verify before parsing the JSON); the hex is
//! lowercase. Each attempt is signed afresh, so `t` is the time of the attempt.
//!
//! To verify, a receiver recomputes the HMAC over `"{t}.{body}"` with its copy of the secret,
//! compares it with each `v1` in constant time, and rejects timestamps more than a tolerance
//! (5 minutes is customary) away from its clock, which bounds replays. [`verify`] does exactly
//! that. Unknown `key=value` elements (`v0`, a future `v2`) are ignored, and several `v1`
//! elements may be present (e.g. while a secret is rotated): one matching is enough.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Header with the timestamp and signature(s).
pub const SIGNATURE_HEADER: &str = "OnAir-Signature";
/// Header with the event type.
pub const EVENT_HEADER: &str = "OnAir-Event";
/// Header with the delivery id.
pub const DELIVERY_HEADER: &str = "OnAir-Delivery";
/// Longest `OnAir-Signature` value [`verify`] looks at.
pub const MAX_SIGNATURE_HEADER_LEN: usize = 1024;
/// A customary tolerance for [`verify`].
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a signature was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header longer than {MAX_SIGNATURE_HEADER_LEN} bytes")]
    TooLong,
    #[error("malformed signature header: {0}")]
    Malformed(&'static str),
    #[error("signature timestamp {t} is outside the tolerance of {tolerance_secs} s")]
    Stale { t: i64, tolerance_secs: u64 },
    #[error("no signature matches")]
    Mismatch,
}

fn mac(secret: &[u8], t: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        // HMAC hashes over-long keys and pads short ones: every length is valid.
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `OnAir-Signature` value for `body` sent at unix time `t`.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let tag = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", data_encoding::HEXLOWER.encode(&tag))
}

/// Checks an `OnAir-Signature` value against `body`, with the receiver's clock at unix time
/// `now` and timestamps accepted up to `tolerance` away from it (either direction).
///
/// The comparison is constant-time; the header is rejected unparsed beyond
/// [`MAX_SIGNATURE_HEADER_LEN`].
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    if header.len() > MAX_SIGNATURE_HEADER_LEN {
        return Err(SignatureError::TooLong);
    }
    let mut t: Option<i64> = None;
    let mut candidates: Vec<&str> = Vec::new();
    for element in header.split(',') {
        let (key, value) = element
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed("element without '='"))?;
        match key {
            "t" => {
                if t.is_some() {
                    return Err(SignatureError::Malformed("more than one timestamp"));
                }
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SignatureError::Malformed("timestamp is not a number"));
                }
                t = Some(
                    value
                        .parse()
                        .map_err(|_| SignatureError::Malformed("timestamp out of range"))?,
                );
            }
            "v1" => candidates.push(value),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed("no timestamp"))?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed("no v1 signature"));
    }
    let tolerance_secs = tolerance.as_secs();
    if now.abs_diff(t) > tolerance_secs {
        return Err(SignatureError::Stale { t, tolerance_secs });
    }
    let expected = mac(secret, t, body);
    let mut matched = false;
    for candidate in candidates {
        // Length and hex validity are not secret; the tag comparison is constant-time.
        if let Ok(tag) = data_encoding::HEXLOWER_PERMISSIVE.decode(candidate.as_bytes()) {
            matched |= expected.clone().verify_slice(&tag).is_ok();
        }
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";
    const BODY: &[u8] = br#"{"id":"x","type":"publish.started"}"#;
    const T: i64 = 1_700_000_000;

    #[test]
    fn header_format() {
        let h = sign(b"key", 0, b"x");
        let (t, v1) = h.split_once(',').unwrap();
        assert_eq!(t, "t=0");
        assert!(v1.starts_with("v1=") && v1.len() == 3 + 64);
        assert!(
            v1[3..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn matches_an_independent_hmac() {
        let mut m = HmacSha256::new_from_slice(SECRET).unwrap();
        m.update(format!("{T}.").as_bytes());
        m.update(BODY);
        let hex = data_encoding::HEXLOWER.encode(&m.finalize().into_bytes());
        assert_eq!(sign(SECRET, T, BODY), format!("t={T},v1={hex}"));
    }

    #[test]
    fn accepts_valid_signature() {
        let h = sign(SECRET, T, BODY);
        assert_eq!(verify(SECRET, &h, BODY, T, DEFAULT_TOLERANCE), Ok(()));
        assert_eq!(verify(SECRET, &h, BODY, T + 300, DEFAULT_TOLERANCE), Ok(()));
        assert_eq!(verify(SECRET, &h, BODY, T - 300, DEFAULT_TOLERANCE), Ok(()));
        // Extra unknown elements, whitespace, a second (wrong) v1 before the right one.
        let v1 = h.split_once(",v1=").unwrap().1;
        let multi = format!("t={T}, v0=abc, v1={}, v1={v1}", "0".repeat(64));
        assert_eq!(verify(SECRET, &multi, BODY, T, DEFAULT_TOLERANCE), Ok(()));
    }

    #[test]
    fn rejects_tampered_body() {
        let h = sign(SECRET, T, BODY);
        let mut body = BODY.to_vec();
        body[2] ^= 1;
        assert_eq!(
            verify(SECRET, &h, &body, T, DEFAULT_TOLERANCE),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_wrong_secret() {
        let h = sign(SECRET, T, BODY);
        assert_eq!(
            verify(b"whsec_other", &h, BODY, T, DEFAULT_TOLERANCE),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_tampered_timestamp() {
        let h = sign(SECRET, T, BODY).replacen(&format!("t={T}"), &format!("t={}", T + 1), 1);
        assert_eq!(
            verify(SECRET, &h, BODY, T, DEFAULT_TOLERANCE),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_stale_timestamp() {
        let h = sign(SECRET, T, BODY);
        for now in [T + 301, T - 301, i64::MAX, i64::MIN] {
            assert!(
                matches!(
                    verify(SECRET, &h, BODY, now, DEFAULT_TOLERANCE),
                    Err(SignatureError::Stale { .. })
                ),
                "now={now}"
            );
        }
    }

    #[test]
    fn rejects_malformed_headers() {
        let good_v1 = sign(SECRET, T, BODY)
            .split_once(",v1=")
            .unwrap()
            .1
            .to_owned();
        let cases = [
            String::new(),
            "garbage".to_owned(),
            format!("v1={good_v1}"),
            format!("t={T}"),
            format!("t=,v1={good_v1}"),
            format!("t=-5,v1={good_v1}"),
            format!("t=1e9,v1={good_v1}"),
            format!("t=99999999999999999999999,v1={good_v1}"),
            format!("t={T},t={T},v1={good_v1}"),
            format!("t={T};v1={good_v1}"),
        ];
        for h in cases {
            assert!(
                matches!(
                    verify(SECRET, &h, BODY, T, DEFAULT_TOLERANCE),
                    Err(SignatureError::Malformed(_))
                ),
                "{h:?}"
            );
        }
        // Non-hex or truncated signatures are well-formed but do not match.
        for v1 in ["zz", &good_v1[..62], ""] {
            assert_eq!(
                verify(
                    SECRET,
                    &format!("t={T},v1={v1}"),
                    BODY,
                    T,
                    DEFAULT_TOLERANCE
                ),
                Err(SignatureError::Mismatch)
            );
        }
        let long = format!(
            "t={T},v1={good_v1},x={}",
            "a".repeat(MAX_SIGNATURE_HEADER_LEN)
        );
        assert_eq!(
            verify(SECRET, &long, BODY, T, DEFAULT_TOLERANCE),
            Err(SignatureError::TooLong)
        );
    }
}
