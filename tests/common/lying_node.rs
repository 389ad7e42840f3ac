//! A fake Ethereum node that lies: a real JSON-RPC server over HTTP on 127.0.0.1 that serves a
//! scripted, mutable chain to the follower (`eth_blockNumber`, `eth_getBlockByNumber` by number
//! and by tag, `eth_getBlockByHash`, `eth_getLogs`, `eth_call` to the registry's time base,
//! `eth_getCode`, `eth_chainId`). The blocks it serves are whatever the test put there: the block
//! served at height `h` may claim another number, any hash, parent hash and timestamp; `safe` and
//! `finalized` may name any block, on the chain or not; `eth_blockNumber` may say anything.

use super::chain::{self, BlockSpec, GENESIS, REGISTRY};
use alloy::{
    consensus::Header as ConsensusHeader,
    eips::BlockNumberOrTag,
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{
        Block as RpcBlock, BlockTransactions, Filter, FilterBlockOption, Header as RpcHeader,
        Log as RpcLog, TransactionRequest,
    },
};
use alloy_primitives::{Address, B256, Bytes, U64, U256, keccak256};
use alloy_sol_types::SolCall;
use jsonrpsee::{
    server::{RpcModule, Server, ServerHandle},
    types::{ErrorObjectOwned, Params},
};
use sequencer_lookahead::{Block, core::contract::SequencerRegistry};
use std::sync::{Arc, Mutex, MutexGuard};

/// Slot length and window size the registry reports (those of [`chain::config`]).
const SLOT_SECONDS: u64 = 12;
const WINDOW_SLOTS: u64 = 4;

/// What the node serves.
#[derive(Debug)]
struct NodeState {
    /// The height of `blocks[0]`: `blocks[i]` answers `eth_getBlockByNumber(first + i)`,
    /// whatever number it claims.
    first: u64,
    /// The canonical chain as served, oldest first (possibly lying).
    blocks: Vec<Block>,
    safe: Option<Block>,
    finalized: Option<Block>,
    /// `eth_blockNumber`'s answer; `None` is the height of the last block.
    block_number: Option<u64>,
    /// Forks made by [`LyingNode::reorg`] and [`LyingNode::extend`], so their blocks differ.
    forks: u64,
}

impl NodeState {
    fn at(&self, height: u64) -> Option<&Block> {
        let index = usize::try_from(height.checked_sub(self.first)?).ok()?;
        self.blocks.get(index)
    }

    fn tip_height(&self) -> u64 {
        self.first + self.blocks.len().saturating_sub(1) as u64
    }

    fn tagged(&self, tag: BlockNumberOrTag) -> Option<&Block> {
        match tag {
            BlockNumberOrTag::Number(height) => self.at(height),
            BlockNumberOrTag::Latest | BlockNumberOrTag::Pending => self.blocks.last(),
            BlockNumberOrTag::Earliest => self.blocks.first(),
            BlockNumberOrTag::Safe => self.safe.as_ref(),
            BlockNumberOrTag::Finalized => self.finalized.as_ref(),
        }
    }
}

/// The node: the server runs until the node is dropped.
#[derive(Debug)]
pub struct LyingNode {
    url: String,
    state: Arc<Mutex<NodeState>>,
    handle: ServerHandle,
}

impl LyingNode {
    /// Serves `blocks` (non-empty), the first at the height it claims.
    pub async fn start(blocks: Vec<Block>) -> Self {
        let first = blocks.first().expect("a node serves at least one block").number;
        let state = Arc::new(Mutex::new(NodeState {
            first,
            blocks,
            safe: None,
            finalized: None,
            block_number: None,
            forks: 1_000,
        }));
        let server = Server::builder().build("127.0.0.1:0").await.expect("binds a local port");
        let url = format!("http://{}", server.local_addr().expect("bound"));
        let handle = server.start(rpc_module(Arc::clone(&state)));
        Self { url, state, handle }
    }

    /// The node's HTTP URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// An alloy provider of the node, over HTTP.
    pub async fn provider(&self) -> DynProvider {
        ProviderBuilder::new().connect(&self.url).await.expect("connects").erased()
    }

