//! Time-based one-time passwords for second-factor login.
//!
//! Implements RFC 6238 (TOTP) with the parameters every authenticator app defaults to:
//! HMAC-SHA1, 6 digits, a 30-second time step and T0 = 0, over RFC 4226 (HOTP) §5.3 dynamic
//! truncation. Secrets are exchanged as RFC 4648 §6 base32 without padding inside a Key Uri
//! Format `otpauth://` URI (the Google Authenticator convention), usually shown as a QR code.
//!
//! Verification accepts a configurable number of steps of clock skew either way (RFC 6238
//! §5.2) and refuses a code from a step at or before the last one accepted, so a code
//! observed in transit cannot be replayed (RFC 6238 §5.2, "MUST NOT accept the second attempt
//! of the same OTP"). The caller stores the returned step with the account.

use std::fmt::Write;

use data_encoding::BASE32_NOPAD;
use hmac::Mac;
use sha1::Sha1;

use crate::{constant_time_eq, hmac_with_key};

/// Digits in a code.
pub const DIGITS: u32 = 6;
/// Seconds per time step (RFC 6238 X).
pub const STEP_SECS: u64 = 30;
/// Length of generated secrets: 160 bits, RFC 4226 §4 R6's recommendation and the HMAC-SHA1
/// output size.
pub const SECRET_LEN: usize = 20;
/// Shortest secret [`parse_base32`] accepts: RFC 4226 §4 R6 requires at least 128 bits.
pub const MIN_SECRET_LEN: usize = 16;
/// Longest secret [`parse_base32`] accepts.
pub const MAX_SECRET_LEN: usize = 64;
/// Longest base32 text [`parse_base32`] looks at, spaces and padding included, checked before
/// any processing.
pub const MAX_BASE32_LEN: usize = 256;

/// 10^DIGITS.
const MODULUS: u32 = 1_000_000;

/// Why a secret or a code was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("secret text is longer than {MAX_BASE32_LEN} characters")]
    InputTooLong,
    #[error("secret is not valid base32")]
    BadBase32,
    #[error("secret is shorter than {MIN_SECRET_LEN} bytes")]
    SecretTooShort,
    #[error("secret is longer than {MAX_SECRET_LEN} bytes")]
    SecretTooLong,
    /// The code is not exactly six ASCII digits.
    #[error("code must be {DIGITS} digits")]
    MalformedCode,
    /// The code matches no step within the allowed skew.
    #[error("wrong code")]
    InvalidCode,
    /// The code matches only steps at or before the last accepted one.
    #[error("code already used")]
    Replayed,
}

/// A new random secret of [`SECRET_LEN`] bytes, from the thread-local CSPRNG (ChaCha12 seeded
/// and periodically reseeded from the OS).
pub fn generate_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_LEN];
    rand::fill(&mut secret[..]);
    secret
}

/// The secret as authenticator apps expect it typed in: base32, upper case, no padding.
pub fn secret_base32(secret: &[u8]) -> String {
    BASE32_NOPAD.encode(secret)
}

/// Parses a base32 secret as users type or paste it: case-insensitive, spaces ignored,
/// trailing `=` padding allowed.
pub fn parse_base32(s: &str) -> Result<Vec<u8>, TotpError> {
    if s.len() > MAX_BASE32_LEN {
        return Err(TotpError::InputTooLong);
    }
    let cleaned: Vec<u8> = s
        .bytes()
        .filter(|&b| b != b' ')
        .map(|b| b.to_ascii_uppercase())
        .collect();
    let unpadded = cleaned
        .iter()
        .rposition(|&b| b != b'=')
        .and_then(|last| cleaned.get(..=last))
        .unwrap_or_default();
    let secret = BASE32_NOPAD
        .decode(unpadded)
        .map_err(|_| TotpError::BadBase32)?;
    if secret.len() < MIN_SECRET_LEN {
        return Err(TotpError::SecretTooShort);
    }
    if secret.len() > MAX_SECRET_LEN {
        return Err(TotpError::SecretTooLong);
    }
    Ok(secret)
}

/// The Key Uri Format provisioning URI (usually rendered as a QR code):
/// `otpauth://totp/{issuer}:{account}?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
///
/// Issuer and account are percent-encoded (RFC 3986 §2.1, everything but unreserved
/// characters), so a `:` inside either is sent as `%3A` and cannot move the label's
/// issuer/account split. The issuer appears both as label prefix and parameter, as the
/// format recommends for compatibility with older apps.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        account = percent_encode(account),
        secret = secret_base32(secret),
    )
}

