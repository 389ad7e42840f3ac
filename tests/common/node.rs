//! A simulated L1 node: it keeps the canonical chain and finality, and turns commits,
//! reverts, reorgs and finality changes into the inputs an engine receives.

use super::chain::{self, BlockSpec};
use sequencer_lookahead::{Block, BlockRef, Engine, EngineConfig, Finality, Notification};

/// One thing the node tells the engine.
#[derive(Clone, Debug)]
pub enum Input {
    /// A canonical-chain change.
    Notification(Notification),
    /// New safe and finalized blocks.
    Finality(Finality),
}

impl Input {
    /// Feeds this input to `engine`.
    pub fn feed(&self, engine: &mut Engine) {
        match self {
            Self::Notification(notification) => {
                engine.apply(notification).expect("the node's notifications apply");
            }
            Self::Finality(finality) => {
                engine.set_finality(*finality).expect("the node finalizes its own chain");
            }
        }
    }
}

/// What the node does next.
#[derive(Clone, Debug)]
pub enum Op {
    /// Append blocks.
    Commit(Vec<BlockSpec>),
    /// Remove up to this many unfinalized blocks.
    Revert(usize),
    /// Replace up to this many unfinalized blocks with new ones.
    Reorg(usize, Vec<BlockSpec>),
    /// Finalize the block this many blocks behind the tip (the safe block is halfway).
    Finalize(usize),
}

/// The node.
#[derive(Clone, Debug, Default)]
pub struct SimNode {
    /// The canonical chain, oldest first.
    pub canonical: Vec<Block>,
    /// The current safe and finalized blocks.
    pub finality: Finality,
    first_block: u64,
    forks: u64,
}

impl SimNode {
    /// A node whose first block will be `first_block`.
    pub fn new(first_block: u64) -> Self {
        Self { first_block, ..Self::default() }
    }

    fn finalized(&self) -> u64 {
        self.finality.finalized.map_or(0, |f| f.number)
    }

    fn revertible(&self) -> usize {
        self.canonical.iter().rev().take_while(|b| b.number > self.finalized()).count()
    }

    fn new_blocks(&mut self, keep: usize, specs: &[BlockSpec]) -> Vec<Block> {
        self.forks += 1;
        let parent = keep.checked_sub(1).map(|i| &self.canonical[i]);
        let number = parent.map_or(self.first_block, |p| p.number + 1);
        chain::extend(parent, number, specs, self.forks)
    }

    /// Performs `op`; `None` when it changes nothing (nothing to revert, older finality).
    pub fn step(&mut self, op: &Op) -> Option<Input> {
        let notification = match op {
            Op::Commit(specs) => {
                let new = self.new_blocks(self.canonical.len(), specs);
                self.canonical.extend(new.iter().cloned());
                chain::committed(&new)
            }
            Op::Revert(depth) => {
                let depth = (*depth).min(self.revertible());
                if depth == 0 {
                    return None;
                }
                let old = self.canonical.split_off(self.canonical.len() - depth);
                chain::reverted(&old)
            }
            Op::Reorg(depth, specs) => {
                let depth = (*depth).min(self.revertible());
                if depth == 0 {
                    return None;
                }
                let keep = self.canonical.len() - depth;
                let new = self.new_blocks(keep, specs);
                let old = self.canonical.split_off(keep);
                self.canonical.extend(new.iter().cloned());
                chain::reorged(&old, &new)
            }
            Op::Finalize(behind) => {
                let block = self.canonical.iter().rev().nth(*behind)?;
                if block.number <= self.finalized() {
                    return None;
                }
                let safe =
                    self.canonical.iter().rev().nth(behind / 2).expect("newer than finalized");
                self.finality = Finality {
                    safe: Some(BlockRef { number: safe.number, hash: safe.hash }),
                    finalized: Some(BlockRef { number: block.number, hash: block.hash }),
                };
                return Some(Input::Finality(self.finality));
            }
        };
        Some(Input::Notification(notification))
    }

    /// The engine state reached from nothing over the canonical chain and current finality.
    pub fn replay(&self, config: EngineConfig) -> Engine {
        let mut engine = Engine::new(config);
        if !self.canonical.is_empty() {
            engine.apply(&chain::committed(&self.canonical)).expect("canonical chain applies");
        }
        engine.set_finality(self.finality).expect("the canonical chain holds its finalized block");
        engine
    }
}
