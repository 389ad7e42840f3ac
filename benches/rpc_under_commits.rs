//! RPC latency while blocks are applied and durably committed.
//!
//! `SharedEngine::apply` used to hold the engine's write lock while it applied a notification,
//! ran the store's commit (a redb write transaction with `Durability::Immediate`: one
//! `fdatasync`) and built the schedule notifications, so every RPC read waited for the disk
//! while a block was committed; it now commits outside the lock. This bench measures what RPC
//! clients see while blocks are committed, against the same clients while no block comes, so
//! that both builds can be compared (BENCHMARKS.md):
//!
//! 1. a real redb file on disk (by default under cargo's `target/tmp`, not a tmpfs) holding an
//!    engine with 20 rollups × 16 sequencers (all active, so every slot has a sequencer) and 96
//!    blocks of 12-second slots in 32-slot windows, shared and served by
//!    `rpc::server::serve` on loopback (HTTP and WebSocket);
//! 2. one WebSocket client subscribed to `lookahead_subscribe("schedule")`;
//! 3. `--clients` HTTP clients (keep-alive, one connection each) calling
//!    `lookahead_getSchedule(chainId, null, 32)` (rollups in turn) and `lookahead_status()`
//!    alternately, timing every call;
//! 4. phases: a 1 s warm-up, a baseline of `--seconds`/2 with the writer idle, then `--seconds`
//!    with a writer applying one block every `--interval-ms` (5 ms; 12 s of chain time per
//!    block, so a 32-slot window becomes fixed every 32 blocks and 20 notifications are sent;
//!    every 8th block updates an endpoint, every 64th registers a sequencer) through
//!    [`apply_and_commit`]; then, with the clients stopped, `--commit-samples` blocks at the
//!    same pace and as many back to back (the commit alone), each next to a raw 4 KiB write +
//!    `fdatasync` on the same file system (the disk's floor).
//!
//! A probe thread also takes the engine's read side once a millisecond and reports how long it
//! waited: the lock's share of the latency, without the network and the server around it.
//!
//! No finality is sent: the journal grows by one entry per block (96 + about 4,000 in a default
//! run, just under the engine's default bound of 4,096 entries; `--seconds 40` goes past it).
//!
//! ```text
//! cargo bench --bench rpc_under_commits                                    # 8 clients, 20 s
//! cargo bench --bench rpc_under_commits -- --clients 4 --seconds 10 --blocks 1000
//! cargo bench --bench rpc_under_commits -- --writer-thread --dir /some/disk
//! ```
//!
//! By default the writer is a task on the server's runtime (as `lookahead follow` runs it: a
//! commit also blocks that worker thread); `--writer-thread` runs it on a thread of its own, so
//! only the lock is shared with the RPC. Each phase prints one `key=value` line.

#[path = "../tests/common/chain.rs"]
#[allow(dead_code, unreachable_pub)]
mod chain;

use alloy_primitives::U256;
use chain::{BlockSpec, GENESIS, REGISTRY};
use sequencer_lookahead::{
    Block, Chain, ChainId, EngineConfig, Notification, ScheduleChanges, SlotClock, Store,
    core::contract::SequencerRegistry::SequencerRegistryEvents,
    rpc::{self, api::LookaheadApiClient},
    service::shared::SharedEngine,
};
use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// The writer's one call into the shared engine: apply `notification` and make it durable.
/// Its one line is all that depends on `SharedEngine`'s write API.
fn apply_and_commit(
    shared: &SharedEngine,
    store: &mut Store,
    notification: &Notification,
) -> Result<ScheduleChanges, BoxError> {
    Ok(shared.apply(notification, store)?)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the lock probe times: a reader taking the engine and letting it go.
fn read_engine(shared: &SharedEngine) -> u64 {
    shared.read().head().map_or(0, |head| head.number)
}

const ROLLUPS: u64 = 20;
const SEQUENCERS: u64 = 16;
/// The first rollup's chain id; the others follow.
const FIRST_CHAIN_ID: u64 = 1000;
const WINDOW_SLOTS: u64 = 32;
/// Blocks in the seeded chain: the head is in window 3, windows 2..=4 are fixed.
const SEED_BLOCKS: u64 = 96;

const WARMUP: u8 = 0;
const BASELINE: u8 = 1;
const LOAD: u8 = 2;
const DONE: u8 = 3;

const SCHEDULE: u8 = 0;
const STATUS: u8 = 1;

struct Args {
    clients: usize,
    seconds: f64,
    /// At most this many blocks in the load phase (default: as many as the interval allows).
    blocks: Option<u64>,
    interval: Duration,
    commit_samples: usize,
    writer_thread: bool,
    dir: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: cargo bench --bench rpc_under_commits -- [--clients C] [--seconds S] \
         [--blocks N] [--interval-ms MS] [--commit-samples N] [--writer-thread] [--dir PATH]"
    );
    std::process::exit(2)
}

