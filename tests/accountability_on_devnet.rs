//! Accountability end to end (SPEC §8) with real processes on loopback: `lookahead devnet`
//! (anvil, the registry, a `SlotInbox` per sample rollup), the three sample sequencers posting
//! their batches, `lookahead watch`, and a gateway that hands the watcher every promise.
//!
//! One devnet, three scenarios in sequence:
//! - the honest path: bundles through the gateway, every promised hash in its slot's batch, no
//!   slash, no miss;
//! - a sequencer that stops (SIGSTOP): its slots close as missed, the watcher reports them, the
//!   record is evicted at the third miss and leaves the schedule three windows later, while
//!   bundles on the other sequencers keep succeeding;
//! - a sequencer whose batch drops a promised transaction (the test posts that batch with the
//!   sequencer's key, before the sequencer does): the watcher slashes it within
//!   `GRACE_SLOTS + 3` slots, half to the watcher, half burned, and the record leaves the
//!   schedule exactly three windows after the slash.
//!
//! Where the record leaves, the lookahead's schedule is compared with the contract's
//! `sequencerAt` (the seed checkpointed by the test).

mod common;

use alloy_primitives::{Address, B256, U256, keccak256};
use common::{
    l1::L1,
    preconf::{PreconfNet, Process, transfer},
};
use sequencer_lookahead::{
    ChainId, Slot, Window,
    core::contract::{
        SequencerRegistry::{self, Evicted, MissReported, Slashed},
        SlotInbox::BatchProposed,
    },
    devnet::SAMPLE_GRACE_SLOTS,
    preconf::{
        api::{BundleMode, BundleRequest, BundleTx, GatewayApiClient},
        promise::Promise,
    },
    rpc::api::LookaheadApiClient,
};
use std::{collections::BTreeMap, time::Duration};

const A: u64 = 101;
const B: u64 = 102;
const C: u64 = 103;
const WINDOW_SLOTS: u64 = 8;
const SAMPLE_BOND: u128 = 1_000_000_000_000_000_000;

fn bundle(chain_ids: &[u64], slot: Slot) -> BundleRequest {
    BundleRequest {
        txs: chain_ids
            .iter()
            .map(|&chain_id| BundleTx {
                chain_id: ChainId::from(chain_id),
                raw_tx: transfer(chain_id, 0, 21_000),
            })
            .collect(),
        slot: Some(slot),
        mode: BundleMode::Atomic,
    }
}

/// Each sample rollup's inbox, from the devnet's ready line.
fn inboxes(net: &PreconfNet) -> BTreeMap<u64, Address> {
    [A, B, C]
        .into_iter()
        .map(|id| {
            let inbox = net.devnet.ready["inboxes"][format!("{id:#x}")].as_str().unwrap();
            (id, inbox.parse().unwrap())
        })
        .collect()
}

/// The hashes of the batch posted for `slot` of rollup `chain_id`, if one was.
async fn batch(l1: &L1, inbox: Address, slot: Slot) -> Option<Vec<B256>> {
    let logs = l1.logs::<BatchProposed>(inbox, Some(B256::from(U256::from(slot.0)))).await;
    logs.into_iter().next().map(|(event, _)| event.txHashes)
}

/// Asserts that from window `from` to the lookahead's horizon (at most `windows` windows),
/// the lookahead never selects record `index` of `chain_id`, and that every slot of window
/// `from` is the contract's `sequencerAt`.
async fn assert_left_the_schedule(
    net: &PreconfNet,
    l1: &L1,
    chain_id: u64,
    index: usize,
    from: Window,
) {
    let first = from.0 * WINDOW_SLOTS;
    net.wait_for_slot(first.saturating_sub(WINDOW_SLOTS)).await;
    let id = ChainId::from(chain_id);
    let entries = net
        .lookahead
        .get_schedule(id, Some(first), Some(WINDOW_SLOTS))
        .await
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(entries.len() as u64, WINDOW_SLOTS, "window {from} is fixed");
    l1.checkpoint(from, entries[0].anchor.number).await;
    for entry in &entries {
        let selected = entry.sequencer.as_ref().map(|s| s.index);
        assert_ne!(selected, Some(index), "slot {} still selects record {index}", entry.slot);
        let on_chain = l1
            .registry(SequencerRegistry::sequencerAtCall { chainId: id.0, slot: entry.slot.0 })
            .await;
        let expected = (on_chain.index != U256::MAX).then(|| on_chain.index.to::<usize>());
        assert_eq!(selected, expected, "slot {}: the lookahead and sequencerAt agree", entry.slot);
    }
}

