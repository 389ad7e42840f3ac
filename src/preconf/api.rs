//! The `preconf_` namespace a sequencer serves at its registry `rpcUrl` (SPEC §7), and the
//! `gateway_` namespace of the bundle gateway, as jsonrpsee traits with servers and clients.
//!
//! Errors of `preconf_`: -39101 not the selected sequencer, -39102 slot past, -39103 slot
//! beyond the lookahead's horizon, -39104 a transaction does not decode, -39105 a transaction
//! for another chain, -39106 slot capacity used, -39107 ttl out of range, -39108 lock quota,
//! -39109 unknown lock, -39110 lock expired, -39111 rollup not served here, -39112 the
//! lookahead cannot be asked, -39113 internal (storage), -39114 a transaction held in the slot
//! already. -39108 covers every quota: open locks per client IP and in total, a client's share
//! of a slot's gas, transactions per sender and slot, and a client's signature checks per
//! second. Errors of `gateway_` carry -39200 and
//! name the failing leg in the message and in `data` (`{chainId, sequencer, code, message}`);
//! a leg's `code` is the sequencer's, or the gateway's own: -39200, or -39201 when the leg's
//! record holds less bond than its rollup's `minBond` (SPEC §8: its promise would be backed by
//! nothing, so the gateway does not route to it), or -39203 when the record's endpoint is not
//! dialled. A client over its share of `gateway_sendBundle` gets -39202.

use super::{book::LockId, promise::Promise};
use crate::core::primitives::{ChainId, Slot};
use alloy_primitives::{Address, B256, Bytes};
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use serde::{Deserialize, Serialize};

/// Not the selected sequencer for the rollup and slot.
pub const NOT_SELECTED: i32 = -39101;
/// The slot has passed.
pub const SLOT_PAST: i32 = -39102;
/// The slot is beyond the lookahead's fixed horizon.
pub const SLOT_BEYOND_HORIZON: i32 = -39103;
/// A transaction does not decode.
pub const INVALID_TX: i32 = -39104;
/// A transaction is for another chain.
pub const WRONG_CHAIN: i32 = -39105;
/// The slot's gas is locked or promised.
pub const CAPACITY: i32 = -39106;
/// The ttl is out of range.
pub const BAD_TTL: i32 = -39107;
/// A quota: the caller's (or the sequencer's) open locks, the caller's share of the slot, the
/// sender's transactions in the slot, or the caller's signature checks per second.
pub const QUOTA: i32 = -39108;
/// No such lock.
pub const UNKNOWN_LOCK: i32 = -39109;
/// The lock expired.
pub const LOCK_EXPIRED: i32 = -39110;
/// This sequencer does not serve the rollup.
pub const NOT_SERVED: i32 = -39111;
/// The lookahead could not be asked.
pub const LOOKAHEAD_UNAVAILABLE: i32 = -39112;
/// Storage failed.
pub const INTERNAL: i32 = -39113;
/// A transaction is locked or promised in the slot already.
pub const DUPLICATE_TX: i32 = -39114;
/// A bundle failed; the message and `data` name the leg.
pub const BUNDLE_FAILED: i32 = -39200;
/// The client (IP address) sent more bundles than its share: per second, or in flight at once.
pub const RATE_LIMITED: i32 = -39202;
/// A leg's code: its record's registered endpoint is not dialled (not http(s), or a
/// non-public address without `--allow-private-endpoints`).
pub const ENDPOINT_REFUSED: i32 = -39203;

/// A leg's code (in a -39200 error's `data`, or a best-effort receipt's `failed`): the record
/// the lookahead names holds less bond than its rollup's `minBond`, so the gateway did not route
/// the leg to it.
pub const UNDERBONDED: i32 = -39201;

/// Lock ttl when a request gives none, in milliseconds.
pub const DEFAULT_TTL_MS: u64 = 500;
/// The longest lock ttl, in milliseconds.
pub const MAX_TTL_MS: u64 = 2_000;