impl Args {
    fn parse() -> Self {
        let mut args = Self {
            clients: 8,
            seconds: 20.0,
            blocks: None,
            interval: Duration::from_millis(5),
            commit_samples: 300,
            writer_thread: false,
            dir: PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let mut value = || it.next().unwrap_or_else(|| usage());
            match arg.as_str() {
                // `cargo bench` passes `--bench` to every bench binary.
                "--bench" => {}
                "--clients" => args.clients = value().parse().unwrap_or_else(|_| usage()),
                "--seconds" => args.seconds = value().parse().unwrap_or_else(|_| usage()),
                "--blocks" => args.blocks = Some(value().parse().unwrap_or_else(|_| usage())),
                "--interval-ms" => {
                    let ms: f64 = value().parse().unwrap_or_else(|_| usage());
                    args.interval = Duration::from_secs_f64(ms / 1000.0);
                }
                "--commit-samples" => {
                    args.commit_samples = value().parse().unwrap_or_else(|_| usage());
                }
                "--writer-thread" => args.writer_thread = true,
                "--dir" => args.dir = PathBuf::from(value()),
                _ => usage(),
            }
        }
        if args.clients == 0 || args.seconds <= 0.0 {
            usage();
        }
        args
    }
}

fn chain_id(i: u64) -> u64 {
    FIRST_CHAIN_ID + i % ROLLUPS
}

fn config() -> EngineConfig {
    EngineConfig {
        registry: REGISTRY,
        deployment_block: 1,
        clock: SlotClock::new(GENESIS, 12, WINDOW_SLOTS).expect("non-zero timing"),
    }
}

fn committed(blocks: Vec<Block>) -> Notification {
    Notification::Committed { new: Arc::new(Chain::new(blocks).expect("linked blocks")) }
}

/// The registry state and first windows: block 1 registers every rollup and its sequencers
/// (active at once), blocks 2..=96 carry no registry logs.
fn seed_chain() -> Vec<Block> {
    let mut events = Vec::new();
    for r in 0..ROLLUPS {
        events.push(chain::rollup(chain_id(r)));
        for index in 0..SEQUENCERS {
            // Operators 1..=24, shared between rollups (so slots with a shared operator exist).
            let operator = 1 + ((r * 7 + index) % 24) as u8;
            events.push(chain::sequencer(chain_id(r), index, operator, 0));
        }
    }
    let first = chain::child(None, 1, &BlockSpec { gap: 12, events, ..Default::default() }, 0);
    let mut blocks = vec![first];
    for number in 2..=SEED_BLOCKS {
        let spec = BlockSpec { gap: 12, ..Default::default() };
        blocks.push(chain::child(blocks.last(), number, &spec, 0));
    }
    blocks
}

/// Builds the blocks the writer applies: one 12-second slot each, some with registry logs.
struct BlockSource {
    parent: Block,
    sequencers: Vec<u64>,
}

