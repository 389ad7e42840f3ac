//! The lock book: which locks a sequencer holds, how much of each slot's gas is locked or
//! promised, and the bounds that keep locks from being a griefing vector: open locks per caller
//! and in total, a caller's share of each slot's gas, transactions per sender and slot, and no
//! transaction held twice in a slot. Pure and synchronous; time is passed in, so expiry is exact
//! and testable.

use super::reorgs::ReorgEpoch;
use crate::core::primitives::{ChainId, Slot};
use alloy_primitives::{Address, B256};
use std::{
    collections::{BTreeSet, HashMap, HashSet},
    net::IpAddr,
    time::{Duration, Instant},
};

/// Identifies a lock; random, so ids do not repeat across restarts.
pub type LockId = B256;

/// Who asked for a lock: the client's IP address, so that a new connection does not renew a
/// quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Caller(pub IpAddr);

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
    /// Gas of one slot (per rollup) that one caller may hold, locked and promised together.
    pub caller_slot_gas: u64,
    /// Transactions of one sender that one slot (per rollup) may hold, locked and promised.
    pub sender_txs_per_slot: usize,
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
    /// Their senders, in the same order.
    pub senders: Vec<Address>,
    /// Their gas limits' sum.
    pub gas: u64,
    /// The bundle it was asked for.
    pub bundle_id: B256,
    /// Who holds it.
    pub caller: Caller,
    /// The selection the lock rests on, unless the slot's anchor was final when the sequencer
    /// was found selected: a confirm re-checks it if a reorg may have replaced the anchor since.
    pub reorgable: Option<Reorgable>,
    /// When it lapses.
    pub expires_at: Instant,
}

