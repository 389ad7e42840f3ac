//! The server side of the `lookahead_` namespace: [`LookaheadRpc`] answers from a
//! [`SharedEngine`], serving `lookahead_getSchedule` from whole windows serialized once per
//! engine version. [`LookaheadRpc::into_module`] gives the `RpcModule` that the follower serves
//! over HTTP and WebSocket ([`serve`]); the Reth node merges the plain
//! [`into_rpc`](LookaheadApiServer::into_rpc) into its own RPC server.
//!
//! A client may be hostile. The calls whose work grows with their arguments
//! ([`HEAVY_METHODS`]) run on Tokio's blocking pool, at most [`ServerLimits::heavy_queries`]
//! at once, so a burst of them waits its turn while `status`, `getSequencer` and cached
//! schedules are answered at once; a `getSchedule` whose windows are not cached yet computes
//! them on the blocking pool too, with permits of its own (as many), so that it never waits
//! behind heavy queries. Chain-id lists are capped at [`MAX_CHAIN_IDS`] and de-duplicated;
//! [`serve_with`] sets the server's size, batch, connection and subscription limits
//! ([`ServerLimits`]).
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
            ChainIdList, CrossScheduleEntry, DEFAULT_COUNT, LookaheadApiServer, LookaheadStatus,
            MAX_CHAIN_IDS, Parts, ScheduleEntries, SerializedWindow,
        },
        error::{invalid_params, query_error, rpc_error},
        metrics::RpcMetrics,
        openrpc,
        peer::{PeerLimits, accept_with_peers},
        ui::SchedulePageLayer,
    },
    service::shared::SharedEngine,
};
use futures::FutureExt;
use jsonrpsee::{
    MethodResponse, PendingSubscriptionSink, RpcModule, SubscriptionMessage,
    core::{
        RpcResult, SubscriptionResult,
        server::{AsyncMethod, MethodCallback},
    },
    server::{BatchRequestConfig, ServerConfig},
    types::error::INTERNAL_ERROR_CODE,
};
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};
use tokio::sync::{Semaphore, broadcast::error::RecvError};

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

/// What [`EntryCache::window`] does when a window is not cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OnMiss {
    /// Computes it (a heavy query's work).
    Compute,
    /// Answers `None` (the fast path: the caller then computes as a heavy query).
    Skip,
}

impl EntryCache {
    /// The serialized entries of `window` for `chain_id` (cut at the horizon), computed on
    /// first use for this engine `version`; `None` if not cached and `on_miss` is
    /// [`OnMiss::Skip`].
    fn window(
        &self,
        engine: &Engine,
        version: u64,
        chain_id: ChainId,
        window: Window,
        on_miss: OnMiss,
    ) -> Result<Option<SerializedWindow>, QueryError> {
        {
            let cache = self.windows.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if cache.version == version
                && let Some(entries) = cache.windows.get(&(chain_id, window))
            {
                return Ok(Some(Arc::clone(entries)));
            }
        }
        if on_miss == OnMiss::Skip {
            return Ok(None);
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
        Ok(Some(entries))
    }
}

/// The server side of the namespace, over a [`SharedEngine`].
#[derive(Clone, Debug)]
pub struct LookaheadRpc {
    shared: Arc<SharedEngine>,
    cache: Arc<EntryCache>,
    /// One permit per heavy query computed at once.
    heavy: Arc<Semaphore>,
    /// One permit per `getSchedule` computing windows for the cache at once: apart from
    /// `heavy`, so that a queue of heavy queries never delays the schedule everyone reads.
    fills: Arc<Semaphore>,
}

impl LookaheadRpc {
    /// Serves `shared`, computing at most [`default_heavy_queries`] heavy queries at once.
    pub fn new(shared: Arc<SharedEngine>) -> Self {
        Self::with_heavy_queries(shared, default_heavy_queries())
    }