impl BlockSource {
    fn next(&mut self) -> Notification {
        let number = self.parent.number + 1;
        let mut events: Vec<SequencerRegistryEvents> = Vec::new();
        if number.is_multiple_of(8) {
            let (r, index) = (number / 8 % ROLLUPS, number / 8 % SEQUENCERS);
            let url = format!("https://seq-{index}.rollup-{r}.example:8547/{number}");
            events.push(chain::endpoint(chain_id(r), index, &url));
        }
        if number.is_multiple_of(64) {
            let r = (number / 64 % ROLLUPS) as usize;
            if self.sequencers[r] < 256 {
                let slot = (self.parent.timestamp + 12 - GENESIS) / 12;
                let active_from = slot / WINDOW_SLOTS + 3;
                let operator = 30 + (number / 64 % 200) as u8;
                let event =
                    chain::sequencer(chain_id(r as u64), self.sequencers[r], operator, active_from);
                events.push(event);
                self.sequencers[r] += 1;
            }
        }
        let block = chain::child(
            Some(&self.parent),
            number,
            &BlockSpec { gap: 12, events, ..Default::default() },
            0,
        );
        self.parent = block.clone();
        committed(vec![block])
    }
}

/// One timed RPC call.
#[derive(Clone, Copy)]
struct Sample {
    phase: u8,
    method: u8,
    ok: bool,
    nanos: u64,
}

/// Nearest-rank percentile of sorted nanoseconds, in milliseconds.
fn pct_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1e6
}

fn mean_ms(values: &[u64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<u64>() as f64 / values.len() as f64 / 1e6
}

fn sorted(mut values: Vec<u64>) -> Vec<u64> {
    values.sort_unstable();
    values
}

/// The file system holding `dir`, from `/proc/self/mountinfo` (the longest mount point that
/// is a prefix of it): `(mount point, type, source)`.
fn file_system(dir: &Path) -> Option<(String, String, String)> {
    let dir = dir.canonicalize().ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            let (fs_type, source) = (right.next()?, right.next()?);
            dir.starts_with(mount_point)
                .then(|| (mount_point.to_string(), fs_type.to_string(), source.to_string()))
        })
        .max_by_key(|(mount_point, _, _)| mount_point.len())
}

/// Writes 4 KiB and `fdatasync`s it, `n` times, one each `pace`, in `dir`: the disk's floor
/// for one commit.
fn fsync_floor(dir: &Path, n: usize, pace: Duration) -> Vec<u64> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).expect("create the fsync probe");
    let page = [0x5a_u8; 4096];
    let mut next = Instant::now();
    let times = (0..n)
        .map(|_| {
            let start = Instant::now();
            file.write_all(&page).expect("write");
            file.sync_data().expect("fdatasync");
            let time = start.elapsed().as_nanos() as u64;
            next = (next + pace).max(Instant::now());
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            time
        })
        .collect();
    let _ = std::fs::remove_file(path);
    times
}

/// The writer: one block per `interval` (at once when a commit took longer) while the phase
/// is [`LOAD`], at most `max` blocks, every call of [`apply_and_commit`] timed.
struct Writer {
    shared: Arc<SharedEngine>,
    store: Store,
    source: BlockSource,
    interval: Duration,
    max: u64,
    phase: Arc<AtomicU8>,
    times: Vec<u64>,
    /// Windows the applied blocks fixed: each one a notification per rollup.
    windows_fixed: usize,
    next: Instant,
}

impl Writer {
    /// Applies one block; returns when to apply the next, or `None` once the load is over.
    fn step(&mut self) -> Option<Instant> {
        if self.phase.load(Ordering::Acquire) != LOAD || self.times.len() as u64 >= self.max {
            return None;
        }
        let notification = self.source.next();
        let start = Instant::now();
        let changes = apply_and_commit(&self.shared, &mut self.store, &notification)
            .expect("apply and commit");
        self.windows_fixed += changes.extended.len();
        self.times.push(start.elapsed().as_nanos() as u64);
        self.next = (self.next + self.interval).max(Instant::now());
        Some(self.next)
    }
}

