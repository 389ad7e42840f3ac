//! The watcher's loop: every half slot it reads L1's head, judges the slots their inboxes
//! closed, and drives each slash and miss report through `Pending → Sent → Confirmed → Final`.
//! Beside it, a task of the [`Collector`] asks the selected sequencers for the promises of the
//! slots that ended, so a slow or stopped sequencer never delays a judgement.
//!
//! - **Judging.** A slot is judged once it has ended and its inbox (the one in force for its
//!   window, `inboxAt`) says `Posted` or `Missed`: a missed slot breaks all its promises and,
//!   on a followed rollup with a selected sequencer, is reported; a posted batch (its hashes
//!   from the inbox's `BatchProposed` log, checked against `txListHash`) breaks the promises it
//!   lacks a hash of.
//! - **Sending.** Before an action is sent, the registry is asked whether it is done already
//!   (`isSlashed`, `isReported`) and the window's seed is checkpointed if nobody did. The
//!   transaction is estimated first: a revert is classified ([`super::verdict::classify`]) —
//!   done by someone else, never to be sent (a kept promise, a forged or foreign signature, too
//!   late), or the inbox changed under the judgement (judge again) — so nothing that would
//!   revert is sent. Fees are bumped while a transaction waits ([`TxSender::poll`]).
//! - **Restarts.** Every transition is committed before the next step. At start the watcher
//!   waits until its account has no transaction in the node's pool, so one sent just before a
//!   crash is mined (and seen as done) before anything is sent again; a `Sent` action is
//!   watched again from its stored hashes, nonce and fees.
//! - **Reorgs.** A confirmed action is re-checked on chain at every round until its block is
//!   finalized (or `final_depth` blocks deep); if a reorg removed it, it is pending again, the
//!   nonces are read from the node again, and it is sent again.

use super::{
    chain::{BatchStatus, Chain, ChainError, L1Head},
    collector::{Collector, SLASHING_WINDOWS},
    store::{Action, ActionKey, ActionKind, ActionState, WatchStore, WatchStoreError},
    verdict::{Revert, SlotOutcome, Verdict, classify, judge},
};
use crate::{
    core::{
        contract::SequencerRegistry,
        primitives::{ChainId, Slot, Window},
    },
    rpc::api::LookaheadApiClient,
    service::{
        deadline::with_deadline,
        l1::{L1Error, SentTx, TxSender, seed_proof},
    },
};
use alloy_primitives::{Address, Bytes};
use alloy_sol_types::SolCall;
use jsonrpsee::{core::client::Error as ClientError, http_client::HttpClient};
use std::{
    collections::{BTreeSet, HashMap, HashSet},
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};
use tracing::{debug, info, warn};

