//! The `lookahead_` JSON-RPC namespace (SPEC §6), as a jsonrpsee trait with a server and a typed
//! client. [`LookaheadRpc::into_rpc`] gives the `RpcModule` that the follower serves over HTTP
//! and WebSocket and that the Reth node merges into its own RPC server.
//!
//! Errors: -32602 for invalid params (the message says which), -39001 unknown rollup, -39002
//! slot beyond the fixed horizon, -39003 slot too old, -39004 not synced yet.
//!
//! ```text
//! cast rpc --rpc-url http://127.0.0.1:8547 lookahead_getSchedule 0xa 100 4
//! ```

use crate::{
    engine::{BlockRef, Engine},
    primitives::{ChainId, Slot, Window},
    schedule::{MAX_QUERY_SLOTS, QueryError, ScheduleEntry, SequencerInfo},
    shared::{ScheduleNotification, SharedEngine},
    telemetry::RpcMetrics,
};
use alloy_primitives::{Address, B256};
use jsonrpsee::{
    PendingSubscriptionSink, SubscriptionMessage,
    core::{RpcResult, SubscriptionResult},
    proc_macros::rpc,
    types::{ErrorObjectOwned, error::INVALID_PARAMS_CODE},
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, RwLock},
};
use tokio::sync::broadcast::error::RecvError;

/// Unknown rollup (chain id not registered).
pub const UNKNOWN_ROLLUP: i32 = -39001;
/// Slot beyond the fixed horizon (seed not yet known).
pub const BEYOND_HORIZON: i32 = -39002;
/// Slot too old (pruned).
pub const TOO_OLD: i32 = -39003;
/// Not synced yet (registry deployment or first anchor not reached).
pub const NOT_SYNCED: i32 = -39004;

/// Every method of the namespace, as called over JSON-RPC.
pub const METHOD_NAMES: [&str; 9] = [
    "lookahead_status",
    "lookahead_getSchedule",
    "lookahead_getSequencer",
    "lookahead_getSequencers",
    "lookahead_getCrossSchedule",
    "lookahead_nextSharedSlot",
    "lookahead_naive",
    "lookahead_subscribe",
    "lookahead_unsubscribe",
];

/// Slots returned when a schedule query gives no count: one mainnet window.
pub const DEFAULT_COUNT: u64 = 32;

/// The head as `lookahead_status` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadStatus {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Its slot (`null` before genesis).
    pub slot: Option<Slot>,
}

/// Reorgs seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReorgStatus {
    /// Reverts and reorgs that removed processed blocks.
    pub count: u64,
    /// The most blocks one of them removed.
    pub deepest: u64,
}

