//! The watcher's redb database: the promises it holds, the slots it has still to judge, and
//! every slash and miss report with where its transaction stands. Each change is one durable
//! commit, so a restart — even after SIGKILL — resumes where the watcher stopped: no promise
//! is forgotten and no transaction is sent twice (see [`ActionState`]).

use super::verdict::Verdict;
use crate::{
    core::primitives::{ChainId, Slot},
    preconf::promise::Promise,
    service::l1::TxFees,
    store::{DbError, decode, encode, from_redb_errors},
};
use alloy_primitives::{B256, U256, keccak256};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::{path::Path, sync::Arc};

/// Promises by EIP-712 digest.
const PROMISES: TableDefinition<'_, [u8; 32], &[u8]> = TableDefinition::new("promises");
/// (chain id, slot, digest): the promises of each slot.
const SLOT_PROMISES: TableDefinition<'_, ([u8; 32], u64, [u8; 32]), ()> =
    TableDefinition::new("slot_promises");
/// (chain id, slot): slots to judge once their inbox closes them.
const TO_JUDGE: TableDefinition<'_, ([u8; 32], u64), ()> = TableDefinition::new("to_judge");
/// Slashes and miss reports by [`ActionKey`].
const ACTIONS: TableDefinition<'_, [u8; 32], &[u8]> = TableDefinition::new("actions");
/// The actions not final yet.
const OPEN_ACTIONS: TableDefinition<'_, [u8; 32], ()> = TableDefinition::new("open_actions");
/// Named cursors (the next slot to scan per rollup, the next slot to poll).
const CURSORS: TableDefinition<'_, &str, u64> = TableDefinition::new("cursors");

/// Why the watcher's database could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum WatchStoreError {
    /// redb or the codec failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

from_redb_errors!(WatchStoreError);

/// Where the watcher got a promise from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// `watch_submitPromise` (a gateway, a user).
    Submitted,
    /// A sequencer's `preconf_getPromises`.
    Sequencer,
}

impl Source {
    /// The metrics label.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Sequencer => "sequencer",
        }
    }
}

/// A verified promise and, once its slot closed, whether it was kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPromise {
    /// The promise.
    pub promise: Promise,
    /// Where it came from first.
    pub source: Source,
    /// Set when its slot closed.
    pub verdict: Option<Verdict>,
}

/// What the watcher sends to the registry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionKind {
    /// `slashPromise(promise, signature, batch)`.
    Slash {
        /// The broken promise.
        promise: Promise,
        /// The slot's batch (empty for a missed slot).
        batch: Vec<B256>,
    },
    /// `reportMiss(chainId, slot)`.
    ReportMiss {
        /// The rollup.
        chain_id: ChainId,
        /// The missed slot.
        slot: Slot,
    },
}

impl ActionKind {
    /// The rollup and slot it is about.
    pub fn target(&self) -> (ChainId, Slot) {
        match self {
            Self::Slash { promise, .. } => (promise.chain_id, promise.slot),
            Self::ReportMiss { chain_id, slot } => (*chain_id, *slot),
        }
    }

    /// The metrics label.
    pub const fn label(&self) -> &'static str {
        match self {
            Self::Slash { .. } => "slash",
            Self::ReportMiss { .. } => "report_miss",
        }
    }
}

/// The key of an action: the promise digest of a slash, a hash of the rollup and slot of a
/// report. One per promise and per slot, so judging a slot again never adds a second one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionKey(pub B256);

impl ActionKey {
    /// The slash of the promise with EIP-712 digest `digest`.
    pub const fn slash(digest: B256) -> Self {
        Self(digest)
    }

    /// The miss report of `chain_id`'s `slot`.
    pub fn report_miss(chain_id: ChainId, slot: Slot) -> Self {
        let mut preimage = b"reportMiss".to_vec();
        preimage.extend_from_slice(&chain_id.0.to_be_bytes::<32>());
        preimage.extend_from_slice(&slot.0.to_be_bytes());
        Self(keccak256(preimage))
    }
}

