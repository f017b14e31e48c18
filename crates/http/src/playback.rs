//! Playback authorization: who may fetch a channel's playlists, init sections, parts, segments
//! and HTTP-FLV.
//!
//! Every playback request is checked in this order:
//!
//! 1. The channel must exist (on a node with `--publish-auth open`, a live stream without a
//!    channel row is public) and not be banned.
//! 2. A `token` query parameter (OnAir's signed URL, [`signed_url`]) or, when Alibaba keys are
//!    configured, an `auth_key` parameter (Alibaba Cloud CDN type A, [`alibaba`]) must verify
//!    for the request path, now and the client address; a present but failing signature is a
//!    403 whatever the channel's visibility, so a broken signer is noticed. Signatures the API
//!    issued also name the channel's playback epoch (tokens in their user id, `{user}@{epoch}`;
//!    type A in `uid`, `{user}~{epoch}`) and are refused once it has moved on.
//! 3. Without a signature the channel's visibility decides: `public` anyone; `authenticated` a
//!    session cookie or bearer token; `private` the owner, admins and granted users; `signed`
//!    nobody.
//!
//! A signed-in caller's permission is remembered for a few seconds per credential and channel
//! ([`crate::channel_cache::GrantCache`]), so a viewer's many requests cost one lookup.
//!
//! What was accepted ([`Access`]) also decides how responses are written: playlists served
//! under a signature carry it on every URI they list, so a player holding one signed URL can
//! fetch everything below it, and responses granted through a cookie or bearer token are
//! marked `private` so a shared cache never hands them to someone else.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::Response;

use super::caller::{authenticate_request, credential_digest};
use super::{AppState, Problem};
use crate::config::PublishAuthMode;
use std::sync::Arc;

use crate::db::channels::{Channel, Visibility};
use crate::security::{alibaba, signed_url};

/// Problem type URI of refused playback signatures.
pub const SIGNATURE_PROBLEM: &str = "https://onair.invalid/problems/playback-signature";
/// Problem type of a playback request for a channel that does not exist (stream-key mode,
/// where only channels publish): the player says "no such channel" rather than "offline".
pub const NO_SUCH_CHANNEL_PROBLEM: &str = "https://onair.invalid/problems/no-such-channel";

/// Why a request may fetch what it asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone may: responses are publicly cacheable.
    Public,
    /// The caller's cookie or bearer token: responses are private to the caller.
    Credentials,
    /// An OnAir signed URL; child URIs carry the same `token`.
    Token(String),
    /// An Alibaba type A URL; each child URI is signed on its own with the same timestamp,
    /// rand and uid, so it expires with the URL that listed it.
    Alibaba {
        timestamp: u64,
        rand: String,
        uid: String,
    },
}

impl Access {
    /// A stable identity for viewer counting: the signature when there is one.
    pub fn session(&self) -> Option<&str> {
        match self {
            Access::Token(t) => Some(t),
            Access::Alibaba { rand, .. } => Some(rand),
            _ => None,
        }
    }

    /// Marks a response granted through credentials as private to the caller.
    pub fn apply(&self, res: &mut Response) {
        if *self != Access::Credentials {
            return;
        }
        let h = res.headers_mut();
        let value = match h.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()) {
            Some(v) if v.starts_with("public") => format!("private{}", &v["public".len()..]),
            Some(v) if v.starts_with("private") || v.starts_with("no-") => return,
            Some(v) => format!("private, {v}"),
            None => "private".to_owned(),
        };
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(header::CACHE_CONTROL, v);
        }
    }
}

/// One playback request, as the authorization needs it.
pub struct PlaybackRequest<'a> {
    /// The channel slug from the URL.
    pub channel: &'a str,
    /// The request path as sent (percent-encoded, no query): what signatures cover.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub ip: IpAddr,
}

/// The value of query parameter `name` (first occurrence, form-decoded); `None` when absent or
/// when the query string is not valid form encoding.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn refused(detail: impl Into<String>) -> Problem {
    Problem::forbidden(detail).with_kind(SIGNATURE_PROBLEM)
}

