//! Caps on how many of something one key holds at once (connections per client address,
//! event streams per user): [`Slots::try_acquire`] hands out a guard that gives its slot back
//! when dropped, however the holder ends.
//!
//! Only keys holding a slot are stored, so memory is bounded by what is held, which the
//! callers bound in turn (the connection cap; the connections carrying the event streams).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use parking_lot::Mutex;

/// Counts of held slots by key.
pub struct Slots<K: Hash + Eq> {
    held: Mutex<HashMap<K, usize>>,
}

impl<K: Hash + Eq> Default for Slots<K> {
    fn default() -> Self {
        Self {
            held: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone> Slots<K> {
    /// One slot for `key` if it holds fewer than `max`; `None` when it holds `max` already.
    pub fn try_acquire(self: &Arc<Self>, key: K, max: usize) -> Option<Slot<K>> {
        let mut held = self.held.lock();
        let n = held.entry(key.clone()).or_insert(0);
        if *n >= max {
            if *n == 0 {
                held.remove(&key);
            }
            return None;
        }
        *n += 1;
        Some(Slot {
            slots: self.clone(),
            key,
        })
    }

    /// Slots `key` holds now.
    pub fn held(&self, key: &K) -> usize {
        self.held.lock().get(key).copied().unwrap_or(0)
    }
}

/// A held slot; dropping it gives it back.
pub struct Slot<K: Hash + Eq> {
    slots: Arc<Slots<K>>,
    key: K,
}

impl<K: Hash + Eq> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock();
        if let Some(n) = held.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_key_and_gives_back_on_drop() {
        let slots: Arc<Slots<&str>> = Arc::default();
        let a1 = slots.try_acquire("a", 2).unwrap();
        let a2 = slots.try_acquire("a", 2).unwrap();
        assert!(slots.try_acquire("a", 2).is_none());
        let b = slots.try_acquire("b", 2).unwrap();
        assert_eq!(slots.held(&"a"), 2);
        drop(a1);
        let a3 = slots.try_acquire("a", 2).unwrap();
        assert!(slots.try_acquire("a", 2).is_none());
        drop((a2, a3, b));
        assert!(
            slots.held.lock().is_empty(),
            "keys holding nothing are forgotten"
        );
        assert!(slots.try_acquire("z", 0).is_none());
        assert!(slots.held.lock().is_empty());
    }
}
