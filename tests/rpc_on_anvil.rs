//! End to end against anvil (a real node) and the real contract: the follower feeds the engine
//! from anvil, the `lookahead_` RPC serves it over real HTTP and WebSocket servers, and a real
//! jsonrpsee client checks that every served entry equals the contract's own answer
//! (`sequencerFor` with the anchor headers for the current and next window, `sequencerForSeed`
//! before), that a reorg replacing an anchor is pushed to subscribers, and that a follower killed
//! and restarted on its datadir resumes from its head.
//!
//! Needs the project's npm install (`contracts/node_modules/.bin/anvil`), as `scripts/test` does.

use alloy::{
    consensus::Header as ConsensusHeader,
    network::TransactionBuilder,
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
};
use alloy_primitives::{Address, Bytes, U256, keccak256};
use alloy_sol_types::SolCall;
use jsonrpsee::{
    core::client::{Subscription, SubscriptionClientT},
    http_client::HttpClientBuilder,
    rpc_params,
    ws_client::WsClientBuilder,
};
use sequencer_lookahead::{
    ChainId, EngineConfig, ScheduleEntry, Store,
    contract::SequencerRegistry,
    devnet::{self, Anvil, SAMPLE_ROLLUPS},
    follower::Follower,
    rpc::{self, LookaheadApiClient},
    shared::{ChangeKind, ScheduleNotification, SharedEngine},
};
use std::{path::Path, sync::Arc, time::Duration};

const SLOT_SECONDS: u64 = 12;
const WINDOW_SLOTS: u64 = 4;

struct Devnet {
    anvil: Anvil,
    provider: DynProvider,
    config: EngineConfig,
    genesis: u64,
    next_slot: u64,
}

impl Devnet {
    async fn start() -> Self {
        let port = free_port();
        let anvil_path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts/node_modules/.bin/anvil");
        let anvil =
            Anvil::start(&anvil_path, port, None, WINDOW_SLOTS).await.expect("anvil starts");
        let provider = ProviderBuilder::new().connect_http(anvil.url.parse().unwrap()).erased();
        let deployer = provider.get_accounts().await.unwrap()[0];
        let (registry, deployment_block, clock) =
            devnet::deploy_registry(&provider, deployer, SLOT_SECONDS, WINDOW_SLOTS)
                .await
                .expect("deploys");
        devnet::register_samples(&provider, registry).await.expect("registers");
        let latest = provider.get_block_by_number(Default::default()).await.unwrap().unwrap();
        let genesis = clock.genesis_time();
        let next_slot = (latest.header.timestamp - genesis) / SLOT_SECONDS + 1;
        let config = EngineConfig { registry, deployment_block, clock };
        Self { anvil, provider, config, genesis, next_slot }
    }

    /// Mines one block in each of the next `count` slots, skipping every slot in `skip`.
    async fn mine_slots(&mut self, count: u64, skip: impl Fn(u64) -> bool) {
        for _ in 0..count {
            let slot = self.next_slot;
            self.next_slot += 1;
            if skip(slot) {
                continue;
            }
            let timestamp = self.genesis + slot * SLOT_SECONDS;
            self.provider
                .raw_request::<_, String>("evm_mine".into(), (timestamp,))
                .await
                .expect("mines");
        }
    }

    async fn follower(&self, datadir: &Path) -> (Follower, Arc<SharedEngine>) {
        let (store, engine) =
            Store::open(&datadir.join("lookahead.redb"), self.config).expect("opens");
        let shared = SharedEngine::new(engine);
        let follower = Follower::new(
            self.provider.clone(),
            Arc::clone(&shared),
            store,
            self.config.deployment_block,
            Duration::from_secs(10),
        );
        (follower, shared)
    }

    async fn header_rlp(&self, number: u64) -> Bytes {
        let block = self.provider.get_block_by_number(number.into()).await.unwrap().unwrap();
        let header: ConsensusHeader = block.header.inner;
        let rlp = alloy::rlp::encode(&header);
        assert_eq!(keccak256(&rlp), block.header.hash, "the RLP encodes the real header");
        rlp.into()
    }

