//! What the engine serves, block by block: when windows become fixed, how reorgs change (or
//! do not change) the schedule, what finality does, which logs count, and the typed errors of
//! the queries. Clock: 12-second slots, 4-slot windows; block `n` is in slot `n`.

mod common;

use alloy_primitives::{Address, U256};
use common::chain::{self, BlockSpec};
use sequencer_lookahead::{
    Block, BlockRef, ChainId, ChangeKind, Engine, EngineError, EntryStatus, Finality, QueryError,
    ScheduleEntry, Slot, Window, select,
};

const DEPLOYMENT: u64 = 1;

/// Blocks 1..=count at slots 1..=count, with rollups 10 and 20 registered in block 1 and
/// sequencers active from window 0 (operator 1 on both rollups, operator 2 on 10, 3 on 20).
fn registry_chain(count: usize, fork: u64) -> Vec<Block> {
    let mut specs = chain::plain(count);
    specs[0].events = vec![
        chain::rollup(10),
        chain::rollup(20),
        chain::sequencer(10, 0, 1, 0),
        chain::sequencer(10, 1, 2, 0),
        chain::sequencer(20, 0, 1, 0),
        chain::sequencer(20, 1, 3, 0),
    ];
    chain::extend(None, 1, &specs, fork)
}

fn engine_over(blocks: &[Block]) -> Engine {
    let mut engine = Engine::new(chain::config(DEPLOYMENT));
    engine.apply(&chain::committed(blocks)).expect("applies");
    engine
}

fn block_ref(block: &Block) -> BlockRef {
    BlockRef { number: block.number, hash: block.hash }
}

#[test]
fn window_is_fixed_by_the_first_block_of_the_previous_window() {
    let blocks = registry_chain(4, 0);
    let mut engine = engine_over(&blocks[..3]);
    assert_eq!(engine.schedule().fixed_until(), None);
    assert_eq!(
        engine.schedule().entries(ChainId::from(10u64), Slot(8), 1),
        Err(QueryError::NotSynced)
    );

    let changes = engine.apply(&chain::committed(&blocks[3..])).unwrap();
    assert_eq!(changes.extended, vec![Window(2)], "block 4 opens window 1, fixing window 2");
    assert_eq!(engine.schedule().fixed_until(), Some(Slot(11)));
    let entry = engine.schedule().sequencer_at(ChainId::from(10u64), Slot(8)).unwrap();
    assert_eq!(entry.anchor, block_ref(&blocks[2]), "anchor(2) is the last block before slot 4");
    assert_eq!(entry.window, Window(2));
    assert_eq!(entry.status, EntryStatus::Latest);
    assert_eq!(
        engine.schedule().entries(ChainId::from(10u64), Slot(5), 4),
        Err(QueryError::NoAnchorWindow { slot: Slot(5), window: Window(1) }),
        "windows 0 and 1 have no anchor: not synced, not too old"
    );

    let status = engine.status();
    assert_eq!(status.head.map(|head| (head.number, head.slot)), Some((4, Some(Slot(4)))));
    assert_eq!(status.fixed_until_slot, Some(Slot(11)));
    assert_eq!(status.rollups, vec![ChainId::from(10u64), ChainId::from(20u64)]);
    assert_eq!(status.window_slots, 4);
}

#[test]
fn schedule_is_the_selection_over_the_anchor_seed() {
    let blocks = registry_chain(9, 0);
    let engine = engine_over(&blocks);
    let clock = engine.config().clock;
    let rollup = engine.state().registry.rollup(ChainId::from(10u64)).unwrap();
    for entry in engine.schedule().entries(ChainId::from(10u64), Slot(8), 8).unwrap() {
        let anchor = engine.state().anchors[&entry.window];
        let expected = select(
            &clock,
            ChainId::from(10u64),
            entry.slot,
            anchor.seed(entry.window),
            &rollup.sequencers,
        );
        assert_eq!(entry.sequencer.as_ref().map(|s| s.index), expected.map(|s| s.index));
        let sequencer = entry.sequencer.unwrap();
        assert_eq!(sequencer.rpc_url, rollup.sequencers[sequencer.index].rpc_url);
        assert_eq!(sequencer.signer, rollup.sequencers[sequencer.index].signer);
    }
}

