//! The SPEC §7 promise vector shared with the contract's tests
//! (`contracts/test/fixtures/promise-vector.json`, checked on-chain by
//! `contracts/test/PromiseVector.t.sol`): signing the vector's promise with the vector's key under
//! the registry's domain must give, byte for byte, the domain separator, struct hash, digest and
//! 65-byte low-s signature that the registry computes and accepts — so a promise the Rust sequencer
//! signs is one the registry can slash, and one signed elsewhere verifies here.

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, B256, Bytes, Signature, U256};
use alloy_sol_types::SolStruct;
use sequencer_lookahead::{
    ChainId, Slot,
    core::domain::RegistryDomain,
    preconf::promise::{Preconfirmation, Promise, PromiseSigner},
};
use serde::Deserialize;

/// `contracts/test/fixtures/promise-vector.json`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vector {
    l1_chain_id: u64,
    registry: Address,
    private_key: B256,
    signer: Address,
    promise: VectorPromise,
    domain_separator: B256,
    struct_hash: B256,
    digest: B256,
    signature: Bytes,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VectorPromise {
    chain_id: u64,
    slot: u64,
    tx_hashes: Vec<B256>,
    bundle_id: B256,
}

fn vector() -> Vector {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/contracts/test/fixtures/promise-vector.json");
    let text = std::fs::read_to_string(path).expect("the vector is committed with the contracts");
    serde_json::from_str(&text).expect("the vector is well-formed JSON")
}

impl Vector {
    fn domain(&self) -> RegistryDomain {
        RegistryDomain::new(self.l1_chain_id, self.registry)
    }

    /// The promise as a gateway receives it: the vector's fields and signature.
    fn received(&self) -> Promise {
        Promise {
            chain_id: ChainId::from(self.promise.chain_id),
            slot: Slot(self.promise.slot),
            tx_hashes: self.promise.tx_hashes.clone(),
            bundle_id: self.promise.bundle_id,
            signer: self.signer,
            signature: Signature::try_from(self.signature.as_ref())
                .expect("the vector's signature is 65 bytes"),
        }
    }
}

#[test]
fn the_rust_signer_reproduces_the_contracts_promise_vector() {
    let vector = vector();
    let domain = vector.domain();
    assert_eq!(domain.eip712().separator(), vector.domain_separator, "domain separator");

    let message = Preconfirmation {
        chainId: U256::from(vector.promise.chain_id),
        slot: vector.promise.slot,
        txHashes: vector.promise.tx_hashes.clone(),
        bundleId: vector.promise.bundle_id,
    };
    assert_eq!(message.eip712_hash_struct(), vector.struct_hash, "struct hash");

    let key = PrivateKeySigner::from_bytes(&vector.private_key).expect("a valid key");
    assert_eq!(key.address(), vector.signer, "the vector's key is its signer");
    let promise = Promise::sign(
        &PromiseSigner::new(&key),
        &domain,
        ChainId::from(vector.promise.chain_id),
        Slot(vector.promise.slot),
        vector.promise.tx_hashes.clone(),
        vector.promise.bundle_id,
    );
    assert_eq!(promise.signing_hash(&domain), vector.digest, "digest");
    assert_eq!(
        Bytes::from(promise.signature.as_bytes()),
        vector.signature,
        "the same 65 bytes, r || s || v with low s and v 27/28"
    );
    assert_eq!(promise, vector.received(), "the whole promise, as preconf_confirm returns it");
}

#[test]
fn the_vectors_signature_verifies_only_under_its_domain() {
    let vector = vector();
    let promise = vector.received();
    promise.verify(&vector.domain(), vector.signer).expect("the vector verifies");
    let other_l1 = RegistryDomain::new(1, vector.registry);
    assert!(promise.verify(&other_l1, vector.signer).is_err(), "another L1's chain id");
    let other_registry = RegistryDomain::new(vector.l1_chain_id, Address::repeat_byte(0x42));
    assert!(promise.verify(&other_registry, vector.signer).is_err(), "another registry");
    let mut tampered = promise;
    tampered.tx_hashes.pop();
    assert!(tampered.verify(&vector.domain(), vector.signer).is_err(), "a dropped hash");
}
