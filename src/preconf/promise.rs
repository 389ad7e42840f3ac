//! The promise a sequencer signs on `preconf_confirm`: EIP-712 typed data, so a rollup or an
//! L1 contract can check it with `ecrecover` against the registry's `signer`.
//!
//! Domain: the registry's [`RegistryDomain`] (`{name: "SequencerLookahead", version: "2",
//! chainId: <L1 chain id>, verifyingContract: <registry>}`), which binds a promise to the records
//! it was made under on one L1. Struct:
//! `Preconfirmation(uint256 chainId,uint64 slot,bytes32[] txHashes,bytes32 bundleId)`.
//!
//! Signing and recovery use libsecp256k1: they are on the hot path of every bundle.

use crate::core::{
    contract::SequencerRegistry,
    domain::RegistryDomain,
    primitives::{ChainId, Slot},
};
use alloy::{consensus::crypto::secp256k1::recover_signer, signers::local::PrivateKeySigner};
use alloy_primitives::{Address, B256, Bytes, Signature};
use alloy_sol_types::{SolStruct, sol};
use secp256k1::{Message, SECP256K1, SecretKey};
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

/// The key a sequencer signs promises with (its registered `signer`).
#[derive(Clone)]
pub struct PromiseSigner {
    key: SecretKey,
    address: Address,
}

impl PromiseSigner {
    /// The signer of `key`.
    pub fn new(key: &PrivateKeySigner) -> Self {
        let key_bytes = key.to_bytes();
        let secret = SecretKey::from_byte_array(&key_bytes.0).expect("a valid key is a valid key");
        Self { key: secret, address: key.address() }
    }

    /// Its address.
    pub const fn address(&self) -> Address {
        self.address
    }

    /// Signs a 32-byte digest (an EIP-712 signing hash) with low `s`, as `ecrecover` takes it.
    pub fn sign_hash(&self, hash: B256) -> Signature {
        let signature = SECP256K1.sign_ecdsa_recoverable(&Message::from_digest(hash.0), &self.key);
        let (id, bytes) = signature.serialize_compact();
        Signature::from_bytes_and_parity(&bytes, i32::from(id) != 0)
    }
}

impl std::fmt::Debug for PromiseSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromiseSigner").field("address", &self.address).finish_non_exhaustive()
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
    /// The EIP-712 signature over [`Preconfirmation`]: 65 bytes `r || s || v` (v 27 or 28),
    /// as `ecrecover` and wallets take it.
    #[serde(with = "signature_bytes")]
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
    /// Signs the promise for `chain_id`, `slot`, `tx_hashes` and `bundle_id` under `domain`.
    pub fn sign(
        signer: &PromiseSigner,
        domain: &RegistryDomain,
        chain_id: ChainId,
        slot: Slot,
        tx_hashes: Vec<B256>,
        bundle_id: B256,
    ) -> Self {
        let hash = signing_hash(domain, chain_id, slot, &tx_hashes, bundle_id);
        Self {
            chain_id,
            slot,
            tx_hashes,
            bundle_id,
            signer: signer.address,
            signature: signer.sign_hash(hash),
        }
    }

    /// The EIP-712 hash the signature is over.
    pub fn signing_hash(&self, domain: &RegistryDomain) -> B256 {
        signing_hash(domain, self.chain_id, self.slot, &self.tx_hashes, self.bundle_id)
    }

    /// The registry's `slashPromise` call for this promise, against the slot's batch
    /// `batch_tx_hashes` (empty when the slot was missed).
    pub fn slash_call(&self, batch_tx_hashes: Vec<B256>) -> SequencerRegistry::slashPromiseCall {
        SequencerRegistry::slashPromiseCall {
            preconf: SequencerRegistry::Preconfirmation {
                chainId: self.chain_id.0,
                slot: self.slot.0,
                txHashes: self.tx_hashes.clone(),
                bundleId: self.bundle_id,
            },
            signature: Bytes::from(self.signature.as_bytes()),
            batchTxHashes: batch_tx_hashes,
        }
    }

    /// Checks that `expected` signed this promise under `domain` (and that it says so).
    pub fn verify(&self, domain: &RegistryDomain, expected: Address) -> Result<(), PromiseError> {
        let recovered = recover_signer(&self.signature, self.signing_hash(domain))
            .map_err(|error| PromiseError::Unrecoverable(error.to_string()))?;
        if recovered != expected || self.signer != expected {
            return Err(PromiseError::WrongSigner { recovered, expected });
        }
        Ok(())
    }
}

/// A signature as its 65 bytes in hex.
mod signature_bytes {
    use alloy_primitives::{Bytes, Signature};
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(
        signature: &Signature,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        Bytes::from(signature.as_bytes()).serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Signature, D::Error> {
        let bytes = Bytes::deserialize(deserializer)?;
        Signature::try_from(bytes.as_ref()).map_err(D::Error::custom)
    }
}

fn signing_hash(
    domain: &RegistryDomain,
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
    message.eip712_signing_hash(&domain.eip712())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::hex;

    #[test]
    fn a_signed_promise_verifies_only_for_its_signer_registry_and_l1() {
        let signer = PrivateKeySigner::random();
        let domain = RegistryDomain::new(1, Address::repeat_byte(0x42));
        let promise = Promise::sign(
            &PromiseSigner::new(&signer),
            &domain,
            ChainId::from(101),
            Slot(7),
            vec![B256::repeat_byte(1)],
            B256::repeat_byte(2),
        );
        promise.verify(&domain, signer.address()).unwrap();
        let other_registry = RegistryDomain::new(1, Address::repeat_byte(0x43));
        assert!(promise.verify(&other_registry, signer.address()).is_err());
        let other_l1 = RegistryDomain::new(17_000, Address::repeat_byte(0x42));
        assert!(promise.verify(&other_l1, signer.address()).is_err(), "another L1's chain id");
        assert!(promise.verify(&domain, Address::repeat_byte(9)).is_err());
        let mut tampered = promise.clone();
        tampered.slot = Slot(8);
        assert!(tampered.verify(&domain, signer.address()).is_err());
        // The same signature as alloy's own signer (RFC 6979 nonces on both).
        let alloy =
            alloy::signers::SignerSync::sign_hash_sync(&signer, &promise.signing_hash(&domain))
                .unwrap();
        assert_eq!(promise.signature, alloy);
        let json = serde_json::to_string(&promise).unwrap();
        let signature = hex::encode_prefixed(promise.signature.as_bytes());
        assert!(json.contains(&format!("\"signature\":\"{signature}\"")), "{json}");
        assert_eq!(serde_json::from_str::<Promise>(&json).unwrap(), promise);
    }
}
