//! The reference preconf sequencer: serves `preconf_` for the rollups it sequences, asks the
//! lookahead whether its signer is the selected one for a slot, holds locks in a [`LockBook`],
//! signs EIP-712 promises and writes them to a [`PromiseStore`] before returning them.
//!
//! It is a reference: it builds no L2 blocks; `preconf_getPromises(slot)` shows what it owes.

use super::{
    api::*,
    book::{BookError, Caller, Limits, Lock, LockBook, LockId, Reorgable},
    limiter::{ClientLimiter, ClientLimits, Refusal},
    promise::{Promise, PromiseSigner},
    recovery::{RecoveryPool, Unrecovered, recover_senders},
    reorgs::{ReorgEpoch, ReorgWatch},
    store::{PromiseRecord, PromiseStore, PromiseStoreError},
    unix_ms,
};
use crate::{
    core::{
        clock::SlotClock,
        domain::RegistryDomain,
        primitives::{ChainId, Slot},
        schedule::EntryStatus,
    },
    rpc::{
        api::{BEYOND_HORIZON, LookaheadApiClient, NOT_SYNCED, TOO_OLD, UNKNOWN_ROLLUP},
        error::rpc_error as error,
        openrpc,
        peer::{Peer, PeerLimits, serve_with_peers},
    },
};
use alloy::{
    consensus::{Transaction, TxEnvelope},
    eips::Decodable2718,
};
use alloy_primitives::{Address, B256, Bytes};
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
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};
use tracing::{debug, warn};

/// The most transactions one lock (or one leg) may carry.
pub const MAX_TXS_PER_LOCK: usize = 256;

/// How long the lookahead's answer for a slot that is not finalized is reused by locks (while
/// no reorg was reported since). Finalized anchors are reused for as long as the slot is open.
const SCHEDULE_CACHE: Duration = Duration::from_millis(500);

/// The most transactions of one lock whose signatures are recovered on the async workers; a
/// larger lock's go to the [`RecoveryPool`] (a lock of 256 takes milliseconds), so that it does
/// not hold up the answers to others.
const INLINE_RECOVERIES: usize = 16;

/// How many times a confirm asks the lookahead again while reorgs keep being reported.
const RECHECKS: usize = 3;

/// How often lapsed locks are released.
const EXPIRY_TICK: Duration = Duration::from_millis(20);

/// What a sequencer needs to run.
#[derive(Debug)]
pub struct SequencerConfig {
    /// The key registered as `signer` for its records.
    pub signer: PromiseSigner,
    /// The rollups it sequences.
    pub chain_ids: BTreeSet<ChainId>,
    /// The registry and its L1: the promises' EIP-712 domain.
    pub domain: RegistryDomain,
    /// The L1 slot clock.
    pub clock: SlotClock,
    /// Capacity and lock quotas.
    pub limits: Limits,
    /// Signatures one client IP may have recovered: `per_second` and `burst` count transactions
    /// (a lock of 256 costs 256); at least [`MAX_TXS_PER_LOCK`] of burst, or large locks are never
    /// checked.
    pub signatures: ClientLimits,
}

/// Why a sequencer cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SequencerStartError {
    /// The promises of open slots could not be read back.
    #[error(transparent)]
    Store(#[from] PromiseStoreError),
    /// The signature-recovery threads could not start.
    #[error("starting the signature-recovery threads: {0}")]
    Recovery(std::io::Error),
}

