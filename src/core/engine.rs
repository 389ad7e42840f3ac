//! The lookahead engine: a synchronous state machine that turns canonical-chain
//! [`Notification`]s and finality updates into the registry mirror and the window anchors that
//! fix each window's schedule (SPEC §3–§5). No I/O, no clocks: the block sources (the Reth ExEx,
//! the JSON-RPC follower) feed it, the [`store`](crate::store) persists it, the RPC reads it.
//!
//! Reorgs are exact: every processed block leaves a [`BlockUndo`] in the [`Journal`], and a
//! revert replays it backwards, so after any sequence of commits, reverts and reorgs the state
//! equals the state computed from scratch over the final canonical chain. Undo data is kept only
//! for blocks that are not finalized.
//!
//! A block fixes the anchor of every window `W` whose boundary (the start of window `W-1`) lies
//! in `(parent.timestamp, block.timestamp]`: the parent is then the last block before that
//! boundary, i.e. `anchor(W)`. Only the windows still served (the last [`SERVED_PAST_WINDOWS`]
//! before the head's and later) are kept when a long gap opens many windows at once.

use crate::core::{
    clock::SlotClock,
    journal::{BlockUndo, Head, Journal},
    notification::{Block, Chain, Notification},
    primitives::{ChainId, Slot, Window},
    registry::{Registry, Undo, decode_log},
    schedule::Schedule,
    seed::Anchor,
};
use alloy_primitives::{Address, B256, BlockNumber, BloomInput, Log, keccak256};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use tracing::{debug, warn};

/// Windows before the head's window that are still served; older ones are "too old". Beyond
/// this, a freed index may have been reused, so a past schedule would no longer be reproducible.
pub const SERVED_PAST_WINDOWS: u64 = 2;

/// Unfinalized blocks kept for undo unless configured otherwise
/// ([`Engine::set_max_reorg_depth`]): about 13.6 hours of mainnet blocks, far beyond any reorg
/// a finalizing chain makes, and a bound on memory when the node reports no finality at all.
pub const DEFAULT_MAX_REORG_DEPTH: u64 = 4096;

/// What the engine follows: which registry, from which block, on which time base.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// The `SequencerRegistry` address; logs of any other emitter are ignored.
    pub registry: Address,
    /// The block that deployed the registry; earlier blocks are skipped.
    pub deployment_block: BlockNumber,
    /// Genesis time, slot length and window size, as the registry reports them.
    pub clock: SlotClock,
}

/// A block by number and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockRef {
    /// Block number.
    pub number: BlockNumber,
    /// Block hash.
    pub hash: B256,
}

/// The node's `safe` and `finalized` blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finality {
    /// The latest safe block.
    pub safe: Option<BlockRef>,
    /// The latest finalized block: blocks up to it can no longer be reverted.
    pub finalized: Option<BlockRef>,
}

/// Counters of what the engine has done, for status and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Blocks applied (re-applied blocks count again).
    pub blocks_processed: u64,
    /// Reverts and reorgs that removed at least one processed block.
    pub reorgs: u64,
    /// The most blocks removed by one revert or reorg.
    pub deepest_reorg: u64,
    /// Registry events applied to the mirror.
    pub events_applied: u64,
    /// Registry logs that did not decode or did not apply, skipped with a warning.
    pub logs_skipped: u64,
}

/// Everything that follows from the canonical chain and the finality updates: two engines fed
/// the same final chain and finality have equal states, however they got there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineState {
    /// The registry mirror.
    pub registry: Registry,
    /// The anchor of every fixed window still kept.
    pub anchors: BTreeMap<Window, Anchor>,
    /// Undo data of the unfinalized blocks; its newest entry is the head.
    pub journal: Journal,
    /// The node's safe and finalized blocks.
    pub finality: Finality,
}

