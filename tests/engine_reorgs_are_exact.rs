//! The engine's central claim: after any sequence of commits, reverts, reorgs (up to 64 blocks
//! deep) and finality updates, its state equals the state computed from scratch over the final
//! canonical chain. Streams have random registry events (consistent or not), spoofed and
//! garbage logs, missed slots, empty windows and window boundaries, and start before the
//! registry's deployment. `PROPTEST_CASES` overrides the default of 10,000 sequences.

mod common;

use common::chain::{self, BlockSpec};
use proptest::prelude::*;
use sequencer_lookahead::{
    Block, BlockRef, ChainId, Engine, Finality,
    contract::SequencerRegistry::SequencerRegistryEvents,
};

const DEPLOYMENT: u64 = 100;
const FIRST_BLOCK: u64 = DEPLOYMENT - 2;

#[derive(Clone, Debug)]
enum Op {
    Commit(Vec<BlockSpec>),
    Revert(usize),
    Reorg(usize, Vec<BlockSpec>),
    Finalize(usize),
}

fn event() -> impl Strategy<Value = SequencerRegistryEvents> {
    let chain_id = 1u64..=3;
    let index = 0u64..5;
    prop_oneof![
        chain_id.clone().prop_map(chain::rollup),
        (chain_id.clone(), index.clone(), 1u8..=4, 0u64..40)
            .prop_map(|(c, i, operator, from)| chain::sequencer(c, i, operator, from)),
        (chain_id.clone(), index.clone(), 0u64..45)
            .prop_map(|(c, i, until)| chain::exit(c, i, until)),
        (chain_id.clone(), index.clone()).prop_map(|(c, i)| chain::withdrawn(c, i)),
        (chain_id, index).prop_map(|(c, i)| chain::endpoint(c, i, "http://10.0.0.1:1")),
    ]
}

fn block_spec() -> impl Strategy<Value = BlockSpec> {
    let gap = prop_oneof![10 => Just(12u64), 3 => Just(24), 2 => 1u64..100, 1 => 100u64..1_500];
    let events = prop_oneof![6 => Just(Vec::new()), 2 => proptest::collection::vec(event(), 1..4)];
    (
        gap,
        events,
        proptest::bool::weighted(0.1),
        proptest::bool::weighted(0.05),
    )
        .prop_map(|(gap, events, spoofed, garbage)| BlockSpec {
            gap,
            events,
            spoofed,
            garbage,
        })
}

fn op() -> impl Strategy<Value = Op> {
    let blocks = |max| proptest::collection::vec(block_spec(), 1..max);
    prop_oneof![
        4 => blocks(40).prop_map(Op::Commit),
        2 => (1usize..=64).prop_map(Op::Revert),
        3 => (1usize..=64, blocks(70)).prop_map(|(depth, new)| Op::Reorg(depth, new)),
        1 => (0usize..80).prop_map(Op::Finalize),
    ]
}

/// The canonical chain as the node sees it, and the engine fed its notifications.
struct Run {
    engine: Engine,
    canonical: Vec<Block>,
    finality: Finality,
    forks: u64,
}

impl Run {
    fn new() -> Self {
        Self {
            engine: Engine::new(chain::config(DEPLOYMENT)),
            canonical: Vec::new(),
            finality: Finality::default(),
            forks: 0,
        }
    }

    fn finalized(&self) -> u64 {
        self.finality.finalized.map_or(0, |f| f.number)
    }

    /// Blocks that may still be reverted: above the finalized one.
    fn revertible(&self) -> usize {
        self.canonical
            .iter()
            .rev()
            .take_while(|b| b.number > self.finalized())
            .count()
    }

    fn new_blocks(&mut self, keep: usize, specs: &[BlockSpec]) -> Vec<Block> {
        self.forks += 1;
        let parent = keep.checked_sub(1).map(|i| &self.canonical[i]);
        let number = parent.map_or(FIRST_BLOCK, |p| p.number + 1);
        chain::extend(parent, number, specs, self.forks)
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Commit(specs) => {
                let new = self.new_blocks(self.canonical.len(), specs);
                self.engine
                    .apply(&chain::committed(&new))
                    .expect("commit applies");
                self.canonical.extend(new);
            }
            Op::Revert(depth) => {
                let depth = (*depth).min(self.revertible());
                if depth == 0 {
                    return;
                }
                let keep = self.canonical.len() - depth;
                self.engine
                    .apply(&chain::reverted(&self.canonical[keep..]))
                    .expect("revert applies");
                self.canonical.truncate(keep);
            }
            Op::Reorg(depth, specs) => {
                let depth = (*depth).min(self.revertible());
                if depth == 0 {
                    return;
                }
                let keep = self.canonical.len() - depth;
                let new = self.new_blocks(keep, specs);
                self.engine
                    .apply(&chain::reorged(&self.canonical[keep..], &new))
                    .expect("reorg applies");
                self.canonical.truncate(keep);
                self.canonical.extend(new);
            }
            Op::Finalize(behind) => {
                let Some(block) = self.canonical.iter().rev().nth(*behind) else {
                    return;
                };
                if block.number <= self.finalized() {
                    return;
                }
                let safe = self
                    .canonical
                    .iter()
                    .rev()
                    .nth(behind / 2)
                    .expect("newer than finalized");
                self.finality = Finality {
                    safe: Some(BlockRef {
                        number: safe.number,
                        hash: safe.hash,
                    }),
                    finalized: Some(BlockRef {
                        number: block.number,
                        hash: block.hash,
                    }),
                };
                self.engine.set_finality(self.finality);
            }
        }
        let head = self.engine.head().map(|h| h.hash);
        let tip = self
            .canonical
            .last()
            .filter(|b| b.number >= DEPLOYMENT)
            .map(|b| b.hash);
        assert_eq!(head, tip, "the engine's head is the canonical tip");
    }

    /// The state an engine reaches from nothing over the final canonical chain.
    fn replayed_from_scratch(&self) -> Engine {
        let mut engine = Engine::new(chain::config(DEPLOYMENT));
        if !self.canonical.is_empty() {
            engine
                .apply(&chain::committed(&self.canonical))
                .expect("canonical chain applies");
        }
        engine.set_finality(self.finality);
        engine
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn state_after_any_history_equals_state_from_scratch(
        ops in proptest::collection::vec(op(), 1..25)
    ) {
        let mut run = Run::new();
        for op in &ops {
            run.step(op);
        }
        let scratch = run.replayed_from_scratch();
        prop_assert_eq!(run.engine.state(), scratch.state());

        // The same answers to queries, too.
        if let Some(from) = run.engine.oldest_served() {
            for chain_id in 1..=3u64 {
                let chain_id = ChainId::from(chain_id);
                prop_assert_eq!(
                    run.engine.schedule(chain_id, from, 1024),
                    scratch.schedule(chain_id, from, 1024)
                );
            }
        }
    }
}
