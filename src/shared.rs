//! The engine as the services share it: one lock with short critical sections (the block
//! source writes once per notification, the RPC reads), and a broadcast of schedule changes for
//! `lookahead_subscribe`.

use crate::{
    engine::{Engine, EngineError, ScheduleChanges},
    notification::Notification,
    primitives::{ChainId, Slot, Window},
    schedule::{MAX_QUERY_SLOTS, ScheduleEntry},
    telemetry,
};
use serde::{Deserialize, Serialize};
use std::sync::{
    Arc, RwLock, RwLockReadGuard,
    atomic::{AtomicBool, AtomicU64, Ordering},
};
use tokio::sync::broadcast;

/// Notifications buffered per subscriber before a slow one starts missing them.
const EVENT_BUFFER: usize = 1024;

/// Why a schedule notification was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// A new window became fixed.
    Extended,
    /// A reorg changed entries that were already served (the new entries are listed; a window
    /// that is no longer fixed lists none).
    Reorged,
}

/// One rollup's schedule change, as `lookahead_subscribe("schedule")` pushes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleNotification {
    /// Extended or reorged.
    pub kind: ChangeKind,
    /// The rollup.
    pub chain_id: ChainId,
    /// The first slot of the changed windows.
    pub from_slot: Slot,
    /// The new entries of the changed windows that are still fixed.
    pub entries: Vec<ScheduleEntry>,
}

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
        telemetry::record_engine(&engine);
        for event in notifications(&engine, &changes) {
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

/// The per-rollup notifications of `changes`.
fn notifications(engine: &Engine, changes: &ScheduleChanges) -> Vec<ScheduleNotification> {
    let reorged: Vec<Window> = changes.reorged.iter().chain(&changes.retracted).copied().collect();
    let mut events = Vec::new();
    for (kind, windows) in
        [(ChangeKind::Extended, &changes.extended), (ChangeKind::Reorged, &reorged)]
    {
        let Some(first) = windows.iter().min() else { continue };
        let clock = &engine.config().clock;
        let Some(from_slot) = clock.first_slot(*first) else { continue };
        for (chain_id, _) in engine.state().registry.rollups() {
            let entries = windows
                .iter()
                .filter_map(|window| {
                    let start = clock.first_slot(*window)?;
                    let count = (clock.window_slots() as usize).min(MAX_QUERY_SLOTS);
                    engine.schedule(chain_id, start, count).ok()
                })
                .flatten()
                .collect();
            events.push(ScheduleNotification { kind, chain_id, from_slot, entries });
        }
    }
    events
}
