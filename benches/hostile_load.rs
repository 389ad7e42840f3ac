//! Honest bundles through the gateway with and without hostile clients attacking every server,
//! on one machine, in one run. Everything runs as real processes on loopback, as in
//! `benches/bundle_load.rs`: `lookahead devnet` (anvil with 1-second slots, the registry, the
//! lookahead RPC), the three sample `lookahead sequencer`s and one `lookahead gateway` (500 ms
//! lock ttl), all with their default limits.
//!
//! ```text
//! cargo bench --bench hostile_load                  # 20 clients × 40 bundles/s, 10 s phases
//! cargo bench --bench hostile_load -- 40 40 20      # 40 clients × 40 bundles/s, 20 s phases
//! HOSTILE_WAVES=locks cargo bench --bench hostile_load             # one wave of the attack
//! HOSTILE_OVERSIZED_PER_SECOND=2 cargo bench --bench hostile_load  # oversized waves paced
//! HOSTILE_ATTACKER_NICE=19 cargo bench --bench hostile_load        # attack at low priority
//! HOSTILE_FOLLOW_REORGS=false cargo bench --bench hostile_load     # every confirm asks the lookahead
//! HOSTILE_SEQUENCER_ARGS="--rpc.max-running-per-ip=64" cargo bench --bench hostile_load
//! HOSTILE_GATEWAY_ARGS="--bundles-in-flight=4" cargo bench --bench hostile_load
//! ```
//!
//! Honest clients are distinct users: each sends from an address of its own (127.1.0.x) over
//! one keep-alive connection, a two-leg atomic bundle (a pre-signed transfer on 0x65 and one on
//! 0x66; the gateway picks the slot) every 1/rate seconds, waiting for each answer, so each
//! stays under the gateway's 50 bundles per second for one address. A bundle counts when the
//! gateway returns two promises; latency is the client's round trip.
//!
//! Three phases of the same length, one after the other: honest clients alone, honest clients
//! while the attack of `tests/hostile_clients.rs` runs (on a runtime of its own: held
//! connections and unfinished requests at every server, 10 MB bodies, 100,000-id lists and
//! oversized batches, slots locked at the sequencers from one address, the gateway flooded and
//! hung up on, bundles from hundreds of addresses), honest clients alone again. The attacker's
//! sequencer with a private endpoint is left out: its slots would fail honest bundles by design.
//!
//! The table gives each phase's promised bundles per second, latency percentiles, failures, and
//! the CPU each process used over the honest clients' run (100 % is one core), with the rest of
//! the machine's busy time: the machine is shared.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{
    attack::{self, LockBounds, Seen, Targets},
    hostile::{RawHttp, addr_of, error_code, loopback, request},
    preconf::{PreconfNet, Process, transfer},
};
use jsonrpsee::http_client::HttpClientBuilder;
use serde_json::json;
use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

