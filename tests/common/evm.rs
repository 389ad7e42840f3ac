//! `SequencerRegistry` deployed from the committed artifact on revm, the EVM that Reth runs,
//! on a chain of real headers: every block the caller opens gets an RLP header linked to its
//! parent, with a `prevrandao` of its own, and `BLOCKHASH` answers the hashes of those headers, so
//! `checkpointSeed` and the `SlotInbox`'s proofs verify real anchors.

use alloy::consensus::Header;
use alloy_primitives::{Address, B256, Bytes, Log, U256, keccak256};
use alloy_sol_types::{SolCall, SolConstructor};
use revm::{
    Context, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext, MainnetEvm,
    context::{
        BlockEnv, TxEnv,
        result::{ExecutionResult, Output},
    },
    database::{CacheDB, EmptyDB},
    handler::MainnetContext,
    primitives::hardfork::SpecId,
    state::AccountInfo,
};
use sequencer_lookahead::core::contract::{SequencerRegistry, SlotInbox};

/// Enough gas for any registry call, including a full fallback scan (and under the EIP-7825 cap).
const GAS_LIMIT: u64 = 16_000_000;

/// The outcome of a state-changing call.
#[derive(Debug)]
pub enum Outcome {
    /// The call succeeded and emitted these logs.
    Success(Vec<Log>),
    /// The call reverted with this data (a custom error).
    Revert(Bytes),
}

/// An in-memory Osaka chain holding one registry; the caller controls block number and time.
pub struct RegistryEvm {
    evm: MainnetEvm<MainnetContext<CacheDB<EmptyDB>>>,
    /// The deployed registry.
    pub registry: Address,
    timestamp: u64,
    number: u64,
    prevrandao: B256,
    /// The headers of the blocks before the current one, oldest first.
    headers: Vec<Header>,
    /// Genesis time and the seconds per window: window `w` starts at
    /// `genesis + w * window_seconds`.
    genesis: u64,
    window_seconds: u64,
}

/// The proof of a window's anchor that `checkpointSeed` (and `SlotInbox.propose`) take.
#[derive(Clone, Debug)]
pub struct AnchorProof {
    /// The anchor's `prevrandao`: the window's seed is `windowSeed(prevrandao, window)`.
    pub prevrandao: B256,
    /// The anchor's number.
    pub number: u64,
    /// The anchor's hash.
    pub hash: B256,
    /// The anchor's RLP header.
    pub header: Bytes,
    /// Its child's RLP header; empty when the child is the current block.
    pub next: Bytes,
}

impl RegistryEvm {
    /// Deploys a registry with the given timing at `timestamp`.
    pub fn deploy(genesis_time: u64, slot_seconds: u64, window_slots: u64, timestamp: u64) -> Self {
        let deployer = Address::repeat_byte(0xde);
        let mut db = CacheDB::new(EmptyDB::default());
        db.insert_account_info(deployer, AccountInfo::from_balance(U256::MAX));
        let evm = Context::mainnet()
            .with_db(db)
            .modify_cfg_chained(|cfg| {
                cfg.disable_nonce_check = true;
                cfg.spec = SpecId::OSAKA;
            })
            .build_mainnet();
        let mut chain = Self {
            evm,
            registry: Address::ZERO,
            timestamp,
            number: 1,
            prevrandao: B256::ZERO,
            headers: Vec::new(),
            genesis: genesis_time,
            window_seconds: slot_seconds * window_slots,
        };

        let args = SequencerRegistry::constructorCall {
            genesisTime_: genesis_time,
            slotSeconds_: slot_seconds,
            windowSlots_: window_slots,
        }
        .abi_encode();
        let mut code = SequencerRegistry::BYTECODE.to_vec();
        code.extend_from_slice(&args);
        chain.registry = chain.create(deployer, code);
        chain
    }

    /// Deploys a `SlotInbox` for rollup `chain_id` that takes batches up to `grace_slots` late.
    pub fn deploy_inbox(&mut self, chain_id: U256, grace_slots: u64) -> Address {
        let args = SlotInbox::constructorCall {
            registry_: self.registry,
            chainId_: chain_id,
            graceSlots_: grace_slots,
        }
        .abi_encode();
        let mut code = SlotInbox::BYTECODE.to_vec();
        code.extend_from_slice(&args);
        self.create(Address::repeat_byte(0xde), code)
    }

    fn create(&mut self, deployer: Address, code: Vec<u8>) -> Address {
        let tx = self.tx(deployer, U256::ZERO).create().data(code.into()).build_fill();
        match self.evm.transact_commit(tx).expect("deployment executes") {
            ExecutionResult::Success { output: Output::Create(_, Some(address)), .. } => address,
            other => panic!("deployment failed: {other:?}"),
        }
    }

