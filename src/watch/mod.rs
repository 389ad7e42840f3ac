//! The watcher (SPEC §8): collects promises, and once their slots close has broken promises
//! slashed and missed slots reported on L1.
//!
//! - [`api`]: the `watch_` namespace (`watch_submitPromise`), built with `preconf` (the gateway
//!   is its client); the watcher itself needs the `watch` feature.

pub mod api;
