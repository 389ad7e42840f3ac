//! The engine as the services share it: one lock with short critical sections (the block
//! source writes once per notification, the RPC reads), and a broadcast of schedule changes for
//! `lookahead_subscribe`, each serialized to JSON once for every subscriber ([`ScheduleEvent`]).
//!
//! A change is applied in memory under the write lock, encoded for the store, and the lock is
//! released before the database write and its `fsync`: RPC reads never wait for the disk. If the
//! write fails, the engine is reloaded from the database, so memory and disk agree again, and
//! the caller (a block source) must not acknowledge the change; it sends it again.

use crate::{
    core::{
        engine::{Engine, EngineError, Finality, ScheduleChanges},
        journal::Head,
        notification::Notification,
        schedule::ScheduleNotification,
    },
    service::metrics,
    store::{Store, StoreError},
};
use alloy_primitives::{BlockNumber, Log};
use serde_json::value::RawValue;
use std::sync::{
    Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard,
    atomic::{AtomicBool, AtomicU64, Ordering},
};
use tokio::sync::{broadcast, watch};
use tracing::{error, warn};

/// Notifications buffered per subscriber before a slow one starts missing them.
const EVENT_BUFFER: usize = 1024;

/// Why a change to the shared engine did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    /// The engine refused it; nothing changed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Writing it failed; the engine was reloaded at its last durable state (or, if even that
    /// failed, is marked stale). Nothing may be acknowledged: send the change again.
    #[error("the lookahead database write failed: {0}")]
    Store(#[from] StoreError),
}

/// One schedule change as it is broadcast: the notification, and its JSON, serialized by the
/// first subscriber that sends it and shared by all others (nothing is serialized while nobody
/// listens; a thousand subscribers cost one serialization and a thousand copies of the bytes).
#[derive(Debug)]
pub struct ScheduleEvent {
    /// The change.
    pub notification: ScheduleNotification,
    json: OnceLock<Box<RawValue>>,
}

impl ScheduleEvent {
    /// The event of `notification`, not serialized yet.
    pub fn new(notification: ScheduleNotification) -> Self {
        Self { notification, json: OnceLock::new() }
    }

    /// The notification as JSON, exactly as `serde_json` writes a [`ScheduleNotification`]:
    /// serialized on the first call, the same bytes on every later one.
    pub fn json(&self) -> &RawValue {
        self.json.get_or_init(|| {
            serde_json::value::to_raw_value(&self.notification)
                .expect("a schedule notification always serializes")
        })
    }
}

/// The engine shared between a block source and the RPC.
#[derive(Debug)]
pub struct SharedEngine {
    engine: RwLock<Engine>,
    /// Held by the one writer through a whole change, database write included.
    writer: Mutex<()>,
    events: broadcast::Sender<Arc<ScheduleEvent>>,
    /// Counts the times the engine was replaced by the database's state after a failed write:
    /// changes that no event describes.
    reloads: watch::Sender<u64>,
    stale: AtomicBool,
    version: AtomicU64,
}

impl SharedEngine {
    /// Shares `engine`.
    pub fn new(engine: Engine) -> Arc<Self> {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Arc::new(Self {
            engine: RwLock::new(engine),
            writer: Mutex::new(()),
            events,
            reloads: watch::Sender::new(0),
            stale: AtomicBool::new(false),
            version: AtomicU64::new(0),
        })
    }

    /// Read access for queries; hold it briefly.
    pub fn read(&self) -> RwLockReadGuard<'_, Engine> {
        self.engine.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies `notification`, commits it to `store`, and broadcasts the schedule changes once
    /// it is durable.
    pub fn apply(
        &self,
        notification: &Notification,
        store: &mut Store,
    ) -> Result<ScheduleChanges, SharedError> {
        let landed = |engine: &Engine| {
            let head = engine.head().map(|head| head.hash);
            match notification {
                Notification::Committed { new } | Notification::Reorged { new, .. } => {
                    head == Some(new.tip().hash)
                }
                Notification::Reverted { old } => head == Some(old.first().parent_hash),
            }
        };
        let changes = self.change(store, |engine| engine.apply(notification), landed)?;
        let events = self.read().schedule().notifications(&changes);
        for event in events {
            // No subscriber is not an error.
            let _ = self.events.send(Arc::new(ScheduleEvent::new(event)));
        }
        Ok(changes)
    }

