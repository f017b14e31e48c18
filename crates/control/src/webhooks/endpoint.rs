//! Webhook endpoints and the rules for their URLs, shared by the API layer (which validates
//! what operators register) and the dispatcher (which re-checks before every delivery).

use std::fmt;
use std::net::IpAddr;

/// Longest accepted endpoint URL, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// Where to deliver, and the secret deliveries are signed with.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub secret: String,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Why an endpoint URL is not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("URL is longer than {MAX_URL_LEN} bytes")]
    TooLong,
    #[error("URL contains whitespace or control characters")]
    BadCharacters,
    #[error("invalid URL: {0}")]
    Parse(String),
    #[error("URL scheme must be http or https, not {0:?}")]
    Scheme(String),
    #[error("URL has no host")]
    NoHost,
    #[error("URL must not contain a user name or password")]
    Credentials,
    #[error("URL must not contain a fragment")]
    Fragment,
    #[error(
        "URL points to a loopback, private, link-local or otherwise non-public address, which \
         this server does not deliver to (its operator can allow them with \
         --webhook-allow-private-targets)"
    )]
    NonPublic,
}

/// Accepts absolute `http://` and `https://` URLs of at most [`MAX_URL_LEN`] bytes with a host
/// and without credentials (`user:pass@`), fragments, whitespace or control characters.
///
/// This checks the form only; [`validate_endpoint_target`] adds the destination rule.
pub fn validate_endpoint_url(url: &str) -> Result<(), UrlError> {
    parse_endpoint_url(url).map(drop)
}

/// [`validate_endpoint_url`], and unless `allow_private`, a host written as an IP address
/// must be public ([`super::target::is_public_ip`]). Host names are accepted here: what they
/// resolve to is checked when connecting ([`super::target::PublicOnlyResolver`]).
///
/// The API checks URLs with this when they are registered or changed, and the dispatcher
/// again before every attempt.
pub fn validate_endpoint_target(url: &str, allow_private: bool) -> Result<(), UrlError> {
    let parsed = parse_endpoint_url(url)?;
    if allow_private {
        return Ok(());
    }
    // The parser has normalized IPv4 forms (`127.1`, `0x7f000001`, `2130706433`) to dotted
    // quads and put IPv6 in brackets; anything else is a name.
    let host = parsed.host_str().unwrap_or("");
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let Ok(ip) = host.parse::<IpAddr>() else {
        return Ok(());
    };
    if super::target::is_public_ip(ip) {
        Ok(())
    } else {
        Err(UrlError::NonPublic)
    }
}

fn parse_endpoint_url(url: &str) -> Result<reqwest::Url, UrlError> {
    if url.len() > MAX_URL_LEN {
        return Err(UrlError::TooLong);
    }
    // The URL parser would silently strip these; refuse instead so what is stored is what is
    // used.
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::BadCharacters);
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| UrlError::Parse(e.to_string()))?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => return Err(UrlError::Scheme(other.to_owned())),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(UrlError::NoHost);
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UrlError::Credentials);
    }
    if parsed.fragment().is_some() {
        return Err(UrlError::Fragment);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_http_and_https() {
        for url in [
            "https://hooks.example.com/onair",
            "http://127.0.0.1:8080/hook?x=1",
            "https://[::1]/",
            "HTTPS://EXAMPLE.COM",
        ] {
            assert_eq!(validate_endpoint_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        let scheme = || UrlError::Scheme(String::new());
        let parse = || UrlError::Parse(String::new());
        let cases = [
            (long.as_str(), UrlError::TooLong),
            ("ftp://example.com/", scheme()),
            ("file:///etc/passwd", scheme()),
            ("javascript:alert(1)", scheme()),
            ("example.com/hook", parse()),
            ("https://", parse()),
            ("https://user:pw@example.com/", UrlError::Credentials),
            ("https://user@example.com/", UrlError::Credentials),
            ("https://example.com/#frag", UrlError::Fragment),
            (" https://example.com/", UrlError::BadCharacters),
            ("https://exa\tmple.com/", UrlError::BadCharacters),
        ];
        for (url, expected) in cases {
            let e = validate_endpoint_url(url).expect_err(url);
            assert_eq!(
                std::mem::discriminant(&e),
                std::mem::discriminant(&expected),
                "{url}: {e:?}"
            );
        }
    }

    #[test]
    fn non_public_ip_hosts_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0.0.0.0/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.0.10/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.0.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fc00::1]/",
            "https://[fe80::1]/",
        ] {
            assert_eq!(
                validate_endpoint_target(url, false),
                Err(UrlError::NonPublic),
                "{url}"
            );
            assert_eq!(validate_endpoint_target(url, true), Ok(()), "{url}");
        }
        for url in [
            "https://hooks.example.com/onair",
            "http://localhost:8080/",
            "http://8.8.8.8/hook",
            "https://[2606:4700:4700::1111]/",
        ] {
            assert_eq!(validate_endpoint_target(url, false), Ok(()), "{url}");
        }
        // Form errors come first either way.
        assert_eq!(
            validate_endpoint_target("https://user@127.0.0.1/", false),
            Err(UrlError::Credentials)
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let e = Endpoint {
            id: "e".into(),
            url: "https://x".into(),
            secret: "s3cr3t".into(),
        };
        assert!(!format!("{e:?}").contains("s3cr3t"));
    }
}
