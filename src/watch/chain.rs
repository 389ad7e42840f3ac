//! What the watcher reads from L1: the head and its finality, each rollup's inbox and what it
//! says of a slot, a posted batch's hashes (from the inbox's `BatchProposed` log), seeds, the
//! selected record, and whether a promise was slashed or a slot reported. Every request has
//! the watcher's deadline.
//!
//! L1 is the authority here, not the lookahead: the registry decides a slash on its own state,
//! so the watcher judges from the same state, at the node's latest block.

use crate::{
    core::{
        clock::SlotClock,
        contract::{SequencerRegistry, SlotInbox::BatchProposed},
        primitives::{ChainId, Slot, Window},
    },
    service::{
        deadline::with_deadline,
        l1::{L1Error, call},
    },
};
use alloy::{
    eips::BlockNumberOrTag,
    providers::{DynProvider, Provider},
    rpc::types::Filter,
    transports::TransportError,
};
use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{SolCall, SolEvent};
use std::{future::Future, time::Duration};

use super::verdict::tx_list_hash;

/// Why a read from L1 failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The node refused or the answer did not decode.
    #[error(transparent)]
    L1(#[from] L1Error),
    /// The node did not answer in time.
    #[error("{what}: no answer within {limit:?}")]
    Timeout {
        /// The request.
        what: &'static str,
        /// The deadline.
        limit: Duration,
    },
}

fn node(what: &'static str) -> impl FnOnce(TransportError) -> L1Error {
    move |source| L1Error::Node { what, source }
}

/// The node's latest block, in the registry's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L1Head {
    /// Its number.
    pub number: u64,
    /// Its timestamp.
    pub timestamp: u64,
    /// Its slot: the registry's `currentSlot()` for a call at this block.
    pub slot: Slot,
}

/// What an inbox says of a slot (`IRollupInbox.batchOf`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchStatus {
    /// No batch yet, and one may still come.
    Open,
    /// A batch with this `txListHash` was posted.
    Posted(B256),
    /// The slot closed with no batch.
    Missed,
}

/// The registry on one L1 node.
#[derive(Clone, Debug)]
pub struct Chain {
    provider: DynProvider,
    registry: Address,
    clock: SlotClock,
    timeout: Duration,
}

impl Chain {
    /// The registry at `registry` through `provider`, with the registry's `clock`; every
    /// request waits at most `timeout`.
    pub const fn new(
        provider: DynProvider,
        registry: Address,
        clock: SlotClock,
        timeout: Duration,
    ) -> Self {
        Self { provider, registry, clock, timeout }
    }

    /// The registry's address.
    pub const fn registry(&self) -> Address {
        self.registry
    }

    /// The registry's slot clock.
    pub const fn clock(&self) -> &SlotClock {
        &self.clock
    }

    async fn timed<T>(
        &self,
        what: &'static str,
        request: impl Future<Output = Result<T, L1Error>>,
    ) -> Result<T, ChainError> {
        let limit = self.timeout;
        let request = async { request.await.map_err(ChainError::L1) };
        with_deadline(limit, request, || ChainError::Timeout { what, limit }).await
    }

    async fn view<C: SolCall>(&self, to: Address, request: C) -> Result<C::Return, ChainError> {
        self.timed(C::SIGNATURE, call(&self.provider, to, request)).await
    }

    async fn header(&self, block: BlockNumberOrTag) -> Result<Option<(u64, u64)>, ChainError> {
        let request = async {
            let block = self
                .provider
                .get_block_by_number(block)
                .await
                .map_err(node("reading a block header"))?;
            Ok(block.map(|block| (block.header.number, block.header.timestamp)))
        };
        self.timed("eth_getBlockByNumber", request).await
    }

    /// The registry's `WITHDRAWAL_DELAY`: how many windows a slot stays slashable.
    pub async fn withdrawal_delay(&self) -> Result<u64, ChainError> {
        self.view(self.registry, SequencerRegistry::WITHDRAWAL_DELAYCall {}).await
    }

    /// The node's latest block.
    pub async fn head(&self) -> Result<L1Head, ChainError> {
        let (number, timestamp) =
            self.header(BlockNumberOrTag::Latest).await?.ok_or(L1Error::MissingBlock(0))?;
        let slot = self.clock.slot_at(timestamp).unwrap_or_default();
        Ok(L1Head { number, timestamp, slot })
    }

    /// The node's finalized block number; `None` when it has none or no finality at all.
    pub async fn finalized(&self) -> Option<u64> {
        self.header(BlockNumberOrTag::Finalized).await.ok().flatten().map(|(number, _)| number)
    }

    /// The nonce of `account` at the latest block and with its pending transactions.
    pub async fn nonces(&self, account: Address) -> Result<(u64, u64), ChainError> {
        let latest = async {
            self.provider
                .get_transaction_count(account)
                .latest()
                .await
                .map_err(node("reading the nonce"))
        };
        let pending = async {
            self.provider
                .get_transaction_count(account)
                .pending()
                .await
                .map_err(node("reading the pending nonce"))
        };
        let latest = self.timed("eth_getTransactionCount", latest).await?;
        let pending = self.timed("eth_getTransactionCount", pending).await?;
        Ok((latest, pending))
    }

