//! The engine as the services share it: one lock with short critical sections (the block
//! source writes once per notification, the RPC reads), and a broadcast of schedule changes for
//! `lookahead_subscribe`.

use crate::{
    core::{
        engine::{Engine, EngineError, ScheduleChanges},
        notification::Notification,
        schedule::ScheduleNotification,
    },
    service::metrics,
};
use std::sync::{
    Arc, RwLock, RwLockReadGuard,
    atomic::{AtomicBool, AtomicU64, Ordering},
};
use tokio::sync::broadcast;

/// Notifications buffered per subscriber before a slow one starts missing them.
const EVENT_BUFFER: usize = 1024;

/// The engine shared between a block source and the RPC.
#[derive(Debug)]
pub struct SharedEngine {
    engine: RwLock<Engine>,
    events: broadcast::Sender<ScheduleNotification>,
    stale: AtomicBool,
    version: AtomicU64,
}

impl SharedEngine {
    /// Shares `engine`.
    pub fn new(engine: Engine) -> Arc<Self> {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Arc::new(Self {
            engine: RwLock::new(engine),
            events,
            stale: AtomicBool::new(false),
            version: AtomicU64::new(0),
        })
    }

    /// Read access for queries; hold it briefly.
    pub fn read(&self) -> RwLockReadGuard<'_, Engine> {
        self.engine.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies `notification`, runs `persist` (the store's commit) under the same lock, and
    /// broadcasts the schedule changes once both succeeded.
    pub fn apply<E>(
        &self,
        notification: &Notification,
        persist: impl FnOnce(&mut Engine) -> Result<(), E>,
    ) -> Result<ScheduleChanges, E>
    where
        E: From<EngineError>,
    {
        let mut engine = self.engine.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let changes = engine.apply(notification)?;
        self.version.fetch_add(1, Ordering::Release);
        persist(&mut engine)?;
        metrics::record_engine(&engine);
        for event in engine.schedule().notifications(&changes) {
            // No subscriber is not an error.
            let _ = self.events.send(event);
        }
        Ok(changes)
    }

    /// Runs `update` with write access (finality updates, commits).
    pub fn update<R>(&self, update: impl FnOnce(&mut Engine) -> R) -> R {
        let mut engine = self.engine.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.version.fetch_add(1, Ordering::Release);
        update(&mut engine)
    }

    /// A number that changes whenever the engine may have changed: caches derived from the
    /// engine are valid while it stays the same. Read it while holding [`Self::read`].
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// A receiver of every schedule change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ScheduleNotification> {
        self.events.subscribe()
    }

    /// Marks the state as stale (the block source lost its node) or fresh again.
    pub fn set_stale(&self, stale: bool) {
        self.stale.store(stale, Ordering::Relaxed);
    }

    /// Whether the block source has lost its node.
    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Relaxed)
    }
}