#[test]
fn reorg_replacing_the_anchor_changes_the_schedule() {
    let blocks = registry_chain(6, 0);
    let mut engine = engine_over(&blocks);
    let before = engine.schedule().entries(ChainId::from(10u64), Slot(8), 4).unwrap();

    let fork = chain::extend(Some(&blocks[1]), 3, &chain::plain(4), 1);
    let changes = engine.apply(&chain::reorged(&blocks[2..], &fork)).unwrap();
    assert_eq!(changes.reorged, vec![Window(2)]);
    let after = engine.schedule().entries(ChainId::from(10u64), Slot(8), 4).unwrap();
    assert_eq!(after[0].anchor, block_ref(&fork[0]));
    assert_ne!(before, after);
    assert_eq!(engine.stats().reorgs, 1);
    assert_eq!(engine.stats().deepest_reorg, 4);
}

#[test]
fn reorg_that_touches_no_anchor_changes_nothing() {
    let blocks = registry_chain(6, 0);
    let mut engine = engine_over(&blocks);
    let before = engine.schedule().entries(ChainId::from(10u64), Slot(8), 4).unwrap();
    let fork = chain::extend(Some(&blocks[3]), 5, &chain::plain(2), 1);
    let changes = engine.apply(&chain::reorged(&blocks[4..], &fork)).unwrap();
    assert!(changes.is_empty());
    assert_eq!(engine.schedule().entries(ChainId::from(10u64), Slot(8), 4).unwrap(), before);
}

#[test]
fn revert_retracts_the_windows_it_unfixes() {
    let blocks = registry_chain(5, 0);
    let mut engine = engine_over(&blocks);
    let changes = engine.apply(&chain::reverted(&blocks[3..])).unwrap();
    assert_eq!(changes.retracted, vec![Window(2)]);
    assert_eq!(engine.schedule().fixed_until(), None);
}

#[test]
fn only_decodable_logs_of_the_registry_count() {
    let mut specs = chain::plain(2);
    specs[0].events = vec![chain::rollup(10)];
    specs[1] = BlockSpec { gap: 12, events: vec![chain::rollup(30)], spoofed: true, garbage: true };
    let blocks = chain::extend(None, 1, &specs, 0);
    let engine = engine_over(&blocks);
    let rollups: Vec<_> = engine.state().registry.rollups().map(|(id, _)| id).collect();
    assert_eq!(rollups, vec![ChainId::from(10u64), ChainId::from(30u64)], "spoofed copy ignored");
    assert_eq!(engine.stats().events_applied, 2);
    assert_eq!(engine.stats().logs_skipped, 1, "the garbage log is skipped and counted");
}

#[test]
fn blocks_before_the_deployment_are_skipped() {
    let mut specs = chain::plain(3);
    specs[0].events = vec![chain::rollup(10)];
    let blocks = chain::extend(None, 1, &specs, 0);
    let mut engine = Engine::new(chain::config(2));
    engine.apply(&chain::committed(&blocks)).unwrap();
    assert!(engine.state().registry.rollup(ChainId::from(10u64)).is_none());
    assert_eq!(engine.state().journal.entries().len(), 2);
}

#[test]
fn finality_prunes_undo_data_and_marks_entries_final() {
    let blocks = registry_chain(9, 0);
    let mut engine = engine_over(&blocks);
    engine
        .set_finality(Finality {
            safe: Some(block_ref(&blocks[7])),
            finalized: Some(block_ref(&blocks[3])),
        })
        .unwrap();
    assert_eq!(engine.state().journal.entries().next().unwrap().head.number, 5);
    let entries = engine.schedule().entries(ChainId::from(10u64), Slot(8), 8).unwrap();
    assert_eq!(entries[0].status, EntryStatus::Finalized, "anchor(2) = block 3 is finalized");
    assert_eq!(entries[4].status, EntryStatus::Safe, "anchor(3) = block 7 is safe");

    let error = engine.apply(&chain::reverted(&blocks[3..])).unwrap_err();
    assert_eq!(error, EngineError::BeyondJournal { number: 4, hash: blocks[3].hash });
    assert_eq!(engine.head().unwrap().number, 9, "a refused notification changes nothing");
}

#[test]
fn refuses_a_block_that_does_not_extend_the_head() {
    let blocks = registry_chain(4, 0);
    let mut engine = engine_over(&blocks[..2]);
    let before = engine.state().clone();
    let error = engine.apply(&chain::committed(&blocks[3..])).unwrap_err();
    assert!(matches!(error, EngineError::NotChild { number: 4, .. }));
    assert_eq!(engine.state(), &before);
}