    /// Serves `shared`, computing at most `heavy_queries` (at least 1) heavy queries at once,
    /// and as many uncached schedules besides.
    pub fn with_heavy_queries(shared: Arc<SharedEngine>, heavy_queries: usize) -> Self {
        let permits = heavy_queries.max(1);
        Self {
            shared,
            cache: Arc::default(),
            heavy: Arc::new(Semaphore::new(permits)),
            fills: Arc::new(Semaphore::new(permits)),
        }
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

    /// The namespace's module as [`serve_with`] serves it: [`LookaheadApiServer::into_rpc`]
    /// with the methods of [`HEAVY_METHODS`] moved to the blocking pool, at most
    /// `heavy_queries` at once (each whole call — parameters, query, serialized result — runs
    /// there, holding a permit), so that they never occupy the async workers that answer the
    /// cheap calls.
    pub fn into_module(self) -> RpcModule<Self> {
        let heavy = Arc::clone(&self.heavy);
        let mut module = self.into_rpc();
        for name in HEAVY_METHODS {
            let Some(MethodCallback::Sync(method)) = module.remove_method(name) else {
                unreachable!("{name} is a synchronous method of the namespace");
            };
            let heavy = Arc::clone(&heavy);
            let on_blocking_pool: AsyncMethod<'static> =
                Arc::new(move |id, params, _connection, max_response_size, extensions| {
                    let method = Arc::clone(&method);
                    let permit = Arc::clone(&heavy).acquire_owned();
                    async move {
                        let permit = permit.await.expect("the heavy-query semaphore stays open");
                        let answered = id.clone();
                        // The permit goes with the work: a client that hangs up does not free
                        // it before the work it started is done.
                        tokio::task::spawn_blocking(move || {
                            let _permit = permit;
                            method(id, params, max_response_size, extensions)
                        })
                        .await
                        .unwrap_or_else(|failed| {
                            let message = format!("the query failed: {failed}");
                            MethodResponse::error(answered, rpc_error(INTERNAL_ERROR_CODE, message))
                        })
                    }
                    .boxed()
                });
            module
                .verify_and_insert(name, MethodCallback::Async(on_blocking_pool))
                .expect("the name was just removed");
        }
        module
    }

    /// Runs `query` on the blocking pool once one of `permits` is free (the permit goes with
    /// the query, as in [`Self::into_module`]).
    async fn blocking<T, Q>(&self, permits: &Arc<Semaphore>, query: Q) -> RpcResult<T>
    where
        T: Send + 'static,
        Q: FnOnce(&Self) -> RpcResult<T> + Send + 'static,
    {
        let permit = Arc::clone(permits).acquire_owned().await.expect("the semaphores stay open");
        let rpc = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            query(&rpc)
        })
        .await
        .map_err(|failed| rpc_error(INTERNAL_ERROR_CODE, format!("the query failed: {failed}")))?
    }

    /// `count` slots of `chain_id`'s schedule from `from_slot`, assembled from cached windows;
    /// `None` if a window is not cached and `on_miss` is [`OnMiss::Skip`].
    fn schedule_entries(
        &self,
        chain_id: ChainId,
        from_slot: Option<u64>,
        count: usize,
        on_miss: OnMiss,
    ) -> RpcResult<Option<ScheduleEntries>> {
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
            let Some(entries) = self
                .cache
                .window(&engine, version, chain_id, window, on_miss)
                .map_err(query_error)?
            else {
                return Ok(None);
            };
            let end = slots.end.min(first + entries.len() as u64);
            let range = (slot - first) as usize..(end.max(slot) - first) as usize;
            if range.is_empty() || range.end > entries.len() {
                return Err(query_error(QueryError::NotSynced));
            }
            parts.push((entries, range));
            slot = end;
        }
        Ok(Some(ScheduleEntries(Parts::Served(parts))))
    }
}

/// The methods whose work grows with their arguments (rollups × slots, or up to 1024 slots
/// computed afresh): [`LookaheadRpc::into_module`] runs them on the blocking pool, a bounded
/// number at once.
pub const HEAVY_METHODS: [&str; 3] =
    ["lookahead_getCrossSchedule", "lookahead_nextSharedSlot", "lookahead_naive"];

/// Heavy queries computed at once by default: half the cores (at least one), so that cheap
/// queries and the block source always find a core.
pub fn default_heavy_queries() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 2).max(1))
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

/// `chain_ids` without repeats, in the order given; -32602 if more than [`MAX_CHAIN_IDS`]
/// are given (repeats count: the list is refused before any work is done on it).
fn distinct_chain_ids(chain_ids: ChainIdList) -> RpcResult<Vec<ChainId>> {
    chain_ids.distinct().map_err(|given| {
        invalid_params(format!("{given} chain ids given, at most {MAX_CHAIN_IDS} allowed"))
    })
}

#[jsonrpsee::core::async_trait]
impl LookaheadApiServer for LookaheadRpc {
    fn status(&self) -> RpcResult<LookaheadStatus> {
        let engine = self.shared.read().status();
        Ok(LookaheadStatus { engine, stale: self.shared.is_stale() })
    }