const A: u64 = 101;
const B: u64 = 102;
/// Pre-signed bundles, used round-robin: enough that none repeats within a slot.
const BUNDLES: usize = 16_384;
/// What the sequencers bound by default, with [`SLOT_GAS`] per slot.
const SLOT_GAS: u64 = u64::MAX / 2;
const BOUNDS: LockBounds =
    LockBounds { share: SLOT_GAS / 2, locks_per_caller: 256, sender_txs_per_slot: 16 };

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let clients: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20);
    let rate: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(40.0);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let phase = Duration::from_secs(seconds);

    let net = PreconfNet::start();
    // The sample operators, with the default share of a slot per client IP (50 %); slots big
    // enough that the honest load never fills one. HOSTILE_FOLLOW_REORGS=false: every confirm
    // asks the lookahead again, as before the sequencers followed its reorg notifications.
    let follow_reorgs = std::env::var("HOSTILE_FOLLOW_REORGS").unwrap_or_else(|_| "true".into());
    // HOSTILE_SEQUENCER_ARGS and HOSTILE_GATEWAY_ARGS: more flags, split at spaces.
    let extra = |name: &str| -> Vec<String> {
        std::env::var(name).unwrap_or_default().split_whitespace().map(str::to_owned).collect()
    };
    let sequencer_args: Vec<String> =
        ["--caller-slot-share=50".to_owned(), format!("--follow-reorgs={follow_reorgs}")]
            .into_iter()
            .chain(extra("HOSTILE_SEQUENCER_ARGS"))
            .collect();
    let sequencers: Vec<Process> =
        (1..=3).map(|operator| net.sequencer_with(operator, SLOT_GAS, &sequencer_args)).collect();
    let gateway = net.gateway_with("bench", 500, &extra("HOSTILE_GATEWAY_ARGS"));
    net.wait_active().await;
    let targets = Targets {
        lookahead: addr_of(&net.lookahead_url),
        sequencers: sequencers.iter().map(|s| addr_of(&s.url())).collect(),
        gateway: addr_of(&gateway.url()),
    };
    eprintln!(
        "devnet, 3 sequencers and the gateway are up; {clients} clients × {rate} bundles/s, {seconds} s per phase"
    );

    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..BUNDLES)
            .map(|i| {
                let txs = [A, B].map(|id| json!({"chainId": format!("{id:#x}"), "rawTx": transfer(id, i as u64, 21_000)}));
                serde_json::to_vec(&request(1, "gateway_sendBundle", json!([{ "txs": txs }])))
                    .expect("JSON")
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let honest = Honest { gateway: targets.gateway, bodies, next, clients, rate };
    let processes: Vec<(&str, u32)> = vec![
        ("lookahead", net.devnet.pid()),
        ("sequencers", sequencers[0].pid()),
        ("", sequencers[1].pid()),
        ("", sequencers[2].pid()),
        ("gateway", gateway.pid()),
        ("bench (clients, attackers)", std::process::id()),
        ("anvil", children(net.devnet.pid()).first().copied().unwrap_or(0)),
    ];

    // Warm-up: connections, caches, the allocator.
    honest.run(Duration::from_secs(3)).await;

    let mut rows = Vec::new();
    for (name, attacked) in
        [("honest only", false), ("honest + attack", true), ("honest only, after", false)]
    {
        // CPU is measured over the honest clients' run only, the attack's set-up left out.
        let measure = |before: &(Vec<u64>, u64)| {
            let per_second = |ticks: u64| ticks as f64 / ticks_per_second() / seconds as f64;
            let mut cpu: Vec<f64> = cpu_ticks(&processes)
                .iter()
                .zip(&before.0)
                .map(|(after, before)| per_second(after - before))
                .collect();
            // The rest of the machine: other builds and tests share it.
            let ours: f64 = cpu.iter().sum();
            cpu.push(per_second(busy_ticks().saturating_sub(before.1)) - ours);
            cpu
        };
        let (outcome, seen, cpu) = if attacked {
            let view =
                (net.lookahead_url.clone(), net.keys.iter().take(4).map(|k| k.address()).collect());
            let mut attack = Attack::start(targets.clone(), view, phase);
            let kept = attack.ready().await;
            // Printed as the phase starts: a profiler started now sees the attack.
            eprintln!("attack: connections kept {kept:?}; the attack's phase starts");
            let before = (cpu_ticks(&processes), busy_ticks());
            let outcome = honest.run(phase).await;
            let cpu = measure(&before);
            let seen = attack.finish().await;
            (outcome, Some(seen), cpu)
        } else {
            let before = (cpu_ticks(&processes), busy_ticks());
            let outcome = honest.run(phase).await;
            (outcome, None, measure(&before))
        };
        if let Some(seen) = &seen {
            eprintln!("attack: {:?}", seen.counts);
            for what in &seen.unexpected {
                eprintln!("attack, UNEXPECTED: {what}");
            }
        }
        rows.push((name, outcome, cpu));
    }

    println!();
    println!(
        "{clients} honest clients × {rate} bundles/s offered ({:.0}/s), {seconds} s per phase, attack at nice {}, sequencers --follow-reorgs={follow_reorgs}",
        clients as f64 * rate,
        attacker_nice()
    );
    println!(
        "| phase | bundles/s | vs first | p50 | p90 | p99 | max | failed | CPU: lookahead | sequencers | gateway | bench | anvil | rest of the machine |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    let first = rows[0].1.latencies.len() as f64;
    for (name, outcome, cpu) in &rows {
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
        let sequencers: f64 = cpu[1..4].iter().sum();
        println!(
            "| {name} | {:.0} | {:.0} % | {} | {} | {} | {} | {} | {:.0} % | {:.0} % | {:.0} % | {:.0} % | {:.0} % | {:.0} % |",
            outcome.latencies.len() as f64 / seconds as f64,
            100.0 * outcome.latencies.len() as f64 / first,
            ms(outcome.percentile(0.50)),
            ms(outcome.percentile(0.90)),
            ms(outcome.percentile(0.99)),
            ms(outcome.percentile(1.0)),
            outcome.failed.values().sum::<u64>(),
            100.0 * cpu[0],
            100.0 * sequencers,
            100.0 * cpu[4],
            100.0 * cpu[5],
            100.0 * cpu[6],
            100.0 * cpu[7],
        );
    }
    for (name, outcome, _) in &rows {
        if !outcome.failed.is_empty() {
            println!("failures, {name}: {:?}", outcome.failed);
        }
    }
}

/// The honest clients.
struct Honest {
    gateway: SocketAddr,
    bodies: Arc<Vec<Vec<u8>>>,
    next: Arc<AtomicUsize>,
    clients: usize,
    rate: f64,
}

/// What the honest clients saw in one phase.
#[derive(Default)]
struct Outcome {
    /// Round trips of promised bundles.
    latencies: Vec<Duration>,
    /// Failures by error code (or I/O error).
    failed: BTreeMap<String, u64>,
}

impl Outcome {
    fn percentile(&self, p: f64) -> Duration {
        let index = ((self.latencies.len() as f64 * p) as usize)
            .min(self.latencies.len().saturating_sub(1));
        self.latencies.get(index).copied().unwrap_or_default()
    }
}

impl Honest {
    /// Runs every client for `length`; what they saw, latencies sorted.
    async fn run(&self, length: Duration) -> Outcome {
        let end = Instant::now() + length;
        let period = Duration::from_secs_f64(1.0 / self.rate);
        let tasks: Vec<_> = (0..self.clients)
            .map(|i| {
                let from = loopback(65_536 + 1 + i as u32);
                let (gateway, bodies, next) =
                    (self.gateway, self.bodies.clone(), self.next.clone());
                // Clients start spread over one period, not all at once.
                let offset = period.mul_f64(i as f64 / self.clients as f64);
                tokio::spawn(client(from, gateway, bodies, next, period, offset, end))
            })
            .collect();
        let mut outcome = Outcome::default();
        for task in tasks {
            let mine = task.await.expect("a client does not panic");
            outcome.latencies.extend(mine.latencies);
            for (why, count) in mine.failed {
                *outcome.failed.entry(why).or_default() += count;
            }
        }
        outcome.latencies.sort();
        outcome
    }
}

/// One honest client: a bundle every `period` (or as soon as the last is answered, if later)
/// until `end`.
async fn client(
    from: IpAddr,
    gateway: SocketAddr,
    bodies: Arc<Vec<Vec<u8>>>,
    next: Arc<AtomicUsize>,
    period: Duration,
    offset: Duration,
    end: Instant,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut http = None;
    let mut due = Instant::now() + offset;
    loop {
        tokio::time::sleep_until(due.into()).await;
        let sent = Instant::now();
        if sent >= end {
            return outcome;
        }
        if http.is_none() {
            http = RawHttp::connect(from, gateway).await.ok();
        }
        let Some(connection) = http.as_mut() else {
            *outcome.failed.entry("cannot connect".into()).or_default() += 1;
            due += period;
            continue;
        };
        let body = &bodies[next.fetch_add(1, Ordering::Relaxed) % bodies.len()];
        match connection.call_raw(body).await {
            Ok(answer) => match error_code(&answer) {
                None if answer["result"]["promises"].as_array().is_some_and(|p| p.len() == 2) => {
                    outcome.latencies.push(sent.elapsed());
                }
                None => *outcome.failed.entry("not two promises".into()).or_default() += 1,
                Some(code) => *outcome.failed.entry(code.to_string()).or_default() += 1,
            },
            Err(error) => {
                *outcome.failed.entry(format!("{:?}", error.kind())).or_default() += 1;
                http = None;
            }
        }
        due = (due + period).max(Instant::now());
    }
}

/// The attack, on a runtime (and threads) of its own so that its tasks never queue ahead of the
/// honest clients' in one scheduler.
struct Attack {
    ready: tokio::sync::oneshot::Receiver<Vec<(String, usize)>>,
    done: tokio::sync::oneshot::Receiver<Seen>,
}

impl Attack {
    /// Holds connections at every server, then runs the waves for `length`.
    fn start(
        targets: Targets,
        view: (String, Vec<alloy_primitives::Address>),
        length: Duration,
    ) -> Self {
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let (done_tx, done) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            // HOSTILE_ATTACKER_NICE runs the attack's threads (they inherit this one's) at a lower
            // priority: an attacker on machines of its own takes no core from the servers.
            let nice = attacker_nice();
            if nice != 0 {
                // SAFETY: no pointers; `who` 0 is the calling thread on Linux.
                if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } != 0 {
                    eprintln!("cannot set the attack's nice: {}", std::io::Error::last_os_error());
                }
            }
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("attacker")
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                // HOSTILE_WAVES=held,oversized,locks,gateway (the default: all) picks the waves.
                let waves = std::env::var("HOSTILE_WAVES")
                    .unwrap_or_else(|_| "held,oversized,locks,gateway".to_owned());
                let on = |wave: &str| waves.split(',').any(|w| w == wave);
                // HOSTILE_OVERSIZED_PER_SECOND paces the oversized waves (default: back to back).
                let period = std::env::var("HOSTILE_OVERSIZED_PER_SECOND")
                    .ok()
                    .and_then(|rate| rate.parse::<f64>().ok())
                    .map_or(Duration::ZERO, |rate| Duration::from_secs_f64(1.0 / rate));
                // A fresh set of transactions per slot of the phase (a slot is a second), signed
                // before it: an attacker signs on machines of its own.
                let waves = length.as_secs() as usize + 2;
                let lock_txs = attack::LockTxs::sign(A, waves);
                let gateway_bundles = attack::GatewayBundles::sign(&[A, B], waves);
                let (held, kept) = if on("held") {
                    attack::hold_everything(&targets).await
                } else {
                    (attack::Held { streams: Vec::new(), sockets: Vec::new() }, Vec::new())
                };
                let _ = ready_tx.send(kept);
                let end = Instant::now() + length;
                let view = attack::LockView {
                    lookahead: HttpClientBuilder::default().build(&view.0).expect("a client"),
                    operators: view.1,
                    chain_id: A,
                    bounds: BOUNDS,
                    txs: lock_txs,
                };
                let idle = |_| async { Seen::default() };
                let (mut seen, locks, gateway) = tokio::join!(
                    async {
                        if on("oversized") {
                            attack::oversized_until(targets.clone(), vec![A, A, 103], period, end)
                                .await
                        } else {
                            idle(()).await
                        }
                    },
                    async {
                        if on("locks") {
                            attack::locks_until(view, targets.clone(), end).await
                        } else {
                            idle(()).await
                        }
                    },
                    async {
                        if on("gateway") {
                            attack::gateway_until(targets.clone(), gateway_bundles, 257, end).await
                        } else {
                            idle(()).await
                        }
                    },
                );
                seen.merge(locks);
                seen.merge(gateway);
                drop(held);
                let _ = done_tx.send(seen);
            });
        });
        Self { ready, done }
    }

    /// Waits until the held connections are in place; how many each server kept.
    async fn ready(&mut self) -> Vec<(String, usize)> {
        (&mut self.ready).await.expect("the attack starts")
    }

    /// Waits for the waves to end; what they saw.
    async fn finish(self) -> Seen {
        self.done.await.expect("the attack ends")
    }
}

