//! What RTMP peers may take from the node before and after they authenticate: connection slots
//! per address until a publish is accepted, and memory for partly received messages across
//! all connections.
//!
//! A peer that has not published yet is anonymous: it holds a slot among
//! `--max-rtmp-connections`, a socket and a read buffer. The session itself bounds the time
//! ([`onair_rtmp::ServerConfig::publish_timeout`]) and the bytes
//! ([`onair_rtmp::chunk::ChunkLimits::PRE_PUBLISH`]); [`PendingByAddress`] bounds how many such
//! connections one address holds, so one host cannot take every slot. Once a publish is
//! accepted the connection's slot no longer counts against its address (a studio's encoders
//! behind one NAT publish side by side).
//!
//! Publishing connections may hold up to 16 MiB of partial messages each
//! ([`onair_rtmp::chunk::MAX_PARTIAL_BYTES`]); [`BufferBudget`] caps the sum over the node, so
//! a few keyed publishers sending huge frames slowly cannot exhaust memory either.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use onair_auth::client::AddrKey;
use onair_auth::slots::{Slot, Slots};

/// RTMP connections served at once; more are refused at accept (`--max-rtmp-connections`).
pub const DEFAULT_RTMP_CONNECTIONS: usize = 4096;
/// Connections one address may hold before a publish is accepted (`--max-rtmp-pending-per-ip`).
pub const DEFAULT_RTMP_PENDING_PER_IP: usize = 8;
/// Partial-message bytes all connections may hold together (`--rtmp-buffer-budget`).
pub const DEFAULT_RTMP_BUFFER_BUDGET: usize = 256 * 1024 * 1024;

/// Connections counted per address (by [`AddrKey`], IPv6 per /64) until their publish is accepted.
pub struct PendingByAddress {
    /// 0: no limit.
    max: usize,
    /// Our own load balancers (`--trusted-proxies`) are exempt: every encoder behind them
    /// arrives from their address.
    exempt: Vec<ipnet::IpNet>,
    slots: Arc<Slots<AddrKey>>,
}

/// A pending connection's place in its address's count, given back on drop.
pub type PendingSlot = Option<Slot<AddrKey>>;

impl PendingByAddress {
    pub fn new(max: usize, exempt: Vec<ipnet::IpNet>) -> Self {
        Self {
            max,
            exempt,
            slots: Arc::default(),
        }
    }

    /// A slot for a new connection from `ip` (`Some(None)` when there is no limit), or `None`
    /// when its address holds `max` already.
    pub fn try_acquire(&self, ip: IpAddr) -> Option<PendingSlot> {
        if self.max == 0 || self.exempt.iter().any(|n| n.contains(&ip)) {
            return Some(None);
        }
        self.slots.try_acquire(AddrKey::of(ip), self.max).map(Some)
    }

    /// Pending connections of `ip`'s address now.
    pub fn count(&self, ip: IpAddr) -> usize {
        self.slots.held(&AddrKey::of(ip))
    }
}

/// Bytes of partly received messages held by all connections.
#[derive(Debug)]
pub struct BufferBudget {
    max: usize,
    used: AtomicUsize,
}

/// One connection's share of the budget; given back on drop.
#[derive(Debug)]
pub struct BufferShare {
    budget: Arc<BufferBudget>,
    held: usize,
}

impl BufferBudget {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            used: AtomicUsize::new(0),
        })
    }

    pub fn share(self: &Arc<Self>) -> BufferShare {
        BufferShare {
            budget: self.clone(),
            held: 0,
        }
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

impl BufferShare {
    /// Records that the connection now holds `bytes`. Returns false when it grew and the node
    /// as a whole is over budget: the connection that pushed it over is the one to close.
    pub fn update(&mut self, bytes: usize) -> bool {
        let budget = &self.budget;
        if bytes <= self.held {
            budget.used.fetch_sub(self.held - bytes, Ordering::Relaxed);
            self.held = bytes;
            return true;
        }
        let grown = bytes - self.held;
        let before = budget.used.fetch_add(grown, Ordering::Relaxed);
        self.held = bytes;
        before + grown <= budget.max
    }
}

impl Drop for BufferShare {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.held, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_slots_are_counted_per_address_and_given_back() {
        let p = PendingByAddress::new(2, vec!["192.0.2.9/32".parse().unwrap()]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let s1 = p.try_acquire(a).unwrap();
        let _s2 = p.try_acquire(a).unwrap();
        assert!(p.try_acquire(a).is_none());
        let _s3 = p.try_acquire(b).unwrap();
        drop(s1);
        assert_eq!(p.count(a), 1);
        assert!(p.try_acquire(a).is_some());
        // IPv6: one /64 is one address.
        let v6a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let v6c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _x = p.try_acquire(v6a).unwrap();
        let _y = p.try_acquire(v6b).unwrap();
        assert!(p.try_acquire(v6a).is_none());
        assert!(p.try_acquire(v6c).is_some());
        // Our own proxies are exempt.
        let lb: IpAddr = "192.0.2.9".parse().unwrap();
        let behind_lb: Vec<_> = (0..10).map(|_| p.try_acquire(lb).unwrap()).collect();
        assert_eq!(behind_lb.len(), 10);
        // 0 is no limit.
        let open = PendingByAddress::new(0, vec![]);
        let held: Vec<_> = (0..100).map(|_| open.try_acquire(a).unwrap()).collect();
        assert_eq!(held.len(), 100);
    }

    #[test]
    fn the_buffer_budget_refuses_growth_past_it_and_counts_shrinking() {
        let budget = BufferBudget::new(1000);
        let mut a = budget.share();
        let mut b = budget.share();
        assert!(a.update(600));
        assert!(!b.update(600), "b pushed the node over the budget");
        assert!(a.update(100), "shrinking is always fine");
        assert_eq!(budget.used(), 700);
        assert!(b.update(650));
        drop(b);
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 0);
    }
}