/// `lookahead_status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LookaheadStatus {
    /// The newest processed block.
    pub head: Option<HeadStatus>,
    /// The node's safe block.
    pub safe: Option<BlockRef>,
    /// The node's finalized block.
    pub finalized: Option<BlockRef>,
    /// The registry followed.
    pub registry: Address,
    /// Slots per window.
    pub window_slots: u64,
    /// The last slot whose schedule is fixed.
    pub fixed_until_slot: Option<Slot>,
    /// The registered rollups.
    pub rollups: Vec<ChainId>,
    /// Reorgs seen.
    pub reorgs: ReorgStatus,
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
    fn get_schedule(
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

    /// Several rollups' schedules side by side, with the shared operator of each slot.
    #[method(name = "getCrossSchedule")]
    fn get_cross_schedule(
        &self,
        chain_ids: Vec<ChainId>,
        from_slot: Option<u64>,
        count: Option<u64>,
    ) -> RpcResult<Vec<CrossScheduleEntry>>;

    /// The first slot within the horizon where one operator sequences every listed rollup.
    #[method(name = "nextSharedSlot")]
    fn next_shared_slot(
        &self,
        chain_ids: Vec<ChainId>,
        from_slot: Option<u64>,
    ) -> RpcResult<Option<Slot>>;

    /// The original proposal's lookahead: `n` slots drawn from the head's `prevrandao`.
    #[method(name = "naive")]
    fn naive(&self, chain_id: ChainId, n: u64) -> RpcResult<Vec<Option<SequencerInfo>>>;

    /// `lookahead_subscribe("schedule", [chainId]?)`: pushes `extended` and `reorged` changes.
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
pub struct ScheduleEntries(Parts);

#[derive(Clone, Debug)]
enum Parts {
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
type SerializedWindow = Arc<[Box<RawValue>]>;

/// Serialized entries of whole windows, by rollup, valid for one engine version.
#[derive(Debug, Default)]
struct EntryCache {
    windows: RwLock<CachedWindows>,
}

/// The cache's content: the engine version it was computed for, and the windows.
#[derive(Debug, Default)]
struct CachedWindows {
    version: u64,
    windows: HashMap<(ChainId, Window), SerializedWindow>,
}

impl EntryCache {
    /// The serialized entries of `window` for `chain_id` (cut at the horizon), computed on
    /// first use for this engine `version`.
    fn window(
        &self,
        engine: &Engine,
        version: u64,
        chain_id: ChainId,
        window: Window,
    ) -> Result<SerializedWindow, QueryError> {
        {
            let cache = self.windows.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if cache.version == version
                && let Some(entries) = cache.windows.get(&(chain_id, window))
            {
                return Ok(Arc::clone(entries));
            }
        }
        let clock = &engine.config().clock;
        let first = clock.first_slot(window).ok_or(QueryError::NotSynced)?;
        let count = (clock.window_slots() as usize).min(MAX_QUERY_SLOTS);
        let entries: SerializedWindow = engine
            .schedule(chain_id, first, count)?
            .iter()
            .map(|entry| serde_json::value::to_raw_value(entry).expect("entries serialize"))
            .collect();
        let mut cache = self.windows.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.version != version {
            *cache = CachedWindows { version, windows: HashMap::new() };
        }
        cache.windows.insert((chain_id, window), Arc::clone(&entries));
        Ok(entries)
    }
}

/// The server side of the namespace, over a [`SharedEngine`].
#[derive(Clone, Debug)]
pub struct LookaheadRpc {
    shared: Arc<SharedEngine>,
    cache: Arc<EntryCache>,
}

impl LookaheadRpc {
    /// Serves `shared`.
    pub fn new(shared: Arc<SharedEngine>) -> Self {
        Self { shared, cache: Arc::default() }
    }

    fn default_from(&self, from_slot: Option<u64>) -> RpcResult<Slot> {
        match from_slot {
            Some(slot) => Ok(Slot(slot)),
            None => {
                self.shared.read().next_slot().ok_or_else(|| query_error(QueryError::NotSynced))
            }
        }
    }
}

/// `count` as a number of slots, refusing more than [`MAX_QUERY_SLOTS`].
fn slot_count(count: Option<u64>) -> RpcResult<usize> {
    match count.unwrap_or(DEFAULT_COUNT) {
        count if count <= MAX_QUERY_SLOTS as u64 => Ok(count as usize),
        count => {
            Err(invalid_params(format!("count {count} is above the maximum of {MAX_QUERY_SLOTS}")))
        }
    }
}

fn invalid_params(message: String) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_PARAMS_CODE, message, None::<()>)
}

/// Maps a typed query error to the spec's JSON-RPC error.
pub fn query_error(error: QueryError) -> ErrorObjectOwned {
    let code = match error {
        QueryError::UnknownRollup(_) => UNKNOWN_ROLLUP,
        QueryError::BeyondHorizon { .. } => BEYOND_HORIZON,
        QueryError::TooOld { .. } => TOO_OLD,
        QueryError::NotSynced | QueryError::NoAnchorWindow { .. } => NOT_SYNCED,
        QueryError::TooManySlots { .. } | QueryError::NoRollups => INVALID_PARAMS_CODE,
    };
    ErrorObjectOwned::owned(code, error.to_string(), None::<()>)
}

#[jsonrpsee::core::async_trait]
impl LookaheadApiServer for LookaheadRpc {
    fn status(&self) -> RpcResult<LookaheadStatus> {
        let status = self.shared.read().status();
        Ok(LookaheadStatus {
            head: status.head.map(|(head, slot)| HeadStatus {
                number: head.number,
                hash: head.hash,
                slot,
            }),
            safe: status.safe,
            finalized: status.finalized,
            registry: status.registry,
            window_slots: status.window_slots,
            fixed_until_slot: status.fixed_until,
            rollups: status.rollups,
            reorgs: ReorgStatus { count: status.reorgs, deepest: status.deepest_reorg },
            stale: self.shared.is_stale(),
        })
    }

