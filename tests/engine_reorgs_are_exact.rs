//! The engine's central claim: after any sequence of commits, reverts, reorgs (up to 64 blocks
//! deep) and finality updates, its state equals the state computed from scratch over the final
//! canonical chain. Streams have random registry events (consistent or not) — registrations,
//! exits, withdrawals, endpoints, and SPEC §8's inbox changes (appended and replacing),
//! slashes, reported misses, evictions and seed checkpoints — spoofed and garbage logs, missed
//! slots, empty windows and window boundaries, and start before the registry's deployment.
//! `PROPTEST_CASES` overrides the default of 10,000 sequences.

mod common;

use common::{
    chain::{self, BlockSpec},
    node::{Op, SimNode},
};
use proptest::prelude::*;
use sequencer_lookahead::{
    ChainId, Engine, core::contract::SequencerRegistry::SequencerRegistryEvents,
};

/// The registry is deployed two blocks after the stream starts.
const DEPLOYMENT: u64 = 100;
const FIRST_BLOCK: u64 = DEPLOYMENT - 2;

fn event() -> impl Strategy<Value = SequencerRegistryEvents> {
    let chain_id = 1u64..=3;
    let index = 0u64..5;
    prop_oneof![
        1 => chain_id.clone().prop_map(chain::rollup),
        1 => (chain_id.clone(), index.clone(), 1u8..=4, 0u64..40)
            .prop_map(|(c, i, operator, from)| chain::sequencer(c, i, operator, from)),
        1 => (chain_id.clone(), index.clone(), 0u64..45)
            .prop_map(|(c, i, until)| chain::exit(c, i, until)),
        1 => (chain_id.clone(), index.clone()).prop_map(|(c, i)| chain::withdrawn(c, i)),
        1 => (chain_id, index).prop_map(|(c, i)| chain::endpoint(c, i, "http://10.0.0.1:1")),
        3 => accountability(),
    ]
}

/// The SPEC §8 events: inbox changes (appended or replacing the newest), slashes, reported
/// misses, evictions and seed checkpoints.
fn accountability() -> impl Strategy<Value = SequencerRegistryEvents> {
    let chain_id = 1u64..=3;
    let index = 0u64..5;
    prop_oneof![
        (chain_id.clone(), prop_oneof![Just(0u8), 0xb0u8..0xb4], 0u64..45, any::<bool>())
            .prop_map(|(c, inbox, from, replaces)| chain::inbox_set(c, inbox, from, replaces)),
        (chain_id.clone(), index.clone(), 0u64..200, 3u64..45)
            .prop_map(|(c, i, slot, until)| chain::slashed(c, i, slot, until)),
        (chain_id.clone(), index.clone(), 0u64..200, 0u64..2, 1u8..=3).prop_map(
            |(c, i, slot, penalty, misses)| chain::miss_reported(c, i, slot, penalty, misses)
        ),
        (chain_id, index, 3u64..45).prop_map(|(c, i, until)| chain::evicted(c, i, until)),
        (2u64..45).prop_map(chain::seed_checkpointed),
    ]
}

fn block_spec() -> impl Strategy<Value = BlockSpec> {
    let gap = prop_oneof![10 => Just(12u64), 3 => Just(24), 2 => 1u64..100, 1 => 100u64..1_500];
    let events = prop_oneof![6 => Just(Vec::new()), 2 => proptest::collection::vec(event(), 1..4)];
    (gap, events, proptest::bool::weighted(0.1), proptest::bool::weighted(0.05))
        .prop_map(|(gap, events, spoofed, garbage)| BlockSpec { gap, events, spoofed, garbage })
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

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn state_after_any_history_equals_state_from_scratch(
        ops in proptest::collection::vec(op(), 1..25)
    ) {
        let config = chain::config(DEPLOYMENT);
        let mut node = SimNode::new(FIRST_BLOCK);
        let mut engine = Engine::new(config);
        for op in &ops {
            if let Some(input) = node.step(op) {
                input.feed(&mut engine);
            }
            let head = engine.head().map(|h| h.hash);
            let tip = node.canonical.last().filter(|b| b.number >= DEPLOYMENT).map(|b| b.hash);
            prop_assert_eq!(head, tip, "the engine's head is the canonical tip");
        }
        let scratch = node.replay(config);
        prop_assert_eq!(engine.state(), scratch.state());

        // The same answers to queries, too.
        if let Some(from) = engine.schedule().oldest_served() {
            for chain_id in 1..=3u64 {
                let chain_id = ChainId::from(chain_id);
                prop_assert_eq!(
                    engine.schedule().entries(chain_id, from, 1024),
                    scratch.schedule().entries(chain_id, from, 1024)
                );
            }
        }
    }
}
