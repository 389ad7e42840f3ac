//! The promises a sequencer issued: written durably before a promise is returned, so after a
//! restart (even a crash) a retried `preconf_confirm` finds the same promise and the slot's
//! promised gas is counted again.
//!
//! A promise is first appended to a log (the `log` module; `<database>.log` beside it) and
//! synced, by one writer thread that takes every promise waiting at that moment (group commit):
//! one sequential write and one `fdatasync` for many confirms, all a confirm waits for. A
//! second thread moves logged promises into the redb database every 50 ms, many in
//! one transaction and without a sync of its own (a durable redb commit rewrites and syncs a
//! dozen pages: far too costly per confirm, and its sync would hold up the log's). Until moved,
//! reads find them in memory. Once the log is longer than 4 MiB, its writer makes the
//! database durable (a checkpoint: one synced commit, which also persists every earlier one)
//! and empties it. Opening moves what the log holds into the database: the commits made since
//! the last checkpoint are lost with a crash, the log is not.

mod log;

use super::{book::LockId, promise::Promise};
use crate::{
    core::primitives::Slot,
    store::{DbError, decode, encode, from_redb_errors},
};
use log::PromiseLog;
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, mpsc as sync_mpsc},
    time::Duration,
};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};

const PROMISES: TableDefinition<'_, [u8; 32], &[u8]> = TableDefinition::new("promises");
const BY_SLOT: TableDefinition<'_, (u64, [u8; 32]), ()> = TableDefinition::new("promises_by_slot");

/// How often logged promises are moved into the database (and how long after a failed move
/// it is tried again).
const APPLY_EVERY: Duration = Duration::from_millis(50);
/// The log's length (about 12,000 promises of one transaction) past which the database is made
/// durable and the log emptied.
const LOG_LIMIT: u64 = 4 << 20;

/// A promise with what the sequencer needs to account for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromiseRecord {
    /// The lock it confirmed.
    pub lock_id: LockId,
    /// The gas it promised.
    pub gas: u64,
    /// The promise.
    pub promise: Promise,
}

/// Why the promise database could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum PromiseStoreError {
    /// redb or the codec failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The log could not be read or written.
    #[error("promise log: {0}")]
    Log(#[from] std::io::Error),
    /// The writer threads could not start, a write failed or they stopped.
    #[error("promise writer: {0}")]
    Writer(String),
}

from_redb_errors!(PromiseStoreError);

type Batch = (Vec<PromiseRecord>, oneshot::Sender<Result<(), PromiseStoreError>>);

/// Promises logged but not yet in the database, by slot and lock id, and the slot of each lock.
#[derive(Debug, Default)]
struct Logged {
    records: BTreeMap<(u64, LockId), PromiseRecord>,
    slots: HashMap<LockId, u64>,
}

impl Logged {
    fn insert(&mut self, record: &PromiseRecord) {
        let slot = record.promise.slot.0;
        self.slots.insert(record.lock_id, slot);
        self.records.insert((slot, record.lock_id), record.clone());
    }

    fn remove(&mut self, record: &PromiseRecord) {
        self.slots.remove(&record.lock_id);
        self.records.remove(&(record.promise.slot.0, record.lock_id));
    }
}

/// [`Logged`], shared by the store's handles and its two threads.
#[derive(Debug, Default)]
struct SharedLogged(RwLock<Logged>);

impl SharedLogged {
    /// Reads it: a panic elsewhere while it was held leaves whole maps, so poisoning is ignored.
    fn read(&self) -> RwLockReadGuard<'_, Logged> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Logged> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every promise not yet moved.
    fn unmoved(&self) -> Vec<PromiseRecord> {
        self.read().records.values().cloned().collect()
    }
}

/// The promise database.
#[derive(Clone, Debug)]
pub struct PromiseStore {
    db: Arc<Database>,
    logged: Arc<SharedLogged>,
    writer: mpsc::UnboundedSender<Batch>,
}

