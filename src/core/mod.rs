//! The pure core: everything that decides which sequencer a rollup has in a slot, and nothing
//! that talks to the world. No I/O, no async, no clocks — notifications and finality in, state
//! and "what changed" out — so the correctness-critical code is here, in one place, and is
//! tested without a network. It builds with `default-features = false`.
//!
//! - [`primitives`]: the [`Slot`](primitives::Slot), [`Window`](primitives::Window) and
//!   [`ChainId`](primitives::ChainId) newtypes.
//! - [`clock`]: slot and window arithmetic from a network's genesis time.
//! - [`network`]: the public networks' chain ids and slot clocks (the one preset table).
//! - [`seed`]: the window seed from an anchor block's `prevrandao`.
//! - [`selection`]: the draw and fallback scan over the array as of the window.
//! - [`domain`]: the registry's EIP-712 domain, for promises and signer consents.
//! - [`contract`]: the registry's ABI and bytecode, compiled in from the Foundry artifact.
//! - [`registry`]: the registry mirror rebuilt from the contract's events, with exact undo.
//! - [`notification`]: the engine's input, canonical-chain notifications in Reth's vocabulary.
//! - [`journal`]: the undo data of unfinalized blocks.
//! - [`engine`]: the lookahead engine, fed notifications, reverting exactly on reorgs.
//! - [`schedule`]: what the engine serves — the [`Schedule`](schedule::Schedule) view and its
//!   typed errors.

pub mod clock;
pub mod contract;
pub mod domain;
pub mod engine;
pub mod journal;
pub mod network;
pub mod notification;
pub mod primitives;
pub mod registry;
pub mod schedule;
pub mod seed;
pub mod selection;
