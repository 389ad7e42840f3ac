//! Newtypes for the quantities the lookahead is computed over, so that a slot is never passed
//! where a window (or a block number) is expected.

use alloy_primitives::U256;
use core::fmt;
use serde::{Deserialize, Serialize};

/// A beacon-chain slot: `(timestamp - genesis_time) / slot_seconds`, counted from genesis.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Slot(pub u64);

/// A window: `window_slots` consecutive slots (one epoch of 32 slots by default), the unit in
/// which seeds are fixed and registry changes take effect.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Window(pub u64);

/// A rollup, identified by its L2 chain id (a `uint256` on-chain).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ChainId(pub U256);

impl From<u64> for ChainId {
    fn from(id: u64) -> Self {
        Self(U256::from(id))
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Chain ids print as 0x-hex, as Ethereum JSON-RPC writes them.
impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}