/// Where an action's transaction stands. A restart resumes from here: `Sent` is watched (and
/// bumped) again rather than sent anew, `Confirmed` is checked against reorgs until final.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionState {
    /// To send (again, after a reorg removed it or its transaction was lost).
    Pending,
    /// Sent, not known to be mined.
    Sent {
        /// Its nonce.
        nonce: u64,
        /// Every version sent (fee bumps), newest last.
        hashes: Vec<B256>,
        /// The newest version's gas limit and fees.
        fees: TxFees,
    },
    /// Mined and succeeded in `block`; re-checked on chain until that block is final.
    Confirmed {
        /// The transaction.
        tx: B256,
        /// Its block.
        block: u64,
    },
    /// Done for good: its block is final (`tx`), or someone else did it (`None`).
    Final {
        /// The watcher's transaction, if it was the watcher's.
        tx: Option<B256>,
    },
    /// Never to be sent: the registry would refuse it for this reason.
    Dropped {
        /// The registry's error name.
        reason: String,
    },
}

impl ActionState {
    /// Whether nothing remains to be done.
    pub const fn is_terminal(&self) -> bool {
        matches!(self, Self::Final { .. } | Self::Dropped { .. })
    }
}

/// A slash or a miss report and its progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// What to send.
    pub kind: ActionKind,
    /// How far it got.
    pub state: ActionState,
}

/// The watcher's database.
#[derive(Clone, Debug)]
pub struct WatchStore {
    db: Arc<Database>,
}

fn chain_key(chain_id: ChainId) -> [u8; 32] {
    chain_id.0.to_be_bytes::<32>()
}

fn chain_of(key: [u8; 32]) -> ChainId {
    ChainId(U256::from_be_bytes(key))
}