/// A running reference sequencer; cheap to clone.
#[derive(Clone, Debug)]
pub struct PreconfSequencer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: SequencerConfig,
    lookahead: HttpClient,
    /// The lookahead's reorgs, as far as they were notified: a confirm asks the lookahead
    /// again only when one may have changed its lock's selection.
    reorgs: ReorgWatch,
    book: Mutex<LockBook>,
    /// Each client IP's budget of signature recoveries.
    signatures: Mutex<ClientLimiter>,
    /// Recovers the signatures of large locks, on half the cores at a lower priority.
    recoveries: RecoveryPool,
    store: PromiseStore,
    selected: Mutex<HashMap<(ChainId, Slot), Selection>>,
    /// The slots whose selection is being asked of the lookahead: the locks of a burst for a
    /// slot not cached yet wait for one answer rather than each asking (one client's burst would
    /// otherwise be as many lookahead calls, all from this sequencer's address).
    fetching: Mutex<HashMap<(ChainId, Slot), Gate>>,
    /// The newest slot whose batch is being posted: no promise is signed for it or an older
    /// one. Promises are signed and stored under the read guard, so sealing (the write guard)
    /// waits for those in flight.
    sealed: tokio::sync::RwLock<Option<Slot>>,
}

/// Held by the one caller asking the lookahead about a slot; the others wait for it.
type Gate = Arc<tokio::sync::Mutex<()>>;

/// The lookahead's answer for a rollup's slot, as far as this sequencer cares.
#[derive(Clone, Copy, Debug)]
struct Selection {
    /// The selected record's operator and signer; `None` when no record is active.
    sequencer: Option<Named>,
    /// The anchor of the slot's window the answer was computed from.
    anchor: B256,
    /// The reorg epoch before the lookahead was asked.
    epoch: Option<ReorgEpoch>,
    /// When the lookahead was asked.
    asked: Instant,
    finalized: bool,
}

/// Who the lookahead names for a slot.
#[derive(Clone, Copy, Debug)]
struct Named {
    operator: Address,
    signer: Address,
}

impl PreconfSequencer {
    /// A sequencer asking `lookahead` for the schedule, told of its reorgs by `reorgs`, and
    /// keeping promises in `store`; the gas of promises for open slots is counted again, and
    /// lapsed locks are released by a background task for as long as the sequencer lives.
    pub fn new(
        config: SequencerConfig,
        lookahead: HttpClient,
        reorgs: ReorgWatch,
        store: PromiseStore,
    ) -> Result<Self, SequencerStartError> {
        let mut book = LockBook::new(config.limits);
        let signatures = config.signatures;
        let current = current_slot(&config.clock);
        for record in store.from_slot(current)? {
            let promise = &record.promise;
            book.add_promised(promise.chain_id, promise.slot, record.gas, &promise.tx_hashes);
        }
        let inner = Arc::new(Inner {
            config,
            lookahead,
            reorgs,
            book: Mutex::new(book),
            signatures: Mutex::new(ClientLimiter::new(signatures)),
            recoveries: RecoveryPool::half_the_cores().map_err(SequencerStartError::Recovery)?,
            store,
            selected: Mutex::new(HashMap::new()),
            fetching: Mutex::new(HashMap::new()),
            sealed: tokio::sync::RwLock::new(None),
        });
        tokio::spawn(expire_locks(Arc::downgrade(&inner)));
        Ok(Self { inner })
    }

    /// The signer's address.
    pub fn address(&self) -> Address {
        self.inner.config.signer.address()
    }

    /// The L1 slot clock.
    pub(crate) fn clock(&self) -> SlotClock {
        self.inner.config.clock
    }