/// Why a notification was refused. The engine is unchanged when it returns one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// A committed block does not extend the head.
    #[error("block {number} (parent {parent_hash}) does not extend the head {head:?}")]
    NotChild {
        /// The block's number.
        number: BlockNumber,
        /// The block's parent hash.
        parent_hash: B256,
        /// The head it should have extended.
        head: Option<BlockRef>,
    },
    /// A reverted chain does not end at the head.
    #[error("cannot revert to block {number} ({hash}): it is not the head {head:?}")]
    NotHead {
        /// The reverted chain's tip number.
        number: BlockNumber,
        /// The reverted chain's tip hash.
        hash: B256,
        /// The engine's head.
        head: Option<BlockRef>,
    },
    /// A fast-forward target is not after the head.
    #[error("cannot fast-forward to block {number}: the head {head:?} is not before it")]
    NotAhead {
        /// The target.
        number: BlockNumber,
        /// The engine's head.
        head: Option<BlockRef>,
    },
    /// A fast-forward was asked for while unfinalized blocks are in the journal.
    #[error("cannot fast-forward: block {number} is not finalized yet")]
    Unfinalized {
        /// The oldest unfinalized processed block.
        number: BlockNumber,
    },
    /// A reverted block is finalized, older than the reorg depth kept, or was never processed.
    #[error(
        "cannot revert block {number} ({hash}): not in the undo journal (finalized, deeper than \
         the reorg depth kept, or never processed)"
    )]
    BeyondJournal {
        /// The block's number.
        number: BlockNumber,
        /// The block's hash.
        hash: B256,
    },
    /// A committed block's timestamp is below the head's.
    #[error("block {number} has timestamp {timestamp}, before the head's {head_timestamp}")]
    TimeGoesBackwards {
        /// The block's number.
        number: BlockNumber,
        /// Its timestamp.
        timestamp: u64,
        /// The head's timestamp.
        head_timestamp: u64,
    },
    /// The node's finalized block is not the block the engine processed at that height: the
    /// node contradicts the chain it served. Nothing is pruned and the finality is not taken.
    #[error(
        "the node's finalized block {number} ({node}) is not the processed block {ours}: \
         finality ignored, nothing pruned"
    )]
    FinalizedMismatch {
        /// The height.
        number: BlockNumber,
        /// The node's finalized hash.
        node: B256,
        /// The processed block's hash at that height.
        ours: B256,
    },
}

/// How one notification changed the fixed schedule, by window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScheduleChanges {
    /// Windows that became fixed.
    pub extended: Vec<Window>,
    /// Fixed windows whose anchor a reorg replaced: their entries changed.
    pub reorged: Vec<Window>,
    /// Windows that were fixed and no longer are (a revert took back their anchor).
    pub retracted: Vec<Window>,
    /// Rollups with a record whose served data changed without changing who is selected in a
    /// fixed window — its endpoint (`EndpointUpdated`), bond or misses (`Slashed`,
    /// `MissReported`), or exit window (`ExitRequested`, `Slashed`, `Evicted`: always at least
    /// three windows ahead, beyond the horizon) — applied or reverted: served entries carry the
    /// new data at once.
    pub endpoints: BTreeSet<ChainId>,
}

impl ScheduleChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.extended.is_empty()
            && self.reorged.is_empty()
            && self.retracted.is_empty()
            && self.endpoints.is_empty()
    }
}

/// The head as a status report gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadStatus {
    /// Block number.
    pub number: BlockNumber,
    /// Block hash.
    pub hash: B256,
    /// Its slot (`null` before genesis).
    pub slot: Option<Slot>,
}

/// Reorgs seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReorgStatus {
    /// Reverts and reorgs that removed processed blocks.
    pub count: u64,
    /// The most blocks one of them removed.
    pub deepest: u64,
}

/// A summary of the engine, in the shape of `lookahead_status` (SPEC §6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineStatus {
    /// The newest processed block.
    pub head: Option<HeadStatus>,
    /// The node's safe block.
    pub safe: Option<BlockRef>,
    /// The node's finalized block.
    pub finalized: Option<BlockRef>,
    /// The registry followed.
    pub registry: Address,
    /// Slots per window.
    pub window_slots: u64,
    /// The last slot whose schedule is fixed.
    pub fixed_until_slot: Option<Slot>,
    /// The registered rollups.
    pub rollups: Vec<ChainId>,
    /// Reorgs seen.
    pub reorgs: ReorgStatus,
}

/// Keys of persisted state written since the last [`Engine::take_dirty`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dirty {
    /// Rollups whose record changed.
    pub rollups: BTreeSet<ChainId>,
    /// Windows whose anchor was set, replaced or removed.
    pub anchors: BTreeSet<Window>,
    /// Block numbers whose journal entry was added or removed: each block applied or
    /// reverted, and the blocks pruned (never the unchanged ones in between).
    pub journal: BTreeSet<BlockNumber>,
}

impl Dirty {
    fn journal(&mut self, from: BlockNumber, to: BlockNumber) {
        self.journal.extend(from..=to);
    }

    fn undo(&mut self, undo: &Undo) {
        self.rollups.insert(undo.chain_id());
    }