    /// Gives `account` a large balance for bonds.
    pub fn fund(&mut self, account: Address) {
        self.evm
            .ctx
            .journaled_state
            .database
            .insert_account_info(account, AccountInfo::from_balance(U256::from(10u128.pow(30))));
    }

    /// Seals the current block and opens its child at `timestamp`, with a `prevrandao` of its
    /// own (a hash of its number and time).
    pub fn set_time(&mut self, timestamp: u64) {
        let parent_hash = self.headers.last().map_or(B256::ZERO, Header::hash_slow);
        let sealed = Header {
            parent_hash,
            number: self.number,
            timestamp: self.timestamp,
            mix_hash: self.prevrandao,
            gas_limit: GAS_LIMIT,
            ..Default::default()
        };
        let database = &mut self.evm.ctx.journaled_state.database;
        database.cache.block_hashes.insert(U256::from(self.number), sealed.hash_slow());
        self.headers.push(sealed);

        self.timestamp = timestamp;
        self.number += 1;
        self.prevrandao = keccak256([self.number.to_be_bytes(), timestamp.to_be_bytes()].concat());
        self.evm.set_block(BlockEnv {
            number: U256::from(self.number),
            timestamp: U256::from(timestamp),
            prevrandao: Some(self.prevrandao),
            gas_limit: GAS_LIMIT,
            ..Default::default()
        });
    }

    /// The proof of anchor(`window`) — the last block before window `window - 1` starts, and
    /// its child — if the chain has both and the child is still within `BLOCKHASH`'s reach
    /// (256 blocks; nothing serves EIP-2935 history here).
    pub fn anchor(&self, window: u64) -> Option<AnchorProof> {
        let boundary =
            self.genesis.checked_add(window.checked_sub(1)?.checked_mul(self.window_seconds)?)?;
        // Timestamps never decrease: the child is the first block at or after the boundary.
        let child = self.headers.partition_point(|header| header.timestamp < boundary);
        if child == self.headers.len() && self.timestamp < boundary {
            return None;
        }
        let anchor = &self.headers[child.checked_sub(1)?];
        if self.number - anchor.number - 1 > 256 {
            return None;
        }
        let next = match self.headers.get(child) {
            Some(next) => alloy::rlp::encode(next).into(),
            None => Bytes::new(),
        };
        Some(AnchorProof {
            prevrandao: anchor.mix_hash,
            number: anchor.number,
            hash: anchor.hash_slow(),
            header: alloy::rlp::encode(anchor).into(),
            next,
        })
    }

    /// The current block's timestamp.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// Sends `call` to the registry from `caller` with `value` and commits it.
    pub fn send<C: SolCall>(&mut self, caller: Address, value: U256, call: &C) -> Outcome {
        self.send_to(self.registry, caller, value, call)
    }

    /// Sends `call` to the contract at `to` from `caller` with `value` and commits it.
    pub fn send_to<C: SolCall>(
        &mut self,
        to: Address,
        caller: Address,
        value: U256,
        call: &C,
    ) -> Outcome {
        let tx = self.tx(caller, value).call(to).data(call.abi_encode().into());
        match self.evm.transact_commit(tx.build_fill()).expect("transaction executes") {
            ExecutionResult::Success { logs, .. } => Outcome::Success(logs),
            ExecutionResult::Revert { output, .. } => Outcome::Revert(output),
            ExecutionResult::Halt { reason, .. } => panic!("call to {to} halted: {reason:?}"),
        }
    }

    /// Calls a view function of the registry without committing anything.
    pub fn view<C: SolCall>(&mut self, call: &C) -> C::Return {
        match self.try_view(call) {
            Ok(returned) => returned,
            Err(revert) => panic!("view call reverted: {revert}"),
        }
    }

    /// Calls a view function of the registry that may revert; its revert data if it does.
    pub fn try_view<C: SolCall>(&mut self, call: &C) -> Result<C::Return, Bytes> {
        let tx = self
            .tx(Address::ZERO, U256::ZERO)
            .call(self.registry)
            .data(call.abi_encode().into())
            .build_fill();
        let result = self.evm.transact(tx).expect("view executes").result;
        match result {
            ExecutionResult::Success { output, .. } => {
                Ok(C::abi_decode_returns(output.data()).expect("view returns its ABI type"))
            }
            ExecutionResult::Revert { output, .. } => Err(output),
            other => panic!("view call halted: {other:?}"),
        }
    }

    fn tx(&self, caller: Address, value: U256) -> revm::context::tx::TxEnvBuilder {
        TxEnv::builder().caller(caller).value(value).gas_limit(GAS_LIMIT).gas_price(0)
    }
}
