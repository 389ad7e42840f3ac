//! The engine's input: canonical-chain notifications in Reth's vocabulary.
//!
//! [`Notification`] has the three variants of Reth's `ExExNotification` — `Committed { new }`,
//! `Reverted { old }`, `Reorged { old, new }` — with [`Notification::committed_chain`] and
//! [`Notification::reverted_chain`] helpers, so both block sources (the Reth ExEx and the
//! JSON-RPC follower) convert field by field. A [`Chain`] holds only what the lookahead needs
//! of each block: header fields, the logs bloom and the logs of its receipts.

use alloy_primitives::{B256, BlockNumber, Bloom, Log};
use std::sync::Arc;

/// One block, reduced to what the lookahead reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Block number.
    pub number: BlockNumber,
    /// Block hash.
    pub hash: B256,
    /// Hash of the parent block.
    pub parent_hash: B256,
    /// Unix timestamp, seconds.
    pub timestamp: u64,
    /// The header's `mixHash` (`prevrandao` since the merge).
    pub prevrandao: B256,
    /// The header's logs bloom: checked before any receipt is read.
    pub logs_bloom: Bloom,
    /// The logs of the block's receipts, in order.
    pub logs: Vec<Log>,
}

/// Why blocks do not form a [`Chain`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A chain holds at least one block.
    #[error("a chain needs at least one block")]
    Empty,
    /// Consecutive blocks must be parent and child.
    #[error(
        "block {number} ({hash}) does not extend block {parent_number} before it: its number \
         must be the next one and its parent hash that block's hash"
    )]
    Discontinuous {
        /// Number of the block that does not link.
        number: BlockNumber,
        /// Its hash.
        hash: B256,
        /// Number of the block before it.
        parent_number: BlockNumber,
    },
    /// A block's timestamp is below its parent's: no consensus rule allows that.
    #[error("block {number} has timestamp {timestamp}, before its parent's {parent_timestamp}")]
    TimeGoesBackwards {
        /// Number of the block.
        number: BlockNumber,
        /// Its timestamp.
        timestamp: u64,
        /// Its parent's timestamp.
        parent_timestamp: u64,
    },
}

/// A non-empty run of consecutive blocks, each the child of the one before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    blocks: Vec<Block>,
}

impl Chain {
    /// Checks that `blocks` are consecutive, linked by parent hash, and that time does not go
    /// backwards (a block's timestamp is not below its parent's).
    pub fn new(blocks: Vec<Block>) -> Result<Self, ChainError> {
        if blocks.is_empty() {
            return Err(ChainError::Empty);
        }
        for pair in blocks.windows(2) {
            let (parent, child) = (&pair[0], &pair[1]);
            if parent.number.checked_add(1) != Some(child.number)
                || child.parent_hash != parent.hash
            {
                return Err(ChainError::Discontinuous {
                    number: child.number,
                    hash: child.hash,
                    parent_number: parent.number,
                });
            }
            if child.timestamp < parent.timestamp {
                return Err(ChainError::TimeGoesBackwards {
                    number: child.number,
                    timestamp: child.timestamp,
                    parent_timestamp: parent.timestamp,
                });
            }
        }
        Ok(Self { blocks })
    }

    /// The blocks, oldest first.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The oldest block.
    pub fn first(&self) -> &Block {
        self.blocks.first().expect("a chain is never empty")
    }

    /// The newest block.
    pub fn tip(&self) -> &Block {
        self.blocks.last().expect("a chain is never empty")
    }
}

/// A change of the canonical chain, as Reth's `ExExNotification` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    /// `new` was appended to the canonical chain.
    Committed {
        /// The appended blocks.
        new: Arc<Chain>,
    },
    /// `old` was removed from the tip of the canonical chain.
    Reverted {
        /// The removed blocks.
        old: Arc<Chain>,
    },
    /// `old` was replaced by `new`.
    Reorged {
        /// The removed blocks.
        old: Arc<Chain>,
        /// The blocks that replaced them.
        new: Arc<Chain>,
    },
}

impl Notification {
    /// The blocks this notification makes canonical, if any.
    pub fn committed_chain(&self) -> Option<Arc<Chain>> {
        match self {
            Self::Committed { new } | Self::Reorged { new, .. } => Some(Arc::clone(new)),
            Self::Reverted { .. } => None,
        }
    }

    /// The blocks this notification removes from the canonical chain, if any.
    pub fn reverted_chain(&self) -> Option<Arc<Chain>> {
        match self {
            Self::Reverted { old } | Self::Reorged { old, .. } => Some(Arc::clone(old)),
            Self::Committed { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(number: u64, parent_hash: B256) -> Block {
        Block {
            number,
            hash: B256::with_last_byte(number as u8),
            parent_hash,
            timestamp: 1_000 + number * 12,
            prevrandao: B256::repeat_byte(number as u8),
            logs_bloom: Bloom::ZERO,
            logs: Vec::new(),
        }
    }

    #[test]
    fn chain_must_be_linked_and_consecutive() {
        let first = block(1, B256::ZERO);
        let second = block(2, first.hash);
        let chain = Chain::new(vec![first.clone(), second]).unwrap();
        assert_eq!(chain.first().number, 1);
        assert_eq!(chain.tip().number, 2);

        assert_eq!(Chain::new(vec![]), Err(ChainError::Empty));
        let orphan = block(2, B256::repeat_byte(9));
        assert!(matches!(
            Chain::new(vec![first.clone(), orphan]),
            Err(ChainError::Discontinuous { number: 2, .. })
        ));
        let gap = block(3, first.hash);
        assert!(matches!(Chain::new(vec![first, gap]), Err(ChainError::Discontinuous { .. })));
    }

    #[test]
    fn helpers_follow_reth() {
        let a = Arc::new(Chain::new(vec![block(1, B256::ZERO)]).unwrap());
        let b = Arc::new(Chain::new(vec![block(1, B256::ZERO)]).unwrap());
        let reorg = Notification::Reorged { old: Arc::clone(&a), new: Arc::clone(&b) };
        assert_eq!(reorg.reverted_chain(), Some(Arc::clone(&a)));
        assert_eq!(reorg.committed_chain(), Some(Arc::clone(&b)));
        assert_eq!(Notification::Committed { new: Arc::clone(&b) }.reverted_chain(), None);
        assert_eq!(Notification::Reverted { old: a }.committed_chain(), None);
    }
}