/// One HTTP client: keep-alive, the two calls alternately, every call timed.
async fn client(
    url: String,
    id: usize,
    schedule_bodies: Arc<Vec<Vec<u8>>>,
    phase: Arc<AtomicU8>,
) -> Vec<Sample> {
    let http = reqwest::Client::new();
    let status_body = br#"{"jsonrpc":"2.0","id":1,"method":"lookahead_status","params":[]}"#;
    let mut samples = Vec::with_capacity(1 << 16);
    let mut i = id;
    loop {
        let current = phase.load(Ordering::Acquire);
        if current == DONE {
            return samples;
        }
        let method = (i % 2) as u8;
        let body = if method == SCHEDULE {
            schedule_bodies[i / 2 % schedule_bodies.len()].clone()
        } else {
            status_body.to_vec()
        };
        i += 1;
        let start = Instant::now();
        let answer = http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let ok = match answer {
            Ok(response) if response.status().is_success() => match response.bytes().await {
                // jsonrpsee writes `{"jsonrpc":"2.0","id":1,"result":…` or `…,"error":…`.
                Ok(bytes) => bytes.len() > 32 && bytes[..32].windows(8).any(|w| w == b"\"result\""),
                Err(_) => false,
            },
            _ => false,
        };
        let nanos = start.elapsed().as_nanos() as u64;
        samples.push(Sample { phase: current, method, ok, nanos });
    }
}

/// Statistics of one phase's RPC calls as `key=value` pairs.
fn rpc_stats(samples: &[Sample], phase: u8, seconds: f64) -> String {
    let of = |method: Option<u8>| {
        sorted(
            samples
                .iter()
                .filter(|s| s.phase == phase && s.ok && method.is_none_or(|m| s.method == m))
                .map(|s| s.nanos)
                .collect(),
        )
    };
    let all = of(None);
    let errors = samples.iter().filter(|s| s.phase == phase && !s.ok).count();
    format!(
        "requests={} req_per_s={:.0} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} p99.9_ms={:.3} \
         max_ms={:.3} mean_ms={:.3} schedule_p99_ms={:.3} status_p99_ms={:.3} errors={errors}",
        all.len(),
        all.len() as f64 / seconds,
        pct_ms(&all, 50.0),
        pct_ms(&all, 90.0),
        pct_ms(&all, 99.0),
        pct_ms(&all, 99.9),
        pct_ms(&all, 100.0),
        mean_ms(&all),
        pct_ms(&of(Some(SCHEDULE)), 99.0),
        pct_ms(&of(Some(STATUS)), 99.0),
    )
}

/// The lock probe's waits in one phase as `key=value` pairs.
fn lock_stats(probe: &[(u8, u64)], phase: u8) -> String {
    let waits = sorted(probe.iter().filter(|(p, _)| *p == phase).map(|(_, n)| *n).collect());
    format!(
        "lock_wait_p50_ms={:.3} lock_wait_p99_ms={:.3} lock_wait_max_ms={:.3}",
        pct_ms(&waits, 50.0),
        pct_ms(&waits, 99.0),
        pct_ms(&waits, 100.0)
    )
}