/// Decides whether `req` may be served; see the module docs.
pub async fn authorize(state: &AppState, req: &PlaybackRequest<'_>) -> Result<Access, Problem> {
    let sys = &state.sys;
    // Names that cannot be channels are not looked up (nor cached).
    if !onair_auth::is_valid_channel_name(req.channel) {
        return Err(Problem::not_found("no such channel").with_kind(NO_SUCH_CHANNEL_PROBLEM));
    }
    let channel = sys.channels.get(&sys.db, req.channel).await?;
    authorize_channel(state, channel, req).await
}

/// [`authorize`] for a channel already looked up (`None`: the stream has no channel row).
/// Recordings use it with the channel they belong to, whatever its name is now.
pub async fn authorize_channel(
    state: &AppState,
    channel: Option<Arc<Channel>>,
    req: &PlaybackRequest<'_>,
) -> Result<Access, Problem> {
    let sys = &state.sys;
    let Some(channel) = channel else {
        if sys.settings.publish_auth == PublishAuthMode::Open {
            return Ok(Access::Public);
        }
        return Err(Problem::not_found(format!("no channel {:?}", req.channel))
            .with_kind(NO_SUCH_CHANNEL_PROBLEM));
    };
    if channel.banned {
        return Err(Problem::forbidden("this channel is banned"));
    }
    let now = now_unix();
    if let Some(token) = query_param(req.query, "token") {
        return match signed_url::verify(&sys.playback.signed, &token, req.path, now, req.ip) {
            // URLs minted by the API name the channel's playback epoch after the user id
            // (`{user}@{epoch}`); a rename, visibility change or revoked grant ends them, and a
            // later channel with a reused name never accepts them. Tokens minted elsewhere
            // with the signing key carry no epoch and are accepted as they are.
            Ok(g)
                if g.user_id
                    .rsplit_once('@')
                    .is_some_and(|(_, e)| e != channel.playback_epoch.to_string()) =>
            {
                metrics::counter!("onair_playback_refused_total", "reason" => "epoch").increment(1);
                Err(refused(
                    "signed URL refused: it was issued before the channel's access changed",
                ))
            }
            Ok(_) => Ok(Access::Token(token)),
            Err(e) => {
                metrics::counter!("onair_playback_refused_total", "reason" => "token").increment(1);
                Err(refused(format!("signed URL refused: {e}")))
            }
        };
    }
    if !sys.playback.alibaba.is_empty()
        && let Some(auth_key) = query_param(req.query, alibaba::QUERY_PARAM)
    {
        let keys: Vec<&[u8]> = sys.playback.alibaba.iter().map(Vec::as_slice).collect();
        return match alibaba::verify(
            req.path,
            &auth_key,
            now,
            sys.playback.alibaba_ttl.as_secs(),
            &keys,
        ) {
            // Bound like tokens: URLs the API issues carry the channel's playback epoch in
            // `uid`, which the MD5 covers, so a CDN edge verifies them unchanged while we also
            // end them when access changes. The children of a signed playlist carry the same
            // uid, so they end with it.
            Ok(g) if alibaba_uid_epoch(&g.uid).is_some_and(|e| e != channel.playback_epoch) => {
                metrics::counter!("onair_playback_refused_total", "reason" => "epoch").increment(1);
                Err(refused(
                    "auth_key refused: it was issued before the channel's access changed",
                ))
            }
            Ok(g) => Ok(Access::Alibaba {
                timestamp: g.timestamp,
                rand: g.rand,
                uid: g.uid,
            }),
            Err(e) => {
                metrics::counter!("onair_playback_refused_total", "reason" => "auth_key")
                    .increment(1);
                Err(refused(format!("auth_key refused: {e}")))
            }
        };
    }
    match channel.visibility {
        Visibility::Public => Ok(Access::Public),
        Visibility::Signed => {
            metrics::counter!("onair_playback_refused_total", "reason" => "unsigned").increment(1);
            Err(refused("this channel is played with a signed URL only"))
        }
        Visibility::Authenticated | Visibility::Private => {
            // A viewer fetches several objects a second: a recent "allowed" for the same
            // credential and channel stands for a few seconds (see `GrantCache`).
            let credential = credential_digest(req.headers);
            if let Some(d) = &credential
                && sys.playback_grants.allowed(d, &channel.id)
            {
                return Ok(Access::Credentials);
            }
            let Some(caller) =
                authenticate_request(req.headers, &Method::GET, req.ip, state).await?
            else {
                metrics::counter!("onair_playback_refused_total", "reason" => "anonymous")
                    .increment(1);
                return Err(Problem::unauthorized(
                    "sign in, send an access token or use a signed URL to watch this channel",
                ));
            };
            let allowed = channel.visibility == Visibility::Authenticated
                || caller.can_manage(&channel.owner_id)
                || sys.db.has_channel_grant(&channel.id, caller.id()).await?;
            if allowed {
                if let Some(d) = credential {
                    sys.playback_grants.remember(d, channel.id.clone());
                }
                Ok(Access::Credentials)
            } else {
                metrics::counter!("onair_playback_refused_total", "reason" => "not_granted")
                    .increment(1);
                Err(Problem::forbidden(
                    "this private channel is not shared with you",
                ))
            }
        }
    }
}

