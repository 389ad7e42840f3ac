//! The public networks the lookahead knows by name: their L1 chain ids and slot clocks (SPEC §2).
//!
//! The one table every component reads — the `lookahead` CLI's `--chain` and the Reth node's
//! chain spec both resolve through [`Network`] — so a preset cannot differ between them.

use crate::core::clock::SlotClock;
use core::{fmt, str::FromStr};

/// A public Ethereum network with a known beacon genesis time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Network {
    /// Ethereum mainnet.
    Mainnet,
    /// Sepolia.
    Sepolia,
    /// Holesky.
    Holesky,
    /// Hoodi.
    Hoodi,
}

impl Network {
    /// Every known network.
    pub const ALL: [Self; 4] = [Self::Mainnet, Self::Sepolia, Self::Holesky, Self::Hoodi];

    /// The network's name, as `--chain` takes it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Mainnet => "mainnet",
            Self::Sepolia => "sepolia",
            Self::Holesky => "holesky",
            Self::Hoodi => "hoodi",
        }
    }

    /// The L1 chain id (`block.chainid`).
    pub const fn chain_id(self) -> u64 {
        match self {
            Self::Mainnet => 1,
            Self::Sepolia => 11_155_111,
            Self::Holesky => 17_000,
            Self::Hoodi => 560_048,
        }
    }

    /// The slot clock: beacon genesis time, 12-second slots, 32-slot windows.
    pub const fn clock(self) -> SlotClock {
        match self {
            Self::Mainnet => SlotClock::MAINNET,
            Self::Sepolia => SlotClock::SEPOLIA,
            Self::Holesky => SlotClock::HOLESKY,
            Self::Hoodi => SlotClock::HOODI,
        }
    }

    /// The network with L1 chain id `chain_id`, if it is a known one.
    pub fn from_chain_id(chain_id: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|network| network.chain_id() == chain_id)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not one of [`Network::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown network {0:?}: expected mainnet, sepolia, holesky or hoodi")]
pub struct UnknownNetwork(pub String);

impl FromStr for Network {
    type Err = UnknownNetwork;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|network| network.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownNetwork(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_chain_ids_round_trip() {
        for network in Network::ALL {
            assert_eq!(network.name().parse::<Network>(), Ok(network));
            assert_eq!(Network::from_chain_id(network.chain_id()), Some(network));
        }
        assert_eq!(Network::from_chain_id(31_337), None);
        assert!("goerli".parse::<Network>().is_err());
        assert_eq!(Network::Mainnet.clock().genesis_time(), 1_606_824_023);
    }
}
