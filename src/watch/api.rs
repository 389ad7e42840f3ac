//! The `watch_` namespace: how a gateway (or anyone holding a promise) hands the watcher the
//! promises it should hold their sequencers to.

use crate::preconf::promise::Promise;
use jsonrpsee::{core::RpcResult, proc_macros::rpc};

/// The promise does not verify: its signature is not its `signer`'s, or it is malformed.
pub const INVALID_PROMISE: i32 = -39301;

/// The `watch_` namespace.
#[rpc(server, client, namespace = "watch")]
pub trait WatchApi {
    /// Hands the watcher a promise to check once its slot closes; true if it was new to it.
    #[method(name = "submitPromise")]
    async fn submit_promise(&self, promise: Promise) -> RpcResult<bool>;
}
