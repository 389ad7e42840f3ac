//! A follower against a node that lies — a finalized hash off the chain, a finalized number
//! going backwards, timestamps going backwards, numbers near `u64::MAX` — does not panic, says
//! clearly what is wrong (in its error or a warning), and keeps serving the schedule of the
//! node's canonical chain, or marks it stale. The node is a real JSON-RPC server
//! ([`LyingNode`]); the follower reaches it over HTTP with an alloy provider. Served answers are
//! compared with an engine built from scratch over the honest canonical chain.

mod common;

use common::{
    chain,
    lying_node::{LyingNode, forged},
};
use sequencer_lookahead::{
    Block, BlockRef, ChainId, Engine, Finality, HeadStatus, QueryError, ScheduleEntry, Slot, Store,
    service::{follower::Follower, shared::SharedEngine},
};
use std::{
    fmt::Display,
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};
use tracing::subscriber::DefaultGuard;

const ROLLUP: u64 = 1;

/// `count` blocks from number `first`, one per 12-second slot from slot 1, with rollup 1 and
/// three sequencers (active from slot 0) registered in the first block.
fn honest_chain(first: u64, count: usize) -> Vec<Block> {
    let mut specs = chain::plain(count);
    specs[0].events = vec![
        chain::rollup(ROLLUP),
        chain::sequencer(ROLLUP, 0, 1, 0),
        chain::sequencer(ROLLUP, 1, 2, 0),
        chain::sequencer(ROLLUP, 2, 3, 0),
    ];
    chain::extend(None, first, &specs, 0)
}

fn block_ref(block: &Block) -> BlockRef {
    BlockRef { number: block.number, hash: block.hash }
}

/// What the engine serves: its head, its horizon and every served entry of the rollup.
#[derive(Debug, PartialEq)]
struct Served {
    head: Option<HeadStatus>,
    fixed_until: Option<Slot>,
    oldest: Option<Slot>,
    entries: Result<Vec<ScheduleEntry>, QueryError>,
}

fn served(engine: &Engine) -> Served {
    let schedule = engine.schedule();
    let oldest = schedule.oldest_served();
    let entries = match oldest {
        Some(from) => schedule.entries(ChainId::from(ROLLUP), from, 1024),
        None => Err(QueryError::NotSynced),
    };
    Served { head: engine.status().head, fixed_until: schedule.fixed_until(), oldest, entries }
}

/// The engine of `blocks` (honest, linked) with `finality`, computed from scratch.
fn from_scratch(blocks: &[Block], finality: Finality) -> Engine {
    let mut engine = Engine::new(chain::config(1));
    engine.apply(&chain::committed(blocks)).expect("the honest chain applies");
    engine.set_finality(finality).expect("the honest finality applies");
    engine
}

/// The warnings and errors logged on the test's thread (the follower, the engine and the node
/// all run on it: `#[tokio::test]` is single-threaded).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture() -> (Self, DefaultGuard) {
        let logs = Self::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Whether the service warned (or erred) about something mentioning `word`.
    fn warned(&self, word: &str) -> bool {
        self.text().lines().any(|line| {
            (line.contains("WARN") || line.contains("ERROR"))
                && line.contains("lookahead::")
                && line.to_lowercase().contains(word)
        })
    }
}

/// A follower of `node` (from its first block) into a fresh store, with its shared engine.
struct Following {
    node: LyingNode,
    shared: Arc<SharedEngine>,
    follower: Follower,
    logs: Logs,
    _logging: DefaultGuard,
    _dir: tempfile::TempDir,
}

async fn follow(blocks: Vec<Block>) -> Following {
    let (logs, logging) = Logs::capture();
    let start_block = blocks[0].number;
    let node = LyingNode::start(blocks).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, engine) =
        Store::open(&dir.path().join("lookahead.redb"), chain::config(1)).expect("store opens");
    let shared = SharedEngine::new(engine);
    let follower = Follower::new(
        node.provider().await,
        Arc::clone(&shared),
        store,
        start_block,
        Duration::from_secs(2),
    );
    Following { node, shared, follower, logs, _logging: logging, _dir: dir }
}