    async fn get_schedule(
        &self,
        chain_id: ChainId,
        from_slot: Option<u64>,
        count: Option<u64>,
    ) -> RpcResult<ScheduleEntries> {
        let count = slot_count(count)?;
        if let Some(entries) = self.schedule_entries(chain_id, from_slot, count, OnMiss::Skip)? {
            return Ok(entries);
        }
        self.blocking(&self.fills, move |rpc| {
            let entries = rpc.schedule_entries(chain_id, from_slot, count, OnMiss::Compute)?;
            Ok(entries.expect("a computed schedule is never missing"))
        })
        .await
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
        chain_ids: ChainIdList,
        from_slot: Option<u64>,
        count: Option<u64>,
    ) -> RpcResult<Vec<CrossScheduleEntry>> {
        let chain_ids = distinct_chain_ids(chain_ids)?;
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
        chain_ids: ChainIdList,
        from_slot: Option<u64>,
    ) -> RpcResult<Option<Slot>> {
        let chain_ids = distinct_chain_ids(chain_ids)?;
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
        chain_ids: Option<ChainIdList>,
    ) -> SubscriptionResult {
        if kind != "schedule" {
            pending
                .reject(invalid_params(format!(
                    "unknown subscription {kind:?}: expected \"schedule\""
                )))
                .await;
            return Ok(());
        }
        let chain_ids = match chain_ids.map(distinct_chain_ids).transpose() {
            Ok(chain_ids) => chain_ids,
            Err(refused) => {
                pending.reject(refused).await;
                return Ok(());
            }
        };
        let mut events = self.shared.subscribe();
        let mut reloaded = self.shared.reloaded();
        let sink = pending.accept().await?;
        loop {
            let event = tokio::select! {
                _ = sink.closed() => return Ok(()),
                _ = reloaded.changed() => {
                    return Err("the lookahead reloaded its state from its database after a \
                        failed write: re-subscribe and re-read"
                        .into());
                }
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
            if chain_ids.as_ref().is_some_and(|ids| !ids.contains(&event.notification.chain_id)) {
                continue;
            }
            // The event's JSON is shared by every subscriber: serialized once, copied here.
            let message = SubscriptionMessage::from(event.json().to_owned());
            if sink.send(message).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// Serves the namespace over HTTP and WebSocket on `addr` (one port for both), with
/// `rpc.discover`, without the schedule page, within the default [`ServerLimits`]. Returns the
/// bound address (useful with port 0) and the handle that stops the server.
pub async fn serve(
    addr: std::net::SocketAddr,
    shared: Arc<SharedEngine>,
) -> std::io::Result<(std::net::SocketAddr, jsonrpsee::server::ServerHandle)> {
    serve_with(addr, shared, ServeOptions::default()).await
}

/// What [`serve_with`] serves besides the namespace and `rpc.discover`, and within which
/// limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeOptions {
    /// The schedule page at `GET /` ([`ui`](crate::rpc::ui)).
    pub ui: bool,
    /// What one client can make the server hold or compute.
    pub limits: ServerLimits,
}

/// The server's limits: with a public endpoint, what bounds the memory and CPU that clients
/// can take. The defaults fit every legitimate query of the namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Largest request, in bytes: an HTTP body or a WebSocket message (HTTP 413 or -32007).
    pub max_request_size: u32,
    /// Largest response, in bytes (-32008 instead of the result).
    pub max_response_size: u32,
    /// Calls in one batch (-32010 above); 0 refuses batches (-32005).
    pub max_batch_size: u32,
    /// HTTP requests in progress plus open WebSocket connections; more are refused (HTTP 429).
    pub max_connections: u32,
    /// HTTP requests in progress plus open WebSockets of one client IP: its share of
    /// [`Self::max_connections`], so that one address cannot take all of it (HTTP 429 above).
    pub max_connections_per_ip: u32,
    /// TCP connections one client IP may keep open, idle or not; more are closed at once.
    pub max_sockets_per_ip: u32,
    /// HTTP/1 requests of one client IP served at once (at least 1); the rest of its
    /// [`Self::max_connections_per_ip`] waits in line ([`PeerLimits::running`]).
    pub max_running_per_ip: u32,
    /// Subscriptions one WebSocket connection may hold (-32006 above).
    pub max_subscriptions_per_connection: u32,
    /// Heavy queries ([`HEAVY_METHODS`]) computed at once (at least 1); more wait their turn.
    /// As many `getSchedule`s may compute uncached windows besides.
    pub heavy_queries: usize,
}

impl ServerLimits {
    /// Default [`Self::max_request_size`]: 1 MiB. The largest legitimate request, a full
    /// batch of cross-schedule queries with [`MAX_CHAIN_IDS`] ids each, is under half of it.
    pub const DEFAULT_MAX_REQUEST_SIZE: u32 = 1 << 20;
    /// Default [`Self::max_response_size`]: 16 MiB, a cross schedule of 16 rollups (a
    /// gateway's largest bundle) over 1024 slots with 256-byte endpoints.
    pub const DEFAULT_MAX_RESPONSE_SIZE: u32 = 16 << 20;
    /// Default [`Self::max_batch_size`].
    pub const DEFAULT_MAX_BATCH_SIZE: u32 = 100;
    /// Default [`Self::max_connections`].
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 100;
    /// Default [`Self::max_connections_per_ip`]: half of [`Self::DEFAULT_MAX_CONNECTIONS`].
    pub const DEFAULT_MAX_CONNECTIONS_PER_IP: u32 = 50;
    /// Default [`Self::max_sockets_per_ip`].
    pub const DEFAULT_MAX_SOCKETS_PER_IP: u32 = 256;
    /// Default [`Self::max_running_per_ip`].
    pub const DEFAULT_MAX_RUNNING_PER_IP: u32 = 16;
    /// Default [`Self::max_subscriptions_per_connection`]: one subscription takes a list of
    /// rollups, so a client needs one or a few.
    pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION: u32 = 32;

    /// The jsonrpsee server configuration of these limits.
    pub fn config(&self) -> ServerConfig {
        let batches = match self.max_batch_size {
            0 => BatchRequestConfig::Disabled,
            size => BatchRequestConfig::Limit(size),
        };
        ServerConfig::builder()
            .max_request_body_size(self.max_request_size)
            .max_response_body_size(self.max_response_size)
            .set_batch_request_config(batches)
            .max_connections(self.max_connections)
            .max_subscriptions_per_connection(self.max_subscriptions_per_connection)
            .build()
    }
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_request_size: Self::DEFAULT_MAX_REQUEST_SIZE,
            max_response_size: Self::DEFAULT_MAX_RESPONSE_SIZE,
            max_batch_size: Self::DEFAULT_MAX_BATCH_SIZE,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: Self::DEFAULT_MAX_CONNECTIONS_PER_IP,
            max_sockets_per_ip: Self::DEFAULT_MAX_SOCKETS_PER_IP,
            max_running_per_ip: Self::DEFAULT_MAX_RUNNING_PER_IP,
            max_subscriptions_per_connection: Self::DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
            heavy_queries: default_heavy_queries(),
        }
    }
}

