//! The promises a sequencer issued: written durably before a promise is returned, so after a
//! restart (even a crash) a retried `preconf_confirm` finds the same promise and the slot's
//! promised gas is counted again.
//!
//! A promise is first appended to a log segment (the `log` module; `<database>.log.0` and
//! `.log.1` beside it) and synced, by one writer thread that takes every promise waiting at that
//! moment (group commit): one small write and one `fdatasync` for many confirms, all a confirm
//! waits for. A second thread moves logged promises into the redb database every 50 ms, many
//! in one transaction and without a sync of its own (a durable redb commit rewrites and syncs a
//! dozen pages: far too costly per confirm, and its sync would hold up the log's). Until moved,
//! reads find them in memory.
//!
//! Once the segment being written holds more than 4 MiB, the writer goes on in the other one
//! and hands the full one to the mover, which makes the database durable (a checkpoint: one
//! synced commit, which also persists every earlier one) and then empties the segment for the
//! writer's next turn. A confirm thus never waits for a checkpoint (tens of milliseconds; its
//! sync still shares the disk with the log's), unless the other segment fills before the mover
//! has emptied it: then the writer checkpoints itself. Opening moves what both segments hold
//! into the database and empties them: the commits made since the last checkpoint are lost
//! with a crash, the log is not.

mod log;

use super::{book::LockId, promise::Promise};
use crate::{
    core::primitives::Slot,
    store::{DbError, decode, encode, from_redb_errors},
};
use log::LogSegment;
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, mpsc as sync_mpsc},
    time::{Duration, Instant},
};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};

const PROMISES: TableDefinition<'_, [u8; 32], &[u8]> = TableDefinition::new("promises");
const BY_SLOT: TableDefinition<'_, (u64, [u8; 32]), ()> = TableDefinition::new("promises_by_slot");

