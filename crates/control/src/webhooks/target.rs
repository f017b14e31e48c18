//! Where webhook deliveries may go: by default only to public unicast addresses, so a
//! broadcaster cannot point a webhook at the node's own network (loopback services, cloud
//! metadata at 169.254.169.254, private ranges) and use test events and the delivery log
//! (status, error text, duration) as a port scanner.
//!
//! The rule is enforced twice:
//!
//! * on the URL ([`super::validate_endpoint_target`]): a host written as an IP address is
//!   checked when the webhook is registered or changed, and again before every delivery
//!   attempt (the HTTP client does not resolve IP literals, so only this check sees them);
//! * on name resolution ([`PublicOnlyResolver`], installed by [`super::delivery_client`]):
//!   a host name is resolved at connect time and only its public addresses are used; if none
//!   remain the attempt fails before any connection is made. Checking the addresses the
//!   connection actually uses (not those of an earlier lookup) is what defeats DNS rebinding.
//!
//! Operators with on-premise receivers opt out with `--webhook-allow-private-targets`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is a public unicast address a webhook may be delivered to.
///
/// IPv4 refused: unspecified, loopback, private (RFC 1918), shared/CGNAT (100.64/10),
/// link-local (169.254/16; cloud metadata lives there), IETF protocol assignments (192.0.0/24),
/// documentation and benchmarking ranges, multicast, broadcast and reserved (240/4).
///
/// IPv6 is public only within global unicast 2000::/3, so everything outside it is refused:
/// unspecified, loopback, the rest of ::/8 (the deprecated IPv4-compatible ::/96 and the SIIT
/// IPv4-translated ::ffff:0:0:0/96, which some stacks and translators hand to IPv4),
/// local-use NAT64 64:ff9b:1::/48, discard-only 100::/64, unique-local, link-local, site-local,
/// multicast. Within 2000::/3, IETF protocol assignments 2001::/23 (Teredo 2001::/32 among
/// them, which embeds an IPv4 server and client) and the documentation ranges 2001:db8::/32
/// and 3fff::/20 are refused. Three forms that stand for an IPv4 destination are judged by that
/// address: IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96 (what DNS64 answers on IPv6-only
/// networks) and 6to4 2002::/16.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", 0.0.0.0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let embedded =
        |hi: u16, lo: u16| is_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    match ip.segments() {
        // IPv4-mapped ::ffff:a.b.c.d: an IPv4 destination written for an IPv6 socket.
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => embedded(hi, lo),
        // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052): the translator connects to the
        // embedded IPv4 address.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => embedded(hi, lo),
        // 6to4 2002:AABB:CCDD::/48 (RFC 3056): a relay forwards to AA.BB.CC.DD.
        [0x2002, hi, lo, ..] => embedded(hi, lo),
        // IETF protocol assignments 2001::/23 (RFC 2928; Teredo, benchmarking, ORCHID, …).
        [0x2001, b, ..] if b < 0x200 => false,
        // Documentation 2001:db8::/32 (RFC 3849) and 3fff::/20 (RFC 9637).
        [0x2001, 0xdb8, ..] => false,
        [0x3fff, b, ..] if b < 0x1000 => false,
        // Global unicast 2000::/3, and nothing outside it.
        [a, ..] => a & 0xe000 == 0x2000,
    }
}

/// The error a [`PublicOnlyResolver`] gives when a name has no public address. The dispatcher
/// recognizes it (through the client error's sources) and does not retry.
#[derive(Debug, thiserror::Error)]
#[error(
    "{host} resolves only to non-public addresses; refused (see --webhook-allow-private-targets)"
)]
pub struct RefusedTarget {
    pub host: String,
}

/// A DNS resolver (system resolver via [`tokio::net::lookup_host`]) that keeps only public
/// addresses and fails when none are left.
#[derive(Clone, Copy, Debug, Default)]
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // The port is replaced by the URL's (or the scheme's) when connecting.
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public = public_only(all);
            if public.is_empty() {
                return Err(Box::new(RefusedTarget { host }) as _);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// The addresses of `addrs` that are public, in order.
pub fn public_only(addrs: impl IntoIterator<Item = SocketAddr>) -> Vec<SocketAddr> {
    addrs.into_iter().filter(|a| is_public_ip(a.ip())).collect()
}

/// Whether a client error (or one of its causes) is a [`RefusedTarget`].
pub fn is_refused_target(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<RefusedTarget>() {
            return true;
        }
        cur = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        let refused = [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            // Every IPv6 form that embeds an IPv4 address, with loopback, private and metadata
            // addresses inside: judged by the embedded address or refused outright.
            "::ffff:0:7f00:1",
            "::ffff:0:a00:1",
            "::ffff:0:808:808",
            "::ffff:7f00:1",
            "::ffff:a9fe:a9fe",
            "::8.8.8.8",
            "::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::808:808",
            "64:ff9b:1:ffff::1",
            "2002:a9fe:a9fe::1",
            "2002:a00:1:ffff::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:0:a9fe:a9fe::1",
            // Elsewhere outside global unicast, and special-purpose ranges inside it.
            "::2",
            "::ffff:0:0:0",
            "1::1",
            "4000::1",
            "5f00::1",
            "2001:2::1",
            "2001:10::1",
            "2001:20::1",
            "2001:1ff::1",
            "3fff::1",
            "3fff:fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
        ];
        for ip in refused {
            assert!(!is_public_ip(ip.parse().unwrap()), "{ip} must be refused");
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "169.253.1.1",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.255",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:200::1",
            "2001:4860:4860::8888",
            "2001:db9::1",
            "3fff:1000::1",
            "2c0f:f248::1",
        ];
        for ip in public {
            assert!(is_public_ip(ip.parse().unwrap()), "{ip} must be allowed");
        }
    }

    #[test]
    fn filters_resolved_addresses() {
        let addrs: Vec<SocketAddr> = ["127.0.0.1:0", "8.8.8.8:0", "[::1]:0", "[fd00::1]:0"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(public_only(addrs), ["8.8.8.8:0".parse().unwrap()]);
    }

    #[tokio::test]
    async fn resolver_refuses_names_of_loopback_addresses() {
        let e = PublicOnlyResolver
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost has no public address");
        assert!(is_refused_target(e.as_ref()), "{e}");
        assert!(e.to_string().contains("non-public"), "{e}");
    }
}