    /// Whether the node knows any of `hashes`: mined, or waiting in its pool. A transaction
    /// it knows none of was dropped, or removed by a reorg and not taken back into the pool.
    pub async fn knows_any(&self, hashes: &[B256]) -> Result<bool, ChainError> {
        for hash in hashes {
            let request = async {
                self.provider
                    .get_transaction_by_hash(*hash)
                    .await
                    .map_err(node("reading a transaction"))
            };
            if self.timed("eth_getTransactionByHash", request).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The inbox that judges `chain_id`'s slots of `window`, if any.
    pub async fn inbox_at(
        &self,
        chain_id: ChainId,
        window: Window,
    ) -> Result<Option<Address>, ChainError> {
        let request = SequencerRegistry::inboxAtCall { chainId: chain_id.0, window: window.0 };
        let inbox = self.view(self.registry, request).await?;
        Ok((!inbox.is_zero()).then_some(inbox))
    }

    /// What `inbox` says of `slot`.
    pub async fn batch_of(&self, inbox: Address, slot: Slot) -> Result<BatchStatus, ChainError> {
        let answer = self.view(inbox, BatchOf::batchOfCall { slot: slot.0 }).await?;
        Ok(match answer.status {
            0 => BatchStatus::Open,
            1 => BatchStatus::Posted(answer.txListHash),
            _ => BatchStatus::Missed,
        })
    }

    /// The hashes of the batch `inbox` holds for `slot`, from its `BatchProposed` log: the one
    /// whose hashes hash to `list_hash`, searched from the first block of the slot to the latest.
    /// `None` when no such log is found (an inbox that does not emit the reference inbox's
    /// event, or a node that has not indexed the log yet).
    pub async fn batch(
        &self,
        inbox: Address,
        slot: Slot,
        list_hash: B256,
        head: &L1Head,
    ) -> Result<Option<Vec<B256>>, ChainError> {
        let start = u128::from(self.clock.genesis_time())
            + u128::from(slot.0) * u128::from(self.clock.slot_seconds());
        let Some(from) = self.first_block_at_or_after(start, head).await? else {
            return Ok(None);
        };
        let filter = Filter::new()
            .address(inbox)
            .event_signature(BatchProposed::SIGNATURE_HASH)
            .topic1(B256::from(U256::from(slot.0)))
            .from_block(from);
        let logs = self
            .timed("eth_getLogs", async {
                self.provider.get_logs(&filter).await.map_err(node("reading batch logs"))
            })
            .await?;
        Ok(logs
            .iter()
            .filter_map(|log| BatchProposed::decode_log_data(log.data()).ok())
            .map(|event| event.txHashes)
            .find(|hashes| tx_list_hash(hashes) == list_hash))
    }

    /// Whether the registry holds `window`'s seed.
    pub async fn seed_known(&self, window: Window) -> Result<bool, ChainError> {
        let seed =
            self.view(self.registry, SequencerRegistry::seedOfCall { window: window.0 }).await?;
        Ok(!seed.is_zero())
    }

    /// The signer of the record `sequencerAt` selects for `chain_id`'s `slot` (the window's seed
    /// must be stored), or `None` when no record is selected.
    pub async fn selected_signer(
        &self,
        chain_id: ChainId,
        slot: Slot,
    ) -> Result<Option<Address>, ChainError> {
        let request = SequencerRegistry::sequencerAtCall { chainId: chain_id.0, slot: slot.0 };
        let selected = self.view(self.registry, request).await?;
        if selected.index == U256::MAX {
            return Ok(None);
        }
        let request =
            SequencerRegistry::getSequencerCall { chainId: chain_id.0, index: selected.index };
        let record = self.view(self.registry, request).await?;
        Ok(Some(record.signer))
    }

    /// Whether the promise with EIP-712 digest `digest` was slashed.
    pub async fn is_slashed(&self, digest: B256) -> Result<bool, ChainError> {
        self.view(self.registry, SequencerRegistry::isSlashedCall { digest }).await
    }

    /// Whether `chain_id`'s `slot` was reported missed.
    pub async fn is_reported(&self, chain_id: ChainId, slot: Slot) -> Result<bool, ChainError> {
        let request = SequencerRegistry::isReportedCall { chainId: chain_id.0, slot: slot.0 };
        self.view(self.registry, request).await
    }

    /// The number of anchor(`window`): the last block before window `window - 1` starts; `None`
    /// while no block of that window exists yet (or for windows 0 and 1, which have none).
    pub async fn anchor_of(
        &self,
        window: Window,
        head: &L1Head,
    ) -> Result<Option<u64>, ChainError> {
        let Some(boundary) = self.clock.anchor_boundary(window) else { return Ok(None) };
        let next = self.first_block_at_or_after(boundary, head).await?;
        Ok(next.and_then(|next| next.checked_sub(1)))
    }

    /// The first block (up to `head`) with a timestamp at or after `timestamp`, by bisection.
    async fn first_block_at_or_after(
        &self,
        timestamp: u128,
        head: &L1Head,
    ) -> Result<Option<u64>, ChainError> {
        if u128::from(head.timestamp) < timestamp {
            return Ok(None);
        }
        let (mut low, mut high) = (0, head.number);
        while low < high {
            let middle = low + (high - low) / 2;
            let (_, time) = self
                .header(BlockNumberOrTag::Number(middle))
                .await?
                .ok_or(L1Error::MissingBlock(middle))?;
            if u128::from(time) >= timestamp {
                high = middle;
            } else {
                low = middle + 1;
            }
        }
        Ok(Some(low))
    }
}

alloy_sol_types::sol! {
    /// `IRollupInbox.batchOf`, with the status as the `uint8` the ABI carries, so any inbox
    /// implementing the interface is read the same way.
    interface BatchOf {
        function batchOf(uint64 slot) external view returns (uint8 status, bytes32 txListHash);
    }
}