/// How often logged promises are moved into the database (and how long after a failed move
/// it is tried again).
const APPLY_EVERY: Duration = Duration::from_millis(50);
/// The length of a log segment (about 12,000 promises of one transaction) past which the writer
/// goes on in the other one and the database is made durable.
const LOG_LIMIT: u64 = 4 << 20;
/// What a segment is written to beyond [`LOG_LIMIT`] when it is created: room for the batch
/// that crosses the limit.
const LOG_SLACK: u64 = 256 << 10;

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

    /// Writes every promise not yet moved into `db` in one transaction of `durability`, then
    /// drops them from memory; on failure they stay.
    fn move_into(&self, db: &Database, durability: Durability) -> Result<(), PromiseStoreError> {
        let unmoved = self.unmoved();
        write(db, unmoved.iter(), durability)?;
        let mut logged = self.write();
        unmoved.iter().for_each(|record| logged.remove(record));
        Ok(())
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
        let capacity = log_limit.saturating_add(LOG_SLACK);
        let mut segments = Vec::with_capacity(2);
        let mut replayed = Vec::new();
        for index in 0..2 {
            let (segment, payloads) = LogSegment::open(&log_path(path, index), capacity)?;
            for payload in payloads {
                replayed.push(decode::<PromiseRecord>("promise", &payload)?);
            }
            segments.push(segment);
        }
        let legacy = log_path_before_segments(path);
        let legacy_bytes = match std::fs::read(&legacy) {
            Ok(bytes) => Some(bytes),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(error.into()),
        };
        for payload in legacy_bytes.as_deref().map(log::legacy_records).unwrap_or_default() {
            replayed.push(decode::<PromiseRecord>("promise", &payload)?);
        }
        write(&db, replayed.iter(), Durability::Immediate)?;
        // Emptied even when they hold no record: a record torn by a crash may lie behind the
        // last whole one, and must not join those of a later run.
        for segment in &mut segments {
            segment.reset()?;
        }
        if legacy_bytes.is_some() {
            std::fs::remove_file(&legacy)?;
        }
        let (spare, active) = (segments.pop().expect("two"), segments.pop().expect("two"));

        let logged = Arc::<SharedLogged>::default();
        let (writer, batches) = mpsc::unbounded_channel();
        let (notes, notes_rx) = sync_mpsc::channel();
        let (returned_tx, returned) = sync_mpsc::channel();
        let mover = Mover { db: db.clone(), logged: logged.clone(), apply_every };
        spawn("promise-store", move || mover.run(&notes_rx, &returned_tx))?;
        let log_writer = LogWriter {
            db: db.clone(),
            logged: logged.clone(),
            active,
            spare: Some(spare),
            returned,
            log_limit,
            checkpoint_at: log_limit,
        };
        spawn("promise-log", move || log_writer.run(batches, &notes))?;
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

/// What the log's writer tells the thread that moves promises into the database.
enum Note {
    /// More promises are logged.
    Logged,
    /// The writer has gone on in the other segment: this one is to be checkpointed, emptied
    /// and handed back.
    Full(LogSegment),
}

/// The log's writer thread.
struct LogWriter {
    /// The database, for the checkpoints the writer makes itself.
    db: Arc<Database>,
    /// Promises logged and not yet moved.
    logged: Arc<SharedLogged>,
    /// The segment appended to.
    active: LogSegment,
    /// The other segment, empty, when the writer has it: otherwise the mover is checkpointing
    /// it and hands it back through `returned`.
    spare: Option<LogSegment>,
    /// Where the mover hands the spare back.
    returned: sync_mpsc::Receiver<LogSegment>,
    /// A segment's length past which the writer goes on in the other one.
    log_limit: u64,
    /// Where the active segment is due to be left: `log_limit`, or further after a failed
    /// checkpoint of its own.
    checkpoint_at: u64,
}

impl LogWriter {
    /// Takes every batch waiting, appends them to the log in one write and one sync, keeps
    /// them in memory for reads, answers all, and tells the thread that moves them into the
    /// database; until the store's last handle is dropped.
    fn run(mut self, mut batches: mpsc::UnboundedReceiver<Batch>, mover: &sync_mpsc::Sender<Note>) {
        while let Some(first) = batches.blocking_recv() {
            let mut waiting = vec![first];
            while let Ok(more) = batches.try_recv() {
                waiting.push(more);
            }
            if self.active.len() > self.checkpoint_at || self.active.is_broken() {
                self.make_room(mover);
            }
            let result = self.append(waiting.iter().flat_map(|(records, _)| records));
            for (_, done) in waiting {
                let _ = done.send(result.clone().map_err(PromiseStoreError::Writer));
            }
            let _ = mover.send(Note::Logged);
        }
    }

    /// Leaves the full (or broken) active segment: for the spare one, handing the full one to
    /// the mover to checkpoint, or, while the mover still has the spare, by checkpointing and
    /// emptying it here. A failed checkpoint is tried again once the segment has grown by
    /// another `log_limit`, or with the next batch while the segment refuses appends.
    fn make_room(&mut self, mover: &sync_mpsc::Sender<Note>) {
        if let Some(spare) = self.spare.take().or_else(|| self.returned.try_recv().ok()) {
            let full = std::mem::replace(&mut self.active, spare);
            self.checkpoint_at = self.log_limit;
            // The mover outlives the writer: it stops once this thread drops its sender.
            let _ = mover.send(Note::Full(full));
            return;
        }
        self.checkpoint_at = match self.checkpoint() {
            Ok(()) => self.log_limit,
            Err(error) => {
                warn!(%error, "promise log checkpoint failed; the log is kept until the next try");
                self.active.len().saturating_add(self.log_limit)
            }
        };
    }

    /// Appends `records` to the active segment and keeps them in memory until they are moved
    /// into the database. On error none of them is stored.
    fn append<'a>(
        &mut self,
        records: impl Iterator<Item = &'a PromiseRecord> + Clone,
    ) -> Result<(), String> {
        let payloads = records
            .clone()
            .map(|record| encode("promise", record))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| error.to_string())?;
        self.active.append(&payloads).map_err(|error| format!("appending: {error}"))?;
        let mut logged = self.logged.write();
        records.for_each(|record| logged.insert(record));
        Ok(())
    }

    /// Makes everything the active segment holds durable in the database, then empties it: the
    /// promises not yet moved are written in one synced commit, which persists every earlier
    /// one too, and leave memory. If the commit fails the segment is kept whole; if emptying
    /// it fails, it refuses appends until a later checkpoint empties it.
    fn checkpoint(&mut self) -> Result<(), String> {
        self.logged
            .move_into(&self.db, Durability::Immediate)
            .map_err(|error| error.to_string())?;
        self.active.reset().map_err(|error| format!("emptying the log: {error}"))
    }
}