    /// The rollups it sequences.
    pub(crate) fn chain_ids(&self) -> impl Iterator<Item = ChainId> + '_ {
        self.inner.config.chain_ids.iter().copied()
    }

    /// Its lookahead client.
    pub(crate) fn lookahead(&self) -> &HttpClient {
        &self.inner.lookahead
    }

    /// The registry it is registered in.
    pub(crate) fn registry(&self) -> Address {
        self.inner.config.domain.registry
    }

    /// The promises issued for `slot`, in the order they were stored.
    pub(crate) fn promises(&self, slot: Slot) -> Result<Vec<PromiseRecord>, PromiseStoreError> {
        self.inner.store.by_slot(slot)
    }

    /// Stops promising `slot` and older slots, once the promises being signed are stored.
    pub(crate) async fn seal(&self, slot: Slot) {
        let mut sealed = self.inner.sealed.write().await;
        *sealed = (*sealed).max(Some(slot));
    }

    /// Serves `preconf_` on `addr` (HTTP and WebSocket) within `limits`, with `rpc.discover`;
    /// quotas are kept per client IP, each of which holds at most `peers` of the server.
    pub async fn serve(
        self,
        addr: SocketAddr,
        limits: ServerConfig,
        peers: PeerLimits,
    ) -> std::io::Result<(SocketAddr, ServerHandle)> {
        let module = openrpc::with_discover(self.into_rpc(), &["preconf"])?;
        serve_with_peers(addr, limits, peers, module).await
    }
}

impl Inner {
    fn check_chain(&self, chain_id: ChainId) -> RpcResult<()> {
        if !self.config.chain_ids.contains(&chain_id) {
            return Err(error(
                NOT_SERVED,
                format!("this sequencer does not serve rollup {chain_id}"),
            ));
        }
        Ok(())
    }

    fn check_slot(&self, slot: Slot) -> RpcResult<()> {
        let current = current_slot(&self.config.clock);
        if slot < current {
            return Err(error(SLOT_PAST, format!("slot {slot} has passed (now {current})")));
        }
        Ok(())
    }

    /// The selection of the slot as last answered, if recent enough to reuse: for as long as
    /// the slot is open once its anchor is final, else for [`SCHEDULE_CACHE`] unless a reorg
    /// was reported since.
    fn cached_selection(&self, chain_id: ChainId, slot: Slot) -> Option<Selection> {
        let cache = self.selected.lock().expect("not poisoned");
        cache.get(&(chain_id, slot)).copied().filter(|hit| {
            let unchanged = match hit.epoch {
                Some(epoch) => self.reorgs.unchanged_since(epoch),
                // Read while no reorg was followed: good only while none is followed yet.
                None => self.reorgs.epoch().is_none(),
            };
            hit.finalized || (hit.asked.elapsed() < SCHEDULE_CACHE && unchanged)
        })
    }

    /// [`Self::fetch_selection`], once for all the callers that ask for the same slot at once.
    async fn fetch_selection_once(&self, chain_id: ChainId, slot: Slot) -> RpcResult<Selection> {
        let key = (chain_id, slot);
        let gate = Arc::clone(self.fetching.lock().expect("not poisoned").entry(key).or_default());
        let turn = gate.lock().await;
        let selection = match self.cached_selection(chain_id, slot) {
            Some(hit) => Ok(hit),
            None => self.fetch_selection(chain_id, slot).await,
        };
        drop(turn);
        let mut fetching = self.fetching.lock().expect("not poisoned");
        // Only the map's reference and this one left: nobody waits, forget the gate.
        if Arc::strong_count(&gate) <= 2 {
            fetching.remove(&key);
        }
        selection
    }

    /// Asks the lookahead who sequences the slot, and caches the answer.
    async fn fetch_selection(&self, chain_id: ChainId, slot: Slot) -> RpcResult<Selection> {
        let epoch = self.reorgs.epoch();
        let asked = Instant::now();
        let entry = self
            .lookahead
            .get_sequencer(chain_id, slot.0)
            .await
            .map_err(|e| lookahead_error(chain_id, slot, e))?;
        let selection = Selection {
            sequencer: entry
                .sequencer
                .as_ref()
                .map(|s| Named { operator: s.operator, signer: s.signer }),
            anchor: entry.anchor.hash,
            epoch,
            asked,
            finalized: entry.status == EntryStatus::Finalized,
        };
        // An answer to an older question that arrives late does not replace a newer one.
        let mut cache = self.selected.lock().expect("not poisoned");
        let cached = cache.entry((chain_id, slot)).or_insert(selection);
        if cached.asked < asked {
            *cached = selection;
        }
        Ok(selection)
    }