impl PromiseStore {
    /// Opens (or creates) the database at `path` and its log beside it, moves what the log
    /// holds into the database, and starts the writer threads, which end when the last handle
    /// is dropped.
    pub fn open(path: &Path) -> Result<Self, PromiseStoreError> {
        Self::open_with(path, APPLY_EVERY, LOG_LIMIT)
    }

    /// [`Self::open`], moving logged promises into the database every `apply_every` and
    /// checkpointing past `log_limit` bytes of log.
    fn open_with(
        path: &Path,
        apply_every: Duration,
        log_limit: u64,
    ) -> Result<Self, PromiseStoreError> {
        let db = Arc::new(Database::create(path)?);
        let txn = db.begin_write()?;
        txn.open_table(PROMISES)?;
        txn.open_table(BY_SLOT)?;
        txn.commit()?;
        let (mut log, replayed) = PromiseLog::open(&log_path(path))?;
        let replayed = replayed
            .iter()
            .map(|payload| decode::<PromiseRecord>("promise", payload))
            .collect::<Result<Vec<_>, _>>()?;
        write(&db, replayed.iter(), Durability::Immediate)?;
        log.clear()?;

        let logged = Arc::<SharedLogged>::default();
        let (writer, batches) = mpsc::unbounded_channel();
        let (wake, woken) = sync_mpsc::channel();
        let (mover_db, mover_logged) = (db.clone(), logged.clone());
        spawn("promise-store", move || {
            move_logged_records(&mover_db, &mover_logged, &woken, apply_every);
        })?;
        let log_writer = LogWriter {
            db: db.clone(),
            log,
            logged: logged.clone(),
            log_limit,
            checkpoint_at: log_limit,
        };
        spawn("promise-log", move || log_writer.run(batches, &wake))?;
        Ok(Self { db, logged, writer })
    }

    /// Writes `records` durably; returns once they are on disk.
    pub async fn insert(&self, records: Vec<PromiseRecord>) -> Result<(), PromiseStoreError> {
        let (done, written) = oneshot::channel();
        let closed = || PromiseStoreError::Writer("stopped".into());
        self.writer.send((records, done)).map_err(|_| closed())?;
        written.await.map_err(|_| closed())?
    }

    /// The promise that confirmed `lock_id`, if one was issued.
    pub fn get(&self, lock_id: LockId) -> Result<Option<PromiseRecord>, PromiseStoreError> {
        // The log first: a promise leaves it only once it is in the database, so one missed
        // here is found there.
        {
            let logged = self.logged.read();
            if let Some(slot) = logged.slots.get(&lock_id) {
                return Ok(logged.records.get(&(*slot, lock_id)).cloned());
            }
        }
        let txn = self.db.begin_read()?;
        let table = txn.open_table(PROMISES)?;
        let record = table.get(lock_id.0)?.map(|bytes| decode("promise", bytes.value()));
        Ok(record.transpose()?)
    }

    /// The promises for `slot`, in lock id order.
    pub fn by_slot(&self, slot: Slot) -> Result<Vec<PromiseRecord>, PromiseStoreError> {
        self.range(slot, Slot(slot.0.saturating_add(1)))
    }

    /// The promises for slots `from` and later.
    pub fn from_slot(&self, from: Slot) -> Result<Vec<PromiseRecord>, PromiseStoreError> {
        self.range(from, Slot(u64::MAX))
    }

