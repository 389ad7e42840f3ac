//! Where the watcher's promises come from, and the check every one passes before it is kept:
//! `watch_submitPromise` (a gateway hands over every promise it returns; anyone may hand over
//! theirs) and the selected sequencers' `preconf_getPromises`, asked once each slot is over.
//!
//! A promise is kept only if the registry could slash it: its signature recovers to its
//! `signer` under the registry's EIP-712 domain on this L1 (a promise signed for another L1
//! or forged is refused), that signer is the one of the record selected for its rollup and
//! slot (asked of the lookahead; of the registry's `sequencerAt` for slots the lookahead no
//! longer serves), and its slot is still inside the slashing window. The cheap checks come
//! first (its size, the slashing window, whether its digest is held already), then the
//! signature (an `ecrecover`), then the lookahead or L1.
//!
//! Both sources are open to anyone, and are bounded: `watch_submitPromise` per client IP
//! ([`ClientLimits`], -39304), and the sequencers' endpoints, which come from a permissionless
//! registry, are dialled only as an [`EndpointPolicy`] allows (`http(s)`, public addresses
//! unless allowed, bounded request and response sizes).

use super::{
    api::{
        INTERNAL, INVALID_PROMISE, MAX_PROMISE_TX_HASHES, RATE_LIMITED, UNAVAILABLE, WatchApiServer,
    },
    chain::{Chain, ChainError},
    store::{Source, WatchStore, WatchStoreError},
};
use crate::{
    core::{
        domain::RegistryDomain,
        primitives::{ChainId, Slot, Window},
    },
    preconf::{
        api::PreconfApiClient,
        endpoint::{EndpointError, EndpointPolicy},
        limiter::{ClientLimiter, ClientLimits},
        promise::{Promise, PromiseError},
    },
    rpc::{
        api::{BEYOND_HORIZON, LookaheadApiClient, NOT_SYNCED, TOO_OLD, UNKNOWN_ROLLUP},
        error::rpc_error,
        openrpc,
        peer::{Peer, PeerLimits, serve_with_peers},
    },
    service::deadline::with_deadline,
};
use alloy_primitives::Address;
use jsonrpsee::{
    Extensions,
    core::{RpcResult, async_trait, client::Error as ClientError},
    http_client::HttpClient,
    server::{ServerConfig, ServerHandle},
    types::ErrorObjectOwned,
};
use std::{
    collections::{BTreeSet, HashMap},
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tracing::{debug, info, warn};

/// The registry's `WITHDRAWAL_DELAY`: a slot can be slashed or reported until its window is
/// this many windows old.
pub const SLASHING_WINDOWS: u64 = 32;
/// Ended slots whose sequencers are asked for promises per pass at most.
const POLL_PER_PASS: u64 = 8;
/// For how many slots after a slot its sequencers are asked again when they do not answer.
const POLL_SLOTS: u64 = 4;
/// The cursor of the sequencer polls in the watcher's database.
const POLL_CURSOR: &str = "poll";
/// Endpoints (dialled or refused) remembered, at most; more clear the memory.
const MAX_ENDPOINTS: usize = 1024;
/// How long an endpoint's verdict (a client, or why it is refused) is reused before its
/// address is checked again.
const ENDPOINT_CACHE: Duration = Duration::from_secs(60);

/// Why a promise is not kept.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The promise carries more transaction hashes than any the watcher takes.
    #[error(
        "the promise carries {0} transaction hashes, at most {MAX_PROMISE_TX_HASHES} are taken"
    )]
    TooLarge(usize),
    /// The signature is not the claimed signer's under this registry's domain on this L1.
    #[error("the signature does not verify under this registry on this L1: {0}")]
    Signature(PromiseError),
    /// The rollup has no record selected for the slot.
    #[error("rollup {chain_id} has no sequencer selected in slot {slot}")]
    NoSequencer {
        /// The rollup.
        chain_id: ChainId,
        /// The slot.
        slot: Slot,
    },
    /// The signer is not the selected record's.
    #[error("slot {slot} of rollup {chain_id} is signed for by {expected}, not {signer}")]
    NotSelected {
        /// The rollup.
        chain_id: ChainId,
        /// The slot.
        slot: Slot,
        /// The selected record's signer.
        expected: Address,
        /// The promise's.
        signer: Address,
    },
    /// The slot is out of the slashing window.
    #[error(
        "slot {slot} can no longer be slashed: its slashing window closed at window {closed_at}"
    )]
    TooLate {
        /// The slot.
        slot: Slot,
        /// The first window in which it cannot be slashed.
        closed_at: Window,
    },
    /// The rollup is not registered.
    #[error("rollup {0} is not registered")]
    UnknownRollup(ChainId),
    /// Nobody can know the slot's sequencer yet.
    #[error("slot {0} is beyond the lookahead's fixed horizon")]
    BeyondHorizon(Slot),
    /// The promise could not be checked now.
    #[error("the promise cannot be checked now: {0}")]
    Unavailable(String),
    /// The promise could not be stored.
    #[error("the promise cannot be stored: {0}")]
    Store(#[from] WatchStoreError),
}

