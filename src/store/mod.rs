//! Crash-safe persistence of the engine in a redb database (one ACID file).
//!
//! [`Store::commit`] writes everything one notification changed — registry records, anchors,
//! journal entries, the journal base, finality and counters — in one write transaction, made
//! durable before it returns. After a crash at any point the database holds the state of the
//! last committed notification, so the engine resumes at that head: nothing is recomputed from
//! genesis. A block source reports a block as processed (Reth's `FinishedHeight`) only after
//! the commit that holds it.
//!
//! A commit is two steps, so that the slow one needs no access to the engine:
//! [`Store::prepare`] encodes what changed into a [`WriteSet`] (under the engine's lock), and
//! [`Store::write`] writes and syncs it (outside the lock). A failed write loses nothing: the
//! write set still holds the changes, [`Store::commit`] hands them back to the engine, and
//! [`Store::recover`] reopens the database (redb refuses further writes after an I/O error) and
//! reloads the engine at its last durable state, so memory and disk agree again.

pub mod faults;

use crate::core::{
    engine::{Dirty, Engine, EngineConfig, EngineState, Finality, Stats},
    journal::{BlockUndo, Head, Journal},
    primitives::{ChainId, Window},
    registry::{Registry, Rollup},
    seed::Anchor,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Serialize, de::DeserializeOwned};
use std::{collections::BTreeMap, fmt, path::Path};

/// Bumped whenever the stored layout changes; a database of another version is refused.
const SCHEMA_VERSION: u32 = 3;

const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const ROLLUPS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("rollups");
const ANCHORS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("anchors");
const JOURNAL: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("journal");

const VERSION_KEY: &str = "version";
const CONFIG_KEY: &str = "config";
const BASE_KEY: &str = "journal_base";
const FINALITY_KEY: &str = "finality";
const STATS_KEY: &str = "stats";

