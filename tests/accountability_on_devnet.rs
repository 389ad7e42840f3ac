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

use alloy::{
    network::TransactionBuilder,
    providers::{DynProvider, Provider},
    rpc::types::{Filter, TransactionRequest},
};
use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_sol_types::{SolCall, SolEvent};
use common::preconf::{PreconfNet, Process, transfer};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use sequencer_lookahead::{
    ChainId, Slot, Window,
    core::contract::{
        SequencerRegistry::{self, Evicted, MissReported, Slashed},
        SlotInbox::{self, BatchProposed},
    },
    devnet::{self, SAMPLE_GRACE_SLOTS},
    preconf::{
        api::{BundleMode, BundleRequest, BundleTx, GatewayApiClient},
        promise::Promise,
    },
    rpc::api::LookaheadApiClient,
    service::l1::{call, seed_proof},
};
use std::{collections::BTreeMap, time::Duration};

const A: u64 = 101;
const B: u64 = 102;
const C: u64 = 103;
const WINDOW_SLOTS: u64 = 8;
const SAMPLE_BOND: u128 = 1_000_000_000_000_000_000;

fn client(url: &str) -> HttpClient {
    HttpClientBuilder::default().request_timeout(Duration::from_secs(10)).build(url).unwrap()
}

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

/// The devnet's L1 as the test reads and writes it: a provider that signs for the dev
/// accounts, the registry and the inboxes.
struct L1 {
    provider: DynProvider,
    accounts: Vec<Address>,
    registry: Address,
    inboxes: BTreeMap<u64, Address>,
}

impl L1 {
    async fn connect(net: &PreconfNet) -> Self {
        let (provider, accounts) = devnet::connect_dev(&net.l1_url).await.unwrap();
        let inboxes = [A, B, C]
            .into_iter()
            .map(|id| {
                let inbox = net.devnet.ready["inboxes"][format!("{id:#x}")].as_str().unwrap();
                (id, inbox.parse().unwrap())
            })
            .collect();
        Self { provider, accounts, registry: net.domain.registry, inboxes }
    }

    async fn registry<Call: SolCall>(&self, request: Call) -> Call::Return {
        call(&self.provider, self.registry, request).await.unwrap()
    }

    /// Sends `input` to `to` from `from` and waits for its success.
    async fn send(&self, from: Address, to: Address, input: Vec<u8>) {
        let tx = TransactionRequest::default().with_from(from).with_to(to).with_input(input);
        let receipt =
            self.provider.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
        assert!(receipt.status(), "transaction {} reverted", receipt.transaction_hash);
    }

    /// Every log of event `E` the registry emitted, with its block number.
    async fn registry_events<E: SolEvent>(&self) -> Vec<(E, u64)> {
        let filter =
            Filter::new().address(self.registry).event_signature(E::SIGNATURE_HASH).from_block(0);
        let logs = self.provider.get_logs(&filter).await.unwrap();
        logs.iter()
            .map(|log| (E::decode_log_data(log.data()).unwrap(), log.block_number.unwrap()))
            .collect()
    }

    /// The hashes of the batch posted for `slot` of rollup `chain_id`, if one was.
    async fn batch(&self, chain_id: u64, slot: Slot) -> Option<Vec<B256>> {
        let filter = Filter::new()
            .address(self.inboxes[&chain_id])
            .event_signature(BatchProposed::SIGNATURE_HASH)
            .topic1(B256::from(U256::from(slot.0)))
            .from_block(0);
        let logs = self.provider.get_logs(&filter).await.unwrap();
        logs.first().map(|log| BatchProposed::decode_log_data(log.data()).unwrap().txHashes)
    }

    /// The window of block `number`'s slot.
    async fn window_of_block(&self, number: u64) -> Window {
        let block = self.provider.get_block_by_number(number.into()).await.unwrap().unwrap();
        let slot: u64 = self
            .registry(SequencerRegistry::slotAtCall {
                timestamp: U256::from(block.header.timestamp),
            })
            .await;
        Window(slot / WINDOW_SLOTS)
    }

    /// Checkpoints the seed of `window` (anchor block `anchor`) unless it is stored.
    async fn checkpoint(&self, window: Window, anchor: u64) {
        let seed = self.registry(SequencerRegistry::seedOfCall { window: window.0 }).await;
        if !seed.is_zero() {
            return;
        }
        let (anchor_header, next_header) = seed_proof(&self.provider, anchor).await.unwrap();
        let input = SequencerRegistry::checkpointSeedCall {
            window: window.0,
            anchorHeader: anchor_header,
            nextHeader: next_header,
        };
        self.send(self.accounts[0], self.registry, input.abi_encode()).await;
    }
}

