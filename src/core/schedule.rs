//! What the engine serves (SPEC §6): which sequencer each rollup has in each slot of the fixed
//! horizon, with the anchor that fixed it and how final that anchor is. [`Schedule`] is a
//! read-only view of an [`Engine`] (`engine.schedule()`); the RPC layer maps its
//! [`QueryError`]s to the spec's error codes.

use crate::core::{
    engine::{BlockRef, Engine, SERVED_PAST_WINDOWS, ScheduleChanges},
    primitives::{ChainId, Slot, Window},
    registry::{Rollup, Sequencer},
    seed::naive_seed,
    selection::select,
};
use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

/// The most slots one query may ask for.
pub const MAX_QUERY_SLOTS: usize = 1024;

/// How final the anchor of a schedule entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryStatus {
    /// The anchor is neither safe nor finalized: a reorg may still change the entry.
    Latest,
    /// The anchor is at or below the node's safe block.
    Safe,
    /// The anchor is at or below the node's finalized block: the entry is final.
    Finalized,
}

/// A selected sequencer with what a gateway needs to reach it, and what backs its promises
/// (SPEC §8): the bond still held, its reported misses and its exit window.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SequencerInfo {
    /// Index of the record in the rollup's sequencer array.
    pub index: usize,
    /// The bonded operator.
    pub operator: Address,
    /// The key that signs its preconfirmations.
    pub signer: Address,
    /// Where it serves its `preconf_` API.
    pub rpc_url: String,
    /// The bond still held, in wei (0x-hex): the registration's less miss penalties; 0 once
    /// slashed or withdrawn. A promise is worth at most this.
    pub bond: U256,
    /// Reported misses in the record's current span; evicted at three.
    pub misses: u8,
    /// The first window the record is active in.
    pub active_from: Window,
    /// The first window it is no longer active in (exclusive), once it exited or was forced
    /// out (slashed, evicted); `None` while it stays.
    pub active_until: Option<Window>,
}

impl SequencerInfo {
    fn new(index: usize, sequencer: &Sequencer) -> Self {
        Self {
            index,
            operator: sequencer.record.operator,
            signer: sequencer.signer,
            rpc_url: sequencer.rpc_url.clone(),
            bond: sequencer.bond,
            misses: sequencer.misses,
            active_from: sequencer.record.active_from,
            active_until: sequencer.record.active_until,
        }
    }
}

/// A registered rollup as `lookahead_getRollup` serves it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollupInfo {
    /// The rollup.
    pub chain_id: ChainId,
    /// The account that may change `minBond` and the inbox.
    pub admin: Address,
    /// The bond required of registrations, in wei (0x-hex); a record whose remaining bond is
    /// below it backs its promises with less than the rollup asks for.
    pub min_bond: U256,
    /// The length of the sequencer array: every index, also freed ones and those that exist
    /// only from a later window (the contract's `rollup(chainId).sequencerCount`).
    pub sequencer_count: usize,
    /// The inbox that judges the slots of the head's window (SPEC §8), if one does.
    pub inbox: Option<Address>,
}

/// One rollup's sequencer in one slot.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScheduleEntry {
    /// The slot.
    pub slot: Slot,
    /// Its window.
    pub window: Window,
    /// The selected sequencer; `None` when no record is active (the rollup's own rule applies).
    pub sequencer: Option<SequencerInfo>,
    /// The block whose `prevrandao` seeded the window.
    pub anchor: BlockRef,
    /// How final the anchor is.
    pub status: EntryStatus,
}

/// Several rollups' sequencers in one slot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CrossEntry {
    /// The slot.
    pub slot: Slot,
    /// Each requested rollup's entry, in the order requested.
    pub entries: Vec<(ChainId, ScheduleEntry)>,
    /// The operator that sequences every requested rollup in this slot, if one does: a bundle
    /// for these rollups is then atomic without a lock round.
    pub shared_operator: Option<Address>,
}

/// Why a schedule query has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// No window is fixed yet (the registry's deployment or the first anchor is not reached).
    #[error("not synced: no window is fixed yet")]
    NotSynced,
    /// The slot is in window 0 or 1, which have no anchor block and so never get a seed.
    #[error("slot {slot} is in window {window}: windows 0 and 1 have no anchor, hence no schedule")]
    NoAnchorWindow {
        /// The requested slot.
        slot: Slot,
        /// Its window.
        window: Window,
    },
    /// The chain id is not a registered rollup.
    #[error("unknown rollup {0}")]
    UnknownRollup(ChainId),
    /// The slot's seed is not known yet.
    #[error("slot {slot} is beyond the fixed horizon (last fixed slot {fixed_until})")]
    BeyondHorizon {
        /// The requested slot.
        slot: Slot,
        /// The last slot whose schedule is fixed.
        fixed_until: Slot,
    },
    /// The slot is older than what is served.
    #[error("slot {slot} is too old (oldest served slot {oldest})")]
    TooOld {
        /// The requested slot.
        slot: Slot,
        /// The oldest slot still served.
        oldest: Slot,
    },
    /// More slots than [`MAX_QUERY_SLOTS`] were asked for.
    #[error("{requested} slots requested, at most {max} allowed")]
    TooManySlots {
        /// The number requested.
        requested: usize,
        /// The limit.
        max: usize,
    },
    /// A cross-rollup query named no rollup.
    #[error("no rollup given")]
    NoRollups,
}

