//! A redb storage backend that fails on command, for fault-injection tests of whatever uses a
//! [`Store`](super::Store): the database is a real file, and from a chosen write or sync on,
//! every write and sync fails as a full disk or a failing device makes them fail, until healed.

use redb::{Database, DatabaseError, StorageBackend, StorageError, backends::FileBackend};
use std::{
    fs::{File, OpenOptions},
    io,
    ops::Bound,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

/// When the backend fails: shared between the test and the backend it arms.
#[derive(Debug)]
pub struct Faults {
    /// Writes and syncs done so far.
    operations: AtomicU64,
    /// The operation from which on every write and sync fails (`u64::MAX`: never).
    fail_from: AtomicU64,
    /// Operations that failed.
    injected: AtomicU64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            operations: AtomicU64::new(0),
            fail_from: AtomicU64::new(u64::MAX),
            injected: AtomicU64::new(0),
        }
    }
}

impl Faults {
    /// Lets `operations` more writes or syncs succeed, then fails every one after them.
    pub fn fail_after(&self, operations: u64) {
        let now = self.operations.load(Ordering::SeqCst);
        self.fail_from.store(now.saturating_add(operations), Ordering::SeqCst);
    }

    /// Lets every write and sync succeed again (space was freed, the device came back).
    pub fn heal(&self) {
        self.fail_from.store(u64::MAX, Ordering::SeqCst);
    }

    /// How many writes or syncs failed so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    fn check(&self) -> io::Result<()> {
        let operation = self.operations.fetch_add(1, Ordering::SeqCst);
        if operation >= self.fail_from.load(Ordering::SeqCst) {
            self.injected.fetch_add(1, Ordering::SeqCst);
            return Err(io::Error::new(io::ErrorKind::StorageFull, "injected: no space left"));
        }
        Ok(())
    }
}

/// Opens (or creates) the database file at `path` on a [`FaultyBackend`] armed by `faults`:
/// what [`Store::open_with`](super::Store::open_with) takes, and calls again on recovery.
pub fn faulty_database(
    path: &Path,
    faults: Arc<Faults>,
) -> impl Fn() -> Result<Database, DatabaseError> + Send + Sync + 'static {
    let path: PathBuf = path.to_owned();
    move || {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|error| DatabaseError::Storage(StorageError::Io(error)))?;
        redb::Builder::new().create_with_backend(FaultyBackend::new(file, Arc::clone(&faults))?)
    }
}

/// A file backend whose writes and syncs fail when its [`Faults`] say so.
#[derive(Debug)]
pub struct FaultyBackend {
    inner: FileBackend,
    faults: Arc<Faults>,
}

impl FaultyBackend {
    /// The backend of `file`, failing as `faults` is armed.
    pub fn new(file: File, faults: Arc<Faults>) -> Result<Self, redb::DatabaseError> {
        Ok(Self { inner: FileBackend::new(file)?, faults })
    }
}

impl StorageBackend for FaultyBackend {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.faults.check()?;
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.faults.check()?;
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.faults.check()?;
        self.inner.write(offset, data)
    }

    fn close(&self) -> io::Result<()> {
        self.inner.close()
    }

    fn try_lock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<(), redb::BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), redb::BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.inner.query_lock_range(start, end)
    }
}
