//! Preconfirmations (SPEC §7): the `preconf_` API a sequencer serves, the reference sequencer
//! that serves it, and the gateway that routes a cross-rollup bundle with lock, then confirm.
//!
//! - [`promise`]: the EIP-712 promise, signing and verification.
//! - [`api`]: the `preconf_` and `gateway_` jsonrpsee traits, their types and error codes.
//! - [`book`]: locks, slot capacity and lock quotas.
//! - [`store`]: issued promises in a redb database.
//! - [`sequencer`]: the reference sequencer.
//! - [`batcher`]: posts the reference sequencer's batches to its rollups' inboxes (SPEC §8).
//! - [`gateway`]: the bundle gateway.
//! - [`endpoint`]: which registered endpoints the gateway and the watcher dial.
//! - [`limiter`]: per-client request limits of the gateway and the sequencer.
//! - [`recovery`]: the sequencer's signature recovery of large locks, at a lower priority.
//! - [`reorgs`]: the lookahead's reorg notifications, so that a confirm asks it again only after
//!   one.

pub mod api;
pub mod batcher;
pub mod book;
pub mod endpoint;
pub mod gateway;
pub mod limiter;
pub mod promise;
pub mod recovery;
pub mod reorgs;
pub mod sequencer;
pub mod store;

/// Milliseconds since the Unix epoch (0 on a clock set before it): lock expiry times and the
/// slot the wall clock is in.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}