/// The thread that moves logged promises into the database.
struct Mover {
    /// The database moved into.
    db: Arc<Database>,
    /// Promises logged and not yet moved.
    logged: Arc<SharedLogged>,
    /// How long promises are gathered before one move.
    apply_every: Duration,
}

impl Mover {
    /// Every `apply_every` while promises arrive, moves all of them in one transaction without
    /// a sync, dropping them from memory once committed; when the writer hands over a full
    /// segment, makes that move a synced one (a checkpoint), empties the segment and hands it
    /// back. Once the writer stops, moves what is left in a synced commit and ends.
    fn run(self, notes: &sync_mpsc::Receiver<Note>, returned: &sync_mpsc::Sender<LogSegment>) {
        let mut failing = false;
        let mut full = None;
        loop {
            // Wait for promises (or, after a failed move, at most `apply_every`), then
            // `apply_every` more for others to join them; stop at once when the writer does.
            let mut stopped = false;
            let first = if failing {
                notes.recv_timeout(self.apply_every)
            } else {
                notes.recv().map_err(|_| sync_mpsc::RecvTimeoutError::Disconnected)
            };
            let deadline = Instant::now() + self.apply_every;
            let mut next = first;
            loop {
                match next {
                    Ok(Note::Logged) => {}
                    Ok(Note::Full(segment)) => {
                        debug_assert!(full.is_none(), "the writer has one spare segment");
                        full = Some(segment);
                    }
                    Err(sync_mpsc::RecvTimeoutError::Timeout) => break,
                    Err(sync_mpsc::RecvTimeoutError::Disconnected) => {
                        stopped = true;
                        break;
                    }
                }
                next = notes.recv_timeout(deadline.saturating_duration_since(Instant::now()));
            }
            let durability =
                if stopped || full.is_some() { Durability::Immediate } else { Durability::None };
            match self.logged.move_into(&self.db, durability) {
                Ok(()) => failing = false,
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
            if !failing && let Some(mut segment) = full.take() {
                match segment.reset() {
                    Ok(()) => {
                        let _ = returned.send(segment);
                    }
                    Err(e) => {
                        warn!(error = %e, "a checkpointed promise log segment could not be emptied; trying again");
                        full = Some(segment);
                        failing = true;
                    }
                }
            }
        }
    }
}

/// The promise log of the version before segments: the database's name with `.log` added.
fn log_path_before_segments(path: &Path) -> std::path::PathBuf {
    with_suffix(path, ".log")
}

/// Log segment `index` (0 or 1) of the database at `path`: its name with `.log.<index>` added.
fn log_path(path: &Path, index: usize) -> std::path::PathBuf {
    with_suffix(path, &format!(".log.{index}"))
}

/// `path` with `suffix` added to its name.
fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
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
        assert_eq!(logged_records(&path), 0, "moved, then emptied");
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

    /// Promises the log segments of the database at `path` hold (read while it is closed).
    fn logged_records(path: &Path) -> usize {
        (0..2).map(|index| LogSegment::open(&log_path(path, index), 0).unwrap().1.len()).sum()
    }

    /// The bytes of records each log segment of the store at `path` holds.
    fn segment_lengths(path: &Path) -> Vec<u64> {
        (0..2).map(|index| LogSegment::open(&log_path(path, index), 0).unwrap().0.len()).collect()
    }

