//! `SequencerRegistry` deployed from the committed artifact on revm, the EVM that Reth runs.

use alloy_primitives::{Address, B256, Bytes, Log, U256};
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
use sequencer_lookahead::core::contract::SequencerRegistry;

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
        let mut chain = Self { evm, registry: Address::ZERO, timestamp, number: 1 };

        let args = SequencerRegistry::constructorCall {
            genesisTime_: genesis_time,
            slotSeconds_: slot_seconds,
            windowSlots_: window_slots,
        }
        .abi_encode();
        let mut code = SequencerRegistry::BYTECODE.to_vec();
        code.extend_from_slice(&args);
        let tx = chain.tx(deployer, U256::ZERO).create().data(code.into()).build_fill();
        match chain.evm.transact_commit(tx).expect("deployment executes") {
            ExecutionResult::Success { output: Output::Create(_, Some(address)), .. } => {
                chain.registry = address;
            }
            other => panic!("deployment failed: {other:?}"),
        }
        chain
    }

    /// Gives `account` a large balance for bonds.
    pub fn fund(&mut self, account: Address) {
        self.evm
            .ctx
            .journaled_state
            .database
            .insert_account_info(account, AccountInfo::from_balance(U256::from(10u128.pow(30))));
    }

    /// Moves the chain to a new block at `timestamp`.
    pub fn set_time(&mut self, timestamp: u64) {
        self.timestamp = timestamp;
        self.number += 1;
        self.evm.set_block(BlockEnv {
            number: U256::from(self.number),
            timestamp: U256::from(timestamp),
            prevrandao: Some(B256::ZERO),
            gas_limit: GAS_LIMIT,
            ..Default::default()
        });
    }

    /// The current block's timestamp.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// Sends `call` from `caller` with `value` and commits it.
    pub fn send<C: SolCall>(&mut self, caller: Address, value: U256, call: &C) -> Outcome {
        let tx = self.tx(caller, value).call(self.registry).data(call.abi_encode().into());
        match self.evm.transact_commit(tx.build_fill()).expect("transaction executes") {
            ExecutionResult::Success { logs, .. } => Outcome::Success(logs),
            ExecutionResult::Revert { output, .. } => Outcome::Revert(output),
            ExecutionResult::Halt { reason, .. } => panic!("registry call halted: {reason:?}"),
        }
    }

    /// Calls a view function without committing anything.
    pub fn view<C: SolCall>(&mut self, call: &C) -> C::Return {
        let tx = self
            .tx(Address::ZERO, U256::ZERO)
            .call(self.registry)
            .data(call.abi_encode().into())
            .build_fill();
        let result = self.evm.transact(tx).expect("view executes").result;
        match result {
            ExecutionResult::Success { output, .. } => {
                C::abi_decode_returns(output.data()).expect("view returns its ABI type")
            }
            other => panic!("view call failed: {other:?}"),
        }
    }

    fn tx(&self, caller: Address, value: U256) -> revm::context::tx::TxEnvBuilder {
        TxEnv::builder().caller(caller).value(value).gas_limit(GAS_LIMIT).gas_price(0)
    }
}