impl WatchStore {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, WatchStoreError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(PROMISES)?;
        txn.open_table(SLOT_PROMISES)?;
        txn.open_table(TO_JUDGE)?;
        txn.open_table(ACTIONS)?;
        txn.open_table(OPEN_ACTIONS)?;
        txn.open_table(CURSORS)?;
        txn.commit()?;
        Ok(Self { db: Arc::new(db) })
    }

    /// Stores a verified promise under `digest` and schedules its slot for judging; false
    /// (and nothing written) if it was stored already.
    pub fn insert_promise(
        &self,
        digest: B256,
        promise: &Promise,
        source: Source,
    ) -> Result<bool, WatchStoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut promises = txn.open_table(PROMISES)?;
            if promises.get(digest.0)?.is_some() {
                return Ok(false);
            }
            let stored = StoredPromise { promise: promise.clone(), source, verdict: None };
            promises.insert(digest.0, encode("promise", &stored)?.as_slice())?;
            let chain = chain_key(promise.chain_id);
            txn.open_table(SLOT_PROMISES)?.insert((chain, promise.slot.0, digest.0), ())?;
            txn.open_table(TO_JUDGE)?.insert((chain, promise.slot.0), ())?;
        }
        txn.commit()?;
        Ok(true)
    }

    /// Whether a promise with this digest is stored.
    pub fn has_promise(&self, digest: B256) -> Result<bool, WatchStoreError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(PROMISES)?.get(digest.0)?.is_some())
    }

    /// The promises of `chain_id`'s `slot`, with their digests.
    pub fn promises_of(
        &self,
        chain_id: ChainId,
        slot: Slot,
    ) -> Result<Vec<(B256, StoredPromise)>, WatchStoreError> {
        let txn = self.db.begin_read()?;
        let index = txn.open_table(SLOT_PROMISES)?;
        let promises = txn.open_table(PROMISES)?;
        let chain = chain_key(chain_id);
        let mut found = Vec::new();
        for entry in index.range((chain, slot.0, [0u8; 32])..=(chain, slot.0, [0xffu8; 32]))? {
            let (key, _) = entry?;
            let (_, _, digest) = key.value();
            if let Some(bytes) = promises.get(digest)? {
                found.push((B256::from(digest), decode("promise", bytes.value())?));
            }
        }
        Ok(found)
    }

    /// Up to `limit` slots to judge, oldest first.
    pub fn to_judge(&self, limit: usize) -> Result<Vec<(ChainId, Slot)>, WatchStoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TO_JUDGE)?;
        let mut slots = Vec::new();
        for entry in table.iter()? {
            let (key, _) = entry?;
            let (chain, slot) = key.value();
            slots.push((chain_of(chain), Slot(slot)));
        }
        slots.sort_by_key(|(chain_id, slot)| (*slot, *chain_id));
        slots.truncate(limit);
        Ok(slots)
    }

    /// Schedules `chain_id`'s slots `from..to` for judging and moves its scan cursor to `to`,
    /// in one commit.
    pub fn schedule_slots(
        &self,
        chain_id: ChainId,
        from: Slot,
        to: Slot,
    ) -> Result<(), WatchStoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(TO_JUDGE)?;
            let chain = chain_key(chain_id);
            for slot in from.0..to.0 {
                table.insert((chain, slot), ())?;
            }
            txn.open_table(CURSORS)?.insert(scan_cursor(chain_id).as_str(), to.0)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The next slot of `chain_id` to schedule for judging, if it was ever scanned.
    pub fn scan_cursor(&self, chain_id: ChainId) -> Result<Option<Slot>, WatchStoreError> {
        self.cursor(&scan_cursor(chain_id))
    }

    /// A named cursor.
    pub fn cursor(&self, name: &str) -> Result<Option<Slot>, WatchStoreError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(CURSORS)?.get(name)?.map(|slot| Slot(slot.value())))
    }

    /// Sets a named cursor.
    pub fn set_cursor(&self, name: &str, slot: Slot) -> Result<(), WatchStoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(CURSORS)?.insert(name, slot.0)?;
        txn.commit()?;
        Ok(())
    }

    /// Records the judgement of `chain_id`'s `slot` in one commit: the promises' verdicts, the
    /// new actions (an action already known under its key is left as it is), and the slot off
    /// the list to judge — unless a promise of the slot still has no verdict (one stored while
    /// the slot was being judged): then the slot stays to be judged again.
    pub fn record_judgement(
        &self,
        chain_id: ChainId,
        slot: Slot,
        verdicts: &[(B256, Verdict)],
        actions: &[(ActionKey, Action)],
    ) -> Result<(), WatchStoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut promises = txn.open_table(PROMISES)?;
            for (digest, verdict) in verdicts {
                let stored = promises.get(digest.0)?.map(|bytes| decode("promise", bytes.value()));
                if let Some(stored) = stored {
                    let mut stored: StoredPromise = stored?;
                    stored.verdict = Some(*verdict);
                    promises.insert(digest.0, encode("promise", &stored)?.as_slice())?;
                }
            }
            let mut table = txn.open_table(ACTIONS)?;
            let mut open = txn.open_table(OPEN_ACTIONS)?;
            for (key, action) in actions {
                if table.get(key.0.0)?.is_none() {
                    table.insert(key.0.0, encode("action", action)?.as_slice())?;
                    open.insert(key.0.0, ())?;
                }
            }
            let chain = chain_key(chain_id);
            let index = txn.open_table(SLOT_PROMISES)?;
            let mut undecided = false;
            for entry in index.range((chain, slot.0, [0u8; 32])..=(chain, slot.0, [0xffu8; 32]))? {
                let (key, _) = entry?;
                if let Some(bytes) = promises.get(key.value().2)? {
                    let stored: StoredPromise = decode("promise", bytes.value())?;
                    undecided |= stored.verdict.is_none();
                }
            }
            if !undecided {
                txn.open_table(TO_JUDGE)?.remove((chain, slot.0))?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Takes `chain_id`'s `slot` off the list to judge for good, verdicts or not: its promises
    /// cannot be judged (no inbox, or the inbox's batch cannot be read).
    pub fn give_up(&self, chain_id: ChainId, slot: Slot) -> Result<(), WatchStoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(TO_JUDGE)?.remove((chain_key(chain_id), slot.0))?;
        txn.commit()?;
        Ok(())
    }

    /// Forgets action `key` and what was judged of its slot, and schedules the slot for
    /// judging again: the inbox no longer says what the judgement was made on.
    pub fn rejudge(
        &self,
        key: ActionKey,
        chain_id: ChainId,
        slot: Slot,
    ) -> Result<(), WatchStoreError> {
        let txn = self.db.begin_write()?;
        {
            txn.open_table(ACTIONS)?.remove(key.0.0)?;
            txn.open_table(OPEN_ACTIONS)?.remove(key.0.0)?;
            let chain = chain_key(chain_id);
            let index = txn.open_table(SLOT_PROMISES)?;
            let mut promises = txn.open_table(PROMISES)?;
            for entry in index.range((chain, slot.0, [0u8; 32])..=(chain, slot.0, [0xffu8; 32]))? {
                let (entry_key, _) = entry?;
                let (_, _, digest) = entry_key.value();
                let stored = promises.get(digest)?.map(|bytes| decode("promise", bytes.value()));
                if let Some(stored) = stored {
                    let mut stored: StoredPromise = stored?;
                    stored.verdict = None;
                    promises.insert(digest, encode("promise", &stored)?.as_slice())?;
                }
            }
            txn.open_table(TO_JUDGE)?.insert((chain, slot.0), ())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The action under `key`.
    pub fn action(&self, key: ActionKey) -> Result<Option<Action>, WatchStoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ACTIONS)?;
        let action = table.get(key.0.0)?.map(|bytes| decode("action", bytes.value()));
        Ok(action.transpose()?)
    }

    /// The actions not final yet.
    pub fn open_actions(&self) -> Result<Vec<(ActionKey, Action)>, WatchStoreError> {
        let txn = self.db.begin_read()?;
        let open = txn.open_table(OPEN_ACTIONS)?;
        let table = txn.open_table(ACTIONS)?;
        let mut actions = Vec::new();
        for entry in open.iter()? {
            let (key, _) = entry?;
            let key = key.value();
            if let Some(bytes) = table.get(key)? {
                let action: Action = decode("action", bytes.value())?;
                actions.push((ActionKey(B256::from(key)), action));
            }
        }
        actions.sort_by_key(|(_, action)| action.kind.target().1);
        Ok(actions)
    }

    /// Writes `action` under `key`; a terminal one leaves the open actions.
    pub fn set_action(&self, key: ActionKey, action: &Action) -> Result<(), WatchStoreError> {
        let txn = self.db.begin_write()?;
        {
            txn.open_table(ACTIONS)?.insert(key.0.0, encode("action", action)?.as_slice())?;
            let mut open = txn.open_table(OPEN_ACTIONS)?;
            if action.state.is_terminal() {
                open.remove(key.0.0)?;
            } else {
                open.insert(key.0.0, ())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Forgets every promise, slot and terminal action of slots before `before`: past the
    /// slashing window, the registry takes none of them.
    pub fn prune(&self, before: Slot) -> Result<usize, WatchStoreError> {
        let txn = self.db.begin_write()?;
        let mut removed = 0;
        {
            let mut index = txn.open_table(SLOT_PROMISES)?;
            let mut promises = txn.open_table(PROMISES)?;
            let old: Vec<_> = index
                .iter()?
                .filter_map(|entry| entry.ok().map(|(key, _)| key.value()))
                .filter(|(_, slot, _)| *slot < before.0)
                .collect();
            for key in old {
                index.remove(key)?;
                promises.remove(key.2)?;
                removed += 1;
            }
            let mut to_judge = txn.open_table(TO_JUDGE)?;
            let stale: Vec<_> = to_judge
                .iter()?
                .filter_map(|entry| entry.ok().map(|(key, _)| key.value()))
                .filter(|(_, slot)| *slot < before.0)
                .collect();
            for key in stale {
                to_judge.remove(key)?;
            }
            let mut actions = txn.open_table(ACTIONS)?;
            let open = txn.open_table(OPEN_ACTIONS)?;
            let mut done = Vec::new();
            for entry in actions.iter()? {
                let (key, bytes) = entry?;
                let action: Action = decode("action", bytes.value())?;
                if action.kind.target().1 < before && open.get(key.value())?.is_none() {
                    done.push(key.value());
                }
            }
            for key in done {
                actions.remove(key)?;
            }
        }
        txn.commit()?;
        Ok(removed)
    }
}

fn scan_cursor(chain_id: ChainId) -> String {
    format!("scan:{chain_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RegistryDomain, preconf::promise::PromiseSigner};
    use alloy::signers::local::PrivateKeySigner;
    use alloy_primitives::Address;

    fn promise(slot: u64, chain_id: u64) -> (B256, Promise) {
        let key = PrivateKeySigner::random();
        let domain = RegistryDomain::new(1, Address::repeat_byte(1));
        let promise = Promise::sign(
            &PromiseSigner::new(&key),
            &domain,
            ChainId::from(chain_id),
            Slot(slot),
            vec![B256::repeat_byte(7)],
            B256::repeat_byte(slot as u8),
        );
        (promise.signing_hash(&domain), promise)
    }

    #[test]
    fn promises_actions_and_cursors_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watch.redb");
        let (digest, promised) = promise(10, 101);
        let slash = ActionKey::slash(digest);
        let miss = ActionKey::report_miss(ChainId::from(101), Slot(11));
        {
            let store = WatchStore::open(&path).unwrap();
            assert!(store.insert_promise(digest, &promised, Source::Submitted).unwrap());
            assert!(!store.insert_promise(digest, &promised, Source::Sequencer).unwrap());
            store.schedule_slots(ChainId::from(101), Slot(11), Slot(13)).unwrap();
            assert_eq!(
                store.to_judge(10).unwrap(),
                vec![
                    (ChainId::from(101), Slot(10)),
                    (ChainId::from(101), Slot(11)),
                    (ChainId::from(101), Slot(12))
                ]
            );
            let action = Action {
                kind: ActionKind::Slash { promise: promised.clone(), batch: vec![] },
                state: ActionState::Pending,
            };
            store
                .record_judgement(
                    ChainId::from(101),
                    Slot(10),
                    &[(digest, Verdict::Broken)],
                    &[(slash, action)],
                )
                .unwrap();
            let sent = Action {
                kind: ActionKind::Slash { promise: promised.clone(), batch: vec![] },
                state: ActionState::Sent {
                    nonce: 3,
                    hashes: vec![B256::repeat_byte(3)],
                    fees: TxFees::default(),
                },
            };
            store.set_action(slash, &sent).unwrap();
            // Judging again never replaces a known action.
            let again = Action {
                kind: ActionKind::Slash { promise: promised, batch: vec![] },
                state: ActionState::Pending,
            };
            store.record_judgement(ChainId::from(101), Slot(10), &[], &[(slash, again)]).unwrap();
            let report = Action {
                kind: ActionKind::ReportMiss { chain_id: ChainId::from(101), slot: Slot(11) },
                state: ActionState::Pending,
            };
            store.record_judgement(ChainId::from(101), Slot(11), &[], &[(miss, report)]).unwrap();
        }
        let store = WatchStore::open(&path).unwrap();
        // A promise stored while its slot was judged keeps the slot on the list.
        let (late, late_promise) = promise(12, 101);
        store.insert_promise(late, &late_promise, Source::Sequencer).unwrap();
        store.record_judgement(ChainId::from(101), Slot(12), &[], &[]).unwrap();
        assert!(store.to_judge(10).unwrap().contains(&(ChainId::from(101), Slot(12))));
        store
            .record_judgement(ChainId::from(101), Slot(12), &[(late, Verdict::Kept)], &[])
            .unwrap();
        store.schedule_slots(ChainId::from(101), Slot(12), Slot(13)).unwrap();
        assert_eq!(store.scan_cursor(ChainId::from(101)).unwrap(), Some(Slot(13)));
        assert_eq!(store.to_judge(10).unwrap(), vec![(ChainId::from(101), Slot(12))]);
        let promises = store.promises_of(ChainId::from(101), Slot(10)).unwrap();
        assert_eq!(promises.len(), 1);
        assert_eq!(promises[0].1.verdict, Some(Verdict::Broken));
        assert_eq!(promises[0].1.source, Source::Submitted);
        let open = store.open_actions().unwrap();
        assert_eq!(open.len(), 2);
        assert!(matches!(open[0].1.state, ActionState::Sent { nonce: 3, .. }));

        // Final actions leave the open list; a rejudged one is forgotten and its slot is back.
        let mut done = open[0].1.clone();
        done.state = ActionState::Final { tx: Some(B256::repeat_byte(3)) };
        store.set_action(open[0].0, &done).unwrap();
        store.rejudge(miss, ChainId::from(101), Slot(11)).unwrap();
        assert!(store.open_actions().unwrap().is_empty());
        assert_eq!(store.action(miss).unwrap(), None);
        assert_eq!(
            store.to_judge(10).unwrap(),
            vec![(ChainId::from(101), Slot(11)), (ChainId::from(101), Slot(12))]
        );

        // Pruning forgets old promises and terminal actions.
        assert_eq!(store.prune(Slot(11)).unwrap(), 1);
        assert!(!store.has_promise(digest).unwrap());
        assert_eq!(store.action(slash).unwrap(), None);
        assert_eq!(store.to_judge(10).unwrap().len(), 2);
    }
}