    fn range(&self, from: Slot, to: Slot) -> Result<Vec<PromiseRecord>, PromiseStoreError> {
        let bounds = (from.0, LockId::ZERO)..(to.0, LockId::ZERO);
        // The log first, as in `get`.
        let mut records: BTreeMap<(u64, LockId), PromiseRecord> = {
            let logged = self.logged.read();
            logged.records.range(bounds).map(|(key, record)| (*key, record.clone())).collect()
        };
        let txn = self.db.begin_read()?;
        let index = txn.open_table(BY_SLOT)?;
        let promises = txn.open_table(PROMISES)?;
        for entry in index.range((from.0, [0u8; 32])..(to.0, [0u8; 32]))? {
            let (key, _) = entry?;
            let (slot, lock_id) = key.value();
            let key = (slot, LockId::from(lock_id));
            if records.contains_key(&key) {
                continue;
            }
            if let Some(bytes) = promises.get(lock_id)? {
                records.insert(key, decode("promise", bytes.value())?);
            }
        }
        Ok(records.into_values().collect())
    }
}

/// Starts a thread named `name` running `run`.
fn spawn(name: &str, run: impl FnOnce() + Send + 'static) -> Result<(), PromiseStoreError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(run)
        .map(drop)
        .map_err(|error| PromiseStoreError::Writer(format!("starting its thread: {error}")))
}

/// The log's writer thread.
struct LogWriter {
    db: Arc<Database>,
    log: PromiseLog,
    logged: Arc<SharedLogged>,
    /// The log's length past which it is checkpointed.
    log_limit: u64,
    /// Where the next checkpoint is due: `log_limit`, or further after a failed one.
    checkpoint_at: u64,
}

impl LogWriter {
    /// Takes every batch waiting, appends them to the log in one write and one sync, keeps
    /// them in memory for reads, answers all, and wakes the thread that moves them into the
    /// database; until the store's last handle is dropped.
    fn run(mut self, mut batches: mpsc::UnboundedReceiver<Batch>, wake: &sync_mpsc::Sender<()>) {
        while let Some(first) = batches.blocking_recv() {
            let mut waiting = vec![first];
            while let Ok(more) = batches.try_recv() {
                waiting.push(more);
            }
            let result = self.append(waiting.iter().flat_map(|(records, _)| records));
            for (_, done) in waiting {
                let _ = done.send(result.clone().map_err(PromiseStoreError::Writer));
            }
            let _ = wake.send(());
        }
    }

    /// Appends `records` to the log (after a checkpoint, if one is due) and keeps them in
    /// memory until they are moved into the database. On error none of them is stored. A
    /// failed checkpoint is tried again once the log has grown by another `log_limit`.
    fn append<'a>(
        &mut self,
        records: impl Iterator<Item = &'a PromiseRecord> + Clone,
    ) -> Result<(), String> {
        if self.log.len() > self.checkpoint_at {
            self.checkpoint_at = match self.checkpoint() {
                Ok(()) => self.log_limit,
                Err(error) => {
                    warn!(%error, "promise log checkpoint failed; the log is kept until the next try");
                    self.log.len().saturating_add(self.log_limit)
                }
            };
        }
        let payloads = records
            .clone()
            .map(|record| encode("promise", record))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| error.to_string())?;
        self.log.append(&payloads).map_err(|error| format!("appending: {error}"))?;
        let mut logged = self.logged.write();
        records.for_each(|record| logged.insert(record));
        Ok(())
    }

    /// Makes everything the log holds durable in the database, then empties the log: the
    /// promises not yet moved are written in one synced commit, which persists every earlier
    /// one too. On failure the log is kept whole.
    fn checkpoint(&mut self) -> Result<(), String> {
        let unmoved = self.logged.unmoved();
        write(&self.db, unmoved.iter(), Durability::Immediate)
            .map_err(|error| error.to_string())?;
        self.log.clear().map_err(|error| format!("emptying the log: {error}"))
    }
}