    #[tokio::test]
    async fn a_full_segment_is_checkpointed_by_the_mover_while_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("promises.redb");
        let one = encode("promise", &record(1, 5)).unwrap().len() as u64 + 12;
        // A segment is left once it holds more than one record.
        let store = PromiseStore::open_with(&path, Duration::from_millis(10), one).unwrap();
        store.insert(vec![record(1, 5)]).await.unwrap();
        store.insert(vec![record(2, 5)]).await.unwrap();
        assert_eq!(segment_lengths(&path), vec![2 * one, 0]);
        // The third goes to the other segment; the mover checkpoints and empties the first.
        store.insert(vec![record(3, 5)]).await.unwrap();
        let mut lengths = segment_lengths(&path);
        for _ in 0..500 {
            if lengths == vec![0, one] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            lengths = segment_lengths(&path);
        }
        assert_eq!(lengths, vec![0, one], "the first emptied by the mover within 5 s");
        for lock in 4..=6 {
            store.insert(vec![record(lock, 5)]).await.unwrap();
        }
        assert_eq!(store.by_slot(Slot(5)).unwrap().len(), 6);
        drop(store);
        let store = reopen(&path).await;
        assert_eq!(store.by_slot(Slot(5)).unwrap().len(), 6);
    }

    #[tokio::test]
    async fn the_writer_checkpoints_itself_while_the_mover_holds_the_other_segment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("promises.redb");
        // The mover never runs before the store closes: it cannot hand the first segment back.
        let store = PromiseStore::open_with(&path, Duration::from_secs(3600), 1).unwrap();
        for lock in 1..=4 {
            store.insert(vec![record(lock, 5)]).await.unwrap();
        }
        let one = encode("promise", &record(4, 5)).unwrap().len() as u64 + 12;
        // 1 in the first; 2 in the second; 3 and then 4 in the second after checkpoints.
        assert_eq!(segment_lengths(&path)[1], one, "the last one");
        assert_eq!(store.by_slot(Slot(5)).unwrap().len(), 4);
        drop(store);
        let store = reopen(&path).await;
        assert_eq!(store.by_slot(Slot(5)).unwrap().len(), 4);
    }

    #[tokio::test]
    async fn the_log_of_the_version_before_segments_is_moved_into_the_database_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("promises.redb");
        let logged = [record(1, 5), record(2, 6)];
        let mut bytes = Vec::new();
        for record in &logged {
            let payload = encode("promise", record).unwrap();
            bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&alloy_primitives::keccak256(&payload)[..8]);
            bytes.extend_from_slice(&payload);
        }
        std::fs::write(log_path_before_segments(&path), bytes).unwrap();

        let store = reopen(&path).await;
        assert_eq!(store.from_slot(Slot(0)).unwrap(), logged.to_vec());
        assert!(!log_path_before_segments(&path).exists());
    }

    #[tokio::test]
    async fn promises_only_in_the_log_are_moved_into_the_database_on_opening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("promises.redb");
        drop(reopen(&path).await);
        // A crash after the log's sync, before the move: the promises are in the log only, in
        // both segments.
        let logged = [record(1, 5), record(2, 6), record(3, 6)];
        for (index, records) in [&logged[..1], &logged[1..]].into_iter().enumerate() {
            let (mut log, _) = LogSegment::open(&log_path(&path, index), LOG_LIMIT).unwrap();
            let payloads: Vec<_> = records.iter().map(|r| encode("promise", r).unwrap()).collect();
            log.append(&payloads).unwrap();
        }

        let store = reopen(&path).await;
        assert_eq!(in_memory(&store), 0, "in the database, not in memory");
        assert_eq!(store.from_slot(Slot(0)).unwrap(), logged.to_vec());
        drop(store);
        drop(reopen(&path).await);
        assert_eq!(logged_records(&path), 0, "emptied once moved");
    }
}
