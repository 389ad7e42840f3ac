//! The block source for any Ethereum node (geth, nethermind, anvil, reth) over JSON-RPC: it
//! turns the node's canonical chain into engine [`Notification`]s.
//!
//! Each round reads the node's head; if the block at the engine's head number has another hash
//! the node reorganised, and the follower walks back through its undo journal to the fork point
//! and sends `Reorged { old, new }`. New blocks are fetched in batches of headers, with the
//! registry's logs of the whole batch in one `eth_getLogs` filtered by the registry address;
//! each batch is committed to the store before the next is fetched. Finality comes from the
//! node's `safe` and `finalized` tags. Every call has a timeout; failed rounds are retried with
//! backoff while the RPC keeps serving the last state, marked stale.

use crate::{
    core::{
        clock::SlotClock,
        contract::SequencerRegistry,
        engine::{BlockRef, EngineError, Finality},
        journal::Head,
        notification::{Block, Chain, ChainError, Notification},
    },
    service::{
        deadline::with_deadline,
        metrics,
        shared::{SharedEngine, SharedError},
    },
    store::{Store, StoreError},
};
use alloy::{
    eips::BlockNumberOrTag,
    network::TransactionBuilder,
    providers::{DynProvider, Provider},
    rpc::types::{Filter, Header, TransactionRequest},
    transports::TransportError,
};
use alloy_primitives::{Address, B256, BlockNumber, Bloom, BloomInput};
use alloy_sol_types::SolCall;
use futures::{StreamExt, TryStreamExt, stream};
use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};
use tracing::{debug, info, warn};

/// Headers fetched per batch (and per notification while catching up).
pub const BATCH_BLOCKS: u64 = 256;
/// Blocks per `eth_getLogs` while skipping finalized history (halved when a node refuses).
const LOG_RANGE: u64 = 10_000;
/// Windows before the node's head that are always processed block by block: enough for every
/// served window to get its anchor from real blocks (served windows reach two back).
const TAIL_WINDOWS: u64 = 5;
/// Header requests in flight at once.
const CONCURRENT_REQUESTS: usize = 16;
/// The longest wait between retries after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why a sync round failed.
#[derive(Debug, thiserror::Error)]
pub enum FollowerError {
    /// The node did not answer or answered with an error.
    #[error("node request failed ({what}): {source}")]
    Node {
        /// The request.
        what: &'static str,
        /// The transport's error.
        source: TransportError,
    },
    /// The node did not answer in time.
    #[error("node request timed out ({what}) after {timeout:?}")]
    Timeout {
        /// The request.
        what: &'static str,
        /// The limit.
        timeout: Duration,
    },
    /// The node does not know a block below its head.
    #[error("node has no block {0}")]
    MissingBlock(BlockNumber),
    /// The node reorganised below everything the engine can revert: its finalized block, or
    /// deeper than `--max-reorg-depth`. Recovery: stop, remove the database
    /// (`<datadir>/lookahead.redb`) and start again; the follower re-syncs the registry from
    /// the node's finalized history.
    #[error(
        "node's chain diverges below the engine's undo journal (at or before block {0}): a reorg \
         deeper than --max-reorg-depth or below finality; remove <datadir>/lookahead.redb and \
         restart to re-sync"
    )]
    DeepReorg(BlockNumber),
    /// The node reports a block number that leaves no room for the next one.
    #[error("node reports block number {0}, at the end of the number space")]
    NumberOverflow(BlockNumber),
    /// Blocks that should link do not (a bug in the node or here).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The registry could not be read, or is not a `SequencerRegistry`.
    #[error("registry: {0}")]
    Registry(String),
    /// The engine refused a notification.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The store failed; the engine was reloaded at its last durable head.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SharedError> for FollowerError {
    fn from(error: SharedError) -> Self {
        match error {
            SharedError::Engine(error) => Self::Engine(error),
            SharedError::Store(error) => Self::Store(error),
        }
    }
}