/// Whether `result` is an error or the service warned, either mentioning `word`.
fn said<T, E: Display>(result: &Result<T, E>, logs: &Logs, word: &str) -> bool {
    result.as_ref().err().is_some_and(|e| e.to_string().to_lowercase().contains(word))
        || logs.warned(word)
}

#[tokio::test]
async fn finalized_hash_off_the_chain_prunes_nothing_and_serves_the_canonical_schedule() {
    let Following { node, shared, mut follower, logs, _logging, _dir } =
        follow(honest_chain(1, 40)).await;
    let mut bogus = node.at(30);
    bogus.hash = alloy_primitives::keccak256("not on the chain");
    node.set_finalized(Some(bogus));

    let result = follower.sync().await;
    assert_eq!(shared.read().head().map(|h| h.number), Some(40), "synced: {result:?}");
    assert_eq!(
        shared.read().state().journal.entries().next().map(|entry| entry.head.number),
        Some(1),
        "a finalized block that is not on the chain prunes nothing"
    );
    assert!(
        said(&result, &logs, "finalized"),
        "a finalized block off the chain is reported: {result:?}\n{}",
        logs.text()
    );
    let before = served(&shared.read());
    assert_eq!(before, served(&from_scratch(&node.canonical(), Finality::default())));

    // A real reorg of the last 15 blocks, below the lying finalized height.
    let mut fork = chain::plain(16);
    fork[0].events = vec![chain::sequencer(ROLLUP, 3, 4, 0)];
    node.reorg(15, &fork);
    let expected = served(&from_scratch(&node.canonical(), Finality::default()));
    assert_ne!(before.entries, expected.entries, "the reorg changes the served schedule");

    let batch = follower.sync_batch().await;
    assert!(batch.is_ok(), "the follower follows the reorg: {batch:?}");
    let finality = follower.sync_finality().await;
    assert_eq!(shared.read().head().map(|h| h.hash), Some(node.tip().hash), "{finality:?}");
    assert_eq!(served(&shared.read()), expected, "serves the canonical chain's schedule");
}

#[tokio::test]
async fn finalized_number_going_backwards_is_ignored() {
    let Following { node, shared, mut follower, logs, _logging, _dir } =
        follow(honest_chain(1, 40)).await;
    let finalized = block_ref(&node.at(30));
    node.set_finalized(Some(node.at(30)));
    follower.sync().await.expect("an honest node syncs");
    assert_eq!(shared.read().status().finalized, Some(finalized));

    node.set_finalized(Some(node.at(20)));
    let backwards = follower.sync_finality().await;
    assert_eq!(
        shared.read().status().finalized,
        Some(finalized),
        "never moves back: {backwards:?}"
    );
    let result = follower.sync().await;
    assert_eq!(shared.read().status().finalized, Some(finalized), "never moves back: {result:?}");
    let honest = Finality { safe: None, finalized: Some(finalized) };
    assert_eq!(served(&shared.read()), served(&from_scratch(&node.canonical(), honest)));

    // It keeps following the chain.
    node.extend(&chain::plain(6));
    let _ = follower.sync().await;
    assert_eq!(shared.read().status().finalized, Some(finalized));
    assert_eq!(served(&shared.read()), served(&from_scratch(&node.canonical(), honest)));
    assert!(
        said(&backwards, &logs, "finalized") || said(&result, &logs, "finalized"),
        "a finalized block going backwards is reported: {backwards:?}, {result:?}\n{}",
        logs.text()
    );
}

