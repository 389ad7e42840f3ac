//! End to end against anvil (a real node) and the real contract: the follower feeds the engine
//! from anvil, the `lookahead_` RPC serves it over real HTTP and WebSocket servers, and a real
//! jsonrpsee client checks that every served entry equals the contract's own answer
//! (`sequencerFor` with the anchor headers for the current and next window, `sequencerForSeed`
//! before), that a reorg replacing an anchor is pushed to subscribers (and ends a sequencer's
//! [`ReorgWatch`] epoch), and that a follower killed and restarted on its datadir resumes from
//! its head.
//!
//! Needs the project's npm install (`contracts/node_modules/.bin/anvil`), as `scripts/test` does.

mod common;

use common::anvil::{Devnet, WINDOW_SLOTS};
use jsonrpsee::{
    core::client::{Subscription, SubscriptionClientT},
    http_client::HttpClientBuilder,
    rpc_params,
    ws_client::WsClientBuilder,
};
use sequencer_lookahead::{
    ChainId, ChangeKind, ScheduleEntry, ScheduleNotification,
    devnet::{self, SAMPLE_ROLLUPS},
    preconf::reorgs::ReorgWatch,
    rpc::{api::LookaheadApiClient, server},
};
use std::{sync::Arc, time::Duration};

#[tokio::test(flavor = "multi_thread")]
async fn every_served_entry_equals_the_contracts_answer() {
    let mut devnet = Devnet::start().await;
    devnet.mine_slots(40, |slot| slot % 7 == 3).await;
    let datadir = tempfile::tempdir().unwrap();
    let (mut follower, shared) = devnet.follower(datadir.path()).await;
    follower.sync().await.expect("syncs");

    let (addr, server) =
        server::serve("127.0.0.1:0".parse().unwrap(), Arc::clone(&shared)).await.unwrap();
    let client = HttpClientBuilder::default().build(format!("http://{addr}")).unwrap();
    let status = client.status().await.unwrap();
    let fixed_until = status.engine.fixed_until_slot.expect("synced").0;
    let oldest = shared.read().schedule().oldest_served().unwrap().0;
    let mut checked = 0;
    for chain_id in SAMPLE_ROLLUPS.map(ChainId::from) {
        let entries = client
            .get_schedule(chain_id, Some(oldest), Some(1024))
            .await
            .unwrap()
            .decode()
            .unwrap();
        assert_eq!(entries.len() as u64, fixed_until - oldest + 1, "every served slot");
        for entry in &entries {
            devnet.assert_matches_contract(chain_id, entry).await;
            checked += 1;
        }
    }
    assert!(checked >= 3 * 12, "checked {checked} entries");
    server.stop().unwrap();
    devnet.anvil.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn follower_skips_finalized_history_and_still_matches_the_contract() {
    let mut devnet = Devnet::start().await;
    devnet.mine_slots(300, |slot| slot % 11 == 5).await;
    let datadir = tempfile::tempdir().unwrap();
    let (mut follower, shared) = devnet.follower(datadir.path()).await;
    follower.skip_finalized_history().await.expect("skips");
    let head = devnet.head().await;
    {
        let engine = shared.read();
        let skipped_to = engine.head().expect("skipped to a finalized block").number;
        assert!(
            skipped_to + 5 * WINDOW_SLOTS <= head && skipped_to > 200,
            "{skipped_to} of {head}"
        );
        assert_eq!(engine.state().journal.entries().len(), 0, "no block was processed one by one");
        assert_eq!(engine.state().registry.rollups().count(), 3, "registrations from eth_getLogs");
    }
    follower.sync().await.expect("syncs");
    let entries: Vec<_> = {
        let engine = shared.read();
        let oldest = engine.schedule().oldest_served().unwrap();
        SAMPLE_ROLLUPS
            .map(ChainId::from)
            .into_iter()
            .map(|chain_id| (chain_id, engine.schedule().entries(chain_id, oldest, 1024).unwrap()))
            .collect()
    };
    for (chain_id, entries) in entries {
        assert!(entries.len() >= 12);
        for entry in &entries {
            devnet.assert_matches_contract(chain_id, entry).await;
        }
    }
    devnet.anvil.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reorg_replacing_an_anchor_is_pushed_to_subscribers() {
    let mut devnet = Devnet::start().await;
    devnet.mine_slots(30, |_| false).await;
    if (devnet.next_slot - 1) % WINDOW_SLOTS == 0 {
        devnet.mine_slots(1, |_| false).await;
    }
    let datadir = tempfile::tempdir().unwrap();
    let (mut follower, shared) = devnet.follower(datadir.path()).await;
    follower.sync().await.unwrap();
    let (addr, server) =
        server::serve("127.0.0.1:0".parse().unwrap(), Arc::clone(&shared)).await.unwrap();
    let ws = WsClientBuilder::default().build(format!("ws://{addr}")).await.unwrap();
    let rollup = ChainId::from(101u64);
    let mut subscription: Subscription<ScheduleNotification> = ws
        .subscribe(
            "lookahead_subscribe",
            rpc_params!["schedule", [rollup]],
            "lookahead_unsubscribe",
        )
        .await
        .unwrap();
    // A sequencer's view of the same notifications: new windows leave its epoch as it was.
    let watch = ReorgWatch::follow(format!("ws://{addr}"));
    let live = eventually("the watch to subscribe", || watch.epoch()).await;
    devnet.mine_slots(WINDOW_SLOTS, |_| false).await;
    follower.sync().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(watch.unchanged_since(live), "extending the schedule is no reorg");
    let oldest = shared.read().schedule().oldest_served().unwrap();
    let before = shared.read().schedule().entries(rollup, oldest, 1024).unwrap();

    // anvil_reorg gives the new blocks the fork parent's timestamp: replacing a head that is
    // not the first block of its window replaces no anchor.
    devnet::reorg(&devnet.provider, 1).await.unwrap();
    follower.sync().await.unwrap();
    assert_eq!(shared.read().stats().reorgs, 1);
    assert_eq!(
        shared.read().schedule().entries(rollup, oldest, 1024).unwrap(),
        before,
        "nothing changed"
    );

    // Replace the newest anchor and everything after it, then let the chain move on.
    let newest_anchor = before.last().unwrap().anchor;
    let head = shared.read().head().unwrap().number;
    devnet::reorg(&devnet.provider, head - newest_anchor.number + 1).await.unwrap();
    devnet.mine_slots(2 * WINDOW_SLOTS, |_| false).await;
    follower.sync().await.unwrap();

    let event = loop {
        let event = tokio::time::timeout(Duration::from_secs(5), subscription.next())
            .await
            .expect("a notification arrives")
            .expect("subscription open")
            .expect("decodes");
        if event.kind == ChangeKind::Reorged && !event.entries.is_empty() {
            break event;
        }
    };
    assert_eq!(event.chain_id, rollup);
    let served = shared
        .read()
        .schedule()
        .entries(rollup, event.entries[0].slot, event.entries.len())
        .unwrap();
    // Statuses may have moved on with finality since the notification.
    let unstatused = |entries: &[ScheduleEntry]| -> Vec<_> {
        entries.iter().map(|e| (e.slot, e.window, e.sequencer.clone(), e.anchor)).collect()
    };
    assert_eq!(
        unstatused(&event.entries),
        unstatused(&served),
        "the notification lists the new entries"
    );
    let replaced = before.iter().find(|e| e.slot == served[0].slot).expect("was served before");
    assert_ne!(served[0].anchor, replaced.anchor, "the anchor was replaced");
    for entry in &served {
        devnet.assert_matches_contract(rollup, entry).await;
    }
    // The watch saw the reorg: a confirm of a lock read before it asks the lookahead again.
    eventually("the reorg to end the watch's epoch", || {
        (!watch.unchanged_since(live)).then_some(())
    })
    .await;
    let after = watch.epoch().expect("still subscribed");
    server.stop().unwrap();
    eventually("the watch to lose its subscription", || watch.epoch().is_none().then_some(()))
        .await;
    assert!(!watch.unchanged_since(after), "a lost subscription ends the epoch");
    devnet.anvil.stop().await;
}

/// Polls `check` every 10 ms until it gives a value; fails after 5 s.
async fn eventually<T>(what: &str, check: impl Fn() -> Option<T>) -> T {
    for _ in 0..500 {
        if let Some(value) = check() {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}")
}