/// A lock's selection whose window anchor was not final when it was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reorgable {
    /// The anchor the lookahead computed the selection from.
    pub anchor: B256,
    /// The lookahead's reorg epoch before the selection was read; `None` when its reorgs were
    /// not followed then, and a confirm must ask again.
    pub epoch: Option<ReorgEpoch>,
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
    /// The caller holds its share of the slot's gas.
    #[error(
        "caller holds {held} gas of slot {slot} of rollup {chain_id}; {needed} more exceeds its share of {share}"
    )]
    CallerSlotGas {
        /// The rollup.
        chain_id: ChainId,
        /// The slot.
        slot: Slot,
        /// Gas the caller holds there.
        held: u64,
        /// Gas asked for.
        needed: u64,
        /// The most one caller may hold.
        share: u64,
    },
    /// A sender has its quota of transactions in the slot.
    #[error(
        "sender {sender} has {limit} transactions in slot {slot} of rollup {chain_id}, the most allowed"
    )]
    SenderQuota {
        /// The rollup.
        chain_id: ChainId,
        /// The slot.
        slot: Slot,
        /// The sender.
        sender: Address,
        /// The limit.
        limit: usize,
    },
    /// A transaction is locked or promised in the slot already.
    #[error("transaction {hash} is locked or promised in slot {slot} of rollup {chain_id} already")]
    Duplicate {
        /// The rollup.
        chain_id: ChainId,
        /// The slot.
        slot: Slot,
        /// The transaction.
        hash: B256,
    },
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
    caller_gas: HashMap<(Caller, ChainId, Slot), u64>,
    sender_txs: HashMap<(ChainId, Slot, Address), usize>,
    held_txs: HashMap<(ChainId, Slot), HashSet<B256>>,
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
            caller_gas: HashMap::new(),
            sender_txs: HashMap::new(),
            held_txs: HashMap::new(),
        }
    }

    /// The bounds.
    pub const fn limits(&self) -> Limits {
        self.limits
    }

    /// Counts a promise read back after a restart against its slot: its gas and its
    /// transactions (the caller and the senders are not kept with promises).
    pub fn add_promised(&mut self, chain_id: ChainId, slot: Slot, gas: u64, tx_hashes: &[B256]) {
        *self.used.entry((chain_id, slot)).or_default() += gas;
        self.held_txs.entry((chain_id, slot)).or_default().extend(tx_hashes.iter().copied());
    }

    /// Gives back what a taken lock holds when its promise was not issued after all.
    pub fn forget_promised(&mut self, lock: &Lock) {
        self.uncount(lock);
    }

    /// Refuses, before any expensive check, a lock that cannot be taken: a transaction held in
    /// the slot already, the caller's lock quota or its share of the slot, or the slot's gas.
    pub fn precheck(&mut self, now: Instant, lock: &Lock) -> Result<(), BookError> {
        self.expire(now);
        self.check_cheap(lock)
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

    /// Gives a lock's gas and transactions back to its slot; false if it was not open.
    pub fn release(&mut self, id: LockId) -> bool {
        let Some(lock) = self.locks.remove(&id) else { return false };
        self.by_expiry.remove(&(lock.expires_at, id));
        self.uncount_caller(lock.caller);
        self.uncount(&lock);
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

    /// Forgets what is held in slots before `slot`.
    pub fn prune_before(&mut self, slot: Slot) {
        self.used.retain(|(_, s), _| *s >= slot);
        self.caller_gas.retain(|(_, _, s), _| *s >= slot);
        self.sender_txs.retain(|(_, s, _), _| *s >= slot);
        self.held_txs.retain(|(_, s), _| *s >= slot);
    }

    fn check(&mut self, now: Instant, lock: &Lock) -> Result<(), BookError> {
        self.expire(now);
        self.check_cheap(lock)?;
        let (chain_id, slot) = (lock.chain_id, lock.slot);
        let limit = self.limits.sender_txs_per_slot;
        let mut senders: HashMap<Address, usize> = HashMap::new();
        for sender in &lock.senders {
            *senders.entry(*sender).or_default() += 1;
        }
        for (sender, count) in senders {
            let held = self.sender_txs.get(&(chain_id, slot, sender)).copied().unwrap_or_default();
            if held + count > limit {
                return Err(BookError::SenderQuota { chain_id, slot, sender, limit });
            }
        }
        Ok(())
    }

    fn check_cheap(&self, lock: &Lock) -> Result<(), BookError> {
        let (chain_id, slot) = (lock.chain_id, lock.slot);
        if self.locks.len() >= self.limits.locks_total {
            return Err(BookError::TotalQuota(self.limits.locks_total));
        }
        let held = self.per_caller.get(&lock.caller).copied().unwrap_or_default();
        if held >= self.limits.locks_per_caller {
            return Err(BookError::CallerQuota(self.limits.locks_per_caller));
        }
        let held = self.held_txs.get(&(chain_id, slot));
        let mut seen = HashSet::with_capacity(lock.tx_hashes.len());
        let duplicate = lock
            .tx_hashes
            .iter()
            .find(|hash| held.is_some_and(|held| held.contains(*hash)) || !seen.insert(**hash));
        if let Some(hash) = duplicate {
            return Err(BookError::Duplicate { chain_id, slot, hash: *hash });
        }
        let free = self.limits.slot_gas.saturating_sub(self.used(chain_id, slot));
        if lock.gas > free {
            return Err(BookError::Capacity { chain_id, slot, free, needed: lock.gas });
        }
        let held = self.caller_gas.get(&(lock.caller, chain_id, slot)).copied().unwrap_or_default();
        let share = self.limits.caller_slot_gas;
        if held.saturating_add(lock.gas) > share {
            return Err(BookError::CallerSlotGas { chain_id, slot, held, needed: lock.gas, share });
        }
        Ok(())
    }

    fn insert(&mut self, id: LockId, lock: Lock) {
        let (chain_id, slot) = (lock.chain_id, lock.slot);
        *self.used.entry((chain_id, slot)).or_default() += lock.gas;
        *self.caller_gas.entry((lock.caller, chain_id, slot)).or_default() += lock.gas;
        for sender in &lock.senders {
            *self.sender_txs.entry((chain_id, slot, *sender)).or_default() += 1;
        }
        self.held_txs.entry((chain_id, slot)).or_default().extend(lock.tx_hashes.iter().copied());
        *self.per_caller.entry(lock.caller).or_default() += 1;
        self.by_expiry.insert((lock.expires_at, id));
        self.locks.insert(id, lock);
    }

    /// Takes back everything `lock` counts in its slot (not its open-lock count).
    fn uncount(&mut self, lock: &Lock) {
        let (chain_id, slot) = (lock.chain_id, lock.slot);
        self.free(chain_id, slot, lock.gas);
        let key = (lock.caller, chain_id, slot);
        if let Some(held) = self.caller_gas.get_mut(&key) {
            *held = held.saturating_sub(lock.gas);
            if *held == 0 {
                self.caller_gas.remove(&key);
            }
        }
        for sender in &lock.senders {
            let key = (chain_id, slot, *sender);
            if let Some(count) = self.sender_txs.get_mut(&key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.sender_txs.remove(&key);
                }
            }
        }
        if let Some(held) = self.held_txs.get_mut(&(chain_id, slot)) {
            for hash in &lock.tx_hashes {
                held.remove(hash);
            }
            if held.is_empty() {
                self.held_txs.remove(&(chain_id, slot));
            }
        }
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

    const LIMITS: Limits = Limits {
        slot_gas: 100,
        locks_per_caller: 2,
        locks_total: 3,
        caller_slot_gas: 100,
        sender_txs_per_slot: 2,
    };

    fn caller(n: u8) -> Caller {
        Caller(IpAddr::from([127, 0, 0, n]))
    }

    /// A lock of one fresh transaction from a fresh sender.
    fn lock(by: u8, gas: u64, now: Instant, ttl_ms: u64) -> Lock {
        Lock {
            chain_id: ChainId::from(101),
            slot: Slot(5),
            tx_hashes: vec![B256::random()],
            senders: vec![Address::random()],
            gas,
            bundle_id: B256::ZERO,
            caller: caller(by),
            reorgable: None,
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
            .lock_all(now, vec![(id(1), lock(1, 60, now, 100)), (id(2), lock(2, 60, now, 100))]);
        assert!(matches!(result, Err(BookError::Capacity { .. })));
        assert_eq!(book.open_locks(), 0);
        assert_eq!(book.used(ChainId::from(101), Slot(5)), 0);
    }

    #[test]
    fn a_transaction_is_held_once_per_slot_until_released() {
        let now = Instant::now();
        let mut book = LockBook::new(LIMITS);
        let first = lock(1, 10, now, 100);
        let hash = first.tx_hashes[0];
        book.lock(now, id(1), first.clone()).unwrap();
        let again = Lock { caller: caller(2), ..first };
        assert!(
            matches!(book.precheck(now, &again), Err(BookError::Duplicate { hash: h, .. }) if h == hash)
        );
        let twice = Lock { tx_hashes: vec![B256::ZERO, B256::ZERO], ..lock(2, 10, now, 100) };
        assert!(matches!(book.lock(now, id(2), twice), Err(BookError::Duplicate { .. })));
        let promised = book.take(now, id(1)).unwrap();
        assert!(matches!(book.lock(now, id(3), again.clone()), Err(BookError::Duplicate { .. })));
        book.forget_promised(&promised);
        book.lock(now, id(3), again).unwrap();
    }

    #[test]
    fn a_caller_holds_at_most_its_share_of_a_slot_even_through_promises() {
        let now = Instant::now();
        let limits =
            Limits { caller_slot_gas: 50, locks_per_caller: 10, locks_total: 10, ..LIMITS };
        let mut book = LockBook::new(limits);
        book.lock(now, id(1), lock(1, 30, now, 100)).unwrap();
        book.take(now, id(1)).unwrap();
        assert!(matches!(
            book.lock(now, id(2), lock(1, 30, now, 100)),
            Err(BookError::CallerSlotGas { held: 30, needed: 30, share: 50, .. })
        ));
        book.lock(now, id(2), lock(2, 30, now, 100)).unwrap();
    }

    #[test]
    fn a_sender_has_a_bounded_number_of_transactions_per_slot() {
        let now = Instant::now();
        let limits = Limits { locks_per_caller: 10, locks_total: 10, ..LIMITS };
        let mut book = LockBook::new(limits);
        let sender = Address::repeat_byte(7);
        let from = |n: u8| Lock { senders: vec![sender], ..lock(n, 1, now, 100) };
        book.lock(now, id(1), from(1)).unwrap();
        book.lock(now, id(2), from(2)).unwrap();
        assert!(matches!(
            book.lock(now, id(3), from(3)),
            Err(BookError::SenderQuota { limit: 2, .. })
        ));
        book.release(id(1));
        book.lock(now, id(3), from(3)).unwrap();
    }
}