/// Serves the namespace over HTTP and WebSocket on `addr` (one port for both), with
/// `rpc.discover` and, if `options.ui`, the schedule page at `GET /`, within `options.limits`.
/// Returns the bound address (useful with port 0) and the handle that stops the server.
pub async fn serve_with(
    addr: std::net::SocketAddr,
    shared: Arc<SharedEngine>,
    options: ServeOptions,
) -> std::io::Result<(std::net::SocketAddr, jsonrpsee::server::ServerHandle)> {
    let limits = options.limits;
    let rpc = LookaheadRpc::with_heavy_queries(shared, limits.heavy_queries);
    let module = openrpc::with_discover(rpc.into_module(), &["lookahead"])?;
    let middleware =
        jsonrpsee::server::middleware::rpc::RpcServiceBuilder::new().layer_fn(RpcMetrics::new);
    let builder = jsonrpsee::server::Server::builder()
        .set_config(limits.config())
        .set_rpc_middleware(middleware)
        .set_http_middleware(tower::ServiceBuilder::new().layer(SchedulePageLayer::new(options.ui)))
        .to_service_builder();
    // Connections are accepted here rather than by jsonrpsee's server, to hold each client IP
    // to its share (`max_connections_per_ip`).
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let (stop, handle) = jsonrpsee::server::stop_channel();
    let methods = jsonrpsee::Methods::from(module);
    let services = stop.clone();
    let peers = PeerLimits {
        connections: limits.max_connections_per_ip,
        sockets: limits.max_sockets_per_ip,
        running: limits.max_running_per_ip,
    };
    accept_with_peers(listener, peers, stop, move || {
        builder.clone().build(methods.clone(), services.clone())
    });
    Ok((bound, handle))
}