#[test]
fn queries_report_typed_errors() {
    let blocks = registry_chain(20, 0);
    let engine = engine_over(&blocks);
    let rollup = ChainId::from(10u64);
    // Head is block 20 (window 5): windows 3..=6 are served.
    assert_eq!(engine.schedule().oldest_served(), Some(Slot(12)));
    assert_eq!(engine.schedule().fixed_until(), Some(Slot(27)));
    assert_eq!(
        engine.schedule().entries(ChainId::from(99u64), Slot(20), 1),
        Err(QueryError::UnknownRollup(ChainId::from(99u64)))
    );
    assert_eq!(
        engine.schedule().entries(rollup, Slot(28), 1),
        Err(QueryError::BeyondHorizon { slot: Slot(28), fixed_until: Slot(27) })
    );
    assert_eq!(
        engine.schedule().entries(rollup, Slot(11), 1),
        Err(QueryError::TooOld { slot: Slot(11), oldest: Slot(12) })
    );
    assert_eq!(
        engine.schedule().entries(rollup, Slot(20), 1025),
        Err(QueryError::TooManySlots { requested: 1025, max: 1024 })
    );
    assert_eq!(
        engine.schedule().entries(rollup, Slot(20), 1024).unwrap().len(),
        8,
        "cut at the horizon"
    );
    assert_eq!(engine.schedule().entries(rollup, Slot(20), 0).unwrap(), vec![]);
    assert_eq!(engine.schedule().cross(&[], Slot(20), 1), Err(QueryError::NoRollups));
}

#[test]
fn cross_schedule_names_the_shared_operator() {
    let blocks = registry_chain(20, 0);
    let engine = engine_over(&blocks);
    let rollups = [ChainId::from(10u64), ChainId::from(20u64)];
    let cross = engine.schedule().cross(&rollups, Slot(12), 16).unwrap();
    assert_eq!(cross.len(), 16);
    for slot in &cross {
        let operators: Vec<_> =
            slot.entries.iter().map(|(_, e)| e.sequencer.as_ref().unwrap().operator).collect();
        let shared = (operators[0] == operators[1]).then_some(operators[0]);
        assert_eq!(slot.shared_operator, shared);
        assert!(
            shared.is_none_or(|op| op == Address::repeat_byte(1)),
            "only operator 1 is on both"
        );
    }
    let first_shared = cross.iter().find(|s| s.shared_operator.is_some()).map(|s| s.slot);
    assert_eq!(engine.schedule().next_shared_slot(&rollups, Slot(12)).unwrap(), first_shared);
}

#[test]
fn naive_lookahead_draws_from_the_head() {
    let blocks = registry_chain(10, 0);
    let engine = engine_over(&blocks);
    let naive = engine.schedule().naive(ChainId::from(10u64), 5).unwrap();
    assert_eq!(naive.len(), 5);
    assert!(naive.iter().all(Option::is_some));
    assert_eq!(
        engine.schedule().naive(ChainId::from(10u64), 2000),
        Err(QueryError::TooManySlots { requested: 2000, max: 1024 })
    );
}

#[test]
fn fast_forward_applies_finalized_logs_without_processing_blocks() {
    let blocks = registry_chain(30, 0);
    let target = &blocks[19];
    let to = sequencer_lookahead::Head {
        number: target.number,
        hash: target.hash,
        timestamp: target.timestamp,
        prevrandao: target.prevrandao,
    };
    let logs: Vec<_> =
        blocks[..20].iter().flat_map(|b| b.logs.iter().map(move |log| (b.number, log))).collect();
    let mut engine = Engine::new(chain::config(DEPLOYMENT));
    engine.fast_forward(to, logs.iter().copied()).unwrap();
    assert_eq!(engine.head().map(|h| h.number), Some(20));
    assert_eq!(engine.state().registry.rollups().count(), 2);
    assert_eq!(engine.schedule().fixed_until(), None, "skipped blocks fix no window");

    engine.apply(&chain::committed(&blocks[20..])).unwrap();
    let full = engine_over(&blocks);
    let rollup = ChainId::from(10u64);
    let from = engine.schedule().oldest_served().unwrap();
    assert_eq!(
        engine.schedule().entries(rollup, from, 1024),
        full.schedule().entries(rollup, from, 1024)
    );

    assert!(matches!(engine.fast_forward(to, []), Err(EngineError::NotAhead { number: 20, .. })));
    let mut later = to;
    later.number = 40;
    assert!(matches!(engine.fast_forward(later, []), Err(EngineError::Unfinalized { number: 21 })));
}