/// Why a schedule notification was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// A new window became fixed.
    Extended,
    /// A reorg changed entries that were already served (the new entries are listed; a window
    /// that is no longer fixed lists none).
    Reorged,
    /// A served record's data changed — its endpoint (`rpcUrl`), bond, misses or exit window —
    /// without changing who is selected in a fixed window (a forced exit takes effect beyond the
    /// horizon): the served entries from the head's window to the horizon, with the new data (a
    /// gateway re-routes, or stops routing to a record that lost its bond, without polling).
    Endpoint,
}

/// One rollup's schedule change, as `lookahead_subscribe("schedule")` pushes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleNotification {
    /// Extended, reorged or endpoint.
    pub kind: ChangeKind,
    /// The rollup.
    pub chain_id: ChainId,
    /// The first slot of the changed windows.
    pub from_slot: Slot,
    /// The new entries of the changed windows that are still fixed.
    pub entries: Vec<ScheduleEntry>,
}

/// The schedule an [`Engine`] serves: queries over its registry mirror and window anchors.
#[derive(Clone, Copy, Debug)]
pub struct Schedule<'a> {
    engine: &'a Engine,
}

impl<'a> Schedule<'a> {
    /// The schedule `engine` serves.
    pub const fn new(engine: &'a Engine) -> Self {
        Self { engine }
    }

    /// The last slot whose schedule is fixed: the end of the newest window with an anchor.
    pub fn fixed_until(&self) -> Option<Slot> {
        let (window, _) = self.engine.state().anchors.last_key_value()?;
        let clock = &self.engine.config().clock;
        let next = clock.first_slot(Window(window.0 + 1))?;
        Some(Slot(next.0 - 1))
    }

    /// The oldest slot served: the start of the oldest kept window, and no earlier than
    /// [`SERVED_PAST_WINDOWS`] before the head's window.
    pub fn oldest_served(&self) -> Option<Slot> {
        let (oldest_anchor, _) = self.engine.state().anchors.first_key_value()?;
        let clock = &self.engine.config().clock;
        let head_window = self
            .engine
            .head()
            .and_then(|head| clock.slot_at(head.timestamp))
            .map_or(0, |slot| clock.window_of(slot).0);
        let window = oldest_anchor.0.max(head_window.saturating_sub(SERVED_PAST_WINDOWS));
        clock.first_slot(Window(window))
    }

    /// The slot after the head's: where a schedule starts by default.
    pub fn next_slot(&self) -> Option<Slot> {
        let head = self.engine.head()?;
        let slot = self.engine.config().clock.slot_at(head.timestamp)?;
        Some(Slot(slot.0 + 1))
    }

    /// `count` slots of `chain_id`'s schedule from `from`, cut at the fixed horizon.
    pub fn entries(
        &self,
        chain_id: ChainId,
        from: Slot,
        count: usize,
    ) -> Result<Vec<ScheduleEntry>, QueryError> {
        let rollup = self.rollup(chain_id)?;
        let slots = self.slot_range(from, count)?;
        let mut seeds = SeedCache::default();
        slots.map(|slot| self.entry(rollup, chain_id, Slot(slot), &mut seeds)).collect()
    }

    /// The slots `entries(chain_id, from, count)` would answer, or its error.
    pub fn served_slots(
        &self,
        chain_id: ChainId,
        from: Slot,
        count: usize,
    ) -> Result<std::ops::Range<u64>, QueryError> {
        self.rollup(chain_id)?;
        self.slot_range(from, count)
    }

    /// `chain_id`'s sequencer in `slot`.
    pub fn sequencer_at(&self, chain_id: ChainId, slot: Slot) -> Result<ScheduleEntry, QueryError> {
        let mut entries = self.entries(chain_id, slot, 1)?;
        Ok(entries.pop().expect("one slot within the horizon"))
    }

