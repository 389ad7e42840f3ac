//! Load on the preconfirmation path: 2-leg atomic bundles (rollups 0x65 and 0x66) sent to a
//! `lookahead gateway` by concurrent clients, on loopback, with everything as real processes
//! (anvil devnet + lookahead, three `lookahead sequencer`s, the gateway). Reports throughput
//! and latency percentiles of `gateway_sendBundle` as the client sees it.
//!
//! ```text
//! cargo bench --bench bundle_load                 # 8 clients, 10 s per run
//! cargo bench --bench bundle_load -- 16 20        # 16 clients, 20 s per run
//! ```
//!
//! Two runs: the gateway picks the slot (the next one with sequencers for both rollups; when
//! one operator has both, one `preconf_lockAndConfirm` round), then slots whose two sequencers
//! differ are named explicitly (lock on both, then confirm on both: two rounds).

#[path = "../tests/common/mod.rs"]
mod common;

use common::preconf::{PreconfNet, Process, transfer};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use sequencer_lookahead::{
    ChainId, Slot,
    preconf::api::{BundleMode, BundleRequest, BundleTx, GatewayApiClient},
};
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

const A: u64 = 101;
const B: u64 = 102;
/// Pre-signed transactions per rollup, reused round-robin.
const TXS: usize = 4096;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let clients: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(8);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);

    let net = PreconfNet::start();
    let _sequencers: Vec<Process> =
        (1..=3).map(|operator| net.sequencer_with_gas(operator, u64::MAX / 2)).collect();
    let gateway = net.gateway("bench", 500);
    net.wait_active().await;
    eprintln!(
        "devnet, 3 sequencers and the gateway are up; {clients} clients, {seconds} s per run"
    );

    let txs: Arc<Vec<(BundleTx, BundleTx)>> = Arc::new(
        (0..TXS)
            .map(|i| {
                let a =
                    BundleTx { chain_id: ChainId::from(A), raw_tx: transfer(A, i as u64, 21_000) };
                let b =
                    BundleTx { chain_id: ChainId::from(B), raw_tx: transfer(B, i as u64, 21_000) };
                (a, b)
            })
            .collect(),
    );

    let target = Arc::new(Mutex::new(None::<Slot>));
    let net = Arc::new(net);
    let refresher = tokio::spawn(refresh_distinct_slot(net.clone(), target.clone()));

    for (name, distinct) in [("gateway picks the slot", false), ("two distinct sequencers", true)] {
        run(name, &gateway, clients, seconds, &txs, distinct.then_some(&target)).await;
    }
    refresher.abort();
}

/// Keeps `target` at the next slot (at least two ahead of the lookahead's head, which lags the
/// clock by up to a slot) whose A and B sequencers differ.
async fn refresh_distinct_slot(net: Arc<PreconfNet>, target: Arc<Mutex<Option<Slot>>>) {
    loop {
        let now = net.current_slot().await;
        let next = net
            .cross(&[A, B])
            .await
            .into_iter()
            .filter(|entry| entry.slot.0 > now + 1)
            .find(|entry| {
                let operator = |id: u64| {
                    entry.entries[&ChainId::from(id)].sequencer.as_ref().map(|s| s.operator)
                };
                operator(A) != operator(B)
            })
            .map(|entry| entry.slot);
        *target.lock().unwrap() = next;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run(
    name: &str,
    gateway: &Process,
    clients: usize,
    seconds: u64,
    txs: &Arc<Vec<(BundleTx, BundleTx)>>,
    target: Option<&Arc<Mutex<Option<Slot>>>>,
) {
    let counter = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let warmup = Duration::from_secs(2);
    let start = Instant::now() + warmup;
    let end = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for worker in 0..clients {
        let client: HttpClient = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(5))
            .build(gateway.url())
            .unwrap();
        let txs = txs.clone();
        let counter = counter.clone();
        let failures = failures.clone();
        let target = target.cloned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut last_error = None;
            loop {
                let n = counter.fetch_add(1, Ordering::Relaxed) as usize;
                let (a, b) = &txs[(n + worker) % txs.len()];
                let slot = target.as_ref().and_then(|t| *t.lock().unwrap());
                let request = BundleRequest {
                    txs: vec![a.clone(), b.clone()],
                    slot,
                    mode: BundleMode::Atomic,
                };
                let sent = Instant::now();
                if sent >= end {
                    return (latencies, last_error);
                }
                let result = client.send_bundle(request).await;
                if sent < start {
                    continue;
                }
                match result {
                    Ok(receipt) if receipt.promises.len() == 2 => latencies.push(sent.elapsed()),
                    Ok(_) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        last_error = Some(error.to_string());
                    }
                }
            }
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        let (mut mine, error) = task.await.unwrap();
        latencies.append(&mut mine);
        errors.extend(error);
    }
    latencies.sort();
    let percentile =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name}: {} bundles promised in {seconds} s = {:.0}/s, failed {}; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        latencies.len() as f64 / seconds as f64,
        failures.load(Ordering::Relaxed),
        ms(percentile(0.50)),
        ms(percentile(0.90)),
        ms(percentile(0.99)),
        ms(*latencies.last().unwrap()),
    );
    if let Some(error) = errors.first() {
        println!("  e.g. {error}");
    }
}
