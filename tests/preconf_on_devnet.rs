//! Preconfirmations end to end with real processes on loopback: `lookahead devnet` (anvil,
//! registry, sample rollups 0x65/0x66/0x67 and three operators), one `lookahead sequencer` per
//! operator at its registered endpoint, and `lookahead gateway` processes.
//!
//! The scenarios share one devnet (its sequencers take three windows to become active) and run
//! in sequence: an atomic two-leg bundle; refusals (capacity, a past slot, not selected) that
//! leave no promise and release the other lock; best-effort mode promising the leg that locks;
//! a gateway SIGKILLed between lock and confirm; a sequencer SIGKILLed and restarted after
//! confirming; and concurrent bundles from several gateways on one slot.

mod common;

use alloy_primitives::{B256, keccak256};
use common::preconf::{PreconfNet, Process, SLOT_GAS, transfer};
use futures::future::join_all;
use jsonrpsee::{core::client::Error as ClientError, http_client::HttpClient};
use sequencer_lookahead::{
    ChainId, Slot,
    preconf::{
        api::{
            BUNDLE_FAILED, BundleMode, BundleRequest, BundleTx, CAPACITY, GatewayApiClient,
            LockRequest, NOT_SELECTED, PreconfApiClient, SLOT_PAST,
        },
        promise::Promise,
    },
    rpc::api::LookaheadApiClient,
};
use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

const A: u64 = 101;
const B: u64 = 102;

fn bundle(legs: &[(u64, u64)], slot: Option<Slot>, mode: BundleMode) -> BundleRequest {
    BundleRequest {
        txs: legs
            .iter()
            .map(|(chain_id, gas)| BundleTx {
                chain_id: ChainId::from(*chain_id),
                raw_tx: transfer(*chain_id, 0, *gas),
            })
            .collect(),
        slot,
        mode,
    }
}

/// Checks each promise against the lookahead's signer for its rollup and slot.
async fn assert_verified(net: &PreconfNet, promises: &[Promise]) {
    for promise in promises {
        let entry = net.lookahead.get_sequencer(promise.chain_id, promise.slot.0).await.unwrap();
        let signer = entry.sequencer.unwrap().signer;
        promise.verify(&net.domain, signer).expect("signed by the registered signer");
    }
}

