//! A devnet for end-to-end tests: anvil mining on demand at chosen slot timestamps, the
//! registry and sample sequencers deployed, and checks against the contract's own answers.

use alloy::{
    consensus::Header as ConsensusHeader,
    network::TransactionBuilder,
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
};
use alloy_primitives::{Address, Bytes, U256, keccak256};
use alloy_sol_types::SolCall;
use sequencer_lookahead::{
    ChainId, EngineConfig, ScheduleEntry, Store,
    core::contract::SequencerRegistry,
    devnet::{self, Anvil},
    service::{follower::Follower, shared::SharedEngine},
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
        let (provider, accounts) = devnet::connect_dev(&anvil.url).await.expect("connects");
        let (registry, deployment_block, clock) =
            devnet::deploy_registry(&provider, accounts[0], SLOT_SECONDS, WINDOW_SLOTS)
                .await
                .expect("deploys");
        devnet::register_samples(&provider, registry, &accounts, devnet::SAMPLE_PORT_BASE)
            .await
            .expect("registers");
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

    /// The registry as deployed on this node.
    pub fn on_chain(&self) -> OnChain<'_> {
        OnChain { provider: &self.provider, registry: self.config.registry, block: None }
    }

    /// See [`OnChain::assert_matches_contract`].
    pub async fn assert_matches_contract(&self, chain_id: ChainId, entry: &ScheduleEntry) {
        self.on_chain().assert_matches_contract(chain_id, entry).await;
    }
}

/// A registry on a node (anvil, or any node such as `reth --dev`), asked through `eth_call`.
pub struct OnChain<'a> {
    /// The node.
    pub provider: &'a DynProvider,
    /// The registry.
    pub registry: Address,
    /// The block every call reads (default: the latest at each call).
    pub block: Option<u64>,
}

impl OnChain<'_> {
    pub async fn header_rlp(&self, number: u64) -> Bytes {
        let block = self.provider.get_block_by_number(number.into()).await.unwrap().unwrap();
        let header: ConsensusHeader = block.header.inner;
        let rlp = alloy::rlp::encode(&header);
        assert_eq!(keccak256(&rlp), block.header.hash, "the RLP encodes the real header");
        rlp.into()
    }

    pub async fn call<C: SolCall>(&self, call: C) -> C::Return {
        let request =
            TransactionRequest::default().with_to(self.registry).with_input(call.abi_encode());
        let call = self.provider.call(request);
        let call = match self.block {
            Some(number) => call.block(number.into()),
            None => call,
        };
        let output = call.await.expect("eth_call succeeds");
        C::abi_decode_returns(&output).expect("decodes")
    }

    /// Asserts that `entry` is the contract's answer: `sequencerFor` with the anchor and its
    /// child when the slot is in the current or next window, else `sequencerForSeed`; both
    /// paths are taken, so the test is of the contract's proof as much as of the schedule.
    pub async fn assert_matches_contract(&self, chain_id: ChainId, entry: &ScheduleEntry) {
        let current = self.call(SequencerRegistry::currentWindowCall {}).await;
        let (operator, index) = if entry.window.0 == current || entry.window.0 == current + 1 {
            let anchor = self.header_rlp(entry.anchor.number).await;
            // When the call reads the anchor's child itself, the contract takes the child from
            // the executing block: an empty `nextHeader`.
            let next = if self.block == Some(entry.anchor.number + 1) {
                Bytes::new()
            } else {
                self.header_rlp(entry.anchor.number + 1).await
            };
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

/// The ports [`free_port`] and [`claim_port`] handed out in this test process.
static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A loopback port free now and not handed out before in this test process: the kernel can
/// give the same ephemeral port to two binds in a row once the first is closed, and two
/// servers told the same port fail (a CI run saw anvil and the lookahead get one port).
pub fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if HANDED_OUT.lock().unwrap().insert(port) {
            return port;
        }
    }
}

/// Whether `port` is free now and was not handed out before; if so, it is handed out.
pub fn claim_port(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
        && HANDED_OUT.lock().unwrap().insert(port)
}
