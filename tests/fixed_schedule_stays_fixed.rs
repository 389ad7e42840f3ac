//! A fixed schedule stays fixed: whatever the registry does after a window's anchor —
//! registrations (which push new indices), reuse of freed indices, exits, withdrawals, endpoint
//! and admin changes — the sequencers the engine serves for that window are the ones it served
//! when the window became fixed.
//!
//! The registry histories are real: random calls executed by `SequencerRegistry` on revm, one
//! block per L1 slot (with skipped slots and long gaps past the withdrawal delay), whose logs
//! become the engine's block stream. Clock: 12-second slots, 4-slot windows.

mod common;

use alloy_primitives::{Address, U256};
use common::{
    chain::{self, BlockSpec, GENESIS},
    evm::{Outcome, RegistryEvm},
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sequencer_lookahead::{
    Block, ChainId, Engine, Slot, Window,
    core::{
        contract::SequencerRegistry::{self, SequencerRegistryEvents},
        registry::decode_log,
    },
};
use std::collections::BTreeMap;

const SLOT_SECONDS: u64 = 12;
const WINDOW_SLOTS: u64 = 4;
const ROLLUPS: [u64; 2] = [10, 20];
const OPERATORS: u8 = 6;
const HISTORIES: u64 = 24;
const BLOCKS_PER_HISTORY: usize = 400;

/// What the selection named for one slot: the record's index, operator and signer.
type Pick = Option<(usize, Address, Address)>;

/// One history: the contract on revm, the engine following its blocks, and what each fixed
/// window's schedule was when it became fixed.
struct History {
    evm: RegistryEvm,
    engine: Engine,
    rng: StdRng,
    parent: Option<Block>,
    /// `(rollup, index) -> operator` of every record, to send exits and withdrawals as it.
    owners: BTreeMap<(u64, u64), Address>,
    /// Window -> rollup -> the picks of its slots, as first served.
    fixed: BTreeMap<Window, BTreeMap<u64, Vec<Pick>>>,
    counts: Counts,
}

/// Successful calls of each kind, and how many served windows were re-checked.
#[derive(Default, Debug, Clone, Copy)]
struct Counts {
    registrations: usize,
    reused_indices: usize,
    exits: usize,
    withdrawals: usize,
    /// Registrations that pushed a new index after the anchor of a fixed window still ahead.
    pushed_after_anchor: usize,
    rechecked_windows: usize,
}

impl History {
    fn new(seed: u64) -> Self {
        let mut evm = RegistryEvm::deploy(GENESIS, SLOT_SECONDS, WINDOW_SLOTS, GENESIS);
        for operator in 1..=OPERATORS {
            evm.fund(Address::repeat_byte(operator));
        }
        let mut history = Self {
            evm,
            engine: Engine::new(chain::config(1)),
            rng: StdRng::seed_from_u64(seed),
            parent: None,
            owners: BTreeMap::new(),
            fixed: BTreeMap::new(),
            counts: Counts::default(),
        };
        let rollups = ROLLUPS
            .iter()
            .map(|&id| SequencerRegistry::registerRollupCall {
                chainId: U256::from(id),
                admin: Address::repeat_byte(0xad),
                minBond: U256::from(100),
            })
            .collect::<Vec<_>>();
        let mut events = Vec::new();
        for call in &rollups {
            events.extend(history.send(Address::repeat_byte(0xad), U256::ZERO, call));
        }
        history.commit(0, events);
        history
    }

    /// Executes `call` on the contract; its events if it succeeded.
    fn send<C: alloy_sol_types::SolCall>(
        &mut self,
        from: Address,
        value: U256,
        call: &C,
    ) -> Vec<SequencerRegistryEvents> {
        match self.evm.send(from, value, call) {
            Outcome::Success(logs) => logs
                .iter()
                .map(|log| decode_log(log, self.evm.registry).expect("decodes").expect("ours"))
                .collect(),
            Outcome::Revert(_) => Vec::new(),
        }
    }

    /// Appends a block `gap` seconds after the last with `events`, feeds it to the engine and
    /// records the schedule of every window it fixes.
    fn commit(&mut self, gap: u64, events: Vec<SequencerRegistryEvents>) {
        let number = self.parent.as_ref().map_or(1, |parent| parent.number + 1);
        let spec = BlockSpec { gap, events, ..Default::default() };
        let block = chain::child(self.parent.as_ref(), number, &spec, 0);
        let changes =
            self.engine.apply(&chain::committed(std::slice::from_ref(&block))).expect("applies");
        self.parent = Some(block);
        for window in changes.extended {
            let picks = ROLLUPS.iter().map(|&id| (id, self.picks(id, window))).collect();
            self.fixed.insert(window, picks);
        }
    }

    /// The engine's picks for every slot of `window` on rollup `id`.
    fn picks(&self, id: u64, window: Window) -> Vec<Pick> {
        let first = Slot(window.0 * WINDOW_SLOTS);
        let entries = self
            .engine
            .schedule()
            .entries(ChainId::from(id), first, WINDOW_SLOTS as usize)
            .expect("a fixed window is served");
        assert_eq!(entries.len(), WINDOW_SLOTS as usize, "the whole window is served");
        entries
            .into_iter()
            .map(|entry| entry.sequencer.map(|s| (s.index, s.operator, s.signer)))
            .collect()
    }

    /// One block: the clock moves on, then up to three random calls are included.
    fn step(&mut self) {
        let gap = match self.rng.random_range(0..40) {
            0 => self.rng.random_range(30..=40) * SLOT_SECONDS * WINDOW_SLOTS,
            1..=6 => SLOT_SECONDS * self.rng.random_range(2..=3),
            _ => SLOT_SECONDS,
        };
        let timestamp = self.parent.as_ref().expect("started").timestamp + gap;
        self.evm.set_time(timestamp);
        let mut events = Vec::new();
        for _ in 0..self.rng.random_range(0..=3) {
            events.extend(self.random_call());
        }
        self.commit(gap, events);
    }

    fn random_call(&mut self) -> Vec<SequencerRegistryEvents> {
        let rollup = ROLLUPS[self.rng.random_range(0..ROLLUPS.len())];
        let chain_id = U256::from(rollup);
        let known: Vec<_> = self.owners.range((rollup, 0)..(rollup + 1, 0)).collect();
        let picked = (!known.is_empty())
            .then(|| known[self.rng.random_range(0..known.len())])
            .map(|(&(_, index), &owner)| (U256::from(index), owner));
        match (self.rng.random_range(0..10), picked) {
            (0..=3, _) | (_, None) => {
                let operator = Address::repeat_byte(self.rng.random_range(1..=OPERATORS));
                let call = SequencerRegistry::registerCall {
                    chainId: chain_id,
                    signer: operator,
                    rpcUrl: "http://127.0.0.1:9601".into(),
                    signerProof: Default::default(),
                };
                self.send(operator, U256::from(100), &call)
            }
            (4..=5, Some((index, owner))) => {
                let call = SequencerRegistry::requestExitCall { chainId: chain_id, index };
                self.send(owner, U256::ZERO, &call)
            }
            (6..=7, Some((index, owner))) => {
                let call = SequencerRegistry::withdrawCall { chainId: chain_id, index };
                self.send(owner, U256::ZERO, &call)
            }
            (8, Some((index, owner))) => {
                let call = SequencerRegistry::updateEndpointCall {
                    chainId: chain_id,
                    index,
                    rpcUrl: "http://127.0.0.1:9602".into(),
                };
                self.send(owner, U256::ZERO, &call)
            }
            (_, Some(_)) => {
                let call = SequencerRegistry::transferAdminCall {
                    chainId: chain_id,
                    newAdmin: Address::repeat_byte(0xad),
                };
                self.send(Address::repeat_byte(0xad), U256::ZERO, &call)
            }
        }
        .into_iter()
        .inspect(|event| self.count(event))
        .collect()
    }

    fn count(&mut self, event: &SequencerRegistryEvents) {
        match event {
            SequencerRegistryEvents::SequencerRegistered(e) => {
                let key = (e.chainId.to::<u64>(), e.index.to::<u64>());
                self.counts.registrations += 1;
                if self.owners.insert(key, e.operator).is_some() {
                    self.counts.reused_indices += 1;
                } else if !self.fixed.is_empty() {
                    // A new index, included in window existsFrom - 3: after the anchors of the
                    // windows fixed then (up to existsFrom - 2), whose arrays it must not join.
                    self.counts.pushed_after_anchor += 1;
                }
            }
            SequencerRegistryEvents::ExitRequested(_) => self.counts.exits += 1,
            SequencerRegistryEvents::Withdrawn(_) => self.counts.withdrawals += 1,
            _ => {}
        }
    }

    /// Every fixed window still served has the picks it had when it became fixed.
    fn check(&mut self) {
        let Some(oldest) = self.engine.schedule().oldest_served() else { return };
        let oldest = Window(oldest.0 / WINDOW_SLOTS);
        for (window, rollups) in self.fixed.range(oldest..) {
            for (&id, picks) in rollups {
                assert_eq!(
                    &self.picks(id, *window),
                    picks,
                    "rollup {id}: window {window}'s schedule changed after it was fixed"
                );
            }
            self.counts.rechecked_windows += 1;
        }
    }
}

#[test]
fn schedule_of_a_fixed_window_never_changes() {
    let mut totals = Counts::default();
    for seed in 0..HISTORIES {
        let mut history = History::new(seed);
        for _ in 0..BLOCKS_PER_HISTORY {
            history.step();
            history.check();
        }
        let c = history.counts;
        totals.registrations += c.registrations;
        totals.reused_indices += c.reused_indices;
        totals.exits += c.exits;
        totals.withdrawals += c.withdrawals;
        totals.pushed_after_anchor += c.pushed_after_anchor;
        totals.rechecked_windows += c.rechecked_windows;
    }
    println!("fixed schedules: {totals:?}");
    assert!(totals.pushed_after_anchor > 0, "no index pushed after a fixed window's anchor");
    assert!(totals.reused_indices > 0, "no freed index was reused");
    assert!(totals.exits > 0 && totals.withdrawals > 0, "no exit or withdrawal ran");
}