    /// Asks the lookahead (or its recent answer, unless `fresh`) whether this signer sequences
    /// the slot; returns what the answer rests on, `None` when the slot's anchor is final.
    async fn check_selected(
        &self,
        chain_id: ChainId,
        slot: Slot,
        fresh: bool,
    ) -> RpcResult<Option<Reorgable>> {
        let selection = match self.cached_selection(chain_id, slot) {
            Some(hit) if hit.finalized || !fresh => hit,
            _ if fresh => self.fetch_selection(chain_id, slot).await?,
            _ => self.fetch_selection_once(chain_id, slot).await?,
        };
        let me = self.config.signer.address();
        match selection.sequencer {
            Some(named) if named.signer == me => Ok((!selection.finalized)
                .then_some(Reorgable { anchor: selection.anchor, epoch: selection.epoch })),
            Some(Named { operator, signer }) => Err(error(
                NOT_SELECTED,
                format!(
                    "slot {slot} of rollup {chain_id} is sequenced by operator {operator} (signer {signer}), not by signer {me}"
                ),
            )),
            None => Err(error(
                NOT_SELECTED,
                format!("no sequencer is active for rollup {chain_id} in slot {slot}"),
            )),
        }
    }

    /// Checks one leg and returns what its lock holds.
    async fn check_leg(
        &self,
        caller: Caller,
        chain_id: ChainId,
        slot: Slot,
        txs: &[Bytes],
        bundle_id: B256,
        ttl: Duration,
    ) -> RpcResult<Lock> {
        self.check_chain(chain_id)?;
        self.check_slot(slot)?;
        // A lock whose signatures the client's budget cannot pay for now is refused before its
        // transactions are even decoded (up to 256 of them): refusing it later costs the same.
        let cost = u32::try_from(txs.len()).unwrap_or(u32::MAX);
        ClientLimiter::affords(&self.signatures, caller.0, Instant::now(), cost)
            .map_err(over_budget)?;
        let decoded = decode_txs(chain_id, txs)?;
        let mut lock = Lock {
            chain_id,
            slot,
            tx_hashes: decoded.iter().map(|tx| *tx.tx_hash()).collect(),
            senders: Vec::new(),
            gas: decoded.iter().fold(0u64, |gas, tx| gas.saturating_add(tx.gas_limit())),
            bundle_id,
            caller,
            reorgable: None,
            expires_at: Instant::now() + ttl,
        };
        // The cheap refusals first: duplicates, quotas and capacity, then the selection (one
        // lookahead call at most), and only then the signatures.
        self.book
            .lock()
            .expect("not poisoned")
            .precheck(Instant::now(), &lock)
            .map_err(book_error)?;
        lock.reorgable = self.check_selected(chain_id, slot, false).await?;
        // Last, within the client's budget of signature recoveries: a lock of many transactions
        // that the senders' quota then refuses costs the most to refuse.
        let _checking =
            ClientLimiter::admit_costing(&self.signatures, caller.0, Instant::now(), cost)
                .map_err(over_budget)?;
        let per_sender = self.config.limits.sender_txs_per_slot;
        lock.senders = match senders_of(decoded, per_sender, &self.recoveries).await? {
            Ok(senders) => senders,
            Err(Unrecovered::Invalid { index, error: e }) => {
                return Err(error(INVALID_TX, format!("tx {index} has an invalid signature: {e}")));
            }
            Err(Unrecovered::OverQuota { sender, limit }) => {
                return Err(book_error(BookError::SenderQuota { chain_id, slot, sender, limit }));
            }
        };
        Ok(lock)
    }

