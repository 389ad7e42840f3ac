//! The watcher (`lookahead watch`, SPEC §8) end to end with real processes on loopback:
//! `lookahead devnet` (anvil with 1-second slots and 8-slot windows, the registry, a
//! `SlotInbox` per sample rollup with a grace of four slots) and `lookahead watch`. No sample
//! sequencer runs (but one, at the end): the test plays the selected sequencer itself, signing
//! promises with the selected record's signer key and posting batches with `SlotInbox.propose`
//! from that account.
//!
//! - `broken_promises_are_slashed_once_again_after_a_reorg_and_across_kills`: a promise whose
//!   transaction the posted batch drops is slashed within `GRACE_SLOTS + 3` slots, half of the
//!   bond to the watcher and half burned; an `anvil_reorg` that removes the slash has the
//!   watcher send it again; a watcher SIGKILLed while holding a promise, and again right after
//!   sending its slash, neither misses it nor sends a second slash; a promise only a (real)
//!   sequencer knows is found with `preconf_getPromises` and slashed when its slot is missed.
//! - `missed_slots_are_reported_and_what_the_registry_refuses_is_never_sent`: a missed slot of
//!   a followed rollup is reported (1 % of the bond to the watcher), only on that rollup, and
//!   SIGTERM stops the watcher cleanly; a promise for another L1 chain id, a forged signature,
//!   a kept promise, an open slot and a slot past the slashing window (after moving anvil's
//!   clock) are each refused by the registry with their exact error, and the watcher sends
//!   none of them.

mod common;

use alloy::{consensus::Transaction as _, providers::Provider, signers::local::PrivateKeySigner};
use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_sol_types::SolCall;
use common::{
    l1::L1,
    preconf::{PreconfNet, Process, SLOT_GAS, transfer},
};
use jsonrpsee::core::client::Error as ClientError;
use sequencer_lookahead::{
    ChainId, RegistryDomain, Slot,
    core::contract::SequencerRegistry::{self, MissReported, SequencerRegistryErrors, Slashed},
    devnet::{self, SAMPLE_GRACE_SLOTS},
    preconf::{
        api::{LockRequest, PreconfApiClient},
        promise::{Promise, PromiseSigner},
    },
    service::l1::call,
    watch::{
        api::{INVALID_PROMISE, WatchApiClient},
        chain::BatchOf,
    },
};
use std::time::Duration;

const A: u64 = 101;
const B: u64 = 102;
const C: u64 = 103;
const WINDOW_SLOTS: u64 = 8;
/// The registry's `WITHDRAWAL_DELAY`: the slashing window, in windows.
const SLASHING_WINDOWS: u64 = 32;
const SAMPLE_BOND: u128 = 1_000_000_000_000_000_000;

/// A promise for `chain_id`'s `slot` signed under `domain` by sample operator `operator`'s
/// signer, for the hashes of real signed transactions.
fn promise(
    net: &PreconfNet,
    domain: &RegistryDomain,
    operator: usize,
    chain_id: u64,
    slot: Slot,
    hashes: Vec<B256>,
) -> Promise {
    let key = &net.keys[devnet::sample_signer(operator)];
    let signer = PromiseSigner::new(key);
    Promise::sign(&signer, domain, ChainId::from(chain_id), slot, hashes, B256::random())
}

/// The hashes of `count` real signed transfers on `chain_id`.
fn tx_hashes(chain_id: u64, count: usize) -> Vec<B256> {
    (0..count).map(|_| keccak256(transfer(chain_id, 0, 21_000))).collect()
}

