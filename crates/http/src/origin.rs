//! The address a client used to reach this node (`scheme://host[:port]`), for the URLs the API
//! hands back to that same client when no `--public-url` / `--public-rtmp-url` is configured:
//! a broadcaster who opened the console at `http://192.0.2.7:8080` must be told to publish to
//! `rtmp://192.0.2.7:1935/live`, not to `localhost` (issue #12).
//!
//! The host comes from the request's `Host` header (RFC 9110 §7.2) or, for HTTP/2, the URI
//! authority; behind our own proxies (`--trusted-proxies`, the direct peer being one of them)
//! from `X-Forwarded-Host` / `X-Forwarded-Proto`, which anyone else could forge. Never used for
//! links in e-mail: a forged `Host` on a password-reset request would mail the victim a link to
//! the forger's site (host-header poisoning), so e-mail uses `--public-url` only.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// Longest host (with port) taken from a request: a DNS name (253) plus `:65535`.
pub const MAX_HOST_LEN: usize = 259;

/// Set by the client-address middleware when the connection's peer is a trusted proxy: only
/// then are `X-Forwarded-Host` and `X-Forwarded-Proto` believed.
#[derive(Clone, Copy, Debug)]
pub struct ViaTrustedProxy;

/// How the client reached us. `host` keeps the port the client used, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestOrigin {
    pub scheme: &'static str,
    pub host: String,
}

impl RequestOrigin {
    /// `scheme://host[:port]`.
    pub fn base(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// The host without its port (`[::1]` keeps its brackets).
    pub fn hostname(&self) -> &str {
        hostname(&self.host)
    }
}

/// The host part of `host[:port]`.
pub fn hostname(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// A host as a URL may carry it: a DNS name, an IPv4 address or a bracketed IPv6 address,
/// optionally with a port. Anything else (spaces, `/`, `@`, userinfo) is refused.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= MAX_HOST_LEN
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        && !hostname(h).is_empty()
}

/// The first value of a comma-separated header, trimmed.
fn first_value<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    let v = parts.headers.get(name)?.to_str().ok()?;
    Some(v.split(',').next()?.trim()).filter(|v| !v.is_empty())
}

/// Reads the origin from a request; `tls`: whether this listener speaks HTTPS.
pub fn from_parts(parts: &Parts, tls: bool) -> Option<RequestOrigin> {
    let proxied = parts.extensions.get::<ViaTrustedProxy>().is_some();
    let mut scheme = if tls { "https" } else { "http" };
    if proxied {
        match first_value(parts, "x-forwarded-proto").map(str::to_ascii_lowercase) {
            Some(p) if p == "https" => scheme = "https",
            Some(p) if p == "http" => scheme = "http",
            _ => {}
        }
    }
    let forwarded = proxied
        .then(|| first_value(parts, "x-forwarded-host"))
        .flatten();
    let host = forwarded
        .or_else(|| parts.headers.get(axum::http::header::HOST)?.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))?;
    valid_host(host).then(|| RequestOrigin {
        scheme,
        host: host.to_ascii_lowercase(),
    })
}

/// Extractor: the request's origin, `None` when it named no usable host.
pub struct Origin(pub Option<RequestOrigin>);

impl FromRequestParts<super::AppState> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &super::AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(from_parts(parts, state.sys.settings.tls.is_some())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)], proxied: bool) -> Parts {
        let mut b = axum::http::Request::builder().uri("/api/v1/node");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let (mut p, ()) = b.body(()).unwrap().into_parts();
        if proxied {
            p.extensions.insert(ViaTrustedProxy);
        }
        p
    }

    #[test]
    fn host_header_names_the_origin() {
        let o = from_parts(&parts(&[("host", "Example.COM:8080")], false), false).unwrap();
        assert_eq!(o.base(), "http://example.com:8080");
        assert_eq!(o.hostname(), "example.com");
        let o = from_parts(&parts(&[("host", "[2001:db8::1]:8443")], false), true).unwrap();
        assert_eq!(o.base(), "https://[2001:db8::1]:8443");
        assert_eq!(o.hostname(), "[2001:db8::1]");
        assert_eq!(
            from_parts(&parts(&[("host", "192.0.2.7")], false), false)
                .unwrap()
                .hostname(),
            "192.0.2.7"
        );
    }

    #[test]
    fn forwarded_headers_only_from_trusted_proxies() {
        let h = [
            ("host", "10.0.0.5:8080"),
            ("x-forwarded-host", "live.example.com, other"),
            ("x-forwarded-proto", "https"),
        ];
        assert_eq!(
            from_parts(&parts(&h, false), false).unwrap().base(),
            "http://10.0.0.5:8080"
        );
        assert_eq!(
            from_parts(&parts(&h, true), false).unwrap().base(),
            "https://live.example.com"
        );
    }

    #[test]
    fn unusable_hosts_are_none() {
        for bad in ["", "evil.com/path", "user@evil.com", "a b", ":80"] {
            assert_eq!(
                from_parts(&parts(&[("host", bad)], false), false),
                None,
                "{bad}"
            );
        }
        let long = "a".repeat(MAX_HOST_LEN + 1);
        assert_eq!(from_parts(&parts(&[("host", &long)], false), false), None);
        assert_eq!(from_parts(&parts(&[], false), false), None);
    }
}