    /// Re-checks a taken lock's selection with a fresh answer of the lookahead when a reorg
    /// since the selection was read may have replaced the slot's anchor and handed the slot to
    /// another sequencer: not when the anchor was final then, nor while the lookahead's reorg
    /// notifications, followed since before the selection was read, reported none. A reorg
    /// reported while the lookahead is asked again means asking once more, a few times at most.
    async fn recheck_selected(&self, lock: &Lock) -> RpcResult<()> {
        let Some(Reorgable { anchor, epoch }) = lock.reorgable else { return Ok(()) };
        if epoch.is_some_and(|epoch| self.reorgs.unchanged_since(epoch)) {
            return Ok(());
        }
        let (chain_id, slot) = (lock.chain_id, lock.slot);
        for _ in 0..RECHECKS {
            let now = self.check_selected(chain_id, slot, true).await?;
            debug!(%chain_id, %slot, locked_on = %anchor, now_on = ?now.map(|r| r.anchor), "re-checked");
            match now {
                Some(Reorgable { epoch: Some(epoch), .. })
                    if !self.reorgs.unchanged_since(epoch) => {}
                _ => return Ok(()),
            }
        }
        Err(error(
            LOOKAHEAD_UNAVAILABLE,
            format!("reorgs keep changing slot {slot} of rollup {chain_id}: try again"),
        ))
    }

    /// Gives the gas of taken locks back: they will not be promised.
    fn give_back(&self, locks: &[(LockId, Lock)]) {
        let mut book = self.book.lock().expect("not poisoned");
        for (_, lock) in locks {
            book.forget_promised(lock);
        }
    }

    /// Signs and durably stores promises for taken locks; gives their gas back if storing fails
    /// or a slot's batch is being posted already.
    async fn promise(&self, locks: Vec<(LockId, Lock)>) -> RpcResult<Vec<Promise>> {
        let sealed = self.sealed.read().await;
        if let Some(lock) =
            locks.iter().map(|(_, lock)| lock).find(|lock| Some(lock.slot) <= *sealed)
        {
            let slot = lock.slot;
            self.give_back(&locks);
            return Err(error(
                SLOT_PAST,
                format!("slot {slot} has passed: its batch is being posted"),
            ));
        }
        let records: Vec<PromiseRecord> = locks
            .iter()
            .map(|(lock_id, lock)| PromiseRecord {
                lock_id: *lock_id,
                gas: lock.gas,
                promise: Promise::sign(
                    &self.config.signer,
                    &self.config.domain,
                    lock.chain_id,
                    lock.slot,
                    lock.tx_hashes.clone(),
                    lock.bundle_id,
                ),
            })
            .collect();
        if let Err(e) = self.store.insert(records.clone()).await {
            self.give_back(&locks);
            warn!(error = %e, "a promise could not be stored; not issued");
            return Err(error(INTERNAL, format!("the promise could not be stored: {e}")));
        }
        drop(sealed);
        Ok(records.into_iter().map(|record| record.promise).collect())
    }
}

#[async_trait]
impl PreconfApiServer for PreconfSequencer {
    async fn lock(&self, ext: &Extensions, request: LockRequest) -> RpcResult<LockReceipt> {
        let inner = &self.inner;
        let ttl = ttl(request.ttl_ms)?;
        let lock = inner
            .check_leg(
                caller(ext),
                request.chain_id,
                request.slot,
                &request.txs,
                request.bundle_id,
                ttl,
            )
            .await?;
        let lock_id = LockId::random();
        inner
            .book
            .lock()
            .expect("not poisoned")
            .lock(Instant::now(), lock_id, lock)
            .map_err(book_error)?;
        debug!(%lock_id, chain_id = %request.chain_id, slot = %request.slot, "locked");
        Ok(LockReceipt { lock_id, expires_at: unix_ms() + ttl.as_millis() as u64 })
    }