/// RFC 3986 percent-encoding of everything but the unreserved set `A-Z a-z 0-9 - . _ ~`,
/// byte by byte over UTF-8. Spaces become `%20` (not `+`), as the Key Uri Format requires.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// RFC 4226 HOTP value for `counter`, [`DIGITS`] digits (format with `{:06}`).
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    let hs: [u8; 20] = hmac_with_key::<Sha1>(secret)
        .chain_update(counter.to_be_bytes())
        .finalize()
        .into_bytes()
        .into();
    // Dynamic truncation (RFC 4226 §5.3): the low nibble of the last byte picks an offset of
    // at most 15, so offset + 3 <= 18 stays inside the 20-byte HMAC-SHA1 output.
    let offset = usize::from(hs[19] & 0x0f);
    let bin = u32::from_be_bytes([hs[offset], hs[offset + 1], hs[offset + 2], hs[offset + 3]])
        & 0x7fff_ffff;
    bin % MODULUS
}

/// The RFC 6238 time step containing `unix_time`.
pub fn step_at(unix_time: u64) -> u64 {
    unix_time / STEP_SECS
}

/// The code valid at `unix_time` (format with `{:06}`).
pub fn code_at(secret: &[u8], unix_time: u64) -> u32 {
    hotp(secret, step_at(unix_time))
}

