//! Webhook endpoints and the rules for their URLs, shared by the API layer (which validates
//! what operators register) and the dispatcher (which re-checks before every delivery).

use std::fmt;

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
}

/// Accepts absolute `http://` and `https://` URLs of at most [`MAX_URL_LEN`] bytes with a host
/// and without credentials (`user:pass@`), fragments, whitespace or control characters.
///
/// Private and loopback addresses are accepted: a self-hosted node's receivers are often on
/// the same network. Deployments that need SSRF protection must filter at the network layer.
pub fn validate_endpoint_url(url: &str) -> Result<(), UrlError> {
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
    Ok(())
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
    fn debug_hides_the_secret() {
        let e = Endpoint {
            id: "e".into(),
            url: "https://x".into(),
            secret: "s3cr3t".into(),
        };
        assert!(!format!("{e:?}").contains("s3cr3t"));
    }
}
