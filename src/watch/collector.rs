//! Where the watcher's promises come from, and the check every one passes before it is kept:
//! `watch_submitPromise` (a gateway hands over every promise it returns; anyone may hand over
//! theirs) and the selected sequencers' `preconf_getPromises`, asked once each slot is over.
//!
//! A promise is kept only if the registry could slash it: its signature recovers to its
//! `signer` under the registry's EIP-712 domain on this L1 (a promise signed for another L1
//! or forged is refused), that signer is the one of the record selected for its rollup and
//! slot (asked of the lookahead; of the registry's `sequencerAt` for slots the lookahead no
//! longer serves), and its slot is still inside the slashing window.

use super::{
    api::{INTERNAL, INVALID_PROMISE, UNAVAILABLE, WatchApiServer},
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
        promise::{Promise, PromiseError},
    },
    rpc::{
        api::{BEYOND_HORIZON, LookaheadApiClient, NOT_SYNCED, TOO_OLD, UNKNOWN_ROLLUP},
        error::rpc_error,
        openrpc,
    },
    service::deadline::with_deadline,
};
use alloy_primitives::Address;
use jsonrpsee::{
    core::{RpcResult, async_trait, client::Error as ClientError},
    http_client::{HttpClient, HttpClientBuilder},
    server::ServerHandle,
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

/// Why a promise is not kept.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
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
    sequencers: Mutex<HashMap<String, HttpClient>>,
    /// Endpoints that did not answer, and when to ask them again.
    unresponsive: Mutex<HashMap<String, Instant>>,
}

impl Collector {
    /// A collector checking against `lookahead` and `chain` under `domain`, storing in `store`;
    /// `current` is L1's slot now, `timeout` bounds every request.
    pub fn new(
        domain: RegistryDomain,
        lookahead: HttpClient,
        chain: Chain,
        store: WatchStore,
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

    async fn check_and_store(&self, promise: &Promise, source: Source) -> Result<bool, Refusal> {
        promise.verify(&self.domain, promise.signer).map_err(Refusal::Signature)?;
        let digest = promise.signing_hash(&self.domain);
        if self.store.has_promise(digest)? {
            return Ok(false);
        }
        self.check_window(promise.slot)?;
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
    /// not answer.
    async fn poll_endpoint(&self, slot: Slot, endpoint: &str) -> bool {
        let client = match self.sequencer(endpoint) {
            Ok(client) => client,
            Err(error) => {
                debug!(target: "lookahead::watch", %endpoint, %error, "not a sequencer endpoint");
                return true;
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

    fn sequencer(&self, endpoint: &str) -> Result<HttpClient, ClientError> {
        let mut clients = self.sequencers.lock().expect("not poisoned");
        if let Some(client) = clients.get(endpoint) {
            return Ok(client.clone());
        }
        let client = HttpClientBuilder::default().request_timeout(self.timeout).build(endpoint)?;
        if clients.len() >= 1024 {
            clients.clear();
        }
        clients.insert(endpoint.to_owned(), client.clone());
        Ok(client)
    }
}

/// The `watch_` server.
#[derive(Clone, Debug)]
pub struct WatchRpc {
    collector: Arc<Collector>,
}

impl WatchRpc {
    /// A server handing promises to `collector`.
    pub const fn new(collector: Arc<Collector>) -> Self {
        Self { collector }
    }

    /// Serves `watch_` (and `rpc.discover`) at `addr` until the handle is stopped.
    pub async fn serve(self, addr: SocketAddr) -> std::io::Result<(SocketAddr, ServerHandle)> {
        let module = openrpc::with_discover(self.into_rpc(), &["watch"])?;
        let server = jsonrpsee::server::Server::builder().build(addr).await?;
        let bound = server.local_addr()?;
        Ok((bound, server.start(module)))
    }
}

#[async_trait]
impl WatchApiServer for WatchRpc {
    async fn submit_promise(&self, promise: Promise) -> RpcResult<bool> {
        self.collector.accept(&promise, Source::Submitted).await.map_err(|refusal| refusal.to_rpc())
    }
}
