//! The lock book: which locks a sequencer holds, how much of each slot's gas is locked or
//! promised, and the bounds that keep locks from being a griefing vector (per caller and in
//! total). Pure and synchronous; time is passed in, so expiry is exact and testable.

use crate::core::primitives::{ChainId, Slot};
use alloy_primitives::B256;
use std::{
    collections::{BTreeSet, HashMap},
    time::{Duration, Instant},
};

/// Identifies a lock; random, so ids do not repeat across restarts.
pub type LockId = B256;

/// Who asked for a lock (the RPC connection), for the per-caller bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Caller(pub u64);

/// How long a confirmed-away or expired lock id is remembered, to tell "expired" from
/// "unknown" in errors.
const REMEMBER_EXPIRED: Duration = Duration::from_secs(60);

/// The book's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Gas a slot holds, per rollup.
    pub slot_gas: u64,
    /// Open locks one caller may hold.
    pub locks_per_caller: usize,
    /// Open locks in total.
    pub locks_total: usize,
}

/// A held lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lock {
    /// The rollup.
    pub chain_id: ChainId,
    /// The slot.
    pub slot: Slot,
    /// The locked transactions' hashes, in order.
    pub tx_hashes: Vec<B256>,
    /// Their gas limits' sum.
    pub gas: u64,
    /// The bundle it was asked for.
    pub bundle_id: B256,
    /// Who holds it.
    pub caller: Caller,
    /// When it lapses.
    pub expires_at: Instant,
}

/// Why the book refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    /// The slot's gas is locked or promised.
    #[error("slot {slot} of rollup {chain_id} has {free} gas left, the txs need {needed}")]
    Capacity {
        /// The rollup.
        chain_id: ChainId,
        /// The slot.
        slot: Slot,
        /// Gas still free.
        free: u64,
        /// Gas asked for.
        needed: u64,
    },
    /// The caller holds its quota of locks.
    #[error("caller holds {0} open locks, the most allowed")]
    CallerQuota(usize),
    /// The sequencer holds its quota of locks.
    #[error("the sequencer holds {0} open locks, the most allowed")]
    TotalQuota(usize),
    /// The lock lapsed.
    #[error("lock {0} expired")]
    Expired(LockId),
    /// No such lock.
    #[error("unknown lock {0}")]
    Unknown(LockId),
}

/// Locks, and the gas locked or promised per rollup and slot.
#[derive(Debug)]
pub struct LockBook {
    limits: Limits,
    locks: HashMap<LockId, Lock>,
    by_expiry: BTreeSet<(Instant, LockId)>,
    used: HashMap<(ChainId, Slot), u64>,
    per_caller: HashMap<Caller, usize>,
    expired: HashMap<LockId, Instant>,
}