    async fn call<C: SolCall>(&self, call: C) -> C::Return {
        let request = TransactionRequest::default()
            .with_to(self.config.registry)
            .with_input(call.abi_encode());
        let output = self.provider.call(request).await.expect("eth_call succeeds");
        C::abi_decode_returns(&output).expect("decodes")
    }

    /// Asserts that `entry` is the contract's answer: `sequencerFor` with the anchor and its
    /// child when the slot is in the current or next window, else `sequencerForSeed`.
    async fn assert_matches_contract(&self, chain_id: ChainId, entry: &ScheduleEntry) {
        let current = self.call(SequencerRegistry::currentWindowCall {}).await;
        let (operator, index) = if entry.window.0 == current || entry.window.0 == current + 1 {
            let anchor = self.header_rlp(entry.anchor.number).await;
            let next = self.header_rlp(entry.anchor.number + 1).await;
            let answer = self
                .call(SequencerRegistry::sequencerForCall {
                    chainId: chain_id.0,
                    slot: entry.slot.0,
                    anchorHeader: anchor,
                    nextHeader: next,
                })
                .await;
            (answer.operator, answer.index)
        } else {
            let block = self
                .provider
                .get_block_by_number(entry.anchor.number.into())
                .await
                .unwrap()
                .unwrap();
            let seed = self
                .call(SequencerRegistry::windowSeedCall {
                    randao: block.header.mix_hash,
                    window: U256::from(entry.window.0),
                })
                .await;
            let answer = self
                .call(SequencerRegistry::sequencerForSeedCall {
                    chainId: chain_id.0,
                    slot: entry.slot.0,
                    seed,
                })
                .await;
            (answer.operator, answer.index)
        };
        let expected = entry
            .sequencer
            .as_ref()
            .map_or((Address::ZERO, U256::MAX), |s| (s.operator, U256::from(s.index)));
        assert_eq!((operator, index), expected, "slot {} of rollup {chain_id}", entry.slot);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_served_entry_equals_the_contracts_answer() {
    let mut devnet = Devnet::start().await;
    devnet.mine_slots(40, |slot| slot % 7 == 3).await;
    let datadir = tempfile::tempdir().unwrap();
    let (mut follower, shared) = devnet.follower(datadir.path()).await;
    follower.sync().await.expect("syncs");

    let (addr, server) =
        rpc::serve("127.0.0.1:0".parse().unwrap(), Arc::clone(&shared)).await.unwrap();
    let client = HttpClientBuilder::default().build(format!("http://{addr}")).unwrap();
    let status = client.status().await.unwrap();
    let fixed_until = status.fixed_until_slot.expect("synced").0;
    let oldest = shared.read().oldest_served().unwrap().0;
    let mut checked = 0;
    for chain_id in SAMPLE_ROLLUPS.map(ChainId::from) {
        let entries = client.get_schedule(chain_id, Some(oldest), Some(1024)).await.unwrap();
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
        rpc::serve("127.0.0.1:0".parse().unwrap(), Arc::clone(&shared)).await.unwrap();
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
    let oldest = shared.read().oldest_served().unwrap();
    let before = shared.read().schedule(rollup, oldest, 1024).unwrap();

    // anvil_reorg gives the new blocks the fork parent's timestamp: replacing a head that is
    // not the first block of its window replaces no anchor.
    devnet::reorg(&devnet.provider, 1).await.unwrap();
    follower.sync().await.unwrap();
    assert_eq!(shared.read().stats().reorgs, 1);
    assert_eq!(shared.read().schedule(rollup, oldest, 1024).unwrap(), before, "nothing changed");

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
    let served =
        shared.read().schedule(rollup, event.entries[0].slot, event.entries.len()).unwrap();
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
    server.stop().unwrap();
    devnet.anvil.stop().await;
}