/// What redb or the value codec reported: the failures every redb database of the project
/// shares (the engine's here, the preconf sequencer's promises).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The file could not be opened as a database.
    #[error("opening the database: {0}")]
    Open(#[from] redb::DatabaseError),
    /// A transaction could not start.
    #[error("starting a database transaction: {0}")]
    Transaction(#[from] redb::TransactionError),
    /// A table could not be opened.
    #[error("opening a database table: {0}")]
    Table(#[from] redb::TableError),
    /// Reading or writing failed.
    #[error("database storage: {0}")]
    Storage(#[from] redb::StorageError),
    /// The commit did not complete.
    #[error("committing to the database: {0}")]
    Commit(#[from] redb::CommitError),
    /// A stored value does not decode (or a value does not encode).
    #[error("stored value {key}: {source}")]
    Codec {
        /// Which value.
        key: String,
        /// The codec's error.
        source: postcard::Error,
    },
}

/// Implements `From` each of redb's error types for an error enum with a `Db(DbError)`
/// variant, so `?` works on redb calls in functions that return it.
macro_rules! from_redb_errors {
    ($error:ty) => {
        $crate::store::from_redb_errors!(@each $error: redb::DatabaseError, redb::TransactionError,
            redb::TableError, redb::StorageError, redb::CommitError);
    };
    (@each $error:ty: $($source:ty),+) => {
        $(impl From<$source> for $error {
            fn from(source: $source) -> Self {
                Self::Db(source.into())
            }
        })+
    };
}
pub(crate) use from_redb_errors;

/// Why the engine's database could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// redb or the codec failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The database was written by another schema version.
    #[error("database schema version {found}, this build reads version {SCHEMA_VERSION}")]
    Version {
        /// The stored version.
        found: u32,
    },
    /// The database was closed after a failed write and could not be reopened yet.
    #[error("the database is closed after a failed write; it reopens on the next recovery")]
    Closed,
    /// The database follows another registry, deployment block or time base.
    #[error("database was created for {stored:?}, but the configuration is {configured:?}")]
    ConfigMismatch {
        /// What the database was created for.
        stored: Box<EngineConfig>,
        /// What was asked for now.
        configured: Box<EngineConfig>,
    },
}

from_redb_errors!(StoreError);

/// Opens the database file (or a custom redb backend): called at start and on recovery.
type OpenDatabase = Box<dyn Fn() -> Result<Database, redb::DatabaseError> + Send + Sync>;

/// The engine's database.
pub struct Store {
    /// `None` between a failed write and a successful [`Store::recover`].
    db: Option<Database>,
    open: OpenDatabase,
    config: EngineConfig,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("open", &self.db.is_some()).finish_non_exhaustive()
    }
}

/// What one commit writes, and the engine's dirty set it was encoded from (handed back if the
/// write fails).
#[derive(Debug)]
pub struct WriteSet {
    dirty: Dirty,
    writes: Writes,
}

impl WriteSet {
    /// Gives the changes back, to be written by a later commit.
    pub fn into_dirty(self) -> Dirty {
        self.dirty
    }
}

/// Every changed key with its encoded value; `None` removes the key.
#[derive(Debug)]
struct Writes {
    rollups: Vec<([u8; 32], Option<Vec<u8>>)>,
    anchors: Vec<(u64, Option<Vec<u8>>)>,
    journal: Vec<(u64, Option<Vec<u8>>)>,
    meta: [(&'static str, Vec<u8>); 3],
}

impl Store {
    /// Opens (or creates) the database at `path` and the engine it holds, refusing one that
    /// was created for another configuration.
    pub fn open(path: &Path, config: EngineConfig) -> Result<(Self, Engine), StoreError> {
        let path = path.to_owned();
        Self::open_with(move || Database::create(&path), config)
    }

    /// [`Store::open`] on a database that `open` creates or opens (a file, or a custom redb
    /// `StorageBackend`); `open` is called again by [`Store::recover`].
    pub fn open_with(
        open: impl Fn() -> Result<Database, redb::DatabaseError> + Send + Sync + 'static,
        config: EngineConfig,
    ) -> Result<(Self, Engine), StoreError> {
        let db = open()?;
        let store = Self { db: Some(db), open: Box::new(open), config };
        store.initialize(&config)?;
        let engine = store.load()?;
        Ok((store, engine))
    }

    /// Writes what the engine changed since the last commit, durably and atomically. On error
    /// the engine keeps its changes to write, so a later commit (after [`Store::recover`] if
    /// the database reported an I/O error) writes them all.
    pub fn commit(&self, engine: &mut Engine) -> Result<(), StoreError> {
        let writes = self.prepare(engine)?;
        let written = self.write(&writes);
        if written.is_err() {
            engine.restore_dirty(writes.into_dirty());
        }
        written
    }

    /// Encodes what the engine changed since the last commit; takes the engine's dirty set
    /// (given back if encoding fails).
    pub fn prepare(&self, engine: &mut Engine) -> Result<WriteSet, StoreError> {
        let dirty = engine.take_dirty();
        match Writes::encode(engine, &dirty) {
            Ok(writes) => Ok(WriteSet { dirty, writes }),
            Err(error) => {
                engine.restore_dirty(dirty);
                Err(error.into())
            }
        }
    }

    /// Writes `writes` in one transaction and makes it durable.
    pub fn write(&self, writes: &WriteSet) -> Result<(), StoreError> {
        let writes = &writes.writes;
        let txn = self.db()?.begin_write()?;
        {
            let mut rollups = txn.open_table(ROLLUPS)?;
            for (key, value) in &writes.rollups {
                match value {
                    Some(value) => rollups.insert(key.as_slice(), value.as_slice())?,
                    None => rollups.remove(key.as_slice())?,
                };
            }
            let mut anchors = txn.open_table(ANCHORS)?;
            for (window, value) in &writes.anchors {
                match value {
                    Some(value) => anchors.insert(*window, value.as_slice())?,
                    None => anchors.remove(*window)?,
                };
            }
            let mut journal = txn.open_table(JOURNAL)?;
            for (number, value) in &writes.journal {
                match value {
                    Some(value) => journal.insert(*number, value.as_slice())?,
                    None => journal.remove(*number)?,
                };
            }
            let mut meta = txn.open_table(META)?;
            for (key, value) in &writes.meta {
                meta.insert(*key, value.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Reopens the database and loads the engine at its last durable state: what a block
    /// source does after a failed write, so that memory and disk agree again and the blocks
    /// that were not written are applied again.
    pub fn recover(&mut self) -> Result<Engine, StoreError> {
        self.db = None;
        self.db = Some((self.open)()?);
        self.load()
    }

    /// Whether the database is open; it is closed after a failed [`Store::recover`] until one
    /// succeeds.
    pub const fn is_open(&self) -> bool {
        self.db.is_some()
    }

    fn db(&self) -> Result<&Database, StoreError> {
        self.db.as_ref().ok_or(StoreError::Closed)
    }

    /// Creates the tables of a new database, or checks the version and configuration of an
    /// existing one.
    fn initialize(&self, config: &EngineConfig) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let stored_version =
                meta.get(VERSION_KEY)?.map(|v| decode::<u32>(VERSION_KEY, v.value()));
            match stored_version.transpose()? {
                Some(SCHEMA_VERSION) => {}
                Some(found) => return Err(StoreError::Version { found }),
                None => {
                    meta.insert(VERSION_KEY, encode(VERSION_KEY, &SCHEMA_VERSION)?.as_slice())?;
                    meta.insert(CONFIG_KEY, encode(CONFIG_KEY, config)?.as_slice())?;
                }
            }
            let stored =
                meta.get(CONFIG_KEY)?.map(|v| decode::<EngineConfig>(CONFIG_KEY, v.value()));
            if let Some(stored) = stored.transpose()?
                && stored != *config
            {
                return Err(StoreError::ConfigMismatch {
                    stored: Box::new(stored),
                    configured: Box::new(*config),
                });
            }
            txn.open_table(ROLLUPS)?;
            txn.open_table(ANCHORS)?;
            txn.open_table(JOURNAL)?;
        }
        txn.commit()?;
        Ok(())
    }

    fn load(&self) -> Result<Engine, StoreError> {
        let txn = self.db()?.begin_read()?;
        let meta = txn.open_table(META)?;
        let read_meta = |key: &str| -> Result<Option<Vec<u8>>, StoreError> {
            Ok(meta.get(key)?.map(|value| value.value().to_vec()))
        };
        let base: Option<Head> = match read_meta(BASE_KEY)? {
            Some(bytes) => decode(BASE_KEY, &bytes)?,
            None => None,
        };
        let finality: Finality = read_meta(FINALITY_KEY)?
            .map(|b| decode(FINALITY_KEY, &b))
            .transpose()?
            .unwrap_or_default();
        let stats: Stats =
            read_meta(STATS_KEY)?.map(|b| decode(STATS_KEY, &b)).transpose()?.unwrap_or_default();

        let mut rollups = BTreeMap::new();
        for row in txn.open_table(ROLLUPS)?.iter()? {
            let (key, value) = row?;
            let chain_id = ChainId(alloy_primitives::U256::from_be_slice(key.value()));
            rollups.insert(chain_id, decode::<Rollup>("rollup", value.value())?);
        }
        let mut anchors = BTreeMap::new();
        for row in txn.open_table(ANCHORS)?.iter()? {
            let (key, value) = row?;
            anchors.insert(Window(key.value()), decode::<Anchor>("anchor", value.value())?);
        }
        let mut entries = Vec::new();
        for row in txn.open_table(JOURNAL)?.iter()? {
            let (_, value) = row?;
            entries.push(decode::<BlockUndo>("journal entry", value.value())?);
        }
        let state = EngineState {
            registry: Registry::from_rollups(rollups),
            anchors,
            journal: Journal::from_parts(base, entries),
            finality,
        };
        Ok(Engine::from_parts(self.config, state, stats))
    }
}

impl Writes {
    /// The keys and encoded values of what `dirty` names.
    fn encode(engine: &Engine, dirty: &Dirty) -> Result<Self, DbError> {
        let state = engine.state();
        let rollups = dirty
            .rollups
            .iter()
            .map(|chain_id| {
                let value =
                    state.registry.rollup(*chain_id).map(|r| encode("rollup", r)).transpose()?;
                Ok((chain_id.0.to_be_bytes::<32>(), value))
            })
            .collect::<Result<_, DbError>>()?;
        let anchors = dirty
            .anchors
            .iter()
            .map(|window| {
                let value = state.anchors.get(window).map(|a| encode("anchor", a)).transpose()?;
                Ok((window.0, value))
            })
            .collect::<Result<_, DbError>>()?;
        let journal = dirty
            .journal
            .iter()
            .map(|&number| {
                let value =
                    state.journal.get(number).map(|e| encode("journal entry", e)).transpose()?;
                Ok((number, value))
            })
            .collect::<Result<_, DbError>>()?;
        let meta = [
            (BASE_KEY, encode(BASE_KEY, &state.journal.base())?),
            (FINALITY_KEY, encode(FINALITY_KEY, &state.finality)?),
            (STATS_KEY, encode(STATS_KEY, engine.stats())?),
        ];
        Ok(Self { rollups, anchors, journal, meta })
    }
}

/// `value` in the stored encoding (postcard); `key` names it in the error.
pub(crate) fn encode<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Vec<u8>, DbError> {
    postcard::to_allocvec(value).map_err(|source| DbError::Codec { key: key.into(), source })
}

/// A stored value; `key` names it in the error.
pub(crate) fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, DbError> {
    postcard::from_bytes(bytes).map_err(|source| DbError::Codec { key: key.into(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{
        clock::SlotClock,
        notification::{Block, Chain, Notification},
    };
    use alloy_primitives::{Address, B256, Bloom};
    use std::sync::Arc;

    fn config(registry: u8) -> EngineConfig {
        EngineConfig {
            registry: Address::repeat_byte(registry),
            deployment_block: 1,
            clock: SlotClock::new(1_000, 12, 4).unwrap(),
        }
    }

    fn blocks(count: u64) -> Vec<Block> {
        let mut blocks: Vec<Block> = Vec::new();
        for number in 1..=count {
            let parent_hash = blocks.last().map_or(B256::ZERO, |b| b.hash);
            blocks.push(Block {
                number,
                hash: B256::with_last_byte(number as u8),
                parent_hash,
                timestamp: 1_000 + 12 * number,
                prevrandao: B256::repeat_byte(number as u8),
                logs_bloom: Bloom::ZERO,
                logs: Vec::new(),
            });
        }
        blocks
    }

    #[test]
    fn reopens_with_the_committed_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let (store, mut engine) = Store::open(&path, config(1)).unwrap();
        let new = Arc::new(Chain::new(blocks(12)).unwrap());
        engine.apply(&Notification::Committed { new }).unwrap();
        store.commit(&mut engine).unwrap();
        drop(store);

        let (_, reopened) = Store::open(&path, config(1)).unwrap();
        assert_eq!(reopened.state(), engine.state());
        assert_eq!(reopened.stats(), engine.stats());
        assert_eq!(reopened.head().map(|h| h.number), Some(12));
    }

    #[test]
    fn refuses_a_database_of_another_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        drop(Store::open(&path, config(1)).unwrap());
        let error = Store::open(&path, config(2)).unwrap_err();
        assert!(matches!(error, StoreError::ConfigMismatch { .. }), "{error}");
    }
}
