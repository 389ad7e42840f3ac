//! The `watch_` namespace: how a gateway (or anyone holding a promise) hands the watcher the
//! promises it should hold their sequencers to.
//!
//! Errors: -39301 the promise does not verify (its signature is not its `signer`'s under the
//! registry's domain on this L1, its signer is not the selected record's, its rollup or slot
//! has no selected record, its slot is past the slashing window, or it promises more than
//! [`MAX_PROMISE_TX_HASHES`] transactions); -39302 the watcher cannot check it now (the
//! lookahead or L1 did not answer: try again); -39303 it could not be stored; -39304 the client
//! (IP address) sends more promises, or more at once, than the watcher takes from one client:
//! try again later.

use crate::preconf::{promise::Promise, sequencer::MAX_TXS_PER_LOCK};
use jsonrpsee::{core::RpcResult, proc_macros::rpc};

/// The promise does not verify: its signature is not its `signer`'s, its signer is not the
/// slot's selected signer, its slot is out of the slashing window, or it is larger than any
/// promise the watcher takes.
pub const INVALID_PROMISE: i32 = -39301;
/// The promise could not be checked now (the lookahead or the L1 node did not answer).
pub const UNAVAILABLE: i32 = -39302;
/// The promise could not be stored.
pub const INTERNAL: i32 = -39303;
/// The client (IP address) sent more promises per second, or has more in flight, than the
/// watcher takes from one client; or too many clients are busy at once.
pub const RATE_LIMITED: i32 = -39304;

/// The most transaction hashes one promise may carry (4096): 16 times the reference sequencer's
/// transactions per lock. A promise's hashes are those of the transactions its client locked,
/// so only a client that locks more than this in one lock gets a promise the watcher refuses
/// (it can still call `slashPromise` itself).
pub const MAX_PROMISE_TX_HASHES: usize = 16 * MAX_TXS_PER_LOCK;

/// The `watch_` namespace.
#[rpc(server, client, namespace = "watch")]
pub trait WatchApi {
    /// Hands the watcher a promise to check once its slot closes; true if it was new to it,
    /// false if it held it already (a promise with the same EIP-712 digest: it adds nothing,
    /// so its signature is not checked again).
    #[method(name = "submitPromise", with_extensions)]
    async fn submit_promise(&self, promise: Promise) -> RpcResult<bool>;
}