#[test]
fn a_finalized_block_off_the_processed_chain_prunes_nothing() {
    let blocks = registry_chain(9, 0);
    let mut engine = engine_over(&blocks);
    let stranger = chain::extend(Some(&blocks[2]), 4, &chain::plain(1), 7);
    let error = engine
        .set_finality(Finality { safe: None, finalized: Some(block_ref(&stranger[0])) })
        .unwrap_err();
    assert!(matches!(error, EngineError::FinalizedMismatch { number: 4, .. }), "{error}");
    assert_eq!(engine.state().journal.entries().len(), 9, "nothing pruned");
    assert_eq!(engine.state().finality, Finality::default(), "finality not taken");

    // The node's real chain forks at block 3: the reorg is still possible.
    let fork = chain::extend(Some(&blocks[2]), 4, &chain::plain(8), 7);
    engine.apply(&chain::reorged(&blocks[3..], &fork)).expect("reorgs to the node's chain");
    engine.set_finality(Finality { safe: None, finalized: Some(block_ref(&fork[0])) }).unwrap();
    assert_eq!(engine.state().journal.base().map(|b| b.number), Some(4));
}

#[test]
fn a_finalized_block_beyond_the_head_prunes_once_processed() {
    let blocks = registry_chain(9, 0);
    let mut engine = engine_over(&blocks[..5]);
    let finality = Finality { safe: None, finalized: Some(block_ref(&blocks[7])) };
    engine.set_finality(finality).unwrap();
    assert_eq!(engine.state().journal.entries().len(), 5, "unverified: nothing pruned");
    engine.apply(&chain::committed(&blocks[5..])).unwrap();
    engine.set_finality(finality).unwrap();
    assert_eq!(engine.state().journal.base().map(|b| b.number), Some(8));

    // Finality never moves back.
    engine.set_finality(Finality { safe: None, finalized: Some(block_ref(&blocks[2])) }).unwrap();
    assert_eq!(engine.state().finality.finalized, Some(block_ref(&blocks[7])));
}

#[test]
fn without_finality_the_journal_keeps_max_reorg_depth_blocks() {
    let blocks = registry_chain(40, 0);
    let mut engine = Engine::new(chain::config(DEPLOYMENT));
    engine.set_max_reorg_depth(10);
    for block in &blocks {
        engine.apply(&chain::committed(std::slice::from_ref(block))).unwrap();
        assert!(engine.state().journal.entries().len() <= 10);
        let written = engine.take_dirty().journal;
        assert!(written.len() <= 2, "a block writes its entry and prunes one, not {written:?}");
    }
    assert_eq!(engine.state().journal.base().map(|b| b.number), Some(30));
    let base_window = engine.config().clock.window_of(Slot(30)).0;
    assert!(
        engine.state().anchors.keys().all(|w| w.0 + 2 >= base_window),
        "anchors older than two windows before the base are pruned with the journal"
    );
    let error = engine.apply(&chain::reverted(&blocks[25..])).unwrap_err();
    assert!(matches!(error, EngineError::BeyondJournal { .. }), "deeper than kept: {error}");
    engine.apply(&chain::reverted(&blocks[31..])).expect("within the depth");
}

#[test]
fn time_going_backwards_is_refused() {
    let blocks = registry_chain(4, 0);
    let mut engine = engine_over(&blocks);
    let mut liar = chain::extend(Some(&blocks[3]), 5, &chain::plain(1), 0).remove(0);
    liar.timestamp = blocks[3].timestamp - 1;
    let error = engine.apply(&chain::committed(&[liar])).unwrap_err();
    assert!(matches!(error, EngineError::TimeGoesBackwards { number: 5, .. }), "{error}");
    assert_eq!(engine.head().map(|h| h.number), Some(4));
}