    async fn confirm(&self, lock_id: LockId) -> RpcResult<Promise> {
        let inner = &self.inner;
        let taken = inner.book.lock().expect("not poisoned").take(Instant::now(), lock_id);
        match taken {
            Ok(lock) => {
                let checked = match inner.check_slot(lock.slot) {
                    Ok(()) => inner.recheck_selected(&lock).await,
                    Err(passed) => Err(passed),
                };
                if let Err(refusal) = checked {
                    inner.book.lock().expect("not poisoned").forget_promised(&lock);
                    return Err(refusal);
                }
                let mut promises = inner.promise(vec![(lock_id, lock)]).await?;
                Ok(promises.remove(0))
            }
            // Not open: confirmed before (perhaps before a restart), expired, or unknown.
            Err(refusal) => match inner.store.get(lock_id).map_err(internal)? {
                Some(record) => Ok(record.promise),
                None => Err(book_error(refusal)),
            },
        }
    }

    async fn release(&self, lock_id: LockId) -> RpcResult<bool> {
        Ok(self.inner.book.lock().expect("not poisoned").release(lock_id))
    }

    async fn get_promises(&self, slot: Slot) -> RpcResult<Vec<Promise>> {
        let records = self.inner.store.by_slot(slot).map_err(internal)?;
        Ok(records.into_iter().map(|record| record.promise).collect())
    }

    async fn lock_and_confirm(
        &self,
        ext: &Extensions,
        request: CommitRequest,
    ) -> RpcResult<Vec<Promise>> {
        let inner = &self.inner;
        if request.legs.is_empty() {
            return Err(error(INVALID_TX, "a bundle needs at least one leg"));
        }
        let ttl = ttl(None)?;
        let mut locks = Vec::with_capacity(request.legs.len());
        for leg in &request.legs {
            let lock = inner
                .check_leg(
                    caller(ext),
                    leg.chain_id,
                    request.slot,
                    &leg.txs,
                    request.bundle_id,
                    ttl,
                )
                .await?;
            locks.push((LockId::random(), lock));
        }
        let ids: Vec<LockId> = locks.iter().map(|(lock_id, _)| *lock_id).collect();
        let taken = {
            let mut book = inner.book.lock().expect("not poisoned");
            let now = Instant::now();
            book.lock_all(now, locks).map_err(book_error)?;
            ids.into_iter()
                .map(|lock_id| Ok((lock_id, book.take(now, lock_id).map_err(book_error)?)))
                .collect::<RpcResult<Vec<_>>>()?
        };
        // A reorg reported while the legs were checked: as at confirm.
        for (_, lock) in &taken {
            if let Err(refusal) = inner.recheck_selected(lock).await {
                inner.give_back(&taken);
                return Err(refusal);
            }
        }
        inner.promise(taken).await
    }
}

/// Releases lapsed locks and forgets passed slots until the sequencer is dropped.
async fn expire_locks(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(EXPIRY_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let current = current_slot(&inner.config.clock);
        let mut book = inner.book.lock().expect("not poisoned");
        book.expire(Instant::now());
        book.prune_before(current);
        drop(book);
        inner.selected.lock().expect("not poisoned").retain(|(_, slot), _| *slot >= current);
    }
}

/// Decodes the txs of one leg: each an EIP-2718 transaction for `chain_id`, nothing after it.
/// Signatures are not recovered here (see [`senders_of`]): that is the expensive part.
fn decode_txs(chain_id: ChainId, txs: &[Bytes]) -> RpcResult<Vec<TxEnvelope>> {
    if txs.is_empty() || txs.len() > MAX_TXS_PER_LOCK {
        return Err(error(
            INVALID_TX,
            format!("a lock carries 1 to {MAX_TXS_PER_LOCK} transactions, got {}", txs.len()),
        ));
    }
    let mut decoded = Vec::with_capacity(txs.len());
    for (index, raw) in txs.iter().enumerate() {
        let mut bytes = raw.as_ref();
        let tx = TxEnvelope::decode_2718(&mut bytes)
            .map_err(|e| error(INVALID_TX, format!("tx {index} does not decode: {e}")))?;
        if !bytes.is_empty() {
            return Err(error(
                INVALID_TX,
                format!("tx {index} has {} trailing bytes", bytes.len()),
            ));
        }
        match tx.chain_id() {
            Some(id) if ChainId::from(id) == chain_id => {}
            Some(id) => {
                return Err(error(
                    WRONG_CHAIN,
                    format!("tx {index} is for chain {}, not {chain_id}", ChainId::from(id)),
                ));
            }
            None => {
                return Err(error(
                    WRONG_CHAIN,
                    format!("tx {index} has no chain id (pre-EIP-155)"),
                ));
            }
        }
        decoded.push(tx);
    }
    Ok(decoded)
}

