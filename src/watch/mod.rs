//! The watcher (SPEC §8): collects promises, and once their slots close has broken promises
//! slashed and missed slots reported on L1.
//!
//! - [`api`]: the `watch_` namespace (`watch_submitPromise`).

pub mod api;