/// The error code and `data` of a failed call.
fn call_error(error: &ClientError) -> (i32, String) {
    match error {
        ClientError::Call(call) => {
            (call.code(), format!("{} {}", call.message(), call.data().map_or("", |d| d.get())))
        }
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
}

/// Whether the operator's sequencer can lock all of the slot's gas for the rollup right now
/// (nothing else locked or promised there); releases that lock again.
async fn slot_is_free(net: &PreconfNet, operator: usize, chain_id: u64, slot: Slot) -> bool {
    let request = LockRequest {
        chain_id: ChainId::from(chain_id),
        slot,
        txs: vec![transfer(chain_id, 0, SLOT_GAS)],
        bundle_id: B256::ZERO,
        ttl_ms: Some(100),
    };
    match net.sequencer_client(operator).lock(request).await {
        Ok(receipt) => {
            net.sequencer_client(operator).release(receipt.lock_id).await.unwrap();
            true
        }
        Err(error) => {
            let (code, message) = call_error(&error);
            assert_eq!(code, CAPACITY, "{message}");
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bundles_are_promised_atomically_by_real_sequencers() {
    let net = PreconfNet::start();
    let mut sequencers: Vec<Option<Process>> =
        (0..4).map(|op| (op > 0).then(|| net.sequencer(op))).collect();
    let gateway = net.gateway("main", 2_000);
    let gateway_client = gateway.client();
    net.wait_active().await;
    // Every scenario takes a slot of its own, after the previous one's.
    let mut last = Slot(0);

    // An atomic bundle on two rollups whose sequencers differ: two verified promises, each
    // listed by its sequencer as owed.
    let (slot, ops) = net.find_slot(&[A, B], 3, last, |ops| ops[0] != ops[1]).await;
    last = slot;
    let request = bundle(&[(A, 21_000), (B, 21_000)], Some(slot), BundleMode::Atomic);
    let hashes: Vec<B256> = request.txs.iter().map(|tx| keccak256(&tx.raw_tx)).collect();
    let receipt = gateway_client.send_bundle(request).await.expect("the bundle is promised");
    assert_eq!(receipt.slot, slot);
    assert_eq!(receipt.promises.len(), 2);
    assert!(receipt.failed.is_empty());
    assert_verified(&net, &receipt.promises).await;
    for (promise, (operator, hash)) in receipt.promises.iter().zip(ops.iter().zip(&hashes)) {
        assert_eq!(promise.tx_hashes, vec![*hash]);
        let owed = net.sequencer_client(*operator).get_promises(slot).await.unwrap();
        assert!(owed.contains(promise), "operator {operator} lists its promise");
    }

    // Capacity: the second leg needs more gas than a slot holds. Nobody promises anything, and
    // the first leg's lock is released at once (well before its 2 s ttl).
    let (slot, ops) = net.find_slot(&[A, B], 4, last, |ops| ops[0] != ops[1]).await;
    last = slot;
    let request = bundle(&[(A, 21_000), (B, SLOT_GAS + 1)], Some(slot), BundleMode::Atomic);
    let (code, message) = call_error(&gateway_client.send_bundle(request).await.unwrap_err());
    assert_eq!(code, BUNDLE_FAILED);
    assert!(message.contains("0x66") && message.contains(&CAPACITY.to_string()), "{message}");
    assert!(slot_is_free(&net, ops[0], A, slot).await, "the held lock was released");
    for operator in &ops {
        assert!(net.sequencer_client(*operator).get_promises(slot).await.unwrap().is_empty());
    }

    // The same bundle in best-effort mode: the leg that locks is promised, the other reported.
    let request = bundle(&[(A, 21_000), (B, SLOT_GAS + 1)], Some(slot), BundleMode::BestEffort);
    let receipt = gateway_client.send_bundle(request).await.expect("best effort answers");
    assert_eq!(receipt.promises.len(), 1);
    assert_eq!(receipt.promises[0].chain_id, ChainId::from(A));
    assert_verified(&net, &receipt.promises).await;
    assert_eq!(receipt.failed.len(), 1);
    assert_eq!((receipt.failed[0].chain_id, receipt.failed[0].code), (ChainId::from(B), CAPACITY));

    // A past slot is refused by the sequencers (or the lookahead), naming the leg.
    let past = Slot(net.current_slot().await - 2);
    let request = bundle(&[(A, 21_000), (B, 21_000)], Some(past), BundleMode::Atomic);
    let (code, message) = call_error(&gateway_client.send_bundle(request).await.unwrap_err());
    assert_eq!(code, BUNDLE_FAILED, "{message}");

    // Not selected: a lock at an operator that does not sequence the slot.
    let (slot, ops) = net.find_slot(&[A], 3, last, |_| true).await;
    last = slot;
    let other = [1, 2].into_iter().find(|op| *op != ops[0]).unwrap();
    let request = LockRequest {
        chain_id: ChainId::from(A),
        slot,
        txs: vec![transfer(A, 0, 21_000)],
        bundle_id: B256::ZERO,
        ttl_ms: None,
    };
    let (code, message) =
        call_error(&net.sequencer_client(other).lock(request.clone()).await.unwrap_err());
    assert_eq!(code, NOT_SELECTED, "{message}");
    let mut past_request = request;
    past_request.slot = past;
    let (code, message) =
        call_error(&net.sequencer_client(ops[0]).lock(past_request).await.unwrap_err());
    assert_eq!(code, SLOT_PAST, "{message}");

    // The gateway dies between lock and confirm: the second leg's sequencer is stopped, so the
    // gateway holds the first lock while it waits; then it is SIGKILLed. Both locks lapse by
    // themselves, capacity returns, nobody promises.
    let (slot, ops) = net.find_slot(&[A, B], 6, last, |ops| ops[0] != ops[1]).await;
    last = slot;
    let doomed = net.gateway("doomed", 1_000);
    let doomed_client = doomed.client();
    let stopped = sequencers[ops[1]].as_ref().unwrap();
    stopped.signal("STOP");
    let request = bundle(&[(A, 21_000), (B, 21_000)], Some(slot), BundleMode::Atomic);
    let in_flight = tokio::spawn(async move { doomed_client.send_bundle(request).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!slot_is_free(&net, ops[0], A, slot).await, "the gateway holds the first leg's lock");
    doomed.kill();
    stopped.signal("CONT");
    assert!(in_flight.await.unwrap().is_err());
    // Within the 1 s ttl (and a second of slack for a loaded machine) both locks are gone.
    let deadline = Instant::now() + Duration::from_secs(2);
    for (operator, chain_id) in [(ops[0], A), (ops[1], B)] {
        while !slot_is_free(&net, operator, chain_id, slot).await {
            let log = sequencers[operator].as_ref().unwrap().log();
            assert!(Instant::now() < deadline, "the lock at {operator} did not lapse: {log}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for operator in &ops {
        assert!(net.sequencer_client(*operator).get_promises(slot).await.unwrap().is_empty());
    }

    // A sequencer SIGKILLed after confirming keeps its promise; a confirm retried after the
    // restart returns the same promise, not a second one.
    let (slot, ops) = net.find_slot(&[A], 6, last, |_| true).await;
    last = slot;
    let operator = ops[0];
    let sequencer = net.sequencer_client(operator);
    let request = LockRequest {
        chain_id: ChainId::from(A),
        slot,
        txs: vec![transfer(A, 0, 21_000)],
        bundle_id: B256::repeat_byte(7),
        ttl_ms: Some(2_000),
    };
    let lock = sequencer.lock(request).await.unwrap();
    let promise = sequencer.confirm(lock.lock_id).await.unwrap();
    sequencers[operator].take().unwrap().kill();
    sequencers[operator] = Some(net.sequencer(operator));
    assert_eq!(sequencer.get_promises(slot).await.unwrap(), vec![promise.clone()]);
    assert_eq!(sequencer.confirm(lock.lock_id).await.unwrap(), promise);
    assert_verified(&net, &[promise]).await;

    // Concurrent bundles from three gateways on one slot: capacity (four transfers per rollup
    // and slot) is never oversold, and every promise is for a distinct lock.
    let (slot, ops) = net.find_slot(&[A, B], 8, last, |ops| ops[0] != ops[1]).await;
    let gateways: Vec<Process> = (0..3).map(|i| net.gateway(&format!("load-{i}"), 2_000)).collect();
    let clients: Vec<HttpClient> = gateways.iter().map(|g| g.client()).collect();
    let results = join_all((0..30).map(|i| {
        let client = clients[i % clients.len()].clone();
        let request = bundle(&[(A, 21_000), (B, 21_000)], Some(slot), BundleMode::Atomic);
        async move { client.send_bundle(request).await }
    }))
    .await;
    let promised: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert!(!promised.is_empty(), "some bundles are promised");
    assert!(promised.len() <= (SLOT_GAS / 21_000) as usize, "{} bundles promised", promised.len());
    for (operator, chain_id) in ops.iter().zip([A, B]) {
        let owed = net.sequencer_client(*operator).get_promises(slot).await.unwrap();
        let owed: Vec<_> =
            owed.into_iter().filter(|p| p.chain_id == ChainId::from(chain_id)).collect();
        assert_eq!(owed.len(), promised.len(), "operator {operator} owes one promise per bundle");
        let distinct: HashSet<_> = owed.iter().map(|p| p.tx_hashes.clone()).collect();
        assert_eq!(distinct.len(), owed.len(), "no lock got two promises");
        assert!(owed.len() as u64 * 21_000 <= SLOT_GAS, "capacity is not oversold");
    }
    for result in results.iter().filter_map(|r| r.as_ref().err()) {
        let (code, message) = call_error(result);
        assert_eq!(code, BUNDLE_FAILED, "{message}");
    }
}