impl Refusal {
    /// The metrics label.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "too_large",
            Self::Signature(_) => "signature",
            Self::NoSequencer { .. } => "no_sequencer",
            Self::NotSelected { .. } => "not_selected",
            Self::TooLate { .. } => "too_late",
            Self::UnknownRollup(_) => "unknown_rollup",
            Self::BeyondHorizon(_) => "beyond_horizon",
            Self::Unavailable(_) => "unavailable",
            Self::Store(_) => "store",
        }
    }

    /// The `watch_` error.
    pub fn to_rpc(&self) -> ErrorObjectOwned {
        let code = match self {
            Self::Unavailable(_) => UNAVAILABLE,
            Self::Store(_) => INTERNAL,
            _ => INVALID_PROMISE,
        };
        rpc_error(code, self.to_string())
    }
}

/// Checks promises and stores the good ones; shared by the `watch_` server, the watcher's loop
/// (which keeps [`Collector::set_current_slot`] and [`Collector::set_followed`] up to date) and
/// the task that polls the sequencers ([`Collector::run_polls`]).
#[derive(Debug)]
pub struct Collector {
    domain: RegistryDomain,
    lookahead: HttpClient,
    chain: Chain,
    store: WatchStore,
    timeout: Duration,
    /// The slot of L1's latest block, as the watcher's loop last saw it: the registry's
    /// `currentSlot()`, which decides the slashing window (not the wall clock).
    current: AtomicU64,
    /// The rollups whose sequencers are polled (the watcher's followed rollups).
    followed: Mutex<Vec<ChainId>>,
    /// Which sequencer endpoints are dialled.
    endpoints: EndpointPolicy,
    /// Each endpoint's verdict.
    sequencers: Mutex<HashMap<String, Dialled>>,
    /// Endpoints that did not answer, and when to ask them again.
    unresponsive: Mutex<HashMap<String, Instant>>,
}

impl Collector {
    /// A collector checking against `lookahead` and `chain` under `domain`, storing in `store`
    /// and dialling the sequencers `endpoints` allows; `current` is L1's slot now, `timeout`
    /// bounds every request.
    pub fn new(
        domain: RegistryDomain,
        lookahead: HttpClient,
        chain: Chain,
        store: WatchStore,
        endpoints: EndpointPolicy,
        current: Slot,
        timeout: Duration,
    ) -> Self {
        Self {
            domain,
            lookahead,
            chain,
            store,
            timeout,
            current: AtomicU64::new(current.0),
            followed: Mutex::new(Vec::new()),
            endpoints,
            sequencers: Mutex::new(HashMap::new()),
            unresponsive: Mutex::new(HashMap::new()),
        }
    }

    /// The domain promises are checked under.
    pub const fn domain(&self) -> &RegistryDomain {
        &self.domain
    }

    /// Records L1's current slot.
    pub fn set_current_slot(&self, slot: Slot) {
        self.current.fetch_max(slot.0, Ordering::Relaxed);
    }