/// The lookahead's index of `operator`'s active record on `chain_id`.
async fn record_of(net: &PreconfNet, chain_id: u64, operator: Address) -> usize {
    let records = net.lookahead.get_sequencers(ChainId::from(chain_id), None).await.unwrap();
    records.iter().find(|r| r.operator == operator).expect("the operator has a record").index
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn promises_are_kept_broken_ones_slashed_and_absent_sequencers_evicted() {
    let net = PreconfNet::start();
    let l1 = L1::connect(&net).await;
    let inboxes = inboxes(&net);
    let watch = net.watcher("main", &[]);
    let watcher_address = net.watcher_key().address();
    let sequencers: BTreeMap<usize, Process> =
        (1..=3).map(|operator| (operator, net.sequencer(operator))).collect();
    let gateway = net.gateway_with("main", 2_000, &[format!("--watcher={}", watch.url())]);
    let gateway_client = gateway.client();
    net.wait_active().await;

    // The honest path: every promised hash is in its slot's batch; nothing is slashed or missed.
    let mut last = Slot(0);
    let mut promises: Vec<Promise> = Vec::new();
    for _ in 0..4 {
        let (slot, _) = net.find_slot(&[A, B], 3, last, |ops| ops[0] != ops[1]).await;
        last = slot;
        let receipt = gateway_client.send_bundle(bundle(&[A, B], slot)).await.unwrap();
        promises.extend(receipt.promises);
    }
    net.wait_for_slot(last.0 + SAMPLE_GRACE_SLOTS + 2).await;
    for promise in &promises {
        let chain_id = promise.chain_id.0.to::<u64>();
        let batch =
            batch(&l1, inboxes[&chain_id], promise.slot).await.expect("the slot has its batch");
        for hash in &promise.tx_hashes {
            assert!(batch.contains(hash), "slot {}: {hash} is in the batch", promise.slot);
        }
    }
    assert!(l1.events::<Slashed>().await.is_empty(), "nothing is slashed");
    assert!(l1.events::<MissReported>().await.is_empty(), "nothing is missed");

    // A sequencer that stops: operator 3 (on rollup C only) is SIGSTOPped. Its slots close as
    // missed, the watcher reports them, the third miss evicts it; bundles on A and B go on.
    let operator_3 = l1.accounts[3];
    let index_3 = record_of(&net, C, operator_3).await;
    sequencers[&3].signal("STOP");
    let evicted = loop {
        let (slot, _) = net.find_slot(&[A, B], 2, last, |_| true).await;
        last = slot;
        let receipt = gateway_client.send_bundle(bundle(&[A, B], slot)).await;
        assert!(receipt.is_ok(), "a bundle on the running sequencers fails: {receipt:?}");
        let evictions = l1.events::<Evicted>().await;
        if let Some(eviction) = evictions.into_iter().next() {
            break eviction;
        }
        assert!(
            net.current_slot().await < last.0 + 20 * WINDOW_SLOTS,
            "no eviction: {}",
            watch.log()
        );
    };
    let (event, log) = evicted;
    let block = log.block_number.unwrap();
    assert_eq!((event.chainId, event.index), (U256::from(C), U256::from(index_3)));
    // The record stays selected until its exit takes effect, so more misses may follow the
    // third: the first three evicted it.
    let misses = l1.events::<MissReported>().await;
    assert!(misses.len() >= 3, "three reported misses evict: {misses:?}");
    for ((miss, _), count) in misses.iter().take(3).zip(1..) {
        assert_eq!(
            (miss.chainId, miss.index, miss.misses),
            (U256::from(C), U256::from(index_3), count)
        );
        // The registry's own selection (the watcher checkpointed the seed to report): the
        // lookahead may have pruned the slot by now.
        let selected = l1
            .registry(SequencerRegistry::sequencerAtCall {
                chainId: U256::from(C),
                slot: miss.slot,
            })
            .await;
        assert_eq!(selected.operator, operator_3, "a reported slot was operator 3's");
    }
    let window = l1.window_of_block(block).await;
    assert_eq!(event.activeUntil, window.0 + 3, "the eviction takes effect three windows later");
    assert_left_the_schedule(&net, &l1, C, index_3, Window(event.activeUntil)).await;
    sequencers[&3].signal("CONT");

    // A broken promise: operator 2 promises a transaction on A, and the batch posted for the
    // slot (by the test, with operator 2's key, before its sequencer posts) leaves it out.
    let operator_2 = l1.accounts[2];
    let index_2 = record_of(&net, A, operator_2).await;
    let (slot, _) = net.find_slot(&[A], 3, last, |ops| ops[0] == 2).await;
    let receipt = gateway_client.send_bundle(bundle(&[A], slot)).await.unwrap();
    let promise = receipt.promises[0].clone();
    l1.post_batch(&net, A, slot, 2, vec![keccak256("another transaction")]).await;

    let digest = promise.signing_hash(&net.domain);
    loop {
        if l1.registry(SequencerRegistry::isSlashedCall { digest }).await {
            break;
        }
        let now = net.current_slot().await;
        assert!(
            now <= slot.0 + SAMPLE_GRACE_SLOTS + 3,
            "not slashed by slot {now}: {}",
            watch.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The node may serve the slash's log a moment after its state.
    let mut slashes = l1.events::<Slashed>().await;
    for _ in 0..50 {
        if !slashes.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        slashes = l1.events::<Slashed>().await;
    }
    assert_eq!(slashes.len(), 1, "one slash: {slashes:?}");
    let (slash, log) = &slashes[0];
    let block = log.block_number.unwrap();
    assert_eq!(
        (slash.chainId, slash.index, slash.slot),
        (U256::from(A), U256::from(index_2), slot.0)
    );
    assert_eq!((slash.promiseDigest, slash.challenger), (digest, watcher_address));
    assert_eq!(slash.amount, U256::from(SAMPLE_BOND), "the whole bond");
    let reward = slash.amount / U256::from(2);
    let burned = l1.registry(SequencerRegistry::burnedCall {}).await;
    assert_eq!(burned, slash.amount - reward, "the rest is burned");
    let penalties = l1.miss_penalties_paid(watcher_address, block).await;
    assert_eq!(
        l1.paid_to(watcher_address, block).await,
        reward + penalties,
        "the watcher is paid half (and any miss it reported in the block)"
    );
    let window = l1.window_of_block(block).await;
    assert_eq!(
        slash.activeUntil,
        window.0 + 3,
        "the slash's exit takes effect three windows later"
    );
    // The lookahead serves the slashed bond once it has followed the slash's block.
    let mut served_bond = None;
    for _ in 0..100 {
        let served = net.lookahead.get_sequencers(ChainId::from(A), None).await.unwrap();
        let record = served.iter().find(|r| r.index == index_2).expect("active until its exit");
        served_bond = Some(record.bond);
        if record.bond.is_zero() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served_bond, Some(U256::ZERO), "the lookahead serves the slashed bond");
    assert_left_the_schedule(&net, &l1, A, index_2, Window(slash.activeUntil)).await;
    drop(sequencers);
}
