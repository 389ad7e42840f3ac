//! Preconfirmations (SPEC §7): the `preconf_` API a sequencer serves, the reference sequencer
//! that serves it, and the gateway that routes a cross-rollup bundle with lock, then confirm.
//!
//! - [`promise`]: the EIP-712 promise, signing and verification.
//! - [`api`]: the `preconf_` and `gateway_` jsonrpsee traits, their types and error codes.
//! - [`book`]: locks, slot capacity and lock quotas.
//! - [`store`]: issued promises in a redb database.
//! - [`sequencer`]: the reference sequencer.
//! - [`gateway`]: the bundle gateway.

pub mod api;
pub mod book;
pub mod gateway;
pub mod promise;
pub mod sequencer;
pub mod store;
