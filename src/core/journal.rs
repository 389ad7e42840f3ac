//! The undo journal: one entry per processed block that is not yet finalized, holding what
//! reverts it exactly. Finalized entries are pruned; a revert below the journal is refused.

use crate::core::{primitives::Window, registry::Undo, seed::Anchor};
use alloy_primitives::{B256, BlockNumber};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// A processed block: what the next block needs (to check its parent link and to fix the
/// anchors of the windows it opens), and what the `naiveLookahead` mode reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Head {
    /// Block number.
    pub number: BlockNumber,
    /// Block hash.
    pub hash: B256,
    /// Unix timestamp, seconds.
    pub timestamp: u64,
    /// The header's `mixHash` (`prevrandao`).
    pub prevrandao: B256,
}

impl Head {
    /// This block as the anchor of a window.
    pub const fn anchor(&self) -> Anchor {
        Anchor { number: self.number, hash: self.hash, prevrandao: self.prevrandao }
    }
}

/// What one block changed, newest change last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockUndo {
    /// The block itself; after a revert, the entry before it is the head again.
    pub head: Head,
    /// Registry changes, in the order they were applied.
    pub registry: Vec<Undo>,
    /// Windows whose anchor this block fixed, with the anchor each had before (normally none).
    pub anchors: Vec<(Window, Option<Anchor>)>,
}

/// The unfinalized blocks, oldest first, on top of a `base` block that can no longer revert.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    base: Option<Head>,
    entries: VecDeque<BlockUndo>,
}

impl Journal {
    /// The newest processed block.
    pub fn head(&self) -> Option<&Head> {
        self.entries.back().map(|entry| &entry.head).or(self.base.as_ref())
    }

    /// The newest block that is no longer in the journal (pruned as finalized).
    pub fn base(&self) -> Option<&Head> {
        self.base.as_ref()
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &BlockUndo> + ExactSizeIterator {
        self.entries.iter()
    }

    /// The entry of block `number`, if it is in the journal.
    pub fn get(&self, number: BlockNumber) -> Option<&BlockUndo> {
        let first = self.entries.front()?.head.number;
        self.entries.get(usize::try_from(number.checked_sub(first)?).ok()?)
    }

    /// Appends the entry of a new head.
    pub fn push(&mut self, entry: BlockUndo) {
        self.entries.push_back(entry);
    }

    /// Removes the newest entry, to revert it.
    pub fn pop(&mut self) -> Option<BlockUndo> {
        self.entries.pop_back()
    }

    /// Drops the entries of blocks up to `number` (inclusive), which can no longer revert; the
    /// newest of them becomes the base. Returns the dropped entries' block numbers.
    pub fn prune_through(&mut self, number: BlockNumber) -> Option<(BlockNumber, BlockNumber)> {
        let first = self.entries.front()?.head.number;
        let mut last = None;
        while self.entries.front().is_some_and(|entry| entry.head.number <= number) {
            let entry = self.entries.pop_front().expect("front exists");
            last = Some(entry.head.number);
            self.base = Some(entry.head);
        }
        last.map(|last| (first, last))
    }

    /// Rebuilds a journal from stored parts.
    pub fn from_parts(base: Option<Head>, entries: impl IntoIterator<Item = BlockUndo>) -> Self {
        Self { base, entries: entries.into_iter().collect() }
    }
}
