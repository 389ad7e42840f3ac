//! # sequencer-lookahead
//!
//! Rollups that cannot (yet) use based sequencing pick their sequencer for each Ethereum L1 slot
//! with one deterministic, credibly neutral function: the `prevrandao` of a window's anchor block
//! and the on-chain `SequencerRegistry` ([`core::contract`]). Because every rollup uses the same
//! function, anyone can see one to two windows ahead which sequencer serves which rollup in which
//! slot — the *lookahead* — and a gateway can route one bundle to several rollups' sequencers for
//! atomic preconfirmations.
//!
//! This crate computes that lookahead off-chain, bit for bit as the contract does. It is built
//! as a pure core and the shells around it; dependencies point one way, from the outer layers
//! inwards:
//!
//! ```text
//!  preconf ──► rpc::api ◄── rpc::server ──► service ──► store ──► core
//!     │            │                          ▲   │                 ▲
//!     │            └──────────────────────────┼───┼─────────────────┤
//!     └──► service::deadline      devnet ─────┘   └─────────────────┘
//! ```
//!
//! Everything points at [`core`]; nothing in [`core`] or [`store`] knows the services, the
//! services do not know the RPC server, and the preconf services know the RPC only through its
//! API ([`rpc::api`]).
//!
//! | layer | what it holds | feature |
//! |-------|---------------|---------|
//! | [`core`] | time, seeds, selection, the registry mirror, notifications, the journal, the engine and its schedule, the contract's bindings, network presets — no I/O | always |
//! | [`store`] | the engine's crash-safe redb database | `store` |
//! | [`service`] | the engine shared with the RPC, the JSON-RPC follower, metrics, request deadlines | `node` |
//! | [`rpc`] | the `lookahead_` namespace: its API (trait, types, codes) apart from its server; the OpenRPC document (`rpc.discover`); the schedule page | `node` |
//! | [`preconf`] | the `preconf_` and `gateway_` namespaces, the reference sequencer, the gateway | `preconf` |
//! | [`watch`] | the `watch_` API (`preconf`) and the watcher: slashes broken promises, reports missed slots (SPEC §8) | `watch` |
//! | [`devnet`] | anvil with the registry and sample sequencers | `devnet` |
//!
//! All features are on by default (`cli` enables them all, for the `lookahead` binary). With
//! `default-features = false` only [`core`] builds, on alloy-primitives, alloy-sol-types, serde,
//! thiserror and tracing: what a rollup or a wallet needs to compute a selection itself.
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

pub mod core;
#[cfg(feature = "devnet")]
pub mod devnet;
#[cfg(feature = "preconf")]
pub mod preconf;
#[cfg(feature = "node")]
pub mod rpc;
#[cfg(feature = "node")]
pub mod service;
#[cfg(feature = "store")]
pub mod store;
#[cfg(feature = "preconf")]
pub mod watch;

pub use self::core::{
    clock::{ClockError, SlotClock},
    domain::RegistryDomain,
    engine::{
        BlockRef, Engine, EngineConfig, EngineError, EngineState, EngineStatus, Finality,
        HeadStatus, ReorgStatus, ScheduleChanges, Stats,
    },
    journal::Head,
    network::Network,
    notification::{Block, Chain, ChainError, Notification},
    primitives::{ChainId, Slot, Window},
    registry::{Registry, RegistryError, Rollup, Sequencer},
    schedule::{
        ChangeKind, CrossEntry, EntryStatus, MAX_QUERY_SLOTS, QueryError, RollupInfo, Schedule,
        ScheduleEntry, ScheduleNotification, SequencerInfo,
    },
    seed::{Anchor, naive_seed, window_seed},
    selection::{MAX_DRAWS, MAX_SEQUENCERS, Selected, SequencerRecord, length_at, select},
};
#[cfg(feature = "store")]
pub use store::{DbError, Store, StoreError};
