//! A devnet for end-to-end tests: anvil mining on demand at chosen slot timestamps, the
//! registry and sample sequencers deployed, and checks against the contract's own answers.

use alloy::{
    consensus::Header as ConsensusHeader,
    network::TransactionBuilder,
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
};
use alloy_primitives::{Address, Bytes, U256, keccak256};
use alloy_sol_types::SolCall;
use sequencer_lookahead::{
    ChainId, EngineConfig, ScheduleEntry, Store,
    contract::SequencerRegistry,
    devnet::{self, Anvil},
    follower::Follower,
    shared::SharedEngine,
};
use std::{path::Path, sync::Arc, time::Duration};

pub const SLOT_SECONDS: u64 = 12;
pub const WINDOW_SLOTS: u64 = 4;

/// anvil with the registry and sample sequencers.
pub struct Devnet {
    /// The node.
    pub anvil: Anvil,
    /// A provider for it.
    pub provider: DynProvider,
    /// The engine configuration for its registry.
    pub config: EngineConfig,
    genesis: u64,
    /// The next slot `mine_slots` considers.
    pub next_slot: u64,
}

impl Devnet {
    pub async fn start() -> Self {
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

    /// The node's latest block number.
    pub async fn head(&self) -> u64 {
        self.provider.get_block_number().await.expect("block number")
    }

    /// The node's finalized block number, if it has one.
    pub async fn finalized(&self) -> Option<u64> {
        let block = self.provider.get_block_by_number(alloy::eips::BlockNumberOrTag::Finalized);
        block.await.ok().flatten().map(|block| block.header.number)
    }

    /// Mines one block in each of the next `count` slots, skipping every slot in `skip`.
    pub async fn mine_slots(&mut self, count: u64, skip: impl Fn(u64) -> bool) {
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

    pub async fn follower(&self, datadir: &Path) -> (Follower, Arc<SharedEngine>) {
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

    pub async fn header_rlp(&self, number: u64) -> Bytes {
        let block = self.provider.get_block_by_number(number.into()).await.unwrap().unwrap();
        let header: ConsensusHeader = block.header.inner;
        let rlp = alloy::rlp::encode(&header);
        assert_eq!(keccak256(&rlp), block.header.hash, "the RLP encodes the real header");
        rlp.into()
    }

    pub async fn call<C: SolCall>(&self, call: C) -> C::Return {
        let request = TransactionRequest::default()
            .with_to(self.config.registry)
            .with_input(call.abi_encode());
        let output = self.provider.call(request).await.expect("eth_call succeeds");
        C::abi_decode_returns(&output).expect("decodes")
    }

    /// Asserts that `entry` is the contract's answer: `sequencerFor` with the anchor and its
    /// child when the slot is in the current or next window, else `sequencerForSeed`.
    pub async fn assert_matches_contract(&self, chain_id: ChainId, entry: &ScheduleEntry) {
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