/// Waits until the lookahead's head is in `slot` or later.
async fn wait_for_slot(net: &PreconfNet, slot: u64) {
    for _ in 0..1200 {
        if net.current_slot().await >= slot {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("slot {slot} never came");
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
    wait_for_slot(net, first.saturating_sub(WINDOW_SLOTS)).await;
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
    let watch = net.watcher("main", &[]);
    let watcher_address = net.watcher_key().address();
    let sequencers: BTreeMap<usize, Process> =
        (1..=3).map(|operator| (operator, net.sequencer(operator))).collect();
    let gateway = net.gateway_with("main", 2_000, &[format!("--watcher={}", watch.url())]);
    let gateway_client = client(&gateway.url());
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
    wait_for_slot(&net, last.0 + SAMPLE_GRACE_SLOTS + 2).await;
    for promise in &promises {
        let chain_id = promise.chain_id.0.to::<u64>();
        let batch = l1.batch(chain_id, promise.slot).await.expect("the slot has its batch");
        for hash in &promise.tx_hashes {
            assert!(batch.contains(hash), "slot {}: {hash} is in the batch", promise.slot);
        }
    }
    assert!(l1.registry_events::<Slashed>().await.is_empty(), "nothing is slashed");
    assert!(l1.registry_events::<MissReported>().await.is_empty(), "nothing is missed");

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
        let evictions = l1.registry_events::<Evicted>().await;
        if let Some(eviction) = evictions.into_iter().next() {
            break eviction;
        }
        assert!(
            net.current_slot().await < last.0 + 20 * WINDOW_SLOTS,
            "no eviction: {}",
            watch.log()
        );
    };
    let (event, block) = evicted;
    assert_eq!((event.chainId, event.index), (U256::from(C), U256::from(index_3)));
    // The record stays selected until its exit takes effect, so more misses may follow the
    // third: the first three evicted it.
    let misses = l1.registry_events::<MissReported>().await;
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
    wait_for_slot(&net, slot.0).await;
    let entry = net.lookahead.get_sequencer(ChainId::from(A), slot.0).await.unwrap();
    let window = Window(slot.0 / WINDOW_SLOTS);
    l1.checkpoint(window, entry.anchor.number).await;
    let dropped = SlotInbox::proposeCall {
        slot: slot.0,
        txHashes: vec![keccak256("another transaction")],
        anchorHeader: Default::default(),
        nextHeader: Default::default(),
    };
    let signer_2 = l1.accounts[devnet::sample_signer(2)];
    l1.send(signer_2, l1.inboxes[&A], dropped.abi_encode()).await;

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
    let mut slashes = l1.registry_events::<Slashed>().await;
    for _ in 0..50 {
        if !slashes.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        slashes = l1.registry_events::<Slashed>().await;
    }
    assert_eq!(slashes.len(), 1, "one slash: {slashes:?}");
    let (slash, block) = &slashes[0];
    assert_eq!(
        (slash.chainId, slash.index, slash.slot),
        (U256::from(A), U256::from(index_2), slot.0)
    );
    assert_eq!((slash.promiseDigest, slash.challenger), (digest, watcher_address));
    assert_eq!(slash.amount, U256::from(SAMPLE_BOND), "the whole bond");
    let reward = slash.amount / U256::from(2);
    let burned = l1.registry(SequencerRegistry::burnedCall {}).await;
    assert_eq!(burned, slash.amount - reward, "the rest is burned");
    assert_eq!(paid_to(&l1, watcher_address, *block).await, reward, "the watcher is paid half");
    let window = l1.window_of_block(*block).await;
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

/// What `account` received in block `number`: its balance change plus the fees of its own
/// transactions in that block.
async fn paid_to(l1: &L1, account: Address, number: u64) -> U256 {
    let before = l1.provider.get_balance(account).number(number - 1).await.unwrap();
    let after = l1.provider.get_balance(account).number(number).await.unwrap();
    let block = l1.provider.get_block_by_number(number.into()).full().await.unwrap().unwrap();
    let mut fees = U256::ZERO;
    for tx in block.transactions.txns() {
        if tx.inner.signer() == account {
            let receipt =
                l1.provider.get_transaction_receipt(*tx.inner.tx_hash()).await.unwrap().unwrap();
            fees += U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
        }
    }
    after + fees - before
}
