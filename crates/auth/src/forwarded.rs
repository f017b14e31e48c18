//! Which address a request really comes from when it passed through proxies we trust (a CDN
//! edge, a load balancer): the `X-Forwarded-For` list (de facto standard; each proxy appends the
//! address it received the request from, so the list reads client, proxy 1, proxy 2, …).
//!
//! Only the part of the list our own proxies wrote can be believed: walking from the right
//! (the hop closest to us), each address written by a trusted proxy is taken, and the walk
//! stops at the first address that is not a trusted proxy — that is the client. Anything left
//! of it was written by the client itself and may be forged. A request whose TCP peer is not
//! a trusted proxy keeps its peer address, whatever it sends.

use std::net::IpAddr;

/// Longest `X-Forwarded-For` text looked at (all header lines together); a longer one is
/// ignored as a whole (the peer address stands).
pub const MAX_FORWARDED_LEN: usize = 4096;
/// Most hops walked from the right.
pub const MAX_FORWARDED_HOPS: usize = 32;

/// The client address of a request that arrived from `peer` carrying the `X-Forwarded-For`
/// header lines `forwarded` (in the order received), given which addresses are our proxies.
pub fn client_address(
    peer: IpAddr,
    forwarded: &[&[u8]],
    is_trusted_proxy: impl Fn(IpAddr) -> bool,
) -> IpAddr {
    if !is_trusted_proxy(peer) || forwarded.is_empty() {
        return peer;
    }
    if forwarded.iter().map(|l| l.len() + 1).sum::<usize>() > MAX_FORWARDED_LEN {
        return peer;
    }
    let mut client = peer;
    let hops = forwarded
        .iter()
        .rev()
        .flat_map(|line| line.rsplit(|b| *b == b','))
        .take(MAX_FORWARDED_HOPS);
    for hop in hops {
        if !is_trusted_proxy(client) {
            break;
        }
        match parse_hop(hop) {
            Some(ip) => client = ip,
            // A hop we cannot read ends what we can believe: the last proxy's address stands.
            None => break,
        }
    }
    client
}

/// One list entry: an IPv4 or IPv6 address, optionally `v4:port` or `[v6]:port` (some proxies
/// write ports), surrounded by optional whitespace.
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(hop).ok()?.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (v6, _port) = rest.split_once(']')?;
        return v6.parse::<IpAddr>().ok().map(canonical);
    }
    let (v4, port) = text.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    v4.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, from dual-stack sockets) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Our proxies: 10.0.0.0/8 and ::1.
    fn ours(a: IpAddr) -> bool {
        match a {
            IpAddr::V4(v4) => v4.octets()[0] == 10,
            IpAddr::V6(v6) => v6.is_loopback(),
        }
    }

    #[test]
    fn an_untrusted_peer_keeps_its_address() {
        let got = client_address(ip("198.51.100.9"), &[b"203.0.113.7"], ours);
        assert_eq!(got, ip("198.51.100.9"));
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        // The client forged "1.2.3.4"; the edge 10.0.0.2 saw 203.0.113.7; the balancer
        // 10.0.0.1 saw the edge.
        let got = client_address(ip("10.0.0.1"), &[b"1.2.3.4, 203.0.113.7, 10.0.0.2"], ours);
        assert_eq!(got, ip("203.0.113.7"));
        // The same list over several header lines.
        let got = client_address(
            ip("10.0.0.1"),
            &[b"1.2.3.4", b"203.0.113.7", b" 10.0.0.2 "],
            ours,
        );
        assert_eq!(got, ip("203.0.113.7"));
    }

    #[test]
    fn ports_brackets_and_mapped_addresses() {
        assert_eq!(
            client_address(ip("::1"), &[b"203.0.113.7:51234"], ours),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_address(ip("::1"), &[b"[2001:db8::5]:443"], ours),
            ip("2001:db8::5")
        );
        assert_eq!(
            client_address(ip("::1"), &[b"::ffff:203.0.113.7"], ours),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn garbage_and_oversized_lists_leave_the_last_proxy() {
        assert_eq!(
            client_address(ip("10.0.0.1"), &[b"unknown"], ours),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), &[b"203.0.113.7, \xff\xfe"], ours),
            ip("10.0.0.1")
        );
        let long = "10.0.0.3, ".repeat(MAX_FORWARDED_LEN / 8);
        assert_eq!(
            client_address(ip("10.0.0.1"), &[long.as_bytes()], ours),
            ip("10.0.0.1")
        );
        // Only trusted hops, fewer than the cap: the leftmost is as far as we can see.
        assert_eq!(
            client_address(ip("10.0.0.1"), &[b"10.0.0.9, 10.0.0.2"], ours),
            ip("10.0.0.9")
        );
        assert_eq!(client_address(ip("10.0.0.1"), &[], ours), ip("10.0.0.1"));
    }
}
