//! Differential test: the Rust selection against `SequencerRegistry` executed on revm.
//!
//! Random registry histories (registrations, exits, withdrawals that free indices, re-use of
//! those indices, empty rollups, huge chain ids, odd timings, jumps past the withdrawal delay)
//! are driven through the real contract; the Rust side sees only the emitted events, applied to
//! the library's [`Registry`] mirror. At many points of each history, random slots — biased to
//! window boundaries, from past windows to windows whose array `L(W)` is still shorter than the
//! current one because of registrations included after their anchor — and random seeds are
//! queried on both sides and must agree exactly. The test counts, and requires, vectors in
//! windows where `L(W)` differs from the current length and registrations that reused a freed
//! index. `LOOKAHEAD_DIFF_VECTORS` sets the number of vectors (default 10,000).

mod common;

use alloy_primitives::{Address, B256, U256};
use common::evm::{Outcome, RegistryEvm};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sequencer_lookahead::{
    ChainId, Registry, Sequencer, Slot, SlotClock, Window,
    core::{
        contract::SequencerRegistry::{self, SequencerRegistryEvents},
        registry::decode_log,
        selection::length_at,
    },
    select, window_seed,
};

const DEFAULT_VECTORS: usize = 10_000;
const OPERATORS: usize = 8;

struct History {
    chain: RegistryEvm,
    mirror: Registry,
    clock: SlotClock,
    chain_ids: Vec<U256>,
    operators: Vec<Address>,
    rng: StdRng,
    counts: Counts,
}

/// What a history exercised.
#[derive(Default, Clone, Copy)]
struct Counts {
    /// Queries compared.
    vectors: usize,
    /// Queries in a window whose array `L(W)` is shorter than the current array.
    shorter_array: usize,
    /// Registrations that reused a freed index.
    reused_indices: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Self) {
        self.vectors += other.vectors;
        self.shorter_array += other.shorter_array;
        self.reused_indices += other.reused_indices;
    }
}

impl History {
    fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let genesis = 1_600_000_000 + rng.random_range(0..100_000_000);
        let slot_seconds =
            *[1, 2, 12, rng.random_range(1..=30)].get(rng.random_range(0..4)).unwrap();
        let window_slots =
            *[1, 4, 32, rng.random_range(1..=64)].get(rng.random_range(0..4)).unwrap();
        let clock = SlotClock::new(genesis, slot_seconds, window_slots).expect("non-zero timing");
        let start = genesis + rng.random_range(0..10 * slot_seconds * window_slots);
        let mut chain = RegistryEvm::deploy(genesis, slot_seconds, window_slots, start);
        chain.set_time(start);