    fn current_slot(&self) -> Slot {
        Slot(self.current.load(Ordering::Relaxed))
    }

    /// Sets the rollups whose sequencers are polled.
    pub fn set_followed(&self, rollups: Vec<ChainId>) {
        *self.followed.lock().expect("not poisoned") = rollups;
    }

    /// Checks `promise` and stores it; true if it was new. Counted in
    /// `lookahead_watch_promises_total{source, outcome}`.
    pub async fn accept(&self, promise: &Promise, source: Source) -> Result<bool, Refusal> {
        let result = self.check_and_store(promise, source).await;
        let outcome = match &result {
            Ok(true) => "new",
            Ok(false) => "known",
            Err(refusal) => refusal.reason(),
        };
        metrics::counter!("lookahead_watch_promises_total", "source" => source.label(), "outcome" => outcome)
            .increment(1);
        match &result {
            Ok(true) => {
                info!(target: "lookahead::watch", chain_id = %promise.chain_id, slot = %promise.slot, signer = %promise.signer, source = source.label(), "holding a promise")
            }
            Ok(false) => {}
            Err(refusal) => {
                debug!(target: "lookahead::watch", chain_id = %promise.chain_id, slot = %promise.slot, source = source.label(), %refusal, "promise refused")
            }
        }
        result
    }

    /// The checks in order of cost: the promise's size, its slot against the slashing window
    /// and whether its digest is held already (no signature is recovered for a promise refused
    /// or known there), then its signature, then its signer against the lookahead or L1.
    async fn check_and_store(&self, promise: &Promise, source: Source) -> Result<bool, Refusal> {
        if promise.tx_hashes.len() > MAX_PROMISE_TX_HASHES {
            return Err(Refusal::TooLarge(promise.tx_hashes.len()));
        }
        self.check_window(promise.slot)?;
        let digest = promise.signing_hash(&self.domain);
        if self.store.has_promise(digest)? {
            return Ok(false);
        }
        promise.verify(&self.domain, promise.signer).map_err(Refusal::Signature)?;
        self.check_signer(promise).await?;
        Ok(self.store.insert_promise(digest, promise, source)?)
    }

    fn check_window(&self, slot: Slot) -> Result<(), Refusal> {
        let clock = self.chain.clock();
        let closed_at = Window(clock.window_of(slot).0.saturating_add(SLASHING_WINDOWS));
        if clock.window_of(self.current_slot()) >= closed_at {
            return Err(Refusal::TooLate { slot, closed_at });
        }
        Ok(())
    }

    /// Checks the promise's signer against the selected record's: the lookahead's, or the
    /// registry's for a slot the lookahead no longer serves. A slot whose seed nobody
    /// checkpointed yet is taken on its signature alone: the watcher checkpoints the seed when
    /// it judges the slot, and the registry's own check decides then.
    async fn check_signer(&self, promise: &Promise) -> Result<(), Refusal> {
        let (chain_id, slot) = (promise.chain_id, promise.slot);
        let request = self.lookahead.get_sequencer(chain_id, slot.0);
        let expected = match with_deadline(self.timeout, request, || ClientError::RequestTimeout)
            .await
        {
            Ok(entry) => entry.sequencer.map(|sequencer| sequencer.signer),
            Err(ClientError::Call(call)) => match call.code() {
                UNKNOWN_ROLLUP => return Err(Refusal::UnknownRollup(chain_id)),
                BEYOND_HORIZON => return Err(Refusal::BeyondHorizon(slot)),
                TOO_OLD => match self.registry_signer(chain_id, slot).await? {
                    Some(expected) => expected,
                    None => return Ok(()),
                },
                NOT_SYNCED => {
                    return Err(Refusal::Unavailable(format!(
                        "the lookahead has no schedule for slot {slot}: {}",
                        call.message()
                    )));
                }
                _ => {
                    return Err(Refusal::Unavailable(format!("the lookahead: {}", call.message())));
                }
            },
            Err(other) => return Err(Refusal::Unavailable(format!("the lookahead: {other}"))),
        };
        match expected {
            None => Err(Refusal::NoSequencer { chain_id, slot }),
            Some(expected) if expected != promise.signer => {
                Err(Refusal::NotSelected { chain_id, slot, expected, signer: promise.signer })
            }
            Some(_) => Ok(()),
        }
    }