/// The thread that moves logged promises into the database: every `apply_every` while
/// promises arrive, all of them in one transaction without a sync, dropped from memory once
/// committed. Once the log's writer stops, it moves what is left in a synced commit and ends.
fn move_logged_records(
    db: &Database,
    logged: &SharedLogged,
    woken: &sync_mpsc::Receiver<()>,
    apply_every: Duration,
) {
    let mut failing = false;
    loop {
        // Wait for promises (or, after a failed move, at most `apply_every`), then
        // `apply_every` more for others to join them; stop at once when the writer does.
        let mut stopped = if failing {
            matches!(
                woken.recv_timeout(apply_every),
                Err(sync_mpsc::RecvTimeoutError::Disconnected)
            )
        } else {
            woken.recv().is_err()
        };
        let deadline = std::time::Instant::now() + apply_every;
        while !stopped {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match woken.recv_timeout(left) {
                Ok(()) => {}
                Err(sync_mpsc::RecvTimeoutError::Timeout) => break,
                Err(sync_mpsc::RecvTimeoutError::Disconnected) => stopped = true,
            }
        }
        let records = logged.unmoved();
        let durability = if stopped { Durability::Immediate } else { Durability::None };
        match write(db, records.iter(), durability) {
            Ok(()) => {
                failing = false;
                let mut logged = logged.write();
                records.iter().for_each(|record| logged.remove(record));
            }
            Err(e) if stopped => {
                error!(error = %e, "logged promises could not be moved into the database; the log keeps them for the next start");
            }
            Err(e) => {
                if !failing {
                    warn!(error = %e, "logged promises could not be moved into the database; trying again");
                }
                failing = true;
            }
        }
        if stopped {
            return;
        }
    }
}

/// The log of the database at `path`: its name with `.log` added.
fn log_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".log");
    name.into()
}