impl LockBook {
    /// An empty book.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            locks: HashMap::new(),
            by_expiry: BTreeSet::new(),
            used: HashMap::new(),
            per_caller: HashMap::new(),
            expired: HashMap::new(),
        }
    }

    /// The bounds.
    pub const fn limits(&self) -> Limits {
        self.limits
    }

    /// Counts gas already promised (e.g. read back after a restart) against its slot.
    pub fn add_promised(&mut self, chain_id: ChainId, slot: Slot, gas: u64) {
        *self.used.entry((chain_id, slot)).or_default() += gas;
    }

    /// Gives back gas counted as promised whose promise was not issued after all.
    pub fn forget_promised(&mut self, chain_id: ChainId, slot: Slot, gas: u64) {
        self.free(chain_id, slot, gas);
    }

    /// Gas locked or promised in a slot.
    pub fn used(&self, chain_id: ChainId, slot: Slot) -> u64 {
        self.used.get(&(chain_id, slot)).copied().unwrap_or_default()
    }

    /// Open locks.
    pub fn open_locks(&self) -> usize {
        self.locks.len()
    }

    /// Takes `gas` of the slot for `lock` until `lock.expires_at`, within the bounds.
    pub fn lock(&mut self, now: Instant, id: LockId, lock: Lock) -> Result<(), BookError> {
        self.check(now, &lock)?;
        self.insert(id, lock);
        Ok(())
    }

    /// Takes every lock or none (the legs of one bundle at one sequencer).
    pub fn lock_all(&mut self, now: Instant, locks: Vec<(LockId, Lock)>) -> Result<(), BookError> {
        let mut taken = Vec::with_capacity(locks.len());
        for (id, lock) in locks {
            if let Err(error) = self.check(now, &lock) {
                for id in taken {
                    self.release(id);
                }
                return Err(error);
            }
            self.insert(id, lock);
            taken.push(id);
        }
        Ok(())
    }

    /// Removes an open lock to promise it: its gas stays used (now as promised gas).
    pub fn take(&mut self, now: Instant, id: LockId) -> Result<Lock, BookError> {
        self.expire(now);
        let lock = self.locks.remove(&id).ok_or_else(|| self.missing(id))?;
        self.by_expiry.remove(&(lock.expires_at, id));
        self.uncount_caller(lock.caller);
        Ok(lock)
    }

    /// Gives a lock's gas back to its slot; false if it was not open.
    pub fn release(&mut self, id: LockId) -> bool {
        let Some(lock) = self.locks.remove(&id) else { return false };
        self.by_expiry.remove(&(lock.expires_at, id));
        self.uncount_caller(lock.caller);
        self.free(lock.chain_id, lock.slot, lock.gas);
        true
    }

    /// Releases every lock that lapsed by `now`; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut count = 0;
        while let Some(&(at, id)) = self.by_expiry.first() {
            if at > now {
                break;
            }
            self.release(id);
            self.expired.insert(id, at);
            count += 1;
        }
        if let Some(horizon) = now.checked_sub(REMEMBER_EXPIRED) {
            self.expired.retain(|_, at| *at > horizon);
        }
        count
    }

    /// Forgets the gas used in slots before `slot`.
    pub fn prune_before(&mut self, slot: Slot) {
        self.used.retain(|(_, s), _| *s >= slot);
    }

    fn check(&mut self, now: Instant, lock: &Lock) -> Result<(), BookError> {
        self.expire(now);
        if self.locks.len() >= self.limits.locks_total {
            return Err(BookError::TotalQuota(self.limits.locks_total));
        }
        let held = self.per_caller.get(&lock.caller).copied().unwrap_or_default();
        if held >= self.limits.locks_per_caller {
            return Err(BookError::CallerQuota(self.limits.locks_per_caller));
        }
        let used = self.used(lock.chain_id, lock.slot);
        let free = self.limits.slot_gas.saturating_sub(used);
        if lock.gas > free {
            return Err(BookError::Capacity {
                chain_id: lock.chain_id,
                slot: lock.slot,
                free,
                needed: lock.gas,
            });
        }
        Ok(())
    }

    fn insert(&mut self, id: LockId, lock: Lock) {
        *self.used.entry((lock.chain_id, lock.slot)).or_default() += lock.gas;
        *self.per_caller.entry(lock.caller).or_default() += 1;
        self.by_expiry.insert((lock.expires_at, id));
        self.locks.insert(id, lock);
    }

    fn free(&mut self, chain_id: ChainId, slot: Slot, gas: u64) {
        if let Some(used) = self.used.get_mut(&(chain_id, slot)) {
            *used = used.saturating_sub(gas);
            if *used == 0 {
                self.used.remove(&(chain_id, slot));
            }
        }
    }

    fn uncount_caller(&mut self, caller: Caller) {
        if let Some(held) = self.per_caller.get_mut(&caller) {
            *held -= 1;
            if *held == 0 {
                self.per_caller.remove(&caller);
            }
        }
    }

    fn missing(&self, id: LockId) -> BookError {
        if self.expired.contains_key(&id) { BookError::Expired(id) } else { BookError::Unknown(id) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { slot_gas: 100, locks_per_caller: 2, locks_total: 3 };

    fn lock(caller: u64, gas: u64, now: Instant, ttl_ms: u64) -> Lock {
        Lock {
            chain_id: ChainId::from(101),
            slot: Slot(5),
            tx_hashes: vec![B256::repeat_byte(1)],
            gas,
            bundle_id: B256::ZERO,
            caller: Caller(caller),
            expires_at: now + Duration::from_millis(ttl_ms),
        }
    }

    fn id(n: u8) -> LockId {
        B256::repeat_byte(n)
    }

    #[test]
    fn capacity_is_never_oversold_and_comes_back_on_release_and_expiry() {
        let now = Instant::now();
        let mut book = LockBook::new(LIMITS);
        book.lock(now, id(1), lock(1, 60, now, 100)).unwrap();
        assert!(matches!(
            book.lock(now, id(2), lock(2, 50, now, 100)),
            Err(BookError::Capacity { free: 40, needed: 50, .. })
        ));
        book.lock(now, id(2), lock(2, 40, now, 500)).unwrap();
        assert_eq!(book.used(ChainId::from(101), Slot(5)), 100);
        assert!(book.release(id(2)));
        assert!(!book.release(id(2)));
        assert_eq!(book.used(ChainId::from(101), Slot(5)), 60);
        assert_eq!(book.expire(now + Duration::from_millis(100)), 1);
        assert_eq!(book.used(ChainId::from(101), Slot(5)), 0);
        assert_eq!(book.take(now, id(1)), Err(BookError::Expired(id(1))));
        assert_eq!(book.take(now, id(9)), Err(BookError::Unknown(id(9))));
    }

    #[test]
    fn a_taken_lock_keeps_its_gas_as_promised_and_cannot_be_taken_twice() {
        let now = Instant::now();
        let mut book = LockBook::new(LIMITS);
        book.lock(now, id(1), lock(1, 70, now, 100)).unwrap();
        let taken = book.take(now, id(1)).unwrap();
        assert_eq!(taken.gas, 70);
        assert_eq!(book.take(now, id(1)), Err(BookError::Unknown(id(1))));
        assert_eq!(book.expire(now + Duration::from_secs(1)), 0);
        assert_eq!(book.used(ChainId::from(101), Slot(5)), 70);
    }

    #[test]
    fn quotas_bound_each_caller_and_the_total() {
        let now = Instant::now();
        let mut book = LockBook::new(LIMITS);
        book.lock(now, id(1), lock(1, 1, now, 100)).unwrap();
        book.lock(now, id(2), lock(1, 1, now, 100)).unwrap();
        assert_eq!(book.lock(now, id(3), lock(1, 1, now, 100)), Err(BookError::CallerQuota(2)));
        book.lock(now, id(3), lock(2, 1, now, 100)).unwrap();
        assert_eq!(book.lock(now, id(4), lock(3, 1, now, 100)), Err(BookError::TotalQuota(3)));
        book.release(id(1));
        book.lock(now, id(4), lock(1, 1, now, 100)).unwrap();
    }

    #[test]
    fn lock_all_takes_every_lock_or_none() {
        let now = Instant::now();
        let mut book = LockBook::new(LIMITS);
        let result = book
            .lock_all(now, vec![(id(1), lock(1, 60, now, 100)), (id(2), lock(1, 60, now, 100))]);
        assert!(matches!(result, Err(BookError::Capacity { .. })));
        assert_eq!(book.open_locks(), 0);
        assert_eq!(book.used(ChainId::from(101), Slot(5)), 0);
    }
}
