//! The devnet's L1 as the end-to-end tests read and write it: a provider that signs for the
//! dev accounts (the sample operators' signers among them), the registry and its calls, events,
//! refusals and seed checkpoints, and what an account was paid.

use super::preconf::PreconfNet;
use alloy::{
    network::TransactionBuilder,
    providers::{DynProvider, Provider},
    rpc::types::{Filter, Log, TransactionReceipt, TransactionRequest},
};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::{SolCall, SolEvent, SolInterface};
use sequencer_lookahead::{
    ChainId, Slot, Window,
    core::contract::{
        SequencerRegistry::{self, MissReported, SequencerRegistryErrors, Slashed},
        SlotInbox,
    },
    devnet,
    rpc::api::LookaheadApiClient,
    service::l1::{call, seed_proof},
};

/// A client of the devnet's L1.
pub struct L1 {
    /// Signs for the dev accounts.
    pub provider: DynProvider,
    /// The dev accounts, by index.
    pub accounts: Vec<Address>,
    /// The registry.
    pub registry: Address,
    window_slots: u64,
}

impl L1 {
    /// Connects to `net`'s anvil.
    pub async fn connect(net: &PreconfNet) -> Self {
        let (provider, accounts) = devnet::connect_dev(&net.l1_url).await.unwrap();
        let registry = net.domain.registry;
        let window_slots =
            call(&provider, registry, SequencerRegistry::windowSlotsCall {}).await.unwrap();
        Self { provider, accounts, registry, window_slots }
    }

    /// The registry's answer to `request` (latest block).
    pub async fn registry<Call: SolCall>(&self, request: Call) -> Call::Return {
        call(&self.provider, self.registry, request).await.unwrap()
    }

    /// Sends `input` to `to` from `from` and waits for its success.
    pub async fn send(&self, from: Address, to: Address, input: Vec<u8>) -> TransactionReceipt {
        let tx = TransactionRequest::default().with_from(from).with_to(to).with_input(input);
        let receipt =
            self.provider.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
        assert!(receipt.status(), "transaction {} reverted", receipt.transaction_hash);
        receipt
    }

    /// The registry's error for `request` sent by `from` (an `eth_call` that must revert).
    pub async fn refusal<Call: SolCall>(
        &self,
        from: Address,
        request: Call,
    ) -> SequencerRegistryErrors {
        let error =
            self.provider.call(self.request(from, &request)).await.expect_err("the call reverts");
        let data = error
            .as_error_resp()
            .and_then(|payload| payload.as_revert_data())
            .unwrap_or_else(|| panic!("no revert data: {error}"));
        SequencerRegistryErrors::abi_decode(&data).expect("one of the registry's errors")
    }

    /// Whether `request` from `from` would succeed (`eth_call`).
    pub async fn succeeds<Call: SolCall>(&self, from: Address, request: Call) -> bool {
        self.provider.call(self.request(from, &request)).await.is_ok()
    }

    fn request<Call: SolCall>(&self, from: Address, request: &Call) -> TransactionRequest {
        TransactionRequest::default()
            .with_from(from)
            .with_to(self.registry)
            .with_input(request.abi_encode())
    }

    /// Every log of event `E` the registry emitted on the canonical chain.
    pub async fn events<E: SolEvent>(&self) -> Vec<(E, Log)> {
        self.logs(self.registry, None).await
    }

    /// The logs of event `E` that `emitter` emitted, those whose first topic is `topic1` if
    /// given.
    pub async fn logs<E: SolEvent>(&self, emitter: Address, topic1: Option<B256>) -> Vec<(E, Log)> {
        let mut filter =
            Filter::new().address(emitter).event_signature(E::SIGNATURE_HASH).from_block(0);
        if let Some(topic) = topic1 {
            filter = filter.topic1(topic);
        }
        let logs = self.provider.get_logs(&filter).await.unwrap();
        logs.into_iter().map(|log| (E::decode_log_data(log.data()).unwrap(), log)).collect()
    }

