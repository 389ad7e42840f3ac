//! Window seeds (SPEC §3).
//!
//! The seed of window `W` is `keccak256(abi.encode(anchor(W).prevrandao, uint256(W)))`, where
//! anchor(W) is the last canonical block before window W-1 starts (see
//! [`SlotClock::anchor_boundary`](crate::SlotClock::anchor_boundary)). The seed is therefore
//! fixed as soon as the first block of window W-1 exists: one to two windows ahead.

use crate::core::primitives::{Slot, Window};
use alloy_primitives::{B256, BlockNumber, keccak256};
use serde::{Deserialize, Serialize};

/// The block whose `prevrandao` seeds a window, as the schedule reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Anchor {
    /// Block number.
    pub number: BlockNumber,
    /// Block hash: a reorg that replaces it changes the window's schedule.
    pub hash: B256,
    /// The header's `mixHash`, which holds `prevrandao` since the merge.
    pub prevrandao: B256,
}

impl Anchor {
    /// The seed of `window`, for which this block is the anchor.
    pub fn seed(&self, window: Window) -> B256 {
        window_seed(self.prevrandao, window)
    }
}

/// `keccak256(abi.encode(prevrandao, uint256(window)))`, the contract's `windowSeed`.
pub fn window_seed(prevrandao: B256, window: Window) -> B256 {
    hash_pair(prevrandao, window.0)
}

/// The seed of the original, not reorg-stable proposal (`naiveLookahead`):
/// `keccak256(abi.encode(prevrandao, uint256(slot)))` with the current block's prevrandao and slot.
pub fn naive_seed(prevrandao: B256, current: Slot) -> B256 {
    hash_pair(prevrandao, current.0)
}

fn hash_pair(word: B256, number: u64) -> B256 {
    let mut preimage = [0u8; 64];
    preimage[..32].copy_from_slice(word.as_slice());
    preimage[56..].copy_from_slice(&number.to_be_bytes());
    keccak256(preimage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;
    use alloy_sol_types::SolValue;

    #[test]
    fn window_seed_is_keccak_of_abi_encoding() {
        let randao = B256::repeat_byte(0xab);
        let expected = keccak256((randao, U256::from(77u64)).abi_encode());
        assert_eq!(window_seed(randao, Window(77)), expected);
        assert_eq!(naive_seed(randao, Slot(77)), expected);
    }
}
