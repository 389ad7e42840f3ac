//! The registry's EIP-712 domain (SPEC §7) and the signer consent it is used for (SPEC §4).
//!
//! Every signature the project makes or checks — a sequencer's preconfirmation promise, a
//! signer's consent to sign for an operator — is made under one domain:
//! `{name: "SequencerLookahead", version: "2", chainId: <L1 chain id>, verifyingContract:
//! <registry>}`. The L1 chain id keeps a signature from being valid on another network where a
//! registry happens to live at the same address.

use alloy_primitives::{Address, B256};
use alloy_sol_types::{Eip712Domain, SolStruct, eip712_domain, sol};
use serde::{Deserialize, Serialize};

use crate::core::primitives::ChainId;

sol! {
    /// A signer's consent to sign preconfirmations for `operator` on rollup `chainId`: the
    /// `signerProof` of `SequencerRegistry.register` when the signer is not the operator.
    struct SignerConsent {
        uint256 chainId;
        address operator;
    }
}

/// One deployed registry on one L1: what every signature of the project is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryDomain {
    /// The L1's chain id (`block.chainid`, 1 on mainnet).
    pub l1_chain_id: u64,
    /// The `SequencerRegistry`'s address on that L1.
    pub registry: Address,
}

impl RegistryDomain {
    /// The EIP-712 domain name.
    pub const NAME: &'static str = "SequencerLookahead";
    /// The EIP-712 domain version.
    pub const VERSION: &'static str = "2";

    /// The registry at `registry` on the L1 with chain id `l1_chain_id`.
    pub const fn new(l1_chain_id: u64, registry: Address) -> Self {
        Self { l1_chain_id, registry }
    }

    /// The EIP-712 domain, as the contract's `domainSeparator()` hashes it.
    pub fn eip712(&self) -> Eip712Domain {
        eip712_domain! {
            name: Self::NAME,
            version: Self::VERSION,
            chain_id: self.l1_chain_id,
            verifying_contract: self.registry,
        }
    }

    /// The digest a signer signs to consent to sign for `operator` on rollup `chain_id`; equal
    /// to the contract's `signerConsentDigest(chainId, operator)`.
    pub fn signer_consent_hash(&self, chain_id: ChainId, operator: Address) -> B256 {
        SignerConsent { chainId: chain_id.0, operator }.eip712_signing_hash(&self.eip712())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::keccak256;
    use alloy_sol_types::SolValue;

    #[test]
    fn separator_is_the_contracts_formula() {
        let domain = RegistryDomain::new(17_000, Address::repeat_byte(0x42));
        let type_hash = keccak256(
            "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
        );
        let expected = keccak256(
            (
                type_hash,
                keccak256("SequencerLookahead"),
                keccak256("2"),
                alloy_primitives::U256::from(17_000u64),
                Address::repeat_byte(0x42),
            )
                .abi_encode(),
        );
        assert_eq!(domain.eip712().separator(), expected);
    }

    #[test]
    fn consent_depends_on_every_field() {
        let domain = RegistryDomain::new(1, Address::repeat_byte(1));
        let base = domain.signer_consent_hash(ChainId::from(10u64), Address::repeat_byte(2));
        for other in [
            RegistryDomain::new(2, Address::repeat_byte(1))
                .signer_consent_hash(ChainId::from(10u64), Address::repeat_byte(2)),
            RegistryDomain::new(1, Address::repeat_byte(3))
                .signer_consent_hash(ChainId::from(10u64), Address::repeat_byte(2)),
            domain.signer_consent_hash(ChainId::from(11u64), Address::repeat_byte(2)),
            domain.signer_consent_hash(ChainId::from(10u64), Address::repeat_byte(4)),
        ] {
            assert_ne!(base, other);
        }
    }
}