    /// The window of block `number`'s slot.
    pub async fn window_of_block(&self, number: u64) -> Window {
        let block = self.provider.get_block_by_number(number.into()).await.unwrap().unwrap();
        let timestamp = U256::from(block.header.timestamp);
        let slot: u64 = self.registry(SequencerRegistry::slotAtCall { timestamp }).await;
        Window(slot / self.window_slots)
    }

    /// Checkpoints the seed of `window`, whose anchor is block `anchor`, unless it is stored.
    pub async fn checkpoint(&self, window: Window, anchor: u64) {
        let seed = self.registry(SequencerRegistry::seedOfCall { window: window.0 }).await;
        if !seed.is_zero() {
            return;
        }
        let (anchor_header, next_header) = seed_proof(&self.provider, anchor).await.unwrap();
        let input = SequencerRegistry::checkpointSeedCall {
            window: window.0,
            anchorHeader: anchor_header,
            nextHeader: next_header,
        };
        self.send(self.accounts[0], self.registry, input.abi_encode()).await;
    }

    /// [`Self::checkpoint`] of `slot`'s window, with the anchor the lookahead names.
    pub async fn checkpoint_slot(&self, net: &PreconfNet, chain_id: u64, slot: Slot) {
        let entry = net.lookahead.get_sequencer(ChainId::from(chain_id), slot.0).await.unwrap();
        self.checkpoint(Window(slot.0 / self.window_slots), entry.anchor.number).await;
    }

    /// What `account` received in block `number`: its balance change plus the fees of its own
    /// transactions in that block.
    pub async fn paid_to(&self, account: Address, number: u64) -> U256 {
        let before = self.provider.get_balance(account).number(number - 1).await.unwrap();
        let after = self.provider.get_balance(account).number(number).await.unwrap();
        let block = self.provider.get_block_by_number(number.into()).full().await.unwrap().unwrap();
        let mut fees = U256::ZERO;
        for tx in block.transactions.txns() {
            if tx.inner.signer() == account {
                let hash = *tx.inner.tx_hash();
                let receipt = self.provider.get_transaction_receipt(hash).await.unwrap().unwrap();
                fees += U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
            }
        }
        after + fees - before
    }

    /// The miss penalties `reporter` was paid in block `number` (a watcher may report a miss in
    /// the block of a slash).
    pub async fn miss_penalties_paid(&self, reporter: Address, number: u64) -> U256 {
        let mut paid = U256::ZERO;
        for (miss, log) in self.events::<MissReported>().await {
            if log.block_number == Some(number)
                && self.sender_of(log.transaction_hash.unwrap()).await == reporter
            {
                paid += miss.penalty;
            }
        }
        paid
    }

    /// The `Slashed` events of the promise with digest `digest`.
    pub async fn slashes_of(&self, digest: B256) -> Vec<(Slashed, Log)> {
        let slashes = self.events::<Slashed>().await;
        slashes.into_iter().filter(|(slash, _)| slash.promiseDigest == digest).collect()
    }

    /// The sender of transaction `hash`.
    pub async fn sender_of(&self, hash: B256) -> Address {
        let tx = self.provider.get_transaction_by_hash(hash).await.unwrap().unwrap();
        tx.inner.signer()
    }

    /// Plays sample operator `operator`, selected in `slot` on `chain_id`: once the slot has
    /// come, posts `hashes` as its batch to the inbox in force, from its signer's account.
    pub async fn post_batch(
        &self,
        net: &PreconfNet,
        chain_id: u64,
        slot: Slot,
        operator: usize,
        hashes: Vec<B256>,
    ) -> TransactionReceipt {
        net.wait_for_slot(slot.0).await;
        self.checkpoint_slot(net, chain_id, slot).await;
        let request = SequencerRegistry::inboxAtCall {
            chainId: U256::from(chain_id),
            window: slot.0 / self.window_slots,
        };
        let inbox = self.registry(request).await;
        let propose = SlotInbox::proposeCall {
            slot: slot.0,
            txHashes: hashes,
            anchorHeader: Bytes::new(),
            nextHeader: Bytes::new(),
        };
        let signer = self.accounts[devnet::sample_signer(operator)];
        self.send(signer, inbox, propose.abi_encode()).await
    }
}
