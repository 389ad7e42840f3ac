//! The server side of the `lookahead_` namespace: [`LookaheadRpc`] answers from a
//! [`SharedEngine`], serving `lookahead_getSchedule` from whole windows serialized once per
//! engine version. [`LookaheadRpc::into_rpc`] gives the `RpcModule` that the follower serves
//! over HTTP and WebSocket ([`serve`]) and that the Reth node merges into its own RPC server.
//!
//! ```text
//! cast rpc --rpc-url http://127.0.0.1:8547 lookahead_getSchedule 0xa 100 4
//! ```

use crate::{
    core::{
        engine::Engine,
        primitives::{ChainId, Slot, Window},
        schedule::{MAX_QUERY_SLOTS, QueryError, RollupInfo, ScheduleEntry, SequencerInfo},
    },
    rpc::{
        api::{
            CrossScheduleEntry, DEFAULT_COUNT, LookaheadApiServer, LookaheadStatus, Parts,
            ScheduleEntries, SerializedWindow,
        },
        error::{invalid_params, query_error},
        metrics::RpcMetrics,
        openrpc,
        ui::SchedulePageLayer,
    },
    service::shared::SharedEngine,
};
use jsonrpsee::{
    PendingSubscriptionSink, SubscriptionMessage,
    core::{RpcResult, SubscriptionResult},
};
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};
use tokio::sync::broadcast::error::RecvError;

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
        let entries: SerializedWindow = engine
            .schedule()
            .window(chain_id, window)?
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
            None => self
                .shared
                .read()
                .schedule()
                .next_slot()
                .ok_or_else(|| query_error(QueryError::NotSynced)),
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

#[jsonrpsee::core::async_trait]
impl LookaheadApiServer for LookaheadRpc {
    fn status(&self) -> RpcResult<LookaheadStatus> {
        let engine = self.shared.read().status();
        Ok(LookaheadStatus { engine, stale: self.shared.is_stale() })
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
        let slots = engine.schedule().served_slots(chain_id, from, count).map_err(query_error)?;
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
        self.shared.read().schedule().sequencer_at(chain_id, Slot(slot)).map_err(query_error)
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
                let slot = engine
                    .schedule()
                    .next_slot()
                    .ok_or_else(|| query_error(QueryError::NotSynced))?;
                engine.config().clock.window_of(Slot(slot.0 - 1))
            }
        };
        engine.schedule().active_sequencers(chain_id, window).map_err(query_error)
    }

    fn get_rollup(&self, chain_id: ChainId) -> RpcResult<RollupInfo> {
        self.shared.read().schedule().rollup_info(chain_id).map_err(query_error)
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
            self.shared.read().schedule().cross(&chain_ids, from, count).map_err(query_error)?;
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
        self.shared.read().schedule().next_shared_slot(&chain_ids, from).map_err(query_error)
    }

    fn naive(&self, chain_id: ChainId, n: u64) -> RpcResult<Vec<Option<SequencerInfo>>> {
        let n = slot_count(Some(n))?;
        self.shared.read().schedule().naive(chain_id, n).map_err(query_error)
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

/// Serves the namespace over HTTP and WebSocket on `addr` (one port for both), with
/// `rpc.discover`, without the schedule page. Returns the bound address (useful with port 0)
/// and the handle that stops the server.
pub async fn serve(
    addr: std::net::SocketAddr,
    shared: Arc<SharedEngine>,
) -> std::io::Result<(std::net::SocketAddr, jsonrpsee::server::ServerHandle)> {
    serve_with(addr, shared, ServeOptions::default()).await
}

/// What [`serve_with`] serves besides the namespace and `rpc.discover`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeOptions {
    /// The schedule page at `GET /` ([`ui`](crate::rpc::ui)).
    pub ui: bool,
}

/// Serves the namespace over HTTP and WebSocket on `addr` (one port for both), with
/// `rpc.discover` and, if `options.ui`, the schedule page at `GET /`. Returns the bound address
/// (useful with port 0) and the handle that stops the server.
pub async fn serve_with(
    addr: std::net::SocketAddr,
    shared: Arc<SharedEngine>,
    options: ServeOptions,
) -> std::io::Result<(std::net::SocketAddr, jsonrpsee::server::ServerHandle)> {
    let module = openrpc::with_discover(LookaheadRpc::new(shared).into_rpc(), &["lookahead"])?;
    let middleware =
        jsonrpsee::server::middleware::rpc::RpcServiceBuilder::new().layer_fn(RpcMetrics::new);
    let server = jsonrpsee::server::Server::builder()
        .set_rpc_middleware(middleware)
        .set_http_middleware(tower::ServiceBuilder::new().layer(SchedulePageLayer::new(options.ui)))
        .build(addr)
        .await?;
    let bound = server.local_addr()?;
    Ok((bound, server.start(module)))
}