/// Separates the user id from the channel's playback epoch in the `uid` of the Alibaba type A
/// URLs the API issues (`{user}~{epoch}`). Tokens use `@`, which `uid` cannot carry (only
/// `[A-Za-z0-9._~]`); user ids (ULIDs) and epochs never contain `~`.
pub const ALIBABA_UID_EPOCH_SEPARATOR: char = '~';

/// The `uid` of an Alibaba type A URL issued by the API to `user_id` for a channel at playback
/// epoch `epoch`: [`authorize_channel`] refuses it once the channel's epoch moves on (a revoked
/// grant, a visibility change, a rename, or another channel under the same name).
pub fn alibaba_uid(user_id: &str, epoch: i64) -> String {
    format!("{user_id}{ALIBABA_UID_EPOCH_SEPARATOR}{epoch}")
}

/// The playback epoch an Alibaba `uid` is bound to. `None`: a uid without the separator, from a
/// signer other than the API (such as `0`, "unused"), accepted as it is, like tokens without
/// an epoch: only holders of the key can make one. A uid with the separator but no number
/// after it binds to no epoch that exists (`Some(-1)`), so it is refused.
fn alibaba_uid_epoch(uid: &str) -> Option<i64> {
    let (_, epoch) = uid.rsplit_once(ALIBABA_UID_EPOCH_SEPARATOR)?;
    let digits = !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit());
    Some(if digits {
        epoch.parse().unwrap_or(-1)
    } else {
        -1
    })
}

/// Appends the signature of `access` to every URI of `playlist` (URI lines and `URI="…"`
/// attributes). `dir` is the directory of the playlist's own path (ending in `/`), against
/// which its relative URIs resolve. `None`: no signature, serve the playlist as it is.
pub fn sign_playlist(
    state: &AppState,
    access: &Access,
    dir: &str,
    playlist: &str,
) -> Option<String> {
    Some(match access {
        Access::Public | Access::Credentials => return None,
        Access::Token(t) => rewrite_uris(playlist, |uri| with_query(uri, &format!("token={t}"))),
        Access::Alibaba {
            timestamp,
            rand,
            uid,
        } => {
            let key = state.sys.playback.alibaba.first()?;
            rewrite_uris(playlist, |uri| {
                let path = format!("{dir}{}", uri.split('?').next().unwrap_or(uri));
                match alibaba::sign(&path, *timestamp, rand, uid, key) {
                    Ok(k) => with_query(uri, &format!("{}={k}", alibaba::QUERY_PARAM)),
                    Err(_) => uri.to_owned(),
                }
            })
        }
    })
}

