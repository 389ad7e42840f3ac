//! The watcher's decisions, without I/O: whether a closed slot broke a promise, and what a
//! registry revert means for a slash or a report the watcher was about to send.
//!
//! They mirror the contract (SPEC §8): a `Missed` slot breaks every promise of the slot; a
//! `Posted` one breaks a promise when a promised hash is not in the batch, whose hashes must
//! hash to the inbox's `txListHash`.

use crate::{
    core::contract::SequencerRegistry::SequencerRegistryErrors, preconf::promise::Promise,
};
use alloy_primitives::{B256, keccak256};
use alloy_sol_types::SolInterface;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// How a slot closed, as its inbox says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotOutcome {
    /// The selected sequencer posted this batch: its transaction hashes, in order.
    Posted(Vec<B256>),
    /// The slot closed with no batch.
    Missed,
}

/// Whether a promise was kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Verdict {
    /// Every promised hash is in the slot's batch.
    Kept,
    /// The slot missed, or its batch lacks a promised hash: slashable.
    Broken,
}

/// `keccak256(abi.encodePacked(hashes))`: the `txListHash` an inbox keeps of a batch.
pub fn tx_list_hash(hashes: &[B256]) -> B256 {
    let mut packed = Vec::with_capacity(hashes.len() * 32);
    for hash in hashes {
        packed.extend_from_slice(hash.as_slice());
    }
    keccak256(packed)
}

/// Whether `promise` was kept by a slot that closed with `outcome`.
pub fn judge(promise: &Promise, outcome: &SlotOutcome) -> Verdict {
    match outcome {
        SlotOutcome::Missed => Verdict::Broken,
        SlotOutcome::Posted(batch) => {
            let posted: HashSet<&B256> = batch.iter().collect();
            if promise.tx_hashes.iter().all(|hash| posted.contains(hash)) {
                Verdict::Kept
            } else {
                Verdict::Broken
            }
        }
    }
}

