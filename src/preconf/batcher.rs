//! Posts the reference sequencer's batch to its rollup's inbox for every slot it is selected
//! for (SPEC §8): the promised hashes first, in the order they were promised. The reference
//! builds no L2 blocks, so nothing else follows them.
//!
//! A slot's batch is posted once the slot is over, so every promise for it is in. The slot is
//! first *sealed*: the sequencer signs no promise for a sealed slot, and waits for promises being
//! stored, so the batch cannot miss one (a promise missing from the batch is slashed). The
//! transaction must be mined within the inbox's grace period; fees are bumped when it is stuck.

use super::{sequencer::PreconfSequencer, unix_ms};
use crate::{
    core::{
        contract::{SequencerRegistry, SlotInbox},
        primitives::{ChainId, Slot, Window},
    },
    rpc::api::{LookaheadApiClient, NOT_SYNCED},
    service::l1::{L1Error, TxSender, call, seed_proof},
};
use alloy_primitives::{Address, B256, Bytes};
use alloy_sol_types::SolCall;
use jsonrpsee::core::client::Error as ClientError;
use std::{collections::HashMap, sync::Arc, time::Duration};
use tracing::{debug, info, warn};

/// How long after a slot ends its batch is posted: promises confirmed at its very end are
/// stored by then.
const AFTER_SLOT: Duration = Duration::from_millis(150);

/// Why a batch could not be posted.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The lookahead could not be asked who sequences the slot.
    #[error("the lookahead: {0}")]
    Lookahead(#[from] ClientError),
    /// L1 refused or did not answer.
    #[error(transparent)]
    L1(#[from] L1Error),
    /// The promises could not be read.
    #[error("the promise store: {0}")]
    Store(#[from] super::store::PromiseStoreError),
}

/// Posts `sequencer`'s batches with `sender` (its signer's account) until the task is dropped.
pub async fn post_batches(sequencer: PreconfSequencer, sender: Arc<TxSender>) {
    let clock = sequencer.clock();
    let slot_ms = clock.slot_seconds() * 1000;
    let mut inboxes = InboxCache::default();
    let mut next = current_slot(&sequencer);
    loop {
        let end_ms = (clock.genesis_time() + (next.0 + 1) * clock.slot_seconds()) * 1000;
        let wait = end_ms.saturating_sub(unix_ms()) + AFTER_SLOT.as_millis() as u64;
        tokio::time::sleep(Duration::from_millis(wait.min(slot_ms * 2))).await;
        if current_slot(&sequencer) <= next {
            continue;
        }
        let slot = next;
        next = Slot(next.0 + 1);
        sequencer.seal(slot).await;
        for chain_id in sequencer.chain_ids() {
            let inbox = match inboxes
                .get(&sender, &sequencer, chain_id, clock.window_of(slot))
                .await
            {
                Ok(Some(inbox)) => inbox,
                Ok(None) => continue,
                Err(error) => {
                    warn!(target: "lookahead::batcher", %chain_id, %slot, %error, "could not read the rollup's inbox");
                    continue;
                }
            };
            let sequencer = sequencer.clone();
            let sender = Arc::clone(&sender);
            tokio::spawn(async move {
                match post(&sequencer, &sender, chain_id, slot, inbox).await {
                    Ok(Some(hash)) => {
                        metrics::counter!("lookahead_sequencer_batches_posted_total").increment(1);
                        info!(target: "lookahead::batcher", %chain_id, %slot, %hash, "batch posted");
                    }
                    Ok(None) => {}
                    Err(error) => {
                        metrics::counter!("lookahead_sequencer_batch_failures_total").increment(1);
                        warn!(target: "lookahead::batcher", %chain_id, %slot, %error, "batch not posted");
                    }
                }
            });
        }
    }
}

/// Posts the batch of `chain_id`'s `slot` if this sequencer is the selected one; returns the
/// mined transaction's hash, or `None` when the slot is not this sequencer's.
async fn post(
    sequencer: &PreconfSequencer,
    sender: &TxSender,
    chain_id: ChainId,
    slot: Slot,
    inbox: Address,
) -> Result<Option<B256>, BatchError> {
    let entry = match sequencer.lookahead().get_sequencer(chain_id, slot.0).await {
        Ok(entry) => entry,
        // Windows 0 and 1, or a lookahead still syncing: nobody is selected yet.
        Err(ClientError::Call(call)) if call.code() == NOT_SYNCED => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let me = sequencer.address();
    if entry.sequencer.as_ref().is_none_or(|selected| selected.signer != me) {
        return Ok(None);
    }
    let mut tx_hashes = Vec::new();
    for record in sequencer.promises(slot)? {
        if record.promise.chain_id == chain_id {
            tx_hashes.extend(record.promise.tx_hashes.iter().copied());
        }
    }
    let window = sequencer.clock().window_of(slot);
    let (anchor_header, next_header) = if seed_known(sender, sequencer.registry(), window).await? {
        (Bytes::new(), Bytes::new())
    } else {
        seed_proof(sender.provider(), entry.anchor.number).await?
    };
    debug!(target: "lookahead::batcher", %chain_id, %slot, txs = tx_hashes.len(), "posting batch");
    let propose = SlotInbox::proposeCall {
        slot: slot.0,
        txHashes: tx_hashes,
        anchorHeader: anchor_header,
        nextHeader: next_header,
    };
    let grace = Duration::from_secs(sequencer.clock().slot_seconds() * 4);
    let receipt = sender.send_and_confirm(inbox, propose.abi_encode().into(), grace).await?;
    Ok(Some(receipt.transaction_hash))
}

/// Whether the registry holds `window`'s seed already.
async fn seed_known(sender: &TxSender, registry: Address, window: Window) -> Result<bool, L1Error> {
    let request = SequencerRegistry::seedOfCall { window: window.0 };
    let seed: B256 = call(sender.provider(), registry, request).await?;
    Ok(!seed.is_zero())
}

/// The inbox in force per rollup and window, read from the registry once per window.
#[derive(Debug, Default)]
struct InboxCache {
    by_window: HashMap<(ChainId, Window), Option<Address>>,
}

impl InboxCache {
    async fn get(
        &mut self,
        sender: &TxSender,
        sequencer: &PreconfSequencer,
        chain_id: ChainId,
        window: Window,
    ) -> Result<Option<Address>, L1Error> {
        if let Some(inbox) = self.by_window.get(&(chain_id, window)) {
            return Ok(*inbox);
        }
        let request = SequencerRegistry::inboxAtCall { chainId: chain_id.0, window: window.0 };
        let inbox = call(sender.provider(), sequencer.registry(), request).await?;
        let inbox = (!inbox.is_zero()).then_some(inbox);
        if inbox.is_none() {
            warn!(target: "lookahead::batcher", %chain_id, %window, "the rollup names no inbox: no batches are posted");
        }
        self.by_window.retain(|(_, cached), _| cached.0 + 1 >= window.0);
        self.by_window.insert((chain_id, window), inbox);
        Ok(inbox)
    }
}

fn current_slot(sequencer: &PreconfSequencer) -> Slot {
    sequencer.clock().slot_at(unix_ms() / 1000).unwrap_or_default()
}