    /// The registry's selected signer for the slot: `Some(None)` for no sequencer, `None` when
    /// the window's seed is not checkpointed.
    async fn registry_signer(
        &self,
        chain_id: ChainId,
        slot: Slot,
    ) -> Result<Option<Option<Address>>, Refusal> {
        let unavailable = |error: ChainError| Refusal::Unavailable(format!("L1: {error}"));
        let window = self.chain.clock().window_of(slot);
        if !self.chain.seed_known(window).await.map_err(unavailable)? {
            return Ok(None);
        }
        Ok(Some(self.chain.selected_signer(chain_id, slot).await.map_err(unavailable)?))
    }

    /// Polls every `interval` until the task is dropped: [`Collector::poll_ended_slots`].
    pub async fn run_polls(self: Arc<Self>, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
            if let Err(error) = self.poll_ended_slots().await {
                warn!(target: "lookahead::watch", %error, "could not poll the sequencers");
            }
        }
    }

    /// Asks the selected sequencers of the slots that ended since the last pass (at most
    /// `POLL_PER_PASS`, and none older than two windows) for their promises. A slot whose
    /// sequencer does not answer is asked again for `POLL_SLOTS` slots.
    pub async fn poll_ended_slots(&self) -> Result<(), WatchStoreError> {
        let current = self.current_slot();
        let Some(cursor) = self.store.cursor(POLL_CURSOR)? else {
            self.store.set_cursor(POLL_CURSOR, current)?;
            return Ok(());
        };
        let oldest = current.0.saturating_sub(2 * self.chain.clock().window_slots());
        let from = cursor.0.max(oldest);
        let to = current.0.min(from.saturating_add(POLL_PER_PASS));
        let rollups = self.followed.lock().expect("not poisoned").clone();
        let mut next = from;
        let mut blocked = false;
        for slot in from..to {
            let answered = self.poll_slot(Slot(slot), &rollups).await;
            let expired = slot.saturating_add(POLL_SLOTS) < current.0;
            if !answered && expired && !blocked {
                warn!(target: "lookahead::watch", slot, "a selected sequencer did not list its promises; giving up on the slot");
            }
            if !blocked && (answered || expired) {
                next = slot + 1;
            } else {
                blocked = true;
            }
        }
        if next != cursor.0 {
            self.store.set_cursor(POLL_CURSOR, Slot(next))?;
        }
        Ok(())
    }

    /// Asks the sequencers the lookahead selected in `slot` for `rollups` for their promises of
    /// that slot (all at once), and keeps the good ones; true if every one of them answered. An
    /// endpoint that did not answer is skipped for a slot.
    pub async fn poll_slot(&self, slot: Slot, rollups: &[ChainId]) -> bool {
        let mut endpoints = BTreeSet::new();
        for chain_id in rollups {
            let request = self.lookahead.get_sequencer(*chain_id, slot.0);
            match with_deadline(self.timeout, request, || ClientError::RequestTimeout).await {
                Ok(entry) => endpoints.extend(entry.sequencer.map(|sequencer| sequencer.rpc_url)),
                // No schedule for the slot (too old, not synced, unknown): nobody to ask.
                Err(ClientError::Call(_)) => {}
                Err(error) => {
                    debug!(target: "lookahead::watch", %slot, %error, "the lookahead did not answer");
                    return false;
                }
            }
        }
        let now = Instant::now();
        let mut skipped = false;
        {
            let mut unresponsive = self.unresponsive.lock().expect("not poisoned");
            unresponsive.retain(|_, retry_at| *retry_at > now);
            endpoints.retain(|endpoint| {
                let skip = unresponsive.contains_key(endpoint);
                skipped |= skip;
                !skip
            });
        }
        let polls = endpoints.into_iter().map(|endpoint| async move {
            let answered = self.poll_endpoint(slot, &endpoint).await;
            (endpoint, answered)
        });
        let mut answered = !skipped;
        for (endpoint, ok) in futures::future::join_all(polls).await {
            if !ok {
                answered = false;
                let retry_at =
                    Instant::now() + Duration::from_secs(self.chain.clock().slot_seconds());
                self.unresponsive.lock().expect("not poisoned").insert(endpoint, retry_at);
            }
        }
        answered
    }

    /// Asks one sequencer for its promises of `slot` and keeps the good ones; false if it did
    /// not answer. An endpoint the policy refuses counts as answered: it never will.
    async fn poll_endpoint(&self, slot: Slot, endpoint: &str) -> bool {
        let client = match self.sequencer(endpoint).await {
            Ok(client) => client,
            Err(Dial::Refused(reason)) => {
                metrics::counter!("lookahead_watch_sequencer_polls_total", "outcome" => "refused")
                    .increment(1);
                debug!(target: "lookahead::watch", %slot, %endpoint, %reason, "not dialled");
                return true;
            }
            Err(Dial::Unresolved(reason)) => {
                metrics::counter!("lookahead_watch_sequencer_polls_total", "outcome" => "error")
                    .increment(1);
                debug!(target: "lookahead::watch", %slot, %endpoint, %reason, "a sequencer endpoint does not resolve");
                return false;
            }
        };
        let request = client.get_promises(slot);
        match with_deadline(self.timeout, request, || ClientError::RequestTimeout).await {
            Ok(promises) => {
                metrics::counter!("lookahead_watch_sequencer_polls_total", "outcome" => "ok")
                    .increment(1);
                for promise in promises {
                    // Refusals are counted and logged by `accept`.
                    let _ = self.accept(&promise, Source::Sequencer).await;
                }
                true
            }
            Err(error) => {
                metrics::counter!("lookahead_watch_sequencer_polls_total", "outcome" => "error")
                    .increment(1);
                debug!(target: "lookahead::watch", %slot, %endpoint, %error, "a sequencer did not list its promises");
                false
            }
        }
    }

    /// The client of a registered endpoint, if the endpoint policy allows dialling it: reused
    /// for [`ENDPOINT_CACHE`], as is a refusal (logged once each time it is decided). A host
    /// that does not resolve is asked again next time.
    async fn sequencer(&self, endpoint: &str) -> Result<HttpClient, Dial> {
        if let Some((checked, dialled)) =
            self.sequencers.lock().expect("not poisoned").get(endpoint)
            && checked.elapsed() < ENDPOINT_CACHE
        {
            return dialled.clone().map_err(Dial::Refused);
        }
        let dialled = match self.endpoints.dial(endpoint, self.timeout).await {
            Ok(client) => Ok(client),
            Err(EndpointError::Unresolved { host, reason }) => {
                return Err(Dial::Unresolved(format!("{host}: {reason}")));
            }
            Err(refused) => {
                warn!(target: "lookahead::watch", %endpoint, reason = %refused, "not dialling a registered sequencer endpoint");
                Err(refused.to_string())
            }
        };
        let mut clients = self.sequencers.lock().expect("not poisoned");
        if clients.len() >= MAX_ENDPOINTS && !clients.contains_key(endpoint) {
            clients.retain(|_, (checked, _)| checked.elapsed() < ENDPOINT_CACHE);
            if clients.len() >= MAX_ENDPOINTS {
                clients.clear();
            }
        }
        clients.insert(endpoint.to_owned(), (Instant::now(), dialled.clone()));
        dialled.map_err(Dial::Refused)
    }
}

