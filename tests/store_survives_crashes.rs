//! Crash safety with a real database file: a worker process follows a stream of commits,
//! reorgs and finality updates, committing after each; it is killed with SIGKILL at random
//! points. Each time, the database reopens at a head whose state equals the state computed from
//! scratch over the canonical chain at that point, and the next worker resumes right after it
//! instead of starting over. At the end the state equals the from-scratch state of the whole
//! stream.

mod common;

use common::{
    chain::{self, BlockSpec},
    node::{Input, Op, SimNode},
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sequencer_lookahead::{Engine, EngineConfig, Store};
use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
};

const DEPLOYMENT: u64 = 1;
const STREAM_SEED: u64 = 0x5eed;
const STREAM_LENGTH: usize = 400;
const KILLS: usize = 12;
const DB_ENV: &str = "LOOKAHEAD_CRASH_DB";

/// The stream, and the node after each input (to compute the expected state).
fn stream() -> (Vec<Input>, Vec<SimNode>) {
    let mut rng = StdRng::seed_from_u64(STREAM_SEED);
    let mut node = SimNode::new(DEPLOYMENT);
    let (mut inputs, mut nodes) = (Vec::new(), Vec::new());
    let mut operator = 0u8;
    while inputs.len() < STREAM_LENGTH {
        let op = match rng.random_range(0..10) {
            0..=5 => Op::Commit(specs(&mut rng, &mut operator, 4)),
            6..=7 => Op::Reorg(rng.random_range(1..8), specs(&mut rng, &mut operator, 6)),
            8 => Op::Revert(rng.random_range(1..3)),
            _ => Op::Finalize(rng.random_range(4..20)),
        };
        if let Some(input) = node.step(&op) {
            inputs.push(input);
            nodes.push(node.clone());
        }
    }
    (inputs, nodes)
}

/// Up to `max - 1` blocks, some with registry events.
fn specs(rng: &mut StdRng, operator: &mut u8, max: usize) -> Vec<BlockSpec> {
    let count = rng.random_range(1..max);
    (0..count)
        .map(|_| {
            let gap = [12, 12, 12, 24, 60][rng.random_range(0..5)];
            let mut spec = BlockSpec { gap, ..Default::default() };
            let chain_id = rng.random_range(1..=3);
            let index = rng.random_range(0..4);
            match rng.random_range(0..12) {
                0 => spec.events.push(chain::rollup(chain_id)),
                1..=2 => {
                    *operator = operator.wrapping_add(1);
                    spec.events.push(chain::sequencer(chain_id, index, *operator, 5));
                }
                3 => spec.events.push(chain::exit(chain_id, index, 9)),
                _ => {}
            }
            spec
        })
        .collect()
}

fn config() -> EngineConfig {
    chain::config(DEPLOYMENT)
}

/// The index of the last input the engine reflects: the newest point of the stream with the
/// same canonical tip and finality (-1 before the first input).
fn progress(engine: &Engine, nodes: &[SimNode]) -> isize {
    let head = engine.head().map(|h| h.hash);
    let finality = engine.state().finality;
    nodes
        .iter()
        .rposition(|node| {
            node.canonical.last().map(|b| b.hash) == head && node.finality == finality
        })
        .map_or(-1, |i| i as isize)
}

/// The worker: resumes from the database and applies the rest of the stream, committing and
/// reporting after each input. Runs only in a child process started by the test below.
#[test]
#[ignore = "runs as the crash test's child process"]
fn crash_worker() {
    let Some(path) = std::env::var_os(DB_ENV) else {
        return;
    };
    let (inputs, nodes) = stream();
    let (store, mut engine) = Store::open(Path::new(&path), config()).expect("database opens");
    let resume = progress(&engine, &nodes) + 1;
    for (index, input) in inputs.iter().enumerate().skip(resume as usize) {
        input.feed(&mut engine);
        store.commit(&mut engine).expect("commit");
        println!("applied {index}");
    }
    println!("done");
}

/// Runs a worker until it has reported `kill_after`, then kills it; returns the first and last
/// input indices it reported, and whether it finished.
fn run_worker(path: &Path, kill_after: Option<usize>) -> (Option<usize>, Option<usize>, bool) {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--ignored", "--exact", "crash_worker", "--nocapture", "--test-threads=1"])
        .env(DB_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("worker starts");
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    let (mut first, mut last, mut done) = (None, None, false);
    for line in stdout.lines() {
        let line = line.expect("worker output");
        // The test harness may print on the same line ("test crash_worker ... applied 0").
        if line.ends_with("done") {
            done = true;
        }
        let Some(index) = line.rsplit_once("applied ").and_then(|(_, i)| i.parse::<usize>().ok())
        else {
            continue;
        };
        first.get_or_insert(index);
        last = Some(index);
        if kill_after.is_some_and(|target| index >= target) {
            child.kill().expect("SIGKILL");
            break;
        }
    }
    child.wait().expect("worker exits");
    (first, last, done)
}

#[test]
fn reopened_database_resumes_at_a_consistent_head_after_sigkill() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("lookahead.redb");
    let (inputs, nodes) = stream();
    let mut rng = StdRng::seed_from_u64(7);
    let mut resumed_mid_stream = 0;

    for _ in 0..KILLS {
        let before = {
            let (_, engine) = Store::open(&path, config()).expect("database reopens");
            progress(&engine, &nodes)
        };
        let next = (before + 1).max(0) as usize;
        if next >= inputs.len() {
            break; // A worker got to the end before it was killed.
        }
        let target = rng.random_range(next..inputs.len());
        let (first, _, done) = run_worker(&path, Some(target));
        if let Some(first) = first {
            assert_eq!(
                first as isize,
                before + 1,
                "the worker resumes right after the committed head"
            );
            resumed_mid_stream += usize::from(before >= 0);
        }

        let (_, engine) = Store::open(&path, config()).expect("database reopens after SIGKILL");
        let at = progress(&engine, &nodes);
        assert!(at >= before, "no committed input is lost");
        if at >= 0 {
            let expected = nodes[at as usize].replay(config());
            assert_eq!(
                engine.state(),
                expected.state(),
                "state at input {at} equals the from-scratch state"
            );
        }
        if done {
            break;
        }
    }
    assert!(resumed_mid_stream > 0, "some worker resumed from a database left by a killed one");
    println!("{resumed_mid_stream} workers resumed from a database left by a SIGKILLed one");

    let (_, _, done) = run_worker(&path, None);
    assert!(done, "the last worker finishes the stream");
    let (_, engine) = Store::open(&path, config()).expect("database reopens");
    let expected = nodes.last().expect("non-empty stream").replay(config());
    assert_eq!(engine.state(), expected.state());
}
