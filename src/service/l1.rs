//! What the services send to and read from L1 themselves: block headers as the registry's
//! proofs take them, and transactions signed locally with managed nonces and fee bumps.
//!
//! The reference sequencer posts its batches with it and the watcher its slashes and miss
//! reports: both must land within a few slots, on nodes that hold no keys.

use alloy::{
    consensus::Header,
    network::{EthereumWallet, TransactionBuilder},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
    transports::{RpcError, TransportError},
};
use alloy_primitives::{Address, B256, Bytes, keccak256};
use alloy_sol_types::SolCall;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tracing::{debug, info};

/// Why talking to L1 failed.
#[derive(Debug, thiserror::Error)]
pub enum L1Error {
    /// A request to the node failed.
    #[error("{what}: {source}")]
    Node {
        /// What was being done.
        what: &'static str,
        /// The transport's error.
        source: TransportError,
    },
    /// The node does not have the block.
    #[error("the node has no block {0}")]
    MissingBlock(u64),
    /// The header the node returned does not hash to its block hash: the RLP this build
    /// encodes differs from the node's (an unknown fork's header fields).
    #[error("block {number}: the encoded header hashes to {encoded}, the node says {hash}")]
    HeaderMismatch {
        /// The block.
        number: u64,
        /// `keccak256` of the encoding.
        encoded: B256,
        /// The node's block hash.
        hash: B256,
    },
    /// The call would revert: `eth_estimateGas` failed with revert data (decode it with the
    /// contract's error bindings).
    #[error("the transaction would revert: {data}")]
    WouldRevert {
        /// The revert data (custom error selector and arguments).
        data: Bytes,
    },
    /// A contract's answer does not decode as its ABI says.
    #[error("the answer of {to} does not decode: {message}")]
    Decode {
        /// The contract called.
        to: Address,
        /// The decoder's error.
        message: String,
    },
    /// The transaction was mined and reverted.
    #[error("transaction {0} reverted")]
    Reverted(B256),
    /// The transaction was not mined in time, even with bumped fees.
    #[error("transaction with nonce {nonce} not mined within {waited:?}")]
    NotMined {
        /// Its nonce.
        nonce: u64,
        /// How long it was waited for.
        waited: Duration,
    },
}

fn node(what: &'static str) -> impl FnOnce(TransportError) -> L1Error {
    move |source| L1Error::Node { what, source }
}

/// The RLP header of block `number`, checked to hash to the node's block hash.
pub async fn header_rlp(provider: &DynProvider, number: u64) -> Result<Bytes, L1Error> {
    let block = provider
        .get_block_by_number(number.into())
        .await
        .map_err(node("reading a block header"))?
        .ok_or(L1Error::MissingBlock(number))?;
    let hash = block.header.hash;
    let header: Header = block.header.inner;
    let rlp = alloy::rlp::encode(&header);
    let encoded = keccak256(&rlp);
    if encoded != hash {
        return Err(L1Error::HeaderMismatch { number, encoded, hash });
    }
    Ok(rlp.into())
}

/// The headers `checkpointSeed` (and `SlotInbox.propose`) take to prove a window whose anchor
/// is block `anchor`: the anchor's header and its child's.
pub async fn seed_proof(provider: &DynProvider, anchor: u64) -> Result<(Bytes, Bytes), L1Error> {
    let next = anchor.checked_add(1).ok_or(L1Error::MissingBlock(u64::MAX))?;
    Ok((header_rlp(provider, anchor).await?, header_rlp(provider, next).await?))
}

/// `eth_call`s `call` on the contract at `to` (latest block) and decodes its answer.
pub async fn call<C: SolCall>(
    provider: &DynProvider,
    to: Address,
    call: C,
) -> Result<C::Return, L1Error> {
    let request = TransactionRequest::default().with_to(to).with_input(call.abi_encode());
    let output = provider.call(request).await.map_err(node("calling a contract"))?;
    C::abi_decode_returns(&output)
        .map_err(|error| L1Error::Decode { to, message: error.to_string() })
}

/// How a [`TxSender`] waits for its transactions.
#[derive(Clone, Copy, Debug)]
pub struct TxPolicy {
    /// How often receipts are polled.
    pub poll: Duration,
    /// How long a transaction may stay unmined before it is sent again with higher fees.
    pub bump_after: Duration,
    /// The fee multiplier of each bump, in percent (at least 110: nodes replace a pending
    /// transaction only for 10 % more).
    pub bump_percent: u128,
}

