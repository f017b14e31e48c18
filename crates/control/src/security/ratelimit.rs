//! An in-memory rate limiter for abuse-prone actions: login attempts per IP and per account,
//! stream-key guesses per IP, sign-ups per IP.
//!
//! # Addresses
//!
//! Every per-address limit keys its client by [`AddrKey::of`]: an IPv4 address on its own, an
//! IPv6 address by its /64. One host (one home, one VM) is routinely given a whole /64 and may
//! pick any of its 2^64 addresses, so keying by the full address would hand it a fresh budget
//! per attempt. IPv4-mapped IPv6 (`::ffff:a.b.c.d`, how a dual-stack socket reports IPv4
//! peers) is keyed as the IPv4 address, so it shares that address's budget.
//!
//! # Algorithm
//!
//! GCRA, the Generic Cell Rate Algorithm (ITU-T I.371 / ATM Forum TM 4.0), which is a token
//! bucket of capacity `max` refilled continuously at `max` per `per`, stored as one instant per
//! key (the "theoretical arrival time", TAT) instead of a count and a timestamp:
//!
//! - the emission interval is `T = per / max` (rounded up to whole nanoseconds), the burst
//!   tolerance `τ = T × (max − 1)`;
//! - a request at `now` is allowed when `max(TAT, now) − now ≤ τ`, and then sets
//!   `TAT = max(TAT, now) + T`; a refused request changes nothing, and can retry after
//!   `max(TAT, now) − now − τ`.
//!
//! So a fresh key gets `max` requests at once, the `max + 1`-th is refused, one request comes
//! back every `T`, and after a quiet `per` the full burst is back. Unlike a fixed window there
//! is no boundary at which `2 × max` requests fit into a short span.
//!
//! # Memory
//!
//! At most `max_keys` keys are tracked, so a flood of distinct keys (spoofed accounts,
//! rotating IPv6 addresses) cannot exhaust memory. When a new key arrives and the table is
//! full, room is made in one pass that frees a batch (1/16 of the table) so the cost stays
//! amortized:
//!
//! 1. entries whose TAT has passed are dropped: their bucket is full again, so forgetting them
//!    loses nothing;
//! 2. then the entries that are not currently limited and have the earliest TAT (the closest
//!    to a full bucket, hence the least information lost) are evicted;
//! 3. a key that is currently limited is never evicted: that would hand an attacker a fresh
//!    bucket just by flooding other keys. If every tracked key is limited, the *new* key is
//!    refused instead, with a retry-after of when the first tracked key stops being limited.
//!    This fails closed: under a flood big enough to fill the table with limited keys, new
//!    keys wait, while already-limited ones stay limited.
//!
//! Time is passed in as [`Instant`] arguments; nothing here reads a clock. Instants earlier
//! than ones already seen are tolerated (treated as no time having passed for that key).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Default for `max_keys`.
pub const MAX_TRACKED_KEYS: usize = 100_000;

/// Eviction frees `max_keys / EVICTION_BATCH_DIVISOR` slots (at least one) per pass.
const EVICTION_BATCH_DIVISOR: usize = 16;

/// At most `max` requests per `per`, as a burst or spread out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// `0` refuses every request.
    pub max: u32,
    /// `Duration::ZERO` allows every request. A period so long that an `Instant` cannot
    /// represent `now + per / max` refuses every request (fail closed, never overflow).
    pub per: Duration,
}

/// A refused request: the earliest time from now at which the same request could succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("rate limited; retry after {0:?}")]
pub struct RetryAfter(pub Duration);

/// A GCRA limiter over keys `K`, safe to share behind an `Arc`.
pub struct RateLimiter<K> {
    limit: RateLimit,
    /// T: how much one request advances the TAT.
    interval: Duration,
    /// τ: how far ahead of now the TAT may be for a request to pass.
    tolerance: Duration,
    max_keys: usize,
    state: Mutex<State<K>>,
}

