//! The `watch_` namespace: how a gateway (or anyone holding a promise) hands the watcher the
//! promises it should hold their sequencers to.
//!
//! Errors: -39301 the promise does not verify (its signature is not its `signer`'s under the
//! registry's domain on this L1, its signer is not the selected record's, its rollup or slot
//! has no selected record, or its slot is past the slashing window); -39302 the watcher cannot
//! check it now (the lookahead or L1 did not answer: try again); -39303 it could not be stored.

use crate::preconf::promise::Promise;
use jsonrpsee::{core::RpcResult, proc_macros::rpc};

/// The promise does not verify: its signature is not its `signer`'s, its signer is not the
/// slot's selected signer, or its slot is out of the slashing window.
pub const INVALID_PROMISE: i32 = -39301;
/// The promise could not be checked now (the lookahead or the L1 node did not answer).
pub const UNAVAILABLE: i32 = -39302;
/// The promise could not be stored.
pub const INTERNAL: i32 = -39303;

/// The `watch_` namespace.
#[rpc(server, client, namespace = "watch")]
pub trait WatchApi {
    /// Hands the watcher a promise to check once its slot closes; true if it was new to it,
    /// false if it held it already.
    #[method(name = "submitPromise")]
    async fn submit_promise(&self, promise: Promise) -> RpcResult<bool>;
}
