//! The promises a sequencer issued, in a redb database: written durably before a promise is
//! returned, so after a restart (even a crash) a retried `preconf_confirm` finds the same
//! promise and the slot's promised gas is counted again.
//!
//! Writes go through one writer thread that commits every promise waiting at that moment in
//! one transaction (group commit): one `fsync` serves many concurrent confirmations.

use super::{book::LockId, promise::Promise};
use crate::{
    core::primitives::Slot,
    store::{DbError, decode, encode, from_redb_errors},
};
use redb::{Database, ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};
use std::{path::Path, sync::Arc};
use tokio::sync::{mpsc, oneshot};

const PROMISES: TableDefinition<'_, [u8; 32], &[u8]> = TableDefinition::new("promises");
const BY_SLOT: TableDefinition<'_, (u64, [u8; 32]), ()> = TableDefinition::new("promises_by_slot");

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
    /// The writer thread could not start, failed or stopped.
    #[error("promise writer: {0}")]
    Writer(String),
}

from_redb_errors!(PromiseStoreError);

type Batch = (Vec<PromiseRecord>, oneshot::Sender<Result<(), PromiseStoreError>>);

/// The promise database.
#[derive(Clone, Debug)]
pub struct PromiseStore {
    db: Arc<Database>,
    writer: mpsc::UnboundedSender<Batch>,
}

impl PromiseStore {
    /// Opens (or creates) the database at `path` and starts its writer thread, which ends
    /// when the last handle is dropped.
    pub fn open(path: &Path) -> Result<Self, PromiseStoreError> {
        let db = Arc::new(Database::create(path)?);
        let txn = db.begin_write()?;
        txn.open_table(PROMISES)?;
        txn.open_table(BY_SLOT)?;
        txn.commit()?;
        let (writer, batches) = mpsc::unbounded_channel();
        let thread_db = db.clone();
        std::thread::Builder::new()
            .name("promise-store".into())
            .spawn(move || write_batches(&thread_db, batches))
            .map_err(|error| PromiseStoreError::Writer(format!("starting its thread: {error}")))?;
        Ok(Self { db, writer })
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
        let txn = self.db.begin_read()?;
        let index = txn.open_table(BY_SLOT)?;
        let promises = txn.open_table(PROMISES)?;
        let mut records = Vec::new();
        for entry in index.range((from.0, [0u8; 32])..(to.0, [0u8; 32]))? {
            let (key, _) = entry?;
            let (_, lock_id) = key.value();
            if let Some(bytes) = promises.get(lock_id)? {
                records.push(decode("promise", bytes.value())?);
            }
        }
        Ok(records)
    }
}

/// The writer thread: takes every batch waiting, writes them in one transaction, answers all.
fn write_batches(db: &Database, mut batches: mpsc::UnboundedReceiver<Batch>) {
    while let Some(first) = batches.blocking_recv() {
        let mut waiting = vec![first];
        while let Ok(more) = batches.try_recv() {
            waiting.push(more);
        }
        let result = write(db, waiting.iter().flat_map(|(records, _)| records));
        for (_, done) in waiting {
            let answer =
                result.as_ref().map_err(|error| PromiseStoreError::Writer(error.to_string()));
            let _ = done.send(answer.copied());
        }
    }
}

fn write<'a>(
    db: &Database,
    records: impl Iterator<Item = &'a PromiseRecord>,
) -> Result<(), PromiseStoreError> {
    let txn = db.begin_write()?;
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
        // The writer thread lets go of the file once it sees the last handle dropped.
        let store = loop {
            match PromiseStore::open(&path) {
                Ok(store) => break store,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        };
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
}