/// Writes `records` to the database in one transaction; `Durability::None` leaves it to a later
/// synced commit to make them durable.
fn write<'a>(
    db: &Database,
    records: impl Iterator<Item = &'a PromiseRecord>,
    durability: Durability,
) -> Result<(), PromiseStoreError> {
    let mut records = records.peekable();
    if records.peek().is_none() && matches!(durability, Durability::None) {
        return Ok(());
    }
    let mut txn = db.begin_write()?;
    txn.set_durability(durability).map_err(|error| PromiseStoreError::Writer(error.to_string()))?;
    {
        let mut promises = txn.open_table(PROMISES)?;
        let mut index = txn.open_table(BY_SLOT)?;
        for record in records {
            promises.insert(record.lock_id.0, encode("promise", record)?.as_slice())?;
            index.insert((record.promise.slot.0, record.lock_id.0), ())?;
        }
    }
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RegistryDomain, core::primitives::ChainId, preconf::promise::PromiseSigner};
    use alloy::signers::local::PrivateKeySigner;
    use alloy_primitives::{Address, B256};

    fn record(lock: u8, slot: u64) -> PromiseRecord {
        let promise = Promise::sign(
            &PromiseSigner::new(&PrivateKeySigner::random()),
            &RegistryDomain::new(1, Address::repeat_byte(0x42)),
            ChainId::from(101),
            Slot(slot),
            vec![B256::repeat_byte(lock)],
            B256::repeat_byte(7),
        );
        PromiseRecord { lock_id: B256::repeat_byte(lock), gas: 21_000, promise }
    }

    #[tokio::test]
    async fn promises_are_read_back_by_lock_and_slot_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("promises.redb");
        {
            let store = PromiseStore::open(&path).unwrap();
            let (a, b) =
                (store.insert(vec![record(1, 5)]), store.insert(vec![record(2, 5), record(3, 6)]));
            let (a, b) = tokio::join!(a, b);
            a.unwrap();
            b.unwrap();
        }
        // The writer threads let go of the file once they see the last handle dropped.
        let store = reopen(&path).await;
        let found = store.get(B256::repeat_byte(2)).unwrap().expect("stored");
        assert_eq!(found.promise.tx_hashes, vec![B256::repeat_byte(2)]);
        found
            .promise
            .verify(&RegistryDomain::new(1, Address::repeat_byte(0x42)), found.promise.signer)
            .unwrap();
        assert_eq!(store.by_slot(Slot(5)).unwrap().len(), 2);
        assert_eq!(store.from_slot(Slot(6)).unwrap().len(), 1);
        assert_eq!(store.get(B256::repeat_byte(9)).unwrap(), None);
    }

    /// Opens the store at `path`, waiting (up to 5 s) for the threads of an earlier handle to
    /// let go of the database.
    async fn reopen(path: &Path) -> PromiseStore {
        let mut tries = 0;
        loop {
            match PromiseStore::open(path) {
                Ok(store) => break store,
                Err(error) if tries < 500 => {
                    assert!(error.to_string().contains("already open"), "{error}");
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(error) => panic!("{error}"),
            }
        }
    }

    fn in_memory(store: &PromiseStore) -> usize {
        store.logged.read().records.len()
    }

    #[tokio::test]
    async fn a_promise_is_read_back_before_and_after_it_is_moved_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("promises.redb");
        // Moved only when the store closes.
        let store = PromiseStore::open_with(&path, Duration::from_secs(3600), LOG_LIMIT).unwrap();
        let one = record(1, 5);
        store.insert(vec![one.clone(), record(2, 7)]).await.unwrap();
        assert_eq!(in_memory(&store), 2, "logged, not yet moved");
        assert_eq!(store.get(B256::repeat_byte(1)).unwrap(), Some(one.clone()));
        assert_eq!(store.by_slot(Slot(5)).unwrap(), vec![one.clone()]);
        assert_eq!(store.from_slot(Slot(0)).unwrap().len(), 2);
        drop(store);

        let store = reopen(&path).await;
        assert_eq!(in_memory(&store), 0);
        assert_eq!(std::fs::metadata(log_path(&path)).unwrap().len(), 0, "moved, then emptied");
        assert_eq!(store.get(B256::repeat_byte(1)).unwrap(), Some(one.clone()));
        assert_eq!(store.by_slot(Slot(5)).unwrap(), vec![one]);

        // With the default interval, promises leave memory while the store is open.
        store.insert(vec![record(3, 5)]).await.unwrap();
        for _ in 0..100 {
            if in_memory(&store) == 0 {
                break;
            }
            tokio::time::sleep(APPLY_EVERY).await;
        }
        assert_eq!(in_memory(&store), 0, "moved within 100 intervals");
        assert_eq!(store.by_slot(Slot(5)).unwrap().len(), 2);
        assert_eq!(store.from_slot(Slot(0)).unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_long_log_is_checkpointed_and_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("promises.redb");
        // Every append past the first finds the log over its limit.
        let store = PromiseStore::open_with(&path, Duration::from_secs(3600), 1).unwrap();
        for lock in 1..=3 {
            store.insert(vec![record(lock, 5)]).await.unwrap();
        }
        let one = encode("promise", &record(3, 5)).unwrap().len() as u64;
        assert_eq!(std::fs::metadata(log_path(&path)).unwrap().len(), 12 + one, "the last one");
        assert_eq!(store.by_slot(Slot(5)).unwrap().len(), 3);
    }

    #[tokio::test]
    async fn promises_only_in_the_log_are_moved_into_the_database_on_opening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("promises.redb");
        drop(reopen(&path).await);
        // A crash after the log's sync, before the move: the promises are in the log only.
        let logged = [record(1, 5), record(2, 6)];
        let (mut log, _) = PromiseLog::open(&log_path(&path)).unwrap();
        let payloads: Vec<_> = logged.iter().map(|r| encode("promise", r).unwrap()).collect();
        log.append(&payloads).unwrap();
        drop(log);

        let store = reopen(&path).await;
        assert_eq!(in_memory(&store), 0, "in the database, not in memory");
        assert_eq!(store.from_slot(Slot(0)).unwrap(), logged.to_vec());
        assert_eq!(std::fs::metadata(log_path(&path)).unwrap().len(), 0);
    }
}
