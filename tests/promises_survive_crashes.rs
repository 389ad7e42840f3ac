//! Crash safety of the sequencer's promise store with real files: a worker process stores
//! promises from 16 concurrent tasks, reporting each one the store acknowledged, and is killed
//! with SIGKILL at random points (some before its first checkpoint, some after several). Each
//! time, every acknowledged promise is read back, by lock and by slot, after the store reopens
//! — whether it was still only in the log, moved into the database without a sync, or
//! checkpointed. (A SIGKILL keeps what the kernel holds; the `fdatasync` before each
//! acknowledgement is for power loss, which a test cannot cause.)

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, B256, keccak256};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sequencer_lookahead::{
    RegistryDomain,
    core::primitives::{ChainId, Slot},
    preconf::{
        promise::{Promise, PromiseSigner},
        store::{PromiseRecord, PromiseStore},
    },
};
use std::{
    collections::HashSet,
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

const KILLS: usize = 8;
const TASKS: u64 = 16;
/// Promises a slot gets before the next slot: about 2,000 promises are 1 MiB of log.
const PER_SLOT: u64 = 500;
const DB_ENV: &str = "LOOKAHEAD_PROMISE_CRASH_DB";
const RUN_ENV: &str = "LOOKAHEAD_PROMISE_CRASH_RUN";

fn domain() -> RegistryDomain {
    RegistryDomain::new(1, Address::repeat_byte(0x42))
}

/// The `n`th promise of worker run `run`: its lock id and slot follow from both.
fn record(signer: &PromiseSigner, run: u64, n: u64) -> PromiseRecord {
    let lock_id = keccak256([run.to_be_bytes(), n.to_be_bytes()].concat());
    let promise = Promise::sign(
        signer,
        &domain(),
        ChainId::from(101),
        Slot(run * 1_000 + n / PER_SLOT),
        vec![lock_id],
        B256::repeat_byte(7),
    );
    PromiseRecord { lock_id, gas: 21_000, promise }
}

/// Opens the store, waiting (up to 5 s) for the threads of an earlier handle to let go.
fn open(path: &Path) -> PromiseStore {
    for _ in 0..500 {
        match PromiseStore::open(path) {
            Ok(store) => return store,
            Err(error) if error.to_string().contains("already open") => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(error) => panic!("the promise store does not open: {error}"),
        }
    }
    panic!("the promise store is still held open after 5 s");
}

/// The worker: stores promises from [`TASKS`] tasks until it is killed, printing each lock id
/// once the store has acknowledged it. Runs only in a child process started by the test below.
#[test]
#[ignore = "runs as the crash test's child process"]
fn promise_worker() {
    let (Some(path), Some(run)) = (std::env::var_os(DB_ENV), std::env::var(RUN_ENV).ok()) else {
        return;
    };
    let run: u64 = run.parse().expect("a run number");
    let store = open(Path::new(&path));
    let signer = PromiseSigner::new(&PrivateKeySigner::random());
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async move {
        let tasks = (0..TASKS).map(|task| {
            let (store, signer) = (store.clone(), signer.clone());
            tokio::spawn(async move {
                for n in (task..).step_by(TASKS as usize) {
                    let record = record(&signer, run, n);
                    let lock_id = record.lock_id;
                    store.insert(vec![record]).await.expect("stored");
                    println!("promised {lock_id}");
                }
            })
        });
        futures::future::join_all(tasks).await;
    });
}

/// Runs worker `run` until it has reported `kill_after` promises, then kills it; the lock ids
/// it reported.
fn run_worker(path: &Path, run: u64, kill_after: usize) -> Vec<B256> {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--ignored", "--exact", "promise_worker", "--nocapture", "--test-threads=1"])
        .env(DB_ENV, path)
        .env(RUN_ENV, run.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("worker starts");
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut promised = Vec::new();
    for line in stdout.lines() {
        let line = line.expect("worker output");
        // The test harness may print on the same line ("test promise_worker ... promised 0x…").
        let Some(lock_id) = line.rsplit_once("promised ").and_then(|(_, id)| id.parse().ok())
        else {
            continue;
        };
        promised.push(lock_id);
        if promised.len() >= kill_after {
            child.kill().expect("SIGKILL");
            break;
        }
    }
    child.wait().expect("worker exits");
    promised
}

#[test]
fn every_acknowledged_promise_survives_sigkill() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("promises.redb");
    let mut rng = StdRng::seed_from_u64(7);
    let mut all: Vec<B256> = Vec::new();

    for run in 1..=KILLS as u64 {
        // From just after the start to past several 4 MiB checkpoints.
        let kill_after = rng.random_range(1..20_000);
        let promised = run_worker(&path, run, kill_after);
        assert_eq!(promised.len(), kill_after, "the worker promised until it was killed");
        all.extend(&promised);

        let store = open(&path);
        for lock_id in &promised {
            let record = store.get(*lock_id).expect("readable").unwrap_or_else(|| {
                panic!("promise {lock_id} was acknowledged before run {run} was killed, then lost")
            });
            assert_eq!(record.promise.tx_hashes, vec![*lock_id]);
            record.promise.verify(&domain(), record.promise.signer).expect("intact");
        }
        let stored: HashSet<B256> = store
            .from_slot(Slot(0))
            .expect("readable")
            .into_iter()
            .map(|record| record.lock_id)
            .collect();
        let lost = all.iter().filter(|lock_id| !stored.contains(*lock_id)).count();
        assert_eq!(lost, 0, "acknowledged promises of this and earlier runs lost, by slot");
        println!("run {run}: killed after {} promises, {} in all", promised.len(), all.len());
    }
}
