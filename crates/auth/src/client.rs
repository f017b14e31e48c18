//! Client addresses as per-address limits key them: an IPv4 address on its own, an IPv6
//! address by its /64. One host (one home, one VM) is routinely given a whole /64 and may pick
//! any of its 2^64 addresses, so keying by the full address would hand it a fresh budget per
//! attempt. IPv4-mapped IPv6 (`::ffff:a.b.c.d`, how a dual-stack socket reports IPv4 peers) is
//! keyed as the IPv4 address, so it shares that address's budget. Every limit on addresses
//! (RTMP pending connections, HTTP connections, rate limits, event streams) uses [`AddrKey`].

use std::net::{IpAddr, Ipv6Addr};

/// A client address as per-address limits see it: see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddrKey(IpAddr);

impl AddrKey {
    /// IPv6 addresses are keyed by this prefix length.
    pub const IPV6_PREFIX: u32 = 64;

    /// The key of `ip`: the only way to make one, so no limit can key addresses differently.
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let mask = u128::MAX << (128 - Self::IPV6_PREFIX);
                Self(IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)))
            }
            v4 => Self(v4),
        }
    }
}

impl std::fmt::Display for AddrKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => v4.fmt(f),
            IpAddr::V6(v6) => write!(f, "{v6}/{}", Self::IPV6_PREFIX),
        }
    }
}