/// `preconf_lock`'s request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockRequest {
    /// The rollup.
    pub chain_id: ChainId,
    /// The L1 slot the txs are to be included in.
    pub slot: Slot,
    /// EIP-2718 encoded signed transactions of the rollup.
    pub txs: Vec<Bytes>,
    /// The bundle the lock belongs to.
    pub bundle_id: B256,
    /// How long the lock holds (default 500, 1..=2000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
}

/// `preconf_lock`'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockReceipt {
    /// The lock, for `preconf_confirm` / `preconf_release`.
    pub lock_id: LockId,
    /// When it lapses, in Unix milliseconds.
    pub expires_at: u64,
}

/// One rollup's part of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Leg {
    /// The rollup.
    pub chain_id: ChainId,
    /// Its transactions, EIP-2718 encoded.
    pub txs: Vec<Bytes>,
}

/// `preconf_lockAndConfirm`'s request: every leg of a bundle whose rollups this sequencer all
/// serves in the slot (a shared operator), promised in one round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitRequest {
    /// The L1 slot.
    pub slot: Slot,
    /// The legs.
    pub legs: Vec<Leg>,
    /// The bundle.
    pub bundle_id: B256,
}

/// The `preconf_` namespace.
#[rpc(server, client, namespace = "preconf")]
pub trait PreconfApi {
    /// Reserves inclusion of the txs in the slot for `ttlMs`.
    #[method(name = "lock", with_extensions)]
    async fn lock(&self, request: LockRequest) -> RpcResult<LockReceipt>;

    /// Turns a held lock into a signed promise; the same promise again for a confirmed lock.
    #[method(name = "confirm")]
    async fn confirm(&self, lock_id: LockId) -> RpcResult<Promise>;

    /// Gives a held lock's capacity back; false if it was not held.
    #[method(name = "release")]
    async fn release(&self, lock_id: LockId) -> RpcResult<bool>;

    /// The promises issued for a slot: what this sequencer owes.
    #[method(name = "getPromises")]
    async fn get_promises(&self, slot: Slot) -> RpcResult<Vec<Promise>>;

    /// Locks and confirms every leg at once (all or none), for a shared operator.
    #[method(name = "lockAndConfirm", with_extensions)]
    async fn lock_and_confirm(&self, request: CommitRequest) -> RpcResult<Vec<Promise>>;
}

/// How a gateway treats a bundle whose legs do not all lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BundleMode {
    /// All legs are promised or none.
    #[default]
    Atomic,
    /// The legs that locked are promised; the others are reported.
    BestEffort,
}

/// One transaction of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleTx {
    /// The rollup.
    pub chain_id: ChainId,
    /// The signed transaction, EIP-2718 encoded.
    pub raw_tx: Bytes,
}

/// `gateway_sendBundle`'s request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleRequest {
    /// The transactions; those of one rollup form one leg, in order.
    pub txs: Vec<BundleTx>,
    /// The slot to target (default: the first slot in the horizon where every rollup has a
    /// sequencer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<Slot>,
    /// Atomic (default) or best-effort.
    #[serde(default)]
    pub mode: BundleMode,
}

/// A leg that was not promised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedLeg {
    /// The rollup.
    pub chain_id: ChainId,
    /// The sequencer asked, if the lookahead named one.
    pub sequencer: Option<Address>,
    /// The error code (the sequencer's, or the gateway's own).
    pub code: i32,
    /// Why.
    pub message: String,
}

/// `gateway_sendBundle`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleReceipt {
    /// The bundle id the gateway gave it.
    pub bundle_id: B256,
    /// The slot.
    pub slot: Slot,
    /// The verified promises, one per promised leg.
    pub promises: Vec<Promise>,
    /// Legs not promised (best-effort only; an atomic bundle fails instead).
    pub failed: Vec<FailedLeg>,
}

/// The `gateway_` namespace.
#[rpc(server, client, namespace = "gateway")]
pub trait GatewayApi {
    /// Routes a cross-rollup bundle to the slot's sequencers with lock, then confirm.
    #[method(name = "sendBundle", with_extensions)]
    async fn send_bundle(&self, request: BundleRequest) -> RpcResult<BundleReceipt>;
}