    /// Adds `other`'s keys to these.
    fn merge(&mut self, other: Self) {
        self.rollups.extend(other.rollups);
        self.anchors.extend(other.anchors);
        self.journal.extend(other.journal);
    }
}

/// What one notification touched, collected while it applies.
#[derive(Default)]
struct Touched {
    /// Each window whose anchor was set or removed, with its anchor hash before.
    anchors: BTreeMap<Window, Option<B256>>,
    /// Rollups with a record whose served data changed ([`ScheduleChanges::endpoints`]).
    endpoints: BTreeSet<ChainId>,
}

/// The lookahead engine.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    registry_bloom: B256,
    state: EngineState,
    stats: Stats,
    /// When the window after the head's starts: blocks before it fix no anchor.
    next_boundary: u128,
    /// Unfinalized blocks kept for undo at most; older ones are treated as final.
    max_reorg_depth: u64,
    dirty: Dirty,
}

impl Engine {
    /// A fresh engine that has processed nothing.
    pub fn new(config: EngineConfig) -> Self {
        Self::from_parts(config, EngineState::default(), Stats::default())
    }

    /// An engine resumed from persisted state.
    pub fn from_parts(config: EngineConfig, state: EngineState, stats: Stats) -> Self {
        let mut engine = Self {
            config,
            registry_bloom: keccak256(config.registry),
            state,
            stats,
            next_boundary: 0,
            max_reorg_depth: DEFAULT_MAX_REORG_DEPTH,
            dirty: Dirty::default(),
        };
        engine.next_boundary = engine.boundary_after_head();
        engine
    }

    /// Keeps at most `depth` (at least 1) unfinalized blocks for undo: older ones are treated
    /// as final, and a reorg deeper than `depth` is refused. Bounds memory and the database when
    /// the node reports no finality.
    pub fn set_max_reorg_depth(&mut self, depth: u64) {
        self.max_reorg_depth = depth.max(1);
        self.bound_journal();
    }

    /// The most unfinalized blocks kept for undo.
    pub const fn max_reorg_depth(&self) -> u64 {
        self.max_reorg_depth
    }

    /// The configuration.
    pub const fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The canonical state.
    pub const fn state(&self) -> &EngineState {
        &self.state
    }

    /// The counters.
    pub const fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The newest processed block.
    pub fn head(&self) -> Option<&Head> {
        self.state.journal.head()
    }