    /// The whole of `window` for `chain_id` (cut at the horizon): the unit in which schedules
    /// become fixed, are pushed to subscribers and are cached by the RPC.
    pub fn window(
        &self,
        chain_id: ChainId,
        window: Window,
    ) -> Result<Vec<ScheduleEntry>, QueryError> {
        let clock = &self.engine.config().clock;
        let first = clock.first_slot(window).ok_or(QueryError::NotSynced)?;
        let count = usize::try_from(clock.window_slots())
            .map_or(MAX_QUERY_SLOTS, |count| count.min(MAX_QUERY_SLOTS));
        self.entries(chain_id, first, count)
    }

    /// The records of `chain_id` active in `window`, by index.
    pub fn active_sequencers(
        &self,
        chain_id: ChainId,
        window: Window,
    ) -> Result<Vec<SequencerInfo>, QueryError> {
        let rollup = self.rollup(chain_id)?;
        Ok(rollup
            .sequencers
            .iter()
            .enumerate()
            .filter(|(_, sequencer)| sequencer.record.is_active(window))
            .map(|(index, sequencer)| SequencerInfo::new(index, sequencer))
            .collect())
    }

    /// `chain_id`'s admin, bond requirement, array length and the inbox in force for the head's
    /// window.
    pub fn rollup_info(&self, chain_id: ChainId) -> Result<RollupInfo, QueryError> {
        let rollup = self.rollup(chain_id)?;
        let head = self.engine.head().ok_or(QueryError::NotSynced)?;
        let clock = &self.engine.config().clock;
        let window = clock.slot_at(head.timestamp).map_or(Window(0), |slot| clock.window_of(slot));
        Ok(RollupInfo {
            chain_id,
            admin: rollup.admin,
            min_bond: rollup.min_bond,
            sequencer_count: rollup.sequencers.len(),
            inbox: rollup.inbox_at(window),
        })
    }

    /// The schedules of several rollups side by side, with the operator shared by all of them
    /// in each slot where there is one.
    pub fn cross(
        &self,
        chain_ids: &[ChainId],
        from: Slot,
        count: usize,
    ) -> Result<Vec<CrossEntry>, QueryError> {
        let rollups = self.rollups(chain_ids)?;
        let slots = self.slot_range(from, count)?;
        let mut seeds = SeedCache::default();
        slots.map(|slot| self.cross_entry(&rollups, Slot(slot), &mut seeds)).collect()
    }