/// The attack's nice value: `HOSTILE_ATTACKER_NICE`, 0 (the servers' own) by default.
fn attacker_nice() -> i32 {
    std::env::var("HOSTILE_ATTACKER_NICE").ok().and_then(|nice| nice.parse().ok()).unwrap_or(0)
}

/// CPU time (user + system, in clock ticks) of each process so far.
fn cpu_ticks(processes: &[(&str, u32)]) -> Vec<u64> {
    processes
        .iter()
        .map(|(_, pid)| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Fields after the command name (which may hold spaces): state is field 3, utime 14,
            // stime 15.
            let fields: Vec<&str> =
                stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
            let field =
                |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
            field(14) + field(15)
        })
        .collect()
}

/// The children of process `pid` (`lookahead devnet`'s: anvil).
fn children(pid: u32) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten();
    tasks
        .flat_map(|task| {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            children.split_whitespace().filter_map(|c| c.parse().ok()).collect::<Vec<u32>>()
        })
        .collect()
}

/// CPU time the whole machine spent busy so far (all cores; `/proc/stat`), in clock ticks.
fn busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    fields.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, t)| t).sum()
}

/// Clock ticks per second (`getconf CLK_TCK`): 100 on Linux.
fn ticks_per_second() -> f64 {
    100.0
}