impl Default for TxPolicy {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(200),
            bump_after: Duration::from_secs(6),
            bump_percent: 125,
        }
    }
}

/// A transaction sent by a [`TxSender`] and not yet known to be mined.
#[derive(Clone, Debug)]
pub struct SentTx {
    /// Its nonce.
    pub nonce: u64,
    /// The hash of every version sent (fee bumps), newest last.
    pub hashes: Vec<B256>,
    request: TransactionRequest,
    sent_at: Instant,
}

/// The gas limit and fees a [`SentTx`]'s newest version was signed with: what a service stores
/// to pick the transaction up again after a restart ([`TxSender::resume`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxFees {
    /// The gas limit.
    pub gas_limit: u64,
    /// `maxFeePerGas`, in wei.
    pub max_fee_per_gas: u128,
    /// `maxPriorityFeePerGas`, in wei.
    pub max_priority_fee_per_gas: u128,
}

impl SentTx {
    /// The gas limit and fees of its newest version.
    pub fn fees(&self) -> TxFees {
        TxFees {
            gas_limit: self.request.gas.unwrap_or_default(),
            max_fee_per_gas: self.request.max_fee_per_gas.unwrap_or_default(),
            max_priority_fee_per_gas: self.request.max_priority_fee_per_gas.unwrap_or_default(),
        }
    }
}

/// Signs transactions locally with one key, assigns nonces in order, and re-sends a
/// transaction with higher fees when it is stuck.
#[derive(Debug)]
pub struct TxSender {
    provider: DynProvider,
    from: Address,
    next_nonce: Mutex<Option<u64>>,
    policy: TxPolicy,
}

