//! The `lookahead_` namespace's interface (SPEC §6): the jsonrpsee trait (server and typed
//! client), its result types and its error codes. Clients — the preconf sequencer and gateway,
//! tests, other services — depend on this module alone, never on the server.

use crate::core::{
    engine::EngineStatus,
    primitives::{ChainId, Slot},
    schedule::{RollupInfo, ScheduleEntry, ScheduleNotification, SequencerInfo},
};
use alloy_primitives::Address;
use jsonrpsee::{
    core::{RpcResult, SubscriptionResult},
    proc_macros::rpc,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::{collections::BTreeMap, sync::Arc};

/// Unknown rollup (chain id not registered).
pub const UNKNOWN_ROLLUP: i32 = -39001;
/// Slot beyond the fixed horizon (seed not yet known).
pub const BEYOND_HORIZON: i32 = -39002;
/// Slot too old (pruned).
pub const TOO_OLD: i32 = -39003;
/// Not synced yet (registry deployment or first anchor not reached).
pub const NOT_SYNCED: i32 = -39004;

/// Every method of the namespace, as called over JSON-RPC.
pub const METHOD_NAMES: [&str; 10] = [
    "lookahead_status",
    "lookahead_getSchedule",
    "lookahead_getSequencer",
    "lookahead_getSequencers",
    "lookahead_getRollup",
    "lookahead_getCrossSchedule",
    "lookahead_nextSharedSlot",
    "lookahead_naive",
    "lookahead_subscribe",
    "lookahead_unsubscribe",
];

/// Slots returned when a schedule query gives no count: one mainnet window.
pub const DEFAULT_COUNT: u64 = 32;

/// Most chain ids one `lookahead_getCrossSchedule`, `lookahead_nextSharedSlot` or
/// `lookahead_subscribe` names; a longer list is -32602 (repeated ids count, and are then
/// served once). Four times what a gateway asks for (a bundle has at most 16 rollups); with
/// `count` at most 1024, a cross schedule computes at most 64 × 1024 entries.
pub const MAX_CHAIN_IDS: usize = 64;

/// `lookahead_status`: the engine's summary and whether its block source lost its node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookaheadStatus {
    /// Head, finality, registry, horizon, rollups and reorgs.
    #[serde(flatten)]
    pub engine: EngineStatus,
    /// True while the block source cannot reach its node: answers are from the last state.
    pub stale: bool,
}

/// `lookahead_getCrossSchedule` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossScheduleEntry {
    /// The slot.
    pub slot: Slot,
    /// Each requested rollup's entry, by chain id.
    pub entries: BTreeMap<ChainId, ScheduleEntry>,
    /// The operator that sequences every requested rollup in this slot, if one does.
    pub shared_operator: Option<Address>,
}

/// The `lookahead_` namespace.
#[rpc(server, client, namespace = "lookahead")]
pub trait LookaheadApi {
    /// Head, finality, horizon, rollups and reorg counters.
    #[method(name = "status")]
    fn status(&self) -> RpcResult<LookaheadStatus>;

    /// `count` slots (default 32, at most 1024) of a rollup's schedule from `fromSlot`
    /// (default: the slot after the head's), cut at the fixed horizon.
    #[method(name = "getSchedule")]
    async fn get_schedule(
        &self,
        chain_id: ChainId,
        from_slot: Option<u64>,
        count: Option<u64>,
    ) -> RpcResult<ScheduleEntries>;

    /// A rollup's sequencer in one slot.
    #[method(name = "getSequencer")]
    fn get_sequencer(&self, chain_id: ChainId, slot: u64) -> RpcResult<ScheduleEntry>;

    /// The records active in `window` (default: the head's window).
    #[method(name = "getSequencers")]
    fn get_sequencers(
        &self,
        chain_id: ChainId,
        window: Option<u64>,
    ) -> RpcResult<Vec<SequencerInfo>>;

    /// A rollup's admin, `minBond`, array length and the inbox in force for the head's window.
    #[method(name = "getRollup")]
    fn get_rollup(&self, chain_id: ChainId) -> RpcResult<RollupInfo>;

    /// Several rollups' schedules side by side (at most [`MAX_CHAIN_IDS`] ids), with the
    /// shared operator of each slot.
    #[method(name = "getCrossSchedule")]
    fn get_cross_schedule(
        &self,
        chain_ids: Vec<ChainId>,
        from_slot: Option<u64>,
        count: Option<u64>,
    ) -> RpcResult<Vec<CrossScheduleEntry>>;

    /// The first slot within the horizon where one operator sequences every listed rollup (at
    /// most [`MAX_CHAIN_IDS`] ids).
    #[method(name = "nextSharedSlot")]
    fn next_shared_slot(
        &self,
        chain_ids: Vec<ChainId>,
        from_slot: Option<u64>,
    ) -> RpcResult<Option<Slot>>;

    /// The original proposal's lookahead: `n` slots drawn from the head's `prevrandao`.
    #[method(name = "naive")]
    fn naive(&self, chain_id: ChainId, n: u64) -> RpcResult<Vec<Option<SequencerInfo>>>;

    /// `lookahead_subscribe("schedule", [chainId]?)`: pushes `extended`, `reorged` and
    /// `endpoint` changes (a served record's endpoint, bond, misses or exit window changed),
    /// of the listed rollups (at most [`MAX_CHAIN_IDS`]) or of all. Ends with an error when the
    /// lookahead reloaded its state after a failed database write: re-subscribe and re-read.
    #[subscription(name = "subscribe" => "subscription", unsubscribe = "unsubscribe", item = ScheduleNotification)]
    async fn subscribe_schedule(
        &self,
        kind: String,
        chain_ids: Option<Vec<ChainId>>,
    ) -> SubscriptionResult;
}

/// `lookahead_getSchedule`'s result: the entries as JSON, assembled on the server from
/// per-window entries serialized once (the same upcoming windows are asked for again and
/// again). [`ScheduleEntries::decode`] gives the typed entries.
#[derive(Clone, Debug)]
pub struct ScheduleEntries(pub(crate) Parts);

#[derive(Clone, Debug)]
pub(crate) enum Parts {
    /// On the server: slices of cached windows, written out without copying or re-parsing.
    Served(Vec<(SerializedWindow, std::ops::Range<usize>)>),
    /// On a client: the JSON array as received.
    Received(Box<RawValue>),
}

impl ScheduleEntries {
    /// The entries.
    pub fn decode(&self) -> Result<Vec<ScheduleEntry>, serde_json::Error> {
        match &self.0 {
            Parts::Received(raw) => serde_json::from_str(raw.get()),
            Parts::Served(_) => serde_json::from_str(&serde_json::to_string(self)?),
        }
    }
}

impl Serialize for ScheduleEntries {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match &self.0 {
            Parts::Received(raw) => raw.serialize(serializer),
            Parts::Served(parts) => {
                let mut seq = serializer.serialize_seq(None)?;
                for (window, range) in parts {
                    for entry in &window[range.clone()] {
                        seq.serialize_element(&**entry)?;
                    }
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for ScheduleEntries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(|raw| Self(Parts::Received(raw)))
    }
}

/// One window's entries, each serialized to JSON.
pub(crate) type SerializedWindow = Arc<[Box<RawValue>]>;