    /// The first slot from `from` within the horizon where one operator sequences every rollup
    /// in `chain_ids`.
    pub fn next_shared_slot(
        &self,
        chain_ids: &[ChainId],
        from: Slot,
    ) -> Result<Option<Slot>, QueryError> {
        let rollups = self.rollups(chain_ids)?;
        let fixed_until = self.check_slot(from)?;
        let mut seeds = SeedCache::default();
        for slot in (from.0..=fixed_until.0).map(Slot) {
            if self.cross_entry(&rollups, slot, &mut seeds)?.shared_operator.is_some() {
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    /// The original, not reorg-stable proposal: the sequencers of the `n` slots after the head,
    /// all drawn with the head's `prevrandao` and slot as the seed.
    pub fn naive(
        &self,
        chain_id: ChainId,
        n: usize,
    ) -> Result<Vec<Option<SequencerInfo>>, QueryError> {
        if n > MAX_QUERY_SLOTS {
            return Err(QueryError::TooManySlots { requested: n, max: MAX_QUERY_SLOTS });
        }
        let rollup = self.rollup(chain_id)?;
        let head = self.engine.head().ok_or(QueryError::NotSynced)?;
        let clock = &self.engine.config().clock;
        let current = clock.slot_at(head.timestamp).ok_or(QueryError::NotSynced)?;
        let seed = naive_seed(head.prevrandao, current);
        Ok((1..=n as u64)
            .map(|offset| {
                let slot = Slot(current.0 + offset);
                select(clock, chain_id, slot, seed, &rollup.sequencers).map(|selected| {
                    SequencerInfo::new(selected.index, &rollup.sequencers[selected.index])
                })
            })
            .collect())
    }

    fn rollup(&self, chain_id: ChainId) -> Result<&'a Rollup, QueryError> {
        self.engine.state().registry.rollup(chain_id).ok_or(QueryError::UnknownRollup(chain_id))
    }

    fn rollups(&self, chain_ids: &[ChainId]) -> Result<Vec<(ChainId, &'a Rollup)>, QueryError> {
        if chain_ids.is_empty() {
            return Err(QueryError::NoRollups);
        }
        chain_ids.iter().map(|&chain_id| Ok((chain_id, self.rollup(chain_id)?))).collect()
    }

    /// Checks that `slot` is served and returns the horizon.
    fn check_slot(&self, slot: Slot) -> Result<Slot, QueryError> {
        let window = self.engine.config().clock.window_of(slot);
        if window.0 < 2 {
            return Err(QueryError::NoAnchorWindow { slot, window });
        }
        let fixed_until = self.fixed_until().ok_or(QueryError::NotSynced)?;
        if slot > fixed_until {
            return Err(QueryError::BeyondHorizon { slot, fixed_until });
        }
        let oldest = self.oldest_served().ok_or(QueryError::NotSynced)?;
        if slot < oldest {
            return Err(QueryError::TooOld { slot, oldest });
        }
        Ok(fixed_until)
    }

    fn slot_range(&self, from: Slot, count: usize) -> Result<std::ops::Range<u64>, QueryError> {
        if count > MAX_QUERY_SLOTS {
            return Err(QueryError::TooManySlots { requested: count, max: MAX_QUERY_SLOTS });
        }
        let fixed_until = self.check_slot(from)?;
        let end = from.0.saturating_add(count as u64).min(fixed_until.0.saturating_add(1));
        Ok(from.0..end)
    }

    fn entry(
        &self,
        rollup: &Rollup,
        chain_id: ChainId,
        slot: Slot,
        seeds: &mut SeedCache,
    ) -> Result<ScheduleEntry, QueryError> {
        let clock = &self.engine.config().clock;
        let window = clock.window_of(slot);
        let (anchor, seed) = seeds.get(self.engine, window).ok_or(QueryError::NotSynced)?;
        let sequencer = select(clock, chain_id, slot, seed, &rollup.sequencers)
            .map(|selected| SequencerInfo::new(selected.index, &rollup.sequencers[selected.index]));
        Ok(ScheduleEntry { slot, window, sequencer, anchor, status: self.status_of(anchor.number) })
    }

    fn cross_entry(
        &self,
        rollups: &[(ChainId, &Rollup)],
        slot: Slot,
        seeds: &mut SeedCache,
    ) -> Result<CrossEntry, QueryError> {
        let entries = rollups
            .iter()
            .map(|&(chain_id, rollup)| Ok((chain_id, self.entry(rollup, chain_id, slot, seeds)?)))
            .collect::<Result<Vec<_>, QueryError>>()?;
        let operators =
            entries.iter().map(|(_, entry)| entry.sequencer.as_ref().map(|s| s.operator));
        let shared_operator = operators
            .reduce(|shared, operator| shared.filter(|shared| Some(*shared) == operator))
            .flatten();
        Ok(CrossEntry { slot, entries, shared_operator })
    }

    fn status_of(&self, anchor: u64) -> EntryStatus {
        let finality = &self.engine.state().finality;
        if finality.finalized.is_some_and(|finalized| anchor <= finalized.number) {
            EntryStatus::Finalized
        } else if finality.safe.is_some_and(|safe| anchor <= safe.number) {
            EntryStatus::Safe
        } else {
            EntryStatus::Latest
        }
    }

    /// The per-rollup notifications of `changes` (what one notification of the node changed),
    /// as `lookahead_subscribe("schedule")` pushes them.
    pub fn notifications(&self, changes: &ScheduleChanges) -> Vec<ScheduleNotification> {
        let engine = self.engine;
        let reorged: Vec<Window> =
            changes.reorged.iter().chain(&changes.retracted).copied().collect();
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
                    .filter_map(|window| self.window(chain_id, *window).ok())
                    .flatten()
                    .collect();
                events.push(ScheduleNotification { kind, chain_id, from_slot, entries });
            }
        }
        if let Some(from_slot) = self.head_window_start() {
            for &chain_id in &changes.endpoints {
                let Ok(entries) = self.entries(chain_id, from_slot, MAX_QUERY_SLOTS) else {
                    continue;
                };
                events.push(ScheduleNotification {
                    kind: ChangeKind::Endpoint,
                    chain_id,
                    from_slot,
                    entries,
                });
            }
        }
        events
    }

    /// The first slot of the head's window, or the oldest served slot if that is later.
    fn head_window_start(&self) -> Option<Slot> {
        let clock = &self.engine.config().clock;
        let head = clock.slot_at(self.engine.head()?.timestamp)?;
        let start = clock.first_slot(clock.window_of(head))?;
        Some(start.max(self.oldest_served()?))
    }
}

/// The anchor and seed of the window last asked for: consecutive slots share them.
#[derive(Default)]
struct SeedCache(Option<(Window, BlockRef, B256)>);

impl SeedCache {
    /// The anchor and seed of `window`, if it is fixed.
    fn get(&mut self, engine: &Engine, window: Window) -> Option<(BlockRef, B256)> {
        match self.0 {
            Some((cached, anchor, seed)) if cached == window => Some((anchor, seed)),
            _ => {
                let anchor = engine.state().anchors.get(&window)?;
                let block = BlockRef { number: anchor.number, hash: anchor.hash };
                let seed = anchor.seed(window);
                self.0 = Some((window, block, seed));
                Some((block, seed))
            }
        }
    }
}