    fn get_schedule(
        &self,
        chain_id: ChainId,
        from_slot: Option<u64>,
        count: Option<u64>,
    ) -> RpcResult<ScheduleEntries> {
        let count = slot_count(count)?;
        let from = self.default_from(from_slot)?;
        let engine = self.shared.read();
        let slots = engine.served_slots(chain_id, from, count).map_err(query_error)?;
        let version = self.shared.version();
        let clock = engine.config().clock;
        let mut parts = Vec::new();
        let mut slot = slots.start;
        while slot < slots.end {
            let window = clock.window_of(Slot(slot));
            let first = clock.first_slot(window).map_or(slot, |first| first.0);
            let entries =
                self.cache.window(&engine, version, chain_id, window).map_err(query_error)?;
            let end = slots.end.min(first + entries.len() as u64);
            let range = (slot - first) as usize..(end.max(slot) - first) as usize;
            if range.is_empty() || range.end > entries.len() {
                return Err(query_error(QueryError::NotSynced));
            }
            parts.push((entries, range));
            slot = end;
        }
        Ok(ScheduleEntries(Parts::Served(parts)))
    }

    fn get_sequencer(&self, chain_id: ChainId, slot: u64) -> RpcResult<ScheduleEntry> {
        self.shared.read().sequencer_at(chain_id, Slot(slot)).map_err(query_error)
    }

    fn get_sequencers(
        &self,
        chain_id: ChainId,
        window: Option<u64>,
    ) -> RpcResult<Vec<SequencerInfo>> {
        let engine = self.shared.read();
        let window = match window {
            Some(window) => Window(window),
            None => {
                let slot = engine.next_slot().ok_or_else(|| query_error(QueryError::NotSynced))?;
                engine.config().clock.window_of(Slot(slot.0 - 1))
            }
        };
        engine.active_sequencers(chain_id, window).map_err(query_error)
    }

    fn get_cross_schedule(
        &self,
        chain_ids: Vec<ChainId>,
        from_slot: Option<u64>,
        count: Option<u64>,
    ) -> RpcResult<Vec<CrossScheduleEntry>> {
        let count = slot_count(count)?;
        let from = self.default_from(from_slot)?;
        let cross =
            self.shared.read().cross_schedule(&chain_ids, from, count).map_err(query_error)?;
        Ok(cross
            .into_iter()
            .map(|entry| CrossScheduleEntry {
                slot: entry.slot,
                entries: entry.entries.into_iter().collect(),
                shared_operator: entry.shared_operator,
            })
            .collect())
    }

    fn next_shared_slot(
        &self,
        chain_ids: Vec<ChainId>,
        from_slot: Option<u64>,
    ) -> RpcResult<Option<Slot>> {
        let from = self.default_from(from_slot)?;
        self.shared.read().next_shared_slot(&chain_ids, from).map_err(query_error)
    }

    fn naive(&self, chain_id: ChainId, n: u64) -> RpcResult<Vec<Option<SequencerInfo>>> {
        let n = slot_count(Some(n))?;
        self.shared.read().naive_lookahead(chain_id, n).map_err(query_error)
    }

    async fn subscribe_schedule(
        &self,
        pending: PendingSubscriptionSink,
        kind: String,
        chain_ids: Option<Vec<ChainId>>,
    ) -> SubscriptionResult {
        if kind != "schedule" {
            pending
                .reject(invalid_params(format!(
                    "unknown subscription {kind:?}: expected \"schedule\""
                )))
                .await;
            return Ok(());
        }
        let mut events = self.shared.subscribe();
        let sink = pending.accept().await?;
        loop {
            let event = tokio::select! {
                _ = sink.closed() => return Ok(()),
                event = events.recv() => event,
            };
            let event = match event {
                Ok(event) => event,
                Err(RecvError::Lagged(missed)) => {
                    return Err(
                        format!("{missed} notifications missed: re-subscribe and re-read").into()
                    );
                }
                Err(RecvError::Closed) => return Ok(()),
            };
            if chain_ids.as_ref().is_some_and(|ids| !ids.contains(&event.chain_id)) {
                continue;
            }
            let message: SubscriptionMessage = serde_json::value::to_raw_value(&event)?.into();
            if sink.send(message).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// Serves the namespace over HTTP and WebSocket on `addr` (one port for both). Returns the
/// bound address (useful with port 0) and the handle that stops the server.
pub async fn serve(
    addr: std::net::SocketAddr,
    shared: Arc<SharedEngine>,
) -> std::io::Result<(std::net::SocketAddr, jsonrpsee::server::ServerHandle)> {
    let middleware =
        jsonrpsee::server::middleware::rpc::RpcServiceBuilder::new().layer_fn(RpcMetrics::new);
    let server =
        jsonrpsee::server::Server::builder().set_rpc_middleware(middleware).build(addr).await?;
    let bound = server.local_addr()?;
    Ok((bound, server.start(LookaheadRpc::new(shared).into_rpc())))
}