    fn state(&self) -> MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The chain as served, oldest first.
    pub fn canonical(&self) -> Vec<Block> {
        self.state().blocks.clone()
    }

    /// The block served at `height`.
    pub fn at(&self, height: u64) -> Block {
        self.state().at(height).cloned().unwrap_or_else(|| panic!("no block at height {height}"))
    }

    /// The newest block.
    pub fn tip(&self) -> Block {
        self.state().blocks.last().cloned().expect("never empty")
    }

    /// Replaces the last `depth` blocks by honest children of the block before them built from
    /// `specs` (a new fork); returns the new blocks.
    pub fn reorg(&self, depth: usize, specs: &[BlockSpec]) -> Vec<Block> {
        let mut state = self.state();
        let keep = state.blocks.len().checked_sub(depth).expect("reorg within the chain");
        assert!(keep > 0, "the first block stays");
        state.blocks.truncate(keep);
        state.forks += 1;
        let parent = state.blocks.last().cloned();
        let number = parent.as_ref().map_or(state.first, |p| p.number + 1);
        let new = chain::extend(parent.as_ref(), number, specs, state.forks);
        state.blocks.extend(new.iter().cloned());
        new
    }

    /// Appends honest children of the tip built from `specs`; returns them.
    pub fn extend(&self, specs: &[BlockSpec]) -> Vec<Block> {
        self.reorg(0, specs)
    }

    /// Appends `block` as served at the next height, whatever it claims.
    pub fn push(&self, block: Block) {
        self.state().blocks.push(block);
    }

    /// Sets the `safe` answer (any block, on the chain or not).
    pub fn set_safe(&self, block: Option<Block>) {
        self.state().safe = block;
    }

    /// Sets the `finalized` answer (any block, on the chain or not).
    pub fn set_finalized(&self, block: Option<Block>) {
        self.state().finalized = block;
    }

    /// Sets `eth_blockNumber`'s answer; `None` answers the height of the last block.
    pub fn set_block_number(&self, number: Option<u64>) {
        self.state().block_number = number;
    }
}

impl Drop for LyingNode {
    fn drop(&mut self) {
        let _ = self.handle.stop();
    }
}

/// A block claiming `number` and `timestamp`, child of `parent_hash`, with a hash of its own
/// (`salt` makes siblings differ) and no logs.
pub fn forged(parent_hash: B256, number: u64, timestamp: u64, salt: u64) -> Block {
    let hash = keccak256(
        [
            b"forged".as_slice(),
            parent_hash.as_slice(),
            &number.to_be_bytes(),
            &timestamp.to_be_bytes(),
            &salt.to_be_bytes(),
        ]
        .concat(),
    );
    Block {
        number,
        hash,
        parent_hash,
        timestamp,
        prevrandao: keccak256(hash),
        logs_bloom: Default::default(),
        logs: Vec::new(),
    }
}

/// `block` in the shape of `eth_getBlockByNumber`'s answer (no transactions, no uncles).
fn rpc_block(block: &Block) -> RpcBlock {
    let inner = ConsensusHeader {
        parent_hash: block.parent_hash,
        number: block.number,
        timestamp: block.timestamp,
        mix_hash: block.prevrandao,
        logs_bloom: block.logs_bloom,
        gas_limit: 30_000_000,
        base_fee_per_gas: Some(7),
        difficulty: U256::ZERO,
        ..Default::default()
    };
    RpcBlock {
        header: RpcHeader { hash: block.hash, inner, total_difficulty: None, size: None },
        uncles: Vec::new(),
        transactions: BlockTransactions::Hashes(Vec::new()),
        withdrawals: None,
    }
}

