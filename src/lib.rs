//! # sequencer-lookahead
//!
//! Rollups that cannot (yet) use based sequencing pick their sequencer for each Ethereum L1 slot
//! with one deterministic, credibly neutral function: the `prevrandao` of a window's anchor block
//! and the on-chain [`SequencerRegistry`](contract::SequencerRegistry). Because every rollup uses
//! the same function, anyone can see one to two windows ahead which sequencer serves which rollup
//! in which slot — the *lookahead* — and a gateway can route one bundle to several rollups'
//! sequencers for atomic preconfirmations.
//!
//! This crate computes that lookahead off-chain, bit for bit as the contract does:
//!
//! - [`primitives`]: the [`Slot`], [`Window`] and [`ChainId`] newtypes.
//! - [`clock`]: slot and window arithmetic from a network's genesis time ([`SlotClock`]).
//! - [`seed`]: the window seed from an anchor block's `prevrandao` ([`Anchor`]).
//! - [`selection`]: the draw and fallback scan that picks a sequencer ([`select`]).
//! - [`domain`]: the registry's EIP-712 domain, for promises and signer consents.
//! - [`registry`]: the registry mirror rebuilt from the contract's events, with exact undo.
//! - [`notification`]: the engine's input, canonical-chain notifications in Reth's vocabulary.
//! - [`engine`]: the lookahead engine, fed notifications, reverting exactly on reorgs.
//! - [`journal`]: the undo data of unfinalized blocks.
//! - [`schedule`]: the schedule queries the RPC serves, with typed errors.
//! - [`store`]: crash-safe persistence of the engine in a redb database.
//! - [`devnet`]: anvil with the registry and sample sequencers, for trying it all locally.
//! - [`follower`]: the block source for any Ethereum node over JSON-RPC.
//! - [`shared`]: the engine shared by a block source and the RPC, with change broadcasts.
//! - [`rpc`]: the `lookahead_` JSON-RPC namespace (server module and typed client).
//! - [`telemetry`]: the `lookahead_*` metrics.
//! - [`contract`]: the registry's ABI, compiled in from the committed Foundry artifact.
//!
//! ```
//! use alloy_primitives::{Address, B256};
//! use sequencer_lookahead::{
//!     select, Anchor, ChainId, SequencerRecord, Slot, SlotClock, Window,
//! };
//!
//! let clock = SlotClock::MAINNET;
//! let slot = Slot(12_000_000);
//! let window = clock.window_of(slot);
//! // The anchor of `window` is the last block before window - 1 starts.
//! let anchor = Anchor { number: 22_000_000, hash: B256::ZERO, prevrandao: B256::repeat_byte(7) };
//! let records = [SequencerRecord::new(Address::repeat_byte(1), Window(0))];
//! let selected = select(&clock, ChainId::from(10u64), slot, anchor.seed(window), &records);
//! assert_eq!(selected.map(|s| s.operator), Some(Address::repeat_byte(1)));
//! ```

pub mod clock;
pub mod contract;
pub mod devnet;
pub mod domain;
pub mod engine;
pub mod follower;
pub mod journal;
pub mod notification;
pub mod preconf;
pub mod primitives;
pub mod registry;
pub mod rpc;
pub mod schedule;
pub mod seed;
pub mod selection;
pub mod shared;
pub mod store;
pub mod telemetry;

pub use clock::{ClockError, SlotClock};
pub use domain::RegistryDomain;
pub use engine::{
    BlockRef, Engine, EngineConfig, EngineError, EngineState, EngineStatus, Finality,
    ScheduleChanges, Stats,
};
pub use journal::Head;
pub use notification::{Block, Chain, ChainError, Notification};
pub use primitives::{ChainId, Slot, Window};
pub use registry::{Registry, RegistryError, Rollup, Sequencer};
pub use schedule::{
    CrossEntry, EntryStatus, MAX_QUERY_SLOTS, QueryError, ScheduleEntry, SequencerInfo,
};
pub use seed::{Anchor, naive_seed, window_seed};
pub use selection::{MAX_DRAWS, MAX_SEQUENCERS, Selected, SequencerRecord, select};
pub use store::{Store, StoreError};