    /// Hands the node's safe and finalized blocks to the engine and commits what it pruned.
    pub fn set_finality(&self, finality: Finality, store: &mut Store) -> Result<(), SharedError> {
        let change = |engine: &mut Engine| {
            if engine.state().finality == finality {
                return Ok(());
            }
            engine.set_finality(finality)
        };
        self.change(store, change, |engine| engine.state().finality == finality)
    }

    /// Catches up over finalized history ([`Engine::fast_forward`]) and commits it.
    pub fn fast_forward<'a>(
        &self,
        to: Head,
        logs: impl IntoIterator<Item = (BlockNumber, &'a Log)>,
        store: &mut Store,
    ) -> Result<(), SharedError> {
        let landed = |engine: &Engine| engine.head().is_some_and(|head| head.hash == to.hash);
        self.change(store, |engine| engine.fast_forward(to, logs), landed)
    }

    /// Runs `change` on the engine under the write lock, then writes what it changed outside
    /// the lock. On a failed write the engine is reloaded from `store`; a write reported as
    /// failed may still have reached the disk (a failed final sync), so if the reloaded engine
    /// shows the change `landed`, the change succeeded after all.
    ///
    /// While the database does not reopen, the engine keeps the failed change in memory and is
    /// marked stale; the next change reopens it first, and a change found already durable then
    /// succeeds with nothing more to do (`R::default()`: its notifications were lost with the
    /// failed write).
    fn change<R: Default>(
        &self,
        store: &mut Store,
        change: impl FnOnce(&mut Engine) -> Result<R, EngineError>,
        landed: impl Fn(&Engine) -> bool,
    ) -> Result<R, SharedError> {
        let _writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !store.is_open() {
            self.reload(store)?;
            if landed(&self.read()) {
                self.set_stale(false);
                return Ok(R::default());
            }
        }
        let (result, writes) = {
            let mut engine = self.write();
            let result = change(&mut engine)?;
            (result, store.prepare(&mut engine))
        };
        match writes.and_then(|writes| store.write(&writes)) {
            Ok(()) => {
                self.set_stale(false);
                metrics::record_engine(&self.read());
                Ok(result)
            }
            Err(failed) => {
                warn!(target: "lookahead::shared", error = %failed, "database write failed; reloading the engine at its last durable head");
                match self.reload(store) {
                    Ok(()) if landed(&self.read()) => {
                        warn!(target: "lookahead::shared", "the write reached the disk after all");
                        self.set_stale(false);
                        return Ok(result);
                    }
                    Ok(()) => {}
                    Err(reopen) => {
                        error!(target: "lookahead::shared", %reopen, "the database does not reopen; serving the last state, marked stale until it does");
                    }
                }
                Err(failed.into())
            }
        }
    }

    /// Replaces the engine with the store's last durable state (after a failed write); marks
    /// the engine stale while the database does not reopen.
    fn reload(&self, store: &mut Store) -> Result<(), StoreError> {
        let mut engine = store.recover().inspect_err(|_| self.set_stale(true))?;
        let mut current = self.write();
        engine.set_max_reorg_depth(current.max_reorg_depth());
        *current = engine;
        drop(current);
        self.reloads.send_modify(|reloads| *reloads = reloads.wrapping_add(1));
        Ok(())
    }

    /// The write lock, counting a new engine version.
    fn write(&self) -> RwLockWriteGuard<'_, Engine> {
        let engine = self.engine.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.version.fetch_add(1, Ordering::Release);
        engine
    }

    /// A number that changes whenever the engine may have changed: caches derived from the
    /// engine are valid while it stays the same. Read it while holding [`Self::read`].
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// A receiver of every schedule change from now on; every receiver gets the same
    /// [`ScheduleEvent`], so its JSON is serialized once for all of them.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ScheduleEvent>> {
        self.events.subscribe()
    }

    /// A receiver that changes whenever the engine is replaced by the database's last durable
    /// state after a failed write: what it serves may then have changed (back) without an
    /// event, so a subscriber must re-read.
    pub fn reloaded(&self) -> watch::Receiver<u64> {
        self.reloads.subscribe()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{
        primitives::{ChainId, Slot},
        schedule::ChangeKind,
    };

    #[test]
    fn an_event_is_serialized_once_for_every_subscriber() {
        let notification = ScheduleNotification {
            kind: ChangeKind::Extended,
            chain_id: ChainId::from(10u64),
            from_slot: Slot(64),
            entries: Vec::new(),
        };
        let event = ScheduleEvent::new(notification.clone());
        let first = event.json();
        assert!(std::ptr::eq(first, event.json()), "the second subscriber reuses the first's JSON");
        assert_eq!(first.get(), serde_json::to_string(&notification).unwrap());
    }
}