fn with_query(uri: &str, query: &str) -> String {
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{query}")
}

/// Rewrites each URI of an M3U8 text (RFC 8216bis §4.1: URI lines, and quoted `URI`
/// attributes of tags) through `f`.
pub fn rewrite_uris(text: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for line in text.split_inclusive('\n') {
        let (body, eol) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if body.is_empty() {
            out.push_str(line);
        } else if body.starts_with('#') {
            let mut rest = body;
            while let Some(i) = rest.find("URI=\"") {
                let start = i + "URI=\"".len();
                out.push_str(&rest[..start]);
                rest = &rest[start..];
                let end = rest.find('"').unwrap_or(rest.len());
                out.push_str(&f(&rest[..end]));
                rest = &rest[end..];
            }
            out.push_str(rest);
            out.push_str(eol);
        } else {
            out.push_str(&f(body));
            out.push_str(eol);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_uri_lines_and_uri_attributes_only() {
        let text = "#EXTM3U\n#EXT-X-MAP:URI=\"s/init/0.mp4\"\n#EXT-X-PART:DURATION=0.2,URI=\"s/part/1.m4s\",INDEPENDENT=YES\n#EXTINF:1.0,\ns/seg/0.m4s\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"s/part/2.m4s\"\n";
        let out = rewrite_uris(text, |u| format!("{u}?t=1"));
        assert_eq!(
            out,
            "#EXTM3U\n#EXT-X-MAP:URI=\"s/init/0.mp4?t=1\"\n#EXT-X-PART:DURATION=0.2,URI=\"s/part/1.m4s?t=1\",INDEPENDENT=YES\n#EXTINF:1.0,\ns/seg/0.m4s?t=1\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"s/part/2.m4s?t=1\"\n"
        );
        // Tags without URIs and a last line without a newline.
        assert_eq!(
            rewrite_uris("#EXT-X-VERSION:9\na.ts", |u| format!("{u}!")),
            "#EXT-X-VERSION:9\na.ts!"
        );
        // A URI attribute with no closing quote is rewritten to the end, never panics.
        assert_eq!(
            rewrite_uris("#X:URI=\"abc", |u| u.len().to_string()),
            "#X:URI=\"3"
        );
    }

    #[test]
    fn alibaba_uids_carry_the_epoch() {
        let uid = alibaba_uid("01J0USER0000000000000000AB", 1_700_000_000_123);
        assert_eq!(uid, "01J0USER0000000000000000AB~1700000000123");
        assert_eq!(alibaba_uid_epoch(&uid), Some(1_700_000_000_123));
        // Signed elsewhere: no epoch, nothing to compare.
        assert_eq!(alibaba_uid_epoch("0"), None);
        assert_eq!(alibaba_uid_epoch("some.user"), None);
        // Ours in form, but no epoch that can match.
        for bad in ["u~", "u~x1", "u~+1", "u~-1", "u~99999999999999999999999"] {
            assert_eq!(alibaba_uid_epoch(bad), Some(-1), "{bad}");
        }
    }

    #[test]
    fn query_params_are_decoded() {
        assert_eq!(
            query_param(Some("_HLS_msn=3&token=a%2Db"), "token").as_deref(),
            Some("a-b")
        );
        assert_eq!(query_param(Some("token"), "token").as_deref(), Some(""));
        assert_eq!(query_param(None, "token"), None);
        assert_eq!(with_query("a.m3u8?x=1", "token=t"), "a.m3u8?x=1&token=t");
    }

    #[test]
    fn credentials_make_responses_private() {
        let mut res = Response::new(axum::body::Body::empty());
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=1"),
        );
        Access::Credentials.apply(&mut res);
        assert_eq!(res.headers()[header::CACHE_CONTROL], "private, max-age=1");
        let mut res = Response::new(axum::body::Body::empty());
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=1"),
        );
        Access::Public.apply(&mut res);
        assert_eq!(res.headers()[header::CACHE_CONTROL], "public, max-age=1");
    }
}