    /// The schedule this engine serves.
    pub const fn schedule(&self) -> Schedule<'_> {
        Schedule::new(self)
    }

    /// A summary for status reports.
    pub fn status(&self) -> EngineStatus {
        let clock = &self.config.clock;
        EngineStatus {
            head: self.head().map(|head| HeadStatus {
                number: head.number,
                hash: head.hash,
                slot: clock.slot_at(head.timestamp),
            }),
            safe: self.state.finality.safe,
            finalized: self.state.finality.finalized,
            registry: self.config.registry,
            window_slots: clock.window_slots(),
            fixed_until_slot: self.schedule().fixed_until(),
            rollups: self.state.registry.rollups().map(|(chain_id, _)| chain_id).collect(),
            reorgs: ReorgStatus { count: self.stats.reorgs, deepest: self.stats.deepest_reorg },
        }
    }

    /// The keys changed since the last call, for the store to write; resets the tracking.
    pub fn take_dirty(&mut self) -> Dirty {
        std::mem::take(&mut self.dirty)
    }

    /// Gives back keys taken by [`Engine::take_dirty`] whose write failed, so the next commit
    /// writes them too.
    pub fn restore_dirty(&mut self, dirty: Dirty) {
        self.dirty.merge(dirty);
    }

    /// Applies one notification: reverts the blocks it removes, then applies the blocks it
    /// adds. Blocks before the registry's deployment are skipped. Either the whole notification
    /// applies or, on error, nothing does.
    pub fn apply(&mut self, notification: &Notification) -> Result<ScheduleChanges, EngineError> {
        let (reverted, committed) = match notification {
            Notification::Committed { new } => (None, Some(new)),
            Notification::Reverted { old } => (Some(old), None),
            Notification::Reorged { old, new } => (Some(old), Some(new)),
        };
        let old = reverted.map(|chain| self.processed(chain)).unwrap_or_default();
        let new = committed.map(|chain| self.processed(chain)).unwrap_or_default();

        self.check_revert(old)?;
        let base = match old.first() {
            Some(first) => self.head_before(first.number),
            None => self.head().copied(),
        };
        if let Some(first) = new.first() {
            check_extends(base.as_ref(), first)?;
        }

        let mut touched = Touched::default();
        if !old.is_empty() {
            for block in old.iter().rev() {
                self.revert_block(block, &mut touched);
            }
            self.stats.reorgs += 1;
            self.stats.deepest_reorg = self.stats.deepest_reorg.max(old.len() as u64);
            debug!(target: "lookahead::engine", depth = old.len(), "reverted blocks");
        }
        for block in new {
            self.apply_block(block, &mut touched);
        }
        self.bound_journal();
        Ok(self.changes(touched))
    }

    /// Records the node's safe and finalized blocks, and prunes what finality makes permanent:
    /// journal entries up to the finalized block, and anchors of windows no longer served.
    ///
    /// A finalized number below the one already recorded is ignored (finality never moves
    /// back). Only a finalized block the engine has processed prunes anything — one beyond the
    /// head is recorded and prunes once it is processed — and a finalized block that is not
    /// the processed block at its height is refused ([`EngineError::FinalizedMismatch`]):
    /// nothing changes, so a reorg to the node's chain stays possible.
    pub fn set_finality(&mut self, finality: Finality) -> Result<(), EngineError> {
        let finalized = match (self.state.finality.finalized, finality.finalized) {
            (Some(current), Some(new)) if new.number < current.number => {
                warn!(
                    target: "lookahead::engine",
                    current = current.number, node = new.number,
                    "the node's finalized block went backwards; keeping the higher one"
                );
                Some(current)
            }
            (current, new) => new.or(current),
        };
        if let Some(finalized) = finalized
            && let Some(ours) = self.processed_hash(finalized.number)
            && ours != finalized.hash
        {
            return Err(EngineError::FinalizedMismatch {
                number: finalized.number,
                node: finalized.hash,
                ours,
            });
        }
        self.state.finality = Finality { safe: finality.safe, finalized };
        if let Some(finalized) = finalized
            && self.head().is_some_and(|head| head.number >= finalized.number)
        {
            self.prune_through(finalized.number);
        }
        Ok(())
    }

    /// The hash of the processed block `number`, if it is in the journal or is its base.
    fn processed_hash(&self, number: BlockNumber) -> Option<B256> {
        let journal = &self.state.journal;
        match journal.get(number) {
            Some(entry) => Some(entry.head.hash),
            None => journal.base().filter(|base| base.number == number).map(|base| base.hash),
        }
    }

    /// Makes blocks up to `number` permanent: drops their journal entries and the anchors of
    /// windows no longer served.
    fn prune_through(&mut self, number: BlockNumber) {
        if let Some((from, to)) = self.state.journal.prune_through(number) {
            self.dirty.journal(from, to);
        }
        let Some(window) =
            self.state.journal.base().and_then(|base| self.window_at(base.timestamp))
        else {
            return;
        };
        let keep_from = Window(window.0.saturating_sub(SERVED_PAST_WINDOWS));
        let pruned: Vec<_> = self.state.anchors.range(..keep_from).map(|(w, _)| *w).collect();
        for window in pruned {
            self.state.anchors.remove(&window);
            self.dirty.anchors.insert(window);
        }
    }

    /// Treats the oldest journal entries as final while more than `max_reorg_depth` are kept.
    fn bound_journal(&mut self) {
        let kept = self.state.journal.entries().len() as u64;
        let Some(excess) = kept.checked_sub(self.max_reorg_depth).filter(|&n| n > 0) else {
            return;
        };
        let last = usize::try_from(excess - 1)
            .ok()
            .and_then(|index| self.state.journal.entries().nth(index))
            .map(|entry| entry.head.number);
        if let Some(number) = last {
            self.prune_through(number);
        }
    }

    /// The blocks of `chain` at or after the registry's deployment.
    fn processed<'a>(&self, chain: &'a Chain) -> &'a [Block] {
        let blocks = chain.blocks();
        let skip = blocks.partition_point(|block| block.number < self.config.deployment_block);
        &blocks[skip..]
    }

    fn check_revert(&self, old: &[Block]) -> Result<(), EngineError> {
        let Some(tip) = old.last() else { return Ok(()) };
        let head = self.head().map(|head| BlockRef { number: head.number, hash: head.hash });
        if head != Some(BlockRef { number: tip.number, hash: tip.hash }) {
            return Err(EngineError::NotHead { number: tip.number, hash: tip.hash, head });
        }
        for block in old {
            if self
                .state
                .journal
                .get(block.number)
                .is_none_or(|entry| entry.head.hash != block.hash)
            {
                return Err(EngineError::BeyondJournal { number: block.number, hash: block.hash });
            }
        }
        Ok(())
    }

    /// The processed block just before `number`, if any.
    fn head_before(&self, number: BlockNumber) -> Option<Head> {
        let previous = number.checked_sub(1)?;
        match self.state.journal.get(previous) {
            Some(entry) => Some(entry.head),
            None => self.state.journal.base().filter(|base| base.number == previous).copied(),
        }
    }

    fn apply_block(&mut self, block: &Block, touched: &mut Touched) {
        let parent = self.head().copied();
        let head = Head {
            number: block.number,
            hash: block.hash,
            timestamp: block.timestamp,
            prevrandao: block.prevrandao,
        };
        let mut entry = BlockUndo { head, registry: Vec::new(), anchors: Vec::new() };
        if block.logs_bloom.contains_input(BloomInput::Hash(self.registry_bloom)) {
            self.apply_logs(block, &mut entry, touched);
        }
        let crossed = u128::from(block.timestamp) >= self.next_boundary;
        if let Some(parent) = parent
            && crossed
        {
            self.fix_anchors(&parent, &head, &mut entry, touched);
        }
        self.state.journal.push(entry);
        self.dirty.journal(block.number, block.number);
        self.stats.blocks_processed += 1;
        if crossed || parent.is_none() {
            self.next_boundary = self.boundary_after_head();
        }
    }

    fn apply_logs(&mut self, block: &Block, entry: &mut BlockUndo, touched: &mut Touched) {
        for (position, log) in block.logs.iter().enumerate() {
            if let Some(undo) = self.apply_log(block.number, position, log) {
                touched.endpoints.extend(self.served_record_change(&undo));
                entry.registry.push(undo);
            }
        }
    }

    /// The rollup whose record `undo` restores, if that record and the current one are the
    /// same registration (operator, signer, activation, array position, not withdrawn) whose
    /// served data differs: its endpoint, bond, misses or exit window — an `EndpointUpdated`,
    /// `ExitRequested`, `Slashed`, `MissReported` or `Evicted`, applied or about to be reverted.
    /// A new exit window takes effect three windows (`ACTIVATION_DELAY`) after its block at the
    /// earliest, beyond the horizon, so no fixed window changes: only the served records do.
    fn served_record_change(&self, undo: &Undo) -> Option<ChainId> {
        let Undo::RestoreSequencer(chain_id, index, other) = undo else { return None };
        let current = self.state.registry.rollup(*chain_id)?.sequencers.get(*index)?;
        let same_registration = current.record.operator == other.record.operator
            && current.record.active_from == other.record.active_from
            && current.record.exists_from == other.record.exists_from
            && current.signer == other.signer
            && !current.withdrawn
            && !other.withdrawn;
        let served_data_differs = current.rpc_url != other.rpc_url
            || current.bond != other.bond
            || current.misses != other.misses
            || current.record.active_until != other.record.active_until;
        (same_registration && served_data_differs).then_some(*chain_id)
    }

    /// Applies one log if it is the registry's; skips (with a warning and a count) one that
    /// does not decode or apply.
    fn apply_log(&mut self, block: BlockNumber, position: usize, log: &Log) -> Option<Undo> {
        let registry = self.config.registry;
        if log.address != registry {
            return None;
        }
        let applied = decode_log(log, registry).and_then(|event| {
            event.map(|event| self.state.registry.apply(&event)).transpose().map(Option::flatten)
        });
        match applied {
            Ok(undo) => {
                let undo = undo?;
                self.dirty.undo(&undo);
                self.stats.events_applied += 1;
                Some(undo)
            }
            Err(error) => {
                self.stats.logs_skipped += 1;
                warn!(target: "lookahead::engine", block, log = position, %error, "skipped registry log");
                None
            }
        }
    }

    /// Catches up over finalized history without processing every block: applies the registry
    /// `logs` of blocks after the head up to `to` (in chain order, as `eth_getLogs` returns
    /// them) and makes `to` the new head. No anchors are fixed for the windows this skips —
    /// the blocks that follow `to` fix the ones that will be served — and nothing is kept to
    /// undo it, so `to` must be finalized and the journal empty (every processed block final).
    pub fn fast_forward<'a>(
        &mut self,
        to: Head,
        logs: impl IntoIterator<Item = (BlockNumber, &'a Log)>,
    ) -> Result<(), EngineError> {
        let head = self.head().map(|head| BlockRef { number: head.number, hash: head.hash });
        if head.is_some_and(|head| head.number >= to.number) {
            return Err(EngineError::NotAhead { number: to.number, head });
        }
        if let Some(entry) = self.state.journal.entries().next() {
            return Err(EngineError::Unfinalized { number: entry.head.number });
        }
        for (position, (block, log)) in logs.into_iter().enumerate() {
            if block > to.number || head.is_some_and(|head| block <= head.number) {
                continue;
            }
            self.apply_log(block, position, log);
        }
        self.state.journal = Journal::from_parts(Some(to), []);
        let from = head.map_or(self.config.deployment_block, |head| head.number);
        self.stats.blocks_processed += to.number.saturating_sub(from);
        self.next_boundary = self.boundary_after_head();
        Ok(())
    }

    /// Sets `parent` as the anchor of the windows whose boundary `head` is the first to reach.
    fn fix_anchors(
        &mut self,
        parent: &Head,
        head: &Head,
        entry: &mut BlockUndo,
        touched: &mut Touched,
    ) {
        let Some(newest) = self.window_at(head.timestamp).and_then(|w| w.0.checked_add(1)) else {
            return;
        };
        let first_open = self.window_at(parent.timestamp).map_or(2, |w| w.0.saturating_add(2));
        let oldest_kept = newest.saturating_sub(SERVED_PAST_WINDOWS + 1);
        for window in first_open.max(2).max(oldest_kept)..=newest {
            let window = Window(window);
            let previous = self.state.anchors.insert(window, parent.anchor());
            touched.anchors.entry(window).or_insert(previous.map(|anchor| anchor.hash));
            entry.anchors.push((window, previous));
            self.dirty.anchors.insert(window);
            debug!(target: "lookahead::engine", window = window.0, anchor = %parent.hash, "window fixed");
        }
    }

    fn revert_block(&mut self, block: &Block, touched: &mut Touched) {
        let entry = self.state.journal.pop().expect("checked: the block is in the journal");
        debug_assert_eq!(entry.head.hash, block.hash);
        for undo in entry.registry.into_iter().rev() {
            touched.endpoints.extend(self.served_record_change(&undo));
            self.dirty.undo(&undo);
            self.state.registry.undo(undo);
        }
        for (window, previous) in entry.anchors.into_iter().rev() {
            let current = match previous {
                Some(anchor) => self.state.anchors.insert(window, anchor),
                None => self.state.anchors.remove(&window),
            };
            touched.anchors.entry(window).or_insert(current.map(|anchor| anchor.hash));
            self.dirty.anchors.insert(window);
        }
        self.dirty.journal(block.number, block.number);
        self.next_boundary = self.boundary_after_head();
    }

    fn window_at(&self, timestamp: u64) -> Option<Window> {
        self.config.clock.slot_at(timestamp).map(|slot| self.config.clock.window_of(slot))
    }

    /// The start of the window after the head's (genesis if the head is before it).
    fn boundary_after_head(&self) -> u128 {
        let clock = &self.config.clock;
        match self.head().map(|head| self.window_at(head.timestamp)) {
            None => 0,
            Some(None) => u128::from(clock.genesis_time()),
            Some(Some(window)) => window
                .0
                .checked_add(1)
                .and_then(|next| clock.window_start(Window(next)))
                .unwrap_or(u128::MAX),
        }
    }

    fn changes(&self, touched: Touched) -> ScheduleChanges {
        let mut changes = ScheduleChanges { endpoints: touched.endpoints, ..Default::default() };
        for (window, before) in touched.anchors {
            let after = self.state.anchors.get(&window).map(|anchor| anchor.hash);
            match (before, after) {
                (None, Some(_)) => changes.extended.push(window),
                (Some(before), Some(after)) if before != after => changes.reorged.push(window),
                (Some(_), None) => changes.retracted.push(window),
                _ => {}
            }
        }
        changes
    }
}

fn check_extends(head: Option<&Head>, block: &Block) -> Result<(), EngineError> {
    match head {
        Some(head)
            if head.number.checked_add(1) != Some(block.number)
                || block.parent_hash != head.hash =>
        {
            Err(EngineError::NotChild {
                number: block.number,
                parent_hash: block.parent_hash,
                head: Some(BlockRef { number: head.number, hash: head.hash }),
            })
        }
        Some(head) if block.timestamp < head.timestamp => Err(EngineError::TimeGoesBackwards {
            number: block.number,
            timestamp: block.timestamp,
            head_timestamp: head.timestamp,
        }),
        _ => Ok(()),
    }
}