/// What a registry revert (from estimating a slash, a report or a checkpoint) tells the
/// watcher to do with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revert {
    /// Someone else slashed the promise or reported the slot already: nothing left to do.
    Done,
    /// The window's seed is not checkpointed (any more, after a reorg): checkpoint it, retry.
    NeedsSeed,
    /// The slot's inbox no longer says what the watcher judged (a reorg replaced the batch or
    /// reopened the slot): judge the slot again.
    Rejudge(&'static str),
    /// The contract will never take it (a kept promise, a signature that is not the selected
    /// signer's, a slot past the slashing window, no sequencer or no inbox): drop it, and say
    /// why.
    Never(&'static str),
    /// Revert data the registry's errors do not explain (another contract's, or none).
    Unknown,
}

/// Classifies the revert data of a registry call.
pub fn classify(data: &[u8]) -> Revert {
    use SequencerRegistryErrors as E;
    let Ok(error) = SequencerRegistryErrors::abi_decode(data) else { return Revert::Unknown };
    match error {
        E::AlreadySlashed(_) | E::AlreadyReported(_) => Revert::Done,
        E::SeedUnknown(_) => Revert::NeedsSeed,
        E::SlotNotClosed(_) => Revert::Rejudge("SlotNotClosed"),
        E::BatchMismatch(_) => Revert::Rejudge("BatchMismatch"),
        E::NotMissed(_) => Revert::Rejudge("NotMissed"),
        E::PromiseKept(_) => Revert::Never("PromiseKept"),
        E::InvalidPromiseSignature(_) => Revert::Never("InvalidPromiseSignature"),
        E::TooLate(_) => Revert::Never("TooLate"),
        E::NoSequencer(_) => Revert::Never("NoSequencer"),
        E::NoInbox(_) => Revert::Never("NoInbox"),
        E::UnknownRollup(_) => Revert::Never("UnknownRollup"),
        E::NoAnchorWindow(_) => Revert::Never("NoAnchorWindow"),
        _ => Revert::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        RegistryDomain,
        core::{
            contract::SequencerRegistry,
            primitives::{ChainId, Slot},
        },
        preconf::promise::PromiseSigner,
    };
    use alloy::signers::local::PrivateKeySigner;
    use alloy_primitives::{Address, U256};
    use alloy_sol_types::{SolError, SolValue};

    fn promise(tx_hashes: Vec<B256>) -> Promise {
        let key = PrivateKeySigner::random();
        let domain = RegistryDomain::new(1, Address::repeat_byte(1));
        Promise::sign(
            &PromiseSigner::new(&key),
            &domain,
            ChainId::from(101),
            Slot(7),
            tx_hashes,
            B256::ZERO,
        )
    }

    #[test]
    fn a_missed_slot_breaks_every_promise() {
        assert_eq!(judge(&promise(vec![]), &SlotOutcome::Missed), Verdict::Broken);
        assert_eq!(
            judge(&promise(vec![B256::repeat_byte(1)]), &SlotOutcome::Missed),
            Verdict::Broken
        );
    }

    #[test]
    fn a_batch_keeps_a_promise_when_it_holds_every_promised_hash_in_any_order() {
        let (a, b, c) = (B256::repeat_byte(1), B256::repeat_byte(2), B256::repeat_byte(3));
        let batch = SlotOutcome::Posted(vec![c, b, a]);
        assert_eq!(judge(&promise(vec![a, b]), &batch), Verdict::Kept);
        assert_eq!(judge(&promise(vec![]), &batch), Verdict::Kept);
        assert_eq!(judge(&promise(vec![a, B256::repeat_byte(4)]), &batch), Verdict::Broken);
        assert_eq!(judge(&promise(vec![a]), &SlotOutcome::Posted(vec![])), Verdict::Broken);
    }

    #[test]
    fn the_list_hash_is_abi_encode_packed() {
        let hashes = vec![B256::repeat_byte(1), B256::repeat_byte(2)];
        let mut packed = hashes[0].to_vec();
        packed.extend_from_slice(hashes[1].as_slice());
        assert_eq!(tx_list_hash(&hashes), keccak256(packed));
        assert_eq!(tx_list_hash(&[]), keccak256([]));
        // abi.encodePacked(bytes32[]) is the words back to back, as abi.encode without offsets.
        let encoded = hashes.abi_encode();
        assert_eq!(tx_list_hash(&hashes), keccak256(&encoded[64..]));
    }

    #[test]
    fn registry_reverts_are_classified_by_error() {
        use SequencerRegistry as R;
        let digest = B256::repeat_byte(9);
        let done = R::AlreadySlashed { promiseDigest: digest }.abi_encode();
        assert_eq!(classify(&done), Revert::Done);
        let reported = R::AlreadyReported { chainId: U256::from(1), slot: 3 }.abi_encode();
        assert_eq!(classify(&reported), Revert::Done);
        assert_eq!(classify(&R::SeedUnknown { window: 4 }.abi_encode()), Revert::NeedsSeed);
        let kept = R::PromiseKept { promiseDigest: digest }.abi_encode();
        assert_eq!(classify(&kept), Revert::Never("PromiseKept"));
        let late = R::TooLate { slot: 1, closedAt: 33 }.abi_encode();
        assert_eq!(classify(&late), Revert::Never("TooLate"));
        let forged = R::InvalidPromiseSignature { signer: Address::ZERO, recovered: Address::ZERO };
        assert_eq!(classify(&forged.abi_encode()), Revert::Never("InvalidPromiseSignature"));
        assert_eq!(
            classify(&R::SlotNotClosed { slot: 1 }.abi_encode()),
            Revert::Rejudge("SlotNotClosed")
        );
        assert_eq!(classify(&[0xde, 0xad, 0xbe, 0xef]), Revert::Unknown);
        assert_eq!(classify(&[]), Revert::Unknown);
    }
}
