//! The bundle gateway: routes a cross-rollup bundle to the sequencers the lookahead names for
//! one slot, locks every leg in parallel, confirms only when every lock holds (atomic mode),
//! releases the held locks otherwise, and returns promises whose signatures it has checked
//! against the registry's `signer` of each leg's record.
//!
//! When one operator sequences every leg at one endpoint (the slot's `sharedOperator`), the
//! gateway sends one `preconf_lockAndConfirm` instead: one round less.
//!
//! A leg whose record holds less bond than its rollup's `minBond` (`lookahead_getRollup`) is not
//! routed at all (SPEC §8): the bond is what a broken promise costs, and that record's promise
//! would be backed by nothing. The leg fails with [`UNDERBONDED`] before any lock is taken.
//!
//! With a watcher (SPEC §8), every promise the gateway hands out is also handed to it
//! (`watch_submitPromise`), in the background, so a broken one is slashed.

use super::{
    api::*,
    book::LockId,
    endpoint::EndpointPolicy,
    limiter::{ClientLimiter, ClientLimits},
    promise::Promise,
    unix_ms,
};
use crate::{
    core::{
        clock::SlotClock,
        domain::RegistryDomain,
        primitives::{ChainId, Slot},
        schedule::SequencerInfo,
    },
    rpc::{
        api::{CrossScheduleEntry, LookaheadApiClient},
        error::{invalid_params, rpc_error, rpc_error_with},
        openrpc,
        peer::{Peer, PeerLimits, serve_with_peers},
    },
    service::deadline::with_deadline,
    watch::api::WatchApiClient,
};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use futures::future::join_all;
use jsonrpsee::{
    Extensions,
    core::{RpcResult, async_trait, client::Error as ClientError},
    http_client::HttpClient,
    server::{ServerConfig, ServerHandle},
    types::ErrorObjectOwned,
};
use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tracing::{debug, warn};

/// Slots searched for one where every rollup has a sequencer, when the bundle names none.
pub const SEARCH_SLOTS: u64 = 64;
/// Slots asked for first: usually the first already has a sequencer for every rollup.
const FIRST_SLOTS: u64 = 4;
/// How long a route read from the lookahead is reused. A stale route costs at worst a
/// refused lock (the sequencer checks the lookahead itself), never a wrong promise (each is
/// checked against the signer of the record the lookahead named).
const ROUTE_CACHE: Duration = Duration::from_millis(100);
/// How long a rollup's `minBond` read from the lookahead is reused. Only its admin changes it,
/// and only for future registrations; a record's bond (in the route) is never older than
/// [`ROUTE_CACHE`].
const MIN_BOND_CACHE: Duration = Duration::from_secs(1);
/// The most legs (rollups) one bundle may have.
pub const MAX_LEGS: usize = 16;

/// Endpoints (accepted or refused) remembered, at most; one more evicts another.
const MAX_ENDPOINTS: usize = 1024;
/// How long an endpoint's verdict (a client, or why it is refused) is reused.
const ENDPOINT_CACHE: Duration = Duration::from_secs(60);

/// Gateway settings.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// The registry and its L1: the promises' EIP-712 domain.
    pub domain: RegistryDomain,
    /// Lock ttl asked of the sequencers, in milliseconds; a lock must also answer within it.
    pub ttl_ms: u64,
    /// Timeout of every other call (lookahead, confirm, release).
    pub timeout: Duration,
    /// The L1 slot clock: the first slot targeted starts at least two ttls from now.
    pub clock: SlotClock,
    /// Which registered endpoints are dialled.
    pub endpoints: EndpointPolicy,
    /// What one client (IP address) may ask of `gateway_sendBundle`.
    pub clients: ClientLimits,
}

/// A running gateway; cheap to clone.
#[derive(Clone, Debug)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: GatewayConfig,
    lookahead: HttpClient,
    watcher: Option<HttpClient>,
    sequencers: Mutex<HashMap<String, Dialled>>,
    clients: Mutex<ClientLimiter>,
    routes: Mutex<HashMap<RouteKey, CachedRoutes>>,
    min_bonds: Mutex<HashMap<ChainId, (Instant, U256)>>,
}