/// [`recover_senders`] of decoded txs: on the async worker for at most [`INLINE_RECOVERIES`]
/// transactions, by `pool` for more.
async fn senders_of(
    txs: Vec<TxEnvelope>,
    per_sender: usize,
    pool: &RecoveryPool,
) -> RpcResult<Result<Vec<Address>, Unrecovered>> {
    if txs.len() <= INLINE_RECOVERIES {
        Ok(recover_senders(&txs, per_sender))
    } else {
        pool.recover(txs, per_sender).await.map_err(|e| error(INTERNAL, e.to_string()))
    }
}

fn ttl(ttl_ms: Option<u64>) -> RpcResult<Duration> {
    match ttl_ms.unwrap_or(DEFAULT_TTL_MS) {
        ms @ 1..=MAX_TTL_MS => Ok(Duration::from_millis(ms)),
        ms => Err(error(BAD_TTL, format!("ttlMs {ms} is out of range 1..={MAX_TTL_MS}"))),
    }
}

/// The caller, as far as quotas go: the client's IP address.
fn caller(ext: &Extensions) -> Caller {
    Caller(Peer::of(ext).0)
}

fn current_slot(clock: &SlotClock) -> Slot {
    clock.slot_at(unix_ms() / 1000).unwrap_or_default()
}

fn internal(e: PromiseStoreError) -> ErrorObjectOwned {
    error(INTERNAL, format!("storage: {e}"))
}

/// A lock refused by the client's budget of signature checks.
fn over_budget(refusal: Refusal) -> ErrorObjectOwned {
    error(QUOTA, format!("signature checks: {refusal}"))
}

fn book_error(e: BookError) -> ErrorObjectOwned {
    let code = match e {
        BookError::Capacity { .. } => CAPACITY,
        BookError::CallerQuota(_)
        | BookError::TotalQuota(_)
        | BookError::CallerSlotGas { .. }
        | BookError::SenderQuota { .. } => QUOTA,
        BookError::Duplicate { .. } => DUPLICATE_TX,
        BookError::Expired(_) => LOCK_EXPIRED,
        BookError::Unknown(_) => UNKNOWN_LOCK,
    };
    error(code, e.to_string())
}

fn lookahead_error(chain_id: ChainId, slot: Slot, e: ClientError) -> ErrorObjectOwned {
    match e {
        ClientError::Call(call) => match call.code() {
            BEYOND_HORIZON => error(
                SLOT_BEYOND_HORIZON,
                format!("slot {slot} is beyond the lookahead's horizon: {}", call.message()),
            ),
            TOO_OLD => error(SLOT_PAST, format!("slot {slot} has passed: {}", call.message())),
            UNKNOWN_ROLLUP => error(
                NOT_SELECTED,
                format!("the lookahead does not know rollup {chain_id}: {}", call.message()),
            ),
            NOT_SYNCED => error(
                LOOKAHEAD_UNAVAILABLE,
                format!("the lookahead is not synced: {}", call.message()),
            ),
            _ => error(LOOKAHEAD_UNAVAILABLE, format!("the lookahead refused: {}", call.message())),
        },
        other => error(LOOKAHEAD_UNAVAILABLE, format!("the lookahead cannot be asked: {other}")),
    }
}