impl TxSender {
    /// A sender for `key` through the node at `url` (HTTP or WebSocket).
    pub async fn connect(
        url: &str,
        key: PrivateKeySigner,
        policy: TxPolicy,
    ) -> Result<Self, L1Error> {
        let from = key.address();
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(key))
            .connect(url)
            .await
            .map_err(node("connecting to the L1 node"))?
            .erased();
        Ok(Self { provider, from, next_nonce: Mutex::new(None), policy })
    }

    /// The account it sends from.
    pub const fn address(&self) -> Address {
        self.from
    }

    /// Its provider, which signs for [`TxSender::address`].
    pub const fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Sends a call of `input` to `to`: estimates its gas first, so a call that would revert is
    /// refused with its revert data ([`L1Error::WouldRevert`]) and costs nothing.
    pub async fn send(&self, to: Address, input: Bytes) -> Result<SentTx, L1Error> {
        let mut request =
            TransactionRequest::default().with_from(self.from).with_to(to).with_input(input);
        let gas = self.provider.estimate_gas(request.clone()).await.map_err(|error| match error
            .as_error_resp()
            .and_then(|payload| payload.as_revert_data())
        {
            Some(data) => L1Error::WouldRevert { data },
            None => L1Error::Node { what: "estimating gas", source: error },
        })?;
        let fees = self.provider.estimate_eip1559_fees().await.map_err(node("estimating fees"))?;
        request.set_gas_limit(gas.saturating_add(gas / 5));
        request.set_max_fee_per_gas(fees.max_fee_per_gas);
        request.set_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);

        let mut next_nonce = self.next_nonce.lock().await;
        let nonce = match *next_nonce {
            Some(nonce) => nonce,
            None => self
                .provider
                .get_transaction_count(self.from)
                .pending()
                .await
                .map_err(node("reading the nonce"))?,
        };
        request.set_nonce(nonce);
        match self.provider.send_transaction(request.clone()).await {
            Ok(pending) => {
                *next_nonce = Some(nonce + 1);
                let hash = *pending.tx_hash();
                debug!(target: "lookahead::l1", %hash, nonce, "sent");
                Ok(SentTx { nonce, hashes: vec![hash], request, sent_at: Instant::now() })
            }
            Err(source) => {
                // The node's nonce may differ from ours (another sender, a dropped tx): ask
                // it again next time.
                *next_nonce = None;
                Err(L1Error::Node { what: "sending a transaction", source })
            }
        }
    }

    /// Waits until `sent` is mined (any of its versions), re-sending it with higher fees each
    /// time it waited [`TxPolicy::bump_after`]; fails if it reverted or `timeout` passed.
    pub async fn confirm(
        &self,
        mut sent: SentTx,
        timeout: Duration,
    ) -> Result<TransactionReceipt, L1Error> {
        let started = Instant::now();
        loop {
            if let Some(receipt) = self.poll(&mut sent).await? {
                return if receipt.status() {
                    Ok(receipt)
                } else {
                    Err(L1Error::Reverted(receipt.transaction_hash))
                };
            }
            if started.elapsed() >= timeout {
                return Err(L1Error::NotMined { nonce: sent.nonce, waited: started.elapsed() });
            }
            tokio::time::sleep(self.policy.poll).await;
        }
    }

    /// Looks once for the receipt of any version of `sent` (newest first), and re-sends it with
    /// higher fees when it has waited [`TxPolicy::bump_after`] since its last version: one step
    /// of [`TxSender::confirm`], for a caller that watches many transactions in one loop. The
    /// receipt may be of a reverted transaction (`receipt.status()`).
    pub async fn poll(&self, sent: &mut SentTx) -> Result<Option<TransactionReceipt>, L1Error> {
        for hash in sent.hashes.iter().rev() {
            let receipt = self
                .provider
                .get_transaction_receipt(*hash)
                .await
                .map_err(node("reading a receipt"))?;
            if receipt.is_some() {
                return Ok(receipt);
            }
        }
        if sent.sent_at.elapsed() >= self.policy.bump_after {
            self.bump(sent).await;
        }
        Ok(None)
    }

    /// A transaction this account sent before a restart, rebuilt from what was stored of it
    /// (the call, its nonce, the hashes of its versions and the newest version's fees), so
    /// [`TxSender::poll`] and [`TxSender::confirm`] can watch it and bump its fees again.
    pub fn resume(
        &self,
        to: Address,
        input: Bytes,
        nonce: u64,
        hashes: Vec<B256>,
        fees: TxFees,
    ) -> SentTx {
        let request = TransactionRequest::default()
            .with_from(self.from)
            .with_to(to)
            .with_input(input)
            .with_nonce(nonce)
            .with_gas_limit(fees.gas_limit)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        SentTx { nonce, hashes, request, sent_at: Instant::now() }
    }

    /// Forgets the next nonce, so the next [`TxSender::send`] asks the node for it: after a
    /// reorg removed one of this account's transactions, or one was dropped, the nonces it
    /// handed out are free again and must be reused, or every later transaction waits forever.
    pub async fn forget_nonce(&self) {
        *self.next_nonce.lock().await = None;
    }

    /// Sends and confirms: [`TxSender::send`], then [`TxSender::confirm`].
    pub async fn send_and_confirm(
        &self,
        to: Address,
        input: Bytes,
        timeout: Duration,
    ) -> Result<TransactionReceipt, L1Error> {
        let sent = self.send(to, input).await?;
        self.confirm(sent, timeout).await
    }

    /// Re-sends `sent` with its fees raised by [`TxPolicy::bump_percent`]. A node that refuses
    /// the replacement (one version was mined meanwhile, or it knows this one) is not an error:
    /// the receipts tell.
    async fn bump(&self, sent: &mut SentTx) {
        let percent = self.policy.bump_percent.max(110);
        let raise = |fee: Option<u128>| fee.map(|fee| fee.saturating_mul(percent) / 100 + 1);
        sent.request.max_fee_per_gas = raise(sent.request.max_fee_per_gas);
        sent.request.max_priority_fee_per_gas = raise(sent.request.max_priority_fee_per_gas);
        sent.sent_at = Instant::now();
        match self.provider.send_transaction(sent.request.clone()).await {
            Ok(pending) => {
                info!(target: "lookahead::l1", nonce = sent.nonce, hash = %pending.tx_hash(), "re-sent a stuck transaction with higher fees");
                sent.hashes.push(*pending.tx_hash());
            }
            Err(RpcError::ErrorResp(payload)) => {
                debug!(target: "lookahead::l1", nonce = sent.nonce, message = %payload.message, "replacement refused");
            }
            Err(error) => {
                debug!(target: "lookahead::l1", nonce = sent.nonce, %error, "replacement failed")
            }
        }
    }
}
