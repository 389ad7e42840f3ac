//! The promise a sequencer signs on `preconf_confirm`: EIP-712 typed data, so a rollup or an
//! L1 contract can check it with `ecrecover` against the registry's `signer`.
//!
//! Domain: `{name: "SequencerLookahead", version: "1", verifyingContract: <registry>}`; the
//! registry binds a promise to the records it was made under. Struct:
//! `Preconfirmation(uint256 chainId,uint64 slot,bytes32[] txHashes,bytes32 bundleId)`.

use crate::primitives::{ChainId, Slot};
use alloy::signers::{SignerSync, local::PrivateKeySigner};
use alloy_primitives::{Address, B256, Signature};
use alloy_sol_types::{Eip712Domain, SolStruct, eip712_domain, sol};
use serde::{Deserialize, Serialize};

sol! {
    /// The EIP-712 struct a sequencer signs.
    struct Preconfirmation {
        uint256 chainId;
        uint64 slot;
        bytes32[] txHashes;
        bytes32 bundleId;
    }
}

/// The EIP-712 domain of promises made under `registry`.
pub fn domain(registry: Address) -> Eip712Domain {
    eip712_domain! {
        name: "SequencerLookahead",
        version: "1",
        verifying_contract: registry,
    }
}

/// A sequencer's signed promise to include `tx_hashes` of rollup `chain_id` in `slot`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promise {
    /// The rollup.
    pub chain_id: ChainId,
    /// The L1 slot.
    pub slot: Slot,
    /// The promised transactions, in order.
    pub tx_hashes: Vec<B256>,
    /// The bundle the lock was made for.
    pub bundle_id: B256,
    /// The registered signer that signed it.
    pub signer: Address,
    /// The EIP-712 signature over [`Preconfirmation`] (65 bytes, `r || s || v`).
    pub signature: Signature,
}

/// Why a promise does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PromiseError {
    /// The signature does not recover to an address.
    #[error("the signature does not recover: {0}")]
    Unrecoverable(String),
    /// The signature recovers to another key than the one claimed or expected.
    #[error("signed by {recovered}, expected {expected}")]
    WrongSigner {
        /// Who signed.
        recovered: Address,
        /// Who should have.
        expected: Address,
    },
}

impl Promise {
    /// Signs the promise for `chain_id`, `slot`, `tx_hashes` and `bundle_id` under `registry`.
    pub fn sign(
        signer: &PrivateKeySigner,
        registry: Address,
        chain_id: ChainId,
        slot: Slot,
        tx_hashes: Vec<B256>,
        bundle_id: B256,
    ) -> Self {
        let hash = signing_hash(registry, chain_id, slot, &tx_hashes, bundle_id);
        let signature = signer.sign_hash_sync(&hash).expect("a local key signs any hash");
        Self { chain_id, slot, tx_hashes, bundle_id, signer: signer.address(), signature }
    }

    /// The EIP-712 hash the signature is over.
    pub fn signing_hash(&self, registry: Address) -> B256 {
        signing_hash(registry, self.chain_id, self.slot, &self.tx_hashes, self.bundle_id)
    }

    /// Checks that `expected` signed this promise under `registry` (and that it says so).
    pub fn verify(&self, registry: Address, expected: Address) -> Result<(), PromiseError> {
        let recovered = self
            .signature
            .recover_address_from_prehash(&self.signing_hash(registry))
            .map_err(|error| PromiseError::Unrecoverable(error.to_string()))?;
        if recovered != expected || self.signer != expected {
            return Err(PromiseError::WrongSigner { recovered, expected });
        }
        Ok(())
    }
}

fn signing_hash(
    registry: Address,
    chain_id: ChainId,
    slot: Slot,
    tx_hashes: &[B256],
    bundle_id: B256,
) -> B256 {
    let message = Preconfirmation {
        chainId: chain_id.0,
        slot: slot.0,
        txHashes: tx_hashes.to_vec(),
        bundleId: bundle_id,
    };
    message.eip712_signing_hash(&domain(registry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_promise_verifies_only_for_its_signer_and_registry() {
        let signer = PrivateKeySigner::random();
        let registry = Address::repeat_byte(0x42);
        let promise = Promise::sign(
            &signer,
            registry,
            ChainId::from(101),
            Slot(7),
            vec![B256::repeat_byte(1)],
            B256::repeat_byte(2),
        );
        promise.verify(registry, signer.address()).unwrap();
        assert!(promise.verify(Address::repeat_byte(0x43), signer.address()).is_err());
        assert!(promise.verify(registry, Address::repeat_byte(9)).is_err());
        let mut tampered = promise.clone();
        tampered.slot = Slot(8);
        assert!(tampered.verify(registry, signer.address()).is_err());
        let json = serde_json::to_string(&promise).unwrap();
        assert_eq!(serde_json::from_str::<Promise>(&json).unwrap(), promise);
    }
}