/// What a sync round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncProgress {
    /// Blocks applied.
    pub applied: u64,
    /// Blocks reverted by a reorg.
    pub reverted: u64,
    /// The node's head when the round started.
    pub node_head: BlockNumber,
}

/// Follows one node into a [`SharedEngine`] and its [`Store`].
#[derive(Debug)]
pub struct Follower {
    provider: DynProvider,
    shared: Arc<SharedEngine>,
    store: Store,
    registry: Address,
    start_block: BlockNumber,
    timeout: Duration,
}

impl Follower {
    /// A follower of `provider` starting at `start_block` (the registry's deployment, unless the
    /// store already holds a head), with `timeout` on every request.
    pub fn new(
        provider: DynProvider,
        shared: Arc<SharedEngine>,
        store: Store,
        start_block: BlockNumber,
        timeout: Duration,
    ) -> Self {
        let registry = shared.read().config().registry;
        Self { provider, shared, store, registry, start_block, timeout }
    }

    /// Follows the node until `shutdown` resolves: a sync round, then a wait for the next head
    /// (a new-heads subscription on WebSocket, else `poll`). Failures are logged and retried
    /// with backoff; meanwhile the shared engine is marked stale.
    pub async fn run(mut self, poll: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut heads = match self.provider.subscribe_blocks().await {
            Ok(subscription) => Some(subscription.into_stream()),
            Err(error) => {
                debug!(target: "lookahead::follower", %error, "no new-heads subscription: polling");
                None
            }
        };
        let mut backoff = Duration::ZERO;
        loop {
            let wait = match self.sync().await {
                Ok(()) => {
                    self.shared.set_stale(false);
                    backoff = Duration::ZERO;
                    poll
                }
                Err(error) => {
                    self.shared.set_stale(true);
                    backoff = (backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                    warn!(target: "lookahead::follower", %error, retry_in = ?backoff, "sync failed");
                    backoff
                }
            };
            let next_head = async {
                match heads.as_mut() {
                    Some(heads) if backoff.is_zero() => {
                        let _ = tokio::time::timeout(wait, heads.next()).await;
                    }
                    _ => tokio::time::sleep(wait).await,
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = next_head => {}
            }
        }
    }

    /// Catches up with the node's head (in batches) and its finality.
    pub async fn sync(&mut self) -> Result<(), FollowerError> {
        self.skip_finalized_history().await?;
        loop {
            let progress = self.sync_batch().await?;
            let head = self.shared.read().head().map_or(0, |h| h.number);
            if progress.applied == 0 || head >= progress.node_head {
                break;
            }
        }
        self.sync_finality().await
    }

    /// One batch: detects a reorg, fetches up to [`BATCH_BLOCKS`] new blocks and applies them
    /// as one notification, committed before it returns.
    pub async fn sync_batch(&mut self) -> Result<SyncProgress, FollowerError> {
        let node_head = self.call("eth_blockNumber", self.provider.get_block_number()).await?;
        let head = self.shared.read().head().copied();
        let (old, first) = match head {
            None => (Vec::new(), self.start_block),
            Some(head) => {
                let next =
                    head.number.checked_add(1).ok_or(FollowerError::NumberOverflow(head.number))?;
                match self.header(head.number).await? {
                    Some(header) if header.hash == head.hash => (Vec::new(), next),
                    _ => {
                        let old = self.diverged().await?;
                        let first = old.first().map_or(next, |b| b.number);
                        (old, first)
                    }
                }
            }
        };
        let progress = SyncProgress { applied: 0, reverted: old.len() as u64, node_head };
        metrics::record_lag(node_head, head.map_or(0, |h| h.number));
        if first > node_head {
            if !old.is_empty() {
                self.apply(Notification::Reverted { old: Arc::new(Chain::new(old)?) })?;
            }
            return Ok(progress);
        }
        let last = node_head.min(first.saturating_add(BATCH_BLOCKS - 1));
        if first < node_head {
            info!(target: "lookahead::follower", from = first, to = last, node_head, "fetching blocks");
        }
        let Some(new) = self.blocks(first, last).await? else {
            debug!(target: "lookahead::follower", first, last, "node changed during the fetch; retrying");
            return Ok(progress);
        };
        let applied = new.len() as u64;
        let new = Arc::new(Chain::new(new)?);
        let notification = if old.is_empty() {
            Notification::Committed { new }
        } else {
            let old = Arc::new(Chain::new(old)?);
            warn!(
                target: "lookahead::follower",
                depth = old.blocks().len(), fork = first.saturating_sub(1), "reorg"
            );
            Notification::Reorged { old, new }
        };
        self.apply(notification)?;
        Ok(SyncProgress { applied, ..progress })
    }

    /// When far behind, applies the registry's logs of finalized history from `eth_getLogs`
    /// ranges and fetches a single header, instead of every block: only the last
    /// `TAIL_WINDOWS` windows before the node's head are then processed block by block.
    /// Needs a node that reports a finalized block, and an engine with nothing unfinalized.
    pub async fn skip_finalized_history(&mut self) -> Result<(), FollowerError> {
        let (first, window_slots, journal_empty) = {
            let engine = self.shared.read();
            let first =
                engine.head().map_or(self.start_block, |head| head.number.saturating_add(1));
            let journal_empty = engine.state().journal.entries().len() == 0;
            (first, engine.config().clock.window_slots(), journal_empty)
        };
        let Some(finalized) = self.tagged(BlockNumberOrTag::Finalized).await else { return Ok(()) };
        let node_head = self.call("eth_blockNumber", self.provider.get_block_number()).await?;
        let tail = TAIL_WINDOWS * window_slots;
        let target = finalized.number.min(node_head.saturating_sub(tail));
        if !journal_empty || target < first.saturating_add(tail) {
            return Ok(());
        }
        let mut logs = Vec::new();
        let mut from = first;
        let mut range = LOG_RANGE;
        while from <= target {
            let to = target.min(from.saturating_add(range - 1));
            let filter = Filter::new().address(self.registry).from_block(from).to_block(to);
            match self.call("eth_getLogs", self.provider.get_logs(&filter)).await {
                Ok(batch) => {
                    info!(target: "lookahead::follower", from, to, target, events = batch.len(), "skipping finalized history");
                    logs.extend(
                        batch.into_iter().filter_map(|log| Some((log.block_number?, log.inner))),
                    );
                    let Some(next) = to.checked_add(1) else { break };
                    from = next;
                }
                Err(error) if range > 1 => {
                    debug!(target: "lookahead::follower", %error, range, "narrowing the log range");
                    range /= 2;
                }
                Err(error) => return Err(error),
            }
        }
        let header = self.header(target).await?.ok_or(FollowerError::MissingBlock(target))?;
        let to = Head {
            number: header.number,
            hash: header.hash,
            timestamp: header.timestamp,
            prevrandao: header.mix_hash,
        };
        self.shared.fast_forward(
            to,
            logs.iter().map(|(block, log)| (*block, log)),
            &mut self.store,
        )?;
        info!(target: "lookahead::follower", number = to.number, "skipped to a finalized block");
        Ok(())
    }

    /// Reads the node's safe and finalized blocks and hands them to the engine. A finalized
    /// block that contradicts the chain the node served is logged and ignored: nothing is
    /// pruned, so the next rounds can still follow the node to its real chain.
    pub async fn sync_finality(&mut self) -> Result<(), FollowerError> {
        let safe = self.tagged(BlockNumberOrTag::Safe).await;
        let finalized = self.tagged(BlockNumberOrTag::Finalized).await;
        match self.shared.set_finality(Finality { safe, finalized }, &mut self.store) {
            Err(SharedError::Engine(error @ EngineError::FinalizedMismatch { .. })) => {
                warn!(target: "lookahead::follower", %error, "the node's finality contradicts its chain");
                Ok(())
            }
            result => Ok(result?),
        }
    }

    fn apply(&mut self, notification: Notification) -> Result<(), FollowerError> {
        self.shared.apply(&notification, &mut self.store)?;
        Ok(())
    }

    /// The engine's blocks that are no longer canonical, oldest first, as revertable blocks.
    async fn diverged(&self) -> Result<Vec<Block>, FollowerError> {
        let (journal, base): (Vec<Head>, Option<Head>) = {
            let engine = self.shared.read();
            let journal = engine.state().journal.entries().map(|entry| entry.head).collect();
            (journal, engine.state().journal.base().copied())
        };
        let mut keep = journal.len();
        while keep > 0 {
            let ours = journal[keep - 1];
            if self.header(ours.number).await?.is_some_and(|h| h.hash == ours.hash) {
                break;
            }
            keep -= 1;
        }
        if keep == 0
            && let Some(base) = base
            && self.header(base.number).await?.is_none_or(|h| h.hash != base.hash)
        {
            return Err(FollowerError::DeepReorg(base.number));
        }
        let mut parent = keep.checked_sub(1).map(|i| journal[i].hash).or(base.map(|b| b.hash));
        Ok(journal[keep..]
            .iter()
            .map(|head| {
                let block = Block {
                    number: head.number,
                    hash: head.hash,
                    parent_hash: parent.unwrap_or_default(),
                    timestamp: head.timestamp,
                    prevrandao: head.prevrandao,
                    logs_bloom: Bloom::ZERO,
                    logs: Vec::new(),
                };
                parent = Some(head.hash);
                block
            })
            .collect())
    }

    /// Blocks `first..=last` with the registry's logs; `None` if the node's chain changed
    /// while they were fetched (a gap in the parent links, or logs of another fork).
    async fn blocks(
        &self,
        first: BlockNumber,
        last: BlockNumber,
    ) -> Result<Option<Vec<Block>>, FollowerError> {
        let headers: Vec<Option<Header>> = stream::iter(first..=last)
            .map(|number| self.header(number))
            .buffered(CONCURRENT_REQUESTS)
            .try_collect()
            .await?;
        let mut blocks = Vec::with_capacity(headers.len());
        for (number, header) in (first..=last).zip(headers) {
            let header = header.ok_or(FollowerError::MissingBlock(number))?;
            blocks.push(Block {
                number: header.number,
                hash: header.hash,
                parent_hash: header.parent_hash,
                timestamp: header.timestamp,
                prevrandao: header.mix_hash,
                logs_bloom: header.logs_bloom,
                logs: Vec::new(),
            });
        }
        if blocks.windows(2).any(|pair| pair[1].parent_hash != pair[0].hash) {
            return Ok(None);
        }
        let bloom = BloomInput::Raw(self.registry.as_slice());
        if blocks.iter().any(|block| block.logs_bloom.contains_input(bloom)) {
            let filter = Filter::new().address(self.registry).from_block(first).to_block(last);
            let logs = self.call("eth_getLogs", self.provider.get_logs(&filter)).await?;
            let index: HashMap<B256, usize> =
                blocks.iter().enumerate().map(|(i, block)| (block.hash, i)).collect();
            for log in logs {
                match log.block_hash.and_then(|hash| index.get(&hash)) {
                    Some(&i) => blocks[i].logs.push(log.inner),
                    None => return Ok(None),
                }
            }
        }
        Ok(Some(blocks))
    }

    async fn header(&self, number: BlockNumber) -> Result<Option<Header>, FollowerError> {
        let block = self
            .call(
                "eth_getBlockByNumber",
                self.provider.get_block_by_number(number.into()).into_future(),
            )
            .await?;
        Ok(block.map(|block| block.header))
    }

    /// The block the node tags `tag`, if it has one (nodes without finality answer none).
    async fn tagged(&self, tag: BlockNumberOrTag) -> Option<BlockRef> {
        let block = self.provider.get_block_by_number(tag).into_future();
        match tokio::time::timeout(self.timeout, block).await {
            Ok(Ok(Some(block))) => {
                Some(BlockRef { number: block.header.number, hash: block.header.hash })
            }
            Ok(Ok(None)) => None,
            Ok(Err(error)) => {
                debug!(target: "lookahead::follower", ?tag, %error, "no tagged block");
                None
            }
            Err(_) => None,
        }
    }

    async fn call<T>(
        &self,
        what: &'static str,
        request: impl IntoFuture<Output = Result<T, TransportError>>,
    ) -> Result<T, FollowerError> {
        request_with_timeout(what, self.timeout, request).await
    }
}

/// Awaits a node request for at most `timeout`, naming it in the error.
async fn request_with_timeout<T>(
    what: &'static str,
    timeout: Duration,
    request: impl IntoFuture<Output = Result<T, TransportError>>,
) -> Result<T, FollowerError> {
    let request = async { request.await.map_err(|source| FollowerError::Node { what, source }) };
    with_deadline(timeout, request, || FollowerError::Timeout { what, timeout }).await
}

/// A provider for the node at `url`: `http(s)://` polls, `ws(s)://` also subscribes to heads.
pub async fn connect(url: &str) -> Result<DynProvider, TransportError> {
    Ok(alloy::providers::ProviderBuilder::new().connect(url).await?.erased())
}

/// Reads the registry's time base (`genesisTime`, `slotSeconds`, `windowSlots`) from the node,
/// so off-chain slots can never differ from the contract's.
pub async fn read_clock(
    provider: &DynProvider,
    registry: Address,
    timeout: Duration,
) -> Result<SlotClock, FollowerError> {
    let genesis_time =
        view(provider, registry, SequencerRegistry::genesisTimeCall {}, timeout).await?;
    let slot_seconds =
        view(provider, registry, SequencerRegistry::slotSecondsCall {}, timeout).await?;
    let window_slots =
        view(provider, registry, SequencerRegistry::windowSlotsCall {}, timeout).await?;
    SlotClock::new(genesis_time, slot_seconds, window_slots)
        .map_err(|error| FollowerError::Registry(error.to_string()))
}

/// The block in which `registry` was deployed, found by bisecting `eth_getCode` (the node must
/// serve state at old blocks, as archive nodes, anvil and dev nodes do).
pub async fn find_deployment_block(
    provider: &DynProvider,
    registry: Address,
    timeout: Duration,
) -> Result<BlockNumber, FollowerError> {
    let has_code = |number: BlockNumber| async move {
        let code = provider.get_code_at(registry).block_id(number.into());
        Ok::<_, FollowerError>(
            !request_with_timeout("eth_getCode", timeout, code).await?.is_empty(),
        )
    };
    let latest =
        request_with_timeout("eth_blockNumber", timeout, provider.get_block_number()).await?;
    if !has_code(latest).await? {
        return Err(FollowerError::Registry(format!("no contract at {registry}")));
    }
    let (mut low, mut high) = (0, latest);
    while low < high {
        let middle = low + (high - low) / 2;
        if has_code(middle).await? {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    Ok(low)
}

async fn view<C: SolCall>(
    provider: &DynProvider,
    registry: Address,
    call: C,
    timeout: Duration,
) -> Result<C::Return, FollowerError> {
    let request = TransactionRequest::default().with_to(registry).with_input(call.abi_encode());
    let output = request_with_timeout("eth_call", timeout, provider.call(request)).await?;
    C::abi_decode_returns(&output).map_err(|error| {
        FollowerError::Registry(format!("{registry} is not a SequencerRegistry: {error}"))
    })
}