/// The registry logs of the blocks served at heights `from..=to` matching `filter`.
fn logs(state: &NodeState, filter: &Filter) -> Vec<RpcLog> {
    let heights: Vec<u64> = match &filter.block_option {
        FilterBlockOption::AtBlockHash(hash) => state
            .blocks
            .iter()
            .position(|block| block.hash == *hash)
            .map(|index| state.first + index as u64)
            .into_iter()
            .collect(),
        FilterBlockOption::Range { .. } => {
            let from = filter.get_from_block().unwrap_or(state.first).max(state.first);
            let to = filter.get_to_block().unwrap_or(u64::MAX).min(state.tip_height());
            if from > to { Vec::new() } else { (from..=to).collect() }
        }
    };
    let mut out = Vec::new();
    for height in heights {
        let Some(block) = state.at(height) else { continue };
        for (index, log) in block.logs.iter().enumerate() {
            if !filter.matches_address(log.address) {
                continue;
            }
            out.push(RpcLog {
                inner: log.clone(),
                block_hash: Some(block.hash),
                block_number: Some(block.number),
                block_timestamp: Some(block.timestamp),
                transaction_hash: Some(keccak256([block.hash.as_slice(), &[index as u8]].concat())),
                transaction_index: Some(0),
                log_index: Some(index as u64),
                removed: false,
            });
        }
    }
    out
}

/// The registry's answer to `eth_call` data: its time base, as `chain::config` has it.
fn call(request: &TransactionRequest) -> Result<Bytes, ErrorObjectOwned> {
    let to = request.to.and_then(|to| to.to().copied());
    let input = request.input.input().cloned().unwrap_or_default();
    if to != Some(REGISTRY) || input.len() < 4 {
        return Ok(Bytes::new());
    }
    let selector: [u8; 4] = input[..4].try_into().expect("four bytes");
    let answer = match selector {
        SequencerRegistry::genesisTimeCall::SELECTOR => {
            SequencerRegistry::genesisTimeCall::abi_encode_returns(&GENESIS)
        }
        SequencerRegistry::slotSecondsCall::SELECTOR => {
            SequencerRegistry::slotSecondsCall::abi_encode_returns(&SLOT_SECONDS)
        }
        SequencerRegistry::windowSlotsCall::SELECTOR => {
            SequencerRegistry::windowSlotsCall::abi_encode_returns(&WINDOW_SLOTS)
        }
        _ => return Err(ErrorObjectOwned::owned(3, "execution reverted", None::<()>)),
    };
    Ok(answer.into())
}

fn rpc_module(state: Arc<Mutex<NodeState>>) -> RpcModule<Arc<Mutex<NodeState>>> {
    fn lock(state: &Mutex<NodeState>) -> MutexGuard<'_, NodeState> {
        state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
    let mut module = RpcModule::new(state);
    module
        .register_method("eth_chainId", |_, _, _| Ok::<_, ErrorObjectOwned>(U64::from(1)))
        .unwrap();
    module
        .register_method("eth_blockNumber", |_, state, _| {
            let state = lock(state);
            Ok::<_, ErrorObjectOwned>(U64::from(state.block_number.unwrap_or(state.tip_height())))
        })
        .unwrap();
    module
        .register_method("eth_getBlockByNumber", |params: Params<'_>, state, _| {
            let tag: BlockNumberOrTag = params.sequence().next()?;
            Ok::<_, ErrorObjectOwned>(lock(state).tagged(tag).map(rpc_block))
        })
        .unwrap();
    module
        .register_method("eth_getBlockByHash", |params: Params<'_>, state, _| {
            let hash: B256 = params.sequence().next()?;
            let state = lock(state);
            let block = state.blocks.iter().find(|block| block.hash == hash);
            Ok::<_, ErrorObjectOwned>(block.map(rpc_block))
        })
        .unwrap();
    module
        .register_method("eth_getLogs", |params: Params<'_>, state, _| {
            let filter: Filter = params.sequence().next()?;
            Ok::<_, ErrorObjectOwned>(logs(&lock(state), &filter))
        })
        .unwrap();
    module
        .register_method("eth_call", |params: Params<'_>, _, _| {
            let request: TransactionRequest = params.sequence().next()?;
            call(&request)
        })
        .unwrap();
    module
        .register_method("eth_getCode", |params: Params<'_>, _, _| {
            let address: Address = params.sequence().next()?;
            let code =
                if address == REGISTRY { Bytes::from_static(&[0x60, 0x00]) } else { Bytes::new() };
            Ok::<_, ErrorObjectOwned>(code)
        })
        .unwrap();
    module
}