#[tokio::test]
async fn timestamps_going_backwards_are_refused_without_panic() {
    let Following { node, shared, mut follower, _logging, _dir, .. } =
        follow(honest_chain(1, 40)).await;
    follower.sync().await.expect("an honest node syncs");
    let good = served(&shared.read());
    assert_eq!(good, served(&from_scratch(&node.canonical(), Finality::default())));

    let tip = node.tip();
    node.push(forged(tip.hash, tip.number + 1, tip.timestamp - 12, 0));
    let result = follower.sync_batch().await;
    assert!(
        result.as_ref().is_err_and(|e| e.to_string().contains("timestamp")),
        "a block older than its parent is refused, naming the timestamp: {result:?}"
    );
    assert_eq!(shared.read().head().map(|h| h.hash), Some(tip.hash), "the head stays");
    assert_eq!(served(&shared.read()), good, "served answers unchanged");

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(follower.run(Duration::from_millis(50), async {
        let _ = stopped.await;
    }));
    for _ in 0..100 {
        if shared.is_stale() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(shared.is_stale(), "failing rounds mark the served state stale");
    assert!(!run.is_finished(), "the follower keeps running");
    assert_eq!(shared.read().head().map(|h| h.hash), Some(tip.hash), "the head stays");
    assert_eq!(served(&shared.read()), good, "served answers unchanged");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), run).await.expect("stops").expect("no panic");
}

#[tokio::test]
async fn numbers_near_u64_max_do_not_panic() {
    let Following { node, shared, mut follower, _logging, _dir, .. } =
        follow(honest_chain(1, 40)).await;
    follower.sync().await.expect("an honest node syncs");
    let good = served(&shared.read());
    let max = u64::MAX.to_string();

    // The node claims its head is block u64::MAX, and has no block 41.
    node.set_block_number(Some(u64::MAX));
    let result = follower.sync_batch().await;
    assert!(
        result.as_ref().is_err_and(|e| {
            let text = e.to_string();
            text.contains("block 41") || text.contains(&max)
        }),
        "a head that does not exist is refused, naming the block: {result:?}"
    );
    let result = follower.sync().await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(served(&shared.read()), good, "served answers unchanged");

    // The block after the head claims number u64::MAX.
    node.set_block_number(None);
    let tip = node.tip();
    let liar = forged(tip.hash, u64::MAX, tip.timestamp + 12, 0);
    node.push(liar.clone());
    let result = follower.sync_batch().await;
    assert!(
        result.as_ref().is_err_and(|e| e.to_string().contains(&max)),
        "a block number jumping to u64::MAX is refused, naming it: {result:?}"
    );
    assert_eq!(served(&shared.read()), good, "served answers unchanged");

    // And a child of that block, whose number can only have wrapped around.
    node.push(forged(liar.hash, 0, liar.timestamp + 12, 1));
    let result = follower.sync_batch().await;
    assert!(
        result.as_ref().is_err_and(|e| {
            let text = e.to_string();
            text.contains(&max) || text.contains("number")
        }),
        "a block after u64::MAX is refused, naming the number: {result:?}"
    );
    let result = follower.sync().await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(served(&shared.read()), good, "served answers unchanged");
}

#[tokio::test]
async fn a_chain_reaching_u64_max_does_not_panic() {
    // An honest chain whose head is block u64::MAX - 1.
    let Following { node, shared, mut follower, _logging, _dir, .. } =
        follow(honest_chain(u64::MAX - 40, 40)).await;
    let result = follower.sync().await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(shared.read().head().map(|h| h.number), Some(u64::MAX - 1));
    let good = served(&shared.read());
    assert_eq!(good, served(&from_scratch(&node.canonical(), Finality::default())));

    // Its child is block u64::MAX: followed or refused, never a panic.
    node.extend(&chain::plain(1));
    let max = u64::MAX.to_string();
    let mut last = good;
    for round in 0..3 {
        let result = follower.sync().await;
        let now = served(&shared.read());
        match &result {
            Ok(()) => assert_eq!(
                now,
                served(&from_scratch(&node.canonical(), Finality::default())),
                "round {round}"
            ),
            Err(error) => {
                let text = error.to_string();
                assert!(text.contains(&max) || text.contains("number"), "round {round}: {text}");
                assert!(now == last, "round {round}: served answers unchanged");
            }
        }
        last = now;
    }
}