/// Waits until the promise with `digest` is slashed (and the node serves the `Slashed` log),
/// failing once the lookahead's head is past `by_slot`.
async fn wait_slashed(net: &PreconfNet, l1: &L1, digest: B256, by_slot: u64, watcher: &Process) {
    loop {
        let slashed = l1.registry(SequencerRegistry::isSlashedCall { digest }).await;
        if slashed && !l1.slashes_of(digest).await.is_empty() {
            return;
        }
        let now = net.current_slot().await;
        assert!(now <= by_slot, "not slashed by slot {now}: {}", watcher.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The sum of metric `name` over the series with all of `labels`, as the watcher's Prometheus
/// endpoint at `addr` serves it (0 when absent).
async fn metric(addr: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, labelled) = series.split_once('{').unwrap_or((series, ""));
            let matches = metric == name
                && labels
                    .iter()
                    .all(|(key, value)| labelled.contains(&format!("{key}=\"{value}\"")));
            matches.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// The `slashPromise` transactions `from` sent for `promise` in blocks `first..=head`, mined
/// (reverted ones too).
async fn slash_transactions(l1: &L1, from: Address, promise: &Promise, first: u64) -> usize {
    let head = l1.provider.get_block_number().await.unwrap();
    let mut count = 0;
    for number in first..=head {
        let block = l1.provider.get_block_by_number(number.into()).full().await.unwrap().unwrap();
        for tx in block.transactions.txns() {
            if tx.inner.signer() != from {
                continue;
            }
            let Ok(slash) = SequencerRegistry::slashPromiseCall::abi_decode(tx.input()) else {
                continue;
            };
            if slash.preconf.bundleId == promise.bundle_id
                && slash.preconf.slot == promise.slot.0
                && slash.preconf.chainId == promise.chain_id.0
            {
                count += 1;
            }
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broken_promises_are_slashed_once_again_after_a_reorg_and_across_kills() {
    let net = PreconfNet::start();
    let l1 = L1::connect(&net).await;
    let watcher_address = net.watcher_key().address();
    let flags =
        |metrics: &str| vec!["--report-misses=false".to_owned(), format!("--metrics={metrics}")];
    let metrics = format!("127.0.0.1:{}", common::anvil::free_port());
    let watcher = net.watcher("a", &flags(&metrics));
    assert_eq!(
        watcher.ready["sender"].as_str().unwrap().parse::<Address>().unwrap(),
        watcher_address
    );
    assert_eq!(watcher.ready["l1ChainId"].as_u64().unwrap(), net.domain.l1_chain_id);
    let watch = watcher.client();
    net.wait_active().await;

    // A promise whose second transaction the posted batch drops: slashed within
    // GRACE_SLOTS + 3 slots, the whole bond taken, half to the watcher, half burned.
    let (slot, operators) = net.find_slot(&[A], 3, Slot(0), |_| true).await;
    let slashed_on_a = operators[0];
    let hashes = tx_hashes(A, 2);
    let broken = promise(&net, &net.domain, operators[0], A, slot, hashes.clone());
    assert!(watch.submit_promise(broken.clone()).await.unwrap(), "new to the watcher");
    assert!(!watch.submit_promise(broken.clone()).await.unwrap(), "held already");
    l1.post_batch(&net, A, slot, operators[0], vec![hashes[0]]).await;
    let digest = broken.signing_hash(&net.domain);
    wait_slashed(&net, &l1, digest, slot.0 + SAMPLE_GRACE_SLOTS + 3, &watcher).await;
    let slashes = l1.slashes_of(digest).await;
    assert_eq!(slashes.len(), 1, "one slash: {slashes:?}");
    let (slash, log) = &slashes[0];
    assert_eq!((slash.chainId, slash.slot), (U256::from(A), slot.0));
    assert_eq!(slash.challenger, watcher_address);
    assert_eq!(slash.amount, U256::from(SAMPLE_BOND), "the whole bond");
    let reward = slash.amount / U256::from(2);
    let burned = l1.registry(SequencerRegistry::burnedCall {}).await;
    assert_eq!(burned, slash.amount - reward, "the rest is burned");
    let block = log.block_number.unwrap();
    let penalties = l1.miss_penalties_paid(watcher_address, block).await;
    assert_eq!(
        l1.paid_to(watcher_address, block).await,
        reward + penalties,
        "the watcher is paid half (and any miss it reported in the block)"
    );

    // A reorg that removes the slash: the watcher sends it again.
    let (slot, operators) = net.find_slot(&[B], 3, slot, |_| true).await;
    let broken = promise(&net, &net.domain, operators[0], B, slot, tx_hashes(B, 1));
    assert!(watch.submit_promise(broken.clone()).await.unwrap());
    l1.post_batch(&net, B, slot, operators[0], vec![]).await;
    let digest = broken.signing_hash(&net.domain);
    wait_slashed(&net, &l1, digest, slot.0 + SAMPLE_GRACE_SLOTS + 3, &watcher).await;
    let (_, first) = l1.slashes_of(digest).await.remove(0);
    let first_block = first.block_number.unwrap();
    let head = l1.provider.get_block_number().await.unwrap();
    devnet::reorg(&l1.provider, head - first_block + 1).await.unwrap();
    let replaced = l1.provider.get_block_by_number(first_block.into()).await.unwrap();
    assert_ne!(replaced.map(|b| b.header.hash), first.block_hash, "the slash's block is gone");
    let again = loop {
        let slashes = l1.slashes_of(digest).await;
        if let Some((slash, log)) = slashes.into_iter().next() {
            assert_ne!(log.block_hash, first.block_hash);
            break (slash, log);
        }
        assert!(
            net.current_slot().await <= slot.0 + SAMPLE_GRACE_SLOTS + 20,
            "the slash was not sent again: {}",
            watcher.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(again.0.challenger, watcher_address);
    assert_eq!(l1.sender_of(again.1.transaction_hash.unwrap()).await, watcher_address);
    // Removed after the watcher saw it confirmed (`reorged`), or before (`lost`).
    let reorged = [("kind", "slash"), ("event", "reorged")];
    let lost = [("kind", "slash"), ("event", "lost")];
    let removed = metric(&metrics, "lookahead_watch_actions_total", &reorged).await
        + metric(&metrics, "lookahead_watch_actions_total", &lost).await;
    assert_eq!(removed, 1.0, "{}", watcher.log());
    let sent = [("kind", "slash"), ("event", "sent")];
    assert_eq!(metric(&metrics, "lookahead_watch_actions_total", &sent).await, 3.0, "sent again");
    assert!(watcher.log().contains("sending it again"));

    // A watcher SIGKILLed while it holds a promise whose slot has not closed, restarted, and
    // SIGKILLed again right after it sent the slash: restarted once more, the promise is
    // slashed by exactly one transaction.
    let (slot, operators) = net.find_slot(&[C], 4, slot, |_| true).await;
    let first_block = l1.provider.get_block_number().await.unwrap();
    let broken = promise(&net, &net.domain, operators[0], C, slot, tx_hashes(C, 2));
    assert!(watch.submit_promise(broken.clone()).await.unwrap());
    watcher.kill();
    l1.post_batch(&net, C, slot, operators[0], vec![]).await;
    let restarted = net.watcher("a", &flags(&format!("127.0.0.1:{}", common::anvil::free_port())));
    let sent_line = format!("lookahead::watch: sent kind=\"slash\" chain_id={C:#x} slot={slot}");
    for _ in 0..3000 {
        if restarted.log().contains(&sent_line) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        restarted.log().contains(&sent_line),
        "the restarted watcher sent: {}",
        restarted.log()
    );
    restarted.kill();
    let metrics = format!("127.0.0.1:{}", common::anvil::free_port());
    let again = net.watcher("a", &flags(&metrics));
    let digest = broken.signing_hash(&net.domain);
    wait_slashed(&net, &l1, digest, slot.0 + SAMPLE_GRACE_SLOTS + 20, &again).await;
    net.wait_for_slot(net.current_slot().await + 3).await;
    assert_eq!(l1.slashes_of(digest).await.len(), 1);
    assert_eq!(
        slash_transactions(&l1, watcher_address, &broken, first_block).await,
        1,
        "one slash transaction: {}",
        again.log()
    );

    // A promise nobody hands the watcher: a real sequencer (that posts no batches) confirms
    // it, the watcher finds it with `preconf_getPromises` once the slot is over, and slashes
    // it when the slot closes as missed.
    // Operators 1 and 2 sequence A: the one not slashed yet, with its whole bond.
    let operator = if slashed_on_a == 1 { 2 } else { 1 };
    let _sequencer = net.sequencer_with(operator, SLOT_GAS, &["--post-batches=false".to_owned()]);
    let (slot, _) = net.find_slot(&[A], 3, slot, |ops| ops[0] == operator).await;
    let lock = LockRequest {
        chain_id: ChainId::from(A),
        slot,
        txs: vec![transfer(A, 0, 21_000)],
        bundle_id: B256::random(),
        ttl_ms: Some(2_000),
    };
    let sequencer = net.sequencer_client(operator);
    let receipt = sequencer.lock(lock).await.unwrap();
    let owed = sequencer.confirm(receipt.lock_id).await.unwrap();
    let digest = owed.signing_hash(&net.domain);
    wait_slashed(&net, &l1, digest, slot.0 + SAMPLE_GRACE_SLOTS + 3, &again).await;
    let polled = [("source", "sequencer"), ("outcome", "new")];
    assert_eq!(metric(&metrics, "lookahead_watch_promises_total", &polled).await, 1.0);
    let (slash, _) = l1.slashes_of(digest).await.remove(0);
    assert_eq!(slash.challenger, watcher_address);
    assert_eq!(slash.amount, U256::from(SAMPLE_BOND), "a fresh record's whole bond");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missed_slots_are_reported_and_what_the_registry_refuses_is_never_sent() {
    let net = PreconfNet::start();
    let l1 = L1::connect(&net).await;
    let watcher_address = net.watcher_key().address();
    let reporter = net.watcher("misses", &[format!("--chain-id={C:#x}")]);
    assert_eq!(reporter.ready["rollups"], serde_json::json!([format!("{C:#x}")]));
    net.wait_active().await;

    // Nobody posts: the selected sequencers' slots of C close as missed and are reported.
    let (miss, log) = loop {
        if let Some(first) = l1.events::<MissReported>().await.into_iter().next() {
            break first;
        }
        assert!(net.current_slot().await < 20 * WINDOW_SLOTS, "no report: {}", reporter.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(miss.chainId, U256::from(C));
    assert_eq!(miss.misses, 1);
    assert_eq!(miss.penalty, U256::from(SAMPLE_BOND / 100), "1 % of the bond");
    assert_eq!(l1.sender_of(log.transaction_hash.unwrap()).await, watcher_address);
    let slot = miss.slot;
    let reported = SequencerRegistry::isReportedCall { chainId: U256::from(C), slot };
    assert!(l1.registry(reported).await);
    let selected = SequencerRegistry::sequencerAtCall { chainId: U256::from(C), slot };
    assert_eq!(l1.registry(selected).await.index, miss.index, "the selected record was fined");
    let inbox = l1
        .registry(SequencerRegistry::inboxAtCall {
            chainId: U256::from(C),
            window: slot / WINDOW_SLOTS,
        })
        .await;
    let batch = call(&l1.provider, inbox, BatchOf::batchOfCall { slot }).await.unwrap();
    assert_eq!(batch.status, 2, "the inbox says missed");
    let block = log.block_number.unwrap();
    let in_block = l1.miss_penalties_paid(watcher_address, block).await;
    assert_eq!(l1.paid_to(watcher_address, block).await, in_block, "the watcher got the penalty");
    assert!(reporter.stop().success(), "SIGTERM stops the watcher cleanly");
    let others = l1.events::<MissReported>().await;
    assert!(others.iter().all(|(miss, _)| miss.chainId == U256::from(C)), "only C is followed");

    // What the registry refuses, each with its own error; the watcher sends none of it.
    let metrics = format!("127.0.0.1:{}", common::anvil::free_port());
    let watcher = net
        .watcher("refusals", &["--report-misses=false".to_owned(), format!("--metrics={metrics}")]);
    let watch = watcher.client();
    let (slot, operators) = net.find_slot(&[A], 3, Slot(0), |_| true).await;
    let hashes = tx_hashes(A, 3);
    let signer = net.keys[devnet::sample_signer(operators[0])].address();
    let kept = promise(&net, &net.domain, operators[0], A, slot, vec![hashes[0]]);
    let late = promise(&net, &net.domain, operators[0], A, slot, vec![hashes[2]]);
    let other_l1 = RegistryDomain::new(1, net.domain.registry);
    let foreign = promise(&net, &other_l1, operators[0], A, slot, vec![hashes[1]]);
    let forger = PrivateKeySigner::random();
    let mut forged = Promise::sign(
        &PromiseSigner::new(&forger),
        &net.domain,
        ChainId::from(A),
        slot,
        vec![hashes[1]],
        B256::random(),
    );
    forged.signer = signer;
    assert!(watch.submit_promise(kept.clone()).await.unwrap(), "a valid promise is held");
    for (name, refused) in [("another L1", &foreign), ("forged", &forged)] {
        match watch.submit_promise(refused.clone()).await {
            Err(ClientError::Call(error)) => assert_eq!(error.code(), INVALID_PROMISE, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }

    // The slot is open: nothing is posted yet.
    net.wait_for_slot(slot.0).await;
    l1.checkpoint_slot(&net, A, slot).await;
    let anyone = l1.accounts[0];
    assert_eq!(
        l1.refusal(anyone, kept.slash_call(Vec::new())).await,
        SequencerRegistryErrors::SlotNotClosed(SequencerRegistry::SlotNotClosed { slot: slot.0 })
    );
    let batch = vec![hashes[0], hashes[1]];
    l1.post_batch(&net, A, slot, operators[0], batch.clone()).await;
    assert_eq!(
        l1.refusal(anyone, kept.slash_call(batch.clone())).await,
        SequencerRegistryErrors::PromiseKept(SequencerRegistry::PromiseKept {
            promiseDigest: kept.signing_hash(&net.domain)
        })
    );
    let recovered =
        foreign.signature.recover_address_from_prehash(&foreign.signing_hash(&net.domain)).unwrap();
    assert_ne!(recovered, signer);
    assert_eq!(
        l1.refusal(anyone, foreign.slash_call(batch.clone())).await,
        SequencerRegistryErrors::InvalidPromiseSignature(
            SequencerRegistry::InvalidPromiseSignature { signer, recovered }
        )
    );
    assert_eq!(
        l1.refusal(anyone, forged.slash_call(batch.clone())).await,
        SequencerRegistryErrors::InvalidPromiseSignature(
            SequencerRegistry::InvalidPromiseSignature { signer, recovered: forger.address() }
        )
    );
    assert!(l1.succeeds(anyone, late.slash_call(batch.clone())).await, "broken, inside the window");

    // Past the slashing window: anvil's clock moves 33 windows on.
    let seconds = (SLASHING_WINDOWS + 1) * WINDOW_SLOTS;
    let _: serde_json::Value =
        l1.provider.raw_request("evm_increaseTime".into(), (seconds,)).await.unwrap();
    let _: serde_json::Value = l1.provider.raw_request("evm_mine".into(), ()).await.unwrap();
    let closed_at = slot.0 / WINDOW_SLOTS + SLASHING_WINDOWS;
    assert_eq!(
        l1.refusal(anyone, late.slash_call(batch.clone())).await,
        SequencerRegistryErrors::TooLate(SequencerRegistry::TooLate {
            slot: slot.0,
            closedAt: closed_at
        })
    );
    let moved = (slot.0 + seconds) as f64;
    for _ in 0..100 {
        if metric(&metrics, "lookahead_watch_l1_slot", &[]).await >= moved {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    match watch.submit_promise(late.clone()).await {
        Err(ClientError::Call(error)) => {
            assert_eq!(error.code(), INVALID_PROMISE);
            assert!(error.message().contains("can no longer be slashed"), "{}", error.message());
        }
        other => panic!("a promise past the slashing window: {other:?}"),
    }

    // A few rounds later: the kept promise was judged kept, nothing was sent.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        metric(&metrics, "lookahead_watch_verdicts_total", &[("verdict", "kept")]).await,
        1.0
    );
    assert_eq!(
        metric(&metrics, "lookahead_watch_verdicts_total", &[("verdict", "broken")]).await,
        0.0
    );
    let sent = [("kind", "slash"), ("event", "sent")];
    assert_eq!(metric(&metrics, "lookahead_watch_actions_total", &sent).await, 0.0);
    let refused = |reason| [("source", "submitted"), ("outcome", reason)];
    assert_eq!(
        metric(&metrics, "lookahead_watch_promises_total", &refused("signature")).await,
        2.0
    );
    assert_eq!(metric(&metrics, "lookahead_watch_promises_total", &refused("too_late")).await, 1.0);
    assert!(l1.events::<Slashed>().await.is_empty(), "nothing was slashed");
    for promise in [&kept, &late, &foreign, &forged] {
        let digest = promise.signing_hash(&net.domain);
        assert!(!l1.registry(SequencerRegistry::isSlashedCall { digest }).await);
    }
    assert!(watcher.stop().success());
}