/// An endpoint's client, or why the policy refuses it, and since when.
type Dialled = (Instant, Result<HttpClient, String>);

/// Why a sequencer endpoint is not asked.
#[derive(Clone, Debug)]
enum Dial {
    /// The endpoint policy refuses it (not `http(s)`, a non-public address, a bad URL).
    Refused(String),
    /// Its host did not resolve: asked again next time.
    Unresolved(String),
}

/// What one client (IP address) may ask of `watch_submitPromise` by default: 200 promises per
/// second with bursts of 400, 32 in flight, 10,000 clients tracked. A gateway hands over every
/// promise it returns, from one address: a busier one needs more.
pub const DEFAULT_CLIENT_LIMITS: ClientLimits =
    ClientLimits { per_second: 200, burst: 400, in_flight: 32, max_clients: 10_000 };

/// The `watch_` server.
#[derive(Clone, Debug)]
pub struct WatchRpc {
    collector: Arc<Collector>,
    clients: Arc<Mutex<ClientLimiter>>,
}

impl WatchRpc {
    /// A server handing promises to `collector`, each client (IP address) within `clients`.
    pub fn new(collector: Arc<Collector>, clients: ClientLimits) -> Self {
        Self { collector, clients: Arc::new(Mutex::new(ClientLimiter::new(clients))) }
    }