        let operators: Vec<_> = (1..=OPERATORS as u8).map(Address::repeat_byte).collect();
        for operator in &operators {
            chain.fund(*operator);
        }
        let mut history = Self {
            chain,
            mirror: Registry::default(),
            clock,
            chain_ids: Vec::new(),
            operators,
            rng,
            counts: Counts::default(),
        };
        // A small id, an id beyond u64, and a rollup that stays empty.
        let huge = U256::from_be_bytes(history.rng.random::<[u8; 32]>()) | U256::from(1);
        for chain_id in [U256::from(10), huge, U256::from(777)] {
            history.send(
                Address::repeat_byte(0xad),
                U256::ZERO,
                &SequencerRegistry::registerRollupCall {
                    chainId: chain_id,
                    admin: Address::repeat_byte(0xad),
                    minBond: U256::from(100),
                },
            );
            history.chain_ids.push(chain_id);
        }
        history
    }

    fn send<C: alloy_sol_types::SolCall>(&mut self, from: Address, value: U256, call: &C) -> bool {
        match self.chain.send(from, value, call) {
            Outcome::Success(logs) => {
                for log in &logs {
                    let event =
                        decode_log(log, self.chain.registry).expect("decodes").expect("ours");
                    if let SequencerRegistryEvents::SequencerRegistered(e) = &event {
                        let length = records(&self.mirror, e.chainId).len();
                        if e.index < U256::from(length) {
                            self.counts.reused_indices += 1;
                        }
                    }
                    self.mirror.apply(&event).expect("the contract's events apply");
                }
                true
            }
            Outcome::Revert(_) => false,
        }
    }

    fn window_seconds(&self) -> u64 {
        self.clock.slot_seconds() * self.clock.window_slots()
    }

    /// One random registry action or clock move.
    fn step(&mut self) {
        let operator = self.operators[self.rng.random_range(0..OPERATORS)];
        let chain_id = self.chain_ids[self.rng.random_range(0..2)];
        let count = records(&self.mirror, chain_id).len();
        let index = U256::from(self.rng.random_range(0..count.max(1)));
        match self.rng.random_range(0..11) {
            0..=2 => {
                let bond = U256::from(100 + self.rng.random_range(0..1000));
                self.send(
                    operator,
                    bond,
                    &SequencerRegistry::registerCall {
                        chainId: chain_id,
                        signer: operator,
                        rpcUrl: "http://127.0.0.1:9545".into(),
                        signerProof: Default::default(),
                    },
                );
            }
            3..=4 => {
                let owner = self.owner(chain_id, index);
                self.send(
                    owner,
                    U256::ZERO,
                    &SequencerRegistry::requestExitCall { chainId: chain_id, index },
                );
            }
            5..=6 => {
                let owner = self.owner(chain_id, index);
                self.send(
                    owner,
                    U256::ZERO,
                    &SequencerRegistry::withdrawCall { chainId: chain_id, index },
                );
            }
            10 => {
                // Past the withdrawal delay, so exited records can be withdrawn and reused.
                let ahead = self.rng.random_range(30..=40) * self.window_seconds();
                self.chain.set_time(self.chain.timestamp() + ahead);
            }
            7 => {
                // Land exactly on the first second of a coming window.
                let window = self.current_window().0 + self.rng.random_range(1..=2);
                let start = self.clock.window_start(Window(window)).expect("realistic window");
                self.chain.set_time(u64::try_from(start).expect("fits"));
            }
            _ => {
                let ahead = self.rng.random_range(0..=self.window_seconds() * 2);
                self.chain.set_time(self.chain.timestamp() + ahead);
            }
        }
    }

    fn owner(&mut self, chain_id: U256, index: U256) -> Address {
        let position = usize::try_from(index).expect("small index");
        records(&self.mirror, chain_id)
            .get(position)
            .map_or(self.operators[0], |s| s.record.operator)
    }

    fn current_window(&self) -> Window {
        self.clock.window_of(self.clock.slot_at(self.chain.timestamp()).expect("after genesis"))
    }

    /// Compares `count` random queries on the current state.
    fn compare(&mut self, count: usize) {
        let current = self.current_window().0;
        for _ in 0..count {
            let chain_id = match self.rng.random_range(0..8) {
                0 => U256::from(self.rng.random::<u64>()),
                n => self.chain_ids[n % 3],
            };
            let window = self.rng.random_range(current.saturating_sub(3)..=current + 6);
            if length_at(records(&self.mirror, chain_id), Window(window))
                < records(&self.mirror, chain_id).len()
            {
                self.counts.shorter_array += 1;
            }
            let first = window * self.clock.window_slots();
            let slot = match self.rng.random_range(0..3) {
                0 => first,
                1 => first + self.clock.window_slots() - 1,
                _ => first + self.rng.random_range(0..self.clock.window_slots()),
            };
            let seed = B256::from(self.rng.random::<[u8; 32]>());
            self.compare_one(chain_id, Slot(slot), seed);
        }
    }

    fn compare_one(&mut self, chain_id: U256, slot: Slot, seed: B256) {
        let on_chain = self.chain.view(&SequencerRegistry::sequencerForSeedCall {
            chainId: chain_id,
            slot: slot.0,
            seed,
        });
        let expected =
            select(&self.clock, ChainId(chain_id), slot, seed, records(&self.mirror, chain_id));
        let off_chain =
            expected.map_or((Address::ZERO, U256::MAX), |s| (s.operator, U256::from(s.index)));
        assert_eq!(
            (on_chain.operator, on_chain.index),
            off_chain,
            "chain {chain_id} slot {slot} seed {seed}: contract and Rust disagree; records {:?}",
            records(&self.mirror, chain_id)
        );
        self.counts.vectors += 1;
    }
}

/// The sequencer array of `chain_id` in the mirror (empty for an unknown rollup).
fn records(mirror: &Registry, chain_id: U256) -> &[Sequencer] {
    mirror.rollup(ChainId(chain_id)).map_or(&[], |rollup| rollup.sequencers.as_slice())
}

fn target_vectors() -> usize {
    std::env::var("LOOKAHEAD_DIFF_VECTORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_VECTORS)
}

#[test]
fn selection_matches_contract_on_random_histories() {
    let target = target_vectors();
    let mut counts = Counts::default();
    let mut histories = 0u64;
    while counts.vectors < target {
        let mut history = History::new(histories);
        for _ in 0..40 {
            for _ in 0..3 {
                history.step();
            }
            history.compare(8);
        }
        counts += history.counts;
        histories += 1;
    }
    println!(
        "differential: {} vectors over {histories} histories, 0 mismatches; {} in windows whose \
         L(W) is shorter than the current array, {} registrations reused a freed index",
        counts.vectors, counts.shorter_array, counts.reused_indices
    );
    assert!(counts.shorter_array > 0, "no vector in a window with a shorter array");
    assert!(counts.reused_indices > 0, "no registration reused a freed index");
}

#[test]
fn window_seed_matches_contract() {
    let mut chain = RegistryEvm::deploy(0, 12, 32, 1);
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..500 {
        let randao = B256::from(rng.random::<[u8; 32]>());
        let window = rng.random::<u64>();
        let on_chain =
            chain.view(&SequencerRegistry::windowSeedCall { randao, window: U256::from(window) });
        assert_eq!(on_chain, window_seed(randao, Window(window)));
    }
}