#[test]
fn endpoint_updates_are_reported_when_applied_and_reverted() {
    let blocks = registry_chain(9, 0);
    let mut engine = engine_over(&blocks);
    let mut specs = chain::plain(1);
    specs[0].events = vec![chain::endpoint(10, 1, "http://127.0.0.1:7777")];
    let update = chain::extend(Some(&blocks[8]), 10, &specs, 0);
    let changes = engine.apply(&chain::committed(&update)).unwrap();
    assert_eq!(changes.endpoints.into_iter().collect::<Vec<_>>(), [ChainId::from(10u64)]);
    let reverted = engine.apply(&chain::reverted(&update)).unwrap();
    let events = engine.schedule().notifications(&reverted);
    let endpoint: Vec<_> = events.iter().filter(|e| e.kind == ChangeKind::Endpoint).collect();
    assert_eq!(endpoint.len(), 1, "the revert restores the old endpoint: {events:?}");
    assert!(
        endpoint[0]
            .entries
            .iter()
            .all(|e| e.sequencer.as_ref().is_none_or(|s| s.rpc_url != "http://127.0.0.1:7777"))
    );
}

#[test]
fn slashes_misses_exits_and_evictions_are_reported_as_record_changes() {
    let blocks = registry_chain(9, 0);
    let (rollup_10, rollup_20) = (ChainId::from(10u64), ChainId::from(20u64));
    let no_bond = U256::ZERO;
    // Block 10 is in window 2: a forced exit included there takes effect from window 5, beyond
    // the horizon (window 3). Each case: the event, its rollup, and the record it leaves.
    let cases = [
        (chain::slashed(10, 1, 8, 5), rollup_10, 1, (no_bond, 0, Some(Window(5)))),
        (chain::miss_reported(10, 0, 9, 1, 1), rollup_10, 0, (no_bond, 1, None)),
        (chain::evicted(20, 1, 5), rollup_20, 1, (U256::from(1), 0, Some(Window(5)))),
        (chain::exit(20, 0, 5), rollup_20, 0, (U256::from(1), 0, Some(Window(5)))),
    ];
    for (event, chain_id, index, expected) in cases {
        let mut engine = engine_over(&blocks);
        let served = |engine: &Engine| engine.schedule().entries(chain_id, Slot(8), 8).unwrap();
        let record = |engine: &Engine| {
            let records = engine.schedule().active_sequencers(chain_id, Window(3)).unwrap();
            let record = records.into_iter().find(|r| r.index == index).expect("active");
            (record.bond, record.misses, record.active_until)
        };
        let before = served(&engine);
        assert_eq!(record(&engine), (U256::from(1), 0, None));
        let mut specs = chain::plain(1);
        specs[0].events = vec![event.clone()];
        let block = chain::extend(Some(&blocks[8]), 10, &specs, 0);

        let changes = engine.apply(&chain::committed(&block)).unwrap();
        assert_eq!(changes.endpoints.iter().copied().collect::<Vec<_>>(), [chain_id], "{event:?}");
        assert!(changes.extended.is_empty() && changes.reorged.is_empty());
        assert_eq!(record(&engine), expected, "the served record: {event:?}");
        let after = served(&engine);
        let who = |entries: &[ScheduleEntry]| {
            entries.iter().map(|e| e.sequencer.as_ref().map(|s| s.index)).collect::<Vec<_>>()
        };
        assert_eq!(who(&after), who(&before), "nobody else is selected in a fixed window");
        let events = engine.schedule().notifications(&changes);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!((events[0].kind, events[0].chain_id), (ChangeKind::Endpoint, chain_id));
        assert_eq!(events[0].from_slot, Slot(8), "from the head's window");
        assert_eq!(events[0].entries, after);

        let reverted = engine.apply(&chain::reverted(&block)).unwrap();
        assert_eq!(reverted.endpoints.iter().copied().collect::<Vec<_>>(), [chain_id]);
        assert_eq!(record(&engine), (U256::from(1), 0, None), "the revert restores the record");
        let events = engine.schedule().notifications(&reverted);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].entries, before);
    }

    // Neither an inbox change nor a seed checkpoint changes what a schedule entry says.
    let mut specs = chain::plain(1);
    specs[0].events = vec![chain::inbox_set(10, 0xb0, 0, false), chain::seed_checkpointed(3)];
    let quiet = chain::extend(Some(&blocks[8]), 10, &specs, 0);
    let mut engine = engine_over(&blocks);
    assert!(engine.apply(&chain::committed(&quiet)).unwrap().is_empty());
    let rollup = engine.schedule().rollup_info(rollup_10).unwrap();
    assert_eq!(rollup.inbox, Some(Address::repeat_byte(0xb0)));
}