/// Slots judged per round at most (the oldest first).
const JUDGE_PER_ROUND: usize = 64;
/// Rounds between reads of the lookahead's rollups.
const REFRESH_ROUNDS: u64 = 20;
/// Rounds between prunings of what left the slashing window.
const PRUNE_ROUNDS: u64 = 1000;
/// The longest wait between rounds after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why a round (or one action's step) failed; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// Reading L1 failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Sending to L1 failed.
    #[error(transparent)]
    Send(#[from] L1Error),
    /// The database failed.
    #[error("the watcher's database: {0}")]
    Store(#[from] WatchStoreError),
    /// The lookahead failed.
    #[error("the lookahead: {0}")]
    Lookahead(#[from] ClientError),
    /// The registry call would revert with data its errors do not explain.
    #[error("the call would revert for an unknown reason: {0}")]
    UnknownRevert(Bytes),
    /// A seed is needed whose window is not fixed on L1 yet.
    #[error("the seed of window {0} is not fixed yet")]
    SeedNotFixed(Window),
}

/// What the watcher follows and how it treats its transactions.
#[derive(Clone, Debug)]
pub struct WatcherConfig {
    /// The rollups whose missed slots are reported and whose sequencers are polled; `None` for
    /// every rollup the lookahead knows. Promises of any rollup are judged.
    pub rollups: Option<BTreeSet<ChainId>>,
    /// Whether missed slots are reported (`reportMiss`).
    pub report_misses: bool,
    /// Whether the selected sequencers are asked for their promises (`preconf_getPromises`), in
    /// a task of their own ([`Collector::run_polls`]).
    pub poll_sequencers: bool,
    /// Blocks after which a confirmed transaction counts as final when the node's finalized
    /// block has not reached it.
    pub final_depth: u64,
    /// Every request to the lookahead and L1.
    pub timeout: Duration,
}

/// The watcher: owns its database handle, its sender and the transactions in flight.
pub struct Watcher {
    config: WatcherConfig,
    lookahead: HttpClient,
    chain: Chain,
    sender: Arc<TxSender>,
    store: WatchStore,
    collector: Arc<Collector>,
    followed: Vec<ChainId>,
    in_flight: HashMap<ActionKey, SentTx>,
    inboxes: HashMap<(ChainId, Window), Option<Address>>,
    seeds: HashSet<Window>,
    /// Actions whose last step failed, and when to try them again.
    retries: HashMap<ActionKey, Instant>,
    /// Failures in a row per action (cleared when a step succeeds).
    failures: HashMap<ActionKey, u32>,
    /// Half a slot: the time between rounds.
    interval: Duration,
    rounds: u64,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("sender", &self.sender.address())
            .field("followed", &self.followed)
            .finish_non_exhaustive()
    }
}

impl Watcher {
    /// A watcher reading `chain` and `lookahead`, sending with `sender`, keeping its state in
    /// `store` and its promises from `collector`.
    pub fn new(
        config: WatcherConfig,
        lookahead: HttpClient,
        chain: Chain,
        sender: Arc<TxSender>,
        store: WatchStore,
        collector: Arc<Collector>,
    ) -> Self {
        let interval = Duration::from_millis((chain.clock().slot_seconds() * 500).max(100));
        Self {
            config,
            lookahead,
            chain,
            sender,
            store,
            collector,
            followed: Vec::new(),
            in_flight: HashMap::new(),
            inboxes: HashMap::new(),
            seeds: HashSet::new(),
            retries: HashMap::new(),
            failures: HashMap::new(),
            interval,
            rounds: 0,
        }
    }

    /// The rollups followed now (after the first round).
    pub fn followed(&self) -> &[ChainId] {
        &self.followed
    }

    /// Reads the rollups to follow from the lookahead (or the configuration).
    pub async fn refresh_rollups(&mut self) -> Result<(), WatchError> {
        self.followed = match &self.config.rollups {
            Some(rollups) => rollups.iter().copied().collect(),
            None => {
                let status = with_deadline(self.config.timeout, self.lookahead.status(), || {
                    ClientError::RequestTimeout
                })
                .await?;
                status.engine.rollups
            }
        };
        self.collector.set_followed(self.followed.clone());
        Ok(())
    }

    /// Waits (at most `limit`) until the account has no transaction in the node's pool, so
    /// that one sent before a crash is mined before the watcher decides anything again.
    pub async fn settle(&self, limit: Duration) -> Result<(), WatchError> {
        let started = Instant::now();
        loop {
            let (latest, pending) = self.chain.nonces(self.sender.address()).await?;
            if pending <= latest {
                return Ok(());
            }
            if started.elapsed() >= limit {
                warn!(target: "lookahead::watch", latest, pending, "transactions of the watcher's account are still pending; going on");
                return Ok(());
            }
            debug!(target: "lookahead::watch", latest, pending, "waiting for the account's pending transactions");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Runs rounds every half slot until `shutdown` resolves; failed rounds are retried with
    /// backoff. A round cut short by the shutdown is safe: every transition is committed, and
    /// the next start settles the account's pending transactions first.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let interval = self.interval;
        let open = self.store.open_actions().map(|open| open.len()).unwrap_or_default();
        if open > 0 {
            info!(target: "lookahead::watch", open, "resuming the slashes and reports in progress");
        }
        let poller = self
            .config
            .poll_sequencers
            .then(|| tokio::spawn(Arc::clone(&self.collector).run_polls(interval)));
        tokio::pin!(shutdown);
        let mut failures = 0u32;
        let mut delay = Duration::ZERO;
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(delay) => {}
            }
            let result = tokio::select! {
                () = &mut shutdown => break,
                result = self.round() => result,
            };
            match result {
                Ok(()) => {
                    failures = 0;
                    delay = interval;
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    delay = interval
                        .saturating_mul(2u32.saturating_pow(failures.min(8)))
                        .min(MAX_BACKOFF);
                    metrics::counter!("lookahead_watch_round_failures_total").increment(1);
                    warn!(target: "lookahead::watch", %error, failures, retry_in = ?delay, "watch round failed");
                }
            }
        }
        if let Some(poller) = poller {
            poller.abort();
        }
        info!(target: "lookahead::watch", "watcher stopped");
    }

    /// One round: schedule, judge, act.
    pub async fn round(&mut self) -> Result<(), WatchError> {
        let head = self.chain.head().await?;
        self.collector.set_current_slot(head.slot);
        metrics::gauge!("lookahead_watch_l1_slot").set(head.slot.0 as f64);
        let refresh = self.followed.is_empty() || self.rounds.is_multiple_of(REFRESH_ROUNDS);
        if refresh && let Err(error) = self.refresh_rollups().await {
            warn!(target: "lookahead::watch", %error, "could not read the lookahead's rollups");
        }
        self.rounds += 1;
        if self.config.report_misses {
            self.schedule(head.slot)?;
        }
        self.judge(&head).await?;
        self.act(&head).await?;
        if self.rounds.is_multiple_of(PRUNE_ROUNDS) {
            let window = self.chain.clock().window_of(head.slot).0.saturating_sub(SLASHING_WINDOWS);
            let before = self.chain.clock().first_slot(Window(window)).unwrap_or_default();
            let pruned = self.store.prune(before)?;
            debug!(target: "lookahead::watch", %before, pruned, "pruned promises past the slashing window");
        }
        Ok(())
    }

    /// Schedules the followed rollups' ended slots for judging (the miss reports).
    fn schedule(&mut self, current: Slot) -> Result<(), WatchError> {
        let window_slots = self.chain.clock().window_slots();
        let oldest = current.0.saturating_sub(SLASHING_WINDOWS.saturating_mul(window_slots));
        for chain_id in &self.followed {
            match self.store.scan_cursor(*chain_id)? {
                // First start: from now on.
                None => self.store.schedule_slots(*chain_id, current, current)?,
                Some(cursor) if cursor < current => {
                    self.store.schedule_slots(*chain_id, Slot(cursor.0.max(oldest)), current)?
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The inbox of `chain_id` in force in `window` (read once per window).
    async fn inbox(
        &mut self,
        chain_id: ChainId,
        window: Window,
    ) -> Result<Option<Address>, WatchError> {
        if let Some(inbox) = self.inboxes.get(&(chain_id, window)) {
            return Ok(*inbox);
        }
        let inbox = self.chain.inbox_at(chain_id, window).await?;
        if self.inboxes.len() > 4096 {
            self.inboxes.clear();
        }
        self.inboxes.insert((chain_id, window), inbox);
        Ok(inbox)
    }

    /// Judges the ended slots whose inbox closed them.
    async fn judge(&mut self, head: &L1Head) -> Result<(), WatchError> {
        for (chain_id, slot) in self.store.to_judge(JUDGE_PER_ROUND)? {
            if slot >= head.slot {
                continue;
            }
            if let Err(error) = self.judge_slot(chain_id, slot, head).await {
                warn!(target: "lookahead::watch", %chain_id, %slot, %error, "could not judge a slot");
            }
        }
        Ok(())
    }

    async fn judge_slot(
        &mut self,
        chain_id: ChainId,
        slot: Slot,
        head: &L1Head,
    ) -> Result<(), WatchError> {
        let undecided: Vec<_> = self
            .store
            .promises_of(chain_id, slot)?
            .into_iter()
            .filter(|(_, stored)| stored.verdict.is_none())
            .collect();
        let report = self.config.report_misses && self.followed.contains(&chain_id);
        if undecided.is_empty() && !report {
            self.store.record_judgement(chain_id, slot, &[], &[])?;
            return Ok(());
        }
        let window = self.chain.clock().window_of(slot);
        let window_slots = self.chain.clock().window_slots();
        let Some(inbox) = self.inbox(chain_id, window).await? else {
            if !undecided.is_empty() {
                warn!(target: "lookahead::watch", %chain_id, %slot, "the rollup has no inbox for the slot: its promises cannot be judged");
            }
            self.store.give_up(chain_id, slot)?;
            return Ok(());
        };
        let outcome = match self.chain.batch_of(inbox, slot).await? {
            BatchStatus::Open => return Ok(()),
            BatchStatus::Missed => SlotOutcome::Missed,
            BatchStatus::Posted(_) if undecided.is_empty() => {
                self.store.record_judgement(chain_id, slot, &[], &[])?;
                return Ok(());
            }
            BatchStatus::Posted(list_hash) => {
                match self.chain.batch(inbox, slot, list_hash, head).await? {
                    Some(batch) => SlotOutcome::Posted(batch),
                    None if head.slot.0 > slot.0.saturating_add(2 * window_slots) => {
                        warn!(target: "lookahead::watch", %chain_id, %slot, %inbox, "no BatchProposed log matches the inbox's batch: its promises cannot be judged");
                        self.store.give_up(chain_id, slot)?;
                        return Ok(());
                    }
                    None => {
                        debug!(target: "lookahead::watch", %chain_id, %slot, %inbox, "no BatchProposed log matches the inbox's batch yet");
                        return Ok(());
                    }
                }
            }
        };
        let mut verdicts = Vec::new();
        let mut actions = Vec::new();
        let batch = match &outcome {
            SlotOutcome::Posted(batch) => batch.clone(),
            SlotOutcome::Missed => Vec::new(),
        };
        for (digest, stored) in undecided {
            let verdict = judge(&stored.promise, &outcome);
            let label = match verdict {
                Verdict::Kept => "kept",
                Verdict::Broken => "broken",
            };
            metrics::counter!("lookahead_watch_verdicts_total", "verdict" => label).increment(1);
            info!(target: "lookahead::watch", %chain_id, %slot, %digest, verdict = label, "promise judged");
            verdicts.push((digest, verdict));
            if verdict == Verdict::Broken {
                let kind = ActionKind::Slash { promise: stored.promise, batch: batch.clone() };
                actions
                    .push((ActionKey::slash(digest), Action { kind, state: ActionState::Pending }));
            }
        }
        let reportable = outcome == SlotOutcome::Missed && report && window.0 >= 2;
        if reportable && self.has_sequencer(chain_id, slot).await {
            metrics::counter!("lookahead_watch_missed_slots_total").increment(1);
            info!(target: "lookahead::watch", %chain_id, %slot, "slot missed");
            let kind = ActionKind::ReportMiss { chain_id, slot };
            actions.push((
                ActionKey::report_miss(chain_id, slot),
                Action { kind, state: ActionState::Pending },
            ));
        }
        for (_, action) in &actions {
            metrics::counter!("lookahead_watch_actions_total", "kind" => action.kind.label(), "event" => "created").increment(1);
        }
        self.store.record_judgement(chain_id, slot, &verdicts, &actions)?;
        Ok(())
    }

    /// Whether the lookahead selected a sequencer for the slot; true when it cannot say (the
    /// registry decides then).
    async fn has_sequencer(&self, chain_id: ChainId, slot: Slot) -> bool {
        let request = self.lookahead.get_sequencer(chain_id, slot.0);
        match with_deadline(self.config.timeout, request, || ClientError::RequestTimeout).await {
            Ok(entry) => entry.sequencer.is_some(),
            Err(_) => true,
        }
    }

    /// Moves every open action one step.
    async fn act(&mut self, head: &L1Head) -> Result<(), WatchError> {
        let open = self.store.open_actions()?;
        metrics::gauge!("lookahead_watch_open_actions").set(open.len() as f64);
        if open.is_empty() {
            return Ok(());
        }
        let finalized = self.chain.finalized().await;
        let (latest_nonce, _) = self.chain.nonces(self.sender.address()).await?;
        let now = Instant::now();
        self.retries.retain(|_, retry_at| *retry_at > now);
        let keys: HashSet<ActionKey> = open.iter().map(|(key, _)| *key).collect();
        self.failures.retain(|key, _| keys.contains(key));
        for (key, mut action) in open {
            if self.retries.contains_key(&key) {
                continue;
            }
            if let Err(error) = self.step(key, &mut action, head, finalized, latest_nonce).await {
                let failures = self.failures.get(&key).copied().unwrap_or_default() + 1;
                self.failures.insert(key, failures);
                let delay = self.interval.saturating_mul(2u32.saturating_pow(failures.min(8)));
                let delay = delay.min(MAX_BACKOFF);
                self.retries.insert(key, Instant::now() + delay);
                let (chain_id, slot) = action.kind.target();
                warn!(target: "lookahead::watch", kind = action.kind.label(), %chain_id, %slot, %error, failures, retry_in = ?delay, "an action did not advance");
            } else {
                self.failures.remove(&key);
            }
        }
        Ok(())
    }

    async fn step(
        &mut self,
        key: ActionKey,
        action: &mut Action,
        head: &L1Head,
        finalized: Option<u64>,
        latest_nonce: u64,
    ) -> Result<(), WatchError> {
        match action.state.clone() {
            ActionState::Pending => self.send(key, action, head).await,
            ActionState::Sent { nonce, hashes, fees } => {
                let input = self.calldata(&action.kind);
                let registry = self.chain.registry();
                let sender = Arc::clone(&self.sender);
                let sent = self
                    .in_flight
                    .entry(key)
                    .or_insert_with(|| sender.resume(registry, input, nonce, hashes.clone(), fees));
                match self.sender.poll(sent).await? {
                    Some(receipt) if receipt.status() => {
                        self.in_flight.remove(&key);
                        let block = receipt.block_number.unwrap_or(head.number);
                        let tx = receipt.transaction_hash;
                        self.transition(
                            key,
                            action,
                            ActionState::Confirmed { tx, block },
                            "confirmed",
                        )?;
                        info!(target: "lookahead::watch", kind = action.kind.label(), %tx, block, "transaction confirmed");
                    }
                    Some(receipt) => {
                        self.in_flight.remove(&key);
                        warn!(target: "lookahead::watch", kind = action.kind.label(), tx = %receipt.transaction_hash, "transaction reverted; checking again");
                        self.transition(key, action, ActionState::Pending, "reverted")?;
                    }
                    None if latest_nonce > nonce || !self.chain.knows_any(&sent.hashes).await? => {
                        // Its nonce was used by another transaction and none of its versions
                        // was mined, or the node knows none of them any more (dropped, or
                        // removed by a reorg before the watcher saw its receipt).
                        self.in_flight.remove(&key);
                        self.sender.forget_nonce().await;
                        warn!(target: "lookahead::watch", kind = action.kind.label(), nonce, "transaction lost; sending it again");
                        self.transition(key, action, ActionState::Pending, "lost")?;
                    }
                    None => {
                        if sent.hashes != hashes {
                            let state = ActionState::Sent {
                                nonce,
                                hashes: sent.hashes.clone(),
                                fees: sent.fees(),
                            };
                            action.state = state;
                            self.store.set_action(key, action)?;
                        }
                    }
                }
                Ok(())
            }
            ActionState::Confirmed { tx, block } => {
                if !self.done_on_chain(&action.kind).await? {
                    self.sender.forget_nonce().await;
                    let (chain_id, slot) = action.kind.target();
                    warn!(target: "lookahead::watch", kind = action.kind.label(), %chain_id, %slot, %tx, block, "a reorg removed the transaction; sending it again");
                    self.transition(key, action, ActionState::Pending, "reorged")?;
                    return self.send(key, action, head).await;
                }
                let deep = head.number >= block.saturating_add(self.config.final_depth);
                if deep || finalized.is_some_and(|finalized| block <= finalized) {
                    self.transition(key, action, ActionState::Final { tx: Some(tx) }, "final")?;
                }
                Ok(())
            }
            ActionState::Final { .. } | ActionState::Dropped { .. } => Ok(()),
        }
    }

    fn transition(
        &self,
        key: ActionKey,
        action: &mut Action,
        state: ActionState,
        event: &'static str,
    ) -> Result<(), WatchError> {
        action.state = state;
        self.store.set_action(key, action)?;
        metrics::counter!("lookahead_watch_actions_total", "kind" => action.kind.label(), "event" => event).increment(1);
        Ok(())
    }

    /// Sends a pending action, unless it is done already or the registry would refuse it.
    async fn send(
        &mut self,
        key: ActionKey,
        action: &mut Action,
        head: &L1Head,
    ) -> Result<(), WatchError> {
        let (chain_id, slot) = action.kind.target();
        let kind = action.kind.label();
        if self.done_on_chain(&action.kind).await? {
            info!(target: "lookahead::watch", kind, %chain_id, %slot, "done already");
            return self.transition(key, action, ActionState::Final { tx: None }, "done_elsewhere");
        }
        let window = self.chain.clock().window_of(slot);
        if window.0 < 2 {
            // Windows 0 and 1 have no anchor, hence no seed and no selected sequencer.
            metrics::counter!("lookahead_watch_actions_dropped_total", "kind" => kind, "reason" => "NoAnchorWindow").increment(1);
            let state = ActionState::Dropped { reason: "NoAnchorWindow".to_owned() };
            return self.transition(key, action, state, "dropped");
        }
        self.ensure_seed(window, head).await?;
        let input = self.calldata(&action.kind);
        match self.sender.send(self.chain.registry(), input).await {
            Ok(sent) => {
                let state = ActionState::Sent {
                    nonce: sent.nonce,
                    hashes: sent.hashes.clone(),
                    fees: sent.fees(),
                };
                let hash = sent.hashes[0];
                let nonce = sent.nonce;
                self.in_flight.insert(key, sent);
                self.transition(key, action, state, "sent")?;
                info!(target: "lookahead::watch", kind, %chain_id, %slot, %hash, nonce, "sent");
                Ok(())
            }
            Err(L1Error::WouldRevert { data }) => {
                match classify(&data) {
                    Revert::Done => {
                        info!(target: "lookahead::watch", kind, %chain_id, %slot, "done already");
                        self.transition(
                            key,
                            action,
                            ActionState::Final { tx: None },
                            "done_elsewhere",
                        )?;
                    }
                    Revert::NeedsSeed => {
                        self.seeds.remove(&window);
                    }
                    Revert::Rejudge(reason) => {
                        info!(target: "lookahead::watch", kind, %chain_id, %slot, reason, "the inbox changed; judging the slot again");
                        self.in_flight.remove(&key);
                        self.store.rejudge(key, chain_id, slot)?;
                        metrics::counter!("lookahead_watch_actions_total", "kind" => kind, "event" => "rejudged").increment(1);
                    }
                    Revert::Never(reason) => {
                        warn!(target: "lookahead::watch", kind, %chain_id, %slot, reason, "the registry would refuse it; not sending it");
                        metrics::counter!("lookahead_watch_actions_dropped_total", "kind" => kind, "reason" => reason).increment(1);
                        let state = ActionState::Dropped { reason: reason.to_owned() };
                        self.transition(key, action, state, "dropped")?;
                    }
                    Revert::Unknown => return Err(WatchError::UnknownRevert(data)),
                }
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Whether the registry shows the action done (by the watcher or anyone).
    async fn done_on_chain(&self, kind: &ActionKind) -> Result<bool, WatchError> {
        Ok(match kind {
            ActionKind::Slash { promise, .. } => {
                self.chain.is_slashed(promise.signing_hash(self.collector.domain())).await?
            }
            ActionKind::ReportMiss { chain_id, slot } => {
                self.chain.is_reported(*chain_id, *slot).await?
            }
        })
    }

    /// Checkpoints `window`'s seed unless the registry holds it.
    async fn ensure_seed(&mut self, window: Window, head: &L1Head) -> Result<(), WatchError> {
        if self.seeds.contains(&window) {
            return Ok(());
        }
        if self.chain.seed_known(window).await? {
            self.seeds.insert(window);
            return Ok(());
        }
        let anchor =
            self.chain.anchor_of(window, head).await?.ok_or(WatchError::SeedNotFixed(window))?;
        let (anchor_header, next_header) = seed_proof(self.sender.provider(), anchor).await?;
        let request = SequencerRegistry::checkpointSeedCall {
            window: window.0,
            anchorHeader: anchor_header,
            nextHeader: next_header,
        };
        let timeout = Duration::from_secs(self.chain.clock().slot_seconds().saturating_mul(8))
            .max(self.config.timeout);
        let receipt = self
            .sender
            .send_and_confirm(self.chain.registry(), request.abi_encode().into(), timeout)
            .await?;
        metrics::counter!("lookahead_watch_seeds_checkpointed_total").increment(1);
        info!(target: "lookahead::watch", %window, anchor, tx = %receipt.transaction_hash, "seed checkpointed");
        self.seeds.insert(window);
        Ok(())
    }

    /// The registry call of an action.
    fn calldata(&self, kind: &ActionKind) -> Bytes {
        match kind {
            ActionKind::Slash { promise, batch } => {
                promise.slash_call(batch.clone()).abi_encode().into()
            }
            ActionKind::ReportMiss { chain_id, slot } => {
                SequencerRegistry::reportMissCall { chainId: chain_id.0, slot: slot.0 }
                    .abi_encode()
                    .into()
            }
        }
    }
}