    /// Serves `watch_` (and `rpc.discover`) at `addr` (HTTP and WebSocket) within `limits`,
    /// each client IP holding at most `peers` of the server, until the handle is stopped.
    pub async fn serve(
        self,
        addr: SocketAddr,
        limits: ServerConfig,
        peers: PeerLimits,
    ) -> std::io::Result<(SocketAddr, ServerHandle)> {
        let module = openrpc::with_discover(self.into_rpc(), &["watch"])?;
        serve_with_peers(addr, limits, peers, module).await
    }
}

#[async_trait]
impl WatchApiServer for WatchRpc {
    async fn submit_promise(&self, ext: &Extensions, promise: Promise) -> RpcResult<bool> {
        let client = Peer::of(ext).0;
        let _admitted = match ClientLimiter::admit(&self.clients, client, Instant::now()) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                metrics::counter!("lookahead_watch_promises_total", "source" => Source::Submitted.label(), "outcome" => "rate_limited")
                    .increment(1);
                debug!(target: "lookahead::watch", %client, %refusal, "promise refused: the client is over its limits");
                return Err(rpc_error(RATE_LIMITED, refusal.to_string()));
            }
        };
        self.collector.accept(&promise, Source::Submitted).await.map_err(|refusal| refusal.to_rpc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        core::clock::SlotClock, preconf::promise::PromiseSigner, watch::api::WatchApiClient,
    };
    use alloy::{
        providers::{Provider, ProviderBuilder},
        signers::local::PrivateKeySigner,
    };
    use alloy_primitives::{B256, Signature, U256};
    use jsonrpsee::http_client::HttpClientBuilder;
    use tokio::net::TcpListener;

    /// 8-slot windows from genesis 0: window `w` starts at slot `8w`.
    const WINDOW_SLOTS: u64 = 8;
    const TIMEOUT: Duration = Duration::from_millis(500);

    /// A collector whose lookahead and L1 are a port where nothing listens (a check that
    /// reaches them is refused as `Unavailable`), at slot `current`, dialling as `endpoints`
    /// allows.
    fn collector(dir: &tempfile::TempDir, current: u64, endpoints: EndpointPolicy) -> Collector {
        let nowhere = "http://127.0.0.1:1";
        let lookahead = HttpClientBuilder::default().build(nowhere).unwrap();
        let provider = ProviderBuilder::new().connect_http(nowhere.parse().unwrap()).erased();
        let clock = SlotClock::new(0, 1, WINDOW_SLOTS).unwrap();
        let chain = Chain::new(provider, Address::repeat_byte(0x11), clock, TIMEOUT);
        let store = WatchStore::open(&dir.path().join("watch.redb")).unwrap();
        let domain = RegistryDomain::new(31337, Address::repeat_byte(0x11));
        Collector::new(domain, lookahead, chain, store, endpoints, Slot(current), TIMEOUT)
    }

    fn signed(collector: &Collector, slot: u64, hashes: usize) -> Promise {
        let key = PrivateKeySigner::random();
        let tx_hashes = (0..hashes).map(|_| B256::random()).collect();
        let signer = PromiseSigner::new(&key);
        Promise::sign(
            &signer,
            collector.domain(),
            ChainId::from(0x65u64),
            Slot(slot),
            tx_hashes,
            B256::random(),
        )
    }

    /// `promise` with a signature that recovers to nobody's key: checking it costs an
    /// `ecrecover` and fails.
    fn forged(mut promise: Promise) -> Promise {
        promise.signature = Signature::new(U256::from(7u8), U256::from(9u8), false);
        promise
    }

    #[tokio::test]
    async fn cheap_checks_come_before_the_signature_and_the_signature_before_the_network() {
        let dir = tempfile::tempdir().unwrap();
        let current = 40 * WINDOW_SLOTS;
        let collector = collector(&dir, current, EndpointPolicy::default());
        let submit = |promise: Promise| {
            let collector = &collector;
            async move { collector.accept(&promise, Source::Submitted).await }
        };

        let large = forged(signed(&collector, current, MAX_PROMISE_TX_HASHES + 1));
        assert!(
            matches!(submit(large).await, Err(Refusal::TooLarge(n)) if n == MAX_PROMISE_TX_HASHES + 1)
        );
        // Window 8 closed for slashing at window 8 + SLASHING_WINDOWS = 40.
        let late = forged(signed(&collector, 8 * WINDOW_SLOTS, 1));
        assert!(matches!(submit(late).await, Err(Refusal::TooLate { .. })));
        let held = signed(&collector, current, 2);
        let digest = held.signing_hash(collector.domain());
        collector.store.insert_promise(digest, &held, Source::Sequencer).unwrap();
        assert!(!submit(forged(held)).await.unwrap(), "a held digest adds nothing");

        let fresh = signed(&collector, current, 2);
        assert!(matches!(submit(forged(fresh.clone())).await, Err(Refusal::Signature(_))));
        // Only a promise whose signature verifies goes on to the lookahead (down here).
        assert!(matches!(submit(fresh).await, Err(Refusal::Unavailable(_))));
    }

    #[tokio::test]
    async fn sequencer_endpoints_are_dialled_only_as_the_policy_allows() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let dir = tempfile::tempdir().unwrap();

        let refusing = collector(&dir, 0, EndpointPolicy::default());
        assert!(refusing.poll_endpoint(Slot(3), &endpoint).await, "refused counts as answered");
        assert!(matches!(refusing.sequencer(&endpoint).await, Err(Dial::Refused(_))));
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "a loopback endpoint is never connected to");
        assert!(matches!(refusing.sequencer("ftp://1.1.1.1").await, Err(Dial::Refused(_))));
        drop(refusing);

        let dir = tempfile::tempdir().unwrap();
        let allowing = collector(&dir, 0, EndpointPolicy { allow_private: true, allowed: vec![] });
        let poll = allowing.poll_endpoint(Slot(3), &endpoint);
        let (answered, accepted) = tokio::join!(poll, listener.accept());
        assert!(accepted.is_ok(), "allowed, it is dialled");
        assert!(!answered, "and, not answering, counts as not answered");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_over_its_rate_is_refused_with_its_own_code() {
        let dir = tempfile::tempdir().unwrap();
        let collector = Arc::new(collector(&dir, 0, EndpointPolicy::default()));
        let limits = ClientLimits { per_second: 1, burst: 2, in_flight: 2, max_clients: 10 };
        let (addr, server) = WatchRpc::new(Arc::clone(&collector), limits)
            .serve("127.0.0.1:0".parse().unwrap(), ServerConfig::default(), PeerLimits::DEFAULT)
            .await
            .unwrap();
        let client = HttpClientBuilder::default().build(format!("http://{addr}")).unwrap();
        let promise = forged(signed(&collector, 0, 1));
        let code = |result: Result<bool, ClientError>| match result {
            Err(ClientError::Call(error)) => error.code(),
            other => panic!("refused: {other:?}"),
        };
        assert_eq!(code(client.submit_promise(promise.clone()).await), INVALID_PROMISE);
        assert_eq!(code(client.submit_promise(promise.clone()).await), INVALID_PROMISE);
        assert_eq!(code(client.submit_promise(promise).await), RATE_LIMITED);
        server.stop().unwrap();
    }
}