/// Checks `code` at `now` (unix seconds), accepting the steps up to `skew_steps` before and
/// after the current one (1 is the usual choice: ±30 s). Steps at or before `last_used_step`
/// are refused, so each code works once. Returns the matched step: store it as the new
/// `last_used_step`.
pub fn verify(
    secret: &[u8],
    code: &str,
    now: u64,
    skew_steps: u8,
    last_used_step: Option<u64>,
) -> Result<u64, TotpError> {
    let digits = code.as_bytes();
    // Exactly six ASCII digits: no signs, spaces or Unicode digits that `parse` might accept
    // or that would make two different strings the same code.
    if digits.len() != DIGITS as usize || !digits.iter().all(u8::is_ascii_digit) {
        return Err(TotpError::MalformedCode);
    }
    let current = step_at(now);
    let skew = u64::from(skew_steps);
    let mut accepted = None;
    let mut replayed = false;
    // Every candidate is computed and compared, without stopping early, so timing does not
    // reveal which step matched. The latest matching step wins, so the replay window moves
    // as far forward as the code allows.
    for step in current.saturating_sub(skew)..=current.saturating_add(skew) {
        let expected = format!("{:06}", hotp(secret, step));
        if constant_time_eq(expected.as_bytes(), digits) {
            if last_used_step.is_some_and(|last| step <= last) {
                replayed = true;
            } else {
                accepted = Some(step);
            }
        }
    }
    match accepted {
        Some(step) => Ok(step),
        None if replayed => Err(TotpError::Replayed),
        None => Err(TotpError::InvalidCode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc4226_appendix_d() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.into_iter().enumerate() {
            assert_eq!(hotp(RFC_SECRET, counter as u64), want, "counter {counter}");
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1() {
        // The RFC lists 8-digit codes; a 6-digit code is their last six digits.
        let vectors: [(u64, u32); 6] = [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        for (time, eight) in vectors {
            assert_eq!(code_at(RFC_SECRET, time), eight % 1_000_000, "time {time}");
        }
        assert_eq!(format!("{:06}", code_at(RFC_SECRET, 1111111109)), "081804");
        assert_eq!(format!("{:06}", code_at(RFC_SECRET, 1234567890)), "005924");
    }

    #[test]
    fn verify_with_skew() {
        // Step 37037036 (t = 1111111109) has code 081804.
        let step = step_at(1111111109);
        assert_eq!(verify(RFC_SECRET, "081804", 1111111109, 0, None), Ok(step));
        assert_eq!(
            verify(RFC_SECRET, "081804", 1111111109 + 30, 1, None),
            Ok(step)
        );
        assert_eq!(
            verify(RFC_SECRET, "081804", 1111111109 - 30, 1, None),
            Ok(step)
        );
        assert_eq!(
            verify(RFC_SECRET, "081804", 1111111109 + 60, 1, None),
            Err(TotpError::InvalidCode)
        );
        assert_eq!(
            verify(RFC_SECRET, "081804", 1111111109 + 30, 0, None),
            Err(TotpError::InvalidCode)
        );
        assert_eq!(
            verify(RFC_SECRET, "000000", 1111111109, 1, None),
            Err(TotpError::InvalidCode)
        );
        // Near the epoch, the window is clipped rather than wrapping.
        assert_eq!(verify(RFC_SECRET, "287082", 0, 3, None), Ok(1));
        // At the end of time, likewise.
        let code = format!("{:06}", code_at(RFC_SECRET, u64::MAX));
        assert!(verify(RFC_SECRET, &code, u64::MAX, 255, None).is_ok());
    }

    #[test]
    fn replay_is_refused() {
        let secret = generate_secret();
        let now = 1_700_000_000;
        let code = format!("{:06}", code_at(&secret, now));
        let step = verify(&secret, &code, now, 1, None).unwrap();
        assert_eq!(step, step_at(now));
        assert_eq!(
            verify(&secret, &code, now, 1, Some(step)),
            Err(TotpError::Replayed)
        );
        assert_eq!(
            verify(&secret, &code, now + 20, 1, Some(step + 5)),
            Err(TotpError::Replayed)
        );
        // The next step's code is still fine.
        let next = format!("{:06}", code_at(&secret, now + 30));
        assert_eq!(
            verify(&secret, &next, now + 30, 1, Some(step)),
            Ok(step + 1)
        );
    }

    #[test]
    fn malformed_codes() {
        for code in [
            "",
            "12345",
            "1234567",
            "12345a",
            " 12345",
            "123 45",
            "+12345",
            "-12345",
            "١٢٣٤٥٦",
            "12345\n",
        ] {
            assert_eq!(
                verify(RFC_SECRET, code, 59, 1, None),
                Err(TotpError::MalformedCode),
                "{code:?}"
            );
        }
    }

    #[test]
    fn base32_round_trip_and_leniency() {
        let secret = generate_secret();
        assert_eq!(secret.len(), SECRET_LEN);
        assert_ne!(secret, generate_secret());
        let text = secret_base32(&secret);
        assert_eq!(text.len(), 32);
        assert!(!text.contains('='));
        assert_eq!(parse_base32(&text), Ok(secret.clone()));
        let typed: String = text
            .to_lowercase()
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(parse_base32(&typed), Ok(secret));
        // The RFC 6238 test secret.
        assert_eq!(
            parse_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            Ok(RFC_SECRET.to_vec())
        );
        let padded = secret_base32(&[7u8; 17]) + "======";
        assert_eq!(parse_base32(&padded), Ok(vec![7u8; 17]));
    }

    #[test]
    fn base32_errors() {
        assert_eq!(parse_base32("GEZDGNBV1"), Err(TotpError::BadBase32));
        assert_eq!(
            parse_base32("GEZDGNBVGY3TQOJ=QGEZ"),
            Err(TotpError::BadBase32)
        );
        assert_eq!(parse_base32("GEZDGNBV"), Err(TotpError::SecretTooShort));
        assert_eq!(parse_base32(""), Err(TotpError::SecretTooShort));
        assert_eq!(parse_base32("===="), Err(TotpError::SecretTooShort));
        assert_eq!(
            parse_base32(&secret_base32(&[1u8; MAX_SECRET_LEN + 1])),
            Err(TotpError::SecretTooLong)
        );
        assert_eq!(
            parse_base32(&" ".repeat(MAX_BASE32_LEN + 1)),
            Err(TotpError::InputTooLong)
        );
    }

    #[test]
    fn otpauth_uri_format() {
        let uri = otpauth_uri("OnAir", "alice@example.com", RFC_SECRET);
        assert_eq!(
            uri,
            "otpauth://totp/OnAir:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=OnAir&algorithm=SHA1&digits=6&period=30"
        );
        let uri = otpauth_uri("On Air: Live", "bob:ü&x=1", RFC_SECRET);
        assert!(uri.starts_with("otpauth://totp/On%20Air%3A%20Live:bob%3A%C3%BC%26x%3D1?"));
        assert!(uri.contains("&issuer=On%20Air%3A%20Live&"));
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = StdRng::seed_from_u64(0x707);
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz234567=01 9\xc3";
        for _ in 0..10_000 {
            let len = rng.random_range(0..MAX_BASE32_LEN + 8);
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_base32(&text);
            let code: String = text.chars().take(rng.random_range(0..8)).collect();
            let skew = rng.random_range(0..3);
            let last = rng.random::<bool>().then(|| rng.random());
            let _ = verify(RFC_SECRET, &code, rng.random(), skew, last);
        }
    }
}