/// The 1-minute load average: how busy the (shared) machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split(' ').next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn runtime(name: &str) -> tokio::runtime::Runtime {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn main() {
    let args = Args::parse();
    std::fs::create_dir_all(&args.dir).expect("create the database directory");
    let dir = tempfile::Builder::new()
        .prefix("rpc_under_commits")
        .tempdir_in(&args.dir)
        .expect("temporary directory");
    let (mount_point, fs_type, source) =
        file_system(dir.path()).unwrap_or_else(|| ("?".into(), "?".into(), "?".into()));
    let writer_kind = if args.writer_thread { "thread" } else { "server-task" };
    println!(
        "rpc_under_commits setup dir={} fs={fs_type} source={source} mount={mount_point} \
         clients={} seconds={} interval_ms={} writer={writer_kind}",
        dir.path().display(),
        args.clients,
        args.seconds,
        args.interval.as_secs_f64() * 1000.0,
    );
    if fs_type == "tmpfs" {
        eprintln!("warning: {} is on tmpfs: fsync costs nothing there", dir.path().display());
    }

    // The server side: the engine, its database and the RPC, on a runtime of its own.
    let server = runtime("server");
    let (mut store, engine) =
        Store::open(&dir.path().join("lookahead.redb"), config()).expect("open the store");
    let shared = SharedEngine::new(engine);
    let seed = seed_chain();
    let source = BlockSource {
        parent: seed.last().expect("seed blocks").clone(),
        sequencers: vec![SEQUENCERS; ROLLUPS as usize],
    };
    apply_and_commit(&shared, &mut store, &committed(seed)).expect("seed the engine");
    let (addr, handle) = server
        .block_on(rpc::server::serve("127.0.0.1:0".parse().expect("address"), shared.clone()))
        .expect("serve the RPC");
    let url = format!("http://{addr}");

    // The clients, on another runtime: a check of both answers, the subscriber, the load.
    let clients = runtime("client");
    let received = Arc::new(AtomicU64::new(0));
    let (ws, mut subscription) = clients.block_on(async {
        let http =
            jsonrpsee::http_client::HttpClientBuilder::default().build(&url).expect("HTTP client");
        let entries = http
            .get_schedule(ChainId::from(FIRST_CHAIN_ID), None, Some(32))
            .await
            .expect("lookahead_getSchedule")
            .decode()
            .expect("entries decode");
        assert_eq!(entries.len(), 32, "32 fixed slots after the head");
        assert!(entries.iter().all(|e| e.sequencer.is_some()), "every slot has a sequencer");
        let status = http.status().await.expect("lookahead_status");
        assert_eq!(status.engine.rollups.len(), ROLLUPS as usize);

        let ws = jsonrpsee::ws_client::WsClientBuilder::default()
            .build(format!("ws://{addr}"))
            .await
            .expect("WebSocket client");
        let subscription =
            ws.subscribe_schedule("schedule".into(), None).await.expect("lookahead_subscribe");
        (ws, subscription)
    });
    let subscriber = {
        let received = received.clone();
        clients.spawn(async move {
            let _ws = ws;
            while let Some(Ok(_)) = subscription.next().await {
                received.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let phase = Arc::new(AtomicU8::new(WARMUP));
    let schedule_bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..ROLLUPS)
            .map(|r| {
                serde_json::to_vec(&serde_json::json!({
                    "jsonrpc": "2.0", "id": 1, "method": "lookahead_getSchedule",
                    "params": [ChainId(U256::from(chain_id(r))), null, 32],
                }))
                .expect("request")
            })
            .collect(),
    );
    let tasks: Vec<_> = (0..args.clients)
        .map(|id| clients.spawn(client(url.clone(), id, schedule_bodies.clone(), phase.clone())))
        .collect();

    // The lock probe.
    let probing = Arc::new(AtomicBool::new(true));
    let probe = {
        let (shared, phase, probing) = (shared.clone(), phase.clone(), probing.clone());
        std::thread::spawn(move || {
            let mut waits = Vec::new();
            while probing.load(Ordering::Acquire) {
                let current = phase.load(Ordering::Acquire);
                let start = Instant::now();
                std::hint::black_box(read_engine(&shared));
                waits.push((current, start.elapsed().as_nanos() as u64));
                std::thread::sleep(Duration::from_millis(1));
            }
            waits
        })
    };

    // The writer, started with the load phase.
    let baseline_seconds = args.seconds / 2.0;
    let mut writer = Writer {
        shared: shared.clone(),
        store,
        source,
        interval: args.interval,
        max: args.blocks.unwrap_or(u64::MAX),
        phase: phase.clone(),
        times: Vec::new(),
        windows_fixed: 0,
        next: Instant::now(),
    };

    std::thread::sleep(Duration::from_secs(1));
    phase.store(BASELINE, Ordering::Release);
    std::thread::sleep(Duration::from_secs_f64(baseline_seconds));
    let notified_before = received.load(Ordering::Relaxed);
    let baseline_load = load_average();
    writer.next = Instant::now();
    phase.store(LOAD, Ordering::Release);
    let load_start = Instant::now();
    let mut writer = if args.writer_thread {
        let running = std::thread::spawn(move || {
            while let Some(next) = writer.step() {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            writer
        });
        std::thread::sleep(Duration::from_secs_f64(args.seconds));
        phase.store(DONE, Ordering::Release);
        running.join().expect("writer thread")
    } else {
        // As `lookahead follow` runs it: a task on the server's runtime that applies and
        // commits synchronously, and sleeps asynchronously in between.
        let running = server.spawn(async move {
            while let Some(next) = writer.step() {
                tokio::time::sleep_until(next.into()).await;
            }
            writer
        });
        std::thread::sleep(Duration::from_secs_f64(args.seconds));
        phase.store(DONE, Ordering::Release);
        server.block_on(running).expect("writer task")
    };
    let load_elapsed = load_start.elapsed().as_secs_f64();
    let load_load = load_average();
    let notified = received.load(Ordering::Relaxed) - notified_before;

    let samples: Vec<Sample> = clients.block_on(async {
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.expect("client task"));
        }
        all
    });
    probing.store(false, Ordering::Release);
    let probe = probe.join().expect("probe thread");

    let base = format!("clients={} writer={writer_kind}", args.clients);
    println!(
        "rpc_under_commits phase=baseline {base} loadavg={baseline_load} \
         seconds={baseline_seconds:.1} blocks=0 {} {}",
        rpc_stats(&samples, BASELINE, baseline_seconds),
        lock_stats(&probe, BASELINE),
    );
    let writes = sorted(std::mem::take(&mut writer.times));
    println!(
        "rpc_under_commits phase=load {base} loadavg={load_load} seconds={load_elapsed:.1} \
         blocks={} commits_per_s={:.1} commit_mean_ms={:.3} commit_p99_ms={:.3} \
         commit_max_ms={:.3} windows_fixed={} notifications={notified} {} {}",
        writes.len(),
        writes.len() as f64 / load_elapsed,
        mean_ms(&writes),
        pct_ms(&writes, 99.0),
        pct_ms(&writes, 100.0),
        writer.windows_fixed,
        rpc_stats(&samples, LOAD, args.seconds),
        lock_stats(&probe, LOAD),
    );

    // The commit alone: no clients, one block per interval as in the load phase, then blocks
    // back to back; and the disk's floor, a 4 KiB write and `fdatasync`, both ways too.
    for (name, pace) in [("commit-alone", args.interval), ("commit-back-to-back", Duration::ZERO)] {
        let mut times = Vec::with_capacity(args.commit_samples);
        let mut notify = Vec::new();
        let mut next = Instant::now();
        for _ in 0..args.commit_samples {
            let notification = writer.source.next();
            let start = Instant::now();
            let changes = apply_and_commit(&shared, &mut writer.store, &notification)
                .expect("apply and commit");
            times.push(start.elapsed().as_nanos() as u64);
            if !changes.is_empty() {
                // What building the notifications of a window costs (under the lock today).
                let start = Instant::now();
                std::hint::black_box(shared.read().schedule().notifications(&changes));
                notify.push(start.elapsed().as_nanos() as u64);
            }
            next = (next + pace).max(Instant::now());
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        let times = sorted(times);
        let fsync = sorted(fsync_floor(dir.path(), args.commit_samples, pace));
        println!(
            "rpc_under_commits phase={name} blocks={} pace_ms={:.1} commit_mean_ms={:.3} \
             commit_p50_ms={:.3} commit_p99_ms={:.3} commit_max_ms={:.3} \
             window_notifications_mean_ms={:.3} fsync_4k_mean_ms={:.3} fsync_4k_p99_ms={:.3}",
            times.len(),
            pace.as_secs_f64() * 1000.0,
            mean_ms(&times),
            pct_ms(&times, 50.0),
            pct_ms(&times, 99.0),
            pct_ms(&times, 100.0),
            mean_ms(&sorted(notify)),
            mean_ms(&fsync),
            pct_ms(&fsync, 99.0),
        );
    }

    handle.stop().expect("stop the RPC server");
    subscriber.abort();
    drop(clients);
    drop(server);
}
