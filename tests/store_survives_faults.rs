//! Nothing lost, nothing stuck: a block source follows a stream of commits, reverts, reorgs and
//! finality updates into the shared engine and a real redb file whose writes and syncs start
//! failing at random points (as a full disk does). After every failed commit the engine holds
//! exactly the from-scratch state at the last acknowledged head — memory was reloaded from
//! disk, nothing half-written survives, and subscribers are told of the reload — and the same
//! input, sent again once the disk heals, applies. A restart from the file gives the same
//! state. At least 200 faults are injected.

mod common;

use common::{
    chain::{self, BlockSpec},
    node::{Input, Op, SimNode},
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sequencer_lookahead::{
    EngineConfig, Store,
    service::shared::{SharedEngine, SharedError},
    store::faults::{Faults, faulty_database},
};
use std::{path::Path, sync::Arc};

const DEPLOYMENT: u64 = 1;
const FAULTS: u64 = 200;

/// A store on `path` whose backend fails as `faults` says.
fn faulty_store(path: &Path, faults: &Arc<Faults>, config: EngineConfig) -> (Store, SharedEngine) {
    let (store, engine) =
        Store::open_with(faulty_database(path, Arc::clone(faults)), config).expect("opens");
    let shared = Arc::into_inner(SharedEngine::new(engine)).expect("one owner");
    (store, shared)
}

fn random_op(rng: &mut StdRng) -> Op {
    let specs = |rng: &mut StdRng, max: usize| -> Vec<BlockSpec> {
        (0..rng.random_range(1..=max))
            .map(|_| {
                let events = match rng.random_range(0..6) {
                    0 => vec![chain::rollup(rng.random_range(1..=3))],
                    1 => vec![chain::sequencer(
                        rng.random_range(1..=3),
                        rng.random_range(0..3),
                        rng.random_range(1..=4),
                        rng.random_range(0..20),
                    )],
                    2 => vec![chain::endpoint(rng.random_range(1..=3), 0, "http://10.0.0.1:1")],
                    _ => Vec::new(),
                };
                BlockSpec { gap: 12 * rng.random_range(1..=3), events, ..Default::default() }
            })
            .collect()
    };
    match rng.random_range(0..10) {
        0..=4 => Op::Commit(specs(rng, 12)),
        5 => Op::Revert(rng.random_range(1..=8)),
        6..=7 => {
            let depth = rng.random_range(1..=10);
            Op::Reorg(depth, specs(rng, 14))
        }
        _ => Op::Finalize(rng.random_range(0..20)),
    }
}

/// Feeds `input`; `Ok(true)` when it applied, `Ok(false)` when a write failed.
fn feed(shared: &SharedEngine, store: &mut Store, input: &Input) -> Result<bool, SharedError> {
    let result = match input {
        Input::Notification(notification) => shared.apply(notification, store).map(|_| ()),
        Input::Finality(finality) => shared.set_finality(*finality, store),
    };
    match result {
        Ok(()) => Ok(true),
        Err(SharedError::Store(_)) => Ok(false),
        Err(error) => Err(error),
    }
}

#[test]
fn failed_commits_lose_nothing_and_leave_nothing_half_written() {
    let config = chain::config(DEPLOYMENT);
    let mut rng = StdRng::seed_from_u64(12);
    let mut failed_commits = 0u64;
    let mut streams = 0;
    while failed_commits < FAULTS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lookahead.redb");
        let faults = Arc::new(Faults::default());
        let (mut store, shared) = faulty_store(&path, &faults, config);
        let mut reloaded = shared.reloaded();
        let mut node = SimNode::new(DEPLOYMENT);
        // The node as of the last acknowledged input: what the engine must equal.
        let mut acknowledged = node.clone();

        for _ in 0..60 {
            let op = random_op(&mut rng);
            let Some(input) = node.step(&op) else { continue };
            if rng.random_bool(0.4) {
                faults.fail_after(rng.random_range(0..24));
            }
            let mut attempts = 0;
            while !feed(&shared, &mut store, &input).expect("the node's inputs apply") {
                failed_commits += 1;
                attempts += 1;
                // Reloaded from disk: the acknowledged state. Only while the database does not
                // even reopen may memory hold the unacknowledged change, and it says stale.
                let state = shared.read().state().clone();
                if shared.is_stale() {
                    assert!(
                        state == *acknowledged.replay(config).state()
                            || state == *node.replay(config).state(),
                        "a stale engine holds the acknowledged or the new state (stream {streams})"
                    );
                } else {
                    assert_eq!(
                        &state,
                        acknowledged.replay(config).state(),
                        "after a failed commit the engine is the acknowledged state (stream {streams})"
                    );
                    // What it serves went back without a notification: subscribers are told.
                    assert!(reloaded.has_changed().unwrap(), "a reload is announced");
                }
                reloaded.borrow_and_update();
                // The disk stays full for a while, then space is freed.
                if attempts >= rng.random_range(1..=3) {
                    faults.heal();
                }
            }
            faults.heal();
            acknowledged = node.clone();
            assert_eq!(shared.read().state(), acknowledged.replay(config).state());
            assert!(!shared.is_stale(), "a durable change clears the stale mark");
        }
        drop(shared);
        drop(store);
        let (_, restarted) = Store::open(&path, config).expect("reopens after the faults");
        assert_eq!(
            restarted.state(),
            acknowledged.replay(config).state(),
            "a restart resumes at the acknowledged head (stream {streams})"
        );
        streams += 1;
    }
    println!("{failed_commits} failed commits over {streams} streams, each recovered exactly");
}