/// An endpoint's client, or why it is not dialled, and since when.
type Dialled = (Instant, Result<HttpClient, String>);

/// A cross-schedule query: the rollups, the first slot and the count.
type RouteKey = (Vec<ChainId>, Slot, u64);

/// A cross schedule and when it was read, shared by the bundles that reuse it.
type CachedRoutes = (Instant, Arc<[CrossScheduleEntry]>);

/// One leg on its way: the rollup, its txs and who sequences it.
#[derive(Clone, Debug)]
struct Route {
    chain_id: ChainId,
    txs: Vec<Bytes>,
    sequencer: SequencerInfo,
}

impl Gateway {
    /// A gateway that reads the schedule from `lookahead` and hands every promise it returns to
    /// `watcher`, if given.
    pub fn new(config: GatewayConfig, lookahead: HttpClient, watcher: Option<HttpClient>) -> Self {
        let clients = Mutex::new(ClientLimiter::new(config.clients));
        Self {
            inner: Arc::new(Inner {
                config,
                lookahead,
                watcher,
                sequencers: Mutex::new(HashMap::new()),
                clients,
                routes: Mutex::new(HashMap::new()),
                min_bonds: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Serves `gateway_` on `addr` (HTTP and WebSocket) within `limits`, with `rpc.discover`;
    /// clients are told apart by IP address, each of which holds at most `peers` of the server.
    pub async fn serve(
        self,
        addr: SocketAddr,
        limits: ServerConfig,
        peers: PeerLimits,
    ) -> std::io::Result<(SocketAddr, ServerHandle)> {
        let module = openrpc::with_discover(self.into_rpc(), &["gateway"])?;
        serve_with_peers(addr, limits, peers, module).await
    }
}

impl Inner {
    /// The client of a registered endpoint, if the endpoint policy allows dialling it.
    async fn client(&self, url: &str) -> Result<HttpClient, String> {
        if let Some((checked, dialled)) = self.sequencers.lock().expect("not poisoned").get(url)
            && checked.elapsed() < ENDPOINT_CACHE
        {
            return dialled.clone();
        }
        let dialled = self
            .config
            .endpoints
            .dial(url, self.config.timeout)
            .await
            .map_err(|e| format!("endpoint {url} is not dialled: {e}"));
        let mut sequencers = self.sequencers.lock().expect("not poisoned");
        if sequencers.len() >= MAX_ENDPOINTS && !sequencers.contains_key(url) {
            sequencers.retain(|_, (checked, _)| checked.elapsed() < ENDPOINT_CACHE);
            if let Some(evicted) = sequencers.keys().next().cloned() {
                sequencers.remove(&evicted);
            }
        }
        sequencers.insert(url.to_owned(), (Instant::now(), dialled.clone()));
        dialled
    }

    /// The client of a leg's sequencer, or the leg's failure when its endpoint is refused.
    async fn leg_client(&self, route: &Route) -> Result<HttpClient, FailedLeg> {
        self.client(&route.sequencer.rpc_url).await.map_err(|message| {
            failed(route.chain_id, Some(route.sequencer.operator), ENDPOINT_REFUSED, message)
        })
    }

    /// The slot to target and each leg's sequencer there.
    async fn route(
        &self,
        legs: Vec<(ChainId, Vec<Bytes>)>,
        slot: Option<Slot>,
    ) -> Result<(Slot, Vec<Route>, Option<Address>), ErrorObjectOwned> {
        let chain_ids: Vec<ChainId> = legs.iter().map(|(chain_id, _)| *chain_id).collect();
        // Every leg's rollup must be in the answer with a sequencer: the lookahead's answer is
        // input too, never trusted to have the shape asked for.
        let served = |entry: &CrossScheduleEntry| {
            chain_ids.iter().all(|id| entry.entries.get(id).is_some_and(|e| e.sequencer.is_some()))
        };
        let (from, counts) = match slot {
            Some(slot) => (slot, [1, 1]),
            None => (self.earliest_slot(), [FIRST_SLOTS, SEARCH_SLOTS]),
        };
        let mut found = None;
        for count in counts {
            let schedule = self.cross_schedule(&chain_ids, from, count).await?;
            if let Some(entry) = schedule.iter().find(|entry| served(entry)) {
                found = Some(entry.clone());
                break;
            }
        }
        let Some(entry) = found else {
            let failed = legs
                .iter()
                .map(|(chain_id, _)| {
                    failed(*chain_id, None, BUNDLE_FAILED, "no sequencer in the slot(s) searched")
                })
                .collect();
            let which = slot
                .map_or(format!("the {SEARCH_SLOTS} slots from {from}"), |s| format!("slot {s}"));
            return Err(gateway_error(
                format!("no slot in {which} has a sequencer for every leg"),
                failed,
            ));
        };
        let routes = legs
            .into_iter()
            .filter_map(|(chain_id, txs)| {
                let sequencer = entry.entries.get(&chain_id)?.sequencer.clone()?;
                Some(Route { chain_id, txs, sequencer })
            })
            .collect();
        Ok((entry.slot, routes, entry.shared_operator))
    }

    /// The first slot a bundle can target: one that starts, or is still running, two lock
    /// ttls from now.
    fn earliest_slot(&self) -> Slot {
        let then_ms = unix_ms() + 2 * self.config.ttl_ms;
        self.config.clock.slot_at(then_ms / 1000).unwrap_or_default()
    }

    /// `count` slots of the rollups' cross schedule from `from`, reused for [`ROUTE_CACHE`].
    async fn cross_schedule(
        &self,
        chain_ids: &[ChainId],
        from: Slot,
        count: u64,
    ) -> Result<Arc<[CrossScheduleEntry]>, ErrorObjectOwned> {
        let key = (chain_ids.to_vec(), from, count);
        if let Some((fetched, entries)) = self.routes.lock().expect("not poisoned").get(&key)
            && fetched.elapsed() < ROUTE_CACHE
        {
            return Ok(Arc::clone(entries));
        }
        let entries: Arc<[CrossScheduleEntry]> = timed(
            self.config.timeout,
            self.lookahead.get_cross_schedule(chain_ids.to_vec().into(), Some(from.0), Some(count)),
        )
        .await
        .map_err(lookahead_failure)?
        .into();
        let mut routes = self.routes.lock().expect("not poisoned");
        routes.retain(|_, (fetched, _)| fetched.elapsed() < ROUTE_CACHE);
        routes.insert(key, (Instant::now(), Arc::clone(&entries)));
        Ok(entries)
    }

    /// `chain_id`'s `minBond`, reused for [`MIN_BOND_CACHE`].
    async fn min_bond(&self, chain_id: ChainId) -> Result<U256, ErrorObjectOwned> {
        if let Some((fetched, min_bond)) =
            self.min_bonds.lock().expect("not poisoned").get(&chain_id)
            && fetched.elapsed() < MIN_BOND_CACHE
        {
            return Ok(*min_bond);
        }
        let rollup = timed(self.config.timeout, self.lookahead.get_rollup(chain_id))
            .await
            .map_err(lookahead_failure)?;
        let mut min_bonds = self.min_bonds.lock().expect("not poisoned");
        min_bonds.retain(|_, (fetched, _)| fetched.elapsed() < MIN_BOND_CACHE);
        min_bonds.insert(chain_id, (Instant::now(), rollup.min_bond));
        Ok(rollup.min_bond)
    }

    /// Splits `routes` into the legs whose record holds at least its rollup's `minBond` and the
    /// failed legs of those that hold less ([`UNDERBONDED`]).
    async fn bonded(
        &self,
        routes: Vec<Route>,
    ) -> Result<(Vec<Route>, Vec<FailedLeg>), ErrorObjectOwned> {
        let min_bonds = join_all(routes.iter().map(|route| self.min_bond(route.chain_id))).await;
        let mut bonded = Vec::with_capacity(routes.len());
        let mut refused = Vec::new();
        for (route, min_bond) in routes.into_iter().zip(min_bonds) {
            let min_bond = min_bond?;
            let sequencer = &route.sequencer;
            if sequencer.bond >= min_bond {
                bonded.push(route);
                continue;
            }
            refused.push(failed(
                route.chain_id,
                Some(sequencer.operator),
                UNDERBONDED,
                format!(
                    "record {} holds {} wei of bond, below the rollup's minBond of {min_bond} wei: \
                     its promise would be backed by nothing",
                    sequencer.index, sequencer.bond
                ),
            ));
        }
        Ok((bonded, refused))
    }

    /// Locks every leg in parallel; each result in leg order.
    async fn lock_all(
        &self,
        slot: Slot,
        bundle_id: B256,
        routes: &[Route],
    ) -> Vec<Result<LockReceipt, FailedLeg>> {
        let ttl = Duration::from_millis(self.config.ttl_ms);
        join_all(routes.iter().map(|route| async move {
            let client = self.leg_client(route).await?;
            let request = LockRequest {
                chain_id: route.chain_id,
                slot,
                txs: route.txs.clone(),
                bundle_id,
                ttl_ms: Some(self.config.ttl_ms),
            };
            timed(ttl, client.lock(request)).await.map_err(|e| leg_failed(route, e))
        }))
        .await
    }

    /// Releases the held locks (best effort: they lapse anyway).
    async fn release(&self, held: &[(&Route, LockId)]) {
        join_all(held.iter().map(|(route, lock_id)| async move {
            if let Ok(client) = self.client(&route.sequencer.rpc_url).await {
                let released = timed(self.config.timeout, client.release(*lock_id)).await;
                debug!(%lock_id, ?released, "released");
            }
        }))
        .await;
    }

    /// Confirms the held locks in parallel and checks every promise.
    async fn confirm_all(
        &self,
        slot: Slot,
        bundle_id: B256,
        held: &[(&Route, LockId)],
    ) -> Vec<Result<Promise, FailedLeg>> {
        join_all(held.iter().map(|(route, lock_id)| async move {
            let client = self.leg_client(route).await?;
            let promise = timed(self.config.timeout, client.confirm(*lock_id))
                .await
                .map_err(|e| leg_failed(route, e))?;
            self.check(route, slot, bundle_id, &promise)?;
            Ok(promise)
        }))
        .await
    }

    /// The promise is for this leg and signed by the record's signer.
    fn check(
        &self,
        route: &Route,
        slot: Slot,
        bundle_id: B256,
        promise: &Promise,
    ) -> Result<(), FailedLeg> {
        let tx_hashes: Vec<B256> = route.txs.iter().map(keccak256).collect();
        if promise.chain_id != route.chain_id
            || promise.slot != slot
            || promise.bundle_id != bundle_id
            || promise.tx_hashes != tx_hashes
        {
            return Err(failed(
                route.chain_id,
                Some(route.sequencer.operator),
                BUNDLE_FAILED,
                "the promise is not for what was locked",
            ));
        }
        promise.verify(&self.config.domain, route.sequencer.signer).map_err(|e| {
            failed(
                route.chain_id,
                Some(route.sequencer.operator),
                BUNDLE_FAILED,
                format!("the promise's signature: {e}"),
            )
        })
    }

    async fn send(&self, request: BundleRequest) -> RpcResult<BundleReceipt> {
        let legs = legs(request.txs)?;
        let bundle_id = B256::random();
        let (slot, routes, shared_operator) = self.route(legs, request.slot).await?;
        let (routes, mut failures) = self.bonded(routes).await?;
        if !failures.is_empty() && request.mode == BundleMode::Atomic {
            return Err(bundle_failed("route", failures));
        }

        let one_endpoint =
            routes.windows(2).all(|pair| pair[0].sequencer.rpc_url == pair[1].sequencer.rpc_url);
        if shared_operator.is_some() && one_endpoint && routes.len() > 1 {
            let receipt = self.send_shared(slot, bundle_id, &routes).await?;
            return Ok(BundleReceipt { failed: failures, ..receipt });
        }

        let locks = self.lock_all(slot, bundle_id, &routes).await;
        let mut held = Vec::new();
        for (route, lock) in routes.iter().zip(locks) {
            match lock {
                Ok(receipt) => held.push((route, receipt.lock_id)),
                Err(leg) => failures.push(leg),
            }
        }
        if !failures.is_empty() && request.mode == BundleMode::Atomic {
            self.release(&held).await;
            return Err(bundle_failed("lock", failures));
        }

        let mut promises = Vec::new();
        for result in self.confirm_all(slot, bundle_id, &held).await {
            match result {
                Ok(promise) => promises.push(promise),
                Err(leg) => failures.push(leg),
            }
        }
        self.hand_to_watcher(&promises);
        if !failures.is_empty() && request.mode == BundleMode::Atomic {
            if promises.is_empty() {
                return Err(bundle_failed("confirm", failures));
            }
            // Two-phase commit's window: a leg failed to confirm after others were promised.
            // The caller gets the promises made, to honour or dispute.
            let first = bundle_failed("confirm", failures.clone());
            let message = format!(
                "{} ({} other leg(s) were promised: see data.promises)",
                first.message(),
                promises.len()
            );
            let data = serde_json::json!({ "failed": failures, "promises": promises });
            let error = rpc_error_with(BUNDLE_FAILED, message, data);
            return Err(error);
        }
        Ok(BundleReceipt { bundle_id, slot, promises, failed: failures })
    }

    /// One round at a shared operator's endpoint: lock and confirm every leg there.
    async fn send_shared(
        &self,
        slot: Slot,
        bundle_id: B256,
        routes: &[Route],
    ) -> RpcResult<BundleReceipt> {
        let Some(first) = routes.first() else {
            return Err(bundle_failed("lock-and-confirm", Vec::new()));
        };
        let client = self
            .leg_client(first)
            .await
            .map_err(|leg| bundle_failed("lock-and-confirm", vec![leg]))?;
        let request = CommitRequest {
            slot,
            bundle_id,
            legs: routes.iter().map(|r| Leg { chain_id: r.chain_id, txs: r.txs.clone() }).collect(),
        };
        let ttl = Duration::from_millis(self.config.ttl_ms);
        let promises = timed(ttl, client.lock_and_confirm(request))
            .await
            .map_err(|e| bundle_failed("lock-and-confirm", vec![leg_failed(first, e)]))?;
        if promises.len() != routes.len() {
            let leg = failed(
                first.chain_id,
                Some(first.sequencer.operator),
                BUNDLE_FAILED,
                "the shared operator returned a promise count unlike the legs'",
            );
            return Err(bundle_failed("lock-and-confirm", vec![leg]));
        }
        for (route, promise) in routes.iter().zip(&promises) {
            self.check(route, slot, bundle_id, promise)
                .map_err(|leg| bundle_failed("lock-and-confirm", vec![leg]))?;
        }
        self.hand_to_watcher(&promises);
        Ok(BundleReceipt { bundle_id, slot, promises, failed: Vec::new() })
    }

    /// Hands verified promises to the watcher in the background; a watcher that is down costs
    /// a warning, never a bundle.
    fn hand_to_watcher(&self, promises: &[Promise]) {
        let Some(watcher) = self.watcher.clone() else { return };
        if promises.is_empty() {
            return;
        }
        let promises = promises.to_vec();
        let timeout = self.config.timeout;
        tokio::spawn(async move {
            for promise in promises {
                let (chain_id, slot) = (promise.chain_id, promise.slot);
                if let Err(error) = timed(timeout, watcher.submit_promise(promise)).await {
                    warn!(%chain_id, %slot, %error, "the watcher did not take a promise");
                }
            }
        });
    }
}

#[async_trait]
impl GatewayApiServer for Gateway {
    async fn send_bundle(
        &self,
        ext: &Extensions,
        request: BundleRequest,
    ) -> RpcResult<BundleReceipt> {
        let client = Peer::of(ext).0;
        // In flight until the call ends, also when the client hangs up and the call is dropped.
        let _admitted = ClientLimiter::admit(&self.inner.clients, client, Instant::now())
            .map_err(|refusal| rpc_error(RATE_LIMITED, refusal.to_string()))?;
        self.inner.send(request).await
    }
}

/// The bundle's transactions grouped by rollup, in order of first appearance.
fn legs(txs: Vec<BundleTx>) -> RpcResult<Vec<(ChainId, Vec<Bytes>)>> {
    let mut legs: Vec<(ChainId, Vec<Bytes>)> = Vec::new();
    for tx in txs {
        match legs.iter_mut().find(|(chain_id, _)| *chain_id == tx.chain_id) {
            Some((_, leg)) => leg.push(tx.raw_tx),
            None => legs.push((tx.chain_id, vec![tx.raw_tx])),
        }
    }
    if legs.is_empty() || legs.len() > MAX_LEGS {
        return Err(invalid_params(format!(
            "a bundle has 1 to {MAX_LEGS} rollups, got {}",
            legs.len()
        )));
    }
    Ok(legs)
}

/// Runs a client call with a deadline.
async fn timed<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    with_deadline(limit, call, || ClientError::RequestTimeout).await
}

fn failed(
    chain_id: ChainId,
    sequencer: Option<Address>,
    code: i32,
    message: impl Into<String>,
) -> FailedLeg {
    FailedLeg { chain_id, sequencer, code, message: message.into() }
}

fn leg_failed(route: &Route, error: impl Into<ClientOrRpc>) -> FailedLeg {
    let (code, message) = match error.into() {
        ClientOrRpc::Client(ClientError::Call(call)) => (call.code(), call.message().to_owned()),
        ClientOrRpc::Client(ClientError::RequestTimeout) => (BUNDLE_FAILED, "timed out".to_owned()),
        ClientOrRpc::Client(other) => (BUNDLE_FAILED, other.to_string()),
        ClientOrRpc::Rpc(rpc) => (rpc.code(), rpc.message().to_owned()),
    };
    failed(
        route.chain_id,
        Some(route.sequencer.operator),
        code,
        format!("{} at {}", message, route.sequencer.rpc_url),
    )
}

/// A client error or an error object.
enum ClientOrRpc {
    Client(ClientError),
    Rpc(ErrorObjectOwned),
}

impl From<ClientError> for ClientOrRpc {
    fn from(error: ClientError) -> Self {
        Self::Client(error)
    }
}

impl From<ErrorObjectOwned> for ClientOrRpc {
    fn from(error: ErrorObjectOwned) -> Self {
        Self::Rpc(error)
    }
}

/// The bundle failed at `phase`; the message names the first failing leg, `data` lists all.
fn bundle_failed(phase: &str, failures: Vec<FailedLeg>) -> ErrorObjectOwned {
    let message = match failures.first() {
        Some(first) => format!(
            "{phase} failed for rollup {} (sequencer {}): {}",
            first.chain_id,
            first.sequencer.map_or("none".to_owned(), |s| s.to_string()),
            first.message
        ),
        None => format!("{phase} failed"),
    };
    gateway_error(message, failures)
}

/// The lookahead could not route the bundle: its own error message, or why it was not asked.
fn lookahead_failure(error: ClientError) -> ErrorObjectOwned {
    let message = match error {
        ClientError::Call(call) => format!("the lookahead refused: {}", call.message()),
        ClientError::RequestTimeout => "the lookahead did not answer in time".to_owned(),
        other => format!("the lookahead cannot be asked: {other}"),
    };
    gateway_error(message, Vec::new())
}

fn gateway_error(message: String, failures: Vec<FailedLeg>) -> ErrorObjectOwned {
    rpc_error_with(BUNDLE_FAILED, message, failures)
}