struct State<K> {
    tat: HashMap<K, Instant>,
    /// Set when the table was full of limited keys: before this instant no tracked key can
    /// stop being limited (only [`RateLimiter::reset`] frees a slot, and it clears this), so a
    /// flood of new keys is refused without rescanning the table every time.
    full_until: Option<Instant>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limiter tracking at most `max_keys` keys (at least 1); see [`MAX_TRACKED_KEYS`].
    pub fn new(limit: RateLimit, max_keys: usize) -> Self {
        let interval = match limit.max {
            0 => Duration::ZERO,
            max => div_ceil(limit.per, max),
        };
        let tolerance = interval
            .checked_mul(limit.max.saturating_sub(1))
            .unwrap_or(Duration::MAX);
        Self {
            limit,
            interval,
            tolerance,
            max_keys: max_keys.max(1),
            state: Mutex::new(State {
                tat: HashMap::new(),
                full_until: None,
            }),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes one unit for `key` at `now`, or says how long until one is available.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), RetryAfter> {
        if self.limit.max == 0 {
            return Err(RetryAfter(self.limit.per));
        }
        let mut state = self.state.lock();
        if let Some(tat) = state.tat.get_mut(key) {
            *tat = self.admit(*tat, now)?;
            return Ok(());
        }
        if state.tat.len() >= self.max_keys {
            self.make_room(&mut state, now)?;
        }
        let tat = self.admit(now, now)?;
        state.tat.insert(key.clone(), tat);
        Ok(())
    }

    /// Whether [`check`](Self::check) would pass now, without taking a unit. For a key not
    /// tracked yet this is `Ok` unless the table is known to be full of limited keys.
    pub fn peek(&self, key: &K, now: Instant) -> Result<(), RetryAfter> {
        if self.limit.max == 0 {
            return Err(RetryAfter(self.limit.per));
        }
        let state = self.state.lock();
        match state.tat.get(key) {
            Some(&tat) => self.admit(tat, now).map(drop),
            None => match state.full_until {
                Some(until) if state.tat.len() >= self.max_keys && now < until => {
                    Err(RetryAfter(until.saturating_duration_since(now)))
                }
                _ => self.admit(now, now).map(drop),
            },
        }
    }

    /// Forgets `key`, giving it a full bucket (e.g. after a successful login).
    pub fn reset(&self, key: &K) {
        let mut state = self.state.lock();
        if state.tat.remove(key).is_some() {
            state.full_until = None;
        }
    }

    /// Drops every entry whose bucket is full again at `now`; for a periodic sweep, so memory
    /// shrinks after a burst even without new keys arriving.
    pub fn purge_expired(&self, now: Instant) {
        let mut state = self.state.lock();
        let before = state.tat.len();
        state.tat.retain(|_, tat| *tat > now);
        if state.tat.len() < before {
            state.full_until = None;
        }
    }

    /// Number of keys tracked.
    pub fn len(&self) -> usize {
        self.state.lock().tat.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The GCRA step: the new TAT if a request at `now` passes.
    fn admit(&self, tat: Instant, now: Instant) -> Result<Instant, RetryAfter> {
        let tat = tat.max(now);
        let ahead = tat.saturating_duration_since(now);
        if ahead > self.tolerance {
            return Err(RetryAfter(ahead.saturating_sub(self.tolerance)));
        }
        // An instant beyond what the platform represents only comes from absurd limits;
        // refuse rather than wrap.
        tat.checked_add(self.interval)
            .ok_or(RetryAfter(self.limit.per))
    }

    /// Frees at least one slot in a full table, by the policy in the module docs.
    fn make_room(&self, state: &mut State<K>, now: Instant) -> Result<(), RetryAfter> {
        if let Some(until) = state.full_until {
            if now < until {
                return Err(RetryAfter(until.saturating_duration_since(now)));
            }
            state.full_until = None;
        }

        // 1. Entries whose bucket is full again.
        state.tat.retain(|_, tat| *tat > now);

        // 2. Evict down to a batch below capacity, so the next inserts need no pass.
        let batch = (self.max_keys / EVICTION_BATCH_DIVISOR).max(1);
        let need = state
            .tat
            .len()
            .saturating_sub(self.max_keys.saturating_sub(batch));
        if need == 0 {
            return Ok(());
        }
        // Entries with a TAT beyond this line are limited right now.
        let limited_after = now.checked_add(self.tolerance);
        let is_evictable = |tat: &Instant| limited_after.is_none_or(|line| *tat <= line);
        let mut evictable: Vec<Instant> =
            state.tat.values().copied().filter(is_evictable).collect();

        if evictable.is_empty() {
            // 3. Everything is limited: refuse the newcomer until the earliest tracked key
            // stops being limited (at TAT − τ).
            let until = state
                .tat
                .values()
                .min()
                .and_then(|tat| tat.checked_sub(self.tolerance))
                .unwrap_or(now);
            if until > now {
                state.full_until = Some(until);
            }
            return Err(RetryAfter(until.saturating_duration_since(now)));
        }

        // The `count` earliest evictable TATs; ties at the cutoff are evicted only as far as
        // needed. `count - 1 < evictable.len()`, so the selection index is in range.
        let count = need.min(evictable.len());
        let (_, &mut cutoff, _) = evictable.select_nth_unstable(count - 1);
        let below = evictable.iter().filter(|tat| **tat < cutoff).count();
        let mut ties = count.saturating_sub(below);
        state.tat.retain(|_, tat| {
            if *tat < cutoff {
                false
            } else if *tat == cutoff && ties > 0 {
                ties -= 1;
                false
            } else {
                true
            }
        });
        Ok(())
    }
}

pub use onair_auth::client::AddrKey;

/// A [`RateLimiter`] over client addresses, each keyed by [`AddrKey::of`].
pub struct AddrLimiter(RateLimiter<AddrKey>);

impl AddrLimiter {
    pub fn new(limit: RateLimit, max_keys: usize) -> Self {
        Self(RateLimiter::new(limit, max_keys))
    }

    /// [`RateLimiter::check`] for the key of `ip`.
    pub fn check(&self, ip: &IpAddr, now: Instant) -> Result<(), RetryAfter> {
        self.0.check(&AddrKey::of(*ip), now)
    }

    /// [`RateLimiter::peek`] for the key of `ip`.
    pub fn peek(&self, ip: &IpAddr, now: Instant) -> Result<(), RetryAfter> {
        self.0.peek(&AddrKey::of(*ip), now)
    }

    pub fn limit(&self) -> RateLimit {
        self.0.limit()
    }
}

/// `per / max`, rounded up to whole nanoseconds so that `max × T ≥ per`: rounding down could
/// make `T` zero for tiny periods and let unlimited requests through.
fn div_ceil(per: Duration, max: u32) -> Duration {
    let nanos = per.as_nanos().div_ceil(u128::from(max));
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    // The remainder is below 10^9, so it always fits.
    let sub = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Duration::new(secs, sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn limiter(max: u32, per: Duration) -> RateLimiter<&'static str> {
        RateLimiter::new(RateLimit { max, per }, MAX_TRACKED_KEYS)
    }

    #[test]
    fn limit_triggers_at_max_plus_one() {
        let l = limiter(5, MINUTE);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(l.check(&"ip", t0), Ok(()));
        }
        // One unit comes back every 12 s.
        assert_eq!(l.check(&"ip", t0), Err(RetryAfter(Duration::from_secs(12))));
        assert_eq!(
            l.check(&"ip", t0 + Duration::from_secs(2)),
            Err(RetryAfter(Duration::from_secs(10)))
        );
    }

    #[test]
    fn recovers_gradually_and_fully_after_per() {
        let l = limiter(5, MINUTE);
        let t0 = Instant::now();
        for _ in 0..5 {
            l.check(&"ip", t0).unwrap();
        }
        let t12 = t0 + Duration::from_secs(12);
        assert_eq!(l.check(&"ip", t12), Ok(()));
        assert!(l.check(&"ip", t12).is_err());

        let t1 = t0 + MINUTE + Duration::from_secs(12);
        for _ in 0..5 {
            assert_eq!(l.check(&"ip", t1), Ok(()));
        }
        assert!(l.check(&"ip", t1).is_err());
    }

    #[test]
    fn full_burst_returns_after_exactly_per() {
        let l = limiter(3, MINUTE);
        let t0 = Instant::now();
        for _ in 0..3 {
            l.check(&"a", t0).unwrap();
        }
        assert!(l.check(&"a", t0 + MINUTE - Duration::from_nanos(1)).is_ok());
        assert!(l.check(&"b", t0).is_ok());
        for _ in 0..3 {
            l.check(&"c", t0).unwrap();
        }
        for _ in 0..3 {
            assert_eq!(l.check(&"c", t0 + MINUTE), Ok(()));
        }
    }

    #[test]
    fn keys_are_independent() {
        let l = limiter(2, MINUTE);
        let t0 = Instant::now();
        l.check(&"a", t0).unwrap();
        l.check(&"a", t0).unwrap();
        assert!(l.check(&"a", t0).is_err());
        assert_eq!(l.check(&"b", t0), Ok(()));
        assert_eq!(l.check(&"b", t0), Ok(()));
        assert!(l.check(&"b", t0).is_err());
    }

    #[test]
    fn reset_and_peek() {
        let l = limiter(2, MINUTE);
        let t0 = Instant::now();
        assert_eq!(l.peek(&"a", t0), Ok(()));
        l.check(&"a", t0).unwrap();
        assert_eq!(l.peek(&"a", t0), Ok(()));
        assert_eq!(l.peek(&"a", t0), Ok(()), "peek does not consume");
        l.check(&"a", t0).unwrap();
        assert_eq!(l.peek(&"a", t0), Err(RetryAfter(Duration::from_secs(30))));
        assert!(l.check(&"a", t0).is_err());
        l.reset(&"a");
        assert_eq!(l.len(), 0);
        assert_eq!(l.check(&"a", t0), Ok(()));
        assert_eq!(l.check(&"a", t0), Ok(()));
    }

    #[test]
    fn degenerate_limits() {
        let t0 = Instant::now();
        let none = limiter(0, MINUTE);
        assert_eq!(none.check(&"a", t0), Err(RetryAfter(MINUTE)));
        assert_eq!(none.peek(&"a", t0), Err(RetryAfter(MINUTE)));
        let unlimited = limiter(3, Duration::ZERO);
        for _ in 0..1000 {
            assert_eq!(unlimited.check(&"a", t0), Ok(()));
        }
        // A period shorter than `max` nanoseconds still limits.
        let tiny = limiter(1000, Duration::from_nanos(1));
        for _ in 0..1000 {
            tiny.check(&"a", t0).unwrap();
        }
        assert!(tiny.check(&"a", t0).is_err());
        // Periods beyond what `Instant` can represent refuse instead of overflowing.
        let huge = limiter(2, Duration::MAX);
        assert!(huge.check(&"a", t0).is_err());
        assert!(huge.peek(&"a", t0).is_err());
    }

    #[test]
    fn time_going_backwards_is_tolerated() {
        let l = limiter(2, MINUTE);
        let t0 = Instant::now() + MINUTE;
        l.check(&"a", t0).unwrap();
        l.check(&"a", t0).unwrap();
        let earlier = t0 - Duration::from_secs(30);
        assert!(l.check(&"a", earlier).is_err());
        assert!(l.peek(&"a", earlier).is_err());
        assert!(l.check(&"b", earlier).is_ok());
    }

    #[test]
    fn memory_stays_bounded_and_limited_keys_survive_a_flood() {
        const CAP: usize = 1000;
        let l: RateLimiter<u64> = RateLimiter::new(
            RateLimit {
                max: 5,
                per: MINUTE,
            },
            CAP,
        );
        let t0 = Instant::now();
        let attacker = u64::MAX;
        for _ in 0..5 {
            l.check(&attacker, t0).unwrap();
        }
        assert!(l.check(&attacker, t0).is_err());

        // One million distinct keys over 100 s, while the attacker keeps trying. Early flood
        // entries expire (their buckets refill after 12 s), so both eviction steps run.
        let mut attacker_passed = 0;
        for i in 0..1_000_000u64 {
            let now = t0 + Duration::from_millis(i / 10);
            assert_eq!(l.check(&i, now), Ok(()));
            assert!(l.len() <= CAP);
            if i % 100 == 0 && l.check(&attacker, now).is_ok() {
                attacker_passed += 1;
            }
        }
        // The attacker only got the unit that comes back every 12 s: flooding other keys never
        // evicted its entry, which would have handed it a fresh burst of 5.
        assert!(attacker_passed <= 9, "{attacker_passed}");
        assert!(l.check(&attacker, t0 + Duration::from_secs(100)).is_err());
    }

    #[test]
    fn full_table_of_limited_keys_refuses_newcomers() {
        const CAP: usize = 100;
        let l: RateLimiter<u32> = RateLimiter::new(
            RateLimit {
                max: 1,
                per: Duration::from_secs(10),
            },
            CAP,
        );
        let t0 = Instant::now();
        for k in 0..CAP as u32 {
            l.check(&k, t0).unwrap();
        }
        assert_eq!(l.check(&1000, t0), Err(RetryAfter(Duration::from_secs(10))));
        let t5 = t0 + Duration::from_secs(5);
        assert_eq!(l.check(&1001, t5), Err(RetryAfter(Duration::from_secs(5))));
        assert_eq!(l.peek(&1001, t5), Err(RetryAfter(Duration::from_secs(5))));
        // Tracked keys are still limited.
        for k in 0..CAP as u32 {
            assert!(l.check(&k, t5).is_err());
        }
        // A reset frees a slot.
        l.reset(&0);
        assert_eq!(l.check(&1001, t5), Ok(()));
        assert!(l.check(&1002, t5).is_err());
        // Once buckets refill, the table makes room again.
        let t10 = t0 + Duration::from_secs(10);
        assert_eq!(l.check(&1002, t10), Ok(()));
        assert!(l.len() <= CAP);
        l.purge_expired(t10 + Duration::from_secs(10));
        assert!(l.is_empty());
    }

    #[test]
    fn addresses_are_keyed_by_ipv4_address_or_ipv6_64() {
        let key = |s: &str| AddrKey::of(s.parse().unwrap());
        assert_eq!(
            key("2001:db8:1:2::1"),
            key("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:aaaa::7"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
        // IPv4 on its own, whether or not a dual-stack socket reported it as mapped IPv6.
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
        assert_eq!(key("::ffff:192.0.2.1").to_string(), "192.0.2.1");
        // Loopback is one key.
        assert_eq!(key("::1"), key("::2"));
    }

    #[test]
    fn one_ipv6_64_shares_one_budget() {
        let l = AddrLimiter::new(
            RateLimit {
                max: 2,
                per: MINUTE,
            },
            MAX_TRACKED_KEYS,
        );
        let t0 = Instant::now();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        l.check(&ip("2001:db8::1"), t0).unwrap();
        l.check(&ip("2001:db8::2"), t0).unwrap();
        assert!(l.check(&ip("2001:db8::3"), t0).is_err());
        assert!(l.peek(&ip("2001:db8::ffff"), t0).is_err());
        assert_eq!(l.check(&ip("2001:db8:0:1::1"), t0), Ok(()));
        l.check(&ip("192.0.2.1"), t0).unwrap();
        l.check(&ip("::ffff:192.0.2.1"), t0).unwrap();
        assert!(l.check(&ip("192.0.2.1"), t0).is_err());
    }

    #[test]
    fn is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RateLimiter<String>>();
        assert_send_sync::<std::sync::Arc<RateLimiter<std::net::IpAddr>>>();
    }
}
